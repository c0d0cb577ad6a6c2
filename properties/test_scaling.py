"""Per-step work follows what the step touches, not the number of records.

Counts, not timings: for the same narrow program, the records the model's
code update walks and the functions the invariants visit must not grow with
the kernel.  (Speed itself is measured by the benchmarks.)
"""

from hypothesis import strategies as st

from model.vmlinux import model_functions
from properties import strategies as S
from properties.machine import FtraceMachine
from tramproof.replay import take

NARROW = [
    "ftrace_set_filter(regs_ops, 'f3', reset=0)",
    "register_ftrace_function(regs_ops)",
    "ftrace_set_filter(stack_trace, 'f5', reset=0)",
    "register_ftrace_function(stack_trace)",
    "ftrace_set_filter(regs_ops, 'f5', reset=0)",
    "unregister_ftrace_function(stack_trace)",
    "insmod mod0",
    "rmmod mod0",
    "unregister_ftrace_function(regs_ops)",
]
ORIGINAL = model_functions()["records_to_update"]


def every_record(k, enable):
    """The C's walk: every record, every time."""
    return list(k.do_for_each_ftrace_rec())


def work(functions, walk=ORIGINAL):
    """Per step: (records the code update walked, functions the invariants visited)."""
    walked = []

    def spy(k, enable):
        recs = walk(k, enable)
        walked.append(len(recs))
        return recs

    m = FtraceMachine(kernel="fixed", functions=functions, overrides={"records_to_update": spy})
    m.check()
    per_step = []
    for line in NARROW:
        walked.clear()
        take(m, line)
        m.check()
        per_step.append((sum(walked), len(m.checking)))
    return per_step


def test_narrow_steps_cost_the_same_in_a_small_and_a_large_kernel():
    assert work(64) == work(4096)


def test_the_count_would_see_a_walk_over_every_record():
    assert work(64, every_record) != work(4096, every_record)


def restore_work(functions):
    """Records a narrow program leaves for the boot restore to put back (RecordWatch.dirty)."""
    m = FtraceMachine(
        kernel="fixed", functions=functions, overrides={"records_to_update": ORIGINAL}
    )
    for line in NARROW:
        take(m, line)
        m.check()
    return len(m.k.rec_watch.dirty)


def test_putting_a_kernel_back_to_boot_follows_what_the_run_changed():
    assert restore_work(64) == restore_work(4096) > 0


def shape(strategy):
    """The names a filter-pattern strategy samples from, branch by branch."""
    branches = getattr(strategy, "original_strategies", None) or [strategy]
    return [tuple(b.elements) for b in branches]


def patterns(live, dead):
    """The plain form of S.pattern_strategy: every name sorted, on each draw."""
    everything = st.sampled_from(sorted(set(live) | set(dead) | set(S.GLOBS)))
    modular = sorted(n for n in live if n.startswith("mod"))
    return st.one_of(st.sampled_from(modular), everything) if modular else everything


def test_the_machine_draws_patterns_from_the_same_lists_as_patterns():
    live = {f"f{i}" for i in range(12)}
    for loaded, dead in [((), ()), ((0, 2), ()), ((2,), (0, 1)), ((), (3,))]:
        modular = {f"mod{s}_{f}" for s in loaded for f in "ab"}
        gone = {f"mod{s}_{f}" for s in dead for f in "ab"}
        want = shape(patterns(live | modular, gone))
        got = shape(S.pattern_strategy(12, frozenset(modular | gone), modular))
        assert got == want
