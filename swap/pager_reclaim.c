/* swap/pager_reclaim.c — the reclaim thread: evict ahead of demand.
 *
 * One eviction batch: the policy names victims; each is claimed
 * (RESIDENT -> EVICTING) and write-protected, so a guest write from here on
 * raises a write-protect fault instead of changing the page under us. Dirty
 * pages are read out through the memfd and stored (all-zero pages are not);
 * clean pages already have a valid copy and are not read or written. Only
 * pages whose store completed are punched out of the memfd; then the entry
 * says INTIER (or ABSENT for zero pages) and blocked writers are woken so
 * they refault. A page written during its eviction, or whose store failed,
 * is made writable again and stays resident.
 */
#include "pager_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "extents.h"
#include "uffd.h"

enum victim_kind { V_SKIP, V_ZERO, V_CLEAN, V_STORE };

struct victim {
	uint64_t page;
	uint64_t entry;        /* entry when claimed (EVICTING) */
	enum victim_kind kind;
	unsigned tier;
	uint64_t slot;
	bool new_slot;
	bool failed;
	bool punched;
};

struct reclaim_ctx {
	struct swap_pager *p;
	size_t cap;
	struct victim *v;
	uint64_t *pages;
	uint64_t *requeue;
	size_t nrequeue;
	struct swap_io *ios;
	size_t *io_victim;
	uint64_t *slots;
	uint8_t *buf;
	bool warned_full;
};

/* The reclaim thread reads no uffd messages, so it can wait out -EAGAIN
 * (an event being delivered) while the fault threads read the event. */
static int protect_wait(struct swap_pager *p, uint64_t start, size_t len, bool wp)
{
	for (unsigned tries = 0;; tries++) {
		int r = swap_uffd_protect(p->r.uffd, start, len, wp);

		if (r != -EAGAIN || tries >= 20000 || atomic_load(&p->stopping))
			return r;
		struct timespec ts = { 0, 50000 };

		nanosleep(&ts, NULL);
	}
}

void pager_rearm_cb(void *ctx, uint64_t page)
{
	struct swap_pager *p = ctx;

	if (p->rearm_count == p->rearm_cap)
		return;   /* best effort: recency is a hint */
	p->rearm[p->rearm_count++] = page;
}

static int cmp_victim(const void *a, const void *b)
{
	const struct victim *x = a, *y = b;

	return x->page < y->page ? -1 : x->page > y->page;
}

/* Write-protect resident pages the policy wants to watch again. */
static void do_rearms(struct swap_pager *p)
{
	for (size_t i = 0; i < p->rearm_count; i++) {
		uint64_t page = p->rearm[i];
		swap_pe_t *pe = swap_pagedir_entry(p->dir, page);
		uint64_t e = pe ? atomic_load(pe) : 0;

		if (swap_pe_state(e) != SWAP_PAGE_RESIDENT || (e & SWAP_PE_ARMED))
			continue;
		if (!swap_pagedir_cas(pe, &e, swap_pe_with_state(e, SWAP_PAGE_LOADING)))
			continue;
		bool ok = protect_wait(p, page_addr(p, page), PVM_PAGE_SIZE, true) == 0;

		pager_publish_owned(p, page, pe, ok ? SWAP_PE_ARMED : 0, 0);
		if (ok)
			cnt_add(&p->c.rearms, 1);
	}
	p->rearm_count = 0;
}

/* Apply @fn to maximal runs of consecutive pages among victims matching @pred. */
static int for_runs(struct reclaim_ctx *rc, size_t n, bool (*pred)(const struct victim *),
		    int (*fn)(struct reclaim_ctx *, size_t lo, size_t hi))
{
	int first_err = 0;

	for (size_t lo = 0; lo < n;) {
		if (!pred(&rc->v[lo])) {
			lo++;
			continue;
		}
		size_t hi = lo + 1;

		while (hi < n && pred(&rc->v[hi]) && rc->v[hi].page == rc->v[hi - 1].page + 1)
			hi++;
		int r = fn(rc, lo, hi);

		if (r < 0 && !first_err)
			first_err = r;
		lo = hi;
	}
	return first_err;
}

