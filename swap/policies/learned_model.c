/* swap/policies/learned_model.c — the learned policy's table: learning,
 * prediction, files (learned_model.h). */
#include "learned_model.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A prior cell counts as this many observations against the online ones. */
#define LM_PRIOR_STRENGTH 4.0f

void lm_clear(struct learned_model *m)
{
	memset(m, 0, sizeof(*m));
}

static void cell_add(struct lm_cell *c, float v, float max_weight)
{
	float w = c->weight + 1.0f;

	if (max_weight > 0 && w > max_weight)
		w = max_weight;
	c->mean += (v - c->mean) / w;
	c->weight = w;
}

void lm_observe(struct learned_model *m, double capacity, uint64_t gap,
		uint32_t count, uint64_t next, bool censored, float max_weight)
{
	double unit = capacity / LM_UNITS;      /* accesses per axis unit */
	double inv_c = 1.0 / capacity;
	unsigned g = lm_gap_bin(gap, 1.0 / unit), k = lm_cnt_bin(count);

	if (!next)
		return;
	for (unsigned b = 0; b < LM_AGE_BINS; b++) {
		/* ages in bin b: [(2^b - 1) unit, (2^(b+1) - 1) unit) */
		double lo = ((double)(1ull << b) - 1.0) * unit;
		double hi = ((double)(2ull << b) - 1.0) * unit;
		double mid, rem;
		float v;

		if (lo >= (double)next)
			break;
		if (b == LM_AGE_BINS - 1)
			hi = (double)next;
		mid = (lo + (hi < (double)next ? hi : (double)next)) / 2.0;
		rem = (double)next - mid;
		if (rem < 1.0)
			rem = 1.0;
		v = lm_log2(rem * inv_c * 65536.0) - 16.0f;
		if (censored)
			v += 1.0f;      /* at least this; assume twice as long */
		cell_add(&m->cell[b][g][k], v, max_weight);
	}
}

/* The blended estimate of one cell; NAN when nobody knows it. */
static float cell_value(const struct learned_model *online,
			const struct learned_model *prior, unsigned a, unsigned g,
			unsigned k)
{
	const struct lm_cell *o = &online->cell[a][g][k];
	const struct lm_cell *p = prior ? &prior->cell[a][g][k] : NULL;
	float pw = p && p->weight > 0 ? LM_PRIOR_STRENGTH : 0.0f;

	if (o->weight + pw <= 0)
		return NAN;
	return (o->weight * o->mean + pw * (pw > 0 ? p->mean : 0.0f)) /
	       (o->weight + pw);
}

float lm_predict(const struct learned_model *online, const struct learned_model *prior,
		 double capacity, uint64_t age, uint64_t gap, uint32_t count,
		 bool *unsure)
{
	double inv_unit = LM_UNITS / capacity;
	float pos = lm_axis(age, inv_unit), frac, v0, v1;
	unsigned a = (unsigned)pos, g = lm_gap_bin(gap, inv_unit), k = lm_cnt_bin(count);
	/* Lindy: the remaining life is about the age already reached. */
	float lindy = lm_log2(((double)age + 1.0) / capacity * 65536.0) - 16.0f;

	if (a >= LM_AGE_BINS - 1) {
		a = LM_AGE_BINS - 1;
		frac = 0;
	} else {
		frac = pos - (float)a;
	}
	v0 = cell_value(online, prior, a, g, k);
	v1 = frac > 0 ? cell_value(online, prior, a + 1, g, k) : v0;
	if (unsure)
		*unsure = isnan(v0);
	if (isnan(v0))
		return lindy;
	if (isnan(v1))
		v1 = v0;
	return v0 + (v1 - v0) * frac;
}

void lm_merge(struct learned_model *dst, const struct learned_model *src)
{
	for (unsigned a = 0; a < LM_AGE_BINS; a++)
		for (unsigned g = 0; g < LM_GAP_BINS; g++)
			for (unsigned k = 0; k < LM_CNT_BINS; k++) {
				struct lm_cell *d = &dst->cell[a][g][k];
				const struct lm_cell *s = &src->cell[a][g][k];
				float w = d->weight + s->weight;

				if (s->weight <= 0)
					continue;
				d->mean = (d->mean * d->weight + s->mean * s->weight) / w;
				d->weight = w;
			}
}

