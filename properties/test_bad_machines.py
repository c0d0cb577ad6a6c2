"""Bad machines: every invariant of the state machine fails on a kernel that is wrong its way.

Each case replays a few steps on a healthy kernel, then breaks one thing
the way a buggy patch would leave it, and requires that one invariant to
fail with its own message.
"""

import re

import pytest

from model.include.linux.ftrace import (
    FTRACE_FL_REGS,
    FTRACE_FL_TRAMP,
    FTRACE_FL_TRAMP_EN,
)
from properties.machine import INVARIANTS, FtraceMachine
from properties.x86_checks import trampoline_size
from tramproof.replay import replay, take

STACK_ON_F0 = [
    "ftrace_set_filter(stack_trace, 'f0', reset=0)",
    "register_ftrace_function(stack_trace)",
]
KPROBE_ON_F0 = ["ftrace_set_filter(regs_ops, 'f0', reset=0)", "register_ftrace_function(regs_ops)"]


def rec(m, name):
    return m.k.recs_by_name[name][0]


def one_more_count(m):
    rec(m, "f1").flags += 1


def regs_dropped(m):
    rec(m, "f0").flags &= ~FTRACE_FL_REGS


def tramp_on_a_shared_record(m):
    rec(m, "f0").flags |= FTRACE_FL_TRAMP


def trampolines_miscounted(m):
    m.sys.ops["stack_trace"].trampolines += 1


def tramp_en_lost(m):
    rec(m, "f0").flags &= ~FTRACE_FL_TRAMP_EN


def site_left_on_the_caller(m):
    r = rec(m, "f0")
    m.k.emu.write_text(r.ip, m.k.ftrace_call_replace(r.ip, m.k.emu.sym["ftrace_caller"]))


def ops_slot_overwritten(m):
    ops = m.sys.ops["stack_trace"]
    slot = ops.trampoline + trampoline_size(m.k.emu, save_regs=False) + 5
    m.k.emu.write_u64(slot, m.k.global_ops.ptr)


def callback_skipped(m):
    m.k.emu.list_func_hook = lambda ip, parent_ip, regs: None


def warned(m):
    m.k.pr_warn("something the kernel should never print")


def list_guard_lost(m):
    # __ftrace_ops_list_func() without trace_test_and_set_recursion()'s answer
    m.k.trace_test_and_set_recursion = lambda start, max_: 0


def perf_disable_ignored(m):
    # ftrace_ops_control_func() calling a CONTROL ops disabled on this CPU
    m.k.ftrace_function_local_disabled = lambda ops: 0


KPROBE_CALLS_F1 = ["arm_kprobe_ftrace(f1)", "kprobe's callback calls f1"]


CASES = [
    # invariant, steps, how the kernel is broken, the invariant's words
    ("accounting", STACK_ON_F0, one_more_count, "count wrong: f1"),
    ("accounting", KPROBE_ON_F0, regs_dropped, "REGS missing: f0"),
    ("accounting", KPROBE_ON_F0 + STACK_ON_F0, tramp_on_a_shared_record, "TRAMP on a record 2"),
    ("accounting", STACK_ON_F0, trampolines_miscounted, "stack_trace->trampolines is 2"),
    ("tramp_hash_matches", STACK_ON_F0, tramp_en_lost, "0 trampolines activated, 1 expected"),
    ("text", STACK_ON_F0, site_left_on_the_caller, "calls ftrace_caller, expected"),
    (
        "trampolines_load_their_own_ops",
        STACK_ON_F0,
        ops_slot_overwritten,
        "differs from the template",
    ),
    (
        "machine_code",
        [*STACK_ON_F0, "register_ftrace_function(instance)"],
        callback_skipped,
        "callbacks of []",
    ),
    ("no_warning", [], warned, "the kernel warned: pr_warn: something"),
    (
        "recursion_contract",
        [*KPROBE_CALLS_F1, "register_ftrace_function(instance)"],
        list_guard_lost,
        "kprobe's callback kprobe_ftrace_handler (not RECURSION_SAFE) re-entered at f1",
    ),
    (
        "machine_code",
        ["perf_ftrace_function_register(perf)"],
        perf_disable_ignored,
        "callbacks of ['perf'] ran, expected []",
    ),
]


def test_every_invariant_has_a_bad_machine():
    assert sorted({case[0] for case in CASES}) == sorted(INVARIANTS)


@pytest.mark.parametrize(
    "invariant, steps, breakage, words", CASES, ids=lambda c: getattr(c, "__name__", None)
)
def test_invariant_catches_a_broken_kernel(invariant, steps, breakage, words):
    m = FtraceMachine(kernel="fixed")
    for line in steps:
        take(m, line)
    m.check()  # healthy so far
    breakage(m)
    m.touch(m.exp.live)  # let the emulated checks visit every function
    with pytest.raises(AssertionError, match=re.escape(words)):
        getattr(m, invariant)()


def test_as_posted_fails_the_notes_sequences_through_the_machine():
    """The replayed tramp-loop sequence: the seed's own check fires on as-posted."""
    steps = [
        "echo 0 > /proc/sys/kernel/ftrace_enabled",
        *STACK_ON_F0,
        *KPROBE_ON_F0,
        "echo 1 > /proc/sys/kernel/ftrace_enabled",
    ]
    assert replay("fixed", steps) is None
    failure, at = replay("as-posted", steps)
    assert at == 5
    assert failure.startswith("stack_trace->trampolines is 1, 0 records have TRAMP")


@pytest.mark.parametrize(
    "steps, who",
    [
        (KPROBE_CALLS_F1, "kprobe's callback kprobe_ftrace_handler"),
        (
            ["echo 'f1:traceon' >> set_ftrace_filter", "probe's callback calls f1"],
            "probe's callback function_trace_probe_call",
        ),
    ],
)
def test_the_seeds_trampoline_recurses_into_an_unguarded_callback(steps, who):
    """A finding of the real C: the seed's trampoline calls ops->func of an ops
    that is not RECURSION_SAFE with no guard; with ftrace_ops_get_func() the
    trampoline calls the guard instead."""
    failure, at = replay("as-posted", steps)
    assert at == 2
    assert failure.startswith(f"{who} (not RECURSION_SAFE) re-entered at f1 from 0xffffffffa")
    assert replay("as-posted+tramp-recursion", steps) is None
    assert replay("fixed", steps) is None


def test_a_recursion_safe_callback_may_be_reentered():
    """stack_trace guards itself: its trampoline calling it again is no breach."""
    m = FtraceMachine(kernel="fixed")
    for line in [
        "ftrace_set_filter(stack_trace, 'f1', reset=0)",
        "register_ftrace_function(stack_trace)",
        "stack_trace's callback calls f1",
    ]:
        take(m, line)
    m.check()
    assert [m.k.emu.symbolize(inv.func) for inv in m.sys.run("f1").reentered] == [
        "stack_trace_func"
    ]
