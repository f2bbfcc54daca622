/* tests/gpu/e2e/gpu_work.c — the GPU checks' workloads as an ordinary
 * driver-API program (cuda.h, linked -lcuda): run once on NVIDIA's driver
 * and once through poolvm's libcuda.so.1 and a GPU pod, the results must
 * be bitwise equal (tests/gpu/e2e/gpu_e2e.sh), and the times are the bench
 * (bench/gpu_bench.py).
 *
 *   gpu_work PTX vecadd N
 *   gpu_work PTX sgemm N
 *   gpu_work PTX mlp STEPS BATCH HIDDEN [LAYERS]
 *                                          MLP, SGD, 256 -> H (x LAYERS,
 *                                          default 2, at most 15) -> 10
 *   gpu_work PTX overhead N                N empty launches + sync; N sync calls
 *
 * Prints key=value lines: checksum (FNV-1a 64 of the results' bytes),
 * time_ms, and per mode footprint_bytes, loss_first/loss_last,
 * steps_per_s, launch_us, sync_us. Exit 0, or 1 naming the failed call.
 */
#include <cuda.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static CUmodule mod;
static CUstream stream;

#define CK(call) do { \
	CUresult _r = (call); \
	if (_r != CUDA_SUCCESS) { \
		const char *_n = "?"; \
		cuGetErrorName(_r, &_n); \
		fprintf(stderr, "gpu_work: %s failed: %s (%d) at line %d\n", #call, _n, \
			(int)_r, __LINE__); \
		exit(1); \
	} \
} while (0)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

static uint32_t lcg_state = 12345;

static float frand(void)
{
	lcg_state = lcg_state * 1664525u + 1013904223u;
	return (float)(lcg_state >> 8) / 16777216.0f - 0.5f;
}

/* Functions are looked up once: a lookup is a synchronous call, and a
 * training loop does not make one per launch. */
static CUfunction fn(const char *name)
{
	static struct { const char *name; CUfunction f; } cache[16];
	int i;

	for (i = 0; i < 16 && cache[i].name; i++)
		if (!strcmp(cache[i].name, name))
			return cache[i].f;
	if (i == 16) {
		fprintf(stderr, "gpu_work: too many kernels\n");
		exit(1);
	}
	CK(cuModuleGetFunction(&cache[i].f, mod, name));
	cache[i].name = name;
	return cache[i].f;
}

static CUdeviceptr dalloc_rand(size_t n, float scale)
{
	CUdeviceptr p;
	float *h = malloc(n * sizeof(float));

	for (size_t i = 0; i < n; i++)
		h[i] = frand() * scale;
	CK(cuMemAlloc(&p, n * sizeof(float)));
	CK(cuMemcpyHtoD(p, h, n * sizeof(float)));
	free(h);
	return p;
}

static uint64_t dhash(uint64_t h, CUdeviceptr p, size_t bytes)
{
	void *b = malloc(bytes);

	CK(cuMemcpyDtoH(b, p, bytes));
	h = fnv(h, b, bytes);
	free(b);
	return h;
}

static void gemm(int M, int N, int K, CUdeviceptr A, CUdeviceptr B, CUdeviceptr C,
		 int ta, int tb, int acc)
{
	static CUfunction f;
	void *args[] = { &M, &N, &K, &A, &B, &C, &ta, &tb, &acc };

	if (!f)
		f = fn("gemm");
	CK(cuLaunchKernel(f, (N + 15) / 16, (M + 15) / 16, 1, 16, 16, 1, 0, stream, args, NULL));
}

static void launch1d(const char *name, int n, void **args)
{
	CK(cuLaunchKernel(fn(name), (n + 255) / 256, 1, 1, 256, 1, 1, 0, stream, args, NULL));
}

