/* net/fiping.c — pvm-fiping: latency of one 4 KiB fi_read between two
 * endpoints (a benchmark: prints a table, never fails on time).
 *
 *   pvm-fiping --server 0.0.0.0:7471 [--provider tcp]
 *   pvm-fiping --client pod-host:7471 [--iters 20000] [--depth 16] [--write]
 *   pvm-fiping --loopback [--provider tcp|shm]
 *
 * The client learns key and address of the server's region through the
 * control protocol (HELLO/CHALLENGE, LEASE_REQUEST/LEASE_GRANT, RELEASE),
 * without authentication: run the server only where you trust the network.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "common.h"
#include "fabric.h"
#include "wire.h"

#define FIPING_KEY      0x5057u
#define FIPING_TIMEOUT  5000

struct fiping_opts {
	const char *provider;
	const char *server;
	const char *client;
	bool loopback;
	bool once;
	bool write;
	unsigned int iters;
	unsigned int warmup;
	unsigned int depth;
	unsigned int spin_us;
	uint64_t region;
};

static volatile sig_atomic_t fiping_stop;

static void on_signal(int sig)
{
	(void)sig;
	fiping_stop = 1;
}

static int split_bind(const char *text, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon = strrchr(text, ':');

	if (!colon || colon == text || (size_t)(colon - text) >= hl ||
	    strlen(colon + 1) == 0 || strlen(colon + 1) >= pl)
		return -EINVAL;
	if (text[0] == '[' && colon[-1] == ']') {
		memcpy(host, text + 1, (size_t)(colon - text) - 2);
		host[colon - text - 2] = '\0';
	} else {
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
	}
	strcpy(port, colon + 1);
	return 0;
}

static void *alloc_region(uint64_t bytes)
{
	void *p = aligned_alloc(PVM_PAGE_SIZE, bytes);

	if (p)
		memset(p, 0x5a, bytes);
	return p;
}

/* ------------------------------------------------------------------ */

static int serve(const struct fiping_opts *o)
{
	struct net_endpoint_opts eo = {
		.provider = o->provider, .spin_us = o->spin_us,
	};
	struct net_endpoint *ep;
	struct net_mr *mr;
	char host[256], port[32], addr[256];
	void *region;
	uint32_t seq = 0;
	int ret;

	if (split_bind(o->server, host, sizeof(host), port, sizeof(port))) {
		pvm_err("--server wants HOST:PORT, got '%s'", o->server);
		return 2;
	}
	eo.node = host;
	eo.service = port;
	ret = net_endpoint_open(&eo, &ep);
	if (ret)
		return 1;
	region = alloc_region(o->region);
	if (!region) {
		net_endpoint_close(ep);
		return 1;
	}
	ret = net_mr_register_remote(ep, region, o->region, FIPING_KEY, &mr);
	if (ret) {
		pvm_err("registering %" PRIu64 " bytes: %s", o->region,
			net_strerror(ret));
		goto out;
	}
	net_endpoint_address(ep, addr, sizeof(addr));
	printf("serving %" PRIu64 " bytes on %s (%s); Ctrl-C stops\n", o->region,
	       addr, net_endpoint_provider(ep));
	fflush(stdout);

	while (!fiping_stop) {
		struct pvm_wire_msg in, reply;
		net_peer_t from;

		ret = net_recv_msg(ep, &in, &from, 200);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret) {
			pvm_err("dropped a control message: %s (%s)",
				pvm_wire_strerror(ret), pvm_wire_last_error());
			continue;
		}
		switch (in.type) {
		case PVM_WIRE_HELLO:
			ret = net_peer_insert_raw(ep, in.u.hello.addr,
						  in.u.hello.addr_len, &from);
			if (ret) {
				pvm_err("HELLO from %s carries an unusable address",
					in.u.hello.client_id);
				continue;
			}
			pvm_wire_init(&reply, PVM_WIRE_CHALLENGE, in.seq);
			reply.u.challenge.version = PVM_WIRE_VERSION;
			pvm_auth_nonce(reply.u.challenge.nonce);
			pvm_wire_set_string(reply.u.challenge.pod_id,
					    sizeof(reply.u.challenge.pod_id), "fiping");
			pvm_wire_set_string(reply.u.challenge.fabric,
					    sizeof(reply.u.challenge.fabric),
					    net_endpoint_provider(ep));
			reply.u.challenge.mem_total = o->region;
			reply.u.challenge.mem_free = o->region;
			reply.u.challenge.page_size = PVM_PAGE_SIZE;
			break;
		case PVM_WIRE_LEASE_REQUEST:
			if (in.u.lease_request.bytes > o->region) {
				pvm_wire_init(&reply, PVM_WIRE_ERROR, in.seq);
				reply.u.error.status = PVM_WIRE_ST_NO_SPACE;
				snprintf(reply.u.error.message,
					 sizeof(reply.u.error.message),
					 "at most %" PRIu64 " bytes", o->region);
				break;
			}
			pvm_wire_init(&reply, PVM_WIRE_LEASE_GRANT, in.seq);
			reply.u.lease_grant.lease_id = ++seq;
			reply.u.lease_grant.size = in.u.lease_request.bytes;
			reply.u.lease_grant.remote_key = net_mr_key(mr);
			reply.u.lease_grant.remote_addr = net_mr_remote_addr(mr);
			break;
		case PVM_WIRE_RELEASE:
			if (o->once)
				fiping_stop = 1;
			continue;
		default:
			continue;
		}
		if (from == NET_PEER_NONE)
			continue;
		ret = net_send_msg(ep, from, &reply, FIPING_TIMEOUT);
		if (ret)
			pvm_err("reply: %s", net_strerror(ret));
	}
	ret = 0;
	net_mr_close(mr);
