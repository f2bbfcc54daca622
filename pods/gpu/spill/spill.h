/* pods/gpu/spill/spill.h — GPU device memory that spills into the pool.
 *
 * Concepts: a spill manager serves one client of a GPU pod. It reserves one
 * virtual range of device addresses (the client's limit) and hands out
 * allocations inside it, so a device pointer never changes. The range is
 * cut into chunks of the backend's granularity (2 MiB under the CUDA VMM
 * API); a chunk is, at any time, in one of four places:
 *
 *   none    never written since allocation (reads as zeros)
 *   device  a physical chunk of device memory mapped at its addresses
 *   host    a copy in host DRAM, addresses unmapped
 *   tier    a copy in a poolvm swap tier (dram:, disk:, remote:...), one
 *           tier slot per 4 KiB page, addresses unmapped
 *
 * At most quota bytes are on the device. Before each kernel launch the
 * caller names the device pointers found in the launch's parameters;
 * the chunks of the allocations they point into are made resident, evicting
 * others. Evicted chunks go to host DRAM (up to host_bytes) and beyond it to
 * the tiers, in the order given. Memcpy and memset on ranges that are not
 * resident work on the copies where they are, without a round trip through
 * the device.
 *
 * Eviction learns from the launch sequence: each launch is recorded as a
 * signature (kernel identity + chunks it touches); once the sequence is
 * seen to repeat with a period P, the last P launches are the predicted
 * schedule, and the victim is the resident chunk whose predicted next use
 * is farthest away (Belady on the predicted future). Until a period is
 * found, or when a launch does not match the prediction, the victim is the
 * least recently used chunk. A launch also prefetches the chunks the next
 * launches of the schedule need, where that costs no nearer chunk.
 *
 * Moving memory is the backend's job (struct spill_backend_ops): the CUDA
 * backend drives the VMM API through function pointers the caller loaded
 * from libcuda (this library never links libcuda); the host backend does
 * the same with mmap and memfd chunks in this process, for tests and for
 * machines without a GPU.
 *
 * Threads: every spill_* call takes the manager's lock; any thread may call.
 * Under the CUDA backend the caller makes the client's context current on
 * the calling thread before each call.
 */
#ifndef POOLVM_GPU_SPILL_H
#define POOLVM_GPU_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct spill_backend;

/* ---- backends -------------------------------------------------------- */

/**
 * struct spill_backend_ops - how one kind of device memory is driven.
 * Every function returns 0 or a negative errno (-ENOMEM when the device is
 * out of memory, -EIO for anything else the device refused). Addresses are
 * device virtual addresses; sizes are multiples of the granularity except
 * for the copy and fill functions.
 */
struct spill_backend_ops {
	size_t size;            /* sizeof(struct spill_backend_ops) */
	const char *name;       /* "cuda", "host" */
	/* Chunk size: the granularity of create/map (a power of two). */
	int (*granularity)(struct spill_backend *be, uint64_t *bytes);
	/* Reserve @size bytes of addresses, nothing mapped; *@va its start. */
	int (*reserve)(struct spill_backend *be, uint64_t size, uint64_t *va);
	void (*unreserve)(struct spill_backend *be, uint64_t va, uint64_t size);
	/* Create one physical chunk of @size bytes; *@handle names it. */
	int (*create)(struct spill_backend *be, uint64_t size, uint64_t *handle);
	void (*release)(struct spill_backend *be, uint64_t handle);
	/* Map @handle at @va (inside a reservation) read-write / unmap it. */
	int (*map)(struct spill_backend *be, uint64_t va, uint64_t size, uint64_t handle);
	int (*unmap)(struct spill_backend *be, uint64_t va, uint64_t size);
	/* Copies between mapped device addresses and host memory. */
	int (*to_host)(struct spill_backend *be, void *dst, uint64_t va, uint64_t size);
	int (*to_device)(struct spill_backend *be, uint64_t va, const void *src, uint64_t size);
	int (*device_copy)(struct spill_backend *be, uint64_t dst, uint64_t src, uint64_t size);
	/* Set @size bytes at mapped @va to @byte. */
	int (*fill)(struct spill_backend *be, uint64_t va, uint8_t byte, uint64_t size);
	/* Wait until no kernel of the client can touch memory about to be
	 * unmapped (cuCtxSynchronize). Called before each batch of evictions. */
	int (*sync)(struct spill_backend *be);
	void (*close)(struct spill_backend *be);
};

