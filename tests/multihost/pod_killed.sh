#!/bin/bash
# tests/multihost/pod_killed.sh [options] — kill -9 one of three pods while
# the guest runs (seq, 4 passes over 300 MiB, replicas 2).
#
# Pass: the guest finishes with zero mismatches and exits 0, the tier
# declared the pod dead, rebuilt the lost replicas on the other pods
# ("replicas rebuilt", rebuilds>0 in its summary) and lost no page.
set -euo pipefail
PVM_TEST_NAME=mh_pod_killed
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mh_init "$@"
mh_memtest_start 2
pvm_say "kill -9 pod 2 ($(mh_pod_addr 2))"
mh_kill_pod 2 KILL
mh_memtest_finish
[ "$(pvm_count "$log" "pod $(mh_pod_addr 2).* is dead")" -ge 1 ] ||
	pvm_fail "the tier never declared pod 2 dead" "$log"
[ "$(pvm_count "$log" 'replicas rebuilt or moved')" -ge 1 ] || pvm_fail "no rebuild reported" "$log"
v=$(mh_summary_num "$log" rebuilds)
[ -n "$v" ] && [ "$v" -gt 0 ] || pvm_fail "remote tier summary: rebuilds=$v" "$log"
[ "$(mh_summary_num "$log" lost)" = 0 ] || pvm_fail "the remote tier lost pages" "$log"
pvm_pass "pod killed mid-run: $v replicas rebuilt, guest verified; fault $(mh_fault_latency "$log")"
