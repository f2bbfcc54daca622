#!/bin/bash
# tests/guest/memtest.sh MODE [lib.sh options] — a 512 MiB guest kept to
# 128 MiB resident, the rest in a disk tier, runs pvm-memtest MODE over
# 300 MiB (every word written and verified).
#
# Pass: the verdict line says mismatches=0 verdict=PASS, the guest and
# poolvm exit 0, the stats JSON shows evictions and refaults from the tier
# (so the test really paged), and the tier file is gone after exit.
set -euo pipefail
mode=${1:?usage: memtest.sh seq|random|hotcold [options]}
shift
PVM_TEST_NAME=memtest_$mode
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pvm_init "$@"
pvm_require_guest

log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
tier=$PVM_TMP/guest.pages
rc=0
pvm_run_guest "$log" 300 --mem 512M --local 128M --tier "disk:$tier" \
	--kernel "$PVM_KERNEL" --initrd "$PVM_INITRD" --stats-json "$stats" \
	--append "console=ttyS0 quiet pvm_run=\"pvm-memtest $mode --size 300\"" || rc=$?
pvm_log_text "$log" | grep -E '^(pvm-memtest|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?):' || true

[ "$rc" != 124 ] && [ "$rc" != 137 ] || pvm_fail "timed out after 300 s" "$log"
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: booted')" = 1 ] || pvm_fail "guest did not boot once" "$log"
[ "$(pvm_count "$log" "^pvm-memtest: mode=$mode .* mismatches=0 .*verdict=PASS")" = 1 ] ||
	pvm_fail "no 'mismatches=0 ... verdict=PASS' line from pvm-memtest $mode" "$log"
[ "$(pvm_count "$log" 'verdict=FAIL|first_mismatch')" = 0 ] || pvm_fail "memtest reported corruption" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: exit=0$')" = 1 ] || pvm_fail "guest workload did not exit 0" "$log"
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions refaults writebacks
[ ! -e "$tier" ] || pvm_fail "tier file $tier still exists after poolvm exited"
pvm_pass "300 MiB verified through a 128 MiB resident limit"
