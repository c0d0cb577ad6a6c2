"""`tramproof bench --live`: off by default; without QEMU or an image the section
says it could not measure and why (no crash, no number)."""

import json

from tramproof.live import bench as live_bench
from tramproof.tests.test_bench import run

FAST = ["--sizes", "4", "--budget", "0.3", "--examples", "2", "--bugs", "none", "--calls", "5"]


def test_the_live_figure_is_off_by_default():
    code, text = run([*FAST, "--json"])
    assert code == 0 and json.loads(text)["live"] is None


def test_without_qemu_the_section_says_it_could_not_measure(monkeypatch):
    monkeypatch.setattr(live_bench, "qemu_binary", lambda: None)
    code, text = run([*FAST, "--live", "5", "--json"])
    assert code == 0
    assert json.loads(text)["live"] == {
        "error": "could not measure: qemu-system-x86_64 is not installed"
    }
    code, text = run([*FAST, "--live", "5"])
    assert code == 0
    section = text.split("the model against the real kernel", 1)[1].splitlines()
    assert section[1] == "  could not measure: qemu-system-x86_64 is not installed"


def test_without_the_image_it_names_the_missing_file(tmp_path, monkeypatch):
    monkeypatch.setattr(live_bench, "qemu_binary", lambda: "/bin/true")
    live = live_bench.measure(5, images=tmp_path)
    assert live["error"].startswith("could not measure: no guest image bzImage-victims in ")


def test_a_guest_that_does_not_boot_is_no_number(monkeypatch):
    from tramproof.live.guest import GuestHang

    def hang(*args):
        raise GuestHang("no answer to 'boot' in 120 s")

    monkeypatch.setattr(live_bench, "qemu_binary", lambda: "/bin/true")
    monkeypatch.setattr(live_bench, "run_on_fresh_guest", hang)
    live = live_bench.measure(5)
    assert live == {"error": "could not measure: no answer to 'boot' in 120 s"}


def test_a_nonpositive_budget_is_bad_usage(capsys):
    assert run([*FAST, "--live", "0"])[0] == 2
    assert "--live" in capsys.readouterr().err