out:
	net_endpoint_close(ep);
	free(region);
	return ret ? 1 : 0;
}

/* ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *sorted, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);

	return (double)sorted[i] / 1000.0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Measure against an established peer: single-op latency, then a batch
 * throughput at --depth. */
static int measure(const struct fiping_opts *o, struct net_endpoint *ep,
		   net_peer_t peer, uint64_t raddr, uint64_t key, uint64_t size)
{
	unsigned int depth = o->depth ? o->depth : 1;
	uint64_t pages = size / PVM_PAGE_SIZE, seed = 0x9e3779b97f4a7c15ull;
	uint64_t *lat = calloc(o->iters, sizeof(*lat));
	struct net_rma_op *ops = calloc(depth, sizeof(*ops));
	uint8_t *buf = alloc_region((uint64_t)depth * PVM_PAGE_SIZE);
	struct net_endpoint_stats st;
	struct net_mr *lmr = NULL;
	int ret = 1;

	if (!lat || !ops || !buf || !pages)
		goto out;
	if (net_mr_register_local(ep, buf, (size_t)depth * PVM_PAGE_SIZE, &lmr))
		goto out;
	for (unsigned int i = 0; i < depth; i++) {
		ops[i].local = buf + (size_t)i * PVM_PAGE_SIZE;
		ops[i].local_mr = lmr;
		ops[i].key = key;
		ops[i].len = PVM_PAGE_SIZE;
	}

	printf("%-14s %-6s %6s %8s %9s %9s %9s %9s %9s\n", "provider", "op",
	       "bytes", "iters", "min(us)", "p50(us)", "p99(us)", "p99.9(us)",
	       "mean(us)");
	for (int pass = 0; pass < (o->write ? 2 : 1); pass++) {
		bool write = pass == 1;
		uint64_t total = 0;

		for (unsigned int i = 0; i < o->warmup + o->iters; i++) {
			uint64_t t0;
			int r;

			ops[0].remote_addr = raddr + (rnd(&seed) % pages) * PVM_PAGE_SIZE;
			t0 = pvm_now_ns();
			r = write ? net_rma_write_batch(ep, peer, ops, 1, FIPING_TIMEOUT)
				  : net_rma_read_batch(ep, peer, ops, 1, FIPING_TIMEOUT);
			if (r) {
				pvm_err("%s %u failed: %s", write ? "write" : "read",
					i, net_strerror(r));
				goto out;
			}
			if (i >= o->warmup) {
				lat[i - o->warmup] = pvm_now_ns() - t0;
				total += lat[i - o->warmup];
			}
		}
		qsort(lat, o->iters, sizeof(*lat), cmp_u64);
		printf("%-14s %-6s %6lu %8u %9.1f %9.1f %9.1f %9.1f %9.1f\n",
		       net_endpoint_provider(ep), write ? "write" : "read",
		       PVM_PAGE_SIZE, o->iters, pct(lat, o->iters, 0),
		       pct(lat, o->iters, 0.50), pct(lat, o->iters, 0.99),
		       pct(lat, o->iters, 0.999),
		       (double)total / o->iters / 1000.0);
	}

	if (depth > 1) {
		unsigned int batches = PVM_MAX(1u, o->iters / depth);
		uint64_t t0 = pvm_now_ns(), dt;

		for (unsigned int b = 0; b < batches; b++) {
			for (unsigned int i = 0; i < depth; i++)
				ops[i].remote_addr = raddr +
					(rnd(&seed) % pages) * PVM_PAGE_SIZE;
			if (net_rma_read_batch(ep, peer, ops, depth, FIPING_TIMEOUT)) {
				pvm_err("batch read failed: %s",
					net_strerror(ops[0].result));
				goto out;
			}
		}
		dt = pvm_now_ns() - t0;
		printf("%-14s batch of %u reads: %.0f IOPS, %.1f MiB/s, %.1f us per batch\n",
		       net_endpoint_provider(ep), depth,
		       (double)batches * depth * 1e9 / (double)dt,
		       (double)batches * depth * PVM_PAGE_SIZE * 1e9 / (double)dt / 1048576.0,
		       (double)dt / batches / 1000.0);
	}
	net_endpoint_stats(ep, &st);
	printf("eagain retries %" PRIu64 ", errors %" PRIu64 "\n", st.rma_eagain,
	       st.rma_errors);
	ret = 0;
out:
	net_mr_close(lmr);
	free(lat);
	free(ops);
	free(buf);
	return ret;
}

