/* sim/train.c — `poolvm train`: the learned policy's prior from traces.
 *
 * Concepts: each trace is replayed once per cache size (fractions of its
 * footprint, default 10 %, 25 %, 50 %) under the learned policy starting
 * from an empty model, and every hit and eviction it counted by (class,
 * age) is kept: a page that is hit at age a is a label from its future
 * (it was worth keeping until a), one evicted at a is the other outcome.
 * Each (trace, size) pass is normalized to the same total before the
 * passes are added, so a long trace does not drown the others.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "learned_model.h"
#include "policy.h"
#include "sim.h"
#include "train.h"

#define TRAIN_PASS_WEIGHT 100000.0
#define TRAIN_MAX_TRACES  256
#define TRAIN_MAX_SIZES   16

static void usage(FILE *f)
{
	fprintf(f,
"NAME\n"
"    poolvm train - learn the learned eviction policy's model from traces\n"
"\n"
"SYNOPSIS\n"
"    poolvm train --trace FILE... --out MODEL [--sizes P%%[,...]]\n"
"                 [--emit-c FILE]\n"
"\n"
"DESCRIPTION\n"
"    Replays each trace once per cache size under the learned policy,\n"
"    starting from nothing, and keeps the hits and evictions it counted by\n"
"    page class (smoothed gap between accesses, access count) and age\n"
"    (swap/policies/learned_model.h): each page's future, as far as the\n"
"    cache could see it. Times are in accesses and scaled by the cache\n"
"    size, so one model serves all sizes. The learned policy starts from\n"
"    this model and keeps learning online.\n"
"\n"
"OPTIONS\n"
"    -t, --trace FILE   a trace (text or binary, as poolvm sim reads);\n"
"                       repeatable\n"
"    -o, --out MODEL    the model file to write (text; see learned_model.h)\n"
"    --sizes LIST       cache sizes to learn at, in %% of each trace's\n"
"                       footprint (default 10%%,25%%,50%%)\n"
"    --emit-c FILE      also write the model as C source, the form built\n"
"                       into poolvm (swap/policies/learned_builtin.inc)\n"
"    -h, --help         this help\n"
"\n"
"    Use it: poolvm sim --model MODEL ...; poolvm run --policy learned\n"
"    --policy-model MODEL ...\n"
"\n"
"EXIT STATUS\n"
"    0 written, 1 a trace could not be read or the model not written,\n"
"    2 usage error.\n");
}

/* One pass over @w (whose policy_model is an empty model) with @cache
 * pages under the learned policy; its counts go to @m. */
static int train_pass(const struct sim_workload *w, size_t cache, struct learned_model *m)
{
	const struct swap_policy_ops *const *k = swap_policy_kinds();
	struct swap_policy *p = NULL;
	struct sim_result r;
	char err[SIM_TRACE_ERR_LEN];
	int ret;

	while (*k && strcmp((*k)->name, "learned-core"))
		k++;
	if (!*k)
		return -ENOENT;
	ret = sim_replay_policy_keep(w, *k, cache, &r, err, &p);
	if (ret < 0) {
		pvm_err("train: %s", err);
		return ret;
	}
	ret = swap_policy_learned_counts(p, m);
	swap_policy_destroy(p);
	return ret;
}

static void normalize(struct learned_model *m, double total)
{
	double sum = lm_total(m);

	if (sum > 0)
		lm_scale(m, (float)(total / sum));
}

static int parse_sizes(const char *text, double *sizes, size_t *n)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		double v = strtod(tok, &end);

		if (end == tok || (*end && strcmp(end, "%")) || !(v > 0) || v > 100 ||
		    *n == TRAIN_MAX_SIZES)
			return -EINVAL;
		sizes[(*n)++] = v / 100.0;
	}
	return *n ? 0 : -EINVAL;
}

int train_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "trace", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "sizes", required_argument, NULL, 's' },
		{ "emit-c", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *traces[TRAIN_MAX_TRACES], *out = NULL, *emit_c = NULL;
	double sizes[TRAIN_MAX_SIZES] = { 0.10, 0.25, 0.50 };
	size_t ntraces = 0, nsizes = 3;
	struct learned_model *model = NULL, *pass = NULL, *empty = NULL;
	int opt, rc = 1;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+t:o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (ntraces == TRAIN_MAX_TRACES) {
				pvm_err("train: at most %d traces", TRAIN_MAX_TRACES);
				return 2;
			}
			traces[ntraces++] = optarg;
			break;
		case 'o': out = optarg; break;
		case 'c': emit_c = optarg; break;
		case 's':
			if (parse_sizes(optarg, sizes, &nsizes) < 0) {
				pvm_err("train: --sizes '%s': expected percentages such as "
					"10%%,25%%,50%% (0 < P <= 100, at most %d)", optarg,
					TRAIN_MAX_SIZES);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default:
			pvm_err("train: unknown option or missing value '%s'; see --help",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		pvm_err("train: unexpected argument '%s'; see --help", argv[optind]);
		return 2;
	}
	if (!ntraces || !out) {
		pvm_err("train: give at least one --trace and --out MODEL; see --help");
		return 2;
	}
	model = calloc(1, sizeof(*model));
	pass = calloc(1, sizeof(*pass));
	empty = calloc(1, sizeof(*empty));
	if (!model || !pass || !empty) {
		pvm_err("train: out of memory");
		goto done;
	}
	for (size_t i = 0; i < ntraces; i++) {
		char err[SIM_TRACE_ERR_LEN];
		struct sim_trace t;
		struct sim_workload w;
		int ret = sim_trace_load(traces[i], &t, err);

		if (ret < 0) {
			pvm_err("train: %s", err);
			goto done;
		}
		ret = sim_workload_init(&w, &t);
		if (ret < 0) {
			pvm_err("train: %s: cannot index the trace: %s", traces[i], strerror(-ret));
			sim_trace_free(&t);
			goto done;
		}
		w.policy_model = empty;         /* learn from nothing but the trace */
		for (size_t s = 0; s < nsizes && ret == 0; s++) {
			size_t cap = (size_t)((double)w.footprint * sizes[s] + 0.5);

			lm_clear(pass);
			ret = train_pass(&w, cap ? cap : 1, pass);
			normalize(pass, TRAIN_PASS_WEIGHT);
			lm_merge(model, pass, 1.0f);
		}
		fprintf(stderr, "train: %s: %zu accesses, %zu pages, %zu sizes\n",
			traces[i], t.count, w.footprint, nsizes);
		sim_workload_fini(&w);
		sim_trace_free(&t);
		if (ret < 0) {
			pvm_err("train: %s: %s", traces[i], strerror(-ret));
			goto done;
		}
	}
	if (lm_save(out, model) < 0) {
		pvm_err("train: cannot write %s: %s", out, strerror(errno));
		goto done;
	}
	if (emit_c && lm_save_c(emit_c, model) < 0) {
		pvm_err("train: cannot write %s: %s", emit_c, strerror(errno));
		goto done;
	}
	printf("train: %zu traces, %zu cells learned; model written to %s%s%s\n",
	       ntraces, lm_cells_filled(model), out, emit_c ? " and " : "",
	       emit_c ? emit_c : "");
	rc = 0;
done:
	free(model);
	free(pass);
	free(empty);
	return rc;
}
