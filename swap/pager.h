/* swap/pager.h — the pager: owns every page of one guest's RAM.
 *
 * Concepts: the pager receives a userfaultfd registered over guest RAM
 * (MISSING and WP modes) and the memfd behind that RAM. Fault threads read
 * fault messages and install pages (zero pages, or pages loaded from a tier,
 * plus what the prefetcher predicts, in one batch). A reclaim thread keeps
 * the resident set under the local limit: when fewer than the high-watermark
 * reserve of pages is free it evicts batches chosen by the policy until the
 * low-watermark reserve is free again, so a fault normally never waits for a
 * write. An eviction write-protects the pages, copies them out through the
 * memfd, stores them (zero pages and clean pages are not written), and only
 * once the tier reported them safe punches them out of the memfd.
 *
 * Safety: a page is never mapped as zeros once it held data; when a tier
 * cannot return a page the pager fail-stops (swap_pager_failed() says why)
 * and the guest stays blocked until its VMM stops it.
 */
#ifndef POOLVM_SWAP_PAGER_H
#define POOLVM_SWAP_PAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tier.h"

struct json_object;
struct swap_pager;

/* What the pager manages: guest RAM as mapped in the process that owns the
 * uffd (QEMU), and the memfd behind it. */
struct swap_region {
	uint64_t base;          /* address of guest RAM in the faulting process */
	uint64_t size;          /* bytes, a multiple of 4 KiB */
	uint64_t memfd_offset;  /* offset of @base in @memfd */
	int uffd;               /* registered MISSING (and WP when wp_ok) */
	int memfd;
	bool wp_ok;             /* write-protect mode registered */
};

struct swap_pager_config {
	uint64_t local_bytes;          /* resident limit; 0 = all of RAM */
	const char *policy;            /* registered policy name; NULL = "clock" */
	const void *policy_model;      /* swap_policy_env.model; NULL: built in */
	const char *prefetch;          /* registered prefetcher; NULL = "stride" */
	struct swap_tier **tiers;      /* in order of preference, owned by caller */
	size_t tier_count;
	unsigned fault_threads;        /* 0 = 2 */
	unsigned evict_batch;          /* pages per eviction batch; 0 = the largest
					* store_batch of the tiers, at least 128 */
	unsigned prefetch_max;         /* most pages prefetched per fault; 0 = 64 */
	bool track_writes;             /* re-arm write protection for recency (default on) */
	unsigned spin_us;              /* fault threads poll this long before sleeping; 0 = never */
	void (*on_fail)(void *ctx, const char *why);  /* fail-stop hook (any thread) */
	void *on_fail_ctx;
	/* Optional: every access the pager observes, as the policy learns of
	 * it: a missing fault the guest raised (@fault; prefetched pages are
	 * not accesses) or a write caught by recency tracking. @page is the
	 * page's offset in guest RAM >> 12. Called under the policy lock, so
	 * calls never overlap; keep it short (poolvm run --trace). */
	void (*on_access)(void *ctx, uint64_t page, bool write, bool fault);
	void *on_access_ctx;
};

#define SWAP_LAT_BUCKETS 24     /* log2 buckets of microseconds: [0,1), [1,2), [2,4) ... */
/* Latency kinds: what served the faulting page. SWAP_LAT_FIRST_TOUCH: a
 * zero page (never written, or discarded); SWAP_LAT_TIER0 + i: a refault
 * from tier i (in --tier order; tiers past 7 count as 7). */
#define SWAP_LAT_FIRST_TOUCH 0
#define SWAP_LAT_TIER0 1
#define SWAP_LAT_KINDS 9

struct swap_pager_stats {
	uint64_t pages;               /* guest RAM in pages */
	uint64_t limit_pages;         /* resident limit */
	uint64_t resident;            /* pages resident now (installed by the pager) */
	uint64_t resident_peak;
	uint64_t faults;              /* missing-page faults handled */
	uint64_t wp_faults;           /* write-protect faults handled */
	uint64_t zero_fills;          /* faults served with a zero page */
	uint64_t refaults;            /* faults served from a tier */
	uint64_t tier_refaults[8];      /* per tier, in --tier order */
	uint64_t prefetched;          /* pages installed by prefetch (zero or tier) */
	uint64_t prefetch_used;       /* of those, seen used (written: reads of
				       * mapped pages are not seen) */
	uint64_t evictions;           /* pages punched out of guest RAM */
	uint64_t writebacks;          /* pages written to a tier */
	uint64_t clean_drops;         /* evictions of clean pages: nothing written */
	uint64_t zero_drops;          /* evictions of all-zero pages: nothing written */
	uint64_t evict_aborts;        /* evictions undone because the guest wrote */
	uint64_t store_errors;        /* pages a tier failed to store (kept resident) */
	uint64_t discards;            /* pages QEMU discarded (UFFD_EVENT_REMOVE) */
	uint64_t rearms;              /* write-protect re-arms for recency */
	uint64_t fault_waits;         /* faults that waited for reclaim (limit reached) */
	uint64_t reclaim_batches;
	uint64_t overcommitted;       /* pages installed beyond the limit (tiers full) */
	uint64_t directory_bytes;
	uint64_t fault_lat_us[SWAP_LAT_BUCKETS];  /* service time of missing faults */
	uint64_t fault_lat_sum_ns;
	/* The same per kind (faults whose page was not installed, e.g. retried
	 * after an event, are only in the totals above). */
	uint64_t kind_lat_us[SWAP_LAT_KINDS][SWAP_LAT_BUCKETS];
	uint64_t kind_lat_sum_ns[SWAP_LAT_KINDS];
};

/**
 * swap_pager_create() - a pager for @region with @config. Does not start
 * threads. Return: 0 and *@out; -EINVAL for a bad config (message printed);
 * -ENOENT for an unknown policy or prefetcher; -ENOMEM.
 */
int swap_pager_create(const struct swap_pager_config *config,
		      const struct swap_region *region, struct swap_pager **out);

/** swap_pager_start() - start fault and reclaim threads. 0 or -errno. */
int swap_pager_start(struct swap_pager *pager);

/**
 * swap_pager_stop() - stop and join every thread. Pages stay where they
 * are; call before destroy. Idempotent. Not from a pager thread.
 */
void swap_pager_stop(struct swap_pager *pager);

/** swap_pager_destroy() - release tier slots and memory; NULL is a no-op. */
void swap_pager_destroy(struct swap_pager *pager);

/**
 * swap_pager_stats() - a snapshot of the counters. Any thread, any time
 * between create and destroy, also while fault and reclaim threads run:
 * every counter is a relaxed atomic read on its own, so counters may be a
 * few events apart from one another, never torn.
 */
void swap_pager_stats(struct swap_pager *pager, struct swap_pager_stats *out);

/**
 * swap_pager_stats_json() - the stats as a JSON object (caller puts it).
 * Any thread, like swap_pager_stats(); the tiers' stats ops it calls take
 * only short locks of their own (the remote tier walks its slots one
 * segment lock at a time).
 */
struct json_object *swap_pager_stats_json(struct swap_pager *pager);

/** swap_pager_failed() - NULL while healthy, else why the pager fail-stopped. */
const char *swap_pager_failed(struct swap_pager *pager);

/** swap_lat_percentile_us() - percentile @p (0..100) of a latency histogram. */
double swap_lat_percentile_us(const uint64_t *buckets, size_t n, double p);

#endif
