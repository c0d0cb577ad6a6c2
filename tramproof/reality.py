"""Is a catalogued bug real on a named kernel?  Measured by replay, never stated.

A bug X is real on a base kernel K (``as-posted``, ``3.17.0+seed``) when K
lacks X's fix and X's golden program fails on K's own code with every later
fix but X put in: K's era stays as it is (as-posted keeps its base, 3.17.0
keeps the 3.17-rc fixes), and the later fixes hide the other known bugs the
program might trip first.  So a bug that needs code K does not have (a
shared graph_ops hash, on a kernel without graph_ops) is not real on K.
"""

from functools import cache
from pathlib import Path

import properties
from model import fixes
from tramproof.replay import read_program, replay

GOLDEN = Path(properties.__file__).parent / "golden"
BASES = ("as-posted", "3.17.0+seed")


@cache
def real_on(fix_id, base):
    """'fixed in <base>', 'real' or 'not real' for the golden program of fix_id on base."""
    own = fixes.KERNELS[base]
    if fix_id in own:
        return f"fixed in {base}"
    later = {f.id for f in fixes.CATALOGUE if f.tree != fixes.V3_17}
    kernel = fixes.kernel_name(own | (later - {fix_id}))
    steps = read_program((GOLDEN / f"{fix_id}.txt").read_text())
    return "real" if replay(kernel, steps) else "not real"
