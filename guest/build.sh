#!/usr/bin/env bash
# Build tramproof's guest: the kernel with the project's build fixes, config
# fragment and vmlinux victims; then (guest/initramfs.sh) the victim modules,
# the perf helper and the initramfs.
#
# usage: guest/build.sh KERNEL_TREE [OUT_DIR]
#   KERNEL_TREE  the kernel's source tree (see guest/README.md): by default
#                v3.17.0 with the seed's files overlaid
#   OUT_DIR      where the images go (default: guest/images, or
#                guest/images/3.19.8 for TP_KERNEL=3.19.8)
# TP_KERNEL is 3.17.0 (the default) or 3.19.8 (the patch as merged, plain
# 3.19.8: some build fixes differ, patches/3.19.8/).
# TP_VARIANT=victims builds, in a tree of its own, bzImage-victims: a kernel
# whose only traceable functions are the victims (patches/victims-only/).  On
# 3.17.0 it boots with the full build's initramfs; on 3.19.8 it makes the
# initramfs too (the same bytes as the full tree's: the modules ask for -pg).
# The manifest names the tree's origin from TP_SOURCE and TP_COMMIT (defaults:
# the tree the project builds that kernel from, guest/initramfs.sh).
#
# Patches are applied once (a tree that has them is left as it is), so the
# script can be rerun on the same tree for an incremental build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "${1:?usage: guest/build.sh KERNEL_TREE [OUT_DIR]}" && pwd)
kernel=${TP_KERNEL:-3.17.0}
variant=${TP_VARIANT:-full}
case $kernel in
    3.17.0)
        patches=("$here"/patches/*.patch)
        default_out=$here/images ;;
    3.19.8)
        # 3.19.8 has compiler-gcc5.h, a static per_cpu_load_addr and -std=gnu89
        patches=("$here"/patches/02-no-pie.patch "$here"/patches/04-recordmcount-skip.patch
                 "$here"/patches/05-jmp-rel32.patch "$here"/patches/3.19.8/*.patch)
        default_out=$here/images/3.19.8 ;;
    *) echo "TP_KERNEL is 3.17.0 or 3.19.8, not $kernel" >&2; exit 2 ;;
esac
case $variant in
    full) ;;
    victims) patches+=("$here"/patches/victims-only/*.patch) ;;
    *) echo "TP_VARIANT is full or victims, not $variant" >&2; exit 2 ;;
esac
out=$(mkdir -p "${2:-$default_out}" && cd "${2:-$default_out}" && pwd)
jobs=$(nproc)
# a build that says who and when the same way every time
export KBUILD_BUILD_TIMESTAMP="2014-10-05 00:00:00 UTC" KBUILD_BUILD_USER=tramproof
export KBUILD_BUILD_HOST=tramproof KBUILD_BUILD_VERSION=1
export TP_KERNEL=$kernel

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

if [ "$variant" = victims ] && [ "$kernel" = 3.17.0 ]; then
    make -j"$jobs" bzImage
    cp arch/x86/boot/bzImage "$out/bzImage-victims"
    ls -l "$out"
    exit 0
fi
make -j"$jobs" bzImage modules
if [ "$variant" = victims ]; then
    cp arch/x86/boot/bzImage "$out/bzImage-victims"
else
    cp arch/x86/boot/bzImage "$out/bzImage"
fi
cp .config "$out/config"
"$here/initramfs.sh" "$tree" "$out"
