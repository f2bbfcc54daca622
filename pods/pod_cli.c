/* pods/pod_cli.c — option parsing, signals and the "serving" line of the
 * pod command. */
#include "pod_cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "conf.h"
#include "ctl_server.h"
#include "pod.h"
#include "pod_control.h"
#include "pod_opts.h"
#include "registry.h"
#include "server.h"     /* gpu_pod_main(): poolvm pod --gpu */

static struct pod *cli_pod;
static volatile sig_atomic_t cli_signals;
static const char *cli_etcd, *cli_etcd_prefix;   /* --etcd, --etcd-prefix */
static unsigned int cli_etcd_ttl;                 /* --etcd-ttl, seconds */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: poolvm pod --memory SIZE --listen HOST:PORT --secret-file FILE [OPTIONS]\n"
		"       poolvm pod --gpu all|N --listen HOST:PORT --secret-file FILE [OPTIONS]\n"
		"\n"
		"Lend SIZE bytes of this host's memory to poolvm VMMs. Clients authenticate\n"
		"with the shared secret, lease ranges of the memory, and move guest pages in\n"
		"and out with one-sided RMA (libfabric) under a key per lease.\n"
		"\n"
		"Required:\n"
		"  --memory SIZE          memory to lend: 512M, 16G, ... (rounded down to slabs)\n"
		"  --listen HOST:PORT     address to serve on, e.g. 10.0.0.5:7300 or [::1]:7300;\n"
		"                         port 0 picks a free one (the serving line says which);\n"
		"                         ignored by the shm fabric, which names itself\n"
		"  --secret-file FILE     shared secret, 16..4096 bytes, mode 0600; every client\n"
		"                         must use the same file contents\n"
		"\n"
		"Options:\n"
		"  --fabric NAME          auto (verbs if it offers RMA, else tcp), verbs, tcp or\n"
		"                         shm (same host only; does not check memory keys)\n"
		"  --hugepages            back the memory with 2 MiB huge pages (falls back to\n"
		"                         normal pages, with a message, when too few are reserved)\n"
		"  --client-timeout S     free the leases of a client silent this long (30)\n"
		"  --drain-timeout S      on SIGTERM, wait this long for clients to move their\n"
		"                         pages before exiting (60)\n"
		"  --stats-json FILE      rewrite FILE every second with usage per client\n"
		"  --pod-id ID            name announced to clients (default: host name)\n"
		"  --name NAME            this pod's name on this host: its control socket is\n"
		"                         $POOLVM_RUN_DIR (default /run/poolvm)/pod/NAME.sock,\n"
		"                         read by poolvm stats and poolvm top (default pod-PID)\n"
		"  --metrics [ADDR:]PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
		"                         (no ADDR: every IPv4 address); see docs/metrics.md\n"
		"  --slab-size SIZE       lease granularity, a power of two (2M)\n"
		"  --max-clients N        clients and pending handshakes at once (1024)\n"
		"  --poll-us N            after serving a request, busy-poll N microseconds for\n"
		"                         the next before sleeping (50; 0: sleep at once). Longer\n"
		"                         lowers fault latency at the cost of CPU on this host\n"
		"  --config FILE          read options from FILE first: an INI file whose [pod]\n"
		"                         section has one key per long option (memory = 16G,\n"
		"                         listen = 10.0.0.5:7300, hugepages = yes); options\n"
		"                         given here come after it (docs/operating.md)\n"
		"  --etcd URL[,URL...]    register in the pod registry on etcd (http://HOST:2379\n"
		"                         or HOST:2379; the next URL is tried when one is down):\n"
		"                         PREFIX/pods/ADDRESS holds the address, fabric, total\n"
		"                         and free memory, kept under a lease (docs/registry.md)\n"
		"  --etcd-prefix /P       key prefix in etcd (/poolvm)\n"
		"  --etcd-ttl S           lease TTL: the pod leaves the registry S seconds after\n"
		"                         it stops renewing (dies); 2..3600 (10)\n"
		"  --quiet                only errors and the serving line\n"
		"  -h, --help             this text\n"
		"\n"
		"When clients can connect, one line goes to stdout:\n"
		"  poolvm pod: serving 16.0 GiB on 10.0.0.5:7300 (tcp)\n"
		"\n"
		"Signals: SIGTERM or SIGINT drains: clients holding leases get DRAIN and the\n"
		"pod exits 0 once each has answered DRAIN_DONE or released its leases, or at\n"
		"the drain timeout. A second signal exits at once.\n"
		"\n"
		"Security: the secret authenticates both ends; a lease's key is given only to\n"
		"the client that holds it. Nothing is encrypted: run pods on a trusted network.\n"
		"See docs/pods.md. A GPU pod (--gpu) takes other options: poolvm pod --gpu all\n"
		"--help, docs/gpu.md.\n"
		"\n"
		"Exit status: 0 drained or stopped, 1 could not start, 2 usage error.\n");
}

