/* tests/unit/swap/policies/test_learned.c — the learned policy and its
 * model: density math, model files, and what it learns on patterns where
 * the right answer is known (loops, scans, a recency-friendly stream).
 * "learned-core" is the model alone: the cases that drive evict() call by
 * call test its mechanics. "learned" is the model guarded by LRU
 * (learned_guard.c): what it must do as a whole, and the guard's own
 * bookkeeping, are the replay cases and the guard_ cases. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "learned_guard.h"
#include "learned_model.h"
#include "policy.h"

/* A tiny cache simulator over the policy: returns misses. */
static uint64_t replay(const char *name, const void *model, size_t cache,
		       const uint64_t *pages, size_t n, struct swap_policy **keep)
{
	struct swap_policy_env env = { .capacity = cache, .model = model };
	struct swap_policy *p = NULL;
	uint8_t *res = calloc(1 << 20, 1);
	uint64_t misses = 0, v;
	size_t nres = 0;

	assert_non_null(res);
	assert_int_equal(swap_policy_create(name, &env, &p), 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(pages[i] < (1 << 20));
		if (res[pages[i]]) {
			swap_policy_touch(p, pages[i], 0);
			continue;
		}
		misses++;
		if (nres == cache) {
			assert_int_equal(swap_policy_evict(p, &v), 0);
			assert_true(res[v]);
			res[v] = 0;
			nres--;
		}
		swap_policy_insert(p, pages[i], 0);
		res[pages[i]] = 1;
		nres++;
		assert_int_equal(swap_policy_count(p), nres);
	}
	free(res);
	if (keep)
		*keep = p;
	else
		swap_policy_destroy(p);
	return misses;
}

static void density_falls_with_age_when_hits_are_young(void **state)
{
	struct learned_model *m = calloc(1, sizeof(*m));
	struct lm_density *d = calloc(1, sizeof(*d));

	(void)state;
	for (unsigned b = 0; b < 8; b++)
		m->hits[0][b] = 100.0f / (b + 1);
	m->evictions[0][20] = 50;
	lm_density(m, d);
	for (unsigned b = 1; b < 20; b++)
		assert_true(d->d[0][b] <= d->d[0][b - 1]);
	assert_true(d->d[0][21] == 0.0f);       /* past every hit: worthless */
	free(m);
	free(d);
}

static void density_rises_towards_a_loops_reuse_age(void **state)
{
	struct learned_model *m = calloc(1, sizeof(*m));
	struct lm_density *d = calloc(1, sizeof(*d));

	(void)state;
	m->hits[5][24] = 1000;                  /* every page reused at one age */
	lm_density(m, d);
	/* the closer to its reuse, the more a page is worth keeping */
	for (unsigned b = 1; b <= 24; b++)
		assert_true(d->d[5][b] > d->d[5][b - 1]);
	free(m);
	free(d);
}

