/* net/fabric.h — the libfabric transport between VMMs and memory pods.
 *
 * Concepts: an endpoint is one reliable-datagram (FI_EP_RDM) libfabric
 * endpoint with its own fabric, domain, address vector and completion
 * queue. Pods open theirs bound to node:service and serve; clients open an
 * ephemeral one. A peer is an address inserted into the endpoint's address
 * vector ("host:port" for tcp and verbs, the printed name for shm); its
 * handle is a net_peer_t.
 *
 * Two kinds of traffic share the endpoint:
 *  - control messages (net/wire.h) through fi_send/fi_recv, with a pool of
 *    pre-posted 64 KiB receive buffers;
 *  - page traffic through one-sided RMA: the pod registers a region with a
 *    key (net_mr_register_remote) and announces key and address in
 *    LEASE_GRANT; the client reads and writes 4 KiB pages with
 *    net_rma_read_batch/net_rma_write_batch. Writes use
 *    FI_DELIVERY_COMPLETE: a write reported 0 has reached the pod's memory.
 *
 * Progress: with tcp;ofi_rxm (and shm) nothing moves unless someone polls
 * the endpoint's completion queue, the target of an RMA included. Every
 * blocking call here polls while it waits; a pod that is otherwise idle
 * must call net_progress() from its loop or open with
 * opts.progress_thread, which polls from a helper thread (sleeping on the
 * CQ's file descriptor when the provider has one).
 *
 * Failure: every wait has a deadline, so a dead peer produces -ETIMEDOUT
 * or the provider's error, never a hang. After a failure the client calls
 * net_peer_reconnect() (removes and re-inserts the address: the next
 * operation connects afresh). Buffers of operations that timed out may
 * still be written until the peer is reconnected or the endpoint closed:
 * treat their contents as undefined.
 *
 * Threads: all functions are safe to call from several threads on one
 * endpoint (one mutex per endpoint serializes calls into libfabric; CQ
 * entries are handed to whichever operation they belong to).
 */
#ifndef POOLVM_NET_FABRIC_H
#define POOLVM_NET_FABRIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostport.h"

struct pvm_wire_msg;
struct net_endpoint;
struct net_mr;

/* A peer in an endpoint's address vector (an fi_addr_t). */
typedef uint64_t net_peer_t;
#define NET_PEER_NONE   UINT64_MAX      /* FI_ADDR_UNSPEC / not in the AV */

struct net_endpoint_opts {
	/* "auto" (NULL too): verbs;ofi_rxm if it offers RMA, else
	 * tcp;ofi_rxm. "verbs", "tcp", "shm": that provider or -ENODATA. */
	const char *provider;
	/* Local bind address and port. Pods: their listen address; clients:
	 * NULL/NULL (or a port of "0") for an ephemeral one. Ignored by shm. */
	const char *node;
	const char *service;
	/* Clients without @node: "host:port" of the pod, to bind to the local
	 * interface that reaches it (else the provider's first interface). */
	const char *route_to;
	/* Control receive buffers kept posted (0: 16). Each is 64 KiB. */
	unsigned int rx_buffers;
	/* Start a helper thread that drives progress (pods). */
	bool progress_thread;
	/* Microseconds to keep busy-polling (yielding the CPU) after the last
	 * post, completion or wake-up before sleeping, in the helper thread
	 * and in blocking calls. 0: 50; UINT32_MAX: never sleep (lowest
	 * latency, one CPU per polling thread; best for shm pods, whose CQ
	 * has no file descriptor to sleep on). */
	unsigned int spin_us;
};

struct net_endpoint_stats {
	uint64_t rma_reads;             /* ops completed successfully */
	uint64_t rma_writes;
	uint64_t rma_errors;            /* ops that ended in an error */
	uint64_t rma_timeouts;          /* ops abandoned at a deadline */
	uint64_t rma_posts;             /* operations posted: over tcp several
					 * ops of a batch go out as one */
	uint64_t rma_eagain;            /* posts answered -FI_EAGAIN, retried */
	uint64_t rma_reposts;           /* ops reposted after a broken connection */
	uint64_t msgs_sent;
	uint64_t msgs_received;
	uint64_t msgs_bad;              /* received but refused by the decoder */
	uint64_t cq_errors;             /* error entries read from the CQ */
};

/**
 * net_endpoint_open() - open a fabric endpoint.
 * @opts: provider choice and binding; NULL means auto, ephemeral.
 * @out:  the endpoint.
 *
 * Return: 0, -EINVAL for an unknown provider name, -ENODATA when no
 * provider of the requested kind is available here (the message printed
 * says which), or -errno from libfabric. Any thread.
 */
int net_endpoint_open(const struct net_endpoint_opts *opts,
		      struct net_endpoint **out);