static void on_signal(int sig)
{
	(void)sig;
	if (!cli_pod)
		return;
	if (cli_signals++ == 0)
		pod_request_drain(cli_pod);
	else
		pod_request_stop(cli_pod);
}

static int parse_seconds(const char *opt, const char *text, unsigned int *ms)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(s) || s <= 0 ||
	    s * 1000.0 > (double)UINT_MAX) {
		pvm_err("pod: %s '%s' is not a number of seconds (e.g. 30, 0.5)",
			opt, text);
		return -EINVAL;
	}
	*ms = (unsigned int)(s * 1000.0 + 0.5);
	if (*ms == 0)
		*ms = 1;
	return 0;
}

static int parse_size_opt(const char *opt, const char *text, uint64_t *out)
{
	if (pvm_parse_size(text, out) || *out == 0) {
		pvm_err("pod: %s '%s' is not a size (e.g. 512M, 16G)", opt, text);
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_MEMORY = 256, OPT_LISTEN, OPT_SECRET, OPT_FABRIC, OPT_HUGEPAGES,
	OPT_CLIENT_TIMEOUT, OPT_DRAIN_TIMEOUT, OPT_STATS_JSON, OPT_QUIET,
	OPT_POD_ID, OPT_SLAB, OPT_MAX_CLIENTS, OPT_POLL_US, OPT_CONFIG,
	OPT_NAME, OPT_METRICS,
	OPT_ETCD, OPT_ETCD_PREFIX, OPT_ETCD_TTL,
};

static const char *cli_name, *cli_metrics;      /* --name, --metrics */

static const struct option options[] = {
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "secret-file", required_argument, NULL, OPT_SECRET },
	{ "fabric", required_argument, NULL, OPT_FABRIC },
	{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
	{ "client-timeout", required_argument, NULL, OPT_CLIENT_TIMEOUT },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
	{ "stats-json", required_argument, NULL, OPT_STATS_JSON },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "pod-id", required_argument, NULL, OPT_POD_ID },
	{ "slab-size", required_argument, NULL, OPT_SLAB },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "poll-us", required_argument, NULL, OPT_POLL_US },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "etcd", required_argument, NULL, OPT_ETCD },
	{ "etcd-prefix", required_argument, NULL, OPT_ETCD_PREFIX },
	{ "etcd-ttl", required_argument, NULL, OPT_ETCD_TTL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse(int argc, char **argv, struct pod_config *cfg, bool *help)
{
	static struct pvm_conf conf;    /* lives as long as the options do */
	int opt;

	if (pvm_conf_load(argc, argv, "pod", options, &conf) < 0)
		return -EINVAL;
	argc = conf.argc;
	argv = conf.argv;
	optind = 1;
	opterr = 0;
	cli_name = cli_metrics = NULL;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		pvm_conf_context(&conf, optind);
		switch (opt) {
		case OPT_CONFIG:
			break;  /* read by pvm_conf_load() */
		case OPT_MEMORY:
			if (parse_size_opt("--memory", optarg, &cfg->memory))
				return -EINVAL;
			break;
		case OPT_LISTEN:
			cfg->listen = optarg;
			break;
		case OPT_SECRET:
			cfg->secret_file = optarg;
			break;
		case OPT_FABRIC:
			if (pod_opt_fabric("--fabric", optarg))
				return -EINVAL;
			cfg->fabric = optarg;
			break;
		case OPT_HUGEPAGES:
			cfg->hugepages = true;
			break;
		case OPT_CLIENT_TIMEOUT:
			if (parse_seconds("--client-timeout", optarg, &cfg->client_timeout_ms))
				return -EINVAL;
			break;
		case OPT_DRAIN_TIMEOUT:
			if (parse_seconds("--drain-timeout", optarg, &cfg->drain_timeout_ms))
				return -EINVAL;
			break;
		case OPT_STATS_JSON:
			cfg->stats_json = optarg;
			break;
		case OPT_QUIET:
			pvm_set_quiet(true);
			break;
		case OPT_NAME:
			if (!pvm_ctl_valid_name(optarg)) {
				pvm_err("pod: --name '%s' is not a name (1-64 of letters, digits, "
					"'.', '_', '-'; not starting with '.' or '-')", optarg);
				return -EINVAL;
			}
			cli_name = optarg;
			break;
		case OPT_METRICS:
			cli_metrics = optarg;
			break;
		case OPT_POD_ID:
			if (pod_opt_pod_id(optarg))
				return -EINVAL;
			cfg->pod_id = optarg;
			break;
		case OPT_SLAB:
			if (parse_size_opt("--slab-size", optarg, &cfg->slab_size))
				return -EINVAL;
			break;
		case OPT_MAX_CLIENTS: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v == 0 || v > 1000000) {
				pvm_err("pod: --max-clients '%s' is not a count (1..1000000)", optarg);
				return -EINVAL;
			}
			cfg->max_clients = (unsigned int)v;
			break;
		}
		case OPT_POLL_US: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v > 1000000) {
				pvm_err("pod: --poll-us '%s' is not microseconds (0..1000000)", optarg);
				return -EINVAL;
			}
			cfg->poll_us = v ? (unsigned int)v : POD_POLL_NONE;
			break;
		}
		case OPT_ETCD:
			cli_etcd = optarg;
			break;
		case OPT_ETCD_PREFIX: {
			char why[200];

			if (registry_prefix_check(optarg, why, sizeof(why))) {
				pvm_err("pod: --etcd-prefix: %s", why);
				return -EINVAL;
			}
			cli_etcd_prefix = optarg;
			break;
		}
		case OPT_ETCD_TTL: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 2 || v > 3600) {
				pvm_err("pod: --etcd-ttl '%s' is not seconds (2..3600)", optarg);
				return -EINVAL;
			}
			cli_etcd_ttl = (unsigned int)v;
			break;
		}
		case 'h':
			*help = true;
			return 0;
		default:
			pvm_err("pod: option '%s' is unknown or lacks its value (see --help)",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	pvm_conf_context(&conf, -1);
	if (optind < argc) {
		pvm_err("pod: unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	if ((cli_etcd_prefix || cli_etcd_ttl) && !cli_etcd) {
		pvm_err("pod: --etcd-prefix and --etcd-ttl need --etcd URL");
		return -EINVAL;
	}
	if (!cfg->memory || !cfg->listen || !cfg->secret_file) {
		pvm_err("pod: --memory, --listen and --secret-file are required (see --help)");
		return -EINVAL;
	}
	return 0;
}

/* The registry's view of the pod (registry_sample_fn). */
static void sample_pod(void *arg, uint64_t *total, uint64_t *free_bytes, bool *draining)
{
	struct pod_stats s;

	pod_get_stats(arg, &s);
	*total = s.mem_total;
	*free_bytes = s.mem_free;
	*draining = s.draining;
}

static int announce(struct pod *pod, const struct pod_config *cfg, const char *fabric,
		    struct registry_announce **out)
{
	struct registry_announce_config ac = {
		.endpoints = cli_etcd,
		.prefix = cli_etcd_prefix,
		.ttl_s = cli_etcd_ttl,
		.addr = pod_address(pod),
		.fabric = fabric,
		.pod_id = cfg->pod_id,
		.sample = sample_pod,
		.arg = pod,
	};
	char host[65] = "";

	if (!ac.pod_id && !gethostname(host, sizeof(host) - 1))
		ac.pod_id = host;
	return registry_announce_start(&ac, out);
}

int pod_cli_main(int argc, char **argv)
{
	struct registry_announce *reg = NULL;
	struct pod_config cfg = { 0 };
	struct sigaction sa = { 0 }, old_term, old_int, old_pipe;
	const char *fabric;
	char size[32], shortname[40];
	bool help = false;
	struct pod *pod;
	struct pod_control *control = NULL;
	size_t n;
	int ret;

	/* A GPU pod is its own server with its own options (pods/gpu). */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--gpu") || !strncmp(argv[i], "--gpu=", 6))
			return gpu_pod_main(argc, argv);
	cli_etcd = cli_etcd_prefix = NULL;
	cli_etcd_ttl = 0;
	if (parse(argc, argv, &cfg, &help))
		return 2;
	if (help) {
		usage(stdout);
		return 0;
	}
	if (pod_create(&cfg, &pod))
		return 1;
	{
		char dflt[32];

		snprintf(dflt, sizeof(dflt), "pod-%d", (int)getpid());
		if (pod_control_start(pod, cli_name ? cli_name : dflt, cli_metrics, &control)) {
			pod_destroy(pod);
			return 1;
		}
	}

	cli_signals = 0;
	cli_pod = pod;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);

	/* "tcp;ofi_rxm" -> "tcp" */
	fabric = pod_fabric(pod);
	n = strcspn(fabric, ";");
	if (n >= sizeof(shortname))
		n = sizeof(shortname) - 1;
	memcpy(shortname, fabric, n);
	shortname[n] = '\0';
	{
		struct pod_stats s;

		pod_get_stats(pod, &s);
		printf("poolvm pod: serving %s on %s (%s)\n",
		       pvm_format_size(s.mem_total, size, sizeof(size)),
		       pod_address(pod), shortname);
	}
	fflush(stdout);
	if (cli_etcd && announce(pod, &cfg, shortname, &reg)) {
		pvm_err("pod: not serving without the registry asked for (--etcd)");
		pod_destroy(pod);
		return 1;
	}

	ret = pod_run(pod);
	/* Drained or stopped: leave the registry now, not at the TTL. */
	registry_announce_stop(reg, true);

	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	cli_pod = NULL;
	pod_control_stop(control);
	pod_destroy(pod);
	return ret ? 1 : 0;
}
