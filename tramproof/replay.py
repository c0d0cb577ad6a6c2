"""Replay a program written in kernel words, and cut it down to the steps that matter.

A program is the list of step lines the state machine prints with a failure
(``register_ftrace_function(regs_ops)``, ``echo 0 > /proc/sys/kernel/ftrace_enabled``,
...).  Replaying runs each step on a fresh machine and every invariant after
it, as hypothesis does.
"""

import re

from model.arch.x86.emu import EmulationFault
from properties.machine import INVARIANTS, FtraceMachine


class ReplayError(Exception):
    """A step that is not in the machine's vocabulary, or that its users cannot take."""


FAILS = r"( \(module_alloc fails\))?"
GRAMMAR = [
    (rf"register_ftrace_function\((\w+)\){FAILS}", "register"),
    (r"unregister_ftrace_function\((\w+)\)", "unregister"),
    (rf"function tracer on \(func_stack_trace=([01])\){FAILS}", "function_on"),
    (r"function tracer off", "function_off"),
    (r"register_ftrace_graph\(\) \(function profiler on\)", "graph_on"),
    (r"unregister_ftrace_graph\(\)", "graph_off"),
    (r"(ftrace_set_filter|ftrace_set_notrace)\((\w+), (NULL|'[^']*'), reset=([01])\)", "filter"),
    (r"echo ([01]) > /proc/sys/kernel/ftrace_enabled", "sysctl"),
    (r"(perf_ftrace_function_\w+)\(perf\)", "perf"),
    (rf"(arm|disarm)_kprobe_ftrace\((\w+)\){FAILS}", "kprobe"),
    (r"echo '(!?)([\w*]+):traceon' >> set_ftrace_filter", "probe"),
    (r"echo '([^']*)' (>>?) set_ftrace_(filter|notrace)", "tracefs"),
    (r"(\w+)'s callback calls (\w+)", "calls"),
    (rf"insmod mod(\d+){FAILS}", "insmod"),
    (r"rmmod mod(\d+)", "rmmod"),
]


def parse(line):
    """(action, groups) of one step line; ReplayError if it is not a step."""
    for pattern, action in GRAMMAR:
        m = re.fullmatch(pattern, line.strip())
        if m:
            return action, m.groups()
    raise ReplayError(f"not a step of the state machine: {line!r}")


def take(m, line):
    """Run one step on machine ``m``, refusing what its users could not do."""
    action, g = parse(line)
    users = m.exp.users

    def need(condition, why):
        if not condition:
            raise ReplayError(f"{line!r}: {why}")

    if action in ("register", "unregister"):
        need(g[0] in m.sys.ops and g[0] in users, f"no ops user {g[0]}")
        need(users[g[0]].active == (action == "unregister"), "not in that state")
        if action == "register":
            m.do_register(g[0], bool(g[1]))
        else:
            m.do_unregister(g[0])
    elif action in ("function_on", "function_off", "graph_on", "graph_off"):
        user = "function" if action.startswith("function") else "graph"
        need(users[user].active == action.endswith("off"), "not in that state")
        {
            "function_on": lambda: m.do_function_tracer_start(g and g[0] == "1", bool(g and g[1])),
            "function_off": m.do_function_tracer_stop,
            "graph_on": m.do_graph_start,
            "graph_off": m.do_graph_stop,
        }[action]()
    elif action == "filter":
        call, ops, buf, reset = g
        need(ops in m.exp.hashes, f"no ops {ops}")
        m.do_set_filter(
            ops, "" if buf == "NULL" else buf[1:-1], reset == "1", call == "ftrace_set_notrace"
        )
    elif action == "perf":
        what = {
            "perf_ftrace_function_register": "open",
            "perf_ftrace_function_enable": "add",
            "perf_ftrace_function_disable": "del",
            "perf_ftrace_function_unregister": "close",
        }.get(g[0])
        need(what is not None, f"no perf step {g[0]}")
        need(users["perf"].active == (what != "open"), "not in that state")
        need(what not in ("add", "close") or not users["perf"].enabled_here, "enabled already")
        need(what != "del" or users["perf"].enabled_here, "not enabled")
        m.do_perf(what)
    elif action == "kprobe":
        arm = g[0] == "arm"
        need(g[1] in m.vmlinux, f"no vmlinux function {g[1]}")
        need((g[1] in m.kprobes) != arm, "not in that state")
        m.do_kprobe(g[1], arm, bool(g[2]))
    elif action == "probe":
        need(g[1] in m.vmlinux or g[1] == "f*", f"no probe pattern {g[1]}")
        m.do_function_probe(g[1], g[0] == "!")
    elif action == "tracefs":
        m.do_tracefs_filter(g[0], g[1] == ">", g[2] == "notrace")
    elif action == "calls":
        need(g[0] in m.exp.users and g[0] != "graph", f"no user {g[0]}")
        need(g[1] == "nothing" or g[1] in m.vmlinux, f"no vmlinux function {g[1]}")
        m.do_callback_calls(g[0], None if g[1] == "nothing" else g[1])
    elif action == "sysctl":
        m.do_sysctl(int(g[0]))
    elif action == "insmod":
        serial = int(g[0])
        need(serial >= m.next_module, "module names are used once")
        m.do_load_module(serial, bool(g[1]))
    elif action == "rmmod":
        need(int(g[0]) in m.loaded, "that module is not loaded")
        m.do_unload_module(int(g[0]))


