/* swap/policies/learned.c — the learned model ("learned-core"; the policy
 * "learned" runs it guarded by LRU, learned_guard.c): evict the page with the
 * lowest expected hit density, from counts of hits and evictions by class
 * and age that it learns online on top of a model trained from traces
 * (learned_model.h).
 *
 * Concepts:
 *  - Time counts the accesses this policy observes (inserts and touches
 *    that are not prefetches). Per page it keeps the time of its last
 *    access, the gap between accesses (smoothed: an estimate of its
 *    rate of use) and how often it was accessed;
 *    evicted pages keep that record in a ghost FIFO (LEARNED_GHOSTS times
 *    as many as the cache holds), so a page that returns is not a stranger.
 *  - Learning: an access to a page counts a hit at its (class, age), also
 *    when it returns from the ghosts (it would have been a hit, had it been
 *    kept: how else would loops larger than the cache ever be learned), and
 *    its eviction, counted at the age it was evicted, is taken back; an
 *    eviction whose page does not return stands, moved to the age at
 *    which the ghost is forgotten. While a ghost waits, the densities
 *    count its eviction at its present age (it is known unused until
 *    now, no more). The densities are
 *    recomputed every LEARNED_PERIOD cache sizes of accesses, and
 *    the counts then decay (LEARNED_DECAY), so the model follows phases.
 *    It starts from the prior (built in, or --policy-model) scaled to
 *    LEARNED_PRIOR_EVENTS per cache page at most, added to its own counts
 *    until it has counted as many hits itself; from then on its own counts
 *    alone decide.
 *  - Where a page lives matters too: each 2 MiB region of guest memory
 *    (hashed into LEARNED_REGIONS buckets) counts its own hits and
 *    evictions; its hit rate over the global one, smoothed towards 1 by
 *    LEARNED_REGION_PRIOR pseudo-events, multiplies the page's density.
 *  - Eviction: LEARNED_OLDEST pages from the LRU end and LEARNED_RANDOM
 *    drawn at random; the one with the lowest density goes, the older
 *    among equals, unless its density is not below LEARNED_LRU_MARGIN of
 *    the least recently used page's: unsure, the policy evicts that one
 *    (LRU). Where nothing is known yet every density is equal and the
 *    policy is LRU.
 *  - Pages prefetched and not seen used since (unused prefetches) are
 *    never drawn at random (a young one's use is still to come). They
 *    sit in a list of their own, oldest first: once the oldest is no
 *    longer young (young_span(): C/32 prefetches came after it where
 *    the uses of prefetched pages go unseen, up to C where they are
 *    seen), it goes before any sampling, however deep the used pages;
 *    otherwise the first of them among the LEARNED_PREFETCH_DEPTH least
 *    recently used pages does. Its use, if any, came and went unseen (a
 *    mapped page does not fault) or it was a wrong guess: a clean copy
 *    sits in a tier, it is the cheapest page to let go. Without this,
 *    under a stride-prefetched scan only used pages were left to sample
 *    from, and the working set went instead.
 *  - Loops of prefetches: when most prefetched pages are ones evicted
 *    unused earlier and now fetched again (the share `loop`, an EWMA over
 *    prefetch inserts, at least LEARNED_LOOP_MIN), the scan is a loop
 *    larger than the room it has, and first-in first-out would miss on
 *    every page of it. Old unused prefetches beyond a buffer (C/4, at
 *    least twice the young ones) then move to a kept list and stay, in
 *    runs (a hysteresis of half the young ones); the buffer cycles, the
 *    kept part hits on every lap (what OPT does with a loop). With a
 *    buffer of C/14 the oldest unused prefetch was close to the reader:
 *    any stall and the pages about to be read went first.
 *    Kept pages still go before used ones (the newest kept first, so the
 *    rest stays), and all go, oldest first, once the loop ends.
 *  - For the pager's recency tracking, the runner-up of each eviction is
 *    re-armed: if it is still in use, its next write is observed.
 * Costs: O(1) per access (a hash lookup, two counters, an LRU move);
 * eviction scores LEARNED_OLDEST + LEARNED_RANDOM candidates whose
 * records are prefetched together; every LEARNED_PERIOD a table of
 * LM_CLASSES x LM_AGE_BINS is recomputed. Sampling uses a fixed-seed
 * generator, so runs are reproducible.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learned_guard.h"
#include "learned_model.h"
#include "policy.h"
#include "u64map.h"

extern const struct swap_policy_ops swap_policy_learned_core_ops;

#define LEARNED_OLDEST      8        /* candidates from the LRU end */
#define LEARNED_RANDOM      24       /* and drawn at random */
#define LEARNED_PREFETCH_DEPTH 64    /* LRU end searched for an unused prefetch */
#define LEARNED_PF_YOUNG    32       /* the last C/32 prefetches are young */
#define LEARNED_PF_YOUNG_MIN 256
#define LEARNED_PF_YOUNG_MAX 1       /* and at most C */
#define LEARNED_PF_SEEN     0.5f     /* share of prefetches seen used for C */
#define LEARNED_LOOP_RATE   (1.0f / 1024)    /* EWMA weight of one prefetch (loop, pf_seen) */
#define LEARNED_LOOP_MIN    0.5f     /* returning share that makes a loop */
#define LEARNED_LOOP_BUFFER 4        /* a loop cycles through C/4 at least */
#define LEARNED_GHOSTS      8        /* ghost records per cache page */
#define LEARNED_GHOSTS_MAX  ((size_t)1 << 21)
#define LEARNED_GHOST_STRIDE 4       /* ghosts sampled per density update */
#define LEARNED_SAMPLES     (LEARNED_OLDEST + LEARNED_RANDOM)
#define LEARNED_PERIOD      2.0      /* recompute every 2 C accesses */
#define LEARNED_PERIOD_MIN  256
#define LEARNED_DECAY       0.97f
#define LEARNED_PRIOR_EVENTS 0.25    /* prior hits per cache page it stands for */
#define LEARNED_GAP_KEEP    3        /* gap estimate: 3/4 old, 1/4 new */
#define LEARNED_LRU_MARGIN  0.8f     /* below this share of the LRU page's density */
#define LEARNED_SEED        0x6c6561726e656421ULL
#define LP_NIL              UINT32_MAX
#define LEARNED_REGION_SHIFT 9       /* 2 MiB regions of 4 KiB pages */
#define LEARNED_REGIONS     4096     /* hashed buckets */
#define LEARNED_REGION_PRIOR 64.0f   /* pseudo-events at the global rate */

