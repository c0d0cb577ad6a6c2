"""Write the guest's initramfs: a gzip'd cpio (newc) archive, byte for byte the
same for the same inputs (mtime 0, root-owned, sorted).

usage: python3 mkinitramfs.py OUT.cpio.gz BUSYBOX INIT TP_PERF [MODULE.ko ...]
"""

import gzip
import os
import stat
import sys


def entry(name, mode, data=b"", rdev=(0, 0), ino=1):
    """One newc header, name and data, each padded to 4 bytes."""
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0)
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = head + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    return out + data + b"\0" * (-len(data) % 4)


def archive(busybox, init, perf, modules):
    files = [
        ("bin", stat.S_IFDIR | 0o755, b""),
        ("bin/busybox", stat.S_IFREG | 0o755, busybox),
        ("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
        ("bin/tp_perf", stat.S_IFREG | 0o755, perf),
        ("dev", stat.S_IFDIR | 0o755, b""),
        ("init", stat.S_IFREG | 0o755, init),
        ("lib", stat.S_IFDIR | 0o755, b""),
        ("lib/modules", stat.S_IFDIR | 0o755, b""),
        ("proc", stat.S_IFDIR | 0o755, b""),
        ("sbin", stat.S_IFDIR | 0o755, b""),
        ("sys", stat.S_IFDIR | 0o755, b""),
        ("tmp", stat.S_IFDIR | 0o1777, b""),
    ]
    files += [(f"lib/modules/{name}", stat.S_IFREG | 0o644, data) for name, data in modules]
    out = b"".join(entry(n, m, d, ino=i + 2) for i, (n, m, d) in enumerate(sorted(files)))
    out += entry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1), ino=len(files) + 2)
    return out + entry("TRAILER!!!", 0, ino=0)


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    out, busybox, init, perf, *modules = argv

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    mods = [(os.path.basename(m), read(m)) for m in modules]
    data = archive(read(busybox), read(init), read(perf), mods)
    with open(out, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


if __name__ == "__main__":
    main(sys.argv[1:])
