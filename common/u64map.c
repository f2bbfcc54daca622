/* common/u64map.c — open addressing with linear probing. */
#include "u64map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EMPTY UINT64_MAX

static inline size_t slot_of(uint64_t key, size_t mask)
{
	/* splitmix64 finalizer: page numbers are sequential, spread them. */
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ULL;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebULL;
	key ^= key >> 31;
	return (size_t)key & mask;
}

static int alloc_table(struct u64map *map, size_t cap)
{
	map->keys = malloc(cap * sizeof(*map->keys));
	map->values = malloc(cap * sizeof(*map->values));
	if (!map->keys || !map->values) {
		free(map->keys);
		free(map->values);
		map->keys = NULL;
		map->values = NULL;
		return -ENOMEM;
	}
	memset(map->keys, 0xff, cap * sizeof(*map->keys));
	map->mask = cap - 1;
	map->count = 0;
	return 0;
}

int u64map_init(struct u64map *map, size_t hint)
{
	size_t cap = 16;

	while (cap < hint * 2)
		cap <<= 1;
	return alloc_table(map, cap);
}

void u64map_fini(struct u64map *map)
{
	free(map->keys);
	free(map->values);
	memset(map, 0, sizeof(*map));
}

void u64map_clear(struct u64map *map)
{
	memset(map->keys, 0xff, (map->mask + 1) * sizeof(*map->keys));
	map->count = 0;
}

bool u64map_get(const struct u64map *map, uint64_t key, uint32_t *value)
{
	size_t i = slot_of(key, map->mask);

	for (;;) {
		if (map->keys[i] == key) {
			if (value)
				*value = map->values[i];
			return true;
		}
		if (map->keys[i] == EMPTY)
			return false;
		i = (i + 1) & map->mask;
	}
}

static int grow(struct u64map *map)
{
	struct u64map bigger;
	size_t cap = (map->mask + 1) * 2;

	if (alloc_table(&bigger, cap) < 0)
		return -ENOMEM;
	for (size_t i = 0; i <= map->mask; i++) {
		if (map->keys[i] == EMPTY)
			continue;
		size_t j = slot_of(map->keys[i], bigger.mask);

		while (bigger.keys[j] != EMPTY)
			j = (j + 1) & bigger.mask;
		bigger.keys[j] = map->keys[i];
		bigger.values[j] = map->values[i];
		bigger.count++;
	}
	u64map_fini(map);
	*map = bigger;
	return 0;
}

int u64map_put(struct u64map *map, uint64_t key, uint32_t value)
{
	size_t i;

	if ((map->count + 1) * 2 > map->mask + 1 && grow(map) < 0)
		return -ENOMEM;
	i = slot_of(key, map->mask);
	while (map->keys[i] != EMPTY && map->keys[i] != key)
		i = (i + 1) & map->mask;
	if (map->keys[i] == EMPTY)
		map->count++;
	map->keys[i] = key;
	map->values[i] = value;
	return 0;
}

bool u64map_del(struct u64map *map, uint64_t key)
{
	size_t i = slot_of(key, map->mask), j;

	while (map->keys[i] != key) {
		if (map->keys[i] == EMPTY)
			return false;
		i = (i + 1) & map->mask;
	}
	/* Backward-shift: pull later members of the probe run into the hole. */
	j = i;
	for (;;) {
		j = (j + 1) & map->mask;
		if (map->keys[j] == EMPTY)
			break;
		size_t home = slot_of(map->keys[j], map->mask);

		/* Move j into i if home is not cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			map->keys[i] = map->keys[j];
			map->values[i] = map->values[j];
			i = j;
		}
	}
	map->keys[i] = EMPTY;
	map->count--;
	return true;
}
