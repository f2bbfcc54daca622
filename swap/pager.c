/* swap/pager.c — pager lifecycle, residency accounting, stats. */
#include "pager_internal.h"

#include <errno.h>
#include <stddef.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common.h"
#include "extents.h"
#include "metrics.h"

static int check_config(const struct swap_pager_config *cfg, const struct swap_region *r)
{
	if (r->size == 0 || (r->size & (PVM_PAGE_SIZE - 1)) || (r->base & (PVM_PAGE_SIZE - 1))) {
		pvm_err("pager: guest RAM region %#llx+%#llx is not page aligned",
			(unsigned long long)r->base, (unsigned long long)r->size);
		return -EINVAL;
	}
	if (cfg->tier_count > SWAP_MAX_TIERS) {
		pvm_err("pager: %zu tiers given, at most %d are supported",
			cfg->tier_count, SWAP_MAX_TIERS);
		return -EINVAL;
	}
	if (cfg->fault_threads > PAGER_MAX_FAULT_THREADS) {
		pvm_err("pager: %u fault threads requested, at most %d",
			cfg->fault_threads, PAGER_MAX_FAULT_THREADS);
		return -EINVAL;
	}
	if (cfg->local_bytes && cfg->local_bytes < r->size) {
		if (cfg->tier_count == 0) {
			pvm_err("pager: --local is smaller than guest RAM but no --tier "
				"is configured to hold evicted pages");
			return -EINVAL;
		}
		if (!r->wp_ok) {
			pvm_err("pager: this kernel cannot write-protect shared memory "
				"(UFFD_FEATURE_WP_HUGETLBFS_SHMEM, Linux 5.19+); eviction "
				"would be unsafe, so --local must cover all guest RAM");
			return -ENOTSUP;
		}
		if (cfg->local_bytes < 256 * PVM_PAGE_SIZE) {
			pvm_err("pager: --local must be at least 1 MiB");
			return -EINVAL;
		}
	}
	return 0;
}

/* The prefetcher's view: resident or being loaded (a scan does not fault
 * there). Any thread; a snapshot. */
static bool page_present(void *ctx, uint64_t page)
{
	struct swap_pager *p = ctx;
	unsigned s;

	if (page >= p->pages)
		return false;
	s = swap_pe_state(atomic_load_explicit(swap_pagedir_entry(p->dir, page),
					       memory_order_relaxed));
	return s == SWAP_PAGE_RESIDENT || s == SWAP_PAGE_LOADING;
}

