/* common/u64map.h — an open-addressing hash map from page numbers to 32-bit
 * values, used by policies and prefetchers to find their per-page nodes.
 *
 * Concepts: keys are any uint64_t except UINT64_MAX (the empty marker).
 * The table grows by doubling at 50 % load and uses backward-shift deletion,
 * so lookups stay short without tombstones. Not thread-safe: the owner
 * serializes access.
 */
#ifndef POOLVM_U64MAP_H
#define POOLVM_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;
	uint32_t *values;
	size_t mask;     /* capacity - 1; capacity is a power of two */
	size_t count;
};

/** u64map_init() - empty map sized for @hint entries. Return 0 or -ENOMEM. */
int u64map_init(struct u64map *map, size_t hint);
/** u64map_fini() - free the table; the map may be re-initialized. */
void u64map_fini(struct u64map *map);
/** u64map_get() - true and *@value if @key is present. */
bool u64map_get(const struct u64map *map, uint64_t key, uint32_t *value);
/** u64map_put() - insert or replace. Return 0 or -ENOMEM (map unchanged). */
int u64map_put(struct u64map *map, uint64_t key, uint32_t value);
/** u64map_del() - remove @key. Return true if it was present. */
bool u64map_del(struct u64map *map, uint64_t key);
/** u64map_clear() - remove every entry, keep the table. */
void u64map_clear(struct u64map *map);

#endif
