#!/bin/bash
# tests/etcd/register.sh [options] — pods register in a real etcd with
# their capacity, leave it at once on SIGTERM (lease revoked) and within
# the TTL after kill -9 (lease expired).
#
# Pass: `poolvm registry ls --json` lists both pods with the address, fabric
# and total/free capacity they serve; the SIGTERM'd pod is gone within 2 s;
# the killed pod is still listed right after the kill and gone within
# TTL + 3 s.
set -euo pipefail
PVM_TEST_NAME=etcd_register
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ET_TTL=3
et_init "$@"
et_start_etcd
et_start_pod 1 128M
et_start_pod 2 64M
a1=${ET_POD_ADDR[1]} a2=${ET_POD_ADDR[2]}

et_registry ls
pods=$(et_json_pods)
echo "$pods" | grep -qx "$a1 134217728 134217728 0" || pvm_fail "pod 1 ($a1) not listed with 128 MiB total and free: $pods"
echo "$pods" | grep -qx "$a2 67108864 67108864 0" || pvm_fail "pod 2 ($a2) not listed with 64 MiB total and free: $pods"
et_registry ls --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
for p in v["pods"]:
    assert p["fabric"] == "tcp", p
    assert p["pod_id"] in ("pod1", "pod2"), p
    assert p["version"], p
    assert p["started"] > 1600000000, p
    assert p["draining"] is False, p
assert v["malformed"] == 0
' || pvm_fail "pod entries lack fabric, pod_id, version or start time"

# Clean shutdown: the lease is revoked, the key goes at once.
kill -TERM "${ET_POD_PID[2]}"
et_wait_unlisted "$a2" 2 || pvm_fail "pod 2 still listed 2 s after SIGTERM" "$PVM_TMP/pod2.log"
wait "${ET_POD_PID[2]}" || pvm_fail "pod 2 did not exit 0 after SIGTERM" "$PVM_TMP/pod2.log"
grep -q 'left the registry' "$PVM_TMP/pod2.log" || pvm_fail "pod 2 did not say it left" "$PVM_TMP/pod2.log"

# Crash: nobody renews the lease; etcd drops the key after the TTL.
t0=$SECONDS
kill -KILL "${ET_POD_PID[1]}"
wait "${ET_POD_PID[1]}" 2>/dev/null || true
et_listed "$a1" || pvm_fail "pod 1 vanished at once after kill -9 (its lease should outlive it)"
et_wait_unlisted "$a1" $((ET_TTL + 3)) || pvm_fail "pod 1 still listed $((ET_TTL + 3)) s after kill -9 (TTL $ET_TTL s)"
pvm_pass "2 pods listed with their capacity; SIGTERM left at once; kill -9 left after $((SECONDS - t0)) s (TTL $ET_TTL s)"
