#!/bin/bash
# tests/etcd/race.sh [options] — two reservers race for the last slab of a
# pod, many rounds, through the registry's transactions against a real etcd.
#
# Each round: a pod of 192 MiB; a holder reserves 128 MiB; then two
# processes, released together by a barrier (a FIFO both block on), each
# ask for the last 64 MiB with --hold-read 150 (they read the ledger, wait,
# then write: both read before either writes). Pass: in every round exactly
# one wins, the other is told there is no room, the pod's reservations sum
# to exactly its total, and over all rounds the losing transactions were
# seen conflicting (proof that the two really raced). Then a VMM
# (poolvm run --registry) asking for 64 MiB on the full pod refuses to
# start, saying how much is missing; and of two VMMs racing for the last
# 64 MiB exactly one starts.
set -euo pipefail
PVM_TEST_NAME=etcd_race
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROUNDS=${ET_RACE_ROUNDS:-15}
et_init "$@"
et_start_etcd
et_start_pod 1 192M
pod=${ET_POD_ADDR[1]}
total=$((192 << 20))

racer() {       # racer ID FIFO OUT - wait at the barrier, then reserve
	read -r _ <"$2"
	rc=0
	et_registry reserve --pod "$pod" --size 64M --id "$1" --ttl 120 \
		--hold-read 150 >"$3" 2>&1 || rc=$?
	echo "rc=$rc" >>"$3"
}

# start_pair FN FIFO A B - FN A FIFO OUT_A and FN B FIFO OUT_B in the
# background (pids pa, pb), both blocked on FIFO, then released at once:
# opening the FIFO for writing wakes both readers together.
start_pair() {
	local fn=$1 fifo=$2 a=$3 b=$4
	mkfifo "$fifo"
	"$fn" "$a" "$fifo" "$PVM_TMP/$a.out" &
	pa=$!
	"$fn" "$b" "$fifo" "$PVM_TMP/$b.out" &
	pb=$!
	ET_EXTRA_PIDS=("$pa" "$pb")
	sleep 0.05
	exec 7>"$fifo"
	echo go >&7
	echo go >&7
	exec 7>&-
}

wins_a=0 wins_b=0 conflicts=0
for round in $(seq 1 "$ROUNDS"); do
	for id in holder racer-a racer-b; do
		et_registry release --id "$id" || pvm_fail "round $round: release failed"
	done
	et_registry reserve --pod "$pod" --size 128M --id holder --ttl 120 >/dev/null ||
		pvm_fail "round $round: the holder could not reserve 128 MiB"
	fifo=$PVM_TMP/barrier.$round
	start_pair racer "$fifo" racer-a racer-b
	wait "$pa" "$pb"
	ET_EXTRA_PIDS=()
	rm -f "$fifo"
	ra=$(sed -n 's/^rc=//p' "$PVM_TMP/racer-a.out")
	rb=$(sed -n 's/^rc=//p' "$PVM_TMP/racer-b.out")
	if [ "$ra" = 0 ] && [ "$rb" = 0 ]; then
		cat "$PVM_TMP/racer-a.out" "$PVM_TMP/racer-b.out"
		pvm_fail "round $round: BOTH racers got the last slab (double booking)"
	fi
	if [ "$ra" != 0 ] && [ "$rb" != 0 ]; then
		cat "$PVM_TMP/racer-a.out" "$PVM_TMP/racer-b.out"
		pvm_fail "round $round: neither racer got the free slab"
	fi
	loser=$PVM_TMP/racer-b.out
	if [ "$ra" = 0 ]; then wins_a=$((wins_a + 1)); else wins_b=$((wins_b + 1)); loser=$PVM_TMP/racer-a.out; fi
	grep -q 'no room for 64.0 MiB more' "$loser" ||
		{ cat "$loser"; pvm_fail "round $round: the loser failed for another reason than no room"; }
	c=$(cat "$PVM_TMP/racer-a.out" "$PVM_TMP/racer-b.out" | grep -oE '[0-9]+ conflicts' | awk '{ s += $1 } END { print s + 0 }')
	conflicts=$((conflicts + c))
	reserved=$(et_json_pods | awk -v a="$pod" '$1 == a { print $4 }')
	[ "$reserved" = "$total" ] ||
		pvm_fail "round $round: the pod's reservations sum to $reserved, not its total $total"
