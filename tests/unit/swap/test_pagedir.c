/* tests/unit/swap/test_pagedir.c — the sparse page directory. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pagedir.h"

static void fresh_directory_is_all_absent(void **state)
{
	struct swap_pagedir *d;

	(void)state;
	assert_int_equal(swap_pagedir_create(1 << 20, &d), 0);
	assert_int_equal(swap_pagedir_peek(d, 0), 0);
	assert_int_equal(swap_pagedir_peek(d, (1 << 20) - 1), 0);
	assert_int_equal(swap_pagedir_chunks(d), 0);
	swap_pagedir_destroy(d);
}

static void zero_pages_are_refused(void **state)
{
	struct swap_pagedir *d = NULL;

	(void)state;
	assert_int_equal(swap_pagedir_create(0, &d), -EINVAL);
	assert_null(d);
}

static void out_of_range_has_no_entry(void **state)
{
	struct swap_pagedir *d;

	(void)state;
	assert_int_equal(swap_pagedir_create(1000, &d), 0);
	assert_null(swap_pagedir_entry(d, 1000));
	assert_non_null(swap_pagedir_entry(d, 999));
	assert_int_equal(swap_pagedir_peek(d, 5000), 0);
	swap_pagedir_destroy(d);
}

static void entries_pack_state_tier_and_slot(void **state)
{
	uint64_t e = 0;

	(void)state;
	e = swap_pe_with_state(e, SWAP_PAGE_INTIER);
	e = swap_pe_with_slot(e, 7, SWAP_PE_SLOT_MAX);
	e |= SWAP_PE_DIRTY;
	assert_int_equal(swap_pe_state(e), SWAP_PAGE_INTIER);
	assert_int_equal(swap_pe_tier(e), 7);
	assert_int_equal(swap_pe_slot(e), SWAP_PE_SLOT_MAX);
	assert_true(e & SWAP_PE_HAS_SLOT);
	assert_true(e & SWAP_PE_DIRTY);
	e = swap_pe_without_slot(e);
	assert_false(e & SWAP_PE_HAS_SLOT);
	assert_int_equal(swap_pe_slot(e), 0);
	assert_int_equal(swap_pe_state(e), SWAP_PAGE_INTIER);
}

static void huge_sparse_directory_allocates_touched_chunks_only(void **state)
{
	struct swap_pagedir *d;
	uint64_t pages = 1ULL << 28;   /* 1 TiB of guest RAM */

	(void)state;
	assert_int_equal(swap_pagedir_create(pages, &d), 0);
	for (uint64_t i = 0; i < 100; i++) {
		swap_pe_t *e = swap_pagedir_entry(d, i * (pages / 100));

		assert_non_null(e);
		atomic_store(e, SWAP_PAGE_RESIDENT);
	}
	assert_int_equal(swap_pagedir_chunks(d), 100);
	assert_true(swap_pagedir_bytes(d) < 5 * 1024 * 1024);
	assert_int_equal(swap_pagedir_peek(d, 50 * (pages / 100)), SWAP_PAGE_RESIDENT);
	swap_pagedir_destroy(d);
}

static void count_entry(void *ctx, uint64_t page, uint64_t e)
{
	(void)page;
	(void)e;
	(*(uint64_t *)ctx)++;
}

static void foreach_visits_non_absent_entries(void **state)
{
	struct swap_pagedir *d;
	uint64_t n = 0;

	(void)state;
	assert_int_equal(swap_pagedir_create(100000, &d), 0);
	atomic_store(swap_pagedir_entry(d, 3), SWAP_PAGE_RESIDENT);
	atomic_store(swap_pagedir_entry(d, 99999), SWAP_PAGE_INTIER);
	swap_pagedir_entry(d, 50000);   /* allocated but ABSENT */
	swap_pagedir_foreach(d, count_entry, &n);
	assert_int_equal(n, 2);
	swap_pagedir_destroy(d);
}

struct racer {
	struct swap_pagedir *d;
	uint64_t wins;
};

static void *claim_all(void *arg)
{
	struct racer *r = arg;

	for (uint64_t p = 0; p < 20000; p++) {
		swap_pe_t *e = swap_pagedir_entry(r->d, p);
		uint64_t expect = 0;

		if (swap_pagedir_cas(e, &expect, SWAP_PAGE_LOADING))
			r->wins++;
	}
	return NULL;
}

static void racing_claims_have_exactly_one_winner(void **state)
{
	struct racer r[4];
	pthread_t t[4];
	struct swap_pagedir *d;
	uint64_t total = 0;

	(void)state;
	assert_int_equal(swap_pagedir_create(20000, &d), 0);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ .d = d };
		pthread_create(&t[i], NULL, claim_all, &r[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += r[i].wins;
	}
	assert_int_equal(total, 20000);
	swap_pagedir_destroy(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fresh_directory_is_all_absent),
		cmocka_unit_test(zero_pages_are_refused),
		cmocka_unit_test(out_of_range_has_no_entry),
		cmocka_unit_test(entries_pack_state_tier_and_slot),
		cmocka_unit_test(huge_sparse_directory_allocates_touched_chunks_only),
		cmocka_unit_test(foreach_visits_non_absent_entries),
		cmocka_unit_test(racing_claims_have_exactly_one_winner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
