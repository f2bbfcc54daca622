/* sim/trace_read.c — trace readers: text and binary, detected by magic.
 *
 * Both parsers pull bytes from one buffered source, which is either the file
 * itself or, for a compressed binary trace, a zstd decompression stream
 * behind it. Untrusted input: every malformed byte is an error with the
 * file's name and the line or record where it was found, never a crash.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

#ifdef SIM_HAVE_ZSTD
#include <zstd.h>
#endif

#define SOURCE_BUF (64 * 1024)

/* Bytes of a trace, decoded: buf[pos, len) is what is left of the last fill. */
struct byte_source {
	FILE *f;
	unsigned char *buf;
	size_t len, pos;
	bool eof;
#ifdef SIM_HAVE_ZSTD
	ZSTD_DStream *zstream;          /* NULL: plain bytes */
	unsigned char *zin;             /* compressed bytes read from f */
	size_t zin_len, zin_pos;
	bool zin_eof;
	size_t zlast;                   /* last ZSTD_decompressStream() result */
#endif
};

struct sim_trace_reader {
	struct byte_source src;
	FILE *owned;                    /* closed by sim_trace_reader_close() */
	char *name;
	enum sim_trace_format format;
	uint64_t line;                  /* text: current line, from 1 */
	uint64_t record;                /* records returned so far */
	uint64_t prev_page;             /* binary: delta base */
	uint64_t time_us;               /* binary: running time */
	char error[SIM_TRACE_ERR_LEN];
};

bool sim_trace_have_zstd(void)
{
#ifdef SIM_HAVE_ZSTD
	return true;
#else
	return false;
#endif
}

static int reader_fail(struct sim_trace_reader *r, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int reader_fail(struct sim_trace_reader *r, int ret, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->error, sizeof(r->error), "%s: ", r->name);

	if (n < 0 || (size_t)n >= sizeof(r->error))
		return ret;
	va_start(ap, fmt);
	vsnprintf(r->error + n, sizeof(r->error) - (size_t)n, fmt, ap);
	va_end(ap);
	return ret;
}

