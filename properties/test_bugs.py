"""Every catalogued bug is found from scratch, shrunk, and printed the same way every time.

For each fix x86-64 can reach, the state machine runs on `fixed` without
that fix and must fail; the shrunk program, in kernel words, must be at most
the number of steps stated here.  The golden file holds the program the
hunt printed: replayed, it must fail on `fixed` minus the fix with the same
words and hold on `fixed`; and under the hypothesis release that wrote it,
a new hunt must print it byte for byte (another release explores
differently, so there only the replay and the length are required).  After a
deliberate change, regenerate with TRAMPROOF_UPDATE_GOLDEN=1 and read the diff.
"""

import os
from pathlib import Path

import hypothesis
import pytest
from hypothesis import Phase, settings

from model import fixes
from tramproof.hunt import HUNT, hunt
from tramproof.replay import replay

GOLDEN = Path(__file__).parent / "golden"

# The longest shrunk program each bug may take, as we state it.
STATED_STEPS = {
    fixes.TRAMP_LOOP: 3,
    fixes.GRAPH_OPS: 2,
    fixes.HASH_OPS_UPDATE: 3,
    fixes.STALE_TRAMP_HASH: 4,
    fixes.MOD_HASH_ZERO: 5,
    fixes.SYSCTL_GRAPH: 4,
    fixes.MODULE_REGS: 2,
    fixes.MODULE_DISABLED: 3,
    fixes.TRAMP_PG_FLAG: 4,
    fixes.SYSCTL_ORDER: 4,
    fixes.SYSCTL_CLEAR_EN: 5,
    fixes.TRAMP_OWNER: 5,
    fixes.HASH_OPS_ENABLED: 3,
    fixes.CONTROL_TRAMP: 4,
    fixes.CONTROL_MOD: 2,
    fixes.PROBE_UPDATE: 2,
    fixes.TRAMP_RECURSION: 2,
}
# Bugs whose first failure the replay's cut leaves longer than stated:
# hypothesis shrinks it first (10-25 s each; 3 steps to 2, 4 to 3, 5 to 4).
SHRUNK_FIRST = {
    fixes.HASH_OPS_ENABLED,
    fixes.HASH_OPS_UPDATE,
    fixes.MODULE_DISABLED,
    fixes.PROBE_UPDATE,
    fixes.TRAMP_PG_FLAG,
}
REACHABLE = sorted(f.id for f in fixes.CATALOGUE if f.unreachable_because is None)


def test_every_reachable_fix_has_a_stated_length():
    assert sorted(STATED_STEPS) == REACHABLE


HEADER = f"# hunted with hypothesis {hypothesis.__version__}\n"


def read_golden(fix):
    """(hypothesis version line, steps, failure line) of a golden file."""
    header, *body = (GOLDEN / f"{fix}.txt").read_text().splitlines()
    steps = [line.split(". ", 1)[1] for line in body if line.startswith("  ")]
    failure = next(line for line in body if line.startswith("failure: "))[len("failure: ") :]
    return header + "\n", steps, failure


@pytest.mark.parametrize("fix", REACHABLE)
def test_fixed_minus_one_fix_fails_with_a_short_program(fix):
    budget = settings(HUNT, phases=[*HUNT.phases, Phase.shrink]) if fix in SHRUNK_FIRST else HUNT
    found = hunt(f"fixed-{fix}", budget=budget)
    assert found is not None, f"the state machine did not find the bug that {fix} fixes"
    assert len(found.steps) <= STATED_STEPS[fix], found.render()
    golden = GOLDEN / f"{fix}.txt"
    if os.environ.get("TRAMPROOF_UPDATE_GOLDEN"):
        golden.write_text(HEADER + found.render())
    header, _, _ = read_golden(fix)
    if header == HEADER:
        assert HEADER + found.render() == golden.read_text()


@pytest.mark.parametrize("fix", REACHABLE)
def test_golden_program_replays(fix):
    _, steps, failure = read_golden(fix)
    assert len(steps) <= STATED_STEPS[fix]
    assert replay(f"fixed-{fix}", steps) == (failure, len(steps))
    assert replay("fixed", steps) is None
