/* tests/gpu/fakecuda.c — a test double of NVIDIA's libcuda.so.1 that
 * "runs" on host memory, for testing the GPU pod's own logic (handles,
 * per-client contexts, quotas, pointer checks, batching and deferred
 * errors, clean-up when a client vanishes) on machines without a GPU. It
 * is no CUDA: device pointers are host addresses, and it knows two
 * kernels by name: "vecadd" (float *a, float *b, float *c, int n) and
 * "fail" (its launch fails with CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES). The
 * real driver is exercised by tests/gpu/e2e on a GPU.
 *
 * When FAKECUDA_STATS names a file, it is rewritten after every change:
 * "contexts=N allocations=N bytes=N".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_abi.h"

#define EXPORT __attribute__((visibility("default")))

struct CUctx_st { int live; };
struct CUmod_st { char global[64]; };
struct CUfunc_st { int kind; };         /* 1 vecadd, 2 fail */
struct CUstream_st { int x; };
struct CUevent_st { int x; };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long contexts, allocations, bytes;
static __thread CUcontext current;
static struct CUfunc_st vecadd_fn = { 1 }, fail_fn = { 2 };
/* Contexts and modules come from pools, so that handles the pod keeps
 * after destroying them stay readable, and nothing leaks. */
static struct CUctx_st ctx_pool[256];
static struct CUmod_st mod_pool[256];
static char mod_used[256];

struct alloc_hdr { size_t size; CUcontext ctx; };

static void stats(void)
{
	const char *path = getenv("FAKECUDA_STATS");
	char tmp[512];
	FILE *f;

	if (!path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "contexts=%ld allocations=%ld bytes=%ld\n", contexts, allocations, bytes);
	fclose(f);
	rename(tmp, path);
}

EXPORT CUresult cuInit(unsigned int f) { return f ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS; }
EXPORT CUresult cuDriverGetVersion(int *v) { *v = 12040; return 0; }
EXPORT CUresult cuDeviceGetCount(int *n) { *n = 1; return 0; }
EXPORT CUresult cuDeviceGet(CUdevice *d, int o) { *d = 0; return o ? CUDA_ERROR_INVALID_DEVICE : 0; }

EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
	snprintf(name, (size_t)len, "poolvm host-memory test double");
	return d ? CUDA_ERROR_INVALID_DEVICE : 0;
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t *b, CUdevice d) { *b = 1ul << 30; return d ? 101 : 0; }

EXPORT CUresult cuDeviceGetAttribute(int *v, int a, CUdevice d)
{
	*v = a == 75 ? 8 : a == 76 ? 6 : 0;
	return d ? CUDA_ERROR_INVALID_DEVICE : 0;
}

EXPORT CUresult cuCtxCreate_v2(CUcontext *c, unsigned int flags, CUdevice d)
{
	int i;

	(void)flags;
	if (d)
		return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&lock);
	for (i = 0; i < 256 && ctx_pool[i].live; i++)
		;
	if (i == 256) {
		pthread_mutex_unlock(&lock);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*c = &ctx_pool[i];
	(*c)->live = 1;
	current = *c;
	contexts++;
	stats();
	pthread_mutex_unlock(&lock);
	return 0;
}

EXPORT CUresult cuCtxDestroy_v2(CUcontext c)
{
	if (!c || !c->live)
		return CUDA_ERROR_INVALID_CONTEXT;
	c->live = 0;
	if (current == c)
		current = NULL;
	pthread_mutex_lock(&lock);
	contexts--;
	stats();
	pthread_mutex_unlock(&lock);
	return 0;
}

EXPORT CUresult cuCtxSetCurrent(CUcontext c) { current = c; return 0; }
EXPORT CUresult cuCtxSynchronize(void) { return current ? 0 : CUDA_ERROR_INVALID_CONTEXT; }

EXPORT CUresult cuModuleLoadData(CUmodule *m, const void *img)
{
	int i;

	if (!current)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (strncmp(img, "//", 2))       /* "//fake", or PTX from nvcc */
		return CUDA_ERROR_INVALID_IMAGE;
	pthread_mutex_lock(&lock);
	for (i = 0; i < 256 && mod_used[i]; i++)
		;
	if (i < 256)
		mod_used[i] = 1;
	pthread_mutex_unlock(&lock);
	if (i == 256)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*m = &mod_pool[i];
	return 0;
}

EXPORT CUresult cuModuleUnload(CUmodule m)
{
	pthread_mutex_lock(&lock);
	mod_used[m - mod_pool] = 0;
	pthread_mutex_unlock(&lock);
	return 0;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name)
{
	(void)m;
	if (!strcmp(name, "vecadd"))
		*f = &vecadd_fn;
	else if (!strcmp(name, "fail"))
		*f = &fail_fn;
	else
		return CUDA_ERROR_NOT_FOUND;
	return 0;
}