static void model_file_round_trip_and_errors(void **state)
{
	struct learned_model *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
	char path[] = "/tmp/pvm-test-model.XXXXXX", err[256];
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	m->hits[3][7] = 12.5f;
	m->evictions[51][47] = 3;
	assert_int_equal(lm_save(path, m), 0);
	assert_int_equal(lm_load(path, r, err, sizeof(err)), 0);
	assert_true(r->hits[3][7] == 12.5f && r->evictions[51][47] == 3.0f);
	assert_int_equal(lm_cells_filled(r), 2);

	f = fopen(path, "w");
	fprintf(f, "%s\n3 7 1 1\n99 0 1 1\n", LM_MAGIC);
	fclose(f);
	assert_int_equal(lm_load(path, r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: expected"));

	f = fopen(path, "w");
	fprintf(f, "something else\n");
	fclose(f);
	assert_int_equal(lm_load(path, r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":1: not a poolvm learned model"));
	assert_int_equal(lm_load("/nonexistent/model", r, err, sizeof(err)), -ENOENT);
	unlink(path);
	free(m);
	free(r);
}

/* A loop over 2C pages: LRU misses every access; keeping a fixed part
 * of the loop (what OPT does) hits C - 1 of every 2C. */
static void learns_a_loop_larger_than_the_cache(void **state)
{
	const size_t cache = 500, loop = 1000, n = 60 * loop;
	uint64_t *pages = malloc(n * sizeof(*pages));
	uint64_t lru, learned;

	(void)state;
	for (size_t i = 0; i < n; i++)
		pages[i] = i % loop;
	lru = replay("lru", NULL, cache, pages, n, NULL);
	learned = replay("learned", NULL, cache, pages, n, NULL);
	assert_int_equal(lru, n);
	assert_true(learned < n * 7 / 10);
	free(pages);
}

/* A hot set of C/2 pages cut by long one-time scans: the hot set stays. */
static void keeps_a_hot_set_through_scans(void **state)
{
	const size_t cache = 400, n = 200000;
	uint64_t *pages = malloc(n * sizeof(*pages)), next = 100000, misses;
	size_t i = 0;

	(void)state;
	while (i < n) {
		for (size_t k = 0; k < 2000 && i < n; k++)
			pages[i++] = (k * 7919) % (cache / 2);
		for (size_t k = 0; k < 1500 && i < n; k++)
			pages[i++] = next++;
	}
	misses = replay("learned", NULL, cache, pages, n, NULL);
	/* scans always miss (~ 3/7 of accesses); the hot set should not */
	assert_true(misses < (uint64_t)n * 3 / 7 + n / 50);
	free(pages);
}

/* Recency-friendly: a working set that fits is never evicted. */
static void working_set_that_fits_stays(void **state)
{
	const size_t cache = 256, n = 50000;
	uint64_t *pages = malloc(n * sizeof(*pages));

	(void)state;
	for (size_t i = 0; i < n; i++)
		pages[i] = (i * 31) % 200;
	assert_int_equal(replay("learned", NULL, cache, pages, n, NULL), 200);
	free(pages);
}

/* LRU-friendly: each access reuses the page at a geometric depth of the
 * LRU stack (or a new page): no history but recency says anything, and
 * the learned policy must do as well as LRU. Pages evicted and not back
 * yet must count as unused up to now, not as ended at their eviction:
 * before that, the density rose with age past the eviction age and the
 * oldest pages were kept (1.5 % more misses than LRU here, 0.1 % now). */
/* @n accesses drawn by stack distance: exponential with mean @depth, a
 * new page 5 % of the time. Reuse falls with recency, so LRU is the best
 * online policy here. */
static uint64_t *stack_trace(size_t n, double depth, uint64_t rng)
{
	enum { MAXSTACK = 6000 };
	uint64_t *t = malloc(n * sizeof(*t)), *stack = malloc(MAXSTACK * sizeof(*stack));
	uint64_t next = 0;
	size_t len = 0;

	assert_non_null(t);
	assert_non_null(stack);
	for (size_t i = 0; i < n; i++) {
		double u;
		size_t d;
		uint64_t page;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		u = (double)(rng >> 11) / 9007199254740992.0;
		d = (size_t)(-log(1 - u) * depth);
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		if (len == 0 || d >= len || rng % 100 < 5) {
			page = next++;
		} else {
			page = stack[len - 1 - d];
			memmove(&stack[len - 1 - d], &stack[len - d], d * sizeof(*stack));
			len--;
		}
		if (len == MAXSTACK) {
			memmove(stack, stack + 1, (len - 1) * sizeof(*stack));
			len--;
		}
		stack[len++] = page;
		t[i] = page;
	}
	free(stack);
	return t;
}

/* Where LRU is best the guard never leaves it: the same misses, exactly
 * (the model alone trails it). */
static void does_as_well_as_lru_where_recency_is_all(void **state)
{
	enum { N = 60000, CACHE = 300 };
	uint64_t *t = stack_trace(N, 400, 0x9e3779b97f4a7c15ULL);
	struct swap_policy *p = NULL;
	struct guard_stats st;
	uint64_t lru = replay("lru", NULL, CACHE, t, N, NULL);
	uint64_t learned = replay("learned", NULL, CACHE, t, N, &p);
	uint64_t core = replay("learned-core", NULL, CACHE, t, N, NULL);

	(void)state;
	print_message("# stack: lru %llu misses, learned %llu, learned-core %llu (of %d)\n",
		      (unsigned long long)lru, (unsigned long long)learned,
		      (unsigned long long)core, N);
	assert_int_equal(learned, lru);
	assert_true(core <= lru + lru / 200);
	assert_int_equal(swap_policy_learned_guard_stats(p, &st), 0);
	assert_false(st.follows_model);
	assert_int_equal(st.switches, 0);
	swap_policy_destroy(p);
	free(t);
}

/* A loop larger than the cache: the model proves itself within a lap or
 * two and the guard follows it for good; what the switch cost is what the
 * model gained before the evidence was in. */
static void guard_follows_the_model_where_it_proves_better(void **state)
{
	const size_t cache = 500, loop = 1000, n = 60 * loop;
	uint64_t *pages = malloc(n * sizeof(*pages));
	struct swap_policy *p = NULL;
	struct guard_stats st;
	uint64_t lru, core, learned;

	(void)state;
	assert_non_null(pages);
	for (size_t i = 0; i < n; i++)
		pages[i] = i % loop;
	lru = replay("lru", NULL, cache, pages, n, NULL);
	core = replay("learned-core", NULL, cache, pages, n, NULL);
	learned = replay("learned", NULL, cache, pages, n, &p);
	print_message("# loop: lru %llu misses, learned-core %llu, learned %llu\n",
		      (unsigned long long)lru, (unsigned long long)core,
		      (unsigned long long)learned);
	assert_int_equal(swap_policy_learned_guard_stats(p, &st), 0);
	assert_true(st.follows_model);
	assert_int_equal(st.switches, 1);
	assert_true(st.model_evictions > 0);
	assert_true(st.model_misses < st.lru_misses);
	assert_true(learned <= core + 3 * loop);
	assert_true(learned < lru * 7 / 10);
	/* and says so in the pager's statistics */
	struct json_object *o = p->ops->stats_json(p), *v;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "follows", &v));
	assert_string_equal(json_object_get_string(v), "learned-core");
	assert_true(json_object_object_get_ex(o, "switches", &v));
	assert_int_equal(json_object_get_int64(v), 1);
	json_object_put(o);
	swap_policy_destroy(p);
	free(pages);
}