int swap_pager_create(const struct swap_pager_config *config,
		      const struct swap_region *region, struct swap_pager **out)
{
	struct swap_pager *p;
	struct swap_policy_env penv = { 0 };
	struct swap_prefetch_env fenv = { 0 };
	int ret;

	ret = check_config(config, region);
	if (ret < 0)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->r = *region;
	p->cfg = *config;
	if (!p->cfg.fault_threads)
		p->cfg.fault_threads = 2;
	if (!p->cfg.evict_batch) {
		p->cfg.evict_batch = 128;
		for (size_t i = 0; i < config->tier_count; i++) {
			const struct swap_tier_ops *ops = config->tiers[i]->ops;

			if (SWAP_TIER_OPS_HAS(ops, store_batch) &&
			    ops->store_batch > p->cfg.evict_batch)
				p->cfg.evict_batch = ops->store_batch;
		}
	}
	if (!p->cfg.prefetch_max)
		p->cfg.prefetch_max = 64;
	if (!p->cfg.policy)
		p->cfg.policy = "clock";
	if (!p->cfg.prefetch)
		p->cfg.prefetch = "stride";
	p->pages = region->size >> PVM_PAGE_SHIFT;
	p->limit = config->local_bytes ? config->local_bytes >> PVM_PAGE_SHIFT : p->pages;
	if (p->limit > p->pages)
		p->limit = p->pages;
	/* Watermarks: start reclaim with 1/32 of the limit free (at least two
	 * batches), stop at 1/16 (at least four batches). */
	p->high_free = PVM_MAX(p->limit / 32, 2ULL * p->cfg.evict_batch);
	p->low_free = PVM_MAX(p->limit / 16, 4ULL * p->cfg.evict_batch);
	if (p->low_free > p->limit / 2)
		p->low_free = p->limit / 2;
	if (p->high_free > p->low_free)
		p->high_free = p->low_free;
	p->prefetch_floor = p->high_free / 4;
	p->spin_ns = (uint64_t)config->spin_us * 1000;
	p->tier_count = config->tier_count;
	for (size_t i = 0; i < config->tier_count; i++)
		p->tiers[i] = config->tiers[i];

	pthread_mutex_init(&p->policy_lock, NULL);
	pthread_mutex_init(&p->prefetch_lock, NULL);
	pthread_mutex_init(&p->read_lock, NULL);
	pthread_mutex_init(&p->space_lock, NULL);
	pthread_mutex_init(&p->fail_lock, NULL);
	pthread_cond_init(&p->space_cond, NULL);
	pthread_cond_init(&p->reclaim_cond, NULL);
	atomic_store(&p->reclaim_idle, true);
	p->stop_efd = -1;

	ret = swap_pagedir_create(p->pages, &p->dir);
	if (ret < 0)
		goto err;
	for (size_t i = 0; i < p->tier_count; i++) {
		struct swap_tier_stats ts;

		/* Extents only where the tier can hold the whole guest: they
		 * may reserve up to that much. */
		swap_tier_get_stats(p->tiers[i], &ts);
		if (ts.slots_total - ts.slots_used < p->pages)
			continue;
		ret = swap_extents_create(p->tiers[i], p->pages, &p->extents[i]);
		if (ret < 0)
			goto err;
	}
	penv.rearm = pager_rearm_cb;
	penv.ctx = p;
	penv.capacity = p->limit;
	penv.model = config->policy_model;
	ret = swap_policy_create(p->cfg.policy, &penv, &p->policy);
	if (ret < 0) {
		if (ret == -ENOENT)
			pvm_err("pager: unknown eviction policy '%s'", p->cfg.policy);
		goto err;
	}
	fenv.max_window = p->cfg.prefetch_max;
	fenv.page_count = p->pages;
	fenv.present = page_present;
	fenv.ctx = p;
	ret = swap_prefetch_create(p->cfg.prefetch, &fenv, &p->prefetcher);
	if (ret < 0) {
		if (ret == -ENOENT)
			pvm_err("pager: unknown prefetcher '%s'", p->cfg.prefetch);
		goto err;
	}
	p->rearm_cap = 1024;
	p->rearm = malloc(p->rearm_cap * sizeof(*p->rearm));
	p->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!p->rearm || p->stop_efd < 0) {
		ret = -ENOMEM;
		goto err;
	}
	*out = p;
	return 0;
err:
	swap_pager_destroy(p);
	return ret;
}

