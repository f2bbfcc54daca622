#!/bin/bash
# tests/guest/sigterm.sh — clean shutdown. A paging guest is running when
# poolvm gets SIGTERM; poolvm asks QEMU to quit and exits.
#
# Pass: poolvm exits 0 within 20 s, QEMU is gone, the stats JSON is written
# (exit_code 0, evictions > 0) and the tier file is removed.
set -euo pipefail
PVM_TEST_NAME=sigterm
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pvm_init "$@"
pvm_require_guest

log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
tier=$PVM_TMP/guest.pages
pvm_start_guest "$log" --mem 512M --local 128M --tier "disk:$tier" \
	--kernel "$PVM_KERNEL" --initrd "$PVM_INITRD" --stats-json "$stats" \
	--append 'console=ttyS0 quiet pvm_run="pvm-memtest random --size 300 --ops 50000000"'
pvm_wait_log "$log" '^pvm-memtest: start ' 120 || pvm_fail "workload did not start" "$log"
qemu=$(pvm_qemu_pid "$log")
[ -n "$qemu" ] || pvm_fail "poolvm did not report the QEMU pid" "$log"
sleep 3
pvm_alive "$PVM_POOLVM_PID" || pvm_fail "poolvm ended before SIGTERM" "$log"

pvm_say "kill -TERM poolvm (pid $PVM_POOLVM_PID)"
kill -TERM "$PVM_POOLVM_PID"
start=$SECONDS
pvm_wait_gone "$PVM_POOLVM_PID" 20 || pvm_fail "poolvm still running 20 s after SIGTERM" "$log"
rc=0
wait "$PVM_POOLVM_PID" || rc=$?
PVM_POOLVM_PID=
pvm_say "poolvm exited with $rc, $((SECONDS - start)) s after SIGTERM"
pvm_log_text "$log" | grep -E '^(pvm-|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?:)' || true

[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc after SIGTERM, expected 0" "$log"
pvm_wait_gone "$qemu" 5 || pvm_fail "QEMU (pid $qemu) still running after poolvm exited" "$log"
[ "$(pvm_count "$log" 'verdict=FAIL|first_mismatch')" = 0 ] || pvm_fail "memtest reported corruption" "$log"
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions
[ ! -e "$tier" ] || pvm_fail "tier file $tier still exists after poolvm exited"
pvm_pass "clean shutdown on SIGTERM"
