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


def test_a_report_names_the_set_and_the_plain_kernel():
    kernel = f"as-posted+{fixes.GRAPH_OPS}"  # as a run of as-posted with graph-ops masked
    task = fuzz.Task(0, 1, kernel, 10, False, None)
    config = fuzz.Config(kernel="as-posted", seed=1)
    rep = fuzz.describe(task, config, None, failing(golden(fixes.HASH_OPS_UPDATE)))
    assert rep.known == [fixes.HASH_OPS_UPDATE] and rep.masked == [fixes.GRAPH_OPS]
    # hash-ops-update needs graph-ops' shared hash: on as-posted it holds
    assert rep.plain.startswith("on as-posted, which it is filed under: holds")
    text = rep.to_text()
    assert rep.plain in text and f"known bug: {fixes.HASH_OPS_UPDATE} (" in text

    steps = golden(fixes.SYSCTL_GRAPH)
    task = fuzz.Task(0, 1, f"fixed-{fixes.SYSCTL_ORDER}-{fixes.SYSCTL_GRAPH}", 10, False, None)
    rep = fuzz.describe(task, fuzz.Config(kernel=task.kernel), None, failing(steps))
    assert "known bugs, fixed only together: sysctl-graph + sysctl-order" in rep.to_text()
    assert rep.slug.startswith("sysctl-graph+sysctl-order-")


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
