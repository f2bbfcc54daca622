/* swap/policies/learned_guard.c — the learned policy as the pager and the
 * simulator run it: the learned model (learned.c, "learned-core") guarded
 * by LRU. It evicts as LRU until the model has shown, on the same accesses,
 * that it misses significantly less; then it evicts as the model, for as
 * long as LRU does not show the same in return.
 *
 * Why: LRU is the best online policy on recency-ordered streams (a page's
 * chance of reuse falls with its stack distance), and there the model, which
 * ranks sampled candidates by estimated density, trails it by tenths of a
 * point. Elsewhere (loops, scans, pages seen once) the model leads by far.
 * A guard that follows whichever proves better gets both, at the price of
 * the evidence the switch waits for.
 *
 * Concepts:
 *  - Experts: each runs as a whole cache of its own, the size of the real
 *    one, on the same accesses (inserts and touches; prefetches go in too,
 *    as prefetches). Whether an expert holds a page is a bit in the page's
 *    node, so each demand access says which experts would have missed.
 *  - The real cache follows one expert, the leader. Pages it holds that the
 *    leader gave up on sit in the leader's drop list, in the order the
 *    leader dropped them; evict() takes the oldest. When the list is empty
 *    the real cache holds what the leader holds, and evict() asks the
 *    leader for its next victim (the leader evicts it then, one access
 *    early, as the simulator calls every policy: evict() before insert()).
 *    So once the lists drain, the real cache misses exactly as the leader.
 *  - The switch: misses are counted per expert, each weighted by a factor
 *    that grows by 1/(1 - 1/H) per access (H = GUARD_HORIZON cache sizes),
 *    i.e. an exponential window that forgets slowly. The leader changes
 *    when the other expert's weighted misses are lower by more than
 *    GUARD_Z standard deviations of the difference: the square root of
 *    the summed squared weights of the accesses where exactly one of the
 *    two missed. Noise does not flip it: a switch costs a drop list's worth
 *    of misses, and on a trace where LRU is best a switch away is a loss.
 *  - Leaving the model costs more than that: the pages it kept that LRU
 *    let go (LRU's drop list) are thrown out, and what they were kept for
 *    is lost for good (coming back later does not bring them back). So
 *    LRU must also lead by as many misses as that list holds pages. In
 *    sqlite at 25 % the two traded the lead over phases: without this the
 *    guard followed each phase and paid ~2,500 misses per return.
 *  - LRU leads at first: with nothing known it is the safe choice, and the
 *    model's own decisions are then LRU anyway (learned.c).
 *  - Re-arm requests (the pager's recency tracking) of either expert pass
 *    to the pager for pages the real cache holds.
 * Costs: per access, both experts' work (the model's O(1) update, an LRU
 * move) plus a hash lookup here; per eviction, a list pop, or the leader's
 * own decision when its list is empty. Memory: a node per page held by the
 * real cache or an expert (one to three per resident page), beside the
 * experts' own state: 461 bytes per resident page in all, measured with
 * 1M pages resident (the model alone 300, LRU 48).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "learned_guard.h"
#include "policy.h"
#include "u64map.h"

#define GUARD_EXPERTS   2
#define GUARD_MODEL     0               /* expert index: the learned model */
#define GUARD_LRU       1               /* expert index: LRU */
#define GUARD_Z         3.0             /* standard deviations to switch */
#define GUARD_HORIZON   64.0            /* window: cache sizes of accesses */
#define GUARD_HORIZON_MIN 65536.0       /* accesses, at least */
#define GUARD_RESCALE   1e50            /* renormalize weights above this (squared
					 * and summed over a window they must stay
					 * far from DBL_MAX) */
#define GUARD_NIL       UINT32_MAX
#define GUARD_REAL      0x80u           /* node: held by the real cache */

static const char *const guard_expert_names[GUARD_EXPERTS] = { "learned-core", "lru" };

struct guard_node {
	uint64_t page;
	/* Drop list links, per expert; next[0] chains free nodes. */
	uint32_t prev[GUARD_EXPERTS], next[GUARD_EXPERTS];
	uint8_t in;                     /* bit k: expert k holds it; GUARD_REAL */
};

struct guard_list {
	uint32_t head, tail;            /* oldest drop, newest drop */
};

