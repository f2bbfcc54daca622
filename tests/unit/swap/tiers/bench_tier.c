/* tests/unit/swap/tiers/bench_tier.c — latency and throughput of a tier.
 *
 * Usage: bench_tier [SPEC [PAGES]]   (default: disk:/var/tmp 65536)
 *
 * Fills PAGES slots, then loads random slots in batches of 1, 8, 64 and
 * 256 and stores batches of 64, and prints a table: per-batch latency
 * percentiles and pages per second. A benchmark, not a test: it never fails
 * on time.
 */
#include "tier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 4096u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Run @reps batches of @batch random slots; print one table row. */
static int run(struct swap_tier *t, const uint64_t *slots, uint64_t nslots,
	       size_t batch, unsigned reps, int store, uint8_t *bufs)
{
	struct swap_io *ios = calloc(batch, sizeof(*ios));
	uint64_t *lat = calloc(reps, sizeof(*lat)), rng = 88172645463325252ULL;
	uint64_t total = 0;
	unsigned r;
	size_t i;

	if (!ios || !lat)
		return -ENOMEM;
	for (r = 0; r < reps; r++) {
		uint64_t t0;
		int rc;

		for (i = 0; i < batch; i++)
			ios[i] = (struct swap_io){
				.slot = slots[next_rand(&rng) % nslots],
				.buf = bufs + i * PAGE };
		t0 = now_ns();
		rc = store ? swap_tier_store(t, ios, batch) : swap_tier_load(t, ios, batch);
		lat[r] = now_ns() - t0;
		total += lat[r];
		if (rc) {
			fprintf(stderr, "bench_tier: %s failed: %s\n",
				store ? "store" : "load", strerror(-rc));
			return rc;
		}
	}
	qsort(lat, reps, sizeof(*lat), cmp_u64);
	printf("%-6s %6zu %6u %10.1f %10.1f %10.1f %10.1f %12.0f\n",
	       store ? "store" : "load", batch, reps, lat[reps / 2] / 1e3,
	       lat[reps * 9 / 10] / 1e3, lat[reps * 99 / 100] / 1e3,
	       lat[reps / 2] / 1e3 / (double)batch,
	       (double)batch * reps / (total / 1e9));
	free(lat);
	free(ios);
	return 0;
}

int main(int argc, char **argv)
{
	const char *spec = argc > 1 ? argv[1] : "disk:/var/tmp";
	uint64_t nslots = argc > 2 ? strtoull(argv[2], NULL, 0) : 65536, i;
	struct swap_tier *t;
	uint64_t *slots;
	uint8_t *bufs;
	int rc;

	if (nslots < 256) {
		fprintf(stderr, "bench_tier: PAGES must be at least 256\n");
		return 2;
	}
	rc = swap_tier_open(spec, &t);
	if (rc)
		return 1;
	slots = calloc(nslots, sizeof(*slots));
	if (!slots || posix_memalign((void **)&bufs, PAGE, 256 * PAGE))
		return 1;
	for (i = 0; i < 256 * PAGE; i++)
		bufs[i] = (uint8_t)(i * 31 + 7);
	if (swap_tier_alloc(t, slots, nslots)) {
		fprintf(stderr, "bench_tier: cannot allocate %llu slots\n",
			(unsigned long long)nslots);
		return 1;
	}
	/* Fill every slot once, so loads read written blocks. */
	for (i = 0; i < nslots; i += 256) {
		struct swap_io ios[256];
		size_t n = nslots - i < 256 ? nslots - i : 256, k;

		for (k = 0; k < n; k++)
			ios[k] = (struct swap_io){ .slot = slots[i + k], .buf = bufs + k * PAGE };
		if (swap_tier_store(t, ios, n)) {
			fprintf(stderr, "bench_tier: filling the tier failed\n");
			return 1;
		}
	}
	printf("# %s, %llu slots (%llu MiB), random slots\n", spec,
	       (unsigned long long)nslots, (unsigned long long)(nslots * PAGE >> 20));
	printf("%-6s %6s %6s %10s %10s %10s %10s %12s\n", "op", "batch", "reps",
	       "p50_us", "p90_us", "p99_us", "p50_us/pg", "pages/s");
	rc = run(t, slots, nslots, 1, 4000, 0, bufs) ||
	     run(t, slots, nslots, 8, 1000, 0, bufs) ||
	     run(t, slots, nslots, 64, 500, 0, bufs) ||
	     run(t, slots, nslots, 256, 200, 0, bufs) ||
	     run(t, slots, nslots, 1, 2000, 1, bufs) ||
	     run(t, slots, nslots, 64, 300, 1, bufs);
	swap_tier_release(t, slots, nslots);
	swap_tier_close(t);
	free(bufs);
	free(slots);
	return rc ? 1 : 0;
}
