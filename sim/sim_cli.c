/* sim/sim_cli.c — "poolvm sim": options, the run matrix, table, JSON, plot. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common.h"
#include "plot.h"
#include "policy.h"
#include "learned_model.h"
#include "sim.h"
#include "sim_cli.h"
#include "trace.h"

/* The policy another engineer's model will register; looked up by name. */
#define SIM_LEARNED "learned"
#define SIM_OPT     "opt"

/* Table and plot order: the list, then any other registered policy,
 * then OPT. */
static const char *const preferred_order[] = {
	"lru", "clock", "arc", "s3fifo", "sieve", "lecar", SIM_LEARNED,
};

#define MAX_POLICIES 64

struct cli_policy {
	const char *name;
	const struct swap_policy_ops *ops;      /* NULL: OPT */
	bool selected;
};

struct cli {
	FILE *out;
	const char **traces;
	size_t ntraces;
	char **cache_specs;
	size_t ncache;
	struct cli_policy policies[MAX_POLICIES];
	size_t npolicies;
	bool learned_noted;
	bool sweep, json, zstd;
	const char *plot;
	const char *convert;
	const char *model_path;
	struct learned_model *model;            /* --model, for the learned policy */
	const char *prefetch;                   /* --prefetch LIST */
	const char *prefetch_policy;            /* --prefetch-policy, default clock */
	int name_width;                         /* of the trace column */
	bool header_printed;
	uint64_t decisions, decision_ns;        /* the learned policy's, timed */
};

/* One trace's results, kept for the plot. */
struct trace_results {
	char title[256];
	size_t *sizes;
	size_t nsizes;
	size_t footprint;
	double *miss_ratio;                     /* [size][policy], in % */
};

