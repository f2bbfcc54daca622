/* swap/tiers/remote_backup.c — "backup=SPEC": a second copy of every page
 * in another tier (a disk), written in the background.
 *
 * store() never waits for the backup: after a slot's N replicas were
 * delivered it copies the page into a staging buffer (REMOTE_STAGING_PAGES
 * of them, 4 MiB) and queues (slot, generation). When staging is full it
 * queues the slot alone and the backup thread reads the page back from a
 * replica. The backup thread allocates the slot's backup slot once, writes
 * batches with the backup tier's own store(), and marks the slot BACKED
 * only if its generation did not change meanwhile; a newer store queues
 * itself again.
 *
 * Backup slots of released remote slots go back to the backup tier only
 * from the backup thread, between batches: a write of the old owner can
 * then never land after the slot was handed to someone else.
 */
#include "remote_internal.h"

#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKUP_BATCH 64

int remote_backup_open(struct remote_tier *r)
{
	void *staging = NULL;
	int rc;

	if (!r->spec.backup[0])
		return 0;
	rc = swap_tier_open(r->spec.backup, &r->backup);
	if (rc) {
		pvm_err("remote tier: backup=%s cannot be opened (see above)",
			r->spec.backup);
		return rc;
	}
	if (posix_memalign(&staging, PVM_PAGE_SIZE,
			   (size_t)REMOTE_STAGING_PAGES * PVM_PAGE_SIZE))
		return -ENOMEM;
	r->staging = staging;
	r->staging_free = malloc(REMOTE_STAGING_PAGES * sizeof(*r->staging_free));
	if (!r->staging_free)
		return -ENOMEM;
	for (int i = 0; i < REMOTE_STAGING_PAGES; i++)
		r->staging_free[r->nstaging_free++] = i;
	rc = remote_thread_start(&r->backup_thread, remote_backup_main, r,
				 "pvm-rbackup");
	if (rc) {
		pvm_err("remote tier: cannot start the backup thread: %s",
			strerror(-rc));
		return rc;
	}
	r->backup_started = true;
	return 0;
}

void remote_backup_close(struct remote_tier *r)
{
	if (r->backup_started) {
		pthread_mutex_lock(&r->backup_lock);
		pthread_cond_broadcast(&r->backup_cond);
		pthread_mutex_unlock(&r->backup_lock);
		pthread_join(r->backup_thread, NULL);
		r->backup_started = false;
	}
	swap_tier_close(r->backup);
	r->backup = NULL;
	free(r->staging);
	free(r->staging_free);
	free(r->bq);
	free(r->bfree);
	r->staging = NULL;
	r->staging_free = NULL;
	r->bq = NULL;
	r->bfree = NULL;
}

size_t remote_backup_pending(struct remote_tier *r)
{
	size_t n;

	pthread_mutex_lock(&r->backup_lock);
	n = r->bq_len;
	pthread_mutex_unlock(&r->backup_lock);
	return n;
}

