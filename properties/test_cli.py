"""`tramproof scenarios`: a verdict computed from what the kernels measured."""

import io

from properties.cli import main


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
