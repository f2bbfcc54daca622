/* pods/gpu/spill/spill_cuda.c — the CUDA spill backend: chunks of device
 * memory through the driver's virtual memory management API, called
 * through entry points the caller loaded from libcuda (this file links
 * nothing of CUDA and builds without the toolkit).
 *
 * Concepts: reserve is cuMemAddressReserve (aligned to the granularity);
 * a physical chunk is cuMemCreate of one granule pinned on the device;
 * map is cuMemMap + cuMemSetAccess(read-write for the device); unmap is
 * cuMemUnmap, which keeps the reservation; copies are the synchronous
 * cuMemcpy*_v2 calls and cuMemsetD8_v2; sync is cuCtxSynchronize, so no
 * kernel still running can touch a chunk being unmapped.
 *
 * When cuda.h is found at build time (PVM_SPILL_HAVE_CUDA_H), the layouts
 * of the structures declared in spill.h are checked against it.
 */
#include "spill.h"

#include "common.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SPILL_CU_SUCCESS 0
#define SPILL_CU_ERROR_OUT_OF_MEMORY 2
#define SPILL_CU_MEM_ALLOCATION_TYPE_PINNED 1
#define SPILL_CU_MEM_LOCATION_TYPE_DEVICE 1
#define SPILL_CU_MEM_ACCESS_FLAGS_PROT_READWRITE 3
#define SPILL_CU_MEM_ALLOC_GRANULARITY_MINIMUM 0

#ifdef PVM_SPILL_HAVE_CUDA_H
#include <cuda.h>
_Static_assert(sizeof(struct spill_cu_alloc_prop) == sizeof(CUmemAllocationProp),
	       "CUmemAllocationProp layout");
_Static_assert(offsetof(struct spill_cu_alloc_prop, location) ==
	       offsetof(CUmemAllocationProp, location), "CUmemAllocationProp.location");
_Static_assert(offsetof(struct spill_cu_alloc_prop, alloc_flags) ==
	       offsetof(CUmemAllocationProp, allocFlags), "CUmemAllocationProp.allocFlags");
_Static_assert(sizeof(struct spill_cu_access_desc) == sizeof(CUmemAccessDesc),
	       "CUmemAccessDesc layout");
_Static_assert(offsetof(struct spill_cu_access_desc, flags) ==
	       offsetof(CUmemAccessDesc, flags), "CUmemAccessDesc.flags");
_Static_assert(sizeof(CUdeviceptr) == sizeof(unsigned long long), "CUdeviceptr");
_Static_assert(SPILL_CU_MEM_ALLOCATION_TYPE_PINNED == (int)CU_MEM_ALLOCATION_TYPE_PINNED, "enum");
_Static_assert(SPILL_CU_MEM_LOCATION_TYPE_DEVICE == (int)CU_MEM_LOCATION_TYPE_DEVICE, "enum");
_Static_assert(SPILL_CU_MEM_ACCESS_FLAGS_PROT_READWRITE ==
	       (int)CU_MEM_ACCESS_FLAGS_PROT_READWRITE, "enum");
_Static_assert(SPILL_CU_MEM_ALLOC_GRANULARITY_MINIMUM ==
	       (int)CU_MEM_ALLOC_GRANULARITY_MINIMUM, "enum");
_Static_assert(SPILL_CU_ERROR_OUT_OF_MEMORY == (int)CUDA_ERROR_OUT_OF_MEMORY, "enum");
#endif

struct cuda_backend {
	struct spill_backend base;
	struct spill_cuda_fns fn;
	struct spill_cu_alloc_prop prop;
	uint64_t granularity;
};

static struct cuda_backend *to_cuda(struct spill_backend *be)
{
	return (struct cuda_backend *)be;
}

static int cu_errno(int cu)
{
	if (cu == SPILL_CU_SUCCESS)
		return 0;
	return cu == SPILL_CU_ERROR_OUT_OF_MEMORY ? -ENOMEM : -EIO;
}

static int cuda_granularity(struct spill_backend *be, uint64_t *bytes)
{
	*bytes = to_cuda(be)->granularity;
	return 0;
}

static int cuda_reserve(struct spill_backend *be, uint64_t size, uint64_t *va)
{
	struct cuda_backend *c = to_cuda(be);
	unsigned long long p = 0;
	int rc = cu_errno(c->fn.cuMemAddressReserve(&p, size, c->granularity, 0, 0));

	if (rc == 0)
		*va = p;
	return rc;
}

static void cuda_unreserve(struct spill_backend *be, uint64_t va, uint64_t size)
{
	to_cuda(be)->fn.cuMemAddressFree(va, size);
}

static int cuda_create(struct spill_backend *be, uint64_t size, uint64_t *handle)
{
	struct cuda_backend *c = to_cuda(be);
	unsigned long long h = 0;
	int rc = cu_errno(c->fn.cuMemCreate(&h, size, &c->prop, 0));

	if (rc == 0)
		*handle = h;
	return rc;
}

static void cuda_release(struct spill_backend *be, uint64_t handle)
{
	to_cuda(be)->fn.cuMemRelease(handle);
}

static int cuda_map(struct spill_backend *be, uint64_t va, uint64_t size, uint64_t handle)
{
	struct cuda_backend *c = to_cuda(be);
	struct spill_cu_access_desc access = {
		.location = { .type = SPILL_CU_MEM_LOCATION_TYPE_DEVICE, .id = c->fn.device },
		.flags = SPILL_CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
	};
	int rc = cu_errno(c->fn.cuMemMap(va, size, 0, handle, 0));

	if (rc)
		return rc;
	rc = cu_errno(c->fn.cuMemSetAccess(va, size, &access, 1));
	if (rc)
		c->fn.cuMemUnmap(va, size);
	return rc;
}

