#!/bin/bash
# tests/libvirt/lifecycle.sh [lib.sh options] — pooled domains' life under
# a private libvirtd, and what the wrapper does to domains that are not
# pooled.
#
# Pass, in order:
# 1. malformed poolvm metadata (a bad size; then a pool element on a domain
#    whose emulator is not poolvm-qemu): `virsh start` fails with poolvm's
#    message naming the attribute/element; no QEMU, no pager, no config.
# 2. an ordinary domain (no poolvm element) with poolvm-qemu as emulator
#    runs plain QEMU: no preload library, no attach socket, no pager; the
#    guest boots and powers off.
# 3. a pooled domain whose guest runs busybox acpid: virsh shutdown (an
#    ACPI power-button press) powers it off; the pager exits and writes its
#    statistics. Started again, virsh destroy (SIGTERM, then SIGKILL) leaves
#    no QEMU and no pager; the config is removed.
# 4. a pooled domain whose pager is killed: QEMU is stopped (fail-stop)
#    and libvirt sees the domain shut off.
set -euo pipefail
PVM_TEST_NAME=libvirt_lifecycle
here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
. "$here/../guest/lib.sh"
. "$here/lib.sh"
lv_setup "$0" "$@"

# define_pooled NAME CMD [poolvm define options...] - a 256 MiB domain kept
# to 64 MiB, console in $PVM_TMP/NAME.console, running CMD in the guest.
define_pooled() {
	local name=$1 cmd=$2
	shift 2
	lv_track "$name"
	"$PVM_POOLVM" define --name "$name" --mem 256M --local 64M --tier disk \
		--disk-tier "$PVM_TMP/tier/$name.pages" --accel tcg \
		--kernel "$PVM_KERNEL" --initrd "${INITRD:-$PVM_INITRD}" --serial-log "$PVM_TMP/$name.console" \
		--append "console=ttyS0 quiet pvm_run=\"$cmd\"" "$@" \
		>"$PVM_TMP/define.log" 2>&1 || pvm_fail "poolvm define $name failed" "$PVM_TMP/define.log"
}

# wait_state NAME REGEX SECONDS - until dominfo's State matches.
wait_state() {
	local start=$SECONDS info
	until info=$(lv_virsh dominfo "$1" 2>/dev/null) && grep -qE "^State: *($2)" <<<"$info"; do
		[ $((SECONDS - start)) -lt "$3" ] || return 1
		sleep 0.5
	done
}

# no_processes NAME - fail if any QEMU or pager of NAME is running.
no_processes() {
	local p
	p=$(lv_proc_pids "-name guest=$1(,| |$)")
	[ -z "$p" ] || pvm_fail "processes still running for $1: $p"
}

# --- 0. poolvm define and libvirt-install say what is wrong ------------------
# define_refused WORDS ARGS... - poolvm define ARGS exits 2 naming WORDS.
define_refused() {
	local words=$1 rc=0
	shift
	"$PVM_POOLVM" define "$@" >"$PVM_TMP/def.log" 2>&1 || rc=$?
	[ "$rc" = 2 ] || pvm_fail "poolvm define $* exited $rc, not 2" "$PVM_TMP/def.log"
	grep -qF -- "$words" "$PVM_TMP/def.log" || pvm_fail "poolvm define $*: no '$words'" "$PVM_TMP/def.log"
}
define_refused "--name is required" --mem 256M --kernel "$PVM_KERNEL"
define_refused "'a/b' is not a name" --name a/b --mem 256M --kernel "$PVM_KERNEL"
define_refused "--mem: '1000' is not a whole number of MiB" --name x --mem 1000 --kernel "$PVM_KERNEL"
define_refused "--tier remote needs --pod" --name x --mem 256M --tier remote --kernel "$PVM_KERNEL"
define_refused "--kernel /nonexistent: No such file" --name x --mem 256M --kernel /nonexistent
define_refused "policy='nope'" --name x --mem 256M --policy nope --kernel "$PVM_KERNEL"
define_refused "nothing to boot" --name x --mem 256M
[ -z "$(lv_virsh list --all --name)" ] || pvm_fail "a refused poolvm define defined a domain"
"$PVM_POOLVM" libvirt-install --hooks-dir /etc/libvirt/hooks >"$PVM_TMP/install2.log" 2>&1 ||
	pvm_fail "poolvm libvirt-install (again) failed" "$PVM_TMP/install2.log"
