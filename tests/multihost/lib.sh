# tests/multihost/lib.sh — several "hosts" on one machine for the
# multihost suite. Sourced by tests/multihost/*.sh; not run by itself.
#
# Concepts:
# - Hosts are network namespaces: pvm-mh-$$-pod1..3 (memory pods), and
#   pvm-mh-$$-vmm (poolvm and QEMU), each with one veth "eth0" whose peer
#   is a port of bridge br0 in a fifth namespace, pvm-mh-$$-br. Addresses
#   are 10.250.1.0/24 and exist only inside these namespaces:
#     vmm 10.250.1.100, pod N 10.250.1.(10+N), port 7300.
#   The bridge ports are named pod1..pod3 and vmm: `mh_link pod2 down` cuts
#   pod 2 off; tc qdiscs go on them too. Nothing touches the root namespace.
# - This file sources tests/guest/lib.sh (PVM_TMP, guest helpers, cleanup
#   of stray QEMUs) and adds its own options, taken out before pvm_init:
#     --pod-exe FILE   pvm-pod        --mh-tool FILE   tests/multihost/mh_tool
# - The EXIT trap stops the pods (by pid), deletes the five namespaces
#   (which deletes their links) and then runs the guest suite's cleanup.
# - A test that cannot run here exits 77: not root, no `ip netns`.

MH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$MH_LIB_DIR/../guest/lib.sh"
. "$MH_LIB_DIR/../../scripts/podnet.sh"   # namespaces, bridge, pods

MH_ID=pvm-mh-$$
MH_NETS=()              # namespaces created, for cleanup
MH_POD_PIDS=()          # index 1..3
MH_POD_EXE=
MH_TOOL=
MH_SECRET=
MH_PORT=$PODNET_PORT
MH_VMM_ADDR=$PODNET_VMM_ADDR

mh_ns() {               # mh_ns pod1|pod2|pod3|vmm|br
	echo "$MH_ID-$1"
}

mh_pod_addr() {         # mh_pod_addr N
	podnet_pod_addr "$1"
}

mh_teardown() {
	local i ns
	for i in "${!MH_POD_PIDS[@]}"; do
		if [ -n "${MH_POD_PIDS[$i]}" ] && pvm_alive "${MH_POD_PIDS[$i]}"; then
			kill -KILL "${MH_POD_PIDS[$i]}" 2>/dev/null || true
			wait "${MH_POD_PIDS[$i]}" 2>/dev/null || true
		fi
	done
	for ns in "${MH_NETS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	MH_NETS=()
}

mh_cleanup() {
	local rc=$1
	trap - EXIT
	# poolvm and QEMU first (they hold fds into the namespaces), then us.
	if [ -n "$PVM_POOLVM_PID" ] && pvm_alive "$PVM_POOLVM_PID"; then
		kill -KILL "$PVM_POOLVM_PID" 2>/dev/null || true
		wait "$PVM_POOLVM_PID" 2>/dev/null || true
	fi
	mh_teardown
	pvm_cleanup "$rc"
}

# mh_init "$@" - our options, then the guest suite's; root and netns checks.
mh_init() {
	local rest=()
	while [ "$#" -gt 0 ]; do
		case "$1" in
		--pod-exe) MH_POD_EXE=$(readlink -f "$2"); shift 2 ;;
		--mh-tool) MH_TOOL=$(readlink -f "$2"); shift 2 ;;
		*) rest+=("$1"); shift ;;
		esac
	done
	pvm_init "${rest[@]}"
	trap 'mh_cleanup $?' EXIT
	[ "$(id -u)" = 0 ] || pvm_skip "needs root to create network namespaces"
	command -v ip >/dev/null || pvm_skip "no 'ip' command (apt-get install iproute2)"
	[ -x "$MH_POD_EXE" ] || pvm_fail "pod binary '$MH_POD_EXE' missing (--pod-exe)"
	ip netns add "$(mh_ns probe)" 2>/dev/null ||
		pvm_skip "'ip netns add' fails here (no network namespaces?)"
	ip netns del "$(mh_ns probe)"
	MH_SECRET=$PVM_TMP/pods.secret
	head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$MH_SECRET"
	chmod 600 "$MH_SECRET"
}

