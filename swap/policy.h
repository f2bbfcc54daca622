/* swap/policy.h — an eviction policy chooses which resident page leaves.
 *
 * Concepts: a policy tracks the set of resident pages by page number (the
 * guest-physical address >> 12). The pager tells it when a page becomes
 * resident (insert), when the pager observed an access to a resident page
 * (touch: a write-protect fault, or an access sample), and when a page left
 * residency without the policy choosing it (remove: a discard by the guest
 * or QEMU, or an eviction that was undone). evict() picks one victim and
 * forgets it. A policy may ask the pager to re-arm access detection on a page
 * (env->rearm) when it clears that page's reference state: the pager then
 * write-protects the page so the next write is observed as a touch.
 *
 * Policies are not thread-safe; the pager serializes calls with one lock.
 * Page numbers are arbitrary uint64_t below UINT64_MAX (sparse is fine).
 */
#ifndef POOLVM_SWAP_POLICY_H
#define POOLVM_SWAP_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct swap_policy;
struct json_object;

struct swap_policy_env {
	/* Optional (NULL: ignore). Called from inside evict(). */
	void (*rearm)(void *ctx, uint64_t page);
	void *ctx;
	/* Expected number of resident pages (a sizing hint, not a limit). */
	size_t capacity;
	/* Policy-specific parameters; NULL: the policy's defaults. The learned
	 * policy takes a const struct learned_model * (learned_model.h). */
	const void *model;
};

/* Flags passed to insert()/touch(). */
#define SWAP_ACCESS_WRITE     (1u << 0)  /* the access was a write */
#define SWAP_ACCESS_PREFETCH  (1u << 1)  /* inserted by the prefetcher, not yet used */
/* A demand fault from which the prefetcher predicted more pages: a page of
 * a scan it follows, whose neighbours come in as prefetches and are used
 * unseen. Policies may treat it as those neighbours (learned) or ignore it. */
#define SWAP_ACCESS_STREAM    (1u << 2)

struct swap_policy_ops {
	size_t size;                 /* sizeof(struct swap_policy_ops) */
	const char *name;            /* "clock", "s3fifo", "sieve", ... */
	const char *help;            /* one line for --help */
	int (*create)(const struct swap_policy_env *env, struct swap_policy **out);
	void (*destroy)(struct swap_policy *policy);
	/* @page became resident. Inserting a page already tracked is a touch. */
	void (*insert)(struct swap_policy *policy, uint64_t page, unsigned flags);
	/* An access to a resident page was observed. Unknown pages: ignored. */
	void (*touch)(struct swap_policy *policy, uint64_t page, unsigned flags);
	/* @page left residency not through evict(). Unknown pages: ignored. */
	void (*remove)(struct swap_policy *policy, uint64_t page);
	/* Choose a victim, forget it, store it in *@page. 0, or -ENOENT when
	 * nothing is resident. */
	int (*evict)(struct swap_policy *policy, uint64_t *page);
	/* Pages currently tracked as resident. */
	size_t (*count)(struct swap_policy *policy);
	/* Optional (NULL or absent: nothing to say): the policy's own state
	 * for the pager's statistics, as a new JSON object the caller owns. */
	struct json_object *(*stats_json)(struct swap_policy *policy);
};

/* Does @ops (of a kind built against some version of this interface)
 * have room for @field? Optional fields past the end read as absent. */
#define SWAP_POLICY_OPS_HAS(ops, field) \
	((ops)->size >= offsetof(struct swap_policy_ops, field) + sizeof((ops)->field))

/* Every policy object begins with this header. */
struct swap_policy {
	const struct swap_policy_ops *ops;
	struct swap_policy_env env;
};

/**
 * swap_policy_create() - create the policy registered as @name.
 * Return: 0 and *@out; -ENOENT for an unknown name; -ENOMEM.
 */
int swap_policy_create(const char *name, const struct swap_policy_env *env,
		       struct swap_policy **out);
/** swap_policy_destroy() - NULL is a no-op. */
void swap_policy_destroy(struct swap_policy *policy);
/** swap_policy_kinds() - the registered policies, NULL-terminated. */
const struct swap_policy_ops *const *swap_policy_kinds(void);

static inline void swap_policy_insert(struct swap_policy *p, uint64_t pg, unsigned f)
{ p->ops->insert(p, pg, f); }
static inline void swap_policy_touch(struct swap_policy *p, uint64_t pg, unsigned f)
{ p->ops->touch(p, pg, f); }
static inline void swap_policy_remove(struct swap_policy *p, uint64_t pg)
{ p->ops->remove(p, pg); }
static inline int swap_policy_evict(struct swap_policy *p, uint64_t *pg)
{ return p->ops->evict(p, pg); }
static inline size_t swap_policy_count(struct swap_policy *p)
{ return p->ops->count(p); }

extern const struct swap_policy_ops swap_policy_clock_ops;
extern const struct swap_policy_ops swap_policy_s3fifo_ops;
extern const struct swap_policy_ops swap_policy_sieve_ops;
extern const struct swap_policy_ops swap_policy_fifo_ops;

#endif