grep -q "hook already installed" "$PVM_TMP/install2.log" ||
	pvm_fail "a second libvirt-install did not say the hook is already installed" "$PVM_TMP/install2.log"
pvm_say "poolvm define refuses bad input; libvirt-install is idempotent"

# --- 1. malformed metadata ---------------------------------------------------
bad=pvm-bad-$$

"$PVM_POOLVM" define --name "$bad" --mem 256M --local 64M --tier disk \
	--disk-tier "$PVM_TMP/tier/$bad.pages" --accel tcg --kernel "$PVM_KERNEL" \
	--print-xml >"$PVM_TMP/bad.xml"
sed -i "s/local='64M'/local='lots'/" "$PVM_TMP/bad.xml"
grep -q "local='lots'" "$PVM_TMP/bad.xml" || pvm_fail "could not make the malformed XML"
lv_virsh define "$PVM_TMP/bad.xml" >/dev/null || pvm_fail "virsh define of $bad failed"
if lv_virsh start "$bad" >"$PVM_TMP/bad-start.log" 2>&1; then
	pvm_fail "a domain with local='lots' started"
fi
cat "$PVM_TMP/bad-start.log"
grep -q "poolvm:pool local='lots': not a size" "$PVM_TMP/bad-start.log" ||
	pvm_fail "virsh start did not show poolvm's message about local='lots'" "$PVM_TMP/bad-start.log"
grep -q "poolvm hook: poolvm:pool local='lots': not a size" "$(lv_domain_log "$bad")" ||
	pvm_fail "the domain log does not say why $bad did not start" "$(lv_domain_log "$bad")"
wait_state "$bad" 'shut off' 5 || pvm_fail "$bad is not shut off after the failed start"
no_processes "$bad"
[ ! -e "/run/poolvm/libvirt/$bad.json" ] || pvm_fail "a config was written for a malformed domain"

lv_virsh undefine "$bad" >/dev/null
sed -i "s/local='lots'/local='64M'/; s|<emulator>.*</emulator>|<emulator>/usr/bin/qemu-system-x86_64</emulator>|" \
	"$PVM_TMP/bad.xml"
lv_virsh define "$PVM_TMP/bad.xml" >/dev/null || pvm_fail "virsh define of $bad failed"
if lv_virsh start "$bad" >"$PVM_TMP/bad-start2.log" 2>&1; then
	pvm_fail "a pooled domain without poolvm-qemu started"
fi
cat "$PVM_TMP/bad-start2.log"
grep -q "not poolvm's QEMU wrapper" "$PVM_TMP/bad-start2.log" ||
	pvm_fail "virsh start did not say the emulator is wrong" "$PVM_TMP/bad-start2.log"
no_processes "$bad"
lv_virsh undefine "$bad" >/dev/null

# The pager cannot open its tier (a directory QEMU's user may not write):
# QEMU must not run without it, and nothing stays behind.
if [ "$LV_QEMU_USER" != root ]; then
	mkdir -m 0700 "$PVM_TMP/rootonly"
	define_pooled "$bad" true --disk-tier "$PVM_TMP/rootonly/$bad.pages"
	if lv_virsh start "$bad" >"$PVM_TMP/bad-start3.log" 2>&1; then
		pvm_fail "a domain whose pager cannot open its tier started"
	fi
	grep -q "poolvm-pager" "$(lv_domain_log "$bad")" ||
		pvm_fail "the domain log does not have the pager's reason" "$(lv_domain_log "$bad")"
	grep -E 'poolvm-pager|poolvm-preload' "$(lv_domain_log "$bad")" | sed 's/^/  log: /'
	wait_state "$bad" 'shut off' 10 || pvm_fail "$bad not shut off after its pager failed"
	no_processes "$bad"
	lv_virsh undefine "$bad" >/dev/null
