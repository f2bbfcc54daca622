/* tests/unit/swap/policies/test_policies.c — the eviction policies.
 *
 * The contract every policy keeps (checked for each registered kind), then
 * each policy's own promises: CLOCK's second chance, SIEVE's visited bit,
 * S3-FIFO's ghost queue, and scan resistance measured on a small simulated
 * trace where hits call touch() and misses call evict() then insert().
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

#include "common.h"
#include "policy.h"

/* ---- helpers ----------------------------------------------------------- */

struct rearm_log {
	uint64_t pages[64];
	size_t count;
};

static void record_rearm(void *ctx, uint64_t page)
{
	struct rearm_log *log = ctx;

	if (log->count < 64)
		log->pages[log->count] = page;
	log->count++;
}

static bool rearmed(const struct rearm_log *log, uint64_t page)
{
	for (size_t i = 0; i < log->count && i < 64; i++)
		if (log->pages[i] == page)
			return true;
	return false;
}

static struct swap_policy *make(const char *name, size_t capacity, struct rearm_log *log)
{
	struct swap_policy_env env = {
		.rearm = log ? record_rearm : NULL,
		.ctx = log,
		.capacity = capacity,
	};
	struct swap_policy *p = NULL;

	assert_int_equal(swap_policy_create(name, &env, &p), 0);
	assert_non_null(p);
	assert_string_equal(p->ops->name, name);
	return p;
}

static uint64_t evict_one(struct swap_policy *p)
{
	uint64_t page = UINT64_MAX;

	assert_int_equal(swap_policy_evict(p, &page), 0);
	return page;
}

/* xorshift64: deterministic randomness for the randomized tests. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* ---- registry ---------------------------------------------------------- */

static void registry_lists_every_policy_once(void **state)
{
	const struct swap_policy_ops *const *kinds = swap_policy_kinds();
	const char *want[] = { "clock", "s3fifo", "sieve", "fifo", "lru", "arc", "lecar" };
	size_t n = 0;

	(void)state;
	for (; kinds[n]; n++) {
		assert_int_equal(kinds[n]->size, sizeof(struct swap_policy_ops));
		assert_non_null(kinds[n]->help);
		for (size_t j = 0; j < n; j++)
			assert_string_not_equal(kinds[j]->name, kinds[n]->name);
	}
	assert_true(n >= PVM_ARRAY_SIZE(want));
	for (size_t i = 0; i < PVM_ARRAY_SIZE(want); i++) {
		struct swap_policy *p = make(want[i], 8, NULL);

		swap_policy_destroy(p);
	}
}

static void unknown_policy_name_is_rejected(void **state)
{
	struct swap_policy_env env = { .capacity = 8 };
	struct swap_policy *p = NULL;

	(void)state;
	assert_int_equal(swap_policy_create("lru-k", &env, &p), -ENOENT);
	assert_null(p);
	swap_policy_destroy(NULL);
}

/* ---- the contract, for every kind -------------------------------------- */

static void evict_on_empty_returns_enoent(void **state)
{
	(void)state;
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++) {
		struct swap_policy *p = make((*k)->name, 4, NULL);
		uint64_t page = 7;

		assert_int_equal(swap_policy_evict(p, &page), -ENOENT);
		assert_int_equal(page, 7);
		swap_policy_insert(p, 1, 0);
		assert_int_equal(evict_one(p), 1);
		assert_int_equal(swap_policy_evict(p, &page), -ENOENT);
		assert_int_equal(swap_policy_count(p), 0);
		swap_policy_destroy(p);
	}
}

