#!/bin/bash
# tests/metrics/metrics_errors.sh --poolvm FILE [...] — poolvm run refuses
# a metrics port in use, a bad metrics address and a VM name already
# running, each with a clear error and before QEMU starts (no guest needed).
set -euo pipefail
PVM_TEST_NAME=metrics_errors
. "$(dirname "${BASH_SOURCE[0]}")/../guest/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib_metrics.sh"
pvm_init "$@"

export POOLVM_RUN_DIR=$PVM_TMP/run
secret=$PVM_TMP/secret
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret"
chmod 600 "$secret"
log=$PVM_TMP/pod.log

# Something holds a port (and the name "taken"): a pod with --metrics.
"$PVM_POOLVM" pod --memory 8M --listen 127.0.0.1:0 --fabric tcp --secret-file "$secret" \
	--name holder --metrics 127.0.0.1:0 >"$log" 2>&1 </dev/null &
PVM_POOLVM_PID=$!
pvm_wait_log "$log" '^poolvm pod: serving' 30 || pvm_fail "the pod did not start" "$log"
port=$(pvm_log_text "$log" | sed -n 's/.*metrics on http:.*(port \([0-9][0-9]*\)).*/\1/p' | head -n 1)
[ -n "$port" ] || pvm_fail "no metrics port in the log" "$log"

# run_refused NAME EXPECTED-REGEX POOLVM-RUN-ARGS...: exits 1 or 2 at once
# with the message, starts no QEMU and leaves no socket.
run_refused() {
	local what=$1 re=$2 rc=0
	shift 2
	timeout 30 "$PVM_POOLVM" run --mem 64M --kernel /nonexistent-kernel "$@" \
		>"$PVM_TMP/$what.log" 2>&1 </dev/null || rc=$?
	[ "$rc" = 1 ] || [ "$rc" = 2 ] || pvm_fail "$what: exit $rc, expected 1 or 2" "$PVM_TMP/$what.log"
	grep -qE -- "$re" "$PVM_TMP/$what.log" || pvm_fail "$what: no message matching '$re'" "$PVM_TMP/$what.log"
	! grep -q 'starting qemu' "$PVM_TMP/$what.log" || pvm_fail "$what: QEMU was started" "$PVM_TMP/$what.log"
	[ -z "$(ls "$POOLVM_RUN_DIR/vm" 2>/dev/null)" ] || pvm_fail "$what: a VM socket was left behind"
	pvm_say "$what: $(grep -E -- "$re" "$PVM_TMP/$what.log" | head -n 1)"
}
run_refused port_in_use "--metrics 127\.0\.0\.1:$port: the port is already in use" \
	--name vm-a --metrics "127.0.0.1:$port"
run_refused bad_port "--metrics '127\.0\.0\.1:http': the port must be a number" \
	--name vm-b --metrics 127.0.0.1:http
run_refused bad_host "--metrics .*address 'no-such-host\.invalid' not found" \
	--name vm-c --metrics no-such-host.invalid:9100
run_refused not_local "--metrics 192\.0\.2\.1:0: this host has no such address" \
	--name vm-d --metrics 192.0.2.1:0

# A VM may not take a name already serving (a different kind is fine).
mkdir -p "$POOLVM_RUN_DIR/vm"
ln -s "$POOLVM_RUN_DIR/pod/holder.sock" "$POOLVM_RUN_DIR/vm/twin.sock"
rc=0
timeout 30 "$PVM_POOLVM" run --mem 64M --kernel /nonexistent-kernel --name twin \
	>"$PVM_TMP/twin.log" 2>&1 </dev/null || rc=$?
[ "$rc" = 1 ] || pvm_fail "twin: exit $rc, expected 1" "$PVM_TMP/twin.log"
grep -q "is in use: a vm named 'twin' is running" "$PVM_TMP/twin.log" || pvm_fail "twin: unclear error" "$PVM_TMP/twin.log"
[ -e "$POOLVM_RUN_DIR/vm/twin.sock" ] || pvm_fail "twin: the live socket was removed"

# No place for sockets: the pod still serves (statistics are not worth a
# dead pod), says so, and its HTTP endpoint works.
plog=$PVM_TMP/nodir.log
POOLVM_RUN_DIR=/proc/no-such-dir "$PVM_POOLVM" pod --memory 8M --listen 127.0.0.1:0 --fabric tcp \
	--secret-file "$secret" --name nodir --metrics 127.0.0.1:0 >"$plog" 2>&1 </dev/null &
nodir_pid=$!
for _ in $(seq 100); do grep -q '^poolvm pod: serving' "$plog" && break; sleep 0.1; done
grep -q '^poolvm pod: serving' "$plog" || { kill "$nodir_pid"; pvm_fail "nodir: the pod did not start" "$plog"; }
grep -q 'going on without a control socket' "$plog" || { kill "$nodir_pid"; pvm_fail "nodir: no message" "$plog"; }
p2=$(sed -n 's/.*metrics on http:.*(port \([0-9][0-9]*\)).*/\1/p' "$plog")
pvm_http "$p2" /metrics "$PVM_TMP/nodir.metrics" || true
kill -TERM "$nodir_pid"
wait "$nodir_pid" || pvm_fail "nodir: the pod exited non-zero" "$plog"
grep -q '^poolvm_pod_capacity_bytes{pod="nodir"} 8388608' "$PVM_TMP/nodir.metrics" ||
	pvm_fail "nodir: no metrics" "$PVM_TMP/nodir.metrics"
pvm_say "nodir: $(grep 'control socket' "$plog" | head -n 1)"
pvm_pass "port in use, bad addresses and a taken name refused before QEMU; no run dir is not fatal"
