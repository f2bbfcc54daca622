#!/bin/bash
# tests/multihost/latency.sh [options] — every pod's link delayed by 1 ms
# (tc netem; where this kernel has no netem, a tbf rate limit of 40 Mbit/s,
# about 0.8 ms per 4 KiB page, stands in and the output says so).
#
# Prints the tier's own latency (mh_tool roundtrip in the VMM namespace:
# one-page and 16-page loads) without and with the delay, then runs the
# guest memtest (seq, 300 MiB) with the delay. Pass: the memtest passes.
set -euo pipefail
PVM_TEST_NAME=mh_latency
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mh_init "$@"
pvm_require_guest
[ -x "$MH_TOOL" ] || pvm_fail "mh_tool missing (--mh-tool)"
command -v tc >/dev/null || pvm_skip "no 'tc' command (apt-get install iproute2)"
mh_net_up
mh_start_pods

spec="remote:pods=$(mh_pod_addr 1)+$(mh_pod_addr 2)+$(mh_pod_addr 3),replicas=2,secret=$MH_SECRET,fabric=tcp"
base=$(ip netns exec "$(mh_ns vmm)" "$MH_TOOL" roundtrip "$spec" 2048 2>"$PVM_TMP/rt0.err") ||
	pvm_fail "roundtrip without delay failed: $base" "$PVM_TMP/rt0.err"
pvm_say "no delay:  $base"
how="netem delay 1ms"
for i in 1 2 3; do
	if ! ip netns exec "$(mh_ns "pod$i")" tc qdisc add dev eth0 root netem delay 1ms 2>"$PVM_TMP/tc.err"; then
		how="tbf rate 40mbit (this kernel has no netem: $(head -n 1 "$PVM_TMP/tc.err"))"
		ip netns exec "$(mh_ns "pod$i")" tc qdisc add dev eth0 root tbf rate 40mbit \
			burst 32kb latency 200ms || pvm_skip "cannot shape traffic here: no netem, no tbf"
	fi
done
pvm_say "pods' egress: $how"
slow=$(ip netns exec "$(mh_ns vmm)" "$MH_TOOL" roundtrip "$spec" 2048 2>"$PVM_TMP/rt1.err") ||
	pvm_fail "roundtrip with delay failed: $slow" "$PVM_TMP/rt1.err"
pvm_say "delayed:   $slow"

log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
mapfile -t tier < <(mh_tier_args)
mapfile -t guest < <(mh_guest_args "$log" "$stats" "pvm-memtest seq --size 300")
rc=0
mh_run_guest "$log" 500 "${tier[@]}" "${guest[@]}" || rc=$?
pvm_log_text "$log" | grep -E '^(pvm-memtest|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?):' || true
[ "$rc" != 124 ] && [ "$rc" != 137 ] || pvm_fail "timed out after 500 s" "$log"
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
mh_check_memtest "$log" seq
pvm_check_healthy_stats "$stats"
pvm_pass "with $how: guest fault $(mh_fault_latency "$log"); tier load1 p50 $(echo "$base" | grep -oE 'load1_p50_us=[0-9.]+' | cut -d= -f2) -> $(echo "$slow" | grep -oE 'load1_p50_us=[0-9.]+' | cut -d= -f2) us"
