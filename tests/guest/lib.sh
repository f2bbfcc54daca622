# tests/guest/lib.sh — shared helpers for the guest suite. Sourced by each
# tests/guest/*.sh test; not run by itself.
#
# Concepts:
# - A test is a bash script that exits 0 (pass), 1 (fail) or 77 (skip, with
#   the reason on stdout). meson passes the paths it built as options:
#     --poolvm FILE --kernel FILE --initrd FILE --build-guest FILE
#     --memtest FILE --bootcount FILE
#   pvm_init parses them into PVM_POOLVM, PVM_KERNEL, PVM_INITRD,
#   PVM_BUILD_GUEST, PVM_MEMTEST, PVM_BOOTCOUNT.
# - Every test owns one temporary directory, PVM_TMP, under
#   $POOLVM_TEST_TMPDIR (default /var/tmp: a real disk, like a user's tier).
#   poolvm's runtime directory (POOLVM_RUNDIR) lives there too, so every
#   QEMU this test starts carries POOLVM_ATTACH_SOCK=$PVM_TMP/... in its
#   environment. The EXIT trap finds such QEMUs through /proc, kills them,
#   turns a pass into a fail if it had to, and removes PVM_TMP.
# - Guest console lines end in CR LF; pvm_log_text strips the CRs.

PVM_TEST_NAME=${PVM_TEST_NAME:-$(basename "${0%.sh}")}
PVM_TMP=
PVM_POOLVM_PID=
PVM_KEEP=${POOLVM_TEST_KEEP:-0}

pvm_say() {
	printf '%s: %s\n' "$PVM_TEST_NAME" "$*"
}

# pvm_skip REASON - exit 77 (meson: SKIP) saying why.
pvm_skip() {
	printf 'SKIP %s: %s\n' "$PVM_TEST_NAME" "$*"
	exit 77
}

# pvm_fail REASON [LOG] - exit 1 saying why, with the tail of LOG if given.
pvm_fail() {
	printf 'FAIL %s: %s\n' "$PVM_TEST_NAME" "$1"
	if [ -n "${2:-}" ] && [ -f "$2" ]; then
		echo "---- last 40 lines of $2 ----"
		tail -n 40 "$2" | tr -d '\r'
		echo "----"
	fi
	exit 1
}

pvm_pass() {
	printf 'PASS %s%s\n' "$PVM_TEST_NAME" "${1:+: $1}"
	exit 0
}

# Running (not zombie) processes whose environment names our runtime dir:
# the QEMUs this test started, whoever their parent is now.
pvm_stray_qemus() {
	local env pid state
	[ -n "$PVM_TMP" ] || return 0
	for env in /proc/[0-9]*/environ; do
		pid=${env#/proc/}
		pid=${pid%/environ}
		[ "$pid" != "$$" ] || continue
		if grep -qaF "POOLVM_ATTACH_SOCK=$PVM_TMP/" "$env" 2>/dev/null; then
			state=$(pvm_proc_state "$pid")
			[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] && echo "$pid"
		fi
	done
	return 0
}

# pvm_proc_state PID - the one-letter state of PID, empty when it is gone.
pvm_proc_state() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	echo "${stat%% *}"
}

# pvm_alive PID - true while PID exists and is not a zombie.
pvm_alive() {
	local s
	s=$(pvm_proc_state "$1")
	[ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

pvm_cleanup() {
	local rc=$1 pids pid
	trap - EXIT
	if [ -n "$PVM_POOLVM_PID" ] && pvm_alive "$PVM_POOLVM_PID"; then
		kill -KILL "$PVM_POOLVM_PID" 2>/dev/null || true
		wait "$PVM_POOLVM_PID" 2>/dev/null || true
	fi
	pids=$(pvm_stray_qemus)
	if [ -n "$pids" ]; then
		echo "$PVM_TEST_NAME: QEMU still running at the end of the test (pid" \
			$pids"); killing it"
		for pid in $pids; do
			kill -KILL "$pid" 2>/dev/null || true
		done
		if [ "$rc" = 0 ]; then
			echo "FAIL $PVM_TEST_NAME: a QEMU outlived its poolvm"
			rc=1
		fi
	fi
	if [ -n "$PVM_TMP" ] && [ -d "$PVM_TMP" ]; then
		if [ "$PVM_KEEP" = 1 ] && [ "$rc" != 0 ]; then
			echo "$PVM_TEST_NAME: keeping $PVM_TMP (POOLVM_TEST_KEEP=1)"
		else
			rm -rf "$PVM_TMP"
		fi
	fi
	exit "$rc"
}

# pvm_init "$@" - parse the paths meson passes, make PVM_TMP, set the trap.
pvm_init() {
	local base
	PVM_POOLVM='' PVM_KERNEL='' PVM_INITRD='' PVM_BUILD_GUEST='' PVM_MEMTEST='' PVM_BOOTCOUNT=''
	while [ "$#" -gt 0 ]; do
		[ "$#" -ge 2 ] || pvm_fail "option $1 needs a value"
		case "$1" in
		--poolvm) PVM_POOLVM=$(readlink -f "$2") ;;
		--kernel) PVM_KERNEL=$(readlink -f "$2") ;;
		--initrd) PVM_INITRD=$(readlink -f "$2") ;;
		--build-guest) PVM_BUILD_GUEST=$(readlink -f "$2") ;;
		--memtest) PVM_MEMTEST=$(readlink -f "$2") ;;
		--bootcount) PVM_BOOTCOUNT=$(readlink -f "$2") ;;
		*) pvm_fail "unknown option $1 (see tests/guest/lib.sh)" ;;
		esac
		shift 2
	done
	[ -x "$PVM_POOLVM" ] || pvm_fail "poolvm binary '$PVM_POOLVM' missing (build first)"
	base=${POOLVM_TEST_TMPDIR:-/var/tmp}
	[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
	PVM_TMP=$(mktemp -d "$base/poolvm-test-$PVM_TEST_NAME.XXXXXX") ||
		pvm_fail "cannot create a temporary directory under $base"
	trap 'pvm_cleanup $?' EXIT
	trap 'exit 1' INT TERM HUP
	export POOLVM_RUNDIR=$PVM_TMP
	# control sockets (docs/metrics.md) stay in the test's directory too
	export POOLVM_RUN_DIR=$PVM_TMP/run
}

