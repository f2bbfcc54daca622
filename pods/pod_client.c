/* pods/pod_client.c — the client side of the pod protocol (see
 * pod_client.h): handshake, requests with replies matched by seq, events
 * the pod sends on its own, and RMA on leases.
 */
#include "pod_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "common.h"

#define POD_CLIENT_EVENTS       32u
#define POD_CLIENT_RX_BUFFERS   8u

struct pod_client {
	struct net_endpoint *ep;
	struct pvm_auth_secret *secret;
	unsigned int timeout_ms;
	char client_id[PVM_WIRE_ID_MAX + 1];
	uint32_t next_seq;

	/* The pod's handle; read/write threads and the control thread share
	 * it, and a failed RMA batch replaces it (reconnect). */
	pthread_mutex_t peer_lock;
	net_peer_t peer;
	uint64_t peer_gen;

	struct pod_info info;

	struct pod_event events[POD_CLIENT_EVENTS];
	unsigned int ev_head, ev_tail;  /* ring positions */
	uint64_t msgs_bad;              /* undecodable messages from the pod */
};

static __thread char last_error[320];

static void set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

const char *pod_client_last_error(void)
{
	return last_error[0] ? last_error : "no error";
}

static net_peer_t current_peer(struct pod_client *c, uint64_t *gen)
{
	net_peer_t p;

	pthread_mutex_lock(&c->peer_lock);
	p = c->peer;
	if (gen)
		*gen = c->peer_gen;
	pthread_mutex_unlock(&c->peer_lock);
	return p;
}

static uint32_t new_seq(struct pod_client *c)
{
	if (++c->next_seq == 0)
		c->next_seq = 1;
	return c->next_seq;
}

static int status_errno(uint32_t status)
{
	switch (status) {
	case PVM_WIRE_ST_BAD_REQUEST:
	case PVM_WIRE_ST_VERSION:
		return -EPROTO;
	case PVM_WIRE_ST_AUTH_FAILED:
		return -EACCES;
	case PVM_WIRE_ST_NOT_AUTHED:
		return -ENOTCONN;
	case PVM_WIRE_ST_NO_SPACE:
		return -ENOSPC;
	case PVM_WIRE_ST_NOT_FOUND:
		return -ENOENT;
	case PVM_WIRE_ST_BUSY:
		return -EBUSY;
	case PVM_WIRE_ST_DRAINING:
		return -ESHUTDOWN;
	default:
		return -EIO;
	}
}

/* ------------------------------------------------------------------ */
/* Receiving.                                                           */

static void push_event(struct pod_client *c, const struct pod_event *ev)
{
	if (c->ev_tail - c->ev_head == POD_CLIENT_EVENTS) {
		/* Full: fold into the newest one, widened to every lease. */
		struct pod_event *last = &c->events[(c->ev_tail - 1) % POD_CLIENT_EVENTS];

		last->lease_id = 0;
		if (ev->deadline_ns < last->deadline_ns) {
			last->deadline_ns = ev->deadline_ns;
			last->deadline_ms = ev->deadline_ms;
		}
		return;
	}
	c->events[c->ev_tail % POD_CLIENT_EVENTS] = *ev;
	c->ev_tail++;
}

/* Messages the pod sends on its own. Return true when @m was one. */
static bool take_unsolicited(struct pod_client *c, const struct pvm_wire_msg *m)
{
	if (m->type == PVM_WIRE_DRAIN) {
		struct pod_event ev = {
			.type = POD_EVENT_DRAIN,
			.lease_id = m->u.drain.lease_id,
			.deadline_ms = m->u.drain.deadline_ms,
			.deadline_ns = pvm_now_ns() +
				       (uint64_t)m->u.drain.deadline_ms * 1000000ull,
		};

		push_event(c, &ev);
		return true;
	}
	if (m->type == PVM_WIRE_HEARTBEAT && m->u.heartbeat.echo_ns == 0) {
		struct pvm_wire_msg a;

		/* A probe: answer it (a probe stamped 0 would make our answer
		 * look like a probe; the pod never sends one). */
		if (m->u.heartbeat.timestamp_ns) {
			pvm_wire_init(&a, PVM_WIRE_HEARTBEAT, m->seq);
			a.u.heartbeat.timestamp_ns = pvm_now_ns();
			a.u.heartbeat.echo_ns = m->u.heartbeat.timestamp_ns;
			net_send_msg(c->ep, current_peer(c, NULL), &a,
				     (int)c->timeout_ms);
		}
		return true;
	}
	return false;
}

