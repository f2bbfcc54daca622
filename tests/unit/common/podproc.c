/* tests/unit/common/podproc.c — start a real pod for a unit test; ask
 * whether libfabric can open an endpoint here. */
#include "podproc.h"

#include "fabric.h"

#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool test_fabric_available(const char *provider)
{
	bool shm = !strcmp(provider, "shm");
	struct net_endpoint_opts o = {
		.provider = provider,
		.node = shm ? NULL : "127.0.0.1",
		.rx_buffers = 1,
	};
	struct net_endpoint *ep;

	if (net_endpoint_open(&o, &ep))
		return false;
	net_endpoint_close(ep);
	return true;
}

size_t test_read_line(int fd, char *line, size_t size, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	size_t len = 0;

	line[0] = '\0';
	while (!strchr(line, '\n') && len < size - 1 && now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t got;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		got = read(fd, line + len, size - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
		line[len] = '\0';
	}
	return len;
}

int test_pod_start(char *const argv[], pid_t *pid, char *addr, size_t addrlen,
		   char *why, size_t whylen)
{
	char line[512] = "", fmt[32], *at;
	int out[2];
	pid_t p;

	if (pipe(out)) {
		snprintf(why, whylen, "pipe failed");
		return -1;
	}
	p = fork();
	if (p < 0) {
		close(out[0]);
		close(out[1]);
		snprintf(why, whylen, "fork failed");
		return -1;
	}
	if (p == 0) {
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	test_read_line(out[0], line, sizeof(line), 10000);
	close(out[0]);
	at = strstr(line, " on ");
	if (!at || addrlen < 2) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		snprintf(why, whylen, "no serving line: '%s'", line);
		return -1;
	}
	snprintf(fmt, sizeof(fmt), "%%%zus", addrlen - 1);
	if (sscanf(at + 4, fmt, addr) != 1) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		snprintf(why, whylen, "no address in: '%s'", line);
		return -1;
	}
	*pid = p;
	return 0;
}
