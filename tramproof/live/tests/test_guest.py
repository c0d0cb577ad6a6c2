"""The guest driver against stand-ins for QEMU: every read is bounded, a dead
or silent guest is a verdict, and QEMU never outlives tramproof."""

import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from tramproof.live.guest import Guest, GuestDied, GuestHang

# A stand-in guest: the init's protocol, with behaviour chosen per test.
SHELL = """
import sys, time, subprocess
mode = sys.argv[1]
if mode == "mute":
    time.sleep(60)
print("booting...\\r\\n@@TP READY@@", flush=True)
if mode == "child":
    p = subprocess.Popen(["sleep", "60"])
    print(p.pid, flush=True)
for line in sys.stdin:
    if mode == "hang":
        time.sleep(60)
    if mode == "die":
        print("Kernel panic - not syncing: Fatal exception", flush=True)
        sys.exit(1)
    print("out:" + line.strip() + "\\r\\n@@TP 3@@", flush=True)
"""


class FakeGuest(Guest):
    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def command_line(self):
        return [sys.executable, "-c", SHELL, self.mode]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (reaped later by its parent) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[1].split()[0] != "Z"


def test_a_command_returns_its_output_and_status():
    with FakeGuest("ok") as g:
        r = g.run("echo hi", timeout=10)
    assert (r.output, r.status) == ("out:echo hi\n", 3)


def test_a_silent_guest_is_a_hang_within_the_deadline():
    with FakeGuest("hang") as g:
        start = time.monotonic()
        with pytest.raises(GuestHang):
            g.run("x", timeout=0.5)
        assert time.monotonic() - start < 3


def test_a_guest_that_never_boots_is_a_hang():
    g = FakeGuest("mute")
    with pytest.raises(GuestHang):
        g.boot(timeout=0.5)
    g.close()


def test_a_guest_that_exits_is_dead_and_says_why():
    with FakeGuest("die") as g:
        with pytest.raises(GuestDied) as e:
            g.run("x", timeout=10)
    assert "Kernel panic" in e.value.console


def test_close_kills_the_whole_process_group():
    g = FakeGuest("child")
    g.boot(timeout=10)
    child = int(g.read_until(re.compile(rb"(\d+)\r?\n"), 10, "pid")[1].group(1))
    assert alive(child)
    g.close()
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_killing_tramproof_kills_its_qemu():
    parent = textwrap.dedent(
        """
        import sys, time
        sys.path.insert(0, sys.argv[1])
        from tramproof.live.tests.test_guest import FakeGuest
        g = FakeGuest("ok")
        g.boot(timeout=10)
        print(g.proc.pid, flush=True)
        time.sleep(60)
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    p = subprocess.Popen(
        [sys.executable, "-c", parent, root], stdout=subprocess.PIPE, text=True
    )
    qemu = int(p.stdout.readline())
    assert alive(qemu)
    p.kill()
    p.wait()
    deadline = time.monotonic() + 5
    while alive(qemu) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(qemu)


def test_the_images_say_which_kernel_they_hold():
    from tramproof.live.guest import IMAGES, images_kernel

    assert images_kernel(IMAGES) == "3.17.0+seed"
    assert images_kernel(IMAGES / "3.19.8").startswith("3.19.8")
    assert images_kernel(IMAGES / "no-such-folder") is None


def test_replay_on_another_kernel_says_the_model_is_of_3_17():
    import io

    from tramproof.live.cli import other_kernel_note
    from tramproof.live.guest import IMAGES

    notes = []
    for images in (IMAGES, IMAGES / "3.19.8"):
        out = io.StringIO()
        other_kernel_note(images, out)
        notes.append(out.getvalue())
    assert notes[0] == "" and notes[1].startswith("note: the guest is 3.19.8")


def test_the_manifest_checks_what_the_initramfs_packs(tmp_path):
    """The perf helper's sha256 inside the initramfs is checked, and a changed one is named."""
    import importlib.util
    import shutil

    from tramproof.live.guest import IMAGES

    spec = importlib.util.spec_from_file_location("manifest", IMAGES.parent / "manifest.py")
    manifest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(manifest)
    shutil.copy(IMAGES / "initramfs.cpio.gz", tmp_path)
    lines = (IMAGES / "MANIFEST").read_text().splitlines()
    kept = [x for x in lines if not x.startswith("image ") or x.endswith("initramfs.cpio.gz")]
    (tmp_path / "MANIFEST").write_text("\n".join(kept) + "\n")
    assert any(x.endswith(" initramfs.cpio.gz:bin/tp_perf") for x in kept)
    assert manifest.check(tmp_path) == []
    # another build of the helper: its sha256 differs
    changed = [
        f"packed {'0' * 64} {x.split(' ', 2)[2]}" if x.endswith(":bin/tp_perf") else x
        for x in kept
    ]
    (tmp_path / "MANIFEST").write_text("\n".join(changed) + "\n")
    assert manifest.check(tmp_path) == ["initramfs.cpio.gz:bin/tp_perf"]
