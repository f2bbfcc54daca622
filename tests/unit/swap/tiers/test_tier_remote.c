/* tests/unit/swap/tiers/test_tier_remote.c — the "remote:" tier against
 * real memory pods: pvm-pod processes started by the test on 127.0.0.1,
 * ephemeral ports, tcp fabric.
 *
 * The pod binary comes from $PVM_POD_EXE (meson sets it). Without it, or
 * without a pod client in this build, the tests that need pods skip and
 * say why; the spec checks still run. Files (secrets, backup tier) go to a
 * fresh directory under $PVM_TEST_TMPDIR, else /var/tmp.
 *
 * Timings are shortened through the spec (heartbeat=100,dead=600) so a
 * killed pod is noticed within a second.
 */
#include "tier_test.h"

#include "tier.h"
#include "tiers/remote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "podproc.h"

#define PAGE        4096u
#define MAX_PODS    4
#define FAST        "heartbeat=100,dead=600,timeout=1000,lease=4M"

struct pod_proc {
	pid_t pid;
	char addr[64];
};

static char test_dir[256];
static char secret[300], wrong_secret[300];
static const char *pod_exe;
static int no_transport;                /* this build has no pod client */
static struct pod_proc pods[MAX_PODS];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int write_secret(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t len = (ssize_t)strlen(text);

	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int setup_suite(void **state)
{
	const char *base = getenv("PVM_TEST_TMPDIR");

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(test_dir, sizeof(test_dir), "%s/pvm-remote-test.XXXXXX",
		 base && *base ? base : "/var/tmp");
	if (!mkdtemp(test_dir))
		return -1;
	snprintf(secret, sizeof(secret), "%s/secret", test_dir);
	snprintf(wrong_secret, sizeof(wrong_secret), "%s/wrong", test_dir);
	if (write_secret(secret, "remote-tier-unit-test-secret-0123456789\n") ||
	    write_secret(wrong_secret, "not-the-secret-the-pods-know-9876543210\n"))
		return -1;
	pod_exe = getenv("PVM_POD_EXE");
	if (pod_exe && access(pod_exe, X_OK))
		pod_exe = NULL;
	{
		struct swap_tier *t = NULL;

		no_transport = swap_tier_open("remote:pods=127.0.0.1:9,secret=/x,"
					      "replicas=1", &t) == -ENOTSUP;
		if (!no_transport && t)
			swap_tier_close(t);
	}
	return 0;
}

static int teardown_suite(void **state)
{
	char path[400];

	(void)state;
	unlink(secret);
	unlink(wrong_secret);
	snprintf(path, sizeof(path), "%s/backup.pages", test_dir);
	unlink(path);
	return rmdir(test_dir);
}

/* Start pod @i with @memory; its address from the serving line. */
static void start_pod(int i, const char *memory)
{
	char id[32], why[600];
	char *argv[] = {
		(char *)pod_exe, (char *)"--memory", (char *)memory, (char *)"--listen",
		(char *)"127.0.0.1:0", (char *)"--secret-file", secret, (char *)"--fabric",
		(char *)"tcp", (char *)"--pod-id", id, (char *)"--drain-timeout", (char *)"20",
		(char *)"--quiet", NULL,
	};

	snprintf(id, sizeof(id), "unit-pod-%d", i);
	if (test_pod_start(argv, &pods[i].pid, pods[i].addr, sizeof(pods[i].addr), why, sizeof(why)))
		fail_msg("pod %d: %s", i, why);
}

static void kill_pod(int i, int sig)
{
	if (pods[i].pid <= 0)
		return;
	kill(pods[i].pid, sig);
	if (sig == SIGKILL) {
		waitpid(pods[i].pid, NULL, 0);
		pods[i].pid = 0;
	}
}

/* Wait for pod @i to exit on its own; its exit status. */
static int wait_pod(int i, unsigned ms)
{
	uint64_t deadline = now_ms() + ms;
	int st;

	while (now_ms() < deadline) {
		if (waitpid(pods[i].pid, &st, WNOHANG) == pods[i].pid) {
			pods[i].pid = 0;
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
		usleep(20000);
	}
	return -1;
}

static void stop_pods(void)
{
	for (int i = 0; i < MAX_PODS; i++)
		kill_pod(i, SIGKILL);
}

static int teardown_pods(void **state)
{
	(void)state;
	stop_pods();
	return 0;
}

static void need_pods(void)
{
	if (!pod_exe) {
		printf("# no pod binary ($PVM_POD_EXE unset or not executable)\n");
		skip();
	}
	if (no_transport) {
		printf("# this build has no pod client (pods/ configured after swap/)\n");
		skip();
	}
}

/* "remote:pods=A+B...,secret=S,FAST,EXTRA" for pods [0, n). */
static void spec_for(char *spec, size_t len, int n, const char *sec,
		     const char *extra)
{
	size_t used = (size_t)snprintf(spec, len, "remote:pods=");

	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(spec + used, len - used, "%s%s",
					 i ? "+" : "", pods[i].addr);
	snprintf(spec + used, len - used, ",secret=%s," FAST "%s%s", sec,
		 extra && *extra ? "," : "", extra ? extra : "");
}

static struct swap_tier *open_remote(int n, const char *extra)
{
	struct swap_tier *t = NULL;
	char spec[1024];
	int rc;

	spec_for(spec, sizeof(spec), n, secret, extra);
	rc = swap_tier_open(spec, &t);
	assert_int_equal(rc, 0);
	return t;
}

/* Store @n pages tagged @tag into fresh slots; returns the slots. */
/* Store @n pages in batches of @batch (at most 64). */
static uint64_t *store_pages_by(struct swap_tier *t, size_t n, uint64_t tag, size_t batch)
{
	uint64_t *slots = calloc(n, sizeof(*slots));
	uint8_t *pages = tt_pages(64);
	struct swap_io ios[64];

	assert_non_null(slots);
	assert_true(batch >= 1 && batch <= 64);
	assert_int_equal(swap_tier_alloc(t, slots, n), 0);
	for (size_t i = 0; i < n; i += batch) {
		size_t m = n - i < batch ? n - i : batch;

		for (size_t k = 0; k < m; k++) {
			tt_fill(pages + k * PAGE, tag, slots[i + k]);
			ios[k] = (struct swap_io){ .slot = slots[i + k], .buf = pages + k * PAGE };
		}
		assert_int_equal(swap_tier_store(t, ios, m), 0);
	}
	free(pages);
	return slots;
}

static uint64_t *store_pages(struct swap_tier *t, size_t n, uint64_t tag)
{
	return store_pages_by(t, n, tag, 64);
}

/* Load them back; how many pages failed (content checked for the rest). */
static size_t load_pages(struct swap_tier *t, const uint64_t *slots, size_t n,
			 uint64_t tag, int *first_error)
{
	uint8_t *pages = tt_pages(64);
	struct swap_io ios[64];
	size_t failed = 0;

	*first_error = 0;
	for (size_t i = 0; i < n; i += 64) {
		size_t m = n - i < 64 ? n - i : 64;

		memset(pages, 0xa5, 64 * PAGE);
		for (size_t k = 0; k < m; k++)
			ios[k] = (struct swap_io){ .slot = slots[i + k], .buf = pages + k * PAGE };
		swap_tier_load(t, ios, m);
		for (size_t k = 0; k < m; k++) {
			if (ios[k].result) {
				failed++;
				if (!*first_error)
					*first_error = ios[k].result;
				continue;
			}
			if (!tt_page_ok(pages + k * PAGE, tag, slots[i + k]))
				fail_msg("slot %llu came back with the wrong content",
					 (unsigned long long)slots[i + k]);
		}
	}
	free(pages);
	return failed;
}

static void remote_stats(struct swap_tier *t, struct swap_tier_remote_stats *s)
{
	assert_int_equal(swap_tier_remote_stats(t, s), 0);
}

/* Index (into pods[]) of the pod holding most replicas. */
static int busiest_pod(struct swap_tier *t, int n)
{
	struct swap_tier_remote_stats s;
	uint64_t most = 0;
	int best = 0;

	remote_stats(t, &s);
	for (int i = 0; i < n; i++) {
		for (unsigned k = 0; k < s.npods; k++) {
			if (strcmp(s.pods[k].addr, pods[i].addr) || s.pods[k].pages <= most)
				continue;
			most = s.pods[k].pages;
			best = i;
		}
	}
	assert_true(most > 0);
	return best;
}

/* The pod placement prefers next: of those holding a chunk with room, the
 * one with the fewest pages in use (free + leasable is then largest). */
static int preferred_pod(struct swap_tier *t, int n)
{
	struct swap_tier_remote_stats s;
	uint64_t fewest = UINT64_MAX;
	int best = -1;

	remote_stats(t, &s);
	for (int i = 0; i < n; i++) {
		for (unsigned k = 0; k < s.npods; k++) {
			if (strcmp(s.pods[k].addr, pods[i].addr) ||
			    s.pods[k].leased_bytes / PAGE <= s.pods[k].pages ||
			    s.pods[k].pages >= fewest)
				continue;
			fewest = s.pods[k].pages;
			best = i;
		}
	}
	assert_true(best >= 0);
	return best;
}

/* ---- tests ---- */

static void remote_spec_is_parsed_strictly(void **state)
{
	static const char *const bad[] = {
		"remote", "remote:", "remote:pods=", "remote:secret=/x",
		"remote:pods=127.0.0.1:7000",                   /* no secret */
		"remote:pods=127.0.0.1,secret=/x",              /* no port */
		"remote:pods=127.0.0.1:0,secret=/x",
		"remote:pods=127.0.0.1:70000,secret=/x",
		"remote:pods=::1:7000,secret=/x",               /* v6 needs [] */
		"remote:pods=a:1++b:2,secret=/x",
		"remote:pods=a:1+a:1,secret=/x",                /* twice */
		"remote:pods=a:1,secret=/x,replicas=0",
		"remote:pods=a:1,secret=/x,replicas=5",
		"remote:pods=a:1,secret=/x,replicas=two",
		"remote:pods=a:1,secret=/x,lease=3K",
		"remote:pods=a:1,secret=/x,lease=64Q",
		"remote:pods=a:1,secret=/x,timeout=",
		"remote:pods=a:1,secret=/x,timeout=1s",
		"remote:pods=a:1,secret=/x,fabric=ethernet",
		"remote:pods=a:1,secret=/x,colour=blue",
		"remote:pods=a:1,secret=/x,replicas=2,replicas=3",
		"remote:pods=a:1,secret=/x,,replicas=2",
		"remote:pods=a:1,secret=/x,replicas",
		"remote:pods=a:1,secret=/x,backup=",
		"remote:pods=a:1,secret=/x,backup=remote:pods=b:2",
		"remote:pods=a:1,secret=/x,heartbeat=500,dead=600",
		"remote:pods=a:1,secret=/x,id=has space",
		"remote:pods=@,secret=/x",
		"remote:pods=@/nonexistent/pod-list,secret=/x",
	};
	struct swap_tier *t = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = swap_tier_open(bad[i], &t);

		if (rc == 0)
			fail_msg("'%s' was accepted", bad[i]);
		if (rc != -EINVAL && rc != -ENOENT)
			fail_msg("'%s': expected -EINVAL, got %d", bad[i], rc);
	}
}

static void remote_missing_secret_file_fails_open(void **state)
{
	struct swap_tier *t = NULL;
	char spec[1024];

	(void)state;
	need_pods();
	start_pod(0, "64M");
	spec_for(spec, sizeof(spec), 1, "/nonexistent/secret", "replicas=1");
	assert_true(swap_tier_open(spec, &t) < 0);
}

static void remote_round_trip_and_batches_with_two_pods(void **state)
{
	size_t sizes[] = { 1, 2, 7, 64, 65, 200 };
	struct swap_tier_remote_stats s;
	struct swap_tier *t;

	(void)state;
	need_pods();
	start_pod(0, "64M");
	start_pod(1, "64M");
	t = open_remote(2, "replicas=2");
	tt_round_trip(t, 3000);
	tt_batches(t, sizes, sizeof(sizes) / sizeof(sizes[0]));
	remote_stats(t, &s);
	assert_int_equal(s.npods, 2);
	assert_string_equal(s.pods[0].state, "up");
	assert_true(s.pods[0].rtt_ns > 0);
	assert_true(s.pods[0].pages_written > 0 && s.pods[1].pages_written > 0);
	swap_tier_close(t);
}

static void remote_four_threads_store_and_load_at_once(void **state)
{
	struct swap_tier *t;

	(void)state;
	need_pods();
	for (int i = 0; i < 3; i++)
		start_pod(i, "64M");
	t = open_remote(3, "replicas=2");
	tt_concurrent(t, 4, 100);
	swap_tier_close(t);
}

static void remote_two_replicas_need_two_pods(void **state)
{
	struct swap_tier *t;
	uint64_t slot;

	(void)state;
	need_pods();
	start_pod(0, "64M");
	t = open_remote(1, "replicas=2");
	assert_int_equal(swap_tier_alloc(t, &slot, 1), -ENOSPC);
	swap_tier_close(t);
	t = open_remote(1, "replicas=1");
	assert_int_equal(swap_tier_alloc(t, &slot, 1), 0);
	swap_tier_release(t, &slot, 1);
	swap_tier_close(t);
}

/* The same pod under two addresses is one pod, not two replicas. */
static void remote_same_pod_under_two_names_is_one_pod(void **state)
{
	struct swap_tier *t = NULL;
	char spec[1024];
	const char *port;
	uint64_t slot;

	(void)state;
	need_pods();
	start_pod(0, "64M");
	port = strrchr(pods[0].addr, ':');
	snprintf(spec, sizeof(spec), "remote:pods=%s+localhost%s,secret=%s,"
		 FAST ",replicas=2", pods[0].addr, port, secret);
	assert_int_equal(swap_tier_open(spec, &t), 0);
	assert_int_equal(swap_tier_alloc(t, &slot, 1), -ENOSPC);
	swap_tier_close(t);
}

static void remote_full_pods_report_enospc(void **state)
{
	struct swap_tier *t;
	uint64_t *slots = calloc(8192, sizeof(*slots));
	size_t got = 0;

	(void)state;
	need_pods();
	start_pod(0, "8M");
	start_pod(1, "8M");
	t = open_remote(2, "replicas=2");
	/* 8 MiB each = 2048 pages per pod: 2048 slots at 2 replicas. */
	while (got < 8192 && swap_tier_alloc(t, &slots[got], 1) == 0)
		got++;
	assert_int_equal(got, 2048);
	assert_int_equal(swap_tier_alloc(t, &slots[got], 1), -ENOSPC);
	swap_tier_release(t, slots, got);
	assert_int_equal(swap_tier_alloc(t, slots, 100), 0);
	swap_tier_release(t, slots, 100);
	swap_tier_close(t);
	free(slots);
}

static void remote_killed_pod_is_read_around_and_rebuilt_on_a_third(void **state)
{
	struct swap_tier_remote_stats s;
	struct swap_tier *t;
	uint64_t *slots, *more, deadline;
	int victim, err;

	(void)state;
	need_pods();
	for (int i = 0; i < 3; i++)
		start_pod(i, "64M");
	t = open_remote(3, "replicas=2");
	slots = store_pages(t, 1500, 11);
	victim = busiest_pod(t, 3);
	kill_pod(victim, SIGKILL);
	/* Right away, before the death is noticed: reads fail over. */
	assert_int_equal(load_pages(t, slots, 1500, 11, &err), 0);
	deadline = now_ms() + 20000;
	do {
		usleep(100000);
		remote_stats(t, &s);
	} while ((s.slots_degraded || s.rebuilds == 0) && now_ms() < deadline);
	assert_int_equal(s.slots, 1500);
	assert_int_equal(s.slots_degraded, 0);
	assert_int_equal(s.slots_unreplicated, 0);
	assert_true(s.rebuilds > 0);
	assert_int_equal(s.replicas_healthy, 3000);
	for (unsigned k = 0; k < s.npods; k++)
		if (!strcmp(s.pods[k].addr, pods[victim].addr))
			assert_string_equal(s.pods[k].state, "dead");
	assert_int_equal(load_pages(t, slots, 1500, 11, &err), 0);
	/* New stores still get two replicas on the two survivors. */
	more = store_pages(t, 200, 12);
	assert_int_equal(load_pages(t, more, 200, 12, &err), 0);
	swap_tier_release(t, slots, 1500);
	swap_tier_release(t, more, 200);
	swap_tier_close(t);
	free(slots);
	free(more);
}

/* Before the tier noticed the death: the write to the dead pod fails and
 * that replica is placed and written again elsewhere within the store. */
static void remote_store_right_after_a_pod_died_still_makes_two_copies(void **state)
{
	struct swap_tier_remote_stats s;
	struct swap_tier *t;
	uint64_t *slots, *warm;
	int victim, err;

	(void)state;
	need_pods();
	for (int i = 0; i < 3; i++)
		start_pod(i, "64M");
	t = open_remote(3, "replicas=2");
	warm = store_pages(t, 64, 50);
	/* The pod placement prefers (it has a chunk with room): the next
	 * store must pick it, fail there and redo those writes elsewhere. */
	victim = preferred_pod(t, 3);
	kill_pod(victim, SIGKILL);
	/* One page per batch: each batch places each replica with one
	 * two-random-choices pick, so the dead pod is picked early. */
	slots = store_pages_by(t, 300, 51, 1); /* asserts every result is 0 */
	remote_stats(t, &s);
	assert_int_equal(s.slots, 364);
	/* Whether a write met the dead pod (replica_retries) depends on the
	 * random picks and on how soon its death is noticed; either way every
	 * page stored must come back whole. */
	fprintf(stderr, "store after the kill: %llu replica writes redone elsewhere\n",
		(unsigned long long)s.replica_retries);
	assert_int_equal(load_pages(t, slots, 300, 51, &err), 0);
	assert_int_equal(load_pages(t, warm, 64, 50, &err), 0);
	swap_tier_release(t, slots, 300);
	swap_tier_release(t, warm, 64);
	swap_tier_close(t);
	free(slots);
	free(warm);
}

/* pods=@FILE: the pod list comes from a config file. */
static void remote_pods_can_come_from_a_file(void **state)
{
	struct swap_tier *t = NULL;
	char list[400], spec[1024];
	FILE *f;

	(void)state;
	need_pods();
	start_pod(0, "64M");
	start_pod(1, "64M");
	snprintf(list, sizeof(list), "%s/pods.list", test_dir);
	f = fopen(list, "w");
	assert_non_null(f);
	fprintf(f, "# memory pods\n%s\n\n  %s   # second\n", pods[0].addr, pods[1].addr);
	fclose(f);
	snprintf(spec, sizeof(spec), "remote:pods=@%s,secret=%s," FAST ",replicas=2",
		 list, secret);
	assert_int_equal(swap_tier_open(spec, &t), 0);
	tt_round_trip(t, 500);
	swap_tier_close(t);
	unlink(list);
}

static void remote_backup_serves_when_every_pod_died(void **state)
{
	struct swap_tier_remote_stats s;
	struct swap_tier *t;
	char extra[512];
	uint64_t *slots, deadline;
	int err;

	(void)state;
	need_pods();
	start_pod(0, "64M");
	start_pod(1, "64M");
	snprintf(extra, sizeof(extra), "replicas=2,backup=disk:%s/backup.pages",
		 test_dir);
	t = open_remote(2, extra);
	slots = store_pages(t, 800, 21);
	deadline = now_ms() + 20000;
	do {
		usleep(50000);
		remote_stats(t, &s);
	} while (s.backup_writes < 800 && now_ms() < deadline);
	assert_int_equal(s.backup_writes, 800);
	kill_pod(0, SIGKILL);
	kill_pod(1, SIGKILL);
	assert_int_equal(load_pages(t, slots, 800, 21, &err), 0);
	remote_stats(t, &s);
	assert_int_equal(s.backup_loads, 800);
	assert_int_equal(s.lost_loads, 0);
	swap_tier_release(t, slots, 800);
	swap_tier_close(t);
	free(slots);
}

static void remote_without_backup_lost_pages_fail_with_eio(void **state)
{
	struct swap_tier_remote_stats s;
	struct swap_tier *t;
	uint64_t *slots;
	int err;

	(void)state;
	need_pods();
	start_pod(0, "64M");
	start_pod(1, "64M");
	t = open_remote(2, "replicas=2");
	slots = store_pages(t, 300, 31);
	kill_pod(0, SIGKILL);
	kill_pod(1, SIGKILL);
	assert_int_equal(load_pages(t, slots, 300, 31, &err), 300);
	assert_int_equal(err, -EIO);
	remote_stats(t, &s);
	assert_int_equal(s.lost_loads, 300);
	swap_tier_release(t, slots, 300);
	swap_tier_close(t);
	free(slots);
}

static void remote_wrong_secret_is_refused_at_open(void **state)
{
	struct swap_tier *t = NULL;
	char spec[1024];

	(void)state;
	need_pods();
	start_pod(0, "64M");
	start_pod(1, "64M");
	spec_for(spec, sizeof(spec), 2, wrong_secret, "replicas=2");
	assert_int_equal(swap_tier_open(spec, &t), -EACCES);
}

static void remote_draining_pod_gets_its_pages_moved(void **state)
{
	struct swap_tier_remote_stats s;
	struct swap_tier *t;
	uint64_t *slots;
	int victim, err;

	(void)state;
	need_pods();
	for (int i = 0; i < 3; i++)
		start_pod(i, "64M");
	t = open_remote(3, "replicas=2");
	slots = store_pages(t, 1000, 41);
	victim = busiest_pod(t, 3);
	kill_pod(victim, SIGTERM);                      /* the pod drains */
	assert_int_equal(wait_pod(victim, 20000), 0);   /* after DRAIN_DONE */
	remote_stats(t, &s);
	assert_true(s.drained_pages > 0);
	assert_int_equal(s.slots_degraded, 0);
	assert_int_equal(s.slots_unreplicated, 0);
	assert_int_equal(load_pages(t, slots, 1000, 41, &err), 0);
	swap_tier_release(t, slots, 1000);
	swap_tier_close(t);
	free(slots);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(remote_spec_is_parsed_strictly),
		cmocka_unit_test_teardown(remote_missing_secret_file_fails_open, teardown_pods),
		cmocka_unit_test_teardown(remote_round_trip_and_batches_with_two_pods, teardown_pods),
		cmocka_unit_test_teardown(remote_four_threads_store_and_load_at_once, teardown_pods),
		cmocka_unit_test_teardown(remote_two_replicas_need_two_pods, teardown_pods),
		cmocka_unit_test_teardown(remote_same_pod_under_two_names_is_one_pod, teardown_pods),
		cmocka_unit_test_teardown(remote_full_pods_report_enospc, teardown_pods),
		cmocka_unit_test_teardown(remote_killed_pod_is_read_around_and_rebuilt_on_a_third, teardown_pods),
		cmocka_unit_test_teardown(remote_store_right_after_a_pod_died_still_makes_two_copies, teardown_pods),
		cmocka_unit_test_teardown(remote_pods_can_come_from_a_file, teardown_pods),
		cmocka_unit_test_teardown(remote_backup_serves_when_every_pod_died, teardown_pods),
		cmocka_unit_test_teardown(remote_without_backup_lost_pages_fail_with_eio, teardown_pods),
		cmocka_unit_test_teardown(remote_wrong_secret_is_refused_at_open, teardown_pods),
		cmocka_unit_test_teardown(remote_draining_pod_gets_its_pages_moved, teardown_pods),
	};

	return cmocka_run_group_tests(tests, setup_suite, teardown_suite);
}
