"""Cost of one emulated traced call through a trampoline: Emu.call vs bare unicorn.

    python -m tramproof.bench_emulation [--calls N]

Builds a kernel (fentry build), gives an ops with SAVE_REGS a trampoline,
points a traced function's site at it, and times Emu.call (recording the
callback with its pt_regs, bounded by an instruction count).  Then it copies
the same bytes into a bare unicorn instance with no hooks and times
emu_start on them with the same stack set-up.  Prints both and the ratio.

Emu.call calls unicorn's C functions directly (ctypes, no argument types),
which skips the binding's Python wrappers; so the bare run is also timed that
way, on its own instance: its ratio says how much of the difference is
recording rather than the way the calls are made.

Emu.call also runs unicorn more cheaply than emu_start(start, parent) does:
it stops at the parent area's hlt (unicorn drops its translation of the code
at emu_start's ``until`` after every run, and translates it again on the next),
fills TLB misses with every permission (unicorn's own fill maps a page for one
kind of access, so a stack pushed and popped misses again and again) and
stores the return address in the stack's memory without a C call.  The two
bare runs above are unicorn as its API is plainly used; a third bare run,
without hooks or the instruction bound but run the way Emu.call runs it,
says what the recording alone costs (ratio_as_emu).
"""

import argparse
import ctypes
import struct
import time

from unicorn import UC_ARCH_X86, UC_HOOK_TLB_FILL, UC_MODE_64, UC_PROT_ALL, UC_TLB_VIRTUAL, Uc
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from model.arch.x86.emu import DATA_BASE, DIRECT_BASE, PARENT_BASE, STACK_TOP, RegBlock
from properties.x86_rig import Rig


