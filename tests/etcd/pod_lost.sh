#!/bin/bash
# tests/etcd/pod_lost.sh [options] — a guest whose remote tier finds its
# pods in etcd; one pod is killed with -9 mid-run.
#
# Three pods on 127.0.0.1 register in a real etcd (TTL 4 s); `poolvm run
# --tier remote --registry etcd://...` reserves --mem x 2 replicas there
# and runs pvm-memtest seq over 160 MiB with 64 MiB resident. Once a pod
# holds leases it is killed with -9.
# Pass: the VMM's reservations and the pods' changing free capacity show in
# the registry while it runs; the killed pod leaves the registry within
# TTL + 3 s; the VMM says it left and treats it as lost, reserves again on
# the two pods left, rebuilds the lost replicas there (rebuilds > 0, lost
# 0), and the memtest verifies with zero mismatches; after the VMM exits
# its reservations are gone.
set -euo pipefail
PVM_TEST_NAME=etcd_pod_lost
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ET_TTL=4
et_init "$@"
pvm_require_guest
et_start_etcd
for i in 1 2 3; do
	et_start_pod "$i" 320M
done
prefix=/poolvm

et_run_guest "etcd://${ET_URL#http://}$prefix" 24
# A pod that holds leases: its free capacity in the registry went down.
et_find_victim
et_registry ls
nres=$(et_registry ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["reservations"]))')
[ "$nres" -ge 2 ] || pvm_fail "the VMM holds $nres reservations (want at least 2 pods)" "$log"
sleep 2
pvm_say "kill -9 pod $n ($victim)"
t0=$SECONDS
kill -KILL "${ET_POD_PID[$n]}"
wait "${ET_POD_PID[$n]}" 2>/dev/null || true
et_wait_unlisted "$victim" $((ET_TTL + 3)) ||
	pvm_fail "the killed pod is still registered $((ET_TTL + 3)) s later" "$log"
gone=$((SECONDS - t0))
pvm_wait_log "$log" "pod $victim left the registry" 20 ||
	pvm_fail "the VMM never said the pod left the registry (or the guest finished first)" "$log"
reacted=$((SECONDS - t0))
rc=0
pvm_wait_gone "$PVM_POOLVM_PID" 240 || rc=124
[ "$rc" = 0 ] && { wait "$PVM_POOLVM_PID" || rc=$?; }
PVM_POOLVM_PID=
pvm_log_text "$log" | grep -E '^(pvm-memtest|poolvm-guest|poolvm):' | grep -v 'no room\|could not be written' | tail -n 30 || true

[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: booted')" = 1 ] || pvm_fail "guest did not boot once" "$log"
[ "$(pvm_count "$log" '^pvm-memtest: mode=seq .* mismatches=0 .*verdict=PASS')" = 1 ] ||
	pvm_fail "no 'mismatches=0 ... verdict=PASS' line from pvm-memtest" "$log"
[ "$(pvm_count "$log" 'verdict=FAIL|first_mismatch')" = 0 ] || pvm_fail "memtest reported corruption" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: exit=0$')" = 1 ] || pvm_fail "guest workload did not exit 0" "$log"
[ "$(pvm_count "$log" 'reserving again on the pods that remain')" -ge 1 ] ||
	pvm_fail "the VMM did not reserve again after the pod left" "$log"
[ "$(pvm_count "$log" 'replicas rebuilt or moved')" -ge 1 ] || pvm_fail "no rebuild reported" "$log"
summary=$(pvm_log_text "$log" | grep -E '^poolvm: remote tier: slots=' | tail -n 1)
rebuilds=$(echo "$summary" | grep -oE ' rebuilds=[0-9]+' | cut -d= -f2)
lost=$(echo "$summary" | grep -oE ' lost=[0-9]+' | cut -d= -f2)
[ -n "$rebuilds" ] && [ "$rebuilds" -gt 0 ] || pvm_fail "remote tier summary: rebuilds=$rebuilds" "$log"
[ "$lost" = 0 ] || pvm_fail "the remote tier lost pages (lost=$lost)" "$log"
# The VMM revoked its lease at exit: no reservation is left.
nres=$(et_registry ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["reservations"]))')
[ "$nres" = 0 ] || { et_registry ls; pvm_fail "$nres reservations outlived the VMM"; }
pvm_pass "pod killed: left the registry after ${gone} s (TTL $ET_TTL s), VMM reacted after ${reacted} s, $rebuilds replicas rebuilt, memtest verified"
