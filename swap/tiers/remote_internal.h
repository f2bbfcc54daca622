/* swap/tiers/remote_internal.h — the remote tier's insides, shared by
 * remote*.c (internal to swap/tiers/; docs/remote-tier.md explains the
 * design).
 *
 * Concepts:
 * - Pod: one memory pod, reached through a transport connection (the pod
 *   client library in production, an in-memory fake in unit tests). Pods
 *   are added, never removed: pods[i] stays valid until close. A pod is UP,
 *   DRAINING (it asked us to leave: readable, no new pages) or DEAD
 *   (unreachable: its pages are forgotten; its monitor thread reconnects
 *   and it comes back empty, as a new incarnation).
 * - Chunk: one lease (lease=SIZE bytes) on one pod, cut into 4 KiB pages.
 *   Pages are numbered globally: gpage = chunk * pages_per_chunk + page.
 *   A chunk is LIVE, DRAINING (being emptied, pages not reused) or DEAD
 *   (its pod died; nothing in it can be read).
 * - Slot: the tier-local address the pager sees. Each slot has a
 *   generation (bumped by every store and release), flags, up to
 *   REMOTE_MAX_REPLICAS gpages (its replicas, on distinct pods), and the
 *   slot of its copy in the backup tier.
 *
 * Locks, in the order they nest:
 *   pod->conn_lock (rwlock: data calls read, reconnect writes)
 *     -> pod->ctl_lock (serializes control calls on one connection)
 *       -> tier->lock (slot table, chunks, per-pod page accounting)
 *   tier->backup_lock is a leaf (the backup queue).
 * No network call is ever made under tier->lock.
 */
#ifndef POOLVM_SWAP_TIERS_REMOTE_INTERNAL_H
#define POOLVM_SWAP_TIERS_REMOTE_INTERNAL_H

#include "tier.h"
#include "slots.h"
#include "discovery.h"
#include "remote.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define REMOTE_MAX_PODS       32
#define REMOTE_MAX_REPLICAS   4
#define REMOTE_NO_PAGE        UINT32_MAX
#define REMOTE_SEG_SHIFT      15
#define REMOTE_SEG_SLOTS      (1u << REMOTE_SEG_SHIFT)
#define REMOTE_MAX_SLOTS      (1ull << 31)
#define REMOTE_ID_MAX         64
#define REMOTE_IO_WORKERS     3       /* helpers for parallel pod writes */

/* ---- the spec: "pods=...,replicas=N,secret=F,..." ---- */

struct remote_spec {
	char discovery[16];             /* "static", "file" or "etcd" */
	char pods[256];                 /* discovery argument */
	unsigned replicas;              /* 1..REMOTE_MAX_REPLICAS */
	char secret[PATH_MAX];
	char fabric[32];                /* "" = the transport's default */
	char backup[256];               /* backup tier spec, "" = none */
	char client_id[REMOTE_ID_MAX + 1];
	uint64_t lease_bytes;           /* chunk size */
	uint64_t reserve_bytes;         /* reserve= (etcd): one copy's worth; 0 = none */
	unsigned timeout_ms;            /* per network operation */
	unsigned heartbeat_ms;
	unsigned dead_ms;               /* heartbeat silence that kills a pod */
};

/**
 * remote_spec_parse() - parse the text after "remote:" strictly.
 * Return: 0, or -EINVAL after printing what was wrong and how to write it.
 */
int remote_spec_parse(const char *arg, struct remote_spec *out);

/* ---- transport: how the tier talks to one pod ---- */

struct remote_conn;

struct remote_lease {
	uint64_t id, size, key, remote_addr;
};

/* One 4 KiB page of a batch: byte @offset of a lease. */
struct remote_page_op {
	uint64_t offset;
	void *buf;
	int result;                     /* out: 0 or -errno */
};

struct remote_conn_info {
	char pod_id[REMOTE_ID_MAX + 1];
	char fabric[33];
	uint64_t mem_total;
	uint64_t mem_free;
};

enum remote_event_type { REMOTE_EVENT_DRAIN = 1 };

struct remote_event {
	int type;
	uint64_t lease_id;              /* DRAIN: 0 = every lease */
	uint32_t deadline_ms;
};

struct remote_connect_params {
	const char *address;
	const char *fabric;             /* NULL: default */
	const char *secret_file;
	const char *client_id;
	unsigned timeout_ms;
};

