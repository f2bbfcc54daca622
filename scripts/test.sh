#!/usr/bin/env bash
# scripts/test.sh — the whole test suite, as CI runs it (bash .ci/run):
#   1. scripts/setup.sh (packages, build/, guest image);
#   2. meson test -C build: every registered suite (unit, guest, and any
#      suite added later: multihost, libvirt, etcd, metrics);
#   3. build-san/, the unit tests under AddressSanitizer and UBSan.
# Exits non-zero when anything failed; a test that cannot run here exits
# 77 and is counted as skipped, with its reason in the log.
#
# usage: scripts/test.sh [--no-setup] [--no-san] [MESON-TEST-ARGS...]
#   --no-setup  skip scripts/setup.sh (build/ must exist)
#   --no-san    skip the sanitizer build
#   MESON-TEST-ARGS go to the first meson test, e.g. --suite guest
# environment:
#   POOLVM_BUILD_DIR   build directory (default: build)
#   POOLVM_SAN_DIR     sanitizer build directory (default: build-san)
set -euo pipefail

prog=test.sh
say() { printf '%s: %s\n' "$prog" "$*"; }

do_setup=1
do_san=1
meson_args=()
while [ "$#" -gt 0 ]; do
	case "$1" in
	--no-setup) do_setup=0 ;;
	--no-san) do_san=0 ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) meson_args+=("$1") ;;
	esac
	shift
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${POOLVM_BUILD_DIR:-build}
san=${POOLVM_SAN_DIR:-build-san}
t0=$SECONDS
logs=$(mktemp -d "${TMPDIR:-/tmp}/poolvm-test.XXXXXX")
trap 'rm -rf "$logs"' EXIT

if [ "$do_setup" = 1 ]; then
	POOLVM_BUILD_DIR=$build bash scripts/setup.sh </dev/null
fi
[ -f "$build/build.ninja" ] || { say "error: $build/ is not configured (run scripts/setup.sh)"; exit 1; }

# summary NAME LOG RC - print one line of counts from meson's summary block
# and add them to the totals.
tot_ok=0 tot_fail=0 tot_skip=0 tot_timeout=0 tot_xfail=0 tot_xpass=0
lines=()
count() {
	local v
	v=$(grep -E "^$1:[[:space:]]+[0-9]+" "$2" | tail -n 1 | sed -E 's/^[^:]*:[[:space:]]*([0-9]+).*/\1/' || true)
	echo "${v:-0}"
}
summary() {
	local name=$1 log=$2 rc=$3 ok fail skip timeout xfail xpass
	ok=$(count Ok "$log")
	fail=$(count Fail "$log")
	skip=$(count Skipped "$log")
	timeout=$(count Timeout "$log")
	xfail=$(count 'Expected Fail' "$log")
	xpass=$(count 'Unexpected Pass' "$log")
	if [ "$rc" != 0 ] && [ $((fail + timeout + xpass)) = 0 ]; then
		fail=1   # meson itself failed (a build error, no summary)
	fi
	tot_ok=$((tot_ok + ok)) tot_fail=$((tot_fail + fail)) tot_skip=$((tot_skip + skip))
	tot_timeout=$((tot_timeout + timeout)) tot_xfail=$((tot_xfail + xfail))
	tot_xpass=$((tot_xpass + xpass))
	lines+=("$(printf '%-22s %3d ok, %d failed, %d skipped, %d timed out (rc %s)' \
		"$name" "$ok" "$fail" "$skip" "$timeout" "$rc")")
}

say "meson test -C $build ${meson_args[*]:-(all suites)}"
set +e
meson test -C "$build" --print-errorlogs "${meson_args[@]}" 2>&1 | tee "$logs/main.log"
rc=${PIPESTATUS[0]}
set -e
summary "$build (all suites)" "$logs/main.log" "$rc"
if [ "$(count Skipped "$logs/main.log")" != 0 ]; then
	say "why tests were skipped (from $build/meson-logs/testlog.txt):"
	grep -hE '^SKIP ' "$build/meson-logs/testlog.txt" 2>/dev/null | sed 's/^/  /' || true
fi

if [ "$do_san" = 1 ]; then
	if [ ! -f "$san/build.ninja" ]; then
		say "configuring $san/ (-Db_sanitize=address,undefined)"
		wipe=()
		[ ! -d "$san/meson-private" ] || wipe=(--wipe)
		meson setup "${wipe[@]}" "$san" -Db_sanitize=address,undefined -Db_lundef=false ||
			{ say "error: meson setup $san failed"; exit 1; }
	fi
	say "meson test -C $san --suite unit"
	set +e
	meson test -C "$san" --suite unit --print-errorlogs 2>&1 | tee "$logs/san.log"
	rc=${PIPESTATUS[0]}
	set -e
	summary "$san (unit, ASan+UBSan)" "$logs/san.log" "$rc"
fi

elapsed=$((SECONDS - t0))
echo
say "results:"
for l in "${lines[@]}"; do
	echo "  $l"
done
bad=$((tot_fail + tot_timeout + tot_xpass))
verdict=PASS
[ "$bad" = 0 ] || verdict=FAIL
say "$verdict: $tot_ok passed, $((tot_fail + tot_xpass)) failed, $tot_timeout timed out, $tot_skip skipped in $((elapsed / 60))m$((elapsed % 60))s"
[ "$bad" = 0 ]
