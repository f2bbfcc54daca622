#!/bin/bash
# tests/etcd/pod_drain.sh [options] — a pod found in etcd is stopped
# cleanly (SIGTERM) while a guest uses it.
#
# Pass: the pod announces "draining" in the registry; the VMM reserves
# again on the other pods but keeps reading the draining pod while it
# moves its pages off (drained > 0, never "treating it as lost" while the
# pod still held pages); the pod exits 0 after the drain and leaves the
# registry at once (lease revoked, no TTL wait); the memtest verifies.
set -euo pipefail
PVM_TEST_NAME=etcd_pod_drain
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ET_TTL=10
et_init "$@"
pvm_require_guest
et_start_etcd
for i in 1 2 3; do
	et_start_pod "$i" 320M --drain-timeout 60
done

et_run_guest "etcd://${ET_URL#http://}" 20
et_find_victim
sleep 2
# The key's history is read back from etcd after the drain (a watch from
# the revision before the SIGTERM), so a drain shorter than any polling
# interval is still seen.
key=$(sed -n 's/^poolvm: registry: pod .* registered as \([^ ]*\) in etcd .*/\1/p' "$PVM_TMP/pod$n.log" | head -n 1)
[ -n "$key" ] || pvm_fail "no 'registered as KEY' line from pod $n" "$PVM_TMP/pod$n.log"
rev=$(ETCDCTL_API=3 etcdctl --endpoints "$ET_URL" get "$key" -w json |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["header"]["revision"])') ||
	pvm_fail "etcdctl get $key failed"
pvm_say "SIGTERM pod $n ($victim, $key at revision $rev)"
kill -TERM "${ET_POD_PID[$n]}"
t0=$SECONDS
pvm_wait_gone "${ET_POD_PID[$n]}" 90 || pvm_fail "the pod did not finish its drain" "$PVM_TMP/pod$n.log"
# A watch replays the history, then waits for more: timeout ends it.
timeout 5 env ETCDCTL_API=3 etcdctl --endpoints "$ET_URL" watch --rev=$((rev + 1)) "$key" \
	>"$PVM_TMP/history.txt" 2>&1 || true
python3 -c '
import json, sys
ev = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line in ("PUT", "DELETE"):
        ev.append([line, None])
    elif line.startswith("{") and ev:
        ev[-1][1] = json.loads(line)
first = next((i for i, (kind, v) in enumerate(ev) if kind == "PUT" and v and v.get("draining")), None)
if first is None:
    sys.exit("no write of the key with draining=true in its history")
if not any(kind == "DELETE" for kind, v in ev[first:]):
    sys.exit("the key was not deleted after the draining write")
' "$PVM_TMP/history.txt" || pvm_fail "the pod never showed as draining in the registry" "$PVM_TMP/history.txt"
prc=0
wait "${ET_POD_PID[$n]}" || prc=$?
[ "$prc" = 0 ] || pvm_fail "the drained pod exited $prc" "$PVM_TMP/pod$n.log"
drained_s=$((SECONDS - t0))
et_listed "$victim" && pvm_fail "the drained pod is still registered after it exited (lease not revoked)"
grep -q 'drained: every client moved its pages' "$PVM_TMP/pod$n.log" ||
	pvm_fail "the pod's drain was cut short, not completed" "$PVM_TMP/pod$n.log"
rc=0
pvm_wait_gone "$PVM_POOLVM_PID" 240 || rc=124
[ "$rc" = 0 ] && { wait "$PVM_POOLVM_PID" || rc=$?; }
PVM_POOLVM_PID=
pvm_log_text "$log" | grep -E '^(pvm-memtest|poolvm-guest|poolvm):' | grep -v 'no room\|could not be written' | tail -n 20 || true
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
[ "$(pvm_count "$log" '^pvm-memtest: mode=seq .* mismatches=0 .*verdict=PASS')" = 1 ] ||
	pvm_fail "no 'mismatches=0 ... verdict=PASS' line from pvm-memtest" "$log"
[ "$(pvm_count "$log" "pod $victim .*is dead")" = 0 ] ||
	pvm_fail "the VMM declared the draining pod dead (its pages lost) instead of moving them" "$log"
summary=$(pvm_log_text "$log" | grep -E '^poolvm: remote tier: slots=' | tail -n 1)
drained=$(echo "$summary" | grep -oE ' drained=[0-9]+' | cut -d= -f2)
lost=$(echo "$summary" | grep -oE ' lost=[0-9]+' | cut -d= -f2)
[ -n "$drained" ] && [ "$drained" -gt 0 ] || pvm_fail "remote tier summary: drained=$drained" "$log"
[ "$lost" = 0 ] || pvm_fail "the remote tier lost pages (lost=$lost)" "$log"
pvm_pass "pod drained in ${drained_s} s: shown draining, $drained pages moved, left the registry at exit, memtest verified"