/* A text error: "name:line: message". */
static int text_fail(struct sim_trace_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int text_fail(struct sim_trace_reader *r, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->error, sizeof(r->error), "%s:%llu: ", r->name,
			 (unsigned long long)r->line);

	if (n < 0 || (size_t)n >= sizeof(r->error))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(r->error + n, sizeof(r->error) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- the byte source --------------------------------------------------- */

static int source_read_file(struct sim_trace_reader *r, unsigned char *dst,
			    size_t cap, size_t *got)
{
	int e;

	errno = 0;
	*got = fread(dst, 1, cap, r->src.f);
	if (*got == 0 && ferror(r->src.f)) {
		e = errno ? errno : EIO;
		return reader_fail(r, -e, "cannot read: %s", strerror(e));
	}
	return 0;
}

/* Refill buf. Return 0 (src.eof set when nothing is left) or -errno. */
static int source_fill(struct sim_trace_reader *r)
{
	struct byte_source *s = &r->src;
	size_t got;
	int ret;

	s->pos = 0;
	s->len = 0;
#ifdef SIM_HAVE_ZSTD
	while (s->zstream) {
		ZSTD_inBuffer in = { s->zin, s->zin_len, s->zin_pos };
		ZSTD_outBuffer out = { s->buf, SOURCE_BUF, 0 };

		if (s->zin_pos == s->zin_len && !s->zin_eof) {
			ret = source_read_file(r, s->zin, SOURCE_BUF, &got);
			if (ret < 0)
				return ret;
			s->zin_len = got;
			s->zin_pos = 0;
			s->zin_eof = got == 0;
			continue;
		}
		if (s->zin_pos == s->zin_len && s->zlast == 0) {
			s->eof = true;  /* every frame ended, nothing left */
			return 0;
		}
		in.pos = s->zin_pos;
		s->zlast = ZSTD_decompressStream(s->zstream, &out, &in);
		s->zin_pos = in.pos;
		if (ZSTD_isError(s->zlast))
			return reader_fail(r, -EINVAL, "corrupt zstd stream: %s",
					   ZSTD_getErrorName(s->zlast));
		if (out.pos) {
			s->len = out.pos;
			return 0;
		}
		if (s->zin_pos == s->zin_len && s->zin_eof) {
			if (s->zlast != 0)
				return reader_fail(r, -EINVAL, "truncated zstd stream");
			s->eof = true;
			return 0;
		}
	}
#endif
	ret = source_read_file(r, s->buf, SOURCE_BUF, &got);
	if (ret < 0)
		return ret;
	s->len = got;
	s->eof = got == 0;
	return 0;
}

/* The next byte, -1 at the end, or -errno - 1 (always < -1) on error. */
static int source_getc_slow(struct sim_trace_reader *r)
{
	int ret;

	if (r->src.eof)
		return -1;
	ret = source_fill(r);
	if (ret < 0)
		return ret - 1;
	if (r->src.eof)
		return -1;
	return r->src.buf[r->src.pos++];
}

static inline int source_getc(struct sim_trace_reader *r)
{
	if (r->src.pos < r->src.len)
		return r->src.buf[r->src.pos++];
	return source_getc_slow(r);
}

#define SOURCE_EOF -1
#define SOURCE_FAILED(c) ((c) < -1)
#define SOURCE_ERRNO(c) ((c) + 1)

/* ---- text -------------------------------------------------------------- */

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool ends_field(int c)
{
	return is_blank(c) || c == '\n' || c == '#' || c == SOURCE_EOF;
}

/* "'x'" or "'\xNN'" for a message. */
static const char *show_char(int c, char buf[8])
{
	if (c == SOURCE_EOF)
		return "end of file";
	if (c >= 0x21 && c < 0x7f)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "'\\x%02x'", (unsigned)c & 0xff);
	return buf;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse the number starting with @c; *@c becomes the first byte after it. */
static int text_number(struct sim_trace_reader *r, int *c, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	bool digits = false, overflow = false;
	int d;

	if (*c == '0') {
		*c = source_getc(r);
		if (*c == 'x' || *c == 'X') {
			base = 16;
			*c = source_getc(r);
		} else {
			digits = true;
		}
	}
	for (;; *c = source_getc(r)) {
		d = base == 16 ? hex_value(*c) : (*c >= '0' && *c <= '9' ? *c - '0' : -1);
		if (d < 0)
			break;
		digits = true;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			overflow = true;
		else
			v = v * base + (uint64_t)d;
	}
	if (SOURCE_FAILED(*c))
		return SOURCE_ERRNO(*c);
	if (!digits || !ends_field(*c))
		return text_fail(r, "expected a page number");
	if (overflow || v == UINT64_MAX)
		return text_fail(r, "page number out of range (the largest is 0xfffffffffffffffe)");
	*out = v;
	return 0;
}

/* Skip to the end of the line (a comment). Return the '\n' or EOF/error. */
static int text_skip_line(struct sim_trace_reader *r)
{
	int c;

	do
		c = source_getc(r);
	while (c != '\n' && c >= 0);
	return c;
}

static int text_next(struct sim_trace_reader *r, struct sim_trace_record *rec)
{
	char shown[8];
	int c, ret;

	for (;;) {
		do
			c = source_getc(r);
		while (is_blank(c));
		if (SOURCE_FAILED(c))
			return SOURCE_ERRNO(c);
		if (c == SOURCE_EOF)
			return 0;
		if (c == '#')
			c = text_skip_line(r);
		if (c == '\n') {
			r->line++;
			continue;
		}
		if (c == SOURCE_EOF)
			return 0;
		if (SOURCE_FAILED(c))
			return SOURCE_ERRNO(c);
		break;
	}
	memset(rec, 0, sizeof(*rec));
	ret = text_number(r, &c, &rec->page);
	if (ret < 0)
		return ret;
	if (is_blank(c)) {
		do
			c = source_getc(r);
		while (is_blank(c));
		if (c == 'W') {
			rec->write = true;
			c = source_getc(r);
			if (!ends_field(c) && !SOURCE_FAILED(c))
				return text_fail(r, "unexpected %s after 'W'", show_char(c, shown));
			while (is_blank(c))
				c = source_getc(r);
		}
	}
	if (c == '#')
		c = text_skip_line(r);
	if (SOURCE_FAILED(c))
		return SOURCE_ERRNO(c);
	if (c != '\n' && c != SOURCE_EOF)
		return text_fail(r, "unexpected %s after the page number (expected ' W', a '#' comment or the end of the line)",
				 show_char(c, shown));
	if (c == '\n')
		r->line++;
	return 1;
}

/* ---- binary ------------------------------------------------------------ */

static uint16_t get_le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Read @n header bytes into @dst. Return 0, or -EINVAL if the file ends. */
static int binary_read(struct sim_trace_reader *r, unsigned char *dst, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int c = source_getc(r);

		if (SOURCE_FAILED(c))
			return SOURCE_ERRNO(c);
		if (c == SOURCE_EOF)
			return reader_fail(r, -EINVAL, "truncated header");
		if (dst)
			dst[i] = (unsigned char)c;
	}
	return 0;
}

static int binary_open(struct sim_trace_reader *r)
{
	unsigned char h[SIM_TRACE_HEADER_LEN];
	unsigned version, header_len;
	uint32_t flags;
	int ret;

	ret = binary_read(r, h, sizeof(h));
	if (ret < 0)
		return ret;
	version = get_le16(h + 8);
	header_len = get_le16(h + 10);
	flags = get_le32(h + 12);
	r->time_us = get_le64(h + 16);
	if (version != SIM_TRACE_VERSION)
		return reader_fail(r, -EINVAL, "binary trace version %u; this build reads version %u",
				   version, SIM_TRACE_VERSION);
	if (header_len < SIM_TRACE_HEADER_LEN)
		return reader_fail(r, -EINVAL, "header length %u is shorter than %u",
				   header_len, SIM_TRACE_HEADER_LEN);
	if (flags & ~(uint32_t)SIM_TRACE_ZSTD)
		return reader_fail(r, -EINVAL, "unknown header flags 0x%x", flags);
	/* A longer header (a later revision of version 1) is skipped. */
	ret = binary_read(r, NULL, header_len - SIM_TRACE_HEADER_LEN);
	if (ret < 0)
		return ret;
	if (!(flags & SIM_TRACE_ZSTD))
		return 0;
#ifdef SIM_HAVE_ZSTD
	/* What is left of the plain buffer is the start of the zstd stream. */
	r->src.zin = malloc(SOURCE_BUF);
	r->src.zstream = ZSTD_createDStream();
	if (!r->src.zin || !r->src.zstream)
		return reader_fail(r, -ENOMEM, "out of memory");
	ZSTD_initDStream(r->src.zstream);
	r->src.zin_len = r->src.len - r->src.pos;
	memcpy(r->src.zin, r->src.buf + r->src.pos, r->src.zin_len);
	r->src.zin_pos = 0;
	r->src.zlast = 1;
	r->src.pos = r->src.len = 0;
	r->src.eof = false;
	return 0;
#else
	return reader_fail(r, -ENOTSUP,
			   "zstd-compressed trace, but this build has no zstd support (install libzstd-dev and rebuild)");
#endif
}

/* One LEB128 continuation of a varint whose first byte gave @shift bits. */
static int binary_varint_rest(struct sim_trace_reader *r, uint64_t *v, unsigned shift)
{
	for (;;) {
		int c = source_getc(r);

		if (SOURCE_FAILED(c))
			return SOURCE_ERRNO(c);
		if (c == SOURCE_EOF)
			return reader_fail(r, -EINVAL, "record %llu: truncated",
					   (unsigned long long)r->record + 1);
		if (shift > 63 || (shift > 57 && ((unsigned)c & 0x7f) >> (64 - shift)))
			return reader_fail(r, -EINVAL, "record %llu: varint overflows 64 bits",
					   (unsigned long long)r->record + 1);
		*v |= (uint64_t)((unsigned)c & 0x7f) << shift;
		shift += 7;
		if (!(c & 0x80))
			return 0;
	}
}

static int binary_next(struct sim_trace_reader *r, struct sim_trace_record *rec)
{
	uint64_t zigzag, delta, dt = 0;
	unsigned flags, kind;
	int c, ret;

	c = source_getc(r);
	if (SOURCE_FAILED(c))
		return SOURCE_ERRNO(c);
	if (c == SOURCE_EOF)
		return 0;
	flags = (unsigned)c & 0x7;
	zigzag = ((unsigned)c >> 3) & 0xf;
	if (c & 0x80) {
		ret = binary_varint_rest(r, &zigzag, 4);
		if (ret < 0)
			return ret;
	}
	c = source_getc(r);
	if (SOURCE_FAILED(c))
		return SOURCE_ERRNO(c);
	if (c == SOURCE_EOF)
		return reader_fail(r, -EINVAL, "record %llu: truncated",
				   (unsigned long long)r->record + 1);
	dt = (unsigned)c & 0x7f;
	if (c & 0x80) {
		ret = binary_varint_rest(r, &dt, 7);
		if (ret < 0)
			return ret;
	}
	kind = flags >> 1;
	if (kind > SIM_ACCESS_WP)
		return reader_fail(r, -EINVAL, "record %llu: unknown access kind %u",
				   (unsigned long long)r->record + 1, kind);
	delta = (zigzag >> 1) ^ (0 - (zigzag & 1));
	rec->page = r->prev_page + delta;
	if (rec->page == UINT64_MAX)
		return reader_fail(r, -EINVAL, "record %llu: page number out of range",
				   (unsigned long long)r->record + 1);
	if (r->time_us > UINT64_MAX - dt)
		return reader_fail(r, -EINVAL, "record %llu: time overflows 64 bits",
				   (unsigned long long)r->record + 1);
	r->time_us += dt;
	r->prev_page = rec->page;
	rec->time_us = r->time_us;
	rec->write = flags & 1;
	rec->kind = (enum sim_access_kind)kind;
	return 1;
}

/* ---- the reader -------------------------------------------------------- */

int sim_trace_reader_open_file(FILE *f, const char *name, struct sim_trace_reader **out,
			       char err[SIM_TRACE_ERR_LEN])
{
	struct sim_trace_reader *r = calloc(1, sizeof(*r));
	const size_t magic_len = sizeof(SIM_TRACE_MAGIC) - 1;
	int ret;

	if (!r)
		goto err_nomem;
	r->name = strdup(name);
	r->src.buf = malloc(SOURCE_BUF);
	if (!r->name || !r->src.buf)
		goto err_free;
	r->src.f = f;
	r->line = 1;
	ret = source_fill(r);
	if (ret < 0)
		goto err_msg;
	/* Format by magic (fread() filled the buffer or met the end). */
	if (r->src.len >= magic_len && memcmp(r->src.buf, SIM_TRACE_MAGIC, magic_len) == 0) {
		r->format = SIM_TRACE_BINARY;
		ret = binary_open(r);
		if (ret < 0)
			goto err_msg;
	} else {
		r->format = SIM_TRACE_TEXT;
	}
	*out = r;
	return 0;

err_msg:
	snprintf(err, SIM_TRACE_ERR_LEN, "%s", r->error);
	sim_trace_reader_close(r);
	return ret;
err_free:
	sim_trace_reader_close(r);
err_nomem:
	snprintf(err, SIM_TRACE_ERR_LEN, "%s: out of memory", name);
	return -ENOMEM;
}

int sim_trace_reader_open(const char *path, struct sim_trace_reader **out,
			  char err[SIM_TRACE_ERR_LEN])
{
	FILE *f = fopen(path, "rb");
	int ret;

	if (!f) {
		ret = -errno;
		snprintf(err, SIM_TRACE_ERR_LEN, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	ret = sim_trace_reader_open_file(f, path, out, err);
	if (ret < 0) {
		fclose(f);
		return ret;
	}
	(*out)->owned = f;
	return 0;
}

int sim_trace_reader_next(struct sim_trace_reader *r, struct sim_trace_record *rec)
{
	int ret;

	if (r->format == SIM_TRACE_TEXT)
		ret = text_next(r, rec);
	else
		ret = binary_next(r, rec);
	if (ret > 0)
		r->record++;
	else if (ret < 0 && !r->error[0])
		reader_fail(r, ret, "%s", strerror(-ret));
	return ret;
}

const char *sim_trace_reader_error(const struct sim_trace_reader *r)
{
	return r->error;
}

enum sim_trace_format sim_trace_reader_format(const struct sim_trace_reader *r)
{
	return r->format;
}

void sim_trace_reader_close(struct sim_trace_reader *r)
{
	if (!r)
		return;
#ifdef SIM_HAVE_ZSTD
	ZSTD_freeDStream(r->src.zstream);
	free(r->src.zin);
#endif
	if (r->owned)
		fclose(r->owned);
	free(r->src.buf);
	free(r->name);
	free(r);
}

/* ---- whole traces ------------------------------------------------------ */

static int trace_grow(struct sim_trace *t, size_t *cap)
{
	size_t n = *cap ? *cap * 2 : 4096;
	uint64_t *pages;
	uint8_t *writes;

	if (n > SIM_TRACE_MAX_RECORDS)
		n = SIM_TRACE_MAX_RECORDS;
	pages = realloc(t->pages, n * sizeof(*pages));
	if (!pages)
		return -ENOMEM;
	t->pages = pages;
	writes = realloc(t->writes, n * sizeof(*writes));
	if (!writes)
		return -ENOMEM;
	t->writes = writes;
	*cap = n;
	return 0;
}

int sim_trace_load(const char *path, struct sim_trace *out, char err[SIM_TRACE_ERR_LEN])
{
	struct sim_trace_reader *r = NULL;
	struct sim_trace_record rec;
	struct sim_trace t = { 0 };
	size_t cap = 0;
	int ret;

	ret = sim_trace_reader_open(path, &r, err);
	if (ret < 0)
		return ret;
	t.format = r->format;
	while ((ret = sim_trace_reader_next(r, &rec)) > 0) {
		if (t.count == SIM_TRACE_MAX_RECORDS) {
			snprintf(err, SIM_TRACE_ERR_LEN, "%s: more than %zu records",
				 path, SIM_TRACE_MAX_RECORDS);
			ret = -EFBIG;
			goto err_free;
		}
		if (t.count == cap && trace_grow(&t, &cap) < 0) {
			snprintf(err, SIM_TRACE_ERR_LEN, "%s: out of memory after %zu records",
				 path, t.count);
			ret = -ENOMEM;
			goto err_free;
		}
		t.pages[t.count] = rec.page;
		t.writes[t.count] = rec.write;
		t.count++;
	}
	if (ret < 0) {
		snprintf(err, SIM_TRACE_ERR_LEN, "%s", sim_trace_reader_error(r));
		goto err_free;
	}
	sim_trace_reader_close(r);
	*out = t;
	return 0;

err_free:
	sim_trace_free(&t);
	sim_trace_reader_close(r);
	return ret;
}

void sim_trace_free(struct sim_trace *t)
{
	free(t->pages);
	free(t->writes);
	memset(t, 0, sizeof(*t));
}
