#!/bin/bash
# tests/multihost/link_cut.sh [options] — cut one pod's link for 10 s while
# the guest runs (seq, 4 passes over 300 MiB, replicas 2), then restore it.
#
# Pass: the guest finishes with zero mismatches and exits 0; the tier
# declared the cut-off pod dead and rebuilt its replicas elsewhere; only a
# few faults (those on that pod's pages, before it was declared dead)
# waited long; the pod is reconnected once the link is back.
set -euo pipefail
PVM_TEST_NAME=mh_link_cut
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mh_init "$@"
mh_memtest_start 3
pvm_say "link of pod 3 down for 10 s"
mh_link pod3 down
sleep 10
mh_link pod3 up
pvm_say "link of pod 3 up"
mh_memtest_finish
[ "$(pvm_count "$log" "pod $(mh_pod_addr 3).* is dead")" -ge 1 ] ||
	pvm_fail "the tier never noticed the cut" "$log"
[ "$(mh_summary_num "$log" lost)" = 0 ] || pvm_fail "the remote tier lost pages" "$log"
slow=$(mh_slow_faults "$stats")
faults=$(pvm_json_num "$stats" faults)
up=$(pvm_count "$log" "pod $(mh_pod_addr 3).* is up again")
pvm_pass "10 s cut: $slow of $faults faults waited >= 0.5 s, rebuilds=$(mh_summary_num "$log" rebuilds), reconnected=$up; fault $(mh_fault_latency "$log")"
