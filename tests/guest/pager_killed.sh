#!/bin/bash
# tests/guest/pager_killed.sh — fail-stop when the pager dies. A guest runs
# a long random workload under a 128 MiB resident limit; once it is paging,
# poolvm (the pager) gets SIGKILL. QEMU's preloaded library sees the
# pager's socket close and kills QEMU, so the guest never runs on a page
# that nobody can bring back.
#
# Pass: QEMU is gone within 10 s of the kill, the library said
# "the pager serving this guest's memory is gone", the workload printed no
# verdict after the kill, and no corruption was reported at all.
set -euo pipefail
PVM_TEST_NAME=pager_killed
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pvm_init "$@"
pvm_require_guest

log=$PVM_TMP/console.log
tier=$PVM_TMP/guest.pages
# ~50M page accesses take minutes even without paging: it cannot finish.
pvm_start_guest "$log" --mem 512M --local 128M --tier "disk:$tier" \
	--kernel "$PVM_KERNEL" --initrd "$PVM_INITRD" \
	--append 'console=ttyS0 quiet pvm_run="pvm-memtest random --size 300 --ops 50000000"'
pvm_wait_log "$log" '^pvm-memtest: start ' 120 || pvm_fail "workload did not start" "$log"
qemu=$(pvm_qemu_pid "$log")
[ -n "$qemu" ] || pvm_fail "poolvm did not report the QEMU pid" "$log"
# The fill alone is 300 MiB against 128 MiB resident: after a few seconds
# pages have gone to the tier and come back.
sleep 4
pvm_alive "$PVM_POOLVM_PID" || pvm_fail "poolvm ended before the kill" "$log"
[ "$(pvm_count "$log" 'verdict=')" = 0 ] || pvm_fail "workload finished before the kill" "$log"
[ -s "$tier" ] || pvm_fail "nothing was written to the tier before the kill" "$log"

before=$(wc -c <"$log")
pvm_say "kill -9 poolvm (pid $PVM_POOLVM_PID); QEMU is pid $qemu"
kill -KILL "$PVM_POOLVM_PID"
rc=0
wait "$PVM_POOLVM_PID" || rc=$?
PVM_POOLVM_PID=
[ "$rc" = 137 ] || pvm_fail "poolvm ended with $rc, not by SIGKILL" "$log"
start=$SECONDS
if ! pvm_wait_gone "$qemu" 10; then
	kill -KILL "$qemu" 2>/dev/null || true
	pvm_fail "QEMU (pid $qemu) still running 10 s after the pager died" "$log"
fi
pvm_say "QEMU gone $((SECONDS - start)) s after the kill"
sleep 0.5
pvm_log_text "$log" | grep -E '^(pvm-|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?:)' || true

pvm_log_text "$log" | grep -qE "^poolvm-preload\[$qemu\]: the pager serving this guest's memory is gone" ||
	pvm_fail "no 'pager ... is gone' message from the preload library" "$log"
after=$(tail -c +"$((before + 1))" "$log" | tr -d '\r')
! grep -qE 'verdict=|poolvm-guest: exit=' <<<"$after" ||
	pvm_fail "the workload went on after the pager died" "$log"
[ "$(pvm_count "$log" 'verdict=FAIL|first_mismatch')" = 0 ] || pvm_fail "memtest reported corruption" "$log"
pvm_pass "QEMU stopped when its pager died"