# mh_net_up - the bridge namespace, three pod hosts and the VMM host.
mh_net_up() {
	local rc=0
	MH_NETS+=("$(mh_ns br)" "$(mh_ns pod1)" "$(mh_ns pod2)" "$(mh_ns pod3)" "$(mh_ns vmm)")
	podnet_net_up "$MH_ID" 3 || rc=$?
	[ "$rc" = 2 ] && pvm_skip "cannot create a bridge here"
	[ "$rc" = 0 ] || pvm_fail "cannot set up the namespaces"
}

# mh_link NAME up|down - the bridge port of host NAME.
mh_link() {
	ip -n "$(mh_ns br)" link set "$1" "$2"
}

# mh_start_pod N [MEMORY [SECRET]] - pvm-pod in host podN; waits until it
# serves. Its log is $PVM_TMP/podN.log, its stats $PVM_TMP/podN.json.
mh_start_pod() {
	local n=$1 mem=${2:-384M} secret=${3:-$MH_SECRET}
	podnet_start_pod "$MH_ID" "$n" "$MH_POD_EXE" "$secret" "$mem" \
		"$PVM_TMP/pod$n.log" "$PVM_TMP/pod$n.json" ||
		pvm_fail "pod $n did not start" "$PVM_TMP/pod$n.log"
	MH_POD_PIDS[$n]=$PODNET_PID
}

mh_start_pods() {
	local i
	for i in 1 2 3; do
		mh_start_pod "$i" "$@"
	done
}

# mh_kill_pod N [SIGNAL] - signal pod N (default KILL) and reap it.
mh_kill_pod() {
	local n=$1 sig=${2:-KILL}
	kill "-$sig" "${MH_POD_PIDS[$n]}" 2>/dev/null || true
	if [ "$sig" = KILL ]; then
		wait "${MH_POD_PIDS[$n]}" 2>/dev/null || true
	fi
}

# mh_tier_args [SECRET] - the poolvm run options for a remote tier over the
# three pods, replicas 2: the launcher's --pod form when it has one, else
# the tier's own spec.
mh_tier_args() {
	local secret=${1:-$MH_SECRET} pods= i
	if "$PVM_POOLVM" run --help 2>&1 | grep -q -- '--pod HOST:PORT'; then
		for i in 1 2 3; do
			printf '%s\n' --pod "$(mh_pod_addr "$i")"
		done
		printf '%s\n' --secret-file "$secret" --replicas 2 --fabric tcp --tier remote
	else
		for i in 1 2 3; do
			pods=$pods${pods:++}$(mh_pod_addr "$i")
		done
		printf '%s\n' --tier "remote:pods=$pods,replicas=2,secret=$secret,fabric=tcp"
	fi
}

# mh_run_guest LOG TIMEOUT ARGS... - poolvm run in the VMM host, foreground.
mh_run_guest() {
	local log=$1 limit=$2 rc=0
	shift 2
	pvm_say "poolvm run $* (in $(mh_ns vmm))"
	timeout --kill-after=15 "$limit" ip netns exec "$(mh_ns vmm)" \
		"$PVM_POOLVM" run "$@" >"$log" 2>&1 </dev/null || rc=$?
	return "$rc"
}

# mh_start_guest LOG ARGS... - the same in the background (PVM_POOLVM_PID).
mh_start_guest() {
	local log=$1
	shift
	pvm_say "poolvm run $* & (in $(mh_ns vmm))"
	: >"$log"
	ip netns exec "$(mh_ns vmm)" "$PVM_POOLVM" run "$@" >"$log" 2>&1 </dev/null &
	PVM_POOLVM_PID=$!
}

# mh_guest_args LOG STATS WORKLOAD - the guest part of poolvm run's options.
mh_guest_args() {
	printf '%s\n' --mem 512M --local 128M --kernel "$PVM_KERNEL" \
		--initrd "$PVM_INITRD" --stats-json "$2" \
		--append "console=ttyS0 quiet pvm_run=\"$3\""
}

# mh_check_memtest LOG MODE - the guest booted once, memtest passed with
# zero mismatches and the workload exited 0.
mh_check_memtest() {
	local log=$1 mode=$2
	[ "$(pvm_count "$log" '^poolvm-guest: booted')" = 1 ] || pvm_fail "guest did not boot once" "$log"
	[ "$(pvm_count "$log" "^pvm-memtest: mode=$mode .* mismatches=0 .*verdict=PASS")" = 1 ] ||
		pvm_fail "no 'mismatches=0 ... verdict=PASS' line from pvm-memtest $mode" "$log"
	[ "$(pvm_count "$log" 'verdict=FAIL|first_mismatch')" = 0 ] || pvm_fail "memtest reported corruption" "$log"
	[ "$(pvm_count "$log" '^poolvm-guest: exit=0$')" = 1 ] || pvm_fail "guest workload did not exit 0" "$log"
}

