/* tests/gpu/fakecuda.c — a test double of NVIDIA's libcuda.so.1 that
 * "runs" on host memory, for testing the GPU pod's own logic (handles,
 * per-client contexts, quotas, pointer checks, batching and deferred
 * errors, clean-up when a client vanishes) on machines without a GPU. It
 * is no CUDA: device pointers are host addresses, and it knows kernels by
 * name: "vecadd" (float *a, float *b, float *c, int n), "fail" (its launch
 * fails with CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES), and, computed on the CPU
 * with the parameters of tests/gpu/e2e/kernels.cu, the MLP's "gemm",
 * "bias_act", "relu_back", "softmax_xent", "colsum", "sgd" and "empty". The
 * real driver is exercised by tests/gpu/e2e on a GPU.
 *
 * The virtual memory API (what the pod's --gpu-spill backend calls) is
 * imitated on host memory as well: cuMemAddressReserve is an
 * mmap(PROT_NONE) range, cuMemCreate a memfd of the chunk's size, cuMemMap
 * an mmap(MAP_FIXED|MAP_SHARED) of it (still PROT_NONE), cuMemSetAccess an
 * mprotect(read-write), cuMemUnmap puts PROT_NONE back, so a "kernel" or
 * copy that touches an unmapped chunk crashes the pod, as it would fault on
 * a GPU. The granularity is 2 MiB (FAKECUDA_GRANULARITY=BYTES to change).
 * Unlike the driver, these calls do not check for a current context.
 *
 * When FAKECUDA_STATS names a file, it is rewritten after every change:
 * "contexts=N allocations=N bytes=N reserved=N" (allocations and bytes
 * count cuMemAlloc memory and cuMemCreate chunks; reserved is bytes of
 * address ranges reserved).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cuda_abi.h"

#define EXPORT __attribute__((visibility("default")))

struct CUctx_st { int live; };
struct CUmod_st { char global[64]; };
struct CUfunc_st { int kind; };         /* index in kernels[] + 1 */
struct CUstream_st { int x; };
struct CUevent_st { int x; };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long contexts, allocations, bytes, reserved;
static __thread CUcontext current;
/* Kernels by name, with their parameters' sizes (offsets: each aligned to
 * its size, as nvcc lays them out). */
static const struct {
	const char *name;
	unsigned char n, size[9];
} kernels[] = {
	{ "vecadd", 4, { 8, 8, 8, 4 } },
	{ "fail", 0, { 0 } },
	{ "gemm", 9, { 4, 4, 4, 8, 8, 8, 4, 4, 4 } },
	{ "bias_act", 5, { 8, 8, 4, 4, 4 } },
	{ "relu_back", 3, { 8, 8, 4 } },
	{ "softmax_xent", 6, { 8, 8, 8, 8, 4, 4 } },
	{ "colsum", 4, { 8, 8, 4, 4 } },
	{ "sgd", 4, { 8, 8, 4, 4 } },
	{ "empty", 0, { 0 } },
};
#define NKERNELS (sizeof(kernels) / sizeof(kernels[0]))
enum { K_VECADD = 1, K_FAIL, K_GEMM, K_BIAS_ACT, K_RELU_BACK, K_SOFTMAX, K_COLSUM, K_SGD, K_EMPTY };
static struct CUfunc_st fns[NKERNELS];

static size_t param_offset(int kind, unsigned int i)
{
	size_t off = 0;
	unsigned int j;

	for (j = 0; j <= i; j++) {
		size_t a = kernels[kind - 1].size[j];

		off = (off + a - 1) / a * a;
		if (j < i)
			off += a;
	}
	return off;
}

