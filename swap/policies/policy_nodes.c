/* swap/policies/policy_nodes.c — the node pool behind every policy. */
#include "policy_nodes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A hint is only a hint: do not let a wild one allocate gigabytes up front. */
#define POLICY_POOL_MAX_HINT  ((size_t)1 << 22)
#define POLICY_POOL_MIN       64
/* Indices are 32-bit and POLICY_NIL is reserved. */
#define POLICY_POOL_MAX_NODES ((size_t)UINT32_MAX)

int policy_pool_init(struct policy_pool *pool, size_t hint)
{
	size_t cap = hint;

	if (cap > POLICY_POOL_MAX_HINT)
		cap = POLICY_POOL_MAX_HINT;
	if (cap < POLICY_POOL_MIN)
		cap = POLICY_POOL_MIN;
	memset(pool, 0, sizeof(*pool));
	pool->nodes = malloc(cap * sizeof(*pool->nodes));
	if (!pool->nodes)
		return -ENOMEM;
	if (u64map_init(&pool->index, cap) < 0) {
		free(pool->nodes);
		pool->nodes = NULL;
		return -ENOMEM;
	}
	pool->capacity = cap;
	pool->free_head = POLICY_NIL;
	return 0;
}

void policy_pool_fini(struct policy_pool *pool)
{
	free(pool->nodes);
	u64map_fini(&pool->index);
	memset(pool, 0, sizeof(*pool));
}

static int pool_grow(struct policy_pool *pool)
{
	size_t cap = pool->capacity * 2;
	struct policy_node *nodes;

	if (cap > POLICY_POOL_MAX_NODES)
		cap = POLICY_POOL_MAX_NODES;
	if (cap <= pool->capacity)
		return -ENOMEM;
	nodes = realloc(pool->nodes, cap * sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	pool->nodes = nodes;
	pool->capacity = cap;
	return 0;
}

uint32_t policy_pool_add(struct policy_pool *pool, uint64_t page)
{
	struct policy_node *n;
	uint32_t idx;

	if (pool->free_head != POLICY_NIL) {
		idx = pool->free_head;
		if (u64map_put(&pool->index, page, idx) < 0)
			return POLICY_NIL;
		pool->free_head = pool->nodes[idx].newer;
	} else {
		if (pool->high_water == pool->capacity && pool_grow(pool) < 0)
			return POLICY_NIL;
		idx = (uint32_t)pool->high_water;
		if (u64map_put(&pool->index, page, idx) < 0)
			return POLICY_NIL;
		pool->high_water++;
	}
	n = &pool->nodes[idx];
	n->page = page;
	n->older = POLICY_NIL;
	n->newer = POLICY_NIL;
	n->queue = 0;
	n->state = 0;
	return idx;
}

void policy_pool_release(struct policy_pool *pool, uint32_t idx)
{
	struct policy_node *n = &pool->nodes[idx];

	u64map_del(&pool->index, n->page);
	n->older = POLICY_NIL;
	n->newer = pool->free_head;
	pool->free_head = idx;
}