static void sim_usage(FILE *f, const struct cli *c)
{

	fprintf(f,
"NAME\n"
"    poolvm sim - replay a page access trace under eviction policies\n"
"\n"
"SYNOPSIS\n"
"    poolvm sim --trace FILE... [--cache N|P%%[,...]]... [--sweep]\n"
"               [--policy NAME[,...]|all]... [--json] [--plot FILE.png]\n"
"    poolvm sim --trace FILE --convert OUT [--zstd]\n"
"\n"
"DESCRIPTION\n"
"    Replays each trace with a cache of each size under each policy and\n"
"    reports misses, the miss ratio, the gap to Belady's OPT (the fewest\n"
"    misses any policy can have) and what each policy's decisions cost.\n"
"    For every access: a resident page is a hit and the policy is told of\n"
"    the use; otherwise it is a miss, and when the cache is full the policy\n"
"    picks a victim before the page is brought in. The policies are the\n"
"    ones the pager runs (swap/policies/), unchanged.\n"
"\n"
"OPTIONS\n"
"    -t, --trace FILE\n"
"        A trace to replay (text or binary, see TRACE FORMATS). Repeatable.\n"
"    -c, --cache N|P%%\n"
"        Cache size: N pages, or P percent of the trace's footprint (its\n"
"        distinct pages; P from 0 exclusive to 100, decimals allowed),\n"
"        rounded to the nearest page. Repeatable or a comma list. Default:\n"
"        10%%,25%%,50%%.\n"
"    --sweep\n"
"        Add the sizes 5%%, 10%%, ..., 100%% of the footprint (for --plot).\n"
"    -p, --policy NAME\n"
"        Repeatable or a comma list; 'all' (the default) is every policy\n"
"        below and opt. Available:\n");
	for (size_t i = 0; i < c->npolicies; i++)
		if (c->policies[i].ops)
			fprintf(f, "          %-12s %s\n", c->policies[i].name, c->policies[i].ops->help);
	fprintf(f,
"          %-12s Belady's OPT: evicts the page used farthest in the future\n"
"                       (offline; the bound every other policy is compared with)\n"
"        '" SIM_LEARNED "' is the learned policy; where it is not registered in\n"
"        this build, asking for it says so and the table skips it.\n"
"    --json\n"
"        Instead of the table, print one JSON object per run (one per line)\n"
"        with trace, policy, cache_pages, cache_fraction, footprint,\n"
"        accesses, hits, misses, miss_ratio, opt_misses, opt_miss_ratio,\n"
"        gap_points, misses_vs_opt and ns_per_access; for the learned\n"
"        policy also ns_per_decision: the mean time of one evict() call,\n"
"        timed call by call in a replay of its own (two clock reads each\n"
"        included).\n"
"    --plot FILE.png\n"
"        Draw the miss ratio against the cache size (%% of footprint) for\n"
"        each policy, one panel per trace.%s\n"
"    --prefetch NAME[,...]\n"
"        After each size's policy rows, replay with each prefetcher (none,\n"
"        stride, learned) asked on every miss, under --prefetch-policy\n"
"        (default clock), and report misses, pages prefetched, accuracy\n"
"        (prefetched pages used before eviction) and coverage (prefetch hits\n"
"        / (prefetch hits + misses)).\n"
"    --model FILE\n"
"        The learned policy starts from this model (poolvm train) instead of\n"
"        the one built in.\n"
"    --convert OUT\n"
"        Write the one --trace given as a binary trace to OUT; no replay.\n"
"    --zstd\n"
"        With --convert: compress the records with zstd.%s\n"
"    -h, --help\n"
"        This help.\n"
"\n"
"TRACE FORMATS\n"
"    Text: one accessed page number (guest-physical address / 4096) per\n"
"    line, decimal or 0x-hex, optionally followed by ' W' for a write;\n"
"    blank lines and '#' comments are ignored. A malformed line is an error\n"
"    naming the file and the line (e.g. 'trace.txt:17: expected a page\n"
"    number'). Binary: files starting with 'PVMTRACE', as the pager records\n"
"    them (delta- and varint-encoded, optionally zstd); see docs/sim.md.\n"
"\n"
"OUTPUT\n"
"    The table has one row per run: MISS%% is the miss ratio; GAP is the\n"
"    miss ratio minus OPT's, in percentage points; xOPT is misses divided\n"
"    by OPT's; NS/ACC is the wall time of the replay loop divided by the\n"
"    accesses, i.e. the policy's decision cost plus a few ns of simulator\n"
"    bookkeeping (compare with fifo, which decides nothing). A replay under\n"
"    50 ms is repeated up to 5 times and the fastest counts.\n"
"\n"
"EXIT STATUS\n"
"    0 on success, 1 when a trace cannot be read, a policy misbehaves, no\n"
"    requested policy is available or the plot cannot be written, 2 for a\n"
"    usage error.\n"
"\n"
"EXAMPLES\n"
"    poolvm sim --trace sim/traces/zipf.pvmt --cache 25%% --policy lru,arc,opt\n"
"    poolvm sim -t a.txt -t b.txt --sweep --plot mrc.png\n"
"    poolvm sim --trace recorded.pvmt --cache 4096 --json\n",
		SIM_OPT, sim_plot_available() ? "" : "\n        (Not in this build: it has no cairo.)",
		sim_trace_have_zstd() ? "" : "\n        (Not in this build: it has no libzstd.)");
}

/* ---- policies ---------------------------------------------------------- */

static const struct swap_policy_ops *registered(const char *name)
{
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++)
		if (strcmp((*k)->name, name) == 0)
			return *k;
	return NULL;
}

static void add_policy(struct cli *c, const char *name, const struct swap_policy_ops *ops)
{
	for (size_t i = 0; i < c->npolicies; i++)
		if (strcmp(c->policies[i].name, name) == 0)
			return;
	if (c->npolicies < MAX_POLICIES - 1)
		c->policies[c->npolicies++] = (struct cli_policy){ .name = name, .ops = ops };
}

static void list_policies(struct cli *c)
{
	for (size_t i = 0; i < PVM_ARRAY_SIZE(preferred_order); i++) {
		const struct swap_policy_ops *ops = registered(preferred_order[i]);

		if (ops)
			add_policy(c, ops->name, ops);
	}
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++)
		add_policy(c, (*k)->name, *k);
	c->policies[c->npolicies++] = (struct cli_policy){ .name = SIM_OPT };
}

