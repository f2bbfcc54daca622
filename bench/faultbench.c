/* bench/faultbench.c — fault service latency, measured in one run.
 *
 * The bench thread plays the guest on a memfd mapping registered with a
 * userfaultfd; the pager serves its faults as it serves QEMU's. Cases:
 *   first-touch  a plain first write to a shared memfd page, no pager (the
 *                floor: what any fault costs on this host)
 *   zero-fill    a first touch served by the pager (UFFDIO_ZEROPAGE)
 *   TIER         a touch of a page evicted to TIER, served from it
 * With --pod (memory pods, e.g. in other network namespaces) also:
 *   fi_read      one 4 KiB one-sided read from a pod lease, posted and
 *                completed by the same pod client the remote tier uses
 *   remote       a touch of a page evicted to the remote tier
 * Prints p50/p99 per case and the ratio to first-touch. No prefetch, FIFO
 * eviction: each measured access is exactly one fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "pod_client.h"
#include "pager.h"
#include "tier.h"
#include "uffd.h"

#define PAGE 4096UL

struct result {
	char name[64];
	double p50, p99, mean;
	size_t n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void summarize(struct result *r, const char *name, double *us, size_t n)
{
	double sum = 0;

	qsort(us, n, sizeof(*us), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += us[i];
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->n = n;
	r->p50 = us[n / 2];
	r->p99 = us[(size_t)((double)n * 0.99)];
	r->mean = sum / (double)n;
}

static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void shuffle(uint64_t *a, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = next_rand() % (i + 1);
		uint64_t t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static int plain_first_touch(size_t pages, struct result *r)
{
	int fd = memfd_create("faultbench-plain", MFD_CLOEXEC);
	size_t size = pages * PAGE;
	double *us = calloc(pages, sizeof(*us));
	volatile uint8_t *m;

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || !us)
		return -errno;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	for (size_t i = 0; i < pages; i++) {
		double t0 = now_us();

		m[i * PAGE] = 1;
		us[i] = now_us() - t0;
	}
	summarize(r, "first-touch (no pager)", us, pages);
	munmap((void *)m, size);
	close(fd);
	free(us);
	return 0;
}

/* One pager over a fresh memfd: zero-fill faults, then tier faults. */
static int pager_case(const char *tier_spec, size_t pages, struct result *zero,
		      struct result *tier_r, const char *label)
{
	size_t total = pages * 4, local = pages;   /* 3/4 of the region evicted */
	size_t size = total * PAGE;
	int memfd = memfd_create("memory-backend-memfd", MFD_CLOEXEC);
	struct swap_region reg = { 0 };
	struct swap_tier *tier = NULL;
	struct swap_pager *pager = NULL;
	struct swap_pager_config cfg = { 0 };
	double *us = calloc(total, sizeof(*us));
	uint64_t *order = calloc(total, sizeof(*order));
	volatile uint8_t *m;
	int ret;

	if (memfd < 0 || ftruncate(memfd, (off_t)size) < 0 || !us || !order)
		return -ENOMEM;
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (m == MAP_FAILED)
		return -errno;
	reg.base = (uint64_t)(uintptr_t)m;
	reg.size = size;
	reg.memfd = memfd;
	reg.uffd = swap_uffd_create_registered((void *)m, size, &reg.wp_ok);
	if (reg.uffd < 0) {
		fprintf(stderr, "faultbench: userfaultfd: %s\n", strerror(-reg.uffd));
		return reg.uffd;
	}
	ret = swap_tier_open(tier_spec, &tier);
	if (ret < 0)
		return ret;
	cfg.local_bytes = local * PAGE;
	cfg.policy = "fifo";
	cfg.prefetch = "none";
	cfg.tiers = &tier;
	cfg.tier_count = 1;
	cfg.fault_threads = 1;
	cfg.spin_us = 50;   /* poolvm run's default --fault-spin */
	cfg.evict_batch = 64;
	ret = swap_pager_create(&cfg, &reg, &pager);
	if (ret == 0)
		ret = swap_pager_start(pager);
	if (ret < 0)
		return ret;

	/* Zero-fill: first touch of pages in random order (no stride). */
	for (size_t i = 0; i < pages; i++)
		order[i] = i;
	shuffle(order, pages);
	for (size_t i = 0; i < pages; i++) {
		double t0 = now_us();

		m[order[i] * PAGE] = (uint8_t)(order[i] | 1);
		us[i] = now_us() - t0;
	}
	if (zero)
		summarize(zero, "zero-fill (pager)", us, pages);
	/* Fill the rest so the first pages are pushed out to the tier. */
	for (size_t i = pages; i < total; i++)
		m[i * PAGE] = (uint8_t)(i | 1);
	usleep(200000);   /* let reclaim reach its low watermark */
	/* Touch the first half in random order: with FIFO and 1/4 resident
	 * they are all in the tier. */
	size_t n = total / 2;

