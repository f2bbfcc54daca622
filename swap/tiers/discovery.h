/* swap/tiers/discovery.h — where the remote tier learns which memory pods
 * exist (internal to swap/tiers/).
 *
 * Concepts: a discovery source answers one question, "which pod addresses
 * may I use now?", as a list of "HOST:PORT" strings. The remote tier asks
 * once when it opens and again every few seconds; addresses that appear
 * later are connected then. Sources are ops tables registered in one array
 * (remote_discovery.c):
 *
 *   static  "HOST:PORT+HOST:PORT..."  the pods named in the tier spec
 *   file    PATH                      one address per line, '#' comments;
 *                                     re-read when asked (a config file)
 *
 *   etcd    ENDPOINT+ENDPOINT[/PREFIX]    the pod registry (docs/registry.md):
 *                                     reserves capacity in etcd and lists
 *                                     the pods it holds a reservation on
 *
 * Sources may do two more things (optional ops, NULL where not):
 * - reserve(): told what the tier needs (bytes x copies, in lease units),
 *   the source reserves it before list() answers; quota() then says how
 *   many bytes the tier may lease on each pod.
 * - authoritative: a pod missing from list() is gone (its registration
 *   expired): the tier declares it dead, rebuilds its replicas elsewhere
 *   and does not reconnect to it unless it is listed again. Static and
 *   file lists only ever add pods.
 */
#ifndef POOLVM_SWAP_TIERS_DISCOVERY_H
#define POOLVM_SWAP_TIERS_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REMOTE_ADDR_MAX 128     /* "HOST:PORT" incl. NUL; DNS names fit */

struct remote_discovery;

struct remote_pod_addr {
	char text[REMOTE_ADDR_MAX];
};

/* What the tier will store: @copies copies of @bytes, leased @unit bytes
 * at a time, by client @client_id. */
struct remote_discovery_need {
	uint64_t bytes;
	unsigned copies;
	uint64_t unit;
	const char *client_id;
};

struct remote_discovery_ops {
	size_t size;            /* sizeof(struct remote_discovery_ops) */
	const char *name;       /* "static", "file" */
	/* Open from @arg; on failure print what was wrong and return -errno. */
	int (*open)(const char *arg, struct remote_discovery **out);
	void (*close)(struct remote_discovery *d);
	/* Fill up to @max addresses; *@n says how many. 0 or -errno (then the
	 * caller keeps the pods it already knows). */
	int (*list)(struct remote_discovery *d, struct remote_pod_addr *addrs,
		    size_t max, size_t *n);
	/* Optional: reserve @need before the first list(). 0 or -errno
	 * (printed; -ENOSPC: not enough room in the pool). */
	int (*reserve)(struct remote_discovery *d,
		       const struct remote_discovery_need *need);
	/* Optional: bytes the tier may lease on pod @addr (UINT64_MAX: no
	 * limit). Answers from the last list(). */
	uint64_t (*quota)(struct remote_discovery *d, const char *addr);
	bool authoritative;     /* list() drops pods that are gone */
};

/* Every source object begins with this header. */
struct remote_discovery {
	const struct remote_discovery_ops *ops;
};

/**
 * remote_discovery_open() - open a source: @kind is a registered name.
 * Return: 0 and *@out; -EINVAL (unknown kind or bad argument, printed);
 * -ENOMEM. Any thread.
 */
int remote_discovery_open(const char *kind, const char *arg,
			  struct remote_discovery **out);

/** remote_discovery_close() - NULL is a no-op. */
void remote_discovery_close(struct remote_discovery *d);

/**
 * remote_discovery_list() - the addresses now (see the ops). Called by the
 * remote tier's open and its monitor thread, never concurrently.
 */
int remote_discovery_list(struct remote_discovery *d,
			  struct remote_pod_addr *addrs, size_t max, size_t *n);

/** remote_discovery_reserve() - see the ops; 0 when the source has none. */
int remote_discovery_reserve(struct remote_discovery *d,
			     const struct remote_discovery_need *need);

/** remote_discovery_quota() - see the ops; UINT64_MAX when it has none. */
uint64_t remote_discovery_quota(struct remote_discovery *d, const char *addr);

/** remote_discovery_authoritative() - does a missing pod mean a gone pod? */
bool remote_discovery_authoritative(struct remote_discovery *d);

/* The etcd source (remote_discovery_etcd.c). */
extern const struct remote_discovery_ops remote_discovery_etcd_ops;

/**
 * remote_addr_check() - is @text a usable "HOST:PORT" ("[V6]:PORT" too, or
 * a provider's own name such as shm's "fi_shm://PID:0:0")?
 * Return: 0, or -EINVAL with a reason in @why (for the caller's message).
 */
int remote_addr_check(const char *text, char *why, size_t whylen);

#endif
