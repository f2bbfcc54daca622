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

pvm_memtest_run "$mode" 300 512M 128M
[ "$(pvm_count "$log" '^poolvm-guest: booted')" = 1 ] || pvm_fail "guest did not boot once" "$log"
[ "$(pvm_count "$log" 'verdict=FAIL|first_mismatch')" = 0 ] || pvm_fail "memtest reported corruption" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: exit=0$')" = 1 ] || pvm_fail "guest workload did not exit 0" "$log"
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions refaults writebacks
[ ! -e "$tier" ] || pvm_fail "tier file $tier still exists after poolvm exited"
pvm_pass "300 MiB verified through a 128 MiB resident limit"
