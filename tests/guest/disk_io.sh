#!/bin/bash
# tests/guest/disk_io.sh — guest disk reads land in guest RAM intact while
# the pager evicts around them.
# A virtio disk holds an ext4 filesystem with 64 MiB of random files and
# their md5 sums. The guest (256 MiB, 40 MiB resident, --policy learned,
# which evicts recently filled pages too) mounts it read-only and checks
# the sums twice, dropping its page cache in between, so that QEMU writes
# freshly read blocks into guest pages the pager is evicting. Regression:
# with cache=none (O_DIRECT) the host kernel DMAed into pinned guest pages
# behind the pager's write protection, and evicted pages came back stale
# ("invalid ELF header" in a Debian guest).
#
# Pass: every md5 matches in both passes, guest and poolvm exit 0.
# Skip: ext4/virtio_blk cannot be packed from the guest kernel's modules,
# or mkfs.ext4 is missing.
set -euo pipefail
PVM_TEST_NAME=disk_io
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pvm_init "$@"
pvm_require_guest
command -v mkfs.ext4 >/dev/null || pvm_skip "mkfs.ext4 is missing (apt-get install e2fsprogs)"

img=$PVM_TMP/image
pvm_build_image_with_modules "$img" disk 'virtio_pci virtio_blk crc32c_generic ext4'

data=$PVM_TMP/data
mkdir -p "$data"
for i in $(seq 16); do
	head -c 4M /dev/urandom >"$data/f$i"
done
(cd "$data" && md5sum f* >SUMS)
disk=$PVM_TMP/disk.img
mkfs.ext4 -q -F -d "$data" "$disk" 96M || pvm_fail "mkfs.ext4 -d failed"

# No double quotes inside pvm_run (the kernel cannot carry them).
guest_cmd='mkdir -p /mnt && mount -t ext4 -o ro /dev/vda /mnt && cd /mnt &&
md5sum -c SUMS >/tmp/p1 && echo pvm-test: pass1=ok;
echo 3 >/proc/sys/vm/drop_caches;
md5sum -c SUMS >/tmp/p2 && echo pvm-test: pass2=ok;
grep -h FAILED /tmp/p1 /tmp/p2 | head -n 5; true'
guest_cmd=$(echo "$guest_cmd" | tr '\n' ' ')

log=$PVM_TMP/console.log
stats=$PVM_TMP/stats.json
tier=$PVM_TMP/guest.pages
rc=0
pvm_run_guest "$log" 300 --mem 256M --local 40M --policy learned --tier "disk:$tier" \
	--disk "$disk" --kernel "$img/vmlinux" --initrd "$img/disk.cpio.gz" \
	--stats-json "$stats" --append "console=ttyS0 quiet pvm_run=\"$guest_cmd\"" || rc=$?
pvm_log_text "$log" | grep -E '^(pvm-|poolvm-guest|/tmp/p|poolvm(-preload)?(\[[0-9]+\])?:)' || true

[ "$rc" != 124 ] && [ "$rc" != 137 ] || pvm_fail "timed out after 300 s" "$log"
if [ "$(pvm_count "$log" '^poolvm-guest: insmod .* failed')" != 0 ]; then
	pvm_skip "the guest could not load virtio_blk/ext4"
fi
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
[ "$(pvm_count "$log" '^pvm-test: pass1=ok')" = 1 ] || pvm_fail "first md5 pass failed: data read from disk came back wrong" "$log"
[ "$(pvm_count "$log" '^pvm-test: pass2=ok')" = 1 ] || pvm_fail "second md5 pass failed: data read from disk came back wrong" "$log"
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions
# The learned policy reports which of its experts the evictions follow.
follows=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pager"]["policy_state"]["follows"])' "$stats" 2>/dev/null) ||
	pvm_fail "stats JSON: no pager.policy_state.follows for --policy learned" "$stats"
case $follows in lru|learned-core) ;; *) pvm_fail "stats JSON: policy_state.follows is '$follows'" "$stats" ;; esac
pvm_say "the learned policy follows $follows"
pvm_pass "64 MiB read from disk twice through a 40 MiB resident guest, every md5 right"
