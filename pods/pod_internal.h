/* pods/pod_internal.h — what the pods/pod*.c files share; not public.
 *
 * Concepts: struct pod owns the memory (pod_memory.c: slabs and leases),
 * the endpoint and a table of peers (pod_proto.c: handshake and requests).
 * A peer is created by a HELLO; it is "pending" until its AUTH verifies,
 * then "authed". Every lease belongs to exactly one authed peer.
 *
 * Locking: pod->lock protects everything below except the request flags
 * (atomics, set from signal handlers). The control loop (pod.c) holds it
 * while it handles one message or one tick, never while it waits.
 *
 * Sending: the control loop never waits for one peer. pod_send() posts a
 * message if the provider takes it at once, else queues it in the peer's
 * outbox; the loop retries outboxes and drops what waited too long
 * (pod_outbox.c). A departed client thus costs the others nothing.
 */
#ifndef POOLVM_PODS_POD_INTERNAL_H
#define POOLVM_PODS_POD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "auth.h"
#include "fabric.h"
#include "pod.h"
#include "wire.h"

#define POD_PAGE_SIZE           4096u   /* announced in CHALLENGE */
/* How long a message may wait in a peer's outbox (pod_outbox.c) for the
 * provider to take it, then it is dropped. */
#define POD_SEND_TIMEOUT_MS     1000    /* replies to authed clients */
#define POD_SEND_TIMEOUT_PENDING_MS 300 /* replies to unauthenticated peers */
#define POD_OUTBOX_CAP          8u      /* messages queued per peer, at most */
#define POD_OUTBOX_RETRY_MIN_NS 1000000ull      /* first retry after 1 ms */
#define POD_OUTBOX_RETRY_MAX_NS 64000000ull     /* doubling up to 64 ms */
#define POD_FAILED_LINGER_MS    1000    /* keep a refused peer so ERROR arrives */
#define POD_LOG_BURST           20      /* error lines per second, then quiet */
#define POD_KEY_TRIES           16
#define POD_WHO_LEN             192     /* "client 'ID' (ADDR)" */

enum pod_peer_state {
	POD_PEER_CHALLENGED = 1,        /* CHALLENGE sent, AUTH awaited */
	POD_PEER_AUTHED,                /* AUTH_OK sent */
	POD_PEER_FAILED,                /* refused; forgotten at forget_at_ns */
};

struct pod_lease_rec;

/* A message the provider would not take yet (pod_outbox.c). */
struct pod_outbox_msg {
	struct pvm_wire_msg msg;
	uint64_t queued_ns;
};

struct pod_peer {
	net_peer_t handle;
	enum pod_peer_state state;
	char client_id[PVM_WIRE_ID_MAX + 1];
	char addr_text[80];             /* for messages */
	uint8_t client_nonce[PVM_AUTH_NONCE_LEN];
	uint8_t pod_nonce[PVM_AUTH_NONCE_LEN];
	uint64_t created_ns;
	uint64_t last_seen_ns;          /* last control message */
	uint64_t forget_at_ns;          /* pending/failed: removed then */
	bool probe_sent;                /* HEARTBEAT probe in this silence */
	/* Sends the provider refused for now (tcp;ofi_rxm connecting, or
	 * the peer is gone): a ring of POD_OUTBOX_CAP, allocated on first
	 * use, retried by pod_outbox_flush() from the control loop. */
	struct pod_outbox_msg *outbox;
	unsigned int outbox_head, outbox_len;
	uint64_t outbox_retry_ns;       /* next attempt */
	uint64_t outbox_backoff_ns;
	/* drain */
	bool drain_pending;             /* DRAIN sent: waited for while it holds leases */
	/* usage */
	uint64_t leases;
	uint64_t leased_bytes;          /* bytes granted (requested sizes) */
	uint64_t msgs_rx;
	uint64_t msgs_bad;
};

struct pod_lease_rec {
	uint64_t id;
	uint64_t size;                  /* bytes granted */
	uint64_t first_slab;
	uint64_t nslabs;
	uint64_t key;
	uint64_t remote_addr;
	struct net_mr *mr;
	struct pod_peer *owner;
};

struct pod_log_limit {
	uint64_t window_start_ns;
	unsigned int lines;
	uint64_t suppressed;
};

struct pod {
	struct pod_config cfg;          /* strings below are owned copies */
	char *listen, *fabric_opt, *secret_file, *stats_json;
	char pod_id[PVM_WIRE_ID_MAX + 1];
	char address[256];
	char fabric[PVM_WIRE_FABRIC_MAX + 1];

	pthread_mutex_t lock;
	atomic_bool drain_requested;
	atomic_bool stop_requested;

	struct pvm_auth_secret *secret;
	struct net_endpoint *ep;

	/* memory (pod_memory.c) */
	uint8_t *base;
	size_t map_len;
	bool hugepages;
	uint64_t slab_size;
	uint64_t nslabs;
	uint64_t free_slabs;
	uint8_t *slab_used;             /* one byte per slab */
	struct pod_lease_rec **leases;  /* alive leases, unordered */
	size_t nleases, leases_cap;
	uint64_t next_lease_id;

	/* peers (pod_proto.c) */
	struct pod_peer **peers;
	size_t npeers, peers_cap;

	/* drain */
	bool draining;
	uint64_t drain_deadline_ns;

	/* counters */
	uint64_t start_ns;
	uint64_t leases_granted, leases_refused, leases_expired;
	uint64_t msgs_rx, msgs_bad, auth_failures;
	struct pod_log_limit log_limit;
	uint64_t next_stats_ns;
	bool stats_warned;
};

/* pod_memory.c */
int pod_memory_map(struct pod *pod, uint64_t bytes, bool hugepages);
void pod_memory_unmap(struct pod *pod);
int pod_lease_grant(struct pod *pod, struct pod_peer *owner, uint64_t bytes,
		    struct pod_lease_rec **out);
void pod_lease_free(struct pod *pod, struct pod_lease_rec *lease);
struct pod_lease_rec *pod_lease_find(struct pod *pod, uint64_t id);
void pod_lease_free_all_of(struct pod *pod, struct pod_peer *owner);

/* pod_proto.c */
void pod_handle_msg(struct pod *pod, const struct pvm_wire_msg *msg,
		    net_peer_t from);
void pod_handle_bad(struct pod *pod, int err, const char *why,
		    net_peer_t from);
void pod_tick_peers(struct pod *pod, uint64_t now);
void pod_drain_begin(struct pod *pod);
bool pod_drain_finished(const struct pod *pod);
void pod_peer_forget(struct pod *pod, struct pod_peer *peer);
/* "client 'ID' (ADDR)", "peer ADDR" or "an unknown peer" (NULL). */
const char *pod_peer_name(const struct pod_peer *peer, char *buf, size_t len);
void pod_forget_all(struct pod *pod);

/* pod_outbox.c */
int pod_send(struct pod *pod, struct pod_peer *peer,
	     const struct pvm_wire_msg *msg);
uint64_t pod_outbox_flush(struct pod *pod, uint64_t now);
void pod_outbox_free(struct pod_peer *peer);

/* pod.c */
void pod_log(struct pod *pod, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
uint64_t pod_mem_free(const struct pod *pod);

#endif