struct rearm_check {
	const uint8_t *resident;
	size_t calls;
};

static void check_rearm(void *ctx, uint64_t page)
{
	struct rearm_check *c = ctx;

	assert_true(page < 4096);
	assert_true(c->resident[page]);
	c->calls++;
}

/* The experts ask for re-arms of their own pages; only pages the real
 * cache holds may reach the pager. Phases of loops and of recency make
 * the guard switch both ways, and it stays consistent throughout. */
static void guard_passes_on_rearms_of_resident_pages_only(void **state)
{
	enum { UNIVERSE = 4096, CACHE = 256, N = 200000 };
	uint8_t *res = calloc(UNIVERSE, 1);
	struct rearm_check chk = { .resident = res };
	struct swap_policy_env env = { .capacity = CACHE, .rearm = check_rearm, .ctx = &chk };
	uint64_t rng = 0x2545f4914f6cdd1dULL, v;
	struct swap_policy *p = NULL;
	struct guard_stats st;
	size_t nres = 0;

	(void)state;
	assert_non_null(res);
	assert_int_equal(swap_policy_create("learned", &env, &p), 0);
	for (size_t i = 0; i < N; i++) {
		uint64_t page;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		if ((i / 20000) % 2 == 0)
			page = i % 2000;                        /* a loop */
		else
			page = 1000 + (rng >> 8) % 300;         /* a hot set */
		if (rng % 97 == 0 && res[page]) {
			swap_policy_remove(p, page);
			res[page] = 0;
			nres--;
			continue;
		}
		if (res[page]) {
			swap_policy_touch(p, page, 0);
			continue;
		}
		if (nres == CACHE) {
			assert_int_equal(swap_policy_evict(p, &v), 0);
			assert_true(v < UNIVERSE && res[v]);
			res[v] = 0;
			nres--;
		}
		swap_policy_insert(p, page, (rng & 0x300) == 0 ? SWAP_ACCESS_PREFETCH : 0);
		res[page] = 1;
		nres++;
		assert_int_equal(swap_policy_count(p), nres);
	}
	assert_int_equal(swap_policy_learned_guard_stats(p, &st), 0);
	print_message("# phases: %zu re-arms passed on, %llu switches\n", chk.calls,
		      (unsigned long long)st.switches);
	assert_true(chk.calls > 0);
	assert_true(st.switches >= 1);
	swap_policy_destroy(p);
	free(res);
}