/* Name a thread for top -H and ps -L (15 characters at most). */
static void pager_name_thread(pthread_t t, const char *fmt, ...)
{
	char name[16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	pthread_setname_np(t, name);
}

int swap_pager_start(struct swap_pager *p)
{
	int ret;

	for (unsigned i = 0; i < p->cfg.fault_threads; i++) {
		ret = pthread_create(&p->fault_tid[i], NULL, pager_fault_thread, p);
		if (ret) {
			swap_pager_stop(p);
			return -ret;
		}
		p->fault_started++;
		pager_name_thread(p->fault_tid[i], "pvm-fault%u", i);
	}
	if (p->limit < p->pages) {
		ret = pthread_create(&p->reclaim_tid, NULL, pager_reclaim_thread, p);
		if (ret) {
			swap_pager_stop(p);
			return -ret;
		}
		p->reclaim_started = true;
		pager_name_thread(p->reclaim_tid, "pvm-reclaim");
	}
	return 0;
}

void swap_pager_stop(struct swap_pager *p)
{
	uint64_t one = 1;

	if (!p)
		return;
	atomic_store(&p->stopping, true);
	if (p->stop_efd >= 0 && write(p->stop_efd, &one, sizeof(one)) < 0) {
		/* The eventfd cannot overflow with one write; nothing to do. */
	}
	pthread_mutex_lock(&p->space_lock);
	pthread_cond_broadcast(&p->space_cond);
	pthread_cond_broadcast(&p->reclaim_cond);
	pthread_mutex_unlock(&p->space_lock);
	for (unsigned i = 0; i < p->fault_started; i++)
		pthread_join(p->fault_tid[i], NULL);
	p->fault_started = 0;
	if (p->reclaim_started) {
		pthread_join(p->reclaim_tid, NULL);
		p->reclaim_started = false;
	}
}

static void release_one(void *ctx, uint64_t page, uint64_t e)
{
	pager_release_slot(ctx, page, e);
}

void swap_pager_destroy(struct swap_pager *p)
{
	if (!p)
		return;
	swap_pager_stop(p);
	if (p->dir)
		swap_pagedir_foreach(p->dir, release_one, p);
	swap_pagedir_destroy(p->dir);
	for (size_t i = 0; i < p->tier_count; i++)
		swap_extents_destroy(p->extents[i]);
	swap_policy_destroy(p->policy);
	swap_prefetch_destroy(p->prefetcher);
	if (p->stop_efd >= 0)
		close(p->stop_efd);
	free(p->rearm);
	pthread_mutex_destroy(&p->policy_lock);
	pthread_mutex_destroy(&p->prefetch_lock);
	pthread_mutex_destroy(&p->read_lock);
	pthread_mutex_destroy(&p->space_lock);
	pthread_mutex_destroy(&p->fail_lock);
	pthread_cond_destroy(&p->space_cond);
	pthread_cond_destroy(&p->reclaim_cond);
	free(p);
}

void pager_fail(struct swap_pager *p, const char *fmt, ...)
{
	va_list ap;
	bool first;

	pthread_mutex_lock(&p->fail_lock);
	first = !atomic_load(&p->failed);
	if (first) {
		va_start(ap, fmt);
		vsnprintf(p->fail_reason, sizeof(p->fail_reason), fmt, ap);
		va_end(ap);
		atomic_store(&p->failed, true);
	}
	pthread_mutex_unlock(&p->fail_lock);
	if (!first)
		return;
	pvm_err("pager: fail-stop: %s", p->fail_reason);
	if (p->cfg.on_fail)
		p->cfg.on_fail(p->cfg.on_fail_ctx, p->fail_reason);
}

const char *swap_pager_failed(struct swap_pager *p)
{
	return atomic_load(&p->failed) ? p->fail_reason : NULL;
}

void pager_kick_reclaim(struct swap_pager *p)
{
	if (!p->reclaim_started || !atomic_load_explicit(&p->reclaim_idle, memory_order_relaxed))
		return;
	pthread_mutex_lock(&p->space_lock);
	p->reclaim_wanted = true;
	pthread_cond_signal(&p->reclaim_cond);
	pthread_mutex_unlock(&p->space_lock);
}

/* Ask the reclaim thread for room now, whatever the watermarks say. */
void pager_want_space(struct swap_pager *p)
{
	pthread_mutex_lock(&p->space_lock);
	p->reclaim_wanted = true;
	pthread_cond_signal(&p->reclaim_cond);
	pthread_mutex_unlock(&p->space_lock);
}

/* Wait until a page is free, overcommit is allowed, or @max_us passed. */
void pager_wait_space(struct swap_pager *p, unsigned max_us)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)max_us * 1000;
	while (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->space_lock);
	while (free_pages(p) == 0 && !atomic_load(&p->overcommit) &&
	       !atomic_load(&p->stopping)) {
		if (pthread_cond_timedwait(&p->space_cond, &p->space_lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&p->space_lock);
}

/* Count @n pages as resident if that stays within the limit (or the pager
 * overcommits because the tiers are full). Never waits: 0 or -EAGAIN. */
int pager_reserve(struct swap_pager *p, uint64_t n)
{
	uint64_t cur = atomic_load(&p->resident);

	for (;;) {
		bool over = atomic_load_explicit(&p->overcommit, memory_order_relaxed);

		if (cur + n > p->limit && !over)
			return -EAGAIN;
		if (!atomic_compare_exchange_weak(&p->resident, &cur, cur + n))
			continue;
		if (cur + n > p->limit)
			cnt_add(&p->c.overcommitted, n);
		uint64_t peak = atomic_load_explicit(&p->resident_peak, memory_order_relaxed);

		while (cur + n > peak &&
		       !atomic_compare_exchange_weak(&p->resident_peak, &peak, cur + n))
			;
		if (p->limit - PVM_MIN(p->limit, cur + n) < p->high_free)
			pager_kick_reclaim(p);
		return 0;
	}
}

void pager_unreserve(struct swap_pager *p, uint64_t n)
{
	atomic_fetch_sub(&p->resident, n);
}

void pager_put_slot(struct swap_pager *p, unsigned tier, uint64_t page, uint64_t slot)
{
	if (tier >= p->tier_count)
		return;
	if (!p->extents[tier] || !swap_extents_put(p->extents[tier], page, slot))
		swap_tier_release(p->tiers[tier], &slot, 1);
}

void pager_release_slot(struct swap_pager *p, uint64_t page, uint64_t e)
{
	if (e & SWAP_PE_HAS_SLOT)
		pager_put_slot(p, swap_pe_tier(e), page, swap_pe_slot(e));
}

/* Does the memfd still hold data for @page (a zap, not a discard)? */
bool pager_memfd_has_page(struct swap_pager *p, uint64_t page)
{
	off_t off = (off_t)(p->r.memfd_offset + (page << PVM_PAGE_SHIFT));

	return lseek(p->r.memfd, off, SEEK_DATA) == off;
}

/*
 * Publish a page this thread owns (LOADING, installed) as RESIDENT with
 * @set/@clear applied. If QEMU discarded it meanwhile (DISCARD) and its data
 * is gone from the memfd, it becomes ABSENT instead: slot released, no
 * longer counted resident, forgotten by the policy.
 */
void pager_publish_owned(struct swap_pager *p, uint64_t page, swap_pe_t *pe, uint64_t set, uint64_t clear)
{
	uint64_t e = atomic_load(pe), n;
	bool gone = false;

	for (;;) {
		if ((e & SWAP_PE_DISCARD) && !pager_memfd_has_page(p, page)) {
			n = 0;
			gone = true;
		} else {
			n = (swap_pe_with_state(e, SWAP_PAGE_RESIDENT) & ~(clear | SWAP_PE_DISCARD)) | set;
			gone = false;
		}
		if (swap_pagedir_cas(pe, &e, n))
			break;
	}
	if (gone) {
		pager_release_slot(p, page, e);
		pager_unreserve(p, 1);
		pthread_mutex_lock(&p->policy_lock);
		swap_policy_remove(p->policy, page);
		pthread_mutex_unlock(&p->policy_lock);
	}
}

void pager_record_latency(struct swap_pager *p, uint64_t ns, int kind)
{
	unsigned b = pvm_lat_bucket(ns, SWAP_LAT_BUCKETS);

	cnt_add(&p->c.lat[b], 1);
	cnt_add(&p->c.lat_sum_ns, ns);
	if (kind >= 0 && kind < SWAP_LAT_KINDS) {
		cnt_add(&p->c.kind_lat[kind][b], 1);
		cnt_add(&p->c.kind_lat_sum_ns[kind], ns);
	}
}

double swap_lat_percentile_us(const uint64_t *buckets, size_t n, double pct)
{
	return pvm_lat_percentile_us(buckets, n, pct);
}

#define LOAD(x) atomic_load_explicit(&p->c.x, memory_order_relaxed)

void swap_pager_stats(struct swap_pager *p, struct swap_pager_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->pages = p->pages;
	s->limit_pages = p->limit;
	s->resident = atomic_load(&p->resident);
	s->resident_peak = atomic_load(&p->resident_peak);
	s->faults = LOAD(faults);
	s->wp_faults = LOAD(wp_faults);
	s->zero_fills = LOAD(zero_fills);
	s->refaults = LOAD(refaults);
	for (size_t i = 0; i < 8; i++)
		s->tier_refaults[i] = LOAD(tier_refaults[i]);
	s->prefetched = LOAD(prefetched);
	s->prefetch_used = LOAD(prefetch_used);
	s->evictions = LOAD(evictions);
	s->writebacks = LOAD(writebacks);
	s->clean_drops = LOAD(clean_drops);
	s->zero_drops = LOAD(zero_drops);
	s->evict_aborts = LOAD(evict_aborts);
	s->store_errors = LOAD(store_errors);
	s->discards = LOAD(discards);
	s->rearms = LOAD(rearms);
	s->fault_waits = LOAD(fault_waits);
	s->reclaim_batches = LOAD(reclaim_batches);
	s->overcommitted = LOAD(overcommitted);
	s->directory_bytes = swap_pagedir_bytes(p->dir);
	for (size_t i = 0; i < SWAP_LAT_BUCKETS; i++)
		s->fault_lat_us[i] = LOAD(lat[i]);
	s->fault_lat_sum_ns = LOAD(lat_sum_ns);
	for (size_t k = 0; k < SWAP_LAT_KINDS; k++) {
		for (size_t i = 0; i < SWAP_LAT_BUCKETS; i++)
			s->kind_lat_us[k][i] = LOAD(kind_lat[k][i]);
		s->kind_lat_sum_ns[k] = LOAD(kind_lat_sum_ns[k]);
	}
}

static void put_u64(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* {"log2_us_buckets": [...], "count": N, "sum_ns": S, "p50_us", "p99_us"} */
static json_object *latency_json(const uint64_t *buckets, uint64_t sum_ns)
{
	json_object *lat = json_object_new_object(), *hist = json_object_new_array();
	uint64_t count = 0;

	for (size_t i = 0; i < SWAP_LAT_BUCKETS; i++) {
		json_object_array_add(hist, json_object_new_uint64(buckets[i]));
		count += buckets[i];
	}
	json_object_object_add(lat, "log2_us_buckets", hist);
	json_object_object_add(lat, "count", json_object_new_uint64(count));
	json_object_object_add(lat, "sum_ns", json_object_new_uint64(sum_ns));
	json_object_object_add(lat, "p50_us", json_object_new_double(
		swap_lat_percentile_us(buckets, SWAP_LAT_BUCKETS, 50)));
	json_object_object_add(lat, "p99_us", json_object_new_double(
		swap_lat_percentile_us(buckets, SWAP_LAT_BUCKETS, 99)));
	return lat;
}

json_object *swap_pager_stats_json(struct swap_pager *p)
{
	struct swap_pager_stats s;
	json_object *o = json_object_new_object(), *tiers, *lat, *hist;

	swap_pager_stats(p, &s);
	put_u64(o, "pages", s.pages);
	put_u64(o, "limit_pages", s.limit_pages);
	put_u64(o, "resident_pages", s.resident);
	put_u64(o, "resident_peak_pages", s.resident_peak);
	put_u64(o, "faults", s.faults);
	put_u64(o, "wp_faults", s.wp_faults);
	put_u64(o, "zero_fills", s.zero_fills);
	put_u64(o, "refaults", s.refaults);
	put_u64(o, "prefetched", s.prefetched);
	put_u64(o, "prefetch_used", s.prefetch_used);
	put_u64(o, "evictions", s.evictions);
	put_u64(o, "writebacks", s.writebacks);
	put_u64(o, "clean_drops", s.clean_drops);
	put_u64(o, "zero_drops", s.zero_drops);
	put_u64(o, "evict_aborts", s.evict_aborts);
	put_u64(o, "store_errors", s.store_errors);
	put_u64(o, "discards", s.discards);
	put_u64(o, "rearms", s.rearms);
	put_u64(o, "writable_refaults", atomic_load(&p->c.writable_refaults));
	put_u64(o, "write_estimate_permille", atomic_load(&p->write_score) * 1000 / 1024);
	put_u64(o, "fault_waits", s.fault_waits);
	put_u64(o, "reclaim_batches", s.reclaim_batches);
	put_u64(o, "overcommitted_pages", s.overcommitted);
	put_u64(o, "directory_bytes", s.directory_bytes);
	json_object_object_add(o, "policy", json_object_new_string(p->cfg.policy));
	if (p->policy && SWAP_POLICY_OPS_HAS(p->policy->ops, stats_json) &&
	    p->policy->ops->stats_json) {
		json_object *ps;

		pthread_mutex_lock(&p->policy_lock);
		ps = p->policy->ops->stats_json(p->policy);
		pthread_mutex_unlock(&p->policy_lock);
		if (ps)
			json_object_object_add(o, "policy_state", ps);
	}
	json_object_object_add(o, "prefetch", json_object_new_string(p->cfg.prefetch));

	tiers = json_object_new_array();
	for (size_t i = 0; i < p->tier_count; i++) {
		struct swap_tier_stats ts;
		json_object *t = json_object_new_object();

		swap_tier_get_stats(p->tiers[i], &ts);
		json_object_object_add(t, "spec", json_object_new_string(p->tiers[i]->spec));
		json_object_object_add(t, "kind", json_object_new_string(p->tiers[i]->ops->name));
		put_u64(t, "refaults", i < 8 ? s.tier_refaults[i] : 0);
		if (i < SWAP_LAT_KINDS - SWAP_LAT_TIER0)
			json_object_object_add(t, "refault_latency", latency_json(
				s.kind_lat_us[SWAP_LAT_TIER0 + i],
				s.kind_lat_sum_ns[SWAP_LAT_TIER0 + i]));
		put_u64(t, "slots_used", ts.slots_used);
		if (ts.slots_total != UINT64_MAX)
			put_u64(t, "slots_total", ts.slots_total);
		if (p->extents[i]) {
			uint64_t ext, held;

			swap_extents_count(p->extents[i], &ext, &held);
			put_u64(t, "extents", ext);
			put_u64(t, "extent_slots_held", held);
		}
		put_u64(t, "stores", ts.stores);
		put_u64(t, "loads", ts.loads);
		put_u64(t, "store_errors", ts.store_errors);
		put_u64(t, "load_errors", ts.load_errors);
		if (SWAP_TIER_OPS_HAS(p->tiers[i]->ops, stats_json) &&
		    p->tiers[i]->ops->stats_json)
			p->tiers[i]->ops->stats_json(p->tiers[i], t);
		json_object_array_add(tiers, t);
	}
	json_object_object_add(o, "tiers", tiers);

	lat = json_object_new_object();
	hist = json_object_new_array();
	for (size_t i = 0; i < SWAP_LAT_BUCKETS; i++)
		json_object_array_add(hist, json_object_new_uint64(s.fault_lat_us[i]));
	json_object_object_add(lat, "log2_us_buckets", hist);
	json_object_object_add(lat, "p50_us", json_object_new_double(
		swap_lat_percentile_us(s.fault_lat_us, SWAP_LAT_BUCKETS, 50)));
	json_object_object_add(lat, "p99_us", json_object_new_double(
		swap_lat_percentile_us(s.fault_lat_us, SWAP_LAT_BUCKETS, 99)));
	json_object_object_add(lat, "mean_us", json_object_new_double(
		s.faults ? (double)s.fault_lat_sum_ns / 1000.0 / (double)s.faults : 0));
	json_object_object_add(lat, "sum_ns", json_object_new_uint64(s.fault_lat_sum_ns));
	json_object_object_add(o, "first_touch_latency", latency_json(
		s.kind_lat_us[SWAP_LAT_FIRST_TOUCH], s.kind_lat_sum_ns[SWAP_LAT_FIRST_TOUCH]));
	json_object_object_add(o, "fault_latency", lat);
	if (swap_pager_failed(p))
		json_object_object_add(o, "failed", json_object_new_string(p->fail_reason));
	return o;
}
