"""`tramproof fuzz`: it finds the catalogued bugs, reports them the same way every
time, replays its reports, and survives signals, bad databases and faulting code."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis.database import choices_from_bytes

from model import fixes
from tramproof import report
from tramproof.cli import main
from tramproof.fuzz import Config
from tramproof.fuzz import fuzz as run_fuzz
from tramproof.live.actions import translate
from tramproof.replay import parse, read_program

ROOT = Path(__file__).parent.parent.parent


def fuzz(tmp_path, *args, name="reports"):
    """Run `tramproof fuzz` in this process: (exit code, output, report directory)."""
    out = io.StringIO()
    reports = tmp_path / name
    code = main(["fuzz", "--report-dir", str(reports), *args], out)
    return code, out.getvalue(), reports


@pytest.fixture(scope="module")
def as_posted(tmp_path_factory):
    """One fuzz of as-posted, shared by the tests that read its reports."""
    tmp = tmp_path_factory.mktemp("as-posted")
    return fuzz(tmp, "--kernel", "as-posted", "--examples", "150", "--seed", "1", "--db", "none")


def test_as_posted_fails_with_catalogued_bugs_reported(as_posted):
    code, out, reports = as_posted
    assert code == 1
    verdict = out.splitlines()[-1]
    assert verdict.startswith("verdict: FAIL: ")
    found = [json.loads(p.read_text()) for p in sorted(reports.glob("*.json"))]
    known = {r["known"][0] for r in found if r["known"]}
    assert len(known) >= 3, verdict  # masking lets one known bug give way to the next
    for r in found:
        assert r["schema"] == "tramproof-report" and r["format"] == report.FORMAT
        assert (reports / f"{r['slug']}.txt").exists() and (reports / r["test_file"]).exists()
        # a failure no catalogued fix (or pair) explains is named "new (<invariant>)"
        named = r["known"][0] if r["known"] else f"new ({r['invariant']})"
        assert r["verdict"] in verdict or named in verdict


def test_each_report_has_its_tc_file_beside_it(as_posted):
    """fuzz writes `tramproof live tc --partial`'s .tc beside each report whose
    program has an expressible step; the others are named in comments."""
    _, _, reports = as_posted
    written = 0
    for path in sorted(reports.glob("*.txt")):
        text = path.read_text()
        kernel_steps = translate(read_program(text), parse, partial=True)
        tc = path.with_suffix(".tc")
        if not any(s.commands for s in kernel_steps):
            assert not tc.exists(), tc
            continue
        out = io.StringIO()
        assert main(["live", "tc", "--partial", str(path)], out) == 0
        assert tc.read_text() == out.getvalue()
        body = tc.read_text().splitlines()
        for number, s in enumerate(kernel_steps, 1):
            named = [x for x in body if x.startswith(f"# {number}. {s.line}")]
            assert len(named) == 1 and ("not expressible" in named[0]) == (not s.commands)
        written += 1
    assert written >= 1


def test_same_seed_same_reports_byte_for_byte(as_posted, tmp_path):
    _, _, first = as_posted
    _, _, again = fuzz(
        tmp_path, "--kernel", "as-posted", "--examples", "150", "--seed", "1", "--db", "none"
    )
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in again.iterdir())
    for name in files:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


def test_fixed_ends_clean(tmp_path):
    code, out, reports = fuzz(
        tmp_path, "--kernel", "fixed", "--examples", "60", "--seed", "1", "--db", "none"
    )
    assert code == 0, out
    verdict = out.splitlines()[-1]
    assert verdict.startswith("verdict: ok: nothing failed in ")
    # the budget counts every example, invalid ones too (it ran 64 for 60 before)
    assert int(verdict.split()[5]) == 60, verdict
    assert not list(reports.iterdir())


def test_each_report_replays_on_its_kernel_and_holds_on_fixed(as_posted):
    _, _, reports = as_posted
    assert len(list(reports.glob("*.txt"))) >= 3
    for path in sorted(reports.glob("*.txt")) + sorted(reports.glob("*.json"))[:2]:
        out = io.StringIO()
        assert main(["replay", str(path)], out) == 1, path.name
        assert "fails at step" in out.getvalue()
        assert main(["replay", str(path), "--kernel", "fixed"], io.StringIO()) == 0, path.name


def test_the_regression_test_fails_with_the_bug_and_passes_without(as_posted, monkeypatch):
    from properties import machine

    _, _, reports = as_posted
    assert len(list(reports.glob("test_*.py"))) >= 3
    for data in [json.loads(p.read_text()) for p in sorted(reports.glob("*.json"))]:
        path = reports / data["test_file"]
        namespace = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        test = next(f for name, f in namespace.items() if name.startswith("test_"))
        monkeypatch.setitem(machine.CONFIG, "kernel", data["kernel"])
        with pytest.raises(AssertionError, match="step"):
            test()
        monkeypatch.setitem(machine.CONFIG, "kernel", "fixed")
        test()


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "bad JSON"),
        ('{"schema": "something else"}', "no tramproof-report schema"),
        ('{"schema": "tramproof-report", "format": 99, "steps": []}', "format 99"),
        ('{"schema": "tramproof-report", "format": 1, "steps": "insmod mod0"}', "not a list"),
        ("tramproof report, format 3\n  1. insmod mod0\n", "format 3"),
    ],
)
def test_a_bad_report_is_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "report.json"
    path.write_text(text)
    assert main(["replay", str(path)], io.StringIO()) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_emulation_fault_is_a_reported_failure(tmp_path):
    variant = tmp_path / "jmp_misplaced.py"
    variant.write_text(
        '"""create_trampoline whose jmp back is computed for the trampoline\'s start."""\n\n\n'
        "def create_trampoline(k, ops):\n"
        "    from properties.x86_variants import jmp_misplaced\n\n"
        "    return jmp_misplaced(k, ops)\n"
    )
    code, out, reports = fuzz(
        tmp_path, "--kernel", "fixed", "--variant", str(variant), "--examples", "20",
        "--seed", "1", "--db", "none",
    )  # fmt: skip
    assert code == 1, out
    texts = [p.read_text() for p in reports.glob("*emulation-fault*.txt")]
    assert texts, out
    assert "verdict: emulation fault in machine_code for " in texts[0]


