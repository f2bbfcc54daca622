/* swap/tier.h — a tier keeps evicted guest pages at one cost level.
 *
 * Concepts: a slot is a tier-local address for one 4 KiB page. The pager
 * allocates slots, then stores or loads pages in batches: one call submits
 * a whole batch (io_uring for disk, RMA for remote) and returns when every
 * page of it has completed, with a per-page result. A batch may be issued by
 * several threads at once on the same tier; a tier serializes what it must.
 * A page counts as safe in a tier only once store() reported 0 for it.
 *
 * Buffers passed to load/store are 4 KiB aligned (O_DIRECT needs it).
 */
#ifndef POOLVM_SWAP_TIER_H
#define POOLVM_SWAP_TIER_H

#include <stddef.h>
#include <stdint.h>

struct swap_tier;

/* One page of a batch. @result is written by the tier: 0 or -errno. */
struct swap_io {
	uint64_t slot;
	void *buf;
	int result;
};

struct swap_tier_stats {
	uint64_t slots_total;   /* capacity in pages (UINT64_MAX: unbounded) */
	uint64_t slots_used;
	uint64_t stores;        /* pages stored successfully */
	uint64_t loads;         /* pages loaded successfully */
	uint64_t store_errors;
	uint64_t load_errors;
};

struct json_object;

struct swap_tier_ops {
	size_t size;            /* sizeof(struct swap_tier_ops) */
	const char *name;       /* "dram", "disk", "remote" */
	const char *help;       /* one line: spec syntax and meaning */
	/* Open from the text after "name:" (may be "" when none is given). */
	int (*open)(const char *arg, struct swap_tier **out);
	void (*close)(struct swap_tier *tier);
	/* Reserve @n slots. 0 (all reserved) or -ENOSPC/-errno (none kept). */
	int (*alloc)(struct swap_tier *tier, uint64_t *slots, size_t n);
	/* Return slots to the free pool; their content is forgotten. */
	void (*release)(struct swap_tier *tier, const uint64_t *slots, size_t n);
	/* Write a batch. Returns 0 when every io->result is 0, else the first
	 * error; each io->result tells which pages are safe. */
	int (*store)(struct swap_tier *tier, struct swap_io *ios, size_t n);
	/* Read a batch; same result convention as store. */
	int (*load)(struct swap_tier *tier, struct swap_io *ios, size_t n);
	void (*stats)(struct swap_tier *tier, struct swap_tier_stats *out);
	/* Optional: add what this kind reports beyond struct swap_tier_stats
	 * to @obj (the tier's object in --stats-json). */
	void (*stats_json)(struct swap_tier *tier, struct json_object *obj);
	/* Optional: pages per store batch this tier wants at least, where a
	 * batch costs a round trip whatever its size (remote: every pod must
	 * acknowledge it). The pager's eviction batch defaults to the largest
	 * any of its tiers asks for, and to 128 pages when none does. */
	unsigned store_batch;
	/* Optional: nonzero (a power of two, 64..4096) asks the pager to keep
	 * guest neighbours together: each aligned group of this many guest
	 * pages gets as many contiguous slots (swap/extents.h), so a batch of
	 * neighbouring pages is one request (disk). Costs the tier up to the
	 * guest's size in slots; for tiers where space is cheap. */
	unsigned extent_pages;
};

/* Does @ops (of a kind built against some version of this interface)
 * have room for @field? Optional fields past the end read as absent. */
#define SWAP_TIER_OPS_HAS(ops, field) \
	((ops)->size >= offsetof(struct swap_tier_ops, field) + sizeof((ops)->field))

/* Every tier object begins with this header. */
struct swap_tier {
	const struct swap_tier_ops *ops;
	char spec[1024];         /* the spec it was opened with, for messages */
};

/**
 * swap_tier_open() - open a tier from a spec such as "dram:256M" or
 * "disk:/var/lib/poolvm/vm1.pages".
 *
 * Return: 0 and *@out, or -EINVAL for an unknown kind or a bad argument
 * (after printing what was wrong), or the tier's own -errno. Any thread.
 */
int swap_tier_open(const char *spec, struct swap_tier **out);

/** swap_tier_close() - close and free a tier; NULL is a no-op. */
void swap_tier_close(struct swap_tier *tier);

/** swap_tier_kinds() - the registered tier kinds, NULL-terminated. */
const struct swap_tier_ops *const *swap_tier_kinds(void);

static inline int swap_tier_alloc(struct swap_tier *t, uint64_t *s, size_t n)
{ return t->ops->alloc(t, s, n); }
static inline void swap_tier_release(struct swap_tier *t, const uint64_t *s, size_t n)
{ t->ops->release(t, s, n); }
static inline int swap_tier_store(struct swap_tier *t, struct swap_io *io, size_t n)
{ return t->ops->store(t, io, n); }
static inline int swap_tier_load(struct swap_tier *t, struct swap_io *io, size_t n)
{ return t->ops->load(t, io, n); }
static inline void swap_tier_get_stats(struct swap_tier *t, struct swap_tier_stats *s)
{ t->ops->stats(t, s); }

/* Built-in kinds (swap/tiers/). */
extern const struct swap_tier_ops swap_tier_dram_ops;
extern const struct swap_tier_ops swap_tier_disk_ops;

/* A tier kind that fails on purpose, for tests: "faulty:N" fails every
 * store after the first N pages with -EIO; loads of stored pages work. */
extern const struct swap_tier_ops swap_tier_faulty_ops;

#endif
