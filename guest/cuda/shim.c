/* guest/cuda/shim.c — libcuda.so.1 for guests without a GPU: the CUDA
 * driver API, forwarded to a GPU pod (`poolvm pod --gpu`) over TCP, or
 * over libfabric when the pod's address is fabric://HOST:PORT (link.h).
 *
 * Concepts: an unmodified driver-API program loads this library instead of
 * NVIDIA's (LD_LIBRARY_PATH, or installed as the system's libcuda.so.1).
 * cuInit connects to POOLVM_GPU_POD (HOST:PORT, or fabric://HOST:PORT with
 * the provider in POOLVM_GPU_FABRIC_PROVIDER) and authenticates with the
 * secret in POOLVM_GPU_SECRET_FILE. Handles (contexts, modules, functions,
 * streams, events) are the pod's handle numbers dressed as pointers;
 * device pointers are the real ones. Asynchronous calls are queued here
 * and sent with the next synchronous call (pods/gpu/proto.h); their errors
 * come back with it. Every entry point returns a CUresult and never
 * crashes: a pod that is unreachable at cuInit gives CUDA_ERROR_NO_DEVICE,
 * a refused secret CUDA_ERROR_NOT_PERMITTED, a connection lost later
 * CUDA_ERROR_DEVICE_UNAVAILABLE for every call after it. See docs/gpu.md.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "conn.h"
#include "cuda_abi.h"
#include "link.h"
#include "proto.h"

#define EXPORT __attribute__((visibility("default")))
#define LOST CUDA_ERROR_DEVICE_UNAVAILABLE
#define BATCH_BYTES (4u << 20)
#define BATCH_CALLS 1024u

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;      /* connection, batch */
static pthread_mutex_t layout_lock = PTHREAD_MUTEX_INITIALIZER; /* layouts */
static struct gpu_link *pod_link;
static enum { NOT_TRIED, UP, FAILED, LOST_CONN } state;
static CUresult connect_error = CUDA_ERROR_NO_DEVICE;
static bool initialized;
static uint8_t *batch, *rx;
static size_t batch_len = 4, batch_cap, rx_cap;
static uint32_t batch_count;
static uint64_t sent_ctx;               /* the pod's current context */

static __thread uint64_t ctx_stack[32];
static __thread int ctx_depth;

/* Parameter layouts of functions, indexed by the handle's table index. */
struct layout {
	uint64_t handle;
	uint32_t n;             /* UINT32_MAX: unknown */
	uint32_t bytes;
	uint32_t *off, *size;
};
static struct layout *layouts;
static size_t nlayouts;

static void say(const char *fmt, const char *a, const char *b)
{
	if (getenv("POOLVM_GPU_QUIET"))
		return;
	fprintf(stderr, "poolvm libcuda: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
}

static uint64_t current_ctx(void)
{
	return ctx_depth ? ctx_stack[ctx_depth - 1] : 0;
}

static void drop_connection(void)
{
	gpu_link_close(pod_link);
	pod_link = NULL;
	state = LOST_CONN;
	batch_len = 4;
	batch_count = 0;
}

/* A child of fork() has no connection of its own (as with the driver, it
 * must not use its parent's contexts): it starts over. */
static void after_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	pthread_mutex_init(&layout_lock, NULL);
	/* The parent's link stays the parent's: a fabric link's thread does
	 * not exist here, so it is only forgotten (a tcp socket is closed). */
	if (pod_link && !strcmp(pod_link->ops->name, "tcp"))
		gpu_link_close(pod_link);
	pod_link = NULL;
	state = NOT_TRIED;
	initialized = false;
	batch_len = 4;
	batch_count = 0;
	sent_ctx = 0;
	ctx_depth = 0;
}

/* At exit a fabric link says goodbye, so that the pod frees the
 * program's GPU memory at once rather than after its idle timeout (a TCP
 * socket is closed by the kernel). */
__attribute__((destructor)) static void close_at_exit(void)
{
	if (!pod_link || strcmp(pod_link->ops->name, "fabric") || pthread_mutex_trylock(&lock))
		return;
	gpu_link_close(pod_link);
	pod_link = NULL;
	state = LOST_CONN;
	pthread_mutex_unlock(&lock);
}

static void register_fork_handler(void)
{
	pthread_atfork(NULL, NULL, after_fork_child);
}

/*
 * The pod's address and secret file: POOLVM_GPU_POD and
 * POOLVM_GPU_SECRET_FILE, else the file POOLVM_GPU_CONFIG names, else
 * /etc/poolvm/gpu.conf when it exists: lines "pod = HOST:PORT" (or
 * fabric://HOST:PORT), "secret-file = FILE" and "fabric-provider = NAME",
 * '#' or ';' comments, an optional "[gpu]" line. POOLVM_GPU_FABRIC_PROVIDER
 * wins over the file's fabric-provider.
 * Return: 0, or -EINVAL after saying which line of which file is wrong.
 */
