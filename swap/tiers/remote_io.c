/* swap/tiers/remote_io.c — the remote tier's data path: a batch of stores
 * becomes one batched write per pod lease, a batch of loads one batched
 * read per pod lease, with failover between replicas.
 *
 * Store: every slot of the batch gets its N replicas (kept where they are
 * healthy, placed anew where their pod died or is draining), all pages
 * are written, and a slot counts as stored only when all N writes were
 * delivered. A replica whose write failed is placed on another pod and
 * written again (two more rounds at most). Only then is the slot marked
 * VALID and handed to the backup queue.
 *
 * Load: each page is read from its readable replica with the lowest
 * measured RTT; pages whose read failed go to their next replica; pages
 * with no replica left come from the backup tier if it holds their current
 * generation, else fail with -EIO (never zeros).
 */
#include "remote_internal.h"

#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_ROUNDS 3

/* ---- grouped RMA ---- */

struct io_ref {
	size_t index;
	uint64_t chunk;                 /* sort key: 0 for the first io's chunk */
};

static int cmp_ref(const void *a, const void *b)
{
	const struct io_ref *x = a, *y = b;

	if (x->chunk != y->chunk)
		return x->chunk < y->chunk ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* ---- I/O helpers: the groups of a write batch run in parallel ---- */

struct io_job {
	struct remote_tier *r;
	const struct remote_target *target;     /* the group's first page */
	struct remote_page_op *ops;
	size_t n;
	bool write;
	unsigned *pending;                      /* io_lock */
	pthread_cond_t *done;
	struct io_job *next;
};

static void run_job(struct io_job *j)
{
	remote_pod_io(j->r, j->r->pods[j->target->pod], j->target->incarnation,
		      &j->target->lease, j->ops, j->n, j->write);
}

void *remote_io_worker(void *arg)
{
	struct remote_tier *r = arg;

	pthread_mutex_lock(&r->io_lock);
	for (;;) {
		struct io_job *j;

		while (!r->io_head && !r->io_stopping)
			pthread_cond_wait(&r->io_cond, &r->io_lock);
		if (!r->io_head)
			break;
		j = r->io_head;
		r->io_head = j->next;
		pthread_mutex_unlock(&r->io_lock);
		run_job(j);
		pthread_mutex_lock(&r->io_lock);
		if (--*j->pending == 0)
			pthread_cond_signal(j->done);
	}
	pthread_mutex_unlock(&r->io_lock);
	return NULL;
}

/* Run @njobs jobs: all but the first by the helpers (when there are
 * any), the first here; return when all are done. */
static void run_jobs(struct remote_tier *r, struct io_job *jobs, size_t njobs)
{
	pthread_cond_t done;
	unsigned pending = 0;

	if (njobs < 2 || !r->io_workers) {
		for (size_t i = 0; i < njobs; i++)
			run_job(&jobs[i]);
		return;
	}
	pthread_cond_init(&done, NULL);
	pthread_mutex_lock(&r->io_lock);
	for (size_t i = njobs; i-- > 1;) {
		jobs[i].pending = &pending;
		jobs[i].done = &done;
		jobs[i].next = r->io_head;
		r->io_head = &jobs[i];
		pending++;
	}
	pthread_cond_broadcast(&r->io_cond);
	pthread_mutex_unlock(&r->io_lock);
	run_job(&jobs[0]);
	pthread_mutex_lock(&r->io_lock);
	while (pending)
		pthread_cond_wait(&done, &r->io_lock);
	pthread_mutex_unlock(&r->io_lock);
	pthread_cond_destroy(&done);
}

/* One batched call per (pod, lease): pages of the same chunk go together.
 * Reads run the groups one after the other, the first io's group first
 * (in a fault batch it holds the page the guest waits for); writes run
 * the groups in parallel. */
static void grouped_io(struct remote_tier *r, const struct remote_target *t,
		       void *const *bufs, int *results, size_t n, bool write)
{
	struct io_ref *refs;
	struct remote_page_op *ops;
	struct io_job *jobs;
	size_t i, j, njobs = 0;

	if (!n)
		return;
	refs = malloc(n * sizeof(*refs));
	ops = malloc(n * sizeof(*ops));
	jobs = malloc(n * sizeof(*jobs));
	if (!refs || !ops || !jobs) {
		for (i = 0; i < n; i++)
			results[i] = -ENOMEM;
		free(refs);
		free(ops);
		free(jobs);
		return;
	}
	for (i = 0; i < n; i++) {
		uint32_t chunk = t[i].gpage / r->pages_per_chunk;

		refs[i] = (struct io_ref){ i, chunk == t[0].gpage / r->pages_per_chunk
					      ? 0 : chunk + 1 };
	}
	qsort(refs, n, sizeof(*refs), cmp_ref);
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && refs[j].chunk == refs[i].chunk; j++)
			ops[j] = (struct remote_page_op){
				.offset = t[refs[j].index].offset,
				.buf = bufs[refs[j].index],
				.result = -EINPROGRESS,
			};
		jobs[njobs++] = (struct io_job){
			.r = r, .target = &t[refs[i].index], .ops = &ops[i],
			.n = j - i, .write = write,
		};
	}
	if (write)
		run_jobs(r, jobs, njobs);
	else
		for (i = 0; i < njobs; i++)
			run_job(&jobs[i]);
	for (i = 0; i < n; i++)
		results[refs[i].index] = ops[i].result;
	free(refs);
	free(ops);
	free(jobs);
}

