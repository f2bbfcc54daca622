/* pods/pod_proto.c — the pod's side of the control protocol: the peer
 * table, the handshake, and the requests of authenticated clients.
 *
 * Rules (docs/wire-format.md): only HELLO and AUTH are accepted before
 * AUTH_OK; a wrong MAC gets ERROR AUTH_FAILED and the peer is forgotten;
 * nothing is ever sent to a sender that is not in the address vector (no
 * reflection), and a malformed message changes no state. Every rejected
 * message is counted (MSGS_BAD) and logged on one line naming the peer.
 *
 * Called from the control loop with pod->lock held.
 */
#include "pod_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common.h"

/* ------------------------------------------------------------------ */
/* Peers.                                                               */

static struct pod_peer *peer_find(struct pod *pod, net_peer_t handle)
{
	if (handle == NET_PEER_NONE)
		return NULL;
	for (size_t i = 0; i < pod->npeers; i++)
		if (pod->peers[i]->handle == handle)
			return pod->peers[i];
	return NULL;
}

const char *pod_peer_name(const struct pod_peer *peer, char *buf, size_t len)
{
	if (!peer)
		return "an unknown peer";
	if (peer->client_id[0])
		snprintf(buf, len, "client '%s' (%s)", peer->client_id,
			 peer->addr_text);
	else
		snprintf(buf, len, "peer %s", peer->addr_text);
	return buf;
}

/* The address a HELLO carried, for messages. */
static void format_addr(const uint8_t *addr, size_t len, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (len == sizeof(struct sockaddr_in)) {
		struct sockaddr_in sin;

		memcpy(&sin, addr, sizeof(sin));
		if (sin.sin_family == AF_INET &&
		    inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host))) {
			snprintf(buf, cap, "%s:%u", host, ntohs(sin.sin_port));
			return;
		}
	}
	if (len == sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, addr, sizeof(sin6));
		if (sin6.sin6_family == AF_INET6 &&
		    inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host))) {
			snprintf(buf, cap, "[%s]:%u", host, ntohs(sin6.sin6_port));
			return;
		}
	}
	if (len > 1 && addr[len - 1] == '\0') {
		bool printable = true;

		for (size_t i = 0; i + 1 < len; i++)
			printable &= addr[i] >= 0x20 && addr[i] < 0x7f;
		if (printable) {
			size_t n = PVM_MIN(len - 1, cap - 1);

			memcpy(buf, addr, n);
			buf[n] = '\0';
			return;
		}
	}
	snprintf(buf, cap, "<%zu-byte address>", len);
}

static struct pod_peer *peer_add(struct pod *pod, net_peer_t handle)
{
	struct pod_peer *peer;

	if (pod->npeers == pod->peers_cap) {
		size_t cap = pod->peers_cap ? pod->peers_cap * 2 : 16;
		struct pod_peer **p = realloc(pod->peers, cap * sizeof(*p));

		if (!p)
			return NULL;
		pod->peers = p;
		pod->peers_cap = cap;
	}
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return NULL;
	peer->handle = handle;
	peer->created_ns = peer->last_seen_ns = pvm_now_ns();
	pod->peers[pod->npeers++] = peer;
	return peer;
}

void pod_peer_forget(struct pod *pod, struct pod_peer *peer)
{
	pod_lease_free_all_of(pod, peer);
	pod_outbox_free(peer);
	net_peer_remove(pod->ep, peer->handle);
	for (size_t i = 0; i < pod->npeers; i++) {
		if (pod->peers[i] == peer) {
			pod->peers[i] = pod->peers[--pod->npeers];
			break;
		}
	}
	sodium_memzero(peer, sizeof(*peer));
	free(peer);
}

void pod_forget_all(struct pod *pod)
{
	while (pod->npeers)
		pod_peer_forget(pod, pod->peers[pod->npeers - 1]);
	free(pod->peers);
	pod->peers = NULL;
	pod->peers_cap = 0;
}

/* ------------------------------------------------------------------ */
/* Replies.                                                             */

