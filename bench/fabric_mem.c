/* bench/fabric_mem.c — pvm-fabric-mem: what libfabric endpoints cost in
 * resident memory (a benchmark: prints a table, never fails on size).
 *
 *   pvm-fabric-mem [--provider tcp|verbs|auto] [--endpoints N]
 *                  [--rx-buffers N] [--pod-rx-buffers N]
 *
 * A child process plays the pod: one endpoint bound to 127.0.0.1 with a
 * progress thread, a 1 MiB region registered. The parent opens N client
 * endpoints one by one, the way the remote tier does, and connects each
 * with one 4 KiB fi_read. After each step both processes report VmRSS
 * and RssAnon from /proc/self/status; the table shows them and the
 * growth each step caused. libfabric itself is loaded (one fi_getinfo)
 * before the first row, so its one-time cost is not charged to an
 * endpoint. Provider variables (FI_OFI_RXM_*, FI_TCP_*) in the
 * environment apply to both processes, as they would to poolvm, and
 * POOLVM_NET_PROVIDER_DEFAULTS=0 measures libfabric's own defaults.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rdma/fabric.h>

#include "common.h"
#include "fabric.h"

#define MEM_REGION      (1u << 20)
#define MEM_KEY         0x4d45u
#define MEM_TIMEOUT_MS  5000
#define MEM_MAX_EPS     64

struct mem_opts {
	const char *provider;
	unsigned endpoints;
	unsigned rx_buffers;
	unsigned pod_rx_buffers;
};

struct mem_rss {
	long rss_kib;
	long anon_kib;
};

/* What the pod tells the parent once it serves. */
struct mem_pod_hello {
	char address[256];
	uint64_t key;
	uint64_t remote_addr;
	int status;                     /* 0, or -errno: the pod did not start */
};

static struct mem_rss rss_now(void)
{
	struct mem_rss r = { -1, -1 };
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return r;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmRSS:", 6))
			r.rss_kib = strtol(line + 6, NULL, 10);
		else if (!strncmp(line, "RssAnon:", 8))
			r.anon_kib = strtol(line + 8, NULL, 10);
	}
	fclose(f);
	return r;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* libfabric's own start-up (provider loading) before the first sample,
 * with the provider sizes poolvm's endpoints would give it. */
static void load_libfabric(const char *provider)
{
	struct fi_info *info = NULL;

	net_provider_defaults(provider);
	if (!fi_getinfo(FI_VERSION(1, 9), NULL, NULL, 0, NULL, &info))
		fi_freeinfo(info);
}

/* The pod: serve until the parent closes its command pipe; each byte read
 * is answered with this process's RSS. */
static int pod_main(const struct mem_opts *o, int cmd_fd, int reply_fd)
{
	struct net_endpoint_opts eo = {
		.provider = o->provider, .node = "127.0.0.1", .service = "0",
		.progress_thread = true, .rx_buffers = o->pod_rx_buffers,
	};
	struct mem_pod_hello hello = { .status = 0 };
	struct net_endpoint *ep = NULL;
	struct net_mr *mr = NULL;
	struct mem_rss r;
	void *region;
	char c;

	load_libfabric(o->provider);
	r = rss_now();
	if (write_all(reply_fd, &r, sizeof(r)))
		return 1;
	region = aligned_alloc(PVM_PAGE_SIZE, MEM_REGION);
	if (!region)
		hello.status = -ENOMEM;
	else
		memset(region, 0x5a, MEM_REGION);
	if (!hello.status)
		hello.status = net_endpoint_open(&eo, &ep);
	if (!hello.status)
		hello.status = net_mr_register_remote(ep, region, MEM_REGION,
						      MEM_KEY, &mr);
	if (!hello.status)
		hello.status = net_endpoint_address(ep, hello.address,
						    sizeof(hello.address));
	if (!hello.status) {
		hello.key = net_mr_key(mr);
		hello.remote_addr = net_mr_remote_addr(mr);
	}
	if (write_all(reply_fd, &hello, sizeof(hello)) || hello.status)
		goto out;
	while (read(cmd_fd, &c, 1) == 1) {
		r = rss_now();
		if (write_all(reply_fd, &r, sizeof(r)))
			break;
	}
out:
	net_mr_close(mr);
	net_endpoint_close(ep);
	free(region);
	return hello.status ? 1 : 0;
}