static int read_config(char *pod, size_t podlen, char *sf, size_t sflen, char *prov,
		       size_t provlen)
{
	const char *env_pod = getenv("POOLVM_GPU_POD"), *env_sf = getenv("POOLVM_GPU_SECRET_FILE");
	const char *path = getenv("POOLVM_GPU_CONFIG");
	const char *env_prov = getenv("POOLVM_GPU_FABRIC_PROVIDER");
	char line[512], where[600];
	int lineno = 0, ret = 0;
	FILE *f;

	pod[0] = sf[0] = prov[0] = '\0';
	if (!path && access("/etc/poolvm/gpu.conf", F_OK) == 0)
		path = "/etc/poolvm/gpu.conf";
	if (path && !(env_pod && env_pod[0] && env_sf && env_sf[0])) {
		f = fopen(path, "re");
		if (!f) {
			say("cannot read %s (POOLVM_GPU_CONFIG)%s", path, "");
			return -EINVAL;
		}
		while (fgets(line, sizeof(line), f)) {
			char *k = line, *v, *e;

			lineno++;
			k += strspn(k, " \t");
			k[strcspn(k, "#;\r\n")] = '\0';
			for (e = k + strlen(k); e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
				e[-1] = '\0';
			if (!*k || !strcmp(k, "[gpu]"))
				continue;
			v = strchr(k, '=');
			snprintf(where, sizeof(where), "%s:%d", path, lineno);
			if (!v) {
				say("%s: expected 'key = value'%s", where, "");
				ret = -EINVAL;
				break;
			}
			for (e = v; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
				;
			*e = '\0';
			v++;
			v += strspn(v, " \t");
			if (!strcmp(k, "pod"))
				snprintf(pod, podlen, "%s", v);
			else if (!strcmp(k, "secret-file") || !strcmp(k, "secret_file"))
				snprintf(sf, sflen, "%s", v);
			else if (!strcmp(k, "fabric-provider") || !strcmp(k, "fabric_provider")) {
				if (strcmp(v, "tcp") && strcmp(v, "verbs") && strcmp(v, "shm") &&
				    strcmp(v, "auto")) {
					say("%s: fabric-provider '%s' (tcp, verbs, shm or auto)",
					    where, v);
					ret = -EINVAL;
					break;
				}
				snprintf(prov, provlen, "%s", v);
			} else {
				say("%s: unknown key '%s' (pod, secret-file, fabric-provider)", where, k);
				ret = -EINVAL;
				break;
			}
		}
		fclose(f);
		if (ret)
			return ret;
	}
	if (env_pod && env_pod[0])
		snprintf(pod, podlen, "%s", env_pod);
	if (env_sf && env_sf[0])
		snprintf(sf, sflen, "%s", env_sf);
	if (env_prov && env_prov[0])
		snprintf(prov, provlen, "%s", env_prov);
	return 0;
}

/* Connect and authenticate; lock held. */
static CUresult ensure_connected(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct pvm_auth_secret *secret = NULL;
	char addr[256], sf[512], prov[16];
	char err[300] = "", id[GPU_PROTO_ID_MAX + 1], host[40] = "", pod_id[GPU_PROTO_ID_MAX + 1];
	struct gpu_link *link;
	int ret;

	pthread_once(&once, register_fork_handler);
	if (state == UP)
		return CUDA_SUCCESS;
	if (state == LOST_CONN)
		return LOST;
	if (state == FAILED)
		return connect_error;
	state = FAILED;
	connect_error = CUDA_ERROR_NO_DEVICE;
	if (read_config(addr, sizeof(addr), sf, sizeof(sf), prov, sizeof(prov)))
		return connect_error;
	if (!addr[0] || !sf[0]) {
		say("%s%s", "no GPU pod: set POOLVM_GPU_POD=HOST:PORT and "
		    "POOLVM_GPU_SECRET_FILE=FILE (or POOLVM_GPU_CONFIG, docs/gpu.md)", "");
		return connect_error;
	}
	if (pvm_auth_init()) {
		say("%s%s", "libsodium cannot start", "");
		return connect_error;
	}
	if (pvm_auth_secret_load(sf, &secret, err, sizeof(err))) {
		say("POOLVM_GPU_SECRET_FILE: %s%s", err, "");
		connect_error = CUDA_ERROR_NOT_PERMITTED;
		return connect_error;
	}
	ret = gpu_link_connect(addr, prov[0] ? prov : NULL, &link, err, sizeof(err));
	if (ret) {
		pvm_auth_secret_free(secret);
		say("%s%s", err, "");
		return connect_error;
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(id, sizeof(id), "cuda-%.32s-%d", host[0] ? host : "guest", (int)getpid());
	for (char *p = id; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			*p = '_';
	ret = gpu_handshake_client(link, secret, id, pod_id, err, sizeof(err));
	pvm_auth_secret_free(secret);
	if (ret) {
		gpu_link_close(link);
		say("GPU pod %s: %s", addr, err);
		if (ret == -EACCES)
			connect_error = CUDA_ERROR_NOT_PERMITTED;
		return connect_error;
	}
	pod_link = link;
	state = UP;
	return CUDA_SUCCESS;
}

/* Append one call to the batch; lock held. */
static int append(unsigned int id, const struct gpu_val *args, unsigned int nargs)
{
	struct gpu_call call = { .id = (uint16_t)id, .nargs = nargs };
	long size = gpu_args_size(gpu_call_info(id)->req, args, nargs);
	size_t need;

	if (size < 0)
		return -EINVAL;
	need = batch_len + 8 + (size_t)size;
	if (need > GPU_PROTO_MAX_PAYLOAD)
		return -E2BIG;
	if (need > batch_cap) {
		size_t cap = batch_cap ? batch_cap : 65536;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(batch, cap);
		if (!p)
			return -ENOMEM;
		batch = p;
		batch_cap = cap;
	}
	if (nargs)
		memcpy(call.arg, args, nargs * sizeof(*args));
	if (gpu_call_encode(&call, batch, batch_cap, &batch_len))
		return -EINVAL;
	batch_count++;
	return 0;
}

/* Send the batch as one CALLS; lock held. */
static CUresult send_batch(void)
{
	if (!batch_count)
		return CUDA_SUCCESS;
	gpu_put32(batch, batch_count);
	if (gpu_conn_send(pod_link, GPU_FRAME_CALLS, batch, (uint32_t)batch_len)) {
		say("%s%s", "lost the connection to the GPU pod", "");
		drop_connection();
		return LOST;
	}
	batch_len = 4;
	batch_count = 0;
	return CUDA_SUCCESS;
}

/* An output of a call: scalars in u; bytes copied to buf (cap), len set. */
struct out {
	uint64_t u;
	void *buf;
	uint32_t cap, len;
};

/*
 * Forward one call. An asynchronous call is queued and CUDA_SUCCESS
 * returned; a synchronous one flushes the queue, waits for the reply and
 * returns its result, or the first error of a queued call before it.
 */
static CUresult forward(unsigned int id, const struct gpu_val *args, unsigned int nargs,
			struct out *out)
{
	const struct gpu_call_info *info = gpu_call_info(id);
	struct gpu_val rv[GPU_PROTO_MAX_ARGS];
	struct gpu_frame_hdr hdr;
	uint32_t deferred, result;
	size_t need;
	int n, i;
	CUresult r;

	pthread_mutex_lock(&lock);
	if (state != UP) {
		r = state == LOST_CONN ? LOST : CUDA_ERROR_NOT_INITIALIZED;
		goto out;
	}
	need = 8 + (size_t)gpu_args_size(info->req, args, nargs) + 16;
	if (batch_count && (batch_count + 2 >= BATCH_CALLS || batch_len + need > BATCH_BYTES)) {
		r = send_batch();
		if (r)
			goto out;
	}
	if (current_ctx() != sent_ctx) {
		struct gpu_val v = { .u = current_ctx() };

		if (append(GPU_CALL_SET_CONTEXT, &v, 1)) {
			r = CUDA_ERROR_OUT_OF_MEMORY;
			goto out;
		}
		sent_ctx = current_ctx();
	}
	if (append(id, args, nargs)) {
		r = CUDA_ERROR_INVALID_VALUE;
		goto out;
	}
	if (info->flags & GPU_CALL_ASYNC) {
		r = CUDA_SUCCESS;
		goto out;
	}
	r = send_batch();
	if (r)
		goto out;
	if (gpu_conn_recv(pod_link, &hdr, &rx, &rx_cap) || hdr.kind != GPU_FRAME_REPLY) {
		say("%s%s", "lost the connection to the GPU pod (or it answered nonsense)", "");
		drop_connection();
		r = LOST;
		goto out;
	}
	n = gpu_reply_decode(id, rx, hdr.len, &deferred, &result, rv);
	if (n < 0) {
		say("malformed reply from the GPU pod: %s%s", gpu_proto_last_error(), "");
		drop_connection();
		r = LOST;
		goto out;
	}
	for (i = 0; out && i < n; i++) {
		if (info->rep[i] == 'b') {
			uint32_t len = rv[i].len < out[i].cap ? rv[i].len : out[i].cap;

			if (len)
				memcpy(out[i].buf, rv[i].p, len);
			out[i].len = rv[i].len;
		} else {
			out[i].u = rv[i].u;
		}
	}
	r = result ? (CUresult)result : (CUresult)deferred;
out:
	pthread_mutex_unlock(&lock);
	return r;
}

#define V(x) { .u = (uint64_t)(x) }
#define CALL(id, out, ...) ({ \
	struct gpu_val _a[] = { __VA_ARGS__ }; \
	forward((id), _a, sizeof(_a) / sizeof(_a[0]), (out)); })
#define CALL0(id, out) forward((id), NULL, 0, (out))
#define NEED_INIT() do { if (!initialized) return CUDA_ERROR_NOT_INITIALIZED; } while (0)
#define H(p) ((uint64_t)(uintptr_t)(p))

/* ---- initialization, version, devices ---- */

EXPORT CUresult cuInit(unsigned int flags)
{
	CUresult r;

	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&lock);
	r = ensure_connected();
	pthread_mutex_unlock(&lock);
	if (r)
		return r;
	r = CALL(GPU_CALL_INIT, NULL, V(0));
	if (r == CUDA_SUCCESS)
		initialized = true;
	return r;
}

EXPORT CUresult cuDriverGetVersion(int *version)
{
	struct out o[1] = { 0 };
	CUresult r;

	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&lock);
	r = ensure_connected();
	pthread_mutex_unlock(&lock);
	if (r)
		return r;
	r = CALL0(GPU_CALL_DRIVER_GET_VERSION, o);
	if (r == CUDA_SUCCESS)
		*version = (int)o[0].u;
	return r;
}