static int expect(struct net_endpoint *ep, unsigned int type, uint32_t seq,
		  struct pvm_wire_msg *in)
{
	uint64_t deadline = pvm_now_ns() + FIPING_TIMEOUT * 1000000ull;

	while (pvm_now_ns() < deadline) {
		net_peer_t from;
		int ret = net_recv_msg(ep, in, &from, FIPING_TIMEOUT);

		if (ret == -ETIMEDOUT)
			break;
		if (ret) {
			pvm_err("bad reply: %s (%s)", pvm_wire_strerror(ret),
				pvm_wire_last_error());
			return ret;
		}
		if (in->seq != seq)
			continue;
		if (in->type == PVM_WIRE_ERROR) {
			pvm_err("server: %s: %s",
				pvm_wire_status_name(in->u.error.status),
				in->u.error.message);
			return -EPROTO;
		}
		if (in->type == type)
			return 0;
	}
	pvm_err("no %s from the server within %d ms", pvm_wire_type_name(type),
		FIPING_TIMEOUT);
	return -ETIMEDOUT;
}

static int client(const struct fiping_opts *o)
{
	struct net_endpoint_opts eo = {
		.provider = o->provider, .route_to = o->client,
		.spin_us = o->spin_us,
	};
	struct pvm_wire_msg msg, in;
	struct net_endpoint *ep;
	net_peer_t peer;
	size_t nlen;
	int ret;

	ret = net_endpoint_open(&eo, &ep);
	if (ret)
		return 1;
	ret = net_peer_insert(ep, o->client, &peer);
	if (ret) {
		pvm_err("server address %s: %s", o->client, net_strerror(ret));
		goto out;
	}
	pvm_wire_init(&msg, PVM_WIRE_HELLO, 1);
	pvm_auth_nonce(msg.u.hello.nonce);
	msg.u.hello.nversions = 1;
	msg.u.hello.versions[0] = PVM_WIRE_VERSION;
	pvm_wire_set_string(msg.u.hello.client_id, sizeof(msg.u.hello.client_id),
			    "pvm-fiping");
	nlen = sizeof(msg.u.hello.addr);
	ret = net_endpoint_name(ep, msg.u.hello.addr, &nlen);
	if (ret)
		goto out;
	msg.u.hello.addr_len = (uint16_t)nlen;
	ret = net_send_msg(ep, peer, &msg, FIPING_TIMEOUT);
	if (ret) {
		pvm_err("HELLO to %s: %s", o->client, net_strerror(ret));
		goto out;
	}
	ret = expect(ep, PVM_WIRE_CHALLENGE, 1, &in);
	if (ret)
		goto out;
	pvm_wire_init(&msg, PVM_WIRE_LEASE_REQUEST, 2);
	msg.u.lease_request.bytes = PVM_MIN(o->region, in.u.challenge.mem_free);
	ret = net_send_msg(ep, peer, &msg, FIPING_TIMEOUT);
	if (!ret)
		ret = expect(ep, PVM_WIRE_LEASE_GRANT, 2, &in);
	if (ret)
		goto out;
	ret = measure(o, ep, peer, in.u.lease_grant.remote_addr,
		      in.u.lease_grant.remote_key, in.u.lease_grant.size);
	pvm_wire_init(&msg, PVM_WIRE_RELEASE, 3);
	msg.u.release.lease_id = in.u.lease_grant.lease_id;
	net_send_msg(ep, peer, &msg, FIPING_TIMEOUT);
out:
	net_endpoint_close(ep);
	return ret ? 1 : 0;
}