/* Independent draws: 1,000 hot pages used three times as often as 1,000
 * cold ones, a cache of 600. Only the rate of use tells them apart (all
 * soon have 16+ accesses), and a single gap between two accesses is one
 * draw of an exponential. The smoothed gap ranks them by rate, close to
 * the best static choice (keep 600 hot pages): 4,053 misses above it,
 * against 5,928 with the last gap alone (LRU 25,788, ARC 21,193). */
static void ranks_pages_by_their_rate_of_use(void **state)
{
	enum { N = 300000, PAGES = 2000, CACHE = 600 };
	uint64_t *t = malloc(N * sizeof(*t)), rng = 0x2545f4914f6cdd1dULL;

	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i < N; i++) {
		uint64_t x;

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		x = rng % 4000;         /* 3000 of 4000 draws: a hot page */
		t[i] = x < 3000 ? x % 1000 : 1000 + x % 1000;
	}
	uint64_t lru = replay("lru", NULL, CACHE, t, N, NULL);
	uint64_t arc = replay("arc", NULL, CACHE, t, N, NULL);
	uint64_t learned = replay("learned", NULL, CACHE, t, N, NULL);

	print_message("# two rates: lru %llu misses, arc %llu, learned %llu (of %d; "
		      "keeping 600 hot pages: %d)\n", (unsigned long long)lru,
		      (unsigned long long)arc, (unsigned long long)learned, N,
		      N * 11 / 20);
	assert_true(learned < arc);
	assert_true(learned < N * 11 / 20 + N / 60);
	free(t);
}

/* After a loop larger than the cache, young pages rank lowest (the loop's
 * reuse is far). Pages the prefetcher brought in are young too, but their
 * use is still to come, and in the pager often never observed (a mapped
 * page does not fault): they must not be drawn as victims while young.
 * @from_ghosts: every eighth access of the loop is a page read once (a
 * stream beside the loop), and the prefetched pages are such pages,
 * evicted before (a stride prefetcher fetching what the program reads
 * again): by class (seen once, never back) and age (last used long ago)
 * they rank lowest, yet they were fetched for a use that is near. */