EXPORT CUresult cuDeviceGetCount(int *count)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!count)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL0(GPU_CALL_DEVICE_GET_COUNT, o);
	if (r == CUDA_SUCCESS)
		*count = (int)o[0].u;
	return r;
}

EXPORT CUresult cuDeviceGet(CUdevice *dev, int ordinal)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!dev)
		return CUDA_ERROR_INVALID_VALUE;
	if (ordinal < 0)
		return CUDA_ERROR_INVALID_DEVICE;
	r = CALL(GPU_CALL_DEVICE_GET, o, V(ordinal));
	if (r == CUDA_SUCCESS)
		*dev = (CUdevice)o[0].u;
	return r;
}

EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
	struct out o[1] = { { .buf = name, .cap = len > 0 ? (uint32_t)len : 0 } };
	CUresult r;

	NEED_INIT();
	if (!name || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_DEVICE_GET_NAME, o, V(len), V((uint32_t)dev));
	if (r == CUDA_SUCCESS)
		name[o[0].len < (uint32_t)len ? o[0].len : (uint32_t)len - 1] = '\0';
	return r;
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_DEVICE_TOTAL_MEM, o, V((uint32_t)dev));
	if (r == CUDA_SUCCESS)
		*bytes = (size_t)o[0].u;
	return r;
}

