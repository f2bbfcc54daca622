/* swap/tiers/remote.c — "remote:pods=H:P+H:P,secret=F[,replicas=N]...":
 * evicted pages kept on memory pods on other hosts, N copies each.
 *
 * Concepts (docs/remote-tier.md has the whole story):
 * - alloc() reserves, for each slot, one page on each of N distinct live
 *   pods, chosen by two random choices weighted by free capacity and RTT;
 *   pages come from chunks leased lazily (lease=64M at a time). Fewer than
 *   N pods with space: -ENOSPC, and the pager tries its next tier.
 * - store() writes every replica (one batched, delivery-complete write per
 *   pod lease) and reports 0 only when all N were delivered. load() reads
 *   the fastest live replica and fails over to the others.
 * - Threads: one monitor per pod (heartbeats every heartbeat=500 ms, DRAIN
 *   notices, reconnects; a pod silent for dead=3000 ms, or failing an RMA,
 *   is dead), one repair thread (rebuilds lost replicas on other pods,
 *   moves replicas off draining pods, leases ahead), and with backup= one
 *   backup thread that copies every stored page to the backup tier, never
 *   on the store path. load() falls back to the backup only when no
 *   replica is left; a page in neither place fails with -EIO.
 * - Thread safety: load/store/alloc/release may run in several threads at
 *   once; see remote_internal.h for the locks.
 */
#include "remote_internal.h"

#include "common.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct remote_transport_ops *test_transport;

void remote_set_transport_for_tests(const struct remote_transport_ops *ops)
{
	test_transport = ops;
}

void remote_repair_kick(struct remote_tier *r)
{
	r->repair_wanted = true;
	pthread_cond_signal(&r->repair_cond);
}

/* tier_slots grow callback (slot allocator's lock held): segments for
 * slots below @new_high. */
static int remote_grow(void *ctx, uint64_t new_high)
{
	struct remote_tier *r = ctx;
	size_t rep_bytes = (size_t)REMOTE_SEG_SLOTS * r->spec.replicas * sizeof(uint32_t);

	for (uint64_t seg = 0; seg < (new_high + REMOTE_SEG_SLOTS - 1) >> REMOTE_SEG_SHIFT;
	     seg++) {
		struct remote_seg *s;

		if (atomic_load(&r->segs[seg]))
			continue;
		s = malloc(sizeof(*s) + rep_bytes);
		if (!s)
			return -ENOMEM;
		memset(s->gen, 0, sizeof(s->gen));
		memset(s->flags, 0, sizeof(s->flags));
		memset(s->backup, 0xff, sizeof(s->backup));
		memset(s->rep, 0xff, rep_bytes);
		atomic_store_explicit(&r->segs[seg], s, memory_order_release);
	}
	return 0;
}

/* Undo the first @n slots' placements (tier->lock held). */
static void unplace(struct remote_tier *r, const uint64_t *slots, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t *reps = remote_reps(r, slots[i]);
		struct remote_seg *s = remote_seg(r, slots[i]);

		for (unsigned k = 0; k < r->spec.replicas; k++) {
			remote_free_page(r, reps[k]);
			reps[k] = REMOTE_NO_PAGE;
		}
		s->flags[SEG_IDX(slots[i])] = 0;
		s->gen[SEG_IDX(slots[i])]++;
	}
}