struct guard {
	struct swap_policy base;
	struct swap_policy *ex[GUARD_EXPERTS];
	size_t ex_size[GUARD_EXPERTS];
	struct guard_list drop[GUARD_EXPERTS];
	size_t drop_len[GUARD_EXPERTS]; /* pages in each */
	double misses[GUARD_EXPERTS];   /* weighted */
	double disagree;                /* summed squared weights */
	double weight, grow;            /* of one miss now; growth per access */
	unsigned lead;
	struct guard_stats stats;
	struct guard_node *nodes;
	size_t nodes_cap;
	uint32_t free_head;
	struct u64map index;
	size_t real;                    /* pages the real cache holds */
};

extern const struct swap_policy_ops swap_policy_learned_ops;

static struct guard *to_g(struct swap_policy *p)
{
	return (struct guard *)p;
}

static uint32_t node_find(const struct guard *g, uint64_t page)
{
	uint32_t i;

	return u64map_get(&g->index, page, &i) ? i : GUARD_NIL;
}

static uint32_t node_new(struct guard *g, uint64_t page)
{
	uint32_t i;

	if (g->free_head == GUARD_NIL) {
		size_t cap = g->nodes_cap ? g->nodes_cap * 2 : 1024, j;
		struct guard_node *n;

		if (cap > GUARD_NIL)
			return GUARD_NIL;
		n = realloc(g->nodes, cap * sizeof(*n));
		if (!n)
			return GUARD_NIL;
		for (j = g->nodes_cap; j < cap; j++)
			n[j].next[0] = j + 1 < cap ? (uint32_t)(j + 1) : GUARD_NIL;
		g->free_head = (uint32_t)g->nodes_cap;
		g->nodes = n;
		g->nodes_cap = cap;
	}
	i = g->free_head;
	if (u64map_put(&g->index, page, i) < 0)
		return GUARD_NIL;
	g->free_head = g->nodes[i].next[0];
	g->nodes[i].page = page;
	g->nodes[i].in = 0;
	return i;
}

static void node_free(struct guard *g, uint32_t i)
{
	u64map_del(&g->index, g->nodes[i].page);
	g->nodes[i].next[0] = g->free_head;
	g->free_head = i;
}

static void drop_push(struct guard *g, unsigned k, uint32_t i)
{
	struct guard_node *n = &g->nodes[i];

	g->drop_len[k]++;
	n->next[k] = GUARD_NIL;
	n->prev[k] = g->drop[k].tail;
	if (g->drop[k].tail != GUARD_NIL)
		g->nodes[g->drop[k].tail].next[k] = i;
	else
		g->drop[k].head = i;
	g->drop[k].tail = i;
}

static void drop_unlink(struct guard *g, unsigned k, uint32_t i)
{
	struct guard_node *n = &g->nodes[i];

	g->drop_len[k]--;
	if (n->prev[k] != GUARD_NIL)
		g->nodes[n->prev[k]].next[k] = n->next[k];
	else
		g->drop[k].head = n->next[k];
	if (n->next[k] != GUARD_NIL)
		g->nodes[n->next[k]].prev[k] = n->prev[k];
	else
		g->drop[k].tail = n->prev[k];
}

/* Expert @k no longer holds node @i's page. */
static void expert_lost(struct guard *g, unsigned k, uint32_t i)
{
	g->nodes[i].in &= (uint8_t)~(1u << k);
	if (g->nodes[i].in & GUARD_REAL)
		drop_push(g, k, i);
	else if (!g->nodes[i].in)
		node_free(g, i);
}

/* Expert @k evicts its next victim; false if it holds nothing. */
static bool expert_evict(struct guard *g, unsigned k, uint64_t *page)
{
	uint32_t i;

	if (swap_policy_evict(g->ex[k], page) < 0)
		return false;
	g->ex_size[k]--;
	i = node_find(g, *page);
	if (i != GUARD_NIL)
		expert_lost(g, k, i);
	return true;
}

/* Re-arm requests of the experts: passed on for pages the real cache holds. */
static void guard_rearm(void *ctx, uint64_t page)
{
	struct guard *g = ctx;
	uint32_t i = node_find(g, page);

	if (i != GUARD_NIL && (g->nodes[i].in & GUARD_REAL) && g->base.env.rearm)
		g->base.env.rearm(g->base.env.ctx, page);
}

