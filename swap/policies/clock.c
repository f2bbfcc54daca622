/* swap/policies/clock.c — CLOCK: FIFO with a second chance.
 *
 * Pages sit on a ring with a reference bit; a hand sweeps the ring. At a
 * page whose bit is set the hand clears it, asks the pager to re-arm access
 * detection (env->rearm) and moves on; the first page found with a clear bit
 * is the victim. New pages join the ring just behind the hand, so they get a
 * full sweep before the hand reaches them.
 *
 * A demand fault is an access, so an inserted page starts referenced; a
 * prefetched page (SWAP_ACCESS_PREFETCH) starts unreferenced and is the
 * first to go if nobody touches it. Each bit the hand clears was set by one
 * insert or touch, so evict() is O(1) amortized.
 *
 * The ring is a queue from oldest to newest that the hand walks toward the
 * newest end and then wraps; POLICY_NIL as hand means "at the oldest".
 */
#include <errno.h>
#include <stdlib.h>

#include "policy.h"
#include "policy_nodes.h"

struct clock_policy {
	struct swap_policy base;
	struct policy_pool pool;
	struct policy_queue ring;
	uint32_t hand;          /* next node to examine; POLICY_NIL: oldest */
};

static struct clock_policy *to_clock(struct swap_policy *policy)
{
	return (struct clock_policy *)policy;
}

static int clock_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct clock_policy *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->base.ops = &swap_policy_clock_ops;
	if (env)
		c->base.env = *env;
	if (policy_pool_init(&c->pool, c->base.env.capacity) < 0) {
		free(c);
		return -ENOMEM;
	}
	policy_queue_init(&c->ring);
	c->hand = POLICY_NIL;
	*out = &c->base;
	return 0;
}

static void clock_destroy(struct swap_policy *policy)
{
	struct clock_policy *c = to_clock(policy);

	policy_pool_fini(&c->pool);
	free(c);
}

static void clock_touch(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct clock_policy *c = to_clock(policy);
	uint32_t idx;

	if (flags & SWAP_ACCESS_PREFETCH)
		return;         /* speculative, not a use */
	idx = policy_pool_find(&c->pool, page);
	if (idx != POLICY_NIL)
		policy_node_at(&c->pool, idx)->state = 1;
}

static void clock_insert(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct clock_policy *c = to_clock(policy);
	uint32_t idx;

	if (policy_pool_find(&c->pool, page) != POLICY_NIL) {
		clock_touch(policy, page, flags);
		return;
	}
	idx = policy_pool_add(&c->pool, page);
	if (idx == POLICY_NIL)
		return;         /* out of memory: the page stays untracked */
	policy_node_at(&c->pool, idx)->state = (flags & SWAP_ACCESS_PREFETCH) ? 0 : 1;
	/* Just behind the hand; behind "the oldest" is after the newest. */
	if (c->hand == POLICY_NIL)
		policy_queue_push_newest(&c->pool, &c->ring, idx);
	else
		policy_queue_insert_before(&c->pool, &c->ring, c->hand, idx);
}

static void clock_remove(struct swap_policy *policy, uint64_t page)
{
	struct clock_policy *c = to_clock(policy);
	uint32_t idx = policy_pool_find(&c->pool, page);

	if (idx == POLICY_NIL)
		return;
	if (c->hand == idx)
		c->hand = policy_node_at(&c->pool, idx)->newer;
	policy_queue_unlink(&c->pool, &c->ring, idx);
	policy_pool_release(&c->pool, idx);
}

static int clock_evict(struct swap_policy *policy, uint64_t *page)
{
	struct clock_policy *c = to_clock(policy);
	uint32_t idx;

	if (c->ring.count == 0)
		return -ENOENT;
	idx = c->hand != POLICY_NIL ? c->hand : c->ring.oldest;
	for (;;) {
		struct policy_node *n = policy_node_at(&c->pool, idx);

		if (!n->state)
			break;
		n->state = 0;
		policy_rearm(&c->base.env, n->page);
		idx = n->newer != POLICY_NIL ? n->newer : c->ring.oldest;
	}
	*page = policy_node_at(&c->pool, idx)->page;
	c->hand = policy_node_at(&c->pool, idx)->newer;
	policy_queue_unlink(&c->pool, &c->ring, idx);
	policy_pool_release(&c->pool, idx);
	return 0;
}

static size_t clock_count(struct swap_policy *policy)
{
	return to_clock(policy)->ring.count;
}

const struct swap_policy_ops swap_policy_clock_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "clock",
	.help = "CLOCK: second chance for pages referenced since the hand passed",
	.create = clock_create,
	.destroy = clock_destroy,
	.insert = clock_insert,
	.touch = clock_touch,
	.remove = clock_remove,
	.evict = clock_evict,
	.count = clock_count,
};
