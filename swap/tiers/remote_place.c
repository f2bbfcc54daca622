/* swap/tiers/remote_place.c — the remote tier's pods: connecting, leasing
 * chunks, choosing where a page goes, and declaring a pod dead.
 *
 * Placement: two random choices. Among the UP pods that may take a page
 * (free pages in a live chunk, or memory still to lease) and that hold no
 * other replica of the slot, pick two at random and keep the one with the
 * better score, free capacity / (measured RTT + 20 us). Random sampling
 * spreads load without global coordination; the score steers pages to
 * emptier and closer pods.
 */
#include "remote_internal.h"

#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RTT_DEFAULT_NS     (1000 * 1000ull)
#define LEASE_PROBE_NS     (30ull * 1000 * 1000 * 1000)
#define LEASE_RETRY_NS     (5ull * 1000 * 1000 * 1000)
#define CONNECT_BACKOFF_MIN_MS 250u
#define CONNECT_BACKOFF_MAX_MS 5000u

uint64_t remote_now_ns(void)
{
	return pvm_now_ns();
}

int remote_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
			const char *name)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!rc)
		pthread_setname_np(*t, name);
	return -rc;
}

static uint64_t rng_next(struct remote_tier *r)
{
	/* xorshift64*: plenty for choosing among pods. */
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return r->rng * 0x2545f4914f6cdd1dull;
}

/* ---- pages ---- */

/* Would one more lease stay within what we reserved on @p? tier->lock held. */
static bool within_quota(struct remote_tier *r, struct remote_pod *p)
{
	uint64_t leased = 0;

	if (p->quota == UINT64_MAX)
		return true;
	for (uint32_t i = 0; i < p->nchunks; i++) {
		int st = r->chunks[p->chunks[i]]->state;

		if (st == CHUNK_LIVE || st == CHUNK_DRAINING)
			leased += r->chunks[p->chunks[i]]->lease.size;
	}
	return leased + r->spec.lease_bytes <= p->quota;
}

static bool lease_allowed(struct remote_tier *r, struct remote_pod *p, uint64_t now)
{
	if (!within_quota(r, p))
		return false;
	if (p->leaseable >= r->spec.lease_bytes)
		return true;
	if (p->lease_probe_ns && now >= p->lease_probe_ns) {
		/* Memory may have been freed by other clients: try again. */
		p->leaseable = r->spec.lease_bytes;
		p->lease_probe_ns = 0;
		return true;
	}
	return false;
}

bool remote_pod_wants_lease(struct remote_tier *r, struct remote_pod *pod)
{
	bool has_live = false;

	if (atomic_load(&pod->state) != POD_UP)
		return false;
	for (uint32_t i = 0; i < pod->nchunks && !has_live; i++)
		has_live = r->chunks[pod->chunks[i]]->state == CHUNK_LIVE;
	return has_live && pod->free_pages < r->pages_per_chunk / 4 &&
	       lease_allowed(r, pod, remote_now_ns());
}

static double pod_score(struct remote_tier *r, struct remote_pod *p, bool can_lease)
{
	double cap = (double)p->free_pages;
	double rtt_us = (double)atomic_load(&p->rtt_ns) / 1000.0;

	if (can_lease)
		cap += (double)(p->leaseable / PVM_PAGE_SIZE);
	return (cap + 1.0) / (rtt_us + 20.0);
}

/* Lowest released page of @c at or after its scan cursor (wrapping), or
 * UINT32_MAX. Pages then come out in ascending runs. */
static uint32_t take_free(struct remote_tier *r, struct remote_chunk *c)
{
	uint32_t words = r->pages_per_chunk / 64;

	for (uint32_t k = 0; k < words && c->nfree; k++) {
		uint32_t w = (c->free_scan + k) % words;

		if (c->free[w]) {
			uint32_t bit = (uint32_t)__builtin_ctzll(c->free[w]);

			c->free[w] &= c->free[w] - 1;
			c->nfree--;
			c->free_scan = w;
			return w * 64 + bit;
		}
	}
	return UINT32_MAX;
}

/* Take one page from @p's live chunks: fresh pages first (they run on
 * contiguously), then released ones in ascending order, so runs of
 * neighbours come out together. */
