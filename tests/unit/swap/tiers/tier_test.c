/* tests/unit/swap/tiers/tier_test.c — checks every tier kind must pass. */
#include "tier_test.h"

#include "tier.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PAGE 4096u

void *tt_pages(size_t n)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, PAGE, (n ? n : 1) * PAGE), 0);
	memset(p, 0, (n ? n : 1) * PAGE);
	return p;
}

uint64_t tt_rand(uint64_t *state)
{
	/* splitmix64 */
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void tt_fill(void *page, uint64_t tag, uint64_t slot)
{
	uint64_t *w = page, state = tag * 1000003u + slot;
	size_t i;

	for (i = 0; i < PAGE / sizeof(*w); i++)
		w[i] = tt_rand(&state);
}

int tt_page_ok(const void *page, uint64_t tag, uint64_t slot)
{
	const uint64_t *w = page;
	uint64_t state = tag * 1000003u + slot;
	size_t i;

	for (i = 0; i < PAGE / sizeof(*w); i++)
		if (w[i] != tt_rand(&state))
			return 0;
	return 1;
}

static void shuffle(size_t *idx, size_t n, uint64_t *state)
{
	size_t i;

	for (i = 0; i < n; i++)
		idx[i] = i;
	for (i = n; i > 1; i--) {
		size_t j = (size_t)(tt_rand(state) % i), tmp = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = tmp;
	}
}

static void check_all_ok(const struct swap_io *ios, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(ios[i].result, 0);
}

void tt_round_trip(struct swap_tier *t, size_t npages)
{
	uint64_t *slots = calloc(npages, sizeof(*slots)), state = 7, tag = 0x51;
	struct swap_io *ios = calloc(npages, sizeof(*ios));
	size_t *order = calloc(npages, sizeof(*order)), i, done;
	uint8_t *pages = tt_pages(npages);
	struct swap_tier_stats before, after;

	assert_non_null(slots);
	assert_non_null(ios);
	assert_non_null(order);
	swap_tier_get_stats(t, &before);
	assert_int_equal(swap_tier_alloc(t, slots, npages), 0);
	for (i = 0; i < npages; i++) {
		tt_fill(pages + i * PAGE, tag, slots[i]);
		ios[i] = (struct swap_io){ .slot = slots[i], .buf = pages + i * PAGE };
	}
	for (done = 0; done < npages; done += 64) {
		size_t n = npages - done < 64 ? npages - done : 64;

		assert_int_equal(swap_tier_store(t, ios + done, n), 0);
		check_all_ok(ios + done, n);
	}
	/* Read back in a shuffled order into cleared buffers. */
	memset(pages, 0, npages * PAGE);
	shuffle(order, npages, &state);
	for (i = 0; i < npages; i++)
		ios[i] = (struct swap_io){ .slot = slots[order[i]],
					   .buf = pages + order[i] * PAGE,
					   .result = 12345 };
	for (done = 0; done < npages; done += 64) {
		size_t n = npages - done < 64 ? npages - done : 64;

		assert_int_equal(swap_tier_load(t, ios + done, n), 0);
		check_all_ok(ios + done, n);
	}
	for (i = 0; i < npages; i++)
		assert_true(tt_page_ok(pages + i * PAGE, tag, slots[i]));
	swap_tier_get_stats(t, &after);
	assert_int_equal(after.stores - before.stores, npages);
	assert_int_equal(after.loads - before.loads, npages);
	assert_int_equal(after.slots_used - before.slots_used, npages);
	swap_tier_release(t, slots, npages);
	swap_tier_get_stats(t, &after);
	assert_int_equal(after.slots_used, before.slots_used);
	free(pages);
	free(order);
	free(ios);
	free(slots);
}

/* One batch of @n pages; @layout 0: buffers contiguous in slot order,
 * 1: buffers scattered, 2: ios in shuffled order. */
static void one_batch(struct swap_tier *t, size_t n, int layout, uint64_t tag,
		      uint64_t *state)
{
	uint64_t *slots = calloc(n, sizeof(*slots));
	struct swap_io *ios = calloc(n, sizeof(*ios));
	size_t *perm = calloc(n, sizeof(*perm)), *order = calloc(n, sizeof(*order));
	uint8_t *pages = tt_pages(n);
	size_t i;

	assert_true(slots && ios && perm && order);
	assert_int_equal(swap_tier_alloc(t, slots, n), 0);
	shuffle(perm, n, state);
	shuffle(order, n, state);
	for (i = 0; i < n; i++) {
		size_t io = layout == 2 ? order[i] : i;
		size_t buf = layout == 0 ? io : perm[io];

		ios[i] = (struct swap_io){ .slot = slots[io], .buf = pages + buf * PAGE };
		tt_fill(ios[i].buf, tag, ios[i].slot);
	}
	assert_int_equal(swap_tier_store(t, ios, n), 0);
	check_all_ok(ios, n);
	memset(pages, 0xa5, n * PAGE);
	for (i = 0; i < n; i++)
		ios[i].result = 777;
	assert_int_equal(swap_tier_load(t, ios, n), 0);
	check_all_ok(ios, n);
	for (i = 0; i < n; i++)
		assert_true(tt_page_ok(ios[i].buf, tag, ios[i].slot));
	swap_tier_release(t, slots, n);
	free(pages);
	free(order);
	free(perm);
	free(ios);
	free(slots);
}

void tt_batches(struct swap_tier *t, const size_t *sizes, size_t nsizes)
{
	uint64_t state = 99;
	uint64_t keep[3];
	size_t i;

	/* Hold a few low slots so later batches do not always start at 0. */
	assert_int_equal(swap_tier_alloc(t, keep, 3), 0);
	swap_tier_release(t, &keep[1], 1);
	for (i = 0; i < nsizes; i++)
		one_batch(t, sizes[i], (int)(i % 3), 1000 + i, &state);
	swap_tier_release(t, keep, 1);
	swap_tier_release(t, &keep[2], 1);
}

struct worker {
	struct swap_tier *tier;
	unsigned id, rounds;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t state = w->id * 7919u + 1, slots[32];
	uint8_t *pages = tt_pages(32);
	struct swap_io ios[32];
	unsigned r;

	for (r = 0; r < w->rounds && !w->failures; r++) {
		size_t n = 1 + (size_t)(tt_rand(&state) % 32), i;
		uint64_t tag = ((uint64_t)w->id << 32) | r;

		if (swap_tier_alloc(w->tier, slots, n)) {
			w->failures++;
			break;
		}
		for (i = 0; i < n; i++) {
			ios[i] = (struct swap_io){ .slot = slots[i], .buf = pages + i * PAGE };
			tt_fill(ios[i].buf, tag, slots[i]);
		}
		if (swap_tier_store(w->tier, ios, n))
			w->failures++;
		memset(pages, 0, 32 * PAGE);
		if (swap_tier_load(w->tier, ios, n))
			w->failures++;
		for (i = 0; i < n; i++)
			if (ios[i].result || !tt_page_ok(ios[i].buf, tag, slots[i]))
				w->failures++;
		swap_tier_release(w->tier, slots, n);
	}
	free(pages);
	return NULL;
}

void tt_concurrent(struct swap_tier *t, unsigned nthreads, unsigned rounds)
{
	pthread_t tid[16];
	struct worker w[16];
	struct swap_tier_stats st;
	unsigned i;

	assert_true(nthreads <= 16);
	for (i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ .tier = t, .id = i + 1, .rounds = rounds };
		assert_int_equal(pthread_create(&tid[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < nthreads; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_used, 0);
	assert_int_equal(st.store_errors, 0);
	assert_int_equal(st.load_errors, 0);
}

void tt_capacity(struct swap_tier *t, uint64_t capacity)
{
	uint64_t *slots = calloc(capacity + 1, sizeof(*slots)), extra[8], i;
	struct swap_tier_stats st;
	uint8_t *page = tt_pages(1);
	struct swap_io io = { .buf = page };

	assert_non_null(slots);
	/* More than fits, in one call: refused whole. */
	assert_int_equal(swap_tier_alloc(t, slots, capacity + 1), -ENOSPC);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_used, 0);
	/* Fill it in uneven pieces; every slot is distinct and in range. */
	for (i = 0; i < capacity;) {
		uint64_t n = capacity - i < 7 ? capacity - i : 7;

		assert_int_equal(swap_tier_alloc(t, slots + i, n), 0);
		i += n;
	}
	for (i = 0; i < capacity; i++)
		assert_true(slots[i] < capacity);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_used, capacity);
	assert_int_equal(swap_tier_alloc(t, extra, 1), -ENOSPC);
	/* Every slot of a full tier stores and loads. */
	for (i = 0; i < capacity; i++) {
		io.slot = slots[i];
		tt_fill(page, 3, slots[i]);
		assert_int_equal(swap_tier_store(t, &io, 1), 0);
	}
	io.slot = slots[capacity / 2];
	assert_int_equal(swap_tier_load(t, &io, 1), 0);
	assert_true(tt_page_ok(page, 3, slots[capacity / 2]));
	/* Free three; four do not fit and nothing is kept; three do. */
	if (capacity >= 3) {
		uint64_t freed[3] = { slots[capacity - 1], slots[0], slots[capacity / 2] };

		swap_tier_release(t, freed, 3);
		assert_int_equal(swap_tier_alloc(t, extra, 4), -ENOSPC);
		swap_tier_get_stats(t, &st);
		assert_int_equal(st.slots_used, capacity - 3);
		assert_int_equal(swap_tier_alloc(t, extra, 3), 0);
		swap_tier_get_stats(t, &st);
		assert_int_equal(st.slots_used, capacity);
		swap_tier_release(t, extra, 3);
		swap_tier_release(t, freed, 3);   /* already free: ignored */
		swap_tier_get_stats(t, &st);
		assert_int_equal(st.slots_used, capacity - 3);
		slots[capacity / 2] = slots[capacity - 1] = slots[0] = UINT64_MAX;
	}
	for (i = 0; i < capacity; i++)
		if (slots[i] != UINT64_MAX)
			swap_tier_release(t, &slots[i], 1);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_used, 0);
	free(page);
	free(slots);
}

