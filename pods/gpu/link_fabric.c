/* pods/gpu/link_fabric.c — the fabric link (link.h): the GPU protocol's
 * byte stream over a libfabric reliable-datagram endpoint.
 *
 * Messages: a 24-byte link header, then up to GPU_LINK_FABRIC_MSG - 24
 * payload bytes:
 *
 *   0 u32 magic "PVGL"   4 u8 type   5 u8 0   6 u16 0
 *   8 u32 seq (per link and direction, from 0; every type counts)
 *  12 u32 payload length (the message's length - 24)
 *  16 u64 token (the link, chosen at random by the client)
 *
 * Types: CONNECT (client -> pod; payload: the client endpoint's name),
 * ACCEPT (pod -> client; u32 idle timeout in ms), REJECT (text), DATA
 * (stream bytes), PING (nothing), CLOSE (nothing). The endpoint is opened
 * with FI_ORDER_SAS, so messages of a link arrive in order; the sequence
 * number checks it (a gap or a repeat breaks the link, -EPROTO). Messages
 * that do not parse, or name no link, are counted and dropped.
 *
 * One thread per endpoint reads the completion queue (the pod has one
 * endpoint for all clients, a client one of its own): it copies received
 * payloads to their link's stream buffer and posts the buffer again,
 * frees send buffers as their sends complete, pings links that have been
 * quiet and ends those that have heard nothing for the idle timeout.
 * Senders copy into a free send buffer and post; they wait only when all
 * are in flight. Everything is under the endpoint's one mutex (libfabric
 * objects are opened FI_THREAD_DOMAIN).
 *
 * libfabric is loaded with dlopen on first use: only fi_getinfo,
 * fi_freeinfo, fi_dupinfo, fi_fabric and fi_strerror are functions of the
 * library; the rest of its API is inline calls through the objects' ops.
 */
#include "link.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#include "hostport.h"
#include "proto.h"

#define L_MAGIC         0x4c475650u     /* "PVGL" */
#define L_HDR           24u
#define L_PAYLOAD       (GPU_LINK_FABRIC_MSG - L_HDR)
#define L_NAME_MAX      256u
#define L_RX_POD        64u
#define L_RX_CLIENT     32u
#define L_TX            64u
#define L_SPIN_NS       50000ull
#define L_TICK_NS       100000000ull
#define L_CONNECT_MS    10000
#define L_ACCEPT_QUEUE  64u
#define L_REORDER       256u            /* messages a link holds ahead of its turn */
/* A link buffers at most one largest frame (and a message) unread. */
#define L_STREAM_MAX    ((size_t)GPU_PROTO_MAX_PAYLOAD + GPU_PROTO_HDR_LEN + GPU_LINK_FABRIC_MSG)

enum { L_CONNECT = 1, L_ACCEPT, L_REJECT, L_DATA, L_PING, L_CLOSE };

/* ---- libfabric, loaded at run time ---- */

static struct {
	pthread_once_t once;
	void *dl;
	char why[256];
	int (*getinfo)(uint32_t, const char *, const char *, uint64_t,
		       const struct fi_info *, struct fi_info **);
	void (*freeinfo)(struct fi_info *);
	struct fi_info *(*dupinfo)(const struct fi_info *);
	int (*fabric)(struct fi_fabric_attr *, struct fid_fabric **, void *);
	const char *(*strerror)(int);
} lf = { .once = PTHREAD_ONCE_INIT };

static void lf_load(void)
{
	const char *name = getenv("POOLVM_LIBFABRIC");

	if (!name || !*name)
		name = "libfabric.so.1";
	lf.dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (!lf.dl) {
		snprintf(lf.why, sizeof(lf.why), "cannot load %s (install libfabric1): %s",
			 name, dlerror());
		return;
	}
	lf.getinfo = (__typeof__(lf.getinfo))dlsym(lf.dl, "fi_getinfo");
	lf.freeinfo = (__typeof__(lf.freeinfo))dlsym(lf.dl, "fi_freeinfo");
	lf.dupinfo = (__typeof__(lf.dupinfo))dlsym(lf.dl, "fi_dupinfo");
	lf.fabric = (__typeof__(lf.fabric))dlsym(lf.dl, "fi_fabric");
	lf.strerror = (__typeof__(lf.strerror))dlsym(lf.dl, "fi_strerror");
	if (!lf.getinfo || !lf.freeinfo || !lf.dupinfo || !lf.fabric || !lf.strerror) {
		snprintf(lf.why, sizeof(lf.why), "%s lacks fi_getinfo/fi_fabric/...", name);
		dlclose(lf.dl);
		lf.dl = NULL;
	}
}

static int lf_ready(char *err, size_t errlen)
{
	pthread_once(&lf.once, lf_load);
	if (!lf.dl) {
		snprintf(err, errlen, "%s", lf.why);
		return -ENOPKG;
	}
	return 0;
}

