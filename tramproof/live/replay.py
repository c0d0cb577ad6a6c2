"""Replay a program in kernel words on the real kernel, beside the model.

After every step the guest is asked what it shows: new dmesg lines that
matter (warnings, ftrace_bug, oopses) and the victims' lines of
``enabled_functions``; the model, run on the same steps, says what it
predicts (its records rendered as the kernel's t_show would).  At the end
the model's failure is judged against the kernel:

- confirmed: the kernel shows what the failure says (the same warning, the
  same record in enabled_functions, the same callbacks, the same error);
- not reproduced: the kernel shows nothing of it;
- differs: the kernel shows something else wrong (another warning, an oops,
  a hang).
"""

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from model import fixes
from model.arch.x86.emu import EmulationFault
from tramproof.live.actions import TRACING, model_name, real_name, translate
from tramproof.live.guest import IMAGES, VICTIMS, Guest, GuestError
from tramproof.replay import (
    FtraceMachine,
    ReplayError,
    parse,
    read_program,
    take,
    take_and_check,
)

# dmesg lines that say something went wrong in the kernel
NOTABLE = re.compile(
    r"WARNING:|Bad trampoline|ftrace (faulted|failed)|Failed on|BUG:|Oops|invalid opcode"
    r"|general protection|Kernel panic|ftrace_bug|FTRACE_WARN|trampolines activated"
)
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")
MARK = "@@TP-EF@@"
CALL = "/sys/kernel/debug/tramproof/call"
# the guest's vmlinux victims tp_f0_tp..tp_f15_tp: the model runs with as many
VICTIM_FUNCTIONS = 16


def golden_programs():
    """The catalogued golden programs (properties/golden, tramproof/tests/golden)."""
    root = Path(__file__).resolve().parents[2]
    folders = (root / "properties" / "golden", root / "tramproof" / "tests" / "golden")
    return sorted(str(p) for folder in folders for p in folder.glob("*.txt"))


def model_kernel():
    """The model's name for the guest's kernel: 3.17.0+seed once the catalogue has it."""
    return "3.17.0+seed" if "3.17.0+seed" in fixes.KERNELS else "as-posted"


@dataclass
class Observation:
    """What the kernel showed after one step."""

    statuses: list  # exit status of each command of the step
    outputs: list  # what each command printed
    notable: list  # new dmesg lines that matter
    enabled: dict  # model function name -> enabled_functions line (victims only)
    dead: bool = False  # ftrace killed itself: enabled_functions answers ENODEV
    sysctl_on: bool = True  # /proc/sys/kernel/ftrace_enabled reads 1


@dataclass
class StepResult:
    number: int
    line: str
    commands: list
    note: str
    kernel: Observation
    model: dict  # model function name -> predicted enabled_functions line
    model_failure: str | None
    seconds: float
    model_dead: bool = False  # the model's ftrace_disabled


@dataclass
class LiveResult:
    steps: list = field(default_factory=list)
    claimed: str = ""  # the failure the program was found with
    predicted: str | None = None  # the model's first failure on the guest's kernel
    verdict: str = ""
    reason: str = ""
    died: str = ""  # an oops, panic or hang of the guest
    boot_seconds: float = 0.0


def observe(guest, outputs, statuses):
    """Read the new dmesg lines, the victims' enabled_functions lines and
    whether ftrace killed itself (the sysctl answers ENODEV then,
    linux-3.17.0+seed/kernel/trace/ftrace.c:5233)."""
    reply = guest.run(
        f"dmesg -c; echo {MARK}; grep _tp {TRACING}/enabled_functions; echo {MARK}; "
        f"cat /proc/sys/kernel/ftrace_enabled"
    )
    log, _, rest = reply.output.partition(MARK + "\n")
    enabled, _, sysctl = rest.partition(MARK + "\n")
    notable = [TIMESTAMP.sub("", x) for x in log.splitlines() if NOTABLE.search(x)]
    lines = {}
    for x in enabled.splitlines():
        name = model_name(x.split(" ", 1)[0])
        if name:
            lines[name] = model_line(x)
    dead = "No such device" in sysctl
    on = re.search(r"(?m)^1$", sysctl) is not None
    return Observation(statuses, outputs, notable, lines, dead, on)


def model_line(kernel_line):
    """A kernel enabled_functions line in the model's names, without %pS's size."""
    head, *rest = kernel_line.split(" ", 1)
    line = (model_name(head) or head) + (" " + rest[0] if rest else "")
    line = re.sub(r"\[tpmod(\d+)\]", r"[mod\1]", line)
    return re.sub(r"(\+0x[0-9a-f]+)/0x[0-9a-f]+", r"\1", line)


