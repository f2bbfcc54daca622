/* tests/unit/swap/tiers/test_tier_disk.c — the "disk:PATH" tier.
 *
 * Files go to a fresh directory under $PVM_TEST_TMPDIR, else /var/tmp
 * (disk-backed here; /tmp may be tmpfs elsewhere); the directory must be
 * empty, hence removable, when the tests end.
 */
#include "tier_test.h"

#include "tier.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

static char test_dir[256];

static int make_test_dir(void **state)
{
	const char *base = getenv("PVM_TEST_TMPDIR");

	(void)state;
	snprintf(test_dir, sizeof(test_dir), "%s/pvm-tier-test.XXXXXX",
		 base && *base ? base : "/var/tmp");
	if (!mkdtemp(test_dir)) {
		fprintf(stderr, "cannot create %s: %s\n", test_dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int remove_test_dir(void **state)
{
	(void)state;
	if (rmdir(test_dir)) {
		fprintf(stderr, "%s not empty or not removable: %s\n", test_dir,
			strerror(errno));
		return -1;
	}
	return 0;
}

static void spec_for(char *spec, size_t len, const char *name, const char *opts)
{
	snprintf(spec, len, "disk:%s/%s%s", test_dir, name, opts);
}

static int file_exists(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", test_dir, name);
	return stat(path, &st) == 0;
}

static int open_disk(void **state)
{
	struct swap_tier *t = NULL;
	char spec[512];

	spec_for(spec, sizeof(spec), "pages", "");
	assert_int_equal(swap_tier_open(spec, &t), 0);
	*state = t;
	return 0;
}

static int close_tier(void **state)
{
	swap_tier_close(*state);
	return 0;
}

static void disk_round_trip_of_many_distinct_pages(void **state)
{
	tt_round_trip(*state, 3000);
}

static void disk_batches_of_1_to_256_pages(void **state)
{
	size_t sizes[256], i;

	for (i = 0; i < 256; i++)
		sizes[i] = i + 1;
	tt_batches(*state, sizes, 256);
}

/* Larger than one submission: more runs than ring entries, more
 * scattered buffers than iovecs per submission. */
static void disk_batches_larger_than_one_ring_submission(void **state)
{
	size_t sizes[] = { 1500, 1500, 1500, 600 };

	tt_batches(*state, sizes, sizeof(sizes) / sizeof(sizes[0]));
}

static void disk_four_threads_store_and_load_at_once(void **state)
{
	tt_concurrent(*state, 4, 300);
}

static void disk_released_slots_are_reused_lowest_first(void **state)
{
	tt_release_reuse(*state);
}

static void disk_max_size_caps_slots_and_alloc_reports_enospc(void **state)
{
	struct swap_tier *t = NULL;
	struct swap_tier_stats st;
	char spec[512];

	(void)state;
	spec_for(spec, sizeof(spec), "capped", ",max=1M");
	assert_int_equal(swap_tier_open(spec, &t), 0);
	swap_tier_get_stats(t, &st);
	assert_int_equal(st.slots_total, 256);
	tt_capacity(t, 256);
	swap_tier_close(t);
}

static void disk_file_is_removed_at_close(void **state)
{
	struct swap_tier *t = NULL;
	char spec[512];
	uint64_t slot;

	(void)state;
	spec_for(spec, sizeof(spec), "gone", "");
	assert_int_equal(swap_tier_open(spec, &t), 0);
	assert_true(file_exists("gone"));
	assert_int_equal(swap_tier_alloc(t, &slot, 1), 0);
	swap_tier_close(t);
	assert_false(file_exists("gone"));
}

static void disk_refuses_an_existing_file_it_did_not_create(void **state)
{
	struct swap_tier *t = NULL;
	char spec[512], path[512], back[8] = "";
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/precious", test_dir);
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data\n", 5), 5);
	close(fd);
	spec_for(spec, sizeof(spec), "precious", "");
	assert_int_equal(swap_tier_open(spec, &t), -EEXIST);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, back, sizeof(back)), 5);
	close(fd);
	assert_memory_equal(back, "data\n", 5);
	assert_int_equal(unlink(path), 0);
}

static void disk_reuses_a_leftover_tier_file_and_refuses_one_in_use(void **state)
{
	struct swap_tier *t = NULL, *t2 = NULL;
	char spec[512], kept[512];

	(void)state;
	/* ",keep" leaves the file as a crashed run would. */
	spec_for(kept, sizeof(kept), "left", ",keep");
	assert_int_equal(swap_tier_open(kept, &t), 0);
	tt_round_trip(t, 10);
	swap_tier_close(t);
	assert_true(file_exists("left"));
	spec_for(spec, sizeof(spec), "left", "");
	assert_int_equal(swap_tier_open(spec, &t), 0);
	/* A second tier on a file in use is refused, and does not remove it. */
	assert_int_equal(swap_tier_open(spec, &t2), -EBUSY);
	assert_true(file_exists("left"));
	tt_round_trip(t, 10);
	swap_tier_close(t);
	assert_false(file_exists("left"));
}

static void disk_on_a_directory_uses_an_unnamed_file(void **state)
{
	struct swap_tier *t = NULL;
	char spec[512];

	(void)state;
	snprintf(spec, sizeof(spec), "disk:%s", test_dir);
	assert_int_equal(swap_tier_open(spec, &t), 0);
	tt_round_trip(t, 50);
	swap_tier_close(t);
	/* remove_test_dir() proves nothing was left in the directory. */
}

static void disk_buffered_option_round_trips(void **state)
{
	struct swap_tier *t = NULL;
	char spec[512];

	(void)state;
	spec_for(spec, sizeof(spec), "buffered", ",buffered");
	assert_int_equal(swap_tier_open(spec, &t), 0);
	tt_round_trip(t, 300);
	tt_concurrent(t, 4, 50);
	swap_tier_close(t);
}

static void disk_rejects_bad_specs(void **state)
{
	struct swap_tier *t = NULL;
	char spec[512];

	(void)state;
	assert_int_equal(swap_tier_open("disk", &t), -EINVAL);
	assert_int_equal(swap_tier_open("disk:", &t), -EINVAL);
	spec_for(spec, sizeof(spec), "x", ",max=lots");
	assert_int_equal(swap_tier_open(spec, &t), -EINVAL);
	spec_for(spec, sizeof(spec), "x", ",max=100");
	assert_int_equal(swap_tier_open(spec, &t), -EINVAL);
	spec_for(spec, sizeof(spec), "x", ",bogus");
	assert_int_equal(swap_tier_open(spec, &t), -EINVAL);
	spec_for(spec, sizeof(spec), "no/such/dir/x", "");
	assert_int_equal(swap_tier_open(spec, &t), -ENOENT);
	assert_false(file_exists("x"));
}

static void disk_io_on_bad_slot_or_misaligned_buffer_fails_that_page(void **state)
{
	struct swap_tier *t = *state;
	uint8_t *pages = tt_pages(3);
	struct swap_io ios[3];
	uint64_t slot;

	assert_int_equal(swap_tier_alloc(t, &slot, 1), 0);
	tt_fill(pages, 9, slot);
	ios[0] = (struct swap_io){ .slot = slot, .buf = pages };
	ios[1] = (struct swap_io){ .slot = 1ULL << 39, .buf = pages + 4096 };
	ios[2] = (struct swap_io){ .slot = slot, .buf = pages + 4096 + 8 };
	assert_int_equal(swap_tier_store(t, ios, 3), -EINVAL);
	assert_int_equal(ios[0].result, 0);
	assert_int_equal(ios[1].result, -EINVAL);
	/* O_DIRECT needs aligned buffers; a buffered fallback takes any. */
	assert_true(ios[2].result == -EINVAL || ios[2].result == 0);
	memset(pages, 0, 4096);
	assert_int_equal(swap_tier_load(t, ios, 1), 0);
	assert_true(tt_page_ok(pages, 9, slot));
	swap_tier_release(t, &slot, 1);
	free(pages);
}

/* The disk tier's count of @key in its JSON stats. */
static uint64_t disk_stat(struct swap_tier *t, const char *key)
{
	json_object *o = json_object_new_object(), *v;
	uint64_t n = UINT64_MAX;

	assert_non_null(t->ops->stats_json);
	t->ops->stats_json(t, o);
	if (json_object_object_get_ex(o, key, &v))
		n = json_object_get_uint64(v);
	json_object_put(o);
	assert_true(n != UINT64_MAX);
	return n;
}

/* A read bridges short gaps between the slots it loads (one request, the
 * gap read into scratch and dropped), never long ones, and every page
 * still gets its own data. */
static void disk_reads_bridge_short_gaps(void **state)
{
	struct swap_tier *t = *state;
	uint8_t *pages = tt_pages(64);
	struct swap_io ios[64];
	uint64_t slots[64], req, gap;
	size_t k, n = 0;

	assert_int_equal(swap_tier_alloc(t, slots, 64), 0);
	for (k = 1; k < 64; k++)
		assert_true(slots[k] == slots[0] + k);  /* a fresh file: in order */
	for (k = 0; k < 64; k++) {
		tt_fill(pages + k * 4096, 5, slots[k]);
		ios[k] = (struct swap_io){ .slot = slots[k], .buf = pages + k * 4096 };
	}
	assert_int_equal(swap_tier_store(t, ios, 64), 0);
	memset(pages, 0, 64 * 4096);
	/* Every other slot of the first 32, then slot 40 after a gap of 9,
	 * then slot 63 after a gap of 22: two requests, 16 + 9 bridged. */
	for (k = 0; k < 32; k += 2)
		ios[n++] = (struct swap_io){ .slot = slots[k], .buf = pages + n * 4096 };
	ios[n++] = (struct swap_io){ .slot = slots[40], .buf = pages + n * 4096 };
	ios[n++] = (struct swap_io){ .slot = slots[63], .buf = pages + n * 4096 };
	req = disk_stat(t, "read_requests");
	gap = disk_stat(t, "gap_pages");
	assert_int_equal(swap_tier_load(t, ios, n), 0);
	assert_int_equal(disk_stat(t, "read_requests") - req, 2);
	assert_int_equal(disk_stat(t, "gap_pages") - gap, 15 + 9);
	for (k = 0; k < n; k++) {
		assert_int_equal(ios[k].result, 0);
		assert_true(tt_page_ok(ios[k].buf, 5, ios[k].slot));
	}
	/* Writes never bridge: each of these is a request of its own. */
	req = disk_stat(t, "write_requests");
	assert_int_equal(swap_tier_store(t, ios, 3), 0);
	assert_int_equal(disk_stat(t, "write_requests") - req, 3);
	swap_tier_release(t, slots, 64);
	free(pages);
}

/* Child of disk_full_filesystem_is_enospc_at_alloc: 0 pass, 1 fail, 77 skip. */
static int fill_small_tmpfs(void)
{
	char mnt[512], spec[600];
	struct swap_tier *t = NULL;
	uint64_t slots[1024], n = 0, i;
	uint8_t *page;
	struct swap_io io;
	int rc = 1;

	snprintf(mnt, sizeof(mnt), "%s/mnt", test_dir);
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		printf("# skip: no private mount namespace (%s)\n", strerror(errno));
		return 77;
	}
	if (mkdir(mnt, 0700) ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=1M,mode=0700")) {
		printf("# skip: cannot mount a 1 MiB tmpfs on %s (%s)\n", mnt,
		       strerror(errno));
		rmdir(mnt);
		return 77;
	}
	snprintf(spec, sizeof(spec), "disk:%s/tier", mnt);
	if (swap_tier_open(spec, &t))
		goto out;
	while (n < 1024 && swap_tier_alloc(t, &slots[n], 1) == 0)
		n++;
	/* 1 MiB holds the header page and at most 255 slots. */
	if (n == 0 || n > 255 || swap_tier_alloc(t, &slots[n], 1) != -ENOSPC)
		goto out_close;
	page = tt_pages(1);
	io.buf = page;
	for (i = 0; i < n; i++) {
		io.slot = slots[i];
		tt_fill(page, 11, slots[i]);
		if (swap_tier_store(t, &io, 1))
			goto out_free;
	}
	io.slot = slots[n - 1];
	if (swap_tier_load(t, &io, 1) || !tt_page_ok(page, 11, slots[n - 1]))
		goto out_free;
	rc = 0;
out_free:
	free(page);
out_close:
	if (rc)
		printf("# %llu slots before ENOSPC\n", (unsigned long long)n);
	swap_tier_close(t);
out:
	if (umount(mnt))
		umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	return rc;
}

