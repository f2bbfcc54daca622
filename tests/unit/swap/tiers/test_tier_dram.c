/* tests/unit/swap/tiers/test_tier_dram.c — the "dram:SIZE" tier. */
#include "tier_test.h"

#include "tier.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int open_dram(void **state)
{
	struct swap_tier *t = NULL;

	assert_int_equal(swap_tier_open("dram:4M", &t), 0);
	*state = t;
	return 0;
}

static int close_tier(void **state)
{
	swap_tier_close(*state);
	return 0;
}

static void dram_round_trip_of_many_distinct_pages(void **state)
{
	tt_round_trip(*state, 1000);
}

static void dram_batches_of_1_to_256_pages(void **state)
{
	size_t sizes[256], i;

	for (i = 0; i < 256; i++)
		sizes[i] = i + 1;
	tt_batches(*state, sizes, 256);
}

static void dram_four_threads_store_and_load_at_once(void **state)
{
	tt_concurrent(*state, 4, 2000);
}

static void dram_released_slots_are_reused_lowest_first(void **state)
{
	tt_release_reuse(*state);
}

static void dram_alloc_beyond_capacity_is_enospc_and_reserves_nothing(void **state)
{
	struct swap_tier *t = NULL;
	struct swap_tier_stats st;

	(void)state;
	assert_int_equal(swap_tier_open("dram:1M", &t), 0);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_total, 256);
	tt_capacity(t, 256);
	swap_tier_close(t);
}

static void dram_size_is_rounded_down_to_whole_pages(void **state)
{
	struct swap_tier *t = NULL;
	struct swap_tier_stats st;

	(void)state;
	assert_int_equal(swap_tier_open("dram:10000", &t), 0);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_total, 2);
	swap_tier_close(t);
}

static void dram_io_on_a_slot_outside_the_pool_fails_that_page_only(void **state)
{
	struct swap_tier *t = *state;
	struct swap_tier_stats before, after;
	uint8_t *pages = tt_pages(2);
	struct swap_io ios[2];
	uint64_t slot;

	swap_tier_get_stats(t, &before);
	assert_int_equal(swap_tier_alloc(t, &slot, 1), 0);
	ios[0] = (struct swap_io){ .slot = slot, .buf = pages };
	ios[1] = (struct swap_io){ .slot = 1u << 20, .buf = pages + 4096 };
	tt_fill(pages, 5, slot);
	assert_int_equal(swap_tier_store(t, ios, 2), -EINVAL);
	assert_int_equal(ios[0].result, 0);
	assert_int_equal(ios[1].result, -EINVAL);
	memset(pages, 0, 4096);
	assert_int_equal(swap_tier_load(t, ios, 2), -EINVAL);
	assert_int_equal(ios[0].result, 0);
	assert_true(tt_page_ok(pages, 5, slot));
	swap_tier_get_stats(t, &after);
	assert_int_equal(after.store_errors - before.store_errors, 1);
	assert_int_equal(after.load_errors - before.load_errors, 1);
	swap_tier_release(t, &slot, 1);
	free(pages);
}

static void dram_large_pool_reserves_no_memory_up_front(void **state)
{
	struct swap_tier *t = NULL;
	struct swap_tier_stats st;

	(void)state;
	/* 64 GiB on a machine with less: MAP_NORESERVE makes it fine. */
	assert_int_equal(swap_tier_open("dram:64G", &t), 0);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_total, 64ULL << 18);
	tt_round_trip(t, 100);
	swap_tier_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(dram_round_trip_of_many_distinct_pages,
						open_dram, close_tier),
		cmocka_unit_test_setup_teardown(dram_batches_of_1_to_256_pages,
						open_dram, close_tier),
		cmocka_unit_test_setup_teardown(dram_four_threads_store_and_load_at_once,
						open_dram, close_tier),
		cmocka_unit_test_setup_teardown(dram_released_slots_are_reused_lowest_first,
						open_dram, close_tier),
		cmocka_unit_test(dram_alloc_beyond_capacity_is_enospc_and_reserves_nothing),
		cmocka_unit_test(dram_size_is_rounded_down_to_whole_pages),
		cmocka_unit_test_setup_teardown(
			dram_io_on_a_slot_outside_the_pool_fails_that_page_only,
			open_dram, close_tier),
		cmocka_unit_test(dram_large_pool_reserves_no_memory_up_front),
	};

	return cmocka_run_group_tests_name("swap tier dram", tests, NULL, NULL);
}