def model_records(m):
    """The model's enabled_functions lines for its own functions, as t_show prints them."""
    owner = {ip: f"mod{s}" for s, mod in m.loaded.items() for ip in mod.ftrace_callsites}
    lines = {}
    for name, recs in m.k.recs_by_name.items():
        for rec in recs:
            line = m.k.t_show(rec, owner.get(rec.ip))
            if line is not None:
                lines[name] = line
    return lines


def shape(line):
    """An enabled_functions line without the trampoline's address (the allocator's)."""
    return re.sub(r"0x[0-9a-f]{8,}", "<addr>", line).rstrip() if line else "-"


def first_difference(steps):
    """Where the model's enabled_functions and the kernel's first differ, or None."""
    for s in steps:
        if s.kernel.dead != s.model_dead:
            return f"step {s.number}: ftrace killed: model {s.model_dead}, kernel {s.kernel.dead}"
        if s.kernel.dead:
            continue  # both dead: no records to compare
        for name in sorted(set(s.model) | set(s.kernel.enabled)):
            a, b = shape(s.model.get(name)), shape(s.kernel.enabled.get(name))
            if a != b:
                return f"step {s.number}: {name}: model {a!r}, kernel {b!r}"
    return None


def claimed_failure(text):
    """The failure a program file states ("failure: ..." or a report's block), or ""."""
    m = re.search(r"(?m)^failure: (.+)$", text) or re.search(
        r"(?m)^failure \([^)]*\):\n\s+(.+)$", text
    )
    return m.group(1).strip() if m else ""


OBSERVABLE = ("function", "instance", "graph", "stack_trace", "probe", "perf")


def perf_count(guest):
    """The count of perf's ftrace:function event (calls its callback counted), or
    None while no event is open (guest/perf/tp_perf.c) or on a kernel where it
    says nothing of one call: on the full kernel every traced kernel function
    the guest runs meanwhile counts too; on the victims kernel only the victims do."""
    if getattr(guest, "kernel", VICTIMS) != VICTIMS:
        return None
    reply = guest.run("tp_perf read")
    words = [x for x in reply.output.splitlines() if not TIMESTAMP.match(x)]
    return int(words[0]) if reply.status == 0 and words and words[0].isdigit() else None


def perf_ran(guest, name):
    """Whether perf's callback runs when the guest calls victim ``name`` once."""
    before = perf_count(guest)
    guest.run(f"echo {real_name(name)} > {CALL}")
    return before is not None and (perf_count(guest) or 0) > before


def callbacks_seen(guest, name):
    """Which users' callbacks ran when the guest calls victim ``name`` once.

    function and instance: the victim's line in their trace buffers (on
    around the call only); graph (the profiler): its hit count in
    trace_stat/function0 grows; stack_trace: stack_max_size, set to 0 first,
    grows (any traced function would grow it: it says the stack tracer ran);
    probe (a traceon probe): a first call with tracing_on off turns it on;
    perf: the count of its ftrace:function event (read by the guest's
    tp_perf, which fails while no event is open) grows.
    """
    fn = real_name(name)
    stats = f"{TRACING}/trace_stat/function0"

    def text(command):  # the command's own output, without kernel console lines
        out = guest.run(command).output.splitlines()
        return "\n".join(x for x in out if not TIMESTAMP.match(x))

    def hits():
        words = text(f"grep ' {fn} ' {stats}").split()
        return int(words[1]) if words[:1] == [fn] and words[1:2] and words[1].isdigit() else 0

    counted = perf_count(guest)
    # probe (a traceon function probe): tracing_on, off before the call, turns on
    guest.run(f"echo 0 > {TRACING}/tracing_on; echo {fn} > {CALL}")
    probed = text(f"cat {TRACING}/tracing_on").strip() == "1"
    before = hits()
    buffers = (TRACING, f"{TRACING}/instances/tp")
    reset = [f"echo > {b}/trace; echo 1 > {b}/tracing_on" for b in buffers]
    guest.run("; ".join([*reset, f"echo 0 > {TRACING}/stack_max_size"]))
    guest.run(f"echo {fn} > {CALL}")
    guest.run("; ".join(f"echo 0 > {b}/tracing_on" for b in buffers))
    seen = [
        user
        for user, path in (("function", buffers[0]), ("instance", buffers[1]))
        if guest.run(f"grep -q ' {fn}' {path}/trace").status == 0
    ]
    if hits() > before:
        seen.append("graph")
    if text(f"cat {TRACING}/stack_max_size").strip() not in ("", "0"):
        seen.append("stack_trace")
    if probed:
        seen.append("probe")
    if counted is not None and (perf_count(guest) or 0) > counted:
        seen.append("perf")
    return seen


