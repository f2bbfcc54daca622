/* tests/unit/gpu_spill/test_spill_plan.c — the eviction planner: period
 * detection and next-use prediction (spill_plan), and, on a synthetic
 * training loop run through the manager and the host backend, the chunk
 * moves of learned eviction against LRU and against Belady's optimum
 * computed offline from the whole launch sequence.
 *
 * The loop: L layers, each with a weight (2 chunks), an activation and a
 * gradient (1 chunk each); per iteration a forward launch per layer
 * (w_i, a_i, a_i+1), a backward launch per layer in reverse (w_i, a_i, g_i,
 * g_i-1) and an update per layer (w_i, g_i). Working sets of 2x and 4x the
 * quota. Each launch bumps a byte in every chunk it touches, through the
 * device pointers, and the bytes are checked at the end.
 */
#include "spill.h"
#include "spill_plan.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define CHUNK (64 * 1024)
#define QUOTA_CHUNKS 16
#define ITERATIONS 12
#define STEADY_FROM 3           /* iterations before this one may be learning */

/* ---- spill_plan on its own --------------------------------------------- */

static void period_is_found_and_followed(void **state)
{
	struct spill_plan *p;
	uint32_t sets[7][2] = { {0, 1}, {2, 3}, {0, 4}, {5, 6}, {1, 2}, {0, 4}, {7, 8} };
	uint64_t sig[7];
	int i, rc;
	struct spill_plan_stats st;

	assert_int_equal(spill_plan_create(16, 64, &p), 0);
	for (i = 0; i < 7; i++)
		sig[i] = spill_plan_signature(100 + (uint64_t)i % 3, sets[i], 2);
	/* 14 launches: two periods, but a period is confirmed over
	 * max(P, 8) launches, so P + 8 = 15 are needed */
	for (i = 0; i < 14; i++) {
		assert_int_equal(spill_plan_record(p, sig[i % 7], sets[i % 7], 2), 0);
		assert_int_equal(spill_plan_period(p), 0);
	}
	assert_int_equal(spill_plan_record(p, sig[0], sets[0], 2), 0);
	assert_int_equal(spill_plan_period(p), 7);
	/* now at {0,1}: chunk 2 is next used 1 launch ahead, chunk 0 in 2
	 * ({0,4}), chunk 5 in 3, chunk 1 in 4, chunk 7 in 6 */
	assert_int_equal(spill_plan_next_use(p, 2), 1);
	assert_int_equal(spill_plan_next_use(p, 0), 2);
	assert_int_equal(spill_plan_next_use(p, 5), 3);
	assert_int_equal(spill_plan_next_use(p, 1), 4);
	assert_int_equal(spill_plan_next_use(p, 7), 6);
	assert_int_equal(spill_plan_next_use(p, 9), SPILL_PLAN_NEVER);
	{
		const uint32_t *list;

		assert_int_equal(spill_plan_upcoming(p, 2, &list), 2);
		assert_int_equal(list[0], 0);
		assert_int_equal(list[1], 4);
	}
	assert_int_equal(spill_plan_record(p, sig[1], sets[1], 2), 1);
	assert_int_equal(spill_plan_next_use(p, 4), 1);
	assert_int_equal(spill_plan_next_use(p, 1), 3);
	/* a launch off the schedule ({1,2} where {0,4} is due) unlocks */
	rc = spill_plan_record(p, sig[4], sets[4], 2);
	assert_int_equal(rc, -1);
	assert_int_equal(spill_plan_period(p), 0);
	assert_int_equal(spill_plan_next_use(p, 0), SPILL_PLAN_NEVER);
	for (i = 0; i < 21; i++)
		spill_plan_record(p, sig[i % 7], sets[i % 7], 2);
	assert_int_equal(spill_plan_period(p), 7);
	spill_plan_get_stats(p, &st);
	assert_int_equal(st.mispredicted, 1);
	assert_true(st.periods_found >= 2);
	spill_plan_destroy(p);
}

static void short_repeats_need_a_longer_window(void **state)
{
	struct spill_plan *p;
	uint32_t a = 1, b = 2;
	uint64_t sa = spill_plan_signature(1, &a, 1), sb = spill_plan_signature(1, &b, 1);
	int i;

	assert_int_equal(spill_plan_create(4, 64, &p), 0);
	/* A B A B: not yet a period of 2 (the window is 8 launches) */
	for (i = 0; i < 4; i++)
		spill_plan_record(p, i % 2 ? sb : sa, i % 2 ? &b : &a, 1);
	assert_int_equal(spill_plan_period(p), 0);
	for (; i < 10; i++)
		spill_plan_record(p, i % 2 ? sb : sa, i % 2 ? &b : &a, 1);
	assert_int_equal(spill_plan_period(p), 2);
	spill_plan_destroy(p);
}

