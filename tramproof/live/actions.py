"""Steps in kernel words as actions on the real kernel's interfaces.

The model's vmlinux functions f0, f1, ... are the guest's ``tp_f0_tp``,
``tp_f1_tp``, ... (built into vmlinux by guest/victim/tp_victim.c); the
model's module ``mod<N>`` is the guest's ``tpmod<N>.ko`` and its functions
``mod<N>_a``/``mod<N>_b`` are ``tp_mod<N>_a_tp``/``tp_mod<N>_b_tp``.  A
prefix and a suffix keep the model's globs ("f*", "*_a", "mod1_*") on the
victims: each maps to a glob of the same kind (front, end, middle) that no
other kernel function matches.

Each model user is the kernel user it stands for:

    function tracer        current_tracer = function, options/func_stack_trace
    graph (the profiler)   function_profile_enabled
    stack_trace            /proc/sys/kernel/stack_tracer_enabled, stack_trace_filter
    instance               instances/tp/current_tracer = function, its set_ftrace_*
    global_ops filters     set_ftrace_filter, set_ftrace_notrace
    the sysctl             /proc/sys/kernel/ftrace_enabled
    insmod / rmmod         tpmod<N>.ko
    perf                   tp_perf open|add|del|close (guest/perf/tp_perf.c): the
                           ftrace:function event opened on CPU 0, enabled,
                           disabled, closed; its hashes tp_perf filter 'ip == glob'
                           (filter) and 'ip != glob' (notrace)

A step the real kernel cannot take as the model does raises ``Inexpressible``
with the reason; the table is ``INEXPRESSIBLE``.
"""

import re
from dataclasses import dataclass, field

TRACING = "/sys/kernel/debug/tracing"
SYSCTL = "/proc/sys/kernel/ftrace_enabled"
STACK_SYSCTL = "/proc/sys/kernel/stack_tracer_enabled"
INSTANCE = f"{TRACING}/instances/tp"
PREFIX, SUFFIX = "tp_", "_tp"

# model user or step -> why the real kernel cannot do it as the model does
INEXPRESSIBLE = {
    "kprobe": "kprobes register kprobe_ftrace_ops with an ip filter of the probed "
    "functions only; the model's kprobe user traces by its own hashes",
    "kprobe_ifs": "no in-tree static ops asks for SAVE_REGS_IF_SUPPORTED",
    "perf filter": "perf's filter ioctl resets the hash and takes a glob: no form for "
    "reset=0, NULL or a '!' pattern",
    "perf filter closed": "perf's event has no filter before it is open (its ops is the event's)",
    "module_alloc fails": "no fault injection for module_alloc in the guest",
    "notrace stack_trace": "the stack tracer has no notrace file",
    "middle glob": "a '*middle*' glob would match kernel functions besides the victims",
    "calls": "a callback that calls a traced function needs code in the callback",
    "other ops": "no kernel interface registers this ops (it needs a module of its own)",
    "other step": "no kernel action is written for this step yet",
}


# func_stack_trace can only be set while the function tracer runs, and 3.17's
# func_set_flag() then unregisters and registers global_ops again
# (linux-3.17.0+seed/kernel/trace/trace_functions.c:231); with every function
# traced, a stack saved per call makes the guest ~100x slower under TCG (the
# first step of sysctl-clear-en took 113 s).  Both callbacks are the same to
# ftrace's accounting, so the step runs with function_trace_call.
STACK_NOTE = "run with func_stack_trace=0: only the callback differs (see actions.STACK_NOTE)"


# the model's perf steps -> the guest helper's commands: open is
# TRACE_REG_PERF_OPEN (perf_event_open, disabled), add and del are
# TRACE_REG_PERF_ADD/DEL (PERF_EVENT_IOC_ENABLE/DISABLE schedule the event in
# and out on its CPU), close is TRACE_REG_PERF_CLOSE (close of the fd)
PERF_STEPS = {
    "perf_ftrace_function_register": "open",
    "perf_ftrace_function_enable": "add",
    "perf_ftrace_function_disable": "del",
    "perf_ftrace_function_unregister": "close",
}


