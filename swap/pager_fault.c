/* swap/pager_fault.c — fault threads: read uffd messages, install pages.
 *
 * A missing-page fault claims the page (ABSENT/INTIER -> LOADING), asks the
 * prefetcher for more pages and claims those it can, loads the tier pages of
 * the batch with one call per tier, then installs runs of contiguous pages
 * with one UFFDIO_COPY or UFFDIO_ZEROPAGE each. Pages loaded from a tier are
 * installed write-protected: they are clean, and the first write shows up
 * as a write-protect fault that marks them dirty.
 */
#include "pager_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "uffd.h"

struct batch_item {
	uint64_t page;
	uint64_t entry;     /* entry value before we claimed it */
	bool prefetch;
	bool stream;        /* the faulting page, and the prefetcher predicted from it */
	bool from_tier;
	bool write;         /* install writable and dirty */
	bool ok;
	bool installed;
};

#define DEFERRED_MAX 64

struct fault_ctx {
	struct swap_pager *p;
	uint64_t deferred[DEFERRED_MAX];   /* pages to wake after reading events */
	size_t ndeferred;
	bool space_wait;                   /* some were deferred for lack of room */
	size_t cap;                  /* items per batch */
	struct batch_item *items;
	uint64_t *cands;
	struct swap_io *ios;
	size_t *io_item;
	uint8_t *buf;                /* cap pages, page aligned */
};

static void defer_wake(struct fault_ctx *fc, uint64_t page)
{
	if (fc->ndeferred < DEFERRED_MAX)
		fc->deferred[fc->ndeferred++] = page;
	else
		swap_uffd_wake(fc->p->r.uffd, page_addr(fc->p, page), PVM_PAGE_SIZE);
}

static void run_deferred(struct fault_ctx *fc)
{
	for (size_t i = 0; i < fc->ndeferred; i++)
		swap_uffd_wake(fc->p->r.uffd, page_addr(fc->p, fc->deferred[i]), PVM_PAGE_SIZE);
	fc->ndeferred = 0;
}

static int cmp_item(const void *a, const void *b)
{
	const struct batch_item *x = a, *y = b;

	return x->page < y->page ? -1 : x->page > y->page;
}

/* Claim @page for loading if it is ABSENT or INTIER. */
static bool claim_for_load(struct swap_pager *p, uint64_t page, uint64_t *old)
{
	swap_pe_t *pe = swap_pagedir_entry(p->dir, page);
	uint64_t e;

	if (!pe)
		return false;
	e = atomic_load(pe);
	for (;;) {
		unsigned st = swap_pe_state(e);

		if (st != SWAP_PAGE_ABSENT && st != SWAP_PAGE_INTIER)
			return false;
		if (swap_pagedir_cas(pe, &e, swap_pe_with_state(e, SWAP_PAGE_LOADING))) {
			*old = e;
			return true;
		}
	}
}

/* Give back a claimed page we did not install. */
static void unclaim(struct swap_pager *p, const struct batch_item *it)
{
	swap_pe_t *pe = swap_pagedir_entry(p->dir, it->page);
	uint64_t e = atomic_load(pe);
	uint64_t back;
	bool discarded;

	for (;;) {
		back = swap_pe_with_state(e, it->from_tier ? SWAP_PAGE_INTIER : SWAP_PAGE_ABSENT);
		discarded = e & SWAP_PE_DISCARD;
		if (discarded)
			back = 0;
		if (swap_pagedir_cas(pe, &e, back))
			break;
	}
	/* Discarded meanwhile: its slot means nothing now (released once,
	 * after the entry changed, not on every try). */
	if (discarded)
		pager_release_slot(p, it->page, e);
}

/* Publish an installed page as RESIDENT. */
static void publish(struct swap_pager *p, const struct batch_item *it, bool wp)
{
	swap_pe_t *pe = swap_pagedir_entry(p->dir, it->page);
	uint64_t set = 0;

	if (!it->from_tier || it->write || !(atomic_load(pe) & SWAP_PE_HAS_SLOT))
		set |= SWAP_PE_DIRTY;
	if (wp)
		set |= SWAP_PE_ARMED;
	if (it->prefetch)
		set |= SWAP_PE_PREFETCHED;
	if (wp && !it->prefetch)
		set |= SWAP_PE_SAMPLED;
	pager_publish_owned(p, it->page, pe, set,
			    SWAP_PE_ARMED | SWAP_PE_WRITE_PENDING | SWAP_PE_PREFETCHED |
			    SWAP_PE_DIRTY | SWAP_PE_SAMPLED);
}