static size_t params_size(int kind)
{
	unsigned int n = kernels[kind - 1].n;

	return n ? param_offset(kind, n - 1) + kernels[kind - 1].size[n - 1] : 0;
}
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
	fprintf(f, "contexts=%ld allocations=%ld bytes=%ld reserved=%ld\n", contexts, allocations,
		bytes, reserved);
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
	size_t i;

	for (i = 0; i < NKERNELS; i++)
		if (!strcmp(name, kernels[i].name)) {
			fns[i].kind = (int)i + 1;
			*f = &fns[i];
			return 0;
		}
	return CUDA_ERROR_NOT_FOUND;
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
	if (f->kind == K_FAIL || i >= kernels[f->kind - 1].n)
		return CUDA_ERROR_INVALID_VALUE;
	*off = param_offset(f->kind, (unsigned int)i);
	*size = kernels[f->kind - 1].size[i];
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

/* The MLP kernels of tests/gpu/e2e/kernels.cu, on the CPU. */
#define PF(o) ({ float *_p; memcpy(&_p, buf + (o), 8); _p; })
#define PI(o) ({ int _v; memcpy(&_v, buf + (o), 4); _v; })

static void k_gemm(const uint8_t *buf)
{
	int M = PI(0), N = PI(4), K = PI(8), ta = PI(40), tb = PI(44), acc = PI(48);
	const float *A = PF(16), *B = PF(24);
	float *C = PF(32);

	for (int r = 0; r < M; r++)
		for (int c = 0; c < N; c++) {
			float sum = 0.0f;

			for (int k = 0; k < K; k++)
				sum = fmaf(ta ? A[k * M + r] : A[r * K + k],
					   tb ? B[c * K + k] : B[k * N + c], sum);
			C[r * N + c] = acc ? C[r * N + c] + sum : sum;
		}
}

