/* tests/unit/common/test_metrics.c — the Prometheus text formatter
 * (common/metrics.c) writes what format 0.0.4 wants, refuses what it does
 * not allow, and the log2 latency histogram buckets, accumulates and
 * reports percentiles as documented. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static char *finish(struct pvm_metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(pvm_metrics_finish(m, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	return text;
}

static void counter_family_has_help_type_and_samples(void **state)
{
	struct pvm_metrics m;
	char l[128], *text;

	(void)state;
	pvm_metrics_init(&m);
	pvm_metrics_family(&m, "poolvm_faults_total", "counter", "Faults served.");
	assert_int_equal(pvm_metrics_labels(l, sizeof(l), "vm", "a", NULL), 0);
	pvm_metrics_u64(&m, l, 42);
	pvm_metrics_u64(&m, "", 7);
	text = finish(&m);
	assert_string_equal(text,
			    "# HELP poolvm_faults_total Faults served.\n"
			    "# TYPE poolvm_faults_total counter\n"
			    "poolvm_faults_total{vm=\"a\"} 42\n"
			    "poolvm_faults_total 7\n");
	free(text);
}

static void label_values_and_help_are_escaped(void **state)
{
	struct pvm_metrics m;
	char l[128], *text;

	(void)state;
	assert_int_equal(pvm_metrics_labels(l, sizeof(l), "vm", "a\"b\\c\nd",
					    "skipped", NULL, "tier", "disk", NULL), 0);
	assert_string_equal(l, "vm=\"a\\\"b\\\\c\\nd\",tier=\"disk\"");
	pvm_metrics_init(&m);
	pvm_metrics_family(&m, "x", "gauge", "back\\slash\nnewline");
	pvm_metrics_u64(&m, l, 1);
	text = finish(&m);
	assert_non_null(strstr(text, "# HELP x back\\\\slash\\nnewline\n"));
	free(text);
}

static void labels_refuse_bad_names_and_overflow(void **state)
{
	char l[16];

	(void)state;
	assert_int_equal(pvm_metrics_labels(l, sizeof(l), "1vm", "a", NULL), -EINVAL);
	assert_int_equal(pvm_metrics_labels(l, sizeof(l), "__x", "a", NULL), -EINVAL);
	assert_int_equal(pvm_metrics_labels(l, sizeof(l), "v-m", "a", NULL), -EINVAL);
	assert_int_equal(pvm_metrics_labels(l, sizeof(l), "vm", "a-long-value-here", NULL),
			 -ENOSPC);
	assert_string_equal(l, "");
	assert_int_equal(pvm_metrics_labels(l, sizeof(l), "vm", "abcdefghi", NULL), 0);
	assert_string_equal(l, "vm=\"abcdefghi\"");   /* 15 bytes + NUL fit */
}

static void a_family_twice_fails_the_buffer(void **state)
{
	struct pvm_metrics m;
	char *text = (char *)"x";

	(void)state;
	pvm_metrics_init(&m);
	pvm_metrics_family(&m, "a", "gauge", "A");
	pvm_metrics_u64(&m, NULL, 1);
	pvm_metrics_family(&m, "b", "gauge", "B");
	pvm_metrics_family(&m, "a", "gauge", "A again");
	assert_int_equal(pvm_metrics_finish(&m, &text, NULL), -EINVAL);
	assert_null(text);
}

static void bad_names_types_and_orphan_samples_fail(void **state)
{
	struct pvm_metrics m;
	char *text;

	(void)state;
	pvm_metrics_init(&m);
	pvm_metrics_family(&m, "bad-name", "gauge", "");
	assert_int_equal(pvm_metrics_finish(&m, &text, NULL), -EINVAL);
	pvm_metrics_init(&m);
	pvm_metrics_family(&m, "ok", "summary", "");
	assert_int_equal(pvm_metrics_finish(&m, &text, NULL), -EINVAL);
	pvm_metrics_init(&m);
	pvm_metrics_u64(&m, NULL, 1);
	assert_int_equal(pvm_metrics_finish(&m, &text, NULL), -EINVAL);
	pvm_metrics_init(&m);
	pvm_metrics_family(&m, "g", "gauge", "");
	pvm_metrics_histogram(&m, NULL, (uint64_t[2]){ 1, 2 }, 2, 0);
	assert_int_equal(pvm_metrics_finish(&m, &text, NULL), -EINVAL);
}

static void empty_exposition_is_an_empty_string(void **state)
{
	struct pvm_metrics m;
	char *text;

	(void)state;
	pvm_metrics_init(&m);
	text = finish(&m);
	assert_string_equal(text, "");
	free(text);
}

static void doubles_print_exactly_and_special_values(void **state)
{
	struct pvm_metrics m;
	char *text;

	(void)state;
	pvm_metrics_init(&m);
	pvm_metrics_family(&m, "d", "gauge", "");
	pvm_metrics_double(&m, NULL, 0.5);
	pvm_metrics_double(&m, NULL, 1.0 / 0.0);
	pvm_metrics_double(&m, NULL, 0.0 / 0.0);
	text = finish(&m);
	assert_string_equal(text, "# HELP d \n# TYPE d gauge\nd 0.5\nd +Inf\nd NaN\n");
	free(text);
}

