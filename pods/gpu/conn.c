/* pods/gpu/conn.c — framing and handshake of the GPU protocol on a link
 * (link.h), and the TCP sockets under the tcp link. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "auth.h"
#include "hostport.h"

int gpu_conn_send(struct gpu_link *l, unsigned int kind, const void *payload, uint32_t len)
{
	uint8_t hdr[GPU_PROTO_HDR_LEN];
	struct iovec iov[2];

	gpu_frame_hdr_encode(hdr, kind, len);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	return gpu_link_send(l, iov, len ? 2 : 1);
}

int gpu_conn_recv(struct gpu_link *l, struct gpu_frame_hdr *hdr, uint8_t **buf, size_t *cap)
{
	uint8_t raw[GPU_PROTO_HDR_LEN];
	int ret;

	ret = gpu_link_recv(l, raw, sizeof(raw));
	if (ret)
		return ret;
	ret = gpu_frame_hdr_decode(raw, hdr);
	if (ret)
		return ret;
	if (hdr->len > *cap || !*buf) {
		size_t want = hdr->len ? hdr->len : 1;
		uint8_t *p = realloc(*buf, want);

		if (!p)
			return -ENOMEM;
		*buf = p;
		*cap = want;
	}
	return hdr->len ? gpu_link_recv(l, *buf, hdr->len) : 0;
}

void gpu_conn_tune(int fd)
{
	int one = 1, idle = 5, intvl = 2, cnt = 3;
	unsigned int user_timeout = 20000;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

static int resolve(const char *hostport, bool passive, struct addrinfo **res,
		   char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 };
	char host[256], port[16];
	int ret;

	if (net_split_host_port(hostport, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "'%s' is not HOST:PORT (e.g. 10.0.0.5:7400 or [::1]:7400)",
			 hostport);
		return -EINVAL;
	}
	ret = getaddrinfo(host, port, &hints, res);
	if (ret) {
		snprintf(err, errlen, "cannot resolve '%s': %s", hostport, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	return 0;
}

int gpu_conn_connect(const char *hostport, char *err, size_t errlen)
{
	struct addrinfo *res, *ai;
	int fd = -1, ret, saved = ECONNREFUSED;

	ret = resolve(hostport, false, &res, err, errlen);
	if (ret)
		return ret;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to GPU pod %s: %s", hostport, strerror(saved));
		return -saved;
	}
	gpu_conn_tune(fd);
	return fd;
}

int gpu_conn_listen(const char *hostport, char *bound, size_t boundlen,
		    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *res;
	char host[INET6_ADDRSTRLEN];
	int fd, one = 1, ret;

	ret = resolve(hostport, true, &res, err, errlen);
	if (ret)
		return ret;
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		ret = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", hostport, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return ret;
	}
	freeaddrinfo(res);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(bound, boundlen, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(bound, boundlen, "%s:%u", host, ntohs(s4->sin_port));
	}
	return fd;
}

static void set_timeout(struct gpu_link *l, unsigned int ms)
{
	l->ops->set_timeout(l, ms);
}

/* Read an id (u32 length, printable ASCII) at @p; @len bytes are there. */
static int read_id(const uint8_t *p, size_t len, char *id)
{
	uint32_t n, i;

	if (len < 4)
		return -EPROTO;
	n = gpu_get32(p);
	if (n == 0 || n > GPU_PROTO_ID_MAX || n != len - 4)
		return -EPROTO;
	for (i = 0; i < n; i++)
		if (p[4 + i] < 0x20 || p[4 + i] > 0x7e)
			return -EPROTO;
	memcpy(id, p + 4, n);
	id[n] = '\0';
	return 0;
}

static int recv_kind(struct gpu_link *l, unsigned int kind, uint8_t *buf, size_t cap, size_t *len,
		     char *err, size_t errlen)
{
	struct gpu_frame_hdr hdr;
	uint8_t *p = NULL;
	size_t pcap = 0;
	int ret;

	ret = gpu_conn_recv(l, &hdr, &p, &pcap);
	if (ret) {
		if (l->why[0])
			snprintf(err, errlen, "connection lost during the handshake: %s", l->why);
		else if (ret == -EPROTO || ret == -E2BIG)
			snprintf(err, errlen, "bad frame: %s", gpu_proto_last_error());
		else
			snprintf(err, errlen, "connection lost during the handshake: %s",
				 strerror(-ret));
		free(p);
		return ret;
	}
	if (hdr.kind == GPU_FRAME_REFUSED && kind != GPU_FRAME_REFUSED) {
		uint32_t n = hdr.len >= 4 ? gpu_get32(p) : 0;

		if (n > hdr.len - 4 || n > 200)
			n = 0;
		snprintf(err, errlen, "refused by the GPU pod: %.*s", (int)n, p ? (char *)p + 4 : "");
		free(p);
		return -EACCES;
	}
	if (hdr.kind != kind || hdr.len > cap) {
		snprintf(err, errlen, "handshake: unexpected frame kind %u of %u bytes",
			 hdr.kind, hdr.len);
		free(p);
		return -EPROTO;
	}
	if (hdr.len)
		memcpy(buf, p, hdr.len);
	*len = hdr.len;
	free(p);
	return 0;
}