size_t lm_cells_filled(const struct learned_model *m)
{
	const struct lm_cell *c = &m->cell[0][0][0];
	size_t n = 0;

	for (size_t i = 0; i < (size_t)LM_AGE_BINS * LM_GAP_BINS * LM_CNT_BINS; i++)
		n += c[i].weight > 0;
	return n;
}

int lm_load(const char *path, struct learned_model *m, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[256];
	unsigned lineno = 0;
	int ret = 0;

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	lm_clear(m);
	while (fgets(line, sizeof(line), f)) {
		unsigned a, g, k;
		float mean, weight;
		char extra;

		lineno++;
		if (lineno == 1) {
			if (strncmp(line, LM_MAGIC, strlen(LM_MAGIC)) != 0 ||
			    (line[strlen(LM_MAGIC)] != '\n' && line[strlen(LM_MAGIC)] != '\0')) {
				snprintf(err, errlen, "%s:1: not a poolvm learned model "
					 "(expected '%s')", path, LM_MAGIC);
				ret = -EINVAL;
				break;
			}
			continue;
		}
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%u %u %u %f %f %c", &a, &g, &k, &mean, &weight, &extra) != 5 ||
		    a >= LM_AGE_BINS || g >= LM_GAP_BINS || k >= LM_CNT_BINS ||
		    !isfinite(mean) || !isfinite(weight) || weight < 0 ||
		    mean < -64 || mean > 64) {
			snprintf(err, errlen, "%s:%u: expected 'AGE GAP COUNT MEAN WEIGHT' "
				 "with bins below %u %u %u", path, lineno, LM_AGE_BINS,
				 LM_GAP_BINS, LM_CNT_BINS);
			ret = -EINVAL;
			break;
		}
		m->cell[a][g][k] = (struct lm_cell){ mean, weight };
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	if (!ret && lineno == 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: empty file", path);
	}
	fclose(f);
	return ret;
}

static int save_with(const char *path, const struct learned_model *m, bool c_source)
{
	char tmp[4096];
	FILE *f;
	int ret = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	if (c_source)
		fprintf(f, "/* Generated by `poolvm train --emit-c`: the built-in model of the\n"
			 " * learned policy (swap/policies/learned_model.h). Do not edit. */\n");
	else
		fprintf(f, "%s\n# AGE GAP COUNT MEAN WEIGHT (see swap/policies/learned_model.h)\n",
			LM_MAGIC);
	for (unsigned a = 0; a < LM_AGE_BINS; a++)
		for (unsigned g = 0; g < LM_GAP_BINS; g++)
			for (unsigned k = 0; k < LM_CNT_BINS; k++) {
				const struct lm_cell *c = &m->cell[a][g][k];

				if (c->weight <= 0)
					continue;
				if (c_source)
					fprintf(f, "{ %u, %u, %u, %.4ff, %.1ff },\n", a, g, k,
						(double)c->mean, (double)c->weight);
				else
					fprintf(f, "%u %u %u %.4f %.1f\n", a, g, k,
						(double)c->mean, (double)c->weight);
			}
	if (fflush(f) || ferror(f))
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int lm_save(const char *path, const struct learned_model *m)
{
	return save_with(path, m, false);
}

int lm_save_c(const char *path, const struct learned_model *m)
{
	return save_with(path, m, true);
}

/* ---- the built-in model ---- */

struct lm_entry {
	unsigned char a, g, k;
	float mean, weight;
};

static const struct lm_entry builtin_entries[] = {
#include "learned_builtin.inc"
	{ 255, 0, 0, 0, 0 },    /* end */
};

static struct learned_model builtin;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void)
{
	for (const struct lm_entry *e = builtin_entries; e->a != 255; e++)
		if (e->a < LM_AGE_BINS && e->g < LM_GAP_BINS && e->k < LM_CNT_BINS)
			builtin.cell[e->a][e->g][e->k] = (struct lm_cell){ e->mean, e->weight };
}

const struct learned_model *lm_builtin(void)
{
	pthread_once(&builtin_once, builtin_init);
	return &builtin;
}
