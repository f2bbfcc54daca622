# tests/etcd/lib.sh — a real etcd and memory pods on 127.0.0.1 for the etcd
# suite. Sourced by tests/etcd/*.sh; not run by itself.
#
# Concepts:
# - Each test starts its own etcd (Debian's etcd-server): data directory
#   under /dev/shm when it is writable (fsyncs are cheap there), client and
#   peer ports picked free on 127.0.0.1. ET_URL is its client URL.
# - Pods are `poolvm pod` on 127.0.0.1 port 0 with --fabric tcp, each with
#   its own --pod-id, registered in that etcd with --etcd-ttl $ET_TTL.
#   et_start_pod N MEM sets ET_POD_ADDR[N] and ET_POD_PID[N].
# - This file sources tests/guest/lib.sh (PVM_TMP, options, guest helpers,
#   the cleanup of stray QEMUs). The EXIT trap kills poolvm, the pods and
#   etcd (by pid), removes the data directory, then runs the guest cleanup.
# - No etcd binary: exit 77 saying how to install it.

ET_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$ET_LIB_DIR/../guest/lib.sh"

ET_ETCD_PID=
ET_URL=
ET_DATA=
ET_TTL=${ET_TTL:-4}
ET_SECRET=
ET_POD_PID=()
ET_POD_ADDR=()
ET_EXTRA_PIDS=()

et_cleanup() {
	local rc=$1 pid
	trap - EXIT
	if [ -n "$PVM_POOLVM_PID" ] && pvm_alive "$PVM_POOLVM_PID"; then
		kill -KILL "$PVM_POOLVM_PID" 2>/dev/null || true
		wait "$PVM_POOLVM_PID" 2>/dev/null || true
	fi
	for pid in "${ET_POD_PID[@]}" "${ET_EXTRA_PIDS[@]}" "$ET_ETCD_PID"; do
		[ -n "$pid" ] || continue
		if pvm_alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	[ -n "$ET_DATA" ] && rm -rf "$ET_DATA"
	pvm_cleanup "$rc"
}

# et_init "$@" - the guest suite's options; etcd present; a pod secret.
et_init() {
	pvm_init "$@"
	trap 'et_cleanup $?' EXIT
	command -v etcd >/dev/null ||
		pvm_skip "no etcd binary (apt-get install etcd-server etcd-client)"
	ET_SECRET=$PVM_TMP/pods.secret
	head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$ET_SECRET"
	chmod 600 "$ET_SECRET"
}

# et_port_free PORT - nothing listens on 127.0.0.1:PORT.
et_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# et_free_port - a port nothing listens on now (random, 20000..59999).
et_free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if et_port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# et_registry ARGS... - poolvm registry against our etcd.
et_registry() {
	"$PVM_POOLVM" registry --etcd "$ET_URL" "$@"
}

# et_start_etcd - etcd on two free ports; waits until it answers.
et_start_etcd() {
	local try cport pport base=/dev/shm
	[ -d "$base" ] && [ -w "$base" ] || base=$PVM_TMP
	for try in 1 2 3; do
		cport=$(et_free_port) && pport=$(et_free_port) ||
			pvm_fail "no free port on 127.0.0.1"
		[ "$cport" != "$pport" ] || continue
		ET_DATA=$(mktemp -d "$base/pvm-etcd.XXXXXX")
		ET_URL=http://127.0.0.1:$cport
		etcd --name pvm --data-dir "$ET_DATA" \
			--listen-client-urls "$ET_URL" --advertise-client-urls "$ET_URL" \
			--listen-peer-urls "http://127.0.0.1:$pport" \
			--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
			--initial-cluster "pvm=http://127.0.0.1:$pport" \
			>"$PVM_TMP/etcd.log" 2>&1 </dev/null &
		ET_ETCD_PID=$!
		for _ in $(seq 1 100); do
			if et_registry ls >/dev/null 2>&1; then
				pvm_say "etcd $(etcd --version | head -n 1 | awk '{print $3}') at $ET_URL (pid $ET_ETCD_PID)"
				return 0
			fi
			pvm_alive "$ET_ETCD_PID" || break
			sleep 0.2
		done
		kill -KILL "$ET_ETCD_PID" 2>/dev/null || true
		wait "$ET_ETCD_PID" 2>/dev/null || true
		ET_ETCD_PID=
		rm -rf "$ET_DATA"
		ET_DATA=
	done
	pvm_fail "etcd did not start" "$PVM_TMP/etcd.log"
}

