/* swap/policies/lru.c — LRU: evict the page whose last use is oldest.
 *
 * One queue ordered by last observed use: insert and touch move a page to
 * the newest end, evict() takes the oldest. Every operation is O(1).
 *
 * Exact LRU needs every access; the pager only sees faults and the writes
 * it arms detection for. So after each eviction LRU re-arms the page that
 * became the oldest (once: .state remembers it), which is the page it will
 * give up on next: a write to it before then counts as a use and saves it.
 * In the simulator every access is a touch and re-arming does nothing.
 *
 * A prefetched page (SWAP_ACCESS_PREFETCH) enters at the newest end like a
 * demand fault, so it survives one pass of the queue, as under CLOCK; a
 * touch flagged as prefetch is not a use.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy.h"
#include "policy_nodes.h"

/* Declared here until policy.h lists it with the others. */
extern const struct swap_policy_ops swap_policy_lru_ops;

#define LRU_ARMED 1     /* .state: re-arm already requested for this page */

struct lru_policy {
	struct swap_policy base;
	struct policy_pool pool;
	struct policy_queue queue;      /* oldest = least recently used */
};

static struct lru_policy *to_lru(struct swap_policy *policy)
{
	return (struct lru_policy *)policy;
}

static int lru_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct lru_policy *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->base.ops = &swap_policy_lru_ops;
	if (env)
		l->base.env = *env;
	if (policy_pool_init(&l->pool, l->base.env.capacity) < 0) {
		free(l);
		return -ENOMEM;
	}
	policy_queue_init(&l->queue);
	*out = &l->base;
	return 0;
}

static void lru_destroy(struct swap_policy *policy)
{
	struct lru_policy *l = to_lru(policy);

	policy_pool_fini(&l->pool);
	free(l);
}

static void lru_touch(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct lru_policy *l = to_lru(policy);
	uint32_t idx;

	if (flags & SWAP_ACCESS_PREFETCH)
		return;
	idx = policy_pool_find(&l->pool, page);
	if (idx == POLICY_NIL)
		return;
	policy_node_at(&l->pool, idx)->state = 0;
	if (l->queue.newest == idx)
		return;
	policy_queue_unlink(&l->pool, &l->queue, idx);
	policy_queue_push_newest(&l->pool, &l->queue, idx);
}

static void lru_insert(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct lru_policy *l = to_lru(policy);
	uint32_t idx;

	if (policy_pool_find(&l->pool, page) != POLICY_NIL) {
		lru_touch(policy, page, flags);
		return;
	}
	idx = policy_pool_add(&l->pool, page);
	if (idx == POLICY_NIL)
		return;         /* out of memory: the page stays untracked */
	policy_queue_push_newest(&l->pool, &l->queue, idx);
}

static void lru_remove(struct swap_policy *policy, uint64_t page)
{
	struct lru_policy *l = to_lru(policy);
	uint32_t idx = policy_pool_find(&l->pool, page);

	if (idx == POLICY_NIL)
		return;
	policy_queue_unlink(&l->pool, &l->queue, idx);
	policy_pool_release(&l->pool, idx);
}

static int lru_evict(struct swap_policy *policy, uint64_t *page)
{
	struct lru_policy *l = to_lru(policy);
	uint32_t idx = l->queue.oldest;
	struct policy_node *next;

	if (idx == POLICY_NIL)
		return -ENOENT;
	*page = policy_node_at(&l->pool, idx)->page;
	policy_queue_unlink(&l->pool, &l->queue, idx);
	policy_pool_release(&l->pool, idx);
	/* The next victim gets one chance to prove it is still in use. */
	if (l->queue.oldest != POLICY_NIL) {
		next = policy_node_at(&l->pool, l->queue.oldest);
		if (!(next->state & LRU_ARMED)) {
			next->state |= LRU_ARMED;
			policy_rearm(&l->base.env, next->page);
		}
	}
	return 0;
}

static size_t lru_count(struct swap_policy *policy)
{
	return to_lru(policy)->queue.count;
}

const struct swap_policy_ops swap_policy_lru_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "lru",
	.help = "least recently used: exact recency order, O(1) per operation",
	.create = lru_create,
	.destroy = lru_destroy,
	.insert = lru_insert,
	.touch = lru_touch,
	.remove = lru_remove,
	.evict = lru_evict,
	.count = lru_count,
};
