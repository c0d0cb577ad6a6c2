"""The printed report, held to a golden file, and read back in both of its forms."""

import os
import re
from pathlib import Path

from model import fixes
from tramproof import report

GOLDEN = Path(__file__).parent / "golden" / "report-tramp-owner.txt"
KERNEL = f"fixed-{fixes.TRAMP_OWNER}"


# A tramp-owner failure that involves an allocated trampoline (global_ops').
STEPS = [
    "ftrace_set_notrace(global_ops, 'f3', reset=0)",
    "register_ftrace_graph() (function profiler on)",
    "function tracer on (func_stack_trace=1)",
    "ftrace_set_notrace(global_ops, '!f3', reset=0)",
]


def sample():
    """The report of a tramp-owner program, as `tramproof fuzz` would write it."""
    return report.build(KERNEL, STEPS, known=[fixes.TRAMP_OWNER], seed="1 (batch 0)", examples=7)


def versionless(text):
    """The report minus the lines that name the installed releases."""
    return re.sub(r"(?m)^(tramproof|hypothesis):.*\n", "", text)


def test_the_printed_report_is_the_golden_one():
    text = sample().to_text()
    if os.environ.get("TRAMPROOF_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert versionless(text) == versionless(GOLDEN.read_text())


def test_what_the_report_says():
    rep = sample()
    assert rep.invariant == "accounting"
    assert rep.ops == ["global_ops"] and rep.functions == ["f3"]
    assert [row["count"] for row in rep.after] == [2]
    assert "TRAMP" not in rep.after[0]["flags"] and rep.after[0]["calls"] == "ftrace_caller"
    assert rep.trampolines[0]["ops"] == "global_ops"
    assert "op slot" in rep.trampolines[0]["listing"][0]
    assert any("callq" in line for line in rep.trampolines[0]["listing"])
    assert rep.warnings
    # what each registration registered: the ops, its flags, its hashes then
    assert rep.notes[0] == "global_ops [RECURSION_SAFE] filter={} notrace={}"
    assert rep.notes[2] == "graph_ops [STUB|RECURSION_SAFE] filter={} notrace={f3}"
    assert rep.notes[1] == rep.notes[3] == ""


def test_text_and_json_read_back_to_the_same_program():
    rep = sample()
    for text in (rep.to_text(), rep.to_json()):
        assert report.read(text) == report.Recorded(KERNEL, rep.steps, "accounting", None)


def test_the_verdict_keeps_an_ftrace_bug_line():
    rep = sample()
    rep.invariant = "no_warning"
    rep.message = "the kernel warned: FTRACE_WARN_ON: x\n  WARN_ON: y\n  ftrace_bug: bad"
    assert rep.verdict.endswith("FTRACE_WARN_ON: x (then ftrace_bug: bad)")
