/* tests/unit/sim/test_trace.c — the trace formats.
 *
 * The text reader takes decimal, hex, " W", comments and blank lines, and
 * rejects everything else with the file's name and the line number; the
 * binary writer and reader agree on every field, with and without zstd;
 * the reader tells the formats apart by magic and refuses malformed binary
 * input with a message instead of misreading it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "trace.h"

/* ---- helpers ----------------------------------------------------------- */

struct parsed {
	struct sim_trace_record rec[64];
	size_t count;
	int ret;                        /* last reader result: 0 or -errno */
	char error[SIM_TRACE_ERR_LEN];
	enum sim_trace_format format;
};

/* Read @len bytes of @text as the trace "t.txt". */
static void parse_bytes(const void *text, size_t len, struct parsed *p)
{
	FILE *f = fmemopen((void *)text, len, "rb");
	struct sim_trace_reader *r = NULL;

	memset(p, 0, sizeof(*p));
	assert_non_null(f);
	p->ret = sim_trace_reader_open_file(f, "t.txt", &r, p->error);
	if (p->ret == 0) {
		p->format = sim_trace_reader_format(r);
		while (p->count < 64 && (p->ret = sim_trace_reader_next(r, &p->rec[p->count])) > 0)
			p->count++;
		snprintf(p->error, sizeof(p->error), "%s", sim_trace_reader_error(r));
		sim_trace_reader_close(r);
	}
	fclose(f);
}

static void parse_text(const char *text, struct parsed *p)
{
	parse_bytes(text, strlen(text), p);
}

static char *temp_path(void)
{
	char *path = strdup("/tmp/pvm-test-trace-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	return path;
}

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

/* ---- text -------------------------------------------------------------- */

static void text_reads_decimal_hex_writes_comments_and_blank_lines(void **state)
{
	const char *text =
		"# a trace\n"
		"\n"
		"1\n"
		"0x1f W\n"
		"  42\t W  # trailing comment\n"
		"0XABCDEF\n"
		"   \t\n"
		"007\n"
		"0\r\n"
		"18446744073709551614\n"
		"0xfffffffffffffffe W\n"
		"5 # not a write\n"
		"9 W";          /* no final newline */
	const struct { uint64_t page; bool write; } want[] = {
		{ 1, false }, { 0x1f, true }, { 42, true }, { 0xabcdef, false },
		{ 7, false }, { 0, false }, { UINT64_MAX - 1, false },
		{ UINT64_MAX - 1, true }, { 5, false }, { 9, true },
	};
	struct parsed p;

	(void)state;
	parse_text(text, &p);
	assert_int_equal(p.ret, 0);
	assert_int_equal(p.format, SIM_TRACE_TEXT);
	assert_int_equal(p.count, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < p.count; i++) {
		assert_true(p.rec[i].page == want[i].page);
		assert_int_equal(p.rec[i].write, want[i].write);
		assert_int_equal(p.rec[i].kind, SIM_ACCESS_SEEN);
		assert_int_equal(p.rec[i].time_us, 0);
	}
}

static void empty_and_comment_only_text_traces_have_no_records(void **state)
{
	struct parsed p;

	(void)state;
	parse_text("", &p);
	assert_int_equal(p.ret, 0);
	assert_int_equal(p.count, 0);
	parse_text("# nothing\n\n   \n#\n", &p);
	assert_int_equal(p.ret, 0);
	assert_int_equal(p.count, 0);
}

static void text_errors_name_the_file_and_the_line(void **state)
{
	const struct { const char *text; const char *message; } cases[] = {
		{ "1\n2\nfoo\n", "t.txt:3: expected a page number" },
		{ "1\n-5\n", "t.txt:2: expected a page number" },
		{ "# c\n\n\n12abc\n", "t.txt:4: expected a page number" },
		{ "0x\n", "t.txt:1: expected a page number" },
		{ "0xg1\n", "t.txt:1: expected a page number" },
		{ "5W\n", "t.txt:1: expected a page number" },
		{ "1.5\n", "t.txt:1: expected a page number" },
		{ "5 X\n", "t.txt:1: unexpected 'X' after the page number" },
		{ "5 w\n", "t.txt:1: unexpected 'w' after the page number" },
		{ "5 6\n", "t.txt:1: unexpected '6' after the page number" },
		{ "1\n5 WW\n", "t.txt:2: unexpected 'W' after 'W'" },
		{ "18446744073709551615\n", "t.txt:1: page number out of range" },
		{ "18446744073709551616\n", "t.txt:1: page number out of range" },
		{ "99999999999999999999999999\n", "t.txt:1: page number out of range" },
		{ "0xffffffffffffffff\n", "t.txt:1: page number out of range" },
		{ "0x10000000000000000\n", "t.txt:1: page number out of range" },
	};
	struct parsed p;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse_text(cases[i].text, &p);
		if (p.ret != -EINVAL || strncmp(p.error, cases[i].message, strlen(cases[i].message)))
			fail_msg("'%s': got %d '%s', want '%s'", cases[i].text, p.ret,
				 p.error, cases[i].message);
	}
}