class Inexpressible(Exception):
    """A step the real kernel's interfaces cannot take as the model does."""


@dataclass
class KernelStep:
    """One model step as shell lines for the guest; ``note`` says where it is
    only an approximation of the model's step."""

    line: str
    commands: list = field(default_factory=list)
    note: str = ""


def real_name(name):
    """The guest's function for a model function name (f3 -> tp_f3_tp)."""
    return f"{PREFIX}{name}{SUFFIX}"


def model_name(real):
    """The model's name of a guest victim function, or None for any other function."""
    m = re.fullmatch(rf"{PREFIX}(\w+){SUFFIX}", real)
    return m.group(1) if m else None


def real_pattern(pattern):
    """A model filter glob as a guest glob of the same match type.

    3.17's glob knows "name", "front*", "*end" and "*middle*"; a leading "!"
    negates.  No affix keeps a "*middle*" glob on the victims: Inexpressible.
    """
    neg = "!" if pattern.startswith("!") else ""
    p = pattern[len(neg) :]
    if not p:
        return pattern
    front, end = p.startswith("*"), p.endswith("*") and len(p) > 1
    if front and end:
        raise Inexpressible(INEXPRESSIBLE["middle glob"])
    if front:
        return f"{neg}{p}{SUFFIX}"
    if end:
        return f"{neg}{PREFIX}{p}"
    return neg + real_name(p)


def filter_file(ops, notrace):
    """The tracefs file holding ops's filter (or notrace) hash."""
    kind = "notrace" if notrace else "filter"
    if ops == "global_ops":
        return f"{TRACING}/set_ftrace_{kind}"
    if ops == "instance":
        return f"{INSTANCE}/set_ftrace_{kind}"
    if ops == "stack_trace":
        if notrace:
            raise Inexpressible(INEXPRESSIBLE["notrace stack_trace"])
        return f"{TRACING}/stack_trace_filter"
    raise Inexpressible(INEXPRESSIBLE.get(ops, INEXPRESSIBLE["other ops"]))