def per_call(fns, calls, batches=5):
    """For each of ``fns``, the median over ``batches`` of CPU microseconds per call.

    CPU time, as the rest of the bench: wall time would count the turns
    other processes take on a shared machine.  The batches of the functions
    alternate, so that a change in the machine's speed during the
    measurement (another process, the clock) falls on all of them alike
    rather than on whichever ran last.
    """
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(batches):
        for fn, spent in zip(fns, times, strict=True):
            start = time.process_time()
            for _ in range(calls):
                fn()
            spent.append((time.process_time() - start) / calls * 1e6)
    return [sorted(spent)[batches // 2] for spent in times]


def measure(calls=3000, mcount=False):
    """{recorded_us, bare_us, ratio, bare_direct_us, ratio_direct, bare_as_emu_us,
    ratio_as_emu, calls, build} for one traced call (median of 5 alternating
    batches each)."""
    r = Rig(fentry=not mcount)
    ops = r.new_ops(True, dynamic=False, func=r.callbacks[0])
    r.k.arch_ftrace_update_trampoline(ops)
    r.point_site(ops.trampoline)
    emu = r.emu
    parent = PARENT_BASE + 5
    result = emu.call(r.site, parent)
    assert len(result.calls) == 1 and result.calls[0].pt_regs

    start = emu._functions[r.site][0]
    ret = struct.pack("<Q", parent)
    bare, raw = _copy(emu.uc), _copy(emu.uc)

    def bare_call():
        bare.reg_write(X.UC_X86_REG_RSP, STACK_TOP - 8)
        bare.mem_write(STACK_TOP - 8, ret)
        bare.emu_start(start, parent)

    raw_call = _raw_call(raw, start, parent, STACK_TOP - 8, ret)
    as_emu, as_emu_call = _as_emu(emu.uc, start, parent)
    # Emu.call's way stops past the hlt at parent
    for fn, uc, stop in (
        (bare_call, bare, parent),
        (raw_call, raw, parent),
        (as_emu_call, as_emu, parent + 1),
    ):
        fn()
        assert uc.reg_read(X.UC_X86_REG_RIP) == stop

    recorded, plain, direct, like_emu = per_call(
        [lambda: emu.call(r.site, parent), bare_call, raw_call, as_emu_call], calls
    )
    return {
        "build": "mcount" if mcount else "fentry",
        "calls": calls,
        "recorded_us": round(recorded, 2),
        "bare_us": round(plain, 2),
        "ratio": round(recorded / plain, 3),
        "bare_direct_us": round(direct, 2),
        "ratio_direct": round(recorded / direct, 3),
        "bare_as_emu_us": round(like_emu, 2),
        "ratio_as_emu": round(recorded / like_emu, 3),
    }


def _copy(uc):
    """A bare unicorn instance, no hooks, with the same maps and bytes as ``uc``."""
    bare = Uc(UC_ARCH_X86, UC_MODE_64)
    bare.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
    for begin, end, _perms in uc.mem_regions():
        bare.mem_map(begin, end - begin + 1, UC_PROT_ALL)
        bare.mem_write(begin, bytes(uc.mem_read(begin, end - begin + 1)))
    return bare


def _raw_call(uc, start, until, rsp, ret):
    """The bare call with unicorn's C functions called directly, as Emu.call calls them."""
    lib = ctypes.PyDLL(uclib._name)
    uch, u64 = uc._uch, ctypes.c_uint64
    reg, value = ctypes.c_int(X.UC_X86_REG_RSP), u64(rsp)
    where, size, none = u64(rsp), ctypes.c_size_t(len(ret)), ctypes.c_size_t(0)

    def call():
        lib.uc_reg_write(uch, reg, ctypes.byref(value))
        lib.uc_mem_write(uch, where, ret, size)
        lib.uc_emu_start(uch, u64(start), u64(until), u64(0), none)

    return call


def _as_emu(uc, start, parent):
    """(instance, call): the bare call run as Emu.call runs it, without its hooks or
    bound: a copy of ``uc``'s maps (the stack in memory of its own, not executable),
    TLB misses filled with every permission, the return address stored in the
    stack's memory, the run stopped by the parent area's hlt."""
    bare = Uc(UC_ARCH_X86, UC_MODE_64)
    bare.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
    for begin, end, perms in uc.mem_regions():
        size = end - begin + 1
        if begin == DIRECT_BASE:
            stack = ctypes.create_string_buffer(size)
            bare.mem_map_ptr(begin, size, perms, ctypes.addressof(stack))
        else:
            bare.mem_map(begin, size, perms)
        bare.mem_write(begin, bytes(uc.mem_read(begin, size)))
    bare.held_for_bench = stack

    def fill(_uc, addr, _access, entry, _data):
        entry.paddr, entry.perms = addr, UC_PROT_ALL
        return True

    bare.hook_add(UC_HOOK_TLB_FILL, fill)
    lib = ctypes.PyDLL(uclib._name)
    uch = ctypes.c_void_p.from_param(bare._uch.value)
    begin, until = ctypes.c_uint64.from_param(start), ctypes.c_uint64.from_param(DATA_BASE + 1)
    none = ctypes.c_uint64.from_param(0)
    rsp = RegBlock(bare, (X.UC_X86_REG_RSP,), (STACK_TOP - 8,))
    view, at, ret = (
        memoryview(stack).cast("B"),
        STACK_TOP - 8 - DIRECT_BASE,
        parent.to_bytes(8, "little"),
    )

    def call():
        rsp.write()
        view[at : at + 8] = ret
        lib.uc_emu_start(uch, begin, until, none, none)

    return bare, call


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--mcount", action="store_true", help="the build without -mfentry")
    args = parser.parse_args(argv)
    m = measure(args.calls, args.mcount)
    print(
        f"traced call through a SAVE_REGS trampoline ({m['build']} build), {args.calls} calls x 5"
    )
    print(f"  Emu.call with recording:  {m['recorded_us']:7.1f} us")
    print(f"  bare unicorn, no hooks:   {m['bare_us']:7.1f} us")
    print(f"  ratio:                    {m['ratio']:7.2f}x")
    print(
        f"  bare, C calls made directly: {m['bare_direct_us']:4.1f} us "
        f"(ratio {m['ratio_direct']:.2f}x)"
    )
    print(
        f"  bare, run as Emu.call runs it: {m['bare_as_emu_us']:4.1f} us "
        f"(ratio {m['ratio_as_emu']:.2f}x)"
    )


if __name__ == "__main__":
    main()