enum lp_state { LP_FREE, LP_RESIDENT, LP_GHOST };

struct lpage {
	uint64_t page;
	uint64_t last;          /* time of the last access */
	uint64_t gap;           /* between accesses, smoothed; 0: one access */
	uint32_t count;         /* accesses (saturating) */
	uint32_t pos;           /* index in res[] or ghost[] */
	uint32_t older, newer;  /* LRU list of resident records */
	uint8_t state;          /* enum lp_state */
	uint8_t ev_class, ev_bin;       /* ghost: where its eviction was counted */
	uint8_t returned;       /* back from the ghosts by a prefetch: its
				 * eviction stands until its first use */
	uint8_t kept;           /* an unused prefetch of a loop, kept */
	uint8_t pf_evicted;     /* ghost: evicted as an unused prefetch */
	uint32_t ev_epoch;      /* ghost: the tick of its eviction */
	uint32_t pf_seq;        /* unused prefetch: prefetches before it */
	uint32_t pf_older, pf_newer;    /* list of resident unused prefetches */
};

struct learned {
	struct swap_policy base;
	double capacity, inv_unit;
	struct learned_model online;    /* decaying counts */
	struct learned_model prior_scaled;      /* the prior, until outweighed */
	bool prior;
	double own_hits;                /* hits counted since creation */
	struct learned_model total;     /* all counts (poolvm train) */
	struct learned_model scratch;   /* counts behind the densities */
	struct lm_density dens;
	uint64_t now, next_update;
	uint64_t rng;
	struct lpage *pages;
	uint32_t npages, pages_cap, free_head;
	struct u64map index;            /* page -> record */
	uint32_t *res;                  /* resident records, for sampling */
	uint32_t nres, res_cap;
	uint32_t nunused;               /* resident unused prefetches */
	uint32_t pf_head, pf_tail;      /* their list, newest and oldest */
	uint32_t pf_clock;              /* prefetched inserts so far */
	uint32_t kp_head, kp_tail, nkept;       /* unused prefetches kept */
	float loop;                     /* share of prefetches that return */
	bool keeping;                   /* keeping old unused prefetches */
	float pf_seen;                  /* share of prefetches seen used */
	uint32_t lru_head, lru_tail;    /* newest, oldest resident access */
	struct lregion {
		float hits, evictions;
		uint32_t epoch;         /* decays applied up to this tick */
	} reg[LEARNED_REGIONS];
	uint32_t epoch;                 /* ticks that decayed the counts */
	double reg_hits, reg_events;    /* all regions' counts */
	float reg_rate;                 /* reg_hits / reg_events (0: none yet) */
	float decay_pow[64];            /* LEARNED_DECAY^k */
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

static uint64_t period(const struct learned *l)
{
	uint64_t p = (uint64_t)(l->capacity * LEARNED_PERIOD);

	return p < LEARNED_PERIOD_MIN ? LEARNED_PERIOD_MIN : p;
}

/* How many prefetches keep a prefetched page young. Where the pager sees
 * the uses of prefetched pages (the share `pf_seen` of prefetches seen
 * used), one not seen used yet may still be: it has about a cache's
 * worth of prefetches (C/LEARNED_PF_YOUNG_MAX). Where it sees few (reads
 * of a mapped page do not fault), one not seen used most likely was,
 * unseen: C/LEARNED_PF_YOUNG, at least LEARNED_PF_YOUNG_MIN. Between
 * the two in proportion, up to a share of LEARNED_PF_SEEN. */
static uint32_t young_span(const struct learned *l)
{
	double lo = l->capacity / LEARNED_PF_YOUNG, hi = l->capacity / LEARNED_PF_YOUNG_MAX;
	double f = l->pf_seen / LEARNED_PF_SEEN;

	if (lo < LEARNED_PF_YOUNG_MIN)
		lo = LEARNED_PF_YOUNG_MIN;
	if (hi < lo)
		hi = lo;
	return (uint32_t)(lo + (hi - lo) * (f < 1 ? f : 1));
}

static unsigned region_of(uint64_t page)
{
	uint64_t x = (page >> LEARNED_REGION_SHIFT) * 0x9e3779b97f4a7c15ULL;

	return (unsigned)(x >> 52) % LEARNED_REGIONS;
}

/* A region's counts, with the decays of the ticks since it was last
 * used applied now (lazily: a tick costs nothing per region). */
static struct lregion *region(struct learned *l, uint64_t page)
{
	struct lregion *g = &l->reg[region_of(page)];
	uint32_t d = l->epoch - g->epoch;