/* Append to the ring (backup_lock held). */
static int bq_push(struct remote_tier *r, const struct remote_backup_item *it)
{
	if (r->bq_len == r->bq_cap) {
		size_t cap = r->bq_cap ? r->bq_cap * 2 : 1024;
		struct remote_backup_item *q = malloc(cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		for (size_t i = 0; i < r->bq_len; i++)
			q[i] = r->bq[(r->bq_head + i) % r->bq_cap];
		free(r->bq);
		r->bq = q;
		r->bq_cap = cap;
		r->bq_head = 0;
	}
	r->bq[(r->bq_head + r->bq_len) % r->bq_cap] = *it;
	r->bq_len++;
	return 0;
}

void remote_backup_queue(struct remote_tier *r, uint64_t slot, uint32_t gen,
			 const void *page)
{
	struct remote_backup_item it = { .slot = slot, .gen = gen, .staged = -1 };

	pthread_mutex_lock(&r->backup_lock);
	if (r->nstaging_free)
		it.staged = r->staging_free[--r->nstaging_free];
	pthread_mutex_unlock(&r->backup_lock);
	if (it.staged >= 0)
		memcpy(r->staging + (size_t)it.staged * PVM_PAGE_SIZE, page,
		       PVM_PAGE_SIZE);
	pthread_mutex_lock(&r->backup_lock);
	if (bq_push(r, &it)) {
		if (it.staged >= 0)
			r->staging_free[r->nstaging_free++] = it.staged;
		atomic_fetch_add(&r->backup_errors, 1);
	}
	pthread_cond_signal(&r->backup_cond);
	pthread_mutex_unlock(&r->backup_lock);
}

void remote_backup_forget(struct remote_tier *r, uint32_t backup_slot)
{
	pthread_mutex_lock(&r->backup_lock);
	if (r->nbfree == r->bfree_cap) {
		size_t cap = r->bfree_cap ? r->bfree_cap * 2 : 256;
		uint64_t *f = realloc(r->bfree, cap * sizeof(*f));

		if (!f) {
			pthread_mutex_unlock(&r->backup_lock);
			return;     /* a backup slot leaks; data stays correct */
		}
		r->bfree = f;
		r->bfree_cap = cap;
	}
	r->bfree[r->nbfree++] = backup_slot;
	pthread_cond_signal(&r->backup_cond);
	pthread_mutex_unlock(&r->backup_lock);
}

struct backup_ctx {
	struct remote_tier *r;
	struct remote_backup_item items[BACKUP_BATCH];
	struct swap_io ios[BACKUP_BATCH];
	uint64_t fresh[BACKUP_BATCH];           /* newly allocated backup slots */
	bool is_fresh[BACKUP_BATCH];
	bool keep[BACKUP_BATCH];
	uint64_t read_slots[BACKUP_BATCH];
	void *read_bufs[BACKUP_BATCH];
	int read_res[BACKUP_BATCH];
	size_t read_idx[BACKUP_BATCH];
	uint8_t *readback;                      /* BACKUP_BATCH pages */
	uint64_t *release;
	size_t nrelease, release_cap;
};

static void *page_of(struct backup_ctx *x, size_t i)
{
	return x->items[i].staged >= 0
		? x->r->staging + (size_t)x->items[i].staged * PVM_PAGE_SIZE
		: x->readback + i * PVM_PAGE_SIZE;
}

/* Check the items against the slot table; find or allocate backup slots. */
static void plan_batch(struct backup_ctx *x, size_t n)
{
	struct remote_tier *r = x->r;
	size_t need = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < n; i++) {
		uint64_t slot = x->items[i].slot;
		struct remote_seg *s = remote_seg(r, slot);
		size_t k = SEG_IDX(slot);

		x->is_fresh[i] = false;
		x->keep[i] = s && (s->flags[k] & SLOT_VALID) &&
			     !(s->flags[k] & SLOT_BACKED) && s->gen[k] == x->items[i].gen;
		if (!x->keep[i])
			continue;
		if (s->backup[k] != REMOTE_NO_PAGE) {
			x->ios[i].slot = s->backup[k];
		} else {
			x->is_fresh[i] = true;
			need++;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (!need)
		return;
	if (swap_tier_alloc(r->backup, x->fresh, need) == 0) {
		for (size_t i = 0, k = 0; i < n; i++)
			if (x->is_fresh[i])
				x->ios[i].slot = x->fresh[k++];
		return;
	}
	/* One by one until the backup is full. */
	for (size_t i = 0; i < n; i++) {
		if (!x->is_fresh[i])
			continue;
		if (swap_tier_alloc(r->backup, &x->ios[i].slot, 1)) {
			x->is_fresh[i] = false;
			x->keep[i] = false;
			atomic_fetch_add(&r->backup_errors, 1);
			if (!r->said_backup_full) {
				r->said_backup_full = true;
				pvm_err("remote tier: backup %s is full: new pages are "
					"kept on the pods only", r->spec.backup);
			}
		}
	}
}

static void run_batch(struct backup_ctx *x, size_t n)
{
	struct remote_tier *r = x->r;
	size_t nread = 0, nio = 0;
	struct swap_io ios[BACKUP_BATCH];
	size_t idx[BACKUP_BATCH];

	plan_batch(x, n);
	for (size_t i = 0; i < n; i++) {
		if (!x->keep[i] || x->items[i].staged >= 0)
			continue;
		x->read_slots[nread] = x->items[i].slot;
		x->read_bufs[nread] = page_of(x, i);
		x->read_idx[nread++] = i;
	}
	if (nread) {
		remote_read_slots(r, x->read_slots, x->read_bufs, x->read_res, nread,
				  false);
		for (size_t k = 0; k < nread; k++)
			if (x->read_res[k])
				x->keep[x->read_idx[k]] = false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!x->keep[i])
			continue;
		ios[nio] = (struct swap_io){ .slot = x->ios[i].slot, .buf = page_of(x, i) };
		idx[nio++] = i;
	}
	if (nio)
		swap_tier_store(r->backup, ios, nio);

	pthread_mutex_lock(&r->lock);
	for (size_t k = 0; k < nio; k++) {
		size_t i = idx[k];
		uint64_t slot = x->items[i].slot;
		struct remote_seg *s = remote_seg(r, slot);
		size_t j = SEG_IDX(slot);

		if (ios[k].result) {
			atomic_fetch_add(&r->backup_errors, 1);
			continue;
		}
		atomic_fetch_add(&r->backup_writes, 1);
		if (x->is_fresh[i]) {
			if (!(s->flags[j] & SLOT_ALLOCATED) || s->backup[j] != REMOTE_NO_PAGE)
				continue;       /* released meanwhile: freed below */
			s->backup[j] = (uint32_t)x->ios[i].slot;
			x->is_fresh[i] = false;
		}
		if ((s->flags[j] & SLOT_VALID) && s->gen[j] == x->items[i].gen)
			s->flags[j] |= SLOT_BACKED;
	}
	pthread_mutex_unlock(&r->lock);
	/* Fresh backup slots nobody took (write failed, slot released). */
	for (size_t i = 0; i < n; i++)
		if (x->is_fresh[i])
			swap_tier_release(r->backup, &x->ios[i].slot, 1);
	pthread_mutex_lock(&r->backup_lock);
	for (size_t i = 0; i < n; i++)
		if (x->items[i].staged >= 0)
			r->staging_free[r->nstaging_free++] = x->items[i].staged;
	pthread_mutex_unlock(&r->backup_lock);
}

void *remote_backup_main(void *arg)
{
	struct backup_ctx *x = calloc(1, sizeof(*x));
	struct remote_tier *r = arg;
	void *rb = NULL;

	if (!x || posix_memalign(&rb, PVM_PAGE_SIZE, BACKUP_BATCH * PVM_PAGE_SIZE)) {
		pvm_err("remote tier: backup thread: out of memory; no backup copies "
			"will be written");
		free(x);
		return NULL;
	}
	x->r = r;
	x->readback = rb;
	for (;;) {
		size_t n = 0;
		uint64_t *rel;
		size_t nrel;

		pthread_mutex_lock(&r->backup_lock);
		while (!r->bq_len && !r->nbfree && !atomic_load(&r->stopping))
			pthread_cond_wait(&r->backup_cond, &r->backup_lock);
		if (atomic_load(&r->stopping)) {
			pthread_mutex_unlock(&r->backup_lock);
			break;
		}
		/* Released backup slots first: no write of ours is in flight. */
		rel = r->bfree;
		nrel = r->nbfree;
		r->bfree = NULL;
		r->nbfree = r->bfree_cap = 0;
		while (r->bq_len && n < BACKUP_BATCH) {
			x->items[n++] = r->bq[r->bq_head];
			r->bq_head = (r->bq_head + 1) % r->bq_cap;
			r->bq_len--;
		}
		pthread_mutex_unlock(&r->backup_lock);
		if (nrel)
			swap_tier_release(r->backup, rel, nrel);
		free(rel);
		if (n)
			run_batch(x, n);
	}
	free(rb);
	free(x);
	return NULL;
}
