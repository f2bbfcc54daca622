/* sim/sim.c — workloads, the replay loop for swap policies, cache sizes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sim.h"

int sim_workload_init(struct sim_workload *w, const struct sim_trace *trace)
{
	const size_t max_pages = (size_t)UINT32_MAX - 1;

	memset(w, 0, sizeof(*w));
	w->trace = trace;
	w->ids = malloc((trace->count ? trace->count : 1) * sizeof(*w->ids));
	if (!w->ids || u64map_init(&w->page_ids, 1024) < 0) {
		free(w->ids);
		w->ids = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < trace->count; i++) {
		uint32_t id;

		if (!u64map_get(&w->page_ids, trace->pages[i], &id)) {
			if (w->footprint == max_pages)
				goto err_fini;
			id = (uint32_t)w->footprint;
			if (u64map_put(&w->page_ids, trace->pages[i], id) < 0) {
				sim_workload_fini(w);
				return -ENOMEM;
			}
			w->footprint++;
		}
		w->ids[i] = id;
	}
	return 0;

err_fini:
	sim_workload_fini(w);
	return -EFBIG;
}

void sim_workload_fini(struct sim_workload *w)
{
	free(w->ids);
	free(w->next_use);
	u64map_fini(&w->page_ids);
	memset(w, 0, sizeof(*w));
}

int sim_replay_policy(const struct sim_workload *w, const struct swap_policy_ops *ops,
		      size_t cache_pages, struct sim_result *out,
		      char err[SIM_TRACE_ERR_LEN])
{
	return sim_replay_policy_keep(w, ops, cache_pages, out, err, NULL);
}

int sim_replay_policy_keep(const struct sim_workload *w, const struct swap_policy_ops *ops,
			   size_t cache_pages, struct sim_result *out,
			   char err[SIM_TRACE_ERR_LEN], struct swap_policy **keep)
{
	const struct sim_trace *t = w->trace;
	struct swap_policy_env env = { .capacity = cache_pages, .model = w->policy_model };
	struct swap_policy *policy = NULL;
	uint64_t misses = 0, start, victim;
	size_t resident_count = 0, i;
	uint8_t *resident;
	uint32_t vid;
	int ret;

	if (!cache_pages) {
		snprintf(err, SIM_TRACE_ERR_LEN, "a cache of 0 pages");
		return -EINVAL;
	}
	resident = calloc(w->footprint ? w->footprint : 1, 1);
	if (!resident)
		return -ENOMEM;
	ret = ops->create(&env, &policy);
	if (ret < 0) {
		snprintf(err, SIM_TRACE_ERR_LEN, "policy %s: create failed: %s",
			 ops->name, strerror(-ret));
		goto out_free;
	}
	/* The loop is timed as a whole: per-call clock reads would cost more
	 * than the cheapest policies (time_decisions adds them around evict(),
	 * for a replay of its own). What is not policy here is an array
	 * lookup per access and a hash lookup per eviction. */
	out->decisions = out->decision_ns = 0;
	start = pvm_now_ns();
	for (i = 0; i < t->count; i++) {
		uint32_t id = w->ids[i];
		uint64_t page = t->pages[i];
		unsigned flags = t->writes[i] ? SWAP_ACCESS_WRITE : 0;

		if (resident[id]) {
			swap_policy_touch(policy, page, flags);
			continue;
		}
		misses++;
		if (resident_count == cache_pages) {
			uint64_t t0 = w->time_decisions ? pvm_now_ns() : 0;

			if (swap_policy_evict(policy, &victim) < 0)
				goto err_evict;
			if (w->time_decisions) {
				out->decision_ns += pvm_now_ns() - t0;
				out->decisions++;
			}
			if (!u64map_get(&w->page_ids, victim, &vid) || !resident[vid])
				goto err_victim;
			resident[vid] = 0;
			resident_count--;
		}
		swap_policy_insert(policy, page, flags);
		resident[id] = 1;
		resident_count++;
	}
	out->policy_ns = pvm_now_ns() - start;
	out->accesses = t->count;
	out->misses = misses;
	if (swap_policy_count(policy) != resident_count) {
		snprintf(err, SIM_TRACE_ERR_LEN,
			 "policy %s: count() says %zu pages resident, the simulator holds %zu",
			 ops->name, swap_policy_count(policy), resident_count);
		ret = -EPROTO;
	}
	goto out_destroy;

err_evict:
	snprintf(err, SIM_TRACE_ERR_LEN,
		 "policy %s: evict() failed with %zu of %zu pages resident (access %zu)",
		 ops->name, resident_count, cache_pages, i + 1);
	ret = -EPROTO;
	goto out_destroy;
err_victim:
	snprintf(err, SIM_TRACE_ERR_LEN,
		 "policy %s: evicted page 0x%llx, which is not resident (access %zu)",
		 ops->name, (unsigned long long)victim, i + 1);
	ret = -EPROTO;
out_destroy:
	if (keep && ret == 0)
		*keep = policy;
	else
		swap_policy_destroy(policy);
out_free:
	free(resident);
	return ret;
}

struct present_ctx {
	const struct sim_workload *w;
	const uint8_t *state;           /* 0: not in the cache */
};

/* The prefetcher's question, as the pager answers it: is @page cached? */
static bool sim_present(void *arg, uint64_t page)
{
	const struct present_ctx *c = arg;
	uint32_t id;

	return u64map_get(&c->w->page_ids, page, &id) && c->state[id];
}

