/* tests/unit/swap/tiers/tier_test.h — checks every tier kind must pass.
 *
 * Each check opens nothing: it takes an open tier, asserts with cmocka, and
 * leaves the tier with no slots reserved. Pages carry a pattern derived
 * from a (tag, slot) pair, so a page read back from the wrong slot, or a
 * stale page from an earlier round, is caught.
 */
#ifndef POOLVM_TESTS_TIER_TEST_H
#define POOLVM_TESTS_TIER_TEST_H

#include <stddef.h>
#include <stdint.h>

struct swap_tier;

/* 4 KiB aligned, zeroed pages; free with free(). */
void *tt_pages(size_t n);

/* Fill / check a page with the pattern of (@tag, @slot). */
void tt_fill(void *page, uint64_t tag, uint64_t slot);
int tt_page_ok(const void *page, uint64_t tag, uint64_t slot);

/* Store @npages distinct pages in batches of 64, read them back in another
 * order, compare, release. */
void tt_round_trip(struct swap_tier *t, size_t npages);

/* Batch sizes @sizes[0..@nsizes): store and load, with runs of consecutive
 * slots over contiguous buffers, over scattered buffers, and shuffled. */
void tt_batches(struct swap_tier *t, const size_t *sizes, size_t nsizes);

/* @nthreads threads each alloc, store, load, verify and release @rounds
 * times batches of up to 32 pages. */
void tt_concurrent(struct swap_tier *t, unsigned nthreads, unsigned rounds);

/* The tier holds exactly @capacity slots: fill it, then prove that an
 * allocation that does not fit fails with -ENOSPC and reserves nothing,
 * and that released slots are reused lowest first. */
void tt_capacity(struct swap_tier *t, uint64_t capacity);

/* Released slots come back, lowest first, and hold new content. */
void tt_release_reuse(struct swap_tier *t);

/* Deterministic pseudo-random numbers for tests. */
uint64_t tt_rand(uint64_t *state);

#endif