static void count_access(struct guard *g, const bool missed[GUARD_EXPERTS])
{
	unsigned k, other = 1 - g->lead;
	double lead_by, hurdle;

	g->weight *= g->grow;
	if (g->weight > GUARD_RESCALE) {
		for (k = 0; k < GUARD_EXPERTS; k++)
			g->misses[k] /= g->weight;
		g->disagree /= g->weight * g->weight;
		g->weight = 1.0;
	}
	for (k = 0; k < GUARD_EXPERTS; k++)
		if (missed[k])
			g->misses[k] += g->weight;
	if (missed[0] != missed[1])
		g->disagree += g->weight * g->weight;
	/* In units of the latest access's weight. */
	lead_by = (g->misses[g->lead] - g->misses[other]) / g->weight;
	hurdle = GUARD_Z * sqrt(g->disagree) / g->weight;
	if (g->lead == GUARD_MODEL)
		hurdle += (double)g->drop_len[GUARD_LRU];
	if (lead_by > hurdle) {
		g->lead = other;
		g->stats.switches++;
	}
}

/* An access to @page (a demand one unless flagged a prefetch); @insert:
 * the real cache takes it in. */
static void guard_access(struct guard *g, uint64_t page, unsigned flags, bool insert)
{
	bool demand = !(flags & SWAP_ACCESS_PREFETCH);
	bool missed[GUARD_EXPERTS] = { false, false };
	uint32_t i = node_find(g, page);
	bool was_real;
	unsigned k;
	uint64_t v;

	if (i == GUARD_NIL) {
		i = node_new(g, page);
		if (i == GUARD_NIL) {
			/* Out of memory: the page goes untracked here; the
			 * experts cannot take it either (they could not be
			 * told apart from the real cache any more). */
			return;
		}
	}
	was_real = g->nodes[i].in & GUARD_REAL;
	if (insert && !was_real) {
		g->nodes[i].in |= GUARD_REAL;
		g->real++;
	}
	for (k = 0; k < GUARD_EXPERTS; k++) {
		if (g->nodes[i].in & (1u << k)) {
			swap_policy_touch(g->ex[k], page, flags);
			continue;
		}
		missed[k] = demand;
		/* An expert holds as many pages as the real cache. */
		while (g->ex_size[k] >= g->real && expert_evict(g, k, &v))
			;
		swap_policy_insert(g->ex[k], page, flags);
		g->ex_size[k]++;
		if (was_real)
			drop_unlink(g, k, i);
		g->nodes[i].in |= (uint8_t)(1u << k);
	}
	if (demand)
		count_access(g, missed);
}

static int guard_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct guard *g = calloc(1, sizeof(*g));
	double horizon;
	unsigned k;
	int ret;

	if (!g)
		return -ENOMEM;
	g->base.ops = &swap_policy_learned_ops;
	if (env)
		g->base.env = *env;
	g->free_head = GUARD_NIL;
	g->weight = 1.0;
	g->lead = GUARD_LRU;
	horizon = GUARD_HORIZON * (double)g->base.env.capacity;
	if (horizon < GUARD_HORIZON_MIN)
		horizon = GUARD_HORIZON_MIN;
	g->grow = 1.0 / (1.0 - 1.0 / horizon);
	ret = u64map_init(&g->index, g->base.env.capacity * 2);
	if (ret < 0) {
		free(g);
		return ret;
	}
	for (k = 0; k < GUARD_EXPERTS; k++) {
		struct swap_policy_env ee = g->base.env;

		ee.rearm = guard_rearm;
		ee.ctx = g;
		if (k != GUARD_MODEL)
			ee.model = NULL;
		g->drop[k].head = g->drop[k].tail = GUARD_NIL;
		ret = swap_policy_create(guard_expert_names[k], &ee, &g->ex[k]);
		if (ret < 0) {
			while (k--)
				swap_policy_destroy(g->ex[k]);
			u64map_fini(&g->index);
			free(g);
			return ret;
		}
	}
	*out = &g->base;
	return 0;
}

static void guard_destroy(struct swap_policy *p)
{
	struct guard *g = to_g(p);
	unsigned k;

	for (k = 0; k < GUARD_EXPERTS; k++)
		swap_policy_destroy(g->ex[k]);
	u64map_fini(&g->index);
	free(g->nodes);
	free(g);
}

static void guard_insert(struct swap_policy *p, uint64_t page, unsigned flags)
{
	guard_access(to_g(p), page, flags, true);
}

static void guard_touch(struct swap_policy *p, uint64_t page, unsigned flags)
{
	struct guard *g = to_g(p);
	uint32_t i = node_find(g, page);

	if (i != GUARD_NIL && (g->nodes[i].in & GUARD_REAL))
		guard_access(g, page, flags, false);
}

