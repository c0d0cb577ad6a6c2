"""The printed report, held to a golden file, and read back in both of its forms."""

import os
import re
from pathlib import Path

from model import fixes
from properties import report
from properties.test_bugs import read_golden

GOLDEN = Path(__file__).parent / "golden" / "report-tramp-owner.txt"
KERNEL = f"fixed-{fixes.TRAMP_OWNER}"


def sample():
    """The report of tramp-owner's golden program, as `tramproof fuzz` would write it."""
    _, steps, _ = read_golden(fixes.TRAMP_OWNER)
    return report.build(KERNEL, steps, known=[fixes.TRAMP_OWNER], seed="1 (batch 0)", examples=7)


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
    assert rep.ops == ["global_ops", "graph_ops"] and rep.functions == ["f0"]
    assert {row["count"] for row in rep.after} == {2}
    assert "TRAMP" in rep.after[0]["flags"] and "trampoline of global_ops" in rep.after[0]["calls"]
    assert rep.trampolines[0]["ops"] == "global_ops"
    assert "op slot" in rep.trampolines[0]["listing"][0]
    assert any("callq" in line for line in rep.trampolines[0]["listing"])
    assert rep.warnings
    # what each registration registered: the ops, its flags, its hashes then
    assert rep.notes[0] == "graph_ops [STUB|RECURSION_SAFE] filter={} notrace={}"
    assert rep.notes[1] == "global_ops [RECURSION_SAFE] filter={} notrace={}"
    assert rep.notes[2] == rep.notes[3] == ""


def test_text_and_json_read_back_to_the_same_program():
    rep = sample()
    for text in (rep.to_text(), rep.to_json()):
        assert report.read(text) == (KERNEL, rep.steps, "accounting")