static int run_vecadd(int n)
{
	CUdeviceptr a = dalloc_rand(n, 1), b = dalloc_rand(n, 1), c;
	double t0;
	void *args[] = { &a, &b, &c, &n };

	CK(cuMemAlloc(&c, n * sizeof(float)));
	t0 = now_ms();
	CK(cuLaunchKernel(fn("vecadd"), (n + 255) / 256, 1, 1, 256, 1, 1, 0, stream, args, NULL));
	CK(cuStreamSynchronize(stream));
	printf("time_ms=%.3f\n", now_ms() - t0);
	printf("checksum=%016llx\n", (unsigned long long)dhash(0xcbf29ce484222325ull, c, n * 4));
	cuMemFree(a);
	cuMemFree(b);
	cuMemFree(c);
	return 0;
}

static int run_sgemm(int n)
{
	CUdeviceptr a = dalloc_rand((size_t)n * n, 1), b = dalloc_rand((size_t)n * n, 1), c;
	double t0;

	CK(cuMemAlloc(&c, (size_t)n * n * sizeof(float)));
	t0 = now_ms();
	gemm(n, n, n, a, b, c, 0, 0, 0);
	CK(cuStreamSynchronize(stream));
	printf("time_ms=%.3f\n", now_ms() - t0);
	printf("checksum=%016llx\n",
	       (unsigned long long)dhash(0xcbf29ce484222325ull, c, (size_t)n * n * 4));
	cuMemFree(a);
	cuMemFree(b);
	cuMemFree(c);
	return 0;
}

#define MLP_MAX 16      /* weight layers */

static int run_mlp(int steps, int B, int H, int hidden_layers)
{
	const int D = 256, O = 10, NL = hidden_layers + 1;
	int dims[MLP_MAX + 1];
	CUdeviceptr W[MLP_MAX], b[MLP_MAX], dW[MLP_MAX], db[MLP_MAX], act[MLP_MAX + 1];
	CUdeviceptr g[MLP_MAX + 1], labels, loss;
	float lr = 0.05f, *hloss = malloc(B * sizeof(float)), first = 0, last = 0;
	int *hl = malloc(B * sizeof(int)), i, l, s;
	size_t foot = 0;
	double t0;
	uint64_t h = 0xcbf29ce484222325ull;

	if (hidden_layers < 1 || NL > MLP_MAX) {
		fprintf(stderr, "gpu_work: mlp takes 1..%d hidden layers\n", MLP_MAX - 1);
		return 2;
	}
	dims[0] = D;
	for (l = 1; l < NL; l++)
		dims[l] = H;
	dims[NL] = O;
	for (l = 0; l < NL; l++) {
		size_t nw = (size_t)dims[l] * dims[l + 1];

		W[l] = dalloc_rand(nw, 0.2f);
		b[l] = dalloc_rand(dims[l + 1], 0.0f);
		CK(cuMemAlloc(&dW[l], nw * 4));
		CK(cuMemAlloc(&db[l], dims[l + 1] * 4));
		foot += 2 * (nw + dims[l + 1]) * 4;
	}
	act[0] = dalloc_rand((size_t)B * D, 2.0f);
	for (l = 1; l <= NL; l++) {
		CK(cuMemAlloc(&act[l], (size_t)B * dims[l] * 4));
		CK(cuMemAlloc(&g[l], (size_t)B * dims[l] * 4));
		foot += 2 * (size_t)B * dims[l] * 4;
	}
	for (i = 0; i < B; i++)
		hl[i] = (int)((unsigned)(frand() * 1e6f) % O);
	CK(cuMemAlloc(&labels, B * sizeof(int)));
	CK(cuMemcpyHtoD(labels, hl, B * sizeof(int)));
	CK(cuMemAlloc(&loss, B * sizeof(float)));
	foot += (size_t)B * D * 4 + 2 * (size_t)B * 4;
	printf("footprint_bytes=%zu\n", foot);

	t0 = now_ms();
	for (s = 0; s < steps; s++) {
		float sum = 0;

		for (l = 0; l < NL; l++) {
			int relu = l < NL - 1, rows = B, cols = dims[l + 1];
			void *a[] = { &act[l + 1], &b[l], &rows, &cols, &relu };

			gemm(B, dims[l + 1], dims[l], act[l], W[l], act[l + 1], 0, 0, 0);
			launch1d("bias_act", B * dims[l + 1], a);
		}
		{
			int rows = B, cols = O;
			void *a[] = { &act[NL], &labels, &g[NL], &loss, &rows, &cols };

			launch1d("softmax_xent", B, a);
		}
		for (l = NL - 1; l >= 0; l--) {
			int rows = B, cols = dims[l + 1], nw = dims[l] * dims[l + 1];
			void *cs[] = { &g[l + 1], &db[l], &rows, &cols };
			void *u1[] = { &W[l], &dW[l], &lr, &nw };
			void *u2[] = { &b[l], &db[l], &lr, &cols };

			gemm(dims[l], dims[l + 1], B, act[l], g[l + 1], dW[l], 1, 0, 0);
			launch1d("colsum", cols, cs);
			if (l > 0) {
				int n = B * dims[l];
				void *rb[] = { &g[l], &act[l], &n };

				gemm(B, dims[l], dims[l + 1], g[l + 1], W[l], g[l], 0, 1, 0);
				launch1d("relu_back", n, rb);
			}
			launch1d("sgd", nw, u1);
			launch1d("sgd", cols, u2);
		}
		CK(cuMemcpyDtoHAsync(hloss, loss, B * sizeof(float), stream));
		CK(cuStreamSynchronize(stream));
		for (i = 0; i < B; i++)
			sum += hloss[i];
		if (s == 0)
			first = sum / B;
		last = sum / B;
		h = fnv(h, &sum, sizeof(sum));
	}
	{
		double ms = now_ms() - t0;

		printf("time_ms=%.3f\nsteps_per_s=%.2f\n", ms, steps / (ms / 1e3));
	}
	printf("loss_first=%.6f\nloss_last=%.6f\n", first, last);
	for (l = 0; l < NL; l++) {
		h = dhash(h, W[l], (size_t)dims[l] * dims[l + 1] * 4);
		h = dhash(h, b[l], (size_t)dims[l + 1] * 4);
	}
	printf("checksum=%016llx\n", (unsigned long long)h);
	free(hloss);
	free(hl);
	return 0;
}

