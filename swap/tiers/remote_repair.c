/* swap/tiers/remote_repair.c — the remote tier's repair thread.
 *
 * It wakes when a pod dies, comes back, or asks to be drained (and every
 * second anyway), and then:
 *  1. scans the slot table for stored slots with a replica that is not
 *     healthy (its pod dead, or its lease draining) and rebuilds each such
 *     replica on another pod: read the page from a surviving replica (or
 *     the backup tier when none survives), write it to a page placed by
 *     the usual two random choices, and swap it in only if the slot was
 *     not stored or released meanwhile (its generation is unchanged);
 *  2. answers DRAIN notices with DRAIN_DONE once no page is left in the
 *     drained lease(s);
 *  3. leases a chunk ahead on pods that are running low, so alloc() rarely
 *     waits for a lease;
 *  4. every few seconds asks discovery for pods it does not know yet, and,
 *     when discovery is authoritative (the etcd registry), treats a known
 *     pod that is no longer listed as lost: dead, its replicas rebuilt on
 *     other pods, no reconnects until it is listed again.
 */
#include "remote_internal.h"

#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPAIR_BATCH        64
#define REPAIR_IDLE_MS      1000
#define REPAIR_RETRY_MS     250
#define DISCOVERY_PERIOD_NS (5ull * 1000 * 1000 * 1000)

struct repair_job {
	uint64_t slot;
	uint32_t gen;
	unsigned nbad;
	unsigned k[REMOTE_MAX_REPLICAS];        /* replica indices to replace */
	uint32_t fresh[REMOTE_MAX_REPLICAS];    /* their new pages */
};

struct repair_ctx {
	struct remote_tier *r;
	uint8_t *buf;                           /* REPAIR_BATCH pages */
	struct repair_job jobs[REPAIR_BATCH];
	uint64_t slots[REPAIR_BATCH];
	void *bufs[REPAIR_BATCH];
	int results[REPAIR_BATCH];
	struct remote_target t[REPAIR_BATCH * REMOTE_MAX_REPLICAS];
	void *tbufs[REPAIR_BATCH * REMOTE_MAX_REPLICAS];
	int tres[REPAIR_BATCH * REMOTE_MAX_REPLICAS];
	bool stuck;                             /* some slot could not be placed */
};

/* Collect up to REPAIR_BATCH jobs from *@cursor on (tier->lock held).
 * Returns how many; *@lease_on collects pods that must lease first. */
static size_t collect_jobs(struct repair_ctx *x, uint64_t *cursor, uint64_t high,
			   uint64_t *lease_on)
{
	struct remote_tier *r = x->r;
	size_t n = 0, budget = 4096;     /* slots examined per lock hold */

	for (; *cursor < high && n < REPAIR_BATCH && budget; ++*cursor, budget--) {
		uint64_t slot = *cursor;
		struct remote_seg *s = remote_seg(r, slot);
		uint32_t *reps;
		struct repair_job *j = &x->jobs[n];
		uint64_t exclude = 0;
		unsigned readable = 0;

		if (!s || !(s->flags[SEG_IDX(slot)] & SLOT_VALID))
			continue;
		reps = remote_reps(r, slot);
		j->nbad = 0;
		for (unsigned k = 0; k < r->spec.replicas; k++) {
			if (remote_page_readable(r, reps[k])) {
				readable++;
				exclude |= 1ull << remote_chunk_of(r, reps[k])->pod;
			}
			if (!remote_page_healthy(r, reps[k]))
				j->k[j->nbad++] = k;
		}
		if (!j->nbad)
			continue;
		if (!readable && !(s->flags[SEG_IDX(slot)] & SLOT_BACKED))
			continue;       /* nothing to copy from: lost */
		unsigned placed = 0;

		for (unsigned b = 0; b < j->nbad; b++) {
			int need = -1;

			j->fresh[b] = remote_place_page(r, exclude, &need);
			if (j->fresh[b] == REMOTE_NO_PAGE) {
				if (need >= 0)
					*lease_on |= 1ull << need;
				x->stuck = true;
				break;
			}
			exclude |= 1ull << remote_chunk_of(r, j->fresh[b])->pod;
			placed++;
		}
		if (placed < j->nbad) {
			for (unsigned b = 0; b < placed; b++)
				remote_free_page(r, j->fresh[b]);
			continue;
		}
		j->slot = slot;
		j->gen = s->gen[SEG_IDX(slot)];
		n++;
	}
	return n;
}