static bool is_claimed(const struct victim *v) { return v->kind != V_SKIP; }
static bool needs_read(const struct victim *v) { return v->kind == V_STORE; }
static bool to_punch(const struct victim *v) { return v->kind != V_SKIP && !v->failed; }

static int protect_run(struct reclaim_ctx *rc, size_t lo, size_t hi)
{
	struct swap_pager *p = rc->p;

	return protect_wait(p, page_addr(p, rc->v[lo].page),
				 (hi - lo) << PVM_PAGE_SHIFT, true);
}

static int read_run(struct reclaim_ctx *rc, size_t lo, size_t hi)
{
	struct swap_pager *p = rc->p;
	size_t len = (hi - lo) << PVM_PAGE_SHIFT, done = 0;
	off_t off = (off_t)(p->r.memfd_offset + (rc->v[lo].page << PVM_PAGE_SHIFT));

	while (done < len) {
		ssize_t r = pread(p->r.memfd, rc->buf + (lo << PVM_PAGE_SHIFT) + done,
				  len - done, off + (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			for (size_t i = lo; i < hi; i++)
				rc->v[i].failed = true;
			return r < 0 ? -errno : -EIO;
		}
		done += (size_t)r;
	}
	return 0;
}

static int punch_run(struct reclaim_ctx *rc, size_t lo, size_t hi)
{
	struct swap_pager *p = rc->p;
	off_t off = (off_t)(p->r.memfd_offset + (rc->v[lo].page << PVM_PAGE_SHIFT));
	off_t len = (off_t)((hi - lo) << PVM_PAGE_SHIFT);

	if (fallocate(p->r.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0) {
		int err = -errno;

		for (size_t i = lo; i < hi; i++)
			rc->v[i].failed = true;
		return err;
	}
	for (size_t i = lo; i < hi; i++)
		rc->v[i].punched = true;
	return 0;
}

static int wake_run(struct reclaim_ctx *rc, size_t lo, size_t hi)
{
	struct swap_pager *p = rc->p;

	return swap_uffd_wake(p->r.uffd, page_addr(p, rc->v[lo].page),
			      (hi - lo) << PVM_PAGE_SHIFT);
}

static bool was_punched(const struct victim *v) { return v->punched; }

/* Reserve slots for the STORE victims that have none, tier by tier. */
static void assign_slots(struct reclaim_ctx *rc, size_t n)
{
	struct swap_pager *p = rc->p;
	size_t need = 0;

	for (size_t i = 0; i < n; i++)
		if (rc->v[i].kind == V_STORE && !(rc->v[i].entry & SWAP_PE_HAS_SLOT))
			need++;
	if (!need)
		return;
	size_t got = 0;

	for (size_t t = 0; t < p->tier_count && got < need; t++) {
		size_t want;

		/* A tier with extents: each page's slot is its place in its
		 * group's extent, when one can be had. */
		for (size_t i = 0; p->extents[t] && i < n && got < need; i++) {
			struct victim *v = &rc->v[i];

			if (v->kind != V_STORE || (v->entry & SWAP_PE_HAS_SLOT) || v->new_slot)
				continue;
			if (swap_extents_take(p->extents[t], v->page, &v->slot) < 0)
				continue;
			v->tier = (unsigned)t;
			v->new_slot = true;
			got++;
		}
		want = need - got;
		if (!want)
			break;

		/* All at once, else one by one until the tier is full. */
		if (swap_tier_alloc(p->tiers[t], rc->slots, want) < 0) {
			size_t k = 0;

			while (k < want && swap_tier_alloc(p->tiers[t], &rc->slots[k], 1) == 0)
				k++;
			want = k;
		}
		for (size_t i = 0, k = 0; i < n && k < want; i++) {
			struct victim *v = &rc->v[i];

			if (v->kind != V_STORE || (v->entry & SWAP_PE_HAS_SLOT) || v->new_slot)
				continue;
			v->tier = (unsigned)t;
			v->slot = rc->slots[k++];
			v->new_slot = true;
		}
		got += want;
	}
	if (got < need) {
		for (size_t i = 0; i < n; i++) {
			struct victim *v = &rc->v[i];

			if (v->kind == V_STORE && !(v->entry & SWAP_PE_HAS_SLOT) && !v->new_slot)
				v->failed = true;
		}
		if (!rc->warned_full) {
			pvm_err("pager: every tier is full; %zu pages stay resident "
				"(add tier space or raise --local)", need - got);
			rc->warned_full = true;
		}
	}
}

static void store_victims(struct reclaim_ctx *rc, size_t n)
{
	struct swap_pager *p = rc->p;

	for (size_t t = 0; t < p->tier_count; t++) {
		size_t nio = 0;

		for (size_t i = 0; i < n; i++) {
			struct victim *v = &rc->v[i];

			if (v->kind != V_STORE || v->failed || v->tier != t)
				continue;
			rc->ios[nio] = (struct swap_io){
				.slot = v->slot, .buf = rc->buf + (i << PVM_PAGE_SHIFT),
			};
			rc->io_victim[nio++] = i;
		}
		if (!nio)
			continue;
		swap_tier_store(p->tiers[t], rc->ios, nio);
		for (size_t k = 0; k < nio; k++) {
			if (rc->ios[k].result == 0)
				continue;
			rc->v[rc->io_victim[k]].failed = true;
			cnt_add(&p->c.store_errors, 1);
		}
	}
}

/* A victim stays resident: make it writable again and publish RESIDENT.
 * A slot reserved in this batch is kept if the store succeeded (it is
 * reused next time; the page is dirty again), else returned. */
static void keep_resident(struct reclaim_ctx *rc, struct victim *v)
{
	struct swap_pager *p = rc->p;
	swap_pe_t *pe = swap_pagedir_entry(p->dir, v->page);
	uint64_t e = atomic_load(pe), n;
	bool keep_new = v->new_slot && !v->failed;

	if (v->new_slot && !keep_new)
		pager_put_slot(p, v->tier, v->page, v->slot);
	protect_wait(p, page_addr(p, v->page), PVM_PAGE_SIZE, false);
	do {
		n = swap_pe_with_state(e, SWAP_PAGE_RESIDENT) &
		    ~(SWAP_PE_ARMED | SWAP_PE_WRITE_PENDING | SWAP_PE_DISCARD);
		if (keep_new)
			n = swap_pe_with_slot(n, v->tier, v->slot);
		n |= SWAP_PE_DIRTY;
	} while (!swap_pagedir_cas(pe, &e, n));
	v->new_slot = false;
	rc->requeue[rc->nrequeue++] = v->page;
}

static void publish_evicted(struct reclaim_ctx *rc, struct victim *v)
{
	struct swap_pager *p = rc->p;
	swap_pe_t *pe = swap_pagedir_entry(p->dir, v->page);
	uint64_t e = atomic_load(pe), n;

	for (;;) {
		if (e & SWAP_PE_DISCARD) {
			n = 0;
		} else if (v->kind == V_ZERO) {
			n = 0;
		} else {
			n = swap_pe_with_state(e, SWAP_PAGE_INTIER) &
			    ~(SWAP_PE_ARMED | SWAP_PE_WRITE_PENDING | SWAP_PE_DIRTY |
			      SWAP_PE_PREFETCHED | SWAP_PE_SAMPLED);
			if (v->new_slot)
				n = swap_pe_with_slot(n, v->tier, v->slot);
		}
		if (swap_pagedir_cas(pe, &e, n))
			break;
	}
	if (n == 0) {
		/* Zero or discarded: any slot it had means nothing now. */
		pager_release_slot(p, v->page, e);
		if (v->new_slot && !(e & SWAP_PE_HAS_SLOT))
			pager_put_slot(p, v->tier, v->page, v->slot);
	}
}

static size_t evict_batch(struct reclaim_ctx *rc)
{
	struct swap_pager *p = rc->p;
	size_t want = PVM_MIN((size_t)p->cfg.evict_batch, rc->cap), n = 0, punched = 0;

	rc->nrequeue = 0;
	pthread_mutex_lock(&p->policy_lock);
	while (n < want && swap_policy_evict(p->policy, &rc->pages[n]) == 0)
		n++;
	pthread_mutex_unlock(&p->policy_lock);
	if (p->cfg.track_writes)
		do_rearms(p);
	else
		p->rearm_count = 0;
	if (!n)
		return 0;

	/* Claim. */
	for (size_t i = 0; i < n; i++) {
		struct victim *v = &rc->v[i];
		swap_pe_t *pe = swap_pagedir_entry(p->dir, rc->pages[i]);
		uint64_t e = pe ? atomic_load(pe) : 0;

		*v = (struct victim){ .page = rc->pages[i], .kind = V_SKIP };
		for (;;) {
			if (swap_pe_state(e) == SWAP_PAGE_LOADING) {
				rc->requeue[rc->nrequeue++] = v->page;  /* busy: later */
				break;
			}
			if (swap_pe_state(e) != SWAP_PAGE_RESIDENT)
				break;   /* stale policy entry (discarded): drop it */
			uint64_t claimed = swap_pe_with_state(e, SWAP_PAGE_EVICTING) & ~SWAP_PE_WRITE_PENDING;

			if (swap_pagedir_cas(pe, &e, claimed)) {
				v->entry = claimed;
				v->kind = ((claimed & SWAP_PE_HAS_SLOT) && !(claimed & SWAP_PE_DIRTY))
					  ? V_CLEAN : V_STORE;
				if (v->kind == V_STORE && (claimed & SWAP_PE_HAS_SLOT)) {
					v->tier = swap_pe_tier(claimed);
					v->slot = swap_pe_slot(claimed);
				}
				break;
			}
		}
	}
	qsort(rc->v, n, sizeof(rc->v[0]), cmp_victim);

	/* Protect, then copy out what must be written. */
	if (for_runs(rc, n, is_claimed, protect_run) < 0) {
		for (size_t i = 0; i < n; i++)
			if (rc->v[i].kind != V_SKIP)
				rc->v[i].failed = true;
	}
	for_runs(rc, n, needs_read, read_run);
	for (size_t i = 0; i < n; i++) {
		struct victim *v = &rc->v[i];

		if (v->kind == V_STORE && !v->failed && pvm_page_is_zero(rc->buf + (i << PVM_PAGE_SHIFT)))
			v->kind = V_ZERO;
	}
	assign_slots(rc, n);
	store_victims(rc, n);

	/* A write that arrived while we copied wins: keep those pages. */
	for (size_t i = 0; i < n; i++) {
		struct victim *v = &rc->v[i];
		swap_pe_t *pe;

		if (v->kind == V_SKIP || v->failed)
			continue;
		pe = swap_pagedir_entry(p->dir, v->page);
		if (atomic_load(pe) & SWAP_PE_WRITE_PENDING) {
			cnt_add(&p->c.evict_aborts, 1);
			keep_resident(rc, v);
			v->kind = V_SKIP;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct victim *v = &rc->v[i];

		if (v->kind != V_SKIP && v->failed) {
			keep_resident(rc, v);
			v->kind = V_SKIP;
		}
	}

	if (for_runs(rc, n, to_punch, punch_run) < 0)
		pvm_err("pager: punching evicted pages out of guest RAM failed; they stay resident");
	size_t wb = 0, clean = 0, zero = 0;

	for (size_t i = 0; i < n; i++) {
		struct victim *v = &rc->v[i];

		if (v->kind == V_SKIP)
			continue;
		if (!v->punched) {
			v->failed = true;
			keep_resident(rc, v);
			continue;
		}
		if (v->kind == V_CLEAN && (v->entry & SWAP_PE_SAMPLED))
			pager_note_write_outcome(p, false);
		publish_evicted(rc, v);
		punched++;
		if (v->kind == V_STORE)
			wb++;
		else if (v->kind == V_CLEAN)
			clean++;
		else
			zero++;
	}
	for_runs(rc, n, was_punched, wake_run);
	if (punched)
		pager_unreserve(p, punched);

	if (rc->nrequeue) {
		pthread_mutex_lock(&p->policy_lock);
		for (size_t i = 0; i < rc->nrequeue; i++)
			swap_policy_insert(p->policy, rc->requeue[i], 0);
		pthread_mutex_unlock(&p->policy_lock);
	}
	cnt_add(&p->c.evictions, punched);
	cnt_add(&p->c.writebacks, wb);
	cnt_add(&p->c.clean_drops, clean);
	cnt_add(&p->c.zero_drops, zero);
	cnt_add(&p->c.reclaim_batches, 1);
	return punched;
}

static int reclaim_ctx_init(struct reclaim_ctx *rc, struct swap_pager *p)
{
	memset(rc, 0, sizeof(*rc));
	rc->p = p;
	rc->cap = p->cfg.evict_batch;
	rc->v = calloc(rc->cap, sizeof(*rc->v));
	rc->pages = calloc(rc->cap, sizeof(*rc->pages));
	rc->requeue = calloc(rc->cap * 2, sizeof(*rc->requeue));
	rc->ios = calloc(rc->cap, sizeof(*rc->ios));
	rc->io_victim = calloc(rc->cap, sizeof(*rc->io_victim));
	rc->slots = calloc(rc->cap, sizeof(*rc->slots));
	if (posix_memalign((void **)&rc->buf, PVM_PAGE_SIZE, rc->cap << PVM_PAGE_SHIFT))
		rc->buf = NULL;
	if (!rc->v || !rc->pages || !rc->requeue || !rc->ios || !rc->io_victim ||
	    !rc->slots || !rc->buf)
		return -ENOMEM;
	return 0;
}

static void reclaim_ctx_fini(struct reclaim_ctx *rc)
{
	free(rc->v);
	free(rc->pages);
	free(rc->requeue);
	free(rc->ios);
	free(rc->io_victim);
	free(rc->slots);
	free(rc->buf);
}

void *pager_reclaim_thread(void *arg)
{
	struct swap_pager *p = arg;
	struct reclaim_ctx rc;
	unsigned stalls = 0;

	if (reclaim_ctx_init(&rc, p) < 0) {
		pager_fail(p, "out of memory starting the reclaim thread");
		reclaim_ctx_fini(&rc);
		return NULL;
	}
	while (!atomic_load(&p->stopping)) {
		pthread_mutex_lock(&p->space_lock);
		while (!atomic_load(&p->stopping) && !p->reclaim_wanted &&
		       free_pages(p) >= p->high_free) {
			atomic_store(&p->reclaim_idle, true);
			pthread_cond_wait(&p->reclaim_cond, &p->space_lock);
		}
		atomic_store(&p->reclaim_idle, false);
		p->reclaim_wanted = false;
		pthread_mutex_unlock(&p->space_lock);

		while (!atomic_load(&p->stopping) && !atomic_load(&p->failed) &&
		       free_pages(p) < p->low_free) {
			size_t got = evict_batch(&rc);

			pthread_mutex_lock(&p->space_lock);
			pthread_cond_broadcast(&p->space_cond);
			pthread_mutex_unlock(&p->space_lock);
			if (got) {
				stalls = 0;
				if (atomic_load(&p->overcommit) && free_pages(p) >= p->low_free)
					atomic_store(&p->overcommit, false);
				continue;
			}
			/* No progress: tiers full or every victim busy. After a
			 * few tries let faults exceed the limit rather than hang
			 * the guest; the error was reported once. */
			if (++stalls >= 20 && !atomic_load(&p->overcommit)) {
				atomic_store(&p->overcommit, true);
				pthread_mutex_lock(&p->space_lock);
				pthread_cond_broadcast(&p->space_cond);
				pthread_mutex_unlock(&p->space_lock);
			}
			struct timespec ts = { 0, 5 * 1000 * 1000 };

			nanosleep(&ts, NULL);
			break;
		}
	}
	reclaim_ctx_fini(&rc);
	return NULL;
}
