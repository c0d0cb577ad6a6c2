"""Reports carry what replaying them needs (kernel, variant and its hash, build, releases);
replay and the regression tests refuse to pass without the recorded variant, and the
regression tests run outside the repository through the pytest plugin."""

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import hypothesis
import pytest

from tramproof import exits, report
from tramproof.cli import main

ROOT = Path(__file__).parent.parent.parent
RAISES = "def ftrace_startup(k, ops, command):\n    raise RuntimeError('boom')\n"


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory):
    """A fuzz of fixed with a variant that raises: (variant path, report directory)."""
    tmp = tmp_path_factory.mktemp("variant")
    variant = tmp / "raises.py"
    variant.write_text(RAISES)
    reports = tmp / "reports"
    code = main(["fuzz", "--kernel", "fixed", "--variant", str(variant), "--examples", "10",
                 "--seed", "1", "--db", "none", "--report-dir", str(reports)],
                io.StringIO())  # fmt: skip
    assert code == exits.FAILED
    return variant, reports


def test_a_report_records_kernel_variant_build_and_releases(variant_run):
    variant, reports = variant_run
    data = json.loads(next(reports.glob("*.json")).read_text())
    assert data["format"] == report.FORMAT and data["kernel"] == "fixed"
    sha = hashlib.sha256(variant.read_bytes()).hexdigest()
    assert data["variant"] == {"path": str(variant), "sha256": sha}
    assert data["build"] == "fentry" and data["hypothesis"] == hypothesis.__version__
    assert data["tramproof"]
    text = (reports / f"{data['slug']}.txt").read_text()
    assert f"variant:     {variant} (sha256 {sha})" in text and "build:       fentry" in text
    test = (reports / data["test_file"]).read_text()
    assert f"VARIANT = {data['variant']!r}" in test and "BUILD = 'fentry'" in test


def test_replay_without_the_recorded_variant_refuses(variant_run, capsys):
    variant, reports = variant_run
    for path in sorted(reports.glob("*.json")) + sorted(reports.glob("*.txt")):
        assert main(["replay", str(path)], io.StringIO()) == exits.USAGE, path.name
        err = capsys.readouterr().err
        assert "was found with the variant" in err and "--variant" in err
        out = io.StringIO()
        assert main(["replay", str(path), "--variant", str(variant)], out) == exits.FAILED
        assert "exception: RuntimeError: boom" in out.getvalue()


def pytest_outside(tmp_path, test_file, *args):
    """Run a written regression test with pytest from a directory outside the repository
    (no conftest.py): the plugin is what gives it --kernel and --variant."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    copy = elsewhere / test_file.name
    copy.write_text(test_file.read_text())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "pytest", "-p", "tramproof.plugin", "-p", "no:cacheprovider",
               "-q", "-n", "0", copy.name, *args]  # fmt: skip
    proc = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_regression_test_refuses_to_pass_without_its_variant(variant_run, tmp_path):
    variant, reports = variant_run
    test_file = next(reports.glob("test_*.py"))
    code, out = pytest_outside(tmp_path, test_file)
    assert code == 1 and "found with the variant" in out, out
    code, out = pytest_outside(tmp_path, test_file, "--variant", str(variant))
    assert code == 1 and "exception: RuntimeError: boom" in out, out


def test_a_regression_test_runs_outside_the_repository(tmp_path):
    from tramproof.fuzz import Config, fuzz

    config = Config(kernel="as-posted", examples=10, seed=1, report_dir=str(tmp_path / "r"))
    assert fuzz(config, io.StringIO(), tty=False) == exits.FAILED
    data = json.loads(sorted((tmp_path / "r").glob("*.json"))[0].read_text())
    assert data["known"], data["slug"]
    test_file = tmp_path / "r" / data["test_file"]
    code, out = pytest_outside(tmp_path, test_file, "--kernel", data["kernel"])
    assert code == 1, out
    code, out = pytest_outside(tmp_path, test_file, "--kernel", "fixed")
    assert code == 0, out
    assert "--kernel fixed" in test_file.read_text()
