#!/usr/bin/env bash
# Build tramproof's guest: the kernel 3.17.0+seed with the project's build
# fixes, config fragment and vmlinux victims; the victim modules; the initramfs.
#
# usage: guest/build.sh KERNEL_TREE [OUT_DIR]
#   KERNEL_TREE  a v3.17.0 source tree with the seed's files overlaid (see guest/README.md)
#   OUT_DIR      where bzImage, initramfs.cpio.gz and config go (default: guest/images)
# TP_VARIANT=victims builds, in a tree of its own, bzImage-victims only: a
# kernel whose only traceable functions are the victims and the self test's
# (patches/victims-only/); it boots with the full build's initramfs.
# The manifest names the tree's origin from TP_SOURCE and TP_COMMIT (defaults:
# the v3.17.0 the project builds from).
#
# Patches are applied once (a tree that has them is left as it is), so the
# script can be rerun on the same tree for an incremental build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "${1:?usage: guest/build.sh KERNEL_TREE [OUT_DIR]}" && pwd)
out=$(mkdir -p "${2:-$here/images}" && cd "${2:-$here/images}" && pwd)
jobs=$(nproc)
# a build that says who and when the same way every time
export KBUILD_BUILD_TIMESTAMP="2014-10-05 00:00:00 UTC" KBUILD_BUILD_USER=tramproof
export KBUILD_BUILD_HOST=tramproof KBUILD_BUILD_VERSION=1

variant=${TP_VARIANT:-full}
case $variant in
    full) patches=("$here"/patches/*.patch) ;;
    victims) patches=("$here"/patches/*.patch "$here"/patches/victims-only/*.patch) ;;
    *) echo "TP_VARIANT is full or victims, not $variant" >&2; exit 2 ;;
esac

cd "$tree"
for p in "${patches[@]}"; do
    if patch -p1 -R --dry-run -s -f < "$p" >/dev/null 2>&1; then
        echo "already applied: $(basename "$p")"
    else
        patch -p1 -s -f < "$p"
        echo "applied: $(basename "$p")"
    fi
done

# the vmlinux victims (f0..f15 of the model)
cp "$here/victim/tp_victim.c" kernel/tp_victim.c
grep -q '^obj-y += tp_victim.o$' kernel/Makefile || echo 'obj-y += tp_victim.o' >> kernel/Makefile
grep -q '^CFLAGS_tp_victim.o = -pg$' kernel/Makefile || echo 'CFLAGS_tp_victim.o = -pg' >> kernel/Makefile

# a .config that comes out the same keeps its time, so that a rerun is incremental
[ -f .config ] && cp -p .config .config.tp-old
make -s x86_64_defconfig
scripts/kconfig/merge_config.sh -m .config "$here/tramproof.config" >/dev/null
make -s olddefconfig
if [ -f .config.tp-old ] && cmp -s .config .config.tp-old; then
    mv .config.tp-old .config
else
    rm -f .config.tp-old
fi
for opt in $(grep -o '^CONFIG_[A-Z0-9_]*=y' "$here/tramproof.config"); do
    grep -qx "$opt" .config || { echo "config: $opt did not stick" >&2; exit 1; }
done

if [ "$variant" = victims ]; then
    make -j"$jobs" bzImage
    cp arch/x86/boot/bzImage "$out/bzImage-victims"
    ls -l "$out"
    exit 0
fi
make -j"$jobs" bzImage modules

# the victim modules mod0..mod5 of the model, one .ko each
mods=$(mktemp -d)
trap 'rm -rf "$mods"' EXIT
for n in 0 1 2 3 4 5; do
    cp "$here/victim/tp_mod.c" "$mods/tpmod$n.c"
    echo "obj-m += tpmod$n.o"
    echo "CFLAGS_tpmod$n.o := -DTP_SERIAL=$n"
done > "$mods/Kbuild"
make -s -C "$tree" M="$mods" modules
strip --strip-debug "$mods"/tpmod*.ko

cp arch/x86/boot/bzImage "$out/bzImage"
cp .config "$out/config"
python3 "$here/mkinitramfs.py" "$out/initramfs.cpio.gz" "${BUSYBOX:-/bin/busybox}" \
    "$here/init" "$mods"/tpmod[0-5].ko
python3 "$here/manifest.py" write "$out" "${TP_SOURCE:-lexi6725/linux-3.17.0 on GitHub}" \
    "${TP_COMMIT:-26c80e2472a851fb0a75dad933d789286e4c4774}"
ls -l "$out"
