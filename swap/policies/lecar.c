/* swap/policies/lecar.c — LeCaR: learning cache replacement (Vietri et al.,
 * HotStorage 2018).
 *
 * Concepts: two experts advise on every eviction, LRU (the least recently
 * used page) and LFU (the least frequently used, the older use breaking
 * ties). LeCaR follows LRU with probability w_lru and LFU otherwise, and
 * learns the weights from its regrets:
 *  - the victim's name goes to the history of the expert that chose it,
 *    H_lru or H_lfu (FIFO ghost lists, N/2 names each for a cache of N, so
 *    all ghosts together are as many as the cache holds pages);
 *  - a miss on a page named in H_lru means following LRU was a mistake: the
 *    other expert is rewarded, w_lfu *= exp(lambda * d^t), where t is the
 *    number of requests since the eviction, and the weights are normalized
 *    to sum to 1 (symmetrically for H_lfu);
 *  - the page returns with the frequency it had when it left, plus one.
 * Parameters as in the paper: w_lru = w_lfu = 0.5 at start, learning rate
 * lambda = 0.45, discount rate d = 0.005^(1/N). The random choice uses a
 * fixed-seed generator, so runs are reproducible.
 *
 * When both experts name the same victim there is no choice to learn from:
 * the page still enters the chosen expert's history, so that it comes back
 * with its frequency, but its return changes no weight. Time counts requests:
 * inserts and touches that are not prefetches. N is the larger of the
 * capacity hint and the pages resident now. Deviation forced by the ops
 * table (eviction before the insertion that needs the room): the weights
 * learn from a history hit one eviction later than in the paper.
 *
 * Costs: LRU order is a queue, LFU order a binary min-heap of resident
 * pages: touch, insert, remove and evict are O(log n). Like LRU (lru.c),
 * LeCaR re-arms the page that becomes the oldest after an eviction so that
 * the pager sees it being used. A prefetched page enters with frequency 0;
 * a touch flagged as prefetch is not a use.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_nodes.h"

/* Declared here until policy.h lists it with the others. */
extern const struct swap_policy_ops swap_policy_lecar_ops;

enum lecar_queue {
	LECAR_CACHE,            /* resident, oldest use first */
	LECAR_HIST_LRU,         /* ghosts LRU chose */
	LECAR_HIST_LFU,         /* ghosts LFU chose */
	LECAR_QUEUES
};

enum lecar_expert { LECAR_LRU, LECAR_LFU };

#define LECAR_ARMED          1          /* .state, resident: re-arm requested */
#define LECAR_AGREED         2          /* .state, ghost: both experts chose it */
#define LECAR_LEARNING_RATE  0.45
#define LECAR_DISCOUNT_BASE  0.005      /* d = base^(1/N) */
#define LECAR_SEED           0x1eca7c0ffee5eedULL

/* Per node, beside the shared node array (same index). */
struct lecar_meta {
	uint64_t time;          /* resident: last use; ghost: when evicted */
	uint32_t freq;          /* uses while resident (saturating) */
	uint32_t heap_pos;      /* resident: position in the LFU heap */
};

struct lecar_policy {
	struct swap_policy base;
	struct policy_pool pool;        /* resident and ghost nodes alike */
	struct policy_queue queues[LECAR_QUEUES];
	struct lecar_meta *meta;        /* meta_cap entries */
	size_t meta_cap;
	uint32_t *heap;                 /* resident node indices, LFU first */
	size_t heap_cap;
	size_t heap_count;              /* = resident pages */
	uint64_t now;                   /* requests seen */
	uint64_t rng;                   /* xorshift64* state */
	double w_lru;                   /* w_lfu = 1 - w_lru */
};

static struct lecar_policy *to_lecar(struct swap_policy *policy)
{
	return (struct lecar_policy *)policy;
}

static size_t lecar_size(const struct lecar_policy *l)
{
	size_t n = l->queues[LECAR_CACHE].count;

	if (l->base.env.capacity > n)
		n = l->base.env.capacity;
	return n ? n : 1;
}

static double lecar_random(struct lecar_policy *l)
{
	uint64_t x = l->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	l->rng = x;
	return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) * 0x1.0p-53;
}

/* ---- LFU heap ---------------------------------------------------------- */

static bool lecar_less(const struct lecar_policy *l, uint32_t a, uint32_t b)
{
	const struct lecar_meta *ma = &l->meta[a], *mb = &l->meta[b];

	return ma->freq < mb->freq || (ma->freq == mb->freq && ma->time < mb->time);
}

static void lecar_heap_set(struct lecar_policy *l, size_t pos, uint32_t idx)
{
	l->heap[pos] = idx;
	l->meta[idx].heap_pos = (uint32_t)pos;
}

static void lecar_sift_up(struct lecar_policy *l, size_t pos)
{
	uint32_t idx = l->heap[pos];

	while (pos > 0) {
		size_t parent = (pos - 1) / 2;

		if (!lecar_less(l, idx, l->heap[parent]))
			break;
		lecar_heap_set(l, pos, l->heap[parent]);
		pos = parent;
	}
	lecar_heap_set(l, pos, idx);
}