static void k_softmax(const uint8_t *buf)
{
	const float *logits = PF(0);
	const int *labels = (const int *)PF(8);
	float *grad = PF(16), *loss = PF(24);
	int rows = PI(32), cols = PI(36);

	for (int r = 0; r < rows; r++) {
		const float *x = logits + r * cols;
		float m = x[0], s = 0.0f;

		for (int c = 1; c < cols; c++)
			m = fmaxf(m, x[c]);
		for (int c = 0; c < cols; c++)
			s += expf(x[c] - m);
		for (int c = 0; c < cols; c++)
			grad[r * cols + c] = (expf(x[c] - m) / s - (c == labels[r] ? 1.0f : 0.0f)) / rows;
		loss[r] = logf(s) + m - x[labels[r]];
	}
}

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
			       unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
			       CUstream s, void **params, void **extra)
{
	const uint8_t *buf;
	long n, i;

	(void)gy; (void)gz; (void)by; (void)bz; (void)shmem; (void)s; (void)params;
	if (f->kind == K_FAIL)
		return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
	if (f->kind == K_EMPTY)
		return 0;
	if (!extra || extra[0] != CU_LAUNCH_PARAM_BUFFER_POINTER ||
	    *(size_t *)extra[3] != params_size(f->kind))
		return CUDA_ERROR_INVALID_VALUE;
	buf = extra[1];
	n = (long)gx * bx;
	switch (f->kind) {
	case K_VECADD: {
		float *a = PF(0), *b = PF(8), *c = PF(16);

		for (i = 0; i < PI(24) && i < n; i++)
			c[i] = a[i] + b[i];
		break;
	}
	case K_GEMM:
		k_gemm(buf);
		break;
	case K_BIAS_ACT: {
		float *y = PF(0), *b = PF(8);
		int cols = PI(20), relu = PI(24);

		for (i = 0; i < (long)PI(16) * cols && i < n; i++) {
			float v = y[i] + b[i % cols];

			y[i] = relu && v < 0.0f ? 0.0f : v;
		}
		break;
	}
	case K_RELU_BACK: {
		float *g = PF(0), *y = PF(8);

		for (i = 0; i < PI(16) && i < n; i++)
			if (y[i] <= 0.0f)
				g[i] = 0.0f;
		break;
	}
	case K_SOFTMAX:
		k_softmax(buf);
		break;
	case K_COLSUM: {
		float *g = PF(0), *db = PF(8);
		int rows = PI(16), cols = PI(20);

		for (int c = 0; c < cols && c < n; c++) {
			float sum = 0.0f;

			for (int r = 0; r < rows; r++)
				sum += g[r * cols + c];
			db[c] = sum;
		}
		break;
	}
	case K_SGD: {
		float *w = PF(0), *g = PF(8), lr;

		memcpy(&lr, buf + 16, 4);
		for (i = 0; i < PI(20) && i < n; i++)
			w[i] -= lr * g[i];
		break;
	}
	}
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

/* ---- the virtual memory API on host memory ---- */

struct vmm_chunk { int fd; size_t size; };

static void count(long *what, long delta, long *also, long also_delta)
{
	pthread_mutex_lock(&lock);
	*what += delta;
	if (also)
		*also += also_delta;
	stats();
	pthread_mutex_unlock(&lock);
}

EXPORT CUresult cuMemGetAllocationGranularity(size_t *g, const void *prop, int option)
{
	const char *env = getenv("FAKECUDA_GRANULARITY");

	(void)prop;
	if (!g || option < 0 || option > 1)
		return CUDA_ERROR_INVALID_VALUE;
	*g = env ? strtoull(env, NULL, 0) : 2u << 20;
	return 0;
}

EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t align,
				    CUdeviceptr addr, unsigned long long flags)
{
	size_t a = align ? align : 2u << 20;
	uint8_t *p, *start;

	(void)addr; (void)flags;
	if (!ptr || !size || (a & (a - 1)))
		return CUDA_ERROR_INVALID_VALUE;
	p = mmap(NULL, size + a, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	start = (uint8_t *)(((uintptr_t)p + a - 1) & ~(uintptr_t)(a - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	munmap(start + size, (size_t)(p + size + a - (start + size)));
	*ptr = (CUdeviceptr)(uintptr_t)start;
	count(&reserved, (long)size, NULL, 0);
	return 0;
}

EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	if (munmap((void *)(uintptr_t)ptr, size))
		return CUDA_ERROR_INVALID_VALUE;
	count(&reserved, -(long)size, NULL, 0);
	return 0;
}

EXPORT CUresult cuMemCreate(unsigned long long *handle, size_t size, const void *prop,
			    unsigned long long flags)
{
	struct vmm_chunk *c;

	(void)prop;
	if (!handle || !size || flags)
		return CUDA_ERROR_INVALID_VALUE;
	c = malloc(sizeof(*c));
	if (!c)
		return CUDA_ERROR_OUT_OF_MEMORY;
	c->size = size;
	c->fd = memfd_create("fakecuda-chunk", MFD_CLOEXEC);
	if (c->fd < 0 || ftruncate(c->fd, (off_t)size)) {
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*handle = (unsigned long long)(uintptr_t)c;
	count(&allocations, 1, &bytes, (long)size);
	return 0;
}

EXPORT CUresult cuMemRelease(unsigned long long handle)
{
	struct vmm_chunk *c = (struct vmm_chunk *)(uintptr_t)handle;

	if (!c)
		return CUDA_ERROR_INVALID_VALUE;
	count(&allocations, -1, &bytes, -(long)c->size);
	close(c->fd);
	free(c);
	return 0;
}

EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, unsigned long long handle,
			 unsigned long long flags)
{
	struct vmm_chunk *c = (struct vmm_chunk *)(uintptr_t)handle;

	if (!c || flags || offset + size > c->size)
		return CUDA_ERROR_INVALID_VALUE;
	if (mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_SHARED | MAP_FIXED, c->fd,
		 (off_t)offset) == MAP_FAILED)
		return CUDA_ERROR_OUT_OF_MEMORY;
	return 0;
}

struct access_desc { int type; int id; int flags; };

EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const void *desc, size_t count_)
{
	const struct access_desc *d = desc;

	if (!d || count_ != 1 || d->type != 1 || d->id != 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (mprotect((void *)(uintptr_t)ptr, size,
		     d->flags == 3 ? PROT_READ | PROT_WRITE : d->flags == 1 ? PROT_READ : PROT_NONE))
		return CUDA_ERROR_INVALID_VALUE;
	return 0;
}

EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	if (mmap((void *)(uintptr_t)ptr, size, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		return CUDA_ERROR_INVALID_VALUE;
	return 0;
}
