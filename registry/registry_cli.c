/* registry/registry_cli.c — "poolvm registry": look at and edit the pod
 * registry (docs/registry.md).
 */
#include "registry_cli.h"

#include "common.h"
#include "registry.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
	fprintf(f,
"Usage: poolvm registry [--etcd URL[,URL...]] [--prefix /P] COMMAND [OPTIONS]\n"
"\n"
"Show and edit the pod registry that memory pods keep in etcd (poolvm pod\n"
"--etcd) and VMMs reserve capacity in (poolvm run --registry). See\n"
"docs/registry.md for the keys and the reservation protocol.\n"
"\n"
"Options:\n"
"  --etcd URL[,URL...]   etcd endpoints, http://HOST:PORT or HOST:PORT; the next\n"
"                        is tried when one cannot be reached (default: the\n"
"                        POOLVM_ETCD environment variable)\n"
"  --prefix /P           key prefix (default /poolvm)\n"
"  -h, --help            this text\n"
"\n"
"Commands:\n"
"  ls [--json]           the pods (address, fabric, total, free, reserved, age)\n"
"                        and every reservation (pod, client, bytes)\n"
"  reserve --pod ADDR --size SIZE --id CLIENT [--ttl S] [--hold-read MS]\n"
"                        reserve SIZE more on pod ADDR for CLIENT, in a\n"
"                        transaction that fails rather than overbook; the\n"
"                        reservation lives under a new lease of S seconds\n"
"                        (default 60) that nobody renews. --hold-read waits MS\n"
"                        between reading and writing (for race tests)\n"
"  release --id CLIENT   delete every reservation of CLIENT\n"
"\n"
"Exit status: 0 done; 1 etcd unreachable, refused, malformed, or (reserve)\n"
"no room on the pod; 2 usage error.\n");
}

static int ls(struct etcd_client *c, const char *prefix, bool json)
{
	struct registry_view v;
	int rc = registry_view_load(c, prefix, &v);
	time_t now = time(NULL);

	if (rc) {
		pvm_err("registry: %s", etcd_error(c));
		return 1;
	}
	if (json) {
		struct json_object *o = json_object_new_object();
		struct json_object *pods = json_object_new_array();
		struct json_object *res = json_object_new_array();

		json_object_object_add(o, "revision", json_object_new_int64(v.revision));
		for (size_t i = 0; i < v.npods; i++) {
			const struct registry_pod *p = &v.pods[i];
			struct json_object *e = registry_pod_json(p);

			if (!e)
				continue;
			/* What the ledger says besides what the pod announces. */
			json_object_object_add(e, "reserved", json_object_new_uint64(p->reserved));
			json_object_array_add(pods, e);
		}
		for (size_t i = 0; i < v.nres; i++) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "pod", json_object_new_string(v.res[i].pod));
			json_object_object_add(e, "client",
					       json_object_new_string(v.res[i].client));
			json_object_object_add(e, "bytes", json_object_new_uint64(v.res[i].bytes));
			json_object_array_add(res, e);
		}
		json_object_object_add(o, "pods", pods);
		json_object_object_add(o, "reservations", res);
		json_object_object_add(o, "malformed", json_object_new_uint64(v.nbad));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
		json_object_put(o);
	} else {
		char t[32], f[32], r[32];

		printf("%-24s %-6s %12s %12s %12s %8s  %s\n", "POD", "FABRIC", "TOTAL",
		       "FREE", "RESERVED", "AGE", "STATE");
		for (size_t i = 0; i < v.npods; i++) {
			const struct registry_pod *p = &v.pods[i];
			long age = p->started ? (long)(now - p->started) : 0;

			printf("%-24s %-6s %12s %12s %12s %7lds  %s\n", p->addr, p->fabric,
			       pvm_format_size(p->total, t, sizeof(t)),
			       pvm_format_size(p->free, f, sizeof(f)),
			       pvm_format_size(p->reserved, r, sizeof(r)), age,
			       p->draining ? "draining" : "up");
		}
		if (v.nres) {
			printf("\n%-24s %-32s %12s\n", "RESERVED ON", "CLIENT", "BYTES");
			for (size_t i = 0; i < v.nres; i++)
				printf("%-24s %-32s %12s%s\n", v.res[i].pod, v.res[i].client,
				       pvm_format_size(v.res[i].bytes, r, sizeof(r)),
				       registry_view_pod(&v, v.res[i].pod) ? ""
				       : "  (pod not registered)");
		}
	}
	if (v.nbad)
		pvm_err("registry: %zu malformed entries ignored, e.g. %s", v.nbad,
			v.bad_example);
	registry_view_free(&v);
	return 0;
}

struct one_pod {
	const char *pod, *client;
	uint64_t add;
	uint64_t have;          /* out: total after */
	bool missing;
};

/* Plan: what @client holds on the pod plus @add, if it fits. */
static int plan_one(const struct registry_view *v, void *arg,
		    struct registry_hold *holds, size_t max)
{
	struct one_pod *o = arg;
	const struct registry_pod *p = registry_view_pod(v, o->pod);
	uint64_t mine, others;
	size_t k = 0;

