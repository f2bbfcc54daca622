/* swap/policies/learned.c — the learned policy: evict the page whose next
 * access is expected farthest away, as predicted by a table learned offline
 * from traces and online from what the pager observes (learned_model.h).
 *
 * Concepts:
 *  - Time counts the accesses this policy observes (inserts and touches
 *    that are not prefetches). Per page it keeps the time of its last
 *    access, the gap between its last two, and how often it was accessed.
 *  - Learning: when a page is accessed again, the time since its previous
 *    access is the label for the features it had then (lm_observe()); pages
 *    evicted keep their record in a ghost FIFO (as many as the cache holds),
 *    so their return is learned from too, and a record that leaves the
 *    ghosts unreturned is a censored label ("not within this long").
 *  - Eviction: LEARNED_SAMPLES resident pages drawn at random; the one
 *    with the largest predicted remaining time goes. Ties and the fallback
 *    (no knowledge for a cell: remaining = age) rank like LRU.
 *  - For the pager's recency tracking, the runner-up of each eviction is
 *    re-armed: if it is still in use, its next write is observed.
 * Costs: O(1) hash lookups per access plus up to LM_AGE_BINS cell updates
 * when a page returns; eviction is LEARNED_SAMPLES predictions (the page
 * records are prefetched together). Sampling uses a fixed-seed generator,
 * so runs are reproducible.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learned_model.h"
#include "policy.h"
#include "u64map.h"

extern const struct swap_policy_ops swap_policy_learned_ops;

#define LEARNED_SAMPLES     16
#define LEARNED_OLDEST      8        /* of them, from the LRU end */
#define LEARNED_FORGET      256.0f   /* online cells: an exponential horizon */
#define LEARNED_SEED        0x6c6561726e656421ULL
#define LP_NIL              UINT32_MAX

enum lp_state { LP_FREE, LP_RESIDENT, LP_GHOST };

struct lpage {
	uint64_t page;
	uint64_t last;          /* time of the last access */
	uint64_t gap;           /* between the last two accesses; 0: one */
	uint32_t count;         /* accesses (saturating) */
	uint32_t pos;           /* index in res[] or ghost[] */
	uint32_t older, newer;  /* LRU list of resident records */
	uint8_t state;          /* enum lp_state */
};

struct learned {
	struct swap_policy base;
	double capacity;
	const struct learned_model *prior;
	struct learned_model online;
	uint64_t now;
	uint64_t rng;
	struct lpage *pages;
	uint32_t npages, pages_cap, free_head;
	struct u64map index;            /* page -> record */
	uint32_t *res;                  /* resident records, for sampling */
	uint32_t nres, res_cap;
	uint32_t lru_head, lru_tail;    /* newest, oldest resident access */
	uint32_t *ghost;                /* FIFO ring of ghost records (LP_NIL: gone) */
	uint32_t ghost_cap, ghost_head, ghost_len;
};

static struct learned *to_l(struct swap_policy *p)
{
	return (struct learned *)p;
}

static uint64_t rng_next(struct learned *l)
{
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 0x2545f4914f6cdd1dULL;
}

static int lp_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct learned *l = calloc(1, sizeof(*l));
	size_t cap = env->capacity ? env->capacity : 1024;

	if (!l)
		return -ENOMEM;
	if (cap > ((size_t)1 << 28))
		cap = (size_t)1 << 28;
	l->capacity = (double)cap;
	l->prior = env->model ? (const struct learned_model *)env->model : lm_builtin();
	l->rng = LEARNED_SEED;
	l->free_head = LP_NIL;
	l->lru_head = l->lru_tail = LP_NIL;
	l->ghost_cap = (uint32_t)cap;
	l->ghost = malloc(l->ghost_cap * sizeof(*l->ghost));
	l->res_cap = (uint32_t)cap + 16;
	l->res = malloc(l->res_cap * sizeof(*l->res));
	l->pages_cap = (uint32_t)cap * 2 + 16;
	l->pages = malloc(l->pages_cap * sizeof(*l->pages));
	if (!l->ghost || !l->res || !l->pages || u64map_init(&l->index, cap * 2) < 0) {
		free(l->ghost);
		free(l->res);
		free(l->pages);
		free(l);
		return -ENOMEM;
	}
	l->base.ops = &swap_policy_learned_ops;
	l->base.env = *env;
	*out = &l->base;
	return 0;
}

