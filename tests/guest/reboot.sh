#!/bin/bash
# tests/guest/reboot.sh — a guest reset under paging. The guest (see
# guest-reboot.sh) verifies 300 MiB, reboots with reboot -f, and verifies
# 300 MiB again with another seed in the same QEMU and pager, then powers
# off.
#
# Pass: two boots (pvm-bootcount boot=1 then boot=2), two memtest PASS
# lines, exit 0 from the guest and poolvm, stats with evictions and
# refaults, tier file removed.
set -euo pipefail
PVM_TEST_NAME=reboot
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pvm_init "$@"
pvm_require_guest

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
img=$PVM_TMP/image
pvm_build_image "$img" --name reboot \
	--add "$here/guest-reboot.sh:/usr/lib/poolvm-tests/reboot.sh" \
	>"$PVM_TMP/build.log" 2>&1 || pvm_fail "building the test image failed" "$PVM_TMP/build.log"

log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
tier=$PVM_TMP/guest.pages
rc=0
pvm_run_guest "$log" 300 --mem 512M --local 128M --tier "disk:$tier" \
	--kernel "$img/vmlinux" --initrd "$img/reboot.cpio.gz" --stats-json "$stats" \
	--append 'console=ttyS0 quiet pvm_run="sh /usr/lib/poolvm-tests/reboot.sh"' || rc=$?
pvm_log_text "$log" | grep -E '^(pvm-|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?:)' || true

[ "$rc" != 124 ] && [ "$rc" != 137 ] || pvm_fail "timed out after 300 s" "$log"
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: booted')" = 2 ] || pvm_fail "expected exactly two boots" "$log"
[ "$(pvm_count "$log" '^pvm-bootcount: boot=1$')" = 1 ] &&
[ "$(pvm_count "$log" '^pvm-bootcount: boot=2$')" = 1 ] ||
	pvm_fail "expected boot=1 then boot=2 from pvm-bootcount" "$log"
[ "$(pvm_count "$log" '^pvm-memtest: mode=seq .*seed=1 .*mismatches=0 .*verdict=PASS')" = 1 ] ||
	pvm_fail "boot 1: no PASS from pvm-memtest seq" "$log"
[ "$(pvm_count "$log" '^pvm-memtest: mode=random .*seed=2 .*mismatches=0 .*verdict=PASS')" = 1 ] ||
	pvm_fail "boot 2: no PASS from pvm-memtest random" "$log"
[ "$(pvm_count "$log" 'verdict=FAIL|first_mismatch')" = 0 ] || pvm_fail "memtest reported corruption" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: exit=0$')" = 1 ] || pvm_fail "boot 2 did not exit 0" "$log"
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions refaults
[ ! -e "$tier" ] || pvm_fail "tier file $tier still exists after poolvm exited"
pvm_pass "two boots in one paged QEMU, both verified"
