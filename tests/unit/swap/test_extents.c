/* tests/unit/swap/test_extents.c — extents of contiguous tier slots per
 * group of guest pages (swap/extents.c), on a real disk tier. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "extents.h"
#include "tier.h"

static struct swap_tier *open_disk(void)
{
	char spec[256];
	struct swap_tier *t = NULL;

	snprintf(spec, sizeof(spec), "disk:/var/tmp/pvm-test-extents.%d", (int)getpid());
	assert_int_equal(swap_tier_open(spec, &t), 0);
	return t;
}

static uint64_t used(struct swap_tier *t)
{
	struct swap_tier_stats s;

	swap_tier_get_stats(t, &s);
	return s.slots_used;
}

/* Pages evicted in any order land at their place in their group's
 * extent: neighbours in the guest are neighbours in the tier. */
static void neighbours_stay_neighbours(void **state)
{
	struct swap_tier *t = open_disk();
	struct swap_extents *x = NULL;
	uint64_t slot[2048], ext, held;

	(void)state;
	assert_int_equal(swap_extents_create(t, 2048, &x), 0);
	assert_non_null(x);
	/* A scrambled order over four groups of 512 pages. */
	for (uint64_t k = 0; k < 2048; k++) {
		uint64_t pg = (k * 1237) % 2048;

		assert_int_equal(swap_extents_take(x, pg, &slot[pg]), 0);
	}
	for (uint64_t pg = 0; pg < 2048; pg++) {
		if (pg % 512)
			assert_true(slot[pg] == slot[pg - 1] + 1);
		assert_true(swap_extents_owns(x, pg, slot[pg]));
		assert_false(swap_extents_owns(x, pg, slot[pg] + 1));
	}
	swap_extents_count(x, &ext, &held);
	assert_true(ext == 4 && held == 2048);
	assert_true(used(t) == 2048);
	/* A release is idempotent; the extent stays with its group. */
	assert_true(swap_extents_put(x, 5, slot[5]));
	assert_true(swap_extents_put(x, 5, slot[5]));
	/* not its extent slot: the caller gives it back to the tier */
	assert_false(swap_extents_put(x, 5, slot[5] + 1));
	swap_extents_count(x, &ext, &held);
	assert_true(ext == 4 && held == 2047);
	assert_true(swap_extents_owns(x, 5, slot[5]));
	/* Out of range: no extent. */
	assert_true(swap_extents_take(x, 4096, &slot[0]) < 0);
	swap_extents_destroy(x);
	assert_true(used(t) == 0);
	swap_tier_close(t);
}

/* When the tier cannot give contiguous slots, a take fails (ordinary slots
 * then) and nothing is leaked; once the hole is filled, extents again. */
static void no_extent_from_a_fragmented_tier(void **state)
{
	struct swap_tier *t = open_disk();
	struct swap_extents *x = NULL;
	uint64_t s[3], hole, slot;

	(void)state;
	assert_int_equal(swap_tier_alloc(t, s, 3), 0);
	hole = s[1];
	swap_tier_release(t, &hole, 1);
	assert_int_equal(swap_extents_create(t, 1024, &x), 0);
	assert_int_equal(swap_extents_take(x, 7, &slot), -EAGAIN);
	assert_true(used(t) == 2);
	assert_false(swap_extents_owns(x, 7, slot));
	/* The hole is filled by an ordinary allocation (lowest first). */
	assert_int_equal(swap_tier_alloc(t, &slot, 1), 0);
	assert_true(slot == hole);
	/* Backing off, then extents again. */
	for (int k = 0; k < 300; k++)
		if (swap_extents_take(x, 600, &slot) == 0)
			break;
	assert_true(swap_extents_owns(x, 600, slot));
	swap_extents_destroy(x);
	assert_true(used(t) == 3);
	swap_tier_release(t, s, 1);
	swap_tier_release(t, &s[2], 1);
	swap_tier_release(t, &hole, 1);
	assert_true(used(t) == 0);
	swap_tier_close(t);
}

/* A tier that does not ask for extents gets none. */
static void only_where_asked(void **state)
{
	struct swap_tier *t = NULL;
	struct swap_extents *x = (struct swap_extents *)1;

	(void)state;
	assert_int_equal(swap_tier_open("dram:4M", &t), 0);
	assert_int_equal(swap_extents_create(t, 1024, &x), 0);
	assert_null(x);
	swap_tier_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(neighbours_stay_neighbours),
		cmocka_unit_test(no_extent_from_a_fragmented_tier),
		cmocka_unit_test(only_where_asked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
