#!/bin/bash
# tests/multihost/garbage.sh [options] — a hostile client in the VMM's
# namespace sends pod 1 malformed control messages (bad magic, truncated,
# wrong length, version, type, flags, bad strings, requests before
# authentication, random bytes) and junk on a plain TCP connection.
#
# Pass: pod 1 is still running, logged a clear rejection, counted the bad
# messages, holds no lease and no memory for anyone; then the remote tier
# stores and loads 2048 pages over the three pods correctly (mh_tool
# roundtrip), which also prints the tier's load latency across namespaces.
set -euo pipefail
PVM_TEST_NAME=mh_garbage
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mh_init "$@"
[ -x "$MH_TOOL" ] || pvm_fail "mh_tool missing (--mh-tool)"
mh_net_up
mh_start_pods
sleep 1.5
total=$(mh_json_num "$PVM_TMP/pod1.json" total)
ip netns exec "$(mh_ns vmm)" "$MH_TOOL" garbage "$(mh_pod_addr 1)" "$MH_VMM_ADDR" ||
	pvm_fail "mh_tool garbage could not send" "$PVM_TMP/pod1.log"
sleep 2.5
pvm_alive "${MH_POD_PIDS[1]}" || pvm_fail "pod 1 died from garbage" "$PVM_TMP/pod1.log"
grep -E 'rejected a message' "$PVM_TMP/pod1.log" | head -n 20 || true
[ "$(grep -cE 'rejected a message' "$PVM_TMP/pod1.log")" -ge 1 ] ||
	pvm_fail "pod 1 logged no rejection" "$PVM_TMP/pod1.log"
rejected=$(mh_json_num "$PVM_TMP/pod1.json" rejected)
[ "${rejected:-0}" -ge 1 ] || pvm_fail "pod 1 counted no rejected message" "$PVM_TMP/pod1.json"
[ "$(mh_json_num "$PVM_TMP/pod1.json" alive)" = 0 ] || pvm_fail "pod 1 holds a lease" "$PVM_TMP/pod1.json"
[ "$(mh_json_num "$PVM_TMP/pod1.json" free)" = "$total" ] ||
	pvm_fail "pod 1's free memory changed" "$PVM_TMP/pod1.json"
spec="remote:pods=$(mh_pod_addr 1)+$(mh_pod_addr 2)+$(mh_pod_addr 3),replicas=2,secret=$MH_SECRET,fabric=tcp"
out=$(ip netns exec "$(mh_ns vmm)" "$MH_TOOL" roundtrip "$spec" 2048 2>"$PVM_TMP/rt.err") ||
	pvm_fail "the pods no longer serve: $out" "$PVM_TMP/rt.err"
pvm_say "$out"
pvm_pass "$rejected messages rejected, pod unchanged and serving"
