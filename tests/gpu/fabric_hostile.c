/* tests/gpu/fabric_hostile.c — hostile messages to a GPU pod's fabric
 * endpoint (pods/gpu/link_fabric.c), for test_fabric.py.
 *
 *   fabric_hostile HOST:PORT [PROVIDER]
 *
 * Speaks libfabric directly (tcp;ofi_rxm by default) and sends what a
 * broken or malicious peer might: messages too short, with a bad magic,
 * a wrong length field, an unknown type, for no link, larger than the
 * pod's receive buffers; CONNECTs with a malformed name; a real link
 * (CONNECT answered by ACCEPT) then sequence numbers repeated and far
 * ahead; a link that sends a GPU frame with a bad magic; CONNECTs that
 * then vanish. It checks only that it could send them (and that the pod
 * answers a valid CONNECT): test_fabric.py checks that the pod lives on
 * and keeps serving. Exit 0, or 1 with a message.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#define HDR 24
#define BIG (100 * 1024)

static struct fid_fabric *fabric;
static struct fid_domain *domain;
static struct fid_cq *cq;
static struct fid_av *av;
static struct fid_ep *ep;
static fi_addr_t pod;
static uint8_t name[256];
static size_t namelen = sizeof(name);
static uint8_t rxbuf[8][65536];
static struct fi_context2 rxctx[8];
static int sent;

static void die(const char *what, int ret)
{
	fprintf(stderr, "fabric_hostile: %s: %s\n", what, fi_strerror(ret < 0 ? -ret : ret));
	exit(1);
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void hdr(uint8_t *m, unsigned int type, uint32_t seq, uint32_t len, uint64_t token)
{
	memset(m, 0, HDR);
	put32(m, 0x4c475650u);
	m[4] = (uint8_t)type;
	put32(m + 8, seq);
	put32(m + 12, len);
	put64(m + 16, token);
}

/* Poll the CQ for up to @ms; return a received message's length (and
 * repost), 0 on a send completion, -1 on timeout. */
static long poll_cq(int ms, uint8_t **msg)
{
	struct timespec t0, t;
	struct fi_cq_msg_entry e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ssize_t n = fi_cq_read(cq, &e, 1);

		if (n == 1) {
			for (int i = 0; i < 8; i++)
				if (e.op_context == &rxctx[i]) {
					if (msg)
						*msg = rxbuf[i];
					fi_recv(ep, rxbuf[i], sizeof(rxbuf[i]), NULL, FI_ADDR_UNSPEC,
						&rxctx[i]);
					return (long)e.len;
				}
			return 0;
		}
		if (n == -FI_EAVAIL) {
			struct fi_cq_err_entry err = { 0 };

			fi_cq_readerr(cq, &err, 0);
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return -1;
	}
}

static void send_raw(const void *buf, size_t len, const char *what)
{
	static struct fi_context2 ctx;
	ssize_t ret;

	for (int tries = 0; tries < 200000; tries++) {
		ret = fi_send(ep, buf, len, NULL, pod, &ctx);
		if (ret != -FI_EAGAIN)
			break;
		fi_cq_read(cq, NULL, 0);
	}
	if (ret)
		die(what, (int)ret);
	/* Wait for the send's completion (the buffer is ours again). */
	while (poll_cq(5000, NULL) > 0)
		;
	sent++;
	printf("sent: %s\n", what);
}

