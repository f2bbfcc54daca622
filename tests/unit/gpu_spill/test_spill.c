/* tests/unit/gpu_spill/test_spill.c — the spill manager against the host
 * memory backend: data integrity through host DRAM and a disk tier with the
 * quota 4x below the footprint, pointer stability, quota accounting,
 * freeing while evicted, and error paths (bad pointers, the limit, a tier
 * that fails its stores).
 *
 * The "kernels" here are the test itself: after spill_prepare_launch() the
 * device pointers are host addresses of the mapped chunks, and the test
 * reads and changes bytes through them, as a kernel would on a GPU. A
 * shadow copy of every allocation says what each byte must be.
 */
#include "spill.h"

#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define CHUNK (64 * 1024)
#define PVM_MIN_TEST(a, b) ((a) < (b) ? (a) : (b))

struct fixture {
	struct spill_backend *be;
	struct spill *s;
	char dir[64];
	char disk_spec[96];
};

static uint64_t rng_state = 0x12345678abcdefULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/pvm-spill-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->disk_spec, sizeof(f->disk_spec), "disk:%s", f->dir);
	assert_int_equal(spill_host_backend_open(CHUNK, &f->be), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	spill_destroy(f->s);
	spill_backend_close(f->be);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void make(struct fixture *f, uint64_t quota, uint64_t limit, uint64_t host,
		 const char *tier1, const char *tier2)
{
	const char *tiers[3] = { tier1, tier2, NULL };
	struct spill_config cfg = {
		.quota = quota, .limit = limit, .host_bytes = host,
		.tiers = tier1 ? tiers : NULL, .prefetch_depth = 2,
	};

	assert_int_equal(spill_create(f->be, &cfg, &f->s), 0);
}

/* True when the address can be read by this process right now (without
 * a signal: process_vm_readv on ourselves reports EFAULT instead). */
static bool readable(uint64_t va)
{
	char byte;
	struct iovec local = { &byte, 1 }, remote = { (void *)(uintptr_t)va, 1 };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == 1;
}

struct buf {
	uint64_t dptr, size;
	uint8_t *shadow;
};

static void check_all(struct spill *s, struct buf *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t *got = malloc(b[i].size);

		assert_non_null(got);
		assert_int_equal(spill_read(s, got, b[i].dptr, b[i].size), 0);
		if (memcmp(got, b[i].shadow, b[i].size) != 0) {
			uint64_t j;

			for (j = 0; j < b[i].size && got[j] == b[i].shadow[j]; j++)
				;
			fail_msg("allocation %zu (%llu bytes): byte %llu is %u, want %u",
				 i, (unsigned long long)b[i].size, (unsigned long long)j,
				 got[j], b[i].shadow[j]);
		}
		free(got);
	}
}