EXPORT CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice dev)
{
	size_t b = 0;
	CUresult r;

	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	r = cuDeviceTotalMem_v2(&b, dev);
	if (r == CUDA_SUCCESS)
		*bytes = b > 0xffffffffu ? 0xffffffffu : (unsigned int)b;
	return r;
}

EXPORT CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attrib, CUdevice dev)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_DEVICE_GET_ATTRIBUTE, o, V((uint32_t)attrib), V((uint32_t)dev));
	if (r == CUDA_SUCCESS)
		*value = (int)(int32_t)o[0].u;
	return r;
}

EXPORT CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice dev)
{
	CUresult r;

	if (!major || !minor)
		return CUDA_ERROR_INVALID_VALUE;
	r = cuDeviceGetAttribute(major, 75, dev);
	return r ? r : cuDeviceGetAttribute(minor, 76, dev);
}

EXPORT CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
	struct out o[1] = { { .buf = uuid, .cap = 16 } };

	NEED_INIT();
	if (!uuid)
		return CUDA_ERROR_INVALID_VALUE;
	return CALL(GPU_CALL_DEVICE_GET_UUID, o, V((uint32_t)dev));
}

EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
	return cuDeviceGetUuid(uuid, dev);
}

/* ---- contexts ---- */

static void push_ctx(uint64_t c)
{
	if (ctx_depth < (int)(sizeof(ctx_stack) / sizeof(ctx_stack[0])))
		ctx_stack[ctx_depth++] = c;
	else
		ctx_stack[ctx_depth - 1] = c;
}

static void forget_ctx(uint64_t c)
{
	int i, j = 0;

	for (i = 0; i < ctx_depth; i++)
		if (ctx_stack[i] != c)
			ctx_stack[j++] = ctx_stack[i];
	ctx_depth = j;
	/* The pod dropped its current context with it. */
	pthread_mutex_lock(&lock);
	if (sent_ctx == c)
		sent_ctx = 0;
	pthread_mutex_unlock(&lock);
}

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_PRIMARY_CTX_RETAIN, o, V((uint32_t)dev));
	if (r == CUDA_SUCCESS)
		*pctx = (CUcontext)(uintptr_t)o[0].u;
	return r;
}

static CUresult primary_release(unsigned int id, CUdevice dev)
{
	struct out o[1] = { 0 }, st[2] = { 0 };
	CUresult r;

	NEED_INIT();
	/* Which handle goes away if this was the last reference? */
	r = CALL(GPU_CALL_PRIMARY_CTX_RETAIN, o, V((uint32_t)dev));
	if (r)
		return r;
	r = CALL(GPU_CALL_PRIMARY_CTX_RELEASE, NULL, V((uint32_t)dev));
	if (r)
		return r;
	r = CALL(id, NULL, V((uint32_t)dev));
	if (r == CUDA_SUCCESS &&
	    CALL(GPU_CALL_PRIMARY_CTX_GET_STATE, st, V((uint32_t)dev)) == CUDA_SUCCESS &&
	    !st[1].u)
		forget_ctx(o[0].u);
	return r;
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	return primary_release(GPU_CALL_PRIMARY_CTX_RELEASE, dev);
}

EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice dev)
{
	return cuDevicePrimaryCtxRelease_v2(dev);
}

EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	return primary_release(GPU_CALL_PRIMARY_CTX_RESET, dev);
}

EXPORT CUresult cuDevicePrimaryCtxReset(CUdevice dev)
{
	return cuDevicePrimaryCtxReset_v2(dev);
}

EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
	struct out o[2] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!flags || !active)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_PRIMARY_CTX_GET_STATE, o, V((uint32_t)dev));
	if (r == CUDA_SUCCESS) {
		*flags = (unsigned int)o[0].u;
		*active = (int)o[1].u;
	}
	return r;
}

EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
	NEED_INIT();
	return CALL(GPU_CALL_PRIMARY_CTX_SET_FLAGS, NULL, V((uint32_t)dev), V(flags));
}

EXPORT CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags)
{
	return cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}

EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_CTX_CREATE, o, V(flags), V((uint32_t)dev));
	if (r == CUDA_SUCCESS) {
		*pctx = (CUcontext)(uintptr_t)o[0].u;
		push_ctx(o[0].u);       /* the driver makes it current */
	}
	return r;
}

EXPORT CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	return cuCtxCreate_v2(pctx, flags, dev);
}

EXPORT CUresult cuCtxCreate_v3(CUcontext *pctx, void *params, int nparams,
			       unsigned int flags, CUdevice dev)
{
	if (nparams)
		return CUDA_ERROR_NOT_SUPPORTED;        /* execution affinity */
	(void)params;
	return cuCtxCreate_v2(pctx, flags, dev);
}

EXPORT CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params,
			       unsigned int flags, CUdevice dev)
{
	if (params)
		return CUDA_ERROR_NOT_SUPPORTED;        /* affinity, CIG */
	return cuCtxCreate_v2(pctx, flags, dev);
}

EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	CUresult r;

	NEED_INIT();
	if (!ctx)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_CTX_DESTROY, NULL, V(H(ctx)));
	if (r == CUDA_SUCCESS)
		forget_ctx(H(ctx));
	return r;
}

EXPORT CUresult cuCtxDestroy(CUcontext ctx)
{
	return cuCtxDestroy_v2(ctx);
}

EXPORT CUresult cuCtxSetCurrent(CUcontext ctx)
{
	NEED_INIT();
	if (ctx_depth == 0) {
		if (ctx)
			push_ctx(H(ctx));
	} else if (ctx) {
		ctx_stack[ctx_depth - 1] = H(ctx);
	} else {
		ctx_depth--;
	}
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	NEED_INIT();
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = (CUcontext)(uintptr_t)current_ctx();
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
	NEED_INIT();
	if (!ctx)
		return CUDA_ERROR_INVALID_VALUE;
	push_ctx(H(ctx));
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPushCurrent(CUcontext ctx)
{
	return cuCtxPushCurrent_v2(ctx);
}

EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
	NEED_INIT();
	if (!ctx_depth)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (pctx)
		*pctx = (CUcontext)(uintptr_t)ctx_stack[ctx_depth - 1];
	ctx_depth--;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPopCurrent(CUcontext *pctx)
{
	return cuCtxPopCurrent_v2(pctx);
}

EXPORT CUresult cuCtxGetDevice(CUdevice *dev)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!dev)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL0(GPU_CALL_CTX_GET_DEVICE, o);
	if (r == CUDA_SUCCESS)
		*dev = (CUdevice)o[0].u;
	return r;
}

EXPORT CUresult cuCtxSynchronize(void)
{
	NEED_INIT();
	return CALL0(GPU_CALL_CTX_SYNCHRONIZE, NULL);
}

EXPORT CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version)
{
	NEED_INIT();
	if (!version)
		return CUDA_ERROR_INVALID_VALUE;
	(void)ctx;
	*version = 3020;
	return CUDA_SUCCESS;
}

/* ---- modules ---- */

/* Bytes of a module image: cubin (ELF), fatbin, fatbin wrapper, or PTX. */
static size_t image_size(const void *image, int depth)
{
	const uint8_t *p = image;
	uint32_t magic = gpu_get32(p);

	if (magic == 0x466243b1u && depth == 0) {       /* fatbin wrapper */
		const void *data;

		memcpy(&data, p + 8, sizeof(data));
		return data ? image_size(data, 1) : 0;
	}
	if (magic == 0xba55ed50u)                       /* fatbin */
		return (size_t)(p[6] | p[7] << 8) + (size_t)gpu_get64(p + 8);
	if (!memcmp(p, "\177ELF", 4) && p[4] == 2) {    /* 64-bit ELF (cubin) */
		uint64_t shoff = gpu_get64(p + 0x28), phoff = gpu_get64(p + 0x20);
		unsigned int shent = p[0x3a] | p[0x3b] << 8, shnum = p[0x3c] | p[0x3d] << 8;
		unsigned int phent = p[0x36] | p[0x37] << 8, phnum = p[0x38] | p[0x39] << 8;
		uint64_t end = shoff + (uint64_t)shent * shnum, i;

		if (phoff + (uint64_t)phent * phnum > end)
			end = phoff + (uint64_t)phent * phnum;
		if (shoff && shent >= 0x28)
			for (i = 0; i < shnum; i++) {
				const uint8_t *sh = p + shoff + i * shent;

				if (gpu_get32(sh + 4) != 8 &&   /* SHT_NOBITS */
				    gpu_get64(sh + 0x18) + gpu_get64(sh + 0x20) > end)
					end = gpu_get64(sh + 0x18) + gpu_get64(sh + 0x20);
			}
		return end > GPU_PROTO_MAX_PAYLOAD ? 0 : (size_t)end;
	}
	return strnlen(image, GPU_PROTO_MAX_PAYLOAD - 64) + 1;
}

EXPORT CUresult cuModuleLoadData(CUmodule *module, const void *image)
{
	struct gpu_val a[1];
	struct out o[1] = { 0 };
	size_t size;
	CUresult r;

	NEED_INIT();
	if (!module || !image)
		return CUDA_ERROR_INVALID_VALUE;
	size = image_size(image, 0);
	if (size == 0 || size > GPU_PROTO_MAX_PAYLOAD - 64)
		return CUDA_ERROR_INVALID_IMAGE;
	a[0] = (struct gpu_val){ .p = image, .len = (uint32_t)size };
	r = forward(GPU_CALL_MODULE_LOAD_DATA, a, 1, o);
	if (r == CUDA_SUCCESS)
		*module = (CUmodule)(uintptr_t)o[0].u;
	return r;
}

EXPORT CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int n,
				   CUjit_option *options, void **values)
{
	unsigned int i;

	/* JIT options are hints to the pod's driver, which uses its defaults;
	 * log outputs come back empty. */
	for (i = 0; options && values && i < n; i++) {
		if (options[i] == CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES ||
		    options[i] == CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES) {
			unsigned int j;

			for (j = 0; j < n; j++)
				if (options[j] == options[i] - 1 && values[j] &&
				    (uintptr_t)values[i] > 0)
					*(char *)values[j] = '\0';
			values[i] = (void *)(uintptr_t)0;
		}
	}
	return cuModuleLoadData(module, image);
}

EXPORT CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatbin)
{
	return cuModuleLoadData(module, fatbin);
}

