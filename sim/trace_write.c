/* sim/trace_write.c — the binary trace writer (format: docs/sim.md).
 *
 * Records are encoded into a 64 KiB buffer and written with write(2) when it
 * fills, compressed first when the trace is zstd. Appending a record costs
 * a few byte stores; the pager can record from its fault path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace.h"

#ifdef SIM_HAVE_ZSTD
#include <zstd.h>
#endif

#define WRITER_BUF  (64 * 1024)
#define RECORD_MAX  20          /* two varints of at most 10 bytes */

struct sim_trace_writer {
	int fd;
	int error;                      /* first failure, sticky */
	unsigned char *buf;
	size_t len;
	uint64_t prev_page;
	uint64_t prev_time_us;
#ifdef SIM_HAVE_ZSTD
	ZSTD_CStream *zstream;          /* NULL: plain records */
	unsigned char *zout;
	size_t zout_cap;
#endif
};

static void put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put_le32(unsigned char *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

#ifdef SIM_HAVE_ZSTD
/* Feed buf to the compressor; @mode ZSTD_e_end also closes the frame. */
static int writer_compress(struct sim_trace_writer *w, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { w->buf, w->len, 0 };
	size_t left;

	do {
		ZSTD_outBuffer out = { w->zout, w->zout_cap, 0 };
		int ret;

		left = ZSTD_compressStream2(w->zstream, &out, &in, mode);
		if (ZSTD_isError(left))
			return -EIO;
		ret = write_all(w->fd, w->zout, out.pos);
		if (ret < 0)
			return ret;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}
#endif

static int writer_flush(struct sim_trace_writer *w, bool last)
{
	int ret;

	if (w->error)
		return w->error;
#ifdef SIM_HAVE_ZSTD
	if (w->zstream)
		ret = writer_compress(w, last ? ZSTD_e_end : ZSTD_e_continue);
	else
#endif
		ret = write_all(w->fd, w->buf, w->len);
	(void)last;
	w->len = 0;
	if (ret < 0)
		w->error = ret;
	return ret;
}

int sim_trace_writer_open(const char *path, uint64_t start_us, unsigned options,
			  struct sim_trace_writer **out)
{
	unsigned char h[SIM_TRACE_HEADER_LEN] = { 0 };
	struct sim_trace_writer *w;
	int ret;

	if (options & ~SIM_TRACE_ZSTD)
		return -EINVAL;
#ifndef SIM_HAVE_ZSTD
	if (options & SIM_TRACE_ZSTD)
		return -ENOTSUP;
#endif
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = -1;
	w->buf = malloc(WRITER_BUF);
	if (!w->buf)
		goto err_nomem;
#ifdef SIM_HAVE_ZSTD
	if (options & SIM_TRACE_ZSTD) {
		w->zout_cap = ZSTD_CStreamOutSize();
		w->zout = malloc(w->zout_cap);
		w->zstream = ZSTD_createCStream();
		if (!w->zout || !w->zstream)
			goto err_nomem;
		ZSTD_CCtx_setParameter(w->zstream, ZSTD_c_compressionLevel, 3);
	}
#endif
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	memcpy(h, SIM_TRACE_MAGIC, sizeof(SIM_TRACE_MAGIC) - 1);
	put_le16(h + 8, SIM_TRACE_VERSION);
	put_le16(h + 10, SIM_TRACE_HEADER_LEN);
	put_le32(h + 12, options & SIM_TRACE_ZSTD);
	put_le64(h + 16, start_us);
	put_le32(h + 24, 12);           /* page shift: 4 KiB pages */
	ret = write_all(w->fd, h, sizeof(h));
	if (ret < 0)
		goto err_free;
	w->prev_time_us = start_us;
	*out = w;
	return 0;

err_nomem:
	ret = -ENOMEM;
err_free:
	if (w->fd >= 0)
		close(w->fd);
#ifdef SIM_HAVE_ZSTD
	ZSTD_freeCStream(w->zstream);
	free(w->zout);
#endif
	free(w->buf);
	free(w);
	return ret;
}

int sim_trace_writer_append(struct sim_trace_writer *w, const struct sim_trace_record *rec)
{
	unsigned char *p;
	uint64_t delta, zigzag, dt;
	unsigned flags;

	if (w->error)
		return w->error;
	if (rec->page == UINT64_MAX || (unsigned)rec->kind > SIM_ACCESS_WP)
		return -EINVAL;
	if (w->len > WRITER_BUF - RECORD_MAX && writer_flush(w, false) < 0)
		return w->error;
	p = w->buf + w->len;
	/* Page: zigzag of the wrapping delta, low 4 bits beside the flags. */
	delta = rec->page - w->prev_page;
	zigzag = (delta << 1) ^ (0 - (delta >> 63));
	flags = (rec->write ? 1u : 0u) | (unsigned)rec->kind << 1;
	*p = (unsigned char)(flags | (zigzag & 0xf) << 3);
	zigzag >>= 4;
	if (zigzag)
		*p |= 0x80;
	p++;
	while (zigzag) {
		*p = (unsigned char)(zigzag & 0x7f);
		zigzag >>= 7;
		if (zigzag)
			*p |= 0x80;
		p++;
	}
	/* Time: microseconds since the previous record, never negative. */
	dt = rec->time_us > w->prev_time_us ? rec->time_us - w->prev_time_us : 0;
	do {
		*p = (unsigned char)(dt & 0x7f);
		dt >>= 7;
		if (dt)
			*p |= 0x80;
		p++;
	} while (dt);
	w->len = (size_t)(p - w->buf);
	w->prev_page = rec->page;
	if (rec->time_us > w->prev_time_us)
		w->prev_time_us = rec->time_us;
	return 0;
}

int sim_trace_writer_close(struct sim_trace_writer *w)
{
	int ret;

	if (!w)
		return 0;
	ret = writer_flush(w, true);
	if (close(w->fd) < 0 && ret == 0)
		ret = -errno;
#ifdef SIM_HAVE_ZSTD
	ZSTD_freeCStream(w->zstream);
	free(w->zout);
#endif
	free(w->buf);
	free(w);
	return ret;
}