/*
 * The next message from the pod that is not an event, before @deadline_ns
 * (0: do not wait). Return: 0, -EAGAIN (no wait, nothing there),
 * -ETIMEDOUT, or a transport error.
 */
static int next_from_pod(struct pod_client *c, struct pvm_wire_msg *m,
			 uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = pvm_now_ns();
		net_peer_t from;
		int wait_ms = 0, ret;

		if (deadline_ns) {
			if (now >= deadline_ns)
				return -ETIMEDOUT;
			wait_ms = (int)((deadline_ns - now + 999999) / 1000000);
		}
		ret = net_recv_msg(c->ep, m, &from, wait_ms);
		if (ret == -EAGAIN && deadline_ns)
			continue;
		if (ret == -EBADMSG || ret == -EPROTO || ret == -E2BIG) {
			c->msgs_bad++;
			set_error("the pod sent a malformed message: %s",
				  pvm_wire_last_error());
			continue;
		}
		if (ret)
			return ret;
		if (from != current_peer(c, NULL))
			continue;       /* not our pod: ignore */
		if (take_unsolicited(c, m))
			continue;
		return 0;
	}
}

static uint64_t request_deadline(const struct pod_client *c)
{
	return pvm_now_ns() + (uint64_t)c->timeout_ms * 1000000ull;
}

/* Wait for the reply to @seq of type @want (or an ERROR for it). */
static int wait_reply(struct pod_client *c, uint32_t seq, unsigned int want,
		      struct pvm_wire_msg *m, uint64_t deadline_ns)
{
	for (;;) {
		int ret = next_from_pod(c, m, deadline_ns);

		if (ret == -ETIMEDOUT) {
			set_error("no %s from pod %s within %u ms",
				  pvm_wire_type_name(want), c->info.address,
				  c->timeout_ms);
			return ret;
		}
		if (ret) {
			set_error("receiving from pod %s: %s", c->info.address,
				  net_strerror(ret));
			return ret;
		}
		if (m->seq != seq)
			continue;       /* a late answer to an abandoned request */
		if (m->type == want)
			return 0;
		if (m->type == PVM_WIRE_ERROR) {
			set_error("pod %s answered %s: %s", c->info.address,
				  pvm_wire_status_name(m->u.error.status),
				  m->u.error.message);
			return status_errno(m->u.error.status);
		}
		set_error("pod %s answered %s with %s", c->info.address,
			  pvm_wire_type_name(want), pvm_wire_type_name(m->type));
		return -EPROTO;
	}
}

static int send_request(struct pod_client *c, const struct pvm_wire_msg *m)
{
	int ret = net_send_msg(c->ep, current_peer(c, NULL), m, (int)c->timeout_ms);

	if (ret)
		set_error("sending %s to pod %s: %s", pvm_wire_type_name(m->type),
			  c->info.address, net_strerror(ret));
	return ret;
}

/* ------------------------------------------------------------------ */
/* Connection.                                                          */

static void default_client_id(char *buf, size_t len)
{
	char host[128] = "client";

	if (gethostname(host, sizeof(host) - 1) || !host[0])
		strcpy(host, "client");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, len, "%s-%ld", host, (long)getpid());
	for (char *p = buf; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '_';
}