static void prefetches_survive(bool from_ghosts)
{
	const size_t cache = 400;
	struct swap_policy_env env = { .capacity = cache };
	struct swap_policy *p = NULL;
	uint8_t *res = calloc(32768, 1);
	uint64_t v, pf[16];
	size_t nres = 0, npf = 0;

	assert_non_null(res);
	assert_int_equal(swap_policy_create("learned-core", &env, &p), 0);
	for (size_t i = 0; i < 20 * 2 * cache; i++) {
		uint64_t pg = from_ghosts && i % 8 == 7 ? 10000 + i / 8 : i % (2 * cache);

		if (res[pg]) {
			swap_policy_touch(p, pg, 0);
			continue;
		}
		if (nres == cache) {
			assert_int_equal(swap_policy_evict(p, &v), 0);
			res[v] = 0;
			nres--;
		}
		swap_policy_insert(p, pg, 0);
		res[pg] = 1;
		nres++;
	}
	/* 16 pages prefetched ahead: new ones, or the scan's most recently
	 * evicted pages (still remembered as ghosts). */
	for (uint64_t pg = from_ghosts ? 10000 + 20 * 2 * cache / 8 - 1 : 30000; npf < 16;
	     pg += from_ghosts ? -1 : 1)
		if (!res[pg])
			pf[npf++] = pg;
	for (size_t k = 0; k < npf; k++) {
		assert_int_equal(swap_policy_evict(p, &v), 0);
		res[v] = 0;
		swap_policy_insert(p, pf[k], SWAP_ACCESS_PREFETCH);
		res[pf[k]] = 1;
	}
	/* 100 more evictions while the loop goes on, touching only pages
	 * that were not prefetched: none of the prefetched pages may go. */
	for (size_t i = 0, ev = 0; ev < 100; i++) {
		uint64_t pg = 31000 + i;
		bool was_pf = false;

		for (size_t k = 0; k < npf; k++)
			was_pf |= pf[k] == pg;
		assert_false(was_pf);
		assert_int_equal(swap_policy_evict(p, &v), 0);
		for (size_t k = 0; k < npf; k++)
			assert_int_not_equal(v, pf[k]);
		res[v] = 0;
		ev++;
		swap_policy_insert(p, pg, 0);
		res[pg] = 1;
	}
	swap_policy_destroy(p);
	free(res);
}

static void young_prefetches_are_not_drawn_as_victims(void **state)
{
	(void)state;
	prefetches_survive(false);
}

static void ghosts_prefetched_back_are_not_drawn_as_victims(void **state)
{
	(void)state;
	prefetches_survive(true);
}

/* Prefetched pages whose use was never seen, once among the oldest
 * (here behind 20 older used pages, so not among the 8 oldest the
 * density sampling looks at), go before any used page: their use came
 * and went unseen or never came. */
static void old_unused_prefetches_go_first(void **state)
{
	const size_t cache = 400;
	struct swap_policy_env env = { .capacity = cache };
	struct swap_policy *p = NULL;
	uint8_t *res = calloc(4096, 1);
	uint64_t v;

	(void)state;
	assert_non_null(res);
	assert_int_equal(swap_policy_create("learned-core", &env, &p), 0);
	for (uint64_t pg = 0; pg < cache; pg++) {
		swap_policy_insert(p, pg, 0);
		res[pg] = 1;
	}
	for (uint64_t pg = 1000; pg < 1016; pg++) {
		assert_int_equal(swap_policy_evict(p, &v), 0);
		assert_true(v < cache);
		res[v] = 0;
		swap_policy_insert(p, pg, SWAP_ACCESS_PREFETCH);
		res[pg] = 1;
	}
	/* Every used page but the 20 least recently used is used again. */
	for (uint64_t pg = 0, left = 20; pg < cache; pg++) {
		if (!res[pg])
			continue;
		if (left) {
			left--;
			continue;
		}
		swap_policy_touch(p, pg, 0);
	}
	for (int k = 0; k < 16; k++) {
		assert_int_equal(swap_policy_evict(p, &v), 0);
		assert_true(v >= 1000 && v < 1016);
	}
	/* None left: used pages go again. */
	assert_int_equal(swap_policy_evict(p, &v), 0);
	assert_true(v < cache);
	swap_policy_destroy(p);
	free(res);
}

/* A stride-prefetched scan beside a working set whose uses the pager
 * no longer sees (reads of a mapped page do not fault): the working set
 * sinks to the LRU end, deeper than the few oldest pages searched for an
 * unused prefetch. Prefetches older than the last C/32 (at least 256) go first all the
 * same; the working set stays. */
