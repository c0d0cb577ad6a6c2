"""The incremental check and the full check give the same verdict, step for step.

After a step the state machine checks only what the step changed (records
whose flags moved, sites written, functions whose tracers changed), and one
site per class of call sites in the emulator; every FULL_CHECK_EVERY steps
and at the end of a program it checks everything.  Here every step is
checked both ways, on the same kernel state, and the two verdicts (pass, or
fail) must agree: on random programs of healthy and buggy kernels, on every
catalogued bug's golden program, and on broken variants.
"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, reject, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import invariant, run_state_machine_as_test

from properties.machine import FULL_CHECK_EVERY, INVARIANTS, FtraceMachine
from properties.test_bugs import REACHABLE, read_golden
from properties.variant import load_variant
from properties.x86_variants import VARIANTS
from tramproof.hunt import HUNT
from tramproof.replay import take


def verdict(m, full):
    """None if every invariant holds with a full (or incremental) check, else the failure."""
    m.checking, m.full_due = None, full
    try:
        m.check()
    except Exception as error:  # an emulation fault is a verdict as much as an assertion
        return f"{type(error).__name__}: {error}"
    return None


def take_step(m, line):
    """The step; False if the step itself failed (a kernel call's return), which
    fails both ways of checking alike."""
    try:
        take(m, line)
    except AssertionError:
        return False
    return True


def both_verdicts(m):
    """(incremental, full) verdicts on the state the last step left."""
    return verdict(m, full=False), verdict(m, full=True)


class TwinChecks(FtraceMachine):
    """The state machine with each step checked incrementally, then in full.

    A step both checks fail ends the example, as a rejected one: what a
    broken kernel does after its first failure is not the checks' business.
    """

    tally = {"steps": 0, "failed": 0, "step failed": 0}
    checks_running = False

    @invariant()
    def same_verdict(self):
        incremental, full = both_verdicts(self)
        TwinChecks.tally["steps"] += 1
        assert (incremental is None) == (full is None), (
            f"after {self.last_step!r}: incremental {incremental!r}, full {full!r}"
        )
        if full is not None:
            TwinChecks.tally["failed"] += 1
            reject()

    def require(self, condition, message):
        """A step's own failure (a kernel call's return) fails both ways alike: it ends
        the example; inside the checks, require is the checks' own."""
        if not condition and not self.checks_running:
            TwinChecks.tally["step failed"] += 1
            reject()
        super().require(condition, message)

    def check(self):
        self.checks_running = True
        try:
            super().check()
        finally:
            self.checks_running = False

    def teardown(self):
        self.healthy = False  # same_verdict made the full checks already
        super().teardown()


def invariants_by_hand(cls):
    """Make each of FtraceMachine's invariants a plain method of ``cls``: hypothesis
    no longer runs them after a step, a method of the twin does."""
    for name in INVARIANTS:
        checked = getattr(FtraceMachine, name)
        setattr(cls, name, lambda self, checked=checked: checked(self))


invariants_by_hand(TwinChecks)  # the invariants run inside same_verdict

VARIANT_DIR = Path(__file__).parent / "variants"
TWIN = settings(
    HUNT, max_examples=25, stateful_step_count=30, suppress_health_check=list(HealthCheck)
)


def run_twins(kernel, overrides=None):
    TwinChecks.tally = {"steps": 0, "failed": 0, "step failed": 0}
    try:
        run_state_machine_as_test(
            lambda: TwinChecks(kernel=kernel, overrides=overrides), settings=TWIN
        )
    except Unsatisfiable:
        pass  # every example failed (a broken variant): each was compared up to its failure
    return TwinChecks.tally


@pytest.mark.parametrize("kernel", ["fixed", "as-posted", "3.17.0+seed"])
def test_same_verdicts_on_random_programs(kernel):
    tally = run_twins(kernel)
    assert tally["steps"] > 100
    if kernel != "fixed":
        assert tally["failed"] > 0, f"no program failed on {kernel}: the comparison saw no bug"


BROKEN = {n: spec["overrides"] for n, spec in VARIANTS.items() if "overrides" in spec}
BROKEN["clear_tramps_forgotten"] = load_variant(VARIANT_DIR / "clear_tramps_forgotten.py")


