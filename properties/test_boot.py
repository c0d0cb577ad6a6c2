"""A kernel put back to its boot (properties/boot.py) is the kernel a fresh boot gives.

Compared field by field (records, indexes, ops, the kernel's globals, the
expectation) and byte by byte (every mapped region of emulated memory).
"""

from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from unicorn import x86_const as X

from model.include.linux.ftrace import ftrace_ops
from properties import boot
from properties.machine import FtraceMachine
from tramproof.hunt import HUNT
from tramproof.replay import take

REGS = "RAX RBX RCX RDX RSI RDI RBP RSP R8 R9 R10 R11 R12 R13 R14 R15 RIP EFLAGS".split()
PROGRAM = [
    "ftrace_set_filter(regs_ops, 'f3', reset=0)",
    "register_ftrace_function(regs_ops)",
    "function tracer on (func_stack_trace=1)",
    "register_ftrace_graph() (function profiler on)",
    "insmod mod0",
    "ftrace_set_filter(instance, 'mod0_a', reset=0)",
    "register_ftrace_function(instance)",
    "echo 0 > /proc/sys/kernel/ftrace_enabled",
    "register_ftrace_function(stack_trace) (module_alloc fails)",
    "echo 1 > /proc/sys/kernel/ftrace_enabled",
    "insmod mod1",
    "rmmod mod0",
    "ftrace_set_notrace(global_ops, 'f1', reset=0)",
]


def ops_state(o):
    if not isinstance(o, ftrace_ops):
        return o
    hashes = [sorted(h.ips) if h else h for h in (o.filter_hash, o.notrace_hash, o.tramp_hash)]
    nxt = o.next.name if o.next else None
    return (
        o.name,
        o.func,
        o.flags,
        o.ptr,
        o.trampoline,
        o.trampolines,
        nxt,
        hashes,
        sorted(o.tramp_owned),
    )


def fingerprint(m):
    """Everything a run can change, in comparable form."""
    k, emu, exp = m.k, m.k.emu, m.exp
    emu.flush()  # unicorn then holds what the emulator's copy of text holds
    uc = emu.uc
    plain = (int, str, bool, type(None), ftrace_ops)
    return {
        "records": [(r.ip, r.name, r.flags) for r in k.do_for_each_ftrace_rec()],
        "pages": _pages(k),
        "indexes": (
            sorted(k.rec_by_ip),
            sorted(k.rec_page),
            sorted((n, [r.ip for r in v]) for n, v in k.recs_by_name.items()),
        ),
        "watch": {n: sorted(r.ip for r in getattr(k.rec_watch, n)) for n in k.rec_watch.__slots__},
        "globals": {n: ops_state(v) for n, v in vars(k).items() if isinstance(v, plain)},
        "ops": sorted(ops_state(o) for o in m.sys.ops.values()),
        "arrays": [o.name for o in k.ftrace_trace_arrays],
        "warnings": list(k.warnings),
        "emu": (
            sorted(emu.modules.items()),
            dict(emu.inject),
            emu._next_function,
            emu._next_data,
            emu._next_direct,
            sorted(emu._functions.items()),
            list(emu._names),
            list(emu.ret_stack),
            sorted(emu._callbacks),
        ),
        "memory": [(b, e, bytes(uc.mem_read(b, e - b + 1))) for b, e, _ in uc.mem_regions()],
        "text": {b: bytes(t) for b, t in emu._text.items()},
        "registers": [uc.reg_read(getattr(X, f"UC_X86_REG_{r}")) for r in REGS],
        "expectation": (
            dict(exp.live),
            dict(exp.names),
            dict(exp.ips),
            list(exp.order),
            dict(exp.at),
            {n: (u.active, u.save_regs) for n, u in exp.users.items()},
            {
                n: (sorted(h.filter, key=str), sorted(h.notrace, key=str))
                for n, h in exp.hashes.items()
            },
            exp.ftrace_enabled,
        ),
    }


def _pages(k):
    out, pg = [], k.ftrace_pages_start
    while pg:
        out.append((pg.seq, [r.ip for r in pg.records], pg.mod))
        pg = pg.next
    return out


def test_a_restored_kernel_is_a_fresh_boot():
    boot.clear()
    fresh = FtraceMachine(kernel="fixed", functions=8)
    want = fingerprint(fresh)
    for line in PROGRAM:
        take(fresh, line)
        fresh.check()
    assert fingerprint(fresh) != want
    fresh.teardown()
    again = FtraceMachine(kernel="fixed", functions=8)
    assert again.k is fresh.k, "the booted kernel was not reused"
    assert not again.boot_check or not fresh.booted.boot_checked
    assert fingerprint(again) == want
    for line in PROGRAM:  # and it runs the program the same way again
        take(again, line)
        again.check()


def test_a_kernel_still_in_use_is_not_handed_out():
    boot.clear()
    first = FtraceMachine(kernel="fixed", functions=5)
    take(first, "register_ftrace_function(regs_ops)")
    second = FtraceMachine(kernel="fixed", functions=5)
    assert second.k is not first.k
    assert first.rec(("vmlinux", "f0")).flags  # untouched by the second boot


def test_a_boot_the_pool_does_not_keep_starts_with_no_writes_to_follow():
    """Its first check sees what a kept boot's does (test_inline_passes compares the
    addresses written on two kernels, one of which may be a boot the pool is full for)."""
    boot.clear()
    kept = FtraceMachine(kernel="fixed", functions=5)
    unkept = FtraceMachine(kernel="fixed", functions=5)  # the first still holds the key
    assert kept.booted is not None and unkept.booted is None
    assert kept.k.emu.written == unkept.k.emu.written == set()


def test_kernels_after_hypothesis_runs_are_fresh_boots():
    boot.clear()
    fresh = FtraceMachine(kernel="fixed", functions=6)
    want = fingerprint(fresh)
    fresh.teardown()
    run_state_machine_as_test(
        lambda: FtraceMachine(kernel="fixed", functions=6),
        settings=settings(HUNT, max_examples=8, stateful_step_count=20, phases=[Phase.generate]),
    )
    again = FtraceMachine(kernel="fixed", functions=6)
    assert again.k is fresh.k
    assert fingerprint(again) == want
