"""Write (or check) the manifest of the guest images: where the kernel came
from, what the project changed, and the sha256 of every file.

usage: python3 manifest.py write IMAGES_DIR SOURCE COMMIT
       python3 manifest.py check IMAGES_DIR
"""

import hashlib
import sys
from pathlib import Path

GUEST = Path(__file__).resolve().parent
IMAGES = ("bzImage", "bzImage-victims", "initramfs.cpio.gz", "config")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def inputs():
    """The project's inputs to the build, relative to guest/."""
    files = sorted(GUEST.glob("patches/**/*.patch")) + [
        GUEST / "tramproof.config", GUEST / "victim/tp_victim.c", GUEST / "victim/tp_mod.c",
        GUEST / "init", GUEST / "build.sh", GUEST / "mkinitramfs.py",
    ]  # fmt: skip
    return [(f.relative_to(GUEST).as_posix(), sha256(f)) for f in files]


def write(images, source, commit):
    lines = [
        "# tramproof guest images: kernel 3.17.0+seed, built by guest/build.sh",
        f"source: {source}",
        f"commit: {commit}",
        "overlay: the seed's files (linux-3.17.0+seed in the reference folder)",
    ]
    lines += [f"input {sha} {name}" for name, sha in inputs()]
    lines += [f"image {sha256(Path(images) / n)} {n}" for n in IMAGES]
    (Path(images) / "MANIFEST").write_text("\n".join(lines) + "\n")


def check(images):
    """The names whose sha256 is not the manifest's (images and inputs)."""
    text = (Path(images) / "MANIFEST").read_text()
    bad = []
    rows = [x.split(" ", 2) for x in text.splitlines() if x.startswith(("image ", "input "))]
    for kind, sha, name in rows:
        path = Path(images) / name if kind == "image" else GUEST / name
        if not path.is_file() or sha256(path) != sha:
            bad.append(name)
    return bad


if __name__ == "__main__":
    if sys.argv[1:2] == ["write"] and len(sys.argv) == 5:
        write(*sys.argv[2:])
    elif sys.argv[1:2] == ["check"] and len(sys.argv) == 3:
        bad = check(sys.argv[2])
        print("\n".join(f"changed: {b}" for b in bad) or "ok")
        sys.exit(1 if bad else 0)
    else:
        sys.exit(__doc__.strip().splitlines()[-2])
