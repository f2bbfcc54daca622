#!/bin/bash
# tests/libvirt/pod_unit.sh --poolvm FILE --unit FILE --env FILE — the pod's
# systemd unit (packaging/systemd/poolvm-pod@.service) is valid for systemd
# and its command line starts a real pod. There is no systemd here, so:
# 1. `systemd-analyze verify` reads the unit (ExecStart pointed at the
#    built poolvm); any complaint fails the test.
# 2. the ExecStart line, with the example environment file's keys (memory,
#    listen address and fabric made small and local) and a secret, is run as
#    systemd would run it; the pod must print its serving line, and exit 0
#    on SIGTERM (KillSignal) well within TimeoutStopSec.
set -euo pipefail
PVM_TEST_NAME=pod_unit
poolvm= unit= env=
while [ "$#" -gt 0 ]; do
	case "$1" in
	--poolvm) poolvm=$(readlink -f "$2") ;;
	--unit) unit=$(readlink -f "$2") ;;
	--env) env=$(readlink -f "$2") ;;
	*) echo "FAIL pod_unit: unknown option $1"; exit 1 ;;
	esac
	shift 2
done
tmp=$(mktemp -d /tmp/poolvm-pod-unit.XXXXXX)
pod=
cleanup() {
	[ -z "$pod" ] || kill -KILL "$pod" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL pod_unit: $*"; exit 1; }

if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/bin/poolvm|$poolvm|" "$unit" >"$tmp/poolvm-pod@.service"
	out=$(cd "$tmp" && systemd-analyze verify --man=no "$tmp/poolvm-pod@.service" 2>&1) || true
	[ -z "$out" ] || fail "systemd-analyze verify: $out"
	echo "pod_unit: systemd-analyze verify: no complaints"
else
	echo "pod_unit: no systemd-analyze here; checking the command line only"
fi

# Every key the unit uses is in the example environment file.
for key in $(grep -oE '\$\{?POOLVM_[A-Z_]+' "$unit" | tr -d '${' | sort -u); do
	grep -qE "^$key=" "$env" || fail "$key is used by the unit but not in $(basename "$env")"
done
# The ExecStart line as systemd would expand it for instance "t1".
exec_line=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | sed 's/\\$//' | tr '\n' ' ' | sed 's/^ExecStart=//')
printf 'testsecret-0123456789abcdef\n' >"$tmp/secret"
chmod 0600 "$tmp/secret"
POOLVM_POD_MEMORY=64M POOLVM_POD_LISTEN=127.0.0.1:0 POOLVM_POD_FABRIC=tcp POOLVM_POD_OPTIONS=--quiet
cmd=${exec_line//\/usr\/bin\/poolvm/$poolvm}
cmd=${cmd//%i/t1}
cmd=${cmd//\$\{CREDENTIALS_DIRECTORY\}\/secret/$tmp/secret}
cmd=${cmd//\/run\/poolvm-pod-t1/$tmp}
cmd=${cmd//\$\{POOLVM_POD_MEMORY\}/$POOLVM_POD_MEMORY}
cmd=${cmd//\$\{POOLVM_POD_LISTEN\}/$POOLVM_POD_LISTEN}
cmd=${cmd//\$\{POOLVM_POD_FABRIC\}/$POOLVM_POD_FABRIC}
cmd=${cmd//\$POOLVM_POD_OPTIONS/$POOLVM_POD_OPTIONS}
echo "pod_unit: $cmd"
# shellcheck disable=SC2086 # split like systemd splits ExecStart
$cmd >"$tmp/pod.log" 2>&1 &
pod=$!
for _ in $(seq 1 100); do
	grep -q 'serving' "$tmp/pod.log" && break
	kill -0 "$pod" 2>/dev/null || break
	sleep 0.1
done
grep -q 'serving .* on 127.0.0.1:' "$tmp/pod.log" || { cat "$tmp/pod.log"; fail "the pod did not start from the unit's command line"; }
kill -TERM "$pod"
rc=0
for _ in $(seq 1 100); do kill -0 "$pod" 2>/dev/null || break; sleep 0.1; done
wait "$pod" || rc=$?
pod=
[ "$rc" = 0 ] || { cat "$tmp/pod.log"; fail "the pod exited $rc on SIGTERM"; }
echo "PASS pod_unit: unit verified, its command line serves and stops on SIGTERM"
