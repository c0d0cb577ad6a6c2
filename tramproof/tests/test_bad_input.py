"""Bad input: one clear line on stderr, the documented exit code, no traceback, nothing changed."""

import io
import json

import pytest

from tramproof import exits
from tramproof.cli import main

STEPS = ["echo 0 > /proc/sys/kernel/ftrace_enabled", "register_ftrace_function(instance)",
         "echo 1 > /proc/sys/kernel/ftrace_enabled"]  # fmt: skip


def run(argv, capsys):
    """(exit code, stdout, stderr) of `tramproof ARGV` run in this process."""
    out = io.StringIO()
    code = main(argv, out)
    return code, out.getvalue(), capsys.readouterr().err


def one_clear_line(err):
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_a_report_dir_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "reports"
    blocker.write_text("mine\n")
    before = tree(tmp_path)
    code, _, err = run(["fuzz", "--kernel", "fixed", "--examples", "5", "--db", "none",
                        "--report-dir", str(blocker)], capsys)  # fmt: skip
    assert code == exits.USAGE
    assert "report" in one_clear_line(err) and str(blocker) in err
    assert tree(tmp_path) == before and blocker.read_text() == "mine\n"


def test_a_report_dir_that_cannot_be_written_mid_run(tmp_path, capsys, monkeypatch):
    from tramproof import fuzz

    def refuse(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(fuzz, "write_atomic", refuse)
    code, out, err = run(["fuzz", "--kernel", "as-posted", "--examples", "20", "--seed", "1",
                          "--db", "none", "--report-dir", str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == exits.UNANSWERED, out + err
    verdict = out.splitlines()[-1]
    assert verdict.startswith("verdict: could not answer: ") and "Permission denied" in verdict
    assert "Traceback" not in out + err


def write_report(tmp_path, **fields):
    data = {"schema": "tramproof-report", "format": 1, "kernel": "fixed", "steps": STEPS}
    data.update(fields)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"kernel": 5}, "kernel"),
        ({"steps": []}, "no steps"),
        ({"variant": ["not", "a", "record"]}, "variant"),
    ],
)
def test_a_report_with_wrong_types_or_no_steps(tmp_path, capsys, fields, message):
    code, _, err = run(["replay", str(write_report(tmp_path, **fields))], capsys)
    assert code == exits.USAGE
    assert message in one_clear_line(err)


def test_a_deeply_nested_report(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text('{"schema": "tramproof-report", "steps": ' + "[" * 100000 + "]" * 100000 + "}")
    code, _, err = run(["replay", str(path)], capsys)
    assert code == exits.USAGE
    assert "nest" in one_clear_line(err)


@pytest.mark.parametrize("minutes", ["nan", "inf", "-inf", "0"])
def test_minutes_that_are_not_a_budget(tmp_path, capsys, minutes):
    code, _, err = run(["fuzz", f"--minutes={minutes}", "--db", "none",
                        "--report-dir", str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == exits.USAGE
    assert "--minutes" in one_clear_line(err)
    assert not (tmp_path / "r").exists()


def test_a_budget_too_small_for_one_example(tmp_path, capsys):
    code, out, err = run(["fuzz", "--kernel", "fixed", "--minutes", "1e-9", "--db", "none",
                          "--report-dir", str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == exits.UNANSWERED, out
    verdict = out.splitlines()[-1]
    assert verdict.startswith("verdict: could not answer: ") and "no example" in verdict
    assert "ok" not in verdict.split(":")[1]


RAISES = "def ftrace_startup(k, ops, command):\n    raise RuntimeError('boom')\n"
EXITS = "import sys\n\n\ndef ftrace_startup(k, ops, command):\n    sys.exit(3)\n"


@pytest.mark.parametrize("text, error", [(RAISES, "RuntimeError: boom"), (EXITS, "SystemExit: 3")])
def test_replay_of_a_variant_that_raises_or_exits(tmp_path, capsys, text, error):
    variant = tmp_path / "variant.py"
    variant.write_text(text)
    code, out, err = run(["replay", str(write_report(tmp_path)), "--variant", str(variant)],
                         capsys)  # fmt: skip
    assert code == exits.FAILED, out + err
    assert f"fails at step 2 of 3: exception: {error}" in out
    assert "Traceback" not in out + err


def test_a_variant_that_exits_while_loading(tmp_path, capsys):
    variant = tmp_path / "variant.py"
    variant.write_text("import sys\n\nsys.exit(3)\n")
    code, _, err = run(["replay", str(write_report(tmp_path)), "--variant", str(variant)], capsys)
    assert code == exits.USAGE
    assert "SystemExit" in one_clear_line(err)


def test_fuzz_reports_a_variant_that_raises_as_the_failure_replay_reproduces(tmp_path, capsys):
    variant = tmp_path / "variant.py"
    variant.write_text(RAISES)
    reports = tmp_path / "r"
    code, out, err = run(["fuzz", "--kernel", "fixed", "--variant", str(variant), "--examples",
                          "10", "--seed", "1", "--db", "none", "--report-dir", str(reports)],
                         capsys)  # fmt: skip
    assert code == exits.FAILED, out + err
    found = [json.loads(p.read_text()) for p in reports.glob("*.json")]
    assert found and all(r["invariant"] != "unreplayable" for r in found), out
    assert "exception: RuntimeError: boom" in found[0]["message"]


def test_a_report_dir_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    """Read-only (as root, a read-only mode does not stop writes: the probe is refused)."""
    from tramproof import fuzz

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fuzz.tempfile, "mkstemp", refuse)
    before = tree(tmp_path)
    code, _, err = run(["fuzz", "--kernel", "fixed", "--examples", "5", "--db", "none",
                        "--report-dir", str(tmp_path / "reports")], capsys)  # fmt: skip
    assert code == exits.USAGE
    assert "cannot write in" in one_clear_line(err) and "Permission denied" in err
    assert tree(tmp_path) == before
