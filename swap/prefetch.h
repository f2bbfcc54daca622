/* swap/prefetch.h — a prefetcher guesses which pages the guest needs next.
 *
 * Concepts: on every missing-page fault the pager calls predict() with the
 * faulting page; the prefetcher fills @out with up to @max page numbers to
 * map together with the faulting one (not including it). The pager skips
 * candidates that are resident, busy or beyond guest RAM, and tells the
 * prefetcher about pages it later sees faulting that it had prefetched and
 * evicted unused (wasted) through feedback(), so windows can shrink.
 *
 * Prefetchers are not thread-safe; the pager serializes calls with one lock.
 */
#ifndef POOLVM_SWAP_PREFETCH_H
#define POOLVM_SWAP_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct swap_prefetcher;

struct swap_prefetch_env {
	uint64_t max_window;    /* most pages predict() may return (>= 1) */
	uint64_t page_count;    /* guest RAM in pages; predictions stay below */
	/* Optional: is @page resident (or being loaded) now? A scan does not
	 * fault on such pages: a prefetcher may step over them. */
	bool (*present)(void *ctx, uint64_t page);
	void *ctx;
};

#define SWAP_PREFETCH_USED    1  /* a prefetched page was touched (faulted on WP or sampled) */
#define SWAP_PREFETCH_WASTED  2  /* a prefetched page was evicted without use */

struct swap_prefetch_ops {
	size_t size;
	const char *name;           /* "none", "stride", ... */
	const char *help;
	int (*create)(const struct swap_prefetch_env *env, struct swap_prefetcher **out);
	void (*destroy)(struct swap_prefetcher *pf);
	/* Record a fault on @page (@flags: SWAP_ACCESS_*), return how many
	 * candidates were written to @out (0..@max). */
	size_t (*predict)(struct swap_prefetcher *pf, uint64_t page, unsigned flags,
			  uint64_t *out, size_t max);
	/* Optional: outcome of an earlier prediction for @page. */
	void (*feedback)(struct swap_prefetcher *pf, uint64_t page, int outcome);
};

struct swap_prefetcher {
	const struct swap_prefetch_ops *ops;
	struct swap_prefetch_env env;
};

/** swap_prefetch_create() - by name; 0, -ENOENT (unknown), -ENOMEM. */
int swap_prefetch_create(const char *name, const struct swap_prefetch_env *env,
			 struct swap_prefetcher **out);
/** swap_prefetch_destroy() - NULL is a no-op. */
void swap_prefetch_destroy(struct swap_prefetcher *pf);
/** swap_prefetch_kinds() - registered prefetchers, NULL-terminated. */
const struct swap_prefetch_ops *const *swap_prefetch_kinds(void);

static inline size_t swap_prefetch_predict(struct swap_prefetcher *pf, uint64_t page,
					   unsigned flags, uint64_t *out, size_t max)
{ return pf->ops->predict(pf, page, flags, out, max); }
static inline void swap_prefetch_feedback(struct swap_prefetcher *pf, uint64_t page, int outcome)
{ if (pf->ops->feedback) pf->ops->feedback(pf, page, outcome); }

extern const struct swap_prefetch_ops swap_prefetch_none_ops;
extern const struct swap_prefetch_ops swap_prefetch_stride_ops;
extern const struct swap_prefetch_ops swap_prefetch_learned_ops;

#endif
