/* swap/tiers/dram.c — "dram:SIZE": a fixed pool of local memory.
 *
 * Concepts: the pool is one anonymous MAP_NORESERVE mapping of SIZE bytes
 * (rounded down to whole pages); slot s is the page at s * 4 KiB. Memory is
 * committed by the kernel as slots are first written and stays committed
 * after release (giving it back would cost a page fault on every reuse);
 * the slot allocator hands out low slots first, so the pool only touches as
 * much memory as its high-water mark. Store and load are memcpy and never
 * fail for a reserved slot; any number of threads may use the tier at once.
 */
#include "tier.h"
#include "slots.h"

#include "common.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct dram_tier {
	struct swap_tier base;
	uint8_t *pool;
	uint64_t nslots;
	struct tier_slots slots;
	atomic_uint_fast64_t stores, loads, store_errors, load_errors;
};

static struct dram_tier *to_dram(struct swap_tier *tier)
{
	return (struct dram_tier *)tier;
}

static int dram_open(const char *arg, struct swap_tier **out)
{
	struct dram_tier *d;
	uint64_t bytes;
	int rc;

	if (!arg || !*arg) {
		pvm_err("dram tier needs a size: write dram:SIZE, e.g. dram:256M");
		return -EINVAL;
	}
	rc = pvm_parse_size(arg, &bytes);
	if (rc) {
		pvm_err("dram tier: '%s' is not a size (%s); write e.g. dram:256M",
			arg, strerror(-rc));
		return -EINVAL;
	}
	if (bytes < PVM_PAGE_SIZE || bytes / PVM_PAGE_SIZE > SIZE_MAX / PVM_PAGE_SIZE) {
		pvm_err("dram tier: size '%s' must hold at least one %lu-byte page "
			"and fit in the address space", arg, PVM_PAGE_SIZE);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		pvm_err("dram tier %s: out of memory for the tier object", arg);
		return -ENOMEM;
	}
	d->nslots = bytes / PVM_PAGE_SIZE;
	d->pool = mmap(NULL, (size_t)(d->nslots * PVM_PAGE_SIZE),
		       PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->pool == MAP_FAILED) {
		rc = -errno;
		pvm_err("dram tier: cannot map a %s pool: %s; ask for less memory "
			"(vm.overcommit_memory=2 refuses large MAP_NORESERVE maps)",
			arg, strerror(errno));
		goto err_free;
	}
	rc = tier_slots_init(&d->slots, d->nslots, 1);
	if (rc) {
		pvm_err("dram tier %s: cannot allocate the slot bitmap: %s",
			arg, strerror(-rc));
		goto err_unmap;
	}
	d->base.ops = &swap_tier_dram_ops;
	*out = &d->base;
	return 0;

err_unmap:
	munmap(d->pool, (size_t)(d->nslots * PVM_PAGE_SIZE));
err_free:
	free(d);
	return rc;
}

static void dram_close(struct swap_tier *tier)
{
	struct dram_tier *d = to_dram(tier);

	tier_slots_destroy(&d->slots);
	munmap(d->pool, (size_t)(d->nslots * PVM_PAGE_SIZE));
	free(d);
}

static int dram_alloc(struct swap_tier *tier, uint64_t *slots, size_t n)
{
	return tier_slots_alloc(&to_dram(tier)->slots, slots, n, NULL, NULL);
}

static void dram_release(struct swap_tier *tier, const uint64_t *slots, size_t n)
{
	tier_slots_release(&to_dram(tier)->slots, slots, n);
}

/* Copy a batch in (@store) or out; a slot outside the pool is -EINVAL. */
static int dram_copy(struct dram_tier *d, struct swap_io *ios, size_t n, int store)
{
	uint64_t ok = 0, bad = 0;
	int first = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		struct swap_io *io = &ios[i];
		uint8_t *page;

		if (io->slot >= d->nslots || !io->buf) {
			io->result = -EINVAL;
			if (!first)
				first = -EINVAL;
			bad++;
			continue;
		}
		page = d->pool + io->slot * PVM_PAGE_SIZE;
		if (store)
			memcpy(page, io->buf, PVM_PAGE_SIZE);
		else
			memcpy(io->buf, page, PVM_PAGE_SIZE);
		io->result = 0;
		ok++;
	}
	if (store) {
		atomic_fetch_add_explicit(&d->stores, ok, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->store_errors, bad, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&d->loads, ok, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->load_errors, bad, memory_order_relaxed);
	}
	return first;
}

static int dram_store(struct swap_tier *tier, struct swap_io *ios, size_t n)
{
	return dram_copy(to_dram(tier), ios, n, 1);
}

static int dram_load(struct swap_tier *tier, struct swap_io *ios, size_t n)
{
	return dram_copy(to_dram(tier), ios, n, 0);
}

static void dram_stats(struct swap_tier *tier, struct swap_tier_stats *out)
{
	struct dram_tier *d = to_dram(tier);

	out->slots_total = d->nslots;
	out->slots_used = tier_slots_used(&d->slots);
	out->stores = atomic_load_explicit(&d->stores, memory_order_relaxed);
	out->loads = atomic_load_explicit(&d->loads, memory_order_relaxed);
	out->store_errors = atomic_load_explicit(&d->store_errors, memory_order_relaxed);
	out->load_errors = atomic_load_explicit(&d->load_errors, memory_order_relaxed);
}

const struct swap_tier_ops swap_tier_dram_ops = {
	.size = sizeof(struct swap_tier_ops),
	.name = "dram",
	.help = "dram:SIZE  a fixed pool of SIZE bytes of local memory (e.g. dram:256M)",
	.open = dram_open,
	.close = dram_close,
	.alloc = dram_alloc,
	.release = dram_release,
	.store = dram_store,
	.load = dram_load,
	.stats = dram_stats,
};
