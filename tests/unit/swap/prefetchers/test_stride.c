/* tests/unit/swap/prefetchers/test_stride.c — the stride prefetcher (and the
 * "none" baseline and the registry).
 *
 * A sequential scan under a prefetcher only faults on pages that were not
 * prefetched, so several tests drive a small "scanner" that faults on the
 * next page of its pattern not already predicted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prefetch.h"

#define PAGES    (1ULL << 20)
#define MAX_WIN  64

static struct swap_prefetcher *make(const char *name, uint64_t max_window, uint64_t pages)
{
	struct swap_prefetch_env env = { .max_window = max_window, .page_count = pages };
	struct swap_prefetcher *pf = NULL;

	assert_int_equal(swap_prefetch_create(name, &env, &pf), 0);
	assert_non_null(pf);
	return pf;
}

static size_t fault(struct swap_prefetcher *pf, uint64_t page, uint64_t *out)
{
	return swap_prefetch_predict(pf, page, 0, out, MAX_WIN * 2);
}

/* out[0..n) must be first, first+step, first+2*step, ... */
static void assert_run(const uint64_t *out, size_t n, uint64_t first, int64_t step)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(out[i], first + (uint64_t)((int64_t)i * step));
}

/* Scanner: faults along @stride from @start, skipping what was predicted.
 * Returns the predicted counts of the first @faults faults in @sizes. */
static void scan(struct swap_prefetcher *pf, uint64_t start, int64_t stride,
		 size_t faults, size_t *sizes)
{
	uint64_t out[MAX_WIN * 2];
	uint64_t page = start;

	for (size_t f = 0; f < faults; f++) {
		size_t n = fault(pf, page, out);

		sizes[f] = n;
		if (n) {
			assert_run(out, n, page + (uint64_t)stride, stride);
			page = out[n - 1];
		}
		page += (uint64_t)stride;
	}
}

static void registry_knows_none_stride_learned(void **state)
{
	const struct swap_prefetch_ops *const *kinds = swap_prefetch_kinds();
	struct swap_prefetch_env env = { .max_window = 8, .page_count = 100 };
	struct swap_prefetcher *pf = NULL;
	size_t n = 0;

	(void)state;
	for (; kinds[n]; n++)
		assert_int_equal(kinds[n]->size, sizeof(struct swap_prefetch_ops));
	assert_int_equal(n, 3);
	assert_int_equal(swap_prefetch_create("markov", &env, &pf), -ENOENT);
	assert_null(pf);
	swap_prefetch_destroy(NULL);
}

static void none_predicts_nothing(void **state)
{
	struct swap_prefetcher *pf = make("none", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];

	(void)state;
	for (uint64_t p = 100; p < 200; p++)
		assert_int_equal(fault(pf, p, out), 0);
	swap_prefetch_feedback(pf, 101, SWAP_PREFETCH_WASTED);
	swap_prefetch_destroy(pf);
}

static void sequential_forward_scan_is_predicted_after_two_strides(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];
	size_t n;

	(void)state;
	assert_int_equal(fault(pf, 100, out), 0);
	assert_int_equal(fault(pf, 101, out), 0);
	n = fault(pf, 102, out);
	assert_int_equal(n, 4);
	assert_run(out, n, 103, 1);
	/* 103..106 do not fault; the scan's next fault is 107. */
	n = fault(pf, 107, out);
	assert_int_equal(n, 8);
	assert_run(out, n, 108, 1);
	swap_prefetch_destroy(pf);
}

static void sequential_backward_scan_is_predicted(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];
	size_t n;

	(void)state;
	assert_int_equal(fault(pf, 500, out), 0);
	assert_int_equal(fault(pf, 499, out), 0);
	n = fault(pf, 498, out);
	assert_int_equal(n, 4);
	assert_run(out, n, 497, -1);
	n = fault(pf, 493, out);
	assert_int_equal(n, 8);
	assert_run(out, n, 492, -1);
	swap_prefetch_destroy(pf);
}

static void stride_of_three_is_predicted_along_the_stride(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];
	size_t n;

	(void)state;
	assert_int_equal(fault(pf, 10, out), 0);
	assert_int_equal(fault(pf, 13, out), 0);
	n = fault(pf, 16, out);
	assert_int_equal(n, 4);
	assert_run(out, n, 19, 3);
	n = fault(pf, 31, out);
	assert_int_equal(n, 8);
	assert_run(out, n, 34, 3);
	swap_prefetch_destroy(pf);
}

static void window_doubles_up_to_max_window(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	size_t sizes[10];
	const size_t want[10] = { 0, 0, 4, 8, 16, 32, 64, 64, 64, 64 };

	(void)state;
	scan(pf, 1000, 1, 10, sizes);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(sizes[i], want[i]);
	swap_prefetch_destroy(pf);
}