/* Install items[lo..hi) which are contiguous pages of one kind. */
static int install_run(struct fault_ctx *fc, size_t lo, size_t hi)
{
	struct swap_pager *p = fc->p;
	struct batch_item *first = &fc->items[lo];
	uint64_t dst = page_addr(p, first->page);
	size_t len = (hi - lo) << PVM_PAGE_SHIFT;
	bool wp = first->from_tier && !first->write && p->r.wp_ok;
	int ret;

	if (first->from_tier)
		ret = swap_uffd_copy(p->r.uffd, dst, fc->buf + (lo << PVM_PAGE_SHIFT), len, wp, true);
	else
		ret = swap_uffd_zero(p->r.uffd, dst, len, true);
	if (ret == -EEXIST && hi - lo > 1) {
		/* Part of the run is already mapped: go page by page. */
		for (size_t i = lo; i < hi; i++) {
			int r = install_run(fc, i, i + 1);

			if (r < 0 && r != -EEXIST)
				return r;
		}
		return 0;
	}
	if (ret == -EEXIST) {
		/* Mapped behind our back (QEMU wrote it through another path):
		 * what is there is newer than anything we hold. */
		first->installed = true;
		first->write = true;
		publish(p, first, false);
		return 0;
	}
	if (ret < 0)
		return ret;
	for (size_t i = lo; i < hi; i++) {
		fc->items[i].installed = true;
		publish(p, &fc->items[i], wp);
	}
	return 0;
}

static bool same_run(const struct batch_item *a, const struct batch_item *b)
{
	return b->page == a->page + 1 && a->from_tier == b->from_tier &&
	       (!a->from_tier || a->write == b->write) && a->ok && b->ok;
}

static void load_from_tiers(struct fault_ctx *fc, size_t n)
{
	struct swap_pager *p = fc->p;

	for (size_t t = 0; t < p->tier_count; t++) {
		size_t nio = 0;

		for (size_t i = 0; i < n; i++) {
			struct batch_item *it = &fc->items[i];

			if (!it->from_tier || swap_pe_tier(it->entry) != t)
				continue;
			fc->ios[nio].slot = swap_pe_slot(it->entry);
			fc->ios[nio].buf = fc->buf + (i << PVM_PAGE_SHIFT);
			fc->ios[nio].result = 0;
			fc->io_item[nio] = i;
			nio++;
		}
		if (!nio)
			continue;
		swap_tier_load(p->tiers[t], fc->ios, nio);
		for (size_t k = 0; k < nio; k++) {
			struct batch_item *it = &fc->items[fc->io_item[k]];

			it->ok = fc->ios[k].result == 0;
			if (!it->ok && !it->prefetch)
				pager_fail(p, "tier %s could not return guest page %#llx "
					   "(guest-physical %#llx): %s; the guest is stopped "
					   "rather than shown a zero page",
					   p->tiers[t]->spec, (unsigned long long)it->page,
					   (unsigned long long)(it->page << PVM_PAGE_SHIFT),
					   strerror(-fc->ios[k].result));
		}
	}
}

/* RESIDENT -> ABSENT for a page QEMU discarded behind our back. */
static bool forget_discarded(struct swap_pager *p, uint64_t page, swap_pe_t *pe, uint64_t e)
{
	if (!swap_pagedir_cas(pe, &e, 0))
		return false;
	pager_release_slot(p, page, e);
	pager_unreserve(p, 1);
	cnt_add(&p->c.discards, 1);
	pthread_mutex_lock(&p->policy_lock);
	swap_policy_remove(p->policy, page);
	pthread_mutex_unlock(&p->policy_lock);
	return true;
}

