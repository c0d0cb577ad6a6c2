"""Cost of one emulated traced call through a trampoline: Emu.call vs bare unicorn.

    python -m tramproof.bench_emulation [--calls N]

Builds a kernel (fentry build), gives an ops with SAVE_REGS a trampoline,
points a traced function's site at it, and times Emu.call (recording the
callback with its pt_regs, bounded by an instruction count).  Then it copies
the same bytes into a bare unicorn instance with no hooks and times
emu_start on them with the same stack set-up.  Prints both and the ratio.
"""

import argparse
import struct
import time

from unicorn import UC_ARCH_X86, UC_MODE_64, UC_PROT_ALL, UC_TLB_VIRTUAL, Uc
from unicorn import x86_const as X

from model.arch.x86.emu import PARENT_BASE, STACK_TOP
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
    """{recorded_us, bare_us, ratio, calls, build} for one traced call (median of 5
    alternating batches each)."""
    r = Rig(fentry=not mcount)
    ops = r.new_ops(True, dynamic=False, func=r.callbacks[0])
    r.k.arch_ftrace_update_trampoline(ops)
    r.point_site(ops.trampoline)
    emu = r.emu
    parent = PARENT_BASE + 5
    result = emu.call(r.site, parent)
    assert len(result.calls) == 1 and result.calls[0].pt_regs

    bare = Uc(UC_ARCH_X86, UC_MODE_64)
    bare.ctl_set_tlb_mode(UC_TLB_VIRTUAL)
    for begin, end, _perms in emu.uc.mem_regions():
        bare.mem_map(begin, end - begin + 1, UC_PROT_ALL)
        bare.mem_write(begin, bytes(emu.uc.mem_read(begin, end - begin + 1)))
    start = emu._functions[r.site][0]
    ret = struct.pack("<Q", parent)

    def bare_call():
        bare.reg_write(X.UC_X86_REG_RSP, STACK_TOP - 8)
        bare.mem_write(STACK_TOP - 8, ret)
        bare.emu_start(start, parent)

    bare_call()
    assert bare.reg_read(X.UC_X86_REG_RIP) == parent

    recorded, plain = per_call([lambda: emu.call(r.site, parent), bare_call], calls)
    return {
        "build": "mcount" if mcount else "fentry",
        "calls": calls,
        "recorded_us": round(recorded, 2),
        "bare_us": round(plain, 2),
        "ratio": round(recorded / plain, 3),
    }


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


if __name__ == "__main__":
    main()
