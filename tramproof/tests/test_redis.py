"""A fleet shares one example database: what one machine found, the next replays first.

Runs against a real redis-server on a free loopback port, started here
(`.ci/run` installs it).  Without redis-server the tests are skipped on a
developer's machine and fail in CI, where it must be there.
"""

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


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed; .ci/run installs it")
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
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
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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


def test_an_unreachable_server_is_exit_2(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once it is closed
    code, _, _ = fuzz(tmp_path, "none", "--examples", "1", "--db", f"redis://127.0.0.1:{port}")
    assert code == 2
    assert "cannot reach the example database" in capsys.readouterr().err