/**
 * net_endpoint_close() - stop the progress thread, cancel posted buffers,
 * close every libfabric object. MRs of this endpoint must be closed first.
 * RMA reads still out (abandoned at a deadline: a dead, stopped or cut-off
 * peer) are ended first: over tcp the endpoint's connections are shut for
 * reading and the reads' reports drained (at most 200 ms), because
 * libfabric 1.17 crashes closing a connection with a read response half
 * received. Once this returns, no abandoned operation writes its buffer.
 * NULL is a no-op. No other call on @ep may be in flight.
 */
void net_endpoint_close(struct net_endpoint *ep);

/**
 * net_provider_defaults() - give libfabric's providers poolvm's sizes
 * before they load: 128 receive buffers per rxm endpoint instead of 4096
 * (FI_OFI_RXM_MSG_RX_SIZE) and, where verbs cannot be chosen (@provider
 * "tcp", or "auto"/NULL on a host without RDMA devices), bounce buffers
 * of 2 KiB instead of 16 KiB (FI_OFI_RXM_BUFFER_SIZE, with
 * FI_OFI_RXM_EAGER_LIMIT kept at libfabric's 16384 so that peers left at
 * the defaults still connect). Over tcp a connected client endpoint then
 * keeps ~8 MiB resident instead of ~87 MiB.
 * Each group of variables is set only where the environment names none
 * of it; POOLVM_NET_PROVIDER_DEFAULTS=0 sets nothing. Providers read
 * these once, at the process's first fi_getinfo(): net_endpoint_open()
 * calls this first, so only a program that calls libfabric itself before
 * its first endpoint must call it earlier. Only the first call acts.
 * Calls setenv(): call it before other threads run, or where no other
 * thread reads the environment.
 */
void net_provider_defaults(const char *provider);

/** net_endpoint_provider() - "tcp;ofi_rxm", "verbs;ofi_rxm", "shm". */
const char *net_endpoint_provider(const struct net_endpoint *ep);

/**
 * net_endpoint_address() - this endpoint's address in the text form that
 * net_peer_insert() accepts on the other side ("127.0.0.1:34567", or the
 * shm name). Return: 0, -ENOSPC when @len is too small, -errno.
 */
int net_endpoint_address(struct net_endpoint *ep, char *buf, size_t len);

/**
 * net_endpoint_name() - the raw libfabric name (fi_getname), as carried in
 * HELLO's addr. *@len: in, capacity; out, the size. Return: 0, -ENOSPC.
 */
int net_endpoint_name(struct net_endpoint *ep, void *buf, size_t *len);

/** net_endpoint_stats() - a snapshot of the endpoint's counters. */
void net_endpoint_stats(struct net_endpoint *ep, struct net_endpoint_stats *out);

/**
 * net_peer_insert() - add a peer by address text: "host:port" (tcp, verbs;
 * "[v6]:port" too) or the name printed by net_endpoint_address() (shm).
 * Return: 0 and *@out, -EINVAL for text that does not parse, -EHOSTUNREACH
 * when the host does not resolve, -errno from fi_av_insert.
 */
int net_peer_insert(struct net_endpoint *ep, const char *address,
		    net_peer_t *out);

/**
 * net_peer_insert_raw() - add a peer by raw libfabric name (HELLO addr).
 * Return: 0 and *@out, -EINVAL for a name the provider refuses.
 */
int net_peer_insert_raw(struct net_endpoint *ep, const void *name, size_t len,
			net_peer_t *out);

/** net_peer_remove() - remove a peer; its connection is closed. 0/-errno. */
int net_peer_remove(struct net_endpoint *ep, net_peer_t peer);

/**
 * net_peer_reconnect() - after a failure: remove *@peer from the address
 * vector, insert the same address again and store the new handle in *@peer.
 * Operations still outstanding towards the old handle are abandoned.
 * Return: 0, -ENOENT when *@peer is unknown, -errno.
 */
int net_peer_reconnect(struct net_endpoint *ep, net_peer_t *peer);

/**
 * net_send_msg() - encode @msg and send it to @peer; waits until the
 * provider has taken the buffer back (local completion).
 * @timeout_ms: < 0 waits forever (not advised), else the deadline.
 * Return: 0, -EINVAL (not encodable, see pvm_wire_last_error()),
 * -ETIMEDOUT, -EBUSY (every send buffer stuck on dead peers), -errno.
 */
int net_send_msg(struct net_endpoint *ep, net_peer_t peer,
		 const struct pvm_wire_msg *msg, int timeout_ms);

/**
 * net_send_msg_nowait() - post @msg to @peer if the provider takes it at
 * once; never waits. For servers that must not let one unreachable peer
 * hold up the others (pods): tcp;ofi_rxm answers -FI_EAGAIN for as long
 * as it is connecting to @peer, and for a peer that is gone (every
 * connect refused or unanswered) that is forever.
 * On 0 the buffer is released by the send's completion; a delivery that
 * fails later is only counted (cq_errors), and msgs_sent counts posts.
 * Return: 0 posted; -EAGAIN the provider cannot take it now (try again
 * later); -EBUSY every send buffer is in flight; -EINVAL not encodable
 * (see pvm_wire_last_error()); -errno.
 */