static void run_jobs(struct repair_ctx *x, size_t n)
{
	struct remote_tier *r = x->r;
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		x->slots[i] = x->jobs[i].slot;
		x->bufs[i] = x->buf + i * PVM_PAGE_SIZE;
	}
	remote_read_slots(r, x->slots, x->bufs, x->results, n, true);
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		if (x->results[i])
			continue;
		for (unsigned b = 0; b < x->jobs[i].nbad; b++) {
			remote_target_of(r, x->jobs[i].fresh[b], &x->t[m]);
			x->tbufs[m++] = x->bufs[i];
		}
	}
	pthread_mutex_unlock(&r->lock);
	remote_write_targets(r, x->t, x->tbufs, x->tres, m);

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0, w0 = 0; i < n; i++) {
		struct repair_job *j = &x->jobs[i];
		struct remote_seg *s = remote_seg(r, j->slot);
		bool current = (s->flags[SEG_IDX(j->slot)] & SLOT_VALID) &&
			       s->gen[SEG_IDX(j->slot)] == j->gen;
		uint32_t *reps = remote_reps(r, j->slot);

		for (unsigned b = 0; b < j->nbad; b++) {
			bool written = !x->results[i] && x->tres[w0 + b] == 0;

			if (!written || !current) {
				remote_free_page(r, j->fresh[b]);
				if (!current)
					continue;
				atomic_fetch_add(&r->rebuild_failures, 1);
				x->stuck = true;
				continue;
			}
			uint32_t old = reps[j->k[b]];
			bool drained = old != REMOTE_NO_PAGE &&
				       remote_chunk_of(r, old)->state == CHUNK_DRAINING;

			reps[j->k[b]] = j->fresh[b];
			remote_free_page(r, old);
			atomic_fetch_add(drained ? &r->drained_pages : &r->rebuilds, 1);
		}
		if (!x->results[i])
			w0 += j->nbad;
	}
	pthread_mutex_unlock(&r->lock);
}

static void lease_on_pods(struct remote_tier *r, uint64_t lease_on)
{
	for (unsigned i = 0; i < REMOTE_MAX_PODS; i++)
		if ((lease_on >> i) & 1)
			remote_lease_chunk(r, r->pods[i]);
}

/* One pass over the slot table. */
static void repair_scan(struct repair_ctx *x)
{
	struct remote_tier *r = x->r;
	uint64_t cursor = 0, high, before = atomic_load(&r->rebuilds) +
					      atomic_load(&r->drained_pages);
	uint64_t after;

	pthread_mutex_lock(&r->slots.lock);
	high = r->slots.high;
	pthread_mutex_unlock(&r->slots.lock);
	while (cursor < high && !atomic_load(&r->stopping)) {
		uint64_t lease_on = 0;
		size_t n;

		pthread_mutex_lock(&r->lock);
		n = collect_jobs(x, &cursor, high, &lease_on);
		pthread_mutex_unlock(&r->lock);
		if (lease_on)
			lease_on_pods(r, lease_on);
		if (n)
			run_jobs(x, n);
	}
	after = atomic_load(&r->rebuilds) + atomic_load(&r->drained_pages);
	if (after > before)
		pvm_info("remote tier: %llu replicas rebuilt or moved to other pods "
			 "(%llu rebuilt, %llu moved off draining pods in all)",
			 (unsigned long long)(after - before),
			 (unsigned long long)atomic_load(&r->rebuilds),
			 (unsigned long long)atomic_load(&r->drained_pages));
}

/* Answer DRAIN notices whose leases are empty now. */
static void finish_drains(struct remote_tier *r)
{
	unsigned npods = atomic_load(&r->npods);

	for (unsigned i = 0; i < npods; i++) {
		struct remote_pod *pod = r->pods[i];
		uint64_t done[16];
		unsigned ndone = 0;
		bool all_empty = true;

		pthread_mutex_lock(&r->lock);
		for (uint32_t c = 0; c < pod->nchunks; c++) {
			struct remote_chunk *ch = r->chunks[pod->chunks[c]];

			if (ch->state == CHUNK_GONE)
				continue;
			if (ch->used)
				all_empty = false;
			if (ch->state == CHUNK_DRAINING && ch->drain_ack && !ch->used &&
			    ndone < PVM_ARRAY_SIZE(done)) {
				done[ndone++] = ch->lease.id;
				ch->state = CHUNK_GONE;
				ch->drain_ack = false;
			}
		}
		if (pod->drain_all && all_empty && ndone < PVM_ARRAY_SIZE(done)) {
			for (uint32_t c = 0; c < pod->nchunks; c++)
				r->chunks[pod->chunks[c]]->state = CHUNK_GONE;
			pod->drain_all = false;
			done[ndone++] = 0;
		}
		pthread_mutex_unlock(&r->lock);
		if (!ndone)
			continue;
		pthread_rwlock_rdlock(&pod->conn_lock);
		if (pod->conn) {
			pthread_mutex_lock(&pod->ctl_lock);
			for (unsigned d = 0; d < ndone; d++)
				r->tp->drain_done(pod->conn, done[d]);
			pthread_mutex_unlock(&pod->ctl_lock);
		}
		pthread_rwlock_unlock(&pod->conn_lock);
		pvm_info("remote tier: pod %s drained (%u lease notice%s answered)",
			 pod->addr, ndone, ndone == 1 ? "" : "s");
	}
}