static void small_max_window_caps_the_first_window(void **state)
{
	struct swap_prefetcher *pf = make("stride", 2, PAGES);
	size_t sizes[5];

	(void)state;
	scan(pf, 1000, 1, 5, sizes);
	assert_int_equal(sizes[2], 2);
	assert_int_equal(sizes[3], 2);
	assert_int_equal(sizes[4], 2);
	swap_prefetch_destroy(pf);
}

static void wasted_feedback_halves_the_window(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];
	size_t sizes[5];
	uint64_t next;
	size_t n;

	(void)state;
	/* Windows 4, 8, 16: the last prediction was 16 pages ending at next-1. */
	scan(pf, 0, 1, 5, sizes);
	assert_int_equal(sizes[4], 16);
	next = 16 + 16 + 1;      /* faults 0 1 2 7 16; 17..32 predicted */
	swap_prefetch_feedback(pf, next - 3, SWAP_PREFETCH_WASTED);
	swap_prefetch_feedback(pf, next - 2, SWAP_PREFETCH_WASTED);
	/* 16 / 2 / 2 = 4, doubled on this continuation: 8 instead of 32. */
	n = fault(pf, next, out);
	assert_int_equal(n, 8);
	assert_run(out, n, next + 1, 1);
	/* Feedback about pages it never predicted does not shrink it. */
	swap_prefetch_feedback(pf, 900000, SWAP_PREFETCH_WASTED);
	swap_prefetch_feedback(pf, next + 1, SWAP_PREFETCH_USED);
	n = fault(pf, next + 9, out);
	assert_int_equal(n, 16);
	swap_prefetch_destroy(pf);
}

static void random_faults_predict_nothing(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];
	uint64_t x = 88172645463325252ULL;
	size_t total = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		total += fault(pf, x % PAGES, out);
	}
	assert_int_equal(total, 0);
	swap_prefetch_destroy(pf);
}

static void predictions_stay_inside_guest_ram(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, 1000);
	uint64_t out[MAX_WIN * 2];
	size_t n;

	(void)state;
	/* Forward into the end of RAM. */
	fault(pf, 995, out);
	fault(pf, 996, out);
	n = fault(pf, 997, out);
	assert_int_equal(n, 2);
	assert_run(out, n, 998, 1);
	/* Backward into page 0, stride 2. */
	fault(pf, 6, out);
	fault(pf, 4, out);
	n = fault(pf, 2, out);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 0);
	/* A caller's max below the window wins. */
	fault(pf, 500, out);
	fault(pf, 501, out);
	n = swap_prefetch_predict(pf, 502, 0, out, 3);
	assert_int_equal(n, 3);
	assert_run(out, n, 503, 1);
	/* Pages near UINT64_MAX do not wrap around. */
	swap_prefetch_destroy(pf);
	pf = make("stride", MAX_WIN, UINT64_MAX);
	fault(pf, UINT64_MAX - 5, out);
	fault(pf, UINT64_MAX - 4, out);
	n = fault(pf, UINT64_MAX - 3, out);
	assert_int_equal(n, 2);
	assert_int_equal(out[1], UINT64_MAX - 1);
	swap_prefetch_destroy(pf);
}

static void two_interleaved_streams_are_both_detected(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];
	uint64_t a = 100, b = 130;   /* close enough to confuse one stream */
	size_t n;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(fault(pf, a + (uint64_t)i, out), 0);
		assert_int_equal(fault(pf, b - (uint64_t)i, out), 0);
	}
	n = fault(pf, a + 2, out);
	assert_int_equal(n, 4);
	assert_run(out, n, a + 3, 1);
	n = fault(pf, b - 2, out);
	assert_int_equal(n, 4);
	assert_run(out, n, b - 3, -1);
	/* Both continue past their prefetched ranges. */
	n = fault(pf, a + 7, out);
	assert_int_equal(n, 8);
	assert_run(out, n, a + 8, 1);
	n = fault(pf, b - 7, out);
	assert_int_equal(n, 8);
	assert_run(out, n, b - 8, -1);
	swap_prefetch_destroy(pf);
}