static void disk_full_filesystem_is_enospc_at_alloc_not_at_store(void **state)
{
	int status = 0;
	pid_t pid;

	(void)state;
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc = fill_small_tmpfs();

		fflush(stdout);
		_exit(rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(disk_round_trip_of_many_distinct_pages,
						open_disk, close_tier),
		cmocka_unit_test_setup_teardown(disk_batches_of_1_to_256_pages,
						open_disk, close_tier),
		cmocka_unit_test_setup_teardown(
			disk_batches_larger_than_one_ring_submission,
			open_disk, close_tier),
		cmocka_unit_test_setup_teardown(disk_four_threads_store_and_load_at_once,
						open_disk, close_tier),
		cmocka_unit_test_setup_teardown(disk_released_slots_are_reused_lowest_first,
						open_disk, close_tier),
		cmocka_unit_test_setup_teardown(
			disk_io_on_bad_slot_or_misaligned_buffer_fails_that_page,
			open_disk, close_tier),
		cmocka_unit_test_setup_teardown(disk_reads_bridge_short_gaps,
						open_disk, close_tier),
		cmocka_unit_test(disk_max_size_caps_slots_and_alloc_reports_enospc),
		cmocka_unit_test(disk_file_is_removed_at_close),
		cmocka_unit_test(disk_refuses_an_existing_file_it_did_not_create),
		cmocka_unit_test(disk_reuses_a_leftover_tier_file_and_refuses_one_in_use),
		cmocka_unit_test(disk_on_a_directory_uses_an_unnamed_file),
		cmocka_unit_test(disk_buffered_option_round_trips),
		cmocka_unit_test(disk_rejects_bad_specs),
		cmocka_unit_test(disk_full_filesystem_is_enospc_at_alloc_not_at_store),
	};

	return cmocka_run_group_tests_name("swap tier disk", tests,
					   make_test_dir, remove_test_dir);
}