static uint32_t take_page(struct remote_tier *r, struct remote_pod *p)
{
	for (int pass = 0; pass < 2; pass++)
	for (uint32_t i = 0; i < p->nchunks; i++) {
		uint32_t ci = p->chunks[i];
		struct remote_chunk *c = r->chunks[ci];
		uint32_t page;

		if (c->state != CHUNK_LIVE)
			continue;
		if (c->bump < r->pages_per_chunk) {
			page = c->bump++;
		} else if (pass == 1 && c->nfree) {
			page = take_free(r, c);
			if (page == UINT32_MAX)
				continue;
		} else {
			continue;
		}
		c->used++;
		p->free_pages--;
		p->pages_used++;
		return ci * r->pages_per_chunk + page;
	}
	return REMOTE_NO_PAGE;
}

uint32_t remote_place_page(struct remote_tier *r, uint64_t exclude, int *need_lease)
{
	unsigned cand[REMOTE_MAX_PODS], ncand = 0, npods = atomic_load(&r->npods);
	bool leasable[REMOTE_MAX_PODS];
	uint64_t now = remote_now_ns();
	unsigned a, b, best;

	*need_lease = -1;
	for (unsigned i = 0; i < npods; i++) {
		struct remote_pod *p = r->pods[i];
		bool can_lease;

		if ((exclude >> i) & 1 || atomic_load(&p->state) != POD_UP)
			continue;
		can_lease = lease_allowed(r, p, now);
		if (!p->free_pages && !can_lease)
			continue;
		leasable[i] = can_lease;
		cand[ncand++] = i;
	}
	if (!ncand)
		return REMOTE_NO_PAGE;
	a = cand[rng_next(r) % ncand];
	b = cand[rng_next(r) % ncand];
	if (ncand > 1)
		while (b == a)
			b = cand[rng_next(r) % ncand];
	best = pod_score(r, r->pods[b], leasable[b]) > pod_score(r, r->pods[a], leasable[a])
		? b : a;
	if (!r->pods[best]->free_pages) {
		*need_lease = (int)best;
		return REMOTE_NO_PAGE;
	}
	return take_page(r, r->pods[best]);
}

void remote_free_page(struct remote_tier *r, uint32_t gpage)
{
	struct remote_chunk *c;
	struct remote_pod *p;
	uint32_t page;

	if (gpage == REMOTE_NO_PAGE)
		return;
	c = remote_chunk_of(r, gpage);
	page = gpage % r->pages_per_chunk;
	if (c->state == CHUNK_DEAD || c->state == CHUNK_GONE)
		return;         /* its pod's accounting was reset at death */
	p = r->pods[c->pod];
	c->used--;
	p->pages_used--;
	if (c->state == CHUNK_DRAINING) {
		if (c->used == 0)
			remote_repair_kick(r);
		return;
	}
	if (!c->free) {
		c->free = calloc(r->pages_per_chunk / 64, sizeof(*c->free));
		if (!c->free)
			return;   /* the page is lost to this chunk, not to data */
	}
	c->free[page / 64] |= 1ull << (page % 64);
	c->nfree++;
	p->free_pages++;
}

uint32_t remote_place_next(struct remote_tier *r, uint32_t prev, uint64_t exclude)
{
	struct remote_chunk *c;
	struct remote_pod *p;
	uint32_t page;

	if (prev == REMOTE_NO_PAGE)
		return REMOTE_NO_PAGE;
	c = remote_chunk_of(r, prev);
	page = prev % r->pages_per_chunk + 1;
	p = r->pods[c->pod];
	if (c->state != CHUNK_LIVE || (exclude >> c->pod) & 1 ||
	    atomic_load(&p->state) != POD_UP || page >= r->pages_per_chunk)
		return REMOTE_NO_PAGE;
	if (c->bump == page)
		c->bump++;
	else if (c->nfree && (c->free[page / 64] >> (page % 64)) & 1) {
		c->free[page / 64] &= ~(1ull << (page % 64));
		c->nfree--;
	}
	else
		return REMOTE_NO_PAGE;
	c->used++;
	p->free_pages--;
	p->pages_used++;
	return prev + 1;
}