static const char *fierr(int ret)
{
	return lf.strerror(ret < 0 ? -ret : ret);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- endpoint and link state ---- */

struct slot {
	struct fi_context2 ctx;         /* must be first: the op context */
	uint8_t *buf;
	bool rx, busy, posted;
	uint64_t token;                 /* tx: the link that sent it */
};

struct fep;

struct pending {
	struct pending *next;
	uint32_t seq, len;
	unsigned int type;
	uint8_t data[];
};

struct fconn {
	struct gpu_link link;           /* must be first */
	struct fep *ep;
	struct fconn *next;
	struct fconn *next_accept;
	uint64_t token;
	fi_addr_t peer;
	uint32_t tx_seq, rx_seq;
	uint8_t *buf;                   /* received bytes [off, off + len) */
	size_t off, len, cap;
	int err;                        /* sticky: the link is broken */
	bool established, queued;
	bool accept_pending;            /* pod: ACCEPT not posted yet */
	struct pending *pending;        /* arrived ahead of their turn */
	unsigned int npending;
	unsigned int idle_ms;
	unsigned int timeout_ms;        /* set_timeout() */
	uint64_t last_rx_ns, last_tx_ns;
};

struct fep {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	struct fid_mr *rx_mr, *tx_mr;
	void *rx_desc, *tx_desc;
	int cq_fd, kick_fd;
	bool pod;
	unsigned int idle_ms;
	pthread_mutex_t lock;
	pthread_cond_t cv;              /* any change: data, slot, link, accept */
	pthread_t thread;
	bool thread_on;
	atomic_bool stop;
	atomic_bool sleeping;
	unsigned int nrx;
	struct slot rx[L_RX_POD];
	struct slot tx[L_TX];
	unsigned int tx_busy;
	uint8_t *rxpool, *txpool;
	struct fconn *conns;
	struct fconn *acceptq, **acceptq_tail;
	unsigned int nqueued;
	atomic_uint pollers;            /* readers polling the CQ themselves */
	bool stopping;
	uint64_t last_tick_ns;
	struct gpu_fabric_stats st;
	char prov[40];
};

struct gpu_fabric_listener {
	struct fep *ep;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void kick(struct fep *ep)
{
	uint64_t one = 1;

	if (atomic_load(&ep->sleeping) && ep->kick_fd >= 0) {
		ssize_t n = write(ep->kick_fd, &one, sizeof(one));

		(void)n;
	}
}

static void conn_fail_locked(struct fconn *c, int err, const char *why)
{
	if (c->err)
		return;
	c->err = err;
	snprintf(c->link.why, sizeof(c->link.why), "%s", why);
	pthread_cond_broadcast(&c->ep->cv);
}

static struct fconn *find_locked(struct fep *ep, uint64_t token)
{
	struct fconn *c;

	for (c = ep->conns; c; c = c->next)
		if (c->token == token)
			return c;
	return NULL;
}

static int post_rx_locked(struct fep *ep, struct slot *s)
{
	ssize_t ret = fi_recv(ep->ep, s->buf, GPU_LINK_FABRIC_MSG, ep->rx_desc,
			      FI_ADDR_UNSPEC, &s->ctx);

	s->posted = ret == 0;
	return (int)ret;
}

/* Post one message from a free send buffer, taking up to @max payload
 * bytes from the iovec cursor (*@iov_i, *@iov_off), their count in
 * *@taken. The caller holds the lock. Return: 0; -EAGAIN when every
 * buffer is in flight (wait on cv); -EBUSY when the provider cannot take
 * it now (rxm still connecting: retry soon; the cursor is unchanged);
 * -EIO. */
static int post_locked(struct fep *ep, fi_addr_t to, uint64_t token, unsigned int type,
		       uint32_t seq, const struct iovec *iov, int niov, size_t *iov_i,
		       size_t *iov_off, size_t max, size_t *taken)
{
	size_t n = 0, i = iov_i ? *iov_i : 0, off = iov_off ? *iov_off : 0;
	struct slot *s = NULL;
	ssize_t ret;

	for (unsigned int k = 0; k < L_TX; k++)
		if (!ep->tx[k].busy) {
			s = &ep->tx[k];
			break;
		}
	if (!s)
		return -EAGAIN;
	while (iov && i < (size_t)niov && n < max) {
		const struct iovec *v = &iov[i];
		size_t take = v->iov_len - off;

		if (take > max - n)
			take = max - n;
		memcpy(s->buf + L_HDR + n, (const uint8_t *)v->iov_base + off, take);
		n += take;
		off += take;
		if (off == v->iov_len) {
			i++;
			off = 0;
		}
	}
	put32(s->buf, L_MAGIC);
	s->buf[4] = (uint8_t)type;
	s->buf[5] = 0;
	s->buf[6] = s->buf[7] = 0;
	put32(s->buf + 8, seq);
	put32(s->buf + 12, (uint32_t)n);
	put64(s->buf + 16, token);
	s->token = token;
	ret = fi_send(ep->ep, s->buf, L_HDR + n, ep->tx_desc, to, &s->ctx);
	if (ret == -FI_EAGAIN) {
		kick(ep);
		return -EBUSY;
	}
	if (ret)
		return -EIO;
	s->busy = true;
	ep->tx_busy++;
	if (iov_i) {
		*iov_i = i;
		*iov_off = off;
	}
	if (taken)
		*taken = n;
	kick(ep);
	return 0;
}

/* Post a message of the link protocol itself (no payload but @p). */
static int post_ctl_locked(struct fep *ep, fi_addr_t to, uint64_t token, unsigned int type,
			   uint32_t seq, const void *p, size_t len)
{
	struct iovec v = { .iov_base = (void *)p, .iov_len = len };

	return post_locked(ep, to, token, type, seq, len ? &v : NULL, len ? 1 : 0, NULL, NULL,
			   len, NULL);
}

/* Names come from CONNECT: check they are what the address format says. */
static bool name_valid(const struct fep *ep, const uint8_t *name, size_t len)
{
	if (len == 0 || len > L_NAME_MAX)
		return false;
	switch (ep->info->addr_format) {
	case FI_SOCKADDR_IN: {
		struct sockaddr_in sin;

		if (len != sizeof(sin))
			return false;
		memcpy(&sin, name, sizeof(sin));
		return sin.sin_family == AF_INET && sin.sin_port != 0;
	}
	case FI_SOCKADDR_IN6: {
		struct sockaddr_in6 sin6;

		if (len != sizeof(sin6))
			return false;
		memcpy(&sin6, name, sizeof(sin6));
		return sin6.sin6_family == AF_INET6 && sin6.sin6_port != 0;
	}
	case FI_ADDR_STR:
		if (len < 2 || name[len - 1] != '\0')
			return false;
		for (size_t i = 0; i + 1 < len; i++)
			if (name[i] < 0x21 || name[i] > 0x7e)
				return false;
		return true;
	default:
		return len == ep->info->src_addrlen;
	}
}

static void on_connect_locked(struct fep *ep, uint64_t token, const uint8_t *name, size_t len)
{
	fi_addr_t addr = FI_ADDR_NOTAVAIL;
	uint8_t acc[4];
	struct fconn *c;

	if (!ep->pod || ep->stopping || find_locked(ep, token) || !name_valid(ep, name, len) ||
	    ep->nqueued >= L_ACCEPT_QUEUE) {
		ep->st.bad++;
		return;
	}
	if (fi_av_insert(ep->av, name, 1, &addr, 0, NULL) != 1 || addr == FI_ADDR_NOTAVAIL) {
		ep->st.bad++;
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->ep = ep;
	c->token = token;
	c->peer = addr;
	c->rx_seq = 1;
	c->idle_ms = ep->idle_ms;
	c->established = true;
	c->last_rx_ns = c->last_tx_ns = now_ns();
	put32(acc, ep->idle_ms);
	c->tx_seq = 1;          /* 0 is the ACCEPT's */
	c->accept_pending = post_ctl_locked(ep, addr, token, L_ACCEPT, 0, acc, sizeof(acc)) != 0;
	/* The peer's address as text, for the pod's messages. */
	if (ep->info->addr_format == FI_SOCKADDR_IN) {
		struct sockaddr_in sin;
		char host[INET_ADDRSTRLEN];

		memcpy(&sin, name, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
		snprintf(c->link.peer, sizeof(c->link.peer), "%s:%u", host,
			 ntohs(sin.sin_port));
	} else if (ep->info->addr_format == FI_ADDR_STR) {
		snprintf(c->link.peer, sizeof(c->link.peer), "%.*s", (int)len - 1, (const char *)name);
	} else {
		snprintf(c->link.peer, sizeof(c->link.peer), "peer %llu",
			 (unsigned long long)addr);
	}
	c->next = ep->conns;
	ep->conns = c;
	c->queued = true;
	*ep->acceptq_tail = c;
	ep->acceptq_tail = &c->next_accept;
	ep->nqueued++;
	ep->st.accepted++;
	ep->st.clients++;
	pthread_cond_broadcast(&ep->cv);
}

static void deliver_locked(struct fconn *c, unsigned int type, const uint8_t *pl,
			   uint32_t plen);

/*
 * A message ahead of its turn. Providers match messages to receive
 * buffers in order (FI_ORDER_SAS) but may complete them out of order
 * (rxm completes a large message when its rendezvous read ends, after
 * smaller ones sent later): keep a copy until its turn comes. A sequence
 * number behind, repeated, or more than L_REORDER ahead breaks the link.
 */
static void stash_locked(struct fconn *c, unsigned int type, uint32_t seq,
			 const uint8_t *pl, uint32_t plen)
{
	uint32_t ahead = seq - c->rx_seq;
	struct pending *p;

	if (ahead >= L_REORDER || c->npending >= L_REORDER) {
		conn_fail_locked(c, -EPROTO, "a message out of sequence (lost or forged)");
		return;
	}
	for (p = c->pending; p; p = p->next)
		if (p->seq == seq) {
			conn_fail_locked(c, -EPROTO, "a sequence number repeated (forged)");
			return;
		}
	p = malloc(sizeof(*p) + plen);
	if (!p) {
		conn_fail_locked(c, -ENOMEM, "out of memory");
		return;
	}
	p->seq = seq;
	p->type = type;
	p->len = plen;
	memcpy(p->data, pl, plen);
	p->next = c->pending;
	c->pending = p;
	c->npending++;
}

static struct pending *unstash_locked(struct fconn *c)
{
	for (struct pending **pp = &c->pending; *pp; pp = &(*pp)->next)
		if ((*pp)->seq == c->rx_seq) {
			struct pending *p = *pp;

			*pp = p->next;
			c->npending--;
			return p;
		}
	return NULL;
}

static void on_message_locked(struct fep *ep, const uint8_t *m, size_t len)
{
	unsigned int type;
	uint32_t seq, plen;
	uint64_t token;
	struct fconn *c;

	if (len < L_HDR || get32(m) != L_MAGIC || m[5] || m[6] || m[7] ||
	    get32(m + 12) != len - L_HDR || m[4] < L_CONNECT || m[4] > L_CLOSE) {
		ep->st.bad++;
		return;
	}
	type = m[4];
	seq = get32(m + 8);
	plen = (uint32_t)(len - L_HDR);
	token = get64(m + 16);
	if (type == L_CONNECT) {
		if (seq != 0) {
			ep->st.bad++;
			return;
		}
		on_connect_locked(ep, token, m + L_HDR, plen);
		return;
	}
	c = find_locked(ep, token);
	if (!c) {
		ep->st.bad++;
		return;
	}
	if (c->err)
		return;
	c->last_rx_ns = now_ns();
	if (seq != c->rx_seq) {
		stash_locked(c, type, seq, m + L_HDR, plen);
		return;
	}
	deliver_locked(c, type, m + L_HDR, plen);
	/* Messages that completed before this one and waited for it. */
	for (;;) {
		struct pending *p = unstash_locked(c);

		if (!p)
			break;
		if (!c->err)
			deliver_locked(c, p->type, p->data, p->len);
		free(p);
	}
}

/* One message, in sequence: act on it. */
static void deliver_locked(struct fconn *c, unsigned int type, const uint8_t *pl, uint32_t plen)
{
	struct fep *ep = c->ep;

	c->rx_seq++;
	switch (type) {
	case L_ACCEPT:
		if (ep->pod || c->established || plen != 4) {
			conn_fail_locked(c, -EPROTO, "an unexpected ACCEPT");
			return;
		}
		c->idle_ms = get32(pl);
		if (c->idle_ms < 1000)
			c->idle_ms = 1000;
		c->established = true;
		pthread_cond_broadcast(&ep->cv);
		return;
	case L_REJECT:
		snprintf(c->link.why, sizeof(c->link.why), "refused: %.*s", (int)(plen > 120 ? 120 : plen),
			 (const char *)pl);
		c->err = -ECONNREFUSED;
		pthread_cond_broadcast(&ep->cv);
		return;
	case L_PING:
		if (plen)
			conn_fail_locked(c, -EPROTO, "a malformed PING");
		return;
	case L_CLOSE:
		conn_fail_locked(c, -ECONNRESET, "the peer closed the link");
		return;
	case L_DATA:
		break;
	default:
		conn_fail_locked(c, -EPROTO, "an unexpected message");
		return;
	}
	if (!c->established) {
		conn_fail_locked(c, -EPROTO, "data before ACCEPT");
		return;
	}
	if (c->len + plen > L_STREAM_MAX) {
		conn_fail_locked(c, -E2BIG, "more unread bytes than the largest frame");
		return;
	}
	if (c->off + c->len + plen > c->cap) {
		if (c->off) {
			memmove(c->buf, c->buf + c->off, c->len);
			c->off = 0;
		}
		if (c->len + plen > c->cap) {
			size_t cap = c->cap ? c->cap : GPU_LINK_FABRIC_MSG;
			uint8_t *p;

			while (cap < c->len + plen)
				cap *= 2;
			p = realloc(c->buf, cap);
			if (!p) {
				conn_fail_locked(c, -ENOMEM, "out of memory");
				return;
			}
			c->buf = p;
			c->cap = cap;
		}
	}
	memcpy(c->buf + c->off + c->len, pl, plen);
	c->len += plen;
	pthread_cond_broadcast(&ep->cv);
}

static void on_tx_done_locked(struct fep *ep, struct slot *s, int err)
{
	if (err && s->token) {
		struct fconn *c = find_locked(ep, s->token);

		if (c) {
			char why[120];

			snprintf(why, sizeof(why), "a send failed: %s", fierr(err));
			conn_fail_locked(c, -ECONNRESET, why);
		}
	}
	s->busy = false;
	ep->tx_busy--;
	pthread_cond_broadcast(&ep->cv);
}

/* Read every completion there is. Return how many. */
static int drain_locked(struct fep *ep)
{
	struct fi_cq_msg_entry ent[16];
	int handled = 0;

	for (;;) {
		ssize_t n = fi_cq_read(ep->cq, ent, 16);

		if (n > 0) {
			for (ssize_t i = 0; i < n; i++) {
				struct slot *s = ent[i].op_context;

				if (!s)
					continue;
				if (s->rx) {
					s->posted = false;
					on_message_locked(ep, s->buf, ent[i].len);
					if (!atomic_load(&ep->stop))
						post_rx_locked(ep, s);
				} else {
					on_tx_done_locked(ep, s, 0);
				}
			}
			handled += (int)n;
			continue;
		}
		if (n == -FI_EAVAIL) {
			struct fi_cq_err_entry e = { 0 };
			struct slot *s;

			if (fi_cq_readerr(ep->cq, &e, 0) < 1)
				break;
			handled++;
			s = e.op_context;
			if (!s)
				continue;
			if (s->rx) {
				s->posted = false;
				if (e.err != FI_ECANCELED) {
					ep->st.bad++;   /* e.g. a message over 64 KiB */
					if (!atomic_load(&ep->stop))
						post_rx_locked(ep, s);
				}
			} else {
				on_tx_done_locked(ep, s, e.err ? e.err : FI_EIO);
			}
			continue;
		}
		break;
	}
	/* Buffers a failed repost left idle. */
	for (unsigned int i = 0; i < ep->nrx && !atomic_load(&ep->stop); i++)
		if (!ep->rx[i].posted)
			post_rx_locked(ep, &ep->rx[i]);
	return handled;
}

/* ACCEPTs the provider could not take yet (rxm connecting back). */
static void retry_accepts_locked(struct fep *ep)
{
	uint8_t acc[4];

	put32(acc, ep->idle_ms);
	for (struct fconn *c = ep->conns; c; c = c->next)
		if (c->accept_pending && !c->err &&
		    !post_ctl_locked(ep, c->peer, c->token, L_ACCEPT, 0, acc, sizeof(acc)))
			c->accept_pending = false;
}

/* Every 100 ms: ping quiet links, end silent ones. */
static void tick_locked(struct fep *ep, uint64_t now)
{
	struct fconn *c;

	for (c = ep->conns; c; c = c->next) {
		uint64_t idle_ns = (uint64_t)c->idle_ms * 1000000ull;

		if (c->err || !c->established)
			continue;
		if (now - c->last_rx_ns > idle_ns) {
			char why[120];

			snprintf(why, sizeof(why), "nothing heard for %u s (fabric idle timeout)",
				 c->idle_ms / 1000);
			conn_fail_locked(c, -ETIMEDOUT, why);
			ep->st.timed_out++;
			continue;
		}
		if (now - c->last_tx_ns > idle_ns / 4 && !c->accept_pending &&
		    !post_ctl_locked(ep, c->peer, c->token, L_PING, c->tx_seq, NULL, 0)) {
			c->tx_seq++;
			c->last_tx_ns = now;
		}
	}
}

static void *fep_main(void *arg)
{
	struct fep *ep = arg;
	uint64_t last_activity = now_ns();

	while (!atomic_load(&ep->stop)) {
		uint64_t now;
		unsigned int busy;
		int n;

		pthread_mutex_lock(&ep->lock);
		n = drain_locked(ep);
		now = now_ns();
		if (now - ep->last_tick_ns >= L_TICK_NS) {
			tick_locked(ep, now);
			ep->last_tick_ns = now;
		}
		if (ep->pod)
			retry_accepts_locked(ep);
		busy = ep->tx_busy;
		pthread_mutex_unlock(&ep->lock);
		if (n > 0) {
			last_activity = now;
			continue;
		}
		if (busy) {             /* sends in flight: keep progressing */
			last_activity = now;
			sched_yield();
			continue;
		}
		/* Spin only where no reader polls for itself: spinners beyond
		 * the CPUs only take turns. */
		if (now - last_activity < L_SPIN_NS && !atomic_load(&ep->pollers)) {
			sched_yield();
			continue;
		}
		if (ep->cq_fd >= 0) {
			struct fid *fids[1] = { &ep->cq->fid };
			struct pollfd p[2] = { { .fd = ep->cq_fd, .events = POLLIN },
					       { .fd = ep->kick_fd, .events = POLLIN } };
			int ret;

			atomic_store(&ep->sleeping, true);
			pthread_mutex_lock(&ep->lock);
			ret = fi_trywait(ep->fabric, fids, 1);
			pthread_mutex_unlock(&ep->lock);
			if (ret == FI_SUCCESS && poll(p, 2, 50) > 0) {
				if (p[1].revents) {
					uint64_t v;
					ssize_t r = read(ep->kick_fd, &v, sizeof(v));

					(void)r;
				}
			}
			atomic_store(&ep->sleeping, false);
			last_activity = now_ns();
		} else {
			struct timespec ts = { 0, 20000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* ---- opening and closing an endpoint ---- */

static const struct {
	const char *name, *fi_name;
	bool in_auto, uses_node;
} providers[] = {
	{ "verbs", "verbs;ofi_rxm", true, true },
	{ "tcp", "tcp;ofi_rxm", true, true },
	{ "shm", "shm", false, false },
};

static int getinfo(unsigned int p, const char *host, const char *port, bool listen,
		   struct fi_info **out)
{
	struct fi_info *hints = lf.dupinfo(NULL);
	int ret;

	if (!hints)
		return -FI_ENOMEM;
	hints->caps = FI_MSG | FI_SEND | FI_RECV;
	hints->mode = FI_CONTEXT | FI_CONTEXT2;
	hints->ep_attr->type = FI_EP_RDM;
	hints->tx_attr->msg_order = FI_ORDER_SAS;
	hints->rx_attr->msg_order = FI_ORDER_SAS;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_ALLOCATED | FI_MR_PROV_KEY |
				      FI_MR_VIRT_ADDR | FI_MR_ENDPOINT;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	hints->fabric_attr->prov_name = strdup(providers[p].fi_name);
	if (!providers[p].uses_node)
		host = port = NULL;
	ret = lf.getinfo(FI_VERSION(1, 9), host, port, listen && host ? FI_SOURCE : 0, hints,
			  out);
	lf.freeinfo(hints);
	if (ret == 0 && !listen && (*out)->dest_addr) {
		/* The pod's address chose the interface; peers come by the AV. */
		free((*out)->dest_addr);
		(*out)->dest_addr = NULL;
		(*out)->dest_addrlen = 0;
	}
	return ret;
}

static int reg_locked(struct fep *ep, void *buf, size_t len, uint64_t access,
		      uint64_t key, struct fid_mr **mr, void **desc)
{
	int ret = fi_mr_reg(ep->domain, buf, len, access, 0, key, 0, mr, NULL);

	if (!ret && (ep->info->domain_attr->mr_mode & FI_MR_ENDPOINT)) {
		ret = fi_mr_bind(*mr, &ep->ep->fid, 0);
		if (!ret)
			ret = fi_mr_enable(*mr);
	}
	if (!ret)
		*desc = fi_mr_desc(*mr);
	return ret;
}

static void fep_close(struct fep *ep)
{
	if (!ep)
		return;
	if (ep->thread_on) {
		atomic_store(&ep->stop, true);
		atomic_store(&ep->sleeping, true);
		kick(ep);
		pthread_join(ep->thread, NULL);
	}
	atomic_store(&ep->stop, true);
	if (ep->ep)
		fi_close(&ep->ep->fid);
	if (ep->rx_mr)
		fi_close(&ep->rx_mr->fid);
	if (ep->tx_mr)
		fi_close(&ep->tx_mr->fid);
	if (ep->av)
		fi_close(&ep->av->fid);
	if (ep->cq)
		fi_close(&ep->cq->fid);
	if (ep->domain)
		fi_close(&ep->domain->fid);
	if (ep->fabric)
		fi_close(&ep->fabric->fid);
	if (ep->info)
		lf.freeinfo(ep->info);
	if (ep->kick_fd >= 0)
		close(ep->kick_fd);
	free(ep->rxpool);
	free(ep->txpool);
	pthread_mutex_destroy(&ep->lock);
	pthread_cond_destroy(&ep->cv);
	free(ep);
}

static int fep_open(const char *provider, const char *host, const char *port, bool pod,
		    struct fep **out, char *err, size_t errlen)
{
	struct fi_cq_attr cq_attr = { .format = FI_CQ_FORMAT_MSG, .wait_obj = FI_WAIT_FD };
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE };
	const char *want = provider && *provider ? provider : "auto";
	pthread_condattr_t ca;
	struct fep *ep;
	size_t rxb, txb;
	int ret = -FI_ENODATA;
	bool known = !strcmp(want, "auto");
	unsigned int i;

	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		known |= !strcmp(want, providers[i].name);
	if (!known) {
		snprintf(err, errlen, "unknown fabric provider '%s' (tcp, verbs, shm or auto)", want);
		return -EINVAL;
	}
	ret = lf_ready(err, errlen);
	if (ret)
		return ret;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->cq_fd = ep->kick_fd = -1;
	ep->pod = pod;
	ep->acceptq_tail = &ep->acceptq;
	pthread_mutex_init(&ep->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ep->cv, &ca);
	pthread_condattr_destroy(&ca);
	ret = -FI_ENODATA;
	for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
		if (strcmp(want, "auto") ? strcmp(want, providers[i].name) : !providers[i].in_auto)
			continue;
		ret = getinfo(i, host, port, pod, &ep->info);
		if (!ret)
			break;
	}
	if (ret) {
		if (ret == -FI_ENODATA)
			snprintf(err, errlen, "no libfabric provider %s offers reliable messages%s%s "
				 "(check fi_info -p %s)", strcmp(want, "auto") ? want :
				 "(tried verbs, tcp)", host && pod ? " on " : "",
				 host && pod ? host : "", strcmp(want, "auto") ? want : "tcp");
		else
			snprintf(err, errlen, "fi_getinfo: %s", fierr(ret));
		fep_close(ep);
		return ret == -FI_ENODATA ? -ENODATA : -EIO;
	}
	snprintf(ep->prov, sizeof(ep->prov), "%s", ep->info->fabric_attr->prov_name);
	cq_attr.size = ep->info->tx_attr->size + ep->info->rx_attr->size;
	ret = lf.fabric(ep->info->fabric_attr, &ep->fabric, NULL);
	if (!ret)
		ret = fi_domain(ep->fabric, ep->info, &ep->domain, NULL);
	if (!ret) {
		ret = fi_cq_open(ep->domain, &cq_attr, &ep->cq, NULL);
		if (ret) {      /* shm: no wait object; poll with naps */
			cq_attr.wait_obj = FI_WAIT_NONE;
			ret = fi_cq_open(ep->domain, &cq_attr, &ep->cq, NULL);
		}
	}
	if (!ret && cq_attr.wait_obj == FI_WAIT_FD &&
	    fi_control(&ep->cq->fid, FI_GETWAIT, &ep->cq_fd))
		ep->cq_fd = -1;
	if (!ret)
		ret = fi_av_open(ep->domain, &av_attr, &ep->av, NULL);
	if (!ret)
		ret = fi_endpoint(ep->domain, ep->info, &ep->ep, NULL);
	if (!ret)
		ret = fi_ep_bind(ep->ep, &ep->av->fid, 0);
	if (!ret)
		ret = fi_ep_bind(ep->ep, &ep->cq->fid, FI_TRANSMIT | FI_RECV);
	if (!ret)
		ret = fi_enable(ep->ep);
	if (ret) {
		snprintf(err, errlen, "opening the %s endpoint%s%s%s%s: %s", ep->prov,
			 pod ? " on " : "", pod && host ? host : "", pod ? ":" : "",
			 pod && port ? port : "", fierr(ret));
		fep_close(ep);
		return -EIO;
	}
	ep->nrx = pod ? L_RX_POD : L_RX_CLIENT;
	rxb = (size_t)ep->nrx * GPU_LINK_FABRIC_MSG;
	txb = (size_t)L_TX * GPU_LINK_FABRIC_MSG;
	ep->rxpool = aligned_alloc(4096, rxb);
	ep->txpool = aligned_alloc(4096, txb);
	ep->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!ep->rxpool || !ep->txpool || ep->kick_fd < 0) {
		snprintf(err, errlen, "out of memory");
		fep_close(ep);
		return -ENOMEM;
	}
	memset(ep->rxpool, 0, rxb);
	memset(ep->txpool, 0, txb);
	pthread_mutex_lock(&ep->lock);
	ret = 0;
	if (ep->info->domain_attr->mr_mode & FI_MR_LOCAL) {
		ret = reg_locked(ep, ep->rxpool, rxb, FI_RECV, 1, &ep->rx_mr, &ep->rx_desc);
		if (!ret)
			ret = reg_locked(ep, ep->txpool, txb, FI_SEND, 2, &ep->tx_mr, &ep->tx_desc);
	}
	for (i = 0; i < L_TX; i++)
		ep->tx[i].buf = ep->txpool + (size_t)i * GPU_LINK_FABRIC_MSG;
	for (i = 0; i < ep->nrx && !ret; i++) {
		ep->rx[i].rx = true;
		ep->rx[i].buf = ep->rxpool + (size_t)i * GPU_LINK_FABRIC_MSG;
		ret = post_rx_locked(ep, &ep->rx[i]);
	}
	pthread_mutex_unlock(&ep->lock);
	if (ret) {
		snprintf(err, errlen, "posting receive buffers: %s", fierr(ret));
		fep_close(ep);
		return -EIO;
	}
	ep->last_tick_ns = now_ns();
	ret = pthread_create(&ep->thread, NULL, fep_main, ep);
	if (ret) {
		snprintf(err, errlen, "cannot start the fabric thread: %s", strerror(ret));
		fep_close(ep);
		return -ret;
	}
	ep->thread_on = true;
	*out = ep;
	return 0;
}

/* fi_getname as text: "HOST:PORT", or the shm name. */
static int ep_address(struct fep *ep, char *buf, size_t len)
{
	uint8_t name[L_NAME_MAX];
	size_t nlen = sizeof(name);
	char host[INET6_ADDRSTRLEN];
	int ret;

	pthread_mutex_lock(&ep->lock);
	ret = fi_getname(&ep->ep->fid, name, &nlen);
	pthread_mutex_unlock(&ep->lock);
	if (ret || nlen > sizeof(name))
		return -EIO;
	switch (ep->info->addr_format) {
	case FI_SOCKADDR_IN: {
		struct sockaddr_in sin;

		memcpy(&sin, name, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin.sin_port));
		return 0;
	}
	case FI_SOCKADDR_IN6: {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, name, sizeof(sin6));
		inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6.sin6_port));
		return 0;
	}
	case FI_ADDR_STR:
		snprintf(buf, len, "%.*s", (int)strnlen((char *)name, nlen), (char *)name);
		return 0;
	default:
		return -EAFNOSUPPORT;
	}
}


/* ---- the link ops ---- */

#define FC(l) ((struct fconn *)(l))

static void deadline_ts(struct timespec *ts, uint64_t deadline)
{
	ts->tv_sec = (time_t)(deadline / 1000000000ull);
	ts->tv_nsec = (long)(deadline % 1000000000ull);
}

static int wait_locked(struct fep *ep, uint64_t deadline)
{
	struct timespec ts;

	if (deadline == UINT64_MAX) {
		/* Wake now and then: the idle timeout marks links from the
		 * thread, which broadcasts; this is only a safety net. */
		deadline = now_ns() + 1000000000ull;
		deadline_ts(&ts, deadline);
		pthread_cond_timedwait(&ep->cv, &ep->lock, &ts);
		return 0;
	}
	if (now_ns() >= deadline)
		return -ETIMEDOUT;
	deadline_ts(&ts, deadline);
	pthread_cond_timedwait(&ep->cv, &ep->lock, &ts);
	return 0;
}

static int link_err(struct fconn *c)
{
	/* The pod's client thread reports a dead link as a lost connection. */
	return c->err == -ETIMEDOUT ? -ECONNRESET : c->err;
}

static int fab_send(struct gpu_link *l, const struct iovec *iov, int n)
{
	struct fconn *c = FC(l);
	struct fep *ep = c->ep;
	uint64_t deadline = c->timeout_ms ? now_ns() + c->timeout_ms * 1000000ull : UINT64_MAX;
	size_t left = 0, i = 0, off = 0, taken;
	int ret = 0;

	for (int k = 0; k < n; k++)
		left += iov[k].iov_len;
	pthread_mutex_lock(&ep->lock);
	while (left) {
		if (c->err) {
			ret = link_err(c);
			break;
		}
		ret = post_locked(ep, c->peer, c->token, L_DATA, c->tx_seq, iov, n, &i, &off,
				  L_PAYLOAD, &taken);
		if (ret == -EAGAIN) {
			ret = wait_locked(ep, deadline);
			if (ret)
				break;
			continue;
		}
		if (ret == -EBUSY) {
			struct timespec ts = { 0, 50000 };

			if (now_ns() >= deadline) {
				ret = -ETIMEDOUT;
				break;
			}
			pthread_mutex_unlock(&ep->lock);
			nanosleep(&ts, NULL);
			pthread_mutex_lock(&ep->lock);
			continue;
		}
		if (ret) {
			conn_fail_locked(c, -ECONNRESET, "cannot post a send");
			ret = -ECONNRESET;
			break;
		}
		c->tx_seq++;
		c->last_tx_ns = now_ns();
		left -= taken;
	}
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

static int fab_recv(struct gpu_link *l, void *buf, size_t len)
{
	struct fconn *c = FC(l);
	struct fep *ep = c->ep;
	uint64_t deadline = c->timeout_ms ? now_ns() + c->timeout_ms * 1000000ull : UINT64_MAX;
	uint64_t spin_start = 0;
	bool spinning = false;
	uint8_t *p = buf;
	int ret = 0;

	pthread_mutex_lock(&ep->lock);
	while (len) {
		if (c->len) {
			size_t take = c->len < len ? c->len : len;

			memcpy(p, c->buf + c->off, take);
			c->off += take;
			c->len -= take;
			if (!c->len)
				c->off = 0;
			p += take;
			len -= take;
			continue;
		}
		if (c->err) {
			ret = link_err(c);
			break;
		}
		/* A reply is usually near: poll the queue ourselves for a
		 * while (no hand-over from the endpoint's thread), then sleep. */
		if (!spin_start)
			spin_start = now_ns();
		if (now_ns() - spin_start < L_SPIN_NS) {
			if (!spinning) {
				spinning = true;
				atomic_fetch_add(&ep->pollers, 1);
			}
			drain_locked(ep);
			if (c->len || c->err)
				continue;
			pthread_mutex_unlock(&ep->lock);
			sched_yield();
			pthread_mutex_lock(&ep->lock);
			continue;
		}
		if (spinning) {
			spinning = false;
			atomic_fetch_sub(&ep->pollers, 1);
		}
		ret = wait_locked(ep, deadline);
		if (ret)
			break;
	}
	if (spinning)
		atomic_fetch_sub(&ep->pollers, 1);
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

static void fab_set_timeout(struct gpu_link *l, unsigned int ms)
{
	FC(l)->timeout_ms = ms;
}

static void fab_shutdown(struct gpu_link *l)
{
	struct fconn *c = FC(l);

	pthread_mutex_lock(&c->ep->lock);
	conn_fail_locked(c, -ECONNRESET, "shut down");
	pthread_mutex_unlock(&c->ep->lock);
}

/* Sends of link @token still in flight. */
static unsigned int busy_for_locked(struct fep *ep, uint64_t token)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < L_TX; i++)
		n += ep->tx[i].busy && ep->tx[i].token == token;
	return n;
}

/* Unlink @c; tell the peer unless the link is already broken. */
static void conn_remove(struct fconn *c)
{
	struct fep *ep = c->ep;
	struct fconn **pp;
	bool shared = false;

	pthread_mutex_lock(&ep->lock);
	if (!c->err && c->established)
		post_ctl_locked(ep, c->peer, c->token, L_CLOSE, c->tx_seq++, NULL, 0);
	for (pp = &ep->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	for (struct fconn *o = ep->conns; o; o = o->next)
		shared |= o->peer == c->peer;
	if (ep->pod) {
		ep->st.clients--;
		if (!shared && c->peer != FI_ADDR_NOTAVAIL) {
			/* Let the CLOSE leave first (at most 1 s). */
			uint64_t until = now_ns() + 1000000000ull;

			while (busy_for_locked(ep, c->token) && !wait_locked(ep, until))
				;
			fi_av_remove(ep->av, &c->peer, 1, 0);
		}
	}
	pthread_mutex_unlock(&ep->lock);
}

static void fab_close(struct gpu_link *l)
{
	struct fconn *c = FC(l);
	struct fep *ep = c->ep;

	conn_remove(c);
	while (c->pending) {
		struct pending *p = c->pending;

		c->pending = p->next;
		free(p);
	}
	if (!ep->pod) {
		uint64_t until = now_ns() + 1000000000ull;

		pthread_mutex_lock(&ep->lock);
		while (ep->tx_busy && !wait_locked(ep, until))
			;
		pthread_mutex_unlock(&ep->lock);
		fep_close(ep);
	}
	free(c->buf);
	free(c);
}

static const struct gpu_link_ops fabric_link_ops = {
	.name = "fabric",
	.send = fab_send,
	.recv = fab_recv,
	.set_timeout = fab_set_timeout,
	.shutdown = fab_shutdown,
	.close = fab_close,
};

/* ---- the pod's side ---- */

int gpu_fabric_listen(const char *hostport, const char *provider, unsigned int idle_ms,
		      struct gpu_fabric_listener **out, char *bound, size_t boundlen,
		      char *prov, size_t provlen, char *err, size_t errlen)
{
	struct gpu_fabric_listener *fl;
	char host[256], port[16], addr[200];
	int ret;

	if (net_split_host_port(hostport, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "'%s' is not HOST:PORT (e.g. 10.0.0.5:7401)", hostport);
		return -EINVAL;
	}
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return -ENOMEM;
	ret = fep_open(provider, host, port, true, &fl->ep, err, errlen);
	if (ret) {
		free(fl);
		return ret;
	}
	fl->ep->idle_ms = idle_ms ? idle_ms : GPU_LINK_IDLE_MS;
	if (ep_address(fl->ep, addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "%s", hostport);
	snprintf(bound, boundlen, GPU_LINK_FABRIC_SCHEME "%s", addr);
	snprintf(prov, provlen, "%s", fl->ep->prov);
	*out = fl;
	return 0;
}

int gpu_fabric_accept(struct gpu_fabric_listener *fl, int timeout_ms, struct gpu_link **out)
{
	struct fep *ep = fl->ep;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct fconn *c;
	int ret = 0;

	pthread_mutex_lock(&ep->lock);
	while (!ep->acceptq && !ep->stopping && !ret)
		ret = wait_locked(ep, deadline);
	if (ep->stopping) {
		ret = -ECANCELED;
	} else if (ep->acceptq) {
		c = ep->acceptq;
		ep->acceptq = c->next_accept;
		if (!ep->acceptq)
			ep->acceptq_tail = &ep->acceptq;
		ep->nqueued--;
		c->queued = false;
		c->link.ops = &fabric_link_ops;
		*out = &c->link;
		ret = 0;
	}
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

void gpu_fabric_listener_stop(struct gpu_fabric_listener *fl)
{
	pthread_mutex_lock(&fl->ep->lock);
	fl->ep->stopping = true;
	pthread_cond_broadcast(&fl->ep->cv);
	pthread_mutex_unlock(&fl->ep->lock);
}

void gpu_fabric_listener_stats(struct gpu_fabric_listener *fl, struct gpu_fabric_stats *out)
{
	pthread_mutex_lock(&fl->ep->lock);
	*out = fl->ep->st;
	pthread_mutex_unlock(&fl->ep->lock);
}

void gpu_fabric_listener_close(struct gpu_fabric_listener *fl)
{
	struct fconn *c;

	if (!fl)
		return;
	gpu_fabric_listener_stop(fl);
	/* Links accepted by the thread but never taken. */
	while ((c = fl->ep->acceptq)) {
		fl->ep->acceptq = c->next_accept;
		c->link.ops = &fabric_link_ops;
		fab_close(&c->link);
	}
	fep_close(fl->ep);
	free(fl);
}

/* ---- the client's side ---- */

int gpu_fabric_connect(const char *hostport, const char *provider,
		       struct gpu_link **out, char *err, size_t errlen)
{
	char host[256], port[16];
	uint8_t name[L_NAME_MAX];
	size_t nlen = sizeof(name);
	fi_addr_t addr = FI_ADDR_NOTAVAIL;
	uint64_t deadline;
	struct fconn *c;
	struct fep *ep;
	bool shm = provider && !strcmp(provider, "shm");
	int ret;

	if (!shm && net_split_host_port(hostport, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "'" GPU_LINK_FABRIC_SCHEME "%s' is not "
			 GPU_LINK_FABRIC_SCHEME "HOST:PORT", hostport);
		return -EINVAL;
	}
	ret = fep_open(provider, shm ? NULL : host, shm ? NULL : port, false, &ep, err, errlen);
	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c) {
		fep_close(ep);
		return -ENOMEM;
	}
	c->link.ops = &fabric_link_ops;
	c->ep = ep;
	c->peer = FI_ADDR_NOTAVAIL;
	snprintf(c->link.peer, sizeof(c->link.peer), GPU_LINK_FABRIC_SCHEME "%s", hostport);
	while (!c->token)
		if (getrandom(&c->token, sizeof(c->token), 0) != sizeof(c->token))
			c->token = now_ns() ^ ((uint64_t)getpid() << 32);

	pthread_mutex_lock(&ep->lock);
	if (ep->info->addr_format == FI_ADDR_STR) {
		ret = fi_av_insert(ep->av, hostport, 1, &addr, 0, NULL);
	} else if (ep->info->addr_format == FI_SOCKADDR_IN ||
		   ep->info->addr_format == FI_SOCKADDR_IN6 ||
		   ep->info->addr_format == FI_SOCKADDR) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV,
					  .ai_family = ep->info->addr_format == FI_SOCKADDR_IN ?
						       AF_INET : ep->info->addr_format ==
						       FI_SOCKADDR_IN6 ? AF_INET6 : AF_UNSPEC };
		struct addrinfo *res = NULL;

		ret = getaddrinfo(host, port, &hints, &res) || !res ? -1 :
		      fi_av_insert(ep->av, res->ai_addr, 1, &addr, 0, NULL);
		if (res)
			freeaddrinfo(res);
	} else {
		ret = fi_av_insertsvc(ep->av, host, port, &addr, 0, NULL);
	}
	if (ret != 1 || addr == FI_ADDR_NOTAVAIL) {
		pthread_mutex_unlock(&ep->lock);
		snprintf(err, errlen, "cannot resolve the GPU pod's fabric address '%s'", hostport);
		ret = -EHOSTUNREACH;
		goto fail;
	}
	c->peer = addr;
	ret = fi_getname(&ep->ep->fid, name, &nlen);
	if (ret || nlen > sizeof(name)) {
		pthread_mutex_unlock(&ep->lock);
		snprintf(err, errlen, "fi_getname: %s", ret ? fierr(ret) : "name too long");
		ret = -EIO;
		goto fail;
	}
	c->next = ep->conns;
	ep->conns = c;
	c->last_rx_ns = c->last_tx_ns = now_ns();
	deadline = now_ns() + L_CONNECT_MS * 1000000ull;
	for (;;) {
		ret = post_ctl_locked(ep, addr, c->token, L_CONNECT, 0, name, nlen);
		if (ret != -EBUSY && ret != -EAGAIN)
			break;
		ret = wait_locked(ep, now_ns() + 1000000ull < deadline ?
				  now_ns() + 1000000ull : deadline);
		if (ret || now_ns() >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	c->tx_seq = 1;
	while (!ret && !c->established && !c->err)
		ret = wait_locked(ep, deadline);
	if (!ret && c->err)
		ret = c->err;
	pthread_mutex_unlock(&ep->lock);
	if (ret) {
		if (ret == -ECONNREFUSED)
			snprintf(err, errlen, "the GPU pod at " GPU_LINK_FABRIC_SCHEME "%s %s",
				 hostport, c->link.why);
		else if (ret == -ETIMEDOUT)
			snprintf(err, errlen, "no answer from a GPU pod at "
				 GPU_LINK_FABRIC_SCHEME "%s over %s in %d s (is a pod with "
				 "--gpu-fabric %s there?)", hostport, ep->prov, L_CONNECT_MS / 1000,
				 strncmp(ep->prov, "verbs", 5) ? strncmp(ep->prov, "tcp", 3) ?
				 "shm" : "tcp" : "verbs");
		else
			snprintf(err, errlen, "cannot reach the GPU pod at "
				 GPU_LINK_FABRIC_SCHEME "%s: %s", hostport,
				 c->link.why[0] ? c->link.why : strerror(-ret));
		goto fail;
	}
	*out = &c->link;
	return 0;
fail:
	pthread_mutex_lock(&ep->lock);
	c->err = ret;           /* no CLOSE */
	pthread_mutex_unlock(&ep->lock);
	fab_close(&c->link);
	return ret < 0 ? ret : -EIO;
}
