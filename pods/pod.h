/* pods/pod.h — the memory pod daemon: lends this host's DRAM to VMMs.
 *
 * Concepts: a pod contributes a fixed amount of memory (one anonymous
 * mapping, optionally on 2 MiB huge pages) carved into slabs (2 MiB by
 * default). A client (a VMM's remote tier, pods/pod_client.h) connects over
 * a net/ fabric endpoint, proves it knows the shared secret (HELLO,
 * CHALLENGE, AUTH, AUTH_OK: docs/wire-format.md) and asks for leases. A
 * lease is a run of whole slabs, first fit, registered as its own memory
 * region under a fresh random key: the client moves pages with one-sided
 * RMA using that key and the pod's CPU is not involved. A client that
 * never authenticated never learns a key, so it can read or write nothing
 * (on tcp and verbs; libfabric's shm does not check keys: docs/pods.md).
 *
 * Liveness: a client silent for longer than the client timeout (no control
 * message; the pod probes it with a HEARTBEAT half way) loses its leases.
 * Shutdown: pod_request_drain() (SIGTERM in the CLI) refuses new leases,
 * sends DRAIN to every client and waits until each one holding leases
 * answers DRAIN_DONE or releases them, or the drain deadline passes;
 * pod_run() then returns 0.
 * pod_request_stop() (a second SIGTERM) makes pod_run() return at once.
 *
 * Threads: pod_run() runs the control loop in the calling thread; a net/
 * progress thread serves RMA meanwhile. pod_request_drain() and
 * pod_request_stop() are async-signal-safe and may be called from any
 * thread; pod_get_stats() and pod_write_stats_json() from any thread.
 */
#ifndef POOLVM_PODS_POD_H
#define POOLVM_PODS_POD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POD_SLAB_SIZE_DEFAULT           (2ull << 20)
#define POD_CLIENT_TIMEOUT_MS_DEFAULT   30000u
#define POD_DRAIN_TIMEOUT_MS_DEFAULT    60000u
#define POD_HANDSHAKE_TIMEOUT_MS_DEFAULT 10000u
#define POD_MAX_CLIENTS_DEFAULT         1024u
#define POD_STATS_INTERVAL_MS_DEFAULT   1000u

struct pod;
struct json_object;

struct pod_config {
	uint64_t memory;                /* bytes to lend; rounded down to slabs */
	const char *listen;             /* "host:port", "[v6]:port"; port 0:
					 * ephemeral (pod_address() says which) */
	const char *fabric;             /* auto|verbs|tcp|shm; NULL: auto */
	const char *secret_file;        /* shared secret, mode 0600 */
	const char *pod_id;             /* announced in CHALLENGE; NULL: host name */
	bool hugepages;                 /* MAP_HUGETLB, falls back to 4 KiB pages */
	uint64_t slab_size;             /* 0: 2 MiB; power of two, >= 4 KiB */
	unsigned int client_timeout_ms; /* 0: 30 s */
	unsigned int drain_timeout_ms;  /* 0: 60 s */
	unsigned int handshake_timeout_ms; /* 0: 10 s, unauthenticated peers */
	unsigned int max_clients;       /* 0: 1024, pending handshakes included */
	const char *stats_json;         /* rewritten every stats interval; NULL: none */
	unsigned int stats_interval_ms; /* 0: 1 s */
	/* Busy-poll window of the progress thread after activity, in us:
	 * 0 for the default (50); POD_POLL_NONE to sleep at once. */
	unsigned int poll_us;
};

#define POD_POLL_NONE UINT32_MAX

struct pod_stats {
	uint64_t mem_total;             /* bytes the pod can lease */
	uint64_t mem_free;              /* bytes in free slabs */
	uint64_t mem_leased;            /* bytes in leased slabs */
	uint64_t clients;               /* authenticated clients */
	uint64_t clients_pending;       /* handshakes not finished */
	uint64_t leases;                /* leases alive */
	uint64_t leases_granted;        /* since start */
	uint64_t leases_refused;        /* NO_SPACE, DRAINING, bad size */
	uint64_t leases_expired;        /* freed because their client went silent */
	uint64_t msgs_rx;               /* control messages received (good or bad) */
	uint64_t msgs_bad;              /* rejected: malformed, unexpected, unauthenticated */
	uint64_t auth_failures;         /* wrong MACs */
	uint64_t uptime_ms;
	bool draining;
	bool hugepages;                 /* the memory is on huge pages */
};

/**
 * pod_create() - map the memory, open the endpoint, load the secret.
 * @cfg: settings; @cfg->listen and @cfg->secret_file are required.
 * @out: the pod, not serving yet (pod_run()).
 *
 * Return: 0, -EINVAL (bad setting: the message printed says which),
 * -ENOMEM (the mapping failed), or the error of pvm_auth_secret_load() or
 * net_endpoint_open() (reported on stderr). Any thread.
 */
int pod_create(const struct pod_config *cfg, struct pod **out);

/**
 * pod_run() - serve until drained or stopped.
 * Return: 0 after a drain or a stop, -errno when the endpoint failed for
 * good. Call once, from one thread.
 */
int pod_run(struct pod *pod);

/** pod_request_drain() - begin a drain (SIGTERM). Async-signal-safe. */
void pod_request_drain(struct pod *pod);

/** pod_request_stop() - make pod_run() return now. Async-signal-safe. */
void pod_request_stop(struct pod *pod);

/**
 * pod_destroy() - deregister every lease, close the endpoint, unmap.
 * pod_run() must have returned (or never been called). NULL is a no-op.
 */
void pod_destroy(struct pod *pod);

/** pod_address() - where clients reach the pod ("127.0.0.1:7300", shm name). */
const char *pod_address(const struct pod *pod);

/** pod_fabric() - the libfabric provider in use ("tcp;ofi_rxm"). */
const char *pod_fabric(const struct pod *pod);

/** pod_get_stats() - a consistent snapshot. Any thread. */
void pod_get_stats(struct pod *pod, struct pod_stats *out);

/**
 * pod_stats_json() - the statistics of pod_write_stats_json() as a new JSON
 * object (the caller puts it). Any thread; takes the pod lock briefly.
 */
struct json_object *pod_stats_json(struct pod *pod);

/**
 * pod_write_stats_json() - write pod-wide and per-client usage as JSON to
 * @path (through a temporary file and rename(), so readers never see half
 * a file). Return: 0 or -errno. Any thread.
 */
int pod_write_stats_json(struct pod *pod, const char *path);

#endif
