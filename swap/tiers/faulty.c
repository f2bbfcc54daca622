/* swap/tiers/faulty.c — "faulty:N": a tier that breaks on purpose, for tests.
 *
 * Concepts: the first N pages stored succeed and are kept in memory; every
 * store after that fails with -EIO and keeps nothing (a store that fails
 * over a slot that held a page drops that page too, as a real device's
 * failed overwrite would leave the slot unreadable). Loading a slot that
 * holds no page (never stored, failed store, released) fails with -EIO, so a
 * pager that trusts a failed store is caught at once. "faulty" alone means
 * N = 0: every store fails. Up to FAULTY_MAX_SLOTS slots may be reserved.
 * One mutex serializes everything; any thread may call.
 */
#include "tier.h"
#include "slots.h"

#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FAULTY_MAX_SLOTS (1ULL << 20)

struct faulty_tier {
	struct swap_tier base;
	pthread_mutex_t lock;
	struct tier_slots slots;
	uint64_t budget;        /* pages that may still be stored */
	void **pages;           /* per slot: a 4 KiB copy, or NULL */
	uint64_t npages;        /* entries in pages[] */
	struct swap_tier_stats counts;
};

static struct faulty_tier *to_faulty(struct swap_tier *tier)
{
	return (struct faulty_tier *)tier;
}

static int faulty_open(const char *arg, struct swap_tier **out)
{
	struct faulty_tier *f;
	uint64_t n = 0;
	int rc;

	if (arg && *arg) {
		char *end;

		errno = 0;
		n = strtoull(arg, &end, 10);
		if (errno || *end || arg[0] < '0' || arg[0] > '9') {
			pvm_err("faulty tier: '%s' is not a page count; write faulty:N",
				arg);
			return -EINVAL;
		}
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = tier_slots_init(&f->slots, FAULTY_MAX_SLOTS, 0);
	if (rc)
		goto err_free;
	rc = -pthread_mutex_init(&f->lock, NULL);
	if (rc)
		goto err_slots;
	f->budget = n;
	f->base.ops = &swap_tier_faulty_ops;
	*out = &f->base;
	return 0;

err_slots:
	tier_slots_destroy(&f->slots);
err_free:
	free(f);
	return rc;
}

static void faulty_close(struct swap_tier *tier)
{
	struct faulty_tier *f = to_faulty(tier);
	uint64_t i;

	for (i = 0; i < f->npages; i++)
		free(f->pages[i]);
	free(f->pages);
	pthread_mutex_destroy(&f->lock);
	tier_slots_destroy(&f->slots);
	free(f);
}

/* Grow pages[] to cover slots below @new_high (slot allocator's lock held;
 * the tier lock nests inside it). */
static int faulty_grow(void *ctx, uint64_t new_high)
{
	struct faulty_tier *f = ctx;
	uint64_t cap;
	void **pages;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (new_high > f->npages) {
		cap = PVM_MAX(new_high, f->npages * 2);
		pages = realloc(f->pages, (size_t)cap * sizeof(*pages));
		if (!pages) {
			rc = -ENOMEM;
		} else {
			memset(pages + f->npages, 0,
			       (size_t)(cap - f->npages) * sizeof(*pages));
			f->pages = pages;
			f->npages = cap;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int faulty_alloc(struct swap_tier *tier, uint64_t *slots, size_t n)
{
	struct faulty_tier *f = to_faulty(tier);

	return tier_slots_alloc(&f->slots, slots, n, faulty_grow, f);
}

static void faulty_release(struct swap_tier *tier, const uint64_t *slots, size_t n)
{
	struct faulty_tier *f = to_faulty(tier);
	size_t i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < n; i++) {
		if (slots[i] < f->npages) {
			free(f->pages[slots[i]]);
			f->pages[slots[i]] = NULL;
		}
	}
	pthread_mutex_unlock(&f->lock);
	tier_slots_release(&f->slots, slots, n);
}

static int faulty_store_one(struct faulty_tier *f, struct swap_io *io)
{
	void **page;

	if (io->slot >= f->npages || !io->buf)
		return -EINVAL;
	page = &f->pages[io->slot];
	if (f->budget == 0) {
		free(*page);
		*page = NULL;
		return -EIO;
	}
	if (!*page) {
		*page = malloc(PVM_PAGE_SIZE);
		if (!*page)
			return -ENOMEM;
	}
	memcpy(*page, io->buf, PVM_PAGE_SIZE);
	f->budget--;
	return 0;
}

static int faulty_load_one(struct faulty_tier *f, struct swap_io *io)
{
	if (io->slot >= f->npages || !io->buf)
		return -EINVAL;
	if (!f->pages[io->slot])
		return -EIO;
	memcpy(io->buf, f->pages[io->slot], PVM_PAGE_SIZE);
	return 0;
}

static int faulty_batch(struct swap_tier *tier, struct swap_io *ios, size_t n,
			int store)
{
	struct faulty_tier *f = to_faulty(tier);
	int first = 0;
	size_t i;

	pthread_mutex_lock(&f->lock);
	for (i = 0; i < n; i++) {
		ios[i].result = store ? faulty_store_one(f, &ios[i])
				      : faulty_load_one(f, &ios[i]);
		if (ios[i].result && !first)
			first = ios[i].result;
		if (store && ios[i].result)
			f->counts.store_errors++;
		else if (store)
			f->counts.stores++;
		else if (ios[i].result)
			f->counts.load_errors++;
		else
			f->counts.loads++;
	}
	pthread_mutex_unlock(&f->lock);
	return first;
}

static int faulty_store(struct swap_tier *tier, struct swap_io *ios, size_t n)
{
	return faulty_batch(tier, ios, n, 1);
}

static int faulty_load(struct swap_tier *tier, struct swap_io *ios, size_t n)
{
	return faulty_batch(tier, ios, n, 0);
}

static void faulty_stats(struct swap_tier *tier, struct swap_tier_stats *out)
{
	struct faulty_tier *f = to_faulty(tier);

	pthread_mutex_lock(&f->lock);
	*out = f->counts;
	pthread_mutex_unlock(&f->lock);
	out->slots_total = FAULTY_MAX_SLOTS;
	out->slots_used = tier_slots_used(&f->slots);
}

const struct swap_tier_ops swap_tier_faulty_ops = {
	.size = sizeof(struct swap_tier_ops),
	.name = "faulty",
	.help = "faulty:N  for tests: the first N page stores succeed, every later "
		"one fails with -EIO",
	.open = faulty_open,
	.close = faulty_close,
	.alloc = faulty_alloc,
	.release = faulty_release,
	.store = faulty_store,
	.load = faulty_load,
	.stats = faulty_stats,
};
