/* sim/sim.h — replaying a page access trace under an eviction policy.
 *
 * Concepts: a workload is a loaded trace prepared for replay: each distinct
 * page gets a dense id (0 .. footprint-1), so residency is an array lookup.
 * A replay walks the trace with a cache of a fixed number of pages: a
 * resident page is a hit and the policy is told (touch); otherwise it is a
 * miss and, when the cache is full, the policy picks a victim (evict) before
 * the page is inserted. Policies see the trace's real page numbers.
 * Belady's OPT, the offline bound, is replayed by a separate routine: it
 * needs the future (each access's next use), which no swap_policy has.
 *
 * Nothing here is thread-safe; a workload may be replayed many times.
 */
#ifndef POOLVM_SIM_SIM_H
#define POOLVM_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "prefetch.h"
#include "trace.h"
#include "u64map.h"

#define SIM_NEVER UINT32_MAX    /* next use of a page never accessed again */

struct sim_workload {
	const struct sim_trace *trace;  /* borrowed */
	uint32_t *ids;                  /* per access: the page's dense id */
	size_t footprint;               /* distinct pages */
	struct u64map page_ids;         /* page -> dense id */
	uint32_t *next_use;             /* per access, built on first OPT replay */
	const void *policy_model;       /* swap_policy_env.model for replays */
	bool time_decisions;            /* time each evict() (sim_result.decision_ns) */
};

struct sim_result {
	uint64_t accesses;
	uint64_t misses;
	uint64_t policy_ns;             /* wall time of the replay loop */
	uint64_t decisions;             /* evict() calls, when timed */
	uint64_t decision_ns;           /* their time, two clock reads each included */
};

/**
 * sim_workload_init() - index @trace (which must outlive @w) for replay.
 * Return: 0, -ENOMEM, or -EFBIG past UINT32_MAX - 1 distinct pages.
 */
int sim_workload_init(struct sim_workload *w, const struct sim_trace *trace);

/** sim_workload_fini() - free what init allocated. */
void sim_workload_fini(struct sim_workload *w);

/**
 * sim_replay_policy() - replay @w with @cache_pages pages under the policy
 * @ops (created fresh, capacity hint @cache_pages, no re-arm callback).
 * @err: filled when the policy misbehaves (an evicted page that is not
 * resident, evict() failing on a full cache, a wrong count()).
 * Return: 0 and *@out; -EINVAL with @err when the cache size is 0;
 * -EPROTO with @err for a misbehaving policy; -ENOMEM or what create()
 * returned.
 */
int sim_replay_policy(const struct sim_workload *w, const struct swap_policy_ops *ops,
		      size_t cache_pages, struct sim_result *out,
		      char err[SIM_TRACE_ERR_LEN]);

/**
 * sim_replay_policy_keep() - sim_replay_policy(), handing the policy back
 * in *@keep (on success; the caller destroys it) instead of destroying it,
 * for what it learned (poolvm train).
 */
int sim_replay_policy_keep(const struct sim_workload *w, const struct swap_policy_ops *ops,
			   size_t cache_pages, struct sim_result *out,
			   char err[SIM_TRACE_ERR_LEN], struct swap_policy **keep);

struct sim_prefetch_result {
	uint64_t accesses;
	uint64_t misses;                /* demand misses */
	uint64_t prefetched;            /* pages brought in by the prefetcher */
	uint64_t used;                  /* of them, accessed before eviction */
	uint64_t wasted;                /* of them, evicted unused (or never in the trace) */
};

/**
 * sim_replay_prefetch() - as sim_replay_policy(), with the prefetcher
 * @pf_ops asked on every miss (window up to @max_window pages). Predicted
 * pages that are not resident come in as prefetches (the policy sees
 * SWAP_ACCESS_PREFETCH); a later access to one is a prefetch hit, and one
 * evicted before any access is wasted (both reported to the prefetcher as
 * the pager does). Predicted pages the trace never touches count as
 * wasted at once and take no cache space. Accuracy is used / prefetched,
 * coverage used / (used + misses).
 * Return: 0, -EINVAL with @err for a cache of 0 pages, -EPROTO with @err
 * for a misbehaving policy, -ENOMEM.
 */
int sim_replay_prefetch(const struct sim_workload *w, const struct swap_policy_ops *ops,
			const struct swap_prefetch_ops *pf_ops, size_t cache_pages,
			size_t max_window, struct sim_prefetch_result *out,
			char err[SIM_TRACE_ERR_LEN]);

/**
 * sim_replay_opt() - replay @w with @cache_pages pages under Belady's OPT:
 * on a miss with a full cache, evict the resident page whose next use is
 * farthest (never used again first). O(n log c) after an O(n) backward pass
 * that builds w->next_use on the first call. policy_ns is 0.
 * Return: 0 and *@out; -EINVAL for a cache of 0 pages; -ENOMEM.
 */
int sim_replay_opt(struct sim_workload *w, size_t cache_pages, struct sim_result *out);

/**
 * sim_cache_pages() - a --cache value: "N" pages or "P%" of @footprint
 * (P a decimal from 0 exclusive to 100, e.g. "25%", "2.5%"); a fraction is
 * rounded to the nearest page, at least 1.
 * Return: 0 and *@out; -EINVAL for anything else (0 pages, junk, > 100%).
 */
int sim_cache_pages(const char *spec, size_t footprint, size_t *out);

#endif