/* Capacity hint 16, 5000 pages: also proves growth beyond the hint. */
static void every_inserted_page_is_evicted_exactly_once(void **state)
{
	enum { N = 5000 };

	(void)state;
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++) {
		struct rearm_log log = { .count = 0 };
		struct swap_policy *p = make((*k)->name, 16, &log);
		unsigned char *seen = calloc(N, 1);
		uint64_t page;

		assert_non_null(seen);
		for (uint64_t i = 0; i < N; i++) {
			swap_policy_insert(p, i, (i % 7 == 0) ? SWAP_ACCESS_PREFETCH : 0);
			if (i % 3 == 0)
				swap_policy_touch(p, i / 2, SWAP_ACCESS_WRITE);
		}
		assert_int_equal(swap_policy_count(p), N);
		for (size_t n = N; n > 0; n--) {
			page = evict_one(p);
			assert_true(page < N);
			assert_int_equal(seen[page], 0);
			seen[page] = 1;
			assert_int_equal(swap_policy_count(p), n - 1);
			/* Interleave touches of what is left, as a pager would. */
			swap_policy_touch(p, (page * 31) % N, 0);
		}
		assert_int_equal(swap_policy_evict(p, &page), -ENOENT);
		free(seen);
		swap_policy_destroy(p);
	}
}

static void removed_pages_are_never_evicted(void **state)
{
	enum { N = 1000 };

	(void)state;
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++) {
		struct swap_policy *p = make((*k)->name, N, NULL);
		unsigned char seen[N] = { 0 }, gone[N] = { 0 };
		uint64_t page;

		for (uint64_t i = 0; i < N; i++)
			swap_policy_insert(p, i, 0);
		for (uint64_t i = 1; i < N; i += 2) {
			swap_policy_touch(p, i, 0);
			swap_policy_remove(p, i);
			gone[i] = 1;
		}
		assert_int_equal(swap_policy_count(p), N / 2);
		while (swap_policy_evict(p, &page) == 0) {
			assert_true(page < N);
			assert_int_equal(gone[page], 0);
			assert_int_equal(seen[page], 0);
			seen[page] = 1;
			/* Removing pages while the hand sweeps is fine too. */
			if (page % 4 == 0 && page + 10 < N && !seen[page + 10]) {
				swap_policy_touch(p, page + 12, 0);
				swap_policy_remove(p, page + 10);
				gone[page + 10] = 1;
			}
		}
		assert_int_equal(swap_policy_count(p), 0);
		for (uint64_t i = 0; i < N; i++)
			assert_int_equal(seen[i] + gone[i], 1);
		swap_policy_destroy(p);
	}
}

static void inserting_a_tracked_page_does_not_duplicate_it(void **state)
{
	(void)state;
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++) {
		struct swap_policy *p = make((*k)->name, 4, NULL);
		uint64_t page;

		swap_policy_insert(p, 42, 0);
		swap_policy_insert(p, 42, SWAP_ACCESS_WRITE);
		swap_policy_insert(p, 42, SWAP_ACCESS_PREFETCH);
		assert_int_equal(swap_policy_count(p), 1);
		assert_int_equal(evict_one(p), 42);
		assert_int_equal(swap_policy_evict(p, &page), -ENOENT);
		swap_policy_destroy(p);
	}
}

static void touch_and_remove_of_unknown_pages_are_ignored(void **state)
{
	(void)state;
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++) {
		struct swap_policy *p = make((*k)->name, 4, NULL);

		swap_policy_touch(p, 5, 0);
		swap_policy_remove(p, 5);
		swap_policy_insert(p, 6, 0);
		swap_policy_touch(p, 5, 0);
		swap_policy_remove(p, 5);
		swap_policy_remove(p, 6);
		swap_policy_remove(p, 6);
		assert_int_equal(swap_policy_count(p), 0);
		swap_policy_insert(p, 7, 0);
		assert_int_equal(evict_one(p), 7);
		swap_policy_destroy(p);
	}
}