static void eight_streams_are_tracked_and_a_ninth_replaces_the_oldest(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];

	(void)state;
	/* Eight interleaved scans, far apart: all confirmed on their third fault. */
	for (uint64_t step = 0; step < 3; step++)
		for (uint64_t s = 0; s < 8; s++)
			assert_int_equal(fault(pf, s * 10000 + step, out), step < 2 ? 0 : 4);
	/* A ninth scan is learned and takes the least recently used slot... */
	assert_int_equal(fault(pf, 80000, out), 0);
	assert_int_equal(fault(pf, 80001, out), 0);
	assert_int_equal(fault(pf, 80002, out), 4);
	/* ...scan 0's; the other seven go on past their prefetched pages. */
	for (uint64_t s = 1; s < 8; s++)
		assert_int_equal(fault(pf, s * 10000 + 7, out), 8);
	assert_int_equal(fault(pf, 7, out), 0);
	swap_prefetch_destroy(pf);
}

static void random_faults_between_scan_faults_do_not_break_the_scan(void **state)
{
	struct swap_prefetcher *pf = make("stride", MAX_WIN, PAGES);
	uint64_t out[MAX_WIN * 2];
	uint64_t x = 0x2545F4914F6CDD1DULL, page = 1000;
	size_t last = 0;

	(void)state;
	for (int f = 0; f < 12; f++) {
		size_t n = fault(pf, page, out);

		if (n) {
			assert_run(out, n, page + 1, 1);
			page = out[n - 1];
			last = n;
		}
		page++;
		/* Three unrelated faults high in RAM after each scan fault. */
		for (int i = 0; i < 3; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			fault(pf, PAGES / 2 + x % (PAGES / 2), out);
		}
	}
	assert_int_equal(last, MAX_WIN);
	swap_prefetch_destroy(pf);
}

/* Islands: a policy kept some pages of a loop resident (here 50 of every
 * 120, and one long island of 2000). A scan does not fault on them. Told
 * which pages are present, the stream steps over the islands: it neither
 * predicts present pages nor starts over (small window again) after each
 * island. Without that knowledge the same scan faults far more often. */
#define ISLAND_PAGES 20000

static bool island_present(void *ctx, uint64_t page)
{
	const uint8_t *present = ctx;

	return page < ISLAND_PAGES && present[page];
}

static size_t island_scan(bool tell)
{
	uint8_t *present = calloc(ISLAND_PAGES, 1);
	struct swap_prefetch_env env = { .max_window = MAX_WIN, .page_count = PAGES };
	struct swap_prefetcher *pf = NULL;
	uint64_t out[MAX_WIN * 2];
	size_t faults = 0;

	assert_non_null(present);
	for (uint64_t q = 0; q < ISLAND_PAGES; q++)
		present[q] = (q % 120 >= 40 && q % 120 < 90) || (q >= 9000 && q < 11000);
	if (tell) {
		env.present = island_present;
		env.ctx = present;
	}
	assert_int_equal(swap_prefetch_create("stride", &env, &pf), 0);
	for (uint64_t q = 0; q < ISLAND_PAGES; q++) {
		size_t n;

		if (present[q])
			continue;
		n = fault(pf, q, out);
		faults++;
		present[q] = 1;
		for (size_t i = 0; i < n; i++) {
			assert_true(out[i] > q);
			if (out[i] >= ISLAND_PAGES)
				continue;
			if (tell)
				assert_false(present[out[i]]);
			present[out[i]] = 1;
		}
	}
	swap_prefetch_destroy(pf);
	free(present);
	return faults;
}

static void a_scan_steps_over_present_islands(void **state)
{
	size_t told, blind;

	(void)state;
	told = island_scan(true);
	blind = island_scan(false);
	print_message("# islands: %zu faults told what is present, %zu blind\n", told, blind);
	/* 20000 pages, ~55 % missing: about 11000 / 64 faults at full window. */
	assert_true(told <= 11000 / MAX_WIN + 20);
	assert_true(told * 3 < blind);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registry_knows_none_stride_learned),
		cmocka_unit_test(none_predicts_nothing),
		cmocka_unit_test(sequential_forward_scan_is_predicted_after_two_strides),
		cmocka_unit_test(sequential_backward_scan_is_predicted),
		cmocka_unit_test(stride_of_three_is_predicted_along_the_stride),
		cmocka_unit_test(window_doubles_up_to_max_window),
		cmocka_unit_test(small_max_window_caps_the_first_window),
		cmocka_unit_test(wasted_feedback_halves_the_window),
		cmocka_unit_test(random_faults_predict_nothing),
		cmocka_unit_test(predictions_stay_inside_guest_ram),
		cmocka_unit_test(two_interleaved_streams_are_both_detected),
		cmocka_unit_test(eight_streams_are_tracked_and_a_ninth_replaces_the_oldest),
		cmocka_unit_test(random_faults_between_scan_faults_do_not_break_the_scan),
		cmocka_unit_test(a_scan_steps_over_present_islands),
	};

	return cmocka_run_group_tests_name("swap_stride", tests, NULL, NULL);
}