static int remote_alloc(struct swap_tier *tier, uint64_t *slots, size_t n)
{
	struct remote_tier *r = to_remote(tier);
	unsigned live = 0;
	int rc;

	rc = tier_slots_alloc(&r->slots, slots, n, remote_grow, r);
	if (rc)
		return rc;
	/* Place; when a chosen pod must lease first, lease and start over. */
	for (int attempt = 0; attempt < 64; attempt++) {
		uint64_t lease_on = 0;
		size_t done = 0;
		bool failed = false;

		pthread_mutex_lock(&r->lock);
		for (; done < n; done++) {
			uint32_t *reps = remote_reps(r, slots[done]);
			uint64_t exclude = 0;
			unsigned k;

			for (k = 0; k < r->spec.replicas; k++) {
				int need = -1;

				reps[k] = remote_place_page(r, exclude, &need);
				if (reps[k] == REMOTE_NO_PAGE) {
					if (need >= 0)
						lease_on |= 1ull << need;
					break;
				}
				exclude |= 1ull << remote_chunk_of(r, reps[k])->pod;
			}
			remote_seg(r, slots[done])->flags[SEG_IDX(slots[done])] =
				SLOT_ALLOCATED;
			if (k < r->spec.replicas) {
				done++;     /* undo this one too */
				failed = true;
				break;
			}
		}
		if (!failed) {
			pthread_mutex_unlock(&r->lock);
			return 0;
		}
		unplace(r, slots, done);
		pthread_mutex_unlock(&r->lock);
		/* A lease that fails marks its pod full or dead, so the next
		 * attempt places elsewhere: go on while some pod needs one. */
		for (unsigned i = 0; i < REMOTE_MAX_PODS; i++)
			if ((lease_on >> i) & 1)
				remote_lease_chunk(r, r->pods[i]);
		if (!lease_on)
			break;
	}
	tier_slots_release(&r->slots, slots, n);
	for (unsigned i = 0; i < atomic_load(&r->npods); i++)
		live += atomic_load(&r->pods[i]->state) == POD_UP;
	pthread_mutex_lock(&r->lock);
	if (!r->said_enospc) {
		r->said_enospc = true;
		pthread_mutex_unlock(&r->lock);
		pvm_err("remote tier: no room for %zu pages x %u replicas: %u of "
			"%u pods are up and fewer than %u of them have space",
			n, r->spec.replicas, live, atomic_load(&r->npods),
			r->spec.replicas);
	} else {
		pthread_mutex_unlock(&r->lock);
	}
	return -ENOSPC;
}

static void remote_release(struct swap_tier *tier, const uint64_t *slots, size_t n)
{
	struct remote_tier *r = to_remote(tier);
	uint32_t *forget = malloc(n * sizeof(*forget));
	size_t nforget = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		struct remote_seg *s;
		uint32_t *reps;
		size_t x = SEG_IDX(slots[i]);

		if (slots[i] >= REMOTE_MAX_SLOTS || !(s = remote_seg(r, slots[i])) ||
		    !(s->flags[x] & SLOT_ALLOCATED))
			continue;
		reps = remote_reps(r, slots[i]);
		for (unsigned k = 0; k < r->spec.replicas; k++) {
			remote_free_page(r, reps[k]);
			reps[k] = REMOTE_NO_PAGE;
		}
		s->flags[x] = 0;
		s->gen[x]++;
		if (s->backup[x] != REMOTE_NO_PAGE) {
			if (forget)
				forget[nforget++] = s->backup[x];
			s->backup[x] = REMOTE_NO_PAGE;
		}
	}
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < nforget; i++)
		remote_backup_forget(r, forget[i]);
	free(forget);
	tier_slots_release(&r->slots, slots, n);
}

static int remote_store(struct swap_tier *tier, struct swap_io *ios, size_t n)
{
	return remote_store_batch(to_remote(tier), ios, n);
}

static int remote_load(struct swap_tier *tier, struct swap_io *ios, size_t n)
{
	return remote_load_batch(to_remote(tier), ios, n);
}

static void remote_stats(struct swap_tier *tier, struct swap_tier_stats *out)
{
	struct remote_tier *r = to_remote(tier);
	uint64_t room = 0;

	out->slots_used = tier_slots_used(&r->slots);
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < atomic_load(&r->npods); i++) {
		struct remote_pod *p = r->pods[i];

		if (atomic_load(&p->state) == POD_UP)
			room += p->free_pages + p->leaseable / PVM_PAGE_SIZE;
	}
	pthread_mutex_unlock(&r->lock);
	out->slots_total = out->slots_used + room / r->spec.replicas;
	out->stores = atomic_load(&r->stores);
	out->loads = atomic_load(&r->loads);
	out->store_errors = atomic_load(&r->store_errors);
	out->load_errors = atomic_load(&r->load_errors);
}

static const char *const state_names[] = { "connecting", "up", "draining", "dead" };

