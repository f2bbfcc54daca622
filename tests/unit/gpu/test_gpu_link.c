/* tests/unit/gpu/test_gpu_link.c — the GPU protocol's links (pods/gpu/link.c,
 * link_fabric.c) and the framing and handshake on them (conn.c): the tcp
 * link on a socket pair; the fabric link on 127.0.0.1 with libfabric's tcp
 * provider (a real endpoint, skipped when the provider is not there):
 * frames of 1 byte to 5 MiB in both directions, byte for byte; the
 * handshake with the right and a wrong secret; close seen by the peer;
 * shutdown waking a blocked receive; the idle timeout ending a silent
 * link; an unknown provider and scheme refused. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "conn.h"
#include "link.h"

static uint8_t *pattern(size_t len, unsigned int seed)
{
	uint8_t *p = malloc(len ? len : 1);

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 11);
	return p;
}

struct sender {
	struct gpu_link *l;
	unsigned int kind;
	const uint8_t *p;
	size_t len;
	int ret;
};

static void *send_thread(void *arg)
{
	struct sender *s = arg;

	s->ret = gpu_conn_send(s->l, s->kind, s->p, (uint32_t)s->len);
	return NULL;
}

/* Send from another thread (a blocking socket fills up) and receive here. */
static void one_frame(struct gpu_link *from, struct gpu_link *to, unsigned int kind,
		      const uint8_t *p, size_t len, uint8_t **buf, size_t *cap)
{
	struct sender s = { .l = from, .kind = kind, .p = p, .len = len };
	struct gpu_frame_hdr hdr;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, send_thread, &s), 0);
	assert_int_equal(gpu_conn_recv(to, &hdr, buf, cap), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.ret, 0);
	assert_int_equal(hdr.kind, kind);
	assert_int_equal(hdr.len, len);
	if (len)
		assert_memory_equal(*buf, p, len);
}

/* Frames of several sizes from @a to @b and back. */
static void frames_both_ways(struct gpu_link *a, struct gpu_link *b)
{
	static const size_t sizes[] = { 0, 1, 65535 - 24, 65536 - 24 + 1, 200000, 5u << 20 };
	uint8_t *buf = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = pattern(sizes[i], (unsigned int)i);

		one_frame(a, b, GPU_FRAME_CALLS, p, sizes[i], &buf, &cap);
		one_frame(b, a, GPU_FRAME_REPLY, p, sizes[i], &buf, &cap);
		free(p);
	}
	free(buf);
}

static void test_tcp_link(void **state)
{
	struct gpu_link *a, *b;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(gpu_link_tcp(sv[0], &a), 0);
	assert_int_equal(gpu_link_tcp(sv[1], &b), 0);
	frames_both_ways(a, b);
	gpu_link_close(a);
	{
		uint8_t x;

		assert_int_equal(gpu_link_recv(b, &x, 1), -ECONNRESET);
	}
	gpu_link_close(b);
}

/* ---- fabric ---- */

struct pod {
	struct gpu_fabric_listener *fl;
	char addr[200];
	struct gpu_link *link;
	struct pvm_auth_secret *secret;
	int hs;
};

static struct pvm_auth_secret *secret(const char *bytes)
{
	char path[] = "/tmp/pvm-link-secret-XXXXXX", err[200];
	struct pvm_auth_secret *s = NULL;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
	close(fd);
	assert_int_equal(pvm_auth_secret_load(path, &s, err, sizeof(err)), 0);
	unlink(path);
	return s;
}

static int listen_pod(struct pod *p, unsigned int idle_ms)
{
	char prov[40], err[300];
	int ret;

	memset(p, 0, sizeof(*p));
	ret = gpu_fabric_listen("127.0.0.1:0", "tcp", idle_ms, &p->fl, p->addr, sizeof(p->addr),
				prov, sizeof(prov), err, sizeof(err));
	if (ret == -ENODATA || ret == -ENOPKG)
		return ret;
	assert_int_equal(ret, 0);
	assert_string_equal(prov, "tcp;ofi_rxm");
	assert_memory_equal(p->addr, "fabric://127.0.0.1:", 19);
	return 0;
}

static void *pod_accept_handshake(void *arg)
{
	struct pod *p = arg;
	char id[GPU_PROTO_ID_MAX + 1], err[300] = "";

	if (gpu_fabric_accept(p->fl, 10000, &p->link))
		return NULL;
	p->hs = gpu_handshake_pod(p->link, p->secret, "unit-pod", id, err, sizeof(err));
	return NULL;
}