/* A valid CONNECT; return true when the pod answers ACCEPT. */
static bool connect_link(uint64_t token)
{
	uint8_t m[HDR + 256], *r = NULL;
	long n;

	hdr(m, 1, 0, (uint32_t)namelen, token);
	memcpy(m + HDR, name, namelen);
	send_raw(m, HDR + namelen, "a valid CONNECT");
	for (int i = 0; i < 20; i++) {
		n = poll_cq(500, &r);
		if (n >= HDR + 4 && r[4] == 2 && !memcmp(r + 16, &token, 8))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct fi_info *hints, *info;
	struct fi_cq_attr cqa = { .format = FI_CQ_FORMAT_MSG };
	struct fi_av_attr ava = { .type = FI_AV_TABLE };
	char host[256], *colon;
	struct addrinfo *res;
	static uint8_t m[BIG];
	uint64_t token;
	int ret;

	if (argc < 2 || !(colon = strrchr(argv[1], ':'))) {
		fprintf(stderr, "usage: fabric_hostile HOST:PORT [PROVIDER]\n");
		return 2;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - argv[1]), argv[1]);
	hints = fi_allocinfo();
	hints->caps = FI_MSG | FI_SEND | FI_RECV;
	hints->mode = FI_CONTEXT | FI_CONTEXT2;
	hints->ep_attr->type = FI_EP_RDM;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_ALLOCATED | FI_MR_PROV_KEY |
				      FI_MR_VIRT_ADDR | FI_MR_ENDPOINT;
	hints->fabric_attr->prov_name = strdup(argc > 2 ? argv[2] : "tcp;ofi_rxm");
	ret = fi_getinfo(FI_VERSION(1, 9), host, colon + 1, 0, hints, &info);
	if (ret)
		die("fi_getinfo", ret);
	free(info->dest_addr);
	info->dest_addr = NULL;
	info->dest_addrlen = 0;
	if ((ret = fi_fabric(info->fabric_attr, &fabric, NULL)) ||
	    (ret = fi_domain(fabric, info, &domain, NULL)) ||
	    (ret = fi_cq_open(domain, &cqa, &cq, NULL)) ||
	    (ret = fi_av_open(domain, &ava, &av, NULL)) ||
	    (ret = fi_endpoint(domain, info, &ep, NULL)) ||
	    (ret = fi_ep_bind(ep, &av->fid, 0)) ||
	    (ret = fi_ep_bind(ep, &cq->fid, FI_TRANSMIT | FI_RECV)) ||
	    (ret = fi_enable(ep)))
		die("opening the endpoint", ret);
	if ((ret = fi_getname(&ep->fid, name, &namelen)))
		die("fi_getname", ret);
	for (int i = 0; i < 8; i++)
		fi_recv(ep, rxbuf[i], sizeof(rxbuf[i]), NULL, FI_ADDR_UNSPEC, &rxctx[i]);
	if (getaddrinfo(host, colon + 1, NULL, &res) ||
	    fi_av_insert(av, res->ai_addr, 1, &pod, 0, NULL) != 1)
		die("inserting the pod's address", -FI_EINVAL);
	freeaddrinfo(res);

	memset(m, 0x5a, sizeof(m));
	send_raw(m, 7, "7 bytes of garbage");
	hdr(m, 4, 0, 0, 1);
	put32(m, 0xdeadbeefu);
	send_raw(m, HDR, "a bad magic");
	hdr(m, 4, 0, 100, 1);
	send_raw(m, HDR + 10, "a length field that lies");
	hdr(m, 99, 0, 0, 1);
	send_raw(m, HDR, "an unknown type");
	hdr(m, 4, 0, 4, 0x1234567890ull);
	send_raw(m, HDR + 4, "DATA for no link");
	hdr(m, 5, 1, 0, 0x1234567890ull);
	send_raw(m, HDR, "PING for no link");
	hdr(m, 1, 0, 3, 42);
	send_raw(m, HDR + 3, "CONNECT with a 3-byte name");
	hdr(m, 1, 0, (uint32_t)namelen, 43);
	memcpy(m + HDR, name, namelen);
	memset(m + HDR, 0xff, 2);               /* sa_family 0xffff */
	send_raw(m, HDR + namelen, "CONNECT with a name of no address family");
	hdr(m, 4, 0, BIG - HDR, 1);
	send_raw(m, BIG, "a 100 KiB message (larger than the pod's receive buffers)");

	/* A real link, then sequence numbers repeated and far ahead. */
	getrandom(&token, sizeof(token), 0);
	if (!connect_link(token)) {
		fprintf(stderr, "fabric_hostile: the pod did not ACCEPT a valid CONNECT\n");
		return 1;
	}
	hdr(m, 1, 0, (uint32_t)namelen, token);
	memcpy(m + HDR, name, namelen);
	send_raw(m, HDR + namelen, "the same CONNECT again (a repeated token)");
	hdr(m, 4, 5, 4, token);
	send_raw(m, HDR + 4, "DATA 4 ahead of its turn");
	hdr(m, 4, 5, 4, token);
	send_raw(m, HDR + 4, "the same sequence number again");
	hdr(m, 4, 100000, 4, token);
	send_raw(m, HDR + 4, "DATA far ahead of its turn");

	/* A link that sends a GPU frame with a bad magic. */
	token++;
	if (!connect_link(token)) {
		fprintf(stderr, "fabric_hostile: the pod did not ACCEPT a second CONNECT\n");
		return 1;
	}
	hdr(m, 4, 1, 16, token);
	memset(m + HDR, 0x41, 16);
	send_raw(m, HDR + 16, "a GPU frame with a bad magic on a link");

	/* Links that vanish right after CONNECT (the idle timeout ends them). */
	for (int i = 0; i < 3; i++) {
		token += 1000;
		if (!connect_link(token)) {
			fprintf(stderr, "fabric_hostile: the pod did not ACCEPT CONNECT %d\n", i);
			return 1;
		}
	}
	printf("hostile messages sent: %d\n", sent);
	fi_close(&ep->fid);
	fi_close(&av->fid);
	fi_close(&cq->fid);
	fi_close(&domain->fid);
	fi_close(&fabric->fid);
	fi_freeinfo(info);
	fi_freeinfo(hints);
	return 0;
}
