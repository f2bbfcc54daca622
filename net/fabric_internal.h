/* net/fabric_internal.h — what the net/fabric_*.c files share; not public.
 *
 * Concepts: every operation posted to libfabric carries a struct net_ctx
 * as its context. The CQ dispatcher (net_cq_drain) looks at the context's
 * kind and hands the completion to a receive slot, a send slot or an RMA
 * batch. An operation whose waiter gave up (deadline) becomes an orphan:
 * its context stays allocated until the provider reports it, so a late
 * completion never touches freed memory.
 *
 * Locking: ep->lock serializes every call into libfabric on the endpoint
 * (we open domains with FI_THREAD_DOMAIN) and protects all fields below
 * except the stop flag of the progress thread.
 */
#ifndef POOLVM_NET_FABRIC_INTERNAL_H
#define POOLVM_NET_FABRIC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "fabric.h"
#include "wire.h"

#define NET_FI_VERSION          FI_VERSION(1, 9)
#define NET_RX_DEFAULT          16u
#define NET_TX_SLOTS            16u
/* Most RMA ops one endpoint keeps in flight (less if the provider's
 * transmit queue is shorter; never below 16). */
#define NET_RMA_WINDOW_MAX      256u
#define NET_RMA_WINDOW_MIN      16u
/* Receive queue depth asked of the provider, at least. */
#define NET_RX_MIN_DEPTH        64u
#define NET_SPIN_US_DEFAULT     50u
#define NET_CQ_BATCH            32
/* Keys the module uses for its own registrations when the provider lets
 * the application choose keys. Applications may not use this range. */
#define NET_MR_KEY_INTERNAL     0xfff0000000000000ull

/* Object classes: the first field of every net object. */
enum net_class {
	NET_CLASS_ENDPOINT      = 0x6e657065,   /* "epen" */
	NET_CLASS_MR            = 0x6e65726d,   /* "mren" */
};

/* Every net object begins with this header (as libfabric's fid). */
struct net_object {
	uint32_t class;                 /* enum net_class */
	uint32_t refs;                  /* objects that depend on this one */
};

/* A provider kind the "provider" option names. Registered in
 * net_providers[] (fabric_ep.c), tried in order by "auto". */
struct net_provider {
	size_t size;                    /* sizeof(struct net_provider) */
	const char *name;               /* "verbs", "tcp", "shm" */
	const char *fi_name;            /* libfabric prov_name */
	bool in_auto;                   /* tried by "auto" */
	bool uses_node;                 /* honours node:service binding */
};

enum net_ctx_kind {
	NET_CTX_RECV = 1,
	NET_CTX_SEND,
	NET_CTX_RMA,
};

struct net_batch;

struct net_ctx {
	struct fi_context2 fi;          /* provider scratch: must be first */
	enum net_ctx_kind kind;
	bool orphan;                    /* waiter gone; free on completion */
	struct net_ctx *next;           /* free list, or batch's in-flight list */
	struct net_ctx *prev;
	union {
		struct {
			unsigned int index;
		} recv;
		struct {
			unsigned int index;
			bool done;
			int result;
		} send;
		struct {
			struct net_batch *batch;
			struct net_rma_op *op;  /* the first of @nops posted together */
			unsigned nops;
			bool read;              /* counted in rma_reads_out */
		} rma;
	};
};

/* A batch being waited for; lives on the waiter's stack. */
struct net_batch {
	size_t outstanding;             /* posted, not yet completed */
	bool write;
	struct net_ctx *inflight;       /* contexts posted for this batch */
	size_t retry_budget;            /* reposts left for connection errors */
	size_t retry_pending;           /* ops marked NET_RMA_RETRY */
	uint64_t retry_after_ns;        /* not before: rxm must notice first */
	uint64_t retry_backoff_ns;
};

/* op->result of an op that failed on a broken connection and will be
 * posted again (rxm reconnects on the next post). */
#define NET_RMA_RETRY   (-0x7ffffff0)

struct net_recv_slot {
	struct net_ctx ctx;
	uint8_t *buf;
	size_t len;                     /* bytes received */
	net_peer_t src;
	int err;                        /* 0 or -errno from the CQ */
	bool posted;
};

struct net_send_slot {
	struct net_ctx ctx;
	uint8_t *buf;
	bool busy;                      /* posted, completion not seen */
};

