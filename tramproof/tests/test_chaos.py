"""Chaos: a run with a hanging variant, one whose redis server is killed, one whose
coordinator is SIGKILLed.  Each ends within a bounded time, leaves no process
behind (checked by pid), keeps its reports whole and its database loadable,
and exits with the documented code (tramproof.exits)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis.database import choices_from_bytes

from tramproof import exits
from tramproof.tests.test_redis import redis_server

ROOT = Path(__file__).parent.parent.parent
HANGS = "def ftrace_startup(k, ops, command):\n    while True:\n        pass\n"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def children(pid):
    """The pids whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid):
    """A process that runs (a zombie has ended: its parent has not reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start(tmp_path, *args):
    command = [sys.executable, "-m", "tramproof.cli", "fuzz", "--report-dir",
               str(tmp_path / "reports"), *args]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def read_until(proc, text, lines):
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return
    raise AssertionError("".join(lines))


def workers_of(proc, count):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = children(proc.pid)
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"no {count} workers under {proc.pid}")


def none_left(pids, within=5):
    deadline = time.monotonic() + within
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(alive, pids)), [p for p in pids if alive(p)]


def reports_whole(reports):
    assert not list(reports.glob("*.tmp")) and not list(reports.glob(".*.tmp"))
    for path in reports.glob("*.json"):
        data = json.loads(path.read_text())
        assert (reports / f"{data['slug']}.txt").read_text().endswith("\n")


def database_loadable(db):
    """Every entry whole; those that are examples (besides them the directory holds
    hypothesis's index of keys) decode."""
    entries = [p.read_bytes() for p in db.rglob("*") if p.is_file()] if db.exists() else []
    assert all(entries)
    return [e for e in entries if choices_from_bytes(e) is not None]


def test_a_hanging_variant_is_killed_at_its_bound(tmp_path):
    variant = tmp_path / "hangs.py"
    variant.write_text(HANGS)
    began = time.monotonic()
    proc = start(tmp_path, "--kernel", "fixed", "--variant", str(variant), "--minutes", "0.05",
                 "--seed", "1", "--db", str(tmp_path / "db"))  # fmt: skip
    pids = workers_of(proc, 1)
    out, _ = proc.communicate(timeout=60)
    took = time.monotonic() - began
    # 3 s of budget, then the grace of 5 s: killed at 8 s
    assert proc.returncode == exits.UNANSWERED, out
    assert took < 20, f"{took:.1f} s"
    verdict = out.splitlines()[-1]
    assert verdict.startswith("verdict: could not answer: batch 0 ran past its bound"), out
    none_left(pids)
    reports_whole(tmp_path / "reports")
    database_loadable(tmp_path / "db")


@pytest.mark.parametrize("twice", [False, True])
def test_ctrl_c_on_a_hanging_variant(tmp_path, twice):
    """Once: the example in hand has GRACE seconds, then its worker is killed; twice: now."""
    from tramproof.fuzz import GRACE

    variant = tmp_path / "hangs.py"
    variant.write_text(HANGS)
    proc = start(tmp_path, "--kernel", "fixed", "--variant", str(variant), "--minutes", "5",
                 "--seed", "1", "--db", "none")  # fmt: skip
    lines = []
    read_until(proc, "fuzz fixed", lines)
    pids = workers_of(proc, 1)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    read_until(proc, "finishing the examples in hand", lines)
    if twice:
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == exits.STOPPED, "".join(lines) + out
    assert took < (3 if twice else GRACE + 3), f"{took:.1f} s"
    assert "batch(es) 0 cut" in out.splitlines()[-1]
    none_left(pids)


def test_redis_killed_mid_run(tmp_path):
    with redis_server(tmp_path) as (url, server):
        proc = start(tmp_path, "--kernel", "as-posted", "--minutes", "1", "--seed", "1",
                     "--db", url)  # fmt: skip
        lines = []
        read_until(proc, "report:", lines)
        pids = workers_of(proc, 1)
        server.kill()
        server.wait(10)
        killed = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        took = time.monotonic() - killed
    # it had found a failure before: the kernel failed, and the run says why it stopped
    assert proc.returncode == exits.FAILED, "".join(lines) + out
    assert took < 30, f"{took:.1f} s"
    verdict = out.splitlines()[-1]
    assert "could not go on: the example database" in verdict, verdict
    assert "unreplayable" not in "".join(lines) + out
    none_left(pids)
    reports_whole(tmp_path / "reports")


def test_the_coordinator_sigkilled(tmp_path):
    db = tmp_path / "db"
    proc = start(tmp_path, "--kernel", "as-posted", "--minutes", "1", "--workers", "2",
                 "--seed", "1", "--db", str(db))  # fmt: skip
    lines = []
    read_until(proc, "report:", lines)
    pids = workers_of(proc, 2)
    proc.kill()
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    none_left(pids, within=5)  # the workers die with their parent
    reports_whole(tmp_path / "reports")
    assert database_loadable(db)  # the failures found before the kill are there