static void handle_missing(struct fault_ctx *fc, uint64_t page, bool write, uint64_t t0)
{
	struct swap_pager *p = fc->p;
	swap_pe_t *pe = swap_pagedir_entry(p->dir, page);
	uint64_t e, old;
	size_t n = 0, ncand;
	int ret;

	if (!pe) {
		pager_fail(p, "out of memory for the page directory");
		return;
	}
	e = atomic_load(pe);
	switch (swap_pe_state(e)) {
	case SWAP_PAGE_RESIDENT:
		if (pager_memfd_has_page(p, page)) {
			/* Another thread installed it after this fault was raised. */
			cnt_add(&p->c.spurious, 1);
			swap_uffd_wake(p->r.uffd, page_addr(p, page), PVM_PAGE_SIZE);
			return;
		}
		/* Its data left the memfd without us: QEMU discarded it and the
		 * REMOVE event is still queued. Discarded pages read as zeros. */
		if (!forget_discarded(p, page, pe, e))
			return;   /* raced; the next fault sorts it out */
		e = atomic_load(pe);
		break;
	case SWAP_PAGE_LOADING:
		/* Owned by a loader (whose install wakes us) or by a re-arm or
		 * write-protect change (which install nothing): wake after this
		 * batch so the fault is raised again if it still must be. */
		defer_wake(fc, page);
		return;
	case SWAP_PAGE_EVICTING:
		/* The reclaimer wakes every page it punches or keeps. */
		return;
	}
	if (!claim_for_load(p, page, &old))
		return;
	if (pager_reserve(p, 1) < 0) {
		/* At the limit. Never block here: reclaim may be waiting for an
		 * event that only a fault thread can read. Give the page back,
		 * let reclaim run, and wake the faulting thread shortly so its
		 * fault is raised again. */
		struct batch_item it = { .page = page, .from_tier = swap_pe_state(old) == SWAP_PAGE_INTIER };

		unclaim(p, &it);
		cnt_add(&p->c.fault_waits, 1);
		pager_want_space(p);
		fc->space_wait = true;
		defer_wake(fc, page);
		return;
	}
	if (!write && swap_pe_state(old) == SWAP_PAGE_INTIER &&
	    atomic_load_explicit(&p->write_score, memory_order_relaxed) > 512 &&
	    (atomic_fetch_add_explicit(&p->refault_seq, 1, memory_order_relaxed) & 15) != 0) {
		write = true;   /* it will most likely be written: skip the WP fault */
		cnt_add(&p->c.writable_refaults, 1);
	}
	fc->items[n++] = (struct batch_item){
		.page = page, .entry = old, .write = write, .ok = true,
		.from_tier = swap_pe_state(old) == SWAP_PAGE_INTIER,
	};

	pthread_mutex_lock(&p->prefetch_lock);
	ncand = swap_prefetch_predict(p->prefetcher, page, write ? SWAP_ACCESS_WRITE : 0,
				      fc->cands, fc->cap - 1);
	pthread_mutex_unlock(&p->prefetch_lock);
	fc->items[0].stream = ncand > 0;
	for (size_t i = 0; i < ncand && n < fc->cap; i++) {
		uint64_t c = fc->cands[i];

		if (c >= p->pages || free_pages(p) <= p->prefetch_floor)
			continue;
		if (!claim_for_load(p, c, &old))
			continue;
		if (pager_reserve(p, 1) < 0) {
			struct batch_item it = { .page = c, .from_tier = swap_pe_state(old) == SWAP_PAGE_INTIER };

			unclaim(p, &it);
			break;
		}
		fc->items[n++] = (struct batch_item){
			.page = c, .entry = old, .prefetch = true, .ok = true,
			.from_tier = swap_pe_state(old) == SWAP_PAGE_INTIER,
		};
	}
	if (n > 1)
		qsort(fc->items, n, sizeof(fc->items[0]), cmp_item);

	load_from_tiers(fc, n);

	/* Install the faulting page's run first so the guest resumes early. */
	ret = 0;
	for (size_t lo = 0; lo < n && ret >= 0;) {
		size_t hi = lo + 1;

		while (hi < n && same_run(&fc->items[hi - 1], &fc->items[hi]))
			hi++;
		if (fc->items[lo].ok)
			ret = install_run(fc, lo, hi);
		lo = hi;
	}
	if (ret == -EAGAIN) {
		/* An event is pending: give the pages back, read it, then wake
		 * the faulting thread so its fault is raised again. */
		defer_wake(fc, page);
	} else if (ret < 0 && ret != -ENOENT && ret != -ESRCH) {
		pager_fail(p, "installing guest page %#llx failed: %s",
			   (unsigned long long)page, strerror(-ret));
	}

	size_t zero = 0, tier = 0, pref = 0;
	int kind = -1;          /* what served the faulting page, if installed */

	pthread_mutex_lock(&p->policy_lock);
	for (size_t i = 0; i < n; i++) {
		struct batch_item *it = &fc->items[i];

		if (!it->installed)
			continue;
		swap_policy_insert(p->policy, it->page,
				   (it->prefetch ? SWAP_ACCESS_PREFETCH : 0) |
				   (it->stream ? SWAP_ACCESS_STREAM : 0) |
				   (it->write ? SWAP_ACCESS_WRITE : 0));
		if (p->cfg.on_access && !it->prefetch)
			p->cfg.on_access(p->cfg.on_access_ctx, it->page, it->write, true);
	}
	pthread_mutex_unlock(&p->policy_lock);
	for (size_t i = 0; i < n; i++) {
		struct batch_item *it = &fc->items[i];

		if (!it->installed) {
			/* Not installed: a failed prefetch load, or a failed copy.
			 * The faulting page of a failed load stays LOADING: the
			 * guest must not run on without it (fail-stop). */
			if (it->prefetch || it->ok) {
				unclaim(p, it);
				pager_unreserve(p, 1);
			}
			continue;
		}
		if (it->prefetch) {
			pref++;
		} else if (it->from_tier) {
			tier++;
			cnt_add(&p->c.tier_refaults[PVM_MIN(swap_pe_tier(it->entry), 7u)], 1);
			kind = SWAP_LAT_TIER0 + (int)PVM_MIN(swap_pe_tier(it->entry), 7u);
		} else {
			zero++;
			kind = SWAP_LAT_FIRST_TOUCH;
		}
	}
	cnt_add(&p->c.faults, 1);
	cnt_add(&p->c.zero_fills, zero);
	cnt_add(&p->c.refaults, tier);
	cnt_add(&p->c.prefetched, pref);
	pager_record_latency(p, pvm_now_ns() - t0, kind);
}