void tt_release_reuse(struct swap_tier *t)
{
	uint64_t slots[16], again[3], i;
	uint8_t *pages = tt_pages(3);
	struct swap_io ios[3];

	assert_int_equal(swap_tier_alloc(t, slots, 16), 0);
	for (i = 1; i < 16; i++)
		assert_true(slots[i] != slots[0]);
	/* Release three in descending order; they come back lowest first. */
	uint64_t freed[3] = { slots[11], slots[7], slots[2] };

	swap_tier_release(t, freed, 3);
	assert_int_equal(swap_tier_alloc(t, again, 3), 0);
	uint64_t lo = freed[0] < freed[1] ? freed[0] : freed[1];

	lo = lo < freed[2] ? lo : freed[2];
	assert_int_equal(again[0], lo);
	for (i = 0; i < 3; i++) {
		assert_true(again[i] == freed[0] || again[i] == freed[1] ||
			    again[i] == freed[2]);
		ios[i] = (struct swap_io){ .slot = again[i], .buf = pages + i * PAGE };
		tt_fill(ios[i].buf, 77, again[i]);
	}
	assert_int_equal(swap_tier_store(t, ios, 3), 0);
	memset(pages, 0, 3 * PAGE);
	assert_int_equal(swap_tier_load(t, ios, 3), 0);
	for (i = 0; i < 3; i++)
		assert_true(tt_page_ok(ios[i].buf, 77, again[i]));
	swap_tier_release(t, slots, 16);
	free(pages);
}