static void lp_destroy(struct swap_policy *p)
{
	struct learned *l = to_l(p);

	u64map_fini(&l->index);
	free(l->pages);
	free(l->res);
	free(l->ghost);
	free(l);
}

static uint32_t rec_alloc(struct learned *l, uint64_t page)
{
	uint32_t i;

	if (l->free_head != LP_NIL) {
		i = l->free_head;
		l->free_head = l->pages[i].pos;
	} else {
		if (l->npages == l->pages_cap) {
			uint32_t cap = l->pages_cap * 2;
			struct lpage *n;

			if (cap < l->pages_cap)
				return LP_NIL;
			n = realloc(l->pages, (size_t)cap * sizeof(*n));
			if (!n)
				return LP_NIL;
			l->pages = n;
			l->pages_cap = cap;
		}
		i = l->npages++;
	}
	if (u64map_put(&l->index, page, i) < 0) {
		l->pages[i].pos = l->free_head;
		l->free_head = i;
		return LP_NIL;
	}
	l->pages[i] = (struct lpage){ .page = page, .state = LP_FREE };
	return i;
}

static void rec_free(struct learned *l, uint32_t i)
{
	u64map_del(&l->index, l->pages[i].page);
	l->pages[i].state = LP_FREE;
	l->pages[i].pos = l->free_head;
	l->free_head = i;
}

static void lru_unlink(struct learned *l, uint32_t i)
{
	struct lpage *r = &l->pages[i];

	if (r->older != LP_NIL)
		l->pages[r->older].newer = r->newer;
	else
		l->lru_tail = r->newer;
	if (r->newer != LP_NIL)
		l->pages[r->newer].older = r->older;
	else
		l->lru_head = r->older;
	r->older = r->newer = LP_NIL;
}

static void lru_push(struct learned *l, uint32_t i)
{
	struct lpage *r = &l->pages[i];

	r->newer = LP_NIL;
	r->older = l->lru_head;
	if (l->lru_head != LP_NIL)
		l->pages[l->lru_head].newer = i;
	else
		l->lru_tail = i;
	l->lru_head = i;
}

static bool res_add(struct learned *l, uint32_t i)
{
	if (l->nres == l->res_cap) {
		uint32_t cap = l->res_cap * 2;
		uint32_t *n = realloc(l->res, (size_t)cap * sizeof(*n));

		if (!n)
			return false;
		l->res = n;
		l->res_cap = cap;
	}
	l->pages[i].state = LP_RESIDENT;
	l->pages[i].pos = l->nres;
	l->res[l->nres++] = i;
	lru_push(l, i);
	return true;
}

static void res_del(struct learned *l, uint32_t i)
{
	uint32_t pos = l->pages[i].pos, last = l->res[--l->nres];

	lru_unlink(l, i);
	l->res[pos] = last;
	l->pages[last].pos = pos;
}

/* The oldest ghost leaves unreturned: a censored label. */
static void ghost_drop_oldest(struct learned *l)
{
	while (l->ghost_len) {
		uint32_t i = l->ghost[l->ghost_head];

		l->ghost_head = (l->ghost_head + 1) % l->ghost_cap;
		l->ghost_len--;
		if (i == LP_NIL)
			continue;       /* returned earlier */
		lm_observe(&l->online, l->capacity, l->pages[i].gap, l->pages[i].count,
			   l->now - l->pages[i].last, true, LEARNED_FORGET);
		rec_free(l, i);
		return;
	}
}

static void ghost_add(struct learned *l, uint32_t i)
{
	if (l->ghost_len == l->ghost_cap)
		ghost_drop_oldest(l);
	l->pages[i].state = LP_GHOST;
	l->pages[i].pos = (l->ghost_head + l->ghost_len) % l->ghost_cap;
	l->ghost[l->pages[i].pos] = i;
	l->ghost_len++;
}

/* An observed access to record @i (resident or ghost). */
static void accessed(struct learned *l, uint32_t i)
{
	struct lpage *r = &l->pages[i];
	uint64_t gap = l->now - r->last;

	if (r->count)
		lm_observe(&l->online, l->capacity, r->gap, r->count, gap, false,
			   LEARNED_FORGET);
	r->gap = r->count ? gap : 0;
	if (r->count < UINT32_MAX)
		r->count++;
	r->last = l->now;
	if (r->state == LP_RESIDENT) {
		lru_unlink(l, i);
		lru_push(l, i);
	}
}