static void old_prefetches_go_before_a_deep_working_set(void **state)
{
	const size_t cache = 1000, ws = 300;
	struct swap_policy_env env = { .capacity = cache };
	struct swap_policy *p = NULL;
	uint64_t v;
	size_t nres = 0;

	(void)state;
	assert_int_equal(swap_policy_create("learned-core", &env, &p), 0);
	for (uint64_t pg = 0; pg < ws; pg++) {
		swap_policy_insert(p, pg, 0);
		swap_policy_touch(p, pg, SWAP_ACCESS_WRITE);
		nres++;
	}
	for (uint64_t pg = 100000; pg < 100000 + 20 * cache; pg++) {
		if (nres == cache) {
			assert_int_equal(swap_policy_evict(p, &v), 0);
			assert_true(v >= 100000);
			/* and never one of the last 256 prefetched */
			assert_true(pg - v >= 256);
			nres--;
		}
		swap_policy_insert(p, pg, SWAP_ACCESS_PREFETCH);
		nres++;
		/* a fault at each window's end: some pages are seen used */
		if (pg % 64 == 0)
			swap_policy_touch(p, pg, 0);
	}
	swap_policy_destroy(p);
}

/* Where the uses of prefetched pages are seen (here each is used once,
 * 600 prefetches after it came in, with a cache of 2000), an unused
 * prefetch is not yet used rather than used unseen: it stays young for
 * about a cache's worth of prefetches, and the used pages, which are not
 * used again, go instead. With a fixed C/32 (at least 256) every page
 * was evicted before its use; at first the policy cannot know, the uses
 * that come too late teach it. */
static void seen_uses_keep_prefetches_young_longer(void **state)
{
	const size_t cache = 2000, delay = 600, n = 20000;
	struct swap_policy_env env = { .capacity = cache };
	struct swap_policy *p = NULL;
	uint8_t *res = calloc(n + delay, 1);
	uint64_t v, late = 0;
	size_t nres = 0;

	(void)state;
	assert_non_null(res);
	assert_int_equal(swap_policy_create("learned-core", &env, &p), 0);
	for (uint64_t k = 0; k < n + delay; k++) {
		if (k < n) {
			if (nres == cache) {
				assert_int_equal(swap_policy_evict(p, &v), 0);
				assert_true(res[v]);
				res[v] = 0;
				nres--;
			}
			swap_policy_insert(p, k, SWAP_ACCESS_PREFETCH);
			res[k] = 1;
			nres++;
		}
		if (k < delay)
			continue;
		if (res[k - delay]) {
			swap_policy_touch(p, k - delay, 0);
			continue;
		}
		late++;                 /* gone before its use: a demand fault */
		if (nres == cache) {
			assert_int_equal(swap_policy_evict(p, &v), 0);
			res[v] = 0;
			nres--;
		}
		swap_policy_insert(p, k - delay, 0);
		res[k - delay] = 1;
		nres++;
	}
	print_message("# %llu of %zu prefetched pages gone before their use\n",
		      (unsigned long long)late, n);
	assert_true(late < n / 20);
	swap_policy_destroy(p);
	free(res);
}

/* A stride-prefetched loop over 2.5 times the cache, beside a working
 * set seen used once (its later uses do not fault). First-in first-out
 * over the prefetches misses on every page of every lap; once the policy
 * sees its prefetches return, it keeps a part of the loop for good and
 * that part hits on each lap. The working set stays all along: kept
 * pages too go before used ones. */