done
et_registry ls
# A VMM finds the same ledger full: it refuses to start, saying so.
rc=0
"$PVM_POOLVM" run --mem 64M --local 32M --replicas 1 --tier remote \
	--registry "etcd://${ET_URL#http://}" --secret-file "$ET_SECRET" \
	--kernel /nonexistent >"$PVM_TMP/run.out" 2>&1 </dev/null || rc=$?
[ "$rc" != 0 ] && [ "$rc" -lt 128 ] || { cat "$PVM_TMP/run.out"; pvm_fail "poolvm run on a full registry: exit $rc"; }
grep -q 'lack room for 1 copies of 64.0 MiB: 64.0 MiB short' "$PVM_TMP/run.out" ||
	{ cat "$PVM_TMP/run.out"; pvm_fail "poolvm run on a full registry did not say it lacks room"; }

# Two VMMs (poolvm run --registry) race for the last 64 MiB, started
# together by the barrier. Their QEMU is a stand-in that marks that it ran
# and lives 4 s (so the winner holds its reservation while the other
# tries). Pass: exactly one VMM got as far as starting QEMU; the other
# refused for lack of room; the ledger never exceeds the pod's total.
vmm_racer() {   # vmm_racer ID FIFO OUT
	read -r _ <"$2"
	rc=0
	"$PVM_POOLVM" run --name "$1" --mem 64M --local 32M --replicas 1 --tier remote \
		--registry "etcd://${ET_URL#http://}" --secret-file "$ET_SECRET" \
		--qemu "$PVM_TMP/fake-qemu-$1" --kernel /nonexistent >"$3" 2>&1 </dev/null || rc=$?
	echo "rc=$rc" >>"$3"
}
et_registry release --id racer-a && et_registry release --id racer-b ||
	pvm_fail "could not release the racers' reservations"
for id in vmm-a vmm-b; do
	printf '#!/bin/sh\ntouch %s\nsleep 4\nexit 1\n' "$PVM_TMP/qemu-ran-$id" >"$PVM_TMP/fake-qemu-$id"
	chmod 755 "$PVM_TMP/fake-qemu-$id"
done
start_pair vmm_racer "$PVM_TMP/barrier.vmm" vmm-a vmm-b
# While both run: the pod's reservations never exceed its total.
for _ in 1 2 3 4 5 6; do
	sleep 0.5
	reserved=$(et_json_pods | awk -v a="$pod" '$1 == a { print $4 }')
	[ "${reserved:-0}" -le "$total" ] ||
		pvm_fail "with two VMMs racing the pod's reservations sum to $reserved > $total"
done
wait "$pa" "$pb" || true
ET_EXTRA_PIDS=()
ran=0 refused=0
for id in vmm-a vmm-b; do
	[ -e "$PVM_TMP/qemu-ran-$id" ] && ran=$((ran + 1))
	grep -q 'lack room for 1 copies of 64.0 MiB' "$PVM_TMP/$id.out" && refused=$((refused + 1))
done
if [ "$ran" != 1 ] || [ "$refused" != 1 ]; then
	cat "$PVM_TMP/vmm-a.out" "$PVM_TMP/vmm-b.out"
	pvm_fail "two VMMs racing for the last slab: $ran started QEMU, $refused refused for lack of room (want 1 and 1)"
fi
[ "$conflicts" -gt 0 ] ||
	pvm_fail "no transaction ever conflicted in $ROUNDS rounds: the racers did not race"
pvm_pass "$ROUNDS rounds, never double-booked (racer a won $wins_a, b won $wins_b; $conflicts conflicting transactions retried); of two racing VMMs one started, one refused"
