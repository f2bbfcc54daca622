#!/bin/bash
# sim/corpus/make_corpus.sh — regenerate the trace corpus: real, unmodified
# programs from Debian packages, run in a pooled guest whose pager records
# every access it observes (poolvm run --trace).
#
# Usage (root, from the repository, after a build):
#   sim/corpus/make_corpus.sh [--build DIR] [--work DIR] [--out DIR]
#                             [--local SIZE] [--only NAME,...]
#   --build DIR   poolvm build directory (default ./build, then /tmp/b1)
#   --work DIR    scratch space: Debian root, disk image, tier file
#                 (default /var/tmp/pvm-corpus; ~4 GB; reused when present)
#   --out DIR     where the traces go (default sim/corpus/traces)
#   --local SIZE  guest RAM kept resident while recording (default 96M of a
#                 1G guest): small, so that reuse shows up as faults (the
#                 committed corpus was recorded with 48M)
#   --only LIST   just these workloads
#   --image-only  build the root image and the initramfs, run nothing
#                 (bench/guest_policy_bench.py boots them)
#
# What it does:
#  1. debootstrap a Debian 12 root (minbase plus python3-numpy,
#     python3-torch, sqlite3, xz-utils, zstd, gcc, redis, ...), copy the
#     workloads (sim/corpus/workloads/) and, for the gcc workload, poolvm's
#     own C sources into /opt/pvmw, and pack it into an ext4 image;
#  2. build an initramfs (images/build-guest.sh) that loads virtio_blk and
#     ext4, mounts the image read-only, and chroots into it to run
#     /opt/pvmw/run.sh $pvm_work;
#  3. boot one guest per workload: poolvm run --mem 1G --local SIZE
#     --prefetch none --trace OUT/NAME.pvmt (zstd-compressed binary
#     traces, docs/sim.md), checking that the workload said it was done.
# Times: the Debian root takes a few minutes (mostly downloads); each
# workload is bounded to about a minute of guest time under TCG.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build= work=/var/tmp/pvm-corpus out=$here/traces local=96M only= image_only=
WORKLOADS=(numpy-mlp torch-mlp sqlite xz zstd gcc sort redis graph)
PACKAGES=python3,python3-numpy,python3-torch,sqlite3,xz-utils,zstd,gcc,libc6-dev,libjson-c-dev,liburing-dev,redis-server,redis-tools,coreutils

die() { echo "make_corpus: $*" >&2; exit 1; }

while [ "$#" -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--local) local=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--image-only) image_only=1; shift ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, userfaultfd)"
if [ -z "$build" ]; then
	for d in "$repo/build" /tmp/b1; do
		[ -x "$d/vmm/poolvm" ] && { build=$d; break; }
	done
fi
[ -x "$build/vmm/poolvm" ] || die "no poolvm build (give --build DIR)"
poolvm=$build/vmm/poolvm
kernel=$build/images/vmlinux
[ -f "$kernel" ] || die "$kernel missing: meson compile -C $build guest-image"
if [ -n "$only" ]; then
	IFS=, read -r -a WORKLOADS <<<"$only"
fi
mkdir -p "$work" "$out"

# 1. The Debian root.
root=$work/root
if [ ! -f "$work/root.done" ]; then
	command -v debootstrap >/dev/null || apt-get install -y debootstrap
	echo "make_corpus: debootstrap into $root (a few minutes)"
	rm -rf "$root"
	debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" \
		>"$work/debootstrap.log" 2>&1 || die "debootstrap failed (see $work/debootstrap.log)"
	touch "$work/root.done"
fi
for p in libjson-c-dev liburing-dev; do
	[ -d "$root/usr/share/doc/$p" ] || chroot "$root" apt-get install -y "$p" >/dev/null
done
rm -rf "$root/opt/pvmw"
mkdir -p "$root/opt/pvmw/src"
cp "$here"/workloads/* "$root/opt/pvmw/"
# The gcc workload compiles a real program: poolvm's pager, policies and
# tiers as they are in this checkout.
for d in common swap swap/policies swap/prefetchers; do
	cp "$repo/$d"/*.c "$repo/$d"/*.h "$root/opt/pvmw/src/" 2>/dev/null || true
done
cp "$repo"/swap/policies/*.inc "$root/opt/pvmw/src/" 2>/dev/null || true
img=$work/root.img
rm -f "$img"
mkfs.ext4 -q -F -L pvmroot -d "$root" "$img" 4G || die "mkfs.ext4 -d failed"

# 2. The initramfs that boots into it.
run='ifconfig lo 127.0.0.1 up; mkdir -p /r && mount -t ext4 -o ro,noload /dev/vda /r &&
mount -t proc proc /r/proc && mount -t sysfs sysfs /r/sys &&
mount -t devtmpfs devtmpfs /r/dev && mount -t tmpfs -o size=600m tmpfs /r/tmp &&
chroot /r /bin/sh /opt/pvmw/run.sh "$pvm_work"'
bash "$repo/images/build-guest.sh" --out "$work/guest" \
	--modules "virtio_pci virtio_blk crc32c_generic ext4" --run "$run" >/dev/null ||
	die "building the corpus initramfs failed"

[ -z "$image_only" ] || { echo "make_corpus: image in $img, guest in $work/guest"; exit 0; }

# 3. One guest per workload.
fail=0
for w in "${WORKLOADS[@]}"; do
	log=$work/$w.log
	echo "make_corpus: $w ..."
	start=$SECONDS
	rc=0
	timeout 1200 "$poolvm" run --mem 1G --local "$local" --prefetch none \
		--tier "disk:$work/tier.pages" --disk "$img" \
		--kernel "$work/guest/vmlinux" --initrd "$work/guest/initramfs.cpio.gz" \
		--append "console=ttyS0 quiet pvm_work=$w" \
		--trace "$out/$w.pvmt" >"$log" 2>&1 </dev/null || rc=$?
	if [ "$rc" != 0 ] || ! grep -q "pvm-corpus: $w done" "$log"; then
		echo "make_corpus: $w FAILED (exit $rc); see $log" >&2
		tail -n 15 "$log" >&2
		rm -f "$out/$w.pvmt"
		fail=1
		continue
	fi
	echo "make_corpus: $w: $(grep -oE 'trace: [0-9]+ accesses' "$log") in $((SECONDS - start)) s," \
	     "$(du -h "$out/$w.pvmt" | cut -f1)"
done
du -ch "$out"/*.pvmt | tail -n 1
exit "$fail"
