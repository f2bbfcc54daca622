/* swap/extents.h — where the pager places pages in a tier that wants
 * guest neighbours kept together (pager-internal).
 *
 * Concepts: the tier's slots are handed out in order of eviction, and a
 * policy that does not evict in address order (the learned policy, any
 * sampling policy) scatters a guest's pages over the tier. A disk then
 * reads a prefetch batch of 64 neighbouring pages as up to 64 requests
 * instead of one. For a tier that asks for it (swap_tier_ops.extent_pages),
 * each aligned group of that many guest pages gets an extent: as many
 * contiguous slots, reserved from the tier the first time one of its pages
 * needs a slot; page p takes slot base + p % extent_pages. A bitmap per
 * extent says which of its slots hold a page, so a release is idempotent.
 * An extent stays with its group for the pager's life, also when empty,
 * and is never returned to the tier: so the tier at most grows to the
 * guest's size, and a slot once in an extent is never anyone else's.
 * When no contiguous extent can
 * be had (the tier is full, or what it hands out is not contiguous), the
 * caller falls back to a slot of the usual kind; swap_extents_owns() tells
 * the two apart, and swap_extents_put() does on release.
 *
 * Costs: a pointer per group of guest pages, and extent_pages / 8 bytes
 * plus a little per extent in use. Any thread; one mutex.
 */
#ifndef POOLVM_SWAP_EXTENTS_H
#define POOLVM_SWAP_EXTENTS_H

#include <stdbool.h>
#include <stdint.h>

struct swap_tier;
struct swap_extents;

/**
 * swap_extents_create() - extents of @tier's ops->extent_pages slots for a
 * guest of @pages pages. *@out is NULL (and 0 returned) when the tier does
 * not ask for extents. Return: 0 or -ENOMEM, -EINVAL for an extent size
 * that is not a power of two in [64, 4096].
 */
int swap_extents_create(struct swap_tier *tier, uint64_t pages, struct swap_extents **out);
/** swap_extents_destroy() - give every extent's slots back to the tier. */
void swap_extents_destroy(struct swap_extents *x);

/**
 * swap_extents_take() - a slot for @page in its group's extent, reserving
 * the extent first if the group has none. Return: 0 and *@slot, or a
 * negative errno (no extent to be had): then use an ordinary slot.
 */
int swap_extents_take(struct swap_extents *x, uint64_t page, uint64_t *slot);

/** swap_extents_owns() - is @slot @page's slot in its group's extent? */
bool swap_extents_owns(struct swap_extents *x, uint64_t page, uint64_t slot);

/**
 * swap_extents_put() - @page no longer keeps its data in @slot. Idempotent.
 * Return: true when @slot is @page's extent slot (it stays the extent's);
 * false when it is not, and the caller gives it back to the tier.
 */
bool swap_extents_put(struct swap_extents *x, uint64_t page, uint64_t slot);

/** swap_extents_count() - extents reserved, and slots in them holding a page. */
void swap_extents_count(struct swap_extents *x, uint64_t *extents, uint64_t *slots_held);

#endif
