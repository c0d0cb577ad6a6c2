"""The kernel's ftrace users, as the properties drive them.

Each user owns an ftrace_ops shaped like the real one: static ops live in
vmlinux .data (and so get a trampoline), dynamic ones are kmalloc'd.  The
callback of each ops is a distinct emulated function, so a run of a traced
function tells which ops were called.  USERS register their ops with
register_ftrace_function() themselves; PATH_USERS go through the kernel
path their C user takes (perf's CONTROL ops, kprobes, function probes).

Any user's callback can be made to call a traced function each time it
runs (``calls_from``), as a callback that itself calls traced code does.
A RECURSION_SAFE callback guards itself: entered again while it runs, it
makes no call.  One that is not makes none either, but only because the
model stops there: the C would recurse until the stack overflows.
"""

from model import fixes
from model.include.linux.ftrace import (
    FTRACE_OPS_FL_RECURSION_SAFE,
    FTRACE_OPS_FL_SAVE_REGS,
    FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED,
    ftrace_ops,
)
from model.vmlinux import Kernel

# name: (flags, dynamic, the kernel user it stands for)
USERS = {
    "stack_trace": (FTRACE_OPS_FL_RECURSION_SAFE, False, "trace_stack.c trace_ops"),
    "regs_ops": (FTRACE_OPS_FL_SAVE_REGS, False, "a static ops asking for regs"),
    "kprobe_ifs": (
        FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED | FTRACE_OPS_FL_RECURSION_SAFE,
        False,
        "a static ops asking for regs only if supported",
    ),
    "instance": (FTRACE_OPS_FL_RECURSION_SAFE, True, "a trace instance's kzalloc'd ops"),
}
# users with a kernel path of their own: name -> (static, the kernel user)
PATH_USERS = {
    "perf": (False, "trace_event_perf.c: the ftrace:function event's ftrace_ops (CONTROL)"),
    "kprobe": (True, "kprobes.c kprobe_ftrace_ops, armed per probed address"),
    "probe": (True, "ftrace.c trace_probe_ops: set_ftrace_filter's 'func:traceon'"),
}


class System:
    """A booted kernel and the ftrace users acting on it."""

    def __init__(self, kernel="fixed", functions=16, fentry=True, overrides=None):
        self.k = Kernel(fixes.kernel_fixes(kernel), overrides, functions, fentry)
        self.ops = {}
        self.callbacks = {}  # callback address -> name
        self.calls_from = {}  # callback address -> the traced function it calls
        # the state machine's index of the live records by its identities, both ways
        self.rec_of, self.identity_of = {}, {}
        k = self.k
        self.function_trace_call = self.callback("function_trace_call")
        self.function_stack_trace_call = self.callback("function_stack_trace_call")
        self.ops["global_ops"] = k.global_ops
        # the path users' ops: perf's is the event's, the others are kernel statics
        self.new_ops("perf", dynamic=True, func_name="perf_ftrace_function_call")
        self.ops["kprobe"] = k.kprobe_ftrace_ops
        self.ops["probe"] = k.trace_probe_ops
        self.probe_func = k.traceon_probe_ops.func
        for func in (k.kprobe_ftrace_ops.func, k.trace_probe_ops.func, self.probe_func):
            self.callbacks[func] = k.emu.symbolize(func)
            self.calls_traced(func)

    def callback(self, name):
        addr = self.k.emu.new_callback(name)
        self.callbacks[addr] = name
        self.calls_traced(addr)
        return addr

    def calls_traced(self, func):
        """Let the callback at func call the traced function calls_from names for it."""
        emu = self.k.emu
        before = emu.on_call_of(func)

        def on_call(emu, inv):
            if before:
                before(emu, inv)
            target = self.calls_from.get(func)
            # entered again while it runs: RECURSION_SAFE guards itself; for
            # one that is not, the model stops the recursion here
            if target is not None and not inv.reentered:
                emu.call(self.ip(target))

        emu.set_on_call(func, on_call)

    def new_ops(self, name, flags=0, dynamic=False, func_name=None):
        """An ops with a callback of its own, static (.data) or dynamic (kmalloc)."""
        ops = ftrace_ops(name, flags=flags)
        ops.func = self.callback(func_name or f"{name}_func")
        self.k.emu.alloc_ops(ops, dynamic=dynamic)
        self.ops[name] = ops
        return ops

    def user(self, name):
        """The ops of one of USERS, made on first use."""
        if name not in self.ops:
            flags, dynamic, _ = USERS[name]
            self.new_ops(name, flags, dynamic)
        return self.ops[name]

    # the function tracer (trace_functions.c) on global_ops
    def function_tracer_start(self, stack=False):
        k = self.k
        k.global_ops.func = self.function_stack_trace_call if stack else self.function_trace_call
        k.emu.sync_ops(k.global_ops)
        return k.register_ftrace_function(k.global_ops)

    def function_tracer_stop(self):
        k = self.k
        ret = k.unregister_ftrace_function(k.global_ops)
        k.global_ops.func = k.emu.sym["ftrace_stub"]  # ftrace_reset_array_ops()
        k.emu.sync_ops(k.global_ops)
        return ret

    def ip(self, fname):
        return self.k.recs_by_name[fname][0].ip

    def run(self, fname):
        """Call the traced function in the emulator; the CallResult."""
        return self.k.emu.call(self.ip(fname))

    def run_callbacks(self, fname):
        """Call fname once: its CallResult and the callback invocations in it.

        A STUB ops (the graph tracer's) has ftrace_stub for func: the list
        function calls it, but it is no callback of anyone's.  Nor is
        function_trace_probe_call: the probe user's callback is the probe
        it calls (ftrace_traceon), which fires only where a probe is.
        """
        result = self.run(fname)
        skip = (self.k.emu.sym["ftrace_stub"], self.k.trace_probe_ops.func)
        return result, [inv for inv in result.calls if inv.func not in skip]

    def user_of(self, inv, by_ptr):
        """The user whose callback an invocation is (by its ops, or the probe's func)."""
        if inv.func == self.probe_func:
            return "probe"
        return by_ptr.get(inv.op, hex(inv.op))

    def called(self, fname):
        """Names of the ops whose callbacks one call of fname invoked, in order."""
        by_ptr = {op.ptr: name for name, op in self.ops.items()}
        _, calls = self.run_callbacks(fname)
        return [
            "probe"
            if inv.func == self.probe_func
            else by_ptr.get(inv.op, self.callbacks.get(inv.func, hex(inv.func)))
            for inv in calls
        ]

    def warnings(self):
        return [str(w) for w in self.k.warnings]
