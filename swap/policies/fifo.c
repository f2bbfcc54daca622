/* swap/policies/fifo.c — first in, first out: the naive baseline.
 *
 * Evicts pages in the order they became resident and ignores every access.
 * It exists to measure what the other policies buy.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy.h"
#include "policy_nodes.h"

struct fifo_policy {
	struct swap_policy base;
	struct policy_pool pool;
	struct policy_queue queue;
};

static struct fifo_policy *to_fifo(struct swap_policy *policy)
{
	return (struct fifo_policy *)policy;
}

static int fifo_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct fifo_policy *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->base.ops = &swap_policy_fifo_ops;
	if (env)
		f->base.env = *env;
	if (policy_pool_init(&f->pool, f->base.env.capacity) < 0) {
		free(f);
		return -ENOMEM;
	}
	policy_queue_init(&f->queue);
	*out = &f->base;
	return 0;
}

static void fifo_destroy(struct swap_policy *policy)
{
	struct fifo_policy *f = to_fifo(policy);

	policy_pool_fini(&f->pool);
	free(f);
}

static void fifo_insert(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct fifo_policy *f = to_fifo(policy);
	uint32_t idx;

	(void)flags;
	if (policy_pool_find(&f->pool, page) != POLICY_NIL)
		return;         /* a touch, which FIFO ignores */
	idx = policy_pool_add(&f->pool, page);
	if (idx == POLICY_NIL)
		return;         /* out of memory: the page stays untracked */
	policy_queue_push_newest(&f->pool, &f->queue, idx);
}

static void fifo_touch(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	(void)policy;
	(void)page;
	(void)flags;
}

static void fifo_remove(struct swap_policy *policy, uint64_t page)
{
	struct fifo_policy *f = to_fifo(policy);
	uint32_t idx = policy_pool_find(&f->pool, page);

	if (idx == POLICY_NIL)
		return;
	policy_queue_unlink(&f->pool, &f->queue, idx);
	policy_pool_release(&f->pool, idx);
}

static int fifo_evict(struct swap_policy *policy, uint64_t *page)
{
	struct fifo_policy *f = to_fifo(policy);
	uint32_t idx = f->queue.oldest;

	if (idx == POLICY_NIL)
		return -ENOENT;
	*page = policy_node_at(&f->pool, idx)->page;
	policy_queue_unlink(&f->pool, &f->queue, idx);
	policy_pool_release(&f->pool, idx);
	return 0;
}

static size_t fifo_count(struct swap_policy *policy)
{
	return to_fifo(policy)->queue.count;
}

const struct swap_policy_ops swap_policy_fifo_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "fifo",
	.help = "first in, first out; ignores accesses (baseline)",
	.create = fifo_create,
	.destroy = fifo_destroy,
	.insert = fifo_insert,
	.touch = fifo_touch,
	.remove = fifo_remove,
	.evict = fifo_evict,
	.count = fifo_count,
};
