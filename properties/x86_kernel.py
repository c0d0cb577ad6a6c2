"""A stand-in kernel for testing the x86 half without the core.

It binds every function of model/arch/x86/kernel/{ftrace,module}.py the way
model/vmlinux.py's Kernel does, and supplies the few core services those
functions call: warnings, ftrace_bug, and records whose wanted target is
set by the test (``StandInRecord.new``; 0 is the nop).
"""

import inspect
import types
from dataclasses import dataclass

from model.arch.x86 import emu as emu_mod
from model.arch.x86.kernel import ftrace as x86_ftrace
from model.arch.x86.kernel import module as x86_module
from model.include.linux.ftrace import (
    FTRACE_UPDATE_IGNORE,
    FTRACE_UPDATE_MAKE_CALL,
    FTRACE_UPDATE_MAKE_NOP,
    FTRACE_UPDATE_MODIFY_CALL,
)

ARCH_MODULES = (x86_ftrace, x86_module)


@dataclass(eq=False)
class StandInRecord:
    """A dyn_ftrace whose current and wanted call targets (0: nop) the test controls."""

    ip: int
    cur: int = 0
    new: int = 0
    name: str = ""


class StandInKernel:
    """Just enough kernel for the x86 functions: one Emu, warnings, records."""

    def __init__(self, fentry=True, overrides=None):
        self.emu = emu_mod.Emu(fentry=fentry)
        self.warnings = []
        self.bugs = []
        self.records = []
        self.place_next = None  # module_alloc() puts the next allocation here when set
        for mod in ARCH_MODULES:
            for name, fn in vars(mod).items():
                if inspect.isfunction(fn) and fn.__module__ == mod.__name__:
                    setattr(self, name, types.MethodType(fn, self))
        self._model_module_alloc = self.module_alloc
        self.module_alloc = types.MethodType(_placed_module_alloc, self)
        for name, fn in (overrides or {}).items():
            setattr(self, name, types.MethodType(fn, self))
        self.ftrace_dyn_arch_init()

    # core services -----------------------------------------------------------
    def fixed(self, fix_id):
        """The seed's x86 code: no catalogued fix (tramp-recursion changes the trampoline)."""
        return False

    def warn(self, kind, message):
        self.warnings.append((kind, message))

    def WARN_ON(self, cond, message):  # noqa: N802 - the kernel's name
        if cond:
            self.warn("WARN_ON", message)
        return bool(cond)

    def ftrace_bug(self, failed, ip):
        self.bugs.append((failed, ip))

    def ftrace_rec_iter_start(self):
        return iter(list(self.records))

    def ftrace_test_record(self, rec, enable):
        if rec.cur == rec.new:
            return FTRACE_UPDATE_IGNORE
        if not rec.cur:
            return FTRACE_UPDATE_MAKE_CALL
        return FTRACE_UPDATE_MAKE_NOP if not rec.new else FTRACE_UPDATE_MODIFY_CALL

    def ftrace_update_record(self, rec, enable):
        ret = self.ftrace_test_record(rec, enable)
        rec.cur = rec.new
        return ret

    def ftrace_get_addr_new(self, rec):
        return rec.new

    def ftrace_get_addr_curr(self, rec):
        return rec.cur

    # helpers for tests ---------------------------------------------------------
    def traced_function(self, name):
        """A kernel function whose site was turned into the nop at boot; its record."""
        ip = self.emu.kernel_function(name)
        rec = StandInRecord(ip, name=name)
        assert self.ftrace_make_nop(None, rec, self.emu.sym["mcount"]) == 0
        return rec


def _placed_module_alloc(k, size):
    """module_alloc, or a mapping at k.place_next when a test chose the address."""
    addr, k.place_next = k.place_next, None
    if addr is None:
        return k._model_module_alloc(size)
    if k.emu.injected("module_alloc"):
        return 0
    k.emu.map_module(addr, -(-size // emu_mod.PAGE_SIZE) * emu_mod.PAGE_SIZE)
    return addr
