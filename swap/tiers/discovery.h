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
 * An etcd source will be one more entry: its open() takes the endpoint and
 * key prefix, its list() answers from a watch. Nothing else changes.
 */
#ifndef POOLVM_SWAP_TIERS_DISCOVERY_H
#define POOLVM_SWAP_TIERS_DISCOVERY_H

#include <stddef.h>

#define REMOTE_ADDR_MAX 128     /* "HOST:PORT" incl. NUL; DNS names fit */

struct remote_discovery;

struct remote_pod_addr {
	char text[REMOTE_ADDR_MAX];
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

/**
 * remote_addr_check() - is @text a usable "HOST:PORT" ("[V6]:PORT" too, or
 * a provider's own name such as shm's "fi_shm://PID:0:0")?
 * Return: 0, or -EINVAL with a reason in @why (for the caller's message).
 */
int remote_addr_check(const char *text, char *why, size_t whylen);

#endif
