"""A failure as a kernel developer reads it: text, JSON, and a regression test.

A report is built by replaying the shrunk program once more on the kernel
it failed on, so everything in it (the records before and after the failing
step, the trampolines, the warnings) is what that kernel did, and the same
program always gives the same report, byte for byte.
"""

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from importlib import metadata

import hypothesis

from model import fixes
from model.include.linux.ftrace import (
    FTRACE_OPS_FL_ALLOC_TRAMP,
    FTRACE_OPS_FL_DYNAMIC,
    FTRACE_OPS_FL_RECURSION_SAFE,
    FTRACE_OPS_FL_SAVE_REGS,
    FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED,
    FTRACE_OPS_FL_STUB,
    MCOUNT_INSN_SIZE,
    OPS_FLAG_NAMES,
    REC_FLAG_NAMES,
    flag_names,
    ftrace_rec_count,
)
from properties.machine import FtraceMachine
from properties.x86_checks import call_target
from tramproof.live import ftracetest
from tramproof.live.actions import Inexpressible
from tramproof.replay import ReplayError, parse, read_program, take_and_check

# bump when a report can no longer be read by the previous reader; 2: the
# variant, the build, sets of fixes, the plain kernel, cut short
FORMAT = 2
READS = (1, 2)  # a format 1 report has no variant field: it was found without one
SEED_PATCH = "c7e999f1d2a78dba"
TEXT_HEADER = f"tramproof report, format {FORMAT}"

# a function's name in a failure message: vmlinux f<N> or a module's mod<N>_<x>
FUNCTION = re.compile(r"\b(f\d+|mod\d+_\w+?)\b(?=[:\s(),']|$)")


def version():
    try:
        return metadata.version("tramproof")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


