/* pods/gpu/link.h — the byte transports the GPU protocol runs on: TCP
 * (any guest) and libfabric (between hosts), behind one ops table.
 *
 * Concepts: a link is an ordered, reliable byte stream between one client
 * and the pod, whatever carries it. The GPU framing and the handshake
 * (conn.h) are written once on top of it, so both transports carry the
 * very same bytes. Two implementations:
 *
 *  - tcp (link.c): a connected stream socket, as before.
 *  - fabric (link_fabric.c): a libfabric reliable-datagram endpoint
 *    (tcp;ofi_rxm, verbs;ofi_rxm or shm). The stream is cut into messages
 *    of at most GPU_LINK_FABRIC_MSG bytes, each with a 24-byte link header
 *    (connection token, sequence number); the receiver checks both and
 *    reassembles the bytes in order. libfabric is loaded with dlopen when
 *    the first fabric link is made, so neither the shim nor the lean pod
 *    depends on it unless fabric is used. Since a reliable-datagram
 *    endpoint has no connection to lose, both sides send a PING when they
 *    have sent nothing for a quarter of the idle timeout, and a link that
 *    has heard nothing for the whole timeout is dead (-ETIMEDOUT, then
 *    -ECONNRESET): that is how the pod notices a client that vanished.
 *
 * Addresses: "HOST:PORT" is TCP; "fabric://HOST:PORT" is libfabric
 * (for shm: "fabric://NAME" with the name the pod prints).
 *
 * Threads: one thread sends and one receives at a time on a link (the
 * shim and the pod serialize their calls); shutdown() may be called from
 * any thread and makes blocked calls return -ECONNRESET.
 */
#ifndef POOLVM_GPU_LINK_H
#define POOLVM_GPU_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define GPU_LINK_FABRIC_SCHEME  "fabric://"
#define GPU_LINK_FABRIC_MSG     65536u          /* one message, header included */
#define GPU_LINK_IDLE_MS        20000u          /* default idle timeout */

struct gpu_link;

struct gpu_link_ops {
	const char *name;               /* "tcp", "fabric" */
	/* Send every byte of @iov[0..@n) in order. 0, -EPIPE/-ECONNRESET
	 * (peer gone), -ETIMEDOUT, -errno. */
	int (*send)(struct gpu_link *l, const struct iovec *iov, int n);
	/* Receive exactly @len bytes. 0, -ECONNRESET (closed, also
	 * mid-way), -ETIMEDOUT (set_timeout), -EPROTO (a broken stream),
	 * -errno. */
	int (*recv)(struct gpu_link *l, void *buf, size_t len);
	/* Deadline for each later send/recv; 0: none. */
	void (*set_timeout)(struct gpu_link *l, unsigned int ms);
	/* Make calls blocked on the link return (any thread). */
	void (*shutdown)(struct gpu_link *l);
	/* Free the link (closing the connection). */
	void (*close)(struct gpu_link *l);
};

struct gpu_link {
	const struct gpu_link_ops *ops;
	char peer[128];                 /* for messages: the peer's address */
	char why[160];                  /* why it broke, when the transport knows */
};

static inline int gpu_link_send(struct gpu_link *l, const struct iovec *iov, int n)
{
	return l->ops->send(l, iov, n);
}

static inline int gpu_link_recv(struct gpu_link *l, void *buf, size_t len)
{
	return l->ops->recv(l, buf, len);
}

static inline void gpu_link_close(struct gpu_link *l)
{
	if (l)
		l->ops->close(l);
}

/**
 * gpu_link_tcp() - a link on a connected socket @fd (owned by the link
 * from now on, closed on failure too). Return: 0 and *@out, -ENOMEM.
 */
int gpu_link_tcp(int fd, struct gpu_link **out);

/**
 * gpu_link_connect() - connect to a GPU pod: "HOST:PORT" over TCP,
 * "fabric://HOST:PORT" over libfabric with @provider (NULL: "auto").
 * Return: 0 and *@out, or -errno with a sentence in @err.
 */
int gpu_link_connect(const char *address, const char *provider,
		     struct gpu_link **out, char *err, size_t errlen);

/* ---- libfabric (link_fabric.c) ---- */

struct gpu_fabric_listener;

struct gpu_fabric_stats {
	uint64_t clients;               /* links open now */
	uint64_t accepted;              /* CONNECTs accepted */
	uint64_t timed_out;             /* links dropped by the idle timeout */
	uint64_t bad;                   /* messages dropped: not ours, malformed, unknown token */
};

/**
 * gpu_fabric_listen() - open the pod's fabric endpoint on @hostport with
 * @provider ("tcp", "verbs", "shm", "auto"); links whose peer has been
 * silent for @idle_ms (0: GPU_LINK_IDLE_MS) are dropped. The address
 * clients use goes to @bound ("fabric://..."), the provider's name to
 * @prov. Return: 0, or -errno with a sentence in @err (-ENOPKG when
 * libfabric cannot be loaded, -ENODATA when no such provider).
 */
int gpu_fabric_listen(const char *hostport, const char *provider, unsigned int idle_ms,
		      struct gpu_fabric_listener **out, char *bound, size_t boundlen,
		      char *prov, size_t provlen, char *err, size_t errlen);

/**
 * gpu_fabric_accept() - wait for the next client (a CONNECT) for up to
 * @timeout_ms. Return: 0 and *@out, -ETIMEDOUT, -ECANCELED after
 * gpu_fabric_listener_stop().
 */
int gpu_fabric_accept(struct gpu_fabric_listener *fl, int timeout_ms, struct gpu_link **out);

/** gpu_fabric_listener_stop() - make accept() return -ECANCELED. */
void gpu_fabric_listener_stop(struct gpu_fabric_listener *fl);

/** gpu_fabric_listener_stats() - counters of the listener. */
void gpu_fabric_listener_stats(struct gpu_fabric_listener *fl, struct gpu_fabric_stats *out);

/**
 * gpu_fabric_listener_close() - close the endpoint. Every link accepted
 * from it must be closed first.
 */
void gpu_fabric_listener_close(struct gpu_fabric_listener *fl);

/** gpu_fabric_connect() - the client side: "HOST:PORT" (no scheme). */
int gpu_fabric_connect(const char *hostport, const char *provider,
		       struct gpu_link **out, char *err, size_t errlen);

#endif
