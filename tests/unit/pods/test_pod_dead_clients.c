/* tests/unit/pods/test_pod_dead_clients.c — clients that die without a
 * word must cost the pod's other clients nothing.
 *
 * The pod runs pod_run() in a thread of this process over tcp;ofi_rxm on
 * 127.0.0.1. Dead clients are child processes (this program run again
 * with --die-holding-a-lease): each connects, takes a lease and is killed
 * (SIGKILL), like a VMM that crashed or a benchmark that exited. Half a
 * client timeout later the pod probes them all with a HEARTBEAT; those
 * probes, and anything else sent to a departed client, must not hold up
 * the HELLOs and requests of live clients. At the full timeout the dead
 * clients' leases are freed, and only then (the lease rule of
 * docs/pods.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common.h"
#include "fabric.h"
#include "pod.h"
#include "pod_client.h"
#include "pod_internal.h"

#define PAGE            4096u
#define POD_MEMORY      (64ull << 20)
#define SLAB            (2ull << 20)
#define DEAD_CLIENTS    8u
#define CLIENT_TIMEOUT_MS 4000u         /* probes at 2 s */
#define REQUEST_TIMEOUT_MS 3000u
#define STALL_LIMIT_MS  200u            /* the most a live client may wait */

static char self_exe[4096];
static char tmpdir[64];
static char secret_path[128];
static const char secret_text[] = "correct horse battery staple 42";