static void lecar_sift_down(struct lecar_policy *l, size_t pos)
{
	size_t count = l->heap_count;
	uint32_t idx = l->heap[pos];

	for (;;) {
		size_t child = 2 * pos + 1;

		if (child >= count)
			break;
		if (child + 1 < count && lecar_less(l, l->heap[child + 1], l->heap[child]))
			child++;
		if (!lecar_less(l, l->heap[child], idx))
			break;
		lecar_heap_set(l, pos, l->heap[child]);
		pos = child;
	}
	lecar_heap_set(l, pos, idx);
}

/* Take node @idx out of the heap. */
static void lecar_heap_delete(struct lecar_policy *l, uint32_t idx)
{
	size_t pos = l->meta[idx].heap_pos;
	uint32_t moved = l->heap[--l->heap_count];

	if (pos == l->heap_count)
		return;
	lecar_heap_set(l, pos, moved);
	if (pos > 0 && lecar_less(l, moved, l->heap[(pos - 1) / 2]))
		lecar_sift_up(l, pos);
	else
		lecar_sift_down(l, pos);
}

static void lecar_heap_push(struct lecar_policy *l, uint32_t idx)
{
	size_t pos = l->heap_count++;

	lecar_heap_set(l, pos, idx);
	lecar_sift_up(l, pos);
}

/* ---- nodes ------------------------------------------------------------- */

/* The side array follows the node array's growth. Return 0 or -ENOMEM. */
static int lecar_reserve(struct lecar_policy *l)
{
	size_t cap = l->pool.capacity;
	struct lecar_meta *meta;
	uint32_t *heap;

	if (l->meta_cap < cap) {
		meta = realloc(l->meta, cap * sizeof(*meta));
		if (!meta)
			return -ENOMEM;
		l->meta = meta;
		l->meta_cap = cap;
	}
	if (l->heap_cap < cap) {
		heap = realloc(l->heap, cap * sizeof(*heap));
		if (!heap)
			return -ENOMEM;
		l->heap = heap;
		l->heap_cap = cap;
	}
	return 0;
}

/* Make node @idx (not on any queue) resident. */
static void lecar_admit(struct lecar_policy *l, uint32_t idx, uint32_t freq)
{
	struct lecar_meta *m = &l->meta[idx];

	policy_node_at(&l->pool, idx)->queue = LECAR_CACHE;
	policy_node_at(&l->pool, idx)->state = 0;
	m->freq = freq;
	m->time = l->now;
	policy_queue_push_newest(&l->pool, &l->queues[LECAR_CACHE], idx);
	lecar_heap_push(l, idx);
}

static void lecar_drop_resident(struct lecar_policy *l, uint32_t idx)
{
	lecar_heap_delete(l, idx);
	policy_queue_unlink(&l->pool, &l->queues[LECAR_CACHE], idx);
}

static void lecar_trim_history(struct lecar_policy *l, enum lecar_queue hist)
{
	size_t limit = lecar_size(l) / 2;
	struct policy_queue *q = &l->queues[hist];

	if (!limit)
		limit = 1;
	while (q->count > limit) {
		uint32_t idx = q->oldest;

		policy_queue_unlink(&l->pool, q, idx);
		policy_pool_release(&l->pool, idx);
	}
}

/* A miss on a ghost of @hist: reward the expert that would have kept it. */
static void lecar_regret(struct lecar_policy *l, enum lecar_queue hist, uint64_t evicted_at)
{
	double n = (double)lecar_size(l);
	double t = (double)(l->now - evicted_at);
	double reward = exp(log(LECAR_DISCOUNT_BASE) * t / n);   /* d^t */
	double bonus = exp(LECAR_LEARNING_RATE * reward);
	double w_lru = l->w_lru, w_lfu = 1.0 - l->w_lru;

	if (hist == LECAR_HIST_LRU)
		w_lfu *= bonus;
	else
		w_lru *= bonus;
	l->w_lru = w_lru / (w_lru + w_lfu);
}

/* ---- ops --------------------------------------------------------------- */

static int lecar_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct lecar_policy *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->base.ops = &swap_policy_lecar_ops;
	if (env)
		l->base.env = *env;
	/* Resident pages plus as many ghosts. */
	if (policy_pool_init(&l->pool, l->base.env.capacity <= SIZE_MAX / 2 ?
			     l->base.env.capacity * 2 : l->base.env.capacity) < 0)
		goto err_free;
	if (lecar_reserve(l) < 0)
		goto err_pool;
	for (size_t i = 0; i < LECAR_QUEUES; i++)
		policy_queue_init(&l->queues[i]);
	l->rng = LECAR_SEED;
	l->w_lru = 0.5;
	*out = &l->base;
	return 0;

err_pool:
	free(l->meta);
	free(l->heap);
	policy_pool_fini(&l->pool);
err_free:
	free(l);
	return -ENOMEM;
}

