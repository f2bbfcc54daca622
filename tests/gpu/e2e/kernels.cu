// tests/gpu/e2e/kernels.cu — the GPU work of the GPU checks: vector add,
// SGEMM, and the kernels of a small MLP's training step. Compiled to PTX
// by nvcc at build time (meson), loaded with cuModuleLoadData by
// gpu_work.c. Deterministic: no atomics, fixed summation order, so two
// runs on one GPU give bitwise-equal results.

extern "C" __global__ void vecadd(const float *a, const float *b, float *c, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		c[i] = a[i] + b[i];
}

// C[M,N] = op(A)[M,K] * op(B)[K,N] (+ C if acc); row-major; ta/tb transpose.
#define TILE 16
extern "C" __global__ void gemm(int M, int N, int K, const float *A, const float *B,
				float *C, int ta, int tb, int acc)
{
	__shared__ float As[TILE][TILE], Bs[TILE][TILE];
	int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
	float sum = 0.0f;

	for (int t = 0; t < (K + TILE - 1) / TILE; t++) {
		int ka = t * TILE + threadIdx.x, kb = t * TILE + threadIdx.y;
		As[threadIdx.y][threadIdx.x] = (row < M && ka < K) ?
			(ta ? A[ka * M + row] : A[row * K + ka]) : 0.0f;
		Bs[threadIdx.y][threadIdx.x] = (kb < K && col < N) ?
			(tb ? B[col * K + kb] : B[kb * N + col]) : 0.0f;
		__syncthreads();
		for (int k = 0; k < TILE; k++)
			sum = fmaf(As[threadIdx.y][k], Bs[k][threadIdx.x], sum);
		__syncthreads();
	}
	if (row < M && col < N)
		C[row * N + col] = acc ? C[row * N + col] + sum : sum;
}

// y[r, c] += b[c], then ReLU when relu != 0.
extern "C" __global__ void bias_act(float *y, const float *b, int rows, int cols, int relu)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < rows * cols) {
		float v = y[i] + b[i % cols];
		y[i] = relu && v < 0.0f ? 0.0f : v;
	}
}

// g *= (y > 0): backward of ReLU through its output y.
extern "C" __global__ void relu_back(float *g, const float *y, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n && y[i] <= 0.0f)
		g[i] = 0.0f;
}

// Softmax cross-entropy per row: loss[r], and grad = (softmax - onehot)/rows.
extern "C" __global__ void softmax_xent(const float *logits, const int *labels, float *grad,
					float *loss, int rows, int cols)
{
	int r = blockIdx.x * blockDim.x + threadIdx.x;
	if (r >= rows)
		return;
	const float *x = logits + r * cols;
	float m = x[0], s = 0.0f;
	for (int c = 1; c < cols; c++)
		m = fmaxf(m, x[c]);
	for (int c = 0; c < cols; c++)
		s += expf(x[c] - m);
	for (int c = 0; c < cols; c++) {
		float p = expf(x[c] - m) / s;
		grad[r * cols + c] = (p - (c == labels[r] ? 1.0f : 0.0f)) / rows;
	}
	loss[r] = logf(s) + m - x[labels[r]];
}

// db[c] = sum over rows of g[r, c], in row order.
extern "C" __global__ void colsum(const float *g, float *db, int rows, int cols)
{
	int c = blockIdx.x * blockDim.x + threadIdx.x;
	if (c >= cols)
		return;
	float s = 0.0f;
	for (int r = 0; r < rows; r++)
		s += g[r * cols + c];
	db[c] = s;
}

extern "C" __global__ void sgd(float *w, const float *g, float lr, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		w[i] -= lr * g[i];
}

extern "C" __global__ void empty(void)
{
}
