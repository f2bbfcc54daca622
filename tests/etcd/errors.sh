#!/bin/bash
# tests/etcd/errors.sh [options] — etcd unreachable, broken or hostile:
# clear errors, no crash, nothing registered or reserved by mistake.
#
# Pass: against a port where nothing listens, `poolvm registry ls`,
# `poolvm pod --etcd` and `poolvm run --registry` fail (exit 1, or 2 for
# run's startup) saying "etcd unreachable" and naming the endpoint; against
# a fake server answering HTML, wrong JSON, an empty 500, a closed
# connection, 9 MiB of junk or an authentication error, each fails with a
# message saying what was wrong (never a signal); a dead first endpoint
# fails over to a live second one; malformed registry entries written by
# someone else are skipped with a warning while good pods still show.
set -euo pipefail
PVM_TEST_NAME=etcd_errors
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
et_init "$@"
command -v python3 >/dev/null || pvm_skip "no python3 for the fake server"
dead=$(et_free_port) || pvm_fail "no free port"

# expect_fail WHAT PATTERN CMD... - CMD exits 1 or 2 and says PATTERN.
expect_fail() {
	local what=$1 pat=$2 rc=0 out=$PVM_TMP/out
	shift 2
	timeout 60 "$@" >"$out" 2>&1 </dev/null || rc=$?
	if [ "$rc" != 1 ] && [ "$rc" != 2 ] && [ "$rc" != 3 ]; then
		cat "$out"
		pvm_fail "$what: exit status $rc (expected a clean failure, 1..3)"
	fi
	grep -qE "$pat" "$out" || { cat "$out"; pvm_fail "$what: no message matching '$pat'"; }
	pvm_say "$what: $(grep -E "$pat" "$out" | head -n 1)"
}

# Nothing listening.
ET_URL=http://127.0.0.1:$dead
expect_fail "ls, etcd down" "etcd unreachable .*127\.0\.0\.1:$dead" "$PVM_POOLVM" registry --etcd "$ET_URL" ls
expect_fail "pod, etcd down" "cannot take an etcd lease: etcd unreachable" \
	"$PVM_POOLVM" pod --memory 32M --listen 127.0.0.1:0 --fabric tcp \
	--secret-file "$ET_SECRET" --etcd "127.0.0.1:$dead"
expect_fail "run, etcd down" "pod registry: etcd unreachable" \
	"$PVM_POOLVM" run --mem 64M --local 32M --tier remote --secret-file "$ET_SECRET" \
	--registry "etcd://127.0.0.1:$dead" --kernel /nonexistent
expect_fail "bad endpoint" "only http:// and https://" \
	"$PVM_POOLVM" registry --etcd "ftp://127.0.0.1:$dead" ls
expect_fail "bad --registry" "is not etcd://HOST:PORT" \
	"$PVM_POOLVM" run --mem 64M --local 32M --tier remote --secret-file "$ET_SECRET" \
	--registry "http://127.0.0.1:$dead" --kernel /nonexistent

# A hostile or broken server.
for mode in html badjson empty500 close huge auth; do
	# Port 0: the kernel picks a free one (a port probed free before
	# the server binds it can be taken meanwhile).
	: >"$PVM_TMP/fake.log"
	python3 "$(dirname "${BASH_SOURCE[0]}")/fake_etcd.py" 0 "$mode" \
		>"$PVM_TMP/fake.log" 2>&1 &
	fpid=$!
	ET_EXTRA_PIDS=("$fpid")
	pvm_wait_log "$PVM_TMP/fake.log" listening 10 || pvm_fail "fake server did not start" "$PVM_TMP/fake.log"
	port=$(sed -n 's/^listening \([0-9][0-9]*\)$/\1/p' "$PVM_TMP/fake.log" | head -n 1)
	[ -n "$port" ] || pvm_fail "fake server did not say its port" "$PVM_TMP/fake.log"
	ET_URL=http://127.0.0.1:$port
	case $mode in
	html) pat="malformed answer: answer is not JSON" ;;
	badjson) pat="malformed answer: answer has no header with a revision" ;;
	empty500|close) pat="etcd unreachable" ;;
	huge) pat="larger than 8 MiB" ;;
	auth) pat="requires authentication" ;;
	esac
	expect_fail "ls, fake etcd ($mode)" "$pat" "$PVM_POOLVM" registry --etcd "$ET_URL" ls
	expect_fail "pod, fake etcd ($mode)" "cannot take an etcd lease" \
		"$PVM_POOLVM" pod --memory 32M --listen 127.0.0.1:0 --fabric tcp \
		--secret-file "$ET_SECRET" --etcd "$ET_URL"
	expect_fail "run, fake etcd ($mode)" "pod registry: .*($pat)" \
		"$PVM_POOLVM" run --mem 64M --local 32M --tier remote \
		--secret-file "$ET_SECRET" --registry "etcd://127.0.0.1:$port" \
		--kernel /nonexistent
	kill -KILL "$fpid" 2>/dev/null || true
	wait "$fpid" 2>/dev/null || true
	ET_EXTRA_PIDS=()
done

# A real etcd behind a dead endpoint: fail over.
et_start_etcd
good=$ET_URL
ET_URL="http://127.0.0.1:$dead,$good"
et_start_pod 1 64M
ET_URL=$good
et_listed "${ET_POD_ADDR[1]}" || pvm_fail "the pod did not register through the second endpoint"

# Junk in the registry, written by someone else: skipped, said, no crash.
python3 - "$good" <<'PY'
import base64, json, sys, urllib.request
def put(k, v):
    b = lambda s: base64.b64encode(s.encode()).decode()
    req = urllib.request.Request(sys.argv[1] + "/v3/kv/put",
        data=json.dumps({"key": b(k), "value": b(v)}).encode())
    urllib.request.urlopen(req).read()
put("/poolvm/pods/evil:1", '{"address":"evil:1","fabric":"tcp","total":10,"free":99}')
put("/poolvm/pods/worse:1", "\u0000\u00ff not json")
put("/poolvm/reservations/x", '{"bytes":1}')
put("/poolvm/reservations/evil:1/vm", '{"bytes":-5}')
PY
out=$PVM_TMP/ls.out
et_registry ls >"$out" 2>&1 || { cat "$out"; pvm_fail "ls failed on a registry with junk"; }
cat "$out"
grep -q "${ET_POD_ADDR[1]}" "$out" || pvm_fail "the good pod is not shown next to the junk"
grep -q "4 malformed entries ignored" "$out" || pvm_fail "the junk was not reported"
grep -q "evil" "$out" && ! grep -q "malformed" "$out" && pvm_fail "junk shown as a pod"
pvm_pass "unreachable, 6 kinds of broken server, fail-over and junk entries all handled"
