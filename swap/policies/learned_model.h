/* swap/policies/learned_model.h — the model behind the "learned" policy.
 *
 * Concepts: the policy approximates Belady's OPT: it evicts the resident
 * page whose next access it expects farthest in the future. The expectation
 * comes from a table indexed by three features every pager can keep online
 * for a page, each measured in accesses the policy has observed and scaled
 * by the cache size C (so one table serves every size):
 *   age    time since the page's last access
 *   gap    the time between its last two accesses (0: seen once)
 *   count  how often it was accessed (log2 buckets)
 * A cell holds the mean of log2(remaining / C) over the pages that reached
 * that (age, gap, count) without being accessed again, where remaining is
 * the time from then to their next access: the label comes from the
 * future, as in Belady, and is learned as the future arrives.
 *
 * Where it comes from: `poolvm train` fills a table from traces (labels
 * from each page's real next use); the policy starts from that table (the
 * built-in one, or a file) as a prior and keeps its own table, updated
 * online from the accesses it observes. A prediction blends the two by
 * their weights; with neither, it falls back to remaining = age (the
 * Lindy rule, which ranks pages like LRU).
 *
 * Model files are text: a "poolvm-learned-model 1" line, then one line per
 * filled cell: "AGE GAP COUNT MEAN WEIGHT" (bins, then two decimals).
 */
#ifndef POOLVM_SWAP_LEARNED_MODEL_H
#define POOLVM_SWAP_LEARNED_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LM_AGE_BINS   16
#define LM_GAP_BINS   17        /* bin 0: no gap yet (seen once) */
#define LM_CNT_BINS   8
#define LM_UNITS      32.0      /* bins are log2(1 + x * 32 / C) */
#define LM_MAGIC      "poolvm-learned-model 1"

struct lm_cell {
	float mean;             /* mean of log2(remaining / C) */
	float weight;           /* observations behind it */
};

struct learned_model {
	struct lm_cell cell[LM_AGE_BINS][LM_GAP_BINS][LM_CNT_BINS];
};

/* A fast, monotonic log2 (piecewise linear, error < 0.09). */
static inline float lm_log2(double x)
{
	uint64_t v;
	int e;

	if (x < 1.0)
		return x > 0 ? (float)(x - 1.0) : -1.0f;
	v = (uint64_t)x;
	e = 63 - __builtin_clzll(v);
	return (float)e + (float)(x / (double)(1ull << e) - 1.0);
}

/* Position on the scaled log axis of a time @x (accesses); @inv_unit is
 * LM_UNITS / C. Bins are its integer part. */
static inline float lm_axis(uint64_t x, double inv_unit)
{
	return lm_log2(1.0 + (double)x * inv_unit);
}

static inline unsigned lm_gap_bin(uint64_t gap, double inv_unit)
{
	unsigned b;

	if (!gap)
		return 0;
	b = 1 + (unsigned)lm_axis(gap, inv_unit);
	return b < LM_GAP_BINS ? b : LM_GAP_BINS - 1;
}

static inline unsigned lm_cnt_bin(uint32_t count)
{
	unsigned b = count ? 31 - (unsigned)__builtin_clz(count) : 0;

	return b < LM_CNT_BINS ? b : LM_CNT_BINS - 1;
}

/** lm_clear() - every cell empty. */
void lm_clear(struct learned_model *m);

/**
 * lm_observe() - learn from one page: it was last accessed with @gap and
 * @count, and its next access came @next accesses later (@censored: it had
 * not come yet after @next accesses, e.g. its record was dropped). Updates
 * every age bin the page passed through. @max_weight caps a cell's weight
 * (an exponential forgetting horizon; 0: plain average).
 */
void lm_observe(struct learned_model *m, double capacity, uint64_t gap,
		uint32_t count, uint64_t next, bool censored, float max_weight);

/**
 * lm_predict() - expected log2(remaining / C) for a page of age @age,
 * @gap and @count: @online blended with @prior (may be NULL) by weight,
 * interpolated along age; the Lindy rule where neither knows the cell.
 * @unsure (may be NULL) is set when the answer came from the fallback.
 */
float lm_predict(const struct learned_model *online, const struct learned_model *prior,
		 double capacity, uint64_t age, uint64_t gap, uint32_t count,
		 bool *unsure);

/** lm_merge() - add @src's observations into @dst (weighted means). */
void lm_merge(struct learned_model *dst, const struct learned_model *src);

/** lm_cells_filled() - cells with weight > 0. */
size_t lm_cells_filled(const struct learned_model *m);

/**
 * lm_load() - read a model file. Return 0, -errno, or -EINVAL with a
 * message naming the file and line in @err.
 */
int lm_load(const char *path, struct learned_model *m, char *err, size_t errlen);

/** lm_save() - write @m as a model file (atomically). 0 or -errno. */
int lm_save(const char *path, const struct learned_model *m);

/** lm_save_c() - write @m as C source for the built-in model. 0 or -errno. */
int lm_save_c(const char *path, const struct learned_model *m);

/** lm_builtin() - the model trained on the corpus and built in (may be
 * empty when poolvm was built without one). */
const struct learned_model *lm_builtin(void);

#endif