EXPORT CUresult cuModuleLoad(CUmodule *module, const char *fname)
{
	struct stat st;
	CUresult r;
	char *img;
	int fd;

	NEED_INIT();
	if (!module || !fname)
		return CUDA_ERROR_INVALID_VALUE;
	fd = open(fname, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return CUDA_ERROR_FILE_NOT_FOUND;
	if (fstat(fd, &st) || st.st_size <= 0 || st.st_size > GPU_PROTO_MAX_PAYLOAD - 64 ||
	    !(img = calloc(1, (size_t)st.st_size + 1))) {
		close(fd);
		return CUDA_ERROR_INVALID_IMAGE;
	}
	if (read(fd, img, (size_t)st.st_size) != st.st_size) {
		close(fd);
		free(img);
		return CUDA_ERROR_FILE_NOT_FOUND;
	}
	close(fd);
	r = cuModuleLoadData(module, img);
	free(img);
	return r;
}

EXPORT CUresult cuModuleUnload(CUmodule module)
{
	NEED_INIT();
	return CALL(GPU_CALL_MODULE_UNLOAD, NULL, V(H(module)));
}

static struct layout *find_layout(uint64_t handle)
{
	size_t i;

	for (i = 0; i < nlayouts; i++)
		if (layouts[i].handle == handle)
			return &layouts[i];
	return NULL;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *fn, CUmodule module, const char *name)
{
	static uint8_t blob[4 + 8 * 1024];
	struct out o[2] = { { 0 }, { .buf = blob, .cap = sizeof(blob) } };
	struct gpu_val a[2];
	struct layout *l;
	uint32_t n, i;
	CUresult r;

	NEED_INIT();
	if (!fn || !name)
		return CUDA_ERROR_INVALID_VALUE;
	a[0] = (struct gpu_val){ .u = H(module) };
	a[1] = (struct gpu_val){ .p = (const uint8_t *)name, .len = (uint32_t)strnlen(name, 1023) };
	pthread_mutex_lock(&layout_lock);       /* blob and layouts */
	r = forward(GPU_CALL_MODULE_GET_FUNCTION, a, 2, o);
	if (r != CUDA_SUCCESS)
		goto out;
	n = o[1].len >= 4 && o[1].len <= sizeof(blob) ? gpu_get32(blob) : 0;
	if (n != UINT32_MAX && (n > 1024 || o[1].len != 4 + 8 * n)) {
		r = CUDA_ERROR_UNKNOWN;
		goto out;
	}
	l = find_layout(o[0].u);
	if (!l) {
		struct layout *p = realloc(layouts, (nlayouts + 1) * sizeof(*p));

		if (!p) {
			r = CUDA_ERROR_OUT_OF_MEMORY;
			goto out;
		}
		layouts = p;
		l = &layouts[nlayouts++];
	} else {
		free(l->off);
	}
	memset(l, 0, sizeof(*l));
	l->handle = o[0].u;
	l->n = n;
	if (n != UINT32_MAX && n) {
		l->off = calloc(2 * (size_t)n, sizeof(uint32_t));
		if (!l->off) {
			l->n = UINT32_MAX;
		} else {
			l->size = l->off + n;
			for (i = 0; i < n; i++) {
				l->off[i] = gpu_get32(blob + 4 + 8 * i);
				l->size[i] = gpu_get32(blob + 8 + 8 * i);
				if (l->off[i] + l->size[i] > l->bytes)
					l->bytes = l->off[i] + l->size[i];
			}
			if (l->bytes > 65536)
				l->n = UINT32_MAX;
		}
	}
	*fn = (CUfunction)(uintptr_t)o[0].u;
out:
	pthread_mutex_unlock(&layout_lock);
	return r;
}

EXPORT CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule module,
				     const char *name)
{
	struct out o[2] = { 0 };
	struct gpu_val a[2];
	CUresult r;

	NEED_INIT();
	if (!name)
		return CUDA_ERROR_INVALID_VALUE;
	a[0] = (struct gpu_val){ .u = H(module) };
	a[1] = (struct gpu_val){ .p = (const uint8_t *)name, .len = (uint32_t)strnlen(name, 1023) };
	r = forward(GPU_CALL_MODULE_GET_GLOBAL, a, 2, o);
	if (r == CUDA_SUCCESS) {
		if (dptr)
			*dptr = o[0].u;
		if (bytes)
			*bytes = (size_t)o[1].u;
	}
	return r;
}

EXPORT CUresult cuFuncGetAttribute(int *value, CUfunction_attribute attrib, CUfunction fn)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!value)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_FUNC_GET_ATTRIBUTE, o, V((uint32_t)attrib), V(H(fn)));
	if (r == CUDA_SUCCESS)
		*value = (int)(int32_t)o[0].u;
	return r;
}

EXPORT CUresult cuFuncSetAttribute(CUfunction fn, CUfunction_attribute attrib, int value)
{
	NEED_INIT();
	return CALL(GPU_CALL_FUNC_SET_ATTRIBUTE, NULL, V(H(fn)), V((uint32_t)attrib),
		    V((uint32_t)value));
}

/* ---- memory ---- */

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t size)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!dptr || !size)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_MEM_ALLOC, o, V(size));
	if (r == CUDA_SUCCESS)
		*dptr = o[0].u;
	return r;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	NEED_INIT();
	return CALL(GPU_CALL_MEM_FREE, NULL, V(dptr));
}

