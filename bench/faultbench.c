/* bench/faultbench.c — fault service latency, measured in one run.
 *
 * The bench thread plays the guest on a memfd mapping registered with a
 * userfaultfd; the pager serves its faults as it serves QEMU's. Cases:
 *   first-touch  a plain first write to a shared memfd page, no pager (the
 *                floor: what any fault costs on this host)
 *   zero-fill    a first touch served by the pager (UFFDIO_ZEROPAGE)
 *   TIER         a touch of a page evicted to TIER, served from it
 * With --pod (memory pods, e.g. in other network namespaces) also:
 *   fi_read      one 4 KiB one-sided read from a lease on a random pod,
 *                posted and completed by the pod client the remote tier uses
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

static unsigned fault_spin_us = 50;   /* --fault-spin */

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

/* One pager over a fresh memfd of 4 x @pages pages with @pages resident:
 * set up, measure blocks of touches, tear down. */
struct pcase {
	const char *spec;
	size_t pages, total;
	int memfd;
	volatile uint8_t *m;
	struct swap_region reg;
	struct swap_tier *tier;
	struct swap_pager *pager;
	uint64_t *order;                /* the measured pages, shuffled */
	size_t norder, next, bad;
};

static void pc_teardown(struct pcase *c)
{
	if (c->pager) {
		swap_pager_stop(c->pager);
		swap_pager_destroy(c->pager);
	}
	swap_tier_close(c->tier);
	if (c->m && c->m != MAP_FAILED)
		munmap((void *)c->m, c->total * PAGE);
	if (c->reg.uffd > 0)
		close(c->reg.uffd);
	if (c->memfd >= 0)
		close(c->memfd);
	free(c->order);
	memset(c, 0, sizeof(*c));
	c->memfd = -1;
}

/* Zero-fill faults (into @zero unless NULL), then fill the rest so that
 * the first pages are pushed out to the tier. */
static int pc_setup(struct pcase *c, const char *spec, size_t pages, struct result *zero)
{
	struct swap_pager_config cfg = { 0 };
	double *us = calloc(pages, sizeof(*us));
	int ret;

	memset(c, 0, sizeof(*c));
	c->spec = spec;
	c->pages = pages;
	c->total = pages * 4;             /* 3/4 of the region evicted */
	c->memfd = memfd_create("memory-backend-memfd", MFD_CLOEXEC);
	c->order = calloc(c->total, sizeof(*c->order));
	if (c->memfd < 0 || ftruncate(c->memfd, (off_t)(c->total * PAGE)) < 0 ||
	    !us || !c->order) {
		free(us);
		return -ENOMEM;
	}
	c->m = mmap(NULL, c->total * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, c->memfd, 0);
	if (c->m == MAP_FAILED) {
		free(us);
		return -errno;
	}
	c->reg.base = (uint64_t)(uintptr_t)c->m;
	c->reg.size = c->total * PAGE;
	c->reg.memfd = c->memfd;
	c->reg.uffd = swap_uffd_create_registered((void *)c->m, c->reg.size, &c->reg.wp_ok);
	if (c->reg.uffd < 0) {
		fprintf(stderr, "faultbench: userfaultfd: %s\n", strerror(-c->reg.uffd));
		free(us);
		return c->reg.uffd;
	}
	ret = swap_tier_open(spec, &c->tier);
	if (ret < 0) {
		free(us);
		return ret;
	}
	cfg.local_bytes = pages * PAGE;
	cfg.policy = "fifo";
	cfg.prefetch = "none";
	cfg.tiers = &c->tier;
	cfg.tier_count = 1;
	cfg.fault_threads = 1;
	cfg.spin_us = fault_spin_us;   /* poolvm run's --fault-spin */
	cfg.evict_batch = 64;
	ret = swap_pager_create(&cfg, &c->reg, &c->pager);
	if (ret == 0)
		ret = swap_pager_start(c->pager);
	if (ret < 0) {
		free(us);
		return ret;
	}
	/* Zero-fill: first touch of pages in random order (no stride). */
	for (size_t i = 0; i < pages; i++)
		c->order[i] = i;
	shuffle(c->order, pages);
	for (size_t i = 0; i < pages; i++) {
		double t0 = now_us();

		c->m[c->order[i] * PAGE] = (uint8_t)(c->order[i] | 1);
		us[i] = now_us() - t0;
	}
	if (zero)
		summarize(zero, "zero-fill (pager)", us, pages);
	free(us);
	for (size_t i = pages; i < c->total; i++)
		c->m[i * PAGE] = (uint8_t)(i | 1);
	usleep(200000);   /* let reclaim reach its low watermark */
	/* The measured pages: the first half in random order; with FIFO and
	 * 1/4 resident they are all in the tier. */
	c->norder = c->total / 2;
	for (size_t i = 0; i < c->norder; i++)
		c->order[i] = i;
	shuffle(c->order, c->norder);
	return 0;
}