static void text_error_shows_unprintable_bytes_escaped(void **state)
{
	static const char text[] = { '1', ' ', 0x01, '\n' };
	struct parsed p;

	(void)state;
	parse_bytes(text, sizeof(text), &p);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt:1: unexpected '\\x01' after the page number "
			    "(expected ' W', a '#' comment or the end of the line)");
}

static void load_reports_the_line_of_a_malformed_file(void **state)
{
	char *path = temp_path();
	char err[SIM_TRACE_ERR_LEN], want[600];
	struct sim_trace t;
	FILE *f = fopen(path, "w");

	(void)state;
	assert_non_null(f);
	for (int i = 1; i < 17; i++)
		fprintf(f, "%d\n", i);
	fprintf(f, "oops\n");
	fclose(f);
	assert_int_equal(sim_trace_load(path, &t, err), -EINVAL);
	snprintf(want, sizeof(want), "%s:17: expected a page number", path);
	assert_string_equal(err, want);
	assert_int_equal(sim_trace_load("/nonexistent/trace.txt", &t, err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/trace.txt: cannot open"));
	unlink(path);
	free(path);
}

/* ---- binary ------------------------------------------------------------ */

/* Write @n records to @path (options: 0 or SIM_TRACE_ZSTD), read them back. */
static void round_trip(unsigned options, size_t n)
{
	struct sim_trace_record *want = calloc(n, sizeof(*want)), got;
	struct sim_trace_writer *w;
	struct sim_trace_reader *r;
	char err[SIM_TRACE_ERR_LEN];
	char *path = temp_path();
	uint64_t rng = 0x243f6a8885a308d3ULL, time = 1000, expect_time = 1000;
	size_t i;

	assert_non_null(want);
	for (i = 0; i < n; i++) {
		uint64_t x = next_random(&rng);

		switch (x % 6) {
		case 0: want[i].page = i ? want[i - 1].page + 1 : 0; break;   /* sequential */
		case 1: want[i].page = x >> 1; break;                        /* anywhere */
		case 2: want[i].page = UINT64_MAX - 1 - (x % 3); break;      /* the top */
		case 3: want[i].page = x % 7; break;                         /* the bottom */
		default: want[i].page = i ? want[i - 1].page - (x % 100) : 5; break;
		}
		if (want[i].page == UINT64_MAX)
			want[i].page = 3;
		want[i].write = (x >> 8) & 1;
		want[i].kind = (enum sim_access_kind)((x >> 9) % 3);
		/* Mostly small steps, sometimes huge, sometimes backwards. */
		if (x % 50 == 0)
			time += (x >> 20);
		else if (x % 17 == 0)
			time -= (time > 10 ? 10 : 0);
		else
			time += (x >> 12) % 300;
		want[i].time_us = time;
	}
	assert_int_equal(sim_trace_writer_open(path, 1000, options, &w), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(sim_trace_writer_append(w, &want[i]), 0);
	assert_int_equal(sim_trace_writer_close(w), 0);

	assert_int_equal(sim_trace_reader_open(path, &r, err), 0);
	assert_int_equal(sim_trace_reader_format(r), SIM_TRACE_BINARY);
	for (i = 0; i < n; i++) {
		assert_int_equal(sim_trace_reader_next(r, &got), 1);
		assert_true(got.page == want[i].page);
		assert_int_equal(got.write, want[i].write);
		assert_int_equal(got.kind, want[i].kind);
		/* A step backwards in time is recorded as no step. */
		if (want[i].time_us > expect_time)
			expect_time = want[i].time_us;
		assert_true(got.time_us == expect_time);
	}
	assert_int_equal(sim_trace_reader_next(r, &got), 0);
	sim_trace_reader_close(r);
	unlink(path);
	free(path);
	free(want);
}

static void binary_round_trip_keeps_every_field(void **state)
{
	(void)state;
	round_trip(0, 0);
	round_trip(0, 1);
	round_trip(0, 200000);          /* several writer buffers */
}

static void zstd_round_trip_keeps_every_field_or_is_refused(void **state)
{
	struct sim_trace_writer *w;

	(void)state;
	if (!sim_trace_have_zstd()) {
		/* Not skip(): cmocka reports it as "not ok", which meson fails. */
		print_message("# built without libzstd: checking that zstd is refused\n");
		assert_int_equal(sim_trace_writer_open("/tmp/x", 0, SIM_TRACE_ZSTD, &w), -ENOTSUP);
		return;
	}
	round_trip(SIM_TRACE_ZSTD, 0);
	round_trip(SIM_TRACE_ZSTD, 1);
	round_trip(SIM_TRACE_ZSTD, 200000);
}

static void sequential_pages_take_two_bytes_a_record(void **state)
{
	struct sim_trace_writer *w;
	char *path = temp_path();
	struct stat st;

	(void)state;
	assert_int_equal(sim_trace_writer_open(path, 0, 0, &w), 0);
	for (uint64_t i = 0; i < 1000; i++) {
		struct sim_trace_record rec = { .page = 0x100000 + i, .time_us = 3 * i,
						.write = i & 1, .kind = SIM_ACCESS_MISSING };

		assert_int_equal(sim_trace_writer_append(w, &rec), 0);
	}
	assert_int_equal(sim_trace_writer_close(w), 0);
	assert_int_equal(stat(path, &st), 0);
	/* The first record's jump to 0x100000 takes 3 more bytes. */
	assert_int_equal(st.st_size, SIM_TRACE_HEADER_LEN + 2 * 1000 + 3);
	unlink(path);
	free(path);
}

static void writer_rejects_the_reserved_page_and_unknown_kinds(void **state)
{
	struct sim_trace_record rec = { .page = UINT64_MAX };
	struct sim_trace_writer *w;
	char *path = temp_path();

	(void)state;
	assert_int_equal(sim_trace_writer_open(path, 0, 0, &w), 0);
	assert_int_equal(sim_trace_writer_append(w, &rec), -EINVAL);
	rec.page = 1;
	rec.kind = (enum sim_access_kind)3;
	assert_int_equal(sim_trace_writer_append(w, &rec), -EINVAL);
	assert_int_equal(sim_trace_writer_close(w), 0);
	assert_int_equal(sim_trace_writer_open("/nonexistent/dir/t.pvmt", 0, 0, &w), -ENOENT);
	unlink(path);
	free(path);
}

/* A header as the writer makes it, then @body. */
static size_t make_binary(unsigned char *buf, unsigned version, unsigned flags,
			  const unsigned char *body, size_t len)
{
	memset(buf, 0, SIM_TRACE_HEADER_LEN);
	memcpy(buf, SIM_TRACE_MAGIC, 8);
	buf[8] = (unsigned char)version;
	buf[10] = SIM_TRACE_HEADER_LEN;
	buf[12] = (unsigned char)flags;
	buf[24] = 12;
	if (len)
		memcpy(buf + SIM_TRACE_HEADER_LEN, body, len);
	return SIM_TRACE_HEADER_LEN + len;
}

static void malformed_binary_traces_are_refused_with_a_reason(void **state)
{
	static const unsigned char two_records[] = { 0x20, 0x05, 0x0b, 0x00 };
	static const unsigned char truncated[] = { 0x20, 0x05, 0x80 };
	static const unsigned char bad_kind[] = { 0x06, 0x00 };
	static const unsigned char too_long[] = {
		0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00 };
	static const unsigned char reserved_page[] = { 0x08, 0x00 };  /* 0 - 1 */
	static const unsigned char huge_dt[] = {
		0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
	unsigned char buf[128];
	struct parsed p;
	size_t n;

	(void)state;
	/* The good case first: page 2 (zigzag 4), +5 us; then page 1 (-1). */
	n = make_binary(buf, 1, 0, two_records, sizeof(two_records));
	parse_bytes(buf, n, &p);
	assert_int_equal(p.ret, 0);
	assert_int_equal(p.format, SIM_TRACE_BINARY);
	assert_int_equal(p.count, 2);
	assert_int_equal(p.rec[0].page, 2);
	assert_int_equal(p.rec[0].time_us, 5);
	assert_int_equal(p.rec[1].page, 1);
	assert_true(p.rec[1].write);
	assert_int_equal(p.rec[1].kind, SIM_ACCESS_MISSING);

	n = make_binary(buf, 2, 0, NULL, 0);
	parse_bytes(buf, n, &p);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt: binary trace version 2; this build reads version 1");

	n = make_binary(buf, 1, 0x4, NULL, 0);
	parse_bytes(buf, n, &p);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt: unknown header flags 0x4");

	parse_bytes(buf, 20, &p);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt: truncated header");

	n = make_binary(buf, 1, 0, truncated, sizeof(truncated));
	parse_bytes(buf, n, &p);
	assert_int_equal(p.count, 1);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt: record 2: truncated");

	n = make_binary(buf, 1, 0, bad_kind, sizeof(bad_kind));
	parse_bytes(buf, n, &p);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt: record 1: unknown access kind 3");

	n = make_binary(buf, 1, 0, too_long, sizeof(too_long));
	parse_bytes(buf, n, &p);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt: record 1: varint overflows 64 bits");

	n = make_binary(buf, 1, 0, reserved_page, sizeof(reserved_page));
	parse_bytes(buf, n, &p);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt: record 1: page number out of range");

	n = make_binary(buf, 1, 0, huge_dt, sizeof(huge_dt));
	parse_bytes(buf, n, &p);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt: record 1: varint overflows 64 bits");

	/* Claims zstd, holds garbage. */
	n = make_binary(buf, 1, SIM_TRACE_ZSTD, two_records, sizeof(two_records));
	parse_bytes(buf, n, &p);
	assert_int_equal(p.ret, sim_trace_have_zstd() ? -EINVAL : -ENOTSUP);
	assert_non_null(strstr(p.error, "zstd"));
}

static void a_text_file_starting_like_the_magic_is_still_text(void **state)
{
	struct parsed p;

	(void)state;
	parse_text("PVMTRAC\n", &p);
	assert_int_equal(p.format, SIM_TRACE_TEXT);
	assert_int_equal(p.ret, -EINVAL);
	assert_string_equal(p.error, "t.txt:1: expected a page number");
}

static void load_reads_binary_traces_too(void **state)
{
	struct sim_trace_record rec = { .page = 77, .write = true };
	char err[SIM_TRACE_ERR_LEN];
	struct sim_trace_writer *w;
	char *path = temp_path();
	struct sim_trace t;

	(void)state;
	assert_int_equal(sim_trace_writer_open(path, 0, 0, &w), 0);
	for (int i = 0; i < 10000; i++) {
		rec.page = 77 + (uint64_t)(i % 100);
		rec.write = i % 3 == 0;
		assert_int_equal(sim_trace_writer_append(w, &rec), 0);
	}
	assert_int_equal(sim_trace_writer_close(w), 0);
	assert_int_equal(sim_trace_load(path, &t, err), 0);
	assert_int_equal(t.format, SIM_TRACE_BINARY);
	assert_int_equal(t.count, 10000);
	for (size_t i = 0; i < t.count; i++) {
		assert_int_equal(t.pages[i], 77 + i % 100);
		assert_int_equal(t.writes[i], i % 3 == 0);
	}
	sim_trace_free(&t);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_reads_decimal_hex_writes_comments_and_blank_lines),
		cmocka_unit_test(empty_and_comment_only_text_traces_have_no_records),
		cmocka_unit_test(text_errors_name_the_file_and_the_line),
		cmocka_unit_test(text_error_shows_unprintable_bytes_escaped),
		cmocka_unit_test(load_reports_the_line_of_a_malformed_file),
		cmocka_unit_test(binary_round_trip_keeps_every_field),
		cmocka_unit_test(zstd_round_trip_keeps_every_field_or_is_refused),
		cmocka_unit_test(sequential_pages_take_two_bytes_a_record),
		cmocka_unit_test(writer_rejects_the_reserved_page_and_unknown_kinds),
		cmocka_unit_test(malformed_binary_traces_are_refused_with_a_reason),
		cmocka_unit_test(a_text_file_starting_like_the_magic_is_still_text),
		cmocka_unit_test(load_reads_binary_traces_too),
	};

	return cmocka_run_group_tests_name("sim_trace", tests, NULL, NULL);
}
