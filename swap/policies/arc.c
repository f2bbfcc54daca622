/* swap/policies/arc.c — ARC: adaptive replacement cache (Megiddo & Modha,
 * FAST 2003).
 *
 * Concepts: resident pages sit on two LRU lists, T1 (seen once recently) and
 * T2 (seen at least twice); two ghost lists remember the names of pages
 * recently evicted from each, B1 and B2 (no data). A target p for the size
 * of T1 adapts to the workload:
 *  - a hit (touch) moves the page to the newest end of T2;
 *  - a miss on a page named in B1 means T1 was too small: p grows by
 *    max(1, |B2|/|B1|); a miss in B2 shrinks it by max(1, |B1|/|B2|); either
 *    way the page returns to T2;
 *  - any other miss enters T1;
 *  - evict() takes the oldest page of T1 when |T1| > p (or T2 is empty),
 *    otherwise the oldest of T2, and remembers it in B1 or B2.
 * With c the cache size, |T1| + |B1| <= c and |T1|+|T2|+|B1|+|B2| <= 2c:
 * the oldest ghosts are forgotten to keep it so. Every operation is O(1).
 *
 * Deviations forced by the ops table, where eviction comes before the
 * insertion that needs the room: p adapts on the ghost hit after the
 * eviction made room for it, not before; and the paper's tie-break (evict
 * from T1 when |T1| = p and the incoming page is in B2) is not possible, so
 * a tie evicts from T2. c is the larger of the capacity hint and the pages
 * resident now, since the pager may hold more than its hint.
 *
 * Like LRU (see lru.c), ARC re-arms the page that became the oldest of the
 * list it evicted from, so that the pager sees it being used before it goes.
 * A prefetched page enters T1, even if a ghost names it, and moves nothing.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy.h"
#include "policy_nodes.h"

/* Declared here until policy.h lists it with the others. */
extern const struct swap_policy_ops swap_policy_arc_ops;

enum arc_queue {
	ARC_T1,         /* resident, seen once */
	ARC_T2,         /* resident, seen again */
	ARC_B1,         /* ghosts evicted from T1 */
	ARC_B2,         /* ghosts evicted from T2 */
	ARC_QUEUES
};

#define ARC_ARMED 1     /* .state: re-arm already requested for this page */

struct arc_policy {
	struct swap_policy base;
	struct policy_pool pool;        /* resident and ghost nodes alike */
	struct policy_queue queues[ARC_QUEUES];
	double target_t1;               /* p: the size T1 should have */
};

static struct arc_policy *to_arc(struct swap_policy *policy)
{
	return (struct arc_policy *)policy;
}

static size_t arc_resident(const struct arc_policy *a)
{
	return a->queues[ARC_T1].count + a->queues[ARC_T2].count;
}

static size_t arc_ghosts(const struct arc_policy *a)
{
	return a->queues[ARC_B1].count + a->queues[ARC_B2].count;
}

/* c: the cache size the paper's bounds are stated for. */
static size_t arc_size(const struct arc_policy *a)
{
	size_t c = arc_resident(a);

	if (a->base.env.capacity > c)
		c = a->base.env.capacity;
	return c ? c : 1;
}

static bool arc_is_ghost(const struct policy_node *n)
{
	return n->queue == ARC_B1 || n->queue == ARC_B2;
}

static void arc_move(struct arc_policy *a, uint32_t idx, enum arc_queue to)
{
	struct policy_node *n = policy_node_at(&a->pool, idx);

	policy_queue_unlink(&a->pool, &a->queues[n->queue], idx);
	n->queue = (uint8_t)to;
	policy_queue_push_newest(&a->pool, &a->queues[to], idx);
}

static void arc_drop(struct arc_policy *a, uint32_t idx)
{
	struct policy_node *n = policy_node_at(&a->pool, idx);

	policy_queue_unlink(&a->pool, &a->queues[n->queue], idx);
	policy_pool_release(&a->pool, idx);
}

/* Forget the oldest ghosts until the directory is within the paper's bounds. */
static void arc_trim_ghosts(struct arc_policy *a)
{
	size_t c = arc_size(a);
	struct policy_queue *b1 = &a->queues[ARC_B1];
	struct policy_queue *b2 = &a->queues[ARC_B2];

	while (b1->count && a->queues[ARC_T1].count + b1->count > c)
		arc_drop(a, b1->oldest);
	while (arc_ghosts(a) && arc_resident(a) + arc_ghosts(a) > 2 * c)
		arc_drop(a, b2->count ? b2->oldest : b1->oldest);
}

static int arc_create(const struct swap_policy_env *env, struct swap_policy **out)
{
	struct arc_policy *a = calloc(1, sizeof(*a));
	size_t hint;

	if (!a)
		return -ENOMEM;
	a->base.ops = &swap_policy_arc_ops;
	if (env)
		a->base.env = *env;
	/* Room for resident pages plus as many ghosts. */
	hint = a->base.env.capacity;
	if (hint <= SIZE_MAX / 2)
		hint *= 2;
	if (policy_pool_init(&a->pool, hint) < 0) {
		free(a);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ARC_QUEUES; i++)
		policy_queue_init(&a->queues[i]);
	a->target_t1 = 0;
	*out = &a->base;
	return 0;
}