static void send_error(struct pod *pod, struct pod_peer *peer, uint32_t seq,
		       enum pvm_wire_status status, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void send_error(struct pod *pod, struct pod_peer *peer, uint32_t seq,
		       enum pvm_wire_status status, const char *fmt, ...)
{
	struct pvm_wire_msg m;
	char text[PVM_WIRE_MESSAGE_MAX + 1];
	va_list ap;

	pvm_wire_init(&m, PVM_WIRE_ERROR, seq);
	m.u.error.status = status;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* Our own texts are printable ASCII; a client id echoed in one is too
	 * (the decoder checked it). */
	pvm_wire_set_string(m.u.error.message, sizeof(m.u.error.message), text);
	pod_send(pod, peer, &m);
}

/* A message refused: counted, logged (rate limited), state unchanged. */
static void rejected(struct pod *pod, struct pod_peer *peer, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void rejected(struct pod *pod, struct pod_peer *peer, const char *fmt, ...)
{
	char who[POD_WHO_LEN], why[256];
	va_list ap;

	pod->msgs_bad++;
	if (peer)
		peer->msgs_bad++;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	pod_log(pod, "pod: rejected a message from %s: %s",
		pod_peer_name(peer, who, sizeof(who)), why);
}

/* ------------------------------------------------------------------ */
/* Handshake.                                                           */

static bool speaks_v1(const struct pvm_wire_hello *h)
{
	for (unsigned int i = 0; i < h->nversions; i++)
		if (h->versions[i] == PVM_WIRE_VERSION)
			return true;
	return false;
}

static void on_hello(struct pod *pod, struct pod_peer *peer,
		     const struct pvm_wire_msg *msg, net_peer_t from)
{
	const struct pvm_wire_hello *h = &msg->u.hello;
	struct pvm_wire_msg m;
	char who[POD_WHO_LEN];
	net_peer_t handle = from;
	bool inserted = false;
	uint64_t now = pvm_now_ns();
	int ret;

	if (h->addr_len) {
		/* The peer is who its HELLO names. (RDM: that name is also the
		 * only way back to a new client. And @from cannot be trusted
		 * for a sender missing from the address vector: net/ on shm
		 * reports 0 instead of NET_PEER_NONE.) */
		ret = net_peer_insert_raw(pod->ep, h->addr, h->addr_len, &handle);
		if (ret) {
			rejected(pod, NULL, "HELLO from client '%s' carries an address the provider refuses (%s)",
				 h->client_id, net_strerror(ret));
			return;
		}
		peer = peer_find(pod, handle);
		if (peer && from != handle) {
			/* A known client's own messages carry its handle: a
			 * HELLO from elsewhere naming its address is someone
			 * else trying to restart its handshake. */
			rejected(pod, NULL, "HELLO as '%s' claims the address of %s: ignored",
				 h->client_id, pod_peer_name(peer, who, sizeof(who)));
			return;
		}
		inserted = !peer;
	} else if (!peer && handle == NET_PEER_NONE) {
		rejected(pod, NULL, "HELLO from client '%s' without an address and this provider does not report sources",
			 h->client_id);
		return;
	}
	if (!peer) {
		if (pod->npeers >= pod->cfg.max_clients) {
			rejected(pod, NULL, "HELLO from client '%s': %zu peers already (--max-clients), ignored",
				 h->client_id, pod->npeers);
			if (inserted)
				net_peer_remove(pod->ep, handle);
			return;
		}
		peer = peer_add(pod, handle);
		if (!peer) {
			if (inserted)
				net_peer_remove(pod->ep, handle);
			pod_log(pod, "pod: out of memory for a new client");
			return;
		}
		peer->msgs_rx++;
	}
	memcpy(peer->client_id, h->client_id, sizeof(peer->client_id));
	if (h->addr_len)
		format_addr(h->addr, h->addr_len, peer->addr_text,
			    sizeof(peer->addr_text));
	else if (!peer->addr_text[0])
		snprintf(peer->addr_text, sizeof(peer->addr_text), "fi_addr %llu",
			 (unsigned long long)handle);
	peer->last_seen_ns = now;

	if (!speaks_v1(h)) {
		rejected(pod, peer, "HELLO offers no protocol version this pod speaks (1)");
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_VERSION,
			   "this pod speaks protocol version 1 only");
		if (peer->state != POD_PEER_AUTHED) {
			peer->state = POD_PEER_FAILED;
			peer->forget_at_ns = now + POD_FAILED_LINGER_MS * 1000000ull;
		}
		return;
	}
	if (pod->draining) {
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_DRAINING,
			   "pod is draining: no new clients");
		if (peer->state != POD_PEER_AUTHED) {
			peer->state = POD_PEER_FAILED;
			peer->forget_at_ns = now + POD_FAILED_LINGER_MS * 1000000ull;
		}
		return;
	}

	/* A new HELLO restarts the handshake; leases stay with the peer
	 * until its AUTH fails or it goes silent. */
	memcpy(peer->client_nonce, h->nonce, PVM_AUTH_NONCE_LEN);
	pvm_auth_nonce(peer->pod_nonce);
	peer->state = POD_PEER_CHALLENGED;
	peer->forget_at_ns = now + (uint64_t)pod->cfg.handshake_timeout_ms * 1000000ull;

	pvm_wire_init(&m, PVM_WIRE_CHALLENGE, msg->seq);
	m.u.challenge.version = PVM_WIRE_VERSION;
	memcpy(m.u.challenge.nonce, peer->pod_nonce, PVM_AUTH_NONCE_LEN);
	memcpy(m.u.challenge.pod_id, pod->pod_id, sizeof(m.u.challenge.pod_id));
	memcpy(m.u.challenge.fabric, pod->fabric, sizeof(m.u.challenge.fabric));
	m.u.challenge.mem_total = pod->nslabs * pod->slab_size;
	m.u.challenge.mem_free = pod_mem_free(pod);
	m.u.challenge.page_size = POD_PAGE_SIZE;
	if (pod_send(pod, peer, &m) && !peer->leases) {
		/* Cannot reach it: do not keep an address vector entry for a
		 * name that may be a lie. */
		pod_peer_forget(pod, peer);
	}
}