static void lease_ahead(struct remote_tier *r)
{
	uint64_t want = 0;
	unsigned npods = atomic_load(&r->npods);

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < npods; i++)
		if (remote_pod_wants_lease(r, r->pods[i]))
			want |= 1ull << i;
	pthread_mutex_unlock(&r->lock);
	lease_on_pods(r, want);
}

static void refresh_discovery(struct remote_tier *r)
{
	struct remote_pod_addr addrs[REMOTE_MAX_PODS];
	size_t n = 0;

	if (remote_discovery_list(r->discovery, addrs, REMOTE_MAX_PODS, &n))
		return;
	if (remote_discovery_authoritative(r->discovery)) {
		unsigned npods = atomic_load(&r->npods);

		for (unsigned k = 0; k < npods; k++) {
			struct remote_pod *p = r->pods[k];
			bool listed = false;

			for (size_t i = 0; i < n && !listed; i++)
				listed = !strcmp(p->addr, addrs[i].text);
			if (listed && atomic_exchange(&p->retired, false))
				pvm_info("remote tier: pod %s is listed again", p->addr);
			if (listed || atomic_exchange(&p->retired, true))
				continue;
			pvm_info("remote tier: pod %s left the registry (its lease "
				 "expired or it was deregistered): treating it as lost",
				 p->addr);
			remote_pod_fail(r, p, atomic_load(&p->incarnation),
					"it left the pod registry", 0);
		}
	}
	for (size_t i = 0; i < n; i++) {
		unsigned npods = atomic_load(&r->npods), k;
		struct remote_pod *p;

		for (k = 0; k < npods; k++)
			if (!strcmp(r->pods[k]->addr, addrs[i].text))
				break;
		if (k < npods) {
			pthread_mutex_lock(&r->lock);
			r->pods[k]->quota = remote_discovery_quota(r->discovery,
								   addrs[i].text);
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		if (remote_pod_add(r, addrs[i].text, &p))
			continue;
		pthread_mutex_lock(&r->lock);
		p->quota = remote_discovery_quota(r->discovery, p->addr);
		pthread_mutex_unlock(&r->lock);
		pvm_info("remote tier: discovered pod %s", p->addr);
		if (remote_thread_start(&p->monitor, remote_pod_monitor, p,
					"pvm-rmon") == 0)
			p->monitor_started = true;
	}
}

void *remote_repair_main(void *arg)
{
	struct repair_ctx *x = calloc(1, sizeof(*x));
	struct remote_tier *r = arg;
	void *buf = NULL;

	if (!x || posix_memalign(&buf, PVM_PAGE_SIZE, REPAIR_BATCH * PVM_PAGE_SIZE)) {
		pvm_err("remote tier: repair thread: out of memory; lost replicas "
			"will not be rebuilt");
		free(x);
		return NULL;
	}
	x->r = r;
	x->buf = buf;
	while (!atomic_load(&r->stopping)) {
		struct timespec ts;
		unsigned ms = x->stuck ? REPAIR_RETRY_MS : REPAIR_IDLE_MS;
		bool wanted;

		ts = pvm_deadline_ms(CLOCK_MONOTONIC, ms);
		pthread_mutex_lock(&r->lock);
		if (!r->repair_wanted && !atomic_load(&r->stopping))
			pthread_cond_timedwait(&r->repair_cond, &r->lock, &ts);
		wanted = r->repair_wanted || x->stuck;
		r->repair_wanted = false;
		pthread_mutex_unlock(&r->lock);
		if (atomic_load(&r->stopping))
			break;
		if (remote_now_ns() >= r->next_discovery_ns) {
			refresh_discovery(r);
			r->next_discovery_ns = remote_now_ns() + DISCOVERY_PERIOD_NS;
		}
		lease_ahead(r);
		if (wanted) {
			x->stuck = false;
			repair_scan(x);
		}
		finish_drains(r);
	}
	free(buf);
	free(x);
	return NULL;
}