EXPORT CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total)
{
	struct out o[2] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!free_bytes || !total)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL0(GPU_CALL_MEM_GET_INFO, o);
	if (r == CUDA_SUCCESS) {
		*free_bytes = (size_t)o[0].u;
		*total = (size_t)o[1].u;
	}
	return r;
}

/* Host memory stays in the guest: page-aligned malloc. */
EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t size)
{
	NEED_INIT();
	if (!pp || !size)
		return CUDA_ERROR_INVALID_VALUE;
	return posix_memalign(pp, 4096, size) ? CUDA_ERROR_OUT_OF_MEMORY : CUDA_SUCCESS;
}

EXPORT CUresult cuMemHostAlloc(void **pp, size_t size, unsigned int flags)
{
	if (flags & ~0x7u)
		return CUDA_ERROR_INVALID_VALUE;
	if (flags & 0x2u)       /* DEVICEMAP: no device can see guest memory */
		return CUDA_ERROR_NOT_SUPPORTED;
	return cuMemAllocHost_v2(pp, size);
}

EXPORT CUresult cuMemFreeHost(void *p)
{
	NEED_INIT();
	free(p);
	return CUDA_SUCCESS;
}

static CUresult htod(CUdeviceptr dst, const void *src, size_t n, bool async, CUstream s)
{
	CUresult r = CUDA_SUCCESS;

	NEED_INIT();
	if (n && !src)
		return CUDA_ERROR_INVALID_VALUE;
	while (n && r == CUDA_SUCCESS) {
		size_t chunk = n > GPU_PROTO_COPY_CHUNK ? GPU_PROTO_COPY_CHUNK : n;
		struct gpu_val a[3] = { V(dst), { .p = src, .len = (uint32_t)chunk }, V(H(s)) };

		r = async ? forward(GPU_CALL_MEMCPY_HTOD_ASYNC, a, 3, NULL) :
			forward(GPU_CALL_MEMCPY_HTOD, a, 2, NULL);
		dst += chunk;
		src = (const uint8_t *)src + chunk;
		n -= chunk;
	}
	return r;
}

static CUresult dtoh(void *dst, CUdeviceptr src, size_t n, bool async, CUstream s)
{
	CUresult r = CUDA_SUCCESS;

	NEED_INIT();
	if (n && !dst)
		return CUDA_ERROR_INVALID_VALUE;
	while (n && r == CUDA_SUCCESS) {
		size_t chunk = n > GPU_PROTO_COPY_CHUNK ? GPU_PROTO_COPY_CHUNK : n;
		struct out o[1] = { { .buf = dst, .cap = (uint32_t)chunk } };

		r = async ? CALL(GPU_CALL_MEMCPY_DTOH_ASYNC, o, V(src), V(chunk), V(H(s))) :
			CALL(GPU_CALL_MEMCPY_DTOH, o, V(src), V(chunk));
		if (r == CUDA_SUCCESS && o[0].len != chunk)
			r = CUDA_ERROR_UNKNOWN;
		src += chunk;
		dst = (uint8_t *)dst + chunk;
		n -= chunk;
	}
	return r;
}

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n)
{
	return htod(dst, src, n, false, NULL);
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	return htod(dst, src, n, true, s);
}

EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n)
{
	return dtoh(dst, src, n, false, NULL);
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	return dtoh(dst, src, n, true, s);
}

EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n)
{
	NEED_INIT();
	return CALL(GPU_CALL_MEMCPY_DTOD, NULL, V(dst), V(src), V(n));
}

EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	NEED_INIT();
	return CALL(GPU_CALL_MEMCPY_DTOD_ASYNC, NULL, V(dst), V(src), V(n), V(H(s)));
}

EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n)
{
	NEED_INIT();
	return CALL(GPU_CALL_MEMSET_D8, NULL, V(dst), V(v), V(n));
}

EXPORT CUresult cuMemsetD32_v2(CUdeviceptr dst, unsigned int v, size_t n)
{
	NEED_INIT();
	return CALL(GPU_CALL_MEMSET_D32, NULL, V(dst), V(v), V(n));
}

EXPORT CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, CUstream s)
{
	NEED_INIT();
	return CALL(GPU_CALL_MEMSET_D8_ASYNC, NULL, V(dst), V(v), V(n), V(H(s)));
}

EXPORT CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, CUstream s)
{
	NEED_INIT();
	return CALL(GPU_CALL_MEMSET_D32_ASYNC, NULL, V(dst), V(v), V(n), V(H(s)));
}