bool remote_page_readable(struct remote_tier *r, uint32_t gpage)
{
	struct remote_chunk *c;

	if (gpage == REMOTE_NO_PAGE)
		return false;
	c = remote_chunk_of(r, gpage);
	return c->state == CHUNK_LIVE || c->state == CHUNK_DRAINING;
}

bool remote_page_healthy(struct remote_tier *r, uint32_t gpage)
{
	struct remote_chunk *c;

	if (gpage == REMOTE_NO_PAGE)
		return false;
	c = remote_chunk_of(r, gpage);
	return c->state == CHUNK_LIVE && atomic_load(&r->pods[c->pod]->state) == POD_UP;
}

void remote_target_of(struct remote_tier *r, uint32_t gpage, struct remote_target *t)
{
	struct remote_chunk *c = remote_chunk_of(r, gpage);

	t->gpage = gpage;
	t->pod = c->pod;
	t->incarnation = atomic_load(&r->pods[c->pod]->incarnation);
	t->lease = c->lease;
	t->offset = (uint64_t)(gpage % r->pages_per_chunk) * PVM_PAGE_SIZE;
}

/* ---- leases ---- */

int remote_lease_chunk(struct remote_tier *r, struct remote_pod *pod)
{
	struct remote_lease lease = { 0 };
	unsigned inc = atomic_load(&pod->incarnation);
	struct remote_chunk *c;
	int rc;

	if (atomic_load(&pod->state) != POD_UP)
		return -ENOTCONN;
	pthread_mutex_lock(&r->lock);
	if (!within_quota(r, pod)) {
		pthread_mutex_unlock(&r->lock);
		return -ENOSPC;         /* our reservation there is used up */
	}
	pthread_mutex_unlock(&r->lock);
	pthread_rwlock_rdlock(&pod->conn_lock);
	if (!pod->conn) {
		pthread_rwlock_unlock(&pod->conn_lock);
		return -ENOTCONN;
	}
	pthread_mutex_lock(&pod->ctl_lock);
	rc = r->tp->lease(pod->conn, r->spec.lease_bytes, &lease);
	pthread_mutex_unlock(&pod->ctl_lock);
	pthread_rwlock_unlock(&pod->conn_lock);
	if (!rc && (lease.size < r->spec.lease_bytes || lease.id == 0))
		rc = -EPROTO;
	if (rc == -ENOTCONN) {
		/* The pod forgot us: our leases there are gone too. */
		remote_pod_fail(r, pod, inc, "it no longer knows this client", rc);
		return rc;
	}
	if (rc) {
		atomic_fetch_add(&r->lease_failures, 1);
		pthread_mutex_lock(&r->lock);
		pod->leaseable = 0;
		pod->lease_probe_ns = remote_now_ns() +
				      (rc == -ENOSPC ? LEASE_PROBE_NS : LEASE_RETRY_NS);
		pthread_mutex_unlock(&r->lock);
		if (rc != -ENOSPC)
			pvm_err("remote tier: pod %s: leasing %llu MiB failed: %s",
				pod->addr, (unsigned long long)(r->spec.lease_bytes >> 20),
				strerror(-rc));
		return rc;
	}
	c = calloc(1, sizeof(*c));
	pthread_mutex_lock(&r->lock);
	if (!c || atomic_load(&pod->incarnation) != inc ||
	    atomic_load(&pod->state) != POD_UP || r->nchunks >= r->max_chunks) {
		rc = !c ? -ENOMEM : r->nchunks >= r->max_chunks ? -ENOSPC : -ENOTCONN;
		goto undo;
	}
	if (r->nchunks == r->chunk_cap) {
		uint32_t cap = r->chunk_cap ? r->chunk_cap * 2 : 64;
		struct remote_chunk **t = realloc(r->chunks, cap * sizeof(*t));

		if (!t) {
			rc = -ENOMEM;
			goto undo;
		}
		r->chunks = t;
		r->chunk_cap = cap;
	}
	if (pod->nchunks == pod->chunk_cap) {
		uint32_t cap = pod->chunk_cap ? pod->chunk_cap * 2 : 16;
		uint32_t *t = realloc(pod->chunks, cap * sizeof(*t));

		if (!t) {
			rc = -ENOMEM;
			goto undo;
		}
		pod->chunks = t;
		pod->chunk_cap = cap;
	}
	c->pod = pod->index;
	c->lease = lease;
	c->state = CHUNK_LIVE;
	pod->chunks[pod->nchunks++] = r->nchunks;
	r->chunks[r->nchunks++] = c;
	pod->free_pages += r->pages_per_chunk;
	pod->leaseable -= PVM_MIN(pod->leaseable, lease.size);
	pthread_mutex_unlock(&r->lock);
	atomic_fetch_add(&r->leases, 1);
	return 0;

undo:
	pthread_mutex_unlock(&r->lock);
	free(c);
	pthread_rwlock_rdlock(&pod->conn_lock);
	if (pod->conn) {
		pthread_mutex_lock(&pod->ctl_lock);
		r->tp->release(pod->conn, lease.id);
		pthread_mutex_unlock(&pod->ctl_lock);
	}
	pthread_rwlock_unlock(&pod->conn_lock);
	return rc;
}