@dataclass
class Report:
    """Everything a report says; ``to_text``, ``to_json`` and ``to_test`` only lay it out."""

    kernel: str
    steps: list
    invariant: str
    message: str
    ops: list
    functions: list
    known: list  # the smallest set of catalogued fixes that together make the program hold
    seed: object = None
    alternatives: list = field(default_factory=list)  # other sets of that size that do too
    searched: int = 0  # the largest size of set searched
    variant: dict | None = None  # {"path", "sha256"} of the variant it was found with
    build: str = ""  # the caller routines' build: fentry or mcount
    plain: str = ""  # on a masked kernel: what the run's own kernel does with the program
    partial: str = ""  # why the program was not cut down to the end, if it was not
    blob: str = ""
    examples: int = 0
    masked: list = field(default_factory=list)
    before: list = field(default_factory=list)
    after: list = field(default_factory=list)
    trampolines: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # per step: what a registration registered
    error: str = ""  # for a failure replay does not reproduce: what hypothesis printed
    tramproof: str = field(default_factory=version)
    hypothesis: str = hypothesis.__version__
    seed_patch: str = SEED_PATCH

    # -------------------------------------------------------------- naming

    @property
    def key(self):
        """What makes two failures the same: invariant, ops involved, catalogued fix."""
        if self.error:
            return (self.invariant, self.message.splitlines()[0])
        return (self.invariant, self.fault, tuple(self.ops), tuple(self.known))

    @property
    def fault(self):
        """An emulation fault is a verdict of its own, not the invariant's usual failure."""
        return self.message.startswith("emulation fault:")

    @property
    def slug(self):
        known = "+".join(self.known) or "new"
        what = self.invariant + ("-emulation-fault" if self.fault else "")
        return re.sub(r"[^\w.+-]", "_", f"{known}-{what}-{'+'.join(self.ops) or 'none'}")

    @property
    def test_name(self):
        return re.sub(r"\W+", "_", self.slug).strip("_").lower()

    @property
    def verdict(self):
        where = ", ".join(self.functions) or "no function"
        who = ", ".join(self.ops) or "no ops"
        lines = self.message.splitlines()
        first = lines[0]
        # an ftrace_bug further down says more than the warning before it
        bug = next((line.strip() for line in lines[1:] if "ftrace_bug" in line), "")
        if bug and "ftrace_bug" not in first:
            first += f" (then {bug})"
        if self.fault:
            return f"emulation fault in {self.invariant} for {who} at {where}: {first[17:]}"
        return f"{self.invariant} fails for {who} at {where}: {first}"

    # -------------------------------------------------------------- layouts

    def to_text(self):
        variant = (
            f"{self.variant['path']} (sha256 {self.variant['sha256']})" if self.variant else "none"
        )
        lines = [
            TEXT_HEADER,
            f"tramproof:   {self.tramproof}",
            f"seed patch:  {self.seed_patch}",
            f"kernel:      {self.kernel}",
            f"fixes:       {', '.join(sorted(fixes.kernel_fixes(self.kernel))) or 'none'}",
            f"masked:      {', '.join(self.masked) or 'nothing'}",
            f"variant:     {variant}",
            f"build:       {self.build or 'unknown (not replayed)'}",
            f"hypothesis:  {self.hypothesis}",
            f"seed:        {self.seed}",
            f"examples:    {self.examples}",
            f"reproduce:   {self.blob or '-'}",
            "",
            f"verdict: {self.verdict}",
            describe_known(self.known, self.searched, self.error),
            *(f"  also: {' + '.join(s)}" for s in self.alternatives),
            *([self.plain] if self.plain else []),
            *([f"cut short: {self.partial}"] if self.partial else []),
            "",
            f"steps ({len(self.steps)}, the last one fails):",
            *(
                f"  {i}. {step}" + (f"    # {note}" if note else "")
                for i, (step, note) in enumerate(zip_notes(self.steps, self.notes), 1)
            ),
            "",
            f"failure ({self.invariant}):",
            *(f"  {line}" for line in self.message.splitlines()),
            "",
            f"records before step {len(self.steps)}:",
            *table(self.before, self.after),
            f"records after step {len(self.steps)}:",
            *table(self.after, self.before),
            "",
            "trampolines:" if self.trampolines else "trampolines: none involved",
        ]
        for t in self.trampolines:
            lines += [f"  {t['ops']}:", *(f"    {line}" for line in t["listing"])]
        lines += ["", "warnings:" if self.warnings else "warnings: none"]
        lines += [f"  {w}" for w in self.warnings]
        if self.error:
            lines += ["", "not reproduced by replay; what the run raised:"]
            lines += [f"  {line}" for line in self.error.splitlines()]
        return "\n".join(lines) + "\n"

    def to_json(self):
        data = {"schema": "tramproof-report", "format": FORMAT, **asdict(self)}
        data.update(verdict=self.verdict, slug=self.slug, test_file=f"test_{self.test_name}.py")
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def to_tc(self):
        """The report's steps as `tramproof live tc` writes them (an ftracetest .tc
        file for tramproof's guest), the inexpressible ones named in comments;
        None when no step is expressible."""
        try:
            return ftracetest.to_tc(self.to_text(), self.slug, partial=True)
        except (Inexpressible, ReplayError):
            return None

    def to_test(self):
        steps = "".join(f"    {step!r},\n" for step in self.steps)
        if self.known:
            fixed = " + ".join(self.known)
            where = (
                f"it fails on `pytest THIS_FILE --kernel {self.kernel}` and passes on a kernel\n"
                f"with {fixed} (`--kernel fixed`, while the catalogue has it)."
            )
        else:
            where = (
                f"no catalogued fix explains it: it fails on `--kernel {self.kernel}` and on\n"
                "`--kernel fixed`, and passes once a kernel (or a --variant) fixes it."
            )
        if self.variant:
            where += (
                f"\nFound with the variant {self.variant['path']}: without --variant the test\n"
                "refuses to pass."
            )
        return f'''"""Regression test written by tramproof fuzz (report {self.slug}).

{self.verdict}

Found on {self.kernel}; {where}
"""

import pytest

from properties.machine import CONFIG
from tramproof.replay import replay

KERNEL = {self.kernel!r}
VARIANT = {self.variant!r}
BUILD = {self.build!r}
TRAMPROOF = {self.tramproof!r}
HYPOTHESIS = {self.hypothesis!r}
STEPS = [
{steps}]


def test_{self.test_name}():
    if VARIANT and not CONFIG.get("variant"):
        pytest.fail(
            f"found with the variant {{VARIANT['path']}} (sha256 {{VARIANT['sha256'][:16]}}...): "
            "run with --variant FILE",
            pytrace=False,
        )
    found = replay(CONFIG["kernel"], STEPS, CONFIG["overrides"])
    assert found is None, f"step {{found[1]}} of {{len(STEPS)}}: {{found[0]}}"
'''