class Translator:
    """Turns a program's steps into KernelSteps."""

    def __init__(self, parse):
        self.parse = parse  # the model's step grammar: line -> (action, groups)
        self.perf_open = False  # perf's event: opened by the steps so far, not closed

    def step(self, line):
        action, g = self.parse(line)
        take = getattr(self, f"_{action}", None)
        if take is None:
            raise Inexpressible(INEXPRESSIBLE.get(action, INEXPRESSIBLE["other step"]))
        return take(line, *g)

    @staticmethod
    def _no_fault(fails):
        if fails:
            raise Inexpressible(INEXPRESSIBLE["module_alloc fails"])

    def _register(self, line, user, fails):
        self._no_fault(fails)
        if user == "stack_trace":
            return KernelStep(line, [f"echo 1 > {STACK_SYSCTL}"])
        if user == "instance":
            return KernelStep(line, [f"echo function > {INSTANCE}/current_tracer"])
        raise Inexpressible(INEXPRESSIBLE.get(user, INEXPRESSIBLE["other ops"]))

    def _unregister(self, line, user):
        if user == "stack_trace":
            return KernelStep(line, [f"echo 0 > {STACK_SYSCTL}"])
        if user == "instance":
            return KernelStep(line, [f"echo nop > {INSTANCE}/current_tracer"])
        raise Inexpressible(INEXPRESSIBLE.get(user, INEXPRESSIBLE["other ops"]))

    def _function_on(self, line, stack, fails):
        self._no_fault(fails)
        step = KernelStep(line, [f"echo function > {TRACING}/current_tracer"])
        if stack == "1":
            step.note = STACK_NOTE
        return step

    def _function_off(self, line):
        return KernelStep(line, [f"echo nop > {TRACING}/current_tracer"])

    def _graph_on(self, line):
        return KernelStep(line, [f"echo 1 > {TRACING}/function_profile_enabled"])

    def _graph_off(self, line):
        return KernelStep(line, [f"echo 0 > {TRACING}/function_profile_enabled"])

    def _filter(self, line, call, ops, buf, reset):
        # ftrace_set_filter()/_notrace() through ops's file.  The same step
        # while the pattern matches a function; for a pattern that matches
        # nothing they part: the API returns -EINVAL and keeps the hash
        # (linux-3.17.0+seed/kernel/trace/ftrace.c:3798), the file truncates
        # it on open (ftrace.c:3075) and moves it in on close all the same
        # (ftrace.c:4053).  Found by `live diff`.
        if ops == "perf":
            return self._perf_filter(line, call, buf, reset)
        path = filter_file(ops, call == "ftrace_set_notrace")
        redirect = ">" if reset == "1" else ">>"
        if buf == "NULL":
            # open (O_TRUNC with reset) and close: the hash is applied as it is
            return KernelStep(line, [f": {redirect} {path}"])
        return KernelStep(line, [f"echo '{real_pattern(buf[1:-1])}' {redirect} {path}"])

    def _perf_filter(self, line, call, buf, reset):
        # PERF_EVENT_IOC_SET_FILTER on the open event: each leaf "ip == GLOB" is
        # ftrace_set_filter(ops, GLOB, reset) and "ip != GLOB" ftrace_set_notrace,
        # the first of each kind with reset=1 (3.17's trace_events_filter.c,
        # ftrace_function_set_filter(), beside ftrace_profile_set_filter())
        if not self.perf_open:
            raise Inexpressible(INEXPRESSIBLE["perf filter closed"])
        if reset != "1" or buf == "NULL" or buf.startswith("'!"):
            raise Inexpressible(INEXPRESSIBLE["perf filter"])
        op = "!=" if call == "ftrace_set_notrace" else "=="
        return KernelStep(line, [f"tp_perf filter 'ip {op} {real_pattern(buf[1:-1])}'"])

    def _tracefs(self, line, pattern, redirect, which):
        return KernelStep(
            line, [f"echo '{real_pattern(pattern)}' {redirect} {TRACING}/set_ftrace_{which}"]
        )

    def _probe(self, line, neg, pattern):
        # a function probe: trace_probe_ops with the pattern in its filter
        return KernelStep(
            line, [f"echo '{neg}{real_pattern(pattern)}:traceon' >> {TRACING}/set_ftrace_filter"]
        )

    def _kprobe(self, line, verb, name, fails):
        # a kprobe on a function's fentry site is armed through ftrace
        # (kprobe_ftrace_ops with that ip in its filter)
        self._no_fault(fails)
        event = f"{TRACING}/events/kprobes/tp_{name}/enable"
        if verb == "arm":
            define = f"grep -q ' tp_{name} ' {TRACING}/kprobe_events || "
            define += f"echo 'p:tp_{name} {real_name(name)}' >> {TRACING}/kprobe_events"
            return KernelStep(line, [define, f"echo 1 > {event}"])
        return KernelStep(line, [f"echo 0 > {event}"])

    def _perf(self, line, call):
        # the event's TRACE_REG_PERF_* step through the guest's perf helper
        # (linux-3.17.0/kernel/trace/trace_event_perf.c:358)
        what = PERF_STEPS.get(call)
        if what is None:
            raise Inexpressible(INEXPRESSIBLE["other step"])
        self.perf_open = what != "close"
        return KernelStep(line, [f"tp_perf {what}"])

    def _sysctl(self, line, value):
        return KernelStep(line, [f"echo {value} > {SYSCTL}"])

    def _insmod(self, line, serial, fails):
        self._no_fault(fails)
        return KernelStep(line, [f"insmod /lib/modules/tpmod{serial}.ko"])

    def _rmmod(self, line, serial):
        return KernelStep(line, [f"rmmod tpmod{serial}"])


def translate(steps, parse, partial=False):
    """KernelSteps for a whole program; Inexpressible names the first step that is
    not.  With ``partial`` such a step is a KernelStep without commands instead,
    its note the reason."""
    t = Translator(parse)
    out = []
    for number, line in enumerate(steps, 1):
        try:
            out.append(t.step(line))
        except Inexpressible as e:
            if not partial:
                raise Inexpressible(f"step {number} ({line}): {e}") from None
            out.append(KernelStep(line, [], f"not expressible: {e}"))
    return out