/* Parse "NAME{...le="X"} V" lines of @text for @labels: the bucket values in
 * order, and the count. */
static size_t buckets_of(const char *text, uint64_t *vals, size_t cap, uint64_t *count,
			 double *sum)
{
	size_t n = 0;
	const char *p = text;

	while ((p = strstr(p, "\n")) != NULL) {
		p++;
		if (!strncmp(p, "h_bucket{", 9) && n < cap)
			vals[n++] = strtoull(strchr(p, '}') + 2, NULL, 10);
		else if (!strncmp(p, "h_count", 7))
			*count = strtoull(strchr(p, ' ') + 1, NULL, 10);
		else if (!strncmp(p, "h_sum", 5))
			*sum = strtod(strchr(p, ' ') + 1, NULL);
	}
	return n;
}

static void histogram_is_cumulative_and_inf_equals_count(void **state)
{
	uint64_t b[24] = { 0 }, vals[32], count = 0;
	struct pvm_metrics m;
	double sum = 0;
	char *text;
	size_t n;

	(void)state;
	b[0] = 3;       /* [0, 1) us */
	b[7] = 5;       /* [64, 128) us */
	b[23] = 2;      /* >= 4.19 s: only in +Inf */
	pvm_metrics_init(&m);
	pvm_metrics_family(&m, "h", "histogram", "latency");
	pvm_metrics_histogram(&m, "vm=\"a\"", b, 24, 1.25);
	text = finish(&m);
	n = buckets_of(text, vals, 32, &count, &sum);
	assert_int_equal(n, 24);        /* 23 bounded buckets and +Inf */
	for (size_t i = 1; i < n; i++)
		assert_true(vals[i] >= vals[i - 1]);
	assert_int_equal(vals[0], 3);
	assert_int_equal(vals[6], 3);
	assert_int_equal(vals[7], 8);
	assert_int_equal(vals[22], 8);
	assert_int_equal(vals[23], 10);
	assert_int_equal(count, 10);
	assert_true(sum == 1.25);
	/* bounds are exact decimal seconds */
	assert_non_null(strstr(text, "h_bucket{vm=\"a\",le=\"0.000001\"} 3\n"));
	assert_non_null(strstr(text, "h_bucket{vm=\"a\",le=\"0.000128\"} 8\n"));
	assert_non_null(strstr(text, "h_bucket{vm=\"a\",le=\"1.048576\"} 8\n"));
	assert_non_null(strstr(text, "h_bucket{vm=\"a\",le=\"4.194304\"} 8\n"));
	assert_non_null(strstr(text, "h_bucket{vm=\"a\",le=\"+Inf\"} 10\n"));
	assert_non_null(strstr(text, "h_count{vm=\"a\"} 10\n"));
	free(text);
}

static void latency_buckets_are_log2_microseconds(void **state)
{
	(void)state;
	assert_int_equal(pvm_lat_bucket(0, 24), 0);
	assert_int_equal(pvm_lat_bucket(999, 24), 0);           /* < 1 us */
	assert_int_equal(pvm_lat_bucket(1000, 24), 1);          /* [1, 2) */
	assert_int_equal(pvm_lat_bucket(1999, 24), 1);
	assert_int_equal(pvm_lat_bucket(2000, 24), 2);          /* [2, 4) */
	assert_int_equal(pvm_lat_bucket(64000, 24), 7);         /* [64, 128) */
	assert_int_equal(pvm_lat_bucket(127999, 24), 7);
	assert_int_equal(pvm_lat_bucket(128000, 24), 8);
	assert_int_equal(pvm_lat_bucket(UINT64_MAX, 24), 23);   /* open-ended last */
	assert_int_equal(pvm_lat_bucket(10ull * 1000000000, 24), 23);
}

static void percentiles_interpolate_within_a_bucket(void **state)
{
	uint64_t b[24] = { 0 };

	(void)state;
	assert_true(pvm_lat_percentile_us(b, 24, 50) == 0);     /* empty */
	b[7] = 100;                                             /* all in [64, 128) */
	assert_true(pvm_lat_percentile_us(b, 24, 50) == 96.0);
	assert_true(pvm_lat_percentile_us(b, 24, 100) == 128.0);
	b[0] = 100;                                             /* half below 1 us */
	assert_true(pvm_lat_percentile_us(b, 24, 25) == 0.5);
	assert_true(pvm_lat_percentile_us(b, 24, 99) > 64.0);
	assert_true(pvm_lat_percentile_us(b, 24, 99) <= 128.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counter_family_has_help_type_and_samples),
		cmocka_unit_test(label_values_and_help_are_escaped),
		cmocka_unit_test(labels_refuse_bad_names_and_overflow),
		cmocka_unit_test(a_family_twice_fails_the_buffer),
		cmocka_unit_test(bad_names_types_and_orphan_samples_fail),
		cmocka_unit_test(empty_exposition_is_an_empty_string),
		cmocka_unit_test(doubles_print_exactly_and_special_values),
		cmocka_unit_test(histogram_is_cumulative_and_inf_equals_count),
		cmocka_unit_test(latency_buckets_are_log2_microseconds),
		cmocka_unit_test(percentiles_interpolate_within_a_bucket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