/* ---- pod life ---- */

int remote_pod_add(struct remote_tier *r, const char *addr, struct remote_pod **out)
{
	unsigned n = atomic_load(&r->npods);
	pthread_rwlockattr_t attr;
	struct remote_pod *p;

	if (n == REMOTE_MAX_PODS) {
		pvm_err("remote tier: more than %d pods; %s is ignored",
			REMOTE_MAX_PODS, addr);
		return -E2BIG;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->tier = r;
	p->index = n;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	pthread_rwlockattr_init(&attr);
	/* A failing pod's disconnect must not starve behind new readers. */
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&p->conn_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&p->ctl_lock, NULL);
	atomic_init(&p->state, POD_CONNECTING);
	atomic_init(&p->rtt_ns, RTT_DEFAULT_NS);
	p->connect_backoff_ms = CONNECT_BACKOFF_MIN_MS;
	p->quota = UINT64_MAX;
	atomic_init(&p->retired, false);
	pthread_mutex_lock(&r->lock);
	r->pods[n] = p;
	atomic_store(&r->npods, n + 1);
	pthread_mutex_unlock(&r->lock);
	*out = p;
	return 0;
}

/* Is another pod already connected to the pod called @id? */
static struct remote_pod *same_pod(struct remote_tier *r, struct remote_pod *pod,
				   const char *id)
{
	unsigned n = atomic_load(&r->npods);

	for (unsigned i = 0; i < n; i++) {
		struct remote_pod *o = r->pods[i];

		if (o != pod && atomic_load(&o->state) != POD_DEAD &&
		    atomic_load(&o->state) != POD_CONNECTING &&
		    !strcmp(o->pod_id, id))
			return o;
	}
	return NULL;
}