static uint64_t now_ms(void)
{
	return pvm_now_ns() / 1000000ull;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct pod_thread {
	struct pod *pod;
	pthread_t thread;
	int ret;
	char addr[256];
};

static void *pod_thread_main(void *arg)
{
	struct pod_thread *t = arg;

	t->ret = pod_run(t->pod);
	return NULL;
}

static void pod_start_timeout(struct pod_thread *t, unsigned int client_timeout_ms)
{
	struct pod_config cfg = {
		.memory = POD_MEMORY,
		.listen = "127.0.0.1:0",
		.fabric = "tcp",
		.secret_file = secret_path,
		.pod_id = "test-pod",
		.slab_size = SLAB,
		.client_timeout_ms = client_timeout_ms,
	};

	memset(t, 0, sizeof(*t));
	assert_int_equal(pod_create(&cfg, &t->pod), 0);
	snprintf(t->addr, sizeof(t->addr), "%s", pod_address(t->pod));
	assert_int_equal(pthread_create(&t->thread, NULL, pod_thread_main, t), 0);
}

static void pod_start(struct pod_thread *t)
{
	pod_start_timeout(t, CLIENT_TIMEOUT_MS);
}

static void pod_finish(struct pod_thread *t)
{
	pod_request_stop(t->pod);
	pthread_join(t->thread, NULL);
	pod_destroy(t->pod);
	t->pod = NULL;
}

static int connect_as(const char *addr, const char *id, struct pod_client **c)
{
	struct pod_client_config cfg = {
		.address = addr,
		.fabric = "tcp",
		.secret_file = secret_path,
		.client_id = id,
		.timeout_ms = REQUEST_TIMEOUT_MS,
	};

	return pod_client_connect(&cfg, c);
}

/* Child mode: connect, lease, tell the parent, wait to be killed. */
static int die_holding_a_lease(const char *addr, const char *id)
{
	struct pod_client *c;
	struct pod_lease l;

	if (connect_as(addr, id, &c) || pod_client_lease(c, SLAB, &l))
		return 1;
	if (write(1, "L", 1) != 1)
		return 1;
	for (;;)
		pause();
}

static pid_t spawn_dead_client(const char *addr, unsigned int i, int *ready_fd)
{
	char id[32];
	int fds[2];
	pid_t pid;

	snprintf(id, sizeof(id), "vm-dead-%u", i);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(self_exe, self_exe, "--die-holding-a-lease", addr, id,
		      secret_path, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	*ready_fd = fds[0];
	return pid;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void dead_clients_do_not_delay_live_ones(void **state)
{
	uint64_t connect_ms[256], request_ms[256], start, end, t0;
	size_t nconnect = 0, nrequest = 0;
	struct pod_client *live, *fresh;
	uint64_t first_lease = 0, last_lease;
	pid_t pids[DEAD_CLIENTS];
	int fds[DEAD_CLIENTS];
	struct pod_lease lease;
	struct pod_thread t;
	struct pod_stats s;
	uint64_t rtt;
	char id[32];

	(void)state;
	pod_start(&t);
	assert_int_equal(connect_as(t.addr, "vm-live", &live), 0);
	assert_int_equal(pod_client_lease(live, SLAB, &lease), 0);

	/* All at once, so that their probes fall close together. */
	for (unsigned int i = 0; i < DEAD_CLIENTS; i++)
		pids[i] = spawn_dead_client(t.addr, i, &fds[i]);
	for (unsigned int i = 0; i < DEAD_CLIENTS; i++) {
		char c = 0;

		assert_int_equal(read(fds[i], &c, 1), 1);
		assert_int_equal(c, 'L');
		close(fds[i]);
		if (!i)
			first_lease = now_ms();
	}
	last_lease = now_ms();
	for (unsigned int i = 0; i < DEAD_CLIENTS; i++) {
		int status;

		kill(pids[i], SIGKILL);
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
	}
	pod_get_stats(t.pod, &s);
	assert_int_equal(s.leases, DEAD_CLIENTS + 1);

	/* Through the probes (half a timeout after each lease) until just
	 * before the first dead client's timeout: new clients connect, the
	 * live one keeps asking. */
	start = now_ms();
	end = first_lease + CLIENT_TIMEOUT_MS - 300;
	print_message("# leases taken within %llu ms; measuring for %llu ms\n",
		      (unsigned long long)(last_lease - first_lease),
		      (unsigned long long)(end - start));
	/* Else the machine was too slow to start the children together. */
	assert_true(end >= last_lease + CLIENT_TIMEOUT_MS / 2 + 500);
	while (now_ms() < end && nconnect < PVM_ARRAY_SIZE(connect_ms)) {
		snprintf(id, sizeof(id), "vm-new-%zu", nconnect);
		t0 = now_ms();
		assert_int_equal(connect_as(t.addr, id, &fresh), 0);
		connect_ms[nconnect++] = now_ms() - t0;
		pod_client_close(fresh);
		t0 = now_ms();
		assert_int_equal(pod_client_heartbeat(live, &rtt), 0);
		request_ms[nrequest++] = now_ms() - t0;
		sleep_ms(40);
	}
	qsort(connect_ms, nconnect, sizeof(connect_ms[0]), cmp_u64);
	qsort(request_ms, nrequest, sizeof(request_ms[0]), cmp_u64);
	print_message("# %u dead clients: connect p50 %llu ms max %llu ms (%zu); heartbeat p50 %llu ms max %llu ms\n",
		      DEAD_CLIENTS,
		      (unsigned long long)connect_ms[nconnect / 2],
		      (unsigned long long)connect_ms[nconnect - 1], nconnect,
		      (unsigned long long)request_ms[nrequest / 2],
		      (unsigned long long)request_ms[nrequest - 1]);
	assert_true(nconnect >= 10);
	assert_true(connect_ms[nconnect - 1] < STALL_LIMIT_MS);
	assert_true(request_ms[nrequest - 1] < STALL_LIMIT_MS);

	/* The dead keep their leases until the client timeout, then lose
	 * them; the live client keeps its own. (The short-lived clients
	 * of the loop above are departed too, holding nothing.) */
	pod_get_stats(t.pod, &s);
	assert_int_equal(s.leases_expired, 0);
	end = last_lease + CLIENT_TIMEOUT_MS + 1500;
	while (now_ms() < end) {
		assert_int_equal(pod_client_heartbeat(live, &rtt), 0);
		pod_get_stats(t.pod, &s);
		if (s.leases_expired == DEAD_CLIENTS)
			break;
		sleep_ms(100);
	}
	assert_int_equal(s.leases_expired, DEAD_CLIENTS);
	assert_int_equal(s.leases, 1);
	assert_int_equal(s.mem_free, POD_MEMORY - SLAB);
	pod_client_close(live);
	pod_finish(&t);
}

struct beat {
	struct pod_client *c;
	pthread_t thread;
	int ret;
};

static void *beat_main(void *arg)
{
	struct beat *b = arg;
	uint64_t rtt;

	b->ret = pod_client_heartbeat(b->c, &rtt);
	return NULL;
}

/* The pod's loop held up longer than the client timeout (here by holding
 * its lock; it used to be held up by sends to departed clients), while
 * two live clients' heartbeats wait in its queue: when it goes on, it
 * must read them before its timers judge anyone silent. Ticking first,
 * it expired both and freed their leases. */
static void waiting_heartbeats_are_read_before_the_timers(void **state)
{
	enum { TIMEOUT_MS = 1500, HOLD_MS = 2200 };
	struct pod_client *a, *b;
	struct pod_lease la, lb;
	struct beat beats[2];
	struct pod_thread t;
	struct pod_stats s;

	(void)state;
	pod_start_timeout(&t, TIMEOUT_MS);
	assert_int_equal(connect_as(t.addr, "vm-a", &a), 0);
	assert_int_equal(connect_as(t.addr, "vm-b", &b), 0);
	assert_int_equal(pod_client_lease(a, SLAB, &la), 0);
	assert_int_equal(pod_client_lease(b, SLAB, &lb), 0);
	pthread_mutex_lock(&t.pod->lock);
	sleep_ms(HOLD_MS - 300);
	beats[0].c = a;
	beats[1].c = b;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&beats[i].thread, NULL, beat_main, &beats[i]), 0);
	sleep_ms(300);          /* the heartbeats reach the pod's queue */
	pthread_mutex_unlock(&t.pod->lock);
	for (int i = 0; i < 2; i++) {
		pthread_join(beats[i].thread, NULL);
		assert_int_equal(beats[i].ret, 0);
	}
	pod_get_stats(t.pod, &s);
	print_message("# loop held %d ms (client timeout %d ms): %llu leases expired, %llu held\n",
		      HOLD_MS, TIMEOUT_MS, (unsigned long long)s.leases_expired,
		      (unsigned long long)s.leases);
	assert_int_equal(s.leases_expired, 0);
	assert_int_equal(s.leases, 2);
	pod_client_close(a);
	pod_client_close(b);
	pod_finish(&t);
}

static bool tcp_available(void)
{
	struct net_endpoint_opts o = { .provider = "tcp", .node = "127.0.0.1",
				       .rx_buffers = 1 };
	struct net_endpoint *ep;

	if (net_endpoint_open(&o, &ep))
		return false;
	net_endpoint_close(ep);
	return true;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dead_clients_do_not_delay_live_ones),
		cmocka_unit_test(waiting_heartbeats_are_read_before_the_timers),
	};
	ssize_t n;
	int fd, ret;

	if (argc == 5 && !strcmp(argv[1], "--die-holding-a-lease")) {
		snprintf(secret_path, sizeof(secret_path), "%s", argv[4]);
		pvm_set_quiet(true);
		return die_holding_a_lease(argv[2], argv[3]);
	}
	if (!tcp_available()) {
		printf("1..0 # SKIP libfabric offers no tcp;ofi_rxm here (see fi_info -p 'tcp;ofi_rxm')\n");
		return 0;
	}
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self_exe[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	pvm_set_quiet(true);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pvm-pod-dead-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(secret_path, sizeof(secret_path), "%s/secret", tmpdir);
	fd = open(secret_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, secret_text, strlen(secret_text)) < 0)
		return 1;
	close(fd);
	fflush(stdout);
	ret = _cmocka_run_group_tests("test_pod_dead_clients", tests,
				      PVM_ARRAY_SIZE(tests), NULL, NULL);
	unlink(secret_path);
	rmdir(tmpdir);
	return ret;
}
