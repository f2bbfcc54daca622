/* swap/extents.c — extents of contiguous tier slots per group of guest
 * pages (see extents.h). */
#include "extents.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "tier.h"

struct extent {
	uint64_t base;          /* first slot */
	uint64_t held[];        /* bit o: slot base + o holds a page */
};

struct swap_extents {
	pthread_mutex_t lock;
	struct swap_tier *tier;
	unsigned shift;         /* log2(extent_pages) */
	uint64_t groups;
	struct extent **ext;    /* per group; NULL until first needed */
	uint64_t *scratch;      /* extent_pages slots from the tier */
	uint64_t nextents, nheld;
	unsigned backoff;       /* takes to fail fast after a failed reservation */
};

/* After the tier could not give a contiguous extent, so many new groups
 * use ordinary slots before it is asked again (ordinary allocations fill
 * the holes that broke contiguity, lowest first). */
#define EXTENT_BACKOFF 256

static unsigned tier_extent_pages(const struct swap_tier *tier)
{
	const struct swap_tier_ops *ops = tier->ops;

	if (ops->size < offsetof(struct swap_tier_ops, extent_pages) + sizeof(ops->extent_pages))
		return 0;
	return ops->extent_pages;
}

int swap_extents_create(struct swap_tier *tier, uint64_t pages, struct swap_extents **out)
{
	unsigned n = tier_extent_pages(tier);
	struct swap_extents *x;

	*out = NULL;
	if (!n)
		return 0;
	if (n < 64 || n > 4096 || (n & (n - 1)))
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->tier = tier;
	x->shift = (unsigned)__builtin_ctz(n);
	x->groups = (pages + n - 1) >> x->shift;
	x->ext = calloc(x->groups ? x->groups : 1, sizeof(*x->ext));
	x->scratch = calloc(n, sizeof(*x->scratch));
	if (!x->ext || !x->scratch || pthread_mutex_init(&x->lock, NULL)) {
		free(x->ext);
		free(x->scratch);
		free(x);
		return -ENOMEM;
	}
	*out = x;
	return 0;
}

void swap_extents_destroy(struct swap_extents *x)
{
	size_t n;

	if (!x)
		return;
	n = (size_t)1 << x->shift;
	for (uint64_t g = 0; g < x->groups; g++) {
		if (!x->ext[g])
			continue;
		for (size_t i = 0; i < n; i++)
			x->scratch[i] = x->ext[g]->base + i;
		swap_tier_release(x->tier, x->scratch, n);
		free(x->ext[g]);
	}
	free(x->ext);
	free(x->scratch);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

/* Reserve a contiguous extent for group @g. Lock held. */
static int extent_new(struct swap_extents *x, uint64_t g)
{
	size_t n = (size_t)1 << x->shift;
	struct extent *e;
	int ret;

	e = calloc(1, sizeof(*e) + n / 64 * sizeof(uint64_t));
	if (!e)
		return -ENOMEM;
	ret = swap_tier_alloc(x->tier, x->scratch, n);
	if (ret < 0) {
		free(e);
		return ret;
	}
	for (size_t i = 1; i < n; i++) {
		if (x->scratch[i] != x->scratch[0] + i) {
			/* Not contiguous (slots were freed below the tier's
			 * high-water mark): not an extent. */
			swap_tier_release(x->tier, x->scratch, n);
			free(e);
			return -EAGAIN;
		}
	}
	e->base = x->scratch[0];
	x->ext[g] = e;
	x->nextents++;
	return 0;
}

int swap_extents_take(struct swap_extents *x, uint64_t page, uint64_t *slot)
{
	uint64_t g = page >> x->shift, o = page & (((uint64_t)1 << x->shift) - 1);
	struct extent *e;
	int ret = 0;

	if (g >= x->groups)
		return -ERANGE;
	pthread_mutex_lock(&x->lock);
	if (!x->ext[g]) {
		if (x->backoff) {
			x->backoff--;
			ret = -EAGAIN;
		} else {
			ret = extent_new(x, g);
			if (ret < 0)
				x->backoff = EXTENT_BACKOFF;
		}
	}
	if (ret == 0) {
		e = x->ext[g];
		if (!(e->held[o / 64] & (1ULL << (o % 64)))) {
			e->held[o / 64] |= 1ULL << (o % 64);
			x->nheld++;
		}
		*slot = e->base + o;
	}
	pthread_mutex_unlock(&x->lock);
	return ret;
}

bool swap_extents_owns(struct swap_extents *x, uint64_t page, uint64_t slot)
{
	uint64_t g = page >> x->shift, o = page & (((uint64_t)1 << x->shift) - 1);
	bool owns;

	if (g >= x->groups)
		return false;
	pthread_mutex_lock(&x->lock);
	owns = x->ext[g] && x->ext[g]->base + o == slot;
	pthread_mutex_unlock(&x->lock);
	return owns;
}

bool swap_extents_put(struct swap_extents *x, uint64_t page, uint64_t slot)
{
	uint64_t g = page >> x->shift, o = page & (((uint64_t)1 << x->shift) - 1);
	struct extent *e;
	bool owns;

	if (g >= x->groups)
		return false;
	pthread_mutex_lock(&x->lock);
	e = x->ext[g];
	owns = e && e->base + o == slot;
	if (owns && (e->held[o / 64] & (1ULL << (o % 64)))) {
		e->held[o / 64] &= ~(1ULL << (o % 64));
		x->nheld--;
	}
	pthread_mutex_unlock(&x->lock);
	return owns;
}

void swap_extents_count(struct swap_extents *x, uint64_t *extents, uint64_t *slots_held)
{
	pthread_mutex_lock(&x->lock);
	*extents = x->nextents;
	*slots_held = x->nheld;
	pthread_mutex_unlock(&x->lock);
}
