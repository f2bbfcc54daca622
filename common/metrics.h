/* common/metrics.h — Prometheus text exposition (format 0.0.4) and the
 * log2 latency histogram the pager keeps.
 *
 * Concepts: a struct pvm_metrics is a growing text buffer. A metric family
 * is announced once with pvm_metrics_family() (its HELP and TYPE lines);
 * its samples follow, each with a label set built by pvm_metrics_labels()
 * (values escaped as the format wants). A family must not be announced
 * twice: the exposition format wants every sample of a family together, so
 * a second announcement of the same name marks the buffer failed (-EINVAL),
 * and so does a sample outside the family last announced. Out of memory
 * also fails the buffer; pvm_metrics_finish() reports the first error.
 *
 * Histograms: latencies are counted in SWAP_LAT_BUCKETS-style log2 buckets
 * of microseconds: bucket 0 is [0, 1) us, bucket i is [2^(i-1), 2^i) us, and
 * the last bucket also holds everything longer. pvm_metrics_histogram()
 * writes such buckets as a Prometheus histogram in seconds: cumulative
 * _bucket lines with le="2^i us", a +Inf bucket equal to _count, _sum.
 *
 * Nothing here takes locks; a buffer belongs to one thread.
 */
#ifndef POOLVM_COMMON_METRICS_H
#define POOLVM_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define PVM_METRICS_NAME_MAX 96
#define PVM_METRICS_LABELS_MAX 512

struct pvm_metrics {
	char *buf;
	size_t len, cap;
	int err;                                /* first error, 0 or -errno */
	char family[PVM_METRICS_NAME_MAX];      /* family last announced */
	char type[16];
	char **seen;                            /* families announced so far */
	size_t nseen, seen_cap;
};

/** pvm_metrics_init() - an empty buffer. */
void pvm_metrics_init(struct pvm_metrics *m);

/**
 * pvm_metrics_finish() - end the exposition. Return: 0 and *@text (the
 * caller frees it; *@len its length), or the first error (the buffer is
 * freed, *@text is NULL).
 */
int pvm_metrics_finish(struct pvm_metrics *m, char **text, size_t *len);

/** pvm_metrics_free() - drop the buffer (after an error, or unused). */
void pvm_metrics_free(struct pvm_metrics *m);

/**
 * pvm_metrics_family() - announce family @name of @type ("counter",
 * "gauge", "histogram") with @help (escaped here). @name must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*; anything else fails the buffer with -EINVAL.
 */
void pvm_metrics_family(struct pvm_metrics *m, const char *name,
			const char *type, const char *help);

/**
 * pvm_metrics_labels() - build a label set into @out ("" for none) from
 * NULL-terminated pairs of name, value; a pair whose value is NULL is left
 * out. Values are escaped (backslash, double quote, newline). Return: 0, or
 * -ENOSPC when @len is too small (then @out is "" and should not be used),
 * -EINVAL for a bad label name.
 */
int pvm_metrics_labels(char *out, size_t len, ...) __attribute__((sentinel));

/** pvm_metrics_u64() - one sample of the current family: NAME{LABELS} V. */
void pvm_metrics_u64(struct pvm_metrics *m, const char *labels, uint64_t v);

/** pvm_metrics_double() - the same with a floating-point value. */
void pvm_metrics_double(struct pvm_metrics *m, const char *labels, double v);

/**
 * pvm_metrics_histogram() - the samples of the current family (announced as
 * "histogram") for one label set: @buckets holds @n log2-microsecond
 * bucket counts (see Concepts), @sum_seconds the sum of the observations.
 */
void pvm_metrics_histogram(struct pvm_metrics *m, const char *labels,
			   const uint64_t *buckets, size_t n, double sum_seconds);

/** pvm_lat_bucket() - the log2-microsecond bucket of @ns among @n buckets. */
static inline unsigned pvm_lat_bucket(uint64_t ns, unsigned n)
{
	uint64_t us = ns / 1000;
	unsigned b = 0;

	while (us && b + 1 < n) {
		us >>= 1;
		b++;
	}
	return b;
}

/**
 * pvm_lat_percentile_us() - percentile @p (0..100) of log2-microsecond
 * buckets, interpolated inside the bucket it falls in; 0 when empty.
 */
double pvm_lat_percentile_us(const uint64_t *buckets, size_t n, double p);

#endif
