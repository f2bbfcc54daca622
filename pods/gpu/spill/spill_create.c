/* pods/gpu/spill/spill_create.c — creating and destroying a spill manager:
 * checking the config, reserving the client's address range, opening the
 * swap tiers; and giving all of it back.
 */
#include "spill.h"
#include "spill_internal.h"

#include "common.h"
#include "tier.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_PERIOD 4096
#define MAX_TIERS 16

static int open_tiers(struct spill *s, const char *const *specs)
{
	unsigned n = 0;
	int rc;

	while (specs && specs[n])
		n++;
	if (n > MAX_TIERS) {
		pvm_err("gpu spill: %u tiers given, at most %d are supported", n, MAX_TIERS);
		return -EINVAL;
	}
	if (!n)
		return 0;
	s->tiers = calloc(n, sizeof(*s->tiers));
	if (!s->tiers)
		return -ENOMEM;
	for (s->ntiers = 0; s->ntiers < n; s->ntiers++) {
		rc = swap_tier_open(specs[s->ntiers], &s->tiers[s->ntiers]);
		if (rc) {
			pvm_err("gpu spill: cannot open tier '%s' for evicted chunks: %s",
				specs[s->ntiers], strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int spill_create(struct spill_backend *be, const struct spill_config *cfg,
		 struct spill **out)
{
	struct spill *s;
	uint64_t gran, quota_chunks, limit;
	int rc;

	if (!be || !cfg || !out)
		return -EINVAL;
	rc = be->ops->granularity(be, &gran);
	if (rc)
		return rc;
	if (gran < PVM_PAGE_SIZE || (gran & (gran - 1))) {
		pvm_err("gpu spill: backend %s has granularity %llu; it must be a power "
			"of two of at least 4 KiB", be->ops->name, (unsigned long long)gran);
		return -EINVAL;
	}
	quota_chunks = cfg->quota / gran;
	if (quota_chunks == 0) {
		pvm_err("gpu spill: quota %llu bytes is below one %llu-byte chunk; "
			"give a larger quota", (unsigned long long)cfg->quota,
			(unsigned long long)gran);
		return -EINVAL;
	}
	limit = cfg->limit ? cfg->limit : 4 * quota_chunks * gran;
	if (limit > UINT64_MAX - gran)
		return -EINVAL;
	limit = (limit + gran - 1) & ~(gran - 1);
	if (limit / gran >= UINT32_MAX || quota_chunks >= UINT32_MAX) {
		pvm_err("gpu spill: limit %llu bytes is too many chunks of %llu bytes",
			(unsigned long long)limit, (unsigned long long)gran);
		return -EINVAL;
	}
	if (cfg->policy != SPILL_POLICY_LEARNED && cfg->policy != SPILL_POLICY_LRU) {
		pvm_err("gpu spill: unknown eviction policy %d", (int)cfg->policy);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->be = be;
	s->policy = cfg->policy;
	s->prefetch_depth = cfg->prefetch_depth;
	s->chunk_bytes = gran;
	s->pages_per_chunk = gran / PVM_PAGE_SIZE;
	s->limit = limit;
	s->nchunks = limit / gran;
	s->slots_total = quota_chunks;
	s->chunks = calloc(s->nchunks, sizeof(*s->chunks));
	s->phys = calloc(quota_chunks, sizeof(*s->phys));
	s->phys_free = calloc(quota_chunks, sizeof(*s->phys_free));
	s->ios = calloc(s->pages_per_chunk, sizeof(*s->ios));
	s->listed[SPILL_DEVICE] = calloc(s->nchunks, sizeof(uint32_t));
	s->listed[SPILL_HOST] = calloc(s->nchunks, sizeof(uint32_t));
	if (posix_memalign(&s->bounce, PVM_PAGE_SIZE, gran))
		s->bounce = NULL;
	if (!s->chunks || !s->phys || !s->phys_free || !s->ios || !s->bounce ||
	    !s->listed[SPILL_DEVICE] || !s->listed[SPILL_HOST]) {
		rc = -ENOMEM;
		goto err;
	}
	rc = spill_plan_create(s->nchunks, cfg->max_period ? cfg->max_period
							   : DEFAULT_MAX_PERIOD, &s->plan);
	if (rc)
		goto err;
	rc = open_tiers(s, cfg->tiers);
	if (rc)
		goto err;
	s->host_limit_chunks = s->ntiers ? cfg->host_bytes / gran : UINT64_MAX;
	rc = be->ops->reserve(be, limit, &s->base);
	if (rc) {
		pvm_err("gpu spill: reserving %llu bytes of device addresses failed: %s",
			(unsigned long long)limit, strerror(-rc));
		goto err;
	}
	*out = s;
	return 0;
err:
	s->limit = 0;   /* nothing reserved */
	spill_destroy(s);
	return rc;
}

void spill_destroy(struct spill *s)
{
	uint64_t c;
	unsigned t;
	uint32_t i;

	if (!s)
		return;
	if (s->limit && s->chunks) {
		if (s->resident)
			s->be->ops->sync(s->be);
		for (c = 0; c < s->hiwater; c++) {
			struct spill_chunk *ch = &s->chunks[c];

			if (ch->place == SPILL_DEVICE)
				s->be->ops->unmap(s->be, s->base + c * s->chunk_bytes,
						  s->chunk_bytes);
			else if (ch->place == SPILL_TIER)
				swap_tier_release(s->tiers[ch->tier], ch->slots,
						  s->pages_per_chunk);
			free(ch->host);
			free(ch->slots);
		}
		for (i = 0; i < s->nphys; i++)
			s->be->ops->release(s->be, s->phys[i]);
		s->be->ops->unreserve(s->be, s->base, s->limit);
	}
	for (t = 0; t < s->ntiers; t++)
		swap_tier_close(s->tiers[t]);
	free(s->tiers);
	spill_plan_destroy(s->plan);
	free(s->chunks);
	free(s->phys);
	free(s->phys_free);
	free(s->ios);
	free(s->listed[SPILL_DEVICE]);
	free(s->listed[SPILL_HOST]);
	free(s->bounce);
	for (i = 0; i < s->nspare; i++)
		free(s->spare[i]);
	free(s->allocs);
	free(s->needed);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