static void test_fabric_link(void **state)
{
	struct pvm_auth_secret *good = secret("0123456789abcdef-good"), *bad;
	char err[300] = "", pod_id[GPU_PROTO_ID_MAX + 1];
	struct gpu_link *c;
	struct pod p;
	pthread_t t;

	(void)state;
	if (listen_pod(&p, 0)) {
		pvm_auth_secret_free(good);
		skip();
	}
	p.secret = good;
	assert_int_equal(pthread_create(&t, NULL, pod_accept_handshake, &p), 0);
	assert_int_equal(gpu_link_connect(p.addr, "tcp", &c, err, sizeof(err)), 0);
	assert_int_equal(gpu_handshake_client(c, good, "unit-client", pod_id, err, sizeof(err)), 0);
	pthread_join(t, NULL);
	assert_int_equal(p.hs, 0);
	assert_string_equal(pod_id, "unit-pod");
	frames_both_ways(c, p.link);

	/* Closing one end: the other's receive ends (CLOSE). */
	gpu_link_close(c);
	{
		uint8_t x;

		assert_int_equal(gpu_link_recv(p.link, &x, 1), -ECONNRESET);
		assert_non_null(strstr(p.link->why, "closed"));
	}
	gpu_link_close(p.link);

	/* The wrong secret: both sides refuse. */
	bad = secret("0123456789abcdef-bad!");
	assert_int_equal(pthread_create(&t, NULL, pod_accept_handshake, &p), 0);
	assert_int_equal(gpu_link_connect(p.addr, "tcp", &c, err, sizeof(err)), 0);
	assert_int_equal(gpu_handshake_client(c, bad, "unit-client", pod_id, err, sizeof(err)),
			 -EACCES);
	pthread_join(t, NULL);
	assert_int_equal(p.hs, -EACCES);
	gpu_link_close(c);
	gpu_link_close(p.link);
	pvm_auth_secret_free(bad);
	gpu_fabric_listener_close(p.fl);
	pvm_auth_secret_free(good);
}

static void *shutdown_later(void *arg)
{
	struct timespec ts = { 0, 200000000 };

	nanosleep(&ts, NULL);
	((struct gpu_link *)arg)->ops->shutdown(arg);
	return NULL;
}

static void test_fabric_shutdown_and_idle(void **state)
{
	char err[300] = "";
	struct gpu_link *c, *srv;
	struct timespec t0, t1;
	pthread_t t;
	struct pod p;
	uint8_t x;
	pid_t pid;
	int status;

	(void)state;
	if (listen_pod(&p, 1000))
		skip();
	/* shutdown() wakes a receive that waits. */
	assert_int_equal(gpu_link_connect(p.addr, "tcp", &c, err, sizeof(err)), 0);
	assert_int_equal(gpu_fabric_accept(p.fl, 5000, &srv), 0);
	assert_int_equal(pthread_create(&t, NULL, shutdown_later, srv), 0);
	assert_int_equal(gpu_link_recv(srv, &x, 1), -ECONNRESET);
	pthread_join(t, NULL);
	gpu_link_close(srv);
	gpu_link_close(c);

	/* A client that vanishes without CLOSE (a child that _exits): the
	 * pod's receive ends after the idle timeout (1 s here). */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct gpu_link *cc;

		if (gpu_link_connect(p.addr, "tcp", &cc, err, sizeof(err)))
			_exit(1);
		_exit(0);
	}
	assert_int_equal(gpu_fabric_accept(p.fl, 5000, &srv), 0);
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(gpu_link_recv(srv, &x, 1), -ECONNRESET);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec <= 3);
	assert_true(strstr(srv->why, "idle timeout") || strstr(srv->why, "send failed"));
	gpu_link_close(srv);
	gpu_fabric_listener_close(p.fl);
}

static void test_refusals(void **state)
{
	char err[300] = "";
	struct gpu_link *c;
	struct gpu_fabric_listener *fl;
	char addr[100], prov[40];

	(void)state;
	assert_int_equal(gpu_link_connect("ofi://1.2.3.4:5", NULL, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unknown scheme"));
	assert_int_equal(gpu_link_connect("fabric://nohostport", "tcp", &c, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(gpu_fabric_listen("127.0.0.1:0", "pigeon", 0, &fl, addr, sizeof(addr),
					   prov, sizeof(prov), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "pigeon"));
	assert_int_equal(gpu_fabric_listen("nonsense", "tcp", 0, &fl, addr, sizeof(addr),
					   prov, sizeof(prov), err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_link),
		cmocka_unit_test(test_fabric_link),
		cmocka_unit_test(test_fabric_shutdown_and_idle),
		cmocka_unit_test(test_refusals),
	};

	pvm_auth_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