static void copy_trunc(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static int handshake(struct pod_client *c)
{
	uint8_t client_nonce[PVM_AUTH_NONCE_LEN];
	struct pvm_wire_msg m, ch;
	uint64_t deadline = request_deadline(c);
	size_t nlen;
	uint32_t seq;
	int ret;

	pvm_wire_init(&m, PVM_WIRE_HELLO, seq = new_seq(c));
	pvm_auth_nonce(client_nonce);
	memcpy(m.u.hello.nonce, client_nonce, sizeof(client_nonce));
	m.u.hello.nversions = 1;
	m.u.hello.versions[0] = PVM_WIRE_VERSION;
	memcpy(m.u.hello.client_id, c->client_id, sizeof(m.u.hello.client_id));
	nlen = sizeof(m.u.hello.addr);
	ret = net_endpoint_name(c->ep, m.u.hello.addr, &nlen);
	if (ret) {
		set_error("reading this endpoint's name: %s", net_strerror(ret));
		return ret;
	}
	m.u.hello.addr_len = (uint16_t)nlen;
	ret = send_request(c, &m);
	if (ret)
		return ret;
	ret = wait_reply(c, seq, PVM_WIRE_CHALLENGE, &ch, deadline);
	if (ret)
		return ret == -EIO ? -EPROTO : ret;
	if (ch.u.challenge.version != PVM_WIRE_VERSION) {
		set_error("pod %s chose protocol version %u, which this client does not speak",
			  c->info.address, ch.u.challenge.version);
		return -EPROTO;
	}

	pvm_wire_init(&m, PVM_WIRE_AUTH, seq = new_seq(c));
	ret = pvm_auth_client_mac(c->secret, client_nonce, ch.u.challenge.nonce,
				  c->client_id, m.u.auth.mac);
	if (ret)
		return ret;
	ret = send_request(c, &m);
	if (ret)
		return ret;
	ret = wait_reply(c, seq, PVM_WIRE_AUTH_OK, &m, request_deadline(c));
	if (ret == -EACCES) {
		set_error("pod %s refused our secret (is --secret-file the pod's?)",
			  c->info.address);
		return ret;
	}
	if (ret)
		return ret;
	if (pvm_auth_pod_verify(c->secret, client_nonce, ch.u.challenge.nonce,
				ch.u.challenge.pod_id, m.u.auth_ok.mac)) {
		set_error("pod %s ('%s') could not prove it knows the secret: refusing it",
			  c->info.address, ch.u.challenge.pod_id);
		return -EACCES;
	}
	copy_trunc(c->info.pod_id, sizeof(c->info.pod_id), ch.u.challenge.pod_id);
	copy_trunc(c->info.fabric, sizeof(c->info.fabric), ch.u.challenge.fabric);
	c->info.mem_total = ch.u.challenge.mem_total;
	c->info.mem_free = ch.u.challenge.mem_free;
	c->info.page_size = ch.u.challenge.page_size;
	sodium_memzero(client_nonce, sizeof(client_nonce));
	return 0;
}

int pod_client_connect(const struct pod_client_config *cfg,
		       struct pod_client **out)
{
	struct net_endpoint_opts eo = { 0 };
	struct pod_client *c;
	char err[256];
	int ret;

	*out = NULL;
	last_error[0] = '\0';
	if (!cfg || !cfg->address || !cfg->secret_file) {
		set_error("a pod address and a secret file are required");
		return -EINVAL;
	}
	if (cfg->client_id && (!cfg->client_id[0] ||
			       strlen(cfg->client_id) > PVM_WIRE_ID_MAX)) {
		set_error("client id must have 1 to %u characters", PVM_WIRE_ID_MAX);
		return -EINVAL;
	}
	if ((!cfg->fabric || strcmp(cfg->fabric, "shm")) && !strchr(cfg->address, ':')) {
		set_error("pod address '%s' is not HOST:PORT", cfg->address);
		return -EINVAL;
	}
	ret = pvm_auth_init();
	if (ret) {
		set_error("libsodium cannot start");
		return ret;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->peer_lock, NULL);
	c->peer = NET_PEER_NONE;
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : POD_CLIENT_REQUEST_TIMEOUT_MS;
	c->next_seq = randombytes_uniform(1u << 30);
	copy_trunc(c->info.address, sizeof(c->info.address), cfg->address);
	if (cfg->client_id) {
		ret = pvm_wire_set_string(c->client_id, sizeof(c->client_id),
					  cfg->client_id);
		for (const char *p = cfg->client_id; !ret && *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				ret = -EINVAL;
		if (ret) {
			set_error("client id '%s' is not printable ASCII", cfg->client_id);
			ret = -EINVAL;
			goto err_free;
		}
	} else {
		default_client_id(c->client_id, sizeof(c->client_id));
	}

	ret = pvm_auth_secret_load(cfg->secret_file, &c->secret, err, sizeof(err));
	if (ret) {
		set_error("%s", err);
		goto err_free;
	}
	eo.provider = cfg->fabric;
	eo.route_to = cfg->address;
	eo.rx_buffers = POD_CLIENT_RX_BUFFERS;
	eo.spin_us = cfg->spin_us;
	ret = net_endpoint_open(&eo, &c->ep);
	if (ret) {
		set_error("opening a %s endpoint towards %s: %s",
			  cfg->fabric ? cfg->fabric : "auto", cfg->address,
			  net_strerror(ret));
		goto err_secret;
	}
	ret = net_peer_insert(c->ep, cfg->address, &c->peer);
	if (ret) {
		set_error("pod address '%s': %s", cfg->address,
			  ret == -EINVAL ? "not HOST:PORT" : net_strerror(ret));
		goto err_close;
	}
	ret = handshake(c);
	if (ret)
		goto err_close;
	*out = c;
	return 0;

err_close:
	net_endpoint_close(c->ep);
err_secret:
	pvm_auth_secret_free(c->secret);
err_free:
	pthread_mutex_destroy(&c->peer_lock);
	free(c);
	return ret;
}

void pod_client_close(struct pod_client *c)
{
	if (!c)
		return;
	net_endpoint_close(c->ep);
	pvm_auth_secret_free(c->secret);
	pthread_mutex_destroy(&c->peer_lock);
	free(c);
}

const struct pod_info *pod_client_info(struct pod_client *c)
{
	return &c->info;
}

/* ------------------------------------------------------------------ */
/* Requests.                                                            */

int pod_client_lease(struct pod_client *c, uint64_t bytes, struct pod_lease *out)
{
	struct pvm_wire_msg m;
	uint32_t seq;
	int ret;

	memset(out, 0, sizeof(*out));
	if (bytes == 0 || (c->info.page_size && bytes % c->info.page_size)) {
		set_error("lease size %llu is not a non-zero multiple of %u",
			  (unsigned long long)bytes, c->info.page_size);
		return -EINVAL;
	}
	pvm_wire_init(&m, PVM_WIRE_LEASE_REQUEST, seq = new_seq(c));
	m.u.lease_request.bytes = bytes;
	ret = send_request(c, &m);
	if (ret)
		return ret;
	ret = wait_reply(c, seq, PVM_WIRE_LEASE_GRANT, &m, request_deadline(c));
	if (ret)
		return ret;
	if (m.u.lease_grant.size != bytes) {
		set_error("pod %s granted %llu bytes for %llu asked",
			  c->info.address, (unsigned long long)m.u.lease_grant.size,
			  (unsigned long long)bytes);
		return -EPROTO;
	}
	out->id = m.u.lease_grant.lease_id;
	out->size = m.u.lease_grant.size;
	out->key = m.u.lease_grant.remote_key;
	out->remote_addr = m.u.lease_grant.remote_addr;
	return 0;
}

int pod_client_release(struct pod_client *c, uint64_t lease_id)
{
	struct pvm_wire_msg m;
	uint64_t deadline = request_deadline(c);
	uint32_t rel_seq, hb_seq;
	int result = 0, ret;

	if (lease_id == 0) {
		set_error("lease id 0 does not exist");
		return -EINVAL;
	}
	pvm_wire_init(&m, PVM_WIRE_RELEASE, rel_seq = new_seq(c));
	m.u.release.lease_id = lease_id;
	ret = send_request(c, &m);
	if (ret)
		return ret;
	/* RELEASE has no reply on success. The pod handles messages in
	 * order: the echo of a HEARTBEAT sent after it proves it was done. */
	pvm_wire_init(&m, PVM_WIRE_HEARTBEAT, hb_seq = new_seq(c));
	m.u.heartbeat.timestamp_ns = pvm_now_ns();
	ret = send_request(c, &m);
	if (ret)
		return ret;
	for (;;) {
		ret = next_from_pod(c, &m, deadline);
		if (ret) {
			set_error("no answer from pod %s to RELEASE within %u ms",
				  c->info.address, c->timeout_ms);
			return ret;
		}
		if (m.seq == rel_seq && m.type == PVM_WIRE_ERROR) {
			set_error("pod %s: %s", c->info.address, m.u.error.message);
			result = status_errno(m.u.error.status);
			continue;
		}
		if (m.seq == hb_seq && m.type == PVM_WIRE_HEARTBEAT)
			return result;
		if (m.seq == hb_seq && m.type == PVM_WIRE_ERROR)
			return result ? result : status_errno(m.u.error.status);
	}
}

int pod_client_heartbeat(struct pod_client *c, uint64_t *rtt_ns)
{
	struct pvm_wire_msg m;
	uint64_t t0 = pvm_now_ns();
	uint32_t seq;
	int ret;

	pvm_wire_init(&m, PVM_WIRE_HEARTBEAT, seq = new_seq(c));
	m.u.heartbeat.timestamp_ns = t0;
	ret = send_request(c, &m);
	if (ret)
		return ret;
	ret = wait_reply(c, seq, PVM_WIRE_HEARTBEAT, &m, request_deadline(c));
	if (ret)
		return ret;
	if (m.u.heartbeat.echo_ns != t0) {
		set_error("pod %s echoed a different timestamp", c->info.address);
		return -EPROTO;
	}
	if (rtt_ns)
		*rtt_ns = pvm_now_ns() - t0;
	return 0;
}

int pod_client_stats(struct pod_client *c, struct pvm_wire_msg *stats_out)
{
	struct pvm_wire_msg m;
	uint32_t seq;
	int ret;

	pvm_wire_init(&m, PVM_WIRE_STATS_REQUEST, seq = new_seq(c));
	ret = send_request(c, &m);
	if (ret)
		return ret;
	return wait_reply(c, seq, PVM_WIRE_STATS, stats_out, request_deadline(c));
}

bool pod_stats_counter(const struct pvm_wire_msg *stats, uint32_t id,
		       uint64_t *value)
{
	if (stats->type != PVM_WIRE_STATS)
		return false;
	for (uint32_t i = 0; i < stats->u.stats.ncounters; i++) {
		if (stats->u.stats.counters[i].id == id) {
			*value = stats->u.stats.counters[i].value;
			return true;
		}
	}
	return false;
}

int pod_client_poll_event(struct pod_client *c, struct pod_event *ev)
{
	struct pvm_wire_msg m;

	/* Anything else that arrives now answers a request given up on. */
	while (next_from_pod(c, &m, 0) == 0)
		;
	if (c->ev_head == c->ev_tail)
		return -EAGAIN;
	*ev = c->events[c->ev_head % POD_CLIENT_EVENTS];
	c->ev_head++;
	return 0;
}

int pod_client_drain_done(struct pod_client *c, uint64_t lease_id)
{
	struct pvm_wire_msg m;

	pvm_wire_init(&m, PVM_WIRE_DRAIN_DONE, new_seq(c));
	m.u.drain_done.lease_id = lease_id;
	return send_request(c, &m);
}

/* ------------------------------------------------------------------ */
/* Page traffic.                                                        */

static int rma(struct pod_client *c, const struct pod_lease *l,
	       struct net_rma_op *ops, size_t n, bool write)
{
	uint64_t gen;
	net_peer_t peer;
	bool outside = false;
	int ret;

	if (!c || !l || (n && !ops))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		uint64_t off = ops[i].remote_addr;

		if (!ops[i].len || off >= l->size || ops[i].len > l->size - off) {
			ops[i].result = -ERANGE;
			outside = true;
		} else {
			ops[i].result = -ECANCELED;
		}
	}
	if (outside) {
		set_error("an op reaches outside lease %llu (%llu bytes)",
			  (unsigned long long)l->id, (unsigned long long)l->size);
		return -ERANGE;
	}
	for (size_t i = 0; i < n; i++) {
		ops[i].remote_addr += l->remote_addr;
		ops[i].key = l->key;
	}
	peer = current_peer(c, &gen);
	if (write)
		ret = net_rma_write_batch(c->ep, peer, ops, n, (int)c->timeout_ms);
	else
		ret = net_rma_read_batch(c->ep, peer, ops, n, (int)c->timeout_ms);
	for (size_t i = 0; i < n; i++)
		ops[i].remote_addr -= l->remote_addr;
	if (ret && ret != -EINVAL) {
		set_error("%s %zu pages on pod %s lease %llu: %s",
			  write ? "writing" : "reading", n, c->info.address,
			  (unsigned long long)l->id, net_strerror(ret));
		/* Late completions of a failed batch may still land in its
		 * buffers, and a rejected key tears the tcp connection down:
		 * start the next batch on a fresh connection (once, whichever
		 * thread sees the failure first). */
		pthread_mutex_lock(&c->peer_lock);
		if (gen == c->peer_gen) {
			net_peer_reconnect(c->ep, &c->peer);
			c->peer_gen++;
		}
		pthread_mutex_unlock(&c->peer_lock);
	} else if (ret) {
		set_error("an op has no registered local buffer (this provider needs pod_client_register_buffer())");
	}
	return ret;
}

int pod_client_read(struct pod_client *c, const struct pod_lease *l,
		    struct net_rma_op *ops, size_t n)
{
	return rma(c, l, ops, n, false);
}

int pod_client_write(struct pod_client *c, const struct pod_lease *l,
		     struct net_rma_op *ops, size_t n)
{
	return rma(c, l, ops, n, true);
}

bool pod_client_needs_registration(struct pod_client *c)
{
	return net_mr_local_required(c->ep);
}

int pod_client_register_buffer(struct pod_client *c, void *base, size_t len,
			       struct net_mr **out)
{
	return net_mr_register_local(c->ep, base, len, out);
}

void pod_client_unregister_buffer(struct net_mr *mr)
{
	net_mr_close(mr);
}

void pod_client_endpoint_stats(struct pod_client *c,
			       struct net_endpoint_stats *out)
{
	net_endpoint_stats(c->ep, out);
}