static void note_learned_missing(struct cli *c)
{
	if (c->learned_noted)
		return;
	c->learned_noted = true;
	pvm_err("policy '" SIM_LEARNED "' is not available: no learned policy is registered in this build; skipping it");
}

static int select_policy(struct cli *c, const char *name)
{
	bool found = false;

	for (size_t i = 0; i < c->npolicies; i++) {
		if (strcmp(name, "all") == 0 || strcmp(name, c->policies[i].name) == 0) {
			c->policies[i].selected = true;
			found = true;
		}
	}
	if (strcmp(name, "all") == 0 && !registered(SIM_LEARNED))
		note_learned_missing(c);
	else if (strcmp(name, SIM_LEARNED) == 0 && !found)
		note_learned_missing(c);
	else if (!found) {
		pvm_err("--policy: unknown policy '%s'; see --help for the list", name);
		return -EINVAL;
	}
	return 0;
}

static size_t selected_count(const struct cli *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->npolicies; i++)
		n += c->policies[i].selected;
	return n;
}

/* ---- option lists ------------------------------------------------------ */

static int add_cache_specs(struct cli *c, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t pages;
		char **specs;

		/* Check the syntax now; fractions are resolved per trace. */
		if (sim_cache_pages(tok, 100, &pages) < 0) {
			pvm_err("--cache: '%s' is not a number of pages or a percentage from 0 to 100 (e.g. 4096, 25%%)",
				tok);
			ret = -EINVAL;
			break;
		}
		specs = realloc(c->cache_specs, (c->ncache + 1) * sizeof(*specs));
		if (!specs || !(specs[c->ncache] = strdup(tok))) {
			if (specs)
				c->cache_specs = specs;
			ret = -ENOMEM;
			break;
		}
		c->cache_specs = specs;
		c->ncache++;
	}
	if (*arg == '\0' || arg[strlen(arg) - 1] == ',') {
		pvm_err("--cache: empty size in '%s'", arg);
		ret = -EINVAL;
	}
	free(copy);
	return ret;
}

static int add_policies(struct cli *c, const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !ret; tok = strtok_r(NULL, ",", &save))
		ret = select_policy(c, tok);
	if (*arg == '\0') {
		pvm_err("--policy: empty name");
		ret = -EINVAL;
	}
	free(copy);
	return ret;
}

static int add_trace(struct cli *c, const char *path)
{
	const char **traces = realloc(c->traces, (c->ntraces + 1) * sizeof(*traces));

	if (!traces)
		return -ENOMEM;
	traces[c->ntraces++] = path;
	c->traces = traces;
	return 0;
}

static void cli_free(struct cli *c)
{
	for (size_t i = 0; i < c->ncache; i++)
		free(c->cache_specs[i]);
	free(c->cache_specs);
	free(c->traces);
	free(c->model);
}

/* ---- output ------------------------------------------------------------ */

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash && slash[1] ? slash + 1 : path;
}

static double ratio(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : 0.0;
}

static void print_header(const struct cli *c)
{
	fprintf(c->out, "%-*s  %-12s %9s %6s %10s %10s %7s %8s %6s %8s\n", c->name_width,
		"TRACE", "POLICY", "CACHE", "%FOOT", "ACCESSES", "MISSES", "MISS%", "GAP",
		"xOPT", "NS/ACC");
}