static void sparse_huge_page_numbers_work(void **state)
{
	const uint64_t pages[] = {
		0, 1ULL << 40, (1ULL << 40) + 1, 1ULL << 52, 1ULL << 63,
		UINT64_MAX - 1, 12345678901234ULL,
	};
	const size_t n = sizeof(pages) / sizeof(pages[0]);

	(void)state;
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++) {
		struct swap_policy *p = make((*k)->name, 2, NULL);
		bool seen[sizeof(pages) / sizeof(pages[0])] = { false };

		for (size_t i = 0; i < n; i++)
			swap_policy_insert(p, pages[i], 0);
		swap_policy_touch(p, 1ULL << 63, 0);
		swap_policy_remove(p, 1ULL << 52);
		assert_int_equal(swap_policy_count(p), n - 1);
		for (size_t e = 0; e < n - 1; e++) {
			uint64_t page = evict_one(p);
			size_t i = 0;

			while (i < n && pages[i] != page)
				i++;
			assert_true(i < n);
			assert_false(seen[i]);
			assert_true(pages[i] != 1ULL << 52);
			seen[i] = true;
		}
		assert_int_equal(swap_policy_count(p), 0);
		swap_policy_destroy(p);
	}
}

/* Tens of thousands of random operations against a reference resident set:
 * evict() only names resident pages and count() always agrees. */
static void random_operations_agree_with_a_reference_set(void **state)
{
	enum { UNIVERSE = 3000, OPS = 60000 };

	(void)state;
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++) {
		struct rearm_log log = { .count = 0 };
		struct swap_policy *p = make((*k)->name, 64, &log);
		bool *resident = calloc(UNIVERSE, sizeof(*resident));
		uint64_t rng = 0x9e3779b97f4a7c15ULL;
		size_t count = 0;

		assert_non_null(resident);
		for (size_t op = 0; op < OPS; op++) {
			uint64_t r = next_random(&rng);
			uint64_t page = (r >> 8) % UNIVERSE;
			uint64_t victim;

			switch (r % 8) {
			case 0: case 1: case 2:
				swap_policy_insert(p, page, (r & 0x100) ? SWAP_ACCESS_PREFETCH : 0);
				if (!resident[page])
					count++;
				resident[page] = true;
				break;
			case 3: case 4:
				swap_policy_touch(p, page, 0);
				break;
			case 5:
				swap_policy_remove(p, page);
				if (resident[page])
					count--;
				resident[page] = false;
				break;
			default:
				if (count == 0) {
					assert_int_equal(swap_policy_evict(p, &victim), -ENOENT);
					break;
				}
				victim = evict_one(p);
				assert_true(victim < UNIVERSE);
				assert_true(resident[victim]);
				resident[victim] = false;
				count--;
				break;
			}
			assert_int_equal(swap_policy_count(p), count);
		}
		free(resident);
		swap_policy_destroy(p);
	}
}

/* ---- CLOCK ------------------------------------------------------------- */

static void clock_gives_touched_page_a_second_chance_and_rearms_it(void **state)
{
	struct rearm_log log = { .count = 0 };
	struct swap_policy *p = make("clock", 4, &log);

	(void)state;
	/* Prefetched: start unreferenced, so the hand meets clear bits. */
	swap_policy_insert(p, 1, SWAP_ACCESS_PREFETCH);
	swap_policy_insert(p, 2, SWAP_ACCESS_PREFETCH);
	swap_policy_insert(p, 3, SWAP_ACCESS_PREFETCH);
	swap_policy_touch(p, 1, 0);
	assert_int_equal(evict_one(p), 2);   /* 1 was spared */
	assert_int_equal(log.count, 1);
	assert_true(rearmed(&log, 1));
	assert_int_equal(evict_one(p), 3);
	assert_int_equal(evict_one(p), 1);   /* its bit is used up */
	assert_int_equal(log.count, 1);
	swap_policy_destroy(p);
}

static void clock_evicts_unreferenced_prefetched_page_first(void **state)
{
	struct rearm_log log = { .count = 0 };
	struct swap_policy *p = make("clock", 4, &log);

	(void)state;
	swap_policy_insert(p, 10, 0);                     /* a demand fault */
	swap_policy_insert(p, 11, SWAP_ACCESS_PREFETCH);  /* speculation */
	assert_int_equal(evict_one(p), 11);
	assert_true(rearmed(&log, 10));
	swap_policy_destroy(p);
}