int remote_pod_connect(struct remote_tier *r, struct remote_pod *pod, bool loud)
{
	struct remote_connect_params params = {
		.address = pod->addr,
		.fabric = r->spec.fabric[0] ? r->spec.fabric : NULL,
		.secret_file = r->spec.secret,
		.client_id = r->spec.client_id,
		.timeout_ms = r->spec.timeout_ms,
	};
	struct remote_conn_info info = { 0 };
	struct remote_conn *conn = NULL, *old;
	struct remote_pod *dup;
	uint64_t rtt = 0, *orphans;
	uint32_t norphans;
	char err[256] = "";
	int rc;

	rc = r->tp->connect(&params, &conn, err, sizeof(err));
	if (rc) {
		if ((loud || rc == -EACCES) && strstr(err, pod->addr))
			pvm_err("remote tier: %s", err);
		else if (loud || rc == -EACCES)
			pvm_err("remote tier: pod %s: %s", pod->addr,
				err[0] ? err : strerror(-rc));
		return rc;
	}
	rc = r->tp->info(conn, &info);
	if (rc) {
		pvm_err("remote tier: pod %s: no pod information: %s", pod->addr,
			strerror(-rc));
		r->tp->close(conn);
		return rc;
	}
	pthread_mutex_lock(&r->lock);
	dup = same_pod(r, pod, info.pod_id);
	pthread_mutex_unlock(&r->lock);
	if (dup) {
		pvm_err("remote tier: %s and %s are the same pod (%s); replicas "
			"must be on distinct pods: %s is not used",
			dup->addr, pod->addr, info.pod_id, pod->addr);
		r->tp->close(conn);
		return -EEXIST;
	}
	if (r->tp->heartbeat(conn, &rtt) || rtt == 0)
		rtt = RTT_DEFAULT_NS;

	pthread_rwlock_wrlock(&pod->conn_lock);
	old = pod->conn;
	pod->conn = conn;
	if (old)
		r->tp->close(old);
	pthread_mutex_lock(&r->lock);
	snprintf(pod->pod_id, sizeof(pod->pod_id), "%s", info.pod_id);
	orphans = pod->orphans;
	norphans = pod->norphans;
	pod->orphans = NULL;
	pod->norphans = 0;
	pod->leaseable = info.mem_free;
	pod->lease_probe_ns = 0;
	atomic_store(&pod->rtt_ns, rtt);
	atomic_store(&pod->last_ok_ns, remote_now_ns());
	if (atomic_load(&pod->state) == POD_DEAD)
		atomic_fetch_add(&pod->reconnects, 1);
	atomic_store(&pod->state, POD_UP);
	remote_repair_kick(r);          /* degraded slots may fit again */
	pthread_mutex_unlock(&r->lock);
	/* Leases of the dead incarnation: give them back if the pod still
	 * holds them (a cut link, not a crash). Errors mean nothing here. */
	pthread_mutex_lock(&pod->ctl_lock);
	for (uint32_t i = 0; i < norphans; i++)
		r->tp->release(conn, orphans[i]);
	pthread_mutex_unlock(&pod->ctl_lock);
	pthread_rwlock_unlock(&pod->conn_lock);
	free(orphans);
	return 0;
}

void remote_pod_fail(struct remote_tier *r, struct remote_pod *pod,
		     unsigned incarnation, const char *why, int err)
{
	uint64_t lost = 0;
	bool mine = false;

	pthread_mutex_lock(&r->lock);
	if (atomic_load(&pod->incarnation) == incarnation &&
	    atomic_load(&pod->state) != POD_DEAD) {
		uint64_t *orph = realloc(pod->orphans,
					 (pod->norphans + pod->nchunks + 1) *
					 sizeof(*orph));

		mine = true;
		lost = pod->pages_used;
		atomic_store(&pod->state, POD_DEAD);
		atomic_fetch_add(&pod->incarnation, 1);
		atomic_fetch_add(&pod->deaths, 1);
		if (orph)
			pod->orphans = orph;
		for (uint32_t i = 0; i < pod->nchunks; i++) {
			struct remote_chunk *c = r->chunks[pod->chunks[i]];

			if (orph && c->state != CHUNK_GONE)
				pod->orphans[pod->norphans++] = c->lease.id;
			c->state = CHUNK_DEAD;
			free(c->free);
			c->free = NULL;
			c->nfree = 0;
		}
		pod->nchunks = 0;
		pod->free_pages = 0;
		pod->pages_used = 0;
		pod->drain_all = false;
		remote_repair_kick(r);
	}
	pthread_mutex_unlock(&r->lock);
	if (mine && lost)
		pvm_err("remote tier: pod %s%s%s%s is dead: %s%s%s; the %llu "
			"replicas it held will be rebuilt on other pods",
			pod->addr, pod->pod_id[0] ? " (" : "", pod->pod_id,
			pod->pod_id[0] ? ")" : "", why, err ? ": " : "",
			err ? strerror(err < 0 ? -err : err) : "",
			(unsigned long long)lost);
	else if (mine)
		pvm_info("remote tier: pod %s%s%s%s is gone: %s%s%s; it held no "
			 "replicas", pod->addr, pod->pod_id[0] ? " (" : "",
			 pod->pod_id, pod->pod_id[0] ? ")" : "", why,
			 err ? ": " : "", err ? strerror(err < 0 ? -err : err) : "");
	/* Close the connection before returning, whoever declared the death:
	 * until it is closed, operations that timed out may still write into
	 * their buffers, which the caller is about to reuse. */
	pthread_rwlock_wrlock(&pod->conn_lock);
	if (pod->conn && atomic_load(&pod->state) == POD_DEAD) {
		r->tp->close(pod->conn);
		pod->conn = NULL;
	}
	pthread_rwlock_unlock(&pod->conn_lock);
}