static void print_row(struct cli *c, const char *trace, const struct cli_policy *p,
		      size_t cache, size_t footprint, const struct sim_result *r,
		      const struct sim_result *opt)
{
	double miss = 100 * ratio(r->misses, r->accesses);
	double opt_miss = 100 * ratio(opt->misses, opt->accesses);
	char vs_opt[16], ns[16];

	if (opt->misses)
		snprintf(vs_opt, sizeof(vs_opt), "%.2f", ratio(r->misses, opt->misses));
	else
		snprintf(vs_opt, sizeof(vs_opt), "%s", r->misses ? "-" : "1.00");
	c->decisions += r->decisions;
	c->decision_ns += r->decision_ns;
	if (p->ops)
		snprintf(ns, sizeof(ns), "%.1f", ratio(r->policy_ns, r->accesses));
	else
		snprintf(ns, sizeof(ns), "-");
	if (!c->header_printed) {
		print_header(c);
		c->header_printed = true;
	}
	fprintf(c->out, "%-*s  %-12s %9zu %6.1f %10llu %10llu %7.2f %+8.2f %6s %8s\n",
		c->name_width, base_name(trace), p->name, cache,
		100 * ratio(cache, footprint), (unsigned long long)r->accesses,
		(unsigned long long)r->misses, miss, miss - opt_miss, vs_opt, ns);
}

static void json_add_fixed(struct json_object *o, const char *key, double v, int decimals)
{
	char text[64];

	snprintf(text, sizeof(text), "%.*f", decimals, v);
	json_object_object_add(o, key, json_object_new_double_s(v, text));
}

