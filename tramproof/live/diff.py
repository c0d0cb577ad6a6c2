"""`tramproof live diff`: random expressible programs on the model and the
real kernel, step by step; every disagreement is a finding about the model.

After each step both sides are compared on the victims' enabled_functions
lines (count, ``R``, whether and what kind of trampoline: its address is the
allocator's) and on whether the kernel warned; after a perf step, also on
whether perf's callback runs for a call of f0 (its event's count).  A
program that disagrees is shrunk by dropping steps while it still disagrees
at some step, one fresh guest per try.
"""

import random
import time
from dataclasses import dataclass

from model.arch.x86.emu import EmulationFault
from tramproof.live.actions import Inexpressible, translate
from tramproof.live.guest import VICTIMS, Guest, GuestError
from tramproof.live.replay import (
    VICTIM_FUNCTIONS,
    FtraceMachine,
    model_kernel,
    model_records,
    observe,
    parse,
    perf_ran,
    shape,
)
from tramproof.replay import ReplayError, take

# the victim called after a perf step to see whether perf's callback runs
PERF_PROBE = "f0"
PATTERNS = ("f0", "f1", "f2", "f3", "f*", "!f1", "*_a", "mod*")


def random_step(rng, m):
    """One expressible step the model's users can take now, in kernel words."""
    users = m.exp.users
    loaded = sorted(m.loaded)
    choices = [
        "function tracer off" if users["function"].active
        else f"function tracer on (func_stack_trace={rng.randint(0, 1)})",
        "unregister_ftrace_graph()" if users["graph"].active
        else "register_ftrace_graph() (function profiler on)",
        f"echo {rng.randint(0, 1)} > /proc/sys/kernel/ftrace_enabled",
    ]  # fmt: skip
    for user in ("stack_trace", "instance"):
        verb = "unregister" if users[user].active else "register"
        choices.append(f"{verb}_ftrace_function({user})")
    ops = rng.choice(["global_ops", "global_ops", "instance", "stack_trace"])
    call = "ftrace_set_filter" if ops == "stack_trace" else rng.choice(
        ["ftrace_set_filter", "ftrace_set_notrace"]
    )
    # only patterns that match a live function: for one that matches nothing the
    # API keeps the hash (-EINVAL) where the file resets it (see actions._filter)
    names = [p for p in PATTERNS if loaded or "f" in p]
    names += [f"mod{s}_{f}" for s in loaded for f in "ab"]
    choices.append(f"{call}({ops}, '{rng.choice(names)}', reset={rng.randint(0, 1)})")
    perf = users["perf"]  # the event's next step, as the machine's perf rule takes it
    if not perf.active:
        choices.append("perf_ftrace_function_register(perf)")
    elif perf.enabled_here:
        choices.append("perf_ftrace_function_disable(perf)")
    else:
        choices.append(f"perf_ftrace_function_{rng.choice(['enable', 'unregister'])}(perf)")
    if perf.active:  # its filter ioctl: a reset and a glob, never '!' (actions._perf_filter)
        call = rng.choice(["ftrace_set_filter", "ftrace_set_notrace"])
        pattern = rng.choice([n for n in names if not n.startswith("!")])
        choices.append(f"{call}(perf, '{pattern}', reset=1)")
    if m.next_module < 6:
        choices.append(f"insmod mod{m.next_module}")
    if loaded:
        choices.append(f"rmmod mod{rng.choice(loaded)}")
    return rng.choice(choices)


def random_program(rng, length):
    """A program the model can run (each step taken on a model as it is drawn);
    it ends early at the model's first warning, after which ftrace is dead."""
    m = FtraceMachine(kernel=model_kernel(), functions=VICTIM_FUNCTIONS)
    steps = []
    while len(steps) < length and not m.k.warnings:
        line = random_step(rng, m)
        try:
            take(m, line)
        except ReplayError:
            continue
        except (AssertionError, KeyError, EmulationFault):
            steps.append(line)  # the model failed here: a program worth running
            break
        steps.append(line)
    m.teardown()
    return steps


@dataclass
class Disagreement:
    step: int  # 1-based
    what: str


class Clock:
    """Seconds spent on each side, and steps taken."""

    def __init__(self):
        self.model = self.kernel = 0.0
        self.steps = 0
        self.boots = []  # seconds from QEMU's start to the guest's shell, not counted above

    def rates(self):
        """(model steps/s, kernel steps/s)."""
        return self.steps / max(self.model, 1e-9), self.steps / max(self.kernel, 1e-9)