/* Every backend object begins with this header. */
struct spill_backend {
	const struct spill_backend_ops *ops;
};

/** spill_backend_close() - close a backend; NULL is a no-op. */
void spill_backend_close(struct spill_backend *be);

/**
 * spill_host_backend_open() - device memory simulated in this process's
 * memory: reserve is an mmap(PROT_NONE), a chunk is a memfd, map is an
 * mmap(MAP_FIXED|MAP_SHARED) of it, unmap puts PROT_NONE back, so touching
 * an evicted address faults exactly as on a GPU. Device addresses are host
 * pointers: a test may read and write through them while they are resident.
 * @granularity: chunk size, a power of two, at least 4 KiB (2 MiB is what
 * the CUDA VMM API uses).
 *
 * Return: 0 and *@out, or -EINVAL, -ENOMEM. Any thread.
 */
int spill_host_backend_open(uint64_t granularity, struct spill_backend **out);

/*
 * The CUDA backend. The caller (the GPU pod's server) loads libcuda with
 * dlopen and fills this table with dlsym() results (or cuGetProcAddress):
 * the names are the driver API's, the _v2 entry points for the copies
 * (cuMemcpyDtoH_v2, cuMemcpyHtoD_v2, cuMemcpyDtoD_v2, cuMemsetD8_v2).
 * The prototypes use plain C types with the driver's ABI (CUresult is an
 * int, CUdeviceptr and CUmemGenericAllocationHandle are unsigned long long,
 * the property structures are declared here with the driver's layout, and
 * checked against cuda.h when it is found at build time).
 */
struct spill_cu_location { int type; int id; };
struct spill_cu_alloc_prop {
	int type;                       /* CU_MEM_ALLOCATION_TYPE_PINNED = 1 */
	int requested_handle_types;     /* CU_MEM_HANDLE_TYPE_NONE = 0 */
	struct spill_cu_location location; /* CU_MEM_LOCATION_TYPE_DEVICE = 1 */
	void *win32_handle_meta_data;
	struct {
		unsigned char compression_type;
		unsigned char gpu_direct_rdma_capable;
		unsigned short usage;
		unsigned char reserved[4];
	} alloc_flags;
};
struct spill_cu_access_desc {
	struct spill_cu_location location;
	int flags;                      /* CU_MEM_ACCESS_FLAGS_PROT_READWRITE = 3 */
};

struct spill_cuda_fns {
	size_t size;            /* sizeof(struct spill_cuda_fns) */
	int device;             /* device ordinal the chunks live on */
	int (*cuMemGetAllocationGranularity)(size_t *granularity,
		const struct spill_cu_alloc_prop *prop, int option);
	int (*cuMemAddressReserve)(unsigned long long *ptr, size_t size,
		size_t alignment, unsigned long long addr, unsigned long long flags);
	int (*cuMemAddressFree)(unsigned long long ptr, size_t size);
	int (*cuMemCreate)(unsigned long long *handle, size_t size,
		const struct spill_cu_alloc_prop *prop, unsigned long long flags);
	int (*cuMemRelease)(unsigned long long handle);
	int (*cuMemMap)(unsigned long long ptr, size_t size, size_t offset,
		unsigned long long handle, unsigned long long flags);
	int (*cuMemSetAccess)(unsigned long long ptr, size_t size,
		const struct spill_cu_access_desc *desc, size_t count);
	int (*cuMemUnmap)(unsigned long long ptr, size_t size);
	int (*cuMemcpyDtoH_v2)(void *dst, unsigned long long src, size_t bytes);
	int (*cuMemcpyHtoD_v2)(unsigned long long dst, const void *src, size_t bytes);
	int (*cuMemcpyDtoD_v2)(unsigned long long dst, unsigned long long src, size_t bytes);
	int (*cuMemsetD8_v2)(unsigned long long dst, unsigned char value, size_t count);
	int (*cuCtxSynchronize)(void);
};