# pvm_require_guest - skip unless this host can boot a paged guest.
pvm_require_guest() {
	command -v qemu-system-x86_64 >/dev/null ||
		pvm_skip "no qemu-system-x86_64 on PATH (apt-get install qemu-system-x86)"
	[ -r /proc/sys/vm/unprivileged_userfaultfd ] ||
		pvm_skip "this kernel has no userfaultfd (CONFIG_USERFAULTFD)"
	if [ "$(id -u)" != 0 ] &&
	   [ "$(cat /proc/sys/vm/unprivileged_userfaultfd)" != 1 ]; then
		pvm_skip "not root and vm.unprivileged_userfaultfd=0: run as root"
	fi
	[ -f "$PVM_KERNEL" ] && [ -f "$PVM_INITRD" ] ||
		pvm_fail "guest image missing: '$PVM_KERNEL' / '$PVM_INITRD' (meson compile guest-image)"
}

# pvm_build_image DIR [build-guest.sh options...] - a test image in DIR with
# pvm-memtest and pvm-bootcount in /bin. Prints the builder's messages;
# returns its status.
pvm_build_image() {
	local dir=$1
	shift
	[ -f "$PVM_BUILD_GUEST" ] || pvm_fail "images/build-guest.sh not passed (--build-guest)"
	bash "$PVM_BUILD_GUEST" --out "$dir" \
		--add "$PVM_MEMTEST:/bin/" --add "$PVM_BOOTCOUNT:/bin/" "$@"
}

# pvm_build_image_with_modules DIR NAME 'MODULES' - pvm_build_image with
# kernel modules; skips the test (77) when the guest kernel's modules
# cannot be packed, fails it on any other build error.
pvm_build_image_with_modules() {
	local dir=$1 name=$2 modules=$3
	if ! pvm_build_image "$dir" --name "$name" --modules "$modules" \
		>"$PVM_TMP/build.log" 2>&1; then
		if grep -qE 'modules\.dep|module .* is not in' "$PVM_TMP/build.log"; then
			cat "$PVM_TMP/build.log"
			pvm_skip "cannot pack $modules from the guest kernel's modules"
		fi
		pvm_fail "building the test image failed" "$PVM_TMP/build.log"
	fi
}

# pvm_log_text LOG - LOG without the console's carriage returns.
pvm_log_text() {
	tr -d '\r' <"$1"
}

# pvm_run_guest LOG TIMEOUT POOLVM-RUN-ARGS... - run poolvm in the
# foreground, stdout and stderr to LOG; returns poolvm's status (124 after
# TIMEOUT seconds: poolvm gets SIGTERM, then SIGKILL 15 s later).
pvm_run_guest() {
	local log=$1 limit=$2 rc=0
	shift 2
	pvm_say "poolvm run $*"
	timeout --kill-after=15 "$limit" "$PVM_POOLVM" run "$@" >"$log" 2>&1 </dev/null || rc=$?
	return "$rc"
}

# pvm_start_guest LOG POOLVM-RUN-ARGS... - start poolvm in the background;
# sets PVM_POOLVM_PID.
pvm_start_guest() {
	local log=$1
	shift
	pvm_say "poolvm run $* &"
	"$PVM_POOLVM" run "$@" >"$log" 2>&1 </dev/null &
	PVM_POOLVM_PID=$!
}

