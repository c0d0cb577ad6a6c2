"""Known bugs explained by sets of fixes; a failure on a masked kernel says what the plain
kernel does; a stop while a failure is cut down is said in its report."""

import time
from pathlib import Path

import properties
from model import fixes
from tramproof import fuzz
from tramproof.replay import read_program, replay

GOLDEN = Path(properties.__file__).parent / "golden"


def golden(fix):
    return read_program((GOLDEN / f"{fix}.txt").read_text())


def test_a_failure_that_two_fixes_explain_only_together():
    # sysctl-graph's program on a kernel without sysctl-order either fails in a
    # way only both fixes mend (no single one does)
    kernel = f"fixed-{fixes.SYSCTL_ORDER}-{fixes.SYSCTL_GRAPH}"
    steps = golden(fixes.SYSCTL_GRAPH)
    assert replay(kernel, steps) is not None
    for fix in (fixes.SYSCTL_ORDER, fixes.SYSCTL_GRAPH):
        assert replay(f"{kernel}+{fix}", steps) is not None
    sets, searched = fuzz.explain(kernel, steps, None)
    assert sets == [[fixes.SYSCTL_GRAPH, fixes.SYSCTL_ORDER]] and searched == 2


# fixes that stay in the catalogue, to mask
STABLE = [fixes.TRAMP_LOOP, fixes.GRAPH_OPS, fixes.SYSCTL_ORDER, fixes.SYSCTL_GRAPH,
          fixes.SYSCTL_CLEAR_EN]  # fmt: skip


def masked_case(fails_on_plain):
    """(mask, steps): a golden program that fails on as-posted with ``mask`` fixed and
    fails, or holds, on as-posted itself; found by replay."""
    for path in sorted(GOLDEN.glob("*.txt")):
        if path.stem not in fixes.BY_ID:
            continue
        steps = read_program(path.read_text())
        if (replay("as-posted", steps) is not None) != fails_on_plain:
            continue
        for mask in STABLE:
            if mask != path.stem and replay(f"as-posted+{mask}", steps) is not None:
                return mask, steps
    raise AssertionError(f"no golden program for a masked kernel ({fails_on_plain=})")


def test_a_report_names_the_set_and_the_plain_kernel():
    config = fuzz.Config(kernel="as-posted", seed=1)
    mask, steps = masked_case(fails_on_plain=False)
    task = fuzz.Task(0, 1, f"as-posted+{mask}", 10, False, None)  # as-posted, mask masked
    rep = fuzz.describe(task, config, None, failing(steps))
    assert rep.masked == [mask] and rep.known
    assert rep.plain == (
        f"on as-posted, which it is filed under: holds; it shows only with the masked fix(es) "
        f"{mask}"
    )
    assert rep.plain in rep.to_text()

    mask, steps = masked_case(fails_on_plain=True)
    task = fuzz.Task(0, 1, f"as-posted+{mask}", 10, False, None)
    rep = fuzz.describe(task, config, None, failing(steps))
    assert rep.plain.startswith("on as-posted, which it is filed under: fails, at step ")

    steps = golden(fixes.SYSCTL_GRAPH)
    task = fuzz.Task(0, 1, f"fixed-{fixes.SYSCTL_ORDER}-{fixes.SYSCTL_GRAPH}", 10, False, None)
    rep = fuzz.describe(task, fuzz.Config(kernel=task.kernel), None, failing(steps))
    assert "known bugs, fixed only together: sysctl-graph + sysctl-order" in rep.to_text()
    assert rep.slug.startswith("sysctl-graph+sysctl-order-") and not rep.plain


def failing(steps):
    """An error as hypothesis raises it, with the printed program in its notes."""
    error = AssertionError("failed")
    error.__notes__ = ["Failing test case: <state machine>", "state = FtraceMachine()", *steps]
    return error


def test_a_stop_while_cutting_down_is_said(monkeypatch):
    # the program with steps that do not matter before it: a cut would drop them
    steps = ["insmod mod0", "rmmod mod0", *golden(fixes.TRAMP_LOOP)]
    task = fuzz.Task(0, 1, f"fixed-{fixes.TRAMP_LOOP}", 10, False, time.time())
    monkeypatch.setitem(fuzz.STOP, "requested", True)
    rep = fuzz.describe(task, fuzz.Config(kernel=task.kernel), None, failing(steps))
    assert rep.steps == steps and rep.partial
    text = rep.to_text()
    assert "cut short: stopped while the program was cut down" in text
    assert "known bug: not searched (the run was stopped)" in text