int swap_tier_remote_stats(struct swap_tier *tier, struct swap_tier_remote_stats *out)
{
	struct remote_tier *r;
	uint64_t high;

	if (!tier || tier->ops != &swap_tier_remote_ops)
		return -EINVAL;
	r = to_remote(tier);
	memset(out, 0, sizeof(*out));
	out->replicas = r->spec.replicas;
	pthread_mutex_lock(&r->slots.lock);
	high = r->slots.high;
	pthread_mutex_unlock(&r->slots.lock);
	for (uint64_t base = 0; base < high; base += REMOTE_SEG_SLOTS) {
		pthread_mutex_lock(&r->lock);
		for (uint64_t slot = base; slot < PVM_MIN(high, base + REMOTE_SEG_SLOTS);
		     slot++) {
			struct remote_seg *s = remote_seg(r, slot);
			const uint32_t *reps = remote_reps(r, slot);
			unsigned healthy = 0, readable = 0;

			if (!(s->flags[SEG_IDX(slot)] & SLOT_VALID))
				continue;
			out->slots++;
			for (unsigned k = 0; k < r->spec.replicas; k++) {
				healthy += remote_page_healthy(r, reps[k]);
				readable += remote_page_readable(r, reps[k]);
			}
			out->replicas_healthy += healthy;
			if (!readable)
				out->slots_unreplicated++;
			else if (healthy < r->spec.replicas)
				out->slots_degraded++;
		}
		pthread_mutex_unlock(&r->lock);
	}
	out->rebuilds = atomic_load(&r->rebuilds);
	out->rebuild_failures = atomic_load(&r->rebuild_failures);
	out->drained_pages = atomic_load(&r->drained_pages);
	out->read_failovers = atomic_load(&r->read_failovers);
	out->replica_retries = atomic_load(&r->replica_retries);
	out->lost_loads = atomic_load(&r->lost_loads);
	out->leases = atomic_load(&r->leases);
	out->lease_failures = atomic_load(&r->lease_failures);
	out->backup_writes = atomic_load(&r->backup_writes);
	out->backup_errors = atomic_load(&r->backup_errors);
	out->backup_loads = atomic_load(&r->backup_loads);
	out->backup_pending = remote_backup_pending(r);
	out->npods = PVM_MIN(atomic_load(&r->npods), SWAP_REMOTE_STATS_PODS);
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < out->npods; i++) {
		struct remote_pod *p = r->pods[i];
		struct swap_tier_remote_pod_stats *ps = &out->pods[i];

		snprintf(ps->addr, sizeof(ps->addr), "%s", p->addr);
		snprintf(ps->pod_id, sizeof(ps->pod_id), "%s", p->pod_id);
		ps->state = state_names[atomic_load(&p->state)];
		ps->rtt_ns = atomic_load(&p->rtt_ns);
		for (uint32_t c = 0; c < p->nchunks; c++)
			if (r->chunks[p->chunks[c]]->state != CHUNK_GONE)
				ps->leased_bytes += r->chunks[p->chunks[c]]->lease.size;
		ps->pages = p->pages_used;
		ps->pages_read = atomic_load(&p->pages_read);
		ps->pages_written = atomic_load(&p->pages_written);
		ps->deaths = atomic_load(&p->deaths);
		ps->reconnects = atomic_load(&p->reconnects);
		ps->rma_errors = atomic_load(&p->rma_errors);
		ps->heartbeat_failures = atomic_load(&p->heartbeat_failures);
	}
	pthread_mutex_unlock(&r->lock);
	/* Connection counters: no tier lock around transport calls. */
	for (unsigned i = 0; i < out->npods && r->tp->counters; i++) {
		struct remote_pod *p = r->pods[i];

		pthread_rwlock_rdlock(&p->conn_lock);
		if (p->conn)
			r->tp->counters(p->conn, &out->pods[i].rma_read_ops,
					&out->pods[i].rma_write_ops);
		pthread_rwlock_unlock(&p->conn_lock);
	}
	return 0;
}

