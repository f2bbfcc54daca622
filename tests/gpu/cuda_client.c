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
 * Exit 0 when every check held, 1 otherwise (each failure printed).
 */
#ifdef HAVE_CUDA_H
#include <cuda.h>
#else
#define PVM_CUDA_ABI_MAP_NAMES
#include "cuda_abi.h"
#endif
#include <stdio.h>
#include <string.h>

static int failures;

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
	EXPECT(cuInit(1), CUDA_ERROR_INVALID_VALUE);
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
	} else {
		printf("unknown mode %s\n", mode);
		return 2;
	}
	if (failures)
		return 1;
	printf("ok: %s\n", mode);
	return 0;
}
