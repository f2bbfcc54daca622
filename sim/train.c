/* sim/train.c — `poolvm train`: fill the learned policy's table from traces.
 *
 * Concepts: for every access to a page that was accessed before, the time
 * since that previous access is the page's "next use" seen from then: a
 * label from the future for the features the page had at its previous
 * access (its gap and count), at every age it passed through
 * (lm_observe()). Pages never accessed again give censored labels at the
 * end of the trace. Time counts accesses; features are scaled by a cache
 * size C, so each trace is learned at several sizes (fractions of its
 * footprint, default 10 %, 25 %, 50 %). Each (trace, size) pass is
 * normalized to the same total weight before the passes are merged, so a
 * long trace does not drown the others.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "learned_model.h"
#include "sim.h"
#include "train.h"
#include "u64map.h"

#define TRAIN_PASS_WEIGHT 100000.0f
#define TRAIN_MAX_TRACES  256
#define TRAIN_MAX_SIZES   16

struct page_hist {
	uint64_t last, gap;
	uint32_t count;
};

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
"    Replays each trace once per cache size and learns, for every (age,\n"
"    gap, count) cell of swap/policies/learned_model.h, how long pages in\n"
"    that cell still had to wait for their next access: labels taken from\n"
"    each page's real future, as Belady's OPT would use them. Times are in\n"
"    accesses and scaled by the cache size, so one model serves all sizes.\n"
"    The learned policy starts from this model and keeps learning online.\n"
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

/* One pass over @w at cache size @cap into @m. */
static int train_pass(const struct sim_workload *w, double cap, struct learned_model *m)
{
	const struct sim_trace *t = w->trace;
	struct page_hist *h = calloc(w->footprint ? w->footprint : 1, sizeof(*h));
	uint64_t now = 0;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < t->count; i++) {
		struct page_hist *p = &h[w->ids[i]];

		now++;
		if (p->count) {
			uint64_t g = now - p->last;

			lm_observe(m, cap, p->gap, p->count, g, false, 0);
			p->gap = g;
		}
		if (p->count < UINT32_MAX)
			p->count++;
		p->last = now;
	}
	/* Never accessed again: at least until the end. */
	for (size_t id = 0; id < w->footprint; id++)
		if (h[id].count && now > h[id].last)
			lm_observe(m, cap, h[id].gap, h[id].count, now - h[id].last, true, 0);
	free(h);
	return 0;
}

static void normalize(struct learned_model *m, float total)
{
	double sum = 0;
	struct lm_cell *c = &m->cell[0][0][0];
	size_t n = (size_t)LM_AGE_BINS * LM_GAP_BINS * LM_CNT_BINS;

	for (size_t i = 0; i < n; i++)
		sum += c[i].weight;
	if (sum <= 0)
		return;
	for (size_t i = 0; i < n; i++)
		c[i].weight = (float)(c[i].weight * total / sum);
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
	struct learned_model *model = NULL, *pass = NULL;
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
	if (!model || !pass) {
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
		for (size_t s = 0; s < nsizes && ret == 0; s++) {
			double cap = (double)w.footprint * sizes[s];

			if (cap < 1)
				cap = 1;
			lm_clear(pass);
			ret = train_pass(&w, cap, pass);
			normalize(pass, TRAIN_PASS_WEIGHT);
			lm_merge(model, pass);
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
	/* Weights in the file are what the policy trusts: scale them so that a
	 * cell's prior stays a prior (LM_PRIOR_STRENGTH does the rest). */
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
	return rc;
}
