/* vmm/cli_run.c — "poolvm run": options to struct vmm_launch_config. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "conf.h"
#include "launch.h"
#include "policy.h"
#include "prefetch.h"
#include "tier.h"

static void run_usage(FILE *f)
{
	const struct swap_policy_ops *const *pol = swap_policy_kinds();
	const struct swap_prefetch_ops *const *pf = swap_prefetch_kinds();
	const struct swap_tier_ops *const *tk = swap_tier_kinds();

	fprintf(f,
"Usage: poolvm run [OPTIONS] [-- QEMU-ARGS...]\n"
"\n"
"Start a stock qemu-system-x86_64 whose guest RAM is paged by poolvm. The\n"
"guest sees --mem of RAM; at most --local of it stays resident on this host;\n"
"the rest lives in the tiers given with --tier, tried in the order given,\n"
"and comes back on the guest's next touch. poolvm exits when QEMU does, with\n"
"QEMU's exit status (0 after a clean shutdown on SIGTERM, 3 if the pager\n"
"had to stop the guest to protect its memory).\n"
"\n"
"Memory:\n"
"  --mem SIZE            guest RAM (e.g. 512M, 2G, 64G). Required.\n"
"  --local SIZE          most guest RAM kept resident here (default: all of --mem)\n"
"  --tier SPEC           where evicted pages go; repeat, in order of preference:\n");
	for (; *tk; tk++)
		if (strcmp((*tk)->name, "faulty") != 0)
			fprintf(f, "                          %-8s %s\n", (*tk)->name, (*tk)->help);
	fprintf(f,
"                          remote   memory pods given with --pod (see below)\n"
"  --policy NAME         eviction policy (default clock):\n");
	for (; *pol; pol++)
		fprintf(f, "                          %-12s %s\n", (*pol)->name, (*pol)->help);
	fprintf(f,
"  --policy-model FILE   for --policy learned or learned-core: start from this\n"
"                        model (poolvm train) instead of the one built in\n"
"  --prefetch NAME       prefetcher (default stride):\n");
	for (; *pf; pf++)
		fprintf(f, "                          %-8s %s\n", (*pf)->name, (*pf)->help);
	fprintf(f,
"  --recency wp|none     how the policy learns that a resident page is still in\n"
"                        use: wp (default) write-protects pages the policy is\n"
"                        about to give up on and counts the next write as a\n"
"                        reference; none uses page faults alone\n"
"  --fault-threads N     threads serving page faults (default: one per vCPU,\n"
"                        at most 8)\n"
"  --fault-spin US       a fault thread polls for the next fault this many\n"
"                        microseconds before sleeping (default 50; 0 = never):\n"
"                        trades CPU for fault latency where waking is slow\n"
"\n"
"Memory pods (for --tier remote):\n"
"  --pod HOST:PORT       a memory pod (poolvm pod); repeatable\n"
"  --registry etcd://HOST:PORT[,HOST:PORT...][/PREFIX]\n"
"                        instead of --pod: find pods in the pod registry on etcd\n"
"                        (pods started with --etcd; PREFIX default /poolvm) and\n"
"                        reserve --mem x --replicas there before using them\n"
"                        (a page keeps its tier copy while resident, so the\n"
"                        tier may hold all of --mem); reservations end with\n"
"                        this VM, and a pod that leaves the registry is\n"
"                        treated as lost (docs/registry.md)\n"
"  --secret-file FILE    shared secret the pods were started with (mode 0600)\n"
"  --replicas N          copies of each page, on distinct pods (default 2)\n"
"  --fabric NAME         auto (verbs when an RDMA NIC is present, else tcp), verbs,\n"
"                        tcp, or shm (pods on this host)\n"
"  A --tier disk:PATH after --tier remote also backs the remote pages up on\n"
"  disk, so a page whose every replica was lost still comes back.\n"
"\n"
"Guest:\n"
"  --kernel FILE         kernel to boot directly (an uncompressed vmlinux boots fastest)\n"
"  --initrd FILE         initramfs\n"
"  --append CMDLINE      kernel command line\n"
"  --disk FILE           raw disk image as a virtio disk; repeatable\n"
"  --smp N               virtual CPUs (default 1)\n"
"  --accel auto|kvm|tcg  accelerator; auto picks KVM when /dev/kvm is usable\n"
"  --cpu MODEL           QEMU CPU model (default: host with KVM, max,-avx2 with TCG)\n"
"  --balloon             add virtio-balloon with free page reporting: pages the\n"
"                        guest frees are discarded instead of kept\n"
"\n"
"Control and output:\n"
"  --config FILE         read options from FILE first: an INI file whose [vm]\n"
"                        section has one key per long option (mem = 2G,\n"
"                        tier = disk:/var/lib/poolvm/vm1.pages, balloon = yes);\n"
"                        options given here come after it (docs/operating.md)\n"
"  --name NAME           the VM's name, for QEMU, logs, stats and the control\n"
"                        surfaces (letters, digits, '.', '_', '-'; default vm-PID)\n"
"  --qmp PATH            QMP socket for QEMU (unix socket at PATH)\n"
"  --stats-json FILE     write pager and tier statistics as JSON at exit\n"
"  --metrics [ADDR:]PORT serve Prometheus metrics on http://ADDR:PORT/metrics\n"
"                        (no ADDR: every IPv4 address); live statistics are\n"
"                        always on the control socket $POOLVM_RUN_DIR (default\n"
"                        /run/poolvm)/vm/NAME.sock: poolvm stats, poolvm top\n"
"  --trace FILE          record every page access the pager observes (missing\n"
"                        faults of the guest, writes caught by recency\n"
"                        tracking) with its time, in the binary trace format\n"
"                        of docs/sim.md, zstd-compressed; replay it with\n"
"                        poolvm sim. Use --prefetch none to see every fault\n"
"  --qemu BINARY         QEMU binary (default qemu-system-x86_64)\n"
"  --quiet               only errors on stderr\n"
"  -h, --help            this help\n"
"\n"
"Everything after -- is passed to QEMU unchanged. Guest console: this\n"
"terminal (serial port on stdio).\n"
"\n"
"Example:\n"
"  poolvm run --mem 2G --local 512M --tier disk:/var/lib/poolvm/vm1.pages \\\n"
"             --kernel vmlinux --initrd guest.img --append 'console=ttyS0'\n");
}

enum {
	OPT_MEM = 256, OPT_LOCAL, OPT_TIER, OPT_POLICY, OPT_PREFETCH, OPT_KERNEL,
	OPT_INITRD, OPT_APPEND, OPT_DISK, OPT_SMP, OPT_ACCEL, OPT_QMP, OPT_STATS, OPT_TRACE,
	OPT_POLICY_MODEL,
	OPT_QEMU, OPT_CPU, OPT_QUIET, OPT_NAME, OPT_CONFIG, OPT_BALLOON, OPT_FAULT_THREADS, OPT_SPIN, OPT_RECENCY, OPT_POD, OPT_SECRET, OPT_REPLICAS, OPT_FABRIC,
	OPT_METRICS,
	OPT_REGISTRY,
};

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static int parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		pvm_err("%s: '%s' is not a number from %u to %u", opt, s, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_size_opt(const char *opt, const char *s, uint64_t *out)
{
	int ret = pvm_parse_size(s, out);

	if (ret < 0 || *out == 0) {
		pvm_err("%s: '%s' is not a size (use e.g. 512M, 2G)", opt, s);
		return -EINVAL;
	}
	return 0;
}

/*
 * "--tier remote" becomes the remote tier's full spec, built from --pod,
 * --secret-file, --replicas and --fabric; a disk tier that follows it also
 * serves as its backup (a file of its own next to the disk tier's).
 */
