/* pods/gpu/gpu_mem_spill.h — the GPU pod's spilling memory backend: client
 * allocations backed by the spill manager (pods/gpu/spill/spill.h) over the
 * driver's virtual memory API, so a client may allocate more than its
 * quota of device memory while cold chunks live in host DRAM and poolvm's
 * swap tiers (`poolvm pod --gpu ... --gpu-spill`, docs/gpu.md).
 *
 * Concepts: one spill manager per client, created at the client's first
 * cuMemAlloc (its context is current then, and names the device); every
 * allocation of the client goes through it. Launches make the chunks their
 * pointer parameters point into resident (the kernel's identity, the
 * CUfunction, lets the manager learn the launch sequence); memcpy and
 * memset on the client's allocations work on each chunk where it is; other
 * driver calls get the range made resident first. When the client is gone
 * the manager frees its chunks wherever they are and logs its counters.
 */
#ifndef POOLVM_GPU_MEM_SPILL_H
#define POOLVM_GPU_MEM_SPILL_H

#include <stdint.h>

#include "gpu_mem.h"

/* The pod's spill options (gpu_server_config.mem_config). */
struct gpu_spill_options {
	uint64_t limit;                 /* bytes a client may allocate; 0: 8 x quota */
	uint64_t host_bytes;            /* host DRAM per client before the tiers */
	const char *const *tiers;       /* swap tier specs, NULL-terminated; NULL: none */
	unsigned int prefetch_depth;    /* launches ahead to prefetch for */
};

/** The spilling backend; mc->quota must be set (the device bytes resident). */
extern const struct gpu_mem_ops gpu_spill_ops;

/**
 * gpu_spill_check_tiers() - open and close each tier spec once, so a bad
 * spec is refused when the pod starts rather than at a client's first
 * eviction. A disk tier must name a directory (each client gets an unnamed
 * file in it). Return: 0, or -errno after a message naming the spec.
 */
int gpu_spill_check_tiers(const char *const *tiers);

#endif
