/* pods/pod_client.h — a VMM's connection to one memory pod.
 *
 * Concepts:
 *  - A pod (pods/pod.h, `poolvm pod`) lends memory. A client connects
 *    with pod_client_connect(): it opens its own net/ endpoint, runs the
 *    handshake (HELLO, CHALLENGE, AUTH, AUTH_OK; docs/wire-format.md) and
 *    checks the pod's proof, so a pod without the secret is refused too.
 *  - A lease (struct pod_lease) is a range of the pod's memory granted to
 *    this client, with its own RMA key. Pages move by one-sided RMA:
 *    pod_client_read() / pod_client_write() take a batch of struct
 *    net_rma_op (net/fabric.h) whose remote_addr is an OFFSET within the
 *    lease (0 .. size - len); the client adds the lease's address and key.
 *    Writes are delivery-complete: 0 means the data is in the pod's memory.
 *  - Local buffers: where the provider needs registered buffers (verbs,
 *    FI_MR_LOCAL; pod_client_needs_registration()), register the page
 *    buffers once with pod_client_register_buffer() and put the
 *    registration in each op's local_mr; an op without one then fails with
 *    -EINVAL. On tcp and shm local_mr may be NULL.
 *  - Liveness: the pod frees the leases of a client silent for its client
 *    timeout (30 s by default). Call pod_client_heartbeat() every few
 *    seconds, or pod_client_poll_event() often (it answers the pod's
 *    probes). Nothing here runs in the background.
 *  - Drain: a pod that shuts down sends DRAIN; pod_client_poll_event()
 *    reports it. Move the pages away before the deadline, then call
 *    pod_client_drain_done() (or release the leases).
 *  - Errors: 0 or a negative errno. When a call fails, pod_client_last_error()
 *    (per thread) says what happened in one sentence.
 *
 * Threads: one thread at a time per client for everything except
 * pod_client_read() and pod_client_write(), which may run concurrently
 * with each other and with that one thread (the endpoint serializes what
 * it must; a reconnect after a failed batch is made once, under a lock).
 * The lease passed to them must stay valid until they return.
 */
#ifndef POOLVM_PODS_POD_CLIENT_H
#define POOLVM_PODS_POD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fabric.h"
#include "wire.h"

#define POD_CLIENT_REQUEST_TIMEOUT_MS 2000u

struct pod_client;

struct pod_client_config {
	const char *address;            /* "host:port" of the pod (shm: its name) */
	const char *fabric;             /* auto|verbs|tcp|shm; NULL: auto */
	const char *secret_file;        /* shared secret, mode 0600 */
	const char *client_id;          /* 1..64 printable; NULL: "HOST-PID" */
	unsigned timeout_ms;            /* per request and per RMA batch; 0: 2000 */
	/* Busy-poll window after activity before a blocking call sleeps
	 * (net_endpoint_opts.spin_us): 0 for the default (50 us). Latency-
	 * critical readers spin longer; bulk writers sleep at once (1). */
	unsigned spin_us;
};

struct pod_lease {
	uint64_t id;                    /* pod's lease id, != 0 */
	uint64_t size;                  /* bytes granted */
	uint64_t key;                   /* RMA key (filled by the pod) */
	uint64_t remote_addr;           /* RMA address of byte 0 */
};

struct pod_info {
	char pod_id[64];                /* as announced (truncated to 63) */
	char fabric[32];                /* provider, e.g. "tcp;ofi_rxm" (truncated to 31) */
	uint64_t mem_total;             /* at connect time */
	uint64_t mem_free;
	/* additions */
	uint32_t page_size;             /* leases are multiples of it (4096) */
	char address[256];              /* the pod's address as configured */
};

enum pod_event_type {
	POD_EVENT_DRAIN = 1,            /* move pages out of lease_id (0: all) */
};

struct pod_event {
	enum pod_event_type type;
	uint64_t lease_id;              /* 0: every lease of this client */
	uint32_t deadline_ms;           /* as announced, from receipt */
	uint64_t deadline_ns;           /* CLOCK_MONOTONIC (pvm_now_ns()) */
};

/**
 * pod_client_connect() - open an endpoint towards @cfg->address and
 * authenticate.
 * Return: 0 and *@out; -EACCES when the pod refused our secret or its
 * AUTH_OK proof did not verify (a pod without the secret); -ETIMEDOUT when
 * nothing answered (no pod there: rxm retries refused connections, so
 * this is also what a closed port gives); -EPROTO for a malformed or
 * unexpected answer or no common protocol version; -ESHUTDOWN when the pod
 * is draining; -EINVAL / -EHOSTUNREACH for an address that does not parse
 * or resolve; the secret loader's errors (-EPERM for a file others can
 * read, ...); net_endpoint_open()'s errors. Any thread.
 */
