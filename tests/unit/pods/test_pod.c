/* tests/unit/pods/test_pod.c — a memory pod and its clients in one
 * process over tcp;ofi_rxm on 127.0.0.1 (the pod runs pod_run() in a
 * thread, on an ephemeral port), plus the pvm-pod program as a child
 * process for the command line and its signals.
 *
 * Left out here: shm (libfabric's shm does not check memory keys, so the
 * isolation cases would prove nothing; the protocol is the same) and
 * verbs (no RDMA device on these machines). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth.h"
#include "common.h"
#include "fabric.h"
#include "pod.h"
#include "pod_client.h"
#include "podproc.h"
#include "pod_internal.h"
#include "raw_fabric.h"
#include "wire.h"

#define PAGE            4096u
#define POD_MEMORY      (64ull << 20)
#define SLAB            (2ull << 20)
#define MIB             (1ull << 20)
#define TIMEOUT_MS      3000

static const char *pod_exe;             /* argv[1]: the pvm-pod program */
static char tmpdir[64];
static char secret_path[128], wrong_secret_path[128];

static const char secret_text[] = "correct horse battery staple 42";
static const char wrong_text[] = "not the pod's secret, sorry 99";

/* ------------------------------------------------------------------ */
/* Helpers.                                                             */

static uint64_t now_ms(void)
{
	return pvm_now_ns() / 1000000ull;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A pod served by a thread of this process. */
struct pod_thread {
	struct pod *pod;
	pthread_t thread;
	atomic_bool done;
	int ret;
	char addr[256];
};

static void *pod_thread_main(void *arg)
{
	struct pod_thread *t = arg;

	t->ret = pod_run(t->pod);
	atomic_store(&t->done, true);
	return NULL;
}

static void pod_config_defaults(struct pod_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->memory = POD_MEMORY;
	cfg->listen = "127.0.0.1:0";
	cfg->fabric = "tcp";
	cfg->secret_file = secret_path;
	cfg->pod_id = "test-pod";
	cfg->slab_size = SLAB;
}

static void pod_start(struct pod_thread *t, const struct pod_config *cfg)
{
	struct pod_config def;

	memset(t, 0, sizeof(*t));
	if (!cfg) {
		pod_config_defaults(&def);
		cfg = &def;
	}
	atomic_init(&t->done, false);
	assert_int_equal(pod_create(cfg, &t->pod), 0);
	snprintf(t->addr, sizeof(t->addr), "%s", pod_address(t->pod));
	assert_int_equal(pthread_create(&t->thread, NULL, pod_thread_main, t), 0);
}

/* Wait up to @ms for pod_run() to return by itself. */
static bool pod_exited_within(struct pod_thread *t, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (!atomic_load(&t->done) && now_ms() < end)
		sleep_ms(10);
	return atomic_load(&t->done);
}

static void pod_finish(struct pod_thread *t)
{
	pod_request_stop(t->pod);
	pthread_join(t->thread, NULL);
	pod_destroy(t->pod);
	t->pod = NULL;
}

static struct pod_stats stats_of(struct pod_thread *t)
{
	struct pod_stats s;

	pod_get_stats(t->pod, &s);
	return s;
}

static int connect_as(const char *addr, const char *secret, const char *id,
		      unsigned int timeout_ms, struct pod_client **c)
{
	struct pod_client_config cfg = {
		.address = addr,
		.fabric = "tcp",
		.secret_file = secret,
		.client_id = id,
		.timeout_ms = timeout_ms,
	};

	return pod_client_connect(&cfg, c);
}

static struct pod_client *connect_ok(struct pod_thread *t, const char *id)
{
	struct pod_client *c = NULL;
	int ret = connect_as(t->addr, secret_path, id, TIMEOUT_MS, &c);

	if (ret)
		print_message("# connect: %s\n", pod_client_last_error());
	assert_int_equal(ret, 0);
	assert_non_null(c);
	return c;
}

/* Client page buffers, registered as the transport wants. */
struct pages {
	uint8_t *buf;
	size_t n;
	struct net_mr *mr;
	struct net_rma_op *ops;
};

static void pages_init(struct pages *p, struct pod_client *c, size_t n)
{
	p->n = n;
	p->buf = aligned_alloc(PAGE, n * PAGE);
	p->ops = calloc(n, sizeof(*p->ops));
	assert_non_null(p->buf);
	memset(p->buf, 0, n * PAGE);
	assert_int_equal(pod_client_register_buffer(c, p->buf, n * PAGE, &p->mr), 0);
}

static void pages_fini(struct pages *p)
{
	pod_client_unregister_buffer(p->mr);
	free(p->buf);
	free(p->ops);
}

/* ops[i]: local page i <-> lease page (first + i). */
static struct net_rma_op *pages_ops(struct pages *p, size_t n, uint64_t first)
{
	for (size_t i = 0; i < n; i++) {
		p->ops[i] = (struct net_rma_op){
			.local = p->buf + i * PAGE,
			.local_mr = p->mr,
			.remote_addr = (first + i) * PAGE,
			.len = PAGE,
			.result = 1,
		};
	}
	return p->ops;
}

static uint8_t pattern(size_t page, size_t byte, uint8_t salt)
{
	return (uint8_t)(page * 131 + byte * 7 + salt);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ */
/* Data path.                                                           */

static void written_pages_are_read_back(void **state)
{
	struct pod_thread t;
	struct pod_client *c;
	struct pod_lease l;
	struct pages p;
	const struct pod_info *info;
	uint64_t lat[200];

	(void)state;
	pod_start(&t, NULL);
	c = connect_ok(&t, "vm-a");
	info = pod_client_info(c);
	assert_string_equal(info->pod_id, "test-pod");
	assert_string_equal(info->fabric, "tcp;ofi_rxm");
	assert_int_equal(info->mem_total, POD_MEMORY);
	assert_int_equal(info->mem_free, POD_MEMORY);
	assert_int_equal(info->page_size, PAGE);

	assert_int_equal(pod_client_lease(c, 256 * PAGE, &l), 0);
	assert_int_not_equal(l.id, 0);
	assert_int_equal(l.size, 256 * PAGE);
	pages_init(&p, c, 256);
	for (size_t i = 0; i < 256; i++)
		for (size_t b = 0; b < PAGE; b++)
			p.buf[i * PAGE + b] = pattern(i, b, 1);
	assert_int_equal(pod_client_write(c, &l, pages_ops(&p, 256, 0), 256), 0);
	for (size_t i = 0; i < 256; i++) {
		assert_int_equal(p.ops[i].result, 0);
		/* Offsets are given back as they came. */
		assert_int_equal(p.ops[i].remote_addr, i * PAGE);
	}
	memset(p.buf, 0, 256 * PAGE);
	assert_int_equal(pod_client_read(c, &l, pages_ops(&p, 256, 0), 256), 0);
	for (size_t i = 0; i < 256; i++)
		for (size_t b = 0; b < PAGE; b += 97)
			assert_int_equal(p.buf[i * PAGE + b], pattern(i, b, 1));

	/* Outside the lease: refused before anything is posted. */
	pages_ops(&p, 1, 256);
	assert_int_equal(pod_client_read(c, &l, p.ops, 1), -ERANGE);
	assert_int_equal(p.ops[0].result, -ERANGE);

	/* One page at a time: the latency a fault would see. */
	for (size_t i = 0; i < PVM_ARRAY_SIZE(lat); i++) {
		uint64_t t0 = pvm_now_ns();

		assert_int_equal(pod_client_read(c, &l, pages_ops(&p, 1, i % 256), 1), 0);
		lat[i] = pvm_now_ns() - t0;
	}
	qsort(lat, PVM_ARRAY_SIZE(lat), sizeof(lat[0]), cmp_u64);
	print_message("# pod_client_read, 1 page, tcp loopback: p50 %.1f us, p90 %.1f us (%zu reads)\n",
		      lat[PVM_ARRAY_SIZE(lat) / 2] / 1e3,
		      lat[PVM_ARRAY_SIZE(lat) * 9 / 10] / 1e3, PVM_ARRAY_SIZE(lat));

	assert_int_equal(pod_client_release(c, l.id), 0);
	assert_int_equal(pod_client_release(c, l.id), -ENOENT);
	assert_int_equal(stats_of(&t).leases, 0);
	/* Its key opens nothing any more. */
	memset(p.buf, 0x77, PAGE);
	assert_true(pod_client_read(c, &l, pages_ops(&p, 1, 0), 1) < 0);
	assert_int_equal(p.buf[0], 0x77);

	pages_fini(&p);
	pod_client_close(c);
	pod_finish(&t);
}

static void full_pod_refuses_with_enospc_and_release_frees(void **state)
{
	struct pod_thread t;
	struct pod_client *c;
	struct pod_lease all, small, again;
	struct pvm_wire_msg st;
	uint64_t v;

	(void)state;
	pod_start(&t, NULL);
	c = connect_ok(&t, "vm-a");
	assert_int_equal(pod_client_lease(c, 2 * POD_MEMORY, &all), -ENOSPC);
	assert_int_equal(pod_client_lease(c, POD_MEMORY, &all), 0);
	assert_int_equal(stats_of(&t).mem_free, 0);
	assert_int_equal(pod_client_lease(c, PAGE, &small), -ENOSPC);
	assert_int_equal(pod_client_lease(c, 12345, &small), -EINVAL);

	assert_int_equal(pod_client_stats(c, &st), 0);
	assert_true(pod_stats_counter(&st, PVM_WIRE_CTR_MEM_FREE, &v));
	assert_int_equal(v, 0);
	assert_true(pod_stats_counter(&st, PVM_WIRE_CTR_LEASED_BYTES, &v));
	assert_int_equal(v, POD_MEMORY);

	assert_int_equal(pod_client_release(c, all.id), 0);
	assert_int_equal(stats_of(&t).mem_free, POD_MEMORY);
	assert_int_equal(pod_client_lease(c, PAGE, &small), 0);
	/* A small lease takes a whole slab; first fit packs the next one
	 * right after it. */
	assert_int_equal(stats_of(&t).mem_free, POD_MEMORY - SLAB);
	assert_int_equal(pod_client_lease(c, POD_MEMORY - SLAB, &again), 0);
	assert_int_equal(stats_of(&t).mem_free, 0);
	assert_int_equal(stats_of(&t).leases_refused, 2);
	pod_client_close(c);
	pod_finish(&t);
}

/* ------------------------------------------------------------------ */
/* Authentication.                                                      */

static void wrong_secret_is_refused_and_gets_no_lease(void **state)
{
	struct pod_thread t;
	struct pod_client *c = (void *)1;
	struct pod_stats s;

	(void)state;
	pod_start(&t, NULL);
	assert_int_equal(connect_as(t.addr, wrong_secret_path, "intruder", TIMEOUT_MS, &c),
			 -EACCES);
	assert_null(c);
	print_message("# %s\n", pod_client_last_error());
	s = stats_of(&t);
	assert_int_equal(s.auth_failures, 1);
	assert_int_equal(s.clients, 0);
	assert_int_equal(s.leases, 0);
	assert_int_equal(s.mem_free, POD_MEMORY);
	/* The pod serves the next, honest client. */
	c = connect_ok(&t, "vm-a");
	pod_client_close(c);
	pod_finish(&t);
}

/* A "pod" that does not know the secret: answers with a made-up proof. */
struct rogue {
	struct net_endpoint *ep;
	char addr[256];
	pthread_t thread;
};

static void *rogue_main(void *arg)
{
	struct rogue *r = arg;
	struct pvm_wire_msg in, m;
	net_peer_t from, client;

	if (net_recv_msg(r->ep, &in, &from, 5000) || in.type != PVM_WIRE_HELLO)
		return NULL;
	if (net_peer_insert_raw(r->ep, in.u.hello.addr, in.u.hello.addr_len, &client))
		return NULL;
	pvm_wire_init(&m, PVM_WIRE_CHALLENGE, in.seq);
	m.u.challenge.version = 1;
	pvm_auth_nonce(m.u.challenge.nonce);
	strcpy(m.u.challenge.pod_id, "rogue");
	strcpy(m.u.challenge.fabric, "tcp;ofi_rxm");
	m.u.challenge.mem_total = m.u.challenge.mem_free = POD_MEMORY;
	m.u.challenge.page_size = PAGE;
	net_send_msg(r->ep, client, &m, 2000);
	if (net_recv_msg(r->ep, &in, &from, 5000) || in.type != PVM_WIRE_AUTH)
		return NULL;
	pvm_wire_init(&m, PVM_WIRE_AUTH_OK, in.seq);
	pvm_auth_nonce(m.u.auth_ok.mac);        /* no secret: a guess */
	net_send_msg(r->ep, client, &m, 2000);
	return NULL;
}

static void pod_without_the_secret_is_refused(void **state)
{
	struct net_endpoint_opts o = {
		.provider = "tcp", .node = "127.0.0.1", .service = "0",
		.progress_thread = true, .rx_buffers = 4,
	};
	struct pod_client *c = (void *)1;
	struct rogue r;

	(void)state;
	assert_int_equal(net_endpoint_open(&o, &r.ep), 0);
	assert_int_equal(net_endpoint_address(r.ep, r.addr, sizeof(r.addr)), 0);
	assert_int_equal(pthread_create(&r.thread, NULL, rogue_main, &r), 0);
	assert_int_equal(connect_as(r.addr, secret_path, "vm-a", TIMEOUT_MS, &c), -EACCES);
	assert_null(c);
	print_message("# %s\n", pod_client_last_error());
	pthread_join(r.thread, NULL);
	net_endpoint_close(r.ep);
}

static void nothing_listening_times_out(void **state)
{
	struct pod_client *c = (void *)1;

	(void)state;
	/* rxm retries a refused connection until the deadline. */
	assert_int_equal(connect_as("127.0.0.1:1", secret_path, "vm-a", 300, &c),
			 -ETIMEDOUT);
	assert_null(c);
	assert_int_equal(connect_as("no-port", secret_path, "vm-a", 300, &c), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Malformed input.                                                     */

static size_t encode(const struct pvm_wire_msg *m, uint8_t *buf, size_t cap)
{
	ssize_t n = pvm_wire_encode(m, buf, cap);

	assert_true(n > 0);
	return (size_t)n;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wait_bad_count(struct pod_thread *t, uint64_t want)
{
	uint64_t end = now_ms() + 3000;

	while (stats_of(t).msgs_bad < want && now_ms() < end)
		sleep_ms(10);
	assert_int_equal(stats_of(t).msgs_bad, want);
}

/* A raw peer's handshake; returns the pod's answer to AUTH. */
static void raw_handshake(struct raw_ep *r, const char *id, const char *secret_text_used,
			  uint16_t expect_type)
{
	uint8_t buf[PVM_WIRE_MAX_MSG], nonce[32];
	struct pvm_auth_secret *secret;
	struct pvm_wire_msg m, in;
	size_t nlen = sizeof(m.u.hello.addr);
	long got;

	assert_int_equal(pvm_auth_secret_from_bytes(secret_text_used,
						    strlen(secret_text_used), &secret), 0);
	pvm_wire_init(&m, PVM_WIRE_HELLO, 100);
	pvm_auth_nonce(nonce);
	memcpy(m.u.hello.nonce, nonce, 32);
	m.u.hello.nversions = 1;
	m.u.hello.versions[0] = 1;
	strcpy(m.u.hello.client_id, id);
	assert_int_equal(raw_name(r, m.u.hello.addr, &nlen), 0);
	m.u.hello.addr_len = (uint16_t)nlen;
	assert_int_equal(raw_send(r, buf, encode(&m, buf, sizeof(buf)), TIMEOUT_MS), 0);
	got = raw_recv(r, buf, sizeof(buf), TIMEOUT_MS);
	assert_true(got > 0);
	assert_int_equal(pvm_wire_decode(buf, (size_t)got, &in), 0);
	assert_int_equal(in.type, PVM_WIRE_CHALLENGE);
	assert_int_equal(in.seq, 100);

	/* Before AUTH, requests get NOT_AUTHED (the peer is known now). */
	pvm_wire_init(&m, PVM_WIRE_LEASE_REQUEST, 101);
	m.u.lease_request.bytes = PAGE;
	assert_int_equal(raw_send(r, buf, encode(&m, buf, sizeof(buf)), TIMEOUT_MS), 0);
	got = raw_recv(r, buf, sizeof(buf), TIMEOUT_MS);
	assert_true(got > 0);
	assert_int_equal(pvm_wire_decode(buf, (size_t)got, &m), 0);
	assert_int_equal(m.type, PVM_WIRE_ERROR);
	assert_int_equal(m.seq, 101);
	assert_int_equal(m.u.error.status, PVM_WIRE_ST_NOT_AUTHED);

	pvm_wire_init(&m, PVM_WIRE_AUTH, 102);
	pvm_auth_client_mac(secret, nonce, in.u.challenge.nonce, id, m.u.auth.mac);
	assert_int_equal(raw_send(r, buf, encode(&m, buf, sizeof(buf)), TIMEOUT_MS), 0);
	got = raw_recv(r, buf, sizeof(buf), TIMEOUT_MS);
	assert_true(got > 0);
	assert_int_equal(pvm_wire_decode(buf, (size_t)got, &m), 0);
	assert_int_equal(m.type, expect_type);
	pvm_auth_secret_free(secret);
}

static void malformed_messages_are_counted_and_change_nothing(void **state)
{
	static uint8_t big[70000];
	uint8_t buf[PVM_WIRE_MAX_MSG];
	struct pvm_wire_msg m;
	struct pod_thread t;
	struct pod_client *c;
	struct pod_lease l;
	struct pages p;
	struct raw_ep *r;
	uint64_t bad = 0;
	size_t n;
	long got;

	(void)state;
	pod_start(&t, NULL);
	assert_int_equal(raw_open(t.addr, &r), 0);

	/* From a peer that never said HELLO: counted, never answered. */
	memset(buf, 0xa5, 64);
	assert_int_equal(raw_send(r, buf, 64, TIMEOUT_MS), 0);               /* bad magic */
	wait_bad_count(&t, ++bad);
	assert_int_equal(raw_send(r, "PVMW", 4, TIMEOUT_MS), 0);             /* truncated header */
	wait_bad_count(&t, ++bad);
	pvm_wire_init(&m, PVM_WIRE_HELLO, 1);
	m.u.hello.nversions = 1;
	m.u.hello.versions[0] = 1;
	strcpy(m.u.hello.client_id, "cut-short");
	n = encode(&m, buf, sizeof(buf));
	assert_int_equal(raw_send(r, buf, n - 10, TIMEOUT_MS), 0);           /* body cut */
	wait_bad_count(&t, ++bad);
	put_u16(buf + 4, 7);                                                /* version 7 */
	assert_int_equal(raw_send(r, buf, n, TIMEOUT_MS), 0);
	wait_bad_count(&t, ++bad);
	pvm_wire_init(&m, PVM_WIRE_STATS_REQUEST, 1);
	n = encode(&m, buf, sizeof(buf));
	put_u16(buf + 6, 99);                                               /* unknown type */
	assert_int_equal(raw_send(r, buf, n, TIMEOUT_MS), 0);
	wait_bad_count(&t, ++bad);
	n = encode(&m, buf, sizeof(buf));
	put_u32(buf + 8, 4000);                                             /* length lies */
	assert_int_equal(raw_send(r, buf, n, TIMEOUT_MS), 0);
	wait_bad_count(&t, ++bad);
	memcpy(big, buf, PVM_WIRE_HDR_LEN);                                 /* 70000 bytes */
	put_u32(big + 8, sizeof(big));
	raw_send(r, big, sizeof(big), TIMEOUT_MS);  /* rxm may report the truncation to us too */
	wait_bad_count(&t, ++bad);
	pvm_wire_init(&m, PVM_WIRE_LEASE_REQUEST, 5);                       /* well formed, no HELLO */
	m.u.lease_request.bytes = PAGE;
	assert_int_equal(raw_send(r, buf, encode(&m, buf, sizeof(buf)), TIMEOUT_MS), 0);
	wait_bad_count(&t, ++bad);
	assert_int_equal(raw_recv(r, buf, sizeof(buf), 200), -ETIMEDOUT);  /* no reflection */
	assert_int_equal(stats_of(&t).clients_pending, 0);

	/* Authenticated (NOT_AUTHED on the way counts once), then garbage:
	 * the pod says what was wrong. */
	raw_handshake(r, "raw-peer", secret_text, PVM_WIRE_AUTH_OK);
	bad++;
	memset(buf, 0x5a, 40);
	assert_int_equal(raw_send(r, buf, 40, TIMEOUT_MS), 0);
	got = raw_recv(r, buf, sizeof(buf), TIMEOUT_MS);
	assert_true(got > 0);
	assert_int_equal(pvm_wire_decode(buf, (size_t)got, &m), 0);
	assert_int_equal(m.type, PVM_WIRE_ERROR);
	assert_int_equal(m.u.error.status, PVM_WIRE_ST_BAD_REQUEST);
	print_message("# pod answered: %s\n", m.u.error.message);
	bad++;
	/* A message only pods send. */
	pvm_wire_init(&m, PVM_WIRE_LEASE_GRANT, 9);
	m.u.lease_grant.lease_id = 1;
	m.u.lease_grant.size = PAGE;
	assert_int_equal(raw_send(r, buf, encode(&m, buf, sizeof(buf)), TIMEOUT_MS), 0);
	got = raw_recv(r, buf, sizeof(buf), TIMEOUT_MS);
	assert_true(got > 0);
	assert_int_equal(pvm_wire_decode(buf, (size_t)got, &m), 0);
	assert_int_equal(m.type, PVM_WIRE_ERROR);
	assert_int_equal(m.seq, 9);
	bad++;
	wait_bad_count(&t, bad);
	assert_int_equal(stats_of(&t).leases, 0);
	assert_int_equal(stats_of(&t).mem_free, POD_MEMORY);
	raw_close(r);

	/* Still serving. */
	c = connect_ok(&t, "vm-after");
	assert_int_equal(pod_client_lease(c, 4 * PAGE, &l), 0);
	pages_init(&p, c, 4);
	memset(p.buf, 0x3c, 4 * PAGE);
	assert_int_equal(pod_client_write(c, &l, pages_ops(&p, 4, 0), 4), 0);
	memset(p.buf, 0, 4 * PAGE);
	assert_int_equal(pod_client_read(c, &l, pages_ops(&p, 4, 0), 4), 0);
	assert_int_equal(p.buf[4 * PAGE - 1], 0x3c);
	pages_fini(&p);
	pod_client_close(c);
	pod_finish(&t);
}

/* ------------------------------------------------------------------ */
/* Isolation.                                                           */

static void clients_cannot_reach_each_others_leases(void **state)
{
	struct pod_thread t;
	struct pod_client *a, *b;
	struct pod_lease la, lb, forged;
	struct pages pa, pb;
	uint64_t guess;

	(void)state;
	pod_start(&t, NULL);
	a = connect_ok(&t, "vm-a");
	b = connect_ok(&t, "vm-b");
	assert_int_equal(pod_client_lease(a, 16 * PAGE, &la), 0);
	assert_int_equal(pod_client_lease(b, 16 * PAGE, &lb), 0);
	assert_int_not_equal(la.key, lb.key);
	pages_init(&pa, a, 16);
	pages_init(&pb, b, 16);
	memset(pa.buf, 0xa1, 16 * PAGE);
	memset(pb.buf, 0xb2, 16 * PAGE);
	assert_int_equal(pod_client_write(a, &la, pages_ops(&pa, 16, 0), 16), 0);
	assert_int_equal(pod_client_write(b, &lb, pages_ops(&pb, 16, 0), 16), 0);

	/* B knows A's lease id and address, not its key: guesses fail and
	 * leave B's buffer alone. */
	for (int i = 0; i < 3; i++) {
		forged = la;
		randombytes_buf(&guess, sizeof(guess));
		forged.key = guess & 0x7fffffffffffffffull;
		memset(pb.buf, 0x33, PAGE);
		assert_true(pod_client_read(b, &forged, pages_ops(&pb, 1, 0), 1) < 0);
		assert_int_equal(pb.buf[0], 0x33);
		assert_true(pod_client_write(b, &forged, pages_ops(&pb, 1, 0), 1) < 0);
	}
	/* B's own key at A's address reaches B's own lease, never A's. */
	forged = la;
	forged.key = lb.key;
	memset(pb.buf, 0, PAGE);
	if (pod_client_read(b, &forged, pages_ops(&pb, 1, 0), 1) == 0)
		assert_int_equal(pb.buf[0], 0xb2);
	assert_int_not_equal(pb.buf[0], 0xa1);
	/* Nor can B release A's lease. */
	assert_int_equal(pod_client_release(b, la.id), -ENOENT);

	/* A's pages are intact; B still works after its failures. */
	memset(pa.buf, 0, 16 * PAGE);
	assert_int_equal(pod_client_read(a, &la, pages_ops(&pa, 16, 0), 16), 0);
	for (size_t i = 0; i < 16 * PAGE; i += 511)
		assert_int_equal(pa.buf[i], 0xa1);
	assert_int_equal(pod_client_read(b, &lb, pages_ops(&pb, 16, 0), 16), 0);
	assert_int_equal(pb.buf[16 * PAGE - 1], 0xb2);
	assert_int_equal(stats_of(&t).leases, 2);

	pages_fini(&pa);
	pages_fini(&pb);
	pod_client_close(a);
	pod_client_close(b);
	pod_finish(&t);
}

/* Memory freed by one client reads as zeros for the next. */
static void released_memory_reads_as_zeros(void **state)
{
	struct pod_thread t;
	struct pod_client *a, *b;
	struct pod_lease la, lb;
	struct pages pa, pb;

	(void)state;
	pod_start(&t, NULL);
	a = connect_ok(&t, "vm-a");
	b = connect_ok(&t, "vm-b");
	assert_int_equal(pod_client_lease(a, SLAB, &la), 0);
	pages_init(&pa, a, 8);
	memset(pa.buf, 0xee, 8 * PAGE);
	assert_int_equal(pod_client_write(a, &la, pages_ops(&pa, 8, 0), 8), 0);
	assert_int_equal(pod_client_release(a, la.id), 0);
	/* First fit: b gets the same slab. */
	assert_int_equal(pod_client_lease(b, SLAB, &lb), 0);
	pages_init(&pb, b, 8);
	memset(pb.buf, 0x11, 8 * PAGE);
	assert_int_equal(pod_client_read(b, &lb, pages_ops(&pb, 8, 0), 8), 0);
	for (size_t i = 0; i < 8 * PAGE; i++)
		if (pb.buf[i])
			fail_msg("byte %zu of the new lease is 0x%02x, not 0", i, pb.buf[i]);
	pages_fini(&pa);
	pages_fini(&pb);
	pod_client_close(a);
	pod_client_close(b);
	pod_finish(&t);
}

/* The address the pod knows a client by, from its stats file. */
static void client_address_from_stats(struct pod_thread *t, const char *id,
				      char *addr, size_t len)
{
	char path[256], text[8192], key[96];
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/addr.json", tmpdir);
	assert_int_equal(pod_write_stats_json(t->pod, path), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(path);
	snprintf(key, sizeof(key), "\"id\":\"%s\"", id);
	p = strstr(text, key);
	assert_non_null(p);
	p = strstr(p, "\"address\":\"");
	assert_non_null(p);
	p += strlen("\"address\":\"");
	n = strcspn(p, "\"");
	assert_true(n < len);
	memcpy(addr, p, n);
	addr[n] = '\0';
}

/* An unauthenticated peer sends HELLO naming a connected client's
 * address: ignored, the client keeps its session and leases. */
static void hello_claiming_a_clients_address_is_ignored(void **state)
{
	uint8_t buf[PVM_WIRE_MAX_MSG];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct pvm_wire_msg m;
	struct pod_thread t;
	struct pod_client *victim;
	struct pod_lease l, l2;
	struct raw_ep *r;
	char addr[64], host[64];
	unsigned int port;

	(void)state;
	pod_start(&t, NULL);
	victim = connect_ok(&t, "vm-victim");
	assert_int_equal(pod_client_lease(victim, PAGE, &l), 0);
	client_address_from_stats(&t, "vm-victim", addr, sizeof(addr));
	assert_int_equal(sscanf(addr, "%63[^:]:%u", host, &port), 2);
	assert_int_equal(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	sin.sin_port = htons((uint16_t)port);

	assert_int_equal(raw_open(t.addr, &r), 0);
	pvm_wire_init(&m, PVM_WIRE_HELLO, 1);
	m.u.hello.nversions = 1;
	m.u.hello.versions[0] = 1;
	strcpy(m.u.hello.client_id, "vm-victim");
	memcpy(m.u.hello.addr, &sin, sizeof(sin));
	m.u.hello.addr_len = sizeof(sin);
	assert_int_equal(raw_send(r, buf, encode(&m, buf, sizeof(buf)), TIMEOUT_MS), 0);
	wait_bad_count(&t, 1);
	assert_int_equal(raw_recv(r, buf, sizeof(buf), 100), -ETIMEDOUT);
	raw_close(r);

	assert_int_equal(stats_of(&t).clients, 1);
	assert_int_equal(stats_of(&t).clients_pending, 0);
	assert_int_equal(pod_client_lease(victim, PAGE, &l2), 0);
	assert_int_equal(pod_client_heartbeat(victim, NULL), 0);
	assert_int_equal(stats_of(&t).leases, 2);
	pod_client_close(victim);
	pod_finish(&t);
}

/* pod_client_read/write from several threads on one client, while the
 * control thread heartbeats. */
struct rw_worker {
	struct pod_client *c;
	const struct pod_lease *l;
	struct pages p;
	size_t first;           /* lease page of this worker's slice */
	uint8_t salt;
	int failures;
	pthread_t thread;
};

static void *rw_worker_main(void *arg)
{
	struct rw_worker *w = arg;

	for (int round = 0; round < 40; round++) {
		uint8_t salt = (uint8_t)(w->salt + round);

		for (size_t i = 0; i < 16; i++)
			memset(w->p.buf + i * PAGE, salt + (int)i, PAGE);
		if (pod_client_write(w->c, w->l, pages_ops(&w->p, 16, w->first), 16))
			w->failures++;
		memset(w->p.buf, 0, 16 * PAGE);
		if (pod_client_read(w->c, w->l, pages_ops(&w->p, 16, w->first), 16))
			w->failures++;
		for (size_t i = 0; i < 16; i++)
			if (w->p.buf[i * PAGE + PAGE / 2] != (uint8_t)(salt + i))
				w->failures++;
	}
	return NULL;
}

static void reads_and_writes_may_run_concurrently(void **state)
{
	struct rw_worker w[3];
	struct pod_thread t;
	struct pod_client *c;
	struct pod_lease l;

	(void)state;
	pod_start(&t, NULL);
	c = connect_ok(&t, "vm-threads");
	assert_int_equal(pod_client_lease(c, 48 * PAGE, &l), 0);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(w); i++) {
		w[i] = (struct rw_worker){ .c = c, .l = &l, .first = i * 16,
					   .salt = (uint8_t)(i * 50) };
		pages_init(&w[i].p, c, 16);
	}
	for (size_t i = 0; i < PVM_ARRAY_SIZE(w); i++)
		assert_int_equal(pthread_create(&w[i].thread, NULL, rw_worker_main, &w[i]), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(pod_client_heartbeat(c, NULL), 0);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(w); i++) {
		pthread_join(w[i].thread, NULL);
		assert_int_equal(w[i].failures, 0);
		pages_fini(&w[i].p);
	}
	pod_client_close(c);
	pod_finish(&t);
}

/* ------------------------------------------------------------------ */
/* Liveness and drain.                                                  */

static void silent_client_loses_its_leases(void **state)
{
	struct pod_config cfg;
	struct pod_thread t;
	struct pod_client *quiet, *chatty;
	struct pod_lease lq, lc;
	struct pages pc, pq;
	struct pod_stats s;
	uint64_t rtt, end;

	(void)state;
	pod_config_defaults(&cfg);
	cfg.client_timeout_ms = 1000;
	pod_start(&t, &cfg);
	quiet = connect_ok(&t, "vm-quiet");
	chatty = connect_ok(&t, "vm-chatty");
	assert_int_equal(pod_client_lease(quiet, 8 * PAGE, &lq), 0);
	assert_int_equal(pod_client_lease(chatty, 8 * PAGE, &lc), 0);
	pages_init(&pc, chatty, 8);
	pages_init(&pq, quiet, 8);
	end = now_ms() + 1700;
	while (now_ms() < end) {
		assert_int_equal(pod_client_heartbeat(chatty, &rtt), 0);
		sleep_ms(200);
	}
	s = stats_of(&t);
	assert_int_equal(s.leases, 1);
	assert_int_equal(s.leases_expired, 1);
	assert_int_equal(s.clients, 1);
	assert_int_equal(s.mem_free, POD_MEMORY - SLAB);
	assert_int_equal(pod_client_read(chatty, &lc, pages_ops(&pc, 8, 0), 8), 0);
	/* The silent client's key is gone with its lease. */
	memset(pq.buf, 0x44, PAGE);
	assert_true(pod_client_read(quiet, &lq, pages_ops(&pq, 1, 0), 1) < 0);
	assert_int_equal(pq.buf[0], 0x44);
	pages_fini(&pc);
	pages_fini(&pq);
	pod_client_close(quiet);
	pod_client_close(chatty);
	pod_finish(&t);
}

/* Poll for the pod's DRAIN for up to @ms. */
static bool wait_drain(struct pod_client *c, struct pod_event *ev, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end) {
		if (pod_client_poll_event(c, ev) == 0)
			return true;
		sleep_ms(5);
	}
	return false;
}

static void drain_waits_for_every_client_then_exits(void **state)
{
	struct pod_config cfg;
	struct pod_thread t;
	struct pod_client *a, *b;
	struct pod_lease la, lb, more;
	struct pod_event ev;
	struct pages pa;

	(void)state;
	pod_config_defaults(&cfg);
	cfg.drain_timeout_ms = 20000;
	pod_start(&t, &cfg);
	a = connect_ok(&t, "vm-a");
	b = connect_ok(&t, "vm-b");
	assert_int_equal(pod_client_lease(a, 8 * PAGE, &la), 0);
	assert_int_equal(pod_client_lease(b, 8 * PAGE, &lb), 0);
	assert_int_equal(pod_client_poll_event(a, &ev), -EAGAIN);
	pages_init(&pa, a, 8);

	pod_request_drain(t.pod);
	assert_true(wait_drain(a, &ev, 2000));
	assert_int_equal(ev.type, POD_EVENT_DRAIN);
	assert_int_equal(ev.lease_id, 0);
	assert_true(ev.deadline_ms > 0 && ev.deadline_ms <= 20000);
	assert_true(stats_of(&t).draining);
	/* No new leases, but pages can still be moved out. */
	assert_int_equal(pod_client_lease(a, PAGE, &more), -ESHUTDOWN);
	assert_int_equal(pod_client_read(a, &la, pages_ops(&pa, 8, 0), 8), 0);
	assert_int_equal(pod_client_drain_done(a, 0), 0);
	sleep_ms(200);
	assert_false(atomic_load(&t.done));     /* b still holds a lease */

	/* b answers by releasing its lease instead. */
	assert_true(wait_drain(b, &ev, 2000));
	assert_int_equal(pod_client_release(b, lb.id), 0);
	assert_true(pod_exited_within(&t, 2000));
	assert_int_equal(t.ret, 0);
	pages_fini(&pa);
	pod_client_close(a);
	pod_client_close(b);
	pod_finish(&t);
}

static void drain_deadline_ends_the_wait(void **state)
{
	struct pod_config cfg;
	struct pod_thread t;
	struct pod_client *c;
	struct pod_lease l;
	uint64_t t0;

	(void)state;
	pod_config_defaults(&cfg);
	cfg.drain_timeout_ms = 500;
	pod_start(&t, &cfg);
	c = connect_ok(&t, "vm-deaf");
	assert_int_equal(pod_client_lease(c, PAGE, &l), 0);
	t0 = now_ms();
	pod_request_drain(t.pod);
	assert_true(pod_exited_within(&t, 3000));
	assert_true(now_ms() - t0 >= 450);
	assert_int_equal(t.ret, 0);
	pod_client_close(c);
	pod_finish(&t);
}

static void heartbeat_and_stats_report_usage(void **state)
{
	struct pod_thread t;
	struct pod_client *c;
	struct pod_lease l;
	struct pvm_wire_msg st;
	uint64_t rtt = 0, v;
	char json[256];
	FILE *f;
	char text[4096];
	size_t n;

	(void)state;
	pod_start(&t, NULL);
	c = connect_ok(&t, "vm-stats");
	assert_int_equal(pod_client_heartbeat(c, &rtt), 0);
	assert_true(rtt > 0);
	print_message("# heartbeat round trip %.1f us\n", rtt / 1e3);
	assert_int_equal(pod_client_lease(c, 3 * PAGE, &l), 0);
	assert_int_equal(pod_client_stats(c, &st), 0);
	assert_true(pod_stats_counter(&st, PVM_WIRE_CTR_MEM_TOTAL, &v));
	assert_int_equal(v, POD_MEMORY);
	assert_true(pod_stats_counter(&st, PVM_WIRE_CTR_LEASES, &v));
	assert_int_equal(v, 1);
	assert_true(pod_stats_counter(&st, PVM_WIRE_CTR_LEASED_BYTES, &v));
	assert_int_equal(v, 3 * PAGE);
	assert_true(pod_stats_counter(&st, PVM_WIRE_CTR_CLIENTS, &v));
	assert_int_equal(v, 1);
	assert_true(pod_stats_counter(&st, PVM_WIRE_CTR_MSGS_RX, &v));
	assert_true(v >= 4);

	snprintf(json, sizeof(json), "%s/stats.json", tmpdir);
	assert_int_equal(pod_write_stats_json(t.pod, json), 0);
	f = fopen(json, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	assert_non_null(strstr(text, "\"vm-stats\""));
	assert_non_null(strstr(text, "\"leased_bytes\":12288"));
	unlink(json);
	pod_client_close(c);
	pod_finish(&t);
}

/* ------------------------------------------------------------------ */
/* Departed clients: clients that die without a word (VMMs that crashed,
 * benchmarks that exited) must cost the pod's other clients nothing.
 * The dead clients are child processes (this program run again with
 * --die-holding-a-lease): each connects, takes a lease and is killed.
 * Half a client timeout later the pod probes them all with a HEARTBEAT;
 * those probes, and anything else sent to a departed client, must not
 * hold up the HELLOs and requests of live clients. At the full timeout
 * the dead clients' leases are freed, and only then (docs/pods.md). */

#define DEAD_CLIENTS            8u
#define DEAD_CLIENT_TIMEOUT_MS  4000u   /* probes at 2 s */
#define DEAD_REQUEST_TIMEOUT_MS 3000u
#define DEAD_STALL_LIMIT_MS     200u    /* the most a live client may wait */

static char self_exe[4096];

/* Child mode: connect, lease, tell the parent, wait to be killed. */
static int die_holding_a_lease(const char *addr, const char *id)
{
	struct pod_client *c;
	struct pod_lease l;

	if (connect_as(addr, secret_path, id, DEAD_REQUEST_TIMEOUT_MS, &c) ||
	    pod_client_lease(c, SLAB, &l))
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

static void dead_clients_do_not_delay_live_ones(void **state)
{
	uint64_t connect_ms[256], request_ms[256], start, end, t0;
	size_t nconnect = 0, nrequest = 0;
	struct pod_client *live, *fresh;
	uint64_t first_lease = 0, last_lease;
	pid_t pids[DEAD_CLIENTS];
	int fds[DEAD_CLIENTS];
	struct pod_lease lease;
	struct pod_config cfg;
	struct pod_thread t;
	struct pod_stats s;
	uint64_t rtt;
	char id[32];

	(void)state;
	pod_config_defaults(&cfg);
	cfg.client_timeout_ms = DEAD_CLIENT_TIMEOUT_MS;
	pod_start(&t, &cfg);
	assert_int_equal(connect_as(t.addr, secret_path, "vm-live", DEAD_REQUEST_TIMEOUT_MS, &live), 0);
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
	end = first_lease + DEAD_CLIENT_TIMEOUT_MS - 300;
	print_message("# leases taken within %llu ms; measuring for %llu ms\n",
		      (unsigned long long)(last_lease - first_lease),
		      (unsigned long long)(end - start));
	/* Else the machine was too slow to start the children together. */
	assert_true(end >= last_lease + DEAD_CLIENT_TIMEOUT_MS / 2 + 500);
	while (now_ms() < end && nconnect < PVM_ARRAY_SIZE(connect_ms)) {
		snprintf(id, sizeof(id), "vm-new-%zu", nconnect);
		t0 = now_ms();
		assert_int_equal(connect_as(t.addr, secret_path, id, DEAD_REQUEST_TIMEOUT_MS, &fresh), 0);
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
	assert_true(connect_ms[nconnect - 1] < DEAD_STALL_LIMIT_MS);
	assert_true(request_ms[nrequest - 1] < DEAD_STALL_LIMIT_MS);

	/* The dead keep their leases until the client timeout, then lose
	 * them; the live client keeps its own. (The short-lived clients
	 * of the loop above are departed too, holding nothing.) */
	pod_get_stats(t.pod, &s);
	assert_int_equal(s.leases_expired, 0);
	end = last_lease + DEAD_CLIENT_TIMEOUT_MS + 1500;
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
	enum { CLIENT_TIMEOUT = 1500, HOLD_MS = 2200 };
	struct pod_client *a, *b;
	struct pod_lease la, lb;
	struct beat beats[2];
	struct pod_config cfg;
	struct pod_thread t;
	struct pod_stats s;

	(void)state;
	pod_config_defaults(&cfg);
	cfg.client_timeout_ms = CLIENT_TIMEOUT;
	pod_start(&t, &cfg);
	a = connect_ok(&t, "vm-a");
	b = connect_ok(&t, "vm-b");
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
		      HOLD_MS, CLIENT_TIMEOUT, (unsigned long long)s.leases_expired,
		      (unsigned long long)s.leases);
	assert_int_equal(s.leases_expired, 0);
	assert_int_equal(s.leases, 2);
	pod_client_close(a);
	pod_client_close(b);
	pod_finish(&t);
}

/* ------------------------------------------------------------------ */
/* The program.                                                         */

struct child {
	pid_t pid;
	int out;                /* its stdout */
	char addr[256];
};

static int child_start(struct child *ch, const char *const *extra)
{
	const char *argv[32] = {
		pod_exe, "--memory", "32M", "--listen", "127.0.0.1:0",
		"--secret-file", secret_path, "--fabric", "tcp", "--quiet",
	};
	char line[512] = { 0 };
	size_t argc = 10, got = 0;
	int fds[2];

	for (size_t i = 0; extra && extra[i]; i++)
		argv[argc++] = extra[i];
	assert_int_equal(pipe(fds), 0);
	ch->pid = fork();
	assert_true(ch->pid >= 0);
	if (ch->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(pod_exe, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	ch->out = fds[0];
	while (got < sizeof(line) - 1 && !strchr(line, '\n')) {
		struct pollfd pfd = { .fd = ch->out, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 10000) <= 0)
			break;
		r = read(ch->out, line + got, sizeof(line) - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	print_message("# %s", line);
	if (sscanf(line, "poolvm pod: serving 32.0 MiB on %255s (tcp)", ch->addr) != 1)
		return -1;
	return 0;
}

static int child_wait(struct child *ch, unsigned int ms)
{
	uint64_t end = now_ms() + ms;
	int status;

	for (;;) {
		pid_t r = waitpid(ch->pid, &status, WNOHANG);

		if (r == ch->pid) {
			close(ch->out);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		if (now_ms() >= end) {
			kill(ch->pid, SIGKILL);
			waitpid(ch->pid, &status, 0);
			close(ch->out);
			return -1;
		}
		sleep_ms(10);
	}
}

static void program_drains_on_sigterm(void **state)
{
	char json[256];
	const char *extra[] = { "--stats-json", json, "--client-timeout", "10", NULL };
	struct pod_client *c = NULL;
	struct pod_event ev;
	struct pod_lease l;
	struct child ch;
	struct stat sb;

	(void)state;
	snprintf(json, sizeof(json), "%s/pod-stats.json", tmpdir);
	assert_int_equal(child_start(&ch, extra), 0);
	assert_int_equal(connect_as(ch.addr, secret_path, "vm-a", TIMEOUT_MS, &c), 0);
	assert_int_equal(pod_client_lease(c, 4 * PAGE, &l), 0);
	kill(ch.pid, SIGTERM);
	assert_true(wait_drain(c, &ev, 3000));
	assert_int_equal(ev.lease_id, 0);
	assert_int_equal(pod_client_drain_done(c, 0), 0);
	assert_int_equal(child_wait(&ch, 3000), 0);
	assert_int_equal(stat(json, &sb), 0);
	assert_true(sb.st_size > 0);
	unlink(json);
	pod_client_close(c);
}

static void program_exits_at_once_on_second_sigterm(void **state)
{
	struct pod_client *c = NULL;
	struct pod_event ev;
	struct pod_lease l;
	struct child ch;
	uint64_t t0;

	(void)state;
	assert_int_equal(child_start(&ch, NULL), 0);
	assert_int_equal(connect_as(ch.addr, secret_path, "vm-a", TIMEOUT_MS, &c), 0);
	assert_int_equal(pod_client_lease(c, 4 * PAGE, &l), 0);
	kill(ch.pid, SIGTERM);
	assert_true(wait_drain(c, &ev, 3000));  /* draining, 60 s deadline */
	t0 = now_ms();
	kill(ch.pid, SIGTERM);
	assert_int_equal(child_wait(&ch, 2000), 0);
	assert_true(now_ms() - t0 < 2000);
	pod_client_close(c);
}

static void program_rejects_bad_usage(void **state)
{
	const char *const bad[][6] = {
		{ "--memory", "lots", NULL },
		{ "--fabric", "carrier-pigeon", NULL },
		{ "--client-timeout", "-3", NULL },
		{ "--frobnicate", NULL },
	};
	int status;

	(void)state;
	for (size_t i = 0; i < PVM_ARRAY_SIZE(bad); i++) {
		pid_t pid = fork();

		if (pid == 0) {
			const char *argv[16] = { pod_exe };
			size_t n = 1;
			int devnull = open("/dev/null", O_WRONLY);

			for (size_t j = 0; bad[i][j]; j++)
				argv[n++] = bad[i][j];
			dup2(devnull, 1);
			dup2(devnull, 2);
			execv(pod_exe, (char *const *)argv);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 2);
	}
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(written_pages_are_read_back),
		cmocka_unit_test(full_pod_refuses_with_enospc_and_release_frees),
		cmocka_unit_test(wrong_secret_is_refused_and_gets_no_lease),
		cmocka_unit_test(pod_without_the_secret_is_refused),
		cmocka_unit_test(nothing_listening_times_out),
		cmocka_unit_test(malformed_messages_are_counted_and_change_nothing),
		cmocka_unit_test(clients_cannot_reach_each_others_leases),
		cmocka_unit_test(released_memory_reads_as_zeros),
		cmocka_unit_test(hello_claiming_a_clients_address_is_ignored),
		cmocka_unit_test(reads_and_writes_may_run_concurrently),
		cmocka_unit_test(silent_client_loses_its_leases),
		cmocka_unit_test(drain_waits_for_every_client_then_exits),
		cmocka_unit_test(drain_deadline_ends_the_wait),
		cmocka_unit_test(heartbeat_and_stats_report_usage),
		cmocka_unit_test(dead_clients_do_not_delay_live_ones),
		cmocka_unit_test(waiting_heartbeats_are_read_before_the_timers),
		cmocka_unit_test(program_drains_on_sigterm),
		cmocka_unit_test(program_exits_at_once_on_second_sigterm),
		cmocka_unit_test(program_rejects_bad_usage),
	};
	size_t n = PVM_ARRAY_SIZE(tests);
	ssize_t len;
	int ret;

	if (argc == 5 && !strcmp(argv[1], "--die-holding-a-lease")) {
		snprintf(secret_path, sizeof(secret_path), "%s", argv[4]);
		pvm_set_quiet(true);
		return die_holding_a_lease(argv[2], argv[3]);
	}
	/* cmocka's skip() counts as a failure under meson: whole-program skip. */
	if (!test_fabric_available("tcp")) {
		printf("1..0 # SKIP libfabric offers no tcp;ofi_rxm here (see fi_info -p 'tcp;ofi_rxm')\n");
		return 0;
	}
	pod_exe = argc > 1 ? argv[1] : NULL;
	if (!pod_exe || access(pod_exe, X_OK)) {
		/* The program cases are the last three. */
		printf("# pvm-pod not given as argv[1]: program cases left out\n");
		n -= 3;
	}
	len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (len <= 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	self_exe[len] = '\0';
	signal(SIGPIPE, SIG_IGN);
	pvm_set_quiet(true);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pvm-pod-test-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(secret_path, sizeof(secret_path), "%s/secret", tmpdir);
	snprintf(wrong_secret_path, sizeof(wrong_secret_path), "%s/wrong", tmpdir);
	{
		int fd;

		fd = open(secret_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, secret_text, strlen(secret_text)) < 0)
			return 1;
		close(fd);
		fd = open(wrong_secret_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || write(fd, wrong_text, strlen(wrong_text)) < 0)
			return 1;
		close(fd);
	}
	fflush(stdout);
	ret = _cmocka_run_group_tests("test_pod", tests, n, NULL, NULL);
	unlink(secret_path);
	unlink(wrong_secret_path);
	rmdir(tmpdir);
	return ret;
}
