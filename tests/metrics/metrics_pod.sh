#!/bin/bash
# tests/metrics/metrics_pod.sh --poolvm FILE — a memory pod's control
# surfaces: `poolvm pod --name --metrics` serves /metrics with its capacity,
# `poolvm stats --json` and `poolvm top -b` list it, a second pod of the same
# name or on the same port is refused with a clear error, `poolvm top` in a
# terminal (tmux) shows it and quits on q, and after SIGTERM
# the socket is gone.
set -euo pipefail
PVM_TEST_NAME=metrics_pod
. "$(dirname "${BASH_SOURCE[0]}")/../guest/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib_metrics.sh"
pvm_init "$@"
command -v python3 >/dev/null || pvm_skip "python3 is needed to read JSON"
command -v tmux >/dev/null || pvm_skip "tmux is needed to drive poolvm top in a terminal"

export POOLVM_RUN_DIR=$PVM_TMP/run
secret=$PVM_TMP/secret
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret"
chmod 600 "$secret"
log=$PVM_TMP/pod.log
name=pod-m$$
sock=$POOLVM_RUN_DIR/pod/$name.sock

"$PVM_POOLVM" pod --memory 64M --slab-size 2M --listen 127.0.0.1:0 --fabric tcp \
	--secret-file "$secret" --name "$name" --metrics 127.0.0.1:0 >"$log" 2>&1 </dev/null &
PVM_POOLVM_PID=$!
pvm_wait_log "$log" '^poolvm pod: serving' 30 || pvm_fail "the pod did not start" "$log"
port=$(pvm_log_text "$log" | sed -n 's/.*metrics on http:.*(port \([0-9][0-9]*\)).*/\1/p' | head -n 1)
[ -n "$port" ] || pvm_fail "no metrics port in the log" "$log"
[ -S "$sock" ] || pvm_fail "control socket $sock missing" "$log"

pvm_http "$port" /metrics "$PVM_TMP/m" || pvm_fail "scrape failed"
grep -q '^HTTP/1\.[01] 200' "$PVM_TMP/m" || pvm_fail "scrape: not 200" "$PVM_TMP/m"
[ "$(pvm_metric "$PVM_TMP/m" "poolvm_pod_capacity_bytes{pod=\"$name\"}")" = 67108864 ] ||
	pvm_fail "capacity is not 64 MiB" "$PVM_TMP/m"
[ "$(pvm_metric "$PVM_TMP/m" "poolvm_pod_free_bytes{pod=\"$name\"}")" = 67108864 ] ||
	pvm_fail "free is not 64 MiB" "$PVM_TMP/m"
[ "$(pvm_metric "$PVM_TMP/m" "poolvm_pod_clients{pod=\"$name\"}")" = 0 ] ||
	pvm_fail "clients is not 0" "$PVM_TMP/m"
grep -q '^# TYPE poolvm_pod_capacity_bytes gauge$' "$PVM_TMP/m" || pvm_fail "no TYPE line" "$PVM_TMP/m"

"$PVM_POOLVM" stats --json >"$PVM_TMP/s.json" || pvm_fail "poolvm stats --json failed"
[ "$(pvm_json_get "$PVM_TMP/s.json" \
	"[p['name'] for p in d['pods']] == ['$name'] and d['pods'][0]['memory']['total'] == 67108864")" = True ] ||
	pvm_fail "poolvm stats --json does not list the pod" "$PVM_TMP/s.json"
"$PVM_POOLVM" top -b -n 1 >"$PVM_TMP/top.txt" || pvm_fail "poolvm top -b failed"
grep -q "^$name  *64M  *64M  *0  *0  *0\$" "$PVM_TMP/top.txt" || pvm_fail "top: no row for the pod" "$PVM_TMP/top.txt"

# Same name, same port: refused, and the first pod still serves.
if "$PVM_POOLVM" pod --memory 8M --listen 127.0.0.1:0 --fabric tcp --secret-file "$secret" \
	--name "$name" >"$PVM_TMP/dup.log" 2>&1 </dev/null; then
	pvm_fail "a second pod named $name started"
fi
grep -q "is in use: a pod named '$name' is running" "$PVM_TMP/dup.log" || pvm_fail "unclear error" "$PVM_TMP/dup.log"
if "$PVM_POOLVM" pod --memory 8M --listen 127.0.0.1:0 --fabric tcp --secret-file "$secret" \
	--name other --metrics "127.0.0.1:$port" >"$PVM_TMP/port.log" 2>&1 </dev/null; then
	pvm_fail "a second pod started on metrics port $port"
fi
grep -q "port is already in use" "$PVM_TMP/port.log" || pvm_fail "unclear error" "$PVM_TMP/port.log"
[ ! -e "$POOLVM_RUN_DIR/pod/other.sock" ] || pvm_fail "the refused pod left a socket"
pvm_http "$port" /metrics "$PVM_TMP/m2" && grep -q '^HTTP/1\.[01] 200' "$PVM_TMP/m2" ||
	pvm_fail "the first pod stopped serving"

# The interactive view in a real terminal (tmux): it shows the pod, and q
# quits it.
tmx="tmux -L pvm-metrics-$$"
$tmx new-session -d -x 120 -y 30 -s top \
	"POOLVM_RUN_DIR='$POOLVM_RUN_DIR' TERM=xterm '$PVM_POOLVM' top -d 0.5; echo top-exit=\$? >'$PVM_TMP/top.rc'; sleep 30" ||
	pvm_fail "tmux cannot start a session"
shown=0
for _ in $(seq 1 40); do
	$tmx capture-pane -p -t top >"$PVM_TMP/top.screen" 2>/dev/null || true
	if grep -q "$name" "$PVM_TMP/top.screen"; then shown=1; break; fi
	sleep 0.25
done
[ "$shown" = 1 ] || { $tmx kill-server 2>/dev/null || true; pvm_fail "poolvm top never showed the pod" "$PVM_TMP/top.screen"; }
sed 's/^/# top: /' "$PVM_TMP/top.screen" | grep -v '^# top: *$' | head -n 12
$tmx send-keys -t top q
for _ in $(seq 1 20); do
	[ -s "$PVM_TMP/top.rc" ] && break
	sleep 0.25
done
$tmx kill-server 2>/dev/null || true
[ "$(cat "$PVM_TMP/top.rc" 2>/dev/null)" = top-exit=0 ] ||
	pvm_fail "poolvm top did not quit with status 0 on q ($(cat "$PVM_TMP/top.rc" 2>/dev/null))"

kill -TERM "$PVM_POOLVM_PID"
pvm_wait_gone "$PVM_POOLVM_PID" 20 || pvm_fail "the pod did not exit on SIGTERM" "$log"
wait "$PVM_POOLVM_PID" || pvm_fail "the pod exited non-zero" "$log"
PVM_POOLVM_PID=
[ ! -e "$sock" ] || pvm_fail "control socket $sock still exists after the pod exited"
pvm_pass "pod capacity on /metrics and in stats/top (batch and in a terminal); name and port conflicts refused"