static void print_json(const struct cli *c, const char *trace, const struct cli_policy *p,
		       size_t cache, size_t footprint, const struct sim_result *r,
		       const struct sim_result *opt)
{
	struct json_object *o = json_object_new_object();
	double miss = ratio(r->misses, r->accesses);
	double opt_miss = ratio(opt->misses, opt->accesses);

	if (!o)
		return;
	json_object_object_add(o, "trace", json_object_new_string(trace));
	json_object_object_add(o, "policy", json_object_new_string(p->name));
	json_object_object_add(o, "cache_pages", json_object_new_uint64(cache));
	json_add_fixed(o, "cache_fraction", ratio(cache, footprint), 6);
	json_object_object_add(o, "footprint", json_object_new_uint64(footprint));
	json_object_object_add(o, "accesses", json_object_new_uint64(r->accesses));
	json_object_object_add(o, "hits", json_object_new_uint64(r->accesses - r->misses));
	json_object_object_add(o, "misses", json_object_new_uint64(r->misses));
	json_add_fixed(o, "miss_ratio", miss, 6);
	json_object_object_add(o, "opt_misses", json_object_new_uint64(opt->misses));
	json_add_fixed(o, "opt_miss_ratio", opt_miss, 6);
	json_add_fixed(o, "gap_points", 100 * (miss - opt_miss), 4);
	if (opt->misses)
		json_add_fixed(o, "misses_vs_opt", ratio(r->misses, opt->misses), 4);
	else
		json_object_object_add(o, "misses_vs_opt", NULL);
	if (p->ops)
		json_add_fixed(o, "ns_per_access", ratio(r->policy_ns, r->accesses), 2);
	else
		json_object_object_add(o, "ns_per_access", NULL);
	if (r->decisions)
		json_add_fixed(o, "ns_per_decision", ratio(r->decision_ns, r->decisions), 1);
	fprintf(c->out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

/* ---- runs -------------------------------------------------------------- */

static int compare_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* The cache sizes for a trace of @footprint pages: sorted, no duplicates. */
static int resolve_sizes(const struct cli *c, size_t footprint, struct trace_results *tr)
{
	static const char *const defaults[] = { "10%", "25%", "50%" };
	size_t max = c->ncache + 20 + PVM_ARRAY_SIZE(defaults), n = 0;
	size_t *sizes = malloc(max * sizeof(*sizes));
	char pct[8];

	if (!sizes)
		return -ENOMEM;
	for (size_t i = 0; i < c->ncache; i++)
		sim_cache_pages(c->cache_specs[i], footprint, &sizes[n++]);
	for (unsigned p = 5; c->sweep && p <= 100; p += 5) {
		snprintf(pct, sizeof(pct), "%u%%", p);
		sim_cache_pages(pct, footprint, &sizes[n++]);
	}
	for (size_t i = 0; !c->ncache && !c->sweep && i < PVM_ARRAY_SIZE(defaults); i++)
		sim_cache_pages(defaults[i], footprint, &sizes[n++]);
	qsort(sizes, n, sizeof(*sizes), compare_size);
	tr->nsizes = 0;
	for (size_t i = 0; i < n; i++)
		if (!tr->nsizes || sizes[tr->nsizes - 1] != sizes[i])
			sizes[tr->nsizes++] = sizes[i];
	tr->sizes = sizes;
	return 0;
}

/* A replay shorter than the budget is timed again, up to TIMING_RUNS times,
 * and the fastest run counts: one run of a small trace mostly measures
 * cold caches and the first touch of the policy's memory. */
#define TIMING_RUNS       5
#define TIMING_BUDGET_NS  (50 * 1000 * 1000ULL)

static int replay_timed(const struct sim_workload *w, const struct swap_policy_ops *ops,
			size_t cache, struct sim_result *r, char err[SIM_TRACE_ERR_LEN])
{
	uint64_t spent;
	int ret;

	ret = sim_replay_policy(w, ops, cache, r, err);
	spent = r->policy_ns;
	for (int i = 1; ret == 0 && i < TIMING_RUNS && spent < TIMING_BUDGET_NS; i++) {
		struct sim_result again;

		ret = sim_replay_policy(w, ops, cache, &again, err);
		spent += again.policy_ns;
		if (ret == 0 && again.policy_ns < r->policy_ns)
			r->policy_ns = again.policy_ns;
	}
	/* The learned policy's decisions are timed one by one in a run of
	 * their own (the clock reads would weigh on the loop's time). */
	if (ret == 0 && strcmp(ops->name, SIM_LEARNED) == 0) {
		struct sim_workload timed = *w;
		struct sim_result d;

		timed.time_decisions = true;
		ret = sim_replay_policy(&timed, ops, cache, &d, err);
		r->decisions = d.decisions;
		r->decision_ns = d.decision_ns;
	}
	return ret;
}

static int run_prefetchers(struct cli *c, struct sim_workload *w, const char *path,
			   size_t cache);

static int run_trace(struct cli *c, const char *path, struct trace_results *tr)
{
	char err[SIM_TRACE_ERR_LEN];
	struct sim_workload w;
	struct sim_trace t;
	size_t nsel = 0;
	int ret;

	ret = sim_trace_load(path, &t, err);
	if (ret < 0) {
		pvm_err("%s", err);
		return ret;
	}
	ret = sim_workload_init(&w, &t);
	if (ret < 0) {
		pvm_err("%s: cannot index the trace: %s", path, strerror(-ret));
		goto out_trace;
	}
	w.policy_model = c->model;
	tr->footprint = w.footprint;
	snprintf(tr->title, sizeof(tr->title), "%s (%zu pages, %zu accesses)",
		 base_name(path), w.footprint, t.count);
	ret = resolve_sizes(c, w.footprint, tr);
	if (ret < 0)
		goto out_workload;
	tr->miss_ratio = calloc(tr->nsizes * c->npolicies, sizeof(*tr->miss_ratio));
	if (!tr->miss_ratio) {
		ret = -ENOMEM;
		goto out_workload;
	}
	for (size_t s = 0; s < tr->nsizes; s++) {
		struct sim_result opt, r;

		ret = sim_replay_opt(&w, tr->sizes[s], &opt);
		if (ret < 0) {
			pvm_err("%s: OPT with %zu pages: %s", path, tr->sizes[s], strerror(-ret));
			goto out_workload;
		}
		nsel = 0;
		for (size_t i = 0; i < c->npolicies; i++) {
			const struct cli_policy *p = &c->policies[i];

			if (!p->selected)
				continue;
			if (!p->ops) {
				r = opt;
			} else {
				ret = replay_timed(&w, p->ops, tr->sizes[s], &r, err);
				if (ret < 0) {
					pvm_err("%s: %zu pages: %s", path, tr->sizes[s], err);
					goto out_workload;
				}
			}
			tr->miss_ratio[s * c->npolicies + nsel++] = 100 * ratio(r.misses, r.accesses);
			if (c->json)
				print_json(c, path, p, tr->sizes[s], w.footprint, &r, &opt);
			else
				print_row(c, path, p, tr->sizes[s], w.footprint, &r, &opt);
		}
		fflush(c->out);
		ret = run_prefetchers(c, &w, path, tr->sizes[s]);
		if (ret < 0)
			goto out_workload;
	}
	ret = 0;
out_workload:
	sim_workload_fini(&w);
out_trace:
	sim_trace_free(&t);
	return ret;
}

/* --prefetch: each named prefetcher with the prefetch policy at @cache. */
static int run_prefetchers(struct cli *c, struct sim_workload *w, const char *path,
			   size_t cache)
{
	const struct swap_policy_ops *pol = NULL;
	char buf[256], *save = NULL, *name, err[SIM_TRACE_ERR_LEN];

	if (!c->prefetch)
		return 0;
	for (const struct swap_policy_ops *const *k = swap_policy_kinds(); *k; k++)
		if (!strcmp((*k)->name, c->prefetch_policy ? c->prefetch_policy : "clock"))
			pol = *k;
	if (!pol) {
		pvm_err("--prefetch-policy %s: no such policy", c->prefetch_policy);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", c->prefetch);
	for (name = strtok_r(buf, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		const struct swap_prefetch_ops *pf = NULL;
		struct sim_prefetch_result r;
		int ret;

		for (const struct swap_prefetch_ops *const *k = swap_prefetch_kinds(); *k; k++)
			if (!strcmp((*k)->name, name))
				pf = *k;
		if (!pf) {
			pvm_err("--prefetch %s: no such prefetcher", name);
			return -EINVAL;
		}
		ret = sim_replay_prefetch(w, pol, pf, cache, 64, &r, err);
		if (ret < 0) {
			pvm_err("%s: %zu pages, prefetch %s: %s", path, cache, name, err);
			return ret;
		}
		if (c->json) {
			fprintf(c->out, "{\"trace\":\"%s\",\"prefetch\":\"%s\",\"policy\":\"%s\","
				"\"cache_pages\":%zu,\"accesses\":%llu,\"misses\":%llu,"
				"\"miss_ratio\":%.6f,\"prefetched\":%llu,\"used\":%llu,"
				"\"wasted\":%llu,\"accuracy\":%.4f,\"coverage\":%.4f}\n",
				path, name, pol->name, cache, (unsigned long long)r.accesses,
				(unsigned long long)r.misses, ratio(r.misses, r.accesses),
				(unsigned long long)r.prefetched, (unsigned long long)r.used,
				(unsigned long long)r.wasted, ratio(r.used, r.prefetched),
				ratio(r.used, r.used + r.misses));
		} else {
			fprintf(c->out, "  prefetch %-8s (%s, %zu pages): misses %llu (%.2f%%), "
				"prefetched %llu, accuracy %.1f%%, coverage %.1f%%\n", name,
				pol->name, cache, (unsigned long long)r.misses,
				100 * ratio(r.misses, r.accesses), (unsigned long long)r.prefetched,
				100 * ratio(r.used, r.prefetched), 100 * ratio(r.used, r.used + r.misses));
		}
	}
	fflush(c->out);
	return 0;
}

static int write_plot(const struct cli *c, struct trace_results *trs)
{
	size_t nsel = selected_count(c);
	struct sim_plot_panel *panels = calloc(c->ntraces, sizeof(*panels));
	struct sim_plot_series *series = calloc(c->ntraces * nsel, sizeof(*series));
	struct sim_plot_point *points;
	size_t total = 0, used = 0;
	char err[SIM_TRACE_ERR_LEN];
	int ret = -ENOMEM;

	for (size_t t = 0; t < c->ntraces; t++)
		total += trs[t].nsizes * nsel;
	points = calloc(total ? total : 1, sizeof(*points));
	if (!panels || !series || !points) {
		pvm_err("--plot: out of memory");
		goto out;
	}
	for (size_t t = 0; t < c->ntraces; t++) {
		struct sim_plot_series *ser = &series[t * nsel];
		size_t k = 0;

		for (size_t i = 0; i < c->npolicies; i++) {
			if (!c->policies[i].selected)
				continue;
			ser[k].label = c->policies[i].name;
			ser[k].style = (unsigned)i;     /* by policy, not by selection */
			ser[k].dashed = c->policies[i].ops == NULL;
			ser[k].points = &points[used];
			ser[k].count = trs[t].nsizes;
			for (size_t s = 0; s < trs[t].nsizes; s++) {
				points[used].x = 100 * ratio(trs[t].sizes[s], trs[t].footprint);
				points[used].y = trs[t].miss_ratio[s * c->npolicies + k];
				used++;
			}
			k++;
		}
		panels[t] = (struct sim_plot_panel){
			.title = trs[t].title,
			.x_label = "cache size (% of the trace's distinct pages)",
			.y_label = "miss ratio (%)",
			.series = ser,
			.count = nsel,
		};
	}
	ret = sim_plot_png(c->plot, panels, c->ntraces, err);
	if (ret < 0)
		pvm_err("%s", err);
out:
	free(points);
	free(series);
	free(panels);
	return ret;
}

static int run_all(struct cli *c)
{
	struct trace_results *trs = calloc(c->ntraces, sizeof(*trs));
	int ret = 0;

	if (!trs) {
		pvm_err("out of memory");
		return 1;
	}
	c->name_width = 5;
	for (size_t i = 0; i < c->ntraces; i++) {
		int len = (int)strlen(base_name(c->traces[i]));

		c->name_width = len > c->name_width ? len : c->name_width;
	}
	for (size_t i = 0; i < c->ntraces && ret == 0; i++)
		ret = run_trace(c, c->traces[i], &trs[i]);
	if (ret == 0 && !c->json)
		fprintf(c->out,
			"\nMISS%%: misses / accesses. GAP: MISS%% minus OPT's, in points. xOPT: misses / OPT's.\n"
			"NS/ACC: replay loop time / accesses: the policy's decisions plus a few ns of\n"
			"simulator bookkeeping (fifo, which decides nothing, shows that floor).\n");
	if (ret == 0 && !c->json && c->decisions)
		fprintf(c->out, "learned: %.0f ns per decision (evict(), timed call by call, "
			"%llu calls)\n", ratio(c->decision_ns, c->decisions),
			(unsigned long long)c->decisions);
	if (ret == 0 && c->plot)
		ret = write_plot(c, trs);
	for (size_t i = 0; i < c->ntraces; i++) {
		free(trs[i].sizes);
		free(trs[i].miss_ratio);
	}
	free(trs);
	return ret < 0 ? 1 : 0;
}

static int run_convert(struct cli *c)
{
	struct sim_trace_reader *r;
	struct sim_trace_writer *w;
	struct sim_trace_record rec;
	char err[SIM_TRACE_ERR_LEN];
	uint64_t n = 0;
	int ret, wret;

	if (c->ntraces != 1) {
		pvm_err("--convert: give exactly one --trace");
		return 2;
	}
	ret = sim_trace_reader_open(c->traces[0], &r, err);
	if (ret < 0) {
		pvm_err("%s", err);
		return 1;
	}
	ret = sim_trace_writer_open(c->convert, 0, c->zstd ? SIM_TRACE_ZSTD : 0, &w);
	if (ret < 0) {
		pvm_err("cannot create %s: %s", c->convert, strerror(-ret));
		sim_trace_reader_close(r);
		return 1;
	}
	while ((ret = sim_trace_reader_next(r, &rec)) > 0) {
		ret = sim_trace_writer_append(w, &rec);
		if (ret < 0)
			break;
		n++;
	}
	if (ret < 0 && sim_trace_reader_error(r)[0])
		pvm_err("%s", sim_trace_reader_error(r));
	else if (ret < 0)
		pvm_err("cannot write %s: %s", c->convert, strerror(-ret));
	wret = sim_trace_writer_close(w);
	if (ret == 0 && wret < 0) {
		pvm_err("cannot write %s: %s", c->convert, strerror(-wret));
		ret = wret;
	}
	sim_trace_reader_close(r);
	if (ret < 0)
		return 1;
	fprintf(c->out, "%s: %llu records written\n", c->convert, (unsigned long long)n);
	return 0;
}

enum { OPT_SWEEP = 256, OPT_JSON, OPT_PLOT, OPT_CONVERT, OPT_ZSTD, OPT_MODEL,
       OPT_PREFETCH, OPT_PREFETCH_POLICY };

static int parse_options(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trace", required_argument, NULL, 't' },
		{ "cache", required_argument, NULL, 'c' },
		{ "policy", required_argument, NULL, 'p' },
		{ "sweep", no_argument, NULL, OPT_SWEEP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "plot", required_argument, NULL, OPT_PLOT },
		{ "convert", required_argument, NULL, OPT_CONVERT },
		{ "zstd", no_argument, NULL, OPT_ZSTD },
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "prefetch", required_argument, NULL, OPT_PREFETCH },
		{ "prefetch-policy", required_argument, NULL, OPT_PREFETCH_POLICY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool any_policy = false;
	int opt, ret = 0;

	optind = 0;     /* reset getopt: the CLI may run more than once */
	opterr = 0;     /* its messages are ours to print */
	while (ret == 0 && (opt = getopt_long(argc, argv, "+:t:c:p:h", opts, NULL)) != -1) {
		switch (opt) {
		case 't': ret = add_trace(c, optarg); break;
		case 'c': ret = add_cache_specs(c, optarg); break;
		case 'p': ret = add_policies(c, optarg); any_policy = true; break;
		case OPT_SWEEP: c->sweep = true; break;
		case OPT_JSON: c->json = true; break;
		case OPT_PLOT: c->plot = optarg; break;
		case OPT_CONVERT: c->convert = optarg; break;
		case OPT_ZSTD: c->zstd = true; break;
		case OPT_MODEL: c->model_path = optarg; break;
		case OPT_PREFETCH: c->prefetch = optarg; break;
		case OPT_PREFETCH_POLICY: c->prefetch_policy = optarg; break;
		case 'h': sim_usage(c->out, c); return 1;
		case ':':
			pvm_err("%s needs an argument; see --help", argv[optind - 1]);
			return -EINVAL;
		default:
			if (optopt)
				pvm_err("unknown option '-%c'; see --help", optopt);
			else
				pvm_err("unknown option '%s'; see --help", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (ret < 0)
		return ret;
	if (optind < argc) {
		pvm_err("unexpected argument '%s'; see --help", argv[optind]);
		return -EINVAL;
	}
	if (!c->ntraces) {
		pvm_err("no --trace given; see --help");
		return -EINVAL;
	}
	if (c->zstd && !c->convert) {
		pvm_err("--zstd only applies to --convert");
		return -EINVAL;
	}
	if (c->model_path) {
		char err[512];

		c->model = malloc(sizeof(*c->model));
		if (!c->model)
			return -ENOMEM;
		ret = lm_load(c->model_path, c->model, err, sizeof(err));
		if (ret < 0) {
			pvm_err("--model: %s", err);
			return -EINVAL;
		}
	}
	if (!any_policy) {
		c->learned_noted = true;        /* not asked for by name: no note */
		ret = select_policy(c, "all");
	}
	return ret;
}

int sim_cli_run(int argc, char **argv, FILE *out)
{
	struct cli c = { .out = out };
	int ret;

	list_policies(&c);
	ret = parse_options(&c, argc, argv);
	if (ret != 0) {
		cli_free(&c);
		return ret > 0 ? 0 : 2;         /* > 0: --help */
	}
	if (c.convert) {
		ret = run_convert(&c);
	} else if (!selected_count(&c)) {
		pvm_err("none of the policies asked for is available");
		ret = 1;
	} else if (c.plot && !sim_plot_available()) {
		pvm_err("--plot: this build has no PNG support; install libcairo2-dev and rebuild");
		ret = 1;
	} else {
		ret = run_all(&c);
	}
	cli_free(&c);
	return ret;
}

int sim_cli_main(int argc, char **argv)
{
	return sim_cli_run(argc, argv, stdout);
}