/* Touch the next @n measured pages; their latencies go to @us. */
static size_t pc_touch(struct pcase *c, size_t n, double *us)
{
	size_t done = 0;

	for (; done < n && c->next < c->norder; done++, c->next++) {
		uint64_t pg = c->order[c->next];
		double t0 = now_us();
		uint8_t v = c->m[pg * PAGE];

		us[done] = now_us() - t0;
		c->bad += v != (uint8_t)(pg | 1);
	}
	return done;
}

static int pc_finish(struct pcase *c)
{
	struct swap_pager_stats st;

	swap_pager_stats(c->pager, &st);
	if (c->bad) {
		fprintf(stderr, "faultbench: %zu pages read back wrong from %s\n", c->bad, c->spec);
		return -EIO;
	}
	if (st.refaults < c->next * 9 / 10)
		fprintf(stderr, "faultbench: note: only %llu of %zu accesses faulted on %s\n",
			(unsigned long long)st.refaults, c->next, c->spec);
	return 0;
}

static int pager_case(const char *tier_spec, size_t pages, struct result *zero,
		      struct result *tier_r, const char *label)
{
	struct pcase c;
	double *us = calloc(pages * 2, sizeof(*us));
	size_t n;
	int ret = us ? pc_setup(&c, tier_spec, pages, zero) : -ENOMEM;

	if (ret == 0) {
		n = pc_touch(&c, pages * 2, us);
		summarize(tier_r, label, us, n);
		ret = pc_finish(&c);
	}
	pc_teardown(&c);
	free(us);
	return ret;
}

/* A lease on one pod and a pod client for single-page fi_reads. */
struct fread {
	struct pod_client *c;
	struct pod_lease lease;
	struct net_mr *mr;
	uint8_t *buf;
	size_t pages, bad;
	const char *addr;
};