	for (size_t i = 0; i < n; i++)
		order[i] = i;
	shuffle(order, n);
	size_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		double t0 = now_us();
		uint8_t v = m[order[i] * PAGE];

		us[i] = now_us() - t0;
		bad += v != (uint8_t)(order[i] | 1);
	}
	struct swap_pager_stats st;

	swap_pager_stats(pager, &st);
	summarize(tier_r, label, us, n);
	swap_pager_stop(pager);
	swap_pager_destroy(pager);
	swap_tier_close(tier);
	munmap((void *)m, size);
	close(reg.uffd);
	close(memfd);
	free(us);
	free(order);
	if (bad) {
		fprintf(stderr, "faultbench: %zu pages read back wrong from %s\n", bad, tier_spec);
		return -EIO;
	}
	if (st.refaults < n * 9 / 10)
		fprintf(stderr, "faultbench: note: only %llu of %zu accesses faulted on %s\n",
			(unsigned long long)st.refaults, n, tier_spec);
	return 0;
}

/* One 4 KiB fi_read from a pod lease, @pages times at random offsets. */
static int fi_read_case(const char *addr, const char *fabric, const char *secret,
			size_t pages, struct result *r)
{
	struct pod_client_config cc = {
		.address = addr, .fabric = fabric, .secret_file = secret,
		.client_id = "pvm-faultbench",
	};
	struct pod_client *c = NULL;
	struct pod_lease lease;
	struct net_mr *mr = NULL;
	size_t batch = 64, size = pages * PAGE;
	uint8_t *buf = aligned_alloc(PAGE, size);
	double *us = calloc(pages, sizeof(*us));
	struct net_rma_op ops[64];
	size_t bad = 0;
	int ret;

	if (!buf || !us) {
		ret = -ENOMEM;
		goto out;
	}
	ret = pod_client_connect(&cc, &c);
	if (ret < 0) {
		fprintf(stderr, "faultbench: pod %s: %s\n", addr, pod_client_last_error());
		goto out;
	}
	ret = pod_client_lease(c, size, &lease);
	if (ret < 0) {
		fprintf(stderr, "faultbench: lease from %s: %s\n", addr, pod_client_last_error());
		goto out;
	}
	ret = pod_client_register_buffer(c, buf, size, &mr);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < pages; i++)
		memset(buf + i * PAGE, (int)(i | 1) & 0xff, PAGE);
	for (size_t i = 0; i < pages && ret == 0; i += batch) {
		size_t n = PVM_MIN(batch, pages - i);

		for (size_t k = 0; k < n; k++)
			ops[k] = (struct net_rma_op){
				.local = buf + (i + k) * PAGE, .local_mr = mr,
				.len = PAGE, .remote_addr = (i + k) * PAGE,
			};
		ret = pod_client_write(c, &lease, ops, n);
	}
	if (ret < 0) {
		fprintf(stderr, "faultbench: write to %s: %s\n", addr, pod_client_last_error());
		goto out;
	}
	memset(buf, 0, size);
	for (size_t i = 0; i < pages; i++) {
		size_t pg = next_rand() % pages;
		double t0;

		ops[0] = (struct net_rma_op){
			.local = buf + pg * PAGE, .local_mr = mr, .len = PAGE,
			.remote_addr = pg * PAGE,
		};
		t0 = now_us();
		ret = pod_client_read(c, &lease, ops, 1);
		us[i] = now_us() - t0;
		if (ret < 0) {
			fprintf(stderr, "faultbench: read from %s: %s\n", addr,
				pod_client_last_error());
			goto out;
		}
		bad += buf[pg * PAGE] != (uint8_t)(pg | 1) ||
		       buf[pg * PAGE + PAGE - 1] != (uint8_t)(pg | 1);
	}
	summarize(r, "fi_read 4 KiB (pod)", us, pages);
	if (bad) {
		fprintf(stderr, "faultbench: %zu pages read back wrong from %s\n", bad, addr);
		ret = -EIO;
	}
	pod_client_release(c, lease.id);
out:
	pod_client_unregister_buffer(mr);
	pod_client_close(c);
	free(buf);
	free(us);
	return ret;
}

