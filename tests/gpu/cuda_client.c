/* tests/gpu/cuda_client.c — an ordinary driver-API program (it includes
 * NVIDIA's cuda.h when the toolkit is installed, poolvm's cuda_abi.h
 * otherwise, and links -lcuda), run against poolvm's libcuda.so.1 and a
 * GPU pod without a GPU. It checks what the driver API documents for such
 * a machine, and what the shim promises when the pod fails.
 *
 *   cuda_client nodevice   cuInit -> CUDA_ERROR_NO_DEVICE; the rest clean
 *   cuda_client refused    cuInit -> CUDA_ERROR_NOT_PERMITTED (wrong secret)
 *   cuda_client nopod      cuInit -> CUDA_ERROR_NO_DEVICE (nothing listening)
 *   cuda_client loop       round trips until one fails; prints READY after
 *                          the first, then must end with
 *                          CUDA_ERROR_DEVICE_UNAVAILABLE (the pod is killed)
 *   cuda_client fake QUOTA against a pod on the host-memory test double
 *                          (fakecuda.c) with --gpu-quota QUOTA bytes: the
 *                          whole forwarding path, batching, deferred
 *                          errors, handle and pointer checks, the quota
 *   cuda_client hold       allocate, print READY, wait to be killed
 *   cuda_client overhead N against the test double: N launches of "vecadd"
 *                          (n = 0) then one sync, and N cuStreamSynchronize;
 *                          prints launch_us= and sync_us= (protocol cost)
 *   cuda_client threads    against the test double: 4 threads share the
 *                          connection, each its own stream and buffers
 *   cuda_client badpod     the "pod" answers garbage after the handshake:
 *                          CUDA_ERROR_DEVICE_UNAVAILABLE, no crash
 *   cuda_client spill QUOTA [hold]
 *                          against the test double: 16 buffers of 2 MiB and
 *                          one of 3 MiB + 1000 bytes, 4.4 x QUOTA in all
 *                          (QUOTA 8 MiB), then 8 rounds of "vecadd" launches
 *                          over them, HtoD/DtoH/DtoD copies (sync and async)
 *                          and D8/D32 memsets, every byte checked against a
 *                          copy kept here. Exit 3 (and "OUT_OF_MEMORY") when
 *                          an allocation is refused: a pod without
 *                          --gpu-spill. "hold": print READY after the first
 *                          round and wait to be killed
 * Exit 0 when every check held, 1 otherwise (each failure printed).
 */
#ifdef HAVE_CUDA_H
#include <cuda.h>
#else
#define PVM_CUDA_ABI_MAP_NAMES
#include "cuda_abi.h"
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int failures;     /* threads mode counts from several threads */

#define EXPECT(call, want) do { \
	CUresult _r = (call); \
	if (_r != (want)) { \
		const char *_n = NULL; \
		cuGetErrorName(_r, &_n); \
		printf("FAIL %s:%d: %s returned %d (%s), expected %s\n", __FILE__, \
		       __LINE__, #call, (int)_r, _n ? _n : "?", #want); \
		failures++; \
	} \
} while (0)

#define CHECKF(...) do { printf("FAIL: " __VA_ARGS__); printf("\n"); failures++; } while (0)

static CUresult (*unsupported_fn)(void);

