/* pods/gpu/gpu_mem.h — how the GPU pod gets device memory for its clients:
 * the hook where the spill planner (issue 6 part 3, pods/gpu/spill.{h,c})
 * plugs in.
 *
 * Concepts: every cuMemAlloc/cuMemFree a client forwards goes through one
 * backend (an ops table). The built-in "direct" backend calls the driver's
 * cuMemAlloc/cuMemFree and refuses (CUDA_ERROR_OUT_OF_MEMORY) what would
 * take a client over its quota. A spilling backend instead backs
 * allocations with the CUDA virtual memory API in chunks, so the same
 * device pointers stay valid while chunks live in host memory or further
 * tiers, and makes chunks resident before they are touched:
 * prepare_launch() gets the device pointers found in a kernel's parameters
 * (and the launch sequence, by being called once per launch, in order);
 * touch() gets a range before a memcpy or memset reaches it.
 *
 * Calls happen on the client's server thread with the client's context
 * current; one client's calls never overlap. All functions return a
 * CUresult. Functions the driver offers (cuMemCreate, cuMemMap, ...) come
 * from gpu_driver_sym().
 */
#ifndef POOLVM_GPU_MEM_H
#define POOLVM_GPU_MEM_H

#include <stdint.h>

#include "cuda_abi.h"

struct gpu_mem_client {
	const char *client_id;  /* for messages */
	uint64_t quota;         /* device bytes the client may hold; 0: no limit */
	uint64_t used;          /* bytes allocated now; the backend keeps it */
	int device;             /* CUdevice of the current context */
	void *priv;             /* the backend's */
};

struct gpu_mem_ops {
	const char *name;
	/* A client connected / is gone (after its allocations were freed). */
	int (*open)(struct gpu_mem_client *mc);
	void (*close)(struct gpu_mem_client *mc);
	int (*alloc)(struct gpu_mem_client *mc, uint64_t size, CUdeviceptr *out);
	int (*free)(struct gpu_mem_client *mc, CUdeviceptr ptr, uint64_t size);
	/* Optional (NULL: nothing to do). */
	int (*prepare_launch)(struct gpu_mem_client *mc, const CUdeviceptr *ptrs,
			      unsigned int n);
	int (*touch)(struct gpu_mem_client *mc, CUdeviceptr ptr, uint64_t size);
};

/** The built-in backend: cuMemAlloc/cuMemFree under the quota. */
extern const struct gpu_mem_ops gpu_mem_direct_ops;

/**
 * gpu_driver_sym() - a function of the driver the pod loaded (dlsym on
 * libcuda.so.1), or NULL when there is no driver or no such function.
 */
void *gpu_driver_sym(const char *name);

#endif