static void send_drain(struct pod *pod, struct pod_peer *peer)
{
	struct pvm_wire_msg m;
	uint64_t now = pvm_now_ns();
	uint64_t left = pod->drain_deadline_ns > now ?
			(pod->drain_deadline_ns - now) / 1000000ull : 0;

	pvm_wire_init(&m, PVM_WIRE_DRAIN, 0);
	m.u.drain.lease_id = 0;
	m.u.drain.deadline_ms = (uint32_t)PVM_MIN(left, (uint64_t)UINT32_MAX);
	peer->drain_pending = true;
	pod_send(pod, peer, &m);
}

static void on_auth(struct pod *pod, struct pod_peer *peer,
		    const struct pvm_wire_msg *msg)
{
	struct pvm_wire_msg m;
	char who[POD_WHO_LEN];

	if (pvm_auth_client_verify(pod->secret, peer->client_nonce,
				   peer->pod_nonce, peer->client_id,
				   msg->u.auth.mac)) {
		pod->auth_failures++;
		rejected(pod, peer, "AUTH with a wrong MAC (does it use this pod's secret file?)");
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_AUTH_FAILED,
			   "authentication failed: wrong secret");
		/* Forgotten: its leases go now, its address once the ERROR
		 * had time to leave. */
		pod_lease_free_all_of(pod, peer);
		sodium_memzero(peer->pod_nonce, sizeof(peer->pod_nonce));
		peer->state = POD_PEER_FAILED;
		peer->forget_at_ns = pvm_now_ns() + POD_FAILED_LINGER_MS * 1000000ull;
		return;
	}
	peer->state = POD_PEER_AUTHED;
	peer->probe_sent = false;
	pvm_wire_init(&m, PVM_WIRE_AUTH_OK, msg->seq);
	pvm_auth_pod_mac(pod->secret, peer->client_nonce, peer->pod_nonce,
			 pod->pod_id, m.u.auth_ok.mac);
	/* One AUTH per CHALLENGE. */
	sodium_memzero(peer->pod_nonce, sizeof(peer->pod_nonce));
	if (pod_send(pod, peer, &m))
		return;
	pvm_info("pod: %s authenticated", pod_peer_name(peer, who, sizeof(who)));
	if (pod->draining)
		send_drain(pod, peer);
}

/* ------------------------------------------------------------------ */
/* Requests of authenticated clients.                                   */