struct net_peer_entry {
	net_peer_t handle;
	size_t len;
	uint8_t name[PVM_WIRE_ADDR_MAX];
};

struct net_ctx_chunk {
	struct net_ctx_chunk *next;
	struct net_ctx ctx[64];
};

struct net_endpoint {
	struct net_object hdr;
	const struct net_provider *prov;
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	int cq_fd;                      /* wait fd of the CQ, -1 without */
	bool have_source;               /* FI_SOURCE: fi_cq_readfrom */
	uint64_t mr_mode;               /* as the provider returned it */
	uint64_t spin_ns;
	uint64_t next_internal_key;

	pthread_mutex_t lock;

	/* control receive */
	unsigned int rx_count;
	uint8_t *rx_pool;
	struct fid_mr *rx_mr;
	void *rx_desc;
	struct net_recv_slot *rx;
	unsigned int *rx_ready;         /* ring of completed slot indices */
	unsigned int rx_head, rx_tail;  /* ring positions (mod rx_count) */

	/* control send */
	uint8_t *tx_pool;
	struct fid_mr *tx_mr;
	void *tx_desc;
	struct net_send_slot tx[NET_TX_SLOTS];

	/* RMA contexts */
	struct net_ctx *ctx_free;
	struct net_ctx_chunk *ctx_chunks;
	size_t rma_window;              /* most RMA ops in flight at once */
	unsigned rma_iov_max;           /* ops one fi_writemsg/fi_readmsg carries */
	size_t rma_inflight;
	/* Reads posted and not yet reported by the provider, orphans
	 * included (net_endpoint_quiesce() settles them before closing). */
	size_t rma_reads_out;

	/* address vector bookkeeping for reconnects */
	struct net_peer_entry *peers;
	size_t npeers, peers_cap;

	/* progress */
	uint64_t last_activity_ns;      /* last completion or wake-up */
	pthread_t thread;
	bool thread_running;
	atomic_bool thread_stop;
	/* With a progress thread, other threads wait here for it to drain
	 * the CQ instead of polling beside it (lock). */
	pthread_cond_t progress_cond;   /* CLOCK_MONOTONIC */
	unsigned progress_waiters;

	struct net_endpoint_stats stats;
};

struct net_mr {
	struct net_object hdr;
	struct net_endpoint *ep;
	struct fid_mr *mr;              /* NULL: local MR not needed */
	void *desc;
	void *base;
	size_t len;
	uint64_t key;
	uint64_t remote_addr;
};

/* fabric_ep.c */

int net_fi_errno(int fi_err);
void net_report(const char *what, int fi_err);
int net_cq_drain_locked(struct net_endpoint *ep);
int net_wait_step(struct net_endpoint *ep, uint64_t deadline_ns,
		  unsigned int cap_ms);
uint64_t net_deadline(int timeout_ms);
uint64_t net_now_ns(void);
int net_reg_internal_locked(struct net_endpoint *ep, void *buf, size_t len,
			    uint64_t access, struct fid_mr **mr, void **desc);

/* fabric_tune.c */
/* The queue depths poolvm asks of the provider in @hints: transmit for
 * the RMA window and the control sends, receive for @rx_count posted
 * control receives. */
void net_tune_hints(struct fi_info *hints, unsigned rx_count);

/* fabric_quiesce.c */
/* Before fi_close(): end the reads still out on the endpoint's tcp
 * connections and drain their reports (libfabric 1.17 crashes closing a
 * connection with a half-received read response). No other call on @ep
 * may be in flight; the progress thread must be stopped. */
void net_endpoint_quiesce(struct net_endpoint *ep);

/* fabric_msg.c */
int net_msg_setup(struct net_endpoint *ep);
void net_msg_teardown(struct net_endpoint *ep);
void net_msg_repost_locked(struct net_endpoint *ep);
void net_msg_complete_locked(struct net_endpoint *ep, struct net_ctx *ctx,
			     size_t len, net_peer_t src, int err);

/* fabric_rma.c */
void net_rma_complete_locked(struct net_endpoint *ep, struct net_ctx *ctx,
			     int err);
void net_rma_teardown(struct net_endpoint *ep);
/* How many ops of a batch one posted operation may carry, from the
 * provider's local and remote iov limits (POOLVM_NET_RMA_IOV overrides,
 * 1 turns grouping off). */
unsigned net_rma_iov_max(size_t iov_limit, size_t rma_iov_limit);

#endif