int remote_pod_io(struct remote_tier *r, struct remote_pod *pod, unsigned incarnation,
		  const struct remote_lease *lease, struct remote_page_op *ops,
		  size_t n, bool write)
{
	uint64_t ok = 0;
	int rc;

	pthread_rwlock_rdlock(&pod->conn_lock);
	if (!pod->conn || atomic_load(&pod->incarnation) != incarnation ||
	    atomic_load(&pod->state) == POD_DEAD) {
		pthread_rwlock_unlock(&pod->conn_lock);
		for (size_t i = 0; i < n; i++)
			ops[i].result = -ENOTCONN;
		return -ENOTCONN;
	}
	rc = write ? r->tp->write(pod->conn, lease, ops, n)
		   : r->tp->read(pod->conn, lease, ops, n);
	pthread_rwlock_unlock(&pod->conn_lock);
	for (size_t i = 0; i < n; i++) {
		if (ops[i].result == 0)
			ok++;
		else if (!rc)
			rc = ops[i].result;
	}
	if (ok) {
		atomic_fetch_add(write ? &pod->pages_written : &pod->pages_read, ok);
		atomic_store(&pod->last_ok_ns, remote_now_ns());
	}
	if (rc) {
		atomic_fetch_add(&pod->rma_errors, 1);
		remote_pod_fail(r, pod, incarnation,
				write ? "a page write failed" : "a page read failed", rc);
	}
	return rc;
}

/* ---- monitor thread: heartbeats, events, reconnects ---- */

static void handle_drain(struct remote_tier *r, struct remote_pod *pod,
			 const struct remote_event *ev)
{
	uint64_t pages = 0;
	bool known = ev->lease_id == 0;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < pod->nchunks; i++) {
		struct remote_chunk *c = r->chunks[pod->chunks[i]];

		if (ev->lease_id && c->lease.id != ev->lease_id)
			continue;
		known = true;
		if (ev->lease_id)
			c->drain_ack = true;
		if (c->state == CHUNK_LIVE) {
			pod->free_pages -= (r->pages_per_chunk - c->bump) + c->nfree;
			c->state = CHUNK_DRAINING;
			free(c->free);
			c->free = NULL;
			c->nfree = 0;
		}
		pages += c->used;
	}
	if (known) {
		if (ev->lease_id == 0) {
			atomic_store(&pod->state, POD_DRAINING);
			pod->drain_all = true;
		}
		remote_repair_kick(r);
	}
	pthread_mutex_unlock(&r->lock);
	if (!known) {
		/* Not ours (any more): nothing to move. */
		pthread_rwlock_rdlock(&pod->conn_lock);
		if (pod->conn) {
			pthread_mutex_lock(&pod->ctl_lock);
			r->tp->drain_done(pod->conn, ev->lease_id);
			pthread_mutex_unlock(&pod->ctl_lock);
		}
		pthread_rwlock_unlock(&pod->conn_lock);
		return;
	}
	if (ev->lease_id)
		pvm_info("remote tier: pod %s asks us to leave lease %llu within "
			 "%u ms: moving %llu pages to other pods", pod->addr,
			 (unsigned long long)ev->lease_id, ev->deadline_ms,
			 (unsigned long long)pages);
	else
		pvm_info("remote tier: pod %s asks us to leave all its leases "
			 "within %u ms: moving %llu pages to other pods", pod->addr,
			 ev->deadline_ms, (unsigned long long)pages);
}

static void monitor_sleep(struct remote_tier *r, unsigned ms)
{
	struct timespec ts;

	ts = pvm_deadline_ms(CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&r->lock);
	if (!atomic_load(&r->stopping))
		pthread_cond_timedwait(&r->stop_cond, &r->lock, &ts);
	pthread_mutex_unlock(&r->lock);
}

