# tests/libvirt/lib.sh — a private libvirtd for the libvirt suite. Sourced
# by tests/libvirt/*.sh after tests/guest/lib.sh; not run by itself.
#
# Concepts:
# - The test re-executes itself inside `unshare -m` (lv_enter_namespace):
#   a private mount namespace where a tmpfs covers /run and copies of the
#   host's libvirt trees under $PVM_TMP are bind-mounted over /etc/libvirt,
#   /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt. The host's
#   libvirt configuration and state are never touched; the mounts vanish
#   with the namespace.
# - lv_start_daemons installs poolvm's hook (poolvm libvirt-install) into
#   the private /etc/libvirt, then starts virtlogd and libvirtd by hand (no
#   systemd here). QEMU runs as root (qemu.conf user/group): the preloaded
#   library creates a userfaultfd, which an unprivileged QEMU may not on a
#   host with vm.unprivileged_userfaultfd=0. No cgroup controllers are used,
#   so the host's cgroup tree is untouched too.
# - The EXIT trap (lv_cleanup) destroys every domain, stops the daemons by
#   pid, kills any process still running from the test's tree, and then
#   runs tests/guest/lib.sh's cleanup.

LV_LIBVIRTD_PID=
LV_VIRTLOGD_PID=
LV_URI=qemu:///system
LV_DOMAINS=

# lv_track NAME - remember domain NAME (make it unique: BASE-$$) so that
# the cleanup can find its processes.
lv_track() {
	LV_DOMAINS="$LV_DOMAINS $1"
}

lv_virsh() {
	virsh -q -c "$LV_URI" "$@"
}

# lv_require - skip (77) unless libvirtd, virtlogd, virsh and unshare exist
# and we are root.
lv_require() {
	local p
	for p in libvirtd virtlogd virsh unshare; do
		command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] ||
			pvm_skip "$p is not installed (apt-get install libvirt-daemon-system libvirt-clients util-linux)"
	done
	[ "$(id -u)" = 0 ] || pvm_skip "needs root: a private libvirtd in a mount namespace"
	[ -d /etc/libvirt ] || pvm_skip "no /etc/libvirt (libvirt-daemon-system not installed)"
}

# lv_enter_namespace SCRIPT ARGS... - re-run SCRIPT inside a private mount
# namespace (once; POOLVM_LV_INNER marks the inner run).
lv_enter_namespace() {
	if [ "${POOLVM_LV_INNER:-}" != 1 ]; then
		POOLVM_LV_INNER=1 exec unshare -m --propagation private bash "$@"
	fi
}

# lv_private_tree - tmpfs on /run, private copies of libvirt's trees.
lv_private_tree() {
	local d
	mount -t tmpfs -o mode=0755 poolvm-test-run /run ||
		pvm_skip "cannot mount a tmpfs on /run in a mount namespace"
	mkdir -p /run/libvirt /run/lock
	for d in /etc/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
		mkdir -p "$PVM_TMP/root$d"
		if [ "$d" = /etc/libvirt ]; then
			cp -a /etc/libvirt/. "$PVM_TMP/root$d/"
			rm -rf "$PVM_TMP/root$d/hooks" "$PVM_TMP/root$d/qemu/"*.xml \
				"$PVM_TMP/root$d/qemu/autostart" "$PVM_TMP/root$d/qemu/networks"
		fi
		mkdir -p "$d"
		mount --bind "$PVM_TMP/root$d" "$d" || pvm_fail "bind mount over $d failed"
	done
	mkdir -p /var/lib/libvirt/qemu /var/log/libvirt/qemu /var/cache/libvirt/qemu
	# Our own qemu.conf, not the host's with lines appended: the host's
	# may already set the keys we set.
	cat >/etc/libvirt/qemu.conf <<'CONF'
# poolvm test (tests/libvirt/lib.sh)
cgroup_controllers = [ ]
CONF
	cat >/etc/libvirt/libvirtd.conf <<'CONF'
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
log_outputs = "3:stderr"
CONF
	cat >/etc/libvirt/virtlogd.conf <<'CONF'
log_outputs = "3:stderr"
CONF
}

