#!/bin/bash
# tests/multihost/memtest.sh MODE [options] — a 512 MiB guest kept to
# 128 MiB resident, the rest in a remote tier over three pods (other
# network namespaces, tcp), two replicas per page; pvm-memtest MODE writes
# and verifies 300 MiB.
#
# Pass: mismatches=0 verdict=PASS, guest and poolvm exit 0, the pager
# evicted and refaulted (so pages really went to the pods and came back),
# at least two pods granted leases, and the tier lost nothing.
set -euo pipefail
mode=${1:?usage: memtest.sh seq|random [options]}
shift
PVM_TEST_NAME=mh_memtest_$mode
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mh_init "$@"
pvm_require_guest
mh_net_up
mh_start_pods

log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
mapfile -t tier < <(mh_tier_args)
mapfile -t guest < <(mh_guest_args "$log" "$stats" "pvm-memtest $mode --size 300")
rc=0
mh_run_guest "$log" 300 "${tier[@]}" "${guest[@]}" || rc=$?
pvm_log_text "$log" | grep -E '^(pvm-memtest|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?):' || true

[ "$rc" != 124 ] && [ "$rc" != 137 ] || pvm_fail "timed out after 300 s" "$log"
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
mh_check_memtest "$log" "$mode"
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions refaults writebacks
granted=0
for i in 1 2 3; do
	v=$(mh_json_num "$PVM_TMP/pod$i.json" granted)
	[ -n "$v" ] && [ "$v" -gt 0 ] && granted=$((granted + 1))
done
[ "$granted" -ge 2 ] || pvm_fail "only $granted pods granted leases: pages did not go to the pods" "$log"
[ "$(mh_summary_num "$log" lost)" = 0 ] || pvm_fail "the remote tier lost pages" "$log"
pvm_pass "300 MiB verified through 128 MiB resident + 3 pods x2 replicas; fault $(mh_fault_latency "$log")"