static void monitor_heartbeat(struct remote_tier *r, struct remote_pod *pod)
{
	unsigned inc = atomic_load(&pod->incarnation);
	struct remote_event ev;
	uint64_t rtt = 0, now;
	int rc = -ENOTCONN;

	pthread_rwlock_rdlock(&pod->conn_lock);
	if (pod->conn) {
		pthread_mutex_lock(&pod->ctl_lock);
		rc = r->tp->heartbeat(pod->conn, &rtt);
		pthread_mutex_unlock(&pod->ctl_lock);
	}
	pthread_rwlock_unlock(&pod->conn_lock);
	now = remote_now_ns();
	if (!rc) {
		uint64_t old = atomic_load(&pod->rtt_ns);

		atomic_store(&pod->last_ok_ns, now);
		atomic_store(&pod->rtt_ns, rtt ? (old * 7 + rtt) / 8 : old);
	} else {
		atomic_fetch_add(&pod->heartbeat_failures, 1);
		if (now - atomic_load(&pod->last_ok_ns) >=
		    (uint64_t)r->spec.dead_ms * 1000000ull) {
			char why[96];

			snprintf(why, sizeof(why), "no answer for %u ms",
				 r->spec.dead_ms);
			remote_pod_fail(r, pod, inc, why, rc);
			return;
		}
	}
	for (;;) {
		rc = -ENOTCONN;
		pthread_rwlock_rdlock(&pod->conn_lock);
		if (pod->conn) {
			pthread_mutex_lock(&pod->ctl_lock);
			rc = r->tp->poll_event(pod->conn, &ev);
			pthread_mutex_unlock(&pod->ctl_lock);
		}
		pthread_rwlock_unlock(&pod->conn_lock);
		if (rc)
			break;
		if (ev.type == REMOTE_EVENT_DRAIN)
			handle_drain(r, pod, &ev);
	}
}

void *remote_pod_monitor(void *arg)
{
	struct remote_pod *pod = arg;
	struct remote_tier *r = pod->tier;

	while (!atomic_load(&r->stopping)) {
		int state = atomic_load(&pod->state);
		uint64_t now = remote_now_ns();

		if (state == POD_DEAD || state == POD_CONNECTING) {
			if (atomic_load(&pod->retired)) {
				/* Gone from the registry: wait to be listed again. */
			} else if (now >= pod->next_connect_ns) {
				int rc = remote_pod_connect(r, pod, !pod->said_unreachable);

				if (rc) {
					pod->said_unreachable = true;
					pod->next_connect_ns = now +
						pod->connect_backoff_ms * 1000000ull;
					pod->connect_backoff_ms = PVM_MIN(
						pod->connect_backoff_ms * 2,
						CONNECT_BACKOFF_MAX_MS);
				} else {
					if (pod->said_unreachable || state == POD_DEAD)
						pvm_info("remote tier: pod %s (%s) is up "
							 "again", pod->addr, pod->pod_id);
					pod->said_unreachable = false;
					pod->connect_backoff_ms = CONNECT_BACKOFF_MIN_MS;
				}
			}
		} else {
			monitor_heartbeat(r, pod);
		}
		monitor_sleep(r, PVM_MIN(r->spec.heartbeat_ms,
					 state == POD_DEAD || state == POD_CONNECTING
					 ? CONNECT_BACKOFF_MIN_MS : r->spec.heartbeat_ms));
	}
	return NULL;
}

void remote_pod_destroy(struct remote_tier *r, struct remote_pod *pod)
{
	if (!pod)
		return;
	if (pod->conn) {
		/* Hand the leases back now rather than at the pod's client
		 * timeout; stop at the first failure (the pod is unreachable). */
		int rc = 0;

		for (uint32_t i = 0; i < pod->nchunks && rc != -ETIMEDOUT; i++) {
			struct remote_chunk *c = r->chunks[pod->chunks[i]];

			if (c->state == CHUNK_LIVE || c->state == CHUNK_DRAINING)
				rc = r->tp->release(pod->conn, c->lease.id);
		}
		for (uint32_t i = 0; i < pod->norphans && rc != -ETIMEDOUT; i++)
			rc = r->tp->release(pod->conn, pod->orphans[i]);
		r->tp->close(pod->conn);
	}
	free(pod->chunks);
	free(pod->orphans);
	pthread_rwlock_destroy(&pod->conn_lock);
	pthread_mutex_destroy(&pod->ctl_lock);
	free(pod);
}
