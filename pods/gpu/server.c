/* pods/gpu/server.c — the GPU pod: accept, authenticate, and execute the
 * calls of each client on the real driver (see server.h). */
#include "server.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "common.h"
#include "conn.h"
#include "cuda_abi.h"
#include "gpu_mem.h"
#include "link.h"
#include "proto.h"

#define MAX_DEVICES     64
#define MAX_PARAMS      1024
#define MAX_OBJECTS     (1u << 20)     /* handles, allocations per client */

/* The driver functions the pod calls (names as exported by libcuda.so.1). */
static struct {
	void *dl;
	CUresult (*Init)(unsigned int);
	CUresult (*DriverGetVersion)(int *);
	CUresult (*DeviceGetCount)(int *);
	CUresult (*DeviceGet)(CUdevice *, int);
	CUresult (*DeviceGetName)(char *, int, CUdevice);
	CUresult (*DeviceTotalMem)(size_t *, CUdevice);
	CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
	CUresult (*DeviceGetUuid)(CUuuid *, CUdevice);
	CUresult (*CtxCreate)(CUcontext *, unsigned int, CUdevice);
	CUresult (*CtxCreate4)(CUcontext *, void *, unsigned int, CUdevice);
	CUresult (*CtxDestroy)(CUcontext);
	CUresult (*CtxSetCurrent)(CUcontext);
	CUresult (*CtxSynchronize)(void);
	CUresult (*ModuleLoadData)(CUmodule *, const void *);
	CUresult (*ModuleUnload)(CUmodule);
	CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
	CUresult (*ModuleGetGlobal)(CUdeviceptr *, size_t *, CUmodule, const char *);
	CUresult (*FuncGetParamInfo)(CUfunction, size_t, size_t *, size_t *);
	CUresult (*FuncLoad)(CUfunction);
	CUresult (*FuncGetAttribute)(int *, int, CUfunction);
	CUresult (*FuncSetAttribute)(CUfunction, int, int);
	CUresult (*MemAlloc)(CUdeviceptr *, size_t);
	CUresult (*MemFree)(CUdeviceptr);
	CUresult (*MemGetInfo)(size_t *, size_t *);
	CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
	CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
	CUresult (*MemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
	CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
	CUresult (*MemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
	CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
	CUresult (*MemsetD32)(CUdeviceptr, unsigned int, size_t);
	CUresult (*MemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
	CUresult (*MemsetD32Async)(CUdeviceptr, unsigned int, size_t, CUstream);
	CUresult (*LaunchKernel)(CUfunction, unsigned int, unsigned int, unsigned int,
				 unsigned int, unsigned int, unsigned int, unsigned int,
				 CUstream, void **, void **);
	CUresult (*StreamCreateWithPriority)(CUstream *, unsigned int, int);
	CUresult (*StreamDestroy)(CUstream);
	CUresult (*StreamSynchronize)(CUstream);
	CUresult (*StreamQuery)(CUstream);
	CUresult (*StreamWaitEvent)(CUstream, CUevent, unsigned int);
	CUresult (*EventCreate)(CUevent *, unsigned int);
	CUresult (*EventDestroy)(CUevent);
	CUresult (*EventRecord)(CUevent, CUstream);
	CUresult (*EventSynchronize)(CUevent);
	CUresult (*EventQuery)(CUevent);
	CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
} drv;

static CUresult drv_status = CUDA_ERROR_NO_DEVICE;     /* what cuInit gave */
static char drv_why[200] = "not loaded";

void *gpu_driver_sym(const char *name)
{
	return drv.dl ? dlsym(drv.dl, name) : NULL;
}

/* ---- the direct memory backend ---- */

static int direct_open(struct gpu_mem_client *mc) { (void)mc; return CUDA_SUCCESS; }
static void direct_close(struct gpu_mem_client *mc) { (void)mc; }

static int direct_alloc(struct gpu_mem_client *mc, uint64_t size, CUdeviceptr *out)
{
	CUresult r;

	if (mc->quota && (size > mc->quota || mc->used > mc->quota - size))
		return CUDA_ERROR_OUT_OF_MEMORY;
	r = drv.MemAlloc(out, (size_t)size);
	if (r == CUDA_SUCCESS)
		mc->used += size;
	return r;
}

static int direct_free(struct gpu_mem_client *mc, CUdeviceptr ptr, uint64_t size)
{
	CUresult r = drv.MemFree(ptr);

	if (r == CUDA_SUCCESS)
		mc->used -= size;
	return r;
}

const struct gpu_mem_ops gpu_mem_direct_ops = {
	.name = "direct",
	.open = direct_open,
	.close = direct_close,
	.alloc = direct_alloc,
	.free = direct_free,
};

/* ---- per-client state ---- */

enum hkind { H_FREE = 0, H_CTX, H_MODULE, H_FUNC, H_STREAM, H_EVENT };

struct handle {
	enum hkind kind;
	void *ptr;              /* the driver's handle */
	uint32_t ctx;           /* index of the owning context (H_CTX: itself) */
	uint32_t module;        /* H_FUNC: its module's index */
	CUdevice dev;           /* H_CTX */
	uint32_t nparams;       /* H_FUNC: from cuFuncGetParamInfo, or UINT32_MAX */
	uint32_t param_bytes;
};

struct region {
	CUdeviceptr ptr;
	uint64_t size;
	uint32_t ctx;
	bool owned;             /* cuMemAlloc (freed by us) or a module global */
	uint32_t module;
};

struct client {
	struct gpu_server *srv;
	struct gpu_link *link;
	char id[GPU_PROTO_ID_MAX + 1];
	struct handle *h;
	uint32_t nh, caph;
	struct region *r;
	uint32_t nr, capr;
	uint32_t cur;                   /* current context index + 1; 0 none */
	uint32_t primary[MAX_DEVICES];  /* primary context index + 1 */
	uint32_t primary_refs[MAX_DEVICES];
	unsigned int primary_flags[MAX_DEVICES];
	CUresult deferred;
	struct gpu_mem_client mem;
	uint8_t *rx, *tx;
	size_t rxcap, txcap;
	uint8_t *params;                /* aligned launch parameter buffer */
	struct client *next;
};

struct gpu_server {
	struct gpu_server_config cfg;
	const struct gpu_mem_ops *mem;
	struct pvm_auth_secret *secret;
	char pod_id[GPU_PROTO_ID_MAX + 1];
	char addr[80];
	int lfd;
	struct gpu_fabric_listener *fl;
	char faddr[200];
	char fprov[40];
	pthread_t fthread;
	bool fthread_on;
	int stop_pipe[2];
	int ndev;
	CUdevice dev[MAX_DEVICES];
	pthread_mutex_t lock;
	pthread_cond_t gone;
	struct client *clients;
	unsigned int nclients;
};

#define HANDLE(kind, idx) (((uint64_t)(kind) << 32) | ((uint64_t)(idx) + 1))

static struct handle *lookup(struct client *c, uint64_t hv, enum hkind kind, uint32_t *idx)
{
	uint32_t i = (uint32_t)hv;

	if ((hv >> 32) != (uint64_t)kind || i == 0 || i > c->nh || c->h[i - 1].kind != kind)
		return NULL;
	if (idx)
		*idx = i - 1;
	return &c->h[i - 1];
}

static int add_handle(struct client *c, enum hkind kind, void *ptr, uint32_t *idx)
{
	uint32_t i;

	for (i = 0; i < c->nh; i++)
		if (c->h[i].kind == H_FREE)
			break;
	if (i == c->nh) {
		if (c->nh == c->caph) {
			uint32_t cap = c->caph ? c->caph * 2 : 64;
			struct handle *n;

			if (cap > MAX_OBJECTS)
				return -ENOMEM;
			n = realloc(c->h, cap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			c->h = n;
			c->caph = cap;
		}
		c->nh++;
	}
	memset(&c->h[i], 0, sizeof(c->h[i]));
	c->h[i].kind = kind;
	c->h[i].ptr = ptr;
	c->h[i].ctx = c->cur ? c->cur - 1 : 0;
	*idx = i;
	return 0;
}

static int add_region(struct client *c, CUdeviceptr p, uint64_t size, bool owned, uint32_t module)
{
	if (c->nr == c->capr) {
		uint32_t cap = c->capr ? c->capr * 2 : 64;
		struct region *n;

		if (cap > MAX_OBJECTS)
			return -ENOMEM;
		n = realloc(c->r, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->r = n;
		c->capr = cap;
	}
	c->r[c->nr++] = (struct region){ .ptr = p, .size = size, .owned = owned,
					 .module = module, .ctx = c->cur ? c->cur - 1 : 0 };
	return 0;
}

/* Is [p, p + n) inside one region of the client? */
static bool in_regions(struct client *c, CUdeviceptr p, uint64_t n)
{
	uint32_t i;

	for (i = 0; i < c->nr; i++)
		if (p >= c->r[i].ptr && p - c->r[i].ptr <= c->r[i].size &&
		    n <= c->r[i].size - (p - c->r[i].ptr))
			return true;
	return false;
}

/* Is [p, p + n) inside one of the client's cuMemAlloc allocations? */
static bool in_allocation(struct client *c, CUdeviceptr p, uint64_t n)
{
	uint32_t i;

	for (i = 0; i < c->nr; i++)
		if (c->r[i].owned && p >= c->r[i].ptr && p - c->r[i].ptr <= c->r[i].size &&
		    n <= c->r[i].size - (p - c->r[i].ptr))
			return true;
	return false;
}

/* Does the memory backend carry out this copy or fill itself? (Without a
 * current context the driver's own call answers, as the driver would.) */
#define BACKEND_DOES(c, op) ((c)->cur && (c)->srv->mem->op != NULL)

static CUresult touch(struct client *c, CUdeviceptr p, uint64_t n)
{
	if (!in_regions(c, p, n))
		return CUDA_ERROR_INVALID_VALUE;
	if (c->srv->mem->touch)
		return c->srv->mem->touch(&c->mem, p, n);
	return CUDA_SUCCESS;
}

static CUresult set_current(struct client *c, uint32_t cur)
{
	CUresult r = drv.CtxSetCurrent(cur ? c->h[cur - 1].ptr : NULL);

	if (r == CUDA_SUCCESS) {
		c->cur = cur;
		c->mem.device = cur ? c->h[cur - 1].dev : 0;
	}
	return r;
}

/* Drop every object of context @ci (the driver destroys them with it). */
static void forget_context(struct client *c, uint32_t ci)
{
	uint32_t i;

	for (i = 0; i < c->nr;) {
		if (c->r[i].ctx == ci) {
			if (c->r[i].owned) {
				uint32_t keep = c->cur;

				if (set_current(c, ci + 1) == CUDA_SUCCESS)
					c->srv->mem->free(&c->mem, c->r[i].ptr, c->r[i].size);
				set_current(c, keep);
			}
			c->r[i] = c->r[--c->nr];
		} else {
			i++;
		}
	}
	for (i = 0; i < c->nh; i++)
		if (c->h[i].kind != H_FREE && c->h[i].ctx == ci)
			c->h[i].kind = H_FREE;
	if (c->cur == ci + 1) {
		drv.CtxSetCurrent(NULL);
		c->cur = 0;
	}
}

static CUresult destroy_context(struct client *c, uint32_t ci)
{
	void *ctx = c->h[ci].ptr;
	uint32_t i;

	forget_context(c, ci);
	for (i = 0; i < MAX_DEVICES; i++)
		if (c->primary[i] == ci + 1) {
			c->primary[i] = 0;
			c->primary_refs[i] = 0;
		}
	return drv.CtxDestroy(ctx);
}

static bool valid_device(struct client *c, uint64_t dev, int *ordinal)
{
	int i;

	for (i = 0; i < c->srv->ndev; i++)
		if ((uint64_t)(uint32_t)c->srv->dev[i] == dev) {
			if (ordinal)
				*ordinal = i;
			return true;
		}
	return false;
}

static CUresult stream_of(struct client *c, uint64_t hv, CUstream *out)
{
	struct handle *h;

	if (hv <= 2) {
		*out = (CUstream)(uintptr_t)hv;
		return CUDA_SUCCESS;
	}
	h = lookup(c, hv, H_STREAM, NULL);
	if (!h)
		return CUDA_ERROR_INVALID_HANDLE;
	*out = h->ptr;
	return CUDA_SUCCESS;
}

static CUresult new_context(struct client *c, unsigned int flags, CUdevice dev, uint32_t *idx)
{
	CUcontext ctx;
	CUresult r;
	uint32_t keep = c->cur;

	r = drv.CtxCreate ? drv.CtxCreate(&ctx, flags, dev) : drv.CtxCreate4(&ctx, NULL, flags, dev);
	if (r != CUDA_SUCCESS)
		return r;
	/* cuCtxCreate made it current; the client's current stays as it was. */
	if (add_handle(c, H_CTX, ctx, idx)) {
		drv.CtxDestroy(ctx);
		set_current(c, keep);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	c->h[*idx].ctx = *idx;
	c->h[*idx].dev = dev;
	set_current(c, keep);
	return CUDA_SUCCESS;
}

/*
 * Fill the function's parameter layout (needs cuFuncGetParamInfo, 12.4+).
 * The list ends where the driver says CUDA_ERROR_INVALID_VALUE; any other
 * failure (a lazily loaded function: cuFuncLoad is tried once) leaves the
 * layout unknown, so that kernelParams launches are refused rather than
 * made with a wrong buffer.
 */
static void param_layout(struct handle *f, uint8_t *blob, uint32_t *bloblen)
{
	size_t off, size, end = 0;
	bool loaded = false;
	uint32_t i;
	CUresult r;

	f->nparams = UINT32_MAX;
	gpu_put32(blob, UINT32_MAX);
	*bloblen = 4;
	if (!drv.FuncGetParamInfo)
		return;
	for (i = 0; i < MAX_PARAMS; i++) {
		r = drv.FuncGetParamInfo(f->ptr, i, &off, &size);
		if (r != CUDA_SUCCESS && r != CUDA_ERROR_INVALID_VALUE && !loaded &&
		    drv.FuncLoad && drv.FuncLoad(f->ptr) == CUDA_SUCCESS) {
			loaded = true;
			r = drv.FuncGetParamInfo(f->ptr, i, &off, &size);
		}
		if (r == CUDA_ERROR_INVALID_VALUE)
			break;
		if (r != CUDA_SUCCESS)
			return;
		if (off > 65536 || size > 65536)
			return;
		gpu_put32(blob + 4 + 8 * i, (uint32_t)off);
		gpu_put32(blob + 8 + 8 * i, (uint32_t)size);
		if (off + size > end)
			end = off + size;
	}
	f->nparams = i;
	f->param_bytes = (uint32_t)end;
	gpu_put32(blob, i);
	*bloblen = 4 + 8 * i;
}

struct exec {
	struct client *c;
	CUresult result;        /* of the synchronous call */
	struct gpu_val out[GPU_PROTO_MAX_ARGS];
	unsigned int nout;
	uint8_t *outbuf;        /* freed after the reply */
	bool sync;
	unsigned int sync_id;
};

static CUresult launch(struct client *c, const struct gpu_call *k)
{
	struct handle *f = lookup(c, k->arg[0].u, H_FUNC, NULL);
	const struct gpu_val *pv = &k->arg[9];
	size_t size = pv->len;
	void *extra[5] = { CU_LAUNCH_PARAM_BUFFER_POINTER, c->params,
			   CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END };
	CUstream s;
	CUresult r;

	if (!f)
		return CUDA_ERROR_INVALID_HANDLE;
	r = stream_of(c, k->arg[8].u, &s);
	if (r)
		return r;
	if (size > 65536 || (f->nparams != UINT32_MAX && size != f->param_bytes))
		return CUDA_ERROR_INVALID_VALUE;
	if (size)
		memcpy(c->params, pv->p, size);
	if (c->srv->mem->prepare_launch) {
		CUdeviceptr ptrs[512];
		unsigned int n = 0;
		size_t o;

		for (o = 0; o + 8 <= size && n < 512; o += 8) {
			CUdeviceptr v = gpu_get64(c->params + o);

			if (in_regions(c, v, 0))
				ptrs[n++] = v;
		}
		r = c->srv->mem->prepare_launch(&c->mem, (uint64_t)(uintptr_t)f->ptr, ptrs, n);
		if (r)
			return r;
	}
	return drv.LaunchKernel(f->ptr, (unsigned int)k->arg[1].u, (unsigned int)k->arg[2].u,
				(unsigned int)k->arg[3].u, (unsigned int)k->arg[4].u,
				(unsigned int)k->arg[5].u, (unsigned int)k->arg[6].u,
				(unsigned int)k->arg[7].u, s, NULL, size ? extra : NULL);
}

static uint8_t *outbuf(struct exec *e, size_t n)
{
	e->outbuf = malloc(n ? n : 1);
	return e->outbuf;
}

#define OUT_U(v) (e->out[e->nout++].u = (uint64_t)(v))

/* Execute one call; the result of an asynchronous one is deferred. */
static CUresult execute(struct exec *e, const struct gpu_call *k)
{
	struct client *c = e->c;
	const struct gpu_val *a = k->arg;
	struct handle *h;
	uint32_t idx;
	CUresult r;
	int ord;

	if (k->id == GPU_CALL_INIT)
		return a[0].u ? CUDA_ERROR_INVALID_VALUE : drv_status;
	if (drv_status != CUDA_SUCCESS)
		return drv_status;

	switch (k->id) {
	case GPU_CALL_SET_CONTEXT:
		if (a[0].u == 0)
			return set_current(c, 0);
		if (!lookup(c, a[0].u, H_CTX, &idx))
			return CUDA_ERROR_INVALID_CONTEXT;
		return set_current(c, idx + 1);
	case GPU_CALL_DRIVER_GET_VERSION: {
		int v = 0;

		r = drv.DriverGetVersion(&v);
		OUT_U((uint32_t)v);
		return r;
	}
	case GPU_CALL_DEVICE_GET_COUNT:
		OUT_U(c->srv->ndev);
		return CUDA_SUCCESS;
	case GPU_CALL_DEVICE_GET:
		if (a[0].u >= (uint64_t)c->srv->ndev) {
			OUT_U(0);
			return CUDA_ERROR_INVALID_DEVICE;
		}
		OUT_U((uint32_t)c->srv->dev[a[0].u]);
		return CUDA_SUCCESS;
	case GPU_CALL_DEVICE_GET_NAME: {
		int len = a[0].u > 256 ? 256 : (int)a[0].u;
		char *name = (char *)outbuf(e, 257);

		e->out[0].p = (uint8_t *)name;
		e->nout = 1;
		if (!name)
			return CUDA_ERROR_OUT_OF_MEMORY;
		if (!valid_device(c, a[1].u, NULL))
			return CUDA_ERROR_INVALID_DEVICE;
		if (len <= 0)
			return CUDA_ERROR_INVALID_VALUE;
		memset(name, 0, 257);
		r = drv.DeviceGetName(name, len, (CUdevice)a[1].u);
		if (r == CUDA_SUCCESS)
			e->out[0].len = (uint32_t)strnlen(name, (size_t)len);
		return r;
	}
	case GPU_CALL_DEVICE_TOTAL_MEM: {
		size_t bytes = 0;

		if (!valid_device(c, a[0].u, NULL)) {
			OUT_U(0);
			return CUDA_ERROR_INVALID_DEVICE;
		}
		r = drv.DeviceTotalMem(&bytes, (CUdevice)a[0].u);
		if (c->srv->cfg.quota && bytes > c->srv->cfg.quota)
			bytes = c->srv->cfg.quota;
		OUT_U(bytes);
		return r;
	}
	case GPU_CALL_DEVICE_GET_ATTRIBUTE: {
		int v = 0;

		r = valid_device(c, a[1].u, NULL) ?
			drv.DeviceGetAttribute(&v, (int)a[0].u, (CUdevice)a[1].u) :
			CUDA_ERROR_INVALID_DEVICE;
		OUT_U((uint32_t)v);
		return r;
	}
	case GPU_CALL_DEVICE_GET_UUID: {
		uint8_t *u = outbuf(e, 16);

		e->nout = 1;
		if (!u)
			return CUDA_ERROR_OUT_OF_MEMORY;
		if (!valid_device(c, a[0].u, NULL))
			return CUDA_ERROR_INVALID_DEVICE;
		r = drv.DeviceGetUuid ? drv.DeviceGetUuid((CUuuid *)u, (CUdevice)a[0].u) :
			CUDA_ERROR_NOT_SUPPORTED;
		if (r == CUDA_SUCCESS) {
			e->out[0].p = u;
			e->out[0].len = 16;
		}
		return r;
	}
	case GPU_CALL_PRIMARY_CTX_RETAIN:
		if (!valid_device(c, a[0].u, &ord)) {
			OUT_U(0);
			return CUDA_ERROR_INVALID_DEVICE;
		}
		if (!c->primary[ord]) {
			r = new_context(c, c->primary_flags[ord], (CUdevice)a[0].u, &idx);
			if (r) {
				OUT_U(0);
				return r;
			}
			c->primary[ord] = idx + 1;
		}
		c->primary_refs[ord]++;
		OUT_U(HANDLE(H_CTX, c->primary[ord] - 1));
		return CUDA_SUCCESS;
	case GPU_CALL_PRIMARY_CTX_RELEASE:
	case GPU_CALL_PRIMARY_CTX_RESET:
		if (!valid_device(c, a[0].u, &ord))
			return CUDA_ERROR_INVALID_DEVICE;
		if (!c->primary[ord])
			return k->id == GPU_CALL_PRIMARY_CTX_RESET ? CUDA_SUCCESS :
				CUDA_ERROR_INVALID_CONTEXT;
		if (k->id == GPU_CALL_PRIMARY_CTX_RELEASE && --c->primary_refs[ord])
			return CUDA_SUCCESS;
		return destroy_context(c, c->primary[ord] - 1);
	case GPU_CALL_PRIMARY_CTX_GET_STATE:
		if (!valid_device(c, a[0].u, &ord)) {
			OUT_U(0);
			OUT_U(0);
			return CUDA_ERROR_INVALID_DEVICE;
		}
		OUT_U(c->primary_flags[ord]);
		OUT_U(c->primary[ord] ? 1 : 0);
		return CUDA_SUCCESS;
	case GPU_CALL_PRIMARY_CTX_SET_FLAGS:
		if (!valid_device(c, a[0].u, &ord))
			return CUDA_ERROR_INVALID_DEVICE;
		if (a[1].u & ~0xffULL)
			return CUDA_ERROR_INVALID_VALUE;
		c->primary_flags[ord] = (unsigned int)a[1].u;
		return CUDA_SUCCESS;
	case GPU_CALL_CTX_CREATE:
		if (!valid_device(c, a[1].u, NULL)) {
			OUT_U(0);
			return CUDA_ERROR_INVALID_DEVICE;
		}
		r = new_context(c, (unsigned int)a[0].u, (CUdevice)a[1].u, &idx);
		OUT_U(r ? 0 : HANDLE(H_CTX, idx));
		return r;
	case GPU_CALL_CTX_DESTROY:
		if (!lookup(c, a[0].u, H_CTX, &idx))
			return CUDA_ERROR_INVALID_CONTEXT;
		return destroy_context(c, idx);
	case GPU_CALL_CTX_SYNCHRONIZE:
		return c->cur ? drv.CtxSynchronize() : CUDA_ERROR_INVALID_CONTEXT;
	case GPU_CALL_CTX_GET_DEVICE:
		OUT_U(c->cur ? (uint32_t)c->h[c->cur - 1].dev : 0);
		return c->cur ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
	case GPU_CALL_MODULE_LOAD_DATA: {
		CUmodule m;
		uint8_t *img;

		OUT_U(0);
		if (!c->cur)
			return CUDA_ERROR_INVALID_CONTEXT;
		if (!a[0].len)
			return CUDA_ERROR_INVALID_VALUE;
		/* PTX is text: make sure it ends. */
		img = malloc((size_t)a[0].len + 1);
		if (!img)
			return CUDA_ERROR_OUT_OF_MEMORY;
		memcpy(img, a[0].p, a[0].len);
		img[a[0].len] = 0;
		r = drv.ModuleLoadData(&m, img);
		free(img);
		if (r)
			return r;
		if (add_handle(c, H_MODULE, m, &idx)) {
			drv.ModuleUnload(m);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		e->out[0].u = HANDLE(H_MODULE, idx);
		return CUDA_SUCCESS;
	}
	case GPU_CALL_MODULE_UNLOAD: {
		uint32_t i;

		if (!(h = lookup(c, a[0].u, H_MODULE, &idx)))
			return CUDA_ERROR_INVALID_HANDLE;
		r = drv.ModuleUnload(h->ptr);
		for (i = 0; i < c->nh; i++)
			if (c->h[i].kind == H_FUNC && c->h[i].module == idx)
				c->h[i].kind = H_FREE;
		for (i = 0; i < c->nr;)
			if (!c->r[i].owned && c->r[i].module == idx)
				c->r[i] = c->r[--c->nr];
			else
				i++;
		h->kind = H_FREE;
		return r;
	}
	case GPU_CALL_MODULE_GET_FUNCTION:
	case GPU_CALL_MODULE_GET_GLOBAL: {
		char name[1024];
		CUfunction fn;
		CUdeviceptr gp = 0;
		size_t gsize = 0;
		uint32_t mi;

		e->nout = 2;
		if (!(h = lookup(c, a[0].u, H_MODULE, &mi)))
			return CUDA_ERROR_INVALID_HANDLE;
		if (!a[1].len || a[1].len >= sizeof(name) || memchr(a[1].p, 0, a[1].len))
			return CUDA_ERROR_INVALID_VALUE;
		memcpy(name, a[1].p, a[1].len);
		name[a[1].len] = 0;
		if (k->id == GPU_CALL_MODULE_GET_GLOBAL) {
			r = drv.ModuleGetGlobal(&gp, &gsize, h->ptr, name);
			if (r)
				return r;
			if (!in_regions(c, gp, gsize) && add_region(c, gp, gsize, false, mi))
				return CUDA_ERROR_OUT_OF_MEMORY;
			e->out[0].u = gp;
			e->out[1].u = gsize;
			return CUDA_SUCCESS;
		}
		r = drv.ModuleGetFunction(&fn, h->ptr, name);
		if (r)
			return r;
		if (add_handle(c, H_FUNC, fn, &idx))
			return CUDA_ERROR_OUT_OF_MEMORY;
		c->h[idx].module = mi;
		if (!outbuf(e, 4 + 8 * MAX_PARAMS)) {
			c->h[idx].kind = H_FREE;
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		param_layout(&c->h[idx], e->outbuf, &e->out[1].len);
		e->out[1].p = e->outbuf;
		e->out[0].u = HANDLE(H_FUNC, idx);
		return CUDA_SUCCESS;
	}
	case GPU_CALL_FUNC_GET_ATTRIBUTE: {
		int v = 0;

		h = lookup(c, a[1].u, H_FUNC, NULL);
		r = h ? drv.FuncGetAttribute(&v, (int)a[0].u, h->ptr) : CUDA_ERROR_INVALID_HANDLE;
		OUT_U((uint32_t)v);
		return r;
	}
	case GPU_CALL_FUNC_SET_ATTRIBUTE:
		h = lookup(c, a[0].u, H_FUNC, NULL);
		if (!h)
			return CUDA_ERROR_INVALID_HANDLE;
		return drv.FuncSetAttribute ?
			drv.FuncSetAttribute(h->ptr, (int)a[1].u, (int)(int32_t)a[2].u) :
			CUDA_ERROR_NOT_SUPPORTED;
	case GPU_CALL_MEM_ALLOC: {
		CUdeviceptr p = 0;

		OUT_U(0);
		if (!c->cur)
			return CUDA_ERROR_INVALID_CONTEXT;
		if (a[0].u == 0)
			return CUDA_ERROR_INVALID_VALUE;
		r = c->srv->mem->alloc(&c->mem, a[0].u, &p);
		if (r)
			return r;
		if (add_region(c, p, a[0].u, true, 0)) {
			c->srv->mem->free(&c->mem, p, a[0].u);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		e->out[0].u = p;
		return CUDA_SUCCESS;
	}
	case GPU_CALL_MEM_FREE: {
		uint32_t i;

		if (a[0].u == 0)
			return CUDA_SUCCESS;
		for (i = 0; i < c->nr; i++)
			if (c->r[i].owned && c->r[i].ptr == a[0].u)
				break;
		if (i == c->nr)
			return CUDA_ERROR_INVALID_VALUE;
		r = c->srv->mem->free(&c->mem, c->r[i].ptr, c->r[i].size);
		if (r == CUDA_SUCCESS)
			c->r[i] = c->r[--c->nr];
		return r;
	}
	case GPU_CALL_MEM_GET_INFO: {
		size_t fr = 0, tot = 0;

		if (c->cur && c->srv->mem->mem_info) {
			uint64_t f64 = 0, t64 = 0;

			r = c->srv->mem->mem_info(&c->mem, &f64, &t64);
			OUT_U(f64);
			OUT_U(t64);
			return r;
		}
		r = c->cur ? drv.MemGetInfo(&fr, &tot) : CUDA_ERROR_INVALID_CONTEXT;
		if (r == CUDA_SUCCESS && c->mem.quota) {
			uint64_t left = c->mem.quota > c->mem.used ? c->mem.quota - c->mem.used : 0;

			if (tot > c->mem.quota)
				tot = c->mem.quota;
			if (fr > left)
				fr = left;
		}
		OUT_U(fr);
		OUT_U(tot);
		return r;
	}
	case GPU_CALL_MEMCPY_HTOD:
	case GPU_CALL_MEMCPY_HTOD_ASYNC: {
		CUstream s = NULL;

		if (BACKEND_DOES(c, write) && in_allocation(c, a[0].u, a[1].len)) {
			if (k->id == GPU_CALL_MEMCPY_HTOD_ASYNC) {
				r = stream_of(c, a[2].u, &s);
				if (!r)
					r = drv.StreamSynchronize(s);
				if (r)
					return r;
			}
			return c->srv->mem->write(&c->mem, a[0].u, a[1].p, a[1].len);
		}
		r = touch(c, a[0].u, a[1].len);
		if (!r && k->id == GPU_CALL_MEMCPY_HTOD_ASYNC)
			r = stream_of(c, a[2].u, &s);
		if (r)
			return r;
		/* The payload is overwritten by the next message: fine, the driver
		 * has staged pageable host memory when the async form returns. */
		return k->id == GPU_CALL_MEMCPY_HTOD ?
			drv.MemcpyHtoD(a[0].u, a[1].p, a[1].len) :
			drv.MemcpyHtoDAsync(a[0].u, a[1].p, a[1].len, s);
	}
	case GPU_CALL_MEMCPY_DTOH:
	case GPU_CALL_MEMCPY_DTOH_ASYNC: {
		uint8_t *p;

		e->nout = 1;
		if (a[1].u > GPU_PROTO_COPY_CHUNK)
			return CUDA_ERROR_INVALID_VALUE;
		if (BACKEND_DOES(c, read) && in_allocation(c, a[0].u, a[1].u))
			r = CUDA_SUCCESS;       /* the backend reads it where it is */
		else
			r = touch(c, a[0].u, a[1].u);
		if (r)
			return r;
		if (k->id == GPU_CALL_MEMCPY_DTOH_ASYNC) {
			CUstream s;

			r = stream_of(c, a[2].u, &s);
			if (!r)
				r = drv.StreamSynchronize(s);
			if (r)
				return r;
		}
		p = outbuf(e, (size_t)a[1].u);
		if (!p)
			return CUDA_ERROR_OUT_OF_MEMORY;
		if (BACKEND_DOES(c, read) && in_allocation(c, a[0].u, a[1].u))
			r = c->srv->mem->read(&c->mem, p, a[0].u, a[1].u);
		else
			r = drv.MemcpyDtoH(p, a[0].u, (size_t)a[1].u);
		if (r == CUDA_SUCCESS) {
			e->out[0].p = p;
			e->out[0].len = (uint32_t)a[1].u;
		}
		return r;
	}
	case GPU_CALL_MEMCPY_DTOD:
	case GPU_CALL_MEMCPY_DTOD_ASYNC: {
		CUstream s = NULL;

		if (BACKEND_DOES(c, copy) && in_allocation(c, a[0].u, a[2].u) &&
		    in_allocation(c, a[1].u, a[2].u)) {
			if (k->id == GPU_CALL_MEMCPY_DTOD_ASYNC) {
				r = stream_of(c, a[3].u, &s);
				if (!r)
					r = drv.StreamSynchronize(s);
				if (r)
					return r;
			}
			return c->srv->mem->copy(&c->mem, a[0].u, a[1].u, a[2].u);
		}
		/* With a backend that copies itself, at most one side is its memory
		 * here (the other a module global): making that side resident
		 * cannot evict the other. */
		r = touch(c, a[0].u, a[2].u);
		if (!r)
			r = touch(c, a[1].u, a[2].u);
		if (!r && k->id == GPU_CALL_MEMCPY_DTOD_ASYNC)
			r = stream_of(c, a[3].u, &s);
		if (r)
			return r;
		return k->id == GPU_CALL_MEMCPY_DTOD ? drv.MemcpyDtoD(a[0].u, a[1].u, a[2].u) :
			drv.MemcpyDtoDAsync(a[0].u, a[1].u, a[2].u, s);
	}
	case GPU_CALL_MEMSET_D8:
	case GPU_CALL_MEMSET_D32:
	case GPU_CALL_MEMSET_D8_ASYNC:
	case GPU_CALL_MEMSET_D32_ASYNC: {
		bool d32 = k->id == GPU_CALL_MEMSET_D32 || k->id == GPU_CALL_MEMSET_D32_ASYNC;
		bool async = k->id == GPU_CALL_MEMSET_D8_ASYNC || k->id == GPU_CALL_MEMSET_D32_ASYNC;
		CUstream s = NULL;

		if (d32 && a[2].u > UINT64_MAX / 4)
			return CUDA_ERROR_INVALID_VALUE;
		if (BACKEND_DOES(c, memset) && in_allocation(c, a[0].u, d32 ? a[2].u * 4 : a[2].u)) {
			if (async) {
				r = stream_of(c, a[3].u, &s);
				if (!r)
					r = drv.StreamSynchronize(s);
				if (r)
					return r;
			}
			return c->srv->mem->memset(&c->mem, a[0].u, (uint32_t)a[1].u, d32 ? 4 : 1,
						   a[2].u);
		}
		r = touch(c, a[0].u, d32 ? a[2].u * 4 : a[2].u);
		if (!r && async)
			r = stream_of(c, a[3].u, &s);
		if (r)
			return r;
		if (d32)
			return async ? drv.MemsetD32Async(a[0].u, (unsigned int)a[1].u, a[2].u, s) :
				drv.MemsetD32(a[0].u, (unsigned int)a[1].u, a[2].u);
		return async ? drv.MemsetD8Async(a[0].u, (unsigned char)a[1].u, a[2].u, s) :
			drv.MemsetD8(a[0].u, (unsigned char)a[1].u, a[2].u);
	}
	case GPU_CALL_LAUNCH_KERNEL:
		return launch(c, k);
	case GPU_CALL_STREAM_CREATE:
	case GPU_CALL_EVENT_CREATE: {
		void *obj = NULL;
		bool ev = k->id == GPU_CALL_EVENT_CREATE;

		OUT_U(0);
		if (!c->cur)
			return CUDA_ERROR_INVALID_CONTEXT;
		r = ev ? drv.EventCreate((CUevent *)&obj, (unsigned int)a[0].u) :
			drv.StreamCreateWithPriority((CUstream *)&obj, (unsigned int)a[0].u,
						     (int)(int32_t)a[1].u);
		if (r)
			return r;
		if (add_handle(c, ev ? H_EVENT : H_STREAM, obj, &idx)) {
			ev ? drv.EventDestroy(obj) : drv.StreamDestroy(obj);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		e->out[0].u = HANDLE(ev ? H_EVENT : H_STREAM, idx);
		return CUDA_SUCCESS;
	}
	case GPU_CALL_STREAM_DESTROY:
		if (!(h = lookup(c, a[0].u, H_STREAM, NULL)))
			return CUDA_ERROR_INVALID_HANDLE;
		h->kind = H_FREE;
		return drv.StreamDestroy(h->ptr);
	case GPU_CALL_EVENT_DESTROY:
		if (!(h = lookup(c, a[0].u, H_EVENT, NULL)))
			return CUDA_ERROR_INVALID_HANDLE;
		h->kind = H_FREE;
		return drv.EventDestroy(h->ptr);
	case GPU_CALL_STREAM_SYNCHRONIZE:
	case GPU_CALL_STREAM_QUERY: {
		CUstream s;

		r = stream_of(c, a[0].u, &s);
		if (r)
			return r;
		return k->id == GPU_CALL_STREAM_QUERY ? drv.StreamQuery(s) : drv.StreamSynchronize(s);
	}
	case GPU_CALL_STREAM_WAIT_EVENT: {
		CUstream s;

		r = stream_of(c, a[0].u, &s);
		if (r)
			return r;
		if (!(h = lookup(c, a[1].u, H_EVENT, NULL)))
			return CUDA_ERROR_INVALID_HANDLE;
		return drv.StreamWaitEvent(s, h->ptr, (unsigned int)a[2].u);
	}
	case GPU_CALL_EVENT_RECORD: {
		CUstream s;

		if (!(h = lookup(c, a[0].u, H_EVENT, NULL)))
			return CUDA_ERROR_INVALID_HANDLE;
		r = stream_of(c, a[1].u, &s);
		return r ? r : drv.EventRecord(h->ptr, s);
	}
	case GPU_CALL_EVENT_SYNCHRONIZE:
	case GPU_CALL_EVENT_QUERY:
		if (!(h = lookup(c, a[0].u, H_EVENT, NULL)))
			return CUDA_ERROR_INVALID_HANDLE;
		return k->id == GPU_CALL_EVENT_QUERY ? drv.EventQuery(h->ptr) :
			drv.EventSynchronize(h->ptr);
	case GPU_CALL_EVENT_ELAPSED_TIME: {
		struct handle *h2;
		float ms = 0;
		uint32_t bits;

		h = lookup(c, a[0].u, H_EVENT, NULL);
		h2 = lookup(c, a[1].u, H_EVENT, NULL);
		r = h && h2 ? drv.EventElapsedTime(&ms, h->ptr, h2->ptr) :
			CUDA_ERROR_INVALID_HANDLE;
		memcpy(&bits, &ms, sizeof(bits));
		OUT_U(bits);
		return r;
	}
	}
	return CUDA_ERROR_NOT_SUPPORTED;
}

/* gpu_calls_decode() callback: run one call. */
static int run_call(void *arg, const struct gpu_call *k, bool last)
{
	struct exec *e = arg;
	const struct gpu_call_info *info = gpu_call_info(k->id);
	CUresult r;

	memset(e->out, 0, sizeof(e->out));
	e->nout = 0;
	r = execute(e, k);
	e->nout = (unsigned int)strlen(info->rep);
	if (last && !(info->flags & GPU_CALL_ASYNC)) {
		e->sync = true;
		e->sync_id = k->id;
		e->result = r;
		if (r != CUDA_SUCCESS) {
			unsigned int i;

			for (i = 0; i < e->nout; i++)
				e->out[i] = (struct gpu_val){ 0 };
		}
	} else if (r != CUDA_SUCCESS && e->c->deferred == CUDA_SUCCESS) {
		e->c->deferred = r;
	}
	if (!(last && !(info->flags & GPU_CALL_ASYNC))) {
		free(e->outbuf);
		e->outbuf = NULL;
	}
	return 0;
}

/* Serve one message. Return 0, or -errno to drop the client. */
static int serve_message(struct client *c, const struct gpu_frame_hdr *hdr)
{
	struct exec e = { .c = c };
	long n;
	size_t need;
	int ret;

	if (hdr->kind != GPU_FRAME_CALLS) {
		pvm_err("gpu pod: client '%s' sent frame kind %u after the handshake; "
			"dropping it", c->id, hdr->kind);
		return -EPROTO;
	}
	ret = gpu_calls_decode(c->rx, hdr->len, NULL, NULL);
	if (ret) {
		pvm_err("gpu pod: client '%s' sent a malformed CALLS (%s); dropping it",
			c->id, gpu_proto_last_error());
		return ret;
	}
	gpu_calls_decode(c->rx, hdr->len, run_call, &e);
	if (!e.sync)
		return 0;
	need = 8 + (size_t)gpu_args_size(gpu_call_info(e.sync_id)->rep, e.out, e.nout);
	if (need > c->txcap) {
		uint8_t *p = realloc(c->tx, need);

		if (!p) {
			free(e.outbuf);
			return -ENOMEM;
		}
		c->tx = p;
		c->txcap = need;
	}
	n = gpu_reply_encode(e.sync_id, (uint32_t)c->deferred, (uint32_t)e.result,
			     e.out, e.nout, c->tx, c->txcap);
	free(e.outbuf);
	c->deferred = CUDA_SUCCESS;
	if (n < 0)
		return (int)n;
	return gpu_conn_send(c->link, GPU_FRAME_REPLY, c->tx, (uint32_t)n);
}

/* Free everything the client holds, whatever state it left. */
static void client_cleanup(struct client *c)
{
	uint32_t i;

	if (drv_status != CUDA_SUCCESS) {
		c->srv->mem->close(&c->mem);
		return;
	}
	/* The allocations, each with its context current; then the backend,
	 * with a context of the client current (a spilling backend gives its
	 * address range back through the driver); then the contexts. */
	for (i = 0; i < c->nr; i++)
		if (c->r[i].owned && set_current(c, c->r[i].ctx + 1) == CUDA_SUCCESS)
			c->srv->mem->free(&c->mem, c->r[i].ptr, c->r[i].size);
	c->nr = 0;
	for (i = 0; i < c->nh; i++)
		if (c->h[i].kind == H_CTX) {
			set_current(c, i + 1);
			break;
		}
	c->srv->mem->close(&c->mem);
	for (i = 0; i < c->nh; i++)
		if (c->h[i].kind == H_CTX)
			destroy_context(c, i);
	drv.CtxSetCurrent(NULL);
}

static void *client_thread(void *arg)
{
	struct client *c = arg;
	struct gpu_server *s = c->srv;
	struct gpu_frame_hdr hdr;
	char err[256] = "";
	bool opened = false;
	int ret;

	ret = gpu_handshake_pod(c->link, s->secret, s->pod_id, c->id, err, sizeof(err));
	if (ret) {
		pvm_err("gpu pod: handshake with %s failed: %s", c->link->peer,
			err[0] ? err : strerror(-ret));
		goto out;
	}
	c->mem.client_id = c->id;
	c->mem.quota = s->cfg.quota;
	c->mem.config = s->cfg.mem_config;
	if (s->mem->open(&c->mem) != CUDA_SUCCESS) {
		pvm_err("gpu pod: memory backend %s refused client '%s'", s->mem->name, c->id);
		goto out;
	}
	opened = true;
	c->params = aligned_alloc(64, 65536);
	if (!c->params)
		goto out;
	pvm_info("gpu pod: client '%s' connected (%s %s)", c->id, c->link->ops->name,
		 c->link->peer);
	for (;;) {
		ret = gpu_conn_recv(c->link, &hdr, &c->rx, &c->rxcap);
		if ((ret == -EPROTO || ret == -E2BIG) && !c->link->why[0])
			pvm_err("gpu pod: client '%s': %s; dropping it", c->id,
				gpu_proto_last_error());
		if (ret)
			break;
		if (serve_message(c, &hdr))
			break;
	}
	pvm_info("gpu pod: client '%s' gone%s%s%s; freeing its GPU memory and contexts", c->id,
		 c->link->why[0] ? " (" : "", c->link->why, c->link->why[0] ? ")" : "");
out:
	if (opened)
		client_cleanup(c);
	pthread_mutex_lock(&s->lock);
	{
		struct client **pp;

		for (pp = &s->clients; *pp; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
	}
	s->nclients--;
	pthread_cond_broadcast(&s->gone);
	pthread_mutex_unlock(&s->lock);
	gpu_link_close(c->link);
	free(c->h);
	free(c->r);
	free(c->rx);
	free(c->tx);
	free(c->params);
	free(c);
	return NULL;
}

#define SYM(field, name) (drv.field = (__typeof__(drv.field))dlsym(drv.dl, name))

static void load_driver(const char *path)
{
	const char *missing = NULL;
	int count = 0;

	drv.dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!drv.dl) {
		snprintf(drv_why, sizeof(drv_why), "no CUDA driver (%s)", dlerror());
		return;
	}
#define NEED(field, name) do { if (!SYM(field, name) && !missing) missing = name; } while (0)
	NEED(Init, "cuInit");
	NEED(DriverGetVersion, "cuDriverGetVersion");
	NEED(DeviceGetCount, "cuDeviceGetCount");
	NEED(DeviceGet, "cuDeviceGet");
	NEED(DeviceGetName, "cuDeviceGetName");
	NEED(DeviceTotalMem, "cuDeviceTotalMem_v2");
	NEED(DeviceGetAttribute, "cuDeviceGetAttribute");
	SYM(DeviceGetUuid, "cuDeviceGetUuid");
	/* cuCtxCreate_v2 everywhere; cuCtxCreate_v4 (12.5+) should it go. */
	if (!SYM(CtxCreate, "cuCtxCreate_v2") && !SYM(CtxCreate4, "cuCtxCreate_v4") && !missing)
		missing = "cuCtxCreate_v2";
	NEED(CtxDestroy, "cuCtxDestroy_v2");
	NEED(CtxSetCurrent, "cuCtxSetCurrent");
	NEED(CtxSynchronize, "cuCtxSynchronize");
	NEED(ModuleLoadData, "cuModuleLoadData");
	NEED(ModuleUnload, "cuModuleUnload");
	NEED(ModuleGetFunction, "cuModuleGetFunction");
	NEED(ModuleGetGlobal, "cuModuleGetGlobal_v2");
	SYM(FuncGetParamInfo, "cuFuncGetParamInfo");
	SYM(FuncLoad, "cuFuncLoad");
	NEED(FuncGetAttribute, "cuFuncGetAttribute");
	SYM(FuncSetAttribute, "cuFuncSetAttribute");
	NEED(MemAlloc, "cuMemAlloc_v2");
	NEED(MemFree, "cuMemFree_v2");
	NEED(MemGetInfo, "cuMemGetInfo_v2");
	NEED(MemcpyHtoD, "cuMemcpyHtoD_v2");
	NEED(MemcpyDtoH, "cuMemcpyDtoH_v2");
	NEED(MemcpyDtoD, "cuMemcpyDtoD_v2");
	NEED(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
	NEED(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
	NEED(MemsetD8, "cuMemsetD8_v2");
	NEED(MemsetD32, "cuMemsetD32_v2");
	NEED(MemsetD8Async, "cuMemsetD8Async");
	NEED(MemsetD32Async, "cuMemsetD32Async");
	NEED(LaunchKernel, "cuLaunchKernel");
	NEED(StreamCreateWithPriority, "cuStreamCreateWithPriority");
	NEED(StreamDestroy, "cuStreamDestroy_v2");
	NEED(StreamSynchronize, "cuStreamSynchronize");
	NEED(StreamQuery, "cuStreamQuery");
	NEED(StreamWaitEvent, "cuStreamWaitEvent");
	NEED(EventCreate, "cuEventCreate");
	NEED(EventDestroy, "cuEventDestroy_v2");
	NEED(EventRecord, "cuEventRecord");
	NEED(EventSynchronize, "cuEventSynchronize");
	NEED(EventQuery, "cuEventQuery");
	NEED(EventElapsedTime, "cuEventElapsedTime");
#undef NEED
	if (missing) {
		snprintf(drv_why, sizeof(drv_why), "the CUDA driver %s lacks %s", path, missing);
		dlclose(drv.dl);
		memset(&drv, 0, sizeof(drv));
		return;
	}
	drv_status = drv.Init(0);
	if (drv_status != CUDA_SUCCESS) {
		snprintf(drv_why, sizeof(drv_why), "cuInit failed with CUresult %d%s", drv_status,
			 drv_status == CUDA_ERROR_NO_DEVICE ? " (CUDA_ERROR_NO_DEVICE)" : "");
		return;
	}
	if (drv.DeviceGetCount(&count) != CUDA_SUCCESS || count == 0) {
		drv_status = CUDA_ERROR_NO_DEVICE;
		snprintf(drv_why, sizeof(drv_why), "the CUDA driver sees no device");
	}
}

int gpu_server_create(const struct gpu_server_config *cfg, struct gpu_server **out)
{
	const char *driver_path;
	struct gpu_server *s;
	char err[300];
	int ret, count = 0, i;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->mem = cfg->mem ? cfg->mem : &gpu_mem_direct_ops;
	s->lfd = -1;
	s->stop_pipe[0] = s->stop_pipe[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->gone, NULL);
	if (!s->cfg.max_clients)
		s->cfg.max_clients = 64;

	/* One driver per process, loaded once. */
	driver_path = cfg->driver ? cfg->driver : "libcuda.so.1";
	if (!drv.dl && drv_status == CUDA_ERROR_NO_DEVICE && !strcmp(drv_why, "not loaded"))
		load_driver(driver_path);
	if (drv_status == CUDA_SUCCESS) {
		drv.DeviceGetCount(&count);
		if (cfg->devices >= 0 && cfg->devices < count)
			count = cfg->devices;
		if (count > MAX_DEVICES)
			count = MAX_DEVICES;
		for (i = 0; i < count; i++)
			drv.DeviceGet(&s->dev[i], i);
		s->ndev = count;
		if (count == 0) {
			drv_status = CUDA_ERROR_NO_DEVICE;
			snprintf(drv_why, sizeof(drv_why), "--gpu 0 serves no device");
		}
	}

	if (cfg->pod_id)
		snprintf(s->pod_id, sizeof(s->pod_id), "%s", cfg->pod_id);
	else if (gethostname(s->pod_id, sizeof(s->pod_id) - 1) || !s->pod_id[0])
		strcpy(s->pod_id, "gpu-pod");
	ret = pvm_auth_init();
	if (ret) {
		pvm_err("gpu pod: libsodium cannot start");
		goto fail;
	}
	ret = pvm_auth_secret_load(cfg->secret_file, &s->secret, err, sizeof(err));
	if (ret) {
		pvm_err("gpu pod: %s", err);
		goto fail;
	}
	ret = gpu_conn_listen(cfg->listen, s->addr, sizeof(s->addr), err, sizeof(err));
	if (ret < 0) {
		pvm_err("gpu pod: --listen: %s", err);
		goto fail;
	}
	s->lfd = ret;
	if (cfg->fabric_listen) {
		ret = gpu_fabric_listen(cfg->fabric_listen, cfg->fabric_provider,
					cfg->fabric_idle_ms, &s->fl, s->faddr, sizeof(s->faddr),
					s->fprov, sizeof(s->fprov), err, sizeof(err));
		if (ret) {
			pvm_err("gpu pod: --fabric-listen: %s", err);
			goto fail;
		}
	}
	if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK)) {
		ret = -errno;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	gpu_server_destroy(s);
	return ret;
}

const char *gpu_server_address(const struct gpu_server *s)
{
	return s->addr;
}

const char *gpu_server_fabric_address(const struct gpu_server *s, const char **provider)
{
	if (provider)
		*provider = s->fl ? s->fprov : NULL;
	return s->fl ? s->faddr : NULL;
}

int gpu_server_devices(const struct gpu_server *s, const char **why)
{
	*why = drv_status == CUDA_SUCCESS ? NULL : drv_why;
	return drv_status == CUDA_SUCCESS ? s->ndev : 0;
}

void gpu_server_request_stop(struct gpu_server *s)
{
	char b = 1;
	ssize_t n = write(s->stop_pipe[1], &b, 1);

	(void)n;
}

/* A client thread for @link (taken over: closed on failure). */
static void spawn_client(struct gpu_server *s, struct gpu_link *link)
{
	struct client *c;
	pthread_attr_t attr;
	pthread_t t;

	pthread_mutex_lock(&s->lock);
	if (s->nclients >= s->cfg.max_clients) {
		pthread_mutex_unlock(&s->lock);
		pvm_err("gpu pod: refusing a connection from %s: %u clients already (--max-clients)",
			link->peer[0] ? link->peer : "tcp", s->nclients);
		gpu_link_close(link);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&s->lock);
		gpu_link_close(link);
		return;
	}
	c->srv = s;
	c->link = link;
	strcpy(c->id, "?");
	c->next = s->clients;
	s->clients = c;
	s->nclients++;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, client_thread, c)) {
		s->clients = c->next;
		s->nclients--;
		gpu_link_close(link);
		free(c);
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_unlock(&s->lock);
}

/* Clients over libfabric: their CONNECTs become links here. */
static void *fabric_accept_thread(void *arg)
{
	struct gpu_server *s = arg;
	struct gpu_link *link;

	for (;;) {
		int ret = gpu_fabric_accept(s->fl, -1, &link);

		if (ret == -ECANCELED)
			return NULL;
		if (ret == 0)
			spawn_client(s, link);
	}
}

int gpu_server_run(struct gpu_server *s)
{
	struct pollfd p[2] = { { .fd = s->lfd, .events = POLLIN },
			       { .fd = s->stop_pipe[0], .events = POLLIN } };
	int ret = 0;

	if (s->fl) {
		ret = pthread_create(&s->fthread, NULL, fabric_accept_thread, s);
		if (ret)
			return -ret;
		s->fthread_on = true;
	}
	for (;;) {
		struct gpu_link *link;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (p[1].revents)
			break;
		if (!p[0].revents)
			continue;
		fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		gpu_conn_tune(fd);
		if (gpu_link_tcp(fd, &link))
			continue;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			char h[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &s4->sin_addr, h, sizeof(h));
			snprintf(link->peer, sizeof(link->peer), "%s:%u", h, ntohs(s4->sin_port));
		}
		spawn_client(s, link);
	}
	if (s->fthread_on) {
		gpu_fabric_listener_stop(s->fl);
		pthread_join(s->fthread, NULL);
		s->fthread_on = false;
	}
	return ret;
}

void gpu_server_destroy(struct gpu_server *s)
{
	struct timespec until;
	struct client *c;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	for (c = s->clients; c; c = c->next)
		c->link->ops->shutdown(c->link);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	while (s->nclients)
		if (pthread_cond_timedwait(&s->gone, &s->lock, &until))
			break;
	pthread_mutex_unlock(&s->lock);
	if (s->nclients)
		return;         /* a thread is stuck in the driver: leak, exit anyway */
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->fl) {
		struct gpu_fabric_stats st;

		gpu_fabric_listener_stats(s->fl, &st);
		pvm_info("gpu pod: fabric: %llu clients accepted, %llu dropped by the idle "
			 "timeout, %llu messages dropped (malformed or for no client)",
			 (unsigned long long)st.accepted, (unsigned long long)st.timed_out,
			 (unsigned long long)st.bad);
		gpu_fabric_listener_close(s->fl);
	}
	if (s->stop_pipe[0] >= 0) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
	}
	pvm_auth_secret_free(s->secret);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->gone);
	free(s);
}