static void fr_teardown(struct fread *f)
{
	if (f->c && f->lease.id)
		pod_client_release(f->c, f->lease.id);
	pod_client_unregister_buffer(f->mr);
	pod_client_close(f->c);
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

static int fr_setup(struct fread *f, const char *addr, const char *fabric,
		    const char *secret, size_t pages)
{
	struct pod_client_config cc = {
		.address = addr, .fabric = fabric, .secret_file = secret,
		.client_id = "pvm-faultbench",
	};
	struct net_rma_op ops[64];
	int ret;

	memset(f, 0, sizeof(*f));
	f->addr = addr;
	f->pages = pages;
	f->buf = aligned_alloc(PAGE, pages * PAGE);
	if (!f->buf)
		return -ENOMEM;
	ret = pod_client_connect(&cc, &f->c);
	if (ret == 0)
		ret = pod_client_lease(f->c, pages * PAGE, &f->lease);
	if (ret == 0)
		ret = pod_client_register_buffer(f->c, f->buf, pages * PAGE, &f->mr);
	for (size_t i = 0; i < pages; i++)
		memset(f->buf + i * PAGE, (int)(i | 1) & 0xff, PAGE);
	for (size_t i = 0; i < pages && ret == 0; i += 64) {
		size_t n = PVM_MIN((size_t)64, pages - i);

		for (size_t k = 0; k < n; k++)
			ops[k] = (struct net_rma_op){
				.local = f->buf + (i + k) * PAGE, .local_mr = f->mr,
				.len = PAGE, .remote_addr = (i + k) * PAGE,
			};
		ret = pod_client_write(f->c, &f->lease, ops, n);
	}
	if (ret < 0)
		fprintf(stderr, "faultbench: pod %s: %s\n", addr, pod_client_last_error());
	memset(f->buf, 0, pages * PAGE);
	return ret;
}

/* @n single 4 KiB fi_reads, each of a random page on a random one of the
 * @npods pods (the remote tier spreads its pages over all of them, so a
 * fault may find any pod idle or busy: so may these reads). */
static int fr_read(struct fread *fs, unsigned npods, size_t n, double *us)
{
	for (size_t i = 0; i < n; i++) {
		struct fread *f = &fs[next_rand() % npods];
		size_t pg = next_rand() % f->pages;
		struct net_rma_op op = {
			.local = f->buf + pg * PAGE, .local_mr = f->mr, .len = PAGE,
			.remote_addr = pg * PAGE,
		};
		double t0 = now_us();
		int ret = pod_client_read(f->c, &f->lease, &op, 1);

		us[i] = now_us() - t0;
		if (ret < 0) {
			fprintf(stderr, "faultbench: read from %s: %s\n", f->addr,
				pod_client_last_error());
			return ret;
		}
		f->bad += f->buf[pg * PAGE] != (uint8_t)(pg | 1) ||
			  f->buf[pg * PAGE + PAGE - 1] != (uint8_t)(pg | 1);
	}
	return 0;
}

/* Remote-tier refaults over @npods pods and single fi_reads from the same
 * pods, in alternating blocks, so that the machine's drift hits both
 * alike. */
#define REMOTE_ROUNDS 8
static int remote_case(const char *spec, const char *const *pods, unsigned npods,
		       const char *fabric, const char *secret, size_t pages,
		       struct result *fr_r, struct result *remote_r)
{
	struct pcase c = { .memfd = -1 };
	struct fread f[16];
	size_t block = pages * 2 / REMOTE_ROUNDS, nr = 0, nf = 0;
	double *rus = calloc(pages * 2, sizeof(*rus));
	double *fus = calloc(pages * 2, sizeof(*fus));
	unsigned nf_open = 0;
	int ret = rus && fus ? 0 : -ENOMEM;

	memset(f, 0, sizeof(f));
	for (unsigned i = 0; ret == 0 && i < npods; i++, nf_open++)
		ret = fr_setup(&f[i], pods[i], fabric, secret, pages / npods + 1);
	if (ret == 0)
		ret = pc_setup(&c, spec, pages, NULL);
	for (int round = 0; ret == 0 && round < REMOTE_ROUNDS; round++) {
		nr += pc_touch(&c, block, rus + nr);
		ret = fr_read(f, npods, block, fus + nf);
		nf += block;
	}
	if (ret == 0) {
		summarize(fr_r, "fi_read 4 KiB (pods)", fus, nf);
		summarize(remote_r, "remote tier refault", rus, nr);
		ret = pc_finish(&c);
		for (unsigned i = 0; i < npods; i++) {
			if (f[i].bad) {
				fprintf(stderr, "faultbench: %zu pages read back wrong from %s\n",
					f[i].bad, pods[i]);
				ret = -EIO;
			}
		}
	}
	pc_teardown(&c);
	for (unsigned i = 0; i < nf_open; i++)
		fr_teardown(&f[i]);
	free(rus);
	free(fus);
	return ret;
}

/* Hold a PM QoS CPU latency request for the whole run (what tuned's
 * latency-performance profile does): idle CPUs then poll instead of
 * halting, so waking a thread blocked in a fault costs about the same
 * in every case. Return the fd (kept open) or -errno. */
static int pm_qos_hold(int us)
{
	int32_t v = us;
	int fd = open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, &v, sizeof(v)) != sizeof(v)) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
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
	       "              two cases: one 4 KiB fi_read from a lease on a random\n"
	       "              one of the pods, and a fault served from the remote\n"
	       "              tier over all of them (--replicas copies, default 1)\n"
	       "  --secret-file FILE, --fabric NAME  as for `poolvm run`\n"
	       "  --fault-spin US  the pager's fault thread polls this long before\n"
	       "              sleeping, as poolvm run --fault-spin (default 50)\n"
	       "  --pm-qos US|off  hold /dev/cpu_dma_latency at US microseconds\n"
	       "              during the run (default 0: idle CPUs poll, so the cost\n"
	       "              of waking a CPU from a halt does not blur every case;\n"
	       "              needs root, else the run goes on without it)\n");
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
		{ "pm-qos", required_argument, NULL, 'q' },
		{ "fault-spin", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	size_t pages = 4096;
	const char *dir = "/var/tmp", *json = NULL, *secret = NULL, *fabric = "auto";
	const char *pods[16];
	unsigned npods = 0, replicas = 1;
	struct result r[6];
	char disk[512], remote[4096];
	int opt, ret, ncases = 4, qos_us = 0, qos_fd = -1;

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
		case 'S': fault_spin_us = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'f': fabric = optarg; break;
		case 'r': replicas = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'q':
			if (!strcmp(optarg, "off")) {
				qos_us = -1;
			} else {
				char *end;

				qos_us = (int)strtol(optarg, &end, 10);
				if (*end || qos_us < 0 || qos_us > 1000000) {
					fprintf(stderr, "pvm-faultbench: --pm-qos takes microseconds or off\n");
					return 2;
				}
			}
			break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (pages < 256) {
		fprintf(stderr, "pvm-faultbench: --pages must be at least 256\n");
		return 2;
	}
	snprintf(disk, sizeof(disk), "disk:%s/pvm-faultbench.%d", dir, (int)getpid());
	if (qos_us >= 0) {
		qos_fd = pm_qos_hold(qos_us);
		if (qos_fd < 0)
			fprintf(stderr, "pvm-faultbench: note: cannot hold a PM QoS latency "
				"request (%s); idle CPUs may halt\n", strerror(-qos_fd));
	}
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
		if ((ret = remote_case(remote, pods, npods, fabric, secret, pages, &r[4],
				       &r[5])) < 0) {
			fprintf(stderr, "pvm-faultbench: remote: %s\n", strerror(-ret));
			return 1;
		}
		ncases = 6;
	}
	printf("# cpu wake latency (PM QoS): %s\n", qos_fd >= 0 ?
	       (qos_us ? "held low" : "held at 0 us, idle CPUs poll") : "not held");
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
		printf("fi_read and remote refaults were taken in %d alternating blocks\n",
		       REMOTE_ROUNDS);
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