/* Thousands of launches that never repeat, then a long period: found after
 * exactly two periods (the table of signatures is rebuilt on the way). */
static void long_period_after_noise(void **state)
{
	struct spill_plan *p;
	uint32_t c = 3;
	uint64_t i;

	assert_int_equal(spill_plan_create(8, 2048, &p), 0);
	for (i = 0; i < 20000; i++)
		spill_plan_record(p, 0x100000 + i, &c, 1);
	assert_int_equal(spill_plan_period(p), 0);
	for (i = 0; i < 2 * 1000 - 1; i++) {
		spill_plan_record(p, 7 + i % 1000, &c, 1);
		assert_int_equal(spill_plan_period(p), 0);
	}
	spill_plan_record(p, 7 + 999, &c, 1);
	assert_int_equal(spill_plan_period(p), 1000);
	/* a period longer than max_period is never locked */
	spill_plan_destroy(p);
	assert_int_equal(spill_plan_create(8, 500, &p), 0);
	for (i = 0; i < 4000; i++)
		spill_plan_record(p, 7 + i % 1000, &c, 1);
	assert_int_equal(spill_plan_period(p), 0);
	spill_plan_destroy(p);
	(void)state;
}

/* ---- the training loop ------------------------------------------------- */

struct loop {
	int layers;
	uint64_t *w, *a, *g;            /* device pointers */
	uint64_t launches;              /* per iteration */
	uint64_t (*params)[4];          /* [launches][4], 0 = unused */
	uint64_t *kernel;
};

static void loop_build(struct loop *l, struct spill *s, int layers)
{
	int i, k = 0;

	l->layers = layers;
	l->w = calloc(layers, sizeof(uint64_t));
	l->a = calloc(layers, sizeof(uint64_t));
	l->g = calloc(layers, sizeof(uint64_t));
	l->launches = 3 * (uint64_t)layers;
	l->params = calloc(l->launches, sizeof(*l->params));
	l->kernel = calloc(l->launches, sizeof(uint64_t));
	for (i = 0; i < layers; i++) {
		assert_int_equal(spill_alloc(s, 2 * CHUNK, &l->w[i]), 0);
		assert_int_equal(spill_alloc(s, CHUNK, &l->a[i]), 0);
		assert_int_equal(spill_alloc(s, CHUNK, &l->g[i]), 0);
	}
	for (i = 0; i < layers; i++, k++) {             /* forward */
		l->kernel[k] = 0xf0;
		l->params[k][0] = l->w[i];
		l->params[k][1] = l->a[i];
		l->params[k][2] = l->a[(i + 1) % layers];
	}
	for (i = layers - 1; i >= 0; i--, k++) {        /* backward */
		l->kernel[k] = 0xb0;
		l->params[k][0] = l->w[i];
		l->params[k][1] = l->a[i];
		l->params[k][2] = l->g[i];
		l->params[k][3] = l->g[(i + layers - 1) % layers];
	}
	for (i = 0; i < layers; i++, k++) {             /* update */
		l->kernel[k] = 0x0d;
		l->params[k][0] = l->w[i];
		l->params[k][1] = l->g[i];
	}
}

static void loop_free(struct loop *l)
{
	free(l->w);
	free(l->a);
	free(l->g);
	free(l->params);
	free(l->kernel);
}

/* Chunks (as indices from the range's base) that launch @k touches:
 * a weight spans two chunks, the others one. */
static int launch_chunks(const struct loop *l, uint64_t base, uint64_t k, uint32_t *out)
{
	int n = 0, j, i;

	for (j = 0; j < 4; j++) {
		uint64_t p = l->params[k][j], c, span = 1;
		bool dup = false;

		if (!p)
			continue;
		for (i = 0; i < l->layers; i++)
			if (l->w[i] == p)
				span = 2;
		c = (p - base) / CHUNK;
		for (i = 0; i < n; i++)
			dup |= out[i] == c;
		if (dup)
			continue;
		out[n++] = (uint32_t)c;
		if (span == 2)
			out[n++] = (uint32_t)(c + 1);
	}
	return n;
}

struct moves {
	uint64_t total, steady;
};

/* Belady's optimum on the full request sequence: fewest refills, and the
 * evictions they force. Counted like the manager counts them. */
static struct moves belady(const struct loop *l, uint64_t base, uint64_t nchunks)
{
	uint64_t n = l->launches * ITERATIONS, t;
	uint32_t (*req)[8] = calloc(n, sizeof(*req));
	int *nreq = calloc(n, sizeof(int));
	bool *res = calloc(nchunks, sizeof(bool));
	uint64_t resident = 0;
	struct moves m = { 0, 0 };