fi

# --- 2. an ordinary domain through the wrapper ------------------------------
plain=pvm-plain-$$
lv_track "$plain"
"$PVM_POOLVM" define --name "$plain" --mem 256M --accel tcg --kernel "$PVM_KERNEL" \
	--initrd "$PVM_INITRD" --serial-log "$PVM_TMP/$plain.console" \
	--append "console=ttyS0 quiet pvm_run=\"sleep 2\"" --print-xml >"$PVM_TMP/plain.xml"
# An ordinary domain: no poolvm element (poolvm-qemu stays the emulator).
sed -i '/<metadata>/,/<\/metadata>/d' "$PVM_TMP/plain.xml"
! grep -q poolvm:pool "$PVM_TMP/plain.xml" || pvm_fail "could not strip the metadata"
lv_virsh define "$PVM_TMP/plain.xml" >/dev/null || pvm_fail "virsh define of $plain failed"
lv_virsh start "$plain" >/dev/null || pvm_fail "the ordinary domain did not start" "$(lv_domain_log "$plain")"
qemu_pid=$(cat "/run/libvirt/qemu/$plain.pid")
[ "$(readlink "/proc/$qemu_pid/exe")" = "$(readlink -f /usr/bin/qemu-system-x86_64)" ] ||
	pvm_fail "the ordinary domain's pid $qemu_pid is not QEMU"
! grep -qaE 'POOLVM_ATTACH_SOCK|libpoolvm-preload' "/proc/$qemu_pid/environ" ||
	pvm_fail "the ordinary domain's QEMU got poolvm's environment"
! grep -q libpoolvm-preload "/proc/$qemu_pid/maps" || pvm_fail "the preload library is in plain QEMU"
[ -z "$(lv_pager_pids "$plain")" ] || pvm_fail "a pager runs for the ordinary domain"
wait_state "$plain" 'shut off' 60 || pvm_fail "the ordinary domain did not power off" "$PVM_TMP/$plain.console"
[ "$(pvm_count "$PVM_TMP/$plain.console" '^poolvm-guest: exit=0$')" = 1 ] ||
	pvm_fail "the ordinary domain's guest did not run" "$PVM_TMP/$plain.console"
no_processes "$plain"
pvm_say "ordinary domain: plain QEMU $qemu_pid, booted and powered off"

# --- 3. shutdown, destroy ------------------------------------------------------
# An image whose guest answers the ACPI power button (button, evdev, acpid).
printf '#!/bin/sh\necho poolvm-guest: power button >/dev/console\npoweroff -f\n' >"$PVM_TMP/pwrf"
chmod +x "$PVM_TMP/pwrf"
pvm_build_image "$PVM_TMP/img" --name acpi --modules 'button evdev' \
	--add "$PVM_TMP/pwrf:/etc/acpi/PWRF/00000080" >"$PVM_TMP/build.log" 2>&1 ||
	pvm_fail "building the acpid image failed" "$PVM_TMP/build.log"