struct remote_transport_ops {
	size_t size;                    /* sizeof(struct remote_transport_ops) */
	const char *name;
	/* 0, or -errno with a sentence in @err (auth refused: -EACCES). */
	int (*connect)(const struct remote_connect_params *p,
		       struct remote_conn **out, char *err, size_t errlen);
	void (*close)(struct remote_conn *c);
	int (*info)(struct remote_conn *c, struct remote_conn_info *out);
	/* -ENOSPC when the pod cannot grant @bytes. */
	int (*lease)(struct remote_conn *c, uint64_t bytes, struct remote_lease *out);
	int (*release)(struct remote_conn *c, uint64_t lease_id);
	/* Batched 4 KiB RMA; 0 when every op->result is 0, else the first
	 * error. A write reported 0 has been delivered to the pod's memory. */
	int (*read)(struct remote_conn *c, const struct remote_lease *lease,
		    struct remote_page_op *ops, size_t n);
	int (*write)(struct remote_conn *c, const struct remote_lease *lease,
		     struct remote_page_op *ops, size_t n);
	int (*heartbeat)(struct remote_conn *c, uint64_t *rtt_ns);
	/* 0 and *@ev, or -EAGAIN when nothing is pending. */
	int (*poll_event)(struct remote_conn *c, struct remote_event *ev);
	int (*drain_done)(struct remote_conn *c, uint64_t lease_id);
	/* Optional: RMA operations completed on this connection. */
	void (*counters)(struct remote_conn *c, uint64_t *read_ops, uint64_t *write_ops);
};

/* The pod client library (pods/pod_client.h); NULL when poolvm was built
 * without it. */
extern const struct remote_transport_ops *const remote_transport_pod;

/**
 * remote_set_transport_for_tests() - tiers opened after this call use @ops
 * (NULL: back to the pod client). Unit tests only; not thread-safe.
 */
void remote_set_transport_for_tests(const struct remote_transport_ops *ops);

/* ---- pods and chunks ---- */

enum remote_pod_state {
	POD_CONNECTING = 0,             /* never connected yet */
	POD_UP,
	POD_DRAINING,
	POD_DEAD,
};

enum remote_chunk_state {
	CHUNK_LIVE = 0,
	CHUNK_DRAINING,
	CHUNK_DEAD,
	CHUNK_GONE,                     /* drained and handed back */
};

struct remote_tier;

struct remote_pod {
	struct remote_tier *tier;
	unsigned index;
	char addr[REMOTE_ADDR_MAX];
	char pod_id[REMOTE_ID_MAX + 1];
	pthread_rwlock_t conn_lock;
	pthread_mutex_t ctl_lock;
	struct remote_conn *conn;       /* conn_lock */
	atomic_int state;               /* enum remote_pod_state; tier->lock to change */
	atomic_uint_fast64_t rtt_ns;    /* smoothed heartbeat round trip */
	atomic_uint_fast64_t last_ok_ns;
	atomic_uint incarnation;        /* bumped at every death */
	pthread_t monitor;
	bool monitor_started;
	uint64_t next_connect_ns;       /* monitor thread only */
	unsigned connect_backoff_ms;
	bool said_unreachable;
	atomic_bool retired;            /* left an authoritative discovery: no reconnects */
	/* tier->lock: */
	uint64_t quota;                 /* bytes we may lease here (UINT64_MAX: any) */
	uint64_t leaseable;             /* bytes we believe the pod can still lease */
	uint64_t lease_probe_ns;        /* when to believe it again after -ENOSPC */
	uint64_t free_pages;            /* free pages in its LIVE chunks */
	uint64_t pages_used;            /* pages of LIVE/DRAINING chunks in use */
	uint32_t *chunks;               /* indices of its LIVE/DRAINING chunks */
	uint32_t nchunks, chunk_cap;
	bool drain_all;                 /* DRAIN of every lease: answer 0 when empty */
	uint64_t *orphans;              /* leases of a dead incarnation */
	uint32_t norphans;
	/* counters (atomic) */
	atomic_uint_fast64_t deaths, reconnects, rma_errors, heartbeat_failures;
	atomic_uint_fast64_t pages_read, pages_written;
};

struct remote_chunk {
	unsigned pod;
	int state;                      /* enum remote_chunk_state */
	struct remote_lease lease;
	bool drain_ack;                 /* DRAIN of this lease: answer when empty */
	uint32_t used;                  /* pages held by slots */
	uint32_t bump;                  /* pages [0, bump) were handed out */
	uint64_t *free;                 /* bitmap of released pages (NULL: none yet) */
	uint32_t nfree;                 /* bits set in it */
	uint32_t free_scan;             /* word where the next search starts */
};

/* ---- slots ---- */

enum {
	SLOT_ALLOCATED = 1u << 0,
	SLOT_VALID = 1u << 1,           /* last store delivered on all replicas */
	SLOT_BACKED = 1u << 2,          /* backup holds this generation */
};

