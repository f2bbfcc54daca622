/* swap/tiers/slots.h — the slot allocator that every built-in tier shares
 * (internal to swap/tiers/, not part of the tier interface).
 *
 * Concepts: slots are numbered from 0. Slots below the high-water mark
 * @high have been handed out at least once; a bitmap says which of them are
 * free again, and a summary bitmap (one bit per bitmap word) finds a free
 * word without scanning the whole map. Allocation always hands out the
 * lowest free slots first and only then raises @high, so a tier stays as
 * compact as it can (a disk file grows only when every lower slot is in
 * use). An allocation is all-or-nothing: on failure nothing is reserved.
 *
 * All functions take the allocator's mutex; any thread may call them.
 */
#ifndef POOLVM_SWAP_TIERS_SLOTS_H
#define POOLVM_SWAP_TIERS_SLOTS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct tier_slots {
	pthread_mutex_t lock;
	uint64_t limit;         /* most slots that may be in use at once */
	uint64_t high;          /* slots [0, high) were handed out before */
	uint64_t used;          /* slots currently reserved */
	uint64_t *free_words;   /* bit b of word w: slot 64w+b (< high) free */
	uint64_t *summary;      /* bit j of word k: free_words[64k+j] != 0 */
	size_t nwords;          /* capacity of free_words, a multiple of 64 */
	size_t search_from;     /* summary words below this are all zero */
};

/*
 * Called by tier_slots_alloc() under the allocator's lock before slots at or
 * above the old high-water mark are handed out: make slots [0, @new_high)
 * usable (grow a file, a table). Return 0 or a negative errno; on error the
 * allocation fails and nothing is reserved.
 */
typedef int (*tier_slots_grow_fn)(void *ctx, uint64_t new_high);

/**
 * tier_slots_init() - set up an allocator for at most @limit slots.
 * @prealloc: size the bitmaps for @limit now (a fixed pool) rather than
 *            growing them as the high-water mark rises.
 *
 * Return: 0, -EINVAL for a zero limit, or -ENOMEM.
 */
int tier_slots_init(struct tier_slots *s, uint64_t limit, int prealloc);

/** tier_slots_destroy() - free the bitmaps. No other call may be running. */
void tier_slots_destroy(struct tier_slots *s);

/**
 * tier_slots_alloc() - reserve @n slots, lowest free first, into @out.
 * @grow: NULL, or called (with @ctx) when the high-water mark must rise.
 *
 * Return: 0 with all @n slots reserved; -ENOSPC when fewer than @n slots
 * are free, -ENOMEM, or @grow's error: then nothing is reserved.
 */
int tier_slots_alloc(struct tier_slots *s, uint64_t *out, size_t n,
		     tier_slots_grow_fn grow, void *ctx);

/**
 * tier_slots_release() - return @n slots. Slots that are not reserved (never
 * handed out, or already released) are skipped and counted.
 *
 * Return: the number of slots skipped (0 when the caller did no wrong).
 */
size_t tier_slots_release(struct tier_slots *s, const uint64_t *slots, size_t n);

/** tier_slots_used() - slots reserved now. */
uint64_t tier_slots_used(struct tier_slots *s);

#endif