int sim_replay_prefetch(const struct sim_workload *w, const struct swap_policy_ops *ops,
			const struct swap_prefetch_ops *pf_ops, size_t cache_pages,
			size_t max_window, struct sim_prefetch_result *out,
			char err[SIM_TRACE_ERR_LEN])
{
	enum { ABSENT, RESIDENT, PREFETCHED };
	const struct sim_trace *t = w->trace;
	struct swap_policy_env env = { .capacity = cache_pages, .model = w->policy_model };
	struct swap_prefetch_env penv = { .max_window = max_window, .page_count = UINT64_MAX };
	struct swap_policy *policy = NULL;
	struct swap_prefetcher *pf = NULL;
	uint64_t *cand = malloc((max_window ? max_window : 1) * sizeof(*cand));
	uint8_t *state = calloc(w->footprint ? w->footprint : 1, 1);
	struct present_ctx pctx = { w, state };
	size_t resident = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!cache_pages) {
		snprintf(err, SIM_TRACE_ERR_LEN, "a cache of 0 pages");
		ret = -EINVAL;
		goto out_free;
	}
	if (!cand || !state) {
		ret = -ENOMEM;
		goto out_free;
	}
	penv.present = sim_present;
	penv.ctx = &pctx;
	ret = ops->create(&env, &policy);
	if (ret == 0)
		ret = pf_ops->create(&penv, &pf);
	if (ret < 0) {
		snprintf(err, SIM_TRACE_ERR_LEN, "policy %s / prefetcher %s: create failed: %s",
			 ops->name, pf_ops->name, strerror(-ret));
		goto out_destroy;
	}
	for (size_t i = 0; i < t->count && ret == 0; i++) {
		uint32_t id = w->ids[i];
		uint64_t page = t->pages[i];
		unsigned flags = t->writes[i] ? SWAP_ACCESS_WRITE : 0;
		size_t n;

		if (state[id] != ABSENT) {
			if (state[id] == PREFETCHED) {
				out->used++;
				state[id] = RESIDENT;
				swap_prefetch_feedback(pf, page, SWAP_PREFETCH_USED);
			}
			swap_policy_touch(policy, page, flags);
			continue;
		}
		out->misses++;
		n = swap_prefetch_predict(pf, page, flags, cand, max_window);
		/* The faulting page first, then the predictions. */
		for (size_t k = 0; k <= n && ret == 0; k++) {
			uint64_t pg = k ? cand[k - 1] : page;
			uint32_t pid = id, vid;
			uint64_t victim;

			if (k) {
				if (!u64map_get(&w->page_ids, pg, &pid)) {
					out->prefetched++;
					out->wasted++;
					continue;
				}
				if (state[pid] != ABSENT)
					continue;
			}
			if (resident == cache_pages) {
				if (swap_policy_evict(policy, &victim) < 0 ||
				    !u64map_get(&w->page_ids, victim, &vid) || state[vid] == ABSENT) {
					snprintf(err, SIM_TRACE_ERR_LEN,
						 "policy %s: evict() failed or chose a page that is "
						 "not resident (access %zu)", ops->name, i + 1);
					ret = -EPROTO;
					break;
				}
				if (state[vid] == PREFETCHED) {
					out->wasted++;
					swap_prefetch_feedback(pf, victim, SWAP_PREFETCH_WASTED);
				}
				state[vid] = ABSENT;
				resident--;
			}
			swap_policy_insert(policy, pg, k ? SWAP_ACCESS_PREFETCH : flags);
			state[pid] = k ? PREFETCHED : RESIDENT;
			out->prefetched += k ? 1 : 0;
			resident++;
		}
	}
	out->accesses = t->count;
out_destroy:
	swap_prefetch_destroy(pf);
	swap_policy_destroy(policy);
out_free:
	free(cand);
	free(state);
	return ret;
}

/* Digits with at most one '.', nothing else (strtod alone would also take
 * "inf", "0x1p3", " 5"). */
static bool is_plain_decimal(const char *s, size_t len)
{
	bool dot = false, digit = false;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.' && !dot)
			dot = true;
		else if (s[i] >= '0' && s[i] <= '9')
			digit = true;
		else
			return false;
	}
	return digit;
}

int sim_cache_pages(const char *spec, size_t footprint, size_t *out)
{
	size_t len = strlen(spec);
	unsigned long long n;
	char *end;

	if (len > 1 && spec[len - 1] == '%') {
		char num[32];
		double pct, pages;

		if (len - 1 >= sizeof(num) || !is_plain_decimal(spec, len - 1))
			return -EINVAL;
		memcpy(num, spec, len - 1);
		num[len - 1] = '\0';
		pct = strtod(num, &end);
		if (*end || !(pct > 0.0) || pct > 100.0)
			return -EINVAL;
		pages = (double)footprint * pct / 100.0 + 0.5;
		*out = pages < 1.0 ? 1 : (size_t)pages;
		return 0;
	}
	if (!len || !is_plain_decimal(spec, len) || strchr(spec, '.'))
		return -EINVAL;
	errno = 0;
	n = strtoull(spec, &end, 10);
	if (errno || *end || n == 0 || n > SIZE_MAX)
		return -EINVAL;
	*out = (size_t)n;
	return 0;
}
