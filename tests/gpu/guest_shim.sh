#!/bin/bash
# tests/gpu/guest_shim.sh — poolvm's libcuda.so.1 inside a real guest.
#
#   guest_shim.sh --pod PVM_POD --client CUDA_CLIENT --shim LIBCUDA
#                 --fakecuda FAKE_DRIVER --poolvm POOLVM --build-guest SCRIPT
#
# Starts a GPU pod on this host (on the host-memory test double of the
# driver, since no GPU is here), builds a guest image holding the unmodified,
# dynamically linked cuda_client (the binary the host runs), glibc, and
# the shim as /usr/lib/x86_64-linux-gnu/libcuda.so.1 (build-guest.sh
# --add-dynamic, --add-lib, --add-secret), and boots it under TCG with
# `poolvm run`: guest RAM paged through a resident limit into a disk tier,
# QEMU user networking (slirp) so the guest reaches the pod at 10.0.2.2.
# Inside the guest:
#   fake      cuda_client fake QUOTA, configured by POOLVM_GPU_POD and
#             POOLVM_GPU_SECRET_FILE
#   threads   cuda_client threads, configured by /etc/poolvm/gpu.conf
#             alone (the shim's default file; no variables)
#   refused   the wrong secret (POOLVM_GPU_SECRET_FILE beats the file):
#             CUDA_ERROR_NOT_PERMITTED, printed by the program
#   hold      cuda_client hold in the background; the host checks the pod
#             holds its 2 MiB, then the guest powers off under it
# Each run's stdout must be the same text as the same program run on the
# host against the same pod; the pod must log the guest's clients (their
# ids carry the guest's host name) and free everything once the guest is
# gone. Exit 0 pass, 1 fail, 77 skip (no QEMU, slirp, userfaultfd or root).
# shellcheck disable=SC2016  # check() evaluates its condition later
# shellcheck disable=SC2034  # PVM_TEST_NAME is lib.sh's
set -u

# shellcheck source=../guest/lib.sh
. "$(dirname "$0")/../guest/lib.sh"
PVM_TEST_NAME=gpu_guest_shim

POD='' CLIENT='' SHIM='' FAKE=''
lib_args=()
while [ "$#" -gt 0 ]; do
	[ "$#" -ge 2 ] || { echo "FAIL: option $1 needs a value"; exit 1; }
	case "$1" in
	--pod) POD=$(readlink -f "$2") ;;
	--client) CLIENT=$(readlink -f "$2") ;;
	--shim) SHIM=$(readlink -f "$2") ;;
	--fakecuda) FAKE=$(readlink -f "$2") ;;
	*) lib_args+=("$1" "$2") ;;
	esac
	shift 2
done
pvm_init "${lib_args[@]}"

POD_PID=
gg_cleanup() {
	local rc=$1
	exec 7>&- 2>/dev/null
	if [ -n "$POD_PID" ] && pvm_alive "$POD_PID"; then
		kill -TERM "$POD_PID" 2>/dev/null
		for _ in $(seq 50); do
			pvm_alive "$POD_PID" || break
			sleep 0.1
		done
		kill -KILL "$POD_PID" 2>/dev/null || true
	fi
	[ -z "$POD_PID" ] || wait "$POD_PID" 2>/dev/null
	pvm_cleanup "$rc"
}
trap 'gg_cleanup $?' EXIT

for f in "$POD" "$CLIENT" "$SHIM" "$FAKE" "$PVM_BUILD_GUEST"; do
	[ -f "$f" ] || pvm_fail "missing input '$f' (build first)"
done
command -v qemu-system-x86_64 >/dev/null ||
	pvm_skip "no qemu-system-x86_64 on PATH (apt-get install qemu-system-x86)"
qemu-system-x86_64 -netdev help 2>/dev/null | grep -qx user ||
	pvm_skip "this QEMU has no user-mode networking (slirp): -netdev user is missing"
[ -r /proc/sys/vm/unprivileged_userfaultfd ] ||
	pvm_skip "this kernel has no userfaultfd (CONFIG_USERFAULTFD)"
if [ "$(id -u)" != 0 ] && [ "$(cat /proc/sys/vm/unprivileged_userfaultfd)" != 1 ]; then
	pvm_skip "not root and vm.unprivileged_userfaultfd=0: run as root"