	for (t = 0; t < n; t++)
		nreq[t] = launch_chunks(l, base, t % l->launches, req[t]);
	for (t = 0; t < n; t++) {
		bool steady = t / l->launches >= STEADY_FROM;
		int i;

		for (i = 0; i < nreq[t]; i++) {
			uint32_t c = req[t][i];

			if (res[c])
				continue;
			if (resident == QUOTA_CHUNKS) {
				/* evict the resident chunk used farthest ahead */
				uint64_t best_next = 0, cc;
				int64_t victim = -1;

				for (cc = 0; cc < nchunks; cc++) {
					uint64_t u;
					bool needed = false;
					int j;

					if (!res[cc])
						continue;
					for (j = 0; j < nreq[t]; j++)
						needed |= req[t][j] == cc;
					if (needed)
						continue;
					for (u = t + 1; u < n; u++) {
						for (j = 0; j < nreq[u]; j++)
							if (req[u][j] == cc)
								break;
						if (j < nreq[u])
							break;
					}
					if (victim < 0 || u > best_next) {
						best_next = u;
						victim = (int64_t)cc;
					}
				}
				assert_true(victim >= 0);
				res[victim] = false;
				resident--;
				m.total++;
				m.steady += steady;
			}
			res[c] = true;
			resident++;
			m.total++;
			m.steady += steady;
		}
	}
	free(req);
	free(nreq);
	free(res);
	return m;
}

/* Run the loop through a manager with @policy; return its moves. */
static struct moves run_loop(int layers, enum spill_policy policy, uint64_t *base_out,
			     struct spill_stats *final)
{
	struct spill_backend *be;
	struct spill_config cfg = {
		.quota = QUOTA_CHUNKS * CHUNK, .limit = 256 * CHUNK,
		.policy = policy, .prefetch_depth = 2,
	};
	struct spill *s;
	struct loop l;
	struct spill_stats st;
	struct moves m = { 0, 0 };
	uint64_t before_steady = 0, it, k, i;
	uint8_t *count;
	uint8_t zero[CHUNK] = { 0 };

	assert_int_equal(spill_host_backend_open(CHUNK, &be), 0);
	assert_int_equal(spill_create(be, &cfg, &s), 0);
	loop_build(&l, s, layers);
	/* start with every chunk written, in host memory */
	for (i = 0; i < (uint64_t)layers; i++) {
		assert_int_equal(spill_write(s, l.w[i], zero, CHUNK), 0);
		assert_int_equal(spill_write(s, l.w[i] + CHUNK, zero, CHUNK), 0);
		assert_int_equal(spill_write(s, l.a[i], zero, CHUNK), 0);
		assert_int_equal(spill_write(s, l.g[i], zero, CHUNK), 0);
	}
	*base_out = l.w[0];
	count = calloc(256, 1);
	for (it = 0; it < ITERATIONS; it++) {
		if (it == STEADY_FROM) {
			spill_get_stats(s, &st);
			before_steady = st.evictions + st.refills;
		}
		for (k = 0; k < l.launches; k++) {
			uint32_t chunks[8];
			int n = launch_chunks(&l, l.w[0], k, chunks), j;

			assert_int_equal(spill_prepare_launch(s, l.kernel[k], l.params[k], 4), 0);
			for (j = 0; j < n; j++) {       /* the kernel */
				uint8_t *dev = (uint8_t *)(uintptr_t)(l.w[0] +
						(uint64_t)chunks[j] * CHUNK);

				dev[chunks[j]]++;
				count[chunks[j]]++;
			}
		}
	}
	spill_get_stats(s, &st);
	m.total = st.evictions + st.refills;
	m.steady = m.total - before_steady;
	*final = st;
	/* every bump landed and survived the moves */
	for (i = 0; i < 4 * (uint64_t)layers; i++) {
		uint8_t b;

		assert_int_equal(spill_read(s, &b, l.w[0] + i * CHUNK + i, 1), 0);
		assert_int_equal(b, count[i]);
	}
	free(count);
	loop_free(&l);
	spill_destroy(s);
	spill_backend_close(be);
	return m;
}