/* ---- launches ---- */

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
			       unsigned int bx, unsigned int by, unsigned int bz,
			       unsigned int shmem, CUstream s, void **params, void **extra)
{
	uint8_t stackbuf[4096] __attribute__((aligned(16)));
	uint8_t *buf = stackbuf, *heap = NULL;
	const uint8_t *pp = buf;
	CUresult r;
	size_t plen = 0;
	struct layout *l;
	uint32_t n = 0, bytes = 0, i;

	NEED_INIT();
	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	if (params && extra)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&layout_lock);
	l = find_layout(H(f));
	if (l) {
		n = l->n;
		bytes = l->bytes;
	}
	if (params && l && n != UINT32_MAX) {
		if (bytes > sizeof(stackbuf)) {
			buf = heap = malloc(bytes);     /* up to 64 KiB of parameters */
			if (!buf) {
				pthread_mutex_unlock(&layout_lock);
				return CUDA_ERROR_OUT_OF_MEMORY;
			}
			pp = buf;
		}
		memset(buf, 0, bytes);
		for (i = 0; i < n; i++) {
			if (!params[i]) {
				pthread_mutex_unlock(&layout_lock);
				free(heap);
				return CUDA_ERROR_INVALID_VALUE;
			}
			memcpy(buf + l->off[i], params[i], l->size[i]);
		}
		plen = bytes;
	}
	pthread_mutex_unlock(&layout_lock);
	if (params && (!l || n == UINT32_MAX))
		return CUDA_ERROR_NOT_SUPPORTED;        /* pod's driver lacks cuFuncGetParamInfo */
	if (extra && !params) {
		const void *bp = NULL;
		size_t *bs = NULL;

		for (i = 0; i < 64 && extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
			if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
				bp = extra[i + 1];
			else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
				bs = extra[i + 1];
			else
				return CUDA_ERROR_INVALID_VALUE;
		}
		if (!bp || !bs || *bs > 65536)
			return CUDA_ERROR_INVALID_VALUE;
		pp = bp;
		plen = *bs;
	}
	{
		struct gpu_val a[10] = { V(H(f)), V(gx), V(gy), V(gz), V(bx), V(by), V(bz),
					 V(shmem), V(H(s)), { .p = pp, .len = (uint32_t)plen } };

		r = forward(GPU_CALL_LAUNCH_KERNEL, a, 10, NULL);
		free(heap);
		return r;
	}
}

/* ---- streams and events ---- */

EXPORT CUresult cuStreamCreateWithPriority(CUstream *ps, unsigned int flags, int priority)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!ps)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_STREAM_CREATE, o, V(flags), V((uint32_t)priority));
	if (r == CUDA_SUCCESS)
		*ps = (CUstream)(uintptr_t)o[0].u;
	return r;
}

EXPORT CUresult cuStreamCreate(CUstream *ps, unsigned int flags)
{
	return cuStreamCreateWithPriority(ps, flags, 0);
}

EXPORT CUresult cuStreamDestroy_v2(CUstream s)
{
	NEED_INIT();
	return CALL(GPU_CALL_STREAM_DESTROY, NULL, V(H(s)));
}

EXPORT CUresult cuStreamDestroy(CUstream s)
{
	return cuStreamDestroy_v2(s);
}

EXPORT CUresult cuStreamSynchronize(CUstream s)
{
	NEED_INIT();
	return CALL(GPU_CALL_STREAM_SYNCHRONIZE, NULL, V(H(s)));
}

EXPORT CUresult cuStreamQuery(CUstream s)
{
	NEED_INIT();
	return CALL(GPU_CALL_STREAM_QUERY, NULL, V(H(s)));
}

EXPORT CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned int flags)
{
	NEED_INIT();
	return CALL(GPU_CALL_STREAM_WAIT_EVENT, NULL, V(H(s)), V(H(e)), V(flags));
}

EXPORT CUresult cuEventCreate(CUevent *pe, unsigned int flags)
{
	struct out o[1] = { 0 };
	CUresult r;

	NEED_INIT();
	if (!pe)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_EVENT_CREATE, o, V(flags));
	if (r == CUDA_SUCCESS)
		*pe = (CUevent)(uintptr_t)o[0].u;
	return r;
}

EXPORT CUresult cuEventDestroy_v2(CUevent e)
{
	NEED_INIT();
	return CALL(GPU_CALL_EVENT_DESTROY, NULL, V(H(e)));
}

EXPORT CUresult cuEventDestroy(CUevent e)
{
	return cuEventDestroy_v2(e);
}

EXPORT CUresult cuEventRecord(CUevent e, CUstream s)
{
	NEED_INIT();
	return CALL(GPU_CALL_EVENT_RECORD, NULL, V(H(e)), V(H(s)));
}

EXPORT CUresult cuEventSynchronize(CUevent e)
{
	NEED_INIT();
	return CALL(GPU_CALL_EVENT_SYNCHRONIZE, NULL, V(H(e)));
}

EXPORT CUresult cuEventQuery(CUevent e)
{
	NEED_INIT();
	return CALL(GPU_CALL_EVENT_QUERY, NULL, V(H(e)));
}

EXPORT CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end)
{
	struct out o[1] = { 0 };
	uint32_t bits;
	CUresult r;

	NEED_INIT();
	if (!ms)
		return CUDA_ERROR_INVALID_VALUE;
	r = CALL(GPU_CALL_EVENT_ELAPSED_TIME, o, V(H(start)), V(H(end)));
	if (r == CUDA_SUCCESS) {
		bits = (uint32_t)o[0].u;
		memcpy(ms, &bits, sizeof(*ms));
	}
	return r;
}

EXPORT CUresult cuEventElapsedTime_v2(float *ms, CUevent start, CUevent end)
{
	return cuEventElapsedTime(ms, start, end);
}

/* ---- 32-bit-era entry points: not supported ---- */

EXPORT CUresult cuMemAlloc(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemFree(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemGetInfo(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemcpyHtoD(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemcpyDtoH(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemcpyDtoD(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemcpyHtoDAsync(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemcpyDtoHAsync(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemcpyDtoDAsync(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemsetD8(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemsetD32(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuModuleGetGlobal(void) { return CUDA_ERROR_NOT_SUPPORTED; }
EXPORT CUresult cuMemAllocHost(void) { return CUDA_ERROR_NOT_SUPPORTED; }

/* Anything else found through cuGetProcAddress. Calling it with any
 * arguments is safe in the x86-64 and AArch64 C ABIs. */
static CUresult unsupported(void)
{
	return CUDA_ERROR_NOT_SUPPORTED;
}

#include "errors.h"
#include "stubs.h"
#include "procs.h"