static void print_stats(const char *name, struct spill *s)
{
	struct json_object *o = spill_stats_json(s);

	assert_non_null(o);
	printf("# %s: %s\n", name, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* Random writes, reads, memsets, device copies and "kernels" over a
 * footprint 4x the quota; every byte checked at the end; chunks must have
 * gone through host DRAM and the disk tier and come back. */
static void data_survives_evictions_through_host_and_disk(void **state)
{
	struct fixture *f = *state;
	/* at most 3 chunks each, so any three fit the quota of 9 */
	enum { NBUF = 18 };
	static const uint64_t sizes[NBUF] = {
		3 * CHUNK, 2 * CHUNK + 100, 3 * CHUNK, 1000, 40000, 2 * CHUNK + 4096,
		3 * CHUNK, 77, 2 * CHUNK, 3 * CHUNK, 12345, 3 * CHUNK - 1,
		3 * CHUNK, 3 * CHUNK, 2 * CHUNK + 5, 3 * CHUNK, 3 * CHUNK, 3 * CHUNK,
	};
	struct buf b[NBUF];
	uint64_t footprint = 0, resident_max = 0;
	struct spill_stats st;
	int i, op;

	make(f, 9 * CHUNK, 64 * CHUNK, 6 * CHUNK, f->disk_spec, NULL);
	for (i = 0; i < NBUF; i++) {
		b[i].size = sizes[i];
		b[i].shadow = malloc(sizes[i]);
		assert_non_null(b[i].shadow);
		assert_int_equal(spill_alloc(f->s, sizes[i], &b[i].dptr), 0);
		footprint += sizes[i];
		/* fresh memory reads as zeros, then gets random content */
		memset(b[i].shadow, 0, sizes[i]);
		for (uint64_t j = 0; j < sizes[i]; j++)
			b[i].shadow[j] = (uint8_t)rnd();
		assert_int_equal(spill_write(f->s, b[i].dptr, b[i].shadow, sizes[i]), 0);
	}
	printf("# footprint %llu bytes, quota %d bytes\n", (unsigned long long)footprint, 9 * CHUNK);
	assert_true(footprint >= 4 * 9 * CHUNK);

	for (op = 0; op < 3000; op++) {
		struct buf *x = &b[rnd() % NBUF], *y = &b[rnd() % NBUF];
		uint64_t off = rnd() % x->size, len = 1 + rnd() % (x->size - off);

		switch (rnd() % 6) {
		case 0: {       /* cuMemcpyHtoD */
			uint8_t *data = malloc(len);

			for (uint64_t j = 0; j < len; j++)
				data[j] = (uint8_t)rnd();
			assert_int_equal(spill_write(f->s, x->dptr + off, data, len), 0);
			memcpy(x->shadow + off, data, len);
			free(data);
			break;
		}
		case 1: {       /* cuMemcpyDtoH */
			uint8_t *data = malloc(len);

			assert_int_equal(spill_read(f->s, data, x->dptr + off, len), 0);
			assert_memory_equal(data, x->shadow + off, len);
			free(data);
			break;
		}
		case 2: {       /* cuMemsetD32 on whole elements */
			uint64_t count = len / 4;
			uint32_t v = (uint32_t)rnd();

			assert_int_equal(spill_memset(f->s, x->dptr + off, v, 4, count), 0);
			for (uint64_t j = 0; j < count * 4; j++)
				x->shadow[off + j] = (uint8_t)(v >> (8 * (j % 4)));
			break;
		}
		case 3: {       /* cuMemcpyDtoD between two allocations */
			uint64_t yoff = rnd() % y->size;
			uint64_t n = PVM_MIN_TEST(len, y->size - yoff);

			assert_int_equal(spill_copy(f->s, y->dptr + yoff, x->dptr + off, n), 0);
			memmove(y->shadow + yoff, x->shadow + off, n);
			break;
		}
		default: {      /* a kernel over two or three allocations */
			struct buf *z = &b[rnd() % NBUF];
			uint64_t params[4] = { x->dptr + off, 42, y->dptr, z->dptr };
			struct buf *touched[3] = { x, y, z };
			int t;

			assert_int_equal(spill_prepare_launch(f->s, rnd() % 3, params, 4), 0);
			spill_get_stats(f->s, &st);
			resident_max = st.resident_bytes > resident_max ? st.resident_bytes
								       : resident_max;
			for (t = 0; t < 3; t++) {
				struct buf *k = touched[t];
				uint8_t *dev = (uint8_t *)(uintptr_t)k->dptr;
				uint64_t j, at;

				/* every byte is mapped and right; flip some */
				assert_memory_equal(dev, k->shadow, k->size);
				for (j = 0; j < 64; j++) {
					at = rnd() % k->size;
					dev[at] ^= 0x5a;
					k->shadow[at] ^= 0x5a;
				}
			}
			break;
		}
		}
	}
	check_all(f->s, b, NBUF);
	spill_get_stats(f->s, &st);
	print_stats("integrity", f->s);
	assert_true(resident_max <= 9 * CHUNK);
	assert_true(st.evictions > 100);
	assert_true(st.refills > 100);
	assert_true(st.demotions > 10);         /* host -> disk */
	assert_true(st.bytes_from_tier > 10 * CHUNK);   /* and back */
	assert_int_equal(st.tier_errors, 0);
	for (i = 0; i < NBUF; i++) {
		assert_int_equal(spill_free(f->s, b[i].dptr), 0);
		free(b[i].shadow);
	}
	spill_get_stats(f->s, &st);
	assert_int_equal(st.allocated_bytes, 0);
	assert_int_equal(st.resident_bytes + st.host_bytes + st.tier_bytes, 0);
}

/* A device pointer stays the same and keeps its bytes while its chunk goes
 * to host, to the tier and back; while away, the address is not mapped. */
static void pointers_stay_valid_while_chunks_move(void **state)
{
	struct fixture *f = *state;
	uint64_t a, others[4];
	struct spill_where w;
	uint8_t *p;
	int i;

	make(f, 2 * CHUNK, 16 * CHUNK, 1 * CHUNK, "dram:1M", NULL);
	assert_int_equal(spill_alloc(f->s, CHUNK, &a), 0);
	assert_int_equal(spill_prepare_launch(f->s, 1, &a, 1), 0);
	p = (uint8_t *)(uintptr_t)a;
	for (i = 0; i < CHUNK; i++)
		assert_int_equal(p[i], 0);              /* fresh: zeros */
	for (i = 0; i < CHUNK; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(spill_resolve(f->s, a + 100, &w), 0);
	assert_int_equal(w.place, SPILL_DEVICE);
	assert_int_equal(w.alloc_base, a);
	assert_int_equal(w.chunk_offset, 100);

	for (i = 0; i < 4; i++) {
		assert_int_equal(spill_alloc(f->s, CHUNK, &others[i]), 0);
		assert_int_equal(spill_prepare_launch(f->s, 2, &others[i], 1), 0);
	}
	/* a went to host, then on to the dram tier */
	assert_int_equal(spill_resolve(f->s, a, &w), 0);
	assert_int_equal(w.place, SPILL_TIER);
	assert_false(readable(a));

	assert_int_equal(spill_prepare_launch(f->s, 1, &a, 1), 0);
	assert_true(readable(a));
	assert_int_equal(spill_resolve(f->s, a, &w), 0);
	assert_int_equal(w.place, SPILL_DEVICE);
	for (i = 0; i < CHUNK; i++)
		assert_int_equal(p[i], (uint8_t)(i * 7 + 3));
}

/* Resident bytes never pass the quota; every used chunk is counted in
 * exactly one place; a launch needing more than the quota is refused. */
static void quota_is_never_exceeded(void **state)
{
	struct fixture *f = *state;
	uint64_t big, small[10];
	struct spill_stats st;
	int i, round;

	make(f, 4 * CHUNK, 32 * CHUNK, 0, NULL, NULL);
	assert_int_equal(spill_alloc(f->s, 5 * CHUNK, &big), 0);
	assert_int_equal(spill_prepare_launch(f->s, 9, &big, 1), -E2BIG);
	for (i = 0; i < 10; i++)
		assert_int_equal(spill_alloc(f->s, 2 * CHUNK, &small[i]), 0);
	for (round = 0; round < 50; round++) {
		uint64_t two[2] = { small[rnd() % 10], small[rnd() % 10] };

		assert_int_equal(spill_prepare_launch(f->s, 1, two, 2), 0);
		spill_get_stats(f->s, &st);
		assert_true(st.resident_bytes <= 4 * CHUNK);
		assert_true(st.resident_bytes >= (two[0] == two[1] ? 2 : 4) * CHUNK);
	}
	/* write everything so every chunk is somewhere */
	for (i = 0; i < 10; i++)
		assert_int_equal(spill_memset(f->s, small[i], (uint32_t)i, 1, 2 * CHUNK), 0);
	assert_int_equal(spill_memset(f->s, big, 1, 1, 5 * CHUNK), 0);
	spill_get_stats(f->s, &st);
	assert_int_equal(st.resident_bytes + st.host_bytes + st.tier_bytes, 25 * CHUNK);
	assert_int_equal(st.allocated_bytes, 25 * CHUNK);
	assert_int_equal(st.quota_bytes, 4 * CHUNK);
	{
		uint64_t freeb, total;

		spill_mem_info(f->s, &freeb, &total);
		assert_int_equal(total, 32 * CHUNK);
		assert_int_equal(freeb, 7 * CHUNK);
	}
}

/* Freeing an allocation whose chunks are on the host or in a tier releases
 * them there; the address range is reused and reads zeros. */
static void free_while_evicted_releases_everything(void **state)
{
	struct fixture *f = *state;
	uint64_t a, b, c, again;
	struct spill_stats st;
	struct json_object *o, *tiers, *t0, *used;
	uint8_t data[CHUNK], back[CHUNK];

	make(f, 1 * CHUNK, 16 * CHUNK, 1 * CHUNK, f->disk_spec, NULL);
	memset(data, 0xab, sizeof(data));
	assert_int_equal(spill_alloc(f->s, 3 * CHUNK, &a), 0);
	assert_int_equal(spill_alloc(f->s, CHUNK, &b), 0);
	assert_int_equal(spill_alloc(f->s, CHUNK, &c), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(spill_write(f->s, a + (uint64_t)i * CHUNK, data, CHUNK), 0);
	assert_int_equal(spill_write(f->s, b, data, CHUNK), 0);
	assert_int_equal(spill_prepare_launch(f->s, 1, &c, 1), 0);
	spill_get_stats(f->s, &st);
	assert_int_equal(st.host_bytes, 1 * CHUNK);
	assert_int_equal(st.tier_bytes, 3 * CHUNK);
	assert_int_equal(st.resident_bytes, 1 * CHUNK);

	assert_int_equal(spill_free(f->s, a), 0);
	assert_int_equal(spill_free(f->s, b), 0);
	assert_int_equal(spill_free(f->s, c), 0);
	spill_get_stats(f->s, &st);
	assert_int_equal(st.host_bytes + st.tier_bytes + st.resident_bytes, 0);
	o = spill_stats_json(f->s);
	assert_true(json_object_object_get_ex(o, "tiers", &tiers));
	t0 = json_object_array_get_idx(tiers, 0);
	assert_true(json_object_object_get_ex(t0, "pages_used", &used));
	assert_int_equal(json_object_get_uint64(used), 0);
	json_object_put(o);

	assert_int_equal(spill_alloc(f->s, CHUNK, &again), 0);
	assert_int_equal(again, a);
	assert_int_equal(spill_read(f->s, back, again, CHUNK), 0);
	for (int i = 0; i < CHUNK; i++)
		assert_int_equal(back[i], 0);
}

static void bad_calls_are_refused(void **state)
{
	struct fixture *f = *state;
	uint64_t a, b, junk[3];
	struct spill_where w;
	struct spill_stats st;
	uint8_t byte = 0;

	make(f, 2 * CHUNK, 8 * CHUNK, 0, NULL, NULL);
	assert_int_equal(spill_alloc(f->s, 0, &a), -EINVAL);
	assert_int_equal(spill_alloc(f->s, 9 * CHUNK, &a), -ENOMEM);
	assert_int_equal(spill_alloc(f->s, 6 * CHUNK, &a), 0);
	assert_int_equal(spill_alloc(f->s, 3 * CHUNK, &b), -ENOMEM);    /* 2 left */
	assert_int_equal(spill_alloc(f->s, 2 * CHUNK, &b), 0);
	assert_int_equal(spill_alloc(f->s, 1, &junk[0]), -ENOMEM);      /* full */

	assert_int_equal(spill_free(f->s, a + 1), -EINVAL);
	assert_int_equal(spill_free(f->s, 12345), -EINVAL);
	assert_int_equal(spill_resolve(f->s, 12345, &w), -ENOENT);
	assert_int_equal(spill_resolve(f->s, b + 2 * CHUNK, &w), -ENOENT);
	assert_int_equal(spill_read(f->s, &byte, b + 2 * CHUNK, 1), -EFAULT);
	assert_int_equal(spill_write(f->s, b + 2 * CHUNK - 1, "ab", 2), -EFAULT);
	assert_int_equal(spill_copy(f->s, a, b, 2 * CHUNK + 1), -EFAULT);
	assert_int_equal(spill_memset(f->s, b, 0, 3, 1), -EINVAL);
	assert_int_equal(spill_make_resident(f->s, 99, 1), -EFAULT);

	/* non-pointers among launch parameters are ignored */
	junk[0] = 0; junk[1] = 7; junk[2] = b + 2 * CHUNK;
	assert_int_equal(spill_prepare_launch(f->s, 1, junk, 3), 0);
	spill_get_stats(f->s, &st);
	assert_int_equal(st.resident_bytes, 0);
	assert_int_equal(spill_free(f->s, a), 0);
	assert_int_equal(spill_free(f->s, a), -EINVAL);         /* twice */
}

/* Tier stores fail: the chunk being evicted stays resident with its bytes,
 * the launch reports the error, nothing is lost. */
static void tier_failure_keeps_chunk_resident(void **state)
{
	struct fixture *f = *state;
	uint64_t a, b;
	uint8_t data[2 * CHUNK], back[2 * CHUNK];
	struct spill_where w;
	struct spill_stats st;

	/* faulty:16 accepts one chunk (16 pages), then fails every store */
	make(f, 2 * CHUNK, 16 * CHUNK, 0, "faulty:16", NULL);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	assert_int_equal(spill_alloc(f->s, 2 * CHUNK, &a), 0);
	assert_int_equal(spill_alloc(f->s, 2 * CHUNK, &b), 0);
	assert_int_equal(spill_prepare_launch(f->s, 1, &a, 1), 0);
	memcpy((void *)(uintptr_t)a, data, sizeof(data));       /* the kernel */

	assert_int_equal(spill_prepare_launch(f->s, 2, &b, 1), -EIO);
	spill_get_stats(f->s, &st);
	assert_true(st.tier_errors >= 1);
	assert_int_equal(spill_resolve(f->s, a + CHUNK, &w), 0);
	assert_int_equal(w.place, SPILL_DEVICE);
	assert_int_equal(spill_read(f->s, back, a, sizeof(back)), 0);
	assert_memory_equal(back, data, sizeof(data));
	/* the first chunk fit in the tier's one good chunk, the second did not */
	assert_int_equal(spill_resolve(f->s, a, &w), 0);
	assert_int_equal(w.place, SPILL_TIER);
	assert_false(readable(a));
	assert_true(readable(a + CHUNK));

	/* host writes over a failing tier stay in host memory */
	assert_int_equal(spill_write(f->s, b, data, sizeof(data)), 0);
	assert_int_equal(spill_read(f->s, back, b, sizeof(back)), 0);
	assert_memory_equal(back, data, sizeof(data));
	print_stats("faulty tier", f->s);
}

/* Two tiers: when the first is full, chunks go on to the second. */
static void second_tier_takes_what_the_first_cannot(void **state)
{
	struct fixture *f = *state;
	uint64_t a[6];
	uint8_t data[CHUNK], back[CHUNK];
	struct spill_stats st;
	struct spill_where w;
	int i, in_second = 0;

	make(f, 1 * CHUNK, 16 * CHUNK, 0, "dram:128K", f->disk_spec);
	for (i = 0; i < 6; i++) {
		assert_int_equal(spill_alloc(f->s, CHUNK, &a[i]), 0);
		memset(data, i + 1, sizeof(data));
		assert_int_equal(spill_write(f->s, a[i], data, CHUNK), 0);
	}
	for (i = 0; i < 6; i++) {
		assert_int_equal(spill_resolve(f->s, a[i], &w), 0);
		assert_int_equal(w.place, SPILL_TIER);
		in_second += w.tier == 1;
	}
	assert_int_equal(in_second, 4);         /* dram:128K holds two chunks */
	for (i = 0; i < 6; i++) {
		assert_int_equal(spill_prepare_launch(f->s, 1, &a[i], 1), 0);
		assert_int_equal(spill_read(f->s, back, a[i], CHUNK), 0);
		memset(data, i + 1, sizeof(data));
		assert_memory_equal(back, data, CHUNK);
	}
	spill_get_stats(f->s, &st);
	assert_int_equal(st.tier_errors, 0);
}

/* How many descriptors can still be opened (closed again). */
static int fds_available(void)
{
	int fds[64], n = 0, i;

	while (n < 64 && (fds[n] = dup(0)) >= 0)
		n++;
	for (i = 0; i < n; i++)
		close(fds[i]);
	return n;
}

/* The child of device_full_before_quota_evicts; returns its exit code. */
static int device_full_child(struct spill *s, const uint64_t *a)
{
	struct rlimit low = { 6, 6 };
	struct spill_stats st;
	int i, round, room;

	close_range(3, ~0U, 0);
	if (setrlimit(RLIMIT_NOFILE, &low))
		return 10;
	room = fds_available();
	if (room != 3)
		return 11;
	for (round = 0; round < 4; round++) {
		for (i = 0; i < 6; i++) {
			uint8_t *p = (uint8_t *)(uintptr_t)a[i];

			if (spill_prepare_launch(s, 1, &a[i], 1))
				return 12;
			if (p[0] != (uint8_t)(i + 1 + round) || p[CHUNK - 1] != p[0])
				return 13;
			memset(p, i + 2 + round, CHUNK);
		}
	}
	spill_get_stats(s, &st);
	printf("# device full after %d chunks, quota 8: %llu evictions, "
	       "resident %llu bytes\n", room, (unsigned long long)st.evictions,
	       (unsigned long long)st.resident_bytes);
	if (st.resident_bytes > 3 * CHUNK)
		return 14;
	if (st.evictions < 4 * 3)
		return 15;
	return 0;
}

/* The device fills up (other clients) before this client's quota: the
 * manager evicts instead of failing. Here the host backend runs out of
 * file descriptors for memfd chunks after three (in a child process with
 * only stdin/out/err open and a descriptor limit of 6). */
static void device_full_before_quota_evicts(void **state)
{
	struct fixture *f = *state;
	uint64_t a[6];
	int i, status;
	pid_t pid;

	make(f, 8 * CHUNK, 16 * CHUNK, 0, NULL, NULL);
	for (i = 0; i < 6; i++) {
		assert_int_equal(spill_alloc(f->s, CHUNK, &a[i]), 0);
		assert_int_equal(spill_memset(f->s, a[i], (uint32_t)(i + 1), 1, CHUNK), 0);
	}
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc = device_full_child(f->s, a);

		fflush(stdout);
		_exit(rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

struct writer {
	struct spill *s;
	uint64_t dptr;
	int seed;
	int failures;
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	uint8_t data[3000], back[3000];
	int i;

	for (i = 0; i < 300; i++) {
		memset(data, w->seed + i, sizeof(data));
		if (spill_write(w->s, w->dptr + (uint64_t)(i % 40) * 3000, data, sizeof(data)) ||
		    spill_prepare_launch(w->s, (uint64_t)w->seed, &w->dptr, 1) ||
		    spill_read(w->s, back, w->dptr + (uint64_t)(i % 40) * 3000, sizeof(back)) ||
		    memcmp(data, back, sizeof(data)))
			w->failures++;
	}
	return NULL;
}

/* Several threads (the server's per-stream workers) on one manager. */
static void threads_share_a_manager(void **state)
{
	struct fixture *f = *state;
	struct writer w[4];
	pthread_t t[4];
	int i;

	make(f, 3 * CHUNK, 32 * CHUNK, 0, NULL, NULL);
	for (i = 0; i < 4; i++) {
		w[i] = (struct writer){ .s = f->s, .seed = i * 50 };
		assert_int_equal(spill_alloc(f->s, 2 * CHUNK, &w[i].dptr), 0);
	}
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &w[i]), 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
}

/* The real chunk size of the CUDA VMM API, 2 MiB, on the host backend. */
static void two_mib_chunks_round_trip(void **state)
{
	struct fixture *f = *state;
	struct spill_backend *be;
	struct spill_config cfg = { .quota = 4u << 20, .limit = 32u << 20 };
	struct spill *s;
	uint64_t a[4];
	uint8_t *data = malloc(4u << 20), *back = malloc(4u << 20);
	int i;

	assert_int_equal(spill_host_backend_open(2u << 20, &be), 0);
	assert_int_equal(spill_create(be, &cfg, &s), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(spill_alloc(s, 4u << 20, &a[i]), 0);
		assert_int_equal(a[i] % (2u << 20), 0);
		memset(data, 0x10 + i, 4u << 20);
		assert_int_equal(spill_prepare_launch(s, 5, &a[i], 1), 0);
		memcpy((void *)(uintptr_t)a[i], data, 4u << 20);
	}
	for (i = 3; i >= 0; i--) {
		assert_int_equal(spill_prepare_launch(s, 6, &a[i], 1), 0);
		memset(data, 0x10 + i, 4u << 20);
		memcpy(back, (void *)(uintptr_t)a[i], 4u << 20);
		assert_memory_equal(back, data, 4u << 20);
	}
	spill_destroy(s);
	spill_backend_close(be);
	free(data);
	free(back);
	(void)f;
}

static void cuda_backend_names_missing_entry_points(void **state)
{
	struct spill_cuda_fns fns = { .size = sizeof(fns) };
	struct spill_backend *be = NULL;

	assert_int_equal(spill_cuda_backend_open(&fns, &be), -EINVAL);
	assert_null(be);
	assert_int_equal(spill_cuda_backend_open(NULL, &be), -EINVAL);
	(void)state;
}

static void bad_config_is_refused(void **state)
{
	struct fixture *f = *state;
	const char *tiers[] = { "nosuchkind:1", NULL };
	struct spill_config cfg = { .quota = CHUNK - 1 };
	struct spill_backend *be;

	assert_int_equal(spill_create(f->be, &cfg, &f->s), -EINVAL);
	cfg.quota = CHUNK;
	cfg.tiers = tiers;
	assert_int_not_equal(spill_create(f->be, &cfg, &f->s), 0);
	assert_int_equal(spill_host_backend_open(3000, &be), -EINVAL);
	f->s = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(data_survives_evictions_through_host_and_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(pointers_stay_valid_while_chunks_move, setup, teardown),
		cmocka_unit_test_setup_teardown(quota_is_never_exceeded, setup, teardown),
		cmocka_unit_test_setup_teardown(free_while_evicted_releases_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_calls_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(tier_failure_keeps_chunk_resident, setup, teardown),
		cmocka_unit_test_setup_teardown(second_tier_takes_what_the_first_cannot, setup, teardown),
		cmocka_unit_test_setup_teardown(device_full_before_quota_evicts, setup, teardown),
		cmocka_unit_test_setup_teardown(threads_share_a_manager, setup, teardown),
		cmocka_unit_test_setup_teardown(two_mib_chunks_round_trip, setup, teardown),
		cmocka_unit_test(cuda_backend_names_missing_entry_points),
		cmocka_unit_test_setup_teardown(bad_config_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