static void offline_checks(void)
{
	const char *s = NULL;
	void *fn = NULL;
	CUdeviceptr p = 0;
	CUcontext ctx = NULL;
	CUmodule mod = NULL;
	CUstream st = NULL;
	CUevent ev = NULL;
	int n = -1;
	size_t fr, tot;

	/* Before a successful cuInit, the driver answers NOT_INITIALIZED. */
	EXPECT(cuDeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
	EXPECT(cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_ERROR_NOT_INITIALIZED);
	EXPECT(cuMemAlloc(&p, 4096), CUDA_ERROR_NOT_INITIALIZED);
	EXPECT(cuMemGetInfo(&fr, &tot), CUDA_ERROR_NOT_INITIALIZED);
	EXPECT(cuModuleLoadData(&mod, ".version 8.0\n"), CUDA_ERROR_NOT_INITIALIZED);
	EXPECT(cuStreamCreate(&st, 0), CUDA_ERROR_NOT_INITIALIZED);
	EXPECT(cuEventCreate(&ev, 0), CUDA_ERROR_NOT_INITIALIZED);
	EXPECT(cuCtxSynchronize(), CUDA_ERROR_NOT_INITIALIZED);
	EXPECT(cuLaunchKernel(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL),
	       CUDA_ERROR_NOT_INITIALIZED);

	/* Local answers. */
	EXPECT(cuGetErrorName(CUDA_ERROR_NO_DEVICE, &s), CUDA_SUCCESS);
	if (!s || strcmp(s, "CUDA_ERROR_NO_DEVICE")) {
		printf("FAIL: cuGetErrorName(100) = %s\n", s ? s : "NULL");
		failures++;
	}
	EXPECT(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &s), CUDA_SUCCESS);
	EXPECT(cuGetErrorName((CUresult)123456, &s), CUDA_ERROR_INVALID_VALUE);
	EXPECT(cuGetProcAddress("cuMemAlloc", &fn, 12000, 0, NULL), CUDA_SUCCESS);
	if (fn != (void *)cuMemAlloc) {
		printf("FAIL: cuGetProcAddress(cuMemAlloc, 12000) is not cuMemAlloc_v2\n");
		failures++;
	}
	EXPECT(cuGetProcAddress("cuLaunchKernel", &fn, 12000, 0, NULL), CUDA_SUCCESS);
	if (fn != (void *)cuLaunchKernel) {
		printf("FAIL: cuGetProcAddress(cuLaunchKernel) is not cuLaunchKernel\n");
		failures++;
	}
	EXPECT(cuGetProcAddress("cuGraphLaunch", &fn, 12000, 0, NULL), CUDA_SUCCESS);
	unsupported_fn = (CUresult (*)(void))fn;
	if (!fn || unsupported_fn() != CUDA_ERROR_NOT_SUPPORTED) {
		printf("FAIL: an unimplemented entry point does not return NOT_SUPPORTED\n");
		failures++;
	}
	EXPECT(cuGetProcAddress("notCuda", &fn, 12000, 0, NULL), CUDA_ERROR_NOT_FOUND);
#ifdef HAVE_CUDA_H
	/* Linked by name against any other driver API function: it loads, and
	 * the call is refused cleanly. */
	EXPECT(cuMemAllocManaged(&p, 4096, CU_MEM_ATTACH_GLOBAL), CUDA_ERROR_NOT_SUPPORTED);
	EXPECT(cuGraphCreate(NULL, 0), CUDA_ERROR_NOT_SUPPORTED);
#endif
	EXPECT(cuInit(1), CUDA_ERROR_INVALID_VALUE);
}