static void handle_wp(struct fault_ctx *fc, uint64_t page)
{
	struct swap_pager *p = fc->p;
	swap_pe_t *pe = swap_pagedir_entry(p->dir, page);
	uint64_t e;
	unsigned spins = 0;

	if (!pe)
		return;
	e = atomic_load(pe);
	for (;;) {
		switch (swap_pe_state(e)) {
		case SWAP_PAGE_RESIDENT:
			if (swap_pagedir_cas(pe, &e, swap_pe_with_state(e, SWAP_PAGE_LOADING)))
				goto owned;
			continue;
		case SWAP_PAGE_EVICTING:
			/* The reclaimer decides: undo the eviction, or punch
			 * and wake so the write refaults the page back. */
			if (swap_pagedir_cas(pe, &e, e | SWAP_PE_WRITE_PENDING))
				return;
			continue;
		case SWAP_PAGE_LOADING:
			/* Its owner is between install and publish: brief. */
			if (++spins > 64)
				sched_yield();
			e = atomic_load(pe);
			continue;
		default:
			/* Evicted since: wake, the retry raises a missing fault. */
			swap_uffd_wake(p->r.uffd, page_addr(p, page), PVM_PAGE_SIZE);
			return;
		}
	}
owned:
	if (swap_uffd_protect(p->r.uffd, page_addr(p, page), PVM_PAGE_SIZE, false) == -EAGAIN) {
		/* Event pending: leave the page as it was, retry the write later. */
		pager_publish_owned(p, page, pe, 0, 0);
		defer_wake(fc, page);
		return;
	}
	if (e & SWAP_PE_SAMPLED)
		pager_note_write_outcome(p, true);
	if (e & SWAP_PE_PREFETCHED) {
		cnt_add(&p->c.prefetch_used, 1);
		pthread_mutex_lock(&p->prefetch_lock);
		swap_prefetch_feedback(p->prefetcher, page, SWAP_PREFETCH_USED);
		pthread_mutex_unlock(&p->prefetch_lock);
	}
	pager_publish_owned(p, page, pe, SWAP_PE_DIRTY,
			    SWAP_PE_ARMED | SWAP_PE_PREFETCHED | SWAP_PE_SAMPLED);
	cnt_add(&p->c.wp_faults, 1);
	pthread_mutex_lock(&p->policy_lock);
	swap_policy_touch(p->policy, page, SWAP_ACCESS_WRITE);
	if (p->cfg.on_access)
		p->cfg.on_access(p->cfg.on_access_ctx, page, true, false);
	pthread_mutex_unlock(&p->policy_lock);
}

