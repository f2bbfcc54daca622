#!/usr/bin/env bash
# bench/kswap.sh — run a command with Linux kernel swap as the only pager:
# a memory cgroup (v1 or v2) limits the command to LIMIT bytes, a swap file on
# the same disk as poolvm's tier takes the rest. Everything is undone on exit.
# Usage: bench/kswap.sh LIMIT_BYTES SWAPFILE -- COMMAND...
set -euo pipefail
limit=$1 swapfile=$2; shift 2
[ "${1:-}" = "--" ] && shift
cg=""
cleanup() {
	set +e
	if [ -n "$cg" ] && [ -d "$cg" ]; then
		# move ourselves out before removing the group
		if [ -f "$cg/cgroup.procs" ] && [ -d /sys/fs/cgroup/memory ]; then
			echo $$ > /sys/fs/cgroup/memory/cgroup.procs 2>/dev/null
		else
			echo $$ > /sys/fs/cgroup/cgroup.procs 2>/dev/null
		fi
		rmdir "$cg" 2>/dev/null
	fi
	swapoff "$swapfile" 2>/dev/null
	rm -f "$swapfile"
}
trap cleanup EXIT
rm -f "$swapfile"
fallocate -l 1G "$swapfile"
chmod 600 "$swapfile"
mkswap -q "$swapfile" >/dev/null
swapon "$swapfile"
if [ -d /sys/fs/cgroup/memory ]; then
	cg=/sys/fs/cgroup/memory/poolvm-kswap.$$
	mkdir "$cg"
	echo "$limit" > "$cg/memory.limit_in_bytes"
	echo 60 > "$cg/memory.swappiness" 2>/dev/null || true
else
	cg=/sys/fs/cgroup/poolvm-kswap.$$
	mkdir "$cg"
	echo "$limit" > "$cg/memory.max"
fi
echo $$ > "$cg/cgroup.procs"
"$@"
