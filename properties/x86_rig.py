"""Rigs for the x86 properties: cached stand-in kernels and hypothesis strategies.

A rig is one StandInKernel (one unicorn instance) with one traced
function and a pool of callbacks, reused by every example of a test
module; each example puts back what it changed (site, trampoline,
function_trace_op, graph caller).
"""

import functools

from hypothesis import strategies as st

from model.arch.x86.emu import MODULES_END, MODULES_VADDR, PAGE_SIZE, PARENT_BASE, PARENT_END
from model.include.linux.ftrace import FTRACE_OPS_FL_SAVE_REGS, ftrace_ops
from properties.x86_kernel import StandInKernel

N_CALLBACKS = 6
OPS_POOL = 4
MODULE_PAGES = (MODULES_END - MODULES_VADDR) // PAGE_SIZE
PRESERVED_NAMES = ("rbx", "rbp", "r12", "r13", "r14", "r15")
PT_REGS_IP = 0x80
ARITH_FLAGS = (0x1, 0x4, 0x10, 0x40, 0x80, 0x800)  # CF PF AF ZF SF OF

u64 = st.integers(0, 2**64 - 1)
call_params = st.fixed_dictionaries(
    {
        "parent_ip": st.integers(PARENT_BASE, PARENT_END - 1),
        "args": st.tuples(*[u64] * 6),
        "flags": st.sets(st.sampled_from(ARITH_FLAGS)).map(lambda s: 0x202 | sum(s)),
        "preserved": st.fixed_dictionaries({n: u64 for n in PRESERVED_NAMES}),
    }
)
ops_params = st.fixed_dictionaries(
    {
        "save_regs": st.booleans(),
        "dynamic": st.booleans(),
        "func": st.integers(0, N_CALLBACKS - 1),
        "func2": st.integers(0, N_CALLBACKS - 1),
        "page": st.one_of(st.integers(0, MODULE_PAGES - 2), st.sampled_from([0, MODULE_PAGES - 2])),
    }
)


class Rig:
    """A stand-in kernel with a traced function (nop at its site) and callbacks."""

    def __init__(self, fentry, overrides=None):
        self.k = StandInKernel(fentry=fentry, overrides=overrides)
        self.emu = self.k.emu
        self.rec = self.k.traced_function("traced")
        self.site = self.rec.ip
        self.callbacks = [self.emu.new_callback(f"callback{i}") for i in range(N_CALLBACKS)]
        self.redirector = self.emu.new_callback("redirector", on_call=_redirect)
        self.nop = self.emu.read(self.site, 5)
        self._nops = 0
        self._ops_pool = {False: [], True: []}

    def new_ops(self, save_regs, dynamic, func):
        """A fresh ops at one of a few reused emulated addresses (static or kmalloc'd).

        Examples run one at a time and free their trampoline, so reusing the
        struct's memory is safe and keeps long runs within the emulated data.
        """
        self._nops += 1
        ops = ftrace_ops(
            f"ops{self._nops}", func=func, flags=FTRACE_OPS_FL_SAVE_REGS if save_regs else 0
        )
        pool = self._ops_pool[dynamic]
        if len(pool) < OPS_POOL:
            pool.append(self.emu.alloc_ops(ops, dynamic))
        else:
            ops.ptr = pool[self._nops % OPS_POOL]
            self.emu.sync_ops(ops)
        return ops

    def place(self, page):
        """Make module_alloc put the next trampoline at page ``page`` of the module area."""
        self.k.place_next = MODULES_VADDR + page * PAGE_SIZE

    def point_site(self, target):
        """Make the traced site call target (None: the nop), as the patching code would."""
        code = self.nop if target is None else self.k.ftrace_call_replace(self.site, target)
        self.emu.write_text(self.site, code)

    def call(self, params):
        return self.emu.call(
            self.site,
            parent_ip=params["parent_ip"],
            args=params["args"],
            flags=params["flags"],
            preserved=params["preserved"],
        )


def _redirect(emu, inv):
    """A kprobe-like handler: resume at ftrace_redirected by changing regs->ip."""
    if inv.regs:
        emu.write_u64(inv.regs + PT_REGS_IP, emu.sym["ftrace_redirected"])


@functools.cache
def rig(fentry, variant=None):
    """One rig per (build, variant) per process; variant names a dict in VARIANTS."""
    from properties.x86_variants import VARIANTS

    spec = VARIANTS.get(variant, {})
    r = Rig(fentry, overrides=spec.get("overrides"))
    if "emu" in spec:
        spec["emu"](r)
    return r