def test_bad_usage_is_exit_2(tmp_path, capsys):
    for args in (["--kernel", "v3.99"], ["--workers", "0"], ["--examples", "-1"]):
        assert fuzz(tmp_path, *args)[0] == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert fuzz(tmp_path, "--db", str(blocker / "db"), "--examples", "1")[0] == 2
    assert "cannot use" in capsys.readouterr().err


def test_two_workers(tmp_path):
    code, out, reports = fuzz(
        tmp_path, "--kernel", "as-posted", "--examples", "60", "--workers", "2",
        "--seed", "2", "--db", "none",
    )  # fmt: skip
    assert code == 1 and "2 worker(s)" in out.splitlines()[0]
    assert list(reports.glob("*.txt"))


def test_a_corrupt_database_entry_is_skipped_with_a_warning_and_kept(tmp_path):
    db = tmp_path / "db"
    kernel = f"fixed-{fixes.TRAMP_LOOP}"
    run = ("--kernel", kernel, "--examples", "30", "--seed", "1", "--db", str(db))
    code, out, _ = fuzz(tmp_path, *run)
    assert code == 1, out  # the failure is saved under the kernel's key
    junk = []
    for key_dir in [d for d in db.iterdir() if d.is_dir()]:
        junk.append(key_dir / "0000junk")
        junk[-1].write_bytes(b"\xff not a hypothesis entry")
    code, out, _ = fuzz(tmp_path, *run, name="again")
    assert code == 1, out
    assert "skipped a corrupt or foreign entry" in out
    assert all(p.exists() for p in junk)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_run_and_keeps_what_it_found(tmp_path, signum):
    reports, db = tmp_path / "reports", tmp_path / "db"
    command = [sys.executable, "-m", "tramproof.cli", "fuzz", "--kernel", "as-posted",
               "--minutes", "5", "--seed", "1", "--db", str(db), "--report-dir", str(reports)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # fmt: skip
    lines = []
    for line in proc.stdout:  # wait for the first report
        lines.append(line)
        if "report:" in line:
            break
    sent = time.monotonic()
    proc.send_signal(signum)
    rest, _ = proc.communicate(timeout=30)
    waited = time.monotonic() - sent
    assert proc.returncode == 3, "".join(lines) + rest
    assert waited < 15, f"took {waited:.1f} s to stop"
    verdict = rest.splitlines()[-1]
    assert verdict.startswith(f"verdict: stopped by {signum.name}")
    assert list(reports.glob("*.txt")) and not list(reports.glob("*.tmp"))
    # the failing examples saved before the signal are whole (besides them the
    # directory holds hypothesis's index of keys)
    entries = [p.read_bytes() for p in db.rglob("*") if p.is_file()]
    assert all(entries) and any(choices_from_bytes(e) is not None for e in entries)


def test_progress_on_a_terminal(tmp_path):
    out = io.StringIO()
    config = Config(kernel="fixed", examples=30, seed=1, report_dir=str(tmp_path))
    assert run_fuzz(config, out, tty=True) == 0
    status = [part for part in out.getvalue().split("\r") if " examples  " in part]
    assert status, out.getvalue()
    assert " steps  " in status[-1] and "elapsed" in status[-1] and "0 failures" in status[-1]
    assert "examples left" in status[-1]


def test_progress_outside_a_terminal(tmp_path, monkeypatch):
    """Totals and time left now and then, not a line per clean batch."""
    from tramproof import fuzz as fuzzing

    monkeypatch.setattr(fuzzing, "PROGRESS", 0.0)
    out = io.StringIO()
    config = Config(kernel="fixed", examples=60, seed=1, report_dir=str(tmp_path))
    assert run_fuzz(config, out, tty=False) == 0
    lines = out.getvalue().splitlines()
    assert not [line for line in lines if "no failure" in line], lines
    progress = [line for line in lines if " examples left " in line]
    assert progress and " steps " in progress[-1] and "0 failures" in progress[-1], lines


def test_no_database_writes_nothing_here(tmp_path):
    command = [sys.executable, "-m", "tramproof.cli", "fuzz", "--kernel", "fixed", "--examples",
               "3", "--seed", "1", "--db", "none", "--report-dir", "reports"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]


def test_masked_kernels_keep_the_run_kernels_notation(as_posted):
    _, out, reports = as_posted
    kernels = re.findall(r"failure in batch \d+ on ([^:]+):", out)
    assert len(kernels) >= 3 and kernels[0] == "as-posted"
    assert all(re.fullmatch(r"as-posted( \(\d+ masked\))?", k) for k in kernels), kernels
    assert "fixed-nop-curr-addr" not in out
    for data in [json.loads(p.read_text()) for p in reports.glob("*.json")]:
        assert data["kernel"].startswith("as-posted")
        added = fixes.kernel_fixes(data["kernel"]) - fixes.kernel_fixes("as-posted")
        assert added == set(data["masked"])


def test_a_failure_in_hand_at_the_end_of_the_budget_is_reported_whole(tmp_path):
    """The budget runs out during the failing example: hypothesis's replay of it must run
    (it was cut, and the batch reported nothing or a spurious unreplayable failure)."""
    from properties.variant import load_variant
    from tramproof import fuzz as fuzzing

    variant = tmp_path / "slow.py"
    # the first call outlasts the budget; hypothesis's replay of it and replay's are quick
    variant.write_text(
        "import time\n\nSLEPT = []\n\n\ndef ftrace_startup(k, ops, command):\n"
        "    if not SLEPT:\n        SLEPT.append(1)\n        time.sleep(3)\n"
        "    raise RuntimeError('slow boom')\n"
    )
    config = Config(kernel="fixed", seed=1, variant=str(variant))
    task = fuzzing.Task(0, 1, "fixed", 50, False, time.time() + 2)
    result = fuzzing.run_batch(task, config, load_variant(variant), None, lambda e, s: None)
    assert result.report is not None and not result.interrupted
    assert result.report.invariant != "unreplayable", result.report.to_text()
    assert "exception: RuntimeError: slow boom" in result.report.message
