#!/bin/bash
# tests/metrics/metrics_guest.sh [lib.sh options] — live metrics of a paging
# guest: a 256 MiB TCG guest kept to 64 MiB resident (the rest in a disk
# tier) runs pvm-memtest seq over 150 MiB, 16 passes, with --metrics on a
# free port. During the run: two scrapes of /metrics show the fault and
# eviction counters grow; the latency histograms are well formed; `poolvm
# stats --json` names the VM; `poolvm top -b -n 2` shows it; garbage,
# oversized and stalled HTTP clients get errors or time out while scrapes
# keep working. After the run: the memtest verified and the control socket
# is gone.
set -euo pipefail
PVM_TEST_NAME=metrics_guest
. "$(dirname "${BASH_SOURCE[0]}")/../guest/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib_metrics.sh"
pvm_init "$@"
pvm_require_guest
command -v python3 >/dev/null || pvm_skip "python3 is needed to read JSON"

export POOLVM_RUN_DIR=$PVM_TMP/run
log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
tier=$PVM_TMP/guest.pages
name=mtest-$$
sock=$POOLVM_RUN_DIR/vm/$name.sock

pvm_start_guest "$log" --name "$name" --metrics 127.0.0.1:0 \
	--mem 256M --local 64M --tier "disk:$tier" \
	--kernel "$PVM_KERNEL" --initrd "$PVM_INITRD" --stats-json "$stats" \
	--append "console=ttyS0 quiet pvm_run=\"pvm-memtest seq --size 150 --passes 16\""
pvm_wait_log "$log" 'metrics: http://.*\(port [0-9]+\)' 30 || pvm_fail "no metrics line" "$log"
port=$(pvm_log_text "$log" | sed -n 's/.*metrics: http:.*(port \([0-9][0-9]*\)).*/\1/p' | head -n 1)
[ -n "$port" ] && [ "$port" != 0 ] || pvm_fail "no metrics port in the log" "$log"
pvm_say "metrics on port $port, control socket $sock"
[ -S "$sock" ] || pvm_fail "control socket $sock missing while the VM runs" "$log"
pvm_wait_log "$log" '^pvm-memtest: start' 120 || pvm_fail "memtest did not start" "$log"
sleep 1

# Two scrapes, two seconds apart: the counters move.
pvm_http "$port" /metrics "$PVM_TMP/m1" || pvm_fail "first scrape failed"
grep -q '^HTTP/1\.[01] 200' "$PVM_TMP/m1" || pvm_fail "first scrape: not 200" "$PVM_TMP/m1"
grep -qi '^content-type: text/plain; version=0.0.4' "$PVM_TMP/m1" ||
	pvm_fail "first scrape: not text format 0.0.4" "$PVM_TMP/m1"
sleep 2
pvm_http "$port" /metrics "$PVM_TMP/m2" || pvm_fail "second scrape failed"
for m in poolvm_faults_total poolvm_evictions_total; do
	a=$(pvm_metric "$PVM_TMP/m1" "$m{vm=\"$name\"}")
	b=$(pvm_metric "$PVM_TMP/m2" "$m{vm=\"$name\"}")
	[ -n "$a" ] && [ -n "$b" ] || pvm_fail "$m{vm=\"$name\"} missing" "$PVM_TMP/m2"
	[ "$b" -gt "$a" ] || pvm_fail "$m did not grow between scrapes ($a -> $b)" "$PVM_TMP/m2"
	pvm_say "$m: $a -> $b"
	grep -q "^# TYPE $m counter\$" "$PVM_TMP/m2" || pvm_fail "$m: no TYPE line" "$PVM_TMP/m2"