def compare(steps, guest, clock=None):
    """Run steps on the model and on the booted guest; the first Disagreement or None."""
    clock = clock or Clock()
    t = time.perf_counter()
    m = FtraceMachine(kernel=model_kernel(), functions=VICTIM_FUNCTIONS)
    clock.model += time.perf_counter() - t
    try:
        return first_disagreement(m, steps, guest, clock)
    finally:
        m.teardown()  # its kernel goes back to the boot state for the next program


def first_disagreement(m, steps, guest, clock):
    warned = 0
    for number, ks in enumerate(translate(steps, parse), 1):
        t = time.perf_counter()
        try:
            take(m, ks.line)
        except (AssertionError, KeyError, EmulationFault):
            pass  # the model's own checks failed: its records are still its prediction
        t2 = time.perf_counter()
        replies = [guest.run(c) for c in ks.commands]
        obs = observe(guest, [r.output for r in replies], [r.status for r in replies])
        clock.model += t2 - t
        clock.kernel += time.perf_counter() - t2
        clock.steps += 1
        if obs.dead != bool(m.k.ftrace_disabled):
            return Disagreement(
                number, f"ftrace killed: model {bool(m.k.ftrace_disabled)}, kernel {obs.dead}"
            )
        mine = model_records(m) if not obs.dead else {}
        universe = set(m.k.recs_by_name) if not obs.dead else set()
        for name in sorted(universe):
            a, b = shape(mine.get(name)), shape(obs.enabled.get(name))
            if a != b:
                return Disagreement(number, f"{name}: model {a!r}, kernel {b!r}")
        perf_seen = getattr(guest, "kernel", VICTIMS) == VICTIMS  # see replay.perf_count
        if ks.commands and ks.commands[0].startswith("tp_perf") and perf_seen and not obs.dead:
            # perf's ADD and DEL change no record: its callback is what shows them
            t = time.perf_counter()
            mine = "perf" in m.sys.called(PERF_PROBE)
            t2 = time.perf_counter()
            theirs = perf_ran(guest, PERF_PROBE)
            clock.model += t2 - t
            clock.kernel += time.perf_counter() - t2
            if mine != theirs:
                return Disagreement(
                    number, f"perf's callback on {PERF_PROBE}: model {mine}, kernel {theirs}"
                )
        model_warned = len(m.k.warnings) > warned
        warned = len(m.k.warnings)
        if model_warned != bool(obs.notable):
            said = str(m.k.warnings[-1]) if model_warned else "nothing"
            return Disagreement(
                number, f"warnings: model {said!r}, kernel {obs.notable[:1] or 'nothing'}"
            )
    return None


def run_on_fresh_guest(steps, images, kernel, clock=None):
    with Guest(images, kernel) as g:
        if clock is not None:
            clock.boots.append(g.boot_seconds)
        g.run("dmesg -c > /dev/null")
        try:
            return compare(steps, g, clock)
        except GuestError as e:
            return Disagreement(len(steps), f"the kernel died or hung: {e}")


def shrink(steps, found, images, kernel, deadline):
    """Drop single steps while some step still disagrees; (steps, disagreement)."""
    steps = steps[: found.step]
    progress = True
    while progress and time.monotonic() < deadline:
        progress = False
        for i in reversed(range(len(steps))):
            candidate = steps[:i] + steps[i + 1 :]
            if not candidate:
                continue
            try:
                again = run_on_fresh_guest(candidate, images, kernel)
            except (ReplayError, Inexpressible):
                continue
            if again is not None:
                steps, found, progress = candidate[: again.step], again, True
                break
    return steps, found


def diff(minutes, seed, length, images, kernel, out):
    """Random programs for ``minutes``; prints each disagreement, returns the counts."""
    rng = random.Random(seed)
    deadline = time.monotonic() + minutes * 60
    programs = steps_run = 0
    findings = []
    clock = Clock()
    while time.monotonic() < deadline:
        steps = random_program(rng, length)
        found = run_on_fresh_guest(steps, images, kernel, clock)
        programs += 1
        steps_run += found.step if found else len(steps)
        if found:
            small, why = shrink(steps, found, images, kernel, deadline)
            findings.append((small, why))
            out.write(f"disagreement at step {why.step}: {why.what}\n")
            out.write("".join(f"  {i}. {s}\n" for i, s in enumerate(small, 1)))
            out.flush()
    model_rate, kernel_rate = clock.rates()
    out.write(
        f"live diff: {programs} programs, {steps_run} steps, {len(findings)} disagreements "
        f"(seed {seed}, model kernel {model_kernel()})\n"
        f"steps per second: model {model_rate:.1f}, real kernel {kernel_rate:.1f} "
        "(a step and the reading of its outcome; boots not counted)\n"
    )
    return programs, steps_run, findings