void remote_write_targets(struct remote_tier *r, const struct remote_target *targets,
			  void *const *bufs, int *results, size_t n)
{
	grouped_io(r, targets, bufs, results, n, true);
}

/* ---- reads with failover ---- */

struct read_item {
	uint32_t gen;
	int ncand, next;
	struct remote_target cand[REMOTE_MAX_REPLICAS];
};

/* Readable replicas of @slot, fastest pod first. tier->lock held. */
static int read_candidates(struct remote_tier *r, uint64_t slot,
			   struct remote_target *cand)
{
	const uint32_t *reps = remote_reps(r, slot);
	uint64_t rtt[REMOTE_MAX_REPLICAS];
	int n = 0;

	for (unsigned k = 0; k < r->spec.replicas; k++) {
		struct remote_target t;
		int pos;

		if (!remote_page_readable(r, reps[k]))
			continue;
		remote_target_of(r, reps[k], &t);
		uint64_t my = atomic_load(&r->pods[t.pod]->rtt_ns);

		/* insertion sort by RTT: N is tiny */
		for (pos = n; pos > 0 && rtt[pos - 1] > my; pos--) {
			cand[pos] = cand[pos - 1];
			rtt[pos] = rtt[pos - 1];
		}
		cand[pos] = t;
		rtt[pos] = my;
		n++;
	}
	return n;
}

/* Load from the backup tier the @n pages whose results are still
 * -ENODATA and whose current generation the backup holds. */
