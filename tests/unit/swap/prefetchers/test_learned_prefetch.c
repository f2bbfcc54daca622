/* tests/unit/swap/prefetchers/test_learned_prefetch.c — the majority-trend
 * (Leap) prefetcher: trends found through noise, nothing on random faults,
 * windows that learn from feedback, bounds respected. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "prefetch.h"

#define PAGES 100000

static struct swap_prefetcher *make(uint64_t max_window)
{
	struct swap_prefetch_env env = { .max_window = max_window, .page_count = PAGES };
	struct swap_prefetcher *pf = NULL;

	assert_int_equal(swap_prefetch_create("learned", &env, &pf), 0);
	return pf;
}

static void trend_of_three_is_predicted(void **state)
{
	struct swap_prefetcher *pf = make(16);
	uint64_t out[16];
	size_t n = 0;

	(void)state;
	for (uint64_t p = 1000; p < 1000 + 3 * 6; p += 3)
		n = swap_prefetch_predict(pf, p, 0, out, 16);
	assert_true(n >= 1);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(out[k], 1015 + 3 * (k + 1));
	swap_prefetch_destroy(pf);
}

static void a_minority_of_noise_does_not_break_the_trend(void **state)
{
	struct swap_prefetcher *pf = make(16);
	uint64_t out[16], p = 5000;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 18; i++) {
		p += 1;
		n = swap_prefetch_predict(pf, i % 6 == 4 ? 90000 + (uint64_t)i : p, 0, out, 16);
	}
	/* one fault in six elsewhere (two bad deltas each): the last fault
	 * was on the trend, which still holds a majority */
	assert_true(n >= 1);
	assert_int_equal(out[0], p + 1);
	swap_prefetch_destroy(pf);
}

static void random_faults_predict_nothing(void **state)
{
	struct swap_prefetcher *pf = make(16);
	uint64_t out[16], x = 88172645463325252ull;
	size_t total = 0;

	(void)state;
	for (int i = 0; i < 200; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		total += swap_prefetch_predict(pf, x % PAGES, 0, out, 16);
	}
	assert_true(total < 10);
	swap_prefetch_destroy(pf);
}

static void window_grows_on_a_held_trend_and_shrinks_on_waste(void **state)
{
	struct swap_prefetcher *pf = make(64);
	uint64_t out[64], p = 100;
	size_t n = 0, grown;

	(void)state;
	/* a sequential scan: each fault lands after what was prefetched */
	for (int i = 0; i < 16; i++) {
		n = swap_prefetch_predict(pf, p, 0, out, 64);
		for (size_t k = 0; k < n && i < 15; k++)
			swap_prefetch_feedback(pf, out[k], SWAP_PREFETCH_USED);
		p += n + 1;
	}
	/* the last prediction was wasted instead */
	grown = n;
	assert_true(grown >= 32);
	for (size_t k = 0; k < n; k++)
		swap_prefetch_feedback(pf, out[k], SWAP_PREFETCH_WASTED);
	n = swap_prefetch_predict(pf, p, 0, out, 64);
	assert_true(n > 0 && n < grown);
	swap_prefetch_destroy(pf);
}

static void predictions_stay_inside_guest_ram(void **state)
{
	struct swap_prefetcher *pf = make(64);
	uint64_t out[64];
	size_t n = 0;

	(void)state;
	for (uint64_t p = PAGES - 8; p < PAGES; p++)
		n = swap_prefetch_predict(pf, p, 0, out, 64);
	for (size_t k = 0; k < n; k++)
		assert_true(out[k] < PAGES);
	for (uint64_t p = 9; p-- > 0;)
		n = swap_prefetch_predict(pf, p, 0, out, 64);
	assert_int_equal(n, 0);         /* at page 0 going down: nothing below */
	swap_prefetch_destroy(pf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(trend_of_three_is_predicted),
		cmocka_unit_test(a_minority_of_noise_does_not_break_the_trend),
		cmocka_unit_test(random_faults_predict_nothing),
		cmocka_unit_test(window_grows_on_a_held_trend_and_shrinks_on_waste),
		cmocka_unit_test(predictions_stay_inside_guest_ram),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