def test_same_verdicts_on_broken_variants():
    """Each variant compared over its random programs; most of them fail (a variant
    that only fails on rare programs, as no_alloc_tramp does in 4 of 25, may not)."""
    tallies = {variant: run_twins("fixed", overrides) for variant, overrides in BROKEN.items()}
    assert all(t["steps"] > 100 for t in tallies.values()), tallies
    caught = sorted(v for v, t in tallies.items() if t["failed"])
    assert len(caught) >= len(BROKEN) - 1, tallies


@pytest.mark.parametrize("fix", REACHABLE)
def test_same_verdicts_on_each_golden_program(fix):
    _, steps, _ = read_golden(fix)
    m = FtraceMachine(kernel=f"fixed-{fix}")
    seen = []
    for line in steps:
        if not take_step(m, line):
            seen.append((False, False))
            break
        incremental, full = both_verdicts(m)
        seen.append((incremental is None, full is None))
        assert (incremental is None) == (full is None), (line, incremental, full)
        if full is not None:
            break
    assert seen[-1] == (False, False), f"the golden program of {fix} did not fail: {seen}"


def test_the_comparison_can_fail():
    """A check that looks only at what changed misses an untracked breakage; the
    full check does not, and the twin machine says so."""
    m = TwinChecks(kernel="fixed")
    take(m, "register_ftrace_function(stack_trace)")
    m.same_verdict()
    rec = m.k.recs_by_name["f2"][0]
    object.__setattr__(rec, "flags", rec.flags + 1)  # a store the watch does not see
    with pytest.raises(
        AssertionError, match="incremental None, full .AssertionError: count wrong: f2"
    ):
        m.same_verdict()


def test_a_site_with_bytes_of_its_own_runs_in_the_emulator():
    """One site per class runs; a site whose bytes differ from its class's is a
    class of its own, so a wrong target at one site of thousands is caught."""
    m = FtraceMachine(kernel="fixed", functions=2000)
    take(m, "register_ftrace_function(instance)")
    m.check()
    runs = []
    run = m.sys.run_callbacks
    m.sys.run_callbacks = lambda name: runs.append(name) or run(name)
    # f1234's site calls ftrace_stub: its callback never runs
    rec = m.k.recs_by_name["f1234"][0]
    m.k.emu.write_text(rec.ip, m.k.ftrace_call_replace(rec.ip, m.k.emu.sym["ftrace_stub"]))
    m.checking = None
    with pytest.raises(AssertionError, match="f1234: callbacks of"):
        m.machine_code()
    assert "f1234" in runs and len(runs) <= 3  # two samples, then its own class


def test_every_tenth_step_is_checked_in_full():
    m = FtraceMachine(kernel="fixed")
    m.check()  # the boot's check is a full one
    assert m.full
    fulls = []
    for n in range(1, 2 * FULL_CHECK_EVERY + 1):
        take(
            m,
            "register_ftrace_function(instance)"
            if n % 2
            else "unregister_ftrace_function(instance)",
        )
        m.check()
        fulls.append(m.full)
    assert [n + 1 for n, full in enumerate(fulls) if full] == [
        FULL_CHECK_EVERY,
        2 * FULL_CHECK_EVERY,
    ]


def test_the_end_of_a_program_is_checked_in_full():
    """A breakage no step's bookkeeping saw fails the example at its end (teardown),
    and a replayed program at its end; a failed step's teardown adds nothing."""
    steps = ["register_ftrace_function(stack_trace)"]
    m = FtraceMachine(kernel="fixed")
    for line in steps:
        take(m, line)
    m.check()
    m.healthy = True  # as hypothesis's run of the invariants leaves it
    rec = m.k.recs_by_name["f2"][0]
    object.__setattr__(rec, "flags", rec.flags + 1)  # a store the watch does not see
    m.checking = None
    m.check()  # the incremental check does not look at f2
    assert not m.full and m.checking == []
    with pytest.raises(AssertionError, match="count wrong: f2"):
        m.teardown()
    m.healthy = False  # a step (or its checks) failed: teardown must not hide it
    m.teardown()
