"""Every catalogued bug is found from scratch, shrunk, and printed the same way every time.

For each fix x86-64 can reach, the state machine runs on `fixed` without
that fix and must fail; the shrunk program, in kernel words, must be at most
the number of steps stated here and equal the golden file.  After a
deliberate change, regenerate the golden files with
TRAMPROOF_UPDATE_GOLDEN=1 and read the diff.
"""

import os
from pathlib import Path

import pytest

from model import fixes
from properties.hunt import hunt

GOLDEN = Path(__file__).parent / "golden"

# The longest shrunk program each bug may take, as we state it.
STATED_STEPS = {
    fixes.TRAMP_LOOP: 4,
    fixes.GRAPH_OPS: 3,
    fixes.HASH_OPS_UPDATE: 3,
    fixes.STALE_TRAMP_HASH: 6,
    fixes.MOD_HASH_ZERO: 6,
    fixes.SYSCTL_GRAPH: 5,
    fixes.MODULE_REGS: 3,
    fixes.MODULE_DISABLED: 3,
    fixes.TRAMP_PG_FLAG: 7,
    fixes.SYSCTL_ORDER: 5,
    fixes.SYSCTL_CLEAR_EN: 6,
    fixes.TRAMP_OWNER: 6,
    fixes.TRACES_MOD_NOTRACE: 7,
}
REACHABLE = sorted(f.id for f in fixes.CATALOGUE if f.unreachable_because is None)


def test_every_reachable_fix_has_a_stated_length():
    assert sorted(STATED_STEPS) == REACHABLE


@pytest.mark.parametrize("fix", REACHABLE)
def test_fixed_minus_one_fix_fails_with_a_short_program(fix):
    found = hunt(f"fixed-{fix}")
    assert found is not None, f"the state machine did not find the bug that {fix} fixes"
    assert len(found.steps) <= STATED_STEPS[fix], found.render()
    golden = GOLDEN / f"{fix}.txt"
    if os.environ.get("TRAMPROOF_UPDATE_GOLDEN"):
        golden.write_text(found.render())
    assert found.render() == golden.read_text()