static void a_prefetched_loop_keeps_a_part_of_itself(void **state)
{
	const size_t cache = 2000, ws = 200, loop = 5000, laps = 8;
	struct swap_policy_env env = { .capacity = cache };
	struct swap_policy *p = NULL;
	uint8_t *res = calloc(100000 + loop, 1);
	uint64_t v, hits = 0;
	size_t nres = 0, runs = 0;

	(void)state;
	assert_non_null(res);
	assert_int_equal(swap_policy_create("learned-core", &env, &p), 0);
	for (uint64_t pg = 0; pg < ws; pg++) {
		swap_policy_insert(p, pg, 0);
		swap_policy_touch(p, pg, SWAP_ACCESS_WRITE);
		res[pg] = 1;
		nres++;
	}
	for (size_t lap = 0; lap < laps; lap++) {
		hits = 0;
		for (uint64_t pg = 100000; pg < 100000 + loop; pg++) {
			if (res[pg]) {
				hits++;
				continue;
			}
			if (nres == cache) {
				assert_int_equal(swap_policy_evict(p, &v), 0);
				assert_true(res[v]);
				assert_true(v >= ws);   /* never the working set */
				res[v] = 0;
				nres--;
			}
			swap_policy_insert(p, pg, SWAP_ACCESS_PREFETCH);
			res[pg] = 1;
			nres++;
		}
		print_message("# lap %zu: %llu of %zu loop pages resident\n", lap,
			      (unsigned long long)hits, loop);
	}
	/* cache 2000 - working set 200 - a buffer of C/4 and some */
	assert_true(hits >= 1000);
	/* and in runs: pages kept one by one in turn with pages let go
	 * make every read of the next lap a read of one page */
	for (uint64_t pg = 100001; pg < 100000 + loop; pg++)
		runs += res[pg] != res[pg - 1];
	print_message("# %zu changes between kept and not along the loop\n", runs);
	assert_true(runs < 40);
	swap_policy_destroy(p);
	free(res);
}

/* Pages of some 2 MiB regions come back once, after longer than the cache
 * can hold; pages of other regions are streamed once. Both kinds keep
 * arriving in their regions all along (a heap whose buffers are written
 * and read back, a page cache streamed through). At its first access a
 * page of either kind looks the same (seen once, no gap): only where it
 * lives tells them apart. LRU keeps none of the returning pages; the
 * learned policy must learn which regions' pages return and keep them. */
static void keeps_the_regions_whose_pages_return(void **state)
{
	enum { STEPS = 12000, K = 500, CACHE = 600 };
	uint64_t *t = calloc(STEPS * 4, sizeof(*t)), nb = 0;
	size_t n = 0;

	(void)state;
	assert_non_null(t);
	for (uint64_t j = 0; j < STEPS; j++) {
		t[n++] = (j % 32) * 512 + j / 32;               /* regions 0-31 */
		if (j >= K)
			t[n++] = ((j - K) % 32) * 512 + (j - K) / 32;
		for (int k = 0; k < 2; k++, nb++)               /* regions 400-463 */
			t[n++] = (400 + nb % 64) * 512 + nb / 64;
	}
	uint64_t lru = replay("lru", NULL, CACHE, t, n, NULL);
	uint64_t learned = replay("learned", NULL, CACHE, t, n, NULL);

	print_message("# regions: lru %llu misses, learned %llu (of %zu)\n",
		      (unsigned long long)lru, (unsigned long long)learned, n);
	assert_true(learned < lru * 9 / 10);
	free(t);
}

static void counts_are_exported_and_a_prior_is_taken(void **state)
{
	const size_t cache = 100, n = 20000;
	uint64_t *pages = malloc(n * sizeof(*pages));
	struct learned_model *got = calloc(1, sizeof(*got));
	struct swap_policy *p = NULL, *other = NULL;
	struct swap_policy_env env = { .capacity = 10 };

	(void)state;
	for (size_t i = 0; i < n; i++)
		pages[i] = i % 300;
	replay("learned", NULL, cache, pages, n, &p);
	assert_int_equal(swap_policy_learned_counts(p, got), 0);
	assert_true(lm_total(got) > 1000);
	swap_policy_destroy(p);
	/* Started from what it learned, a second run misses less in its
	 * second pass than one started from nothing (LRU until its first
	 * densities, two cache sizes of accesses in). */
	struct learned_model *empty = calloc(1, sizeof(*empty));

	assert_true(replay("learned", got, cache, pages, 600, NULL) <
		    replay("learned", empty, cache, pages, 600, NULL));
	free(empty);
	assert_int_equal(swap_policy_create("lru", &env, &other), 0);
	assert_int_equal(swap_policy_learned_counts(other, got), -EINVAL);
	swap_policy_destroy(other);
	free(got);
	free(pages);
}

