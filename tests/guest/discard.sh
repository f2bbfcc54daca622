#!/bin/bash
# tests/guest/discard.sh — free page reporting through virtio-balloon.
# poolvm run --balloon adds virtio-balloon-pci,free-page-reporting=on; the
# guest loads virtio_pci and virtio_balloon, runs pvm-memtest (which frees
# its 300 MiB when it exits) and then idles so the guest kernel reports the
# free 2 MiB blocks (it waits ~2 s before reporting). QEMU discards them
# (MADV_DONTNEED), the pager sees UFFD_EVENT_REMOVE and counts discards.
#
# Pass: memtest PASS, guest and poolvm exit 0, stats "discards" > 0.
# Skip: the kernel's virtio_balloon module cannot be packed or loaded.
set -euo pipefail
PVM_TEST_NAME=discard
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pvm_init "$@"
pvm_require_guest

img=$PVM_TMP/image
pvm_build_image_with_modules "$img" balloon 'virtio_pci virtio_balloon'

# No double quotes inside pvm_run (the kernel cannot carry them).
guest_cmd='pvm-memtest seq --size 300; rc=$?;
if ls /sys/bus/virtio/drivers/virtio_balloon/ 2>/dev/null | grep -q virtio;
then echo pvm-test: balloon=bound; else echo pvm-test: balloon=absent; fi;
sleep 8; exit $rc'
guest_cmd=$(echo "$guest_cmd" | tr '\n' ' ')

log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
tier=$PVM_TMP/guest.pages
rc=0
pvm_run_guest "$log" 300 --balloon --mem 512M --local 128M --tier "disk:$tier" \
	--kernel "$img/vmlinux" --initrd "$img/balloon.cpio.gz" --stats-json "$stats" \
	--append "console=ttyS0 quiet pvm_run=\"$guest_cmd\"" || rc=$?
pvm_log_text "$log" | grep -E '^(pvm-|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?:)' || true

[ "$rc" != 124 ] && [ "$rc" != 137 ] || pvm_fail "timed out after 300 s" "$log"
if [ "$(pvm_count "$log" '^poolvm-guest: insmod .* failed')" != 0 ] ||
   [ "$(pvm_count "$log" '^pvm-test: balloon=absent')" != 0 ]; then
	pvm_skip "the guest could not load virtio_pci/virtio_balloon or bind the balloon device"
fi
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
[ "$(pvm_count "$log" '^pvm-test: balloon=bound')" = 1 ] || pvm_fail "balloon driver state not reported" "$log"
[ "$(pvm_count "$log" '^pvm-memtest: mode=seq .* mismatches=0 .*verdict=PASS')" = 1 ] ||
	pvm_fail "no PASS from pvm-memtest seq" "$log"
[ "$(pvm_count "$log" '^poolvm-guest: exit=0$')" = 1 ] || pvm_fail "guest workload did not exit 0" "$log"
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" discards
[ ! -e "$tier" ] || pvm_fail "tier file $tier still exists after poolvm exited"
pvm_pass "$(pvm_json_num "$stats" discards) pages discarded after free page reporting"
