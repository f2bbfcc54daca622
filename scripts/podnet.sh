#!/bin/bash
# scripts/podnet.sh — several "hosts" on one machine: memory pods and a VMM
# in their own network namespaces, joined by veth pairs on a bridge.
#
# Used two ways:
#   sourced   (tests/multihost/lib.sh): the podnet_* functions below
#   run       (bench/pager_bench.py, by hand):
#       scripts/podnet.sh up ID NPODS POD_EXE SECRET_FILE MEMORY DIR
#           namespaces ID-br (bridge br0), ID-pod1..NPODS, ID-vmm; starts
#           POD_EXE (`poolvm pod` or pvm-pod) in each pod namespace with
#           MEMORY, logs DIR/podN.log, stats DIR/podN.json, pid DIR/podN.pid;
#           prints the pod addresses, one per line, once all serve.
#       scripts/podnet.sh down ID [DIR]
#           stops the pods named by DIR/podN.pid and deletes the namespaces.
#       scripts/podnet.sh exec ID vmm|podN COMMAND...
#   PODNET_POD_ARGS (environment): more options for every pod, e.g.
#       PODNET_POD_ARGS="--poll-us 200"
#           runs COMMAND in that namespace.
#
# Addresses exist only inside the namespaces (nothing touches the root
# namespace): VMM 10.250.1.100, pod N 10.250.1.(10+N), port 7300. The
# bridge ports are named pod1.. and vmm, so `ip -n ID-br link set pod2 down`
# cuts pod 2 off and tc qdiscs can go on them. Needs root and iproute2.

PODNET_PORT=7300
PODNET_POD_ARGS=${PODNET_POD_ARGS:-}
PODNET_VMM_ADDR=10.250.1.100

podnet_pod_addr() {             # podnet_pod_addr N
	echo "10.250.1.$((10 + $1)):$PODNET_PORT"
}

podnet_err() {
	echo "podnet: $*" >&2
}

# podnet_add_host ID NAME ADDR - namespace ID-NAME with eth0 at ADDR,
# bridged as port NAME of ID-br's br0.
podnet_add_host() {
	local id=$1 name=$2 addr=$3 ns=$1-$2 br=$1-br
	ip netns add "$ns" || { podnet_err "ip netns add $ns failed"; return 1; }
	ip -n "$ns" link set lo up &&
	ip -n "$ns" link add eth0 type veth peer name "$name" netns "$br" &&
	ip -n "$br" link set "$name" master br0 &&
	ip -n "$br" link set "$name" up &&
	ip -n "$ns" addr add "$addr/24" dev eth0 &&
	ip -n "$ns" link set eth0 up ||
		{ podnet_err "cannot wire host $name ($ns)"; return 1; }
}

# podnet_net_up ID NPODS - the bridge namespace, NPODS pod hosts, the VMM.
# Return 2 when a bridge cannot be made here, 1 on other failures.
podnet_net_up() {
	local id=$1 npods=$2 i
	ip netns add "$id-br" || { podnet_err "ip netns add $id-br failed"; return 1; }
	ip -n "$id-br" link set lo up
	ip -n "$id-br" link add br0 type bridge ||
		{ podnet_err "cannot create a bridge here"; return 2; }
	ip -n "$id-br" link set br0 up
	# A bridge stands in for a switch: frames crossing it must not also
	# traverse iptables (br_netfilter, when loaded, would add its cost to
	# every page moved). Per namespace; absent without br_netfilter.
	ip netns exec "$id-br" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 \
		net.bridge.bridge-nf-call-arptables=0 2>/dev/null || true
	for i in $(seq "$npods"); do
		podnet_add_host "$id" "pod$i" "10.250.1.$((10 + i))" || return 1
	done
	podnet_add_host "$id" vmm "$PODNET_VMM_ADDR"
}

# podnet_net_down ID - kill what still runs in the namespaces named ID-*
# (a process keeps a deleted namespace alive), then delete them (their
# links go too).
podnet_net_down() {
	local ns pids
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		case "$ns" in
		"$1"-*)
			pids=$(ip netns pids "$ns" 2>/dev/null)
			if [ -n "$pids" ]; then
				# shellcheck disable=SC2086
				kill -KILL $pids 2>/dev/null || true
			fi
			ip netns del "$ns" 2>/dev/null || true
			;;
		esac
	done
}

# podnet_start_pod ID N POD_EXE SECRET MEMORY LOG STATS - start pod N in
# the background; sets PODNET_PID. Waits (10 s at most) until it serves.
# shellcheck disable=SC2086
podnet_start_pod() {
	local id=$1 n=$2 exe=$3 secret=$4 mem=$5 log=$6 stats=$7 i
	ip netns exec "$id-pod$n" "$exe" --memory "$mem" \
		--listen "$(podnet_pod_addr "$n")" --secret-file "$secret" \
		--fabric tcp --pod-id "$id-pod$n" --stats-json "$stats" \
		--drain-timeout 30 $PODNET_POD_ARGS >"$log" 2>&1 </dev/null &
	PODNET_PID=$!
	for i in $(seq 100); do
		grep -q 'serving' "$log" 2>/dev/null && return 0
		kill -0 "$PODNET_PID" 2>/dev/null || { podnet_err "pod $n exited at start (see $log)"; return 1; }
		sleep 0.1
	done
	podnet_err "pod $n did not start serving within 10 s (see $log)"
	return 1
}

podnet_main() {
	local cmd=${1:-} id i pid ns
	case "$cmd" in
	up)
		[ "$#" = 7 ] || { podnet_err "usage: $0 up ID NPODS POD_EXE SECRET_FILE MEMORY DIR"; return 2; }
		id=$2
		[ "$(id -u)" = 0 ] || { podnet_err "needs root"; return 1; }
		podnet_net_up "$id" "$3" || { podnet_net_down "$id"; return 1; }
		for i in $(seq "$3"); do
			if ! podnet_start_pod "$id" "$i" "$4" "$5" "$6" "$7/pod$i.log" "$7/pod$i.json"; then
				podnet_main down "$id" "$7"
				return 1
			fi
			# the pod must outlive this script: it is reparented
			echo "$PODNET_PID" >"$7/pod$i.pid"
		done
		for i in $(seq "$3"); do
			podnet_pod_addr "$i"
		done
		;;
	down)
		[ "$#" -ge 2 ] || { podnet_err "usage: $0 down ID [DIR]"; return 2; }
		id=$2
		if [ -n "${3:-}" ]; then
			for pid in "$3"/pod*.pid; do
				[ -f "$pid" ] || continue
				kill -TERM "$(cat "$pid")" 2>/dev/null || true
			done
			sleep 0.5
			for pid in "$3"/pod*.pid; do
				[ -f "$pid" ] || continue
				kill -KILL "$(cat "$pid")" 2>/dev/null || true
				rm -f "$pid"
			done
		fi
		podnet_net_down "$id"
		;;
	exec)
		[ "$#" -ge 4 ] || { podnet_err "usage: $0 exec ID vmm|podN COMMAND..."; return 2; }
		ns=$2-$3
		shift 3
		exec ip netns exec "$ns" "$@"
		;;
	*)
		podnet_err "usage: $0 up|down|exec ... (see the head of this file)"
		return 2
		;;
	esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	podnet_main "$@"
	exit $?
fi
