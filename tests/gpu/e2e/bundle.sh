#!/bin/bash
# tests/gpu/e2e/bundle.sh — gather what the GPU checks and the GPU bench
# need from a build into one small folder that can be carried to a GPU
# host that has NVIDIA's driver but not poolvm's build dependencies:
#
#   tests/gpu/e2e/bundle.sh BUILD OUT
#
# OUT keeps the build's layout for these files, so both
#   OUT/tests/gpu/e2e/gpu_e2e.sh OUT/pods/pvm-pod OUT/tests/gpu/e2e/gpu_work \
#       OUT/tests/gpu/e2e/kernels.ptx OUT/guest/cuda
#   bench/gpu_bench.py --build OUT
# run there (OUT/run.sh does the first). The pod is pvm-gpu-pod (glibc,
# libsodium, inih) behind a wrapper that finds the two libraries in OUT/lib;
# libsodium also goes next to the shim. Needs BUILD configured with nvcc.
set -eu
build=$(cd "$1" && pwd)
out=$2
src=$(cd "$(dirname "$0")/../../.." && pwd)
for f in pods/gpu/pvm-gpu-pod guest/cuda/libcuda.so.1 tests/gpu/e2e/gpu_work \
	 tests/gpu/e2e/kernels.ptx; do
	[ -e "$build/$f" ] || { echo "bundle.sh: $build/$f is missing (ninja -C $build; nvcc needed)" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/lib" "$out/pods" "$out/guest/cuda" "$out/tests/gpu/e2e" "$out/bench"
cp "$build/pods/gpu/pvm-gpu-pod" "$out/lib/"
cp "$build/guest/cuda/libcuda.so.1" "$out/guest/cuda/"
ln -sf libcuda.so.1 "$out/guest/cuda/libcuda.so"
cp "$build/tests/gpu/e2e/gpu_work" "$build/tests/gpu/e2e/kernels.ptx" "$out/tests/gpu/e2e/"
cp "$src/tests/gpu/e2e/gpu_e2e.sh" "$out/tests/gpu/e2e/"
cp "$src/bench/gpu_bench.py" "$out/bench/"
# The non-glibc libraries of the pod and the shim.
for bin in "$build/pods/gpu/pvm-gpu-pod" "$build/guest/cuda/libcuda.so.1"; do
	ldd "$bin" | awk '/=> \// { print $3 }' | while read -r lib; do
		case $(basename "$lib") in
		libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|ld-linux*|librt.so.*) ;;
		*) cp -L "$lib" "$out/lib/" ;;
		esac
	done
done
cp "$out"/lib/libsodium.so.* "$out/guest/cuda/" 2>/dev/null || true
cat >"$out/pods/pvm-pod" <<'WRAP'
#!/bin/sh
# The GPU pod with the libraries bundled next to it.
here=$(cd "$(dirname "$0")/.." && pwd)
LD_LIBRARY_PATH="$here/lib" exec "$here/lib/pvm-gpu-pod" "$@"
WRAP
chmod +x "$out/pods/pvm-pod"
cat >"$out/run.sh" <<'RUN'
#!/bin/sh
# The GPU checks from this bundle; then the bench when asked (run.sh bench).
here=$(cd "$(dirname "$0")" && pwd)
"$here/tests/gpu/e2e/gpu_e2e.sh" "$here/pods/pvm-pod" "$here/tests/gpu/e2e/gpu_work" \
	"$here/tests/gpu/e2e/kernels.ptx" "$here/guest/cuda"
rc=$?
if [ "${1:-}" = bench ]; then
	python3 "$here/bench/gpu_bench.py" --build "$here" --json "${2:-$here/gpu-bench.json}"
fi
exit $rc
RUN
chmod +x "$out/run.sh"
du -sh "$out" | sed 's/^/bundle: /'
