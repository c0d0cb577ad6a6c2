"""Checks on the emulated x86 machine, shared by the property tests (and the state machine).

Each check raises AssertionError with a capstone listing of the code
involved, so that a failing example explains itself.
"""

import functools
import struct

from model.arch.x86.emu import SCRATCH, STACK_TOP
from model.include.linux.ftrace import FTRACE_OPS_FL_SAVE_REGS, MCOUNT_INSN_SIZE

KERNEL_CS, KERNEL_DS = 0x10, 0x18


def call_target(ip, code):
    """Where the 5-byte ``code`` at ip calls, or None when it is no call."""
    if code[0] != 0xE8:
        return None
    return (ip + 5 + int.from_bytes(code[1:], "little", signed=True)) % 2**64


def call_aims(ips, codes):
    """For each 5-byte ``code`` at its ip: where it calls, or the bytes when it is no call.

    One pass over every site a check visits, call_target()'s decoding inline.
    """
    rels = struct.iter_unpack("<Bi", b"".join(codes))
    return [
        (ip + 5 + rel) % 2**64 if op == 0xE8 else code
        for ip, code, (op, rel) in zip(ips, codes, rels, strict=True)
    ]


def caller_labels(save_regs):
    """(start, end, op load, call) labels of the caller a trampoline copies."""
    if save_regs:
        return (
            "ftrace_regs_caller",
            "ftrace_regs_caller_end",
            "ftrace_regs_caller_op_ptr",
            "ftrace_regs_call",
        )
    return ("ftrace_caller", "ftrace_caller_end", "ftrace_caller_op_ptr", "ftrace_call")


def trampoline_size(emu, save_regs):
    """Bytes copied from the caller (the trampoline adds a jmp and the ops pointer)."""
    start, end, _, _ = caller_labels(save_regs)
    return emu.sym[end] - emu.sym[start]


@functools.lru_cache(maxsize=64)
def expected_trampoline(emu, tramp, ops_ptr, func, save_regs):
    """The trampoline the seed should build, computed here from the template alone.

    Kept for the next check: the state machine asks for the same ones every step,
    and the template (the assembled image) never changes.
    """
    start, end, op_label, call_label = (emu.sym[n] for n in caller_labels(save_regs))
    size = end - start
    code = bytearray(emu.image.code[start - emu.image.base : end - emu.image.base])
    op, call = op_label - start, call_label - start
    slot = tramp + size + MCOUNT_INSN_SIZE
    code[op + 3 : op + 7] = struct.pack("<i", slot - (tramp + op + 7))
    code[call : call + 5] = b"\xe8" + struct.pack("<i", func - (tramp + call + 5))
    code += b"\xe9" + struct.pack("<i", emu.sym["ftrace_return"] - (tramp + size + 5))
    code += struct.pack("<Q", ops_ptr)
    return bytes(code)


def check_trampoline_bytes(emu, ops, funcs=None):
    """The trampoline equals its template except the op load, the call, the jmp and the slot.

    The call goes to ops->func, or to one of ``funcs`` when given.
    """
    save_regs = bool(ops.flags & FTRACE_OPS_FL_SAVE_REGS)
    wants = [
        expected_trampoline(emu, ops.trampoline, ops.ptr, func, save_regs)
        for func in (funcs or [ops.func])
    ]
    want = wants[0]
    got = emu.read(ops.trampoline, len(want))
    if got not in wants:
        diff = [i for i in range(len(want)) if got[i] != want[i]]
        raise AssertionError(
            f"trampoline of {ops.name} differs from the template at offsets "
            f"{[hex(i) for i in diff[:12]]}\n"
            + emu.describe_trampoline(ops.trampoline, len(want), save_regs)
        )


def site_sp(emu):
    """The stack pointer at the call site (after the mcount build's frame prologue)."""
    return STACK_TOP - 8 - (0 if emu.fentry else 8)


def check_one_call(
    emu, result, *, site, parent_ip, func, op, save_regs, args, flags, preserved, where=""
):
    """One callback invocation with the mcount ABI's arguments, registers back intact."""
    context = f"{where}\ncalls: {result.calls}\n" + "\n".join(emu.disassemble(site, 5))
    assert len(result.calls) == 1, f"expected exactly one call of {func:#x}{context}"
    inv = result.calls[0]
    assert inv.func == func, f"called {emu.symbolize(inv.func)}, not {emu.symbolize(func)}{context}"
    assert (inv.ip, inv.parent_ip) == (site, parent_ip), f"wrong ip/parent_ip{context}"
    assert inv.op == op, f"rdx {inv.op:#x} is not the ops {op:#x}{context}"
    if not save_regs:
        assert inv.regs == 0, f"rcx {inv.regs:#x} should be NULL{context}"
    else:
        pt = inv.pt_regs
        assert pt is not None, f"no pt_regs passed{context}"
        want = {
            "ip": site + MCOUNT_INSN_SIZE,
            "flags": flags,
            "cs": KERNEL_CS,
            "ss": KERNEL_DS,
            "sp": site_sp(emu),
            "ax": SCRATCH["rax"],
            "r10": SCRATCH["r10"],
            "r11": SCRATCH["r11"],
            "bx": preserved["rbx"],
            "r12": preserved["r12"],
            "r13": preserved["r13"],
            "r14": preserved["r14"],
            "r15": preserved["r15"],
            "bp": preserved["rbp"] if emu.fentry else STACK_TOP - 16,
        }
        want.update(zip(("di", "si", "dx", "cx", "r8", "r9"), args, strict=True))
        bad = {n: (hex(pt[n]), hex(v)) for n, v in want.items() if pt[n] != v}
        assert not bad, f"pt_regs fields (got, want): {bad}{context}"
    check_returned_intact(result, args, where)


def check_returned_intact(result, args, where=""):
    """Callee-saved registers and rsp as before; the body saw its six arguments."""
    assert result.after == result.before, (
        f"preserved registers changed: before {result.before} after {result.after}{where}"
    )
    assert result.rax == sum(args) % 2**64, f"the traced body saw wrong arguments{where}"