# lv_qemu_user - how QEMU runs, set in the private qemu.conf: as
# libvirt-qemu:kvm (Debian's default, the domain stays untainted) when
# that user exists and the kernel has /dev/userfaultfd, else as root.
# For the unprivileged QEMU, a copy of the /dev/userfaultfd node that group
# kvm may open is bind-mounted over it in this namespace only, and libvirt
# is told to put it in QEMU's private /dev (cgroup_device_acl): an
# unprivileged process may create a userfaultfd through the device even
# where vm.unprivileged_userfaultfd=0. Sets LV_QEMU_USER.
lv_qemu_user() {
	local mm
	LV_QEMU_USER=root
	if [ "${POOLVM_TEST_LIBVIRT_ROOT:-0}" != 1 ] && id libvirt-qemu >/dev/null 2>&1 &&
	   getent group kvm >/dev/null && [ -c /dev/userfaultfd ]; then
		mm=$(stat -c '%t %T' /dev/userfaultfd)
		if mknod "$PVM_TMP/userfaultfd" c $((0x${mm% *})) $((0x${mm#* })) &&
		   chown root:kvm "$PVM_TMP/userfaultfd" && chmod 0660 "$PVM_TMP/userfaultfd" &&
		   mount --bind "$PVM_TMP/userfaultfd" /dev/userfaultfd; then
			LV_QEMU_USER=libvirt-qemu
		fi
	fi
	if [ "$LV_QEMU_USER" = root ]; then
		printf 'user = "root"\ngroup = "root"\n' >>/etc/libvirt/qemu.conf
	else
		cat >>/etc/libvirt/qemu.conf <<'CONF'
user = "libvirt-qemu"
group = "kvm"
cgroup_device_acl = [
    "/dev/null", "/dev/full", "/dev/zero",
    "/dev/random", "/dev/urandom",
    "/dev/ptmx", "/dev/kvm", "/dev/userfaultfd"
]
CONF
	fi
	chmod 0755 "$PVM_TMP"   # QEMU's user reaches the console and tier files
}

# lv_start_daemons - install the hook, start virtlogd and libvirtd, wait
# until virsh answers.
lv_start_daemons() {
	local i
	"$PVM_POOLVM" libvirt-install --hooks-dir /etc/libvirt/hooks \
		>"$PVM_TMP/install.log" 2>&1 ||
		pvm_fail "poolvm libvirt-install failed" "$PVM_TMP/install.log"
	virtlogd >"$PVM_TMP/virtlogd.log" 2>&1 </dev/null &
	LV_VIRTLOGD_PID=$!
	libvirtd >"$PVM_TMP/libvirtd.log" 2>&1 </dev/null &
	LV_LIBVIRTD_PID=$!
	for i in $(seq 1 150); do
		lv_virsh version >/dev/null 2>&1 && return 0
		pvm_alive "$LV_LIBVIRTD_PID" || break
		sleep 0.2
	done
	cat "$PVM_TMP/libvirtd.log" | tail -n 20
	pvm_skip "libvirtd did not start here (log above)"
}

# lv_domain_log NAME - libvirt's log of domain NAME (QEMU's stderr,
# poolvm-qemu's and the pager's messages).
lv_domain_log() {
	echo "/var/log/libvirt/qemu/$1.log"
}

# lv_proc_pids REGEX - pids whose command line matches REGEX (not ours).
lv_proc_pids() {
	local f pid
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[ "$pid" != "$$" ] || continue
		if tr '\0' ' ' <"$f" 2>/dev/null | grep -qE -- "$1"; then
			pvm_alive "$pid" && echo "$pid"
		fi
	done
	return 0
}

lv_cleanup() {
	local rc=$1 d pid
	trap - EXIT
	if [ -n "$LV_LIBVIRTD_PID" ] && pvm_alive "$LV_LIBVIRTD_PID"; then
		for d in $(lv_virsh list --name 2>/dev/null); do
			lv_virsh destroy "$d" >/dev/null 2>&1 || true
		done
		kill -TERM "$LV_LIBVIRTD_PID" 2>/dev/null || true
		pvm_wait_gone "$LV_LIBVIRTD_PID" 10 || kill -KILL "$LV_LIBVIRTD_PID" 2>/dev/null || true
		wait "$LV_LIBVIRTD_PID" 2>/dev/null || true
	fi
	if [ -n "$LV_VIRTLOGD_PID" ] && pvm_alive "$LV_VIRTLOGD_PID"; then
		kill -TERM "$LV_VIRTLOGD_PID" 2>/dev/null || true
		pvm_wait_gone "$LV_VIRTLOGD_PID" 5 || kill -KILL "$LV_VIRTLOGD_PID" 2>/dev/null || true
		wait "$LV_VIRTLOGD_PID" 2>/dev/null || true
	fi
	# Anything still running for this test's domains: QEMU, a pager.
	for pid in $(for d in $LV_DOMAINS; do lv_proc_pids "-name guest=$d(,| |$)"; done); do
		echo "$PVM_TEST_NAME: process $pid still running at the end: $(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | head -c 200)"
		kill -KILL "$pid" 2>/dev/null || true
		[ "$rc" != 0 ] || { echo "FAIL $PVM_TEST_NAME: a process outlived the test"; rc=1; }
	done
	if [ "${PVM_KEEP:-0}" = 1 ] && [ "$rc" != 0 ]; then
		cp -a /var/log/libvirt "$PVM_TMP/libvirt-logs" 2>/dev/null || true
	fi
	pvm_cleanup "$rc"
}

# lv_pager_pids NAME - pids of poolvm-qemu processes (the pager keeps that
# executable) serving domain NAME.
lv_pager_pids() {
	local f pid exe
	for f in /proc/[0-9]*/exe; do
		pid=${f#/proc/}
		pid=${pid%/exe}
		exe=$(readlink "$f" 2>/dev/null) || continue
		case "$exe" in
		*/poolvm-qemu) ;;
		*) continue ;;
		esac
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE -- "-name guest=$1(,| )" || continue
		pvm_alive "$pid" && echo "$pid"
	done
	return 0
}

# lv_setup SCRIPT ARGS... - everything a libvirt test does first: skip
# where libvirtd cannot run, re-run SCRIPT in a private mount namespace,
# the guest suite's options, cleanup on exit, a guest image, a private
# libvirt tree with the hook installed, QEMU's user, and the daemons.
lv_setup() {
	lv_require
	lv_enter_namespace "$@"
	shift
	pvm_init "$@"
	trap 'lv_cleanup $?' EXIT
	pvm_require_guest
	lv_private_tree
	lv_qemu_user
	lv_start_daemons
}
