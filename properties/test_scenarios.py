"""The hand-written scenarios: what each kernel must show.

The scenarios measure; these tests state the expectations.  `fixed` passes
everything; each catalogued bug shows on `fixed` minus its fix, and on
`as-posted` where it is reachable there.
"""

import pytest

from model import fixes
from properties.scenarios import SCENARIOS, run

FIX_SCENARIOS = {
    fixes.TRAMP_LOOP: "fix_tramp_loop",
    fixes.GRAPH_OPS: "fix_graph_ops",
    fixes.HASH_OPS_UPDATE: "fix_hash_ops_update",
    fixes.NOP_CURR_ADDR: "fix_nop_curr_addr",
}
NOTES = [f for f in fixes.CATALOGUE if f.found_by == "kernel notes"]
REACHABLE = [f.id for f in NOTES if f.unreachable_because is None]


def test_every_fix_of_the_notes_has_a_scenario():
    """The fixes tramproof found itself are shown by the state machine (test_bugs.py)."""
    assert set(FIX_SCENARIOS) == {f.id for f in NOTES}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fixed_passes(name):
    outcome = run(name, "fixed")
    assert outcome.passed, (outcome.failures, outcome.warnings)


@pytest.mark.parametrize(
    "name", sorted(n for n in SCENARIOS if not n.startswith("fix_") or n == "fix_nop_curr_addr")
)
def test_as_posted_passes_what_its_bugs_do_not_touch(name):
    outcome = run(name, "as-posted")
    assert outcome.passed, (outcome.failures, outcome.warnings)


@pytest.mark.parametrize("fix_id", REACHABLE)
def test_bug_shows_without_its_fix(fix_id):
    outcome = run(FIX_SCENARIOS[fix_id], f"fixed-{fix_id}")
    assert not outcome.passed


def test_tramp_loop_bug_kills_ftrace_on_as_posted():
    """bce0b6c51ac7: the stale tramp_hash misses the decrement; the seed's check fires."""
    outcome = run("fix_tramp_loop", "as-posted")
    assert "stack_trace trampolines 1 on a shared record" in outcome.failures
    assert "FTRACE_WARN_ON: stack_trace: cnt 0 != ops->trampolines 1" in outcome.warnings


def test_tramp_loop_bug_through_a_shared_hash():
    """The case of bce0b6c51ac7's changelog: graph_ops shares global_ops' hash."""
    outcome = run("fix_hash_ops_update", f"fixed-{fixes.TRAMP_LOOP}")
    assert "FTRACE_WARN_ON: global_ops: cnt 0 != ops->trampolines 1" in outcome.warnings


def test_graph_ops_bug_on_as_posted():
    """5f151b240192: the graph tracer registers global_ops a second time."""
    outcome = run("fix_graph_ops", "as-posted")
    assert outcome.warnings[0] == "WARN_ON: register global_ops: already enabled"
    assert "register_ftrace_graph failed" in outcome.failures
    # global_ops keeps the graph caller as its trampoline: the next update
    # finds a site that does not call what the accounting says.
    assert any(w.startswith("ftrace_bug: ftrace failed to modify") for w in outcome.warnings)


def test_hash_ops_update_bug_leaves_counts_behind():
    """84261912ebee: only global_ops is recounted; graph_ops' counts stay on every record."""
    outcome = run("fix_hash_ops_update", f"fixed-{fixes.HASH_OPS_UPDATE}")
    assert outcome.warnings == []
    assert "f2 count 1" in outcome.failures
    assert "f2 flags 0x80000001 after all off" in outcome.failures


def test_selftest_ops_on_3_17_0_seed_warns_as_its_c_does():
    """A finding: 3.17.0 with the seed kills ftrace in the kernel's own boot selftest.

    Read in linux-3.17.0+seed/kernel/trace/ftrace.c: trace_selftest_ops()
    (trace_selftest.c:183) registers test_probe1 on func1 (TRAMP, one
    trampoline), then test_probe3 on func1 and func2.  Joining func1,
    __ftrace_hash_rec_update() calls ftrace_clear_tramps() (1535), which asks
    test_probe2 first; ftrace_remove_tramp() (1515) clears TRAMP before its
    hash test (1522), returns without a decrement since test_probe2 does not
    trace func1, and test_probe1, asked next, finds no TRAMP: it keeps
    nr_trampolines 1 with no record, and the seed's count check in
    ftrace_save_ops_tramp_hash() (2285) warns and kills ftrace.  The base
    (tramp_hash lookup) and tramp-owner pass.
    """
    outcome = run("selftest_ops", "3.17.0+seed")
    assert [str(w) for w in outcome.warnings] == [
        "FTRACE_WARN_ON: test_probe1: cnt 0 != ops->trampolines 1",
        "pr_warn: 0 trampolines activated, 1 expected",
    ]
    assert run("selftest_ops", f"3.17.0+seed+{fixes.TRAMP_OWNER}").passed
