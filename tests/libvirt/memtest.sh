#!/bin/bash
# tests/libvirt/memtest.sh [lib.sh options] — a pooled domain through a
# private libvirtd: `poolvm define` a 384 MiB TCG domain kept to 96 MiB
# resident (the rest in a disk tier), `virsh start` it; the guest runs
# pvm-memtest seq over 200 MiB and powers off.
#
# Pass: virsh list/dominfo show it running with QEMU under libvirt's pid and
# a pager beside it; the serial console (a file) says mismatches=0
# verdict=PASS; the domain ends shut off; the pager's stats JSON shows
# evictions and refaults; no pager or QEMU is left; the domain is not
# tainted at all: QEMU and the pager run as libvirt-qemu:kvm, the
# userfaultfd comes from /dev/userfaultfd (lib.sh: lv_qemu_user). Where the
# host lacks that user or device, QEMU runs as root and the only taint
# allowed is libvirt's "high-privileges".
set -euo pipefail
PVM_TEST_NAME=libvirt_memtest
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$here/../guest/lib.sh"
. "$here/lib.sh"
lv_setup "$0" "$@"

dom=pvm-memtest-$$
lv_track "$dom"
console=$PVM_TMP/console.log
stats=/run/poolvm/libvirt/$dom/stats.json
"$PVM_POOLVM" define --name "$dom" --mem 384M --local 96M --tier disk \
	--disk-tier "$PVM_TMP/tier/$dom.pages" --accel tcg \
	--kernel "$PVM_KERNEL" --initrd "$PVM_INITRD" --serial-log "$console" \
	--append "console=ttyS0 quiet pvm_run=\"pvm-memtest seq --size 200\"" \
	>"$PVM_TMP/define.log" 2>&1 || pvm_fail "poolvm define failed" "$PVM_TMP/define.log"
cat "$PVM_TMP/define.log"
lv_virsh start "$dom" >"$PVM_TMP/start.log" 2>&1 || {
	cat "$PVM_TMP/start.log"
	pvm_fail "virsh start failed" "$(lv_domain_log "$dom")"
}
running=$(lv_virsh list --name)
grep -qx "$dom" <<<"$running" || pvm_fail "virsh list does not show $dom running"
lv_virsh dominfo "$dom" >"$PVM_TMP/dominfo.txt"
grep -q '^State: *running' "$PVM_TMP/dominfo.txt" || pvm_fail "dominfo: not running" "$PVM_TMP/dominfo.txt"
qemu_pid=$(cat "/run/libvirt/qemu/$dom.pid")
[ "$(readlink "/proc/$qemu_pid/exe")" = "$(readlink -f /usr/bin/qemu-system-x86_64)" ] ||
	pvm_fail "libvirt's pid $qemu_pid is $(readlink "/proc/$qemu_pid/exe"), not QEMU"
grep -qaF "POOLVM_ATTACH_SOCK=/run/poolvm/libvirt/$dom/attach.sock" "/proc/$qemu_pid/environ" ||
	pvm_fail "QEMU $qemu_pid was not started with the attach socket"
pager_pid=$(lv_pager_pids "$dom")
[ -n "$pager_pid" ] || pvm_fail "no pager process for $dom" "$(lv_domain_log "$dom")"
want_uid=$(id -u "$LV_QEMU_USER")
for pid in "$qemu_pid" $pager_pid; do
	uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
	[ "$uid" = "$want_uid" ] || pvm_fail "process $pid runs as uid $uid, not $LV_QEMU_USER ($want_uid)"
done
pvm_say "QEMU $qemu_pid, pager $pager_pid, both as $LV_QEMU_USER"
# The pager serves its control socket where poolvm stats looks by default
# (/run/poolvm: this test's own tmpfs): the domain shows up among the
# host's VMs (as root, like an operator).
listed=0
for _ in $(seq 1 20); do
	if POOLVM_RUN_DIR=/run/poolvm "$PVM_POOLVM" stats --json >"$PVM_TMP/stats-live.json" 2>"$PVM_TMP/stats-live.err" &&
		grep -q "\"name\": *\"$dom\"" "$PVM_TMP/stats-live.json"; then
		listed=1
		break
	fi
	sleep 0.2