done
r=$(pvm_metric "$PVM_TMP/m2" "poolvm_refaults_total{vm=\"$name\",tier=\"disk\"}")
[ -n "$r" ] && [ "$r" -gt 0 ] || pvm_fail "no refaults from the disk tier" "$PVM_TMP/m2"
res=$(pvm_metric "$PVM_TMP/m2" "poolvm_resident_pages{vm=\"$name\"}")
lim=$(pvm_metric "$PVM_TMP/m2" "poolvm_local_limit_pages{vm=\"$name\"}")
[ "$lim" = 16384 ] || pvm_fail "local limit $lim pages, expected 16384 (64 MiB)" "$PVM_TMP/m2"
[ "$res" -gt 0 ] && [ "$res" -le "$lim" ] || pvm_fail "resident $res outside 1..$lim" "$PVM_TMP/m2"
pvm_check_histograms "$PVM_TMP/m2" poolvm_fault_latency_seconds
pvm_check_histograms "$PVM_TMP/m2" poolvm_fault_service_seconds
c=$(pvm_metric "$PVM_TMP/m2" "poolvm_fault_latency_seconds_count{vm=\"$name\",kind=\"refault\",tier=\"disk\"}")
[ -n "$c" ] && [ "$c" -gt 0 ] || pvm_fail "no refault latencies from the disk tier" "$PVM_TMP/m2"

# poolvm stats --json names the VM, with live counters.
"$PVM_POOLVM" stats --json >"$PVM_TMP/stats-live.json" || pvm_fail "poolvm stats --json failed"
[ "$(pvm_json_get "$PVM_TMP/stats-live.json" \
	"[v['name'] for v in d['vms']] == ['$name'] and d['vms'][0]['state'] == 'running' and d['vms'][0]['pager']['faults'] > 0")" = True ] ||
	pvm_fail "poolvm stats --json does not show $name running" "$PVM_TMP/stats-live.json"
"$PVM_POOLVM" stats "$name" >"$PVM_TMP/stats-table.txt" || pvm_fail "poolvm stats $name failed"
grep -q "^$name .* running " "$PVM_TMP/stats-table.txt" || pvm_fail "no row for $name" "$PVM_TMP/stats-table.txt"
if "$PVM_POOLVM" stats no-such-vm >/dev/null 2>"$PVM_TMP/nosuch.txt"; then
	pvm_fail "poolvm stats no-such-vm succeeded"
fi
grep -q "no VM or pod named 'no-such-vm'" "$PVM_TMP/nosuch.txt" || pvm_fail "unclear error" "$PVM_TMP/nosuch.txt"

# poolvm top -b -n 2 shows it in both frames.
"$PVM_POOLVM" top -b -n 2 -d 1 >"$PVM_TMP/top.txt" || pvm_fail "poolvm top -b failed"
[ "$(grep -c '^poolvm top - ' "$PVM_TMP/top.txt")" = 2 ] || pvm_fail "top: not 2 frames" "$PVM_TMP/top.txt"
[ "$(grep -c "^$name  *running " "$PVM_TMP/top.txt")" = 2 ] || pvm_fail "top: $name not in both frames" "$PVM_TMP/top.txt"
sed -n '1,4p' "$PVM_TMP/top.txt"

# Hostile HTTP clients: garbage, a huge request, one that stalls. Each gets
# an error or is cut off; a scrape beside them still works.
# The server may close on us mid-write: EPIPE, not a dead test.
trap '' PIPE
# send_raw PORT FORMAT OUT: printf FORMAT to the port, the answer to OUT.
send_raw() {
	timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "$2" >&3; cat <&3' _ "$1" "$2" \
		>"$3" 2>/dev/null || true
}
send_raw "$port" 'hello world\r\n\r\n' "$PVM_TMP/garbage.txt"
grep -qE '^HTTP/1\.[01] 400' "$PVM_TMP/garbage.txt" || pvm_fail "garbage request: no 400" "$PVM_TMP/garbage.txt"
send_raw "$port" 'DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n' "$PVM_TMP/delete.txt"
grep -qE '^HTTP/1\.[01] 405' "$PVM_TMP/delete.txt" || pvm_fail "DELETE: no 405" "$PVM_TMP/delete.txt"
timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; head -c 3000 /dev/urandom >&3; printf "\r\n\r\n" >&3; cat <&3' _ "$port" \
	>"$PVM_TMP/noise.txt" 2>/dev/null || true
if [ -s "$PVM_TMP/noise.txt" ]; then
	grep -qaE '^HTTP/1\.[01] 4[0-9][0-9]' "$PVM_TMP/noise.txt" ||
		pvm_fail "binary noise got an answer that is not 4xx" "$PVM_TMP/noise.txt"
