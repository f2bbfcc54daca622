#!/bin/bash
# tests/metrics/metrics_remote.sh [lib.sh options] — metrics of the remote
# tier and of the pods it uses: three pods on this host (tcp fabric, each with
# --metrics), a 256 MiB TCG guest kept to 64 MiB resident whose other pages
# go to the pods with 2 replicas, running pvm-memtest seq. During the run the
# VM's /metrics shows the pods up, 2 replicas wanted, remote pages and RMA
# operations; each pod's /metrics shows the VM as a client with leased memory;
# `poolvm top -b` shows the VM's remote pages and the pods' clients. Then a
# pod holding pages is killed: /metrics shows it dead and replicas rebuilt.
# The memtest verifies.
set -euo pipefail
PVM_TEST_NAME=metrics_remote
. "$(dirname "${BASH_SOURCE[0]}")/../guest/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lib_metrics.sh"
pvm_init "$@"
pvm_require_guest
command -v python3 >/dev/null || pvm_skip "python3 is needed to read JSON"
run_help=$("$PVM_POOLVM" run --help 2>&1 || true)
grep -q -- '--pod HOST:PORT' <<<"$run_help" ||
	pvm_skip "this poolvm run has no --pod option"

export POOLVM_RUN_DIR=$PVM_TMP/run
secret=$PVM_TMP/secret
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret"
chmod 600 "$secret"
pod_pids=()
stop_pods() {
	local p
	for p in "${pod_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${pod_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pod_pids=()
}
trap 'rc=$?; stop_pods; pvm_cleanup $rc' EXIT

pod_addr=() pod_port=()
for i in 1 2 3; do
	"$PVM_POOLVM" pod --memory 256M --listen 127.0.0.1:0 --fabric tcp --secret-file "$secret" \
		--name "rpod$i" --pod-id "rpod$i" --metrics 127.0.0.1:0 >"$PVM_TMP/pod$i.log" 2>&1 </dev/null &
	pod_pids+=("$!")
done
for i in 1 2 3; do
	for _ in $(seq 100); do
		grep -q '^poolvm pod: serving' "$PVM_TMP/pod$i.log" && break
		sleep 0.1
	done
	a=$(sed -n 's/^poolvm pod: serving .* on \([^ ]*\) (.*/\1/p' "$PVM_TMP/pod$i.log")
	p=$(sed -n 's/.*metrics on http:.*(port \([0-9][0-9]*\)).*/\1/p' "$PVM_TMP/pod$i.log")
	[ -n "$a" ] && [ -n "$p" ] || pvm_fail "pod $i did not start" "$PVM_TMP/pod$i.log"
	pod_addr+=("$a")
	pod_port+=("$p")
done
pvm_say "pods at ${pod_addr[*]}, metrics ports ${pod_port[*]}"

log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
name=rvm-$$
pvm_start_guest "$log" --name "$name" --metrics 127.0.0.1:0 \
	--mem 256M --local 64M --pod "${pod_addr[0]}" --pod "${pod_addr[1]}" --pod "${pod_addr[2]}" \
	--secret-file "$secret" --replicas 2 --fabric tcp --tier remote \
	--kernel "$PVM_KERNEL" --initrd "$PVM_INITRD" --stats-json "$stats" \
	--append "console=ttyS0 quiet pvm_run=\"pvm-memtest seq --size 150 --passes 16\""
pvm_wait_log "$log" 'metrics: http://.*\(port [0-9]+\)' 60 || pvm_fail "no metrics line" "$log"
port=$(pvm_log_text "$log" | sed -n 's/.*metrics: http:.*(port \([0-9][0-9]*\)).*/\1/p' | head -n 1)
pvm_wait_log "$log" '^pvm-memtest: start' 120 || pvm_fail "memtest did not start" "$log"
sleep 3