/* ---- SIEVE ------------------------------------------------------------- */

static void sieve_keeps_visited_page_and_rearms_it(void **state)
{
	struct rearm_log log = { .count = 0 };
	struct swap_policy *p = make("sieve", 4, &log);

	(void)state;
	for (uint64_t i = 1; i <= 4; i++)
		swap_policy_insert(p, i, 0);
	swap_policy_touch(p, 1, 0);
	swap_policy_touch(p, 3, 0);
	assert_int_equal(evict_one(p), 2);
	assert_int_equal(log.count, 1);
	assert_true(rearmed(&log, 1));
	/* The hand stays after 2: 3 is visited, 4 is not. */
	assert_int_equal(evict_one(p), 4);
	assert_true(rearmed(&log, 3));
	/* Newcomers join at the newest end, the hand wraps to the oldest. */
	swap_policy_insert(p, 5, 0);
	assert_int_equal(evict_one(p), 1);
	assert_int_equal(evict_one(p), 3);
	assert_int_equal(evict_one(p), 5);
	swap_policy_destroy(p);
}

/* ---- S3-FIFO ----------------------------------------------------------- */

static void s3fifo_sends_ghost_hit_to_main_queue(void **state)
{
	struct swap_policy *p = make("s3fifo", 10, NULL);

	(void)state;
	for (uint64_t i = 0; i < 10; i++)
		swap_policy_insert(p, i, 0);
	assert_int_equal(evict_one(p), 0);   /* 0 is now a ghost */
	swap_policy_insert(p, 0, 0);         /* back soon: into main */
	swap_policy_insert(p, 10, 0);        /* a newcomer: into small */
	assert_int_equal(swap_policy_count(p), 11);
	/* Everything in small goes before the page in main, even 10. */
	for (uint64_t i = 1; i <= 10; i++)
		assert_int_equal(evict_one(p), i);
	assert_int_equal(evict_one(p), 0);
	swap_policy_destroy(p);
}

static void s3fifo_prefetched_ghost_hit_stays_on_probation(void **state)
{
	struct swap_policy *p = make("s3fifo", 10, NULL);

	(void)state;
	for (uint64_t i = 0; i < 10; i++)
		swap_policy_insert(p, i, 0);
	assert_int_equal(evict_one(p), 0);
	swap_policy_insert(p, 0, SWAP_ACCESS_PREFETCH);  /* into small */
	swap_policy_insert(p, 10, 0);
	for (uint64_t i = 1; i <= 9; i++)
		assert_int_equal(evict_one(p), i);
	assert_int_equal(evict_one(p), 0);
	assert_int_equal(evict_one(p), 10);
	swap_policy_destroy(p);
}

static void s3fifo_promotes_touched_page_and_rearms_on_clearing(void **state)
{
	struct rearm_log log = { .count = 0 };
	struct swap_policy *p = make("s3fifo", 10, &log);

	(void)state;
	for (uint64_t i = 0; i < 10; i++)
		swap_policy_insert(p, i, 0);
	swap_policy_touch(p, 0, 0);
	swap_policy_touch(p, 0, SWAP_ACCESS_PREFETCH);   /* not a use */
	assert_int_equal(evict_one(p), 1);   /* 0 moved to main instead */
	assert_int_equal(log.count, 1);
	assert_true(rearmed(&log, 0));
	/* In main, a touch buys one more pass; the decrement is re-armed. */
	swap_policy_touch(p, 0, 0);
	for (uint64_t i = 2; i < 10; i++)
		assert_int_equal(evict_one(p), i);
	assert_int_equal(evict_one(p), 0);
	assert_int_equal(log.count, 2);
	swap_policy_destroy(p);
}

/* ---- scan resistance --------------------------------------------------- */

enum {
	SIM_CACHE = 100,
	SIM_HOT = 20,
	SIM_SCAN_PER_ROUND = 50,
	SIM_ROUNDS = 100,
	SIM_UNIVERSE = SIM_HOT + SIM_SCAN_PER_ROUND * SIM_ROUNDS,
};

