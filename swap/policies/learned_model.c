/* swap/policies/learned_model.c — counts, densities and files of the
 * learned policy's model (learned_model.h). */
#include "learned_model.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A class's own curve is blended with all classes' by evidence: with n
 * events of its own it weighs n / (n + LM_CLASS_SHRINK). */
#define LM_CLASS_SHRINK 256.0

void lm_clear(struct learned_model *m)
{
	memset(m, 0, sizeof(*m));
}

void lm_scale(struct learned_model *m, float f)
{
	for (unsigned c = 0; c < LM_CLASSES; c++)
		for (unsigned b = 0; b < LM_AGE_BINS; b++) {
			m->hits[c][b] *= f;
			m->evictions[c][b] *= f;
		}
}

double lm_total(const struct learned_model *m)
{
	double t = 0;

	for (unsigned c = 0; c < LM_CLASSES; c++)
		for (unsigned b = 0; b < LM_AGE_BINS; b++)
			t += (double)m->hits[c][b] + (double)m->evictions[c][b];
	return t;
}

void lm_merge(struct learned_model *dst, const struct learned_model *src, float f)
{
	for (unsigned c = 0; c < LM_CLASSES; c++)
		for (unsigned b = 0; b < LM_AGE_BINS; b++) {
			dst->hits[c][b] += f * src->hits[c][b];
			dst->evictions[c][b] += f * src->evictions[c][b];
		}
}

/* Width of age bin @b in units of C / LM_UNITS: 2^((b+1)/4) - 2^(b/4).
 * A table: computing it per class and bin cost ~100 us per density
 * update (5,000 exp2 calls), most of the policy's cost on small caches. */
static double bin_widths[LM_AGE_BINS];
static pthread_once_t bin_widths_once = PTHREAD_ONCE_INIT;

static void bin_widths_init(void)
{
	for (unsigned b = 0; b < LM_AGE_BINS; b++)
		bin_widths[b] = exp2((b + 1) / 4.0) - exp2(b / 4.0);
}

static double bin_width(unsigned b)
{
	return bin_widths[b];
}

/* Densities of one class from its counts, oldest bin first. */
static void class_density(const float *hits, const float *evs, float *d)
{
	double cum_hits = 0, alive = 0, life = 0;

	for (unsigned b = LM_AGE_BINS; b-- > 0;) {
		double events = (double)hits[b] + (double)evs[b], w = bin_width(b);

		cum_hits += hits[b];
		alive += events;
		/* pages alive at the bin's start spend all of it there, except
		 * those whose event falls in it (half, on average) */
		life += (alive - events / 2) * w;
		d[b] = life > 0 ? (float)(cum_hits / life) : 0.0f;
	}
}

void lm_density(const struct learned_model *m, struct lm_density *out)
{
	float all_h[LM_AGE_BINS] = { 0 }, all_e[LM_AGE_BINS] = { 0 };
	double events[LM_CLASSES];

	pthread_once(&bin_widths_once, bin_widths_init);
	for (unsigned c = 0; c < LM_CLASSES; c++) {
		events[c] = 0;
		for (unsigned b = 0; b < LM_AGE_BINS; b++) {
			all_h[b] += m->hits[c][b];
			all_e[b] += m->evictions[c][b];
			events[c] += (double)m->hits[c][b] + (double)m->evictions[c][b];
		}
		class_density(m->hits[c], m->evictions[c], out->d[c]);
	}
	class_density(all_h, all_e, out->d[LM_CLASSES]);
	for (unsigned c = 0; c < LM_CLASSES; c++) {
		float w = (float)(events[c] / (events[c] + LM_CLASS_SHRINK));

		out->known[c] = w >= 0.5f;
		for (unsigned b = 0; b < LM_AGE_BINS; b++)
			out->d[c][b] = w * out->d[c][b] + (1 - w) * out->d[LM_CLASSES][b];
	}
}

size_t lm_cells_filled(const struct learned_model *m)
{
	size_t n = 0;

	for (unsigned c = 0; c < LM_CLASSES; c++)
		for (unsigned b = 0; b < LM_AGE_BINS; b++)
			n += m->hits[c][b] + m->evictions[c][b] > 0;
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
		unsigned c, b;
		float h, e;
		char extra;

		lineno++;
		if (lineno == 1) {
			size_t n = strlen(LM_MAGIC);

			if (strncmp(line, LM_MAGIC, n) != 0 ||
			    (line[n] != '\n' && line[n] != '\0')) {
				snprintf(err, errlen, "%s:1: not a poolvm learned model "
					 "(expected '%s')", path, LM_MAGIC);
				ret = -EINVAL;
				break;
			}
			continue;
		}
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%u %u %f %f %c", &c, &b, &h, &e, &extra) != 4 ||
		    c >= LM_CLASSES || b >= LM_AGE_BINS || !isfinite(h) || !isfinite(e) ||
		    h < 0 || e < 0 || h > 1e12f || e > 1e12f) {
			snprintf(err, errlen, "%s:%u: expected 'CLASS AGE HITS EVICTIONS' "
				 "with CLASS < %u, AGE < %u and counts >= 0", path, lineno,
				 LM_CLASSES, LM_AGE_BINS);
			ret = -EINVAL;
			break;
		}
		m->hits[c][b] = h;
		m->evictions[c][b] = e;
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
		fprintf(f, "%s\n# CLASS AGE HITS EVICTIONS (see swap/policies/learned_model.h)\n",
			LM_MAGIC);
	for (unsigned c = 0; c < LM_CLASSES; c++)
		for (unsigned b = 0; b < LM_AGE_BINS; b++) {
			float h = m->hits[c][b], e = m->evictions[c][b];

			if (h <= 0 && e <= 0)
				continue;
			if (c_source)
				fprintf(f, "{ %u, %u, %.3ff, %.3ff },\n", c, b, (double)h, (double)e);
			else
				fprintf(f, "%u %u %.3f %.3f\n", c, b, (double)h, (double)e);
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
	unsigned char c, b;
	float hits, evictions;
};

static const struct lm_entry builtin_entries[] = {
#include "learned_builtin.inc"
	{ 255, 0, 0, 0 },       /* end */
};

static struct learned_model builtin;
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static void builtin_init(void)
{
	for (const struct lm_entry *e = builtin_entries; e->c != 255; e++)
		if (e->c < LM_CLASSES && e->b < LM_AGE_BINS) {
			builtin.hits[e->c][e->b] = e->hits;
			builtin.evictions[e->c][e->b] = e->evictions;
		}
}

const struct learned_model *lm_builtin(void)
{
	pthread_once(&builtin_once, builtin_init);
	return &builtin;
}