	if (!p) {
		o->missing = true;
		return -ENOENT;
	}
	mine = registry_view_mine(v, o->pod, o->client);
	others = p->reserved - PVM_MIN(p->reserved, mine);
	if (p->draining || others + mine + o->add > p->total)
		return -ENOSPC;
	/* Keep the client's reservations on other pods as they are. */
	for (size_t i = 0; i < v->nres && k + 1 < max; i++) {
		if (strcmp(v->res[i].client, o->client) || !strcmp(v->res[i].pod, o->pod) ||
		    !registry_view_pod(v, v->res[i].pod))
			continue;
		snprintf(holds[k].pod, sizeof(holds[k].pod), "%s", v->res[i].pod);
		holds[k++].bytes = v->res[i].bytes;
	}
	snprintf(holds[k].pod, sizeof(holds[k].pod), "%s", o->pod);
	holds[k++].bytes = mine + o->add;
	o->have = mine + o->add;
	return (int)k;
}

static int reserve(struct etcd_client *c, const char *prefix, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pod", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },
		{ "id", required_argument, NULL, 'i' },
		{ "ttl", required_argument, NULL, 't' },
		{ "hold-read", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct one_pod o = { 0 };
	struct registry_reserve_stats st;
	struct registry_hold holds[64];
	unsigned long ttl = 60, hold = 0;
	char why[200], sz[32];
	int64_t lease;
	size_t n;
	int opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'p': o.pod = optarg; break;
		case 'i': o.client = optarg; break;
		case 's':
			if (pvm_parse_size(optarg, &o.add) || !o.add) {
				pvm_err("registry reserve: --size '%s' is not a size", optarg);
				return 2;
			}
			break;
		case 't':
		case 'w':
			errno = 0;
			if (opt == 't')
				ttl = strtoul(optarg, &end, 10);
			else
				hold = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg ||
			    (opt == 't' ? ttl < 2 || ttl > 86400 : hold > 60000)) {
				pvm_err("registry reserve: --%s '%s' is out of range",
					opt == 't' ? "ttl" : "hold-read", optarg);
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (!o.pod || !o.client || !o.add) {
		pvm_err("registry reserve: --pod, --size and --id are required");
		return 2;
	}
	if (registry_name_check(o.client, REGISTRY_ID_MAX, why, sizeof(why)) ||
	    registry_name_check(o.pod, REGISTRY_ADDR_MAX - 1, why, sizeof(why))) {
		pvm_err("registry reserve: %s", why);
		return 2;
	}
	rc = etcd_lease_grant(c, (int64_t)ttl, &lease);
	if (rc) {
		pvm_err("registry: %s", etcd_error(c));
		return 1;
	}
	rc = registry_reserve(c, prefix, o.client, lease, plan_one, &o, holds,
			      PVM_ARRAY_SIZE(holds), &n, (unsigned)hold, &st);
	if (rc) {
		etcd_lease_revoke(c, lease);
		if (rc == -ENOSPC)
			pvm_err("registry reserve: no room for %s more on pod %s "
				"(after %u conflicts)", pvm_format_size(o.add, sz, sizeof(sz)),
				o.pod, st.conflicts);
		else if (o.missing)
			pvm_err("registry reserve: pod %s is not registered under %s",
				o.pod, prefix);
		else if (rc == -EBUSY)
			pvm_err("registry reserve: gave up after %u conflicting "
				"transactions", st.conflicts);
		else
			pvm_err("registry: %s", etcd_error(c));
		return 1;
	}
	printf("reserved %s on %s for %s (lease %" PRIx64 ", %u conflicts)\n",
	       pvm_format_size(o.have, sz, sizeof(sz)), o.pod, o.client,
	       (uint64_t)lease, st.conflicts);
	return 0;
}

int registry_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "etcd", required_argument, NULL, 'e' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *endpoints = getenv("POOLVM_ETCD"), *prefix = REGISTRY_PREFIX_DEFAULT;
	struct etcd_client *c;
	char why[200];
	int opt, rc;

	optind = 1;
	/* '+': stop at the command; its options are its own. */
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'e': endpoints = optarg; break;
		case 'p': prefix = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try 'poolvm registry --help'.\n");
			return 2;
		}
	}
	if (optind >= argc) {
		pvm_err("registry: no command; see 'poolvm registry --help'");
		return 2;
	}
	if (registry_prefix_check(prefix, why, sizeof(why))) {
		pvm_err("registry: --prefix: %s", why);
		return 2;
	}
	if (!endpoints || !*endpoints) {
		pvm_err("registry: no etcd given: --etcd http://HOST:2379 (or set POOLVM_ETCD)");
		return 2;
	}
	if (etcd_open(endpoints, &c))
		return 2;
	argc -= optind;
	argv += optind;
	if (!strcmp(argv[0], "ls")) {
		bool json = argc == 2 && !strcmp(argv[1], "--json");

		if (argc > 2 || (argc == 2 && !json)) {
			pvm_err("registry ls: unexpected '%s' (only --json)", argv[1]);
			rc = 2;
		} else {
			rc = ls(c, prefix, json);
		}
	} else if (!strcmp(argv[0], "reserve")) {
		rc = reserve(c, prefix, argc, argv);
	} else if (!strcmp(argv[0], "release")) {
		if (argc != 3 || strcmp(argv[1], "--id")) {
			pvm_err("registry release: write release --id CLIENT");
			rc = 2;
		} else if (registry_release(c, prefix, argv[2])) {
			pvm_err("registry: %s", etcd_error(c));
			rc = 1;
		} else {
			rc = 0;
		}
	} else {
		pvm_err("registry: no command '%s' (ls, reserve, release)", argv[0]);
		rc = 2;
	}
	etcd_close(c);
	return rc;
}
