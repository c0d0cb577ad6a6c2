"""`tramproof scenarios` (a verdict computed from what the kernels measured) and `bugs`."""

import io

from model import fixes
from properties.cli import GOLDEN, main


def test_scenarios_verdict_on_both_kernels():
    out = io.StringIO()
    assert main(["scenarios"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("verdict: ok: as-posted fails 3/10 (")
    assert lines[-1].endswith("fixed fails 0/10")


def test_a_kernel_that_fails_gives_exit_1():
    out = io.StringIO()
    assert main(["scenarios", "--kernel", "as-posted"], out) == 1
    assert out.getvalue().splitlines()[-1].startswith("verdict: FAIL: as-posted fails 3/10")


def test_unknown_kernel_is_bad_usage(capsys):
    assert main(["scenarios", "--kernel", "v3.99"], io.StringIO()) == 2
    assert "unknown kernel 'v3.99'" in capsys.readouterr().err


def test_bugs_lists_the_catalogue_with_shrunk_lengths():
    out = io.StringIO()
    assert main(["bugs"], out) == 0
    rows = {line.split()[0]: line for line in out.getvalue().splitlines()}
    assert list(rows) == [fix.id for fix in fixes.CATALOGUE]
    assert "unreachable on x86-64" in rows[fixes.NOP_CURR_ADDR]
    golden = (GOLDEN / f"{fixes.TRAMP_LOOP}.txt").read_text()
    steps = sum(line.startswith("  ") for line in golden.splitlines())
    assert f" {steps} steps " in rows[fixes.TRAMP_LOOP]
    assert rows[fixes.MODULE_REGS].split()[1] == "own"