/* Sums of the exported hit and eviction counts. */
static void count_sums(struct swap_policy *p, double *hits, double *evictions)
{
	struct learned_model m;

	assert_int_equal(swap_policy_learned_counts(p, &m), 0);
	*hits = *evictions = 0;
	for (size_t c = 0; c < LM_CLASSES; c++)
		for (size_t b = 0; b < LM_AGE_BINS; b++) {
			*hits += m.hits[c][b];
			*evictions += m.evictions[c][b];
		}
}

/* Evict with new pages coming in until @v goes; how many evictions. */
static size_t evict_until(struct swap_policy *p, uint64_t v, uint64_t *next_new)
{
	uint64_t w;

	for (size_t k = 1;; k++) {
		assert_true(k < 10000);
		assert_int_equal(swap_policy_evict(p, &w), 0);
		if (w == v)
			return k;
		swap_policy_insert(p, (*next_new)++, 0);
	}
}

/* A page evicted, then prefetched back (not a use), then used: that was
 * a return, so its eviction is taken back and a hit counted, as when it
 * faults back. Prefetched back and evicted again unused, it stays one
 * eviction, not two. */
static void a_page_prefetched_back_counts_as_returned_when_used(void **state)
{
	const size_t cache = 64;
	struct swap_policy_env env = { .capacity = cache };
	struct swap_policy *p = NULL;
	uint64_t v, next_new = 1000;
	double h0, e0, h, e;
	size_t ne;

	(void)state;
	assert_int_equal(swap_policy_create("learned-core", &env, &p), 0);
	for (uint64_t pg = 0; pg < cache; pg++)
		swap_policy_insert(p, pg, 0);
	for (uint64_t pg = 0; pg < cache; pg++)
		swap_policy_touch(p, pg, 0);
	assert_int_equal(swap_policy_evict(p, &v), 0);
	count_sums(p, &h0, &e0);
	assert_true(e0 >= 1);
	swap_policy_insert(p, v, SWAP_ACCESS_PREFETCH);
	count_sums(p, &h, &e);
	assert_true(h == h0 && e == e0);        /* not used yet */
	swap_policy_touch(p, v, 0);
	count_sums(p, &h, &e);
	assert_true(h == h0 + 1);
	assert_true(e == e0 - 1);

	/* Out again, prefetched back, and out again unused: every other
	 * eviction adds one, v's second adds none. */
	evict_until(p, v, &next_new);
	count_sums(p, &h0, &e0);
	swap_policy_insert(p, v, SWAP_ACCESS_PREFETCH);
	ne = evict_until(p, v, &next_new);
	count_sums(p, &h, &e);
	assert_true(e == e0 + (double)(ne - 1));
	swap_policy_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(density_falls_with_age_when_hits_are_young),
		cmocka_unit_test(density_rises_towards_a_loops_reuse_age),
		cmocka_unit_test(model_file_round_trip_and_errors),
		cmocka_unit_test(learns_a_loop_larger_than_the_cache),
		cmocka_unit_test(keeps_a_hot_set_through_scans),
		cmocka_unit_test(working_set_that_fits_stays),
		cmocka_unit_test(does_as_well_as_lru_where_recency_is_all),
		cmocka_unit_test(guard_follows_the_model_where_it_proves_better),
		cmocka_unit_test(guard_passes_on_rearms_of_resident_pages_only),
		cmocka_unit_test(ranks_pages_by_their_rate_of_use),
		cmocka_unit_test(young_prefetches_are_not_drawn_as_victims),
		cmocka_unit_test(ghosts_prefetched_back_are_not_drawn_as_victims),
		cmocka_unit_test(old_unused_prefetches_go_first),
		cmocka_unit_test(old_prefetches_go_before_a_deep_working_set),
		cmocka_unit_test(a_prefetched_loop_keeps_a_part_of_itself),
		cmocka_unit_test(seen_uses_keep_prefetches_young_longer),
		cmocka_unit_test(keeps_the_regions_whose_pages_return),
		cmocka_unit_test(counts_are_exported_and_a_prior_is_taken),
		cmocka_unit_test(a_page_prefetched_back_counts_as_returned_when_used),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
