"""`tramproof scenarios` (a verdict computed from what the kernels measured) and `bugs`."""

import io
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from model import fixes
from tramproof import exits
from tramproof.cli import GOLDEN, command_line, main


def test_scenarios_verdict_on_the_three_kernels():
    out = io.StringIO()
    assert main(["scenarios"], out) == 0
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("verdict: ok: as-posted fails 3/10 (")
    assert "3.17.0+seed fails 1/10 (selftest_ops)" in lines[-1]
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
    lines = out.getvalue().splitlines()
    rows = {line.split()[0]: line for line in lines if not line.startswith(" ")}
    assert list(rows) == [fix.id for fix in fixes.CATALOGUE]
    assert "unreachable on x86-64" in rows[fixes.NOP_CURR_ADDR]
    golden = (GOLDEN / f"{fixes.TRAMP_LOOP}.txt").read_text()
    steps = sum(line.startswith("  ") for line in golden.splitlines())
    assert f" {steps} steps " in rows[fixes.TRAMP_LOOP]
    assert "tramproof's own" in rows[fixes.MODULE_REGS]
    # measured by replay: tramp-loop is 3.17.0's own fix, hash-ops-enabled needs graph_ops
    assert "as-posted: real " in rows[fixes.TRAMP_LOOP]
    assert "3.17.0+seed: fixed in 3.17.0+seed" in rows[fixes.TRAMP_LOOP]
    assert "as-posted: not real " in rows[fixes.HASH_OPS_ENABLED]
    assert "3.17.0+seed: real " in rows[fixes.HASH_OPS_ENABLED]
    # every entry gives its C reasoning with a file:line
    reasons = [line for line in lines if line.lstrip().startswith("C: ")]
    assert len(reasons) == len(fixes.CATALOGUE)
    assert all(re.search(r"\.c:\d+", line) for line in reasons)


@pytest.mark.parametrize("kernel, code", [(f"fixed-{fixes.SYSCTL_ORDER}", 1), ("fixed", 0)])
def test_replay_a_golden_program(kernel, code):
    out = io.StringIO()
    program = str(GOLDEN / f"{fixes.SYSCTL_ORDER}.txt")
    assert main(["replay", program, "--kernel", kernel], out) == code
    assert out.getvalue().startswith(f"{kernel}: ")


@pytest.mark.parametrize(
    "text, message",
    [
        ("kernel: fixed\n", "no numbered steps"),
        ("  1. echo 2 > /proc/sys/kernel/ftrace_enabled\n", "not a step of the state machine"),
    ],
)
def test_replay_refuses_a_malformed_program(tmp_path, capsys, text, message):
    program = tmp_path / "program.txt"
    program.write_text(text)
    assert main(["replay", str(program)], io.StringIO()) == 2
    assert message in capsys.readouterr().err


def test_replay_of_a_missing_file(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "absent.txt")], io.StringIO()) == 2
    assert "cannot read" in capsys.readouterr().err


def test_nightly_arguments_extend_the_defaults():
    """`tox -e nightly -- --minutes 0.3` keeps the env's kernel, workers and report dir."""
    tox = shutil.which("tox")
    if tox is None:
        pytest.skip("tox is not installed")
    root = Path(__file__).parent.parent.parent
    shown = subprocess.run(
        [tox, "config", "-e", "nightly", "-k", "commands", "--", "--minutes", "0.3"],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    line = next(x for x in shown.stdout.splitlines() if x.startswith("commands = "))
    words = shlex.split(line.removeprefix("commands = "))
    assert words[:2] == ["tramproof", "fuzz"]
    args = command_line().parse_args(words[1:])
    assert (args.kernel, args.workers, args.minutes) == ("fixed", 2, 0.3)


def test_version_and_exit_codes_in_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"], io.StringIO())
    assert stop.value.code == 0 and capsys.readouterr().out.startswith("tramproof ")
    for argv in (["--help"], ["fuzz", "--help"], ["replay", "--help"]):
        with pytest.raises(SystemExit):
            main(argv, io.StringIO())
        shown = capsys.readouterr().out
        assert "exit codes:" in shown
        for code in (exits.OK, exits.FAILED, exits.USAGE, exits.STOPPED, exits.UNANSWERED):
            assert f"  {code}  " in shown, argv


def test_the_ci_profile_has_no_explain_phase():
    from hypothesis import Phase, settings

    assert Phase.explain not in settings.get_profile("ci").phases
    assert Phase.shrink in settings.get_profile("ci").phases