done
if [ "$listed" != 1 ]; then
	{ cat "$PVM_TMP/stats-live.json"; ls -la /run/poolvm /run/poolvm/vm; grep -i 'control\|poolvm' "$(lv_domain_log "$dom")"; ls -l "/proc/$pager_pid/fd"; grep poolvm /proc/net/unix; readlink "/proc/$pager_pid/ns/mnt" /proc/self/ns/mnt; } >>"$PVM_TMP/stats-live.err" 2>&1 || true
	pvm_fail "poolvm stats does not list the running domain $dom" "$PVM_TMP/stats-live.err"
fi
POOLVM_RUN_DIR=/run/poolvm "$PVM_POOLVM" top -b -n 1 | grep -E "^$dom " || pvm_fail "poolvm top -b does not show $dom"

# The guest powers itself off after the test: wait for "shut off".
start=$SECONDS
while running=$(lv_virsh list --name) && grep -qx "$dom" <<<"$running"; do
	[ $((SECONDS - start)) -lt 200 ] || pvm_fail "guest still running after 200 s" "$console"
	sleep 1
done
pvm_say "guest ran $((SECONDS - start)) s"
lv_virsh dominfo "$dom" >"$PVM_TMP/dominfo2.txt"
grep -q '^State: *shut off' "$PVM_TMP/dominfo2.txt" || pvm_fail "dominfo: not shut off" "$PVM_TMP/dominfo2.txt"
pvm_log_text "$console" | grep -E '^(pvm-memtest|poolvm-guest):' || true
[ "$(pvm_count "$console" '^poolvm-guest: booted')" = 1 ] || pvm_fail "guest did not boot once" "$console"
[ "$(pvm_count "$console" '^pvm-memtest: mode=seq .* mismatches=0 .*verdict=PASS')" = 1 ] ||
	pvm_fail "no 'mismatches=0 ... verdict=PASS' from pvm-memtest" "$console"
[ "$(pvm_count "$console" '^poolvm-guest: exit=0$')" = 1 ] || pvm_fail "guest workload did not exit 0" "$console"

pvm_wait_gone "$pager_pid" 20 || pvm_fail "pager $pager_pid still running after QEMU exited"
pvm_wait_gone "$qemu_pid" 5 || pvm_fail "QEMU $qemu_pid still running after shut off"
log=$(lv_domain_log "$dom")
grep -E 'poolvm|summary' "$log" | sed 's/^/  log: /' || true
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions refaults writebacks
[ ! -e "$PVM_TMP/tier/$dom.pages" ] || pvm_fail "the tier file is still there after the pager exited"
[ ! -e "/run/poolvm/libvirt/$dom.json" ] || pvm_fail "the hook did not remove $dom.json at stopped/release"

taint=$(grep -E '^Messages:' "$PVM_TMP/dominfo.txt" || true)
pvm_say "QEMU ran as $LV_QEMU_USER; dominfo ${taint:-Messages: (none)}"
taints=$(grep -oE 'Domain id=[0-9]+ is tainted: [a-z-]+' "$log" || true)
if [ "$LV_QEMU_USER" = root ]; then
	# Root QEMU is libvirt's "high-privileges" taint; nothing else may be.
	taints=$(grep -v 'tainted: high-privileges' <<<"$taints" || true)
else
	[ -z "$taint" ] || pvm_fail "dominfo shows $taint" "$PVM_TMP/dominfo.txt"
fi
[ -z "$taints" ] || pvm_fail "the domain is tainted: $taints" "$log"
pvm_pass "200 MiB verified through a 96 MiB resident limit under libvirtd"
