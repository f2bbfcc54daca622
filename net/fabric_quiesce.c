/* net/fabric_quiesce.c — settle RMA reads that are still out before an
 * endpoint is closed.
 *
 * Why: closing an rxm endpoint over libfabric 1.17's tcp provider (Debian
 * 12's) while an RMA read's response is half received crashes: inside
 * fi_close(), ofi_rxm flushes the tcp connection's queues and meets a
 * FI_ECANCELED completion error whose context is NULL, which it
 * dereferences (SIGSEGV at libfabric.so.1 +0xb83f9, rxm's completion-error
 * handler; gdb: %rbp == 0 at `cmpl $0x14,0x20(%rbp)`). Seen only with
 * reads out, never with writes, and only when responses are large enough
 * to be cut in the middle: the tcp provider reports the read in progress
 * twice (from its queue of pending reads and as the message being
 * received), the second time with its context gone. That is the double
 * report fixed upstream after 1.17 (ofiwg/libfabric#8660). A read is left
 * half received when its peer stops sending mid-response: a cut link, a
 * stopped pod.
 *
 * How: when reads are still out at close, shut the reading side of the
 * endpoint's connected TCP sockets (shutdown(SHUT_RD): the next receive
 * sees end-of-stream, as if the peer had closed). The provider then ends
 * the half-received read through its receive-error path, which reports it
 * once, and the other reads with it; we drain those reports, then close.
 * The sockets are found through the CQ's wait object: on tcp it is an
 * epoll set that holds (directly or through nested epoll sets) the
 * sockets of this endpoint's connections, since waiting on the CQ must
 * wake when data reaches them. /proc/self/fdinfo lists the members of an
 * epoll set. Nothing is closed here: the provider still owns every fd.
 *
 * Measured (tests/unit/net/test_fabric_close.c: 24 rounds of 128 reads
 * of 256 KiB, the pod stopped mid-batch, timeout, reconnect, close): 10
 * and 17 of 24 rounds crashed in two runs without this; 0 of 96 with it.
 * When no connected socket is found (another provider version, /proc not
 * mounted), close goes ahead as before.
 */
#include "fabric_internal.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* Epoll sets nest a few levels in the tcp provider (CQ, then progress
 * sets); more than this is not a structure we know. */
#define QUIESCE_DEPTH_MAX       4
/* How long close waits for the provider to report the reads it ends. */
#define QUIESCE_DRAIN_MS        200

static bool fd_is_epoll(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:[eventpoll]");
}

/* A connected TCP socket (not a listener, not a socketpair). */
static bool fd_is_tcp_connection(int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int domain, type;
	socklen_t olen = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &olen) ||
	    (domain != AF_INET && domain != AF_INET6))
		return false;
	olen = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) || type != SOCK_STREAM)
		return false;
	return getpeername(fd, (struct sockaddr *)&peer, &len) == 0;
}

/* Shut the reading side of every TCP connection in epoll set @epfd and
 * the sets nested in it. Return: sockets shut. */
static unsigned shut_epoll_members(int epfd, unsigned depth)
{
	char path[64], line[256];
	unsigned shut = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", epfd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		struct stat st;
		int fd;

		if (sscanf(line, "tfd: %d", &fd) != 1 || fd < 0 || fd == epfd)
			continue;
		if (fstat(fd, &st))
			continue;
		if (S_ISSOCK(st.st_mode)) {
			if (fd_is_tcp_connection(fd) && shutdown(fd, SHUT_RD) == 0)
				shut++;
		} else if (depth < QUIESCE_DEPTH_MAX && fd_is_epoll(fd)) {
			shut += shut_epoll_members(fd, depth + 1);
		}
	}
	fclose(f);
	return shut;
}

void net_endpoint_quiesce(struct net_endpoint *ep)
{
	uint64_t deadline, t0;
	size_t out;
	unsigned shut;

	if (!ep->ep || !ep->info || !strstr(ep->info->fabric_attr->prov_name, "tcp"))
		return;
	pthread_mutex_lock(&ep->lock);
	net_cq_drain_locked(ep);
	if (ep->rma_reads_out == 0 || ep->cq_fd < 0) {
		pthread_mutex_unlock(&ep->lock);
		return;
	}
	out = ep->rma_reads_out;
	shut = shut_epoll_members(ep->cq_fd, 1);
	t0 = net_now_ns();
	deadline = t0 + QUIESCE_DRAIN_MS * 1000000ull;
	/* Reads still queued behind a connection that never came up are not
	 * on a socket; they cannot be half received and may stay out. */
	while (ep->rma_reads_out && shut && net_now_ns() < deadline) {
		struct timespec nap = { 0, 200000 };

		if (net_cq_drain_locked(ep) > 0)
			continue;
		pthread_mutex_unlock(&ep->lock);
		nanosleep(&nap, NULL);
		pthread_mutex_lock(&ep->lock);
	}
	/* Once per endpoint of a dead peer: worth a line, not a counter. */
	pvm_info("net: closing an endpoint with %zu RMA read%s still out: shut "
		 "%u connection%s for reading, %zu read%s ended in %llu us",
		 out, out == 1 ? "" : "s", shut, shut == 1 ? "" : "s",
		 out - ep->rma_reads_out, out - ep->rma_reads_out == 1 ? "" : "s",
		 (unsigned long long)((net_now_ns() - t0) / 1000));
	pthread_mutex_unlock(&ep->lock);
}