struct remote_seg {
	uint32_t gen[REMOTE_SEG_SLOTS];
	uint8_t flags[REMOTE_SEG_SLOTS];
	uint32_t backup[REMOTE_SEG_SLOTS];      /* backup slot or REMOTE_NO_PAGE */
	uint32_t rep[];                         /* replicas x REMOTE_SEG_SLOTS */
};

/* A page's location, copied out from under tier->lock for I/O. */
struct remote_target {
	uint32_t gpage;
	unsigned pod;
	unsigned incarnation;
	struct remote_lease lease;
	uint64_t offset;
};

/* ---- backup queue ---- */

struct remote_backup_item {
	uint64_t slot;
	uint32_t gen;
	int32_t staged;                 /* staging page index, or -1 */
};

struct remote_tier {
	struct swap_tier base;
	struct remote_spec spec;
	const struct remote_transport_ops *tp;
	struct remote_discovery *discovery;
	struct tier_slots slots;

	pthread_mutex_t lock;
	pthread_cond_t repair_cond;     /* tier->lock: wakes the repair thread */
	pthread_cond_t stop_cond;       /* tier->lock: wakes sleeping monitors */
	atomic_bool stopping;

	struct remote_pod *pods[REMOTE_MAX_PODS];
	atomic_uint npods;

	struct remote_chunk **chunks;   /* tier->lock */
	uint32_t nchunks, chunk_cap;
	uint32_t pages_per_chunk;
	uint32_t max_chunks;

	struct remote_seg *_Atomic *segs;       /* REMOTE_MAX_SLOTS >> SEG_SHIFT */
	uint64_t rng;                   /* tier->lock */

	/* repair thread */
	pthread_t repair_thread;
	bool repair_started;
	bool repair_wanted;             /* tier->lock */
	uint64_t next_discovery_ns;

	/* backup */
	struct swap_tier *backup;
	pthread_t backup_thread;
	bool backup_started;
	pthread_mutex_t backup_lock;
	pthread_cond_t backup_cond;
	struct remote_backup_item *bq;  /* backup_lock: ring */
	size_t bq_head, bq_len, bq_cap;
	uint64_t *bfree;                /* backup slots to release, backup_lock */
	size_t nbfree, bfree_cap;
	uint8_t *staging;               /* REMOTE_STAGING_PAGES pages */
	int32_t *staging_free;          /* stack, backup_lock */
	size_t nstaging_free;
	bool said_backup_full;

	/* I/O helpers: run the per-pod groups of a write batch in parallel */
	pthread_mutex_t io_lock;
	pthread_cond_t io_cond;
	struct io_job *io_head;         /* io_lock */
	bool io_stopping;               /* io_lock */
	pthread_t io_threads[REMOTE_IO_WORKERS];
	unsigned io_workers;

	/* counters */
	atomic_uint_fast64_t stores, loads, store_errors, load_errors;
	atomic_uint_fast64_t rebuilds, rebuild_failures, drained_pages;
	atomic_uint_fast64_t backup_writes, backup_errors, backup_loads;
	atomic_uint_fast64_t replica_retries, read_failovers, lost_loads;
	atomic_uint_fast64_t leases, lease_failures;
	bool said_enospc;               /* tier->lock */
};

#define REMOTE_STAGING_PAGES 1024

static inline struct remote_tier *to_remote(struct swap_tier *t)
{
	return (struct remote_tier *)t;
}

/* Slot table accessors. The segment exists for every allocated slot. */
static inline struct remote_seg *remote_seg(struct remote_tier *r, uint64_t slot)
{
	return atomic_load_explicit(&r->segs[slot >> REMOTE_SEG_SHIFT],
				    memory_order_acquire);
}

static inline uint32_t *remote_reps(struct remote_tier *r, uint64_t slot)
{
	struct remote_seg *s = remote_seg(r, slot);

	return &s->rep[(slot & (REMOTE_SEG_SLOTS - 1)) * r->spec.replicas];
}

#define SEG_IDX(slot) ((slot) & (REMOTE_SEG_SLOTS - 1))

static inline struct remote_chunk *remote_chunk_of(struct remote_tier *r,
						   uint32_t gpage)
{
	return r->chunks[gpage / r->pages_per_chunk];
}

uint64_t remote_now_ns(void);

/* pthread_create() with every signal blocked in the new thread: the
 * tier's threads must never take a signal meant for the process (the
 * launcher reads SIGCHLD and SIGTERM through a signalfd). 0 or -errno. */
int remote_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
			const char *name);   /* name: 15 characters at most */

/* ---- remote_place.c: pods, chunks, placement (tier->lock held unless said) ---- */