static void usage(void)
{
	printf("Usage: pvm-faultbench [--pages N] [--dir DIR] [--json FILE]\n"
	       "                      [--pod HOST:PORT]... --secret-file FILE\n"
	       "                      [--fabric tcp|shm|verbs|auto] [--replicas N]\n"
	       "\n"
	       "Fault service latency in one run: a plain first-touch fault on a\n"
	       "shared memfd (no pager), a zero-fill fault served by the pager, and\n"
	       "a fault served from each tier (dram, disk under DIR), as p50/p99 in\n"
	       "microseconds and as a ratio to the plain first touch.\n"
	       "  --pages N   faults measured per case (default 4096)\n"
	       "  --dir DIR   directory for the disk tier file (default /var/tmp)\n"
	       "  --json FILE also write the results as JSON\n"
	       "  --pod HOST:PORT  a memory pod (`poolvm pod`); repeatable. Adds\n"
	       "              two cases: one 4 KiB fi_read from a lease on the first\n"
	       "              pod, and a fault served from the remote tier over all\n"
	       "              the pods (--replicas copies, default 1)\n"
	       "  --secret-file FILE, --fabric NAME  as for `poolvm run`\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pages", required_argument, NULL, 'p' },
		{ "dir", required_argument, NULL, 'd' },
		{ "json", required_argument, NULL, 'j' },
		{ "pod", required_argument, NULL, 'P' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "fabric", required_argument, NULL, 'f' },
		{ "replicas", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t pages = 4096;
	const char *dir = "/var/tmp", *json = NULL, *secret = NULL, *fabric = "auto";
	const char *pods[16];
	unsigned npods = 0, replicas = 1;
	struct result r[6];
	char disk[512], remote[4096];
	int opt, ret, ncases = 4;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': pages = strtoul(optarg, NULL, 10); break;
		case 'd': dir = optarg; break;
		case 'j': json = optarg; break;
		case 'P':
			if (npods == 16) {
				fprintf(stderr, "pvm-faultbench: at most 16 --pod\n");
				return 2;
			}
			pods[npods++] = optarg;
			break;
		case 's': secret = optarg; break;
		case 'f': fabric = optarg; break;
		case 'r': replicas = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (pages < 256) {
		fprintf(stderr, "pvm-faultbench: --pages must be at least 256\n");
		return 2;
	}
	snprintf(disk, sizeof(disk), "disk:%s/pvm-faultbench.%d", dir, (int)getpid());
	if ((ret = plain_first_touch(pages, &r[0])) < 0 ||
	    (ret = pager_case("dram:1G", pages, &r[1], &r[2], "dram tier refault")) < 0 ||
	    (ret = pager_case(disk, pages, NULL, &r[3], "disk tier refault")) < 0) {
		fprintf(stderr, "pvm-faultbench: %s\n", strerror(-ret));
		return 1;
	}
	if (npods) {
		int len;

		if (!secret) {
			fprintf(stderr, "pvm-faultbench: --pod needs --secret-file\n");
			return 2;
		}
		if (replicas < 1 || replicas > npods) {
			fprintf(stderr, "pvm-faultbench: --replicas must be 1..%u (the pods given)\n",
				npods);
			return 2;
		}
		len = snprintf(remote, sizeof(remote), "remote:pods=");
		for (unsigned i = 0; i < npods; i++)
			len += snprintf(remote + len, sizeof(remote) - (size_t)len, "%s%s",
					i ? "+" : "", pods[i]);
		snprintf(remote + len, sizeof(remote) - (size_t)len,
			 ",secret=%s,fabric=%s,replicas=%u,id=pvm-faultbench-tier",
			 secret, fabric, replicas);
		if ((ret = fi_read_case(pods[0], fabric, secret, pages, &r[4])) < 0 ||
		    (ret = pager_case(remote, pages, NULL, &r[5], "remote tier refault")) < 0) {
			fprintf(stderr, "pvm-faultbench: remote: %s\n", strerror(-ret));
			return 1;
		}
		ncases = 6;
	}
	printf("%-26s %8s %10s %10s %10s %12s\n", "case", "samples", "p50 us", "p99 us",
	       "mean us", "p50/touch");
	for (int i = 0; i < ncases; i++)
		printf("%-26s %8zu %10.1f %10.1f %10.1f %12.2f\n", r[i].name, r[i].n,
		       r[i].p50, r[i].p99, r[i].mean, r[i].p50 / r[0].p50);
	if (ncases == 6) {
		double bound = r[0].p50 + r[4].p50 + 10.0;

		printf("remote p50 %.1f us vs bound first-touch + fi_read + 10 us = %.1f us: "
		       "%.2f of the bound (%s)\n", r[5].p50, bound, r[5].p50 / bound,
		       r[5].p50 <= bound ? "within" : "OVER");
	}
	if (json) {
		json_object *a = json_object_new_array();

		for (int i = 0; i < ncases; i++) {
			json_object *o = json_object_new_object();

			json_object_object_add(o, "case", json_object_new_string(r[i].name));
			json_object_object_add(o, "samples", json_object_new_uint64(r[i].n));
			json_object_object_add(o, "p50_us", json_object_new_double(r[i].p50));
			json_object_object_add(o, "p99_us", json_object_new_double(r[i].p99));
			json_object_object_add(o, "mean_us", json_object_new_double(r[i].mean));
			json_object_array_add(a, o);
		}
		if (ncases == 6) {
			/* the bound: first-touch + one fi_read + 10 us */
			json_object *o = json_object_new_object();

			json_object_object_add(o, "case", json_object_new_string("remote bound"));
			json_object_object_add(o, "p50_us", json_object_new_double(
				r[0].p50 + r[4].p50 + 10.0));
			json_object_array_add(a, o);
		}
		json_object_to_file_ext(json, a, JSON_C_TO_STRING_PRETTY);
		json_object_put(a);
	}
	return 0;
}