def zip_notes(steps, notes):
    return zip(steps, [*notes, *[""] * (len(steps) - len(notes))], strict=False)


def describe_known(known, searched, error=""):
    """The "known bug" line: the set of fixes that explains the failure, or none."""
    if error:
        return "known bug: not searched (replay does not reproduce the failure)"
    if not known and not searched:
        return "known bug: not searched (the run was stopped)"
    if not known:
        return f"known bug: none: no set of up to {searched} catalogued fixes makes it hold"
    if len(known) == 1:
        return f"known bug: {known[0]} ({describe_fix(known[0])})"
    named = "; ".join(f"{f}: {describe_fix(f)}" for f in known)
    return f"known bugs, fixed only together: {' + '.join(known)} ({named})"


def describe_fix(fix_id):
    fix = fixes.BY_ID[fix_id]
    return f"{fix.title}, upstream {fix.commit}" if fix.commit else fix.title


def table(rows, beside=()):
    """Records in the shape of enabled_functions: name, count, flags, what the site calls;
    each column as wide as its widest cell (here and in the table ``beside``) and two."""
    if not rows:
        return ["  (none)"]
    keys = ("function", "ip", "count", "flags", "calls")
    cells = [("function", "ip", "count", "flags", "call site")]
    cells += [tuple(str(r[k]) for k in keys) for r in rows]
    widths = [
        max(len(c[i]) for c in cells + [tuple(str(r[k]) for k in keys) for r in beside]) + 2
        for i in range(len(keys) - 1)
    ]
    return [
        "  " + "".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[-1]
        for row in cells
    ]


# ------------------------------------------------------------------ building


def snapshot(m):
    """{function: row} for every live record of machine ``m``."""
    emu = m.k.emu
    tramps = {ops.trampoline: ops.name for ops in allocated_trampolines(m)}
    rows = {}
    for identity, name in m.exp.live.items():
        rec = m.rec(identity)
        code = emu.read(rec.ip, 5)
        target = call_target(rec.ip, code)
        if target is None:
            calls = "nop" if code == bytes.fromhex("0f1f440000") else code.hex(" ")
        elif target in tramps:
            calls = f"trampoline of {tramps[target]} ({target:#x})"
        else:
            calls = emu.symbolize(target)
        rows[name] = dict(
            function=name,
            ip=f"{rec.ip:#x}",
            count=ftrace_rec_count(rec),
            flags=flag_names(rec.flags, REC_FLAG_NAMES) or "0",
            calls=calls,
        )
    return rows


def step_ops(m, line):
    """The ops a step acts on, by name (none for sysctl and modules)."""
    action, groups = parse(line)
    if action in ("register", "unregister"):
        return [m.ops_of(groups[0]).name]
    if action.startswith("function"):
        return [m.ops_of("function").name]
    if action.startswith("graph"):
        return [m.ops_of("graph").name]
    if action == "filter":
        return [m.ops_named(groups[1]).name]
    return []


USER_FLAGS = (
    FTRACE_OPS_FL_DYNAMIC
    | FTRACE_OPS_FL_SAVE_REGS
    | FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED
    | FTRACE_OPS_FL_RECURSION_SAFE
    | FTRACE_OPS_FL_STUB
)