static int pod_rss(int cmd_fd, int reply_fd, struct mem_rss *out)
{
	char c = 'r';

	if (write_all(cmd_fd, &c, 1))
		return -EIO;
	return read_all(reply_fd, out, sizeof(*out));
}

static void row(const char *what, struct mem_rss c, struct mem_rss c_prev,
		struct mem_rss p, struct mem_rss p_prev)
{
	printf("%-28s %9.1f %+9.1f %9.1f   %9.1f %+9.1f\n", what,
	       c.rss_kib / 1024.0, (c.rss_kib - c_prev.rss_kib) / 1024.0,
	       c.anon_kib / 1024.0,
	       p.rss_kib / 1024.0, (p.rss_kib - p_prev.rss_kib) / 1024.0);
}

static int measure(const struct mem_opts *o, const struct mem_pod_hello *pod,
		   int cmd_fd, int reply_fd, struct mem_rss pod_base)
{
	struct net_endpoint *eps[MEM_MAX_EPS] = { 0 };
	struct mem_rss c_prev, c, p_prev = pod_base, p, c_first, p_first;
	uint8_t *local;
	int ret = 0;

	local = aligned_alloc(PVM_PAGE_SIZE, PVM_PAGE_SIZE);
	if (!local)
		return -ENOMEM;
	memset(local, 0, PVM_PAGE_SIZE);
	load_libfabric(o->provider);
	c_prev = c_first = rss_now();
	if (pod_rss(cmd_fd, reply_fd, &p))
		return -EIO;
	printf("%-28s %9s %9s %9s   %9s %9s\n", "", "client", "", "client",
	       "pod", "");
	printf("%-28s %9s %9s %9s   %9s %9s\n", "step", "RSS MiB", "+MiB",
	       "anon MiB", "RSS MiB", "+MiB");
	row("start (pod endpoint open)", c_prev, c_prev, p, p_prev);
	p_prev = p_first = p;
	for (unsigned i = 0; i < o->endpoints; i++) {
		struct net_endpoint_opts eo = {
			.provider = o->provider, .route_to = pod->address,
			.rx_buffers = o->rx_buffers,
		};
		struct net_rma_op op = {
			.local = local, .remote_addr = pod->remote_addr,
			.key = pod->key, .len = PVM_PAGE_SIZE,
		};
		struct net_mr *lmr = NULL;
		net_peer_t peer;
		char what[64];

		ret = net_endpoint_open(&eo, &eps[i]);
		if (ret) {
			pvm_err("opening client endpoint %u: %s", i + 1,
				net_strerror(ret));
			break;
		}
		c = rss_now();
		if (pod_rss(cmd_fd, reply_fd, &p))
			return -EIO;
		snprintf(what, sizeof(what), "endpoint %u opened", i + 1);
		row(what, c, c_prev, p, p_prev);
		c_prev = c;
		p_prev = p;

		ret = net_peer_insert(eps[i], pod->address, &peer);
		if (!ret)
			ret = net_mr_register_local(eps[i], local, PVM_PAGE_SIZE,
						    &lmr);
		op.local_mr = lmr;
		if (!ret)
			ret = net_rma_read_batch(eps[i], peer, &op, 1,
						 MEM_TIMEOUT_MS);
		net_mr_close(lmr);
		if (ret) {
			pvm_err("endpoint %u: reading from the pod at %s: %s",
				i + 1, pod->address, net_strerror(ret));
			break;
		}
		c = rss_now();
		if (pod_rss(cmd_fd, reply_fd, &p))
			return -EIO;
		snprintf(what, sizeof(what), "endpoint %u connected", i + 1);
		row(what, c, c_prev, p, p_prev);
		c_prev = c;
		p_prev = p;
	}
	if (!ret && o->endpoints)
		printf("per client endpoint: %.1f MiB in the client, %.1f MiB in the pod; the pod's endpoint: %.1f MiB\n",
		       (c_prev.rss_kib - c_first.rss_kib) / 1024.0 / o->endpoints,
		       (p_prev.rss_kib - p_first.rss_kib) / 1024.0 / o->endpoints,
		       (p_first.rss_kib - pod_base.rss_kib) / 1024.0);
	for (unsigned i = 0; i < o->endpoints; i++)
		net_endpoint_close(eps[i]);
	free(local);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pvm-fabric-mem [--provider auto|verbs|tcp] [--endpoints N]\n"
		"                      [--rx-buffers N] [--pod-rx-buffers N]\n"
		"Resident memory of libfabric endpoints: a pod in a child process,\n"
		"N client endpoints (default 2) opened and connected one by one.\n"
		"  --rx-buffers N      client control receive buffers (default 8,\n"
		"                      as pod_client)\n"
		"  --pod-rx-buffers N  the pod's (default 32, as pvm-pod)\n"
		"Provider variables in the environment (FI_OFI_RXM_*, FI_TCP_*,\n"
		"POOLVM_NET_*) apply to both ends; POOLVM_NET_PROVIDER_DEFAULTS=0\n"
		"measures libfabric's own defaults.\n");
}