m=$PVM_TMP/vm.metrics
pvm_http "$port" /metrics "$m" || pvm_fail "VM scrape failed"
t="vm=\"$name\",tier=\"remote\""
v() { pvm_metric "$m" "$1"; }
[ "$(v "poolvm_remote_pods{$t,state=\"up\"}")" = 3 ] || pvm_fail "not 3 pods up" "$m"
[ "$(v "poolvm_remote_replicas_wanted{$t}")" = 2 ] || pvm_fail "replicas wanted is not 2" "$m"
[ "$(v "poolvm_remote_pages{$t}")" -gt 0 ] || pvm_fail "no remote pages" "$m"
[ "$(v "poolvm_remote_pages_unreplicated{$t}")" = 0 ] || pvm_fail "unreplicated pages" "$m"
[ -n "$(v "poolvm_remote_pages_degraded{$t}")" ] || pvm_fail "no degraded-pages gauge" "$m"
[ "$(v "poolvm_refaults_total{$t}")" -gt 0 ] || pvm_fail "no refaults from the remote tier" "$m"
w=$(v "poolvm_remote_pod_rma_ops_total{$t,pod=\"${pod_addr[0]}\",op=\"write\"}")
[ -n "$w" ] && [ "$w" -gt 0 ] || pvm_fail "no RMA writes to pod 1" "$m"
[ "$(v "poolvm_remote_pod_up{$t,pod=\"${pod_addr[1]}\"}")" = 1 ] || pvm_fail "pod 2 not up" "$m"
pvm_check_histograms "$m" poolvm_fault_latency_seconds
c=$(v "poolvm_fault_latency_seconds_count{vm=\"$name\",kind=\"refault\",tier=\"remote\"}")
[ -n "$c" ] && [ "$c" -gt 0 ] || pvm_fail "no remote refault latencies" "$m"
pvm_say "VM: 3 pods up, $(v "poolvm_remote_pages{$t}") remote pages, $c remote refaults timed"
for i in 0 1; do
	pm=$PVM_TMP/pod$i.metrics
	pvm_http "${pod_port[$i]}" /metrics "$pm" || pvm_fail "pod $((i + 1)) scrape failed"
	# (a VMM may hold more than one connection to a pod)
	[ "$(pvm_metric "$pm" "poolvm_pod_clients{pod=\"rpod$((i + 1))\"}")" -ge 1 ] ||
		pvm_fail "pod $((i + 1)): no client" "$pm"
	grep -qE "^poolvm_pod_client_leased_bytes\\{pod=\"rpod$((i + 1))\",client=\"[^\"]+\"\\} [1-9]" "$pm" ||
		pvm_fail "pod $((i + 1)): no client holds a lease" "$pm"
	[ "$(pvm_metric "$pm" "poolvm_pod_leased_bytes{pod=\"rpod$((i + 1))\"}")" -gt 0 ] ||
		pvm_fail "pod $((i + 1)): nothing leased" "$pm"
done
"$PVM_POOLVM" top -b -n 1 >"$PVM_TMP/top.txt" || pvm_fail "poolvm top -b failed"
cat "$PVM_TMP/top.txt"
awk -v n="$name" '$1 == n && $5 != "0" { ok = 1 } END { exit !ok }' "$PVM_TMP/top.txt" ||
	pvm_fail "top: no remote pages for $name" "$PVM_TMP/top.txt"
[ "$(awk '$1 ~ /^rpod[123]$/ && $5 >= 1 && $6 >= 1' "$PVM_TMP/top.txt" | wc -l)" -ge 2 ] ||
	pvm_fail "top: pods without their client" "$PVM_TMP/top.txt"

# Replica health: kill a pod that holds pages; the VM's metrics see it dead
# and its replicas rebuilt on the others.
victim=
for i in 0 1 2; do
	[ "$(v "poolvm_remote_pod_pages{$t,pod=\"${pod_addr[$i]}\"}")" -gt 0 ] && { victim=$i; break; }
done
[ -n "$victim" ] || pvm_fail "no pod holds pages" "$m"
kill -KILL "${pod_pids[$victim]}"
pvm_say "killed pod $((victim + 1)) (${pod_addr[$victim]})"
ok=
for _ in $(seq 60); do
	pvm_alive "$PVM_POOLVM_PID" || break
	pvm_http "$port" /metrics "$m" || break
	if [ "$(v "poolvm_remote_pods{$t,state=\"dead\"}")" = 1 ] &&
	   [ "$(v "poolvm_remote_pod_up{$t,pod=\"${pod_addr[$victim]}\"}")" = 0 ] &&
	   [ "$(v "poolvm_remote_rebuilds_total{$t}")" -gt 0 ]; then
		ok=1
		break
	fi
	sleep 0.5
done
[ -n "$ok" ] || pvm_fail "the dead pod and rebuilds did not show in /metrics" "$m"
pvm_say "after the kill: dead=1, rebuilds=$(v "poolvm_remote_rebuilds_total{$t}"), degraded=$(v "poolvm_remote_pages_degraded{$t}"), unreplicated=$(v "poolvm_remote_pages_unreplicated{$t}")"

rc=0
wait "$PVM_POOLVM_PID" || rc=$?
PVM_POOLVM_PID=
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
[ "$(pvm_count "$log" '^pvm-memtest: mode=seq .* mismatches=0 .*verdict=PASS')" = 1 ] ||
	pvm_fail "no 'mismatches=0 ... verdict=PASS' line from pvm-memtest" "$log"
pvm_check_healthy_stats "$stats"
pvm_pass "remote tier and pod metrics live, a killed pod seen dead and rebuilt around; memtest verified"
