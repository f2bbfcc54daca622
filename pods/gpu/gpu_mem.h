/* pods/gpu/gpu_mem.h — how the GPU pod gets device memory for its clients:
 * the hook where the spill manager (issue 6 part 3, pods/gpu/spill/spill.h)
 * plugs in, through gpu_mem_spill.{h,c}.
 *
 * Concepts: every cuMemAlloc/cuMemFree a client forwards goes through one
 * backend (an ops table). The built-in "direct" backend calls the driver's
 * cuMemAlloc/cuMemFree and refuses (CUDA_ERROR_OUT_OF_MEMORY) what would
 * take a client over its quota. A spilling backend instead backs
 * allocations with the CUDA virtual memory API in chunks, so the same
 * device pointers stay valid while chunks live in host memory or further
 * tiers, and makes chunks resident before they are touched:
 * prepare_launch() gets the kernel (its CUfunction, a stable identity) and
 * the device pointers found in its parameters (and the launch sequence, by
 * being called once per launch, in order); touch() gets a range before a
 * driver call reaches it. A backend may also carry out memcpy and memset
 * on its own allocations itself (write/read/copy/memset), on memory
 * wherever it is, and answer cuMemGetInfo (mem_info).
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
	const void *config;     /* gpu_server_config.mem_config: the backend's options */
	void *priv;             /* the backend's */
};

struct gpu_mem_ops {
	const char *name;
	/* A client connected (no context yet) / is gone (after its allocations
	 * were freed; one of its contexts is current when it had any). */
	int (*open)(struct gpu_mem_client *mc);
	void (*close)(struct gpu_mem_client *mc);
	int (*alloc)(struct gpu_mem_client *mc, uint64_t size, CUdeviceptr *out);
	int (*free)(struct gpu_mem_client *mc, CUdeviceptr ptr, uint64_t size);
	/* Optional (NULL: nothing to do). */
	/* Before cuLaunchKernel of @kernel (the driver's CUfunction value):
	 * @ptrs are the 8-byte words of its parameters that lie in the client's
	 * allocations or module globals. */
	int (*prepare_launch)(struct gpu_mem_client *mc, uint64_t kernel,
			      const CUdeviceptr *ptrs, unsigned int n);
	/* Before a driver call reaches [ptr, ptr + size) (inside one of the
	 * client's allocations or module globals). */
	int (*touch)(struct gpu_mem_client *mc, CUdeviceptr ptr, uint64_t size);
	/* cuMemcpyHtoD / DtoH / DtoD and cuMemsetD8/D32 (width 1 or 4) on ranges
	 * inside the client's cuMemAlloc allocations (both of a copy), carried
	 * out by the backend (synchronously; the server waits for the stream of
	 * an asynchronous form first). NULL: touch(), then the driver's call. */
	int (*write)(struct gpu_mem_client *mc, CUdeviceptr dst, const void *src, uint64_t n);
	int (*read)(struct gpu_mem_client *mc, void *dst, CUdeviceptr src, uint64_t n);
	int (*copy)(struct gpu_mem_client *mc, CUdeviceptr dst, CUdeviceptr src, uint64_t n);
	int (*memset)(struct gpu_mem_client *mc, CUdeviceptr dst, uint32_t value,
		      unsigned int width, uint64_t count);
	/* cuMemGetInfo for the client. NULL: the driver's, capped by the quota. */
	int (*mem_info)(struct gpu_mem_client *mc, uint64_t *free_bytes, uint64_t *total);
};

/** The built-in backend: cuMemAlloc/cuMemFree under the quota. */
extern const struct gpu_mem_ops gpu_mem_direct_ops;

/**
 * gpu_driver_sym() - a function of the driver the pod loaded (dlsym on
 * libcuda.so.1), or NULL when there is no driver or no such function.
 */
void *gpu_driver_sym(const char *name);

#endif
