/* swap/prefetchers/stride.c — multi-stream stride detector.
 *
 * Concepts: a stream follows one access pattern "every @stride pages"
 * (|stride| <= STRIDE_MAX_DELTA, forward or backward). It is born on a fault
 * nobody explains, learns a stride from the next fault close to it, and is
 * confirmed when a second fault repeats that stride. From then on each of
 * its faults predicts the next @window pages along the stride; the window
 * starts at STRIDE_FIRST_WINDOW, doubles on every continuation up to
 * env->max_window and halves on SWAP_PREFETCH_WASTED feedback.
 *
 * Prefetched pages do not fault, so after predicting W pages from page P the
 * next fault of the scan lands at about P + (W + 1) * stride. A confirmed
 * stream therefore takes any fault in (last, last + (W + 2) * stride] (the
 * mirror image for a negative stride) as its continuation.
 *
 * Resident pages do not fault either. When the pager says which pages are
 * present (env->present), a window is W pages that are not, stepping over
 * up to STRIDE_SKIP_MAX present ones; and a fault beyond the reach still
 * continues the stream when every page along the stride between the
 * window's far end and the fault is present: the scan walked through
 * pages an eviction policy kept (islands of a loop), and must not start
 * over with a small window after each of them.
 *
 * STRIDE_STREAMS streams are tracked. A fault that fits no stride starts a
 * new stream; if it lies within STRIDE_MAX_DELTA of a stream's latest fault,
 * the new stream already knows its stride (the distance), and the old stream
 * stays, so two interleaved scans a few pages apart are both learned. A new
 * stream takes the slot of the least recently used stream that is still
 * learning or has gone idle, so random faults do not displace live scans.
 * Predictions never go below page 0 nor reach env->page_count.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "prefetch.h"

#define STRIDE_STREAMS       8
#define STRIDE_MAX_DELTA     64
#define STRIDE_FIRST_WINDOW  4
#define STRIDE_CONFIRM       2              /* faults repeating the stride */
#define STRIDE_WINDOW_CAP    ((uint64_t)1 << 20)
#define STRIDE_STALE         256            /* faults before a stream ages */
#define STRIDE_SKIP_MAX      512            /* present pages stepped over (bounds the walk) */

struct stride_stream {
	uint64_t last;          /* page of the stream's latest fault */
	int64_t stride;         /* 0 until a second fault is seen */
	uint64_t window;        /* pages to predict; 0 until confirmed */
	uint64_t emitted;       /* pages actually predicted last time */
	uint64_t horizon;       /* farthest page the last window covered */
	uint64_t span_lo;       /* lowest page predicted since confirmation */
	uint64_t span_hi;       /* highest page predicted since confirmation */
	uint64_t used_at;       /* tick of the latest fault it explained */
	unsigned matches;       /* faults that followed .stride */
	bool valid;
	bool confirmed;
};

struct stride_prefetcher {
	struct swap_prefetcher base;
	uint64_t window_cap;    /* min(env.max_window, STRIDE_WINDOW_CAP) */
	uint64_t tick;
	struct stride_stream streams[STRIDE_STREAMS];
};

static struct stride_prefetcher *to_stride(struct swap_prefetcher *pf)
{
	return (struct stride_prefetcher *)pf;
}

static uint64_t stride_magnitude(int64_t stride)
{
	return stride < 0 ? (uint64_t)-stride : (uint64_t)stride;
}

/* *@to = @from + @k * @stride; false if that leaves [0, UINT64_MAX]. */
static bool stride_step(uint64_t from, int64_t stride, uint64_t k, uint64_t *to)
{
	uint64_t d = k * stride_magnitude(stride);   /* k <= cap: no overflow */

	if (stride > 0) {
		if (from > UINT64_MAX - d)
			return false;
		*to = from + d;
	} else {
		if (from < d)
			return false;
		*to = from - d;
	}
	return true;
}