static int loopback(const struct fiping_opts *o)
{
	bool shm = o->provider && !strcmp(o->provider, "shm");
	struct net_endpoint_opts to = {
		.provider = o->provider, .node = shm ? NULL : "127.0.0.1",
		.service = shm ? NULL : "0", .progress_thread = true,
		.spin_us = o->spin_us,
	};
	struct net_endpoint_opts co = to;
	struct net_endpoint *target = NULL, *ep = NULL;
	struct net_mr *mr = NULL;
	char addr[256];
	net_peer_t peer;
	void *region;
	int ret = 1;

	co.progress_thread = false;
	region = alloc_region(o->region);
	if (!region)
		return 1;
	if (net_endpoint_open(&to, &target) || net_endpoint_open(&co, &ep))
		goto out;
	if (net_mr_register_remote(target, region, o->region, FIPING_KEY, &mr))
		goto out;
	if (net_endpoint_address(target, addr, sizeof(addr)) ||
	    net_peer_insert(ep, addr, &peer))
		goto out;
	printf("loopback: target %s, progress thread on the target\n", addr);
	ret = measure(o, ep, peer, net_mr_remote_addr(mr), net_mr_key(mr),
		      o->region);
out:
	net_mr_close(mr);
	net_endpoint_close(ep);
	net_endpoint_close(target);
	free(region);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvm-fiping [--provider auto|verbs|tcp|shm] MODE [options]\n"
		"modes:\n"
		"  --server HOST:PORT   serve a region (no authentication: bench only)\n"
		"  --client HOST:PORT   measure against a server\n"
		"  --loopback           both ends in this process (127.0.0.1 or shm)\n"
		"options:\n"
		"  --iters N      measured reads (default 10000)\n"
		"  --warmup N     unmeasured reads first (default 500)\n"
		"  --depth N      also time batches of N reads (default 16; 1: off)\n"
		"  --write        also measure 4 KiB delivery-complete writes\n"
		"  --size BYTES   region served/used (default 64M)\n"
		"  --spin-us N    busy-poll window before sleeping (default 50; 'max')\n"
		"  --once         server: exit after the first client releases\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "provider", required_argument, NULL, 'p' },
		{ "server", required_argument, NULL, 's' },
		{ "client", required_argument, NULL, 'c' },
		{ "loopback", no_argument, NULL, 'l' },
		{ "iters", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "depth", required_argument, NULL, 'd' },
		{ "write", no_argument, NULL, 'W' },
		{ "size", required_argument, NULL, 'S' },
		{ "spin-us", required_argument, NULL, 'u' },
		{ "once", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fiping_opts o = {
		.provider = "auto", .iters = 10000, .warmup = 500, .depth = 16,
		.region = 64ull << 20, .spin_us = 50,
	};
	int c, modes;

	pvm_set_progname("pvm-fiping");
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o.provider = optarg; break;
		case 's': o.server = optarg; break;
		case 'c': o.client = optarg; break;
		case 'l': o.loopback = true; break;
		case 'n': o.iters = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'w': o.warmup = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'd': o.depth = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'W': o.write = true; break;
		case 'o': o.once = true; break;
		case 'u':
			o.spin_us = strcmp(optarg, "max") ? (unsigned int)strtoul(optarg, NULL, 0)
							  : UINT32_MAX;
			break;
		case 'S':
			if (pvm_parse_size(optarg, &o.region) ||
			    o.region < PVM_PAGE_SIZE) {
				pvm_err("--size: '%s' is not a size of at least 4K", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	modes = !!o.server + !!o.client + o.loopback;
	if (modes != 1 || optind != argc || o.iters == 0 || o.depth == 0) {
		usage(stderr);
		return 2;
	}
	o.region &= ~(uint64_t)(PVM_PAGE_SIZE - 1);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (pvm_auth_init()) {
		pvm_err("libsodium failed to initialise");
		return 1;
	}
	if (o.server)
		return serve(&o);
	if (o.client)
		return client(&o);
	return loopback(&o);
}