# pvm_wait_log LOG REGEX SECONDS - wait until LOG has a line matching REGEX
# (grep -E). Fails early if the background poolvm died.
pvm_wait_log() {
	local log=$1 re=$2 limit=$3 start=$SECONDS
	while [ $((SECONDS - start)) -lt "$limit" ]; do
		pvm_log_text "$log" | grep -qE "$re" && return 0
		if [ -n "$PVM_POOLVM_PID" ] && ! pvm_alive "$PVM_POOLVM_PID"; then
			pvm_log_text "$log" | grep -qE "$re" && return 0
			return 1
		fi
		sleep 0.2
	done
	return 1
}

# pvm_wait_gone PID SECONDS - wait until PID is gone or a zombie.
pvm_wait_gone() {
	local pid=$1 limit=$2 i=0
	while pvm_alive "$pid"; do
		[ "$i" -lt $((limit * 10)) ] || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 0
}

# pvm_qemu_pid LOG - the QEMU pid poolvm reported when the pager attached.
pvm_qemu_pid() {
	pvm_log_text "$1" | sed -n 's/.*pager attached to QEMU \([0-9][0-9]*\):.*/\1/p' | head -n 1
}

# pvm_json_num FILE KEY - the first integer value of "KEY" in FILE (the
# pager's counters come before the per-tier ones). Empty if absent.
pvm_json_num() {
	grep -oE "\"$2\"[[:space:]]*:[[:space:]]*-?[0-9]+" "$1" 2>/dev/null |
		head -n 1 | grep -oE -- '-?[0-9]+$' || true
}

# pvm_check_positive FILE KEY... - fail unless each KEY is a number > 0.
pvm_check_positive() {
	local file=$1 key v
	shift
	[ -s "$file" ] || pvm_fail "no stats JSON at $file"
	for key in "$@"; do
		v=$(pvm_json_num "$file" "$key")
		[ -n "$v" ] || pvm_fail "stats JSON has no \"$key\"" "$file"
		[ "$v" -gt 0 ] || pvm_fail "stats JSON: $key=$v, expected > 0" "$file"
	done
}

# pvm_check_healthy_stats FILE - exit_code 0, no store or load errors, no
# pager failure.
pvm_check_healthy_stats() {
	local file=$1 v
	[ -s "$file" ] || pvm_fail "no stats JSON at $file"
	v=$(pvm_json_num "$file" exit_code)
	[ "$v" = 0 ] || pvm_fail "stats JSON: exit_code=$v" "$file"
	for key in store_errors load_errors; do
		v=$(pvm_json_num "$file" "$key")
		[ -z "$v" ] || [ "$v" = 0 ] || pvm_fail "stats JSON: $key=$v" "$file"
	done
	! grep -q '"failed"' "$file" || pvm_fail "stats JSON reports a pager failure" "$file"
}

# pvm_count LOG REGEX - how many lines of LOG match REGEX.
pvm_count() {
	pvm_log_text "$1" | grep -cE "$2" || true
}

# pvm_summary FILE - one line of the counters, for the test log.
pvm_summary() {
	local k out=
	for k in faults refaults prefetched evictions writebacks discards resident_peak_pages; do
		out="$out $k=$(pvm_json_num "$1" "$k")"
	done
	pvm_say "stats:$out"
}

# pvm_memtest_run MODE SIZE_MIB MEM LOCAL - a guest of MEM RAM, LOCAL of it
# resident and the rest in a disk tier, runs "pvm-memtest MODE --size
# SIZE_MIB"; fails unless poolvm exits 0 within 300 s and the verdict line
# says mismatches=0 verdict=PASS. Sets log, stats and tier.
pvm_memtest_run() {
	local mode=$1 size=$2 mem=$3 local_=$4 rc=0
	log=$PVM_TMP/console.log
	stats=$PVM_TMP/stats.json
	tier=$PVM_TMP/guest.pages
	pvm_run_guest "$log" 300 --mem "$mem" --local "$local_" --tier "disk:$tier" \
		--kernel "$PVM_KERNEL" --initrd "$PVM_INITRD" --stats-json "$stats" \
		--append "console=ttyS0 quiet pvm_run=\"pvm-memtest $mode --size $size\"" || rc=$?
	pvm_log_text "$log" | grep -E '^(pvm-memtest|poolvm-guest|poolvm(-preload)?(\[[0-9]+\])?):' || true
	[ "$rc" != 124 ] && [ "$rc" != 137 ] || pvm_fail "timed out after 300 s" "$log"
	[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$log"
	[ "$(pvm_count "$log" "^pvm-memtest: mode=$mode .* mismatches=0 .*verdict=PASS")" = 1 ] ||
		pvm_fail "no 'mismatches=0 ... verdict=PASS' line from pvm-memtest $mode" "$log"
}
