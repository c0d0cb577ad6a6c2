"""Write (or check) the manifest of the guest images: where the kernel came
from, what the project changed, and the sha256 of every file: the inputs, the
images, and what the initramfs packs (the perf helper tp_perf, the modules).

usage: python3 manifest.py write IMAGES_DIR KERNEL SOURCE COMMIT
       python3 manifest.py check IMAGES_DIR
KERNEL is 3.17.0 (built with the seed's files overlaid) or 3.19.8.
"""

import gzip
import hashlib
import sys
from pathlib import Path

GUEST = Path(__file__).resolve().parent
IMAGES = ("bzImage", "bzImage-victims", "initramfs.cpio.gz", "config")
# the patches each kernel's build applies (build.sh), relative to guest/
PATCHES = {
    "3.17.0": ("patches/*.patch", "patches/victims-only/*.patch"),
    "3.19.8": (
        "patches/02-no-pie.patch", "patches/04-recordmcount-skip.patch",
        "patches/05-jmp-rel32.patch", "patches/3.19.8/*.patch", "patches/victims-only/*.patch",
    ),
}  # fmt: skip
HEADER = {
    "3.17.0": (
        "kernel 3.17.0+seed",
        "the seed's files (linux-3.17.0+seed in the reference folder)",
    ),
    "3.19.8": ("kernel 3.19.8 (the patch as merged)", "none"),
}
OTHER_INPUTS = (
    "tramproof.config", "victim/tp_victim.c", "victim/tp_mod.c", "perf/tp_perf.c",
    "init", "build.sh", "initramfs.sh", "mkinitramfs.py",
)  # fmt: skip


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def packed(initramfs):
    """{name: sha256} of the regular files in a gzip'd newc archive
    (mkinitramfs.py's): what was built into it, the perf helper among them."""
    data, at, out = gzip.decompress(Path(initramfs).read_bytes()), 0, {}
    while True:
        head = data[at : at + 110]
        mode, size, namesize = (int(head[6 + 8 * i : 14 + 8 * i], 16) for i in (1, 6, 11))
        name = data[at + 110 : at + 110 + namesize - 1].decode()
        at += 110 + namesize
        at += -at % 4
        if name == "TRAILER!!!":
            return out
        if mode & 0o170000 == 0o100000:
            out[name] = hashlib.sha256(data[at : at + size]).hexdigest()
        at += size + (-size % 4)


def inputs(kernel):
    """The project's inputs to the build of ``kernel``, relative to guest/."""
    files = sorted({f for pattern in PATCHES[kernel] for f in GUEST.glob(pattern)})
    files += [GUEST / name for name in OTHER_INPUTS]
    return [(f.relative_to(GUEST).as_posix(), sha256(f)) for f in files]


def write(images, kernel, source, commit):
    what, overlay = HEADER[kernel]
    lines = [
        f"# tramproof guest images: {what}, built by guest/build.sh",
        f"source: {source}",
        f"commit: {commit}",
        f"overlay: {overlay}",
    ]
    lines += [f"input {sha} {name}" for name, sha in inputs(kernel)]
    present = [n for n in IMAGES if (Path(images) / n).is_file()]
    lines += [f"image {sha256(Path(images) / n)} {n}" for n in present]
    ramfs = Path(images) / "initramfs.cpio.gz"
    lines += [f"packed {sha} initramfs.cpio.gz:{n}" for n, sha in sorted(packed(ramfs).items())]
    (Path(images) / "MANIFEST").write_text("\n".join(lines) + "\n")


def check(images):
    """The names whose sha256 is not the manifest's (images and inputs)."""
    text = (Path(images) / "MANIFEST").read_text()
    bad = []
    kinds = ("image ", "input ", "packed ")
    rows = [x.split(" ", 2) for x in text.splitlines() if x.startswith(kinds)]
    for kind, sha, name in (r for r in rows if r[0] != "packed"):
        path = Path(images) / name if kind == "image" else GUEST / name
        if not path.is_file() or sha256(path) != sha:
            bad.append(name)
    inside = [(sha, name) for kind, sha, name in rows if kind == "packed"]
    if inside and "initramfs.cpio.gz" not in bad:
        files = packed(Path(images) / "initramfs.cpio.gz")
        bad += [name for sha, name in inside if files.get(name.split(":", 1)[1]) != sha]
    return bad


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"] and len(sys.argv) == 6 and sys.argv[3] in PATCHES:
        write(*sys.argv[2:])
    elif sys.argv[1:2] == ["check"] and len(sys.argv) == 3:
        bad = check(sys.argv[2])
        print("\n".join(f"changed: {b}" for b in bad) or "ok")
        sys.exit(1 if bad else 0)
    else:
        sys.exit("\n".join(__doc__.strip().splitlines()[-3:-1]))