def judge(result, guest):
    """(verdict, reason) for result.claimed against what the kernel showed."""
    claim = result.claimed
    notable = [x for s in result.steps for x in s.kernel.notable]
    last = judged_step(result)
    warned = re.match(r"the kernel warned: [\w_]+: (.+)", claim)
    if warned:
        key = re.split(r" at:|: |\(", warned.group(1))[0].strip()
        hits = [x for x in notable if key in x]
        if hits:
            then = f" (then it stopped answering: {result.died})" if result.died else ""
            return "confirmed", f"the kernel printed: {hits[0]}{then}"
    if result.died:
        return "differs", f"the kernel died: {result.died}"
    if warned:
        return verdict_without(notable, f"no {key!r} in dmesg")
    # the seed's count check, in the model's words or in the kernel's own (the
    # tramp_hash_matches invariant words it as the kernel's pr_warn does)
    checked = r"->trampolines is (\d+), \d+ records have|trampolines activated, (\d+) expected"
    tramps = re.search(checked, claim)
    if tramps:
        # the kernel's own check of the same count, ftrace_save_ops_tramp_hash()
        # (linux-3.17.0+seed/kernel/trace/ftrace.c:2286), runs when the ops's
        # trampolines are updated.  A count depends on how many functions the
        # world has: the model run at the guest's size (result.predicted) says
        # which N to look for.
        sized = re.search(checked, result.predicted or "") or tramps
        n = sized.group(1) or sized.group(2)
        hits = [x for x in notable if f"trampolines activated, {n} expected" in x]
        if hits:
            return "confirmed", f"the kernel printed: {hits[0]}"
        return verdict_without(notable, "no 'trampolines activated, N expected' with the same N")
    rec = re.search(r"(\w+): flags ([\w|]+) count (\d+)(?:, traced by \[(.*)\])?", claim)
    if rec and last is not None:
        name, flags, count, tracers = rec.groups()
        shown = last.enabled.get(name)
        users = re.findall(r"'(\w+)'", tracers or "")
        if "ENABLED" not in flags.split("|") and users and last.sysctl_on and not last.dead:
            # users trace it and ftrace is on: a right kernel lists it (t_show
            # lists ENABLED records); no line is the claim's "not ENABLED"
            if shown is None:
                return "confirmed", f"enabled_functions has no line for {name}, traced by {users}"
            return verdict_without(notable, f"enabled_functions: {shown}")
        if "ENABLED" not in flags.split("|"):
            return verdict_without(
                notable, f"{name} is not ENABLED in the model: enabled_functions cannot show it"
            )
        if shown and re.search(rf"\({count}\)", shown):
            return "confirmed", f"enabled_functions: {shown}"
        return verdict_without(notable, f"enabled_functions shows {shown or 'no line'} for {name}")
    ret = re.search(r"returned (-\d+)", claim)
    if ret and last is not None:
        if any(last.statuses):
            return "confirmed", f"the step failed: {' '.join(last.outputs).strip()}"
        return verdict_without(notable, "every command of the last step succeeded")
    ran = re.match(r"(\w+): callbacks of \[(.*)\] ran, expected \[(.*)\]", claim)
    graph = re.match(r"(\w+): graph entry (ran|did not run)", claim)
    if (ran or graph) and guest is not None:
        name = (ran or graph).group(1)
        seen = set(callbacks_seen(guest, name))
        if graph:
            claimed = {"graph"} if graph.group(2) == "ran" else set()
            differs_from_right = True
            seen &= {"graph"}
        else:
            claimed = set(re.findall(r"'(\w+)'", ran.group(2))) & set(OBSERVABLE)
            expected = set(re.findall(r"'(\w+)'", ran.group(3))) & set(OBSERVABLE)
            differs_from_right = claimed != expected
            seen &= claimed | expected
        if not differs_from_right:
            return verdict_without(notable, "the callbacks in question are not observable")
        if seen == claimed:
            return "confirmed", f"calling {real_name(name)} ran {sorted(seen) or 'none of them'}"
        return verdict_without(notable, f"calling {real_name(name)} ran {sorted(seen)}")
    return verdict_without(notable, "the kernel has no window on this failure")


def judged_step(result):
    """What the kernel showed where the claim is judged: at the step where the
    model's run failed with it (a program that goes on past it), else the last."""
    if not result.steps:
        return None
    m = re.match(r"step (\d+): (.+)", result.predicted or "")
    if m and m.group(2) == result.claimed and int(m.group(1)) <= len(result.steps):
        return result.steps[int(m.group(1)) - 1].kernel
    return result.steps[-1].kernel