static void fake_checks(size_t quota)
{
	enum { N = 1000 };
	static float a[N], b[N], c[N];
	CUdevice dev = -1;
	CUcontext ctx = NULL, cur = NULL;
	CUmodule mod = NULL;
	CUfunction vecadd = NULL, fail = NULL;
	CUstream st = NULL;
	CUevent e0 = NULL, e1 = NULL;
	CUdeviceptr da = 0, db = 0, dc = 0, big = 0, g = 0;
	size_t fr = 0, tot = 0, gsize = 0;
	unsigned int flags = 9;
	int n = N, v = 0, active = -1, i, bad = 0;
	char name[64] = "";
	float ms = 0;
	void *params[] = { &da, &db, &dc, &n };
	uint32_t words[4];

	for (i = 0; i < N; i++) {
		a[i] = (float)i;
		b[i] = 0.5f * (float)i;
	}
	EXPECT(cuInit(0), CUDA_SUCCESS);
	EXPECT(cuDriverGetVersion(&v), CUDA_SUCCESS);
	EXPECT(cuDeviceGetCount(&n), CUDA_SUCCESS);
	if (n != 1) { printf("FAIL: %d devices\n", n); failures++; }
	n = N;
	EXPECT(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
	EXPECT(cuDeviceGet(&dev, 1), CUDA_ERROR_INVALID_DEVICE);
	EXPECT(cuDeviceGet(&dev, 0), CUDA_SUCCESS);
	EXPECT(cuDeviceGetName(name, sizeof(name), dev), CUDA_SUCCESS);
	if (!strstr(name, "test double")) { printf("FAIL: name '%s'\n", name); failures++; }
	EXPECT(cuDeviceGetAttribute(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), CUDA_SUCCESS);
	if (v != 8) { printf("FAIL: major %d\n", v); failures++; }
	EXPECT(cuDeviceTotalMem(&tot, dev), CUDA_SUCCESS);
	if (tot != quota) { printf("FAIL: total %zu, quota %zu\n", tot, quota); failures++; }
	EXPECT(cuDevicePrimaryCtxGetState(dev, &flags, &active), CUDA_SUCCESS);
	if (active != 0) { printf("FAIL: primary active before retain\n"); failures++; }
	/* No context yet: calls that need one say so. */
	EXPECT(cuMemAlloc(&da, 16), CUDA_ERROR_INVALID_CONTEXT);
	EXPECT(cuDevicePrimaryCtxRetain(&ctx, dev), CUDA_SUCCESS);
	EXPECT(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
	EXPECT(cuCtxGetCurrent(&cur), CUDA_SUCCESS);
	if (cur != ctx) { printf("FAIL: current context\n"); failures++; }
	EXPECT(cuDevicePrimaryCtxGetState(dev, &flags, &active), CUDA_SUCCESS);
	if (active != 1) { printf("FAIL: primary not active after retain\n"); failures++; }
	EXPECT(cuCtxGetDevice(&dev), CUDA_SUCCESS);
	EXPECT(cuModuleLoadData(&mod, "not a module"), CUDA_ERROR_INVALID_IMAGE);
	EXPECT(cuModuleLoadData(&mod, "//fake module\n.entry vecadd\n"), CUDA_SUCCESS);
	EXPECT(cuModuleGetFunction(&vecadd, mod, "vecadd"), CUDA_SUCCESS);
	EXPECT(cuModuleGetFunction(&fail, mod, "fail"), CUDA_SUCCESS);
	EXPECT(cuModuleGetFunction(&fail, mod, "nosuch"), CUDA_ERROR_NOT_FOUND);
	EXPECT(cuModuleGetFunction(&fail, mod, "fail"), CUDA_SUCCESS);
	EXPECT(cuModuleGetFunction(&vecadd, (CUmodule)(uintptr_t)0x4242, "vecadd"),
	       CUDA_ERROR_INVALID_HANDLE);
	EXPECT(cuModuleGetFunction(&vecadd, mod, "vecadd"), CUDA_SUCCESS);
	/* 8: CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
	EXPECT(cuFuncSetAttribute(vecadd, (CUfunction_attribute)8, 65536), CUDA_SUCCESS);
	EXPECT(cuFuncGetAttribute(&v, (CUfunction_attribute)8, vecadd), CUDA_SUCCESS);
	if (v != 65536) { printf("FAIL: function attribute %d\n", v); failures++; }
	EXPECT(cuFuncSetAttribute(vecadd, (CUfunction_attribute)3, 1), CUDA_ERROR_INVALID_VALUE);
	EXPECT(cuModuleGetGlobal(&g, &gsize, mod, "gvar"), CUDA_SUCCESS);
	if (gsize != 64) { printf("FAIL: global size %zu\n", gsize); failures++; }
	EXPECT(cuMemsetD32(g, 0xabcdef01u, 16), CUDA_SUCCESS);
	EXPECT(cuMemcpyDtoH(words, g, sizeof(words)), CUDA_SUCCESS);
	if (words[3] != 0xabcdef01u) { printf("FAIL: global memset\n"); failures++; }

	/* Synchronous path: allocate, copy, launch with kernelParams, read back. */
	EXPECT(cuMemAlloc(&da, sizeof(a)), CUDA_SUCCESS);
	EXPECT(cuMemAlloc(&db, sizeof(b)), CUDA_SUCCESS);
	EXPECT(cuMemAlloc(&dc, sizeof(c)), CUDA_SUCCESS);
	EXPECT(cuMemcpyHtoD(da, a, sizeof(a)), CUDA_SUCCESS);
	EXPECT(cuMemcpyHtoD(db, b, sizeof(b)), CUDA_SUCCESS);
	EXPECT(cuLaunchKernel(vecadd, (N + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL),
	       CUDA_SUCCESS);
	EXPECT(cuCtxSynchronize(), CUDA_SUCCESS);
	EXPECT(cuMemcpyDtoH(c, dc, sizeof(c)), CUDA_SUCCESS);
	for (i = 0; i < N; i++)
		bad += c[i] != a[i] + b[i];
	if (bad) { printf("FAIL: vecadd wrong in %d places\n", bad); failures++; }

	/* Asynchronous path: one batch on a stream, events around it. */
	EXPECT(cuStreamCreate(&st, 0), CUDA_SUCCESS);
	EXPECT(cuEventCreate(&e0, 0), CUDA_SUCCESS);
	EXPECT(cuEventCreate(&e1, 0), CUDA_SUCCESS);
	for (i = 0; i < N; i++)
		a[i] = 2.0f * (float)i;
	EXPECT(cuEventRecord(e0, st), CUDA_SUCCESS);
	EXPECT(cuMemsetD32Async(dc, 0, N, st), CUDA_SUCCESS);
	EXPECT(cuMemcpyHtoDAsync(da, a, sizeof(a), st), CUDA_SUCCESS);
	EXPECT(cuLaunchKernel(vecadd, (N + 255) / 256, 1, 1, 256, 1, 1, 0, st, params, NULL),
	       CUDA_SUCCESS);
	EXPECT(cuMemcpyDtoDAsync(db, dc, sizeof(c), st), CUDA_SUCCESS);
	EXPECT(cuEventRecord(e1, st), CUDA_SUCCESS);
	EXPECT(cuStreamWaitEvent(NULL, e1, 0), CUDA_SUCCESS);
	EXPECT(cuStreamSynchronize(st), CUDA_SUCCESS);
	EXPECT(cuEventSynchronize(e1), CUDA_SUCCESS);
	EXPECT(cuEventQuery(e1), CUDA_SUCCESS);
	EXPECT(cuEventElapsedTime(&ms, e0, e1), CUDA_SUCCESS);
	if (ms != 1.5f) { printf("FAIL: elapsed %f\n", ms); failures++; }
	EXPECT(cuMemcpyDtoHAsync(c, db, sizeof(c), st), CUDA_SUCCESS);
	bad = 0;
	for (i = 0; i < N; i++)
		bad += c[i] != a[i] + b[i];
	if (bad) { printf("FAIL: async batch wrong in %d places\n", bad); failures++; }
	EXPECT(cuMemsetD8(dc, 7, 3), CUDA_SUCCESS);
	EXPECT(cuMemcpyDtoD(db, dc, 4), CUDA_SUCCESS);
	EXPECT(cuMemcpyDtoH(words, db, 4), CUDA_SUCCESS);
	if (words[0] != 0x00070707u) { printf("FAIL: memset/DtoD %08x\n", words[0]); failures++; }

	/* Deferred errors: a failing launch is reported by the next sync call, once. */
	EXPECT(cuLaunchKernel(fail, 1, 1, 1, 1, 1, 1, 0, st, NULL, NULL), CUDA_SUCCESS);
	EXPECT(cuStreamSynchronize(st), CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
	EXPECT(cuStreamSynchronize(st), CUDA_SUCCESS);
	EXPECT(cuEventRecord((CUevent)(uintptr_t)0x777, st), CUDA_SUCCESS);
	EXPECT(cuStreamQuery(st), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(cuStreamSynchronize((CUstream)(uintptr_t)0x12345), CUDA_ERROR_INVALID_HANDLE);

	/* Pointers must be the client's own. */
	EXPECT(cuMemFree(da + 4), CUDA_ERROR_INVALID_VALUE);
	EXPECT(cuMemcpyHtoD(da + sizeof(a) - 4, a, 8), CUDA_ERROR_INVALID_VALUE);
	EXPECT(cuMemcpyDtoH(c, (CUdeviceptr)(uintptr_t)c, 8), CUDA_ERROR_INVALID_VALUE);
	EXPECT(cuMemsetD32(0x1000, 0, 1), CUDA_ERROR_INVALID_VALUE);

	/* The quota. */
	EXPECT(cuMemGetInfo(&fr, &tot), CUDA_SUCCESS);
	if (tot != quota || fr != quota - 3 * sizeof(a)) {
		printf("FAIL: cuMemGetInfo %zu/%zu under quota %zu\n", fr, tot, quota);
		failures++;
	}
	EXPECT(cuMemAlloc(&big, fr + 1), CUDA_ERROR_OUT_OF_MEMORY);
	EXPECT(cuMemAlloc(&big, fr), CUDA_SUCCESS);
	EXPECT(cuMemAlloc(&dc, 1), CUDA_ERROR_OUT_OF_MEMORY);
	EXPECT(cuMemFree(big), CUDA_SUCCESS);
	EXPECT(cuMemFree(big), CUDA_ERROR_INVALID_VALUE);

	EXPECT(cuEventDestroy(e0), CUDA_SUCCESS);
	EXPECT(cuEventDestroy(e1), CUDA_SUCCESS);
	EXPECT(cuEventDestroy(e1), CUDA_ERROR_INVALID_HANDLE);
	EXPECT(cuStreamDestroy(st), CUDA_SUCCESS);
	EXPECT(cuMemFree(da), CUDA_SUCCESS);
	EXPECT(cuMemFree(db), CUDA_SUCCESS);
	EXPECT(cuModuleUnload(mod), CUDA_SUCCESS);
	EXPECT(cuLaunchKernel(vecadd, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), CUDA_SUCCESS);
	EXPECT(cuCtxSynchronize(), CUDA_ERROR_INVALID_HANDLE);  /* function unloaded */
	EXPECT(cuDevicePrimaryCtxRelease(dev), CUDA_SUCCESS);
	EXPECT(cuDevicePrimaryCtxGetState(dev, &flags, &active), CUDA_SUCCESS);
	if (active != 0) { printf("FAIL: primary active after release\n"); failures++; }
}

/* ---- spill: a footprint larger than the quota ---- */

#define SP_BUFS 16
#define SP_N    (512 * 1024)            /* floats per buffer: 2 MiB */
#define SP_ODD  (3 * 1024 * 1024 + 1000)

static uint32_t sp_rand_state = 12345;

static uint32_t sp_rand(void)
{
	sp_rand_state = sp_rand_state * 1103515245u + 12345u;
	return sp_rand_state >> 8;
}

/* Compare device bytes with the copy kept here. */
static long sp_check(CUdeviceptr d, const void *want, size_t n, void *scratch)
{
	long bad = 0;
	size_t i;

	EXPECT(cuMemcpyDtoH(scratch, d, n), CUDA_SUCCESS);
	if (!memcmp(scratch, want, n))
		return 0;
	for (i = 0; i < n; i++)
		bad += ((const uint8_t *)scratch)[i] != ((const uint8_t *)want)[i];
	return bad;
}

static int spill_checks(size_t quota, int hold)
{
	static float host[SP_BUFS][SP_N];
	static uint8_t odd[SP_ODD], scratch[SP_ODD];
	uint8_t gshadow[64];
	CUdeviceptr buf[SP_BUFS], dodd = 0, g = 0;
	size_t gsize = 0;
	CUcontext ctx;
	CUmodule mod;
	CUfunction vecadd;
	CUstream st;
	size_t fr = 0, tot = 0, foot = SP_BUFS * sizeof(host[0]) + SP_ODD;
	long bad = 0, checks = 0;
	int i, j, round, n = SP_N;
	CUresult r;

	EXPECT(cuInit(0), CUDA_SUCCESS);
	EXPECT(cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_SUCCESS);
	EXPECT(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
	EXPECT(cuModuleLoadData(&mod, "//fake\n"), CUDA_SUCCESS);
	EXPECT(cuModuleGetFunction(&vecadd, mod, "vecadd"), CUDA_SUCCESS);
	EXPECT(cuModuleGetGlobal(&g, &gsize, mod, "gvar"), CUDA_SUCCESS);
	EXPECT(cuStreamCreate(&st, 0), CUDA_SUCCESS);
	for (i = 0; i < SP_BUFS; i++) {
		r = cuMemAlloc(&buf[i], sizeof(host[i]));
		if (r == CUDA_ERROR_OUT_OF_MEMORY) {
			printf("allocation %d of %d bytes: CUDA_ERROR_OUT_OF_MEMORY (footprint %zu, "
			       "quota %zu)\n", i, (int)sizeof(host[i]), foot, quota);
			return 3;
		}
		EXPECT(r, CUDA_SUCCESS);
	}
	EXPECT(cuMemAlloc(&dodd, SP_ODD), CUDA_SUCCESS);
	printf("footprint_bytes=%zu quota_bytes=%zu\n", foot, quota);
	EXPECT(cuMemGetInfo(&fr, &tot), CUDA_SUCCESS);
	if (tot < foot || fr != tot - foot) {
		printf("FAIL: cuMemGetInfo %zu free of %zu with %zu allocated\n", fr, tot, foot);
		failures++;
	}
	/* Small integers: sums stay exact, and the double's kernel computes
	 * them as this program does. */
	for (i = 0; i < SP_BUFS; i++) {
		for (j = 0; j < SP_N; j++)
			host[i][j] = (float)((i * 7 + j) % 1000);
		EXPECT(cuMemcpyHtoD(buf[i], host[i], sizeof(host[i])), CUDA_SUCCESS);
	}
	for (j = 0; j < SP_ODD; j++)
		odd[j] = (uint8_t)(j * 31 + 7);
	EXPECT(cuMemcpyHtoD(dodd, odd, SP_ODD), CUDA_SUCCESS);

	for (round = 0; round < 8; round++) {
		for (i = 0; i < SP_BUFS; i++) {
			int a = i, b = (i + 1) % SP_BUFS, c = (i + 5) % SP_BUFS;
			void *params[] = { &buf[a], &buf[b], &buf[c], &n };
			uint32_t op = sp_rand() % 8;

			EXPECT(cuLaunchKernel(vecadd, SP_N / 256, 1, 1, 256, 1, 1, 0,
					      (i & 1) ? st : NULL, params, NULL), CUDA_SUCCESS);
			for (j = 0; j < SP_N; j++)
				host[c][j] = host[a][j] + host[b][j];
			if (op == 0) {          /* a D32 memset over part of a buffer */
				int d = (int)(sp_rand() % SP_BUFS), off = (int)(sp_rand() % (SP_N / 2));
				float v = (float)(sp_rand() % 100);
				uint32_t bits;

				memcpy(&bits, &v, 4);
				EXPECT(cuMemsetD32Async(buf[d] + 4 * (size_t)off, bits, SP_N / 4, st),
				       CUDA_SUCCESS);
				for (j = off; j < off + SP_N / 4; j++)
					host[d][j] = v;
			} else if (op == 1) {   /* a device-to-device copy */
				int d = (int)(sp_rand() % SP_BUFS), src = (int)(sp_rand() % SP_BUFS);

				if (d != src) {
					EXPECT(cuMemcpyDtoD(buf[d], buf[src], sizeof(host[d])),
					       CUDA_SUCCESS);
					memcpy(host[d], host[src], sizeof(host[d]));
				}
			} else if (op == 2) {   /* a partial write, async */
				int d = (int)(sp_rand() % SP_BUFS), off = (int)(sp_rand() % (SP_N - 4096));

				for (j = off; j < off + 4096; j++)
					host[d][j] = (float)(j % 77);
				EXPECT(cuMemcpyHtoDAsync(buf[d] + 4 * (size_t)off, &host[d][off],
							 4 * 4096, st), CUDA_SUCCESS);
				EXPECT(cuStreamSynchronize(st), CUDA_SUCCESS);
			} else if (op == 3) {   /* the odd buffer: memset D8, a DtoD into it */
				size_t off = sp_rand() % (SP_ODD - 70000), len = 1 + sp_rand() % 65536;
				unsigned char v = (unsigned char)sp_rand();

				EXPECT(cuMemsetD8(dodd + off, v, len), CUDA_SUCCESS);
				memset(odd + off, v, len);
				off = sp_rand() % (SP_ODD - 8192);
				EXPECT(cuMemcpyDtoD(dodd + off, buf[i] + 4, 8192), CUDA_SUCCESS);
				memcpy(odd + off, (uint8_t *)host[i] + 4, 8192);
			} else if (op == 5 && gsize == sizeof(gshadow)) {
				/* through a module global (not the backend's memory) */
				int d = (int)(sp_rand() % SP_BUFS), src = (int)(sp_rand() % SP_BUFS);

				EXPECT(cuMemcpyDtoD(g, buf[src] + 256, 64), CUDA_SUCCESS);
				memcpy(gshadow, (uint8_t *)host[src] + 256, 64);
				EXPECT(cuMemcpyDtoD(buf[d] + 1024, g, 64), CUDA_SUCCESS);
				memcpy((uint8_t *)host[d] + 1024, gshadow, 64);
				checks++;
			} else if (op == 4) {   /* read one back now */
				int d = (int)(sp_rand() % SP_BUFS);

				EXPECT(cuMemcpyDtoHAsync(scratch, buf[d], sizeof(host[d]), st),
				       CUDA_SUCCESS);
				bad += memcmp(scratch, host[d], sizeof(host[d])) != 0;
				checks++;
			}
		}
		if (round == 0 && hold) {
			printf("READY\n");
			for (;;)
				pause();
		}
		EXPECT(cuCtxSynchronize(), CUDA_SUCCESS);
	}
	/* Every byte of every buffer. */
	for (i = 0; i < SP_BUFS; i++) {
		long b = sp_check(buf[i], host[i], sizeof(host[i]), scratch);

		if (b)
			printf("FAIL: buffer %d: %ld bytes differ\n", i, b);
		bad += b;
	}
	bad += sp_check(dodd, odd, SP_ODD, scratch);
	checks += SP_BUFS + 1;
	if (bad) {
		printf("FAIL: %ld wrong (of %ld checks)\n", bad, checks);
		failures++;
	}
	printf("checked=%ld buffers, every byte\n", checks);
	for (i = 0; i < SP_BUFS; i++)
		EXPECT(cuMemFree(buf[i]), CUDA_SUCCESS);
	EXPECT(cuMemFree(dodd), CUDA_SUCCESS);
	EXPECT(cuStreamDestroy(st), CUDA_SUCCESS);
	EXPECT(cuModuleUnload(mod), CUDA_SUCCESS);
	EXPECT(cuDevicePrimaryCtxRelease(0), CUDA_SUCCESS);
	return 0;
}

static CUcontext shared_ctx;
static CUmodule shared_mod;

static void *worker(void *arg)
{
	enum { M = 4096 };
	float a[M], b[M], c[M];
	long id = (long)arg;
	CUfunction f;
	CUstream st;
	CUdeviceptr da, db, dc;
	int n = M, it, i, bad = 0;
	void *params[] = { &da, &db, &dc, &n };

	EXPECT(cuCtxSetCurrent(shared_ctx), CUDA_SUCCESS);
	EXPECT(cuModuleGetFunction(&f, shared_mod, "vecadd"), CUDA_SUCCESS);
	EXPECT(cuStreamCreate(&st, 0), CUDA_SUCCESS);
	EXPECT(cuMemAlloc(&da, sizeof(a)), CUDA_SUCCESS);
	EXPECT(cuMemAlloc(&db, sizeof(b)), CUDA_SUCCESS);
	EXPECT(cuMemAlloc(&dc, sizeof(c)), CUDA_SUCCESS);
	for (it = 0; it < 200; it++) {
		for (i = 0; i < M; i++) {
			a[i] = (float)(id * 1000 + it);
			b[i] = (float)i;
		}
		EXPECT(cuMemcpyHtoDAsync(da, a, sizeof(a), st), CUDA_SUCCESS);
		EXPECT(cuMemcpyHtoDAsync(db, b, sizeof(b), st), CUDA_SUCCESS);
		EXPECT(cuLaunchKernel(f, M / 256, 1, 1, 256, 1, 1, 0, st, params, NULL), CUDA_SUCCESS);
		EXPECT(cuMemcpyDtoHAsync(c, dc, sizeof(c), st), CUDA_SUCCESS);
		for (i = 0; i < M; i++)
			bad += c[i] != a[i] + b[i];
	}
	if (bad) {
		printf("FAIL: thread %ld: %d wrong results\n", id, bad);
		failures++;
	}
	EXPECT(cuMemFree(da), CUDA_SUCCESS);
	EXPECT(cuMemFree(db), CUDA_SUCCESS);
	EXPECT(cuMemFree(dc), CUDA_SUCCESS);
	EXPECT(cuStreamDestroy(st), CUDA_SUCCESS);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "nodevice";
	int v = 0, n = 0;
	CUdevice dev;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(mode, "nodevice")) {
		offline_checks();
		EXPECT(cuInit(0), CUDA_ERROR_NO_DEVICE);
		/* A failed cuInit leaves the API uninitialized. */
		EXPECT(cuDeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
		EXPECT(cuDeviceGet(&dev, 0), CUDA_ERROR_NOT_INITIALIZED);
		/* The pod has no driver: it says so for every call it gets. */
		EXPECT(cuDriverGetVersion(&v), CUDA_ERROR_NO_DEVICE);
		EXPECT(cuDriverGetVersion(NULL), CUDA_ERROR_INVALID_VALUE);
		EXPECT(cuInit(0), CUDA_ERROR_NO_DEVICE);
	} else if (!strcmp(mode, "refused")) {
		EXPECT(cuInit(0), CUDA_ERROR_NOT_PERMITTED);
		EXPECT(cuDeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
		EXPECT(cuInit(0), CUDA_ERROR_NOT_PERMITTED);
	} else if (!strcmp(mode, "nopod")) {
		EXPECT(cuInit(0), CUDA_ERROR_NO_DEVICE);
		EXPECT(cuDriverGetVersion(&v), CUDA_ERROR_NO_DEVICE);
	} else if (!strcmp(mode, "loop")) {
		CUresult r;
		long i;

		for (i = 0;; i++) {
			r = cuDriverGetVersion(&v);
			if (r != CUDA_ERROR_NO_DEVICE)
				break;
			if (i == 0)
				printf("READY\n");
		}
		printf("after %ld round trips: %d\n", i, (int)r);
		EXPECT(r, CUDA_ERROR_DEVICE_UNAVAILABLE);
		/* ... and it stays so: the pod's state is gone. */
		EXPECT(cuDriverGetVersion(&v), CUDA_ERROR_DEVICE_UNAVAILABLE);
	} else if (!strcmp(mode, "fake") && argc > 2) {
		fake_checks((size_t)strtoull(argv[2], NULL, 0));
	} else if (!strcmp(mode, "overhead") && argc > 2) {
		long i, calls = atol(argv[2]);
		CUcontext ctx;
		CUmodule mod;
		CUfunction f;
		CUdeviceptr p;
		int zero = 0;
		void *params[] = { &p, &p, &p, &zero };
		struct timespec t0, t1;

		EXPECT(cuInit(0), CUDA_SUCCESS);
		EXPECT(cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_SUCCESS);
		EXPECT(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
		EXPECT(cuModuleLoadData(&mod, "//fake\n"), CUDA_SUCCESS);
		EXPECT(cuModuleGetFunction(&f, mod, "vecadd"), CUDA_SUCCESS);
		EXPECT(cuMemAlloc(&p, 64), CUDA_SUCCESS);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < calls; i++)
			EXPECT(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL), CUDA_SUCCESS);
		EXPECT(cuStreamSynchronize(NULL), CUDA_SUCCESS);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("launch_us=%.3f\n", ((t1.tv_sec - t0.tv_sec) * 1e6 +
					      (t1.tv_nsec - t0.tv_nsec) / 1e3) / calls);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < calls; i++)
			EXPECT(cuStreamSynchronize(NULL), CUDA_SUCCESS);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("sync_us=%.3f\n", ((t1.tv_sec - t0.tv_sec) * 1e6 +
					    (t1.tv_nsec - t0.tv_nsec) / 1e3) / calls);
	} else if (!strcmp(mode, "threads")) {
		pthread_t t[4];
		long i;

		EXPECT(cuInit(0), CUDA_SUCCESS);
		EXPECT(cuDevicePrimaryCtxRetain(&shared_ctx, 0), CUDA_SUCCESS);
		EXPECT(cuCtxSetCurrent(shared_ctx), CUDA_SUCCESS);
		EXPECT(cuModuleLoadData(&shared_mod, "//fake\n"), CUDA_SUCCESS);
		for (i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, worker, (void *)i);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		EXPECT(cuModuleUnload(shared_mod), CUDA_SUCCESS);
		EXPECT(cuDevicePrimaryCtxRelease(0), CUDA_SUCCESS);
	} else if (!strcmp(mode, "badpod")) {
		EXPECT(cuInit(0), CUDA_ERROR_DEVICE_UNAVAILABLE);
		EXPECT(cuDriverGetVersion(&v), CUDA_ERROR_DEVICE_UNAVAILABLE);
		EXPECT(cuDeviceGetCount(&n), CUDA_ERROR_NOT_INITIALIZED);
	} else if (!strcmp(mode, "spill") && argc > 2) {
		int rc = spill_checks((size_t)strtoull(argv[2], NULL, 0),
				      argc > 3 && !strcmp(argv[3], "hold"));

		if (rc)
			return rc;
	} else if (!strcmp(mode, "bigcopy") && argc > 2) {
		/* Frames of several MiB: a synchronous HtoD of N MiB, a batch
		 * of asynchronous copies, DtoH back, every byte checked; then
		 * MB/s of HtoD+DtoH round trips. */
		size_t mib = (size_t)strtoull(argv[2], NULL, 0), len = mib << 20, i;
		unsigned char *a = malloc(len), *b = malloc(len);
		struct timespec t0, t1;
		CUcontext ctx;
		CUstream st;
		CUdeviceptr d;
		int reps = 4, r;

		if (!a || !b || !mib || mib > 32) {
			printf("FAIL: bigcopy takes 1..32 MiB\n");
			return 1;
		}
		for (i = 0; i < len; i++)
			a[i] = (unsigned char)(i * 2654435761u >> 13);
		EXPECT(cuInit(0), CUDA_SUCCESS);
		EXPECT(cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_SUCCESS);
		EXPECT(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
		EXPECT(cuStreamCreate(&st, 0), CUDA_SUCCESS);
		EXPECT(cuMemAlloc(&d, len), CUDA_SUCCESS);
		EXPECT(cuMemcpyHtoD(d, a, len), CUDA_SUCCESS);
		memset(b, 0, len);
		EXPECT(cuMemcpyDtoH(b, d, len), CUDA_SUCCESS);
		if (memcmp(a, b, len))
			CHECKF("bigcopy: %zu MiB came back different", mib);
		/* Queued copies of 1 MiB pieces, reversed, in one batch. */
		for (i = 0; i + (1u << 20) <= len; i += 1u << 20)
			EXPECT(cuMemcpyHtoDAsync(d + i, a + len - i - (1u << 20), 1u << 20, st),
			       CUDA_SUCCESS);
		EXPECT(cuStreamSynchronize(st), CUDA_SUCCESS);
		EXPECT(cuMemcpyDtoH(b, d, len), CUDA_SUCCESS);
		for (i = 0, r = 0; i + (1u << 20) <= len; i += 1u << 20)
			r |= memcmp(b + i, a + len - i - (1u << 20), 1u << 20);
		if (r)
			CHECKF("bigcopy: the batch of %zu async copies came back different", mib);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (r = 0; r < reps; r++) {
			EXPECT(cuMemcpyHtoD(d, a, len), CUDA_SUCCESS);
			EXPECT(cuMemcpyDtoH(b, d, len), CUDA_SUCCESS);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("copy_MBps=%.1f\n", 2.0 * reps * len / 1e6 /
		       ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9));
		EXPECT(cuMemFree(d), CUDA_SUCCESS);
		EXPECT(cuStreamDestroy(st), CUDA_SUCCESS);
		free(a);
		free(b);
	} else if (!strcmp(mode, "hold")) {
		CUcontext ctx;
		CUdeviceptr p;

		EXPECT(cuInit(0), CUDA_SUCCESS);
		EXPECT(cuDevicePrimaryCtxRetain(&ctx, 0), CUDA_SUCCESS);
		EXPECT(cuCtxSetCurrent(ctx), CUDA_SUCCESS);
		EXPECT(cuMemAlloc(&p, 1 << 20), CUDA_SUCCESS);
		EXPECT(cuMemAlloc(&p, 1 << 20), CUDA_SUCCESS);
		printf("READY\n");
		for (;;)
			pause();
	} else {
		printf("unknown mode %s\n", mode);
		return 2;
	}
	if (failures)
		return 1;
	printf("ok: %s\n", mode);
	return 0;
}
