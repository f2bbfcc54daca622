/* swap/pagedir.h — the page directory: one 64-bit word per guest page.
 *
 * Concepts: guest RAM is split into chunks of 512 pages (2 MiB); a chunk's
 * entries are allocated on first use, so a 64 GiB or 1 TiB guest that touched
 * little costs little (8 bytes of root per chunk, 4 KiB per touched chunk).
 * An entry packs the page's state, flags, and where its tier copy lives.
 * Entries change only by compare-and-swap: a thread that moves a page into a
 * busy state (LOADING, EVICTING) owns it until it publishes the next state.
 *
 *   ABSENT    never written, or known zero, or discarded: fault maps zeros
 *   RESIDENT  mapped in guest RAM (the pager installed it)
 *   LOADING   owned by a thread that is installing it or changing its
 *             write protection
 *   EVICTING  owned by the reclaimer: being written out
 *   INTIER    only in a tier, at (tier, slot)
 *
 * Flags: HAS_SLOT (tier/slot hold a slot reserved for this page), DIRTY (the
 * resident copy differs from the slot's, or there is no slot), ARMED (write
 * protected so the next write is observed), WRITE_PENDING (a write arrived
 * while EVICTING), DISCARD (QEMU discarded it while busy), PREFETCHED
 * (installed by the prefetcher, no use observed yet), SAMPLED (a clean demand
 * refault whose fate — written or evicted clean — feeds the write estimator).
 */
#ifndef POOLVM_SWAP_PAGEDIR_H
#define POOLVM_SWAP_PAGEDIR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum swap_page_state {
	SWAP_PAGE_ABSENT = 0,
	SWAP_PAGE_RESIDENT = 1,
	SWAP_PAGE_LOADING = 2,
	SWAP_PAGE_EVICTING = 3,
	SWAP_PAGE_INTIER = 4,
};

#define SWAP_PE_STATE_MASK     0x7ULL
#define SWAP_PE_HAS_SLOT       (1ULL << 3)
#define SWAP_PE_DIRTY          (1ULL << 4)
#define SWAP_PE_ARMED          (1ULL << 5)
#define SWAP_PE_WRITE_PENDING  (1ULL << 6)
#define SWAP_PE_DISCARD        (1ULL << 7)
#define SWAP_PE_PREFETCHED     (1ULL << 8)
#define SWAP_PE_SAMPLED        (1ULL << 9)   /* clean demand refault watched by the write estimator */
#define SWAP_PE_TIER_SHIFT     10
#define SWAP_PE_TIER_MASK      (0xfULL << SWAP_PE_TIER_SHIFT)
#define SWAP_PE_SLOT_SHIFT     16
#define SWAP_PE_SLOT_MAX       ((1ULL << 48) - 1)
#define SWAP_MAX_TIERS         15

typedef _Atomic uint64_t swap_pe_t;

static inline unsigned swap_pe_state(uint64_t e) { return (unsigned)(e & SWAP_PE_STATE_MASK); }
static inline unsigned swap_pe_tier(uint64_t e) { return (unsigned)((e & SWAP_PE_TIER_MASK) >> SWAP_PE_TIER_SHIFT); }
static inline uint64_t swap_pe_slot(uint64_t e) { return e >> SWAP_PE_SLOT_SHIFT; }
static inline uint64_t swap_pe_with_state(uint64_t e, unsigned s)
{ return (e & ~SWAP_PE_STATE_MASK) | s; }
static inline uint64_t swap_pe_with_slot(uint64_t e, unsigned tier, uint64_t slot)
{
	e &= ~(SWAP_PE_TIER_MASK | (SWAP_PE_SLOT_MAX << SWAP_PE_SLOT_SHIFT));
	return e | SWAP_PE_HAS_SLOT | ((uint64_t)tier << SWAP_PE_TIER_SHIFT) |
	       (slot << SWAP_PE_SLOT_SHIFT);
}
static inline uint64_t swap_pe_without_slot(uint64_t e)
{
	return e & ~(SWAP_PE_HAS_SLOT | SWAP_PE_TIER_MASK |
		     (SWAP_PE_SLOT_MAX << SWAP_PE_SLOT_SHIFT));
}

struct swap_pagedir;

/**
 * swap_pagedir_create() - a directory for @page_count pages, all ABSENT.
 * Return: 0 and *@out, -EINVAL for 0 pages, -ENOMEM.
 */
int swap_pagedir_create(uint64_t page_count, struct swap_pagedir **out);
/** swap_pagedir_destroy() - free everything; NULL is a no-op. */
void swap_pagedir_destroy(struct swap_pagedir *dir);
/** swap_pagedir_pages() - the page count it was created with. */
uint64_t swap_pagedir_pages(const struct swap_pagedir *dir);

/**
 * swap_pagedir_entry() - the entry of @page, allocating its chunk on first
 * use. Return: the entry, or NULL if @page is out of range or memory is
 * short. Any thread; lock-free.
 */
swap_pe_t *swap_pagedir_entry(struct swap_pagedir *dir, uint64_t page);

/**
 * swap_pagedir_peek() - the value of @page's entry without allocating:
 * 0 (ABSENT) for pages in chunks never touched or out of range.
 */
uint64_t swap_pagedir_peek(struct swap_pagedir *dir, uint64_t page);

/** swap_pagedir_chunks() - chunks allocated so far (memory use / 4 KiB). */
uint64_t swap_pagedir_chunks(const struct swap_pagedir *dir);
/** swap_pagedir_bytes() - bytes the directory uses now. */
uint64_t swap_pagedir_bytes(const struct swap_pagedir *dir);

/**
 * swap_pagedir_foreach() - call @fn for every page in an allocated chunk
 * whose entry is not ABSENT. For teardown and stats; not concurrent-safe
 * against CAS users beyond a racy snapshot.
 */
void swap_pagedir_foreach(struct swap_pagedir *dir,
			  void (*fn)(void *ctx, uint64_t page, uint64_t entry),
			  void *ctx);

/** swap_pagedir_cas() - compare-and-swap helper; on failure *@expect is updated. */
static inline int swap_pagedir_cas(swap_pe_t *e, uint64_t *expect, uint64_t desired)
{
	return atomic_compare_exchange_strong_explicit(e, expect, desired,
			memory_order_acq_rel, memory_order_acquire);
}

#endif
