/* swap/policies/learned_model.h — the model behind the "learned" policy.
 *
 * Concepts: the policy ranks resident pages by their expected hit density:
 * the hits a page is still expected to bring per unit of time it will go
 * on occupying the cache (after LHD, Beckmann et al., NSDI 2018). Pages
 * fall into classes by two features a pager can keep online (learned from
 * what it observes, scaled by the cache size C so that one model serves
 * every size):
 *   gap    the time between the page's accesses, smoothed over the last
 *          few (none: seen once)
 *   count  how often it was accessed (1, 2-3, 4-15, 16+)
 * and, within a class, by age (time since the last access). For each
 * (class, age) the model counts how many pages were hit at that age and
 * how many were evicted at it: labels from each page's future. From the
 * counts, the density at age a is
 *     hits at ages >= a  /  time spent in the cache from a until hit or evicted
 * which ranks pages like Belady where the future repeats the past: a loop's
 * young pages (whose reuse is far) rank below its old ones, a scan's pages
 * (never hit) rank lowest, and where reuse falls with age, older ranks
 * lower (LRU).
 *
 * Where it comes from: `poolvm train` replays traces and keeps the counts
 * (the built-in model, or a file), the policy starts from them as a prior
 * and keeps counting online, with exponential decay, and recomputes the
 * densities every so often. Classes with too few events use the counts of
 * all classes together; with none at all, age alone (LRU).
 *
 * Model files are text: a "poolvm-learned-model 2" line, then one line per
 * (class, age) with events: "CLASS AGE HITS EVICTIONS".
 */
#ifndef POOLVM_SWAP_LEARNED_MODEL_H
#define POOLVM_SWAP_LEARNED_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LM_AGE_BINS    48       /* 4 per octave of age * 16 / C */
#define LM_GAP_CLASSES 13       /* 0: no gap; then log2 octaves */
#define LM_CNT_CLASSES 4        /* 1, 2-3, 4-15, 16+ */
#define LM_CLASSES     (LM_GAP_CLASSES * LM_CNT_CLASSES)
#define LM_UNITS       16.0
#define LM_MAGIC       "poolvm-learned-model 2"

struct learned_model {
	float hits[LM_CLASSES][LM_AGE_BINS];
	float evictions[LM_CLASSES][LM_AGE_BINS];
};

/* Ranking table computed from a model (learned_model.c). */
struct lm_density {
	float d[LM_CLASSES + 1][LM_AGE_BINS];   /* last row: all classes */
	bool known[LM_CLASSES];                 /* enough events of its own */
};

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

/* Age bin of @age accesses for a cache of @capacity pages. */
static inline unsigned lm_age_bin(uint64_t age, double inv_unit)
{
	float f = 4.0f * lm_log2(1.0 + (double)age * inv_unit);
	unsigned b = (unsigned)f;

	return b < LM_AGE_BINS ? b : LM_AGE_BINS - 1;
}

static inline unsigned lm_class(uint64_t gap, uint32_t count, double inv_unit)
{
	unsigned g = 0, k;

	if (gap) {
		g = 1 + (unsigned)lm_log2(1.0 + (double)gap * inv_unit);
		if (g >= LM_GAP_CLASSES)
			g = LM_GAP_CLASSES - 1;
	}
	k = count >= 16 ? 3 : count >= 4 ? 2 : count >= 2 ? 1 : 0;
	return g * LM_CNT_CLASSES + k;
}

/** lm_clear() - no events. */
void lm_clear(struct learned_model *m);

/** lm_scale() - multiply every count by @f (decay, normalization). */
void lm_scale(struct learned_model *m, float f);

/** lm_total() - all events counted. */
double lm_total(const struct learned_model *m);

/** lm_merge() - add @src's counts to @dst, scaled by @f. */
void lm_merge(struct learned_model *dst, const struct learned_model *src, float f);

/** lm_density() - the ranking table of @m (see the Concepts). */
void lm_density(const struct learned_model *m, struct lm_density *out);

/** lm_cells_filled() - (class, age) cells with events. */
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

struct swap_policy;

/**
 * swap_policy_learned_counts() - every hit and eviction a learned policy
 * counted since it was created, undecayed (what poolvm train keeps).
 * Return: 0, or -EINVAL when @p is not a learned policy.
 */
int swap_policy_learned_counts(struct swap_policy *p, struct learned_model *out);

/** lm_builtin() - the model trained on the corpus and built in (no events
 * when poolvm was built without one). */
const struct learned_model *lm_builtin(void);

#endif