static int run_overhead(int n)
{
	CUfunction e = fn("empty");
	double t0;
	int i;

	CK(cuCtxSynchronize());
	t0 = now_ms();
	for (i = 0; i < n; i++)
		CK(cuLaunchKernel(e, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL));
	CK(cuStreamSynchronize(stream));
	printf("launch_us=%.3f\n", (now_ms() - t0) * 1e3 / n);
	t0 = now_ms();
	for (i = 0; i < n; i++)
		CK(cuStreamSynchronize(stream));
	printf("sync_us=%.3f\n", (now_ms() - t0) * 1e3 / n);
	printf("checksum=0\n");
	return 0;
}

int main(int argc, char **argv)
{
	CUdevice dev;
	CUcontext ctx;
	FILE *f;
	char *ptx;
	long len;
	int ret;

	if (argc < 4) {
		fprintf(stderr, "usage: gpu_work PTX vecadd|sgemm|mlp|overhead ARGS\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
		perror(argv[1]);
		return 1;
	}
	ptx = calloc(1, len + 1);
	if (fread(ptx, 1, len, f) != (size_t)len) {
		perror(argv[1]);
		return 1;
	}
	fclose(f);
	CK(cuInit(0));
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	CK(cuModuleLoadData(&mod, ptx));
	CK(cuStreamCreate(&stream, 0));
	if (!strcmp(argv[2], "vecadd"))
		ret = run_vecadd(atoi(argv[3]));
	else if (!strcmp(argv[2], "sgemm"))
		ret = run_sgemm(atoi(argv[3]));
	else if (!strcmp(argv[2], "mlp") && argc >= 6)
		ret = run_mlp(atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
			      argc >= 7 ? atoi(argv[6]) : 2);
	else if (!strcmp(argv[2], "overhead"))
		ret = run_overhead(atoi(argv[3]));
	else {
		fprintf(stderr, "gpu_work: unknown mode %s\n", argv[2]);
		return 2;
	}
	CK(cuStreamDestroy(stream));
	CK(cuModuleUnload(mod));
	CK(cuDevicePrimaryCtxRelease(dev));
	free(ptx);
	return ret;
}