def verdict_without(notable, why):
    if notable:
        return "differs", f"{why}; the kernel printed instead: {notable[0]}"
    return "not reproduced", why


def replay_live(text, guest=None, images=IMAGES, kernel=VICTIMS):
    """Run the program in ``text`` on a fresh guest and beside the model; a LiveResult.

    Raises ReplayError for text that is no program and Inexpressible for a
    program the kernel cannot run.
    """
    steps = read_program(text)
    kernel_steps = translate(steps, parse)
    result = LiveResult(claimed=claimed_failure(text))
    m = FtraceMachine(kernel=model_kernel(), functions=VICTIM_FUNCTIONS)
    own = guest is None
    if own:
        guest = Guest(images, kernel)
        guest.boot()
    try:
        result.boot_seconds = guest.boot_seconds or 0.0
        guest.run("dmesg -c > /dev/null")
        for number, ks in enumerate(kernel_steps, 1):
            failed = None
            if result.predicted is None:
                failed = take_and_check(m, ks.line)
                if failed:
                    result.predicted = f"step {number}: {failed[1].splitlines()[0]}"
            else:  # past its first failure the model still says what its records are
                try:
                    take(m, ks.line)
                except (AssertionError, EmulationFault, KeyError, ReplayError):
                    pass
            start = time.monotonic()
            try:
                replies = [guest.run(c) for c in ks.commands]
                obs = observe(
                    guest, [r.output for r in replies], [r.status for r in replies]
                )
            except GuestError as e:
                result.died = f"step {number}: {e}"
                console = [x for x in e.console.splitlines() if NOTABLE.search(x)]
                obs = Observation([], [], [TIMESTAMP.sub("", x) for x in console], {})
            model_lines = model_records(m)
            # the victims beyond the model's vmlinux (f4.. when it has f0..f3) are no part of it
            obs.enabled = {n: x for n, x in obs.enabled.items() if n in m.k.recs_by_name}
            result.steps.append(
                StepResult(
                    number, ks.line, ks.commands, ks.note, obs, model_lines,
                    failed[1].splitlines()[0] if failed else None,
                    time.monotonic() - start, bool(m.k.ftrace_disabled),
                )
            )  # fmt: skip
            if result.died:
                break
        if not result.claimed and result.predicted:
            # a program without a stated failure is judged against the model's own
            result.claimed = result.predicted.split(": ", 1)[1]
        result.verdict, result.reason = judge(result, guest)
    finally:
        if own:
            guest.close()
    return result


def render(result):
    """The side-by-side text of a LiveResult."""
    out = [f"boot: {result.boot_seconds:.2f} s (model kernel {model_kernel()})"]
    for s in result.steps:
        out.append(f"{s.number}. {s.line}    [{s.seconds * 1000:.0f} ms]")
        for c, st in zip(s.commands, s.kernel.statuses or [None] * len(s.commands), strict=True):
            out.append(f"     kernel$ {c}" + (f"   (exit {st})" if st else ""))
        if s.note:
            out.append(f"     note: {s.note}")
        for x in s.kernel.outputs:
            # the command's own words; the console's kernel lines come as dmesg lines
            own = [y for y in x.splitlines() if y.strip() and not TIMESTAMP.match(y)]
            out.extend(f"     kernel> {y.strip()}" for y in own)
        for x in s.kernel.notable:
            out.append(f"     dmesg: {x}")
        if s.kernel.dead or s.model_dead:
            out.append(f"     ftrace killed: model {s.model_dead}, kernel {s.kernel.dead}")
        both_dead = s.kernel.dead and s.model_dead  # no records to set side by side
        names = [] if both_dead else sorted(set(s.model) | set(s.kernel.enabled))
        for n in names:
            mine, theirs = s.model.get(n, "-"), s.kernel.enabled.get(n, "-")
            same = "  " if shape(mine) == shape(theirs) else "!="
            out.append(f"     {same} model: {mine!s:40}  kernel: {theirs}".expandtabs(2))
        if s.model_failure:
            out.append(f"     model fails: {s.model_failure}")
    out.append(f"claimed failure: {result.claimed or '(none stated)'}")
    out.append(f"model on {model_kernel()}: {result.predicted or 'no failure'}")
    differ = first_difference(result.steps)
    same = "the same at every step"
    out.append(f"side by side: {'differ first at ' + differ if differ else same}")
    out.append(f"verdict: {result.verdict}: {result.reason}")
    return "\n".join(out)

