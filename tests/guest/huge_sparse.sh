#!/bin/bash
# tests/guest/huge_sparse.sh [lib.sh options] — a 64 GiB guest kept to
# 256 MiB resident boots and runs a memtest. The guest kernel initializes
# struct pages for all 64 GiB (~1 GiB of them), so this pages heavily; the
# page directory must stay sparse.
#
# Pass: memtest PASS, poolvm exits 0, resident peak within the limit, and
# the page directory under 16 MiB (a dense one would need 128 MiB).
set -euo pipefail
PVM_TEST_NAME=huge_sparse
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
pvm_init "$@"
pvm_require_guest

pvm_memtest_run seq 64 64G 256M
pvm_summary "$stats"
pvm_check_healthy_stats "$stats"
pvm_check_positive "$stats" evictions
dir=$(pvm_json_num "$stats" directory_bytes)
peak=$(pvm_json_num "$stats" resident_peak_pages)
limit=$(pvm_json_num "$stats" limit_pages)
[ "$dir" -lt $((16 << 20)) ] || pvm_fail "page directory uses $dir bytes for a 64 GiB guest"
[ "$peak" -le "$limit" ] || pvm_fail "resident peak $peak pages exceeds the limit $limit"
[ ! -e "$tier" ] || pvm_fail "tier file $tier still exists after poolvm exited"
pvm_pass "64 GiB guest in 256 MiB resident; page directory $dir bytes"