static void handle_remove(struct fault_ctx *fc, uint64_t start, uint64_t end)
{
	struct swap_pager *p = fc->p;
	uint64_t first, last;

	if (end <= p->r.base || start >= p->r.base + p->r.size)
		return;
	start = PVM_MAX(start, p->r.base);
	end = PVM_MIN(end, p->r.base + p->r.size);
	first = (start - p->r.base) >> PVM_PAGE_SHIFT;
	last = (end - p->r.base + PVM_PAGE_SIZE - 1) >> PVM_PAGE_SHIFT;
	for (uint64_t page = first; page < last; page++) {
		swap_pe_t *pe;
		uint64_t e;

		if (!swap_pagedir_peek(p->dir, page))
			continue;
		pe = swap_pagedir_entry(p->dir, page);
		e = atomic_load(pe);
		for (;;) {
			unsigned st = swap_pe_state(e);

			if (st == SWAP_PAGE_ABSENT)
				break;
			if (st == SWAP_PAGE_LOADING || st == SWAP_PAGE_EVICTING) {
				if (swap_pagedir_cas(pe, &e, e | SWAP_PE_DISCARD)) {
					cnt_add(&p->c.discards, 1);
					break;
				}
				continue;
			}
			if (st == SWAP_PAGE_RESIDENT && pager_memfd_has_page(p, page))
				break;   /* only unmapped, the data is still there */
			if (swap_pagedir_cas(pe, &e, 0)) {
				pager_release_slot(p, page, e);
				cnt_add(&p->c.discards, 1);
				if (st == SWAP_PAGE_RESIDENT) {
					pager_unreserve(p, 1);
					pthread_mutex_lock(&p->policy_lock);
					swap_policy_remove(p->policy, page);
					pthread_mutex_unlock(&p->policy_lock);
				}
				break;
			}
		}
	}
}

static int fault_ctx_init(struct fault_ctx *fc, struct swap_pager *p)
{
	memset(fc, 0, sizeof(*fc));
	fc->p = p;
	fc->cap = (size_t)p->cfg.prefetch_max + 1;
	fc->items = calloc(fc->cap, sizeof(*fc->items));
	fc->cands = calloc(fc->cap, sizeof(*fc->cands));
	fc->ios = calloc(fc->cap, sizeof(*fc->ios));
	fc->io_item = calloc(fc->cap, sizeof(*fc->io_item));
	if (posix_memalign((void **)&fc->buf, PVM_PAGE_SIZE, fc->cap << PVM_PAGE_SHIFT))
		fc->buf = NULL;
	if (!fc->items || !fc->cands || !fc->ios || !fc->io_item || !fc->buf)
		return -ENOMEM;
	return 0;
}

static void fault_ctx_fini(struct fault_ctx *fc)
{
	free(fc->items);
	free(fc->cands);
	free(fc->ios);
	free(fc->io_item);
	free(fc->buf);
}

/*
 * read() the uffd and apply the REMOVE events read, under read_lock (see
 * pager_internal.h): once madvise() has returned, every fault another
 * thread reads after it finds the discard applied. The events' slots are
 * cleared so the caller serves only the faults. Returns bytes read, or -1
 * with errno (EBUSY: another thread is reading; try again).
 */