struct sim {
	struct swap_policy *policy;
	bool *resident;
	size_t resident_count;
	size_t hot_misses;
};

static void sim_access(struct sim *s, uint64_t page)
{
	if (s->resident[page]) {
		swap_policy_touch(s->policy, page, 0);
		return;
	}
	if (s->resident_count == SIM_CACHE) {
		uint64_t victim = evict_one(s->policy);

		assert_true(victim < SIM_UNIVERSE);
		assert_true(s->resident[victim]);
		s->resident[victim] = false;
		s->resident_count--;
	}
	swap_policy_insert(s->policy, page, 0);
	s->resident[page] = true;
	s->resident_count++;
	if (page < SIM_HOT)
		s->hot_misses++;
}

/* A hot set of 20 pages is used every round; between rounds a scan reads 50
 * pages it never reads again. Return the hot set's misses after warm-up. */
static size_t hot_misses_under_scan(const char *name)
{
	struct sim s = { .policy = make(name, SIM_CACHE, NULL) };
	uint64_t scan = SIM_HOT;

	s.resident = calloc(SIM_UNIVERSE, sizeof(*s.resident));
	assert_non_null(s.resident);
	for (int pass = 0; pass < 2; pass++)
		for (uint64_t h = 0; h < SIM_HOT; h++)
			sim_access(&s, h);
	s.hot_misses = 0;
	for (int round = 0; round < SIM_ROUNDS; round++) {
		for (uint64_t h = 0; h < SIM_HOT; h++)
			sim_access(&s, h);
		for (int i = 0; i < SIM_SCAN_PER_ROUND; i++)
			sim_access(&s, scan++);
	}
	free(s.resident);
	swap_policy_destroy(s.policy);
	return s.hot_misses;
}

static void s3fifo_and_sieve_keep_hot_set_through_scan_fifo_does_not(void **state)
{
	size_t fifo = hot_misses_under_scan("fifo");
	size_t s3fifo = hot_misses_under_scan("s3fifo");
	size_t sieve = hot_misses_under_scan("sieve");

	(void)state;
	print_message("# hot-set misses over %d rounds: fifo %zu, s3fifo %zu, sieve %zu, clock %zu\n",
		      SIM_ROUNDS, fifo, s3fifo, sieve, hot_misses_under_scan("clock"));
	/* FIFO forgets the hot set every 100 misses, i.e. every other round. */
	assert_true(fifo >= (size_t)SIM_HOT * SIM_ROUNDS / 4);
	assert_true(s3fifo <= SIM_HOT);
	assert_true(sieve <= SIM_HOT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(registry_lists_every_policy_once),
		cmocka_unit_test(unknown_policy_name_is_rejected),
		cmocka_unit_test(evict_on_empty_returns_enoent),
		cmocka_unit_test(every_inserted_page_is_evicted_exactly_once),
		cmocka_unit_test(removed_pages_are_never_evicted),
		cmocka_unit_test(inserting_a_tracked_page_does_not_duplicate_it),
		cmocka_unit_test(touch_and_remove_of_unknown_pages_are_ignored),
		cmocka_unit_test(sparse_huge_page_numbers_work),
		cmocka_unit_test(random_operations_agree_with_a_reference_set),
		cmocka_unit_test(clock_gives_touched_page_a_second_chance_and_rearms_it),
		cmocka_unit_test(clock_evicts_unreferenced_prefetched_page_first),
		cmocka_unit_test(sieve_keeps_visited_page_and_rearms_it),
		cmocka_unit_test(s3fifo_sends_ghost_hit_to_main_queue),
		cmocka_unit_test(s3fifo_prefetched_ghost_hit_stays_on_probation),
		cmocka_unit_test(s3fifo_promotes_touched_page_and_rearms_on_clearing),
		cmocka_unit_test(s3fifo_and_sieve_keep_hot_set_through_scan_fifo_does_not),
	};

	return cmocka_run_group_tests_name("swap_policies", tests, NULL, NULL);
}