# et_start_pod N MEMORY [ARGS...] - poolvm pod registered in our etcd.
et_start_pod() {
	local n=$1 mem=$2 log=$PVM_TMP/pod$1.log
	shift 2
	: >"$log"
	"$PVM_POOLVM" pod --memory "$mem" --listen 127.0.0.1:0 --fabric tcp \
		--secret-file "$ET_SECRET" --pod-id "pod$n" --etcd "$ET_URL" \
		--etcd-ttl "$ET_TTL" --stats-json "$PVM_TMP/pod$n.json" --poll-us 0 \
		"$@" >"$log" 2>&1 </dev/null &
	ET_POD_PID[$n]=$!
	pvm_wait_log "$log" 'registered as' 20 || pvm_fail "pod $n did not register" "$log"
	ET_POD_ADDR[$n]=$(sed -n 's/^poolvm pod: serving .* on \(.*\) (tcp)$/\1/p' "$log" | head -n 1)
	[ -n "${ET_POD_ADDR[$n]}" ] || pvm_fail "pod $n: no serving line" "$log"
}

# et_json_pods - "ADDR TOTAL FREE RESERVED" per registered pod.
et_json_pods() {
	et_registry ls --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
for p in v["pods"]:
    print(p["address"], p["total"], p["free"], p["reserved"])
'
}

# et_listed ADDR - is pod ADDR in the registry now?
et_listed() {
	et_json_pods | awk -v a="$1" '$1 == a { f = 1 } END { exit !f }'
}

# et_wait_unlisted ADDR SECONDS - wait until ADDR left the registry.
et_wait_unlisted() {
	local start=$SECONDS
	while [ $((SECONDS - start)) -lt "$2" ]; do
		et_listed "$1" || return 0
		sleep 0.25
	done
	return 1
}

# et_run_guest REGISTRY PASSES - in the background (PVM_POOLVM_PID): a 256
# MiB guest, 64 MiB of it local, on the remote tier (replicas 2) over the
# pods found in REGISTRY, running "pvm-memtest seq --size 160" PASSES times;
# back once the workload started. Sets log and stats.
et_run_guest() {
	local reg=$1 passes=$2
	log=$PVM_TMP/console.log
	stats=$PVM_TMP/stats.json
	: >"$log"
	pvm_say "poolvm run --tier remote --registry $reg &"
	"$PVM_POOLVM" run --mem 256M --local 64M --tier remote --registry "$reg" \
		--secret-file "$ET_SECRET" --fabric tcp --replicas 2 \
		--kernel "$PVM_KERNEL" --initrd "$PVM_INITRD" --stats-json "$stats" \
		--append "console=ttyS0 quiet pvm_run=\"pvm-memtest seq --size 160 --passes $passes\"" \
		>"$log" 2>&1 </dev/null &
	PVM_POOLVM_PID=$!
	pvm_wait_log "$log" '^pvm-memtest: start' 120 || pvm_fail "the workload did not start" "$log"
}

# et_find_victim - a pod that holds leases of that guest (its free
# capacity in the registry went down): sets victim (its address) and n
# (its index in ET_POD_ADDR).
et_find_victim() {
	local addr total free reserved i
	victim=
	for _ in $(seq 1 100); do
		while read -r addr total free reserved; do
			if [ "$free" -lt "$total" ] && [ "$reserved" -gt 0 ]; then
				victim=$addr
				break
			fi
		done < <(et_json_pods)
		[ -n "$victim" ] && break
		pvm_alive "$PVM_POOLVM_PID" || pvm_fail "poolvm exited early" "$log"
		sleep 0.3
	done
	[ -n "$victim" ] || pvm_fail "no pod's free capacity went down in the registry" "$log"
	for i in "${!ET_POD_ADDR[@]}"; do
		[ "${ET_POD_ADDR[$i]}" = "$victim" ] && n=$i
	done
	return 0
}
