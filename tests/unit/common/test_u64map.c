/* tests/unit/common/test_u64map.c — the page -> u32 hash map: lookups,
 * replacement, growth, clearing, and (the subtle part) that backward-shift
 * deletion keeps every other key reachable, checked against a reference
 * array over tens of thousands of random operations. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "u64map.h"

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static void put_get_del_round_trip(void **state)
{
	struct u64map map;
	uint32_t v = 0;

	(void)state;
	assert_int_equal(u64map_init(&map, 4), 0);
	assert_false(u64map_get(&map, 7, &v));
	assert_int_equal(u64map_put(&map, 7, 70), 0);
	assert_int_equal(u64map_put(&map, 0, 1), 0);
	assert_int_equal(u64map_put(&map, UINT64_MAX - 1, 2), 0);
	assert_true(u64map_get(&map, 7, &v));
	assert_int_equal(v, 70);
	assert_true(u64map_get(&map, 0, &v));
	assert_int_equal(v, 1);
	assert_true(u64map_get(&map, UINT64_MAX - 1, NULL));
	assert_int_equal(map.count, 3);
	assert_true(u64map_del(&map, 7));
	assert_false(u64map_del(&map, 7));
	assert_false(u64map_get(&map, 7, &v));
	assert_true(u64map_get(&map, 0, &v));
	assert_int_equal(map.count, 2);
	u64map_fini(&map);
}

static void put_of_present_key_replaces_value(void **state)
{
	struct u64map map;
	uint32_t v = 0;

	(void)state;
	assert_int_equal(u64map_init(&map, 0), 0);
	assert_int_equal(u64map_put(&map, 1ULL << 40, 5), 0);
	assert_int_equal(u64map_put(&map, 1ULL << 40, 6), 0);
	assert_int_equal(map.count, 1);
	assert_true(u64map_get(&map, 1ULL << 40, &v));
	assert_int_equal(v, 6);
	u64map_fini(&map);
}

static void map_grows_far_beyond_its_hint(void **state)
{
	enum { N = 100000 };
	struct u64map map;
	uint32_t v;

	(void)state;
	assert_int_equal(u64map_init(&map, 1), 0);
	for (uint32_t i = 0; i < N; i++)
		assert_int_equal(u64map_put(&map, (uint64_t)i * 4096, i), 0);
	assert_int_equal(map.count, N);
	assert_true(map.mask + 1 >= 2 * (size_t)N);   /* at most half full */
	for (uint32_t i = 0; i < N; i++) {
		assert_true(u64map_get(&map, (uint64_t)i * 4096, &v));
		assert_int_equal(v, i);
	}
	assert_false(u64map_get(&map, 1, &v));
	u64map_fini(&map);
}

static void clear_empties_the_map_and_keeps_it_usable(void **state)
{
	struct u64map map;
	uint32_t v;

	(void)state;
	assert_int_equal(u64map_init(&map, 16), 0);
	for (uint64_t k = 0; k < 100; k++)
		assert_int_equal(u64map_put(&map, k, (uint32_t)k), 0);
	u64map_clear(&map);
	assert_int_equal(map.count, 0);
	for (uint64_t k = 0; k < 100; k++)
		assert_false(u64map_get(&map, k, &v));
	assert_int_equal(u64map_put(&map, 3, 33), 0);
	assert_true(u64map_get(&map, 3, &v));
	assert_int_equal(v, 33);
	u64map_fini(&map);
	/* A finished map may be initialized again. */
	assert_int_equal(u64map_init(&map, 0), 0);
	u64map_fini(&map);
}

/* Sequential keys fill a small table densely: deleting from the middle of
 * long probe runs, including runs that wrap around the table's end. */
static void deleting_keeps_other_keys_reachable(void **state)
{
	struct u64map map;
	uint32_t v;

	(void)state;
	assert_int_equal(u64map_init(&map, 8), 0);
	for (uint64_t k = 0; k < 8; k++)
		assert_int_equal(u64map_put(&map, k, (uint32_t)k), 0);
	for (uint64_t gone = 0; gone < 8; gone += 3) {
		assert_true(u64map_del(&map, gone));
		for (uint64_t k = 0; k < 8; k++)
			assert_int_equal(u64map_get(&map, k, &v), k % 3 != 0 || k > gone);
	}
	u64map_fini(&map);
}

/* The reference is a plain array indexed by key slot in a fixed universe of
 * keys that mixes dense runs with huge sparse page numbers. */
static void random_operations_agree_with_a_reference_array(void **state)
{
	enum { UNIVERSE = 4096, OPS = 200000 };
	struct u64map map;
	uint64_t *keys = malloc(UNIVERSE * sizeof(*keys));
	uint32_t *want = malloc(UNIVERSE * sizeof(*want));
	bool *present = calloc(UNIVERSE, sizeof(*present));
	uint64_t rng = 0x853c49e6748fea9bULL;
	size_t count = 0;
	uint32_t v;

	(void)state;
	assert_non_null(keys);
	assert_non_null(want);
	assert_non_null(present);
	for (size_t i = 0; i < UNIVERSE; i++) {
		switch (i % 3) {
		case 0: keys[i] = i; break;                           /* dense */
		case 1: keys[i] = (1ULL << 40) + i * 512; break;      /* strided */
		default: keys[i] = next_random(&rng) % (UINT64_MAX - 1); break;
		}
	}
	assert_int_equal(u64map_init(&map, 2), 0);
	for (size_t op = 0; op < OPS; op++) {
		uint64_t r = next_random(&rng);
		/* Bias toward a sliding window so the map grows and shrinks. */
		size_t i = (size_t)((r >> 16) % 1024 + (op / 100) % (UNIVERSE - 1024));

		switch (r % 5) {
		case 0: case 1:
			assert_int_equal(u64map_put(&map, keys[i], (uint32_t)r), 0);
			if (!present[i])
				count++;
			present[i] = true;
			want[i] = (uint32_t)r;
			break;
		case 2: case 3:
			assert_int_equal(u64map_del(&map, keys[i]), present[i]);
			if (present[i])
				count--;
			present[i] = false;
			break;
		default:
			assert_int_equal(u64map_get(&map, keys[i], &v), present[i]);
			if (present[i])
				assert_int_equal(v, want[i]);
			break;
		}
		assert_int_equal(map.count, count);
		if (op % 10000 == 0) {
			for (size_t k = 0; k < UNIVERSE; k++) {
				assert_int_equal(u64map_get(&map, keys[k], &v), present[k]);
				if (present[k])
					assert_int_equal(v, want[k]);
			}
		}
	}
	for (size_t k = 0; k < UNIVERSE; k++) {
		assert_int_equal(u64map_get(&map, keys[k], &v), present[k]);
		if (present[k])
			assert_int_equal(v, want[k]);
	}
	u64map_fini(&map);
	free(keys);
	free(want);
	free(present);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_del_round_trip),
		cmocka_unit_test(put_of_present_key_replaces_value),
		cmocka_unit_test(map_grows_far_beyond_its_hint),
		cmocka_unit_test(clear_empties_the_map_and_keeps_it_usable),
		cmocka_unit_test(deleting_keeps_other_keys_reachable),
		cmocka_unit_test(random_operations_agree_with_a_reference_array),
	};

	return cmocka_run_group_tests_name("common_u64map", tests, NULL, NULL);
}
