/* common/common.c — size parsing, messages, clocks. */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *progname = "poolvm";
static bool quiet;

int pvm_parse_size(const char *text, uint64_t *out)
{
	const char *p = text;
	uint64_t value = 0, mult = 1;

	if (!text || !*text)
		return -EINVAL;
	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		uint64_t digit = (uint64_t)(*p - '0');

		if (value > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		value = value * 10 + digit;
		p++;
	}
	switch (toupper((unsigned char)*p)) {
	case '\0':
		break;
	case 'K': mult = 1ULL << 10; p++; break;
	case 'M': mult = 1ULL << 20; p++; break;
	case 'G': mult = 1ULL << 30; p++; break;
	case 'T': mult = 1ULL << 40; p++; break;
	default:
		return -EINVAL;
	}
	/* Accept "M", "MB", "MiB" alike. */
	if (mult != 1) {
		if (*p == 'i' || *p == 'I')
			p++;
		if (*p == 'B' || *p == 'b')
			p++;
	}
	if (*p != '\0')
		return -EINVAL;
	if (value && mult > UINT64_MAX / value)
		return -ERANGE;
	*out = value * mult;
	return 0;
}

char *pvm_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < PVM_ARRAY_SIZE(units)) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

uint64_t pvm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

struct timespec pvm_deadline_ms(clockid_t clock, unsigned ms)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

char *pvm_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

void pvm_set_progname(const char *name)
{
	progname = name;
}

static const char *err_context;

void pvm_set_err_context(const char *ctx)
{
	err_context = ctx;
}

void pvm_set_quiet(bool q)
{
	quiet = q;
}

static void vmsg(const char *fmt, va_list ap)
{
	char line[1024];
	int n = err_context ? snprintf(line, sizeof(line), "%s: %s: ", progname, err_context) :
		snprintf(line, sizeof(line), "%s: ", progname);

	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void pvm_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void pvm_info(const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

bool pvm_page_is_zero(const void *page)
{
	const uint64_t *w = page;

	/* Check the first word alone first: most non-zero pages fail here. */
	if (w[0])
		return false;
	for (size_t i = 0; i < PVM_PAGE_SIZE / sizeof(uint64_t); i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}