fi
for tool in ldd readelf; do
	command -v "$tool" >/dev/null || pvm_skip "$tool is missing (libc-bin, binutils)"
done

QUOTA=8388608
T=$PVM_TMP
umask 077
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/good.secret"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/wrong.secret"

# --- the pod, on the test double ----------------------------------------------

STATS=$T/fake.stats
FAKECUDA_STATS=$STATS "$POD" --gpu all --listen 127.0.0.1:0 --secret-file "$T/good.secret" \
	--cuda-driver "$FAKE" --gpu-quota "$QUOTA" >"$T/pod.out" 2>"$T/pod.err" </dev/null &
POD_PID=$!
for _ in $(seq 100); do
	grep -q serving "$T/pod.out" 2>/dev/null && break
	pvm_alive "$POD_PID" || break
	sleep 0.1
done
PORT=$(sed -n 's/^poolvm pod: serving 1 GPU on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$T/pod.out")
[ -n "$PORT" ] || pvm_fail "the GPU pod did not start: $(cat "$T/pod.out" "$T/pod.err")"
pvm_say "GPU pod on the test double at 127.0.0.1:$PORT (the guest's 10.0.2.2:$PORT)"

# --- the same program on the host ----------------------------------------------

host_run() {
	local name=$1 secret=$2
	shift 2
	env LD_LIBRARY_PATH="${SHIM%/*}" POOLVM_GPU_POD="127.0.0.1:$PORT" \
		POOLVM_GPU_SECRET_FILE="$secret" POOLVM_GPU_CONFIG=/nonexistent \
		timeout 60 "$CLIENT" "$@" >"$T/host.$name.out" 2>"$T/host.$name.err"
	echo $? >"$T/host.$name.rc"
}
host_run fake "$T/good.secret" fake "$QUOTA"
host_run threads "$T/good.secret" threads
host_run refused "$T/wrong.secret" refused
for name in fake threads refused; do
	[ "$(cat "$T/host.$name.rc")" = 0 ] ||
		pvm_fail "cuda_client $name fails on the host itself:" \
			"$(cat "$T/host.$name.out" "$T/host.$name.err")"
done

# --- the guest image ------------------------------------------------------------

printf '# the GPU pod, as the guest reaches it (slirp: 10.0.2.2 is the host)\n[gpu]\npod = 10.0.2.2:%s\nsecret-file = /etc/poolvm/gpu.secret\n' \
	"$PORT" >"$T/gpu.conf"
# Each run: stdout, status and stderr on the console, each line tagged.
cat >"$T/workload.sh" <<'EOF'
#!/bin/sh
# Runs in the guest: networking, then cuda_client as the host ran it.
hostname pvm-gpu-guest
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up &&
	ip route add default via 10.0.2.2 || { echo "gg-net: failed"; exit 1; }
port=$(sed -n 's/^pod = 10.0.2.2:\([0-9]*\)$/\1/p' /etc/poolvm/gpu.conf)
show() {
	sed "s/^/gg-out $1: /" "/tmp/$1.out"
	echo "gg-rc $1: $2"
	sed "s/^/gg-err $1: /" "/tmp/$1.err"
}
POOLVM_GPU_CONFIG=/nonexistent POOLVM_GPU_POD=10.0.2.2:$port \
	POOLVM_GPU_SECRET_FILE=/etc/poolvm/gpu.secret \
	cuda_client fake 8388608 >/tmp/fake.out 2>/tmp/fake.err
show fake $?
cuda_client threads >/tmp/threads.out 2>/tmp/threads.err
show threads $?
POOLVM_GPU_SECRET_FILE=/etc/poolvm/wrong.secret \
	cuda_client refused >/tmp/refused.out 2>/tmp/refused.err
show refused $?
cuda_client hold >/tmp/hold.out 2>/tmp/hold.err &
i=0
while ! grep -q READY /tmp/hold.out && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
show hold running
echo "gg-holding"
# The host answers on the serial console once it has looked at the pod.
read -r -t 120 answer </dev/console
echo "gg-host-said: $answer; powering off with cuda_client holding its memory"
EOF
pvm_say "building the guest image (cuda_client, glibc, libcuda.so.1, virtio_net)"
if ! bash "$PVM_BUILD_GUEST" --out "$T/image" --name cuda \
	--modules 'virtio_pci virtio_net' \
	--add-dynamic "$CLIENT:/usr/bin/cuda_client" \
	--add-lib "$SHIM" \
	--add-secret "$T/good.secret" \
	--add-secret "$T/wrong.secret:/etc/poolvm/wrong.secret" \
	--add "$T/gpu.conf:/etc/poolvm/gpu.conf" \
	--run "sh /etc/poolvm/workload.sh" \
	--add "$T/workload.sh:/etc/poolvm/workload.sh" >"$T/build.log" 2>&1; then
	if grep -qE 'modules\.dep|module .* is not in' "$T/build.log"; then
		cat "$T/build.log"
		pvm_skip "cannot pack virtio_net from the guest kernel's modules"
	fi
	pvm_fail "building the guest image failed" "$T/build.log"
fi

# What the builder put in: the program, the loader and glibc where the
# loader looks, the shim under NVIDIA's path, the secrets private.
listing=$(gzip -dc "$T/image/cuda.cpio.gz" | cpio -itv --quiet 2>/dev/null)
for want in '^-rwxr-xr-x .* usr/bin/cuda_client$' '^-rwxr-xr-x .* lib64/ld-linux-x86-64\.so\.2$' \
	' lib/x86_64-linux-gnu/libc\.so\.6$' ' lib/x86_64-linux-gnu/libsodium\.so\.23$' \
	'^-rwxr-xr-x .* usr/lib/x86_64-linux-gnu/libcuda\.so\.1$' \
	'^-rw------- .* etc/poolvm/gpu\.secret$' '^-rw------- .* etc/poolvm/wrong\.secret$'; do
	grep -qE "$want" <<<"$listing" || pvm_fail "the image lacks $want: $listing"
done
gzip -dc "$T/image/cuda.cpio.gz" | (cd "$T" && cpio -i --quiet --to-stdout usr/lib/x86_64-linux-gnu/libcuda.so.1) |
	cmp -s - "$SHIM" || pvm_fail "the image's libcuda.so.1 is not the shim $SHIM"
[ "$(stat -c %a "$T/image/cuda.cpio.gz")" = 600 ] ||
	pvm_fail "an image holding a secret is not mode 0600"
# The copy of the program outside the build tree has no rpath to the shim:
# without --add-lib the builder must stop and name the library (meson
# sets LD_LIBRARY_PATH to the build tree: not for this).
cp "$CLIENT" "$T/cuda_client"
if env -u LD_LIBRARY_PATH bash "$PVM_BUILD_GUEST" --out "$T/image" --name nolib --add-dynamic "$T/cuda_client" \
	>"$T/nolib.log" 2>&1; then
	pvm_fail "build-guest.sh --add-dynamic accepted a program whose libcuda.so.1 is nowhere"
fi
grep -q "cannot find libcuda.so.1; supply them with --add-lib" "$T/nolib.log" ||
	pvm_fail "build-guest.sh did not name the missing library" "$T/nolib.log"
pvm_say "image: $(grep -c . <<<"$listing") entries, $(stat -c %s "$T/image/cuda.cpio.gz") bytes gzipped"

# --- the guest --------------------------------------------------------------------

LOG=$T/console.log
mkfifo "$T/console.in"
exec 7<>"$T/console.in"
start=$SECONDS
# poolvm's stdin, and so the serial console's input, is a FIFO held open here.
pvm_say "poolvm run (TCG, 256M guest, 64M resident, disk tier, slirp) &"
"$PVM_POOLVM" run --mem 256M --local 64M --tier "disk:$T/guest.pages" \
	--kernel "$T/image/vmlinux" --initrd "$T/image/cuda.cpio.gz" \
	--append 'console=ttyS0 quiet' --stats-json "$T/stats.json" \
	-- -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
	>"$LOG" 2>&1 <"$T/console.in" &
PVM_POOLVM_PID=$!

pvm_wait_log "$LOG" '^gg-holding' 90 ||
	pvm_fail "the guest never got cuda_client hold going" "$LOG"
held=$(cat "$STATS" 2>/dev/null)
pvm_say "pod while the guest holds memory: $held"
printf 'go\n' >&7
pvm_wait_gone "$PVM_POOLVM_PID" 60 || pvm_fail "the guest did not power off" "$LOG"
wait "$PVM_POOLVM_PID"
rc=$?
PVM_POOLVM_PID=
exec 7>&-
pvm_say "guest booted, ran 4 programs and powered off in $((SECONDS - start)) s"
[ "$rc" = 0 ] || pvm_fail "poolvm exited with $rc" "$LOG"
pvm_log_text "$LOG" | grep -E '^(gg-|poolvm-guest:)' || true

# --- checks -----------------------------------------------------------------------

fails=0
check() {
	if eval "$1"; then
		pvm_say "ok - $2"
	else
		pvm_say "not ok - $2"
		fails=$((fails + 1))
	fi
}
guest_lines() {
	pvm_log_text "$LOG" | sed -n "s/^gg-$1 $2: //p"
}

check '[ "$(pvm_count "$LOG" "^poolvm-guest: exit=0$")" = 1 ]' "the guest's workload ran to its end"
for name in fake threads refused; do
	check '[ "$(guest_lines rc $name)" = 0 ]' "cuda_client $name exits 0 in the guest"
	check '[ "$(guest_lines out $name)" = "$(cat "$T/host.$name.out")" ] && [ -s "$T/host.$name.out" ]' \
		"cuda_client $name prints in the guest what it prints on the host ($(tr '\n' ' ' <"$T/host.$name.out"))"
done
check 'guest_lines err refused | grep -q "shared secret"' \
	"wrong secret in the guest: CUDA_ERROR_NOT_PERMITTED and the shim says why ($(guest_lines err refused | head -n 1))"
check '[ "$(guest_lines out hold)" = READY ]' "cuda_client hold allocated in the guest"
check '[[ "$held" == *" bytes=2097152 "* ]]' "while the guest runs, the pod holds its 2 MiB ($held)"
check 'grep -q "gpu pod: client .cuda-pvm-gpu-guest-[0-9]*. connected" "$T/pod.err"' \
	"the pod logged clients from the guest (ids name its host name pvm-gpu-guest)"

# fake, threads, hold: three clients of the guest got in; refused did not.
n_in=$(grep -c "client 'cuda-pvm-gpu-guest-[0-9]*' connected" "$T/pod.err")
check '[ "$n_in" = 3 ]' "3 guest clients authenticated, the wrong secret did not ($n_in)"
n_refused=$(grep -c "handshake \(with [^ ]* \)\?failed: client 'cuda-pvm-gpu-guest-[0-9]*' does not know the shared secret" "$T/pod.err")
check '[ "$n_refused" = 1 ]' "the pod refused the guest's wrong secret, naming the guest's client"
drained=
for _ in $(seq 100); do
	drained=$(cat "$STATS" 2>/dev/null)
	n_out=$(grep -c "client 'cuda-pvm-gpu-guest-[0-9]*' gone" "$T/pod.err")
	[ "$drained" = "contexts=0 allocations=0 bytes=0 reserved=0" ] && [ "$n_out" = 3 ] && break
	sleep 0.1
done
check '[ "$n_out" = 3 ]' "the pod saw every guest client go, the one killed by the poweroff too"
check '[ "$drained" = "contexts=0 allocations=0 bytes=0 reserved=0" ]' \
	"after the poweroff the pod holds no context or memory ($drained)"
check 'pvm_alive "$POD_PID"' "the pod still serves"
check '! grep -qE "Sanitizer|runtime error" "$T/pod.err"' "no sanitizer report from the pod"

# The guest's RAM went through poolvm's pager and its disk tier.
pvm_check_healthy_stats "$T/stats.json"
pvm_check_positive "$T/stats.json" faults evictions
pvm_summary "$T/stats.json"

if [ "$fails" != 0 ]; then
	echo "---- pod stderr ----"
	cat "$T/pod.err"
	pvm_fail "$fails check(s) failed" "$LOG"
fi
pvm_pass "cuda_client in a TCG guest through slirp to the GPU pod, same output as on the host"
