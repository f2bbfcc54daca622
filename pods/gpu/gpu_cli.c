/* pods/gpu/gpu_cli.c — `poolvm pod --gpu ...`: the GPU pod's command line,
 * signals and "serving" line. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "conf.h"
#include "pod_opts.h"
#include "server.h"
#ifdef PVM_GPU_SPILL
#include "gpu_mem_spill.h"
#endif

#define MAX_SPILL_TIERS 8

static struct gpu_server *cli_server;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: poolvm pod --gpu all|N --listen HOST:PORT --secret-file FILE [OPTIONS]\n"
		"\n"
		"Lend this host's GPUs to CUDA programs in guests and on other hosts. Programs\n"
		"load poolvm's libcuda.so.1 (guest/cuda) instead of NVIDIA's; it forwards their\n"
		"driver API calls here over TCP (or libfabric, --gpu-fabric), where they run\n"
		"on the real driver, which this pod loads at run time (no CUDA toolkit needed\n"
		"to build poolvm).\n"
		"\n"
		"Required:\n"
		"  --gpu all|N            serve every GPU, or the first N (devices 0..N-1)\n"
		"  --listen HOST:PORT     TCP address to serve on (port 0 picks a free one;\n"
		"                         the serving line says which)\n"
		"  --secret-file FILE     shared secret, 16..4096 bytes, mode 0600; clients\n"
		"                         name the same file in POOLVM_GPU_SECRET_FILE\n"
		"\n"
		"Options:\n"
		"  --gpu-quota SIZE       device memory each client may allocate (512M, 8G);\n"
		"                         beyond it cuMemAlloc fails with CUDA_ERROR_OUT_OF_MEMORY\n"
		"                         and cuMemGetInfo/cuDeviceTotalMem report the quota\n"
#ifdef PVM_GPU_SPILL
		"  --gpu-spill            let each client allocate beyond its quota: allocations\n"
		"                         are backed in 2 MiB chunks through the driver's virtual\n"
		"                         memory API, at most --gpu-quota of them on the GPU;\n"
		"                         cold chunks move to host DRAM and on to the tiers,\n"
		"                         and come back before a kernel launch (or memcpy)\n"
		"                         needs them. Device pointers never change. Eviction\n"
		"                         learns the program's launch sequence (training\n"
		"                         loops repeat). Needs --gpu-quota; see docs/gpu-spill.md\n"
		"  --gpu-spill-limit SIZE what each client may allocate in all (default 8 x\n"
		"                         --gpu-quota); cuMemGetInfo reports it as the total\n"
		"  --gpu-spill-host SIZE  host DRAM per client for evicted chunks before they go\n"
		"                         on to the tiers (default 0 with tiers: straight to\n"
		"                         them; without tiers host DRAM is not bounded)\n"
		"  --gpu-spill-tier SPEC  where evicted chunks go beyond host DRAM, in the\n"
		"                         order given (repeat for several, at most 8); the\n"
		"                         specs of poolvm run's --tier: dram:SIZE,\n"
		"                         disk:DIRECTORY (each client gets an unnamed file in\n"
		"                         it), remote:... (memory pods). Opened once at start\n"
		"                         to check them, then per client\n"
#endif
		"  --gpu-fabric PROVIDER  also serve clients over libfabric (between hosts):\n"
		"                         tcp (tcp;ofi_rxm), verbs (verbs;ofi_rxm), shm (same\n"
		"                         host) or auto (verbs if there, else tcp). Clients\n"
		"                         set POOLVM_GPU_POD=fabric://HOST:PORT. TCP clients\n"
		"                         are served at the same time. libfabric.so.1 is\n"
		"                         loaded when this option is given\n"
		"  --fabric-listen HOST:PORT\n"
		"                         the fabric endpoint's address (default: --listen's\n"
		"                         host and its port + 1; port 0 picks a free one;\n"
		"                         shm ignores it: the serving line prints the name)\n"
		"  --gpu-fabric-timeout SECONDS\n"
		"                         a fabric client not heard from for this long is\n"
		"                         gone: its GPU memory is freed (default 20,\n"
		"                         2..3600; both sides ping every quarter of it\n"
		"                         when idle)\n"
		"  --max-clients N        clients at once (64)\n"
		"  --pod-id ID            name announced to clients (default: host name)\n"
		"  --cuda-driver PATH     the driver library to load (libcuda.so.1)\n"
		"  --config FILE          read options from FILE's [pod] section first\n"
		"                         (listen = ..., gpu-quota = 8G); --gpu itself\n"
		"                         must be given on the command line\n"
		"  --quiet                only errors and the serving line\n"
		"  -h, --help             this text\n"
		"\n"
		"When clients can connect, one line goes to stdout:\n"
		"  poolvm pod: serving 2 GPUs on 10.0.0.5:7400 (tcp)\n"
		"with --gpu-fabric, both addresses:\n"
		"  poolvm pod: serving 2 GPUs on 10.0.0.5:7400 (tcp) and fabric://10.0.0.5:7401\n"
		"  (tcp;ofi_rxm)\n"
		"A host without a driver or a GPU still serves: every call is answered\n"
		"CUDA_ERROR_NO_DEVICE, as cuInit would answer there.\n"
		"\n"
		"Each client gets contexts of its own; when it disconnects or dies (also in\n"
		"the middle of a call) its memory, modules, streams, events and contexts are\n"
		"freed. Nothing is encrypted: run GPU pods on a trusted network. Kernels run\n"
		"on the real GPU; see docs/gpu.md for what isolation that gives.\n"
		"\n"
		"Signals: SIGTERM or SIGINT disconnects clients and exits 0.\n"
		"Exit status: 0 stopped, 1 could not start, 2 usage error.\n");
}

static void on_signal(int sig)
{
	(void)sig;
	if (cli_server)
		gpu_server_request_stop(cli_server);
}

enum {
	OPT_GPU = 256, OPT_LISTEN, OPT_SECRET, OPT_QUOTA, OPT_MAX_CLIENTS,
	OPT_POD_ID, OPT_DRIVER, OPT_CONFIG, OPT_QUIET,
	OPT_SPILL, OPT_SPILL_LIMIT, OPT_SPILL_HOST, OPT_SPILL_TIER,
	OPT_FABRIC, OPT_FABRIC_LISTEN, OPT_FABRIC_TIMEOUT,
};

static const struct option options[] = {
	{ "gpu", required_argument, NULL, OPT_GPU },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "secret-file", required_argument, NULL, OPT_SECRET },
	{ "gpu-quota", required_argument, NULL, OPT_QUOTA },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "pod-id", required_argument, NULL, OPT_POD_ID },
	{ "cuda-driver", required_argument, NULL, OPT_DRIVER },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "gpu-fabric", required_argument, NULL, OPT_FABRIC },
	{ "fabric-listen", required_argument, NULL, OPT_FABRIC_LISTEN },
	{ "gpu-fabric-timeout", required_argument, NULL, OPT_FABRIC_TIMEOUT },
#ifdef PVM_GPU_SPILL
	{ "gpu-spill", no_argument, NULL, OPT_SPILL },
	{ "gpu-spill-limit", required_argument, NULL, OPT_SPILL_LIMIT },
	{ "gpu-spill-host", required_argument, NULL, OPT_SPILL_HOST },
	{ "gpu-spill-tier", required_argument, NULL, OPT_SPILL_TIER },
#endif
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_count(const char *opt, const char *text, unsigned long max,
		       unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(text, &end, 10);
	if (errno || end == text || *end || *out > max || text[0] == '-') {
		pvm_err("pod: %s '%s' is not a count (0..%lu)", opt, text, max);
		return -EINVAL;
	}
	return 0;
}

struct spill_opts {
	bool on, other;                 /* --gpu-spill; any --gpu-spill-* */
	uint64_t limit, host;
	const char *tiers[MAX_SPILL_TIERS + 1];
	unsigned int ntiers;
};

