/* sim/trace.h — page access traces: read text or binary, write binary.
 *
 * Concepts: a trace is a sequence of records, one per observed access to a
 * guest page: the page number (guest-physical address >> 12), whether it
 * was a write, how it was observed (the fault kind) and when, in
 * microseconds. Two formats, told apart by their first bytes:
 *  - text: one page number per line, decimal or 0x-hex, optionally followed
 *    by " W" for a write; blank lines and '#' comments are ignored. Strict:
 *    anything else is an error naming the file and line. Text carries no
 *    fault kind or time (both read as 0).
 *  - binary (docs/sim.md): a 32-byte header starting with "PVMTRACE", then
 *    records of a zigzag varint page delta sharing its first byte with the
 *    flags, and a varint time delta; optionally the record stream is one
 *    zstd stream (when built with libzstd).
 * The writer produces the binary format and is what the pager uses to
 * record: it buffers in memory and writes in large blocks.
 *
 * Readers and writers are not thread-safe; each belongs to one thread at a
 * time. Page numbers are below UINT64_MAX (the policies' reserved key).
 */
#ifndef POOLVM_SIM_TRACE_H
#define POOLVM_SIM_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* How an access was observed (2 bits in the binary format). */
enum sim_access_kind {
	SIM_ACCESS_SEEN = 0,     /* an access, source unspecified (text, synthetic) */
	SIM_ACCESS_MISSING = 1,  /* a missing-page fault: the page was not resident */
	SIM_ACCESS_WP = 2,       /* a write-protect fault on a resident page */
};

struct sim_trace_record {
	uint64_t page;           /* < UINT64_MAX */
	uint64_t time_us;        /* absolute: the header's start plus all deltas */
	bool write;
	enum sim_access_kind kind;
};

enum sim_trace_format { SIM_TRACE_TEXT, SIM_TRACE_BINARY };

#define SIM_TRACE_MAGIC      "PVMTRACE"
#define SIM_TRACE_VERSION    1
#define SIM_TRACE_HEADER_LEN 32

/* Writer options. */
#define SIM_TRACE_ZSTD       (1u << 0)   /* compress the record stream */

/* Longest error message the readers produce, with its terminator. */
#define SIM_TRACE_ERR_LEN    512

struct sim_trace_reader;
struct sim_trace_writer;

/**
 * sim_trace_have_zstd() - whether this build reads and writes zstd traces.
 */
bool sim_trace_have_zstd(void);

/**
 * sim_trace_reader_open() - open the trace at @path, detecting its format.
 * @err: on failure, a message naming the file and the problem.
 * Return: 0 and *@out; -errno (opening or reading the file, -ENOMEM),
 * -EINVAL for a malformed binary header, -ENOTSUP for zstd without libzstd.
 */
int sim_trace_reader_open(const char *path, struct sim_trace_reader **out,
			  char err[SIM_TRACE_ERR_LEN]);

/**
 * sim_trace_reader_open_file() - as sim_trace_reader_open() on an open
 * stream; @name is used in messages. The reader does not close @f.
 */
int sim_trace_reader_open_file(FILE *f, const char *name,
			       struct sim_trace_reader **out,
			       char err[SIM_TRACE_ERR_LEN]);

/**
 * sim_trace_reader_next() - the next record.
 * Return: 1 and *@rec; 0 at the end of the trace; -EINVAL for a malformed
 * record (message in sim_trace_reader_error(), e.g.
 * "trace.txt:17: expected a page number"); -errno on a read error.
 */
int sim_trace_reader_next(struct sim_trace_reader *r, struct sim_trace_record *rec);

/** sim_trace_reader_error() - the last error's message ("" if none). */
const char *sim_trace_reader_error(const struct sim_trace_reader *r);

/** sim_trace_reader_format() - the format detected at open. */
enum sim_trace_format sim_trace_reader_format(const struct sim_trace_reader *r);

/** sim_trace_reader_close() - NULL is a no-op. */
void sim_trace_reader_close(struct sim_trace_reader *r);

/**
 * sim_trace_writer_open() - create (or truncate) @path as a binary trace.
 * @start_us: the time the records' deltas start from (e.g. CLOCK_MONOTONIC
 *            in µs when recording began); stored in the header.
 * @options:  SIM_TRACE_ZSTD or 0.
 * Return: 0 and *@out; -errno from open/write; -ENOTSUP for SIM_TRACE_ZSTD
 * in a build without libzstd; -ENOMEM.
 */
int sim_trace_writer_open(const char *path, uint64_t start_us, unsigned options,
			  struct sim_trace_writer **out);

/**
 * sim_trace_writer_append() - add one record. A time earlier than the
 * previous record's is recorded as equal to it (deltas are unsigned).
 * Return: 0; -EINVAL for page UINT64_MAX or an unknown kind; -errno when a
 * buffered write failed (the writer then refuses further records).
 */
int sim_trace_writer_append(struct sim_trace_writer *w, const struct sim_trace_record *rec);

/**
 * sim_trace_writer_close() - flush, close the file and free @w (NULL: no-op).
 * Return: 0, or the first -errno any write or the close met.
 */
int sim_trace_writer_close(struct sim_trace_writer *w);

/* A whole trace in memory, as the simulator replays it. */
struct sim_trace {
	uint64_t *pages;         /* count entries */
	uint8_t *writes;         /* 1 for a write */
	size_t count;
	enum sim_trace_format format;
};

/* Records one in-memory trace may hold (access indices are 32-bit in the
 * simulator). */
#define SIM_TRACE_MAX_RECORDS ((size_t)UINT32_MAX - 1)

/**
 * sim_trace_load() - read the whole trace at @path into @out.
 * Return: 0; a negative errno with @err filled (see sim_trace_reader_next();
 * -EFBIG past SIM_TRACE_MAX_RECORDS).
 */
int sim_trace_load(const char *path, struct sim_trace *out, char err[SIM_TRACE_ERR_LEN]);

/** sim_trace_free() - free what sim_trace_load() filled; @t becomes empty. */
void sim_trace_free(struct sim_trace *t);

#endif
