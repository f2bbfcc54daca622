/* bench/gpu_spill_bench.c — what the spill manager costs per launch, on
 * the host-memory backend (no GPU): the bookkeeping of
 * spill_prepare_launch() when everything is resident (learned period and
 * no period), and a training-like loop at 1x, 2x and 4x oversubscription
 * with 2 MiB chunks, where chunks really move (memcpy between memfd chunks
 * and host buffers). Prints a table; never fails on time.
 *
 * Usage: pvm-gpu-spill-bench [ITERATIONS]   (default 20; one more, untimed,
 * warms up and lets the period be learned)
 */
#include "spill.h"

#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (2ULL << 20)
#define BUFS 64                 /* allocations of 2 chunks each */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A loop of BUFS launches, launch i touching buffers i, i+1 and i+7. */
static void run(const char *name, uint64_t quota_chunks, int iterations, bool random_kernels,
		enum spill_policy policy)
{
	struct spill_backend *be;
	struct spill_config cfg = {
		.quota = quota_chunks * CHUNK, .limit = 4 * BUFS * CHUNK,
		.policy = policy, .prefetch_depth = 2,
	};
	struct spill *s;
	struct spill_stats st;
	uint64_t buf[BUFS], t0 = 0, ns, launches = 0;
	int i, it;

	if (spill_host_backend_open(CHUNK, &be) || spill_create(be, &cfg, &s)) {
		fprintf(stderr, "bench: cannot create a manager\n");
		exit(1);
	}
	for (i = 0; i < BUFS; i++) {
		if (spill_alloc(s, 2 * CHUNK, &buf[i])) {
			fprintf(stderr, "bench: alloc failed\n");
			exit(1);
		}
		spill_memset(s, buf[i], (uint32_t)i, 1, 2 * CHUNK);
	}
	struct spill_stats st0;

	/* iteration 0 warms up (first refills, learning) and is not timed */
	for (it = 0; it <= iterations; it++) {
		if (it == 1) {
			spill_get_stats(s, &st0);
			t0 = pvm_now_ns();
			launches = 0;
		}
		for (i = 0; i < BUFS; i++) {
			uint64_t p[4] = { buf[i], buf[(i + 1) % BUFS], 1234,
					  buf[(i + 7) % BUFS] };
			uint64_t kernel = random_kernels ? rnd() : (uint64_t)(i % 5);

			if (spill_prepare_launch(s, kernel, p, 4)) {
				fprintf(stderr, "bench: launch failed\n");
				exit(1);
			}
			((volatile uint8_t *)(uintptr_t)buf[i])[0]++;   /* the kernel */
			launches++;
		}
	}
	ns = pvm_now_ns() - t0;
	spill_get_stats(s, &st);
	st.evictions -= st0.evictions;
	st.refills -= st0.refills;
	st.bytes_to_host -= st0.bytes_to_host;
	st.bytes_to_device -= st0.bytes_to_device;
	printf("%-34s %8.2f %10.1f %9llu %9llu %8.2f %7llu\n", name,
	       (double)BUFS * 2 / (double)quota_chunks, (double)ns / (double)launches / 1000.0,
	       (unsigned long long)st.evictions, (unsigned long long)st.refills,
	       (double)(st.bytes_to_host + st.bytes_to_device) / (double)ns,
	       (unsigned long long)st.period);
	spill_destroy(s);
	spill_backend_close(be);
}

int main(int argc, char **argv)
{
	int iterations = argc > 1 ? atoi(argv[1]) : 20;

	if (iterations <= 0) {
		fprintf(stderr, "usage: pvm-gpu-spill-bench [ITERATIONS]\n");
		return 2;
	}
	printf("%-34s %8s %10s %9s %9s %8s %7s\n", "case (2 MiB chunks, 64 launches/it)",
	       "oversub", "us/launch", "evict", "refill", "GB/s", "period");
	run("resident, learned period", 128, iterations * 10, false, SPILL_POLICY_LEARNED);
	run("resident, no period (random ids)", 128, iterations * 10, true, SPILL_POLICY_LEARNED);
	run("2x, LRU", 64, iterations, false, SPILL_POLICY_LRU);
	run("2x, learned", 64, iterations, false, SPILL_POLICY_LEARNED);
	run("4x, LRU", 32, iterations, false, SPILL_POLICY_LRU);
	run("4x, learned", 32, iterations, false, SPILL_POLICY_LEARNED);
	return 0;
}
