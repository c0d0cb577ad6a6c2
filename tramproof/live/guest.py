"""One QEMU guest running the tramproof image, driven over its serial console.

Every read from the guest is bounded by a deadline: a guest that stops
answering is a ``GuestHang``, one whose QEMU exits (the image panics on an
oops and QEMU does not reboot) is a ``GuestDied``; both carry what the
console printed last.  QEMU runs in a process group of its own that dies with
its parent: `close()` kills the group, and Linux's parent-death signal kills
QEMU if tramproof itself is killed.
"""

import ctypes
import os
import re
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

IMAGES = Path(__file__).resolve().parents[2] / "guest" / "images"
# the kernels in IMAGES: every function traceable (as users run it), or only
# the victims and the self test's functions (the model's world, and fast)
FULL, VICTIMS = "bzImage", "bzImage-victims"
READY = re.compile(rb"@@TP READY@@\r?\n")
DONE = re.compile(rb"@@TP (\d+)@@\r?\n")
PR_SET_PDEATHSIG = 1
BOOT_TIMEOUT = 120.0
COMMAND_TIMEOUT = 60.0
CONSOLE_KEPT = 1 << 16  # bytes of console output kept for a verdict


class GuestError(Exception):
    """The guest did not answer as a guest should; ``console`` is its last output."""

    def __init__(self, message, console=""):
        super().__init__(message)
        self.console = console


class GuestHang(GuestError):
    """No answer within the deadline."""


class GuestDied(GuestError):
    """QEMU exited: the kernel panicked (an oops panics this image) or powered off."""


def images_kernel(images):
    """The kernel the images' MANIFEST names ("3.17.0+seed", "3.19.8 (the patch as
    merged)", ...), or None without one."""
    try:
        head = (Path(images) / "MANIFEST").read_text().splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    m = re.match(r"# tramproof guest images: kernel (.+), built by", head)
    return m.group(1) if m else None


def qemu_binary():
    """The path of qemu-system-x86_64, or None."""
    return shutil.which("qemu-system-x86_64")


def _die_with_parent():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Reply:
    """What one command printed (with any kernel console line that came
    meanwhile), its exit status and how long the round trip took."""

    output: str
    status: int
    seconds: float


class Guest:
    """A booted guest; use as a context manager so that QEMU always goes."""

    def __init__(self, images=IMAGES, kernel=VICTIMS, selftest=False, memory="256M",
                 extra_append=""):  # fmt: skip
        self.images = Path(images)
        self.kernel = kernel
        append = "console=ttyS0 panic=-1 oops=panic loglevel=7"
        if not selftest:
            append += " ftrace=nop"  # 3.17: no tracer self tests at boot
        self.append = f"{append} {extra_append}".strip()
        self.memory = memory
        self.proc = None
        self.buffer = b""
        self.console = b""  # the last CONSOLE_KEPT bytes the guest printed
        self.boot_seconds = None

    def command_line(self):
        qemu = qemu_binary()
        if qemu is None:
            raise GuestError("qemu-system-x86_64 is not installed")
        for name in (self.kernel, "initramfs.cpio.gz"):
            if not (self.images / name).is_file():
                raise GuestError(f"no guest image {self.images / name}")
        return [
            qemu, "-accel", "tcg", "-nographic", "-no-reboot", "-nodefaults",
            "-serial", "stdio", "-m", self.memory, "-smp", "1",
            "-kernel", str(self.images / self.kernel),
            "-initrd", str(self.images / "initramfs.cpio.gz"),
            "-append", self.append,
        ]  # fmt: skip

    def boot(self, timeout=BOOT_TIMEOUT):
        """Start QEMU and wait for the guest's shell; returns the boot log (text)."""
        start = time.monotonic()
        self.proc = subprocess.Popen(
            self.command_line(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log, _ = self.read_until(READY, timeout, "boot")
        self.boot_seconds = time.monotonic() - start
        return log

    def run(self, command, timeout=COMMAND_TIMEOUT):
        """Run one shell line in the guest; its Reply."""
        if "\n" in command:
            raise ValueError("one line per command")
        start = time.monotonic()
        self._send(command.encode() + b"\n")
        out, m = self.read_until(DONE, timeout, command)
        return Reply(out.replace("\r", ""), int(m.group(1)), time.monotonic() - start)

    def _send(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise GuestDied("QEMU exited", self.console_text()) from None

    def read_until(self, pattern, timeout, what):
        """Read until the regex ``pattern`` matches the guest's output; (text
        before the match, the match).  What follows the match stays buffered."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            m = pattern.search(self.buffer)
            if m:
                out, self.buffer = self.buffer[: m.start()], self.buffer[m.end() :]
                return out.decode("utf-8", "replace"), m
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestHang(f"no answer to {what!r} in {timeout:g} s", self.console_text())
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self.proc.wait(timeout=5)
                raise GuestDied(
                    f"QEMU exited ({self.proc.returncode}) during {what!r}", self.console_text()
                )
            self.buffer += chunk
            self.console = (self.console + chunk)[-CONSOLE_KEPT:]

    def console_text(self, tail=4000):
        return self.console[-tail:].decode("utf-8", "replace").replace("\r", "")

    def close(self):
        """Kill QEMU's process group and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.proc = None

    def __enter__(self):
        try:
            self.boot()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
