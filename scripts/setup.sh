#!/usr/bin/env bash
# scripts/setup.sh — make this checkout ready to build, test and demo poolvm
# on Debian 12: install the packages (as root, only when some are missing),
# configure build/ with meson, build everything and the guest image.
# Idempotent: a second run installs nothing and rebuilds only what changed.
#
# usage: scripts/setup.sh [--no-apt] [--no-build]
#   --no-apt    never run apt-get; fail if a package is missing
#   --no-build  install packages only
# environment:
#   POOLVM_BUILD_DIR   build directory (default: build, in the checkout)
set -euo pipefail

prog=setup.sh
say() { printf '%s: %s\n' "$prog" "$*"; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

use_apt=1
do_build=1
while [ "$#" -gt 0 ]; do
	case "$1" in
	--no-apt) use_apt=0 ;;
	--no-build) do_build=0 ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${POOLVM_BUILD_DIR:-build}

# What the build, the test suites and the demo need; docs/dependencies.md
# says why each one is here.
packages=(
	build-essential meson ninja-build pkg-config
	libcmocka-dev liburing-dev libjson-c-dev
	libfabric-dev libfabric-bin libsodium-dev
	qemu-system-x86 qemu-utils
	busybox-static cpio xz-utils gzip linux-image-amd64
	libzstd-dev libcairo2-dev libinih-dev
	python3 clang libclang-rt-14-dev iproute2 util-linux tmux
	libmicrohttpd-dev libncurses-dev
	libvirt-daemon-system libvirt-clients libvirt-dev libxml2-dev
	libcurl4-openssl-dev etcd-server etcd-client
)

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# --- packages -----------------------------------------------------------------
command -v dpkg-query >/dev/null || die "this is not a Debian system (no dpkg-query); install the equivalents of: ${packages[*]}"
missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	say "all ${#packages[@]} packages are installed"
elif [ "$use_apt" = 0 ]; then
	die "missing packages: ${missing[*]} (run without --no-apt as root, or apt-get install them)"
elif [ "$(id -u)" != 0 ]; then
	die "missing packages: ${missing[*]}; run this script as root (or: sudo apt-get install --no-install-recommends ${missing[*]})"
else
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || die "apt-get update failed (network or sources.list?)"
	apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
		die "apt-get install failed for: ${missing[*]}"
	for p in "${missing[@]}"; do
		installed "$p" || die "package $p is still not installed after apt-get"
	done
	say "installed ${#missing[@]} package(s)"
fi
ls /boot/vmlinuz-* >/dev/null 2>&1 ||
	die "no /boot/vmlinuz-*: the guest image needs a kernel (apt-get install linux-image-amd64)"

[ "$do_build" = 1 ] || exit 0

# --- configure and build ----------------------------------------------------------
if [ -f "$build/build.ninja" ]; then
	say "$build/ is configured; ninja reconfigures it if meson files changed"
elif [ -d "$build/meson-private" ]; then
	say "$build/ is a half-configured meson build directory; configuring it again"
	meson setup --wipe "$build" || die "meson setup --wipe $build failed"
elif [ -e "$build" ] && [ -n "$(ls -A "$build" 2>/dev/null)" ]; then
	die "$build exists and is not a meson build directory; move it away or set POOLVM_BUILD_DIR"
else
	say "configuring $build/"
	meson setup "$build" || die "meson setup $build failed (see $build/meson-logs/meson-log.txt)"
fi
say "building"
ninja -C "$build" || die "the build failed"
say "building the guest image (kernel from /boot, busybox initramfs)"
meson compile -C "$build" guest-image ||
	die "building the guest image failed (see docs/guest-images.md)"
say "ready: $build/vmm/poolvm, $build/images/vmlinux, $build/images/initramfs.cpio.gz"
