/* registry/registry.h — the pod registry on etcd: pods announce themselves,
 * VMMs find them and reserve capacity (docs/registry.md).
 *
 * Concepts:
 * - Keys, under a prefix P (default /poolvm):
 *     P/pods/ADDR                  a pod's announcement (JSON, see
 *                                  registry_pod_value()), under the pod's
 *                                  own lease: it vanishes TTL seconds after
 *                                  the pod stops renewing it.
 *     P/reservations/ADDR/CLIENT   bytes CLIENT reserved on pod ADDR
 *                                  (JSON {"bytes": N}), under the client's
 *                                  lease: a dead VMM's reservations vanish.
 * - The ledger: what is reserved on a pod is the sum of its reservation
 *   keys, and never exceeds the pod's total. A reservation is written by a
 *   transaction that compares (a) the pod key's create_revision with the
 *   one read (the same pod incarnation is still registered) and (b) every
 *   key under P/reservations/ADDR/ with mod_revision < R+1, where R is the
 *   revision of the snapshot the sum was computed from. Any reservation
 *   written on that pod since the snapshot fails (b), so of two clients
 *   racing for the last slab exactly one transaction commits; the other
 *   re-reads and finds no room. Deletions (expiry, release) only free
 *   capacity and need no compare.
 * - A session is an etcd lease kept alive by a thread; when the lease is
 *   lost (etcd unreachable longer than the TTL) the session grants a new
 *   one and tells its owner, who writes its keys again.
 *
 * Threads: the view and ledger calls may run in any thread (the etcd
 * client serializes its requests); sessions and announcers own a thread.
 */
#ifndef POOLVM_REGISTRY_H
#define POOLVM_REGISTRY_H

#include "etcd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REGISTRY_ADDR_MAX       128     /* pod address incl. NUL */
#define REGISTRY_ID_MAX         64      /* client id, without NUL */
#define REGISTRY_PREFIX_MAX     128
#define REGISTRY_PREFIX_DEFAULT "/poolvm"
#define REGISTRY_TTL_DEFAULT    10      /* seconds */

struct registry_pod {
	char addr[REGISTRY_ADDR_MAX];
	char fabric[32];
	char pod_id[REGISTRY_ID_MAX + 1];
	char version[32];
	uint64_t total;                 /* bytes the pod lends */
	uint64_t free;                  /* bytes not leased now */
	int64_t started;                /* unix time the pod started */
	bool draining;
	/* from etcd */
	int64_t create_revision, lease;
	/* computed by registry_view_load() */
	uint64_t reserved;              /* sum of the reservations on it */
};

struct registry_reservation {
	char pod[REGISTRY_ADDR_MAX];
	char client[REGISTRY_ID_MAX + 1];
	uint64_t bytes;
	int64_t lease, mod_revision;
};

/* One consistent snapshot of P/. */
struct registry_view {
	int64_t revision;
	size_t npods, nres;
	struct registry_pod *pods;
	struct registry_reservation *res;
	size_t nbad;                    /* entries ignored: malformed */
	char bad_example[200];          /* what the first was */
};

/** registry_prefix_check() - "/name[/name...]", printable, no trailing
 * '/', at most REGISTRY_PREFIX_MAX-1. 0 or -EINVAL with @why. */
int registry_prefix_check(const char *prefix, char *why, size_t whylen);

/** registry_name_check() - a pod address or client id usable in a key:
 * 1..@max printable characters, no '/', no space. 0 or -EINVAL. */
int registry_name_check(const char *text, size_t max, char *why, size_t whylen);

struct json_object;
/** registry_pod_json() - what a pod announces about @p, as a JSON object
 * (the caller puts it), or NULL. */
struct json_object *registry_pod_json(const struct registry_pod *p);

/** registry_pod_value() - the JSON announced for @p (malloc'd), or NULL. */
char *registry_pod_value(const struct registry_pod *p);

/**
 * registry_pod_parse() - parse a pod's announcement strictly (every field
 * of the right type, sizes within range, free <= total, the address a
 * usable name). @addr is the address in the key, which must match.
 * Return: 0, or -EINVAL with @why.
 */
int registry_pod_parse(const char *json, size_t len, const char *addr,
		       struct registry_pod *out, char *why, size_t whylen);

/** registry_reservation_parse() - {"bytes": N}. 0 or -EINVAL. */
int registry_reservation_parse(const char *json, size_t len, uint64_t *bytes);

/**
 * registry_view_load() - read P/ at one revision. Malformed entries are
 * counted in nbad and left out. Return 0 or the etcd error (message in
 * etcd_error()).
 */
int registry_view_load(struct etcd_client *c, const char *prefix,
		       struct registry_view *out);

void registry_view_free(struct registry_view *v);

/** registry_view_pod() - the pod with @addr in @v, or NULL. */
const struct registry_pod *registry_view_pod(const struct registry_view *v,
					     const char *addr);

/** registry_view_mine() - what @client holds on @addr in @v. */
uint64_t registry_view_mine(const struct registry_view *v, const char *addr,
			    const char *client);

/* ---- the ledger ---- */

