/* common/metrics.c — Prometheus text exposition into a buffer, and the
 * log2 latency histogram's percentile (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pvm_metrics_init(struct pvm_metrics *m)
{
	memset(m, 0, sizeof(*m));
}

void pvm_metrics_free(struct pvm_metrics *m)
{
	free(m->buf);
	for (size_t i = 0; i < m->nseen; i++)
		free(m->seen[i]);
	free(m->seen);
	pvm_metrics_init(m);
}

int pvm_metrics_finish(struct pvm_metrics *m, char **text, size_t *len)
{
	int err = m->err;

	*text = NULL;
	if (!err && !m->buf) {
		m->buf = calloc(1, 1);
		if (!m->buf)
			err = -ENOMEM;
	}
	if (err) {
		pvm_metrics_free(m);
		return err;
	}
	*text = m->buf;
	if (len)
		*len = m->len;
	m->buf = NULL;
	pvm_metrics_free(m);
	return 0;
}

static void append(struct pvm_metrics *m, const char *s, size_t n)
{
	if (m->err)
		return;
	if (m->len + n + 1 > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		char *b;

		while (cap < m->len + n + 1)
			cap *= 2;
		b = realloc(m->buf, cap);
		if (!b) {
			m->err = -ENOMEM;
			return;
		}
		m->buf = b;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, s, n);
	m->len += n;
	m->buf[m->len] = '\0';
}

static void appends(struct pvm_metrics *m, const char *s)
{
	append(m, s, strlen(s));
}

static void appendf(struct pvm_metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(struct pvm_metrics *m, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		m->err = m->err ? m->err : -EINVAL;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		append(m, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);

	if (!big) {
		m->err = m->err ? m->err : -ENOMEM;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	append(m, big, (size_t)n);
	free(big);
}

static bool valid_name(const char *s, bool colon_ok)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     c == '_' || (colon_ok && c == ':');

		if (!alpha && !(p != s && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

void pvm_metrics_family(struct pvm_metrics *m, const char *name,
			const char *type, const char *help)
{
	char **seen;

	if (m->err)
		return;
	if (!valid_name(name, true) || strlen(name) >= sizeof(m->family) ||
	    (strcmp(type, "counter") && strcmp(type, "gauge") &&
	     strcmp(type, "histogram"))) {
		m->err = -EINVAL;
		return;
	}
	for (size_t i = 0; i < m->nseen; i++) {
		if (!strcmp(m->seen[i], name)) {
			m->err = -EINVAL;       /* samples of a family go together */
			return;
		}
	}
	if (m->nseen == m->seen_cap) {
		size_t cap = m->seen_cap ? m->seen_cap * 2 : 32;

		seen = realloc(m->seen, cap * sizeof(*seen));
		if (!seen) {
			m->err = -ENOMEM;
			return;
		}
		m->seen = seen;
		m->seen_cap = cap;
	}
	m->seen[m->nseen] = strdup(name);
	if (!m->seen[m->nseen]) {
		m->err = -ENOMEM;
		return;
	}
	m->nseen++;
	snprintf(m->family, sizeof(m->family), "%s", name);
	snprintf(m->type, sizeof(m->type), "%s", type);

	appendf(m, "# HELP %s ", name);
	for (const char *p = help ? help : ""; *p; p++) {
		if (*p == '\\')
			appends(m, "\\\\");
		else if (*p == '\n')
			appends(m, "\\n");
		else
			append(m, p, 1);
	}
	appendf(m, "\n# TYPE %s %s\n", name, type);
}

int pvm_metrics_labels(char *out, size_t len, ...)
{
	size_t n = 0;
	const char *name, *value;
	va_list ap;
	int ret = 0;

	if (!len)
		return -ENOSPC;
	out[0] = '\0';
	va_start(ap, len);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (!value)
			continue;
		if (!valid_name(name, false) || (name[0] == '_' && name[1] == '_')) {
			ret = -EINVAL;
			break;
		}
		size_t need = strlen(name) + 3 + (n ? 1 : 0);

		if (n + need >= len) {
			ret = -ENOSPC;
			break;
		}
		n += (size_t)snprintf(out + n, len - n, "%s%s=\"", n ? "," : "", name);
		for (const char *p = value; *p && !ret; p++) {
			const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" :
					  *p == '\n' ? "\\n" : NULL;
			size_t k = esc ? 2 : 1;

			if (n + k + 1 >= len) {
				ret = -ENOSPC;
				break;
			}
			if (esc)
				memcpy(out + n, esc, 2);
			else
				out[n] = *p;
			n += k;
		}
		if (ret)
			break;
		if (n + 2 >= len) {
			ret = -ENOSPC;
			break;
		}
		out[n++] = '"';
		out[n] = '\0';
	}
	va_end(ap);
	if (ret)
		out[0] = '\0';
	return ret;
}

