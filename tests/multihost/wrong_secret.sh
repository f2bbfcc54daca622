#!/bin/bash
# tests/multihost/wrong_secret.sh [options] — poolvm given a secret the pods
# do not share.
#
# Pass: poolvm refuses to start (non-zero exit, no guest boot) with a
# message naming the refusal and the secret file; the pods log the wrong
# MAC, count an auth failure and grant no lease.
set -euo pipefail
PVM_TEST_NAME=mh_wrong_secret
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mh_init "$@"
pvm_require_guest
mh_net_up
mh_start_pods

wrong=$PVM_TMP/wrong.secret
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$wrong"
chmod 600 "$wrong"
log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
mapfile -t tier < <(mh_tier_args "$wrong")
mapfile -t guest < <(mh_guest_args "$log" "$stats" "pvm-memtest seq --size 64")
rc=0
mh_run_guest "$log" 120 "${tier[@]}" "${guest[@]}" || rc=$?
pvm_log_text "$log" | grep -E '^poolvm' || true
[ "$rc" != 124 ] || pvm_fail "poolvm hung instead of refusing" "$log"
[ "$rc" != 0 ] || pvm_fail "poolvm ran with the wrong secret" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: booted')" = 0 ] || pvm_fail "a guest booted" "$log"
[ "$(pvm_count "$log" 'refused')" -ge 1 ] || pvm_fail "no 'refused' in poolvm's message" "$log"
[ "$(pvm_count "$log" "$wrong")" -ge 1 ] || pvm_fail "the message does not name the secret file" "$log"
sleep 1.5   # pods rewrite their stats every second
fails=0
for i in 1 2 3; do
	v=$(mh_json_num "$PVM_TMP/pod$i.json" auth_failures)
	fails=$((fails + ${v:-0}))
	[ "$(mh_json_num "$PVM_TMP/pod$i.json" granted)" = 0 ] || pvm_fail "pod $i granted a lease" "$PVM_TMP/pod$i.json"
done
[ "$fails" -ge 1 ] || pvm_fail "no pod counted an auth failure" "$PVM_TMP/pod1.log"
grep -q 'wrong MAC' "$PVM_TMP"/pod*.log || pvm_fail "no pod logged the wrong MAC" "$PVM_TMP/pod1.log"
pvm_pass "refused: $(pvm_log_text "$log" | grep -m1 refused)"