	if (d) {
		float f = d < 64 ? l->decay_pow[d] : 0.0f;

		g->hits *= f;
		g->evictions *= f;
		g->epoch = l->epoch;
	}
	return g;
}

/* The region's hit rate over the global one, smoothed towards 1. */
static float region_factor(struct learned *l, uint64_t page)
{
	const struct lregion *x;
	float g = l->reg_rate;

	if (g <= 0)
		return 1;
	x = region(l, page);
	return (x->hits + LEARNED_REGION_PRIOR * g) /
	       ((x->hits + x->evictions + LEARNED_REGION_PRIOR) * g);
}

static void count_event(struct learned *l, struct lpage *r, bool hit)
{
	unsigned c = lm_class(r->gap, r->count, l->inv_unit);
	unsigned b = lm_age_bin(l->now - r->last, l->inv_unit);
	struct lregion *g = region(l, r->page);

	l->reg_events += 1;
	if (hit) {
		g->hits += 1;
		l->reg_hits += 1;
		l->online.hits[c][b] += 1;
		l->total.hits[c][b] += 1;
		l->own_hits += 1;
	} else {
		g->evictions += 1;
		l->online.evictions[c][b] += 1;
		l->total.evictions[c][b] += 1;
		r->ev_class = (uint8_t)c;
		r->ev_bin = (uint8_t)b;
		r->ev_epoch = l->epoch;
	}
}

/* The share of an eviction count left after the ticks since @epoch. */
static float decayed(const struct learned *l, uint32_t epoch)
{
	uint32_t d = l->epoch - epoch;

	return d < 64 ? l->decay_pow[d] : 0.0f;
}

/* Take @w from count @c, never below 0 (decay and weights are inexact). */
static void take_count(float *c, float w)
{
	*c = *c > w ? *c - w : 0;
}

/* An evicted page returned: it was worth keeping after all, so its
 * eviction is taken back (its hit is counted by the caller). */
static void uncount_eviction(struct learned *l, const struct lpage *r)
{
	struct lregion *g = region(l, r->page);

	take_count(&l->online.evictions[r->ev_class][r->ev_bin], decayed(l, r->ev_epoch));
	take_count(&l->total.evictions[r->ev_class][r->ev_bin], 1);
	if (g->evictions >= 1) {
		g->evictions -= 1;
		l->reg_events -= 1;
	}
}

/* Move one eviction count of weight @w from @from_bin to @to_bin. */
static void move_eviction(float *evs, unsigned from_bin, unsigned to_bin, float w)
{
	take_count(&evs[from_bin], w);
	evs[to_bin] += w;
}

/* An evicted page that has not come back is still watched (a ghost): all
 * the model knows of it is that it went unused until now, not that its
 * life ended at its eviction. Left at its eviction age, it would tell
 * the model that pages past that age are mostly hit, since only those
 * that return outlive it there: the density would rise with age, and a
 * recency-friendly workload would lose its oldest pages last (the stack
 * family: 0.4-5 points more misses than LRU). So, for the densities, each
 * waiting ghost's eviction counts at its present age: a sample of every
 * LEARNED_GHOST_STRIDE-th ghost, weighed as that many. */
static void ghosts_at_present_age(struct learned *l, struct learned_model *m)
{
	uint32_t k = (uint32_t)(l->now % LEARNED_GHOST_STRIDE);

	for (; k < l->ghost_len; k += LEARNED_GHOST_STRIDE) {
		uint32_t i = l->ghost[(l->ghost_head + k) % l->ghost_cap];
		const struct lpage *r;

		if (i == LP_NIL)
			continue;
		r = &l->pages[i];
		move_eviction(m->evictions[r->ev_class], r->ev_bin,
			      lm_age_bin(l->now - r->last, l->inv_unit),
			      LEARNED_GHOST_STRIDE * decayed(l, r->ev_epoch));
	}
}

/* Time passes: every period, new densities and older counts fade. */
static void tick(struct learned *l)
{
	l->now++;
	if (l->now < l->next_update)
		return;
	/* The prior only starts the policy: once the guest has given as many
	 * hits of its own (evictions come at once, hits only as reuse shows),
	 * its counts alone decide (a prior learned on other workloads and
	 * sizes misleads more than it helps after that). */
	l->scratch = l->online;
	if (l->prior && l->own_hits < LEARNED_PRIOR_EVENTS * l->capacity)
		lm_merge(&l->scratch, &l->prior_scaled, 1.0f);
	else
		l->prior = false;
	ghosts_at_present_age(l, &l->scratch);
	lm_density(&l->scratch, &l->dens);
	lm_scale(&l->online, LEARNED_DECAY);
	l->reg_rate = l->reg_hits >= 1 ? (float)(l->reg_hits / l->reg_events) : 0;
	l->reg_hits *= LEARNED_DECAY;
	l->reg_events *= LEARNED_DECAY;
	l->epoch++;
	l->next_update = l->now + period(l);
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
	l->inv_unit = LM_UNITS / l->capacity;
	{
		const struct learned_model *prior = env->model ?
			(const struct learned_model *)env->model : lm_builtin();
		double t = lm_total(prior), want = LEARNED_PRIOR_EVENTS * l->capacity;

		if (t > 0) {
			lm_merge(&l->prior_scaled, prior, (float)(t > want ? want / t : 1.0));
			/* Pages seen once (class 0): whether they come back is
			 * what differs most between workloads and cache sizes,
			 * so the prior says nothing of them; their own counts
			 * and their region decide (corpus gap ratio 0.81 ->
			 * 0.70 without this class in the prior). */
			for (unsigned b = 0; b < LM_AGE_BINS; b++)
				l->prior_scaled.hits[0][b] = l->prior_scaled.evictions[0][b] = 0;
			l->prior = true;
		}
	}
	lm_density(&l->prior_scaled, &l->dens);
	l->decay_pow[0] = 1;
	for (unsigned k = 1; k < 64; k++)
		l->decay_pow[k] = l->decay_pow[k - 1] * LEARNED_DECAY;
	l->next_update = period(l);
	l->rng = LEARNED_SEED;
	l->free_head = LP_NIL;
	l->lru_head = l->lru_tail = LP_NIL;
	l->pf_head = l->pf_tail = LP_NIL;
	l->kp_head = l->kp_tail = LP_NIL;
	/* A long memory of evicted pages is what lets the model see reuse
	 * beyond the cache (bench/policy_eval.py: 8 C against 1 C cut the mean
	 * gap to OPT by a fifth); bounded for huge caches. */
	l->ghost_cap = (uint32_t)(cap * LEARNED_GHOSTS < LEARNED_GHOSTS_MAX ?
				  cap * LEARNED_GHOSTS : LEARNED_GHOSTS_MAX);
	l->ghost = malloc(l->ghost_cap * sizeof(*l->ghost));
	l->res_cap = (uint32_t)cap + 16;
	l->res = malloc(l->res_cap * sizeof(*l->res));
	l->pages_cap = (uint32_t)cap + l->ghost_cap + 16;
	l->pages = malloc(l->pages_cap * sizeof(*l->pages));
	if (!l->ghost || !l->res || !l->pages || u64map_init(&l->index, cap * 2) < 0) {
		free(l->ghost);
		free(l->res);
		free(l->pages);
		free(l);
		return -ENOMEM;
	}
	l->base.ops = &swap_policy_learned_core_ops;
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

/* Prefetched (new, or a ghost brought back) and not seen used since. */
static bool unused(const struct lpage *r)
{
	return !r->count || r->returned;
}

static void list_push(struct learned *l, uint32_t *head, uint32_t *tail, uint32_t i)
{
	struct lpage *r = &l->pages[i];

	r->pf_newer = LP_NIL;
	r->pf_older = *head;
	if (*head != LP_NIL)
		l->pages[*head].pf_newer = i;
	else
		*tail = i;
	*head = i;
}

static void list_unlink(struct learned *l, uint32_t *head, uint32_t *tail, uint32_t i)
{
	struct lpage *r = &l->pages[i];

	if (r->pf_older != LP_NIL)
		l->pages[r->pf_older].pf_newer = r->pf_newer;
	else
		*tail = r->pf_newer;
	if (r->pf_newer != LP_NIL)
		l->pages[r->pf_newer].pf_older = r->pf_older;
	else
		*head = r->pf_older;
	r->pf_older = r->pf_newer = LP_NIL;
}

/* A resident unused prefetch joins the newest end of their list. */
static void pf_link(struct learned *l, uint32_t i)
{
	l->pages[i].pf_seq = l->pf_clock;
	l->pages[i].kept = 0;
	list_push(l, &l->pf_head, &l->pf_tail, i);
	l->nunused++;
}

/* It is used, or evicted (from either list). */
static void pf_unlink(struct learned *l, uint32_t i)
{
	if (l->pages[i].kept) {
		list_unlink(l, &l->kp_head, &l->kp_tail, i);
		l->pages[i].kept = 0;
		l->nkept--;
	} else {
		list_unlink(l, &l->pf_head, &l->pf_tail, i);
		l->nunused--;
	}
}

/* An unused prefetch of a loop moves to the kept list. */
static void keep(struct learned *l, uint32_t i)
{
	list_unlink(l, &l->pf_head, &l->pf_tail, i);
	l->nunused--;
	list_push(l, &l->kp_head, &l->kp_tail, i);
	l->pages[i].kept = 1;
	l->nkept++;
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
	if (unused(&l->pages[i]))
		pf_link(l, i);
	lru_push(l, i);
	return true;
}

static void res_del(struct learned *l, uint32_t i)
{
	uint32_t pos = l->pages[i].pos, last = l->res[--l->nres];

	if (unused(&l->pages[i]))
		pf_unlink(l, i);
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
		{
			/* its eviction counts where it was last seen unused */
			const struct lpage *r = &l->pages[i];
			unsigned b = lm_age_bin(l->now - r->last, l->inv_unit);

			move_eviction(l->online.evictions[r->ev_class], r->ev_bin, b,
				      decayed(l, r->ev_epoch));
			move_eviction(l->total.evictions[r->ev_class], r->ev_bin, b, 1);
		}
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
		count_event(l, r, true);        /* a ghost's return counts too */
	/* The gap feature estimates how often the page is used: the last
	 * gap alone is one noisy sample of it, so from the third access on
	 * it is smoothed (3/4 the old estimate, 1/4 the new gap). Where
	 * accesses are independent draws (Zipf) this ranks pages by their
	 * rate; a loop's gaps are alike and stay as they were (synthetic
	 * seeds 1-3: wins 42 -> 47 of 90; corpus gap ratio 0.69 -> 0.67). */
	if (r->count >= 2)
		r->gap = (r->gap * LEARNED_GAP_KEEP + gap) / (LEARNED_GAP_KEEP + 1);
	else
		r->gap = r->count ? gap : 0;
	if (r->count < UINT32_MAX)
		r->count++;
	r->last = l->now;
	if (r->state == LP_RESIDENT) {
		lru_unlink(l, i);
		lru_push(l, i);
	}
}

/* A record prefetched back from the ghosts is now used (a return after
 * all) or evicted again unused (to be counted once, at its present age):
 * either way its first eviction is taken back. */
static void settle_return(struct learned *l, struct lpage *r)
{
	if (r->returned) {
		uncount_eviction(l, r);
		r->returned = 0;
	}
}

/* An observed use of resident record @i. */
static void used(struct learned *l, uint32_t i)
{
	if (unused(&l->pages[i])) {
		l->pf_seen += LEARNED_LOOP_RATE;
		pf_unlink(l, i);                /* resident: not after this */
	}
	settle_return(l, &l->pages[i]);
	accessed(l, i);
}

static void lp_insert(struct swap_policy *p, uint64_t page, unsigned flags)
{
	struct learned *l = to_l(p);
	/* A demand fault the prefetcher followed as a stream is a page of
	 * a scan: treated as its prefetched neighbours, whose use the pager
	 * never sees. Counted as used, the one page per prefetch window that
	 * faults was kept over them (a used page outranks an unused
	 * prefetch); in linear-sgd those pages piled up epoch after epoch
	 * (22k of the 32k-page cache), holes in every window. */
	bool use = !(flags & (SWAP_ACCESS_PREFETCH | SWAP_ACCESS_STREAM));
	uint32_t i;

	if (use) {
		tick(l);
	} else {
		l->pf_clock++;
		l->pf_seen -= l->pf_seen * LEARNED_LOOP_RATE;
	}
	if (u64map_get(&l->index, page, &i)) {
		struct lpage *r = &l->pages[i];

		if (r->state == LP_RESIDENT) {
			if (use)
				used(l, i);
			return;
		}
		/* A ghost returns. Brought back by a prefetch, it is not
		 * used yet: its eviction is taken back at its first use
		 * (lp_touch), if that comes before it is evicted again. */
		l->ghost[r->pos] = LP_NIL;
		if (!use)
			l->loop += (r->pf_evicted - l->loop) * LEARNED_LOOP_RATE;
		if (use) {
			/* A use that came after the page went unused: seen
			 * all the same, if a cache's worth of prefetches
			 * would have kept it (not a loop's return). */
			if (r->pf_evicted && l->pf_clock - r->pf_seq <= l->capacity)
				l->pf_seen += LEARNED_LOOP_RATE;
			uncount_eviction(l, r);
			accessed(l, i);
		} else {
			r->returned = 1;
		}
		r->pf_evicted = 0;
		if (!res_add(l, i))
			rec_free(l, i);
		return;
	}
	if (!use)
		l->loop -= l->loop * LEARNED_LOOP_RATE;
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
	tick(l);
	if (u64map_get(&l->index, page, &i) && l->pages[i].state == LP_RESIDENT)
		used(l, i);
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

/* Expected hit density; lower goes first. */
static float score(struct learned *l, const struct lpage *r)
{
	return l->dens.d[lm_class(r->gap, r->count, l->inv_unit)]
			[lm_age_bin(l->now - r->last, l->inv_unit)] *
	       region_factor(l, r->page);
}

/* Record @i leaves the cache: counted, remembered as a ghost. */
static void evict_record(struct learned *l, uint32_t i, uint64_t *page)
{
	l->pages[i].pf_evicted = unused(&l->pages[i]);
	res_del(l, i);
	settle_return(l, &l->pages[i]);
	count_event(l, &l->pages[i], false);
	*page = l->pages[i].page;
	ghost_add(l, i);
}

/* The least recently used unused prefetch among the
 * LEARNED_PREFETCH_DEPTH oldest pages, or LP_NIL. */
static uint32_t old_unused_prefetch(struct learned *l)
{
	uint32_t i, young = young_span(l);
	uint32_t buffer = (uint32_t)(l->capacity / LEARNED_LOOP_BUFFER);
	bool loop = l->loop >= LEARNED_LOOP_MIN;

	if (buffer < 2 * young)
		buffer = 2 * young;

	/* Prefetched pages that come back after their eviction: a loop
	 * larger than what the scan may use. Rather than cycle all of it
	 * through (FIFO: every page misses), the unused prefetches beyond
	 * a buffer (C/4, at least twice the young ones) stay for good;
	 * they yield to the buffer and go before any used page does. */
	if (l->nkept && !loop)
		return l->kp_tail;
	for (unsigned k = 0; k < LEARNED_PREFETCH_DEPTH; k++) {
		i = l->pf_tail;
		if (i == LP_NIL || l->pf_clock - l->pages[i].pf_seq < young)
			break;
		/* Keep in runs, not page by page: at a single threshold
		 * every other prefetch was kept, the guest's scan then met
		 * resident and absent pages in turn and every read was one
		 * page (1.9M disk reads for 2M pages, 10x slower). */
		if (l->keeping ? l->nunused <= buffer : l->nunused > buffer + young / 2)
			l->keeping = !l->keeping;
		if (loop && l->keeping) {
			keep(l, i);
			continue;
		}
		return i;
	}
	if (l->nkept)
		return l->kp_head;      /* the newest: the others stay */
	if (!l->nunused)
		return LP_NIL;          /* no prefetching: no walk */
	i = l->lru_tail;
	for (unsigned d = 0; d < LEARNED_PREFETCH_DEPTH && i != LP_NIL;
	     d++, i = l->pages[i].newer)
		if (unused(&l->pages[i]) && !l->pages[i].kept)
			return i;
	return LP_NIL;
}

static int lp_evict(struct swap_policy *p, uint64_t *page)
{
	struct learned *l = to_l(p);
	uint32_t cand[LEARNED_SAMPLES], best = LP_NIL, second = LP_NIL;
	float best_s = 0, second_s = 0, tail_s = 0;
	unsigned n;

	if (!l->nres)
		return -ENOENT;
	best = old_unused_prefetch(l);
	if (best != LP_NIL) {
		evict_record(l, best, page);
		return 0;
	}
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
		bool from_tail = n < l->nres && k < LEARNED_OLDEST;
		float s;

		/* Prefetched and not used yet: its use is still to come (the
		 * pager often never sees it: a prefetched page is mapped, so its
		 * reads do not fault). It leaves in LRU order, first among
		 * the oldest (an old prefetch never used was a wrong guess),
		 * never drawn at random: a young one is in flight. A ghost
		 * brought back by a prefetch is one too: its age is still
		 * that of its last use, long ago, which would make it the
		 * first victim before the use it was fetched for. */
		bool fresh = unused(r);

		if ((fresh && !from_tail) || r->kept)
			continue;
		s = fresh ? 0.0f : score(l, r);
		if (k == 0)
			tail_s = s;     /* the least recently used page's */
		/* Older first among equals: LRU is the tie-breaker. */
		if (best == LP_NIL || s < best_s ||
		    (s == best_s && r->last < l->pages[best].last)) {
			if (best != LP_NIL && best != cand[k]) {
				second = best;
				second_s = best_s;
			}
			best = cand[k];
			best_s = s;
		} else if (cand[k] != best && (second == LP_NIL || s < second_s)) {
			second = cand[k];
			second_s = s;
		}
	}
	if (best == LP_NIL) {   /* only young prefetches: the oldest goes */
		best = l->lru_tail;
		second = LP_NIL;
	}
	/* Unsure: unless a candidate is clearly worth less than the least
	 * recently used page, that one goes (LRU). */
	if (n < l->nres && best != cand[0] &&
	    best_s >= LEARNED_LRU_MARGIN * tail_s) {
		second = best;
		best = cand[0];
	}
	evict_record(l, best, page);
	if (second != LP_NIL && l->base.env.rearm)
		l->base.env.rearm(l->base.env.ctx, l->pages[second].page);
	return 0;
}

int swap_policy_learned_counts(struct swap_policy *p, struct learned_model *out)
{
	struct swap_policy *core = swap_policy_learned_guard_model(p);

	if (core)
		p = core;
	if (!p || p->ops != &swap_policy_learned_core_ops)
		return -EINVAL;
	*out = to_l(p)->total;
	return 0;
}

static size_t lp_count(struct swap_policy *p)
{
	return to_l(p)->nres;
}

const struct swap_policy_ops swap_policy_learned_core_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "learned-core",
	.help = "the learned model alone: evict the lowest expected hit density "
		"by page class and age",
	.create = lp_create,
	.destroy = lp_destroy,
	.insert = lp_insert,
	.touch = lp_touch,
	.remove = lp_remove,
	.evict = lp_evict,
	.count = lp_count,
};