static ssize_t read_msgs(struct fault_ctx *fc, struct uffd_msg *msgs, size_t len, bool wait)
{
	struct swap_pager *p = fc->p;
	ssize_t got;

	if (wait) {
		pthread_mutex_lock(&p->read_lock);
	} else if (pthread_mutex_trylock(&p->read_lock) != 0) {
		errno = EBUSY;
		return -1;
	}
	got = read(p->r.uffd, msgs, len);
	if (got > 0) {
		for (size_t i = 0; i < (size_t)got / sizeof(msgs[0]); i++) {
			if (msgs[i].event == UFFD_EVENT_REMOVE) {
				handle_remove(fc, msgs[i].arg.remove.start, msgs[i].arg.remove.end);
				msgs[i].event = 0;
			}
		}
	}
	pthread_mutex_unlock(&p->read_lock);
	return got;
}

/*
 * Faults come in bursts. Waking a sleeping thread costs tens of
 * microseconds on virtualized hosts (the idle CPU must be woken), more than
 * serving the fault, so after serving one a fault thread keeps reading the
 * uffd for a short while before it sleeps. Bounded: an idle guest costs
 * nothing once the window has passed. Returns bytes read, or -1.
 */
static ssize_t spin_read(struct fault_ctx *fc, struct uffd_msg *msgs, size_t len)
{
	struct swap_pager *p = fc->p;
	uint64_t deadline;
	ssize_t got;

	if (!p->spin_ns)
		return -1;
	deadline = pvm_now_ns() + p->spin_ns;
	do {
		got = read_msgs(fc, msgs, len, false);
		if (got > 0)
			return got;
		for (int i = 0; i < 32; i++)
			__builtin_ia32_pause();
	} while (pvm_now_ns() < deadline && !atomic_load_explicit(&p->stopping, memory_order_relaxed));
	errno = EAGAIN;
	return -1;
}

void *pager_fault_thread(void *arg)
{
	struct swap_pager *p = arg;
	struct fault_ctx fc;
	struct uffd_msg msgs[16];
	struct pollfd pfd[2] = {
		{ .fd = p->r.uffd, .events = POLLIN },
		{ .fd = p->stop_efd, .events = POLLIN },
	};

	if (fault_ctx_init(&fc, p) < 0) {
		pager_fail(p, "out of memory starting a fault thread");
		fault_ctx_fini(&fc);
		return NULL;
	}
	while (!atomic_load(&p->stopping)) {
		ssize_t got = spin_read(&fc, msgs, sizeof(msgs));

		if (got < 0) {
			int r = poll(pfd, 2, -1);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				pager_fail(p, "poll on userfaultfd: %s", strerror(errno));
				break;
			}
			if (pfd[1].revents)
				break;
			if (pfd[0].revents & (POLLERR | POLLNVAL)) {
				pager_fail(p, "userfaultfd reported an error condition");
				break;
			}
			got = read_msgs(&fc, msgs, sizeof(msgs), true);
		}
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			pager_fail(p, "reading userfaultfd: %s", strerror(errno));
			break;
		}
		for (size_t i = 0; i < (size_t)got / sizeof(msgs[0]); i++) {
			struct uffd_msg *m = &msgs[i];
			uint64_t t0 = pvm_now_ns();

			if (atomic_load(&p->failed))
				break;   /* fail-stopped: leave the guest blocked */
			if (m->event == UFFD_EVENT_PAGEFAULT) {
				uint64_t addr = m->arg.pagefault.address;
				uint64_t fl = m->arg.pagefault.flags;
				uint64_t page;

				if (addr < p->r.base || addr >= p->r.base + p->r.size)
					continue;
				page = (addr - p->r.base) >> PVM_PAGE_SHIFT;
				if (fl & UFFD_PAGEFAULT_FLAG_WP)
					handle_wp(&fc, page);
				else
					handle_missing(&fc, page, fl & UFFD_PAGEFAULT_FLAG_WRITE, t0);
			}   /* REMOVE events were applied by read_msgs() */
		}
		if (fc.ndeferred) {
			if (fc.space_wait)
				pager_wait_space(p, 2000);   /* bounded: events keep flowing */
			fc.space_wait = false;
			run_deferred(&fc);
		}
	}
	fault_ctx_fini(&fc);
	return NULL;
}