static int parse(int argc, char **argv, struct gpu_server_config *cfg, bool *help,
		 struct pvm_conf *conf, struct spill_opts *sp)
{
	bool have_gpu = false;
	unsigned long v;
	int opt;

	if (pvm_conf_load(argc, argv, "pod", options, conf) < 0)
		return -EINVAL;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(conf->argc, conf->argv, "h", options, NULL)) != -1) {
		pvm_conf_context(conf, optind);
		switch (opt) {
		case OPT_CONFIG:
			break;
		case OPT_GPU:
			have_gpu = true;
			if (!strcmp(optarg, "all")) {
				cfg->devices = -1;
				break;
			}
			if (parse_count("--gpu", optarg, 64, &v) || v == 0) {
				if (v == 0)
					pvm_err("pod: --gpu takes 'all' or a count of 1..64");
				return -EINVAL;
			}
			cfg->devices = (int)v;
			break;
		case OPT_LISTEN:
			cfg->listen = optarg;
			break;
		case OPT_SECRET:
			cfg->secret_file = optarg;
			break;
		case OPT_QUOTA:
			if (pvm_parse_size(optarg, &cfg->quota) || !cfg->quota) {
				pvm_err("pod: --gpu-quota '%s' is not a size (e.g. 512M, 8G)", optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_CLIENTS:
			if (parse_count("--max-clients", optarg, 100000, &v) || v == 0) {
				if (v == 0)
					pvm_err("pod: --max-clients must be at least 1");
				return -EINVAL;
			}
			cfg->max_clients = (unsigned int)v;
			break;
		case OPT_POD_ID:
			if (pod_opt_pod_id(optarg))
				return -EINVAL;
			cfg->pod_id = optarg;
			break;
		case OPT_DRIVER:
			cfg->driver = optarg;
			break;
		case OPT_FABRIC:
			if (pod_opt_fabric("--gpu-fabric", optarg))
				return -EINVAL;
			cfg->fabric_provider = optarg;
			break;
		case OPT_FABRIC_LISTEN:
			cfg->fabric_listen = optarg;
			break;
		case OPT_FABRIC_TIMEOUT:
			if (parse_count("--gpu-fabric-timeout", optarg, 3600, &v) || v < 2) {
				if (v < 2)
					pvm_err("pod: --gpu-fabric-timeout takes 2..3600 seconds");
				return -EINVAL;
			}
			cfg->fabric_idle_ms = (unsigned int)v * 1000;
			break;
		/* tests/gpu/e2e/gpu_e2e.sh and bench/gpu_bench.py look for
		 * "--gpu-spill" in --help to run the oversubscription cases. */
		case OPT_SPILL:
			sp->on = true;
			break;
		case OPT_SPILL_LIMIT:
		case OPT_SPILL_HOST: {
			uint64_t *v64 = opt == OPT_SPILL_LIMIT ? &sp->limit : &sp->host;

			if (pvm_parse_size(optarg, v64) || (opt == OPT_SPILL_LIMIT && !*v64)) {
				pvm_err("pod: %s '%s' is not a size (e.g. 512M, 8G)",
					opt == OPT_SPILL_LIMIT ? "--gpu-spill-limit" :
					"--gpu-spill-host", optarg);
				return -EINVAL;
			}
			sp->other = true;
			break;
		}
		case OPT_SPILL_TIER:
			if (sp->ntiers == MAX_SPILL_TIERS) {
				pvm_err("pod: at most %d --gpu-spill-tier options", MAX_SPILL_TIERS);
				return -EINVAL;
			}
			if (!strchr(optarg, ':')) {
				pvm_err("pod: --gpu-spill-tier '%s' is not a tier spec (KIND:ARGS, "
					"e.g. disk:/var/tmp, dram:4G)", optarg);
				return -EINVAL;
			}
			sp->tiers[sp->ntiers++] = optarg;
			sp->other = true;
			break;
		case OPT_QUIET:
			pvm_set_quiet(true);
			break;
		case 'h':
			*help = true;
			return 0;
		default:
			if (!strncmp(conf->argv[optind - 1], "--memory", 8)) {
				pvm_err("pod: --gpu and --memory are two kinds of pod: run one "
					"of each (on different ports)");
				return -EINVAL;
			}
			pvm_err("pod: option '%s' is unknown to a GPU pod or lacks its value "
				"(see poolvm pod --gpu all --help)", conf->argv[optind - 1]);
			return -EINVAL;
		}
	}
	pvm_conf_context(conf, -1);
	if (optind < conf->argc) {
		pvm_err("pod: unexpected argument '%s' (see --help)", conf->argv[optind]);
		return -EINVAL;
	}
	if (!have_gpu || !cfg->listen || !cfg->secret_file) {
		pvm_err("pod: --gpu, --listen and --secret-file are required (see --help)");
		return -EINVAL;
	}
	if ((cfg->fabric_listen || cfg->fabric_idle_ms) && !cfg->fabric_provider) {
		pvm_err("pod: --fabric-listen and --gpu-fabric-timeout need --gpu-fabric");
		return -EINVAL;
	}
	if (sp->other && !sp->on) {
		pvm_err("pod: --gpu-spill-limit, --gpu-spill-host and --gpu-spill-tier need "
			"--gpu-spill");
		return -EINVAL;
	}
	if (sp->on && !cfg->quota) {
		pvm_err("pod: --gpu-spill needs --gpu-quota (the device memory each client "
			"may have on the GPU; beyond it, its memory spills)");
		return -EINVAL;
	}
	if (sp->on && sp->limit && sp->limit < cfg->quota) {
		pvm_err("pod: --gpu-spill-limit must be at least --gpu-quota");
		return -EINVAL;
	}
	return 0;
}

int gpu_pod_main(int argc, char **argv)
{
	struct gpu_server_config cfg = { .devices = -1 };
	struct sigaction sa = { 0 }, old_term, old_int, old_pipe;
	struct pvm_conf conf = { 0 };
	struct spill_opts sp = { 0 };
	struct gpu_server *s;
	const char *why, *faddr, *fprov;
	char fabric_default[300];
	bool help = false;
	int n, ret;

	if (parse(argc, argv, &cfg, &help, &conf, &sp)) {
		pvm_conf_free(&conf);
		return 2;
	}
	if (help) {
		usage(stdout);
		pvm_conf_free(&conf);
		return 0;
	}
#ifdef PVM_GPU_SPILL
	struct gpu_spill_options spill = { 0 };

	if (sp.on) {
		if (gpu_spill_check_tiers(sp.tiers)) {
			pvm_conf_free(&conf);
			return 2;
		}
		spill.limit = sp.limit;
		spill.host_bytes = sp.host;
		spill.tiers = sp.ntiers ? sp.tiers : NULL;
		spill.prefetch_depth = 2;
		cfg.mem = &gpu_spill_ops;
		cfg.mem_config = &spill;
	}
#endif
	if (cfg.fabric_provider && !cfg.fabric_listen) {
		/* --listen's host, its port + 1 (0 stays 0). */
		const char *colon = strrchr(cfg.listen, ':');
		char *end;
		unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;

		if (!colon || *end || port > 65534) {
			pvm_err("pod: --listen '%s' is not HOST:PORT", cfg.listen);
			pvm_conf_free(&conf);
			return 2;
		}
		snprintf(fabric_default, sizeof(fabric_default), "%.*s:%lu",
			 (int)(colon - cfg.listen), cfg.listen, port ? port + 1 : 0);
		cfg.fabric_listen = fabric_default;
	}
	if (gpu_server_create(&cfg, &s)) {
		pvm_conf_free(&conf);
		return 1;
	}
	cli_server = s;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);

	n = gpu_server_devices(s, &why);
	if (why)
		pvm_err("pod: %s: every call will be answered CUDA_ERROR_NO_DEVICE", why);
	faddr = gpu_server_fabric_address(s, &fprov);
	if (faddr)
		printf("poolvm pod: serving %d GPU%s on %s (tcp) and %s (%s)\n", n,
		       n == 1 ? "" : "s", gpu_server_address(s), faddr, fprov);
	else
		printf("poolvm pod: serving %d GPU%s on %s (tcp)\n", n, n == 1 ? "" : "s",
		       gpu_server_address(s));
	fflush(stdout);
	ret = gpu_server_run(s);

	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	cli_server = NULL;
	gpu_server_destroy(s);
	pvm_conf_free(&conf);
	return ret ? 1 : 0;
}