/**
 * spill_cuda_fns_load() - fill @out by name through @lookup (a dlsym()
 * on the dlopen()ed libcuda, or a cuGetProcAddress wrapper), which returns
 * NULL for a name it lacks. @device goes to out->device.
 *
 * Return: 0, or -ENOENT naming the first entry point not found.
 */
int spill_cuda_fns_load(void *(*lookup)(void *ctx, const char *name), void *ctx,
			int device, struct spill_cuda_fns *out);

/**
 * spill_cuda_backend_open() - device memory through the CUDA VMM API.
 * @fns: the driver's entry points (copied; every one is required).
 *
 * Return: 0 and *@out; -EINVAL when an entry point is missing (names it);
 * -EIO when the granularity query fails. The client's context must be
 * current on the calling thread here and in every later call.
 */
int spill_cuda_backend_open(const struct spill_cuda_fns *fns, struct spill_backend **out);

/* ---- the manager ------------------------------------------------------ */

enum spill_policy {
	SPILL_POLICY_LEARNED = 0,   /* Belady on the learned schedule, else LRU */
	SPILL_POLICY_LRU = 1,       /* least recently used, never learns */
};

struct spill_config {
	/* Device bytes this client may have resident (rounded down to whole
	 * chunks; at least one chunk). */
	uint64_t quota;
	/* Bytes it may allocate in all (its address range); 0: 4 x quota. */
	uint64_t limit;
	/* Host DRAM for evicted chunks before they go on to the tiers. Only
	 * meaningful with tiers; without tiers host memory is unbounded. */
	uint64_t host_bytes;
	/* Swap tier specs (swap/tier.h: "dram:1G", "disk:/var/tmp/x", ...),
	 * NULL-terminated, tried in order; NULL for none. */
	const char *const *tiers;
	enum spill_policy policy;
	/* Launches ahead of the current one to prefetch for (0: none). */
	unsigned prefetch_depth;
	/* Longest launch period looked for (0: 4096). */
	unsigned max_period;
};

struct spill;

/**
 * spill_create() - a manager for one client.
 * @be:  the backend; stays owned by the caller and must outlive the manager.
 * @cfg: quota, limit, tiers, policy (copied).
 *
 * Reserves the whole address range and opens the tiers. Return: 0 and
 * *@out, -EINVAL for a bad config (printed), or the backend's/tier's errno.
 */
int spill_create(struct spill_backend *be, const struct spill_config *cfg,
		 struct spill **out);

/** spill_destroy() - free every chunk, close tiers, unreserve; NULL ok. */
void spill_destroy(struct spill *s);

/**
 * spill_alloc() - allocate @size bytes (cuMemAlloc). Allocations of a chunk
 * or more start on a chunk boundary; smaller ones are 256-byte aligned and
 * may share chunks. Nothing is made resident. A chunk no live allocation
 * used before reads as zeros until written; bytes freed inside a chunk that
 * another allocation still uses keep their old values (as with cuMemAlloc,
 * fresh memory is not promised to be zero).
 *
 * Return: 0 and *@dptr; -EINVAL for size 0; -ENOMEM when the limit has no
 * room for it.
 */
int spill_alloc(struct spill *s, uint64_t size, uint64_t *dptr);

/**
 * spill_free() - free the allocation starting at @dptr (cuMemFree), wherever
 * its chunks are. Return: 0, or -EINVAL when @dptr starts no allocation.
 */
int spill_free(struct spill *s, uint64_t dptr);

enum spill_place { SPILL_NONE, SPILL_DEVICE, SPILL_HOST, SPILL_TIER };

struct spill_where {
	uint64_t alloc_base;    /* the allocation holding the pointer */
	uint64_t alloc_size;
	uint64_t chunk;         /* chunk index in the client's range */
	uint64_t chunk_offset;  /* offset of the pointer in that chunk */
	enum spill_place place;
	unsigned tier;          /* index in cfg.tiers when place is SPILL_TIER */
};

/**
 * spill_resolve() - where the byte at @dptr lives. Return: 0, or -ENOENT
 * when @dptr is in no live allocation.
 */
int spill_resolve(struct spill *s, uint64_t dptr, struct spill_where *out);

