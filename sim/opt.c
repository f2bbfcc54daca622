/* sim/opt.c — Belady's OPT (MIN): the fewest misses any policy can have.
 *
 * On a miss with a full cache, evict the resident page whose next use lies
 * farthest in the future, a page never used again before any other. The
 * future comes from next_use[], built in one backward pass over the trace.
 * Resident pages sit in a binary max-heap keyed by their next use; a hit
 * moves the page's key later, so it only ever sifts toward the root.
 * O(n log c) for n accesses and a cache of c pages, O(n + footprint) memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

struct opt_heap {
	uint32_t *ids;          /* heap of dense ids, farthest next use first */
	uint32_t *pos;          /* per id: heap position, SIM_NEVER if not resident */
	uint32_t *key;          /* per id: next use of the resident page */
	size_t count;
};

static void opt_set(struct opt_heap *h, size_t at, uint32_t id)
{
	h->ids[at] = id;
	h->pos[id] = (uint32_t)at;
}

static void opt_sift_up(struct opt_heap *h, size_t at)
{
	uint32_t id = h->ids[at];

	while (at > 0) {
		size_t parent = (at - 1) / 2;

		if (h->key[h->ids[parent]] >= h->key[id])
			break;
		opt_set(h, at, h->ids[parent]);
		at = parent;
	}
	opt_set(h, at, id);
}

static void opt_sift_down(struct opt_heap *h, size_t at)
{
	uint32_t id = h->ids[at];

	for (;;) {
		size_t child = 2 * at + 1;

		if (child >= h->count)
			break;
		if (child + 1 < h->count && h->key[h->ids[child + 1]] > h->key[h->ids[child]])
			child++;
		if (h->key[h->ids[child]] <= h->key[id])
			break;
		opt_set(h, at, h->ids[child]);
		at = child;
	}
	opt_set(h, at, id);
}

static int opt_build_next_use(struct sim_workload *w)
{
	size_t n = w->trace->count;
	uint32_t *last;

	w->next_use = malloc((n ? n : 1) * sizeof(*w->next_use));
	last = malloc((w->footprint ? w->footprint : 1) * sizeof(*last));
	if (!w->next_use || !last) {
		free(w->next_use);
		w->next_use = NULL;
		free(last);
		return -ENOMEM;
	}
	for (size_t id = 0; id < w->footprint; id++)
		last[id] = SIM_NEVER;
	for (size_t i = n; i-- > 0;) {
		uint32_t id = w->ids[i];

		w->next_use[i] = last[id];
		last[id] = (uint32_t)i;
	}
	free(last);
	return 0;
}

int sim_replay_opt(struct sim_workload *w, size_t cache_pages, struct sim_result *out)
{
	size_t slots = w->footprint ? w->footprint : 1;
	struct opt_heap h = { .count = 0 };
	uint64_t misses = 0;
	int ret = -ENOMEM;

	if (!cache_pages)
		return -EINVAL;
	if (!w->next_use && opt_build_next_use(w) < 0)
		return -ENOMEM;
	h.ids = malloc((cache_pages < slots ? cache_pages : slots) * sizeof(*h.ids));
	h.pos = malloc(slots * sizeof(*h.pos));
	h.key = malloc(slots * sizeof(*h.key));
	if (!h.ids || !h.pos || !h.key)
		goto out_free;
	for (size_t id = 0; id < w->footprint; id++)
		h.pos[id] = SIM_NEVER;
	for (size_t i = 0; i < w->trace->count; i++) {
		uint32_t id = w->ids[i];

		h.key[id] = w->next_use[i];
		if (h.pos[id] != SIM_NEVER) {
			opt_sift_up(&h, h.pos[id]);
			continue;
		}
		misses++;
		if (h.count == cache_pages) {
			h.pos[h.ids[0]] = SIM_NEVER;
			if (--h.count) {
				opt_set(&h, 0, h.ids[h.count]);
				opt_sift_down(&h, 0);
			}
		}
		opt_set(&h, h.count++, id);
		opt_sift_up(&h, h.count - 1);
	}
	memset(out, 0, sizeof(*out));
	out->accesses = w->trace->count;
	out->misses = misses;
	ret = 0;
out_free:
	free(h.ids);
	free(h.pos);
	free(h.key);
	return ret;
}