EXPORT CUresult cuModuleGetGlobal_v2(CUdeviceptr *p, size_t *size, CUmodule m, const char *name)
{
	if (strcmp(name, "gvar"))
		return CUDA_ERROR_NOT_FOUND;
	*p = (CUdeviceptr)(uintptr_t)m->global;
	*size = sizeof(m->global);
	return 0;
}

EXPORT CUresult cuFuncGetParamInfo(CUfunction f, size_t i, size_t *off, size_t *size)
{
	if (f->kind != 1 || i > 3)
		return CUDA_ERROR_INVALID_VALUE;
	*off = i * 8;
	*size = i == 3 ? 4 : 8;
	return 0;
}

static int max_dynamic_smem = 0;
EXPORT CUresult cuFuncGetAttribute(int *v, int a, CUfunction f) { (void)f; *v = a == 8 ? max_dynamic_smem : 0; return 0; }
EXPORT CUresult cuFuncSetAttribute(CUfunction f, int a, int v) { (void)f; if (a != 8) return CUDA_ERROR_INVALID_VALUE; max_dynamic_smem = v; return 0; }

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t size)
{
	struct alloc_hdr *h;

	if (!current)
		return CUDA_ERROR_INVALID_CONTEXT;
	h = malloc(sizeof(*h) + size);
	if (!h)
		return CUDA_ERROR_OUT_OF_MEMORY;
	h->size = size;
	h->ctx = current;
	*p = (CUdeviceptr)(uintptr_t)(h + 1);
	pthread_mutex_lock(&lock);
	allocations++;
	bytes += (long)size;
	stats();
	pthread_mutex_unlock(&lock);
	return 0;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr p)
{
	struct alloc_hdr *h = (struct alloc_hdr *)(uintptr_t)p - 1;

	pthread_mutex_lock(&lock);
	allocations--;
	bytes -= (long)h->size;
	stats();
	pthread_mutex_unlock(&lock);
	free(h);
	return 0;
}

EXPORT CUresult cuMemGetInfo_v2(size_t *f, size_t *t) { *f = 1ul << 29; *t = 1ul << 30; return 0; }

#define P(x) ((void *)(uintptr_t)(x))
EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) { memcpy(P(d), s, n); return 0; }
EXPORT CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) { memcpy(d, P(s), n); return 0; }
EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { memmove(P(d), P(s), n); return 0; }
EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, CUstream st) { (void)st; memcpy(P(d), s, n); return 0; }
EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st) { (void)st; memmove(P(d), P(s), n); return 0; }
EXPORT CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { memset(P(d), v, n); return 0; }

EXPORT CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned int v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		memcpy((char *)P(d) + 4 * i, &v, 4);
	return 0;
}

EXPORT CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s) { (void)s; return cuMemsetD8_v2(d, v, n); }
EXPORT CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream s) { (void)s; return cuMemsetD32_v2(d, v, n); }

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
			       unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
			       CUstream s, void **params, void **extra)
{
	const uint8_t *buf;
	float *a, *b, *c;
	int n;

	(void)gy; (void)gz; (void)by; (void)bz; (void)shmem; (void)s; (void)params;
	if (f->kind == 2)
		return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
	if (!extra || extra[0] != CU_LAUNCH_PARAM_BUFFER_POINTER || *(size_t *)extra[3] != 28)
		return CUDA_ERROR_INVALID_VALUE;
	buf = extra[1];
	memcpy(&a, buf, 8);
	memcpy(&b, buf + 8, 8);
	memcpy(&c, buf + 16, 8);
	memcpy(&n, buf + 24, 4);
	for (long i = 0; i < n && i < (long)gx * bx; i++)
		c[i] = a[i] + b[i];
	return 0;
}

EXPORT CUresult cuStreamCreateWithPriority(CUstream *s, unsigned int f, int p) { (void)f; (void)p; *s = calloc(1, sizeof(**s)); return 0; }
EXPORT CUresult cuStreamDestroy_v2(CUstream s) { free(s); return 0; }
EXPORT CUresult cuStreamSynchronize(CUstream s) { (void)s; return 0; }
EXPORT CUresult cuStreamQuery(CUstream s) { (void)s; return 0; }
EXPORT CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int f) { (void)s; (void)e; (void)f; return 0; }
EXPORT CUresult cuEventCreate(CUevent *e, unsigned int f) { (void)f; *e = calloc(1, sizeof(**e)); return 0; }
EXPORT CUresult cuEventDestroy_v2(CUevent e) { free(e); return 0; }
EXPORT CUresult cuEventRecord(CUevent e, CUstream s) { (void)e; (void)s; return 0; }
EXPORT CUresult cuEventSynchronize(CUevent e) { (void)e; return 0; }
EXPORT CUresult cuEventQuery(CUevent e) { (void)e; return 0; }
EXPORT CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b) { (void)a; (void)b; *ms = 1.5f; return 0; }