static int parse_count(const char *text, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);

	if (!*text || *end || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "provider", required_argument, NULL, 'p' },
		{ "endpoints", required_argument, NULL, 'n' },
		{ "rx-buffers", required_argument, NULL, 'r' },
		{ "pod-rx-buffers", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mem_opts o = {
		.provider = "tcp", .endpoints = 2, .rx_buffers = 8,
		.pod_rx_buffers = 32,
	};
	int cmd[2], reply[2], c, status = 0, ret;
	struct mem_pod_hello hello;
	struct mem_rss pod_base;
	pid_t child;

	pvm_set_progname("pvm-fabric-mem");
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.provider = optarg;
			break;
		case 'n':
			if (parse_count(optarg, MEM_MAX_EPS, &o.endpoints)) {
				pvm_err("--endpoints wants 0..%d", MEM_MAX_EPS);
				return 2;
			}
			break;
		case 'r':
			if (parse_count(optarg, 1024, &o.rx_buffers)) {
				pvm_err("--rx-buffers wants 0..1024");
				return 2;
			}
			break;
		case 'R':
			if (parse_count(optarg, 1024, &o.pod_rx_buffers)) {
				pvm_err("--pod-rx-buffers wants 0..1024");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!strcmp(o.provider, "shm")) {
		pvm_err("shm has no connections to measure; use tcp or verbs");
		return 2;
	}
	if (pipe(cmd) || pipe(reply)) {
		pvm_err("pipe: %s", strerror(errno));
		return 1;
	}
	fflush(stdout);
	child = fork();
	if (child < 0) {
		pvm_err("fork: %s", strerror(errno));
		return 1;
	}
	if (child == 0) {
		close(cmd[1]);
		close(reply[0]);
		_exit(pod_main(&o, cmd[0], reply[1]));
	}
	close(cmd[0]);
	close(reply[1]);
	if (read_all(reply[0], &pod_base, sizeof(pod_base)) ||
	    read_all(reply[0], &hello, sizeof(hello)) || hello.status) {
		pvm_err("the pod did not start%s%s", hello.status ? ": " : "",
			hello.status ? net_strerror(hello.status) : "");
		ret = 1;
	} else {
		printf("pod on %s; the pod's RSS before its endpoint: %.1f MiB\n",
		       hello.address, pod_base.rss_kib / 1024.0);
		ret = measure(&o, &hello, cmd[1], reply[0], pod_base) ? 1 : 0;
	}
	close(cmd[1]);
	waitpid(child, &status, 0);
	close(reply[0]);
	return ret;
}