# mh_fault_latency LOG - "p50 X us, p99 Y us" from poolvm's summary.
mh_fault_latency() {
	pvm_log_text "$1" | sed -n 's/.*summary: fault service \(p50 .*\)$/\1/p' | tail -n 1
}

# mh_remote_summary LOG - the remote tier's closing summary line.
mh_remote_summary() {
	pvm_log_text "$1" | grep -E '^poolvm: remote tier: slots=' | tail -n 1
}

# mh_summary_num LOG KEY - KEY=N from that line.
mh_summary_num() {
	mh_remote_summary "$1" | grep -oE "(^| )$2=[0-9]+" | head -n 1 | cut -d= -f2
}

# mh_json_num FILE KEY - first "KEY": N in a pod's stats JSON.
mh_json_num() {
	grep -oE "\"$2\"[[:space:]]*:[[:space:]]*[0-9]+" "$1" 2>/dev/null | head -n 1 |
		grep -oE '[0-9]+$' || true
}

# mh_slow_faults STATS - how many faults took 0.5 s or more (the pager's
# log2 histogram: bucket i holds [2^(i-1), 2^i) microseconds).
mh_slow_faults() {
	tr -d ' \n\t' <"$1" | sed -n 's/.*"log2_us_buckets":\[\([0-9,]*\)\].*/\1/p' |
		tr ',' '\n' | awk 'NR > 20 { s += $1 } END { print s + 0 }'
}

# mh_wait_leases N SECONDS - wait until pod N holds at least one lease.
mh_wait_leases() {
	local n=$1 limit=$2 start=$SECONDS v
	while [ $((SECONDS - start)) -lt "$limit" ]; do
		v=$(mh_json_num "$PVM_TMP/pod$n.json" alive)
		[ -n "$v" ] && [ "$v" -gt 0 ] && return 0
		if [ -n "$PVM_POOLVM_PID" ] && ! pvm_alive "$PVM_POOLVM_PID"; then
			return 1
		fi
		sleep 0.2
	done
	return 1
}

# mh_wait_exit SECONDS - wait for the background poolvm; its exit status
# (124 when it had to be killed at the limit).
mh_wait_exit() {
	local limit=$1 rc=0
	if ! pvm_wait_gone "$PVM_POOLVM_PID" "$limit"; then
		kill -TERM "$PVM_POOLVM_PID" 2>/dev/null || true
		sleep 5
		kill -KILL "$PVM_POOLVM_PID" 2>/dev/null || true
		wait "$PVM_POOLVM_PID" 2>/dev/null || true
		PVM_POOLVM_PID=
		return 124
	fi
	wait "$PVM_POOLVM_PID" || rc=$?
	PVM_POOLVM_PID=
	return "$rc"
}

# mh_memtest_start POD - the network, three pods and a guest running
# "pvm-memtest seq" (4 passes over 300 MiB) on the remote tier, back once
# pod POD holds a lease and the guest has run 3 s more. Sets log and stats.
mh_memtest_start() {
	local pod=$1 tier guest
	pvm_require_guest
	mh_net_up
	mh_start_pods
	log=$PVM_TMP/console.log
	stats=$PVM_TMP/stats.json
	mapfile -t tier < <(mh_tier_args)
	mapfile -t guest < <(mh_guest_args "$log" "$stats" "pvm-memtest seq --size 300 --passes 4")
	mh_start_guest "$log" "${tier[@]}" "${guest[@]}"
	pvm_wait_log "$log" '^pvm-memtest: start' 120 || pvm_fail "the workload did not start" "$log"
	mh_wait_leases "$pod" 60 || pvm_fail "pod $pod never got a lease" "$log"
	sleep 3
}

# mh_memtest_finish - wait for that guest; fail unless it exited 0 with its
# memtest verified and healthy pager stats.
mh_memtest_finish() {
	local rc=0
	mh_wait_exit 400 || rc=$?
	pvm_log_text "$log" | grep -E '^(pvm-memtest|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?):' || true
	[ "$rc" != 124 ] || pvm_fail "timed out" "$log"
	[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
	mh_check_memtest "$log" seq
	pvm_check_healthy_stats "$stats"
}
