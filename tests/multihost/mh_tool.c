/* tests/multihost/mh_tool.c — helpers the multihost scripts run inside a
 * network namespace.
 *
 *   mh_tool roundtrip SPEC [PAGES]
 *       Open the tier SPEC (e.g. a remote tier), store PAGES pages (default
 *       4096) in batches of 64, load them back in random order one page per
 *       call (the latency a fault sees) and in batches of 16, check every
 *       byte, and print one line of latencies:
 *         mh_tool: roundtrip pages=N load1_p50_us=.. load1_p99_us=..
 *                  load16_p50_us=.. store64_p50_us=.. verdict=PASS
 *       Exit 0 on PASS, 1 on a wrong or failed page, 2 when SPEC won't open.
 *
 *   mh_tool garbage POD_ADDR FROM_ADDR
 *       From a bare tcp;ofi_rxm endpoint bound to FROM_ADDR, send a pod a
 *       series of malformed control messages (bad magic, truncated, length
 *       mismatch, wrong version, unknown type, reserved flags, bad strings,
 *       a request before authentication, random bytes), then open a plain
 *       TCP connection to the pod's port and write junk. Prints one line per
 *       message sent; exit 0 when everything was sent (the pod's reaction is
 *       for the calling script to check), 1 when the endpoint failed.
 *
 * Test code only: nothing here is part of poolvm.
 */
#include "tier.h"
#include "raw_fabric.h"
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#define PAGE 4096u

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void fill(uint8_t *page, uint64_t slot)
{
	uint64_t *w = (uint64_t *)page, s = slot * 2654435761u + 12345;

	for (size_t i = 0; i < PAGE / 8; i++)
		w[i] = next_rand(&s) ^ slot;
}

static bool page_ok(const uint8_t *page, uint64_t slot)
{
	uint8_t want[PAGE];

	fill(want, slot);
	return memcmp(want, page, PAGE) == 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return (double)v[(size_t)((double)(n - 1) * p / 100.0)] / 1000.0;
}

/* ---- roundtrip ---- */

static int roundtrip(const char *spec, size_t npages)
{
	struct swap_tier *t = NULL;
	uint64_t *slots = calloc(npages, sizeof(*slots));
	size_t nload1 = npages < 2000 ? npages : 2000, nstore = 0, nload16 = 0;
	uint64_t *lat1 = calloc(nload1, sizeof(*lat1));
	uint64_t *lat16 = calloc(npages / 16 + 1, sizeof(*lat16));
	uint64_t *lats = calloc(npages / 64 + 1, sizeof(*lats));
	uint8_t *buf = NULL;
	uint64_t rng = 0x1234567;
	struct swap_io ios[64];
	size_t bad = 0;

	if (!slots || !lat1 || !lat16 || !lats ||
	    posix_memalign((void **)&buf, PAGE, 64 * PAGE))
		return 1;
	if (swap_tier_open(spec, &t))
		return 2;
	if (swap_tier_alloc(t, slots, npages)) {
		fprintf(stderr, "mh_tool: cannot allocate %zu slots\n", npages);
		swap_tier_close(t);
		return 1;
	}
	for (size_t i = 0; i < npages; i += 64) {
		size_t m = npages - i < 64 ? npages - i : 64;
		uint64_t t0;

		for (size_t k = 0; k < m; k++) {
			fill(buf + k * PAGE, slots[i + k]);
			ios[k] = (struct swap_io){ .slot = slots[i + k], .buf = buf + k * PAGE };
		}
		t0 = now_ns();
		if (swap_tier_store(t, ios, m)) {
			fprintf(stderr, "mh_tool: store failed\n");
			bad++;
		}
		lats[nstore++] = now_ns() - t0;
	}
	for (size_t i = 0; i < nload1; i++) {
		uint64_t slot = slots[next_rand(&rng) % npages], t0 = now_ns();

		ios[0] = (struct swap_io){ .slot = slot, .buf = buf };
		swap_tier_load(t, ios, 1);
		lat1[i] = now_ns() - t0;
		if (ios[0].result || !page_ok(buf, slot))
			bad++;
	}
	for (size_t i = 0; i + 16 <= npages; i += 16) {
		uint64_t t0;

		for (size_t k = 0; k < 16; k++)
			ios[k] = (struct swap_io){ .slot = slots[i + k], .buf = buf + k * PAGE };
		t0 = now_ns();
		swap_tier_load(t, ios, 16);
		lat16[nload16++] = now_ns() - t0;
		for (size_t k = 0; k < 16; k++)
			if (ios[k].result || !page_ok(buf + k * PAGE, slots[i + k]))
				bad++;
	}
	printf("mh_tool: roundtrip pages=%zu load1_p50_us=%.1f load1_p99_us=%.1f "
	       "load16_p50_us=%.1f store64_p50_us=%.1f bad=%zu verdict=%s\n",
	       npages, pct_us(lat1, nload1, 50), pct_us(lat1, nload1, 99),
	       nload16 ? pct_us(lat16, nload16, 50) : 0.0, pct_us(lats, nstore, 50),
	       bad, bad ? "FAIL" : "PASS");
	swap_tier_release(t, slots, npages);
	swap_tier_close(t);
	free(slots);
	free(lat1);
	free(lat16);
	free(lats);
	free(buf);
	return bad ? 1 : 0;
}

/* ---- garbage ---- */

