/* swap/policies/sieve.c — SIEVE: a FIFO queue sifted by a moving hand.
 *
 * New pages enter at the newest end with the visited bit clear; an observed
 * access sets it. The hand starts at the oldest end and walks toward the
 * newest, wrapping around: a visited page keeps its place, loses the bit and
 * is re-armed (env->rearm); the first unvisited page is the victim and the
 * hand stays where it was taken from. Unlike CLOCK, survivors are not moved
 * and newcomers are not placed behind the hand, so pages used once (a scan)
 * leave quickly while a touched working set stays. O(1) amortized: every
 * cleared bit was set by one touch.
 *
 * Because a fault is the only access the pager sees for free, a page that is
 * never touched afterwards looks "used once": the pager should arm access
 * detection on newly resident pages for SIEVE to see reuse.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy.h"
#include "policy_nodes.h"

struct sieve_policy {
	struct swap_policy base;
	struct policy_pool pool;
	struct policy_queue queue;
	uint32_t hand;          /* next node to examine; POLICY_NIL: oldest */
};

static struct sieve_policy *to_sieve(struct swap_policy *policy)
{
	return (struct sieve_policy *)policy;
}

static int sieve_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct sieve_policy *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->base.ops = &swap_policy_sieve_ops;
	if (env)
		s->base.env = *env;
	if (policy_pool_init(&s->pool, s->base.env.capacity) < 0) {
		free(s);
		return -ENOMEM;
	}
	policy_queue_init(&s->queue);
	s->hand = POLICY_NIL;
	*out = &s->base;
	return 0;
}

static void sieve_destroy(struct swap_policy *policy)
{
	struct sieve_policy *s = to_sieve(policy);

	policy_pool_fini(&s->pool);
	free(s);
}

static void sieve_touch(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct sieve_policy *s = to_sieve(policy);
	uint32_t idx;

	if (flags & SWAP_ACCESS_PREFETCH)
		return;
	idx = policy_pool_find(&s->pool, page);
	if (idx != POLICY_NIL)
		policy_node_at(&s->pool, idx)->state = 1;
}

static void sieve_insert(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct sieve_policy *s = to_sieve(policy);
	uint32_t idx;

	if (policy_pool_find(&s->pool, page) != POLICY_NIL) {
		sieve_touch(policy, page, flags);
		return;
	}
	idx = policy_pool_add(&s->pool, page);
	if (idx == POLICY_NIL)
		return;         /* out of memory: the page stays untracked */
	policy_queue_push_newest(&s->pool, &s->queue, idx);
}

static void sieve_remove(struct swap_policy *policy, uint64_t page)
{
	struct sieve_policy *s = to_sieve(policy);
	uint32_t idx = policy_pool_find(&s->pool, page);

	if (idx == POLICY_NIL)
		return;
	if (s->hand == idx)
		s->hand = policy_node_at(&s->pool, idx)->newer;
	policy_queue_unlink(&s->pool, &s->queue, idx);
	policy_pool_release(&s->pool, idx);
}

static int sieve_evict(struct swap_policy *policy, uint64_t *page)
{
	struct sieve_policy *s = to_sieve(policy);
	uint32_t idx;

	if (s->queue.count == 0)
		return -ENOENT;
	idx = s->hand != POLICY_NIL ? s->hand : s->queue.oldest;
	for (;;) {
		struct policy_node *n = policy_node_at(&s->pool, idx);

		if (!n->state)
			break;
		n->state = 0;
		policy_rearm(&s->base.env, n->page);
		idx = n->newer != POLICY_NIL ? n->newer : s->queue.oldest;
	}
	*page = policy_node_at(&s->pool, idx)->page;
	s->hand = policy_node_at(&s->pool, idx)->newer;
	policy_queue_unlink(&s->pool, &s->queue, idx);
	policy_pool_release(&s->pool, idx);
	return 0;
}

static size_t sieve_count(struct swap_policy *policy)
{
	return to_sieve(policy)->queue.count;
}

const struct swap_policy_ops swap_policy_sieve_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "sieve",
	.help = "SIEVE: FIFO with a visited bit and a lazy hand; scan resistant",
	.create = sieve_create,
	.destroy = sieve_destroy,
	.insert = sieve_insert,
	.touch = sieve_touch,
	.remove = sieve_remove,
	.evict = sieve_evict,
	.count = sieve_count,
};