static void backup_fallback(struct remote_tier *r, const uint64_t *slots,
			    const uint32_t *gens, void *const *bufs, int *results,
			    size_t n)
{
	struct swap_io *ios = NULL;
	size_t *idx = NULL, m = 0;

	if (r->backup) {
		ios = malloc(n * sizeof(*ios));
		idx = malloc(n * sizeof(*idx));
	}
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		struct remote_seg *s;

		if (results[i] != -ENODATA)
			continue;
		s = remote_seg(r, slots[i]);
		if (ios && idx && (s->flags[SEG_IDX(slots[i])] & SLOT_BACKED) &&
		    s->gen[SEG_IDX(slots[i])] == gens[i]) {
			ios[m] = (struct swap_io){
				.slot = s->backup[SEG_IDX(slots[i])], .buf = bufs[i],
			};
			idx[m++] = i;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (m) {
		swap_tier_load(r->backup, ios, m);
		for (size_t k = 0; k < m; k++) {
			results[idx[k]] = ios[k].result ? -EIO : 0;
			if (!ios[k].result)
				atomic_fetch_add(&r->backup_loads, 1);
		}
	}
	for (size_t i = 0; i < n; i++)
		if (results[i] == -ENODATA)
			results[i] = -EIO;
	free(ios);
	free(idx);
}

/* Read @n slots into @bufs: fastest replica first, then the others, then
 * (with @use_backup) the backup tier. @gens (may be NULL) receives the
 * generation each slot had when the read was planned. */
static void read_slots(struct remote_tier *r, const uint64_t *slots, uint32_t *gens,
		       void *const *bufs, int *results, size_t n, bool use_backup)
{
	struct read_item *items = calloc(n, sizeof(*items));
	struct remote_target *t = malloc(n * sizeof(*t));
	uint32_t *g = gens ? gens : malloc(n * sizeof(*g));
	size_t *idx = malloc(n * sizeof(*idx));
	void **b = malloc(n * sizeof(*b));
	int *res = malloc(n * sizeof(*res));
	size_t pending;

	if (!items || !t || !g || !idx || !b || !res) {
		for (size_t i = 0; i < n; i++)
			results[i] = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		struct remote_seg *s;

		results[i] = -EIO;
		g[i] = 0;
		if (slots[i] >= REMOTE_MAX_SLOTS || !(s = remote_seg(r, slots[i])) ||
		    !(s->flags[SEG_IDX(slots[i])] & SLOT_VALID))
			continue;   /* never stored, or its store failed */
		g[i] = items[i].gen = s->gen[SEG_IDX(slots[i])];
		items[i].ncand = read_candidates(r, slots[i], items[i].cand);
		results[i] = -ENODATA;
	}
	pthread_mutex_unlock(&r->lock);

	do {
		pending = 0;
		for (size_t i = 0; i < n; i++) {
			if (results[i] != -ENODATA || items[i].next >= items[i].ncand)
				continue;
			t[pending] = items[i].cand[items[i].next];
			b[pending] = bufs[i];
			idx[pending++] = i;
		}
		grouped_io(r, t, b, res, pending, false);
		for (size_t k = 0; k < pending; k++) {
			struct read_item *it = &items[idx[k]];

			if (res[k] == 0) {
				results[idx[k]] = 0;
				if (it->next > 0)
					atomic_fetch_add(&r->read_failovers, 1);
			} else {
				it->next++;
			}
		}
	} while (pending);

	if (use_backup)
		backup_fallback(r, slots, g, bufs, results, n);
	for (size_t i = 0; i < n; i++)
		if (results[i] == -ENODATA)
			results[i] = -EIO;
out:
	free(items);
	free(t);
	if (!gens)
		free(g);
	free(idx);
	free(b);
	free(res);
}

void remote_read_slots(struct remote_tier *r, const uint64_t *slots,
		       void *const *bufs, int *results, size_t n, bool use_backup)
{
	read_slots(r, slots, NULL, bufs, results, n, use_backup);
}

static int load_many(struct remote_tier *r, struct swap_io *ios, size_t n);

/* One page, the common fault: read_slots() without its allocations. */
static int read_one(struct remote_tier *r, uint64_t slot, void *buf)
{
	struct remote_target cand[REMOTE_MAX_REPLICAS];
	struct remote_seg *s;
	uint32_t gen;
	int ncand, result;

	pthread_mutex_lock(&r->lock);
	if (slot >= REMOTE_MAX_SLOTS || !(s = remote_seg(r, slot)) ||
	    !(s->flags[SEG_IDX(slot)] & SLOT_VALID)) {
		pthread_mutex_unlock(&r->lock);
		return -EIO;    /* never stored, or its store failed */
	}
	gen = s->gen[SEG_IDX(slot)];
	ncand = read_candidates(r, slot, cand);
	pthread_mutex_unlock(&r->lock);
	for (int k = 0; k < ncand; k++) {
		struct remote_page_op op = {
			.offset = cand[k].offset, .buf = buf, .result = -EINPROGRESS,
		};

		remote_pod_io(r, r->pods[cand[k].pod], cand[k].incarnation,
			      &cand[k].lease, &op, 1, false);
		if (op.result == 0) {
			if (k > 0)
				atomic_fetch_add(&r->read_failovers, 1);
			return 0;
		}
	}
	result = -ENODATA;
	backup_fallback(r, &slot, &gen, &buf, &result, 1);
	return result;
}

int remote_load_batch(struct remote_tier *r, struct swap_io *ios, size_t n)
{
	if (n == 1) {
		int rc = read_one(r, ios[0].slot, ios[0].buf);

		ios[0].result = rc;
		if (!rc) {
			atomic_fetch_add(&r->loads, 1);
			return 0;
		}
		atomic_fetch_add(&r->load_errors, 1);
		if (atomic_fetch_add(&r->lost_loads, 1) < 10)
			pvm_err("remote tier: slot %llu: no replica could be read "
				"and the backup holds no copy: the page is lost",
				(unsigned long long)ios[0].slot);
		return rc;
	}
	return load_many(r, ios, n);
}

static int load_many(struct remote_tier *r, struct swap_io *ios, size_t n)
{
	uint64_t *slots, ok = 0, bad = 0;
	void **bufs;
	int *results, first = 0;

	if (!n)
		return 0;
	slots = calloc(n, sizeof(*slots));
	bufs = calloc(n, sizeof(*bufs));
	results = calloc(n, sizeof(*results));
	if (!slots || !bufs || !results) {
		free(slots);
		free(bufs);
		free(results);
		for (size_t i = 0; i < n; i++)
			ios[i].result = -ENOMEM;
		atomic_fetch_add(&r->load_errors, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		slots[i] = ios[i].slot;
		bufs[i] = ios[i].buf;
	}
	read_slots(r, slots, NULL, bufs, results, n, true);
	for (size_t i = 0; i < n; i++) {
		ios[i].result = results[i];
		if (!results[i]) {
			ok++;
			continue;
		}
		bad++;
		if (!first)
			first = results[i];
		if (atomic_fetch_add(&r->lost_loads, 1) < 10)
			pvm_err("remote tier: slot %llu: no replica could be read "
				"and the backup holds no copy: the page is lost",
				(unsigned long long)slots[i]);
	}
	atomic_fetch_add(&r->loads, ok);
	atomic_fetch_add(&r->load_errors, bad);
	free(slots);
	free(bufs);
	free(results);
	return first;
}

/* ---- stores ---- */

#define STORE_SUPERSEDED 1             /* a later io of the batch has its slot */

struct store_item {
	uint32_t gen;
	int result;                     /* 0 while still possible */
	size_t last;                    /* the io that really writes this slot */
	bool placed;                    /* old replicas given back */
	bool rep_done[REMOTE_MAX_REPLICAS];
	bool rep_failed[REMOTE_MAX_REPLICAS];
};

struct slot_ref {
	uint64_t slot;
	size_t index;
};

static int cmp_slot_ref(const void *a, const void *b)
{
	const struct slot_ref *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* A batch may name a slot twice: only its last io is written (last wins,
 * deterministically), the earlier ones are STORE_SUPERSEDED. */
static void mark_superseded(const struct swap_io *ios, size_t n,
			    struct store_item *items)
{
	struct slot_ref *refs;

	for (size_t i = 0; i < n; i++)
		items[i].last = i;
	if (n < 2 || !(refs = malloc(n * sizeof(*refs))))
		return;
	for (size_t i = 0; i < n; i++)
		refs[i] = (struct slot_ref){ ios[i].slot, i };
	qsort(refs, n, sizeof(*refs), cmp_slot_ref);
	for (size_t i = n - 1; i > 0; i--) {
		if (refs[i - 1].slot != refs[i].slot)
			continue;
		items[refs[i - 1].index].result = STORE_SUPERSEDED;
		items[refs[i - 1].index].last = items[refs[i].index].last;
	}
	free(refs);
}

/* Give every replica of ios[i] a healthy page (tier->lock held). Pods in
 * *@lease_on (a bitmask) should lease before the next attempt.
 *
 * On a slot's first placement in this store its old replicas are given
 * back (their data is stale from now on: the generation moved) and each
 * replica k of consecutive ios continues replica k of the io before on
 * the next page of the same chunk when it can, for up to RUN_PAGES pages;
 * a new run starts with a fresh two-random-choices pick. Pages written
 * together so lie together, and the transport sends a run as one RMA. */
#define RUN_PAGES 64

static void place_replicas(struct remote_tier *r, struct swap_io *ios, size_t n,
			   struct store_item *items, uint64_t *lease_on)
{
	uint32_t prev[REMOTE_MAX_REPLICAS];
	unsigned runlen[REMOTE_MAX_REPLICAS] = { 0 };

	for (unsigned k = 0; k < REMOTE_MAX_REPLICAS; k++)
		prev[k] = REMOTE_NO_PAGE;
	for (size_t i = 0; i < n; i++) {
		uint32_t *reps;
		uint64_t exclude = 0;

		if (items[i].result)
			continue;
		if (remote_seg(r, ios[i].slot)->gen[SEG_IDX(ios[i].slot)] != items[i].gen) {
			items[i].result = -ESTALE;
			continue;
		}
		reps = remote_reps(r, ios[i].slot);
		for (unsigned k = 0; k < r->spec.replicas; k++) {
			if (!items[i].placed || items[i].rep_failed[k] ||
			    !remote_page_healthy(r, reps[k])) {
				remote_free_page(r, reps[k]);
				reps[k] = REMOTE_NO_PAGE;
				items[i].rep_failed[k] = false;
				items[i].rep_done[k] = false;
			}
			if (reps[k] != REMOTE_NO_PAGE)
				exclude |= 1ull << remote_chunk_of(r, reps[k])->pod;
		}
		items[i].placed = true;
		for (unsigned k = 0; k < r->spec.replicas; k++) {
			int need = -1;

			if (reps[k] != REMOTE_NO_PAGE)
				continue;
			reps[k] = runlen[k] < RUN_PAGES
				  ? remote_place_next(r, prev[k], exclude) : REMOTE_NO_PAGE;
			if (reps[k] != REMOTE_NO_PAGE) {
				runlen[k]++;
			} else {
				reps[k] = remote_place_page(r, exclude, &need);
				runlen[k] = 1;
			}
			prev[k] = reps[k];
			if (reps[k] != REMOTE_NO_PAGE)
				exclude |= 1ull << remote_chunk_of(r, reps[k])->pod;
			else if (need >= 0)
				*lease_on |= 1ull << need;
		}
	}
}

/* Lease on the pods in @lease_on. A lease that fails marks its pod full
 * (or dead), so placing again makes progress either way. */
static void lease_where_needed(struct remote_tier *r, uint64_t lease_on)
{
	for (unsigned i = 0; i < REMOTE_MAX_PODS; i++)
		if ((lease_on >> i) & 1)
			remote_lease_chunk(r, r->pods[i]);
}

int remote_store_batch(struct remote_tier *r, struct swap_io *ios, size_t n)
{
	const unsigned nrep = r->spec.replicas;
	struct store_item *items = calloc(n, sizeof(*items));
	struct remote_target *t = malloc(n * nrep * sizeof(*t));
	void **b = malloc(n * nrep * sizeof(*b));
	int *res = malloc(n * nrep * sizeof(*res));
	size_t *who = malloc(n * nrep * sizeof(*who));
	uint64_t ok = 0, bad = 0;
	int first = 0;

	if (!items || !t || !b || !res || !who) {
		for (size_t i = 0; i < n; i++)
			ios[i].result = -ENOMEM;
		first = n ? -ENOMEM : 0;
		bad = n;
		goto out;
	}
	mark_superseded(ios, n, items);
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		uint64_t slot = ios[i].slot;
		struct remote_seg *s;

		if (items[i].result)
			continue;
		if (slot >= REMOTE_MAX_SLOTS || !ios[i].buf || !(s = remote_seg(r, slot)) ||
		    !(s->flags[SEG_IDX(slot)] & SLOT_ALLOCATED)) {
			items[i].result = -EINVAL;
			continue;
		}
		s->flags[SEG_IDX(slot)] &= (uint8_t)~(SLOT_VALID | SLOT_BACKED);
		items[i].gen = ++s->gen[SEG_IDX(slot)];
	}
	pthread_mutex_unlock(&r->lock);

	for (unsigned round = 0; round < STORE_ROUNDS; round++) {
		uint64_t lease_on = 0;
		size_t m = 0;

		for (int attempt = 0; attempt < 16; attempt++) {
			lease_on = 0;
			pthread_mutex_lock(&r->lock);
			place_replicas(r, ios, n, items, &lease_on);
			pthread_mutex_unlock(&r->lock);
			if (!lease_on)
				break;
			lease_where_needed(r, lease_on);
		}
		/* Write every replica not yet delivered. */
		pthread_mutex_lock(&r->lock);
		for (size_t i = 0; i < n; i++) {
			const uint32_t *reps;

			if (items[i].result)
				continue;
			reps = remote_reps(r, ios[i].slot);
			for (unsigned k = 0; k < nrep; k++) {
				if (items[i].rep_done[k] || reps[k] == REMOTE_NO_PAGE)
					continue;
				remote_target_of(r, reps[k], &t[m]);
				b[m] = ios[i].buf;
				who[m++] = i * nrep + k;
			}
		}
		pthread_mutex_unlock(&r->lock);
		if (round)
			atomic_fetch_add(&r->replica_retries, m);
		remote_write_targets(r, t, b, res, m);
		bool again = false;

		for (size_t k = 0; k < m; k++) {
			struct store_item *it = &items[who[k] / nrep];

			if (res[k] == 0) {
				it->rep_done[who[k] % nrep] = true;
			} else {
				it->rep_failed[who[k] % nrep] = true;
				again = true;
			}
		}
		/* Replicas that found no place at all also need another round. */
		for (size_t i = 0; i < n && !again; i++)
			for (unsigned k = 0; k < nrep && !items[i].result; k++)
				if (!items[i].rep_done[k])
					again = true;
		if (!again)
			break;
	}

	/* Commit: VALID only with all N delivered, on pods still alive. */
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		struct store_item *it = &items[i];
		struct remote_seg *s;
		const uint32_t *reps;

		if (!it->result) {
			s = remote_seg(r, ios[i].slot);
			reps = remote_reps(r, ios[i].slot);
			if (s->gen[SEG_IDX(ios[i].slot)] != it->gen)
				it->result = -ESTALE;
			for (unsigned k = 0; k < nrep && !it->result; k++)
				if (!it->rep_done[k] || !remote_page_readable(r, reps[k]))
					it->result = -EIO;
			if (!it->result)
				s->flags[SEG_IDX(ios[i].slot)] |= SLOT_VALID;
		}
		if (it->result == STORE_SUPERSEDED)
			continue;
		ios[i].result = it->result == -ESTALE ? -EIO : it->result;
		if (ios[i].result) {
			bad++;
			if (!first)
				first = ios[i].result;
		} else {
			ok++;
		}
	}
	/* A slot given twice: the last io wrote it, the others share its fate. */
	for (size_t i = 0; i < n; i++) {
		if (items[i].result != STORE_SUPERSEDED)
			continue;
		ios[i].result = ios[items[i].last].result;
		if (ios[i].result) {
			bad++;
			if (!first)
				first = ios[i].result;
		} else {
			ok++;
		}
	}
	if (bad && !r->said_enospc) {
		r->said_enospc = true;
		pthread_mutex_unlock(&r->lock);
		pvm_err("remote tier: %llu pages could not be written to %u pods "
			"(too few live pods with space); they stay with the pager",
			(unsigned long long)bad, nrep);
	} else {
		if (!bad)
			r->said_enospc = false;
		pthread_mutex_unlock(&r->lock);
	}
	for (size_t i = 0; i < n && r->backup; i++)
		if (!ios[i].result && items[i].result != STORE_SUPERSEDED)
			remote_backup_queue(r, ios[i].slot, items[i].gen, ios[i].buf);
out:
	atomic_fetch_add(&r->stores, ok);
	atomic_fetch_add(&r->store_errors, bad);
	free(items);
	free(t);
	free(b);
	free(res);
	free(who);
	return first;
}
