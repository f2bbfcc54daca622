/* pods/gpu/spill/spill_internal.h — the manager's state, shared by
 * spill.c (allocations, moves, launches) and spill_create.c (setup and
 * teardown). Not a public header.
 */
#ifndef POOLVM_GPU_SPILL_INTERNAL_H
#define POOLVM_GPU_SPILL_INTERNAL_H

#include "spill.h"
#include "spill_plan.h"

#include <pthread.h>

struct swap_tier;
struct swap_io;

struct spill_chunk {
	uint8_t place;          /* enum spill_place */
	uint8_t pinned;         /* needed resident by the current call */
	uint8_t tier;           /* SPILL_TIER: index in spill.tiers */
	uint32_t refs;          /* live allocations overlapping the chunk */
	uint32_t phys;          /* SPILL_DEVICE: index in spill.phys */
	uint32_t list_pos;      /* DEVICE/HOST: index in spill.listed[place] */
	uint64_t last_use;      /* launch clock of its last use (LRU) */
	void *host;             /* SPILL_HOST: chunk image */
	uint64_t *slots;        /* SPILL_TIER: one tier slot per page */
};

struct spill_alloc_rec {
	uint64_t start, size;
};

#define SPILL_SPARE_BUFFERS 8      /* host chunk images kept for reuse */

struct spill {
	pthread_mutex_t lock;
	struct spill_backend *be;
	enum spill_policy policy;
	unsigned prefetch_depth;

	uint64_t chunk_bytes, pages_per_chunk;
	uint64_t base, limit;           /* the reserved range */
	uint64_t nchunks, hiwater;      /* chunks in the range / ever used */
	struct spill_chunk *chunks;
	/* The chunks on the device and on the host, so victim searches scan
	 * only those: listed[SPILL_DEVICE] / listed[SPILL_HOST]. */
	uint32_t *listed[SPILL_TIER];
	uint64_t nlisted[SPILL_TIER];

	uint64_t slots_total;           /* quota in chunks */
	uint64_t resident, host_chunks, tier_chunks;
	uint64_t host_limit_chunks;     /* UINT64_MAX without tiers */
	uint64_t *phys;                 /* backend handles [slots_total] */
	uint32_t nphys;                 /* created so far */
	uint32_t *phys_free;            /* pooled, unmapped */
	uint32_t nfree;

	struct spill_alloc_rec *allocs; /* sorted by start */
	size_t nallocs, allocs_cap;
	uint64_t allocated;

	struct swap_tier **tiers;
	unsigned ntiers;
	struct swap_io *ios;            /* [pages_per_chunk] */
	void *bounce;                   /* one chunk, page aligned */
	void *spare[SPILL_SPARE_BUFFERS];
	unsigned nspare;
	bool tier_error_reported;

	struct spill_plan *plan;
	uint64_t clock;
	uint32_t *needed;               /* scratch: chunks of the current call */
	size_t nneeded, needed_cap;
	bool synced;                    /* backend synced in this call */

	struct spill_stats st;
};

#endif