/* Reserve a page on a pod chosen by two random choices among the UP pods
 * not in @exclude (a bitmask of pod indices). Return the gpage, or
 * REMOTE_NO_PAGE; then *@need_lease is the pod that should lease a chunk
 * first (or -1: no pod can take a page). */
uint32_t remote_place_page(struct remote_tier *r, uint64_t exclude, int *need_lease);

/* The page right after @prev in @prev's chunk, when that chunk is LIVE,
 * its pod UP and not in @exclude, and the page free: so that pages stored
 * together lie together and travel as one RMA. Else REMOTE_NO_PAGE. */
uint32_t remote_place_next(struct remote_tier *r, uint32_t prev, uint64_t exclude);

/* Give back a page: reusable if its chunk is LIVE. */
void remote_free_page(struct remote_tier *r, uint32_t gpage);

/* Is @gpage readable now (chunk LIVE or DRAINING, pod not DEAD)? */
bool remote_page_readable(struct remote_tier *r, uint32_t gpage);

/* Is @gpage a healthy replica (chunk LIVE, pod UP)? */
bool remote_page_healthy(struct remote_tier *r, uint32_t gpage);

/* Fill @t for @gpage (lease, offset, pod). */
void remote_target_of(struct remote_tier *r, uint32_t gpage, struct remote_target *t);

/* Should @pod lease ahead (UP, running low, memory left)? tier->lock held. */
bool remote_pod_wants_lease(struct remote_tier *r, struct remote_pod *pod);

/* Lease one chunk on @pod (no lock held). 0 or -errno. */
int remote_lease_chunk(struct remote_tier *r, struct remote_pod *pod);

/* Declare @pod dead and disconnect it (no lock held). Idempotent per
 * incarnation: @incarnation is the one the caller saw failing. */
void remote_pod_fail(struct remote_tier *r, struct remote_pod *pod,
		     unsigned incarnation, const char *why, int err);

/* Connect (or reconnect) @pod; monitor thread or open. 0 or -errno
 * (-EACCES: the pod refused our secret). @loud: print failures. */
int remote_pod_connect(struct remote_tier *r, struct remote_pod *pod, bool loud);

/* Add a pod by address (not connected yet). tier->lock not held. */
int remote_pod_add(struct remote_tier *r, const char *addr, struct remote_pod **out);

/* Free @pod after its monitor stopped: releases its leases, closes. */
void remote_pod_destroy(struct remote_tier *r, struct remote_pod *pod);

/* Monitor thread of one pod: heartbeats, events, reconnects. */
void *remote_pod_monitor(void *arg);

/* Data calls on @pod under its conn_lock; ops of a dead or disconnected
 * pod fail with -ENOTCONN without a call. On a transport error the pod
 * is failed (after the lock is dropped). Return as the transport's. */
int remote_pod_io(struct remote_tier *r, struct remote_pod *pod, unsigned incarnation,
		  const struct remote_lease *lease, struct remote_page_op *ops,
		  size_t n, bool write);

/* ---- remote_io.c: batched reads and writes over replicas ---- */

/* An I/O helper thread (see grouped_io() in remote_io.c). */
void *remote_io_worker(void *arg);

/* The tier's load() and store(): see remote_io.c. Any thread. */
int remote_load_batch(struct remote_tier *r, struct swap_io *ios, size_t n);
int remote_store_batch(struct remote_tier *r, struct swap_io *ios, size_t n);

/* Read slot pages for the backup and repair threads (any readable
 * replica, then the backup if @use_backup). @slots[i] -> @bufs[i]; @results[i] 0 or -errno. */
void remote_read_slots(struct remote_tier *r, const uint64_t *slots,
		       void *const *bufs, int *results, size_t n, bool use_backup);

/* Write @n pages to @targets, grouped into one batch per (pod, lease).
 * @results[i] 0 or -errno. */
void remote_write_targets(struct remote_tier *r, const struct remote_target *targets,
			  void *const *bufs, int *results, size_t n);

/* ---- remote_repair.c ---- */

void *remote_repair_main(void *arg);
void remote_repair_kick(struct remote_tier *r);   /* tier->lock held */

/* ---- remote_backup.c ---- */

int remote_backup_open(struct remote_tier *r);
void remote_backup_close(struct remote_tier *r);
/* A store of @slot generation @gen succeeded: copy @page and queue it.
 * Never blocks on I/O. */
void remote_backup_queue(struct remote_tier *r, uint64_t slot, uint32_t gen,
			 const void *page);
/* Slot released: its backup slot (if any) goes back later. */
void remote_backup_forget(struct remote_tier *r, uint32_t backup_slot);
void *remote_backup_main(void *arg);
size_t remote_backup_pending(struct remote_tier *r);

#endif
