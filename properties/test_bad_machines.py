"""Bad machines: every invariant of the state machine fails on a kernel that is wrong its way.

Each case replays a few steps on a healthy kernel, then breaks one thing
the way a buggy patch would leave it, and requires that one invariant to
fail with its own message.
"""

import pytest

from model.include.linux.ftrace import (
    FTRACE_FL_REGS,
    FTRACE_FL_TRAMP,
    FTRACE_FL_TRAMP_EN,
)
from properties.machine import INVARIANTS, FtraceMachine
from properties.replay import replay, take
from properties.x86_checks import trampoline_size

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
    with pytest.raises(AssertionError, match=words.replace("[", r"\[").replace("(", r"\(")):
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