static int parse_addr(const char *text, struct sockaddr_in *sin)
{
	char host[64];
	unsigned port;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if (sscanf(text, "%63[^:]:%u", host, &port) != 2 || port > 65535 ||
	    inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -EINVAL;
	sin->sin_port = htons((uint16_t)port);
	return 0;
}

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static ssize_t encode_hello(uint8_t *buf, size_t cap)
{
	struct pvm_wire_msg m;

	pvm_wire_init(&m, PVM_WIRE_HELLO, 7);
	m.u.hello.nversions = 1;
	m.u.hello.versions[0] = PVM_WIRE_VERSION;
	pvm_wire_set_string(m.u.hello.client_id, sizeof(m.u.hello.client_id),
			    "mh-garbage");
	return pvm_wire_encode(&m, buf, cap);
}

static int garbage(const char *pod, const char *from)
{
	static uint8_t buf[PVM_WIRE_MAX_MSG];
	struct raw_ep *r = NULL;
	struct pvm_wire_msg m;
	struct sockaddr_in sin;
	uint64_t rng = 42;
	ssize_t len;
	int rc, fd, sent = 0;

	rc = raw_open_from(pod, from, &r);
	if (rc) {
		fprintf(stderr, "mh_tool: endpoint from %s to %s: %s\n", from, pod,
			strerror(-rc));
		return 1;
	}
#define SEND(what, l) do { \
		rc = raw_send(r, buf, (size_t)(l), 3000); \
		printf("mh_tool: sent %-34s %5zu bytes: %s\n", what, (size_t)(l), \
		       rc ? strerror(-rc) : "ok"); \
		sent += rc == 0; \
	} while (0)

	for (size_t i = 0; i < 64; i++)
		buf[i] = (uint8_t)next_rand(&rng);
	SEND("random bytes", 64);

	len = encode_hello(buf, sizeof(buf));
	buf[0] = 'X';
	SEND("HELLO with a bad magic", len);

	len = encode_hello(buf, sizeof(buf));
	SEND("HELLO truncated to 10 bytes", 10);
	SEND("HELLO cut short by 5 bytes", len - 5);

	len = encode_hello(buf, sizeof(buf));
	put_u32(buf + 8, (uint32_t)len + 100);
	SEND("HELLO whose length says +100", len);

	len = encode_hello(buf, sizeof(buf));
	put_u16(buf + 4, 2);
	SEND("HELLO of protocol version 2", len);

	len = encode_hello(buf, sizeof(buf));
	put_u16(buf + 6, 99);
	SEND("message of type 99", len);

	len = encode_hello(buf, sizeof(buf));
	put_u32(buf + 16, 1);
	SEND("HELLO with reserved flags", len);

	len = encode_hello(buf, sizeof(buf));
	/* client_id sits after nonce, nversions, versions: make it non-printable */
	buf[20 + 32 + 2 + 2 + 2] = 0x07;
	SEND("HELLO with a control character", len);

	len = encode_hello(buf, sizeof(buf));
	put_u16(buf + 20 + 32, 60000);
	SEND("HELLO listing 60000 versions", len);

	pvm_wire_init(&m, PVM_WIRE_LEASE_REQUEST, 9);
	m.u.lease_request.bytes = 1ull << 30;
	len = pvm_wire_encode(&m, buf, sizeof(buf));
	SEND("LEASE_REQUEST before any AUTH", len);

	pvm_wire_init(&m, PVM_WIRE_AUTH, 10);
	memset(m.u.auth.mac, 0x55, sizeof(m.u.auth.mac));
	len = pvm_wire_encode(&m, buf, sizeof(buf));
	SEND("AUTH without a CHALLENGE", len);

	pvm_wire_init(&m, PVM_WIRE_RELEASE, 11);
	m.u.release.lease_id = 1;
	len = pvm_wire_encode(&m, buf, sizeof(buf));
	SEND("RELEASE of lease 1, unauthenticated", len);

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)next_rand(&rng);
	SEND("64 KiB of random bytes", sizeof(buf));
#undef SEND
	raw_close(r);

	/* A plain TCP client writing junk at the provider's own listener. */
	if (!parse_addr(pod, &sin) && (fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0) {
		struct sockaddr_in me;

		memset(&me, 0, sizeof(me));
		me.sin_family = AF_INET;
		inet_pton(AF_INET, from, &me.sin_addr);
		if (bind(fd, (struct sockaddr *)&me, sizeof(me)) == 0 &&
		    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			ssize_t w;

			for (size_t i = 0; i < 4096; i++)
				buf[i] = (uint8_t)next_rand(&rng);
			w = write(fd, buf, 4096);
			w += write(fd, "GET / HTTP/1.0\r\n\r\n", 18);
			printf("mh_tool: wrote %zd junk bytes on a plain TCP connection\n",
			       w);
		} else {
			printf("mh_tool: plain TCP connection refused: %s\n",
			       strerror(errno));
		}
		close(fd);
	}
	printf("mh_tool: garbage sent=%d\n", sent);
	return sent ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "roundtrip"))
		return roundtrip(argv[2], argc > 3 ? strtoul(argv[3], NULL, 0) : 4096);
	if (argc == 4 && !strcmp(argv[1], "garbage"))
		return garbage(argv[2], argv[3]);
	fprintf(stderr, "usage: mh_tool roundtrip SPEC [PAGES] | "
		"mh_tool garbage POD_ADDR FROM_ADDR\n");
	return 2;
}