static int cuda_unmap(struct spill_backend *be, uint64_t va, uint64_t size)
{
	return cu_errno(to_cuda(be)->fn.cuMemUnmap(va, size));
}

static int cuda_to_host(struct spill_backend *be, void *dst, uint64_t va, uint64_t size)
{
	return cu_errno(to_cuda(be)->fn.cuMemcpyDtoH_v2(dst, va, size));
}

static int cuda_to_device(struct spill_backend *be, uint64_t va, const void *src, uint64_t size)
{
	return cu_errno(to_cuda(be)->fn.cuMemcpyHtoD_v2(va, src, size));
}

static int cuda_device_copy(struct spill_backend *be, uint64_t dst, uint64_t src, uint64_t size)
{
	return cu_errno(to_cuda(be)->fn.cuMemcpyDtoD_v2(dst, src, size));
}

static int cuda_fill(struct spill_backend *be, uint64_t va, uint8_t byte, uint64_t size)
{
	return cu_errno(to_cuda(be)->fn.cuMemsetD8_v2(va, byte, size));
}

static int cuda_sync(struct spill_backend *be)
{
	return cu_errno(to_cuda(be)->fn.cuCtxSynchronize());
}

static void cuda_close(struct spill_backend *be)
{
	free(to_cuda(be));
}

static const struct spill_backend_ops cuda_ops = {
	.size = sizeof(struct spill_backend_ops),
	.name = "cuda",
	.granularity = cuda_granularity,
	.reserve = cuda_reserve,
	.unreserve = cuda_unreserve,
	.create = cuda_create,
	.release = cuda_release,
	.map = cuda_map,
	.unmap = cuda_unmap,
	.to_host = cuda_to_host,
	.to_device = cuda_to_device,
	.device_copy = cuda_device_copy,
	.fill = cuda_fill,
	.sync = cuda_sync,
	.close = cuda_close,
};

/* The name of the first missing entry point, or NULL. */
static const char *missing_entry(const struct spill_cuda_fns *f)
{
#define NEED(name) do { if (!f->name) return #name; } while (0)
	NEED(cuMemGetAllocationGranularity);
	NEED(cuMemAddressReserve);
	NEED(cuMemAddressFree);
	NEED(cuMemCreate);
	NEED(cuMemRelease);
	NEED(cuMemMap);
	NEED(cuMemSetAccess);
	NEED(cuMemUnmap);
	NEED(cuMemcpyDtoH_v2);
	NEED(cuMemcpyHtoD_v2);
	NEED(cuMemcpyDtoD_v2);
	NEED(cuMemsetD8_v2);
	NEED(cuCtxSynchronize);
#undef NEED
	return NULL;
}

int spill_cuda_fns_load(void *(*lookup)(void *ctx, const char *name), void *ctx,
			int device, struct spill_cuda_fns *out)
{
	const char *missing;

	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->device = device;
	/* object pointer to function pointer, as dlsym() itself requires */
#define LOAD(name) do { void *p = lookup(ctx, #name); \
		memcpy(&out->name, &p, sizeof(p)); } while (0)
	LOAD(cuMemGetAllocationGranularity);
	LOAD(cuMemAddressReserve);
	LOAD(cuMemAddressFree);
	LOAD(cuMemCreate);
	LOAD(cuMemRelease);
	LOAD(cuMemMap);
	LOAD(cuMemSetAccess);
	LOAD(cuMemUnmap);
	LOAD(cuMemcpyDtoH_v2);
	LOAD(cuMemcpyHtoD_v2);
	LOAD(cuMemcpyDtoD_v2);
	LOAD(cuMemsetD8_v2);
	LOAD(cuCtxSynchronize);
#undef LOAD
	missing = missing_entry(out);
	if (missing) {
		pvm_err("gpu spill: the CUDA driver has no entry point %s; the VMM API "
			"needs CUDA 10.2 or later", missing);
		return -ENOENT;
	}
	return 0;
}

int spill_cuda_backend_open(const struct spill_cuda_fns *fns, struct spill_backend **out)
{
	struct cuda_backend *c;
	const char *missing;
	size_t gran = 0;
	int cu;

	if (!fns || fns->size < sizeof(*fns)) {
		pvm_err("gpu spill: CUDA entry point table is missing or too small");
		return -EINVAL;
	}
	missing = missing_entry(fns);
	if (missing) {
		pvm_err("gpu spill: CUDA entry point %s was not given; the driver's "
			"libcuda must provide the VMM API (CUDA 10.2 or later)", missing);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->base.ops = &cuda_ops;
	c->fn = *fns;
	c->prop.type = SPILL_CU_MEM_ALLOCATION_TYPE_PINNED;
	c->prop.location.type = SPILL_CU_MEM_LOCATION_TYPE_DEVICE;
	c->prop.location.id = fns->device;
	cu = fns->cuMemGetAllocationGranularity(&gran, &c->prop,
						 SPILL_CU_MEM_ALLOC_GRANULARITY_MINIMUM);
	if (cu != SPILL_CU_SUCCESS || gran == 0 || (gran & (gran - 1))) {
		pvm_err("gpu spill: cuMemGetAllocationGranularity on device %d failed "
			"(CUresult %d, granularity %zu)", fns->device, cu, gran);
		free(c);
		return -EIO;
	}
	c->granularity = gran;
	*out = &c->base;
	return 0;
}
