/* tests/unit/common/podproc.h — unit tests that need a real memory pod
 * start one here: fork and exec it, read its address from its serving
 * line ("poolvm pod: serving ... on ADDR (tcp)"); and whether libfabric
 * can open an endpoint here at all. */
#ifndef POOLVM_TESTS_PODPROC_H
#define POOLVM_TESTS_PODPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/**
 * test_fabric_available() - whether an endpoint of @provider opens here
 * (on 127.0.0.1, or without an address for "shm"). A test that cannot
 * run without it leaves its cases out of the plan rather than skip them
 * (cmocka's skip is a failure to meson's TAP parser).
 */
bool test_fabric_available(const char *provider);

/**
 * test_pod_start() - run @argv (argv[0] the pod executable, NULL-ended)
 * with its stdout on a pipe; wait up to 10 s for the serving line.
 * Return: 0 with *@pid and @addr; -1 with what it printed in @why (the
 * child is killed and reaped).
 */
/**
 * test_read_line() - read from @fd into @line (@size bytes, kept
 * NUL-terminated) until a newline, end of file or @timeout_ms.
 * Return: the bytes read.
 */
size_t test_read_line(int fd, char *line, size_t size, unsigned timeout_ms);

int test_pod_start(char *const argv[], pid_t *pid, char *addr, size_t addrlen,
		   char *why, size_t whylen);

#endif