static void compare(int layers, const char *name)
{
	struct spill_stats lst, rst;
	uint64_t base;
	struct moves lru = run_loop(layers, SPILL_POLICY_LRU, &base, &rst);
	struct moves learned = run_loop(layers, SPILL_POLICY_LEARNED, &base, &lst);
	struct loop shape = { 0 };
	struct moves opt;
	int i;

	/* Belady on the same addresses: rebuild the sequence without a manager */
	shape.layers = layers;
	shape.w = calloc(layers, sizeof(uint64_t));
	shape.a = calloc(layers, sizeof(uint64_t));
	shape.g = calloc(layers, sizeof(uint64_t));
	for (i = 0; i < layers; i++) {          /* the allocator's first fit */
		shape.w[i] = base + (uint64_t)i * 4 * CHUNK;
		shape.a[i] = shape.w[i] + 2 * CHUNK;
		shape.g[i] = shape.w[i] + 3 * CHUNK;
	}
	{
		struct loop full = shape;
		int k = 0;

		full.launches = 3 * (uint64_t)layers;
		full.params = calloc(full.launches, sizeof(*full.params));
		full.kernel = calloc(full.launches, sizeof(uint64_t));
		for (i = 0; i < layers; i++, k++) {
			full.params[k][0] = shape.w[i];
			full.params[k][1] = shape.a[i];
			full.params[k][2] = shape.a[(i + 1) % layers];
		}
		for (i = layers - 1; i >= 0; i--, k++) {
			full.params[k][0] = shape.w[i];
			full.params[k][1] = shape.a[i];
			full.params[k][2] = shape.g[i];
			full.params[k][3] = shape.g[(i + layers - 1) % layers];
		}
		for (i = 0; i < layers; i++, k++) {
			full.params[k][0] = shape.w[i];
			full.params[k][1] = shape.g[i];
		}
		opt = belady(&full, base, 4 * (uint64_t)layers);
		loop_free(&full);
	}
	printf("# %s: working set %d chunks, quota %d chunks, %d launches x %d iterations\n",
	       name, 4 * layers, QUOTA_CHUNKS, 3 * layers, ITERATIONS);
	printf("# %s: chunk moves (evictions + refills), all / iterations %d-%d:"
	       " LRU %llu / %llu, learned %llu / %llu, Belady %llu / %llu\n",
	       name, STEADY_FROM, ITERATIONS - 1,
	       (unsigned long long)lru.total, (unsigned long long)lru.steady,
	       (unsigned long long)learned.total, (unsigned long long)learned.steady,
	       (unsigned long long)opt.total, (unsigned long long)opt.steady);
	printf("# %s: learned: period %llu, predicted %llu, mispredicted %llu, prefetches %llu\n",
	       name, (unsigned long long)lst.period, (unsigned long long)lst.predicted,
	       (unsigned long long)lst.mispredicted, (unsigned long long)lst.prefetches);
	assert_int_equal(lst.period, 3 * (uint64_t)layers);
	assert_int_equal(lst.mispredicted, 0);
	assert_true(lst.prefetches > 0);
	assert_true(learned.total < lru.total);
	assert_true(learned.steady < lru.steady);
	/* once learned, within 5 % of the optimum */
	assert_true(learned.steady * 100 <= opt.steady * 105);
	assert_true(opt.steady <= learned.steady);      /* Belady is a bound */
}

static void learned_beats_lru_at_2x(void **state)
{
	compare(8, "2x");
	(void)state;
}

static void learned_beats_lru_at_4x(void **state)
{
	compare(16, "4x");
	(void)state;
}

/* A launch off the schedule: counted, LRU until relearned, data intact. */
static void misprediction_falls_back_and_relearns(void **state)
{
	struct spill_backend *be;
	struct spill_config cfg = { .quota = 4 * CHUNK, .limit = 64 * CHUNK };
	struct spill *s;
	uint64_t a[8], odd;
	struct spill_stats st;
	uint8_t v;
	int it, i;

	assert_int_equal(spill_host_backend_open(CHUNK, &be), 0);
	assert_int_equal(spill_create(be, &cfg, &s), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(spill_alloc(s, CHUNK, &a[i]), 0);
	assert_int_equal(spill_alloc(s, CHUNK, &odd), 0);
	for (it = 0; it < 10; it++) {
		if (it == 5) {
			assert_int_equal(spill_prepare_launch(s, 77, &odd, 1), 0);
			spill_get_stats(s, &st);
			assert_int_equal(st.period, 0);
			assert_int_equal(st.mispredicted, 1);
		}
		for (i = 0; i < 8; i++) {
			assert_int_equal(spill_prepare_launch(s, 1, &a[i], 1), 0);
			(*(uint8_t *)(uintptr_t)a[i])++;
		}
	}
	spill_get_stats(s, &st);
	assert_int_equal(st.period, 8);
	assert_int_equal(st.mispredicted, 1);
	for (i = 0; i < 8; i++) {
		assert_int_equal(spill_read(s, &v, a[i], 1), 0);
		assert_int_equal(v, 10);
	}
	spill_destroy(s);
	spill_backend_close(be);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(period_is_found_and_followed),
		cmocka_unit_test(short_repeats_need_a_longer_window),
		cmocka_unit_test(long_period_after_noise),
		cmocka_unit_test(learned_beats_lru_at_2x),
		cmocka_unit_test(learned_beats_lru_at_4x),
		cmocka_unit_test(misprediction_falls_back_and_relearns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