def registration(m, line):
    """For a step that registers an ops: the ops, the flags its user set and its
    hashes as the step finds them (``regs_ops [SAVE_REGS] filter={f3} notrace={}``)."""
    action, groups = parse(line)
    if action not in ("register", "function_on", "graph_on"):
        return ""
    user = groups[0] if action == "register" else action.split("_")[0]  # function, graph
    ops = m.ops_of(user)
    names = m.k.emu.function_name

    def ips(hash_):
        return "{" + ", ".join(sorted((names(ip) for ip in hash_.ips), key=natural)) + "}"

    flags = flag_names(ops.flags & USER_FLAGS, OPS_FLAG_NAMES)
    return (
        f"{ops.name} [{flags or '0'}] filter={ips(ops.filter_hash)} "
        f"notrace={ips(ops.notrace_hash)}"
    )


def involved(m, message, last_step, changed):
    """(ops, functions) a failure involves.

    Functions: those the message names, else those whose record the failing
    step changed.  Ops: those the message names (as users or ops), else the
    one the failing step acts on, else the tracers of the functions.
    """
    names = set(m.exp.live.values()) | m.dead_names
    functions = sorted({f for f in FUNCTION.findall(message) if f in names}, key=natural)
    if not functions:
        functions = sorted(changed, key=natural)
    by_word = {u: m.ops_of(u).name for u in m.exp.users}
    by_word.update({ops.name: ops.name for ops in map(m.ops_of, m.exp.users)})
    ops = {by_word[w] for w in re.findall(r"\w+", message) if w in by_word}
    if not ops and last_step is not None:
        ops = set(step_ops(m, last_step))
    if not ops:
        live = {name: identity for identity, name in m.exp.live.items()}
        ops = {by_word[t] for f in functions if f in live for t in m.exp.tracers(live[f])}
    return sorted(ops), functions


def natural(name):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def allocated_trampolines(m):
    """The ops of the machine's users that hold a trampoline of their own, once each."""
    seen = {}
    for user in sorted(m.exp.users):
        ops = m.ops_of(user)
        if ops.trampoline and ops.flags & FTRACE_OPS_FL_ALLOC_TRAMP:
            seen.setdefault(ops.name, ops)
    return list(seen.values())


def trampolines(m, ops_names, rows):
    """Capstone listings of the trampolines the failure involves, slot and target resolved."""
    emu = m.k.emu
    out = []
    for ops in allocated_trampolines(m):
        called = any(f"({ops.trampoline:#x})" in r["calls"] for r in rows)
        if ops.name not in ops_names and not called:
            continue
        save_regs = bool(ops.flags & FTRACE_OPS_FL_SAVE_REGS)
        start = "ftrace_regs_caller" if save_regs else "ftrace_caller"
        size = emu.sym[f"{start}_end"] - emu.sym[start] + MCOUNT_INSN_SIZE
        try:
            listing = emu.describe_trampoline(ops.trampoline, size, save_regs).splitlines()
        except Exception as error:  # a freed or unmapped trampoline
            listing = [f"trampoline {ops.trampoline:#x}: cannot be read ({error})"]
        out.append({"ops": ops.name, "address": f"{ops.trampoline:#x}", "listing": listing})
    return out


def build(kernel, steps, overrides=None, **meta):
    """Replay ``steps`` on ``kernel`` and describe the failure of its last step.

    ReplayError if the program does not fail at its last step.
    """
    m = FtraceMachine(kernel=kernel, overrides=overrides)
    failed = None
    before = {}
    notes = []
    for number, line in enumerate([None, *steps]):
        if number == len(steps):
            before = snapshot(m)
        if line is not None:
            notes.append(registration(m, line))
        failed = take_and_check(m, line)
        if failed and number < len(steps):
            raise ReplayError(f"the program fails at step {number}, before its last")
    if not failed:
        raise ReplayError("the program does not fail")
    invariant, message = failed
    after = snapshot(m)
    changed = {f for f in after if before.get(f) != after[f]} | (before.keys() - after.keys())
    last = steps[-1] if steps else None
    ops, functions = involved(m, message, last, changed)
    shown = sorted(set(functions) | changed, key=natural)
    rows_before = [before[f] for f in shown if f in before]
    rows_after = [after[f] for f in shown if f in after]
    return Report(
        kernel=kernel,
        steps=list(steps),
        invariant=invariant,
        message=message,
        ops=ops,
        functions=functions,
        build="fentry" if m.k.emu.fentry else "mcount",
        notes=notes,
        before=rows_before,
        after=rows_after,
        trampolines=trampolines(m, ops, rows_before + rows_after),
        warnings=[str(w) for w in m.k.warnings],
        **meta,
    )


