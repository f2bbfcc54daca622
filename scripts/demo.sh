#!/usr/bin/env bash
# scripts/demo.sh — the quick-start demo. Runs scripts/setup.sh, then boots
# a 512 MiB guest of which poolvm keeps at most 128 MiB resident, the rest
# in a disk tier under /var/tmp. The guest writes 300 MiB and verifies
# every byte (pvm-memtest seq), so more than half of what it wrote has to
# leave RAM and come back. Prints what the pager did, from its stats JSON.
# Exits 0 only when the guest reports verdict=PASS.
#
# usage: scripts/demo.sh [--no-setup] [--mode seq|random|hotcold]
# environment:
#   POOLVM_BUILD_DIR   build directory (default: build)
#   POOLVM_DEMO_DIR    where the tier file and stats go (default /var/tmp)
set -euo pipefail

prog=demo.sh
say() { printf '%s: %s\n' "$prog" "$*"; }
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }

do_setup=1
mode=seq
while [ "$#" -gt 0 ]; do
	case "$1" in
	--no-setup) do_setup=0 ;;
	--mode) [ "$#" -ge 2 ] || die "--mode needs seq, random or hotcold"; mode=$2; shift ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
case "$mode" in
seq|random|hotcold) ;;
*) die "--mode '$mode': use seq, random or hotcold" ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${POOLVM_BUILD_DIR:-build}
if [ "$do_setup" = 1 ]; then
	POOLVM_BUILD_DIR=$build bash scripts/setup.sh </dev/null
fi
poolvm=$build/vmm/poolvm
kernel=$build/images/vmlinux
initrd=$build/images/initramfs.cpio.gz
for f in "$poolvm" "$kernel" "$initrd"; do
	[ -e "$f" ] || die "$f is missing; run scripts/setup.sh first"
done
command -v python3 >/dev/null || die "python3 is missing (apt-get install python3)"

base=${POOLVM_DEMO_DIR:-/var/tmp}
work=$(mktemp -d "$base/poolvm-demo.XXXXXX") || die "cannot create a directory under $base"
trap 'rm -rf "$work"' EXIT
export POOLVM_RUNDIR=$work
tier=$work/guest.pages
stats=$work/stats.json
log=$work/console.log

echo
say "booting a 512 MiB guest, 128 MiB of it resident, the rest in $tier"
echo "+ $poolvm run --mem 512M --local 128M --tier disk:$tier \\"
echo "      --kernel $kernel --initrd $initrd \\"
echo "      --append 'console=ttyS0 quiet pvm_run=\"pvm-memtest $mode --size 300\"' \\"
echo "      --stats-json $stats"
echo
set +e
"$poolvm" run --mem 512M --local 128M --tier "disk:$tier" \
	--kernel "$kernel" --initrd "$initrd" \
	--append "console=ttyS0 quiet pvm_run=\"pvm-memtest $mode --size 300\"" \
	--stats-json "$stats" </dev/null 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
echo
[ -s "$stats" ] || die "poolvm exited with $rc and wrote no statistics"
cp "$stats" "$build/demo-stats.json"

python3 - "$build/demo-stats.json" "$log" "$rc" "$tier" <<'EOF'
import json, os, re, sys

stats_path, log_path, rc, tier = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = json.load(open(stats_path))
p = s.get("pager", {})
log = open(log_path, errors="replace").read().replace("\r", "")
m = re.search(r"^pvm-memtest: mode=\S+ .*verdict=(\w+)$", log, re.M)
line = m.group(0) if m else ""
verdict = m.group(1) if m else "none"
mism = re.search(r"mismatches=(\d+)", line)
elapsed = re.search(r"elapsed_ms=(\d+)", line)
MiB = 1 << 20
page = 4096

def mib(pages):
    return pages * page / MiB

print("What happened")
print(f"  guest RAM           {s['mem_bytes'] / MiB:.0f} MiB ({p.get('pages', 0)} pages of 4 KiB)")
print(f"  resident limit      {s['local_bytes'] / MiB:.0f} MiB ({p.get('limit_pages', 0)} pages); "
      f"peak resident {mib(p.get('resident_peak_pages', 0)):.1f} MiB")
print(f"  page faults         {p.get('faults', 0)} served by the pager: "
      f"{p.get('zero_fills', 0)} first touches (zero page), "
      f"{p.get('refaults', 0)} refaults from the disk tier")
loads = sum(t.get("loads", 0) for t in p.get("tiers", []))
print(f"  prefetched          {p.get('prefetched', 0)} pages installed ahead of the guest's touch "
      f"(zero or from the tier)")
print(f"  read from disk      {loads} pages loaded from the tier in all ({mib(loads):.0f} MiB)")
print(f"  evictions           {p.get('evictions', 0)} pages pushed out of guest RAM "
      f"({mib(p.get('evictions', 0)):.0f} MiB)")
print(f"  writebacks          {p.get('writebacks', 0)} written to the tier; "
      f"{p.get('clean_drops', 0)} clean and {p.get('zero_drops', 0)} all-zero pages "
      f"dropped without writing")
lat = p.get("fault_latency", {})
if lat:
    print(f"  fault service       p50 {lat.get('p50_us', 0):.0f} us, p99 {lat.get('p99_us', 0):.0f} us")
print(f"  wall time           {s.get('elapsed_s', 0):.1f} s for poolvm"
      + (f", {int(elapsed.group(1)) / 1000:.1f} s for the workload" if elapsed else ""))
print(f"  tier file           {'removed at exit' if not os.path.exists(tier) else 'STILL PRESENT: ' + tier}")
words = re.search(r"words_checked=(\d+)", line)
print(f"  verdict             {verdict}"
      + (f" ({mism.group(1)} mismatches in {words.group(1)} 8-byte words checked)"
         if mism and words else ""))
print()
if verdict == "PASS" and rc == 0:
    print("The guest wrote 300 MiB while poolvm let at most 128 MiB of its RAM stay")
    print("resident, read every word back and found each one intact: pages it had not")
    print("touched for a while went to the disk tier and came back when it needed them.")
else:
    print(f"The demo FAILED: verdict={verdict}, poolvm exit status {rc}.")
print(f"Full statistics: {stats_path} (fields: docs/operating.md)")
sys.exit(0 if verdict == "PASS" and rc == 0 else 1)
EOF
