/* pods/gpu/gpu_mem_spill.c — the spilling memory backend of the GPU pod
 * (gpu_mem_spill.h): struct gpu_mem_ops over the spill manager. */
#include "gpu_mem_spill.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "common.h"
#include "spill.h"
#include "tier.h"

struct spill_client {
	struct spill_backend *be;
	struct spill *s;
	int device;             /* the device the manager's chunks live on */
	bool failed;            /* creating the manager failed: said once */
};

static const struct gpu_spill_options no_options;

static int cu_of(int rc)
{
	switch (rc) {
	case 0:
		return CUDA_SUCCESS;
	case -ENOMEM:
	case -E2BIG:
		return CUDA_ERROR_OUT_OF_MEMORY;
	case -EINVAL:
	case -EFAULT:
	case -ENOENT:
		return CUDA_ERROR_INVALID_VALUE;
	default:
		return CUDA_ERROR_UNKNOWN;
	}
}

static void *driver_lookup(void *ctx, const char *name)
{
	(void)ctx;
	return gpu_driver_sym(name);
}

static int spill_open_client(struct gpu_mem_client *mc)
{
	mc->priv = calloc(1, sizeof(struct spill_client));
	return mc->priv ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

/* The manager, created at the first allocation (a context is current). */
static int manager(struct gpu_mem_client *mc, struct spill **out)
{
	const struct gpu_spill_options *o = mc->config ? mc->config : &no_options;
	struct spill_client *sc = mc->priv;
	struct spill_cuda_fns fns;
	struct spill_config cfg = { 0 };
	int rc;

	if (sc->s) {
		if (mc->device != sc->device) {
			pvm_err("gpu pod: client '%s': a spilling pod serves each client on "
				"one device (%d), not %d", mc->client_id, sc->device, mc->device);
			return CUDA_ERROR_NOT_SUPPORTED;
		}
		*out = sc->s;
		return CUDA_SUCCESS;
	}
	if (sc->failed)
		return CUDA_ERROR_OUT_OF_MEMORY;
	cfg.quota = mc->quota;
	cfg.limit = o->limit ? o->limit : 8 * mc->quota;
	cfg.host_bytes = o->host_bytes;
	cfg.tiers = o->tiers;
	cfg.policy = SPILL_POLICY_LEARNED;
	cfg.prefetch_depth = o->prefetch_depth;
	rc = spill_cuda_fns_load(driver_lookup, NULL, mc->device, &fns);
	if (!rc)
		rc = spill_cuda_backend_open(&fns, &sc->be);
	if (!rc) {
		rc = spill_create(sc->be, &cfg, &sc->s);
		if (rc) {
			spill_backend_close(sc->be);
			sc->be = NULL;
		}
	}
	if (rc) {
		pvm_err("gpu pod: client '%s': cannot set up spilling device memory (%s); "
			"its allocations fail with CUDA_ERROR_OUT_OF_MEMORY", mc->client_id,
			strerror(-rc));
		sc->failed = true;
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	sc->device = mc->device;
	*out = sc->s;
	return CUDA_SUCCESS;
}

/* The manager when the client has one and @p is in its allocations. */
static struct spill *managing(struct gpu_mem_client *mc, CUdeviceptr p)
{
	struct spill_client *sc = mc->priv;
	struct spill_where w;

	if (!sc || !sc->s || spill_resolve(sc->s, p, &w))
		return NULL;
	return sc->s;
}

static void spill_close_client(struct gpu_mem_client *mc)
{
	struct spill_client *sc = mc->priv;

	if (!sc)
		return;
	if (sc->s) {
		struct json_object *j = spill_stats_json(sc->s);

		pvm_info("gpu pod: client '%s' spill stats: %s", mc->client_id,
			 j ? json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN) : "?");
		json_object_put(j);
		spill_destroy(sc->s);
	}
	spill_backend_close(sc->be);
	free(sc);
	mc->priv = NULL;
}

static int spill_alloc_mem(struct gpu_mem_client *mc, uint64_t size, CUdeviceptr *out)
{
	struct spill *s;
	uint64_t p;
	int r = manager(mc, &s);

	if (r)
		return r;
	r = cu_of(spill_alloc(s, size, &p));
	if (r == CUDA_SUCCESS) {
		*out = p;
		mc->used += size;
	}
	return r;
}

static int spill_free_mem(struct gpu_mem_client *mc, CUdeviceptr ptr, uint64_t size)
{
	struct spill_client *sc = mc->priv;
	int r;

	if (!sc || !sc->s)
		return CUDA_ERROR_INVALID_VALUE;
	r = cu_of(spill_free(sc->s, ptr));
	if (r == CUDA_SUCCESS)
		mc->used -= size;
	return r;
}

static int spill_launch(struct gpu_mem_client *mc, uint64_t kernel, const CUdeviceptr *ptrs,
			unsigned int n)
{
	struct spill_client *sc = mc->priv;

	if (!sc || !sc->s)
		return CUDA_SUCCESS;    /* nothing allocated through us */
	uint64_t words[512];
	unsigned int i;

	if (n > 512)
		n = 512;        /* the server passes at most 512 */
	for (i = 0; i < n; i++)
		words[i] = ptrs[i];
	return cu_of(spill_prepare_launch(sc->s, kernel, words, n));
}

/* A range of a driver call we do not carry out ourselves (module globals
 * are not ours: nothing to do). */
static int spill_touch(struct gpu_mem_client *mc, CUdeviceptr ptr, uint64_t size)
{
	struct spill *s = managing(mc, ptr);

	return s ? cu_of(spill_make_resident(s, ptr, size)) : CUDA_SUCCESS;
}

static int spill_write_mem(struct gpu_mem_client *mc, CUdeviceptr dst, const void *src,
			   uint64_t n)
{
	struct spill *s = managing(mc, dst);

	return s ? cu_of(spill_write(s, dst, src, n)) : CUDA_ERROR_INVALID_VALUE;
}

static int spill_read_mem(struct gpu_mem_client *mc, void *dst, CUdeviceptr src, uint64_t n)
{
	struct spill *s = managing(mc, src);

	return s ? cu_of(spill_read(s, dst, src, n)) : CUDA_ERROR_INVALID_VALUE;
}

static int spill_copy_mem(struct gpu_mem_client *mc, CUdeviceptr dst, CUdeviceptr src,
			  uint64_t n)
{
	struct spill *s = managing(mc, dst);

	return s && managing(mc, src) ? cu_of(spill_copy(s, dst, src, n)) :
		CUDA_ERROR_INVALID_VALUE;
}

static int spill_memset_mem(struct gpu_mem_client *mc, CUdeviceptr dst, uint32_t value,
			    unsigned int width, uint64_t count)
{
	struct spill *s = managing(mc, dst);

	return s ? cu_of(spill_memset(s, dst, value, width, count)) : CUDA_ERROR_INVALID_VALUE;
}

static int spill_info(struct gpu_mem_client *mc, uint64_t *free_bytes, uint64_t *total)
{
	const struct gpu_spill_options *o = mc->config ? mc->config : &no_options;
	struct spill_client *sc = mc->priv;

	if (sc && sc->s) {
		spill_mem_info(sc->s, free_bytes, total);
		return CUDA_SUCCESS;
	}
	/* Nothing allocated yet: what the manager will offer. */
	*total = o->limit ? o->limit : 8 * mc->quota;
	*free_bytes = *total;
	return CUDA_SUCCESS;
}

const struct gpu_mem_ops gpu_spill_ops = {
	.name = "spill",
	.open = spill_open_client,
	.close = spill_close_client,
	.alloc = spill_alloc_mem,
	.free = spill_free_mem,
	.prepare_launch = spill_launch,
	.touch = spill_touch,
	.write = spill_write_mem,
	.read = spill_read_mem,
	.copy = spill_copy_mem,
	.memset = spill_memset_mem,
	.mem_info = spill_info,
};

int gpu_spill_check_tiers(const char *const *tiers)
{
	for (; tiers && *tiers; tiers++) {
		const char *spec = *tiers;
		struct swap_tier *t;
		int rc;

		if (!strncmp(spec, "disk:", 5)) {
			char path[4096];
			struct stat st;
			size_t n = strcspn(spec + 5, ",");

			if (n >= sizeof(path)) {
				pvm_err("pod: --gpu-spill-tier '%s': path too long", spec);
				return -EINVAL;
			}
			memcpy(path, spec + 5, n);
			path[n] = 0;
			if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
				pvm_err("pod: --gpu-spill-tier '%s': a GPU pod's disk tier names an "
					"existing directory (each client gets an unnamed file in it), "
					"and '%s' is none", spec, path);
				return -EINVAL;
			}
		}
		rc = swap_tier_open(spec, &t);
		if (rc) {
			pvm_err("pod: --gpu-spill-tier '%s' cannot be opened: %s", spec,
				strerror(-rc));
			return rc;
		}
		swap_tier_close(t);
	}
	return 0;
}