static uint64_t page_distance(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

static int stride_create(const struct swap_prefetch_env *env, struct swap_prefetcher **out)
{
	struct stride_prefetcher *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->base.ops = &swap_prefetch_stride_ops;
	if (env)
		s->base.env = *env;
	s->window_cap = s->base.env.max_window;
	if (s->window_cap > STRIDE_WINDOW_CAP)
		s->window_cap = STRIDE_WINDOW_CAP;
	if (s->window_cap < 1)
		s->window_cap = 1;
	*out = &s->base;
	return 0;
}

static void stride_destroy(struct swap_prefetcher *pf)
{
	free(pf);
}

static bool stride_present(const struct stride_prefetcher *s, uint64_t page)
{
	return s->base.env.present && s->base.env.present(s->base.env.ctx, page);
}

/* Does a fault on @page continue confirmed stream @st? *@dist: how far. */
static bool stride_reaches(const struct stride_prefetcher *s,
			   const struct stride_stream *st, uint64_t page, uint64_t *dist)
{
	uint64_t ahead = st->emitted > st->window ? st->emitted : st->window;
	uint64_t mag = stride_magnitude(st->stride);
	uint64_t reach = (ahead + 2) * mag, q, far = page_distance(st->horizon, st->last);

	if (st->stride > 0 ? page <= st->last : page >= st->last)
		return false;
	*dist = page_distance(page, st->last);
	if (far + 2 * mag > reach)
		reach = far + 2 * mag;
	if (*dist <= reach)
		return true;
	/* Beyond: only if the scan walked through present pages to get here. */
	if (!s->base.env.present || *dist - reach > STRIDE_SKIP_MAX * mag)
		return false;
	for (uint64_t k = far / mag + 1; stride_step(st->last, st->stride, k, &q); k++) {
		if (st->stride > 0 ? q >= page : q <= page)
			return true;
		if (!stride_present(s, q))
			return false;
	}
	return false;
}

/* Predict from @page along @st's stride, stepping over present pages;
 * remember what was predicted. */
static size_t stride_emit(struct stride_prefetcher *s, struct stride_stream *st,
			  uint64_t page, uint64_t *out, size_t max)
{
	uint64_t n = st->window < max ? st->window : max, skipped = 0;
	size_t count = 0;

	st->horizon = page;
	for (uint64_t i = 1; count < n; i++) {
		uint64_t q;

		if (!stride_step(page, st->stride, i, &q) || q >= s->base.env.page_count)
			break;
		st->horizon = q;
		if (stride_present(s, q)) {
			if (++skipped > STRIDE_SKIP_MAX)
				break;
			continue;
		}
		out[count++] = q;
		if (q < st->span_lo)
			st->span_lo = q;
		if (q > st->span_hi)
			st->span_hi = q;
	}
	st->emitted = count;
	return count;
}

/* The slot for a new stream: a free one, else the least recently used of
 * those not worth keeping (still learning, or idle for STRIDE_STALE faults),
 * else the least recently used of all. Noise thus churns through the
 * learning slots and leaves live confirmed streams alone. */
static struct stride_stream *stride_victim(struct stride_prefetcher *s)
{
	struct stride_stream *cheap = NULL, *oldest = &s->streams[0];

	for (size_t i = 0; i < STRIDE_STREAMS; i++) {
		struct stride_stream *st = &s->streams[i];

		if (!st->valid)
			return st;
		if ((!st->confirmed || s->tick - st->used_at > STRIDE_STALE) &&
		    (!cheap || st->used_at < cheap->used_at))
			cheap = st;
		if (st->used_at < oldest->used_at)
			oldest = st;
	}
	return cheap ? cheap : oldest;
}

static void stride_start(struct stride_prefetcher *s, struct stride_stream *st,
			 uint64_t page, int64_t stride)
{
	*st = (struct stride_stream){
		.last = page,
		.stride = stride,
		.used_at = s->tick,
		.matches = stride ? 1 : 0,
		.valid = true,
	};
}

static size_t stride_predict(struct swap_prefetcher *pf, uint64_t page, unsigned flags,
			     uint64_t *out, size_t max)
{
	struct stride_prefetcher *s = to_stride(pf);
	struct stride_stream *best = NULL;
	uint64_t best_dist = UINT64_MAX;

	(void)flags;
	s->tick++;

	/* A confirmed stream continues: grow its window and predict. */
	for (size_t i = 0; i < STRIDE_STREAMS; i++) {
		struct stride_stream *st = &s->streams[i];
		uint64_t dist;

		if (st->valid && st->confirmed && stride_reaches(s, st, page, &dist) &&
		    dist < best_dist) {
			best = st;
			best_dist = dist;
		}
	}
	if (best) {
		best->window = best->window * 2 < s->window_cap ? best->window * 2
								 : s->window_cap;
		best->last = page;
		best->used_at = s->tick;
		return stride_emit(s, best, page, out, max);
	}

	/* A fault again on a stream's latest page teaches nothing. */
	for (size_t i = 0; i < STRIDE_STREAMS; i++) {
		struct stride_stream *st = &s->streams[i];

		if (st->valid && st->last == page) {
			st->used_at = s->tick;
			return 0;
		}
	}

	/* A learning stream sees its stride repeat: count it, maybe confirm. */
	for (size_t i = 0; i < STRIDE_STREAMS; i++) {
		struct stride_stream *st = &s->streams[i];
		uint64_t next;

		if (!st->valid || st->confirmed || !st->stride ||
		    !stride_step(st->last, st->stride, 1, &next) || next != page)
			continue;
		st->last = page;
		st->used_at = s->tick;
		if (++st->matches < STRIDE_CONFIRM)
			return 0;
		st->confirmed = true;
		st->window = STRIDE_FIRST_WINDOW < s->window_cap ? STRIDE_FIRST_WINDOW
								 : s->window_cap;
		st->span_lo = UINT64_MAX;
		st->span_hi = 0;
		return stride_emit(s, st, page, out, max);
	}

	/* Close to a stream: a new stream learns the stride from it. The old
	 * one stays, as it may be a different scan (two scans a few pages apart
	 * must not keep retraining one stream). */
	for (size_t i = 0; i < STRIDE_STREAMS; i++) {
		struct stride_stream *st = &s->streams[i];
		uint64_t dist = page_distance(page, st->last);

		if (st->valid && dist <= STRIDE_MAX_DELTA && dist < best_dist) {
			best = st;
			best_dist = dist;
		}
	}
	if (best) {
		int64_t stride = page > best->last ? (int64_t)best_dist : -(int64_t)best_dist;

		stride_start(s, stride_victim(s), page, stride);
		return 0;
	}

	stride_start(s, stride_victim(s), page, 0);
	return 0;
}

static void stride_feedback(struct swap_prefetcher *pf, uint64_t page, int outcome)
{
	struct stride_prefetcher *s = to_stride(pf);

	if (outcome != SWAP_PREFETCH_WASTED)
		return;
	for (size_t i = 0; i < STRIDE_STREAMS; i++) {
		struct stride_stream *st = &s->streams[i];

		if (st->valid && st->confirmed && page >= st->span_lo &&
		    page <= st->span_hi && st->window > 1)
			st->window /= 2;
	}
}

const struct swap_prefetch_ops swap_prefetch_stride_ops = {
	.size = sizeof(struct swap_prefetch_ops),
	.name = "stride",
	.help = "up to 8 forward/backward stride streams; window grows 4..max_window",
	.create = stride_create,
	.destroy = stride_destroy,
	.predict = stride_predict,
	.feedback = stride_feedback,
};