int pod_client_connect(const struct pod_client_config *cfg,
		       struct pod_client **out);

/** pod_client_close() - close the endpoint; leases are NOT released
 * remotely (the pod frees them at its client timeout). NULL is a no-op. */
void pod_client_close(struct pod_client *c);

/** pod_client_info() - what the pod announced at connect time. */
const struct pod_info *pod_client_info(struct pod_client *c);

/**
 * pod_client_lease() - ask for @bytes (a non-zero multiple of page_size).
 * Return: 0 and *@out; -ENOSPC when the pod has no room; -ESHUTDOWN when
 * it is draining; -EINVAL for a bad size; -ETIMEDOUT; -ENOTCONN when the
 * pod no longer knows this client (reconnect). Control thread.
 */
int pod_client_lease(struct pod_client *c, uint64_t bytes,
		     struct pod_lease *out);

/**
 * pod_client_release() - give a lease back; waits until the pod has freed
 * it (a HEARTBEAT after the RELEASE fences it). Return: 0; -ENOENT when
 * this client holds no such lease; -ETIMEDOUT. Control thread.
 */
int pod_client_release(struct pod_client *c, uint64_t lease_id);

/**
 * pod_client_read() - read @n ranges of @l into local buffers.
 * @ops: local, local_mr (see Concepts), len, and remote_addr = offset
 *       within the lease. On return remote_addr holds the offset again,
 *       key holds the lease key and result each op's outcome.
 * Return: 0 when every op succeeded, else the first failure: -ERANGE (an
 * op outside the lease; nothing posted), -EINVAL, -ETIMEDOUT,
 * -EKEYREJECTED or another transport error. After a transport failure the
 * connection is re-opened so the next call starts clean. Any thread.
 */
int pod_client_read(struct pod_client *c, const struct pod_lease *l,
		    struct net_rma_op *ops, size_t n);

/** pod_client_write() - as pod_client_read(), towards the pod; an op with
 * result 0 has reached the pod's memory (delivery complete). Any thread. */
int pod_client_write(struct pod_client *c, const struct pod_lease *l,
		     struct net_rma_op *ops, size_t n);

/**
 * pod_client_heartbeat() - round trip a HEARTBEAT; keeps the client alive
 * at the pod. @rtt_ns (may be NULL): the round-trip time.
 * Return: 0, -ETIMEDOUT, -EPROTO. Control thread.
 */
int pod_client_heartbeat(struct pod_client *c, uint64_t *rtt_ns);

/**
 * pod_client_stats() - STATS_REQUEST; @stats_out receives the STATS
 * message (pod_stats_counter() reads it). LEASES and LEASED_BYTES are
 * this client's, the other counters the pod's. Control thread.
 */
int pod_client_stats(struct pod_client *c, struct pvm_wire_msg *stats_out);

/** pod_stats_counter() - the value of counter @id in a STATS message.
 * Return: true and *@value when present. */
bool pod_stats_counter(const struct pvm_wire_msg *stats, uint32_t id,
		       uint64_t *value);

/**
 * pod_client_poll_event() - non-blocking: read what the pod sent on its
 * own (answering its HEARTBEAT probes) and return the oldest event.
 * Return: 0 and *@ev; -EAGAIN when none. Control thread.
 */
int pod_client_poll_event(struct pod_client *c, struct pod_event *ev);

/**
 * pod_client_drain_done() - tell the pod the pages of @lease_id (0: all
 * leases) are safe elsewhere; the pod frees them. No reply is awaited
 * (the pod may exit right after). Return: 0 or a send error. Control thread.
 */
int pod_client_drain_done(struct pod_client *c, uint64_t lease_id);

/* ---- additions ---- */

/** pod_client_needs_registration() - true when ops need local_mr. */
bool pod_client_needs_registration(struct pod_client *c);

/**
 * pod_client_register_buffer() - register [@base, @base + @len) for use as
 * op->local / op->local_mr (harmless where not needed). Close with
 * pod_client_unregister_buffer() before pod_client_close().
 */
int pod_client_register_buffer(struct pod_client *c, void *base, size_t len,
			       struct net_mr **out);
void pod_client_unregister_buffer(struct net_mr *mr);

/** pod_client_endpoint_stats() - counters of the client's endpoint. */
void pod_client_endpoint_stats(struct pod_client *c,
			       struct net_endpoint_stats *out);

/** pod_client_last_error() - why the last failed call on this thread failed. */
const char *pod_client_last_error(void);

#endif