static void lecar_destroy(struct swap_policy *policy)
{
	struct lecar_policy *l = to_lecar(policy);

	policy_pool_fini(&l->pool);
	free(l->meta);
	free(l->heap);
	free(l);
}

static void lecar_touch(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct lecar_policy *l = to_lecar(policy);
	struct policy_node *n;
	struct lecar_meta *m;
	uint32_t idx;

	if (flags & SWAP_ACCESS_PREFETCH)
		return;
	idx = policy_pool_find(&l->pool, page);
	if (idx == POLICY_NIL)
		return;
	n = policy_node_at(&l->pool, idx);
	if (n->queue != LECAR_CACHE)
		return;
	m = &l->meta[idx];
	n->state = 0;
	m->time = ++l->now;
	if (m->freq < UINT32_MAX)
		m->freq++;
	lecar_sift_down(l, m->heap_pos);
	if (l->queues[LECAR_CACHE].newest != idx) {
		policy_queue_unlink(&l->pool, &l->queues[LECAR_CACHE], idx);
		policy_queue_push_newest(&l->pool, &l->queues[LECAR_CACHE], idx);
	}
}

static void lecar_insert(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct lecar_policy *l = to_lecar(policy);
	bool used = !(flags & SWAP_ACCESS_PREFETCH);
	uint32_t idx = policy_pool_find(&l->pool, page);
	uint32_t freq = used ? 1 : 0;

	if (idx != POLICY_NIL) {
		struct policy_node *n = policy_node_at(&l->pool, idx);
		struct lecar_meta *m = &l->meta[idx];

		if (n->queue == LECAR_CACHE) {
			lecar_touch(policy, page, flags);
			return;
		}
		/* Back from a history: someone was wrong to evict it. */
		policy_queue_unlink(&l->pool, &l->queues[n->queue], idx);
		if (used) {
			l->now++;
			if (!(n->state & LECAR_AGREED))
				lecar_regret(l, (enum lecar_queue)n->queue, m->time);
			freq = m->freq < UINT32_MAX ? m->freq + 1 : m->freq;
		} else {
			freq = m->freq;
		}
		lecar_admit(l, idx, freq);
		return;
	}
	idx = policy_pool_add(&l->pool, page);
	if (idx == POLICY_NIL)
		return;         /* out of memory: the page stays untracked */
	if (lecar_reserve(l) < 0) {
		policy_pool_release(&l->pool, idx);
		return;
	}
	if (used)
		l->now++;
	lecar_admit(l, idx, freq);
}

static void lecar_remove(struct swap_policy *policy, uint64_t page)
{
	struct lecar_policy *l = to_lecar(policy);
	uint32_t idx = policy_pool_find(&l->pool, page);

	/* Ghosts are not resident: a remove for one is a remove of nothing. */
	if (idx == POLICY_NIL || policy_node_at(&l->pool, idx)->queue != LECAR_CACHE)
		return;
	lecar_drop_resident(l, idx);
	policy_pool_release(&l->pool, idx);
}

static int lecar_evict(struct swap_policy *policy, uint64_t *page)
{
	struct lecar_policy *l = to_lecar(policy);
	enum lecar_expert expert;
	enum lecar_queue hist;
	uint32_t lru_victim, lfu_victim, idx;
	struct policy_node *n;

	if (!l->queues[LECAR_CACHE].count)
		return -ENOENT;
	lru_victim = l->queues[LECAR_CACHE].oldest;
	lfu_victim = l->heap[0];
	expert = lecar_random(l) < l->w_lru ? LECAR_LRU : LECAR_LFU;
	idx = expert == LECAR_LRU ? lru_victim : lfu_victim;
	*page = policy_node_at(&l->pool, idx)->page;
	lecar_drop_resident(l, idx);
	hist = expert == LECAR_LRU ? LECAR_HIST_LRU : LECAR_HIST_LFU;
	n = policy_node_at(&l->pool, idx);
	n->queue = (uint8_t)hist;
	n->state = lru_victim == lfu_victim ? LECAR_AGREED : 0;
	l->meta[idx].time = l->now;
	policy_queue_push_newest(&l->pool, &l->queues[hist], idx);
	lecar_trim_history(l, hist);
	/* The next LRU victim gets one chance to prove it is still in use. */
	idx = l->queues[LECAR_CACHE].oldest;
	if (idx != POLICY_NIL) {
		n = policy_node_at(&l->pool, idx);
		if (!(n->state & LECAR_ARMED)) {
			n->state |= LECAR_ARMED;
			policy_rearm(&l->base.env, n->page);
		}
	}
	return 0;
}

static size_t lecar_count(struct swap_policy *policy)
{
	return to_lecar(policy)->queues[LECAR_CACHE].count;
}

const struct swap_policy_ops swap_policy_lecar_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "lecar",
	.help = "LeCaR: LRU and LFU experts weighted by regret (learned online)",
	.create = lecar_create,
	.destroy = lecar_destroy,
	.insert = lecar_insert,
	.touch = lecar_touch,
	.remove = lecar_remove,
	.evict = lecar_evict,
	.count = lecar_count,
};