static int expand_remote_tier(struct vmm_launch_config *c)
{
	static char specs[VMM_MAX_TIERS][4096];
	bool used = false;

	for (unsigned i = 0; i < c->tier_count; i++) {
		const char *t = c->tiers[i];
		char *s = specs[i];
		size_t len = sizeof(specs[i]), n;

		if (strcmp(t, "remote") != 0)
			continue;
		if (used) {
			pvm_err("--tier remote: given twice");
			return -EINVAL;
		}
		used = true;
		if (!c->pod_count && !c->registry) {
			pvm_err("--tier remote needs at least one --pod HOST:PORT, or "
				"--registry etcd://HOST:PORT");
			return -EINVAL;
		}
		if (c->pod_count && c->registry) {
			pvm_err("--tier remote: give --pod or --registry, not both");
			return -EINVAL;
		}
		if (!c->secret_file) {
			pvm_err("--tier remote needs --secret-file (the pods' shared secret)");
			return -EINVAL;
		}
		n = (size_t)snprintf(s, len, "remote:pods=");
		for (unsigned k = 0; k < c->pod_count && n < len; k++)
			n += (size_t)snprintf(s + n, len - n, "%s%s", k ? "+" : "", c->pods[k]);
		if (c->registry) {
			/* The spec separates options with ',': endpoints with '+'. */
			size_t start = n;

			/* Reserve --mem per copy, not --mem minus --local: a page
			 * that comes back keeps its tier copy (evicting it again
			 * clean costs nothing), so the tier may hold every page. */
			n += (size_t)snprintf(s + n, len - n, "%s,reserve=%llu", c->registry,
					      (unsigned long long)c->mem_bytes);
			for (size_t k = start; k < n && strncmp(s + k, ",reserve=", 9); k++)
				if (s[k] == ',')
					s[k] = '+';
		}
		if (n < len)
			n += (size_t)snprintf(s + n, len - n, ",replicas=%u,secret=%s,fabric=%s",
					      c->replicas ? c->replicas : 2, c->secret_file,
					      c->fabric ? c->fabric : "auto");
		for (unsigned j = i + 1; j < c->tier_count && n < len; j++) {
			if (strncmp(c->tiers[j], "disk:", 5) != 0)
				continue;
			const char *path = c->tiers[j] + 5, *comma = strchr(path, ',');
			int plen = comma ? (int)(comma - path) : (int)strlen(path);

			n += (size_t)snprintf(s + n, len - n, ",backup=disk:%.*s.remote-backup",
					      plen, path);
			break;
		}
		if (n >= len) {
			pvm_err("--tier remote: too many pods for one spec");
			return -EINVAL;
		}
		c->tiers[i] = s;
	}
	if (!used && (c->pod_count || c->registry))
		pvm_info("--pod or --registry given without --tier remote: no pods are used");
	return 0;
}

int cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "local", required_argument, NULL, OPT_LOCAL },
		{ "tier", required_argument, NULL, OPT_TIER },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "prefetch", required_argument, NULL, OPT_PREFETCH },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "smp", required_argument, NULL, OPT_SMP },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "qmp", required_argument, NULL, OPT_QMP },
		{ "stats-json", required_argument, NULL, OPT_STATS },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "trace", required_argument, NULL, OPT_TRACE },
		{ "policy-model", required_argument, NULL, OPT_POLICY_MODEL },
		{ "qemu", required_argument, NULL, OPT_QEMU },
		{ "quiet", no_argument, NULL, OPT_QUIET },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "balloon", no_argument, NULL, OPT_BALLOON },
		{ "fault-threads", required_argument, NULL, OPT_FAULT_THREADS },
		{ "fault-spin", required_argument, NULL, OPT_SPIN },
		{ "recency", required_argument, NULL, OPT_RECENCY },
		{ "pod", required_argument, NULL, OPT_POD },
		{ "secret-file", required_argument, NULL, OPT_SECRET },
		{ "replicas", required_argument, NULL, OPT_REPLICAS },
		{ "fabric", required_argument, NULL, OPT_FABRIC },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "registry", required_argument, NULL, OPT_REGISTRY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct pvm_conf conf;    /* lives as long as the options do */
	struct vmm_launch_config c = { .accel = VMM_ACCEL_AUTO, .spin_us = 50 };
	int opt;

	if (pvm_conf_load(argc, argv, "vm", opts, &conf) < 0)
		return 2;
	argc = conf.argc;
	argv = conf.argv;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		pvm_conf_context(&conf, optind);
		switch (opt) {
		case OPT_MEM:
			if (parse_size_opt("--mem", optarg, &c.mem_bytes) < 0)
				return 2;
			break;
		case OPT_LOCAL:
			if (parse_size_opt("--local", optarg, &c.local_bytes) < 0)
				return 2;
			break;
		case OPT_TIER:
			if (c.tier_count == VMM_MAX_TIERS) {
				pvm_err("--tier: at most %d tiers", VMM_MAX_TIERS);
				return 2;
			}
			c.tiers[c.tier_count++] = optarg;
			break;
		case OPT_POLICY: c.policy = optarg; break;
		case OPT_PREFETCH: c.prefetch = optarg; break;
		case OPT_KERNEL: c.kernel = optarg; break;
		case OPT_INITRD: c.initrd = optarg; break;
		case OPT_APPEND: c.append = optarg; break;
		case OPT_DISK:
			if (c.disk_count == VMM_MAX_DISKS) {
				pvm_err("--disk: at most %d disks", VMM_MAX_DISKS);
				return 2;
			}
			c.disks[c.disk_count++] = optarg;
			break;
		case OPT_SMP:
			if (parse_uint("--smp", optarg, 1, 255, &c.smp) < 0)
				return 2;
			break;
		case OPT_FAULT_THREADS:
			if (parse_uint("--fault-threads", optarg, 1, 16, &c.fault_threads) < 0)
				return 2;
			break;
		case OPT_SPIN:
			if (parse_uint("--fault-spin", optarg, 0, 100000, &c.spin_us) < 0)
				return 2;
			break;
		case OPT_POD:
			if (c.pod_count == VMM_MAX_PODS) {
				pvm_err("--pod: at most %d pods", VMM_MAX_PODS);
				return 2;
			}
			if (!strchr(optarg, ':') || strchr(optarg, ',') || strchr(optarg, '+')) {
				pvm_err("--pod: '%s' is not HOST:PORT", optarg);
				return 2;
			}
			c.pods[c.pod_count++] = optarg;
			break;
		case OPT_SECRET: c.secret_file = optarg; break;
		case OPT_REGISTRY:
			if (strncmp(optarg, "etcd://", 7) || !optarg[7] || optarg[7] == '/' ||
			    strchr(optarg, '+') || strlen(optarg) > 240) {
				pvm_err("--registry: '%s' is not etcd://HOST:PORT[,HOST:PORT][/PREFIX]",
					optarg);
				return 2;
			}
			c.registry = optarg;
			break;
		case OPT_REPLICAS:
			if (parse_uint("--replicas", optarg, 1, 4, &c.replicas) < 0)
				return 2;
			break;
		case OPT_FABRIC:
			if (strcmp(optarg, "auto") && strcmp(optarg, "verbs") &&
			    strcmp(optarg, "tcp") && strcmp(optarg, "shm")) {
				pvm_err("--fabric: '%s' is not auto, verbs, tcp or shm", optarg);
				return 2;
			}
			c.fabric = optarg;
			break;
		case OPT_RECENCY:
			if (!strcmp(optarg, "wp")) {
				c.no_recency = false;
			} else if (!strcmp(optarg, "none")) {
				c.no_recency = true;
			} else {
				pvm_err("--recency: '%s' is not wp or none", optarg);
				return 2;
			}
			break;
		case OPT_ACCEL:
			if (!strcmp(optarg, "auto"))
				c.accel = VMM_ACCEL_AUTO;
			else if (!strcmp(optarg, "kvm"))
				c.accel = VMM_ACCEL_KVM;
			else if (!strcmp(optarg, "tcg"))
				c.accel = VMM_ACCEL_TCG;
			else {
				pvm_err("--accel: '%s' is not auto, kvm or tcg", optarg);
				return 2;
			}
			break;
		case OPT_CPU: c.cpu = optarg; break;
		case OPT_QMP: c.qmp = optarg; break;
		case OPT_STATS: c.stats_json = optarg; break;
		case OPT_METRICS: c.metrics = optarg; break;
		case OPT_TRACE: c.trace = optarg; break;
		case OPT_POLICY_MODEL: c.policy_model = optarg; break;
		case OPT_QEMU: c.qemu = optarg; break;
		case OPT_QUIET: c.quiet = true; break;
		case OPT_CONFIG: break;   /* read by pvm_conf_load() */
		case OPT_NAME:
			if (!valid_name(optarg)) {
				pvm_err("--name: '%s' is not a name (1-64 of letters, digits, '.', '_', '-'; not starting with '.' or '-')", optarg);
				return 2;
			}
			c.name = optarg;
			break;
		case OPT_BALLOON: c.balloon = true; break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'poolvm run --help'.\n");
			return 2;
		}
	}
	pvm_conf_context(&conf, -1);
	if (optind < argc) {
		/* getopt_long stops at "--"; what follows goes to QEMU. */
		if (strcmp(argv[optind - 1], "--") != 0) {
			pvm_err("unexpected argument '%s' (QEMU arguments go after --)", argv[optind]);
			return 2;
		}
		c.qemu_extra = argv + optind;
		c.qemu_extra_count = argc - optind;
		for (int i = 0; i < c.qemu_extra_count; i++) {
			if (strstr(c.qemu_extra[i], "cache=none") ||
			    strstr(c.qemu_extra[i], "cache=directsync") ||
			    strstr(c.qemu_extra[i], "cache.direct=on")) {
				pvm_err("QEMU argument '%s': O_DIRECT disk I/O lets the host "
					"kernel write guest RAM behind the pager's back (DMA into "
					"pinned pages), which can lose data when a page is evicted; "
					"use cache=writeback", c.qemu_extra[i]);
				return 2;
			}
		}
	}
	if (!c.mem_bytes) {
		pvm_err("--mem is required (e.g. --mem 2G); see 'poolvm run --help'");
		return 2;
	}
	if (c.mem_bytes & ((1ULL << 20) - 1)) {
		pvm_err("--mem must be a whole number of MiB");
		return 2;
	}
	if (c.local_bytes >= c.mem_bytes)
		c.local_bytes = 0;   /* everything resident: no tier needed */
	if (c.local_bytes && c.tier_count == 0) {
		pvm_err("--local %llu MiB is less than --mem but no --tier was given to hold "
			"the rest (e.g. --tier disk:/var/lib/poolvm/vm.pages)",
			(unsigned long long)(c.local_bytes >> 20));
		return 2;
	}
	if (c.accel == VMM_ACCEL_KVM && vmm_accel_resolve(VMM_ACCEL_AUTO) != VMM_ACCEL_KVM) {
		pvm_err("--accel kvm: /dev/kvm is not usable on this host (use --accel tcg)");
		return 2;
	}
	if (c.policy) {
		struct swap_policy *p;
		struct swap_policy_env env = { .capacity = 16 };

		if (swap_policy_create(c.policy, &env, &p) < 0) {
			pvm_err("--policy: no policy named '%s'; see 'poolvm run --help'", c.policy);
			return 2;
		}
		swap_policy_destroy(p);
	}
	if (c.prefetch) {
		struct swap_prefetcher *p;
		struct swap_prefetch_env env = { .max_window = 8, .page_count = 1024 };

		if (swap_prefetch_create(c.prefetch, &env, &p) < 0) {
			pvm_err("--prefetch: no prefetcher named '%s'; see 'poolvm run --help'", c.prefetch);
			return 2;
		}
		swap_prefetch_destroy(p);
	}
	if (expand_remote_tier(&c) < 0)
		return 2;
	if (!c.name) {
		static char dflt[32];

		snprintf(dflt, sizeof(dflt), "vm-%d", (int)getpid());
		c.name = dflt;
	}
	return vmm_launch_run(&c);
}