INITRD=$PVM_TMP/img/acpi.cpio.gz
[ -f "$INITRD" ] || pvm_fail "the acpid image was not built" "$PVM_TMP/build.log"
vm=pvm-life-$$
define_pooled "$vm" "acpid -f -c /etc/acpi -l /dev/null & pvm-memtest seq --size 100 && sleep 600"
stats=/run/poolvm/libvirt/$vm/stats.json
# wait_pass - until the guest's memtest passed (it then sleeps).
wait_pass() {
	local start=$SECONDS
	until [ "$(pvm_count "$PVM_TMP/$vm.console" 'verdict=PASS')" -ge "$1" ]; do
		[ $((SECONDS - start)) -lt 90 ] || pvm_fail "memtest did not pass in 90 s" "$PVM_TMP/$vm.console"
		sleep 0.5
	done
}
lv_virsh start "$vm" >/dev/null || pvm_fail "virsh start $vm failed" "$(lv_domain_log "$vm")"
qemu_pid=$(cat "/run/libvirt/qemu/$vm.pid")
pager_pid=$(lv_pager_pids "$vm")
[ -n "$pager_pid" ] || pvm_fail "no pager for $vm" "$(lv_domain_log "$vm")"
wait_pass 1
lv_virsh shutdown "$vm" >/dev/null || pvm_fail "virsh shutdown $vm failed"
wait_state "$vm" 'shut off' 30 || pvm_fail "$vm did not shut down on virsh shutdown" "$PVM_TMP/$vm.console"
grep -q 'poolvm-guest: power button' "$PVM_TMP/$vm.console" ||
	pvm_fail "the guest did not see the power button" "$PVM_TMP/$vm.console"
pvm_wait_gone "$qemu_pid" 10 || pvm_fail "QEMU $qemu_pid alive after shutdown"
pvm_wait_gone "$pager_pid" 10 || pvm_fail "pager $pager_pid alive after shutdown"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions refaults
pvm_say "virsh shutdown: the guest powered off, QEMU $qemu_pid and pager $pager_pid gone"
rm -f "$stats"
: >"$PVM_TMP/$vm.console"
lv_virsh start "$vm" >/dev/null || pvm_fail "virsh start $vm (again) failed" "$(lv_domain_log "$vm")"
qemu_pid=$(cat "/run/libvirt/qemu/$vm.pid")
pager_pid=$(lv_pager_pids "$vm")
[ -n "$pager_pid" ] || pvm_fail "no pager for $vm" "$(lv_domain_log "$vm")"
wait_pass 1
lv_virsh destroy "$vm" >/dev/null || pvm_fail "virsh destroy $vm failed"
pvm_wait_gone "$qemu_pid" 10 || pvm_fail "QEMU $qemu_pid alive after destroy"
pvm_wait_gone "$pager_pid" 10 || pvm_fail "pager $pager_pid alive after destroy"
no_processes "$vm"
wait_state "$vm" 'shut off' 5 || pvm_fail "$vm not shut off after destroy"
stats=/run/poolvm/libvirt/$vm/stats.json
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions refaults
[ ! -e "/run/poolvm/libvirt/$vm.json" ] || pvm_fail "config left after destroy"
[ ! -e "/run/poolvm/libvirt/$vm/attach.sock" ] || pvm_fail "attach socket left after destroy"
[ ! -e "$PVM_TMP/tier/$vm.pages" ] || pvm_fail "tier file left after destroy"
pvm_say "destroy: QEMU $qemu_pid and pager $pager_pid gone"

# --- 4. the pager dies: fail-stop ---------------------------------------------
rm -f "$stats"
lv_virsh start "$vm" >/dev/null || pvm_fail "second virsh start $vm failed" "$(lv_domain_log "$vm")"
qemu_pid=$(cat "/run/libvirt/qemu/$vm.pid")
pager_pid=$(lv_pager_pids "$vm")
[ -n "$pager_pid" ] || pvm_fail "no pager for $vm on the second start"
kill -KILL "$pager_pid"
pvm_wait_gone "$qemu_pid" 10 || pvm_fail "QEMU $qemu_pid still runs without its pager"
wait_state "$vm" 'shut off' 10 || pvm_fail "libvirt does not see $vm shut off after its pager died"
grep -q "the pager serving this guest's memory is gone" "$(lv_domain_log "$vm")" ||
	pvm_fail "the domain log does not say why QEMU stopped" "$(lv_domain_log "$vm")"
no_processes "$vm"
pvm_pass "malformed metadata refused, ordinary domain untouched, destroy and pager loss clean"