static void on_lease_request(struct pod *pod, struct pod_peer *peer,
			     const struct pvm_wire_msg *msg)
{
	uint64_t bytes = msg->u.lease_request.bytes;
	struct pod_lease_rec *lease;
	struct pvm_wire_msg m;
	char who[POD_WHO_LEN], want[32], avail[32];
	int ret;

	if (bytes == 0 || bytes % POD_PAGE_SIZE) {
		pod->leases_refused++;
		rejected(pod, peer, "LEASE_REQUEST for %llu bytes, not a multiple of %u",
			 (unsigned long long)bytes, POD_PAGE_SIZE);
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_BAD_REQUEST,
			   "lease size must be a non-zero multiple of %u bytes",
			   POD_PAGE_SIZE);
		return;
	}
	if (pod->draining) {
		pod->leases_refused++;
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_DRAINING,
			   "pod is draining: no new leases");
		return;
	}
	ret = pod_lease_grant(pod, peer, bytes, &lease);
	if (ret == -ENOSPC) {
		pod->leases_refused++;
		pvm_format_size(bytes, want, sizeof(want));
		pvm_format_size(pod_mem_free(pod), avail, sizeof(avail));
		pvm_info("pod: %s asked for %s, %s free: refused",
			 pod_peer_name(peer, who, sizeof(who)), want, avail);
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_NO_SPACE,
			   "no room for %s: %s free in %llu-byte slabs", want,
			   avail, (unsigned long long)pod->slab_size);
		return;
	}
	if (ret) {
		pod->leases_refused++;
		pod_log(pod, "pod: cannot grant a lease to %s: %s",
			pod_peer_name(peer, who, sizeof(who)), net_strerror(ret));
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_INTERNAL,
			   "pod could not register the memory: %s",
			   net_strerror(ret));
		return;
	}
	pvm_wire_init(&m, PVM_WIRE_LEASE_GRANT, msg->seq);
	m.u.lease_grant.lease_id = lease->id;
	m.u.lease_grant.size = lease->size;
	m.u.lease_grant.remote_key = lease->key;
	m.u.lease_grant.remote_addr = lease->remote_addr;
	if (pod_send(pod, peer, &m)) {
		/* The client never learnt the key: nothing can use the lease. */
		pod_lease_free(pod, lease);
		return;
	}
	pod->leases_granted++;
	pvm_info("pod: lease %llu of %s to %s", (unsigned long long)lease->id,
		 pvm_format_size(lease->size, want, sizeof(want)),
		 pod_peer_name(peer, who, sizeof(who)));
}

static void on_release(struct pod *pod, struct pod_peer *peer,
		       const struct pvm_wire_msg *msg)
{
	struct pod_lease_rec *lease = pod_lease_find(pod, msg->u.release.lease_id);

	/* Another client's lease reads as unknown: ids reveal nothing. */
	if (!lease || lease->owner != peer) {
		rejected(pod, peer, "RELEASE of lease %llu, which it does not hold",
			 (unsigned long long)msg->u.release.lease_id);
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_NOT_FOUND,
			   "no lease %llu held by this client",
			   (unsigned long long)msg->u.release.lease_id);
		return;
	}
	pod_lease_free(pod, lease);
}

static void on_drain_done(struct pod *pod, struct pod_peer *peer,
			  const struct pvm_wire_msg *msg)
{
	uint64_t id = msg->u.drain_done.lease_id;
	struct pod_lease_rec *lease;

	if (!peer->drain_pending) {
		rejected(pod, peer, "DRAIN_DONE but no DRAIN is pending");
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_BAD_REQUEST,
			   "DRAIN_DONE without a DRAIN");
		return;
	}
	if (id == 0) {
		pod_lease_free_all_of(pod, peer);
	} else {
		lease = pod_lease_find(pod, id);
		if (!lease || lease->owner != peer) {
			rejected(pod, peer, "DRAIN_DONE for lease %llu, which it does not hold",
				 (unsigned long long)id);
			send_error(pod, peer, msg->seq, PVM_WIRE_ST_NOT_FOUND,
				   "no lease %llu held by this client",
				   (unsigned long long)id);
			return;
		}
		pod_lease_free(pod, lease);
	}
}

