/* pods/gpu/link.c — the tcp link (a connected stream socket) and the
 * choice of transport by address (link.h). */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "conn.h"

struct tcp_link {
	struct gpu_link link;
	int fd;
};

#define TCP(l) ((struct tcp_link *)(l))

static int tcp_send(struct gpu_link *l, const struct iovec *iov_in, int n)
{
	struct iovec iov[8];
	struct msghdr mh = { .msg_iov = iov };
	size_t left = 0;
	ssize_t k;

	if (n < 1 || n > 8)
		return -EINVAL;
	memcpy(iov, iov_in, (size_t)n * sizeof(*iov));
	mh.msg_iovlen = (size_t)n;
	for (int i = 0; i < n; i++)
		left += iov[i].iov_len;
	while (left) {
		k = sendmsg(TCP(l)->fd, &mh, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		left -= (size_t)k;
		while (k > 0 && mh.msg_iovlen) {
			if ((size_t)k >= mh.msg_iov[0].iov_len) {
				k -= (ssize_t)mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov[0].iov_base = (uint8_t *)mh.msg_iov[0].iov_base + k;
				mh.msg_iov[0].iov_len -= (size_t)k;
				k = 0;
			}
		}
	}
	return 0;
}

static int tcp_recv(struct gpu_link *l, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = recv(TCP(l)->fd, p, len, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void tcp_set_timeout(struct gpu_link *l, unsigned int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	setsockopt(TCP(l)->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(TCP(l)->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void tcp_shutdown(struct gpu_link *l)
{
	shutdown(TCP(l)->fd, SHUT_RDWR);
}

static void tcp_close(struct gpu_link *l)
{
	close(TCP(l)->fd);
	free(l);
}

static const struct gpu_link_ops tcp_link_ops = {
	.name = "tcp",
	.send = tcp_send,
	.recv = tcp_recv,
	.set_timeout = tcp_set_timeout,
	.shutdown = tcp_shutdown,
	.close = tcp_close,
};

int gpu_link_tcp(int fd, struct gpu_link **out)
{
	struct tcp_link *t = calloc(1, sizeof(*t));

	if (!t) {
		close(fd);
		return -ENOMEM;
	}
	t->link.ops = &tcp_link_ops;
	t->fd = fd;
	*out = &t->link;
	return 0;
}

int gpu_link_connect(const char *address, const char *provider,
		     struct gpu_link **out, char *err, size_t errlen)
{
	size_t sl = strlen(GPU_LINK_FABRIC_SCHEME);
	int fd, ret;

	if (!strncmp(address, GPU_LINK_FABRIC_SCHEME, sl))
		return gpu_fabric_connect(address + sl, provider, out, err, errlen);
	if (strstr(address, "://")) {
		snprintf(err, errlen, "'%s': unknown scheme (HOST:PORT is TCP, "
			 GPU_LINK_FABRIC_SCHEME "HOST:PORT libfabric)", address);
		return -EINVAL;
	}
	fd = gpu_conn_connect(address, err, errlen);
	if (fd < 0)
		return fd;
	ret = gpu_link_tcp(fd, out);
	if (!ret)
		snprintf((*out)->peer, sizeof((*out)->peer), "%s", address);
	return ret;
}