struct registry_hold {
	char pod[REGISTRY_ADDR_MAX];
	uint64_t bytes;
};

/* What a VMM asks for: @copies copies of @bytes, each copy on distinct
 * pods, in units of @unit bytes (its lease size). */
struct registry_want {
	uint64_t bytes;
	unsigned copies;
	uint64_t unit;
};

/**
 * registry_plan() - a placement of @w over the pods of @v for @client:
 * what it keeps of its current reservations (on pods that are still there
 * and not draining) plus units added where there is most room, at most
 * round_up(@w->bytes, unit) per pod (one copy of every page per pod), in
 * all copies x that. @out gets one entry per pod with a non-zero target
 * (at most @max). Pure: no network.
 * Return: the number of entries, or -ENOSPC when the pods cannot hold it
 * (then @short_by says how many bytes were missing).
 */
int registry_plan(const struct registry_view *v, const char *client,
		  const struct registry_want *w, struct registry_hold *out,
		  size_t max, uint64_t *short_by);

struct registry_reserve_stats {
	unsigned attempts;              /* transactions sent */
	unsigned conflicts;             /* of which lost a race and were retried */
};

/**
 * registry_reserve() - make @client's reservations under P/ exactly
 * @holds (@n entries; pods not listed drop to 0) in one transaction,
 * computed by @plan_fn against a fresh snapshot on every attempt.
 * @plan_fn(v, arg, holds, max) returns the number of holds or -errno.
 * Retries when another client's reservation on one of the pods changed
 * meanwhile, up to 64 attempts. @hold_read_ms > 0 waits that long between
 * reading and writing (to widen races in tests).
 * Return: 0 (and @holds/@n as committed); -ENOSPC (a plan failed: no
 * room); -EBUSY (too many conflicts); the etcd error.
 */
typedef int (*registry_plan_fn)(const struct registry_view *v, void *arg,
				struct registry_hold *holds, size_t max);
int registry_reserve(struct etcd_client *c, const char *prefix, const char *client,
		     int64_t lease, registry_plan_fn plan_fn, void *arg,
		     struct registry_hold *holds, size_t max, size_t *n,
		     unsigned hold_read_ms, struct registry_reserve_stats *stats);

/** registry_release() - delete every reservation of @client under P/. */
int registry_release(struct etcd_client *c, const char *prefix, const char *client);

/* ---- sessions: a lease kept alive ---- */

struct registry_session;

/* Called from the session's thread: @lease is new (the first one, or a
 * replacement after the old one was lost): write your keys under it. */
typedef void (*registry_lease_fn)(void *arg, struct etcd_client *c, int64_t lease);
/* Called from the session's thread every 250 ms while it holds a lease. */
typedef void (*registry_tick_fn)(void *arg, struct etcd_client *c, int64_t lease);

struct registry_session_config {
	const char *endpoints;
	unsigned ttl_s;                 /* 0: REGISTRY_TTL_DEFAULT */
	const char *what;               /* for messages: "pod 10.0.0.1:7300" */
	registry_lease_fn on_lease;     /* may be NULL */
	registry_tick_fn on_tick;       /* may be NULL */
	void *arg;
};

/**
 * registry_session_start() - open a client, grant a lease (failing with a
 * message when etcd cannot be reached or refuses), call on_lease once in
 * the caller's thread, then keep the lease alive from a thread of its own
 * (every TTL/3). Return 0 and *@out, or -errno (printed).
 */
int registry_session_start(const struct registry_session_config *cfg,
			   struct registry_session **out);

/** registry_session_client() - the session's etcd client (for its owner's
 * own calls; thread-safe). */
struct etcd_client *registry_session_client(struct registry_session *s);

/** registry_session_lease() - the lease now (changes after a loss). */
int64_t registry_session_lease(struct registry_session *s);

/** registry_session_stop() - stop the thread; revoke the lease when
 * @revoke (deleting every key under it at once). NULL is a no-op. */
void registry_session_stop(struct registry_session *s, bool revoke);

/* ---- a pod's announcement ---- */

struct registry_announce;

/* Samples the pod: bytes total, free, and whether it drains. Any thread. */
typedef void (*registry_sample_fn)(void *arg, uint64_t *total, uint64_t *free,
				   bool *draining);

struct registry_announce_config {
	const char *endpoints;
	const char *prefix;             /* NULL: REGISTRY_PREFIX_DEFAULT */
	unsigned ttl_s;                 /* 0: REGISTRY_TTL_DEFAULT */
	const char *addr, *fabric, *pod_id, *version;
	registry_sample_fn sample;
	void *arg;
};

/**
 * registry_announce_start() - register P/pods/ADDR under a session and keep
 * it current: the free capacity is rewritten when it changed (at most once
 * a second), draining within 250 ms of the pod starting a drain, and the
 * key is written again under a new lease if the old one was lost. Return 0 and *@out, or -errno (printed).
 */
int registry_announce_start(const struct registry_announce_config *cfg,
			    struct registry_announce **out);

/** registry_announce_stop() - stop; with @revoke the pod leaves the
 * registry now instead of at its TTL. NULL is a no-op. */
void registry_announce_stop(struct registry_announce *a, bool revoke);

#endif
