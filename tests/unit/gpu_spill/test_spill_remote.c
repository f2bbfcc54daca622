/* tests/unit/gpu_spill/test_spill_remote.c — GPU chunks spilled to a real
 * memory pod: one pvm-pod on 127.0.0.1 (tcp), started by the test, is the
 * "remote:" tier behind the host backend. Chunks go device -> pod -> device
 * under launches, writes and reads, and every byte is checked; then the
 * pod is killed and the manager must report errors, never wrong data.
 *
 * The pod binary comes from $PVM_POD_EXE (meson sets it); without it the
 * program skips. Files (the secret) go to a fresh directory in /var/tmp.
 */
#include "spill.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "podproc.h"

#define CHUNK (64 * 1024)
#define NBUF 12

static char dir[256], secret[300];
static const char *pod_exe;
static pid_t pod_pid;
static char pod_addr[64];

/* Start the pod; its address from its serving line ("... on ADDR"). */
static int start_pod(void)
{
	char why[600];
	char *argv[] = {
		(char *)pod_exe, (char *)"--memory", (char *)"64M", (char *)"--listen",
		(char *)"127.0.0.1:0", (char *)"--secret-file", secret, (char *)"--fabric",
		(char *)"tcp", (char *)"--pod-id", (char *)"gpu-spill-unit", (char *)"--quiet", NULL,
	};

	if (test_pod_start(argv, &pod_pid, pod_addr, sizeof(pod_addr), why, sizeof(why))) {
		fprintf(stderr, "pod: %s\n", why);
		pod_pid = 0;
		return -1;
	}
	return 0;
}

static void stop_pod(void)
{
	if (pod_pid > 0) {
		kill(pod_pid, SIGKILL);
		waitpid(pod_pid, NULL, 0);
		pod_pid = 0;
	}
}

static uint64_t rng = 0xfeedbeef12345ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void chunks_round_trip_through_a_pod(void **state)
{
	char spec[512];
	const char *tiers[] = { spec, NULL };
	struct spill_config cfg = { .quota = 4 * CHUNK, .limit = 64 * CHUNK,
				    .host_bytes = 0, .tiers = tiers };
	struct spill_backend *be;
	struct spill *s;
	struct spill_stats st;
	uint64_t dptr[NBUF];
	uint8_t *shadow[NBUF], *back = malloc(2 * CHUNK);
	int i, op, errors = 0;

	snprintf(spec, sizeof(spec), "remote:pods=%s,secret=%s,heartbeat=100,dead=600,"
		 "timeout=1000,lease=4M,replicas=1", pod_addr, secret);
	assert_int_equal(spill_host_backend_open(CHUNK, &be), 0);
	assert_int_equal(spill_create(be, &cfg, &s), 0);
	for (i = 0; i < NBUF; i++) {
		shadow[i] = malloc(2 * CHUNK);
		for (uint64_t j = 0; j < 2 * CHUNK; j++)
			shadow[i][j] = (uint8_t)rnd();
		assert_int_equal(spill_alloc(s, 2 * CHUNK, &dptr[i]), 0);
		assert_int_equal(spill_write(s, dptr[i], shadow[i], 2 * CHUNK), 0);
	}
	for (op = 0; op < 300; op++) {
		int a = (int)(rnd() % NBUF), b = (int)(rnd() % NBUF);
		uint64_t p[2] = { dptr[a], dptr[b] };
		uint8_t *dev;

		assert_int_equal(spill_prepare_launch(s, (uint64_t)op % 4, p, 2), 0);
		dev = (uint8_t *)(uintptr_t)dptr[a];
		assert_memory_equal(dev, shadow[a], 2 * CHUNK);
		for (int k = 0; k < 16; k++) {
			uint64_t at = rnd() % (2 * CHUNK);

			dev[at]++;
			shadow[a][at]++;
		}
	}
	for (i = 0; i < NBUF; i++) {
		assert_int_equal(spill_read(s, back, dptr[i], 2 * CHUNK), 0);
		assert_memory_equal(back, shadow[i], 2 * CHUNK);
	}
	spill_get_stats(s, &st);
	printf("# through pod %s: %llu evictions, %llu refills, %llu bytes to the pod, "
	       "%llu back\n", pod_addr, (unsigned long long)st.evictions,
	       (unsigned long long)st.refills, (unsigned long long)st.bytes_to_tier,
	       (unsigned long long)st.bytes_from_tier);
	assert_true(st.bytes_to_tier >= 100 * CHUNK);
	assert_true(st.bytes_from_tier >= 100 * CHUNK);
	assert_int_equal(st.tier_errors, 0);

	/* the pod dies: calls fail or succeed, but what they return is right */
	stop_pod();
	for (op = 0; op < 40; op++) {
		int a = (int)(rnd() % NBUF);
		int rc = spill_prepare_launch(s, 9, &dptr[a], 1);

		if (rc) {
			errors++;
			continue;
		}
		assert_memory_equal((void *)(uintptr_t)dptr[a], shadow[a], 2 * CHUNK);
	}
	for (i = 0; i < NBUF; i++) {
		int rc = spill_read(s, back, dptr[i], 2 * CHUNK);

		if (rc == 0)
			assert_memory_equal(back, shadow[i], 2 * CHUNK);
		else
			errors++;
	}
	spill_get_stats(s, &st);
	printf("# pod killed: %d failed calls, %llu tier errors\n", errors,
	       (unsigned long long)st.tier_errors);
	assert_true(errors > 0);
	assert_true(st.tier_errors > 0);
	for (i = 0; i < NBUF; i++) {
		assert_int_equal(spill_free(s, dptr[i]), 0);
		free(shadow[i]);
	}
	free(back);
	spill_destroy(s);
	spill_backend_close(be);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chunks_round_trip_through_a_pod),
	};
	int fd, rc;

	pod_exe = getenv("PVM_POD_EXE");
	if (!pod_exe || access(pod_exe, X_OK)) {
		printf("1..0 # SKIP no pod binary ($PVM_POD_EXE unset or not executable)\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/var/tmp/pvm-spill-remote.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP cannot make a directory in /var/tmp: %s\n", strerror(errno));
		return 0;
	}
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	fd = open(secret, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "gpu-spill-unit-test-secret-0123456789abc\n", 41) != 41) {
		printf("1..0 # SKIP cannot write %s\n", secret);
		return 0;
	}
	close(fd);
	if (start_pod()) {
		stop_pod();
		unlink(secret);
		rmdir(dir);
		printf("1..0 # SKIP the pod did not start\n");
		return 0;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	stop_pod();
	unlink(secret);
	rmdir(dir);
	return rc;
}