static void arc_destroy(struct swap_policy *policy)
{
	struct arc_policy *a = to_arc(policy);

	policy_pool_fini(&a->pool);
	free(a);
}

static void arc_touch(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct arc_policy *a = to_arc(policy);
	struct policy_node *n;
	uint32_t idx;

	if (flags & SWAP_ACCESS_PREFETCH)
		return;
	idx = policy_pool_find(&a->pool, page);
	if (idx == POLICY_NIL)
		return;
	n = policy_node_at(&a->pool, idx);
	if (arc_is_ghost(n))
		return;
	n->state = 0;
	if (n->queue == ARC_T2 && a->queues[ARC_T2].newest == idx)
		return;
	arc_move(a, idx, ARC_T2);
}

/* A miss on a page a ghost list names: adapt p toward the list that lost it. */
static void arc_adapt(struct arc_policy *a, enum arc_queue ghost)
{
	double b1 = (double)a->queues[ARC_B1].count;
	double b2 = (double)a->queues[ARC_B2].count;
	double c = (double)arc_size(a);
	double delta;

	if (ghost == ARC_B1) {
		delta = b1 >= b2 ? 1.0 : b2 / b1;
		a->target_t1 = a->target_t1 + delta > c ? c : a->target_t1 + delta;
	} else {
		delta = b2 >= b1 ? 1.0 : b1 / b2;
		a->target_t1 = a->target_t1 - delta < 0 ? 0 : a->target_t1 - delta;
	}
}

static void arc_insert(struct swap_policy *policy, uint64_t page, unsigned flags)
{
	struct arc_policy *a = to_arc(policy);
	uint32_t idx = policy_pool_find(&a->pool, page);

	if (idx != POLICY_NIL) {
		struct policy_node *n = policy_node_at(&a->pool, idx);

		if (!arc_is_ghost(n)) {
			arc_touch(policy, page, flags);
			return;
		}
		n->state = 0;
		if (flags & SWAP_ACCESS_PREFETCH) {
			arc_move(a, idx, ARC_T1);
		} else {
			arc_adapt(a, (enum arc_queue)n->queue);
			arc_move(a, idx, ARC_T2);
		}
		arc_trim_ghosts(a);
		return;
	}
	idx = policy_pool_add(&a->pool, page);
	if (idx == POLICY_NIL)
		return;         /* out of memory: the page stays untracked */
	policy_node_at(&a->pool, idx)->queue = ARC_T1;
	policy_queue_push_newest(&a->pool, &a->queues[ARC_T1], idx);
	arc_trim_ghosts(a);
}

static void arc_remove(struct swap_policy *policy, uint64_t page)
{
	struct arc_policy *a = to_arc(policy);
	uint32_t idx = policy_pool_find(&a->pool, page);

	/* Ghosts are not resident: a remove for one is a remove of nothing. */
	if (idx == POLICY_NIL || arc_is_ghost(policy_node_at(&a->pool, idx)))
		return;
	arc_drop(a, idx);
}

static int arc_evict(struct swap_policy *policy, uint64_t *page)
{
	struct arc_policy *a = to_arc(policy);
	size_t t1 = a->queues[ARC_T1].count;
	enum arc_queue from, to;
	struct policy_node *n;
	uint32_t idx;

	if (!arc_resident(a))
		return -ENOENT;
	if (t1 && ((double)t1 > a->target_t1 || !a->queues[ARC_T2].count)) {
		from = ARC_T1;
		to = ARC_B1;
	} else {
		from = ARC_T2;
		to = ARC_B2;
	}
	idx = a->queues[from].oldest;
	n = policy_node_at(&a->pool, idx);
	*page = n->page;
	n->state = 0;
	arc_move(a, idx, to);
	/* The next victim of that list gets one chance to prove it is in use. */
	idx = a->queues[from].oldest;
	if (idx != POLICY_NIL) {
		n = policy_node_at(&a->pool, idx);
		if (!(n->state & ARC_ARMED)) {
			n->state |= ARC_ARMED;
			policy_rearm(&a->base.env, n->page);
		}
	}
	arc_trim_ghosts(a);
	return 0;
}

static size_t arc_count(struct swap_policy *policy)
{
	return arc_resident(to_arc(policy));
}

const struct swap_policy_ops swap_policy_arc_ops = {
	.size = sizeof(struct swap_policy_ops),
	.name = "arc",
	.help = "ARC: recency and frequency LRU lists sized by ghost hits; scan resistant",
	.create = arc_create,
	.destroy = arc_destroy,
	.insert = arc_insert,
	.touch = arc_touch,
	.remove = arc_remove,
	.evict = arc_evict,
	.count = arc_count,
};