static bool sample_ok(struct pvm_metrics *m)
{
	if (m->err)
		return false;
	if (!m->family[0]) {
		m->err = -EINVAL;       /* a sample before any family */
		return false;
	}
	return true;
}

static void sample_head(struct pvm_metrics *m, const char *suffix,
			const char *labels, const char *extra)
{
	bool have = labels && *labels;

	appends(m, m->family);
	appends(m, suffix);
	if (have || extra) {
		append(m, "{", 1);
		if (have)
			appends(m, labels);
		if (extra) {
			if (have)
				append(m, ",", 1);
			appends(m, extra);
		}
		append(m, "}", 1);
	}
	append(m, " ", 1);
}

void pvm_metrics_u64(struct pvm_metrics *m, const char *labels, uint64_t v)
{
	if (!sample_ok(m))
		return;
	sample_head(m, "", labels, NULL);
	appendf(m, "%" PRIu64 "\n", v);
}

static void put_double(struct pvm_metrics *m, double v)
{
	if (v != v)
		appends(m, "NaN\n");
	else if (v > 1e308)
		appends(m, "+Inf\n");
	else if (v < -1e308)
		appends(m, "-Inf\n");
	else
		appendf(m, "%.17g\n", v);
}

void pvm_metrics_double(struct pvm_metrics *m, const char *labels, double v)
{
	if (!sample_ok(m))
		return;
	sample_head(m, "", labels, NULL);
	put_double(m, v);
}

/* le="S" for @us microseconds, exact: 64 -> "0.000064", 1048576 -> "1.048576". */
static void format_le(char *out, size_t len, uint64_t us)
{
	char frac[8];
	int n;

	snprintf(frac, sizeof(frac), "%06" PRIu64, us % 1000000);
	for (n = 5; n >= 0 && frac[n] == '0'; n--)
		frac[n] = '\0';
	if (frac[0])
		snprintf(out, len, "le=\"%" PRIu64 ".%s\"", us / 1000000, frac);
	else
		snprintf(out, len, "le=\"%" PRIu64 "\"", us / 1000000);
}

void pvm_metrics_histogram(struct pvm_metrics *m, const char *labels,
			   const uint64_t *buckets, size_t n, double sum_seconds)
{
	uint64_t cum = 0;
	char le[48];

	if (!sample_ok(m))
		return;
	if (strcmp(m->type, "histogram")) {
		m->err = -EINVAL;
		return;
	}
	/* Bucket i holds [2^(i-1), 2^i) us: its upper bound is 2^i us. The last
	 * bucket is open-ended, so it only appears in +Inf. */
	for (size_t i = 0; i + 1 < n; i++) {
		cum += buckets[i];
		format_le(le, sizeof(le), 1ULL << i);
		sample_head(m, "_bucket", labels, le);
		appendf(m, "%" PRIu64 "\n", cum);
	}
	if (n)
		cum += buckets[n - 1];
	sample_head(m, "_bucket", labels, "le=\"+Inf\"");
	appendf(m, "%" PRIu64 "\n", cum);
	sample_head(m, "_sum", labels, NULL);
	put_double(m, sum_seconds);
	sample_head(m, "_count", labels, NULL);
	appendf(m, "%" PRIu64 "\n", cum);
}

double pvm_lat_percentile_us(const uint64_t *buckets, size_t n, double pct)
{
	uint64_t total = 0, seen = 0;

	for (size_t i = 0; i < n; i++)
		total += buckets[i];
	if (!total)
		return 0;
	double want = pct / 100.0 * (double)total;

	for (size_t i = 0; i < n; i++) {
		if (!buckets[i])
			continue;
		if ((double)(seen + buckets[i]) >= want) {
			/* bucket i covers [lo, hi) microseconds; interpolate */
			double lo = i == 0 ? 0 : (double)(1ULL << (i - 1));
			double hi = (double)(1ULL << i);
			double frac = (want - (double)seen) / (double)buckets[i];

			return lo + (hi - lo) * frac;
		}
		seen += buckets[i];
	}
	return (double)(1ULL << (n - 1));
}
