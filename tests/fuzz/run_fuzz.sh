#!/bin/sh
# tests/fuzz/run_fuzz.sh — run one libFuzzer target for a bounded time.
#
#   run_fuzz.sh FUZZER GENERATOR WORKDIR [SECONDS]
#   run_fuzz.sh --unavailable REASON
#
# GENERATOR writes the seed corpus (from the real encoder) into
# WORKDIR/seeds; new inputs found accumulate in WORKDIR/corpus across runs;
# a crash leaves WORKDIR/crash-* and fails the test. Exit 77: cannot run.
# FUZZ_SECONDS overrides SECONDS (default 20).
set -eu

if [ "${1:-}" = "--unavailable" ]; then
	echo "SKIP: ${2:-libFuzzer is not available}"
	exit 77
fi
if [ $# -lt 3 ]; then
	echo "usage: $0 FUZZER GENERATOR WORKDIR [SECONDS]" >&2
	exit 2
fi
fuzzer=$1
generator=$2
workdir=$3
seconds=${FUZZ_SECONDS:-${4:-20}}
dict=$(dirname "$0")/wire.dict

if [ ! -x "$fuzzer" ]; then
	echo "SKIP: fuzzer $fuzzer was not built"
	exit 77
fi
mkdir -p "$workdir/corpus" "$workdir/seeds"
"$generator" "$workdir/seeds"

# Leaks are real bugs here too; halt on the first UBSan report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1"

set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$workdir/"
[ -f "$dict" ] && set -- "$@" -dict="$dict"
echo "fuzzing $(basename "$fuzzer") for ${seconds}s (corpus: $workdir/corpus)"
exec "$fuzzer" "$@" "$workdir/corpus" "$workdir/seeds"
