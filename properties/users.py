"""The kernel's ftrace users, as the properties drive them.

Each user owns an ftrace_ops shaped like the real one: static ops live in
vmlinux .data (and so get a trampoline), dynamic ones are kmalloc'd.  The
callback of each ops is a distinct emulated function, so a run of a traced
function tells which ops were called.
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
    "kprobe": (FTRACE_OPS_FL_SAVE_REGS, False, "kprobes.c kprobe_ftrace_ops"),
    "kprobe_ifs": (
        FTRACE_OPS_FL_SAVE_REGS_IF_SUPPORTED | FTRACE_OPS_FL_RECURSION_SAFE,
        False,
        "a static ops asking for regs only if supported",
    ),
    "perf": (FTRACE_OPS_FL_RECURSION_SAFE, True, "a perf event's kzalloc'd ops"),
    "instance": (FTRACE_OPS_FL_RECURSION_SAFE, True, "a trace instance's kzalloc'd ops"),
}


class System:
    """A booted kernel and the ftrace users acting on it."""

    def __init__(self, kernel="fixed", functions=16, fentry=True, overrides=None):
        self.k = Kernel(fixes.kernel_fixes(kernel), overrides, functions, fentry)
        self.ops = {}
        self.callbacks = {}  # callback address -> name
        k = self.k
        self.function_trace_call = self.callback("function_trace_call")
        self.function_stack_trace_call = self.callback("function_stack_trace_call")
        self.ops["global_ops"] = k.global_ops

    def callback(self, name):
        addr = self.k.emu.new_callback(name)
        self.callbacks[addr] = name
        return addr

    def new_ops(self, name, flags=0, dynamic=False):
        """An ops with a callback of its own, static (.data) or dynamic (kmalloc)."""
        ops = ftrace_ops(name, flags=flags)
        ops.func = self.callback(f"{name}_func")
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
        function calls it, but it is no callback of anyone's.
        """
        result = self.run(fname)
        stub = self.k.emu.sym["ftrace_stub"]
        return result, [inv for inv in result.calls if inv.func != stub]

    def called(self, fname):
        """Names of the ops whose callbacks one call of fname invoked, in order."""
        by_ptr = {op.ptr: name for name, op in self.ops.items()}
        _, calls = self.run_callbacks(fname)
        return [by_ptr.get(inv.op, self.callbacks.get(inv.func, hex(inv.func))) for inv in calls]

    def warnings(self):
        return [str(w) for w in self.k.warnings]
