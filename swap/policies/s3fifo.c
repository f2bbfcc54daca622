/* swap/policies/s3fifo.c — S3-FIFO: three static FIFO queues.
 *
 * Concepts: a small queue S (probation), a main queue M and a ghost queue G
 * of page numbers recently evicted from S (no data, just names).
 *  - A new page enters S with frequency 0. A page found in G was evicted too
 *    early: it leaves G and enters M directly.
 *  - An observed access raises the page's 2-bit frequency (saturating at 3).
 *  - evict() takes from S while S holds at least a tenth of the resident
 *    pages (or M is empty), otherwise from M.
 *  - From S: the oldest page, if it was accessed, moves to M with its
 *    frequency cleared (and re-armed); otherwise it is the victim and its
 *    number goes to G. G keeps about as many names as M may hold.
 *  - From M: the oldest page, if its frequency is non-zero, is decremented,
 *    re-armed and re-queued at the newest end; otherwise it is the victim.
 * One-time pages (a scan) pass through S without disturbing M. Every
 * promotion or re-queue is paid for by an earlier access, so evict() is O(1)
 * amortized.
 *
 * Deviation from the paper: a single observed access promotes from S (the
 * paper asks for two), since the pager samples accesses sparsely.
 * A prefetched page (SWAP_ACCESS_PREFETCH) always enters S with frequency 0,
 * even if its number is in G: speculation is no proof of reuse.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy.h"
#include "policy_nodes.h"

enum s3fifo_queue {
	S3FIFO_SMALL,
	S3FIFO_MAIN,
	S3FIFO_GHOST,
	S3FIFO_QUEUES
};

#define S3FIFO_FREQ_MAX 3

struct s3fifo_policy {
	struct swap_policy base;
	struct policy_pool pool;        /* resident and ghost nodes alike */
	struct policy_queue queues[S3FIFO_QUEUES];
};

static struct s3fifo_policy *to_s3fifo(struct swap_policy *policy)
{
	return (struct s3fifo_policy *)policy;
}

static size_t s3fifo_resident(const struct s3fifo_policy *s)
{
	return s->queues[S3FIFO_SMALL].count + s->queues[S3FIFO_MAIN].count;
}

/* Ghost entries kept: as many as M may hold, i.e. 90 % of the larger of the
 * capacity hint and what is resident now. */
static size_t s3fifo_ghost_limit(const struct s3fifo_policy *s)
{
	size_t base = s3fifo_resident(s);

	if (s->base.env.capacity > base)
		base = s->base.env.capacity;
	base -= base / 10;
	return base ? base : 1;
}

static void s3fifo_move(struct s3fifo_policy *s, uint32_t idx, enum s3fifo_queue to)
{
	struct policy_node *n = policy_node_at(&s->pool, idx);

	policy_queue_unlink(&s->pool, &s->queues[n->queue], idx);
	n->queue = (uint8_t)to;
	policy_queue_push_newest(&s->pool, &s->queues[to], idx);
}

static void s3fifo_drop(struct s3fifo_policy *s, uint32_t idx)
{
	struct policy_node *n = policy_node_at(&s->pool, idx);

	policy_queue_unlink(&s->pool, &s->queues[n->queue], idx);
	policy_pool_release(&s->pool, idx);
}

static int s3fifo_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct s3fifo_policy *s = calloc(1, sizeof(*s));
	size_t hint;

	if (!s)
		return -ENOMEM;
	s->base.ops = &swap_policy_s3fifo_ops;
	if (env)
		s->base.env = *env;
	/* Room for resident pages plus about as many ghosts. */
	hint = s->base.env.capacity;
	if (hint <= SIZE_MAX / 2)
		hint *= 2;
	if (policy_pool_init(&s->pool, hint) < 0) {
		free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < S3FIFO_QUEUES; i++)
		policy_queue_init(&s->queues[i]);
	*out = &s->base;
	return 0;
}

static void s3fifo_destroy(struct swap_policy *policy)
{
	struct s3fifo_policy *s = to_s3fifo(policy);

	policy_pool_fini(&s->pool);
	free(s);
}

static void s3fifo_touch(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct s3fifo_policy *s = to_s3fifo(policy);
	struct policy_node *n;
	uint32_t idx;

	if (flags & SWAP_ACCESS_PREFETCH)
		return;
	idx = policy_pool_find(&s->pool, page);
	if (idx == POLICY_NIL)
		return;
	n = policy_node_at(&s->pool, idx);
	if (n->queue != S3FIFO_GHOST && n->state < S3FIFO_FREQ_MAX)
		n->state++;
}

