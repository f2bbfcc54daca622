/* swap/policies/policy_nodes.h — node pool and queues shared by the eviction
 * policies (internal to swap/policies/).
 *
 * Concepts: every page a policy tracks owns one node in a growable array.
 * Nodes are named by 32-bit index, never by pointer, because the array moves
 * when it doubles; a u64map finds a page's node. Free nodes form a list
 * threaded through .newer, so steady-state insert and evict never allocate.
 * A queue is a doubly linked list of nodes from oldest to newest; a node is
 * on at most one queue at a time. .queue and .state belong to the policy
 * (which queue the node is on; reference bit or frequency).
 *
 * Like the policies, nothing here is thread-safe: the pager's lock covers it.
 */
#ifndef POOLVM_SWAP_POLICY_NODES_H
#define POOLVM_SWAP_POLICY_NODES_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "u64map.h"

#define POLICY_NIL UINT32_MAX

struct policy_node {
	uint64_t page;
	uint32_t older;          /* toward the oldest end; POLICY_NIL at the end */
	uint32_t newer;          /* toward the newest end; free-list link when free */
	uint8_t queue;           /* policy-defined */
	uint8_t state;           /* policy-defined */
};

struct policy_queue {
	uint32_t oldest;
	uint32_t newest;
	size_t count;
};

struct policy_pool {
	struct policy_node *nodes;
	size_t capacity;         /* nodes allocated */
	size_t high_water;       /* nodes [0, high_water) have been handed out */
	uint32_t free_head;      /* released nodes, linked through .newer */
	struct u64map index;     /* page -> node index */
};

/**
 * policy_pool_init() - empty pool sized for about @hint pages.
 * Return: 0 or -ENOMEM. The hint is clamped; the pool grows past it.
 */
int policy_pool_init(struct policy_pool *pool, size_t hint);

/** policy_pool_fini() - free the pool's memory. */
void policy_pool_fini(struct policy_pool *pool);

/**
 * policy_pool_add() - take a node for @page (not yet in the pool) and index it.
 * Return: the node's index with .page set and links cleared, or POLICY_NIL
 * when memory ran out (the pool is unchanged).
 */
uint32_t policy_pool_add(struct policy_pool *pool, uint64_t page);

/** policy_pool_release() - unindex node @idx and put it on the free list. */
void policy_pool_release(struct policy_pool *pool, uint32_t idx);

/** policy_pool_find() - index of @page's node, or POLICY_NIL. */
static inline uint32_t policy_pool_find(const struct policy_pool *pool, uint64_t page)
{
	uint32_t idx;

	return u64map_get(&pool->index, page, &idx) ? idx : POLICY_NIL;
}

static inline struct policy_node *policy_node_at(struct policy_pool *pool, uint32_t idx)
{
	return &pool->nodes[idx];
}

static inline void policy_queue_init(struct policy_queue *q)
{
	q->oldest = POLICY_NIL;
	q->newest = POLICY_NIL;
	q->count = 0;
}

/** policy_queue_push_newest() - append node @idx at the newest end of @q. */
static inline void policy_queue_push_newest(struct policy_pool *pool,
					    struct policy_queue *q, uint32_t idx)
{
	struct policy_node *n = &pool->nodes[idx];

	n->older = q->newest;
	n->newer = POLICY_NIL;
	if (q->newest != POLICY_NIL)
		pool->nodes[q->newest].newer = idx;
	else
		q->oldest = idx;
	q->newest = idx;
	q->count++;
}

/** policy_queue_insert_before() - put node @idx just older than node @at. */
static inline void policy_queue_insert_before(struct policy_pool *pool,
					      struct policy_queue *q,
					      uint32_t at, uint32_t idx)
{
	struct policy_node *n = &pool->nodes[idx];
	struct policy_node *a = &pool->nodes[at];

	n->newer = at;
	n->older = a->older;
	if (a->older != POLICY_NIL)
		pool->nodes[a->older].newer = idx;
	else
		q->oldest = idx;
	a->older = idx;
	q->count++;
}

/** policy_queue_unlink() - take node @idx off @q (it must be on it). */
static inline void policy_queue_unlink(struct policy_pool *pool,
				       struct policy_queue *q, uint32_t idx)
{
	struct policy_node *n = &pool->nodes[idx];

	if (n->older != POLICY_NIL)
		pool->nodes[n->older].newer = n->newer;
	else
		q->oldest = n->newer;
	if (n->newer != POLICY_NIL)
		pool->nodes[n->newer].older = n->older;
	else
		q->newest = n->older;
	n->older = POLICY_NIL;
	n->newer = POLICY_NIL;
	q->count--;
}

/** policy_rearm() - ask the pager to re-arm access detection on @page. */
static inline void policy_rearm(const struct swap_policy_env *env, uint64_t page)
{
	if (env->rearm)
		env->rearm(env->ctx, page);
}

#endif
