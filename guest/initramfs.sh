#!/usr/bin/env bash
# Make the guest's initramfs from a built kernel tree: the victim modules
# (mod0..mod5 of the model, built against the tree), the perf helper (a static
# program, perf/tp_perf.c), busybox and init; then the images' MANIFEST.
# Called by build.sh; run it alone to remake the initramfs of a built tree.
#
# usage: guest/initramfs.sh KERNEL_TREE OUT_DIR   (TP_KERNEL, TP_SOURCE, TP_COMMIT as build.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "${1:?usage: guest/initramfs.sh KERNEL_TREE OUT_DIR}" && pwd)
out=$(cd "${2:?usage: guest/initramfs.sh KERNEL_TREE OUT_DIR}" && pwd)
kernel=${TP_KERNEL:-3.17.0}
case $kernel in
    3.17.0) source="lexi6725/linux-3.17.0 on GitHub" commit=26c80e2472a851fb0a75dad933d789286e4c4774 ;;
    3.19.8) source="yuanguohuo/linux-3.19.8 on GitHub" commit=5efb20db82bf1b8fe32fdb7165db81de3f1dc319 ;;
    *) echo "TP_KERNEL is 3.17.0 or 3.19.8, not $kernel" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# one .ko each; -pg asked for here too, so that a victims-only tree (no global
# -pg) still makes traceable modules
for n in 0 1 2 3 4 5; do
    cp "$here/victim/tp_mod.c" "$work/tpmod$n.c"
    echo "obj-m += tpmod$n.o"
    echo "CFLAGS_tpmod$n.o := -DTP_SERIAL=$n -pg"
done > "$work/Kbuild"
make -s -C "$tree" M="$work" modules
strip --strip-debug "$work"/tpmod*.ko

gcc -static -O2 -Wall -Werror -s -o "$work/tp_perf" "$here/perf/tp_perf.c"

python3 "$here/mkinitramfs.py" "$out/initramfs.cpio.gz" "${BUSYBOX:-/bin/busybox}" \
    "$here/init" "$work/tp_perf" "$work"/tpmod[0-5].ko
python3 "$here/manifest.py" write "$out" "$kernel" "${TP_SOURCE:-$source}" "${TP_COMMIT:-$commit}"
ls -l "$out"