fi
pvm_say "garbage: 400; DELETE: 405; binary noise: $(head -n 1 "$PVM_TMP/noise.txt" | tr -d '\r' | grep -a HTTP || echo 'connection closed')"
timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "GET /metrics HTTP/1.1\r\nHost: x\r\n" >&3
	for i in $(seq 2000); do printf "X-Pad-%d: %0100d\r\n" $i 0; done >&3 2>/dev/null; printf "\r\n" >&3; cat <&3' _ "$port" \
	>"$PVM_TMP/huge.txt" 2>/dev/null || true
! grep -q '^HTTP/1\.[01] 200' "$PVM_TMP/huge.txt" || pvm_fail "a 200 KB request was served" "$PVM_TMP/huge.txt"
exec 4<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metr' >&4     # and then nothing: the server must not wait for it
t0=$SECONDS
pvm_http "$port" /metrics "$PVM_TMP/m3" || pvm_fail "scrape beside a stalled client failed"
grep -q '^HTTP/1\.[01] 200' "$PVM_TMP/m3" || pvm_fail "scrape beside a stalled client: not 200" "$PVM_TMP/m3"
[ $((SECONDS - t0)) -le 3 ] || pvm_fail "scrape beside a stalled client took $((SECONDS - t0)) s"
exec 4>&-
# A flood of stalled clients (more than the 16 connections allowed): the
# pager goes on faulting, and the control socket still answers.
stalled=()
for i in $(seq 24); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || break
	printf 'GET /metrics HTTP/1.1\r\nX-Slow: ' >&"$fd" 2>/dev/null || true
	stalled+=("$fd")
done
f1=$(pvm_json_get <("$PVM_POOLVM" stats --json "$name") "d['vms'][0]['pager']['faults']")
sleep 2
f2=$(pvm_json_get <("$PVM_POOLVM" stats --json "$name") "d['vms'][0]['pager']['faults']")
[ "$f2" -gt "$f1" ] || pvm_fail "faults stalled ($f1 -> $f2) while ${#stalled[@]} HTTP clients stalled"
pvm_say "${#stalled[@]} stalled HTTP clients: faults went on ($f1 -> $f2)"
for fd in "${stalled[@]}"; do exec {fd}>&-; done
# Until the server's poll thread has seen those closes, all its connection
# slots are taken and a new client is turned away (reset): the slots must
# come back within a few seconds, not at once.
for i in $(seq 20); do
	pvm_http "$port" /nothing "$PVM_TMP/404.txt" 2>/dev/null || true
	[ -s "$PVM_TMP/404.txt" ] && break
	sleep 0.25
done
grep -q '^HTTP/1\.[01] 404' "$PVM_TMP/404.txt" || pvm_fail "unknown path: no 404" "$PVM_TMP/404.txt"
# the control socket too: garbage gets a JSON error
printf 'garbage\n' | timeout 5 python3 -c '
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); print(s.makefile().read())' "$sock" \
	>"$PVM_TMP/ctl-garbage.txt" || pvm_fail "control socket: no answer to garbage"
grep -q '"error"' "$PVM_TMP/ctl-garbage.txt" || pvm_fail "control socket: no error for garbage" "$PVM_TMP/ctl-garbage.txt"

# The guest still verifies; after exit the socket is gone.
rc=0
wait "$PVM_POOLVM_PID" || rc=$?
PVM_POOLVM_PID=
pvm_log_text "$log" | grep -E '^(pvm-memtest|poolvm-guest):' || true
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
[ "$(pvm_count "$log" '^pvm-memtest: mode=seq .* mismatches=0 .*verdict=PASS')" = 1 ] ||
	pvm_fail "no 'mismatches=0 ... verdict=PASS' line from pvm-memtest" "$log"
pvm_check_healthy_stats "$stats"
[ ! -e "$sock" ] || pvm_fail "control socket $sock still exists after poolvm exited"
"$PVM_POOLVM" stats --json >"$PVM_TMP/stats-after.json" || pvm_fail "poolvm stats --json failed after exit"
[ "$(pvm_json_get "$PVM_TMP/stats-after.json" "len(d['vms'])")" = 0 ] ||
	pvm_fail "poolvm stats still lists a VM after exit" "$PVM_TMP/stats-after.json"
pvm_pass "live counters grew, histograms well formed, stats/top saw $name, hostile HTTP survived, memtest verified"