/**
 * spill_prepare_launch() - make a launch's memory resident; call just
 * before cuLaunchKernel.
 * @kernel: the kernel's identity (e.g. the CUfunction handle value).
 * @ptrs:   values from the launch's parameters that may be device pointers;
 *          values in no live allocation are ignored, so the caller may pass
 *          every 8-byte-aligned 64-bit word of the parameter buffer.
 *
 * Every chunk of every allocation pointed into is resident on return.
 * The launch is recorded for learning, and the next launches' chunks are
 * prefetched where that evicts nothing nearer.
 *
 * Return: 0; -E2BIG when those chunks alone exceed the quota (report
 * CUDA_ERROR_OUT_OF_MEMORY); -EIO/-ENOMEM when a chunk could not be evicted
 * or brought in (it stays where it was; nothing is lost).
 */
int spill_prepare_launch(struct spill *s, uint64_t kernel,
			 const uint64_t *ptrs, size_t n);

/**
 * spill_make_resident() - make [@dptr, @dptr+@len) resident without
 * recording a launch (for driver calls the library does not wrap, e.g.
 * cuMemsetD32 on the device). Return: as spill_prepare_launch, or -EFAULT
 * when the range leaves its allocation.
 */
int spill_make_resident(struct spill *s, uint64_t dptr, uint64_t len);

/**
 * spill_write() / spill_read() / spill_copy() / spill_memset() - cuMemcpyHtoD_v2,
 * cuMemcpyDtoH_v2, cuMemcpyDtoD_v2 and cuMemsetD8_v2/D16/D32 on ranges that may be
 * anywhere. Resident parts are copied on the device; the others in their
 * host or tier copies, which stay where they are.
 * @width: bytes of the memset pattern (1, 2 or 4), @count: elements.
 *
 * Return: 0; -EFAULT when a range is not inside one live allocation (report
 * CUDA_ERROR_INVALID_VALUE); -EIO when a tier or the device failed (the
 * destination may be partly written, the rest of memory is unchanged).
 */
int spill_write(struct spill *s, uint64_t dptr, const void *src, uint64_t len);
int spill_read(struct spill *s, void *dst, uint64_t dptr, uint64_t len);
int spill_copy(struct spill *s, uint64_t dst, uint64_t src, uint64_t len);
int spill_memset(struct spill *s, uint64_t dptr, uint32_t value, unsigned width,
		 uint64_t count);

struct spill_stats {
	uint64_t chunk_bytes;       /* the granularity */
	uint64_t quota_bytes;       /* quota, rounded to chunks */
	uint64_t limit_bytes;
	uint64_t allocated_bytes;   /* sum of live allocation sizes */
	uint64_t resident_bytes;    /* chunks on the device */
	uint64_t host_bytes;        /* chunks in host DRAM */
	uint64_t tier_bytes;        /* chunks in tiers */
	uint64_t launches;
	uint64_t evictions;         /* device -> host or tier */
	uint64_t refills;           /* host or tier -> device */
	uint64_t demotions;         /* host -> tier */
	uint64_t prefetches;        /* refills done ahead of their launch */
	uint64_t zero_fills;        /* never-written chunks made resident */
	uint64_t bytes_to_host;     /* device -> host (evictions) */
	uint64_t bytes_to_device;   /* host -> device (refills) */
	uint64_t bytes_to_tier;
	uint64_t bytes_from_tier;
	uint64_t tier_errors;       /* failed tier stores/loads */
	uint64_t period;            /* learned launch period, 0 while none */
	uint64_t periods_found;
	uint64_t predicted;         /* launches that matched the prediction */
	uint64_t mispredicted;
};

/** spill_get_stats() - counters since creation. */
void spill_get_stats(struct spill *s, struct spill_stats *out);

/**
 * spill_stats_json() - the counters as a new JSON object (the caller puts
 * it), with the policy, the backend and, per tier, its spec and use.
 * Return: the object, or NULL when out of memory.
 */
struct json_object *spill_stats_json(struct spill *s);

/** spill_mem_info() - for cuMemGetInfo: free and total of the limit. */
void spill_mem_info(struct spill *s, uint64_t *free_bytes, uint64_t *total_bytes);

#endif