static void add_counter(struct pvm_wire_stats *s, uint32_t id, uint64_t v)
{
	s->counters[s->ncounters].id = id;
	s->counters[s->ncounters].value = v;
	s->ncounters++;
}

static uint64_t authed_count(const struct pod *pod)
{
	uint64_t n = 0;

	for (size_t i = 0; i < pod->npeers; i++)
		n += pod->peers[i]->state == POD_PEER_AUTHED;
	return n;
}

static void on_stats_request(struct pod *pod, struct pod_peer *peer,
			     const struct pvm_wire_msg *msg)
{
	struct pvm_wire_msg m;
	struct pvm_wire_stats *s = &m.u.stats;

	pvm_wire_init(&m, PVM_WIRE_STATS, msg->seq);
	add_counter(s, PVM_WIRE_CTR_MEM_TOTAL, pod->nslabs * pod->slab_size);
	add_counter(s, PVM_WIRE_CTR_MEM_FREE, pod_mem_free(pod));
	add_counter(s, PVM_WIRE_CTR_LEASES, peer->leases);
	add_counter(s, PVM_WIRE_CTR_LEASED_BYTES, peer->leased_bytes);
	add_counter(s, PVM_WIRE_CTR_CLIENTS, authed_count(pod));
	add_counter(s, PVM_WIRE_CTR_UPTIME_MS,
		    (pvm_now_ns() - pod->start_ns) / 1000000ull);
	add_counter(s, PVM_WIRE_CTR_MSGS_RX, pod->msgs_rx);
	add_counter(s, PVM_WIRE_CTR_MSGS_BAD, pod->msgs_bad);
	pod_send(pod, peer, &m);
}

static void on_heartbeat(struct pod *pod, struct pod_peer *peer,
			 const struct pvm_wire_msg *msg)
{
	struct pvm_wire_msg m;

	if (msg->u.heartbeat.echo_ns)
		return;         /* the answer to our probe: last_seen is updated */
	if (msg->u.heartbeat.timestamp_ns == 0) {
		/* Its answer would look like a probe: never answer it. */
		rejected(pod, peer, "HEARTBEAT probe with timestamp 0");
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_BAD_REQUEST,
			   "HEARTBEAT probe needs a non-zero timestamp");
		return;
	}
	pvm_wire_init(&m, PVM_WIRE_HEARTBEAT, msg->seq);
	m.u.heartbeat.timestamp_ns = pvm_now_ns();
	m.u.heartbeat.echo_ns = msg->u.heartbeat.timestamp_ns;
	pod_send(pod, peer, &m);
}

/* ------------------------------------------------------------------ */
/* Dispatch.                                                            */

void pod_handle_msg(struct pod *pod, const struct pvm_wire_msg *msg,
		    net_peer_t from)
{
	struct pod_peer *peer = peer_find(pod, from);
	const char *type = pvm_wire_type_name(msg->type);
	char who[POD_WHO_LEN];

	pod->msgs_rx++;
	if (peer) {
		peer->msgs_rx++;
		peer->last_seen_ns = pvm_now_ns();
		peer->probe_sent = false;
	}
	if (msg->type == PVM_WIRE_HELLO) {
		on_hello(pod, peer, msg, from);
		return;
	}
	if (!peer) {
		/* Not in the address vector: we could not answer, and must not. */
		rejected(pod, NULL, "%s before any HELLO: ignored", type);
		return;
	}
	if (peer->state != POD_PEER_AUTHED) {
		if (msg->type == PVM_WIRE_AUTH && peer->state == POD_PEER_CHALLENGED) {
			on_auth(pod, peer, msg);
			return;
		}
		rejected(pod, peer, "%s before authentication", type);
		if (msg->type != PVM_WIRE_ERROR)
			send_error(pod, peer, msg->seq, PVM_WIRE_ST_NOT_AUTHED,
				   "%s before authentication: send HELLO first", type);
		return;
	}
	switch (msg->type) {
	case PVM_WIRE_LEASE_REQUEST:
		on_lease_request(pod, peer, msg);
		break;
	case PVM_WIRE_RELEASE:
		on_release(pod, peer, msg);
		break;
	case PVM_WIRE_STATS_REQUEST:
		on_stats_request(pod, peer, msg);
		break;
	case PVM_WIRE_HEARTBEAT:
		on_heartbeat(pod, peer, msg);
		break;
	case PVM_WIRE_DRAIN_DONE:
		on_drain_done(pod, peer, msg);
		break;
	case PVM_WIRE_ERROR:
		/* Never answered (no ERROR ping-pong). */
		pod_log(pod, "pod: %s reports %s: %s", pod_peer_name(peer, who, sizeof(who)),
			pvm_wire_status_name(msg->u.error.status),
			msg->u.error.message);
		break;
	default:
		rejected(pod, peer, "unexpected %s (a message pods send, not receive)",
			 type);
		send_error(pod, peer, msg->seq, PVM_WIRE_ST_BAD_REQUEST,
			   "unexpected %s", type);
		break;
	}
}