def unreplayable(kernel, found, **meta):
    """A report of a failure that replay does not reproduce (a model exception, a flake)."""
    digest = hashlib.sha256(found.failure.encode()).hexdigest()[:8]
    return Report(
        kernel=kernel,
        steps=list(found.steps),
        invariant="unreplayable",
        message=found.failure,
        ops=[digest],
        functions=[],
        known=[],
        error=found.error,
        **meta,
    )


# ------------------------------------------------------------------ reading


@dataclass
class Recorded:
    """What replay needs of a report or program: kernel (None for a bare program), steps,
    invariant, variant ({"path", "sha256"} or None)."""

    kernel: str | None
    steps: list
    invariant: str | None = None
    variant: dict | None = None


def read(text):
    """The Recorded of a text or JSON report, or of a printed program.

    ReportError for a report that cannot be parsed, has fields of the wrong
    type, or was written in another format.
    """
    if text.lstrip().startswith("{"):
        return read_json(text)
    first = text.splitlines()[0] if text.strip() else ""
    if first.startswith("tramproof report"):
        m = re.fullmatch(r"tramproof report, format (\d+)", first)
        check_format(int(m.group(1)) if m else None)
        kernel = re.search(r"(?m)^kernel:\s+(\S+)", text)
        invariant = re.search(r"(?m)^failure \((\w+)\):", text)
        variant = re.search(r"(?m)^variant:\s+(.+) \(sha256 ([0-9a-f]{64})\)$", text)
        steps = read_program(text.split("\nfailure (")[0])
        return Recorded(
            kernel and kernel.group(1),
            steps,
            invariant and invariant.group(1),
            variant and {"path": variant.group(1), "sha256": variant.group(2)},
        )
    return Recorded(None, read_program(text))


def read_json(text):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReportError(f"not a tramproof report: bad JSON ({e})") from None
    except RecursionError:
        raise ReportError("not a tramproof report: JSON nested too deeply") from None
    if not isinstance(data, dict) or data.get("schema") != "tramproof-report":
        raise ReportError("not a tramproof report: no tramproof-report schema")
    check_format(data.get("format"))
    steps, kernel, variant = data.get("steps"), data.get("kernel"), data.get("variant")
    invariant = data.get("invariant")
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise ReportError("malformed report: steps is not a list of step lines")
    if not steps:
        raise ReportError("malformed report: no steps")
    if kernel is not None and not isinstance(kernel, str):
        raise ReportError(f"malformed report: kernel is {type(kernel).__name__}, not a name")
    if invariant is not None and not isinstance(invariant, str):
        raise ReportError("malformed report: invariant is not a name")
    if variant is not None and not (
        isinstance(variant, dict)
        and isinstance(variant.get("path"), str)
        and re.fullmatch(r"[0-9a-f]{64}", str(variant.get("sha256")))
    ):
        raise ReportError("malformed report: variant is not a path with its sha256")
    for line in steps:
        parse(line)
    return Recorded(kernel, steps, invariant, variant)


def check_format(found):
    if found not in READS:
        raise ReportError(
            f"report written in format {found}, this tramproof ({version()}) reads formats "
            f"{', '.join(map(str, READS))}: replay it with the tramproof that wrote it"
        )


class ReportError(ReplayError):
    """A report that cannot be read."""