static void lp_insert(struct swap_policy *p, uint64_t page, unsigned flags)
{
	struct learned *l = to_l(p);
	bool use = !(flags & SWAP_ACCESS_PREFETCH);
	uint32_t i;

	if (use)
		l->now++;
	if (u64map_get(&l->index, page, &i)) {
		struct lpage *r = &l->pages[i];

		if (r->state == LP_RESIDENT) {
			if (use)
				accessed(l, i);
			return;
		}
		/* A ghost returns. */
		l->ghost[r->pos] = LP_NIL;
		if (use)
			accessed(l, i);
		if (!res_add(l, i))
			rec_free(l, i);
		return;
	}
	i = rec_alloc(l, page);
	if (i == LP_NIL)
		return;         /* out of memory: untracked, evict() skips it */
	l->pages[i].last = l->now;
	l->pages[i].count = use ? 1 : 0;
	if (!res_add(l, i))
		rec_free(l, i);
}

static void lp_touch(struct swap_policy *p, uint64_t page, unsigned flags)
{
	struct learned *l = to_l(p);
	uint32_t i;

	if (flags & SWAP_ACCESS_PREFETCH)
		return;
	l->now++;
	if (u64map_get(&l->index, page, &i) && l->pages[i].state == LP_RESIDENT)
		accessed(l, i);
}

static void lp_remove(struct swap_policy *p, uint64_t page)
{
	struct learned *l = to_l(p);
	uint32_t i;

	if (!u64map_get(&l->index, page, &i))
		return;
	if (l->pages[i].state == LP_RESIDENT)
		res_del(l, i);
	else if (l->pages[i].state == LP_GHOST)
		l->ghost[l->pages[i].pos] = LP_NIL;
	rec_free(l, i);
}

static float score(struct learned *l, const struct lpage *r)
{
	return lm_predict(&l->online, l->prior, l->capacity, l->now - r->last,
			  r->gap, r->count, NULL);
}

static int lp_evict(struct swap_policy *p, uint64_t *page)
{
	struct learned *l = to_l(p);
	uint32_t cand[LEARNED_SAMPLES], best = LP_NIL, second = LP_NIL;
	float best_s = 0, second_s = 0;
	unsigned n;

	if (!l->nres)
		return -ENOENT;
	/* Candidates: the LEARNED_OLDEST least recently used pages (where
	 * recency is right, the answer is among them) and random others
	 * (where it is wrong, e.g. loops, the answer is not). */
	n = l->nres < LEARNED_SAMPLES ? l->nres : LEARNED_SAMPLES;
	if (n == l->nres) {
		for (unsigned k = 0; k < n; k++)
			cand[k] = l->res[k];
	} else {
		uint32_t i = l->lru_tail;
		unsigned k = 0;

		for (; k < LEARNED_OLDEST && i != LP_NIL; k++, i = l->pages[i].newer)
			cand[k] = i;
		for (; k < n; k++) {
			cand[k] = l->res[rng_next(l) % l->nres];
			__builtin_prefetch(&l->pages[cand[k]]);
		}
	}
	for (unsigned k = 0; k < n; k++) {
		const struct lpage *r = &l->pages[cand[k]];
		float s = score(l, r);

		/* Older first among equals: LRU is the tie-breaker. */
		if (best == LP_NIL || s > best_s ||
		    (s == best_s && r->last < l->pages[best].last)) {
			if (best != LP_NIL && best != cand[k]) {
				second = best;
				second_s = best_s;
			}
			best = cand[k];
			best_s = s;
		} else if (cand[k] != best && (second == LP_NIL || s > second_s)) {
			second = cand[k];
			second_s = s;
		}
	}
	*page = l->pages[best].page;
	res_del(l, best);
	ghost_add(l, best);
	if (second != LP_NIL && l->base.env.rearm)
		l->base.env.rearm(l->base.env.ctx, l->pages[second].page);
	return 0;
}

static size_t lp_count(struct swap_policy *p)
{
	return to_l(p)->nres;
}

const struct swap_policy_ops swap_policy_learned_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "learned",
	.help = "learned: evict the page whose next use a learned model expects "
		"farthest (trained on traces, updated online)",
	.create = lp_create,
	.destroy = lp_destroy,
	.insert = lp_insert,
	.touch = lp_touch,
	.remove = lp_remove,
	.evict = lp_evict,
	.count = lp_count,
};
