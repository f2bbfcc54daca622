/* swap/pager_internal.h — state shared by pager.c, pager_fault.c and
 * pager_reclaim.c. Not a public header. */
#ifndef POOLVM_SWAP_PAGER_INTERNAL_H
#define POOLVM_SWAP_PAGER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "pagedir.h"
#include "pager.h"
#include "policy.h"
#include "prefetch.h"

#define PAGER_MAX_FAULT_THREADS 16

typedef _Atomic uint64_t counter_t;

struct pager_counters {
	counter_t faults, wp_faults, zero_fills, refaults, prefetched, prefetch_used;
	counter_t evictions, writebacks, clean_drops, zero_drops;
	counter_t evict_aborts, store_errors, discards, rearms, fault_waits;
	counter_t reclaim_batches, overcommitted, spurious, writable_refaults;
	counter_t tier_refaults[8];
	counter_t lat[SWAP_LAT_BUCKETS];
	counter_t lat_sum_ns;
	counter_t kind_lat[SWAP_LAT_KINDS][SWAP_LAT_BUCKETS];
	counter_t kind_lat_sum_ns[SWAP_LAT_KINDS];
};

struct swap_pager {
	struct swap_region r;
	struct swap_pager_config cfg;
	uint64_t pages;
	uint64_t limit;           /* resident limit, pages */
	uint64_t high_free;       /* reclaim starts when free pages < this */
	uint64_t low_free;        /* ... and stops when free pages >= this */
	uint64_t prefetch_floor;  /* prefetch only while free pages > this */
	uint64_t spin_ns;         /* fault threads poll this long before sleeping */

	struct swap_pagedir *dir;
	struct swap_tier *tiers[SWAP_MAX_TIERS];
	struct swap_extents *extents[SWAP_MAX_TIERS];  /* NULL: plain slots */
	size_t tier_count;

	pthread_mutex_t policy_lock;
	struct swap_policy *policy;
	pthread_mutex_t prefetch_lock;
	/* Held by a fault thread from its read() of the uffd until it has
	 * applied the REMOVE events it read: the kernel lets madvise() return
	 * once its REMOVE is read, so a fault that follows the discard must
	 * not be read (and served from a tier's stale copy) before then. */
	pthread_mutex_t read_lock;
	struct swap_prefetcher *prefetcher;

	_Atomic uint64_t resident;
	_Atomic uint64_t resident_peak;
	atomic_bool overcommit;   /* tiers full: allow the limit to be exceeded */

	pthread_mutex_t space_lock;
	pthread_cond_t space_cond;    /* faults waiting for free pages */
	pthread_cond_t reclaim_cond;  /* reclaim thread waiting for work */
	bool reclaim_wanted;
	atomic_bool reclaim_idle;

	pthread_t fault_tid[PAGER_MAX_FAULT_THREADS];
	unsigned fault_started;
	pthread_t reclaim_tid;
	bool reclaim_started;
	int stop_efd;
	atomic_bool stopping;

	pthread_mutex_t fail_lock;
	char fail_reason[512];
	atomic_bool failed;

	/* Write estimator: of the clean demand refaults we watched, how many
	 * were written before eviction (score in 0..1024, EWMA). Above half,
	 * demand refaults are installed writable and dirty, saving the
	 * write-protect fault that would follow; 1 in 16 is still watched. */
	_Atomic unsigned write_score;
	_Atomic unsigned refault_seq;

	/* Re-arm requests collected while the policy runs (reclaim thread). */
	uint64_t *rearm;
	size_t rearm_count, rearm_cap;

	struct pager_counters c;
};

static inline void cnt_add(counter_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t page_addr(const struct swap_pager *p, uint64_t page)
{
	return p->r.base + (page << 12);
}

static inline uint64_t free_pages(struct swap_pager *p)
{
	uint64_t res = atomic_load_explicit(&p->resident, memory_order_relaxed);

	return res >= p->limit ? 0 : p->limit - res;
}

static inline void pager_note_write_outcome(struct swap_pager *p, bool written)
{
	unsigned s = atomic_load_explicit(&p->write_score, memory_order_relaxed);

	s = written ? s + (1024 - s) / 16 : s - s / 16;
	atomic_store_explicit(&p->write_score, s, memory_order_relaxed);
}

/* pager.c */
void pager_fail(struct swap_pager *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int pager_reserve(struct swap_pager *p, uint64_t n);
void pager_unreserve(struct swap_pager *p, uint64_t n);
void pager_kick_reclaim(struct swap_pager *p);
void pager_want_space(struct swap_pager *p);
void pager_wait_space(struct swap_pager *p, unsigned max_us);
void pager_release_slot(struct swap_pager *p, uint64_t page, uint64_t entry);
/* Give back @slot of tier @tier that @page held (an extent slot or not). */
void pager_put_slot(struct swap_pager *p, unsigned tier, uint64_t page, uint64_t slot);
void pager_record_latency(struct swap_pager *p, uint64_t ns, int kind);
bool pager_memfd_has_page(struct swap_pager *p, uint64_t page);
void pager_publish_owned(struct swap_pager *p, uint64_t page, swap_pe_t *pe, uint64_t set, uint64_t clear);

/* pager_fault.c */
void *pager_fault_thread(void *arg);

/* pager_reclaim.c */
void *pager_reclaim_thread(void *arg);
void pager_rearm_cb(void *ctx, uint64_t page);

#endif