static void put(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

/* The "remote" object of this tier in --stats-json (docs/operating.md). */
static void remote_stats_json(struct swap_tier *tier, struct json_object *obj)
{
	struct swap_tier_remote_stats *s = malloc(sizeof(*s));
	json_object *o, *pods;

	if (!s || swap_tier_remote_stats(tier, s)) {
		free(s);
		return;
	}
	o = json_object_new_object();
	put(o, "replicas", s->replicas);
	put(o, "slots", s->slots);
	put(o, "replicas_healthy", s->replicas_healthy);
	put(o, "slots_degraded", s->slots_degraded);
	put(o, "slots_unreplicated", s->slots_unreplicated);
	put(o, "rebuilds", s->rebuilds);
	put(o, "rebuild_failures", s->rebuild_failures);
	put(o, "drained_pages", s->drained_pages);
	put(o, "read_failovers", s->read_failovers);
	put(o, "replica_retries", s->replica_retries);
	put(o, "lost_loads", s->lost_loads);
	put(o, "leases", s->leases);
	put(o, "lease_failures", s->lease_failures);
	put(o, "backup_writes", s->backup_writes);
	put(o, "backup_errors", s->backup_errors);
	put(o, "backup_loads", s->backup_loads);
	put(o, "backup_pending", s->backup_pending);
	pods = json_object_new_array();
	for (unsigned i = 0; i < s->npods; i++) {
		const struct swap_tier_remote_pod_stats *ps = &s->pods[i];
		json_object *p = json_object_new_object();

		json_object_object_add(p, "addr", json_object_new_string(ps->addr));
		json_object_object_add(p, "pod_id", json_object_new_string(ps->pod_id));
		json_object_object_add(p, "state", json_object_new_string(ps->state));
		json_object_object_add(p, "rtt_us",
				       json_object_new_double((double)ps->rtt_ns / 1000.0));
		put(p, "leased_bytes", ps->leased_bytes);
		put(p, "pages", ps->pages);
		put(p, "pages_read", ps->pages_read);
		put(p, "pages_written", ps->pages_written);
		put(p, "rma_read_ops", ps->rma_read_ops);
		put(p, "rma_write_ops", ps->rma_write_ops);
		put(p, "deaths", ps->deaths);
		put(p, "reconnects", ps->reconnects);
		put(p, "rma_errors", ps->rma_errors);
		put(p, "heartbeat_failures", ps->heartbeat_failures);
		json_object_array_add(pods, p);
	}
	json_object_object_add(o, "pods", pods);
	json_object_object_add(obj, "remote", o);
	free(s);
}

char *swap_tier_remote_summary(struct swap_tier *tier, char *buf, size_t len)
{
	struct swap_tier_remote_stats *s = malloc(sizeof(*s));
	size_t used;

	if (!s || swap_tier_remote_stats(tier, s)) {
		snprintf(buf, len, "remote tier: no stats");
		free(s);
		return buf;
	}
	used = (size_t)snprintf(buf, len,
		"remote tier: slots=%llu replicas=%u healthy=%llu degraded=%llu "
		"unreplicated=%llu rebuilds=%llu drained=%llu failovers=%llu "
		"lost=%llu backup_writes=%llu backup_loads=%llu",
		(unsigned long long)s->slots, s->replicas,
		(unsigned long long)s->replicas_healthy,
		(unsigned long long)s->slots_degraded,
		(unsigned long long)s->slots_unreplicated,
		(unsigned long long)s->rebuilds, (unsigned long long)s->drained_pages,
		(unsigned long long)s->read_failovers, (unsigned long long)s->lost_loads,
		(unsigned long long)s->backup_writes, (unsigned long long)s->backup_loads);
	for (unsigned i = 0; i < s->npods && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used,
			" pod%u=%s:%s:rtt=%lluus:pages=%llu", i, s->pods[i].addr,
			s->pods[i].state,
			(unsigned long long)(s->pods[i].rtt_ns / 1000),
			(unsigned long long)s->pods[i].pages);
	free(s);
	return buf;
}

/* Errors that say "try later", not "this configuration cannot work". */
static bool transient(int rc)
{
	switch (-rc) {
	case ETIMEDOUT: case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH:
	case ECONNRESET: case ENOTCONN: case EAGAIN: case EIO: case EPIPE:
	case EHOSTDOWN: case ECONNABORTED: case EBUSY: case EEXIST: case ESHUTDOWN:
		return true;
	default:
		return false;
	}
}

static void remote_free(struct remote_tier *r)
{
	char line[4096];

	atomic_store(&r->stopping, true);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->stop_cond);
	pthread_cond_broadcast(&r->repair_cond);
	pthread_mutex_unlock(&r->lock);
	for (unsigned i = 0; i < atomic_load(&r->npods); i++)
		if (r->pods[i]->monitor_started)
			pthread_join(r->pods[i]->monitor, NULL);
	if (r->repair_started)
		pthread_join(r->repair_thread, NULL);
	pthread_mutex_lock(&r->io_lock);
	r->io_stopping = true;
	pthread_cond_broadcast(&r->io_cond);
	pthread_mutex_unlock(&r->io_lock);
	for (unsigned i = 0; i < r->io_workers; i++)
		pthread_join(r->io_threads[i], NULL);
	remote_backup_close(r);         /* joins its thread, closes the tier */
	if (r->base.ops && atomic_load(&r->stores))
		pvm_info("%s", swap_tier_remote_summary(&r->base, line, sizeof(line)));
	for (unsigned i = 0; i < atomic_load(&r->npods); i++)
		remote_pod_destroy(r, r->pods[i]);
	for (uint32_t i = 0; i < r->nchunks; i++) {
		free(r->chunks[i]->free);
		free(r->chunks[i]);
	}
	free(r->chunks);
	if (r->segs) {
		for (uint64_t i = 0; i < (REMOTE_MAX_SLOTS >> REMOTE_SEG_SHIFT); i++)
			free(atomic_load(&r->segs[i]));
		free((void *)r->segs);
	}
	remote_discovery_close(r->discovery);
	tier_slots_destroy(&r->slots);
	pthread_cond_destroy(&r->repair_cond);
	pthread_cond_destroy(&r->stop_cond);
	pthread_cond_destroy(&r->backup_cond);
	pthread_mutex_destroy(&r->backup_lock);
	pthread_cond_destroy(&r->io_cond);
	pthread_mutex_destroy(&r->io_lock);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Connect every pod once, loudly. 0, or a configuration error. */
static int connect_all(struct remote_tier *r)
{
	unsigned up = 0, n = atomic_load(&r->npods);

	for (unsigned i = 0; i < n; i++) {
		int rc = remote_pod_connect(r, r->pods[i], true);

		if (!rc) {
			up++;
			continue;
		}
		if (!transient(rc)) {
			if (rc == -EACCES || rc == -EPERM)
				pvm_err("remote tier: pod %s refused us: check that "
					"secret=%s is the file the pods use",
					r->pods[i]->addr, r->spec.secret);
			return rc;
		}
		r->pods[i]->said_unreachable = true;
	}
	if (!up) {
		pvm_err("remote tier: none of the %u pods listed could be reached; "
			"start them first (poolvm pod --listen HOST:PORT ...)", n);
		return -EHOSTUNREACH;
	}
	if (up < r->spec.replicas)
		pvm_err("remote tier: only %u of %u pods are up and replicas=%u: "
			"pages go to the next tier until %u pods are up", up, n,
			r->spec.replicas, r->spec.replicas);
	return 0;
}

static int start_threads(struct remote_tier *r)
{
	int rc;

	for (unsigned i = 0; i < atomic_load(&r->npods); i++) {
		struct remote_pod *p = r->pods[i];

		rc = remote_thread_start(&p->monitor, remote_pod_monitor, p, "pvm-rmon");
		if (rc)
			return rc;
		p->monitor_started = true;
	}
	rc = remote_thread_start(&r->repair_thread, remote_repair_main, r,
				 "pvm-rrepair");
	if (rc)
		return rc;
	r->repair_started = true;
	/* Helpers for writes to several pods at once: one fewer than the
	 * pods a store batch touches (the caller does one group itself), and
	 * only where CPUs are plentiful: on two cores the tcp provider is
	 * CPU-bound, and helpers polling beside the fault threads doubled the
	 * median fault time for no gain (docs/remote-tier.md). */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned want = atomic_load(&r->npods) - 1;

	want = PVM_MIN(want, REMOTE_IO_WORKERS);
	want = PVM_MIN(want, cpus > 0 ? (unsigned)(cpus / 4) : 0u);
	for (unsigned i = 0; i < want; i++) {
		rc = remote_thread_start(&r->io_threads[i], remote_io_worker, r,
					 "pvm-rio");
		if (rc)
			return rc;
		r->io_workers++;
	}
	return 0;
}

static int remote_open_masked(const char *arg, struct swap_tier **out);

/* Open with every signal blocked, so that nothing this opens (threads of
 * ours or of the transport) can take a signal meant for the process. */
static int remote_open(const char *arg, struct swap_tier **out)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = remote_open_masked(arg, out);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int remote_open_masked(const char *arg, struct swap_tier **out)
{
	struct remote_pod_addr addrs[REMOTE_MAX_PODS];
	pthread_condattr_t ca;
	struct remote_tier *r;
	char size[32];
	size_t naddrs = 0;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	rc = remote_spec_parse(arg, &r->spec);
	if (rc) {
		free(r);
		return rc;
	}
	r->tp = test_transport ? test_transport : remote_transport_pod;
	if (!r->tp) {
		pvm_err("remote tier: this poolvm was built without the pod client "
			"library (pods/), so it cannot reach memory pods");
		free(r);
		return -ENOTSUP;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->backup_lock, NULL);
	pthread_mutex_init(&r->io_lock, NULL);
	pthread_cond_init(&r->io_cond, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->repair_cond, &ca);
	pthread_cond_init(&r->stop_cond, &ca);
	pthread_cond_init(&r->backup_cond, &ca);
	pthread_condattr_destroy(&ca);
	r->base.ops = &swap_tier_remote_ops;
	r->pages_per_chunk = (uint32_t)(r->spec.lease_bytes / PVM_PAGE_SIZE);
	r->max_chunks = (REMOTE_NO_PAGE - 1) / r->pages_per_chunk;
	r->rng = remote_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	r->segs = calloc(REMOTE_MAX_SLOTS >> REMOTE_SEG_SHIFT, sizeof(*r->segs));
	rc = r->segs ? tier_slots_init(&r->slots, REMOTE_MAX_SLOTS, 0) : -ENOMEM;
	if (rc)
		goto err;
	rc = remote_discovery_open(r->spec.discovery, r->spec.pods, &r->discovery);
	if (rc)
		goto err;
	if (r->spec.reserve_bytes) {
		struct remote_discovery_need need = {
			.bytes = r->spec.reserve_bytes,
			.copies = r->spec.replicas,
			.unit = r->spec.lease_bytes,
			.client_id = r->spec.client_id,
		};

		rc = remote_discovery_reserve(r->discovery, &need);
		if (rc)
			goto err;
	}
	rc = remote_discovery_list(r->discovery, addrs, REMOTE_MAX_PODS, &naddrs);
	for (size_t i = 0; !rc && i < naddrs; i++) {
		struct remote_pod *p;

		rc = remote_pod_add(r, addrs[i].text, &p);
		if (!rc)
			p->quota = remote_discovery_quota(r->discovery, p->addr);
	}
	if (!rc && naddrs == 0) {
		pvm_err("remote tier: discovery (%s) lists no pod", r->spec.discovery);
		rc = -EHOSTUNREACH;
	}
	if (rc)
		goto err;
	rc = connect_all(r);
	if (rc)
		goto err;
	rc = remote_backup_open(r);
	if (rc)
		goto err;
	rc = start_threads(r);
	if (rc) {
		pvm_err("remote tier: cannot start threads: %s", strerror(-rc));
		goto err;
	}
	pvm_info("remote tier: %u pods, %u replicas per page, leases of %s, "
		 "backup %s", atomic_load(&r->npods), r->spec.replicas,
		 pvm_format_size(r->spec.lease_bytes, size, sizeof(size)),
		 r->spec.backup[0] ? r->spec.backup : "none");
	*out = &r->base;
	return 0;

err:
	remote_free(r);
	return rc;
}

static void remote_close(struct swap_tier *tier)
{
	remote_free(to_remote(tier));
}

const struct swap_tier_ops swap_tier_remote_ops = {
	.size = sizeof(struct swap_tier_ops),
	.name = "remote",
	.help = "remote:pods=HOST:PORT+HOST:PORT,secret=FILE[,replicas=2][,fabric=tcp]"
		"[,lease=64M][,timeout=MS][,backup=disk:PATH]  pages on memory pods, "
		"N copies each",
	.open = remote_open,
	.close = remote_close,
	.alloc = remote_alloc,
	.release = remote_release,
	.store = remote_store,
	.load = remote_load,
	.stats = remote_stats,
	.stats_json = remote_stats_json,
	/* 2026-11-24, pager bench random at 25 % local, 3 pods in namespaces
	 * over tcp: 512-page batches 8.0-9.4 s, 128-page 8.9-11.6 s. */
	.store_batch = 512,
};