int net_send_msg_nowait(struct net_endpoint *ep, net_peer_t peer,
			const struct pvm_wire_msg *msg);

/**
 * net_recv_msg() - the next control message, decoded.
 * @out:  the message.
 * @from: sender's handle, or NET_PEER_NONE when the sender is not in the
 *        address vector yet (a HELLO: insert hello.addr to answer it).
 * @timeout_ms: < 0 forever, 0 poll once, else the deadline.
 *
 * Return: 0; -EAGAIN (timeout 0, nothing there); -ETIMEDOUT; a pvm_wire_decode() error (the message was
 * dropped, *@from says who sent it, pvm_wire_last_error() why); -E2BIG for
 * a message larger than 64 KiB (truncated by the provider); -errno.
 */
int net_recv_msg(struct net_endpoint *ep, struct pvm_wire_msg *out,
		 net_peer_t *from, int timeout_ms);

/**
 * net_progress() - poll the completion queue once and dispatch what it
 * holds. Pods call it from their loop unless they use a progress thread.
 * Return: the number of completions handled (>= 0), or -errno.
 */
int net_progress(struct net_endpoint *ep);

/**
 * net_progress_thread_start() - start the helper progress thread (if not
 * running). net_progress_thread_stop() stops and joins it. 0/-errno.
 */
int net_progress_thread_start(struct net_endpoint *ep);
void net_progress_thread_stop(struct net_endpoint *ep);

/* ---- memory registration ---- */

/**
 * net_mr_register_remote() - target side: expose [@base, @base + @len) to
 * peers' RMA reads and writes under @key.
 * @key: the key the application chooses; ignored by providers that choose
 *       keys themselves (FI_MR_PROV_KEY): always announce net_mr_key().
 *
 * Return: 0 and *@out, -EEXIST when @key is already in use on this domain,
 * -errno from fi_mr_reg.
 */
int net_mr_register_remote(struct net_endpoint *ep, void *base, size_t len,
			   uint64_t key, struct net_mr **out);

/**
 * net_mr_register_local() - register a local buffer used as the source or
 * destination of RMA (and pass it in net_rma_op.local_mr). Needed only
 * when net_mr_local_required() is true; harmless otherwise.
 * Return: 0 and *@out, -errno.
 */
int net_mr_register_local(struct net_endpoint *ep, void *base, size_t len,
			  struct net_mr **out);

/** net_mr_close() - deregister; NULL is a no-op. */
void net_mr_close(struct net_mr *mr);

/** net_mr_key() - the key peers must use (after FI_MR_PROV_KEY). */
uint64_t net_mr_key(const struct net_mr *mr);

/**
 * net_mr_remote_addr() - the RMA address of the region's first byte as
 * peers must use it: the virtual address with FI_MR_VIRT_ADDR (shm,
 * verbs), 0 otherwise (offset addressing, tcp). LEASE_GRANT carries it.
 */
uint64_t net_mr_remote_addr(const struct net_mr *mr);

/** net_mr_local_required() - true when RMA buffers must be registered. */
bool net_mr_local_required(const struct net_endpoint *ep);

/* ---- one-sided RMA ---- */

/* One operation of a batch. */
struct net_rma_op {
	void *local;                    /* buffer of @len bytes */
	struct net_mr *local_mr;        /* registration of @local, or NULL */
	uint64_t remote_addr;           /* grant.remote_addr + offset */
	uint64_t key;                   /* grant.remote_key */
	size_t len;                     /* bytes, usually 4096 */
	int result;                     /* out: 0 or -errno */
};

/**
 * net_rma_read_batch() - read @n ranges from @peer into local buffers.
 * @timeout_ms: deadline for the whole batch (< 0: none, not advised).
 *
 * Posts as many operations as the provider accepts at once (retrying
 * -FI_EAGAIN after progressing the CQ) and waits for every completion.
 * Return: 0 when every op->result is 0, else the first error met; each
 * op->result says which pages arrived. -ETIMEDOUT marks the ops still
 * outstanding at the deadline. -EINVAL (result of an op) when the provider
 * needs registered local buffers and op->local_mr is NULL.
 * Any thread; batches from several threads may run at once.
 */
int net_rma_read_batch(struct net_endpoint *ep, net_peer_t peer,
		       struct net_rma_op *ops, size_t n, int timeout_ms);

/**
 * net_rma_write_batch() - write @n ranges to @peer with delivery-complete
 * semantics: op->result 0 means the data is in the target's memory.
 * Return and threading as for net_rma_read_batch().
 */
int net_rma_write_batch(struct net_endpoint *ep, net_peer_t peer,
			struct net_rma_op *ops, size_t n, int timeout_ms);

/** net_strerror() - text for an -errno returned by this module. */
const char *net_strerror(int err);

#endif