/* The real cache lets node @i's page go; the experts keep what they hold. */
static void real_drop(struct guard *g, uint32_t i)
{
	unsigned k;

	for (k = 0; k < GUARD_EXPERTS; k++)
		if (!(g->nodes[i].in & (1u << k)))
			drop_unlink(g, k, i);
	g->nodes[i].in &= (uint8_t)~GUARD_REAL;
	g->real--;
	if (!g->nodes[i].in)
		node_free(g, i);
}

/* The page is gone (discarded): from the real cache and the experts. */
static void guard_remove(struct swap_policy *p, uint64_t page)
{
	struct guard *g = to_g(p);
	uint32_t i = node_find(g, page);
	uint8_t held;
	unsigned k;

	if (i == GUARD_NIL)
		return;
	held = g->nodes[i].in & (uint8_t)~GUARD_REAL;
	/* The real cache first: then no expert's loss puts it on a drop
	 * list, and the last one frees the node. */
	if (g->nodes[i].in & GUARD_REAL)
		real_drop(g, i);
	for (k = 0; k < GUARD_EXPERTS; k++) {
		if (!(held & (1u << k)))
			continue;
		swap_policy_remove(g->ex[k], page);
		g->ex_size[k]--;
		expert_lost(g, k, i);
	}
}

static int guard_evict(struct swap_policy *p, uint64_t *page)
{
	struct guard *g = to_g(p);
	unsigned k = g->lead;
	uint32_t i = g->drop[k].head;
	uint64_t v;

	if (!g->real)
		return -ENOENT;
	/* With the leader's drop list empty, every real page is one the
	 * leader holds: its next victim is one of them, unless it holds more
	 * than the real cache (a page it took that the real cache could not
	 * track); those go first. An expert that runs empty has every real
	 * page in its drop list. */
	while (i == GUARD_NIL && expert_evict(g, k, &v)) {
		i = node_find(g, v);
		if (i != GUARD_NIL && !(g->nodes[i].in & GUARD_REAL))
			i = GUARD_NIL;
	}
	if (i == GUARD_NIL)
		i = g->drop[k].head;
	if (i == GUARD_NIL)
		return -ENOENT;         /* not reached: see above */
	if (k == GUARD_MODEL)
		g->stats.model_evictions++;
	*page = g->nodes[i].page;
	real_drop(g, i);
	return 0;
}

static size_t guard_count(struct swap_policy *p)
{
	return to_g(p)->real;
}

int swap_policy_learned_guard_stats(struct swap_policy *p, struct guard_stats *out)
{
	struct guard *g;

	if (!p || p->ops != &swap_policy_learned_ops)
		return -EINVAL;
	g = to_g(p);
	*out = g->stats;
	out->follows_model = g->lead == GUARD_MODEL;
	out->model_misses = g->misses[GUARD_MODEL] / g->weight;
	out->lru_misses = g->misses[GUARD_LRU] / g->weight;
	return 0;
}

struct swap_policy *swap_policy_learned_guard_model(struct swap_policy *p)
{
	if (!p || p->ops != &swap_policy_learned_ops)
		return NULL;
	return to_g(p)->ex[GUARD_MODEL];
}

static struct json_object *guard_stats_json(struct swap_policy *p)
{
	struct json_object *o = json_object_new_object();
	struct guard_stats st;

	if (!o || swap_policy_learned_guard_stats(p, &st) < 0) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(o, "follows", json_object_new_string(st.follows_model ?
								   "learned-core" : "lru"));
	json_object_object_add(o, "switches", json_object_new_uint64(st.switches));
	json_object_object_add(o, "model_evictions", json_object_new_uint64(st.model_evictions));
	json_object_object_add(o, "recent_misses_model", json_object_new_double(st.model_misses));
	json_object_object_add(o, "recent_misses_lru", json_object_new_double(st.lru_misses));
	return o;
}

const struct swap_policy_ops swap_policy_learned_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "learned",
	.help = "the learned model guarded by LRU: LRU until the model, run beside it, "
		"proves it misses less",
	.create = guard_create,
	.destroy = guard_destroy,
	.insert = guard_insert,
	.touch = guard_touch,
	.remove = guard_remove,
	.evict = guard_evict,
	.count = guard_count,
	.stats_json = guard_stats_json,
};
