/* common/common.h — small helpers every poolvm module shares.
 *
 * Concepts: sizes are parsed the way operators write them ("512M", "2G",
 * "4096"); errors are reported once, where they are handled, through
 * pvm_err(), which prefixes the program name. Nothing here allocates on a
 * hot path.
 */
#ifndef POOLVM_COMMON_H
#define POOLVM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define PVM_PAGE_SHIFT 12
#define PVM_PAGE_SIZE  (1UL << PVM_PAGE_SHIFT)

#define PVM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PVM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PVM_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PVM_EXPORT __attribute__((visibility("default")))
#define PVM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/**
 * pvm_parse_size() - parse "123", "4K", "512M", "2G", "1T" (binary units).
 * @text: the operator's string.
 * @out:  bytes on success.
 *
 * Return: 0, or -EINVAL for anything that is not a size (empty, trailing
 * junk, unknown unit), -ERANGE on overflow. Any thread.
 */
int pvm_parse_size(const char *text, uint64_t *out);

/** pvm_format_size() - "512.0 MiB" style rendering into @buf; returns @buf. */
char *pvm_format_size(uint64_t bytes, char *buf, size_t len);

/** pvm_now_ns() - CLOCK_MONOTONIC in nanoseconds. Any thread. */
uint64_t pvm_now_ns(void);

/**
 * pvm_deadline_ms() - @clock's time now plus @ms milliseconds, for
 * pthread_cond_timedwait() on a condition using that clock.
 */
struct timespec pvm_deadline_ms(clockid_t clock, unsigned ms);

/** pvm_asprintf() - a formatted string in new memory (free it), or NULL. */
char *pvm_asprintf(const char *fmt, ...) PVM_PRINTF(1, 2);

/** pvm_set_progname() - name used as prefix of messages (default "poolvm"). */
void pvm_set_progname(const char *name);

/**
 * pvm_set_err_context() - messages printed after this begin with @ctx
 * ("poolvm: vm.conf:3: key 'mem': ..."), until it is set to NULL. For the
 * thread that parses options (not thread-local: set it only there).
 */
void pvm_set_err_context(const char *ctx);

/** pvm_err() - print "poolvm: <message>" to stderr. Any thread. */
void pvm_err(const char *fmt, ...) PVM_PRINTF(1, 2);

/** pvm_info() - print an informational line to stderr unless quiet. */
void pvm_info(const char *fmt, ...) PVM_PRINTF(1, 2);

/** pvm_set_quiet() - silence pvm_info(). */
void pvm_set_quiet(bool quiet);

/** pvm_page_is_zero() - true if the 4 KiB page at @page holds only zeros. */
bool pvm_page_is_zero(const void *page);

#endif
