/* tests/unit/swap/tiers/test_tier_registry.c — opening tiers from specs,
 * and the "faulty:N" tier that other modules' tests rely on. */
#include "tier_test.h"

#include "tier.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void registry_lists_every_built_in_kind(void **state)
{
	const struct swap_tier_ops *const *kinds = swap_tier_kinds();
	int dram = 0, disk = 0, faulty = 0;
	size_t i;

	(void)state;
	for (i = 0; kinds[i]; i++) {
		assert_int_equal(kinds[i]->size, sizeof(struct swap_tier_ops));
		assert_non_null(kinds[i]->help);
		assert_non_null(kinds[i]->open);
		assert_non_null(kinds[i]->stats);
		dram += strcmp(kinds[i]->name, "dram") == 0;
		disk += strcmp(kinds[i]->name, "disk") == 0;
		faulty += strcmp(kinds[i]->name, "faulty") == 0;
	}
	assert_int_equal(dram + disk + faulty, 3);
	assert_true(dram && disk && faulty);
}

static void registry_rejects_unknown_kinds_and_bad_arguments(void **state)
{
	static const char *const bad[] = {
		"", "tape:1G", "dramx:1M", ":1M", "dram", "dram:", "dram:abc",
		"dram:0", "dram:100", "dram:1Q", "dram:-1M", "faulty:x",
		"faulty:-3", "faulty:3x",
	};
	struct swap_tier *t = (struct swap_tier *)&t;
	char longspec[400];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(swap_tier_open(bad[i], &t), -EINVAL);
		assert_ptr_equal(t, (struct swap_tier *)&t);   /* untouched */
	}
	assert_int_equal(swap_tier_open(NULL, &t), -EINVAL);
	memset(longspec, 'a', sizeof(longspec) - 1);
	longspec[sizeof(longspec) - 1] = '\0';
	memcpy(longspec, "dram:", 5);
	assert_int_equal(swap_tier_open(longspec, &t), -EINVAL);
}

static void registry_keeps_the_spec_and_the_ops(void **state)
{
	struct swap_tier *t = NULL;

	(void)state;
	assert_int_equal(swap_tier_open("dram:64K", &t), 0);
	assert_string_equal(t->spec, "dram:64K");
	assert_ptr_equal(t->ops, &swap_tier_dram_ops);
	swap_tier_close(t);
	assert_int_equal(swap_tier_open("faulty", &t), 0);
	assert_string_equal(t->spec, "faulty");
	assert_ptr_equal(t->ops, &swap_tier_faulty_ops);
	swap_tier_close(t);
	swap_tier_close(NULL);
}

static void faulty_fails_every_store_after_the_first_n_pages(void **state)
{
	struct swap_tier *t = NULL;
	struct swap_tier_stats st;
	uint8_t *pages = tt_pages(5);
	struct swap_io ios[5];
	uint64_t slots[5], i;

	(void)state;
	assert_int_equal(swap_tier_open("faulty:3", &t), 0);
	assert_int_equal(swap_tier_alloc(t, slots, 5), 0);
	for (i = 0; i < 5; i++) {
		ios[i] = (struct swap_io){ .slot = slots[i], .buf = pages + i * 4096 };
		tt_fill(ios[i].buf, 21, slots[i]);
	}
	assert_int_equal(swap_tier_store(t, ios, 2), 0);
	assert_int_equal(swap_tier_store(t, ios + 2, 3), -EIO);
	assert_int_equal(ios[2].result, 0);
	assert_int_equal(ios[3].result, -EIO);
	assert_int_equal(ios[4].result, -EIO);
	/* Once the budget is spent, stores keep failing. */
	assert_int_equal(swap_tier_store(t, ios + 4, 1), -EIO);
	/* Stored pages load intact; failed ones are not readable. */
	memset(pages, 0, 5 * 4096);
	assert_int_equal(swap_tier_load(t, ios, 3), 0);
	for (i = 0; i < 3; i++)
		assert_true(tt_page_ok(ios[i].buf, 21, slots[i]));
	assert_int_equal(swap_tier_load(t, ios + 3, 2), -EIO);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.stores, 3);
	assert_int_equal(st.store_errors, 3);
	assert_int_equal(st.loads, 3);
	assert_int_equal(st.load_errors, 2);
	assert_int_equal(st.slots_used, 5);
	swap_tier_release(t, slots, 5);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_used, 0);
	swap_tier_close(t);
	free(pages);
}

static void faulty_with_a_large_budget_behaves_like_a_tier(void **state)
{
	struct swap_tier *t = NULL;
	size_t sizes[] = { 1, 2, 3, 17, 64, 255, 256 };

	(void)state;
	assert_int_equal(swap_tier_open("faulty:100000", &t), 0);
	tt_round_trip(t, 500);
	tt_batches(t, sizes, sizeof(sizes) / sizeof(sizes[0]));
	tt_release_reuse(t);
	tt_concurrent(t, 4, 200);
	swap_tier_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registry_lists_every_built_in_kind),
		cmocka_unit_test(registry_rejects_unknown_kinds_and_bad_arguments),
		cmocka_unit_test(registry_keeps_the_spec_and_the_ops),
		cmocka_unit_test(faulty_fails_every_store_after_the_first_n_pages),
		cmocka_unit_test(faulty_with_a_large_budget_behaves_like_a_tier),
	};

	return cmocka_run_group_tests_name("swap tier registry", tests, NULL, NULL);
}