/* Forget the oldest ghosts until G is within its limit. */
static void s3fifo_trim_ghosts(struct s3fifo_policy *s)
{
	size_t limit = s3fifo_ghost_limit(s);

	while (s->queues[S3FIFO_GHOST].count > limit)
		s3fifo_drop(s, s->queues[S3FIFO_GHOST].oldest);
}

static void s3fifo_insert(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct s3fifo_policy *s = to_s3fifo(policy);
	enum s3fifo_queue to = S3FIFO_SMALL;
	uint32_t idx = policy_pool_find(&s->pool, page);

	if (idx != POLICY_NIL) {
		struct policy_node *n = policy_node_at(&s->pool, idx);

		if (n->queue != S3FIFO_GHOST) {
			s3fifo_touch(policy, page, flags);
			return;
		}
		/* Back soon after eviction: it belonged in M all along. */
		if (!(flags & SWAP_ACCESS_PREFETCH))
			to = S3FIFO_MAIN;
		n->state = 0;
		s3fifo_move(s, idx, to);
		return;
	}
	idx = policy_pool_add(&s->pool, page);
	if (idx == POLICY_NIL)
		return;         /* out of memory: the page stays untracked */
	policy_node_at(&s->pool, idx)->queue = S3FIFO_SMALL;
	policy_queue_push_newest(&s->pool, &s->queues[S3FIFO_SMALL], idx);
}

static void s3fifo_remove(struct swap_policy *policy, uint64_t page)
{
	struct s3fifo_policy *s = to_s3fifo(policy);
	uint32_t idx = policy_pool_find(&s->pool, page);

	/* Ghosts are not resident: a remove for one is a remove of nothing. */
	if (idx == POLICY_NIL || policy_node_at(&s->pool, idx)->queue == S3FIFO_GHOST)
		return;
	s3fifo_drop(s, idx);
}

/* The oldest page of S leaves: to M if it was accessed, else out (to G).
 * Return: the victim's node, or POLICY_NIL if S emptied without one. */
static uint32_t s3fifo_evict_small(struct s3fifo_policy *s)
{
	struct policy_queue *small = &s->queues[S3FIFO_SMALL];

	while (small->count) {
		uint32_t idx = small->oldest;
		struct policy_node *n = policy_node_at(&s->pool, idx);

		if (!n->state)
			return idx;
		n->state = 0;
		policy_rearm(&s->base.env, n->page);
		s3fifo_move(s, idx, S3FIFO_MAIN);
	}
	return POLICY_NIL;
}

/* The oldest page of M with frequency 0 leaves; others are decremented. */
static uint32_t s3fifo_evict_main(struct s3fifo_policy *s)
{
	struct policy_queue *main_q = &s->queues[S3FIFO_MAIN];

	while (main_q->count) {
		uint32_t idx = main_q->oldest;
		struct policy_node *n = policy_node_at(&s->pool, idx);

		if (!n->state)
			return idx;
		n->state--;
		policy_rearm(&s->base.env, n->page);
		s3fifo_move(s, idx, S3FIFO_MAIN);
	}
	return POLICY_NIL;
}

static int s3fifo_evict(struct swap_policy *policy, uint64_t *page)
{
	struct s3fifo_policy *s = to_s3fifo(policy);
	size_t resident = s3fifo_resident(s);
	uint32_t idx = POLICY_NIL;
	struct policy_node *n;

	if (!resident)
		return -ENOENT;
	if (s->queues[S3FIFO_SMALL].count * 10 >= resident ||
	    !s->queues[S3FIFO_MAIN].count)
		idx = s3fifo_evict_small(s);
	if (idx == POLICY_NIL)
		idx = s3fifo_evict_main(s);
	/* S and M cannot both be empty when something is resident. */
	if (idx == POLICY_NIL)
		return -ENOENT;
	n = policy_node_at(&s->pool, idx);
	*page = n->page;
	if (n->queue == S3FIFO_SMALL) {
		n->state = 0;
		s3fifo_move(s, idx, S3FIFO_GHOST);
		s3fifo_trim_ghosts(s);
	} else {
		s3fifo_drop(s, idx);
	}
	return 0;
}

static size_t s3fifo_count(struct swap_policy *policy)
{
	return s3fifo_resident(to_s3fifo(policy));
}

const struct swap_policy_ops swap_policy_s3fifo_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "s3fifo",
	.help = "S3-FIFO: small probation FIFO, main FIFO, ghost FIFO; scan resistant",
	.create = s3fifo_create,
	.destroy = s3fifo_destroy,
	.insert = s3fifo_insert,
	.touch = s3fifo_touch,
	.remove = s3fifo_remove,
	.evict = s3fifo_evict,
	.count = s3fifo_count,
};