/* net_recv_msg() could not decode what @from sent (-EBADMSG, -EPROTO,
 * -E2BIG). pvm_wire_last_error() says why, when the decoder ran. */
void pod_handle_bad(struct pod *pod, int err, const char *why, net_peer_t from)
{
	struct pod_peer *peer = peer_find(pod, from);

	pod->msgs_rx++;
	if (peer) {
		peer->msgs_rx++;
		peer->last_seen_ns = pvm_now_ns();
	}
	rejected(pod, peer, "%s: %s", pvm_wire_strerror(err), why);
	/* Authenticated senders learn what was wrong; others get nothing. */
	if (peer && peer->state == POD_PEER_AUTHED)
		send_error(pod, peer, 0, PVM_WIRE_ST_BAD_REQUEST,
			   "malformed message: %s", why);
}

/* ------------------------------------------------------------------ */
/* Timers and drain.                                                    */

void pod_tick_peers(struct pod *pod, uint64_t now)
{
	uint64_t timeout_ns = (uint64_t)pod->cfg.client_timeout_ms * 1000000ull;
	char who[POD_WHO_LEN], sz[32];

	for (size_t i = pod->npeers; i-- > 0;) {
		struct pod_peer *peer;

		if (i >= pod->npeers)
			continue;
		peer = pod->peers[i];
		if (peer->state != POD_PEER_AUTHED) {
			if (now >= peer->forget_at_ns)
				pod_peer_forget(pod, peer);
			continue;
		}
		if (now - peer->last_seen_ns > timeout_ns) {
			pvm_err("pod: %s silent for %.1f s: freeing its %llu leases (%s)",
				pod_peer_name(peer, who, sizeof(who)),
				(double)(now - peer->last_seen_ns) / 1e9,
				(unsigned long long)peer->leases,
				pvm_format_size(peer->leased_bytes, sz, sizeof(sz)));
			pod->leases_expired += peer->leases;
			pod_peer_forget(pod, peer);
			continue;
		}
		if (!peer->probe_sent && now - peer->last_seen_ns > timeout_ns / 2) {
			struct pvm_wire_msg m;

			pvm_wire_init(&m, PVM_WIRE_HEARTBEAT, 0);
			m.u.heartbeat.timestamp_ns = now;
			peer->probe_sent = true;
			pod_send(pod, peer, &m);
		}
	}
}

void pod_drain_begin(struct pod *pod)
{
	uint64_t leases = 0, clients = 0;

	pod->draining = true;
	pod->drain_deadline_ns = pvm_now_ns() +
				 (uint64_t)pod->cfg.drain_timeout_ms * 1000000ull;
	/* Everyone hears it; only those holding leases are waited for. */
	for (size_t i = 0; i < pod->npeers; i++) {
		struct pod_peer *peer = pod->peers[i];

		peer->drain_pending = true;
		if (peer->leases) {
			clients++;
			leases += peer->leases;
		}
		if (peer->state == POD_PEER_AUTHED)
			send_drain(pod, peer);
	}
	pvm_info("pod: draining: %llu clients hold %llu leases; waiting up to %.1f s for them to move their pages",
		 (unsigned long long)clients, (unsigned long long)leases,
		 pod->cfg.drain_timeout_ms / 1000.0);
}

bool pod_drain_finished(const struct pod *pod)
{
	for (size_t i = 0; i < pod->npeers; i++)
		if (pod->peers[i]->drain_pending && pod->peers[i]->leases)
			return false;
	return true;
}
