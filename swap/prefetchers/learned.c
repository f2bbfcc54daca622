/* swap/prefetchers/learned.c — majority-trend prefetching (after Leap,
 * Al Maruf and Chowdhury, ATC 2020), learned online from the fault stream.
 *
 * Concepts: the prefetcher keeps the deltas between the last
 * LEAP_HISTORY faults. On each fault it looks for a majority delta
 * (Boyer-Moore vote) in the newest LEAP_MIN_WINDOW deltas, then in twice
 * as many, up to the whole history: the smallest window with a strict
 * majority is the current trend. With a trend D it predicts page + D,
 * page + 2D, ... for its window of pages; with none it predicts nothing
 * (random faults cost no wasted reads). A fault on the trend's line within
 * the reach of its last prediction counts as one step of the trend (the
 * pages between were prefetched, so they did not fault). The window
 * learns from outcomes:
 * it doubles (up to env->max_window) each time a trend holds and its
 * earlier predictions were used, and halves on SWAP_PREFETCH_WASTED
 * feedback or when the trend is lost. Unlike the stride prefetcher it
 * needs no fixed stride limit and tolerates noise: a minority of
 * unrelated faults in the window does not break the trend.
 * Predictions never go below page 0 nor reach env->page_count.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "prefetch.h"

#define LEAP_HISTORY     32
#define LEAP_MIN_WINDOW  4
#define LEAP_FIRST       2       /* pages predicted when a trend first shows */

struct leap {
	struct swap_prefetcher base;
	int64_t delta[LEAP_HISTORY];    /* ring, newest at head - 1 */
	unsigned head, n;
	uint64_t last;
	bool have_last;
	int64_t trend;                  /* 0: none */
	uint64_t window;                /* pages to predict on the trend */
	uint64_t cap;
	uint64_t used, wasted;          /* feedback since the last fault */
};

static struct leap *to_leap(struct swap_prefetcher *pf)
{
	return (struct leap *)pf;
}

static int leap_create(const struct swap_prefetch_env *env, struct swap_prefetcher **out)
{
	struct leap *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->base.ops = &swap_prefetch_learned_ops;
	l->base.env = *env;
	l->cap = env->max_window ? env->max_window : 1;
	*out = &l->base;
	return 0;
}

static void leap_destroy(struct swap_prefetcher *pf)
{
	free(pf);
}

/* The strict majority of the newest @w deltas, or 0. */
static int64_t majority(const struct leap *l, unsigned w)
{
	int64_t cand = 0;
	unsigned votes = 0, count = 0;

	for (unsigned k = 0; k < w; k++) {
		int64_t d = l->delta[(l->head + LEAP_HISTORY - 1 - k) % LEAP_HISTORY];

		if (!votes) {
			cand = d;
			votes = 1;
		} else if (d == cand) {
			votes++;
		} else {
			votes--;
		}
	}
	for (unsigned k = 0; k < w; k++)
		count += l->delta[(l->head + LEAP_HISTORY - 1 - k) % LEAP_HISTORY] == cand;
	return count * 2 > w ? cand : 0;
}

static size_t leap_predict(struct swap_prefetcher *pf, uint64_t page, unsigned flags,
			   uint64_t *out, size_t max)
{
	struct leap *l = to_leap(pf);
	int64_t trend = 0;
	size_t n = 0;

	(void)flags;
	if (l->have_last) {
		int64_t d = (int64_t)(page - l->last);

		/* Prefetched pages do not fault: the next fault of a trend
		 * lands a whole window further on. On the trend's line and
		 * within its reach, it counts as one step of the trend. */
		if (l->trend && d % l->trend == 0 && d / l->trend > 0 &&
		    (uint64_t)(d / l->trend) <= l->window + 1)
			d = l->trend;
		l->delta[l->head] = d;
		l->head = (l->head + 1) % LEAP_HISTORY;
		if (l->n < LEAP_HISTORY)
			l->n++;
	}
	l->last = page;
	l->have_last = true;
	for (unsigned w = LEAP_MIN_WINDOW; w <= l->n && !trend; w *= 2)
		trend = majority(l, w);
	if (!trend) {
		l->window /= 2;
		l->trend = 0;
		l->used = l->wasted = 0;
		return 0;
	}
	if (trend != l->trend || !l->window) {
		l->window = LEAP_FIRST;
	} else if (l->wasted > l->used) {
		l->window = l->window / 2 ? l->window / 2 : 1;
	} else {
		l->window *= 2;
	}
	if (l->window > l->cap)
		l->window = l->cap;
	l->trend = trend;
	l->used = l->wasted = 0;
	for (uint64_t k = 1; k <= l->window && n < max; k++) {
		int64_t p = (int64_t)page + trend * (int64_t)k;

		if (p < 0 || (uint64_t)p >= l->base.env.page_count)
			break;
		out[n++] = (uint64_t)p;
	}
	return n;
}

static void leap_feedback(struct swap_prefetcher *pf, uint64_t page, int outcome)
{
	struct leap *l = to_leap(pf);

	(void)page;
	if (outcome == SWAP_PREFETCH_USED)
		l->used++;
	else if (outcome == SWAP_PREFETCH_WASTED)
		l->wasted++;
}

const struct swap_prefetch_ops swap_prefetch_learned_ops = {
	.size = sizeof(struct swap_prefetch_ops),
	.name = "learned",
	.help = "majority trend of recent fault deltas (Leap); window learned from use and waste",
	.create = leap_create,
	.destroy = leap_destroy,
	.predict = leap_predict,
	.feedback = leap_feedback,
};
