"""Deliberately broken variants of the x86 half, each of which some property must catch.

A variant is C-function overrides for the kernel and/or a change to the
emulated machine (a mis-built template, an emulator that forgets to drop
translations).  They wrap the model's own functions rather than copy them.
"""

import struct

from model.arch.x86.kernel import ftrace as x86
from model.include.linux.ftrace import FTRACE_OPS_FL_ALLOC_TRAMP, FTRACE_OPS_FL_SAVE_REGS


def _labels(k, ops):
    regs = ops.flags & FTRACE_OPS_FL_SAVE_REGS
    start = k.emu.sym["ftrace_regs_caller" if regs else "ftrace_caller"]
    end = k.emu.sym["ftrace_regs_caller_end" if regs else "ftrace_caller_end"]
    op = k.emu.sym["ftrace_regs_caller_op_ptr" if regs else "ftrace_caller_op_ptr"]
    return start, end, op


def disp32_off_by_one(k, ops):
    """create_trampoline whose op-load disp32 is one byte off."""
    tramp = x86.create_trampoline(k, ops)
    if tramp:
        start, _, op = _labels(k, ops)
        at = tramp + op - start + 3
        disp = struct.unpack("<i", k.emu.read(at, 4))[0]
        k.emu.write_text(at, struct.pack("<i", disp + 1))
    return tramp


def jmp_misplaced(k, ops):
    """create_trampoline whose appended jmp is computed for the trampoline's start."""
    tramp = x86.create_trampoline(k, ops)
    if tramp:
        start, end, _ = _labels(k, ops)
        k.emu.write_text(
            tramp + end - start, k.ftrace_jmp_replace(tramp, k.emu.sym["ftrace_return"])
        )
    return tramp


def regs_jmp_copied(k, ops):
    """create_trampoline that copies the regs caller's own jmp to ftrace_return too."""
    sym = k.emu.sym
    sym["ftrace_regs_caller_end"] += 5
    try:
        return x86.create_trampoline(k, ops)
    finally:
        sym["ftrace_regs_caller_end"] -= 5


def no_alloc_tramp(k, ops):
    """create_trampoline that forgets FTRACE_OPS_FL_ALLOC_TRAMP."""
    tramp = x86.create_trampoline(k, ops)
    ops.flags &= ~FTRACE_OPS_FL_ALLOC_TRAMP
    return tramp


def call_left_stale(k, ops):
    """arch_ftrace_update_trampoline that creates the trampoline but never writes its call."""
    if not ops.trampoline:
        ops.trampoline = k.create_trampoline(ops)
        return
    x86.arch_ftrace_update_trampoline(k, ops)


def regs_call_not_updated(k, func):
    """ftrace_update_ftrace_func that only updates ftrace_call."""
    ip = k.emu.sym["ftrace_call"]
    return k.update_ftrace_func(ip, k.ftrace_call_replace(ip, func))


def graph_call_not_jmp(k):
    """ftrace_enable_ftrace_graph_caller that writes a call where the jmp goes."""
    sym = k.emu.sym
    ip = sym["ftrace_graph_call"]
    return k.update_ftrace_func(ip, k.ftrace_call_replace(ip, sym["ftrace_graph_caller"]))


def _op_load_misaimed(rig):
    """Mis-built ftrace_caller/ftrace_regs_caller: the op load reads 8 bytes past the variable."""
    emu = rig.emu
    for label in ("ftrace_caller_op_ptr", "ftrace_regs_caller_op_ptr"):
        at = emu.sym[label] + 3
        disp = struct.unpack("<i", emu.read(at, 4))[0]
        emu.write_text(at, struct.pack("<i", disp + 8))
    emu.write_u64(emu.sym["function_trace_op"] + 8, 0x5A5A5A5A)


def _regs_ip_not_written_back(rig):
    """Mis-built ftrace_regs_caller: regs->ip is not copied back to the return slot."""
    emu = rig.emu
    code = emu.read(emu.sym["ftrace_regs_caller"], 0x140)
    store = bytes.fromhex("48898424a8000000")  # movq %rax, SS+8(%rsp)
    emu.write_text(emu.sym["ftrace_regs_caller"] + code.index(store), b"\x90" * len(store))


def _no_translation_drop(rig):
    """An emulator whose text writes keep unicorn's stale translations."""
    rig.emu.drop_translations = lambda begin, end: None


VARIANTS = {
    "disp32_off_by_one": {"overrides": {"create_trampoline": disp32_off_by_one}},
    "jmp_misplaced": {"overrides": {"create_trampoline": jmp_misplaced}},
    "regs_jmp_copied": {"overrides": {"create_trampoline": regs_jmp_copied}},
    "no_alloc_tramp": {"overrides": {"create_trampoline": no_alloc_tramp}},
    "call_left_stale": {"overrides": {"arch_ftrace_update_trampoline": call_left_stale}},
    "regs_call_not_updated": {"overrides": {"ftrace_update_ftrace_func": regs_call_not_updated}},
    "graph_call_not_jmp": {"overrides": {"ftrace_enable_ftrace_graph_caller": graph_call_not_jmp}},
    "op_load_misaimed": {"emu": _op_load_misaimed},
    "regs_ip_not_written_back": {"emu": _regs_ip_not_written_back},
    "no_translation_drop": {"emu": _no_translation_drop},
}
