"""A fleet shares one example database: what one machine found, the next replays first.

Runs against a real redis-server on a free loopback port, started here
(`.ci/run` installs it).  Without redis-server the tests are skipped on a
developer's machine and fail in CI, where it must be there.
"""

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from model import fixes
from tramproof.cli import main

KERNEL = f"fixed-{fixes.SYSCTL_ORDER}"


@contextlib.contextmanager
def redis_server(workdir):
    """(url, process) of a redis-server of its own on a free loopback port, for the block."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; .ci/run installs it")
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url


def fuzz(tmp_path, name, *args):
    """A fuzz run as one machine of a fleet: (exit code, output, its one report as JSON)."""
    out = io.StringIO()
    reports = tmp_path / name
    code = main(["fuzz", "--kernel", KERNEL, "--report-dir", str(reports), *args], out)
    found = [json.loads(p.read_text()) for p in reports.glob("*.json")]
    return code, out.getvalue(), found


def test_a_failure_one_worker_found_is_replayed_first_by_the_other(tmp_path, redis_url):
    # the control: how long the second worker's seed takes on its own
    code, out, alone = fuzz(tmp_path, "alone", "--seed", "2", "--examples", "200", "--db", "none")
    assert code == 1, out
    assert alone[0]["examples"] > 1, "the control found it at once: pick another seed"

    code, out, first = fuzz(tmp_path, "one", "--seed", "1", "--examples", "200", "--db", redis_url)
    assert code == 1, out
    code, out, second = fuzz(
        tmp_path, "two", "--seed", "2", "--examples", "200", "--db", redis_url
    )
    assert code == 1, out
    assert second[0]["examples"] == 1, out  # replayed from the shared database
    assert second[0]["steps"] == first[0]["steps"]


def test_a_server_gone_before_the_first_batch_is_no_answer(tmp_path, monkeypatch):
    """The database answered the check, then died: no kernel failure, exit 4 with the reason."""
    from tramproof import cli, exits

    with redis_server(tmp_path) as (url, server):

        def open_then_kill(spec, warn):
            database = cli_open(spec, warn)
            server.kill()
            server.wait(10)
            return database

        cli_open = cli.open_database
        monkeypatch.setattr(cli, "open_database", open_then_kill)
        code, out, found = fuzz(tmp_path, "gone", "--seed", "2", "--examples", "50", "--db", url)
    assert code == exits.UNANSWERED, out
    verdict = out.splitlines()[-1]
    assert verdict.startswith("verdict: could not answer: ") and "example database" in verdict
    assert url in verdict
    assert not found  # nothing reported as a failure of the kernel


def test_an_unreachable_server_is_exit_2(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once it is closed
    code, _, _ = fuzz(tmp_path, "none", "--examples", "1", "--db", f"redis://127.0.0.1:{port}")
    assert code == 2
    assert "cannot reach the example database" in capsys.readouterr().err
