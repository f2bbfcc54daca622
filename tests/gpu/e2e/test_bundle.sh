#!/bin/bash
# tests/gpu/e2e/test_bundle.sh — bundle.sh makes a bundle whose pod starts
# with nothing but its own folder (env -i), whose shim resolves, and whose
# run.sh runs the GPU checks (77 here without a GPU, 0 with one).
#   test_bundle.sh BUILD
set -u
build=$1
out=$(mktemp -d /tmp/pvm-gpu-bundle.XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "not ok - $*"; exit 1; }
"$(dirname "$0")/bundle.sh" "$build" "$out/b" >/dev/null || fail "bundle.sh failed"
env -i PATH=/usr/bin:/bin "$out/b/pods/pvm-pod" --gpu all --help | grep -q -- --gpu-quota ||
	fail "the bundled pod does not start without the build's environment"
env -i LD_LIBRARY_PATH="$out/b/guest/cuda" ldd "$out/b/tests/gpu/e2e/gpu_work" |
	grep -q "$out/b/guest/cuda/libcuda.so.1" || fail "gpu_work does not resolve the bundled shim"
env -i LD_LIBRARY_PATH="$out/b/guest/cuda" ldd "$out/b/guest/cuda/libcuda.so.1" | grep -q "not found" &&
	fail "the bundled shim lacks a library"
"$out/b/run.sh" >"$out/log" 2>&1
rc=$?
cat "$out/log"
case $rc in
0|77) echo "ok - bundle works (run.sh: $rc)"; exit 0 ;;
*) fail "run.sh exited $rc" ;;
esac