def read_program(text):
    """The steps of a program as `Finding.render()` or a report writes it ("  1. step" lines)."""
    # a step may carry a "    # note" (a report says what a registration registered)
    steps = [m.group(1) for m in re.finditer(r"(?m)^\s+\d+\. (.+?)(?:\s+# .*)?$", text)]
    if not steps:
        raise ReplayError("no numbered steps in the program")
    for line in steps:
        parse(line)
    return steps


def crash(error):
    """A failure's words for an exception the kernel's code raised (an oops, in kernel terms)."""
    return f"exception: {type(error).__name__}: {error}".rstrip(": ")


# what the kernel's code (the model, or a variant's functions) may raise: a
# crash of the code under test, so a failure like any other; KeyboardInterrupt
# is a stop and goes through
CRASHES = (Exception, SystemExit, GeneratorExit)


def first_failure(m):
    """Run every invariant, in hypothesis's order: (invariant, message) of the first
    that fails, else None.  An emulation fault is a failure of the invariant
    whose emulated call faulted, with its own words; so is any other exception."""
    for name in INVARIANTS:
        try:
            getattr(m, name)()
        except AssertionError as error:
            return name, str(error)
        except EmulationFault as fault:
            return name, f"emulation fault: {fault}"
        except CRASHES as error:
            return name, crash(error)
    return None


def take_and_check(m, line):
    """One step and the invariants after it; (invariant, message) or None.

    A step whose own emulation faults, or whose code raises, fails as
    invariant "step".
    """
    if line is not None:
        try:
            take(m, line)
        except ReplayError:
            raise
        except AssertionError as error:
            return "step", str(error)
        except EmulationFault as fault:
            return "step", f"emulation fault: {fault}"
        except CRASHES as error:
            return "step", crash(error)
    return first_failure(m)


def replay(kernel, steps, overrides=None):
    """Run ``steps`` on a fresh machine; (failure message, step number) or None if all held.

    Step 0 is the boot; ReplayError propagates for a program the users
    could not run.
    """
    m = FtraceMachine(kernel=kernel, overrides=overrides)
    for number, line in enumerate([None, *steps]):
        failed = take_and_check(m, line)
        if failed:
            return failed[1].splitlines()[0], number
    # the end of the program: a full check, as at the end of an example
    m.checking, m.full_due = None, True
    failed = first_failure(m)
    if failed:
        return failed[1].splitlines()[0], len(steps)
    return None


def is_crash(message):
    return message.startswith("exception: ")


def deletions(n):
    """Index sets to try deleting from an n-step program: singles, then pairs.

    A pair need not be adjacent: a register and its unregister go together.
    """
    yield from ((i,) for i in reversed(range(n)))
    yield from ((i, j) for i in range(n) for j in range(i + 1, n))


def minimize(kernel, steps, overrides=None, stop=lambda: False):
    """A program no single step or pair of steps can be taken from; (steps, failure).

    When ``stop()`` turns true (a signal), the shortest failing program so
    far is returned at once.
    """
    found = replay(kernel, steps, overrides)
    if found is None:
        raise ReplayError("the program does not fail")
    steps = list(steps[: found[1]])
    shrinking = True
    while shrinking:
        shrinking = False
        for cut in deletions(len(steps)):
            if stop():
                return steps, found[0]
            candidate = [s for i, s in enumerate(steps) if i not in cut]
            try:
                result = replay(kernel, candidate, overrides)
            except ReplayError:
                continue
            # a crash stands in for the failure only when the failure is one
            if result is not None and is_crash(result[0]) == is_crash(found[0]):
                steps, found, shrinking = candidate[: result[1]], result, True
                break
    return steps, found[0]