int gpu_handshake_client(struct gpu_link *l, const struct pvm_auth_secret *secret,
			 const char *client_id, char *pod_id,
			 char *err, size_t errlen)
{
	uint8_t cn[GPU_PROTO_NONCE_LEN], pn[GPU_PROTO_NONCE_LEN], mac[GPU_PROTO_MAC_LEN];
	uint8_t buf[GPU_PROTO_NONCE_LEN + 4 + GPU_PROTO_ID_MAX + GPU_PROTO_MAC_LEN];
	size_t idlen = strlen(client_id), len;
	int ret;

	if (idlen == 0 || idlen > GPU_PROTO_ID_MAX)
		return -EINVAL;
	set_timeout(l, 10000);
	pvm_auth_nonce(cn);
	memcpy(buf, cn, sizeof(cn));
	gpu_put32(buf + sizeof(cn), (uint32_t)idlen);
	memcpy(buf + sizeof(cn) + 4, client_id, idlen);
	ret = gpu_conn_send(l, GPU_FRAME_HELLO, buf, (uint32_t)(sizeof(cn) + 4 + idlen));
	if (!ret)
		ret = recv_kind(l, GPU_FRAME_CHALLENGE, buf, sizeof(buf), &len, err, errlen);
	if (ret)
		goto out;
	if (len != sizeof(pn)) {
		snprintf(err, errlen, "handshake: CHALLENGE of %zu bytes", len);
		ret = -EPROTO;
		goto out;
	}
	memcpy(pn, buf, sizeof(pn));
	pvm_auth_client_mac(secret, cn, pn, client_id, mac);
	ret = gpu_conn_send(l, GPU_FRAME_AUTH, mac, sizeof(mac));
	if (!ret)
		ret = recv_kind(l, GPU_FRAME_AUTH_OK, buf, sizeof(buf), &len, err, errlen);
	if (ret)
		goto out;
	if (len < GPU_PROTO_MAC_LEN ||
	    read_id(buf + GPU_PROTO_MAC_LEN, len - GPU_PROTO_MAC_LEN, pod_id)) {
		snprintf(err, errlen, "handshake: malformed AUTH_OK");
		ret = -EPROTO;
		goto out;
	}
	if (pvm_auth_pod_verify(secret, cn, pn, pod_id, buf)) {
		snprintf(err, errlen, "GPU pod '%s' does not know the shared secret", pod_id);
		ret = -EACCES;
	}
out:
	if (ret == -ECONNRESET && !err[0])
		snprintf(err, errlen, "the GPU pod closed the connection");
	set_timeout(l, 0);
	return ret;
}

static void refuse(struct gpu_link *l, const char *why)
{
	uint8_t buf[256];
	size_t n = strlen(why);

	if (n > sizeof(buf) - 4)
		n = sizeof(buf) - 4;
	gpu_put32(buf, (uint32_t)n);
	memcpy(buf + 4, why, n);
	gpu_conn_send(l, GPU_FRAME_REFUSED, buf, (uint32_t)(4 + n));
}

int gpu_handshake_pod(struct gpu_link *l, const struct pvm_auth_secret *secret,
		      const char *pod_id, char *client_id,
		      char *err, size_t errlen)
{
	uint8_t cn[GPU_PROTO_NONCE_LEN], pn[GPU_PROTO_NONCE_LEN];
	uint8_t buf[GPU_PROTO_NONCE_LEN + 4 + GPU_PROTO_ID_MAX + GPU_PROTO_MAC_LEN];
	size_t len, idlen = strlen(pod_id);
	int ret;

	set_timeout(l, 10000);
	ret = recv_kind(l, GPU_FRAME_HELLO, buf, sizeof(buf), &len, err, errlen);
	if (ret)
		goto out;
	if (len < sizeof(cn) || read_id(buf + sizeof(cn), len - sizeof(cn), client_id)) {
		snprintf(err, errlen, "malformed HELLO");
		refuse(l, "malformed HELLO");
		ret = -EPROTO;
		goto out;
	}
	memcpy(cn, buf, sizeof(cn));
	pvm_auth_nonce(pn);
	ret = gpu_conn_send(l, GPU_FRAME_CHALLENGE, pn, sizeof(pn));
	if (!ret)
		ret = recv_kind(l, GPU_FRAME_AUTH, buf, sizeof(buf), &len, err, errlen);
	if (ret)
		goto out;
	if (len != GPU_PROTO_MAC_LEN ||
	    pvm_auth_client_verify(secret, cn, pn, client_id, buf)) {
		snprintf(err, errlen, "client '%s' does not know the shared secret", client_id);
		refuse(l, "authentication failed: the shared secrets differ");
		ret = -EACCES;
		goto out;
	}
	pvm_auth_pod_mac(secret, cn, pn, pod_id, buf);
	gpu_put32(buf + GPU_PROTO_MAC_LEN, (uint32_t)idlen);
	memcpy(buf + GPU_PROTO_MAC_LEN + 4, pod_id, idlen);
	ret = gpu_conn_send(l, GPU_FRAME_AUTH_OK, buf, (uint32_t)(GPU_PROTO_MAC_LEN + 4 + idlen));
out:
	set_timeout(l, 0);
	return ret;
}
