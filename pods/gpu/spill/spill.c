/* pods/gpu/spill/spill.c — the spill manager: allocations in a reserved
 * device range, chunks moving between device, host DRAM and swap tiers,
 * launches made resident with learned (Belady) or LRU eviction.
 *
 * Concepts (see spill.h for the public ones): physical device chunks are
 * pooled: at most quota/chunk of them are created, lazily, and an evicted
 * chunk's physical memory is unmapped and reused for the next refill
 * instead of being released (cuMemCreate is slow). A chunk is "pinned"
 * while a call needs it resident, so eviction never picks it. Data is never
 * dropped on an error path: a chunk changes place only after its copy in
 * the new place is complete.
 */
#include "spill.h"
#include "spill_internal.h"

#include "common.h"
#include "tier.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#define ALLOC_ALIGN 256

void spill_backend_close(struct spill_backend *be)
{
	if (be)
		be->ops->close(be);
}

static uint64_t chunk_va(const struct spill *s, uint64_t c)
{
	return s->base + c * s->chunk_bytes;
}

static uint64_t chunk_of(const struct spill *s, uint64_t va)
{
	return (va - s->base) / s->chunk_bytes;
}

/* Move chunk @c's bookkeeping to @place (the data has already moved). */
static void set_place(struct spill *s, uint64_t c, enum spill_place place)
{
	struct spill_chunk *ch = &s->chunks[c];
	unsigned old = ch->place;

	if (old == SPILL_DEVICE || old == SPILL_HOST) {
		uint32_t last = s->listed[old][--s->nlisted[old]];

		s->listed[old][ch->list_pos] = last;
		s->chunks[last].list_pos = ch->list_pos;
	}
	if (place == SPILL_DEVICE || place == SPILL_HOST) {
		ch->list_pos = (uint32_t)s->nlisted[place];
		s->listed[place][s->nlisted[place]++] = (uint32_t)c;
	}
	ch->place = (uint8_t)place;
}

/* Host chunk images come from a small cache of spare buffers, so an
 * eviction does not pay for mapping and faulting in fresh memory. */
static void *alloc_chunk_buffer(struct spill *s)
{
	void *buf = NULL;

	if (s->nspare)
		return s->spare[--s->nspare];
	if (posix_memalign(&buf, PVM_PAGE_SIZE, s->chunk_bytes))
		return NULL;
	return buf;
}

static void free_chunk_buffer(struct spill *s, void *buf)
{
	if (buf && s->nspare < SPILL_SPARE_BUFFERS)
		s->spare[s->nspare++] = buf;
	else
		free(buf);
}

/* ---- allocations -------------------------------------------------------- */

/* Index of the allocation holding @va, or -1. */
static long find_alloc(const struct spill *s, uint64_t va)
{
	size_t lo = 0, hi = s->nallocs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->allocs[mid].start <= va)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	lo--;
	if (va - s->allocs[lo].start < s->allocs[lo].size)
		return (long)lo;
	return -1;
}

/* 0 when [va, va+len) lies in one live allocation (len may be 0). */
static int check_range(const struct spill *s, uint64_t va, uint64_t len)
{
	long a = find_alloc(s, va);

	if (a < 0)
		return -EFAULT;
	if (len > s->allocs[a].size - (va - s->allocs[a].start))
		return -EFAULT;
	return 0;
}

/* ---- victims ------------------------------------------------------------ */

static bool learning(const struct spill *s)
{
	return s->policy == SPILL_POLICY_LEARNED && spill_plan_period(s->plan);
}

static uint64_t next_use(const struct spill *s, uint64_t c)
{
	return learning(s) ? spill_plan_next_use(s->plan, c) : SPILL_PLAN_NEVER;
}

/* Should chunk @a leave before chunk @b? */
static bool evict_before(const struct spill *s, uint64_t a, uint64_t b)
{
	if (learning(s)) {
		uint64_t na = spill_plan_next_use(s->plan, a);
		uint64_t nb = spill_plan_next_use(s->plan, b);

		if (na != nb)
			return na > nb;
	}
	return s->chunks[a].last_use < s->chunks[b].last_use;
}

/* The best unpinned victim on the device or the host, or -1. */
static int64_t pick_victim(const struct spill *s, enum spill_place place)
{
	int64_t best = -1;
	uint64_t i;

	for (i = 0; i < s->nlisted[place]; i++) {
		uint64_t c = s->listed[place][i];

		if (s->chunks[c].pinned)
			continue;
		if (best < 0 || evict_before(s, c, (uint64_t)best))
			best = (int64_t)c;
	}
	return best;
}

/* ---- tiers -------------------------------------------------------------- */

static void tier_error(struct spill *s, const char *what, unsigned t, uint64_t c, int rc)
{
	s->st.tier_errors++;
	if (!s->tier_error_reported) {
		s->tier_error_reported = true;
		pvm_err("gpu spill: %s chunk %llu in tier '%s' failed: %s; the chunk "
			"stays where it was (further tier errors are only counted)",
			what, (unsigned long long)c, s->tiers[t]->spec, strerror(-rc));
	}
}

/* Store a whole chunk image @buf into the first tier that takes it. */
static int tier_store_chunk(struct spill *s, uint64_t c, const void *buf)
{
	struct spill_chunk *ch = &s->chunks[c];
	int rc = -ENOSPC;
	unsigned t;
	uint64_t i;

	if (!s->ntiers)
		return -ENOSPC;
	for (t = 0; t < s->ntiers; t++) {
		uint64_t *slots = malloc(s->pages_per_chunk * sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		rc = swap_tier_alloc(s->tiers[t], slots, s->pages_per_chunk);
		if (rc) {
			free(slots);
			continue;       /* full: try the next tier */
		}
		for (i = 0; i < s->pages_per_chunk; i++) {
			s->ios[i].slot = slots[i];
			s->ios[i].buf = (uint8_t *)buf + i * PVM_PAGE_SIZE;
			s->ios[i].result = 0;
		}
		rc = swap_tier_store(s->tiers[t], s->ios, s->pages_per_chunk);
		if (rc) {
			tier_error(s, "storing", t, c, rc);
			swap_tier_release(s->tiers[t], slots, s->pages_per_chunk);
			free(slots);
			continue;
		}
		ch->slots = slots;
		ch->tier = (uint8_t)t;
		s->st.bytes_to_tier += s->chunk_bytes;
		return 0;
	}
	return rc;
}

/* Load pages [first, first+n) of a tier chunk into @buf (page 0 of @buf is
 * page @first). */
static int tier_load_pages(struct spill *s, uint64_t c, uint64_t first, uint64_t n, void *buf)
{
	struct spill_chunk *ch = &s->chunks[c];
	uint64_t i;
	int rc;

	for (i = 0; i < n; i++) {
		s->ios[i].slot = ch->slots[first + i];
		s->ios[i].buf = (uint8_t *)buf + i * PVM_PAGE_SIZE;
		s->ios[i].result = 0;
	}
	rc = swap_tier_load(s->tiers[ch->tier], s->ios, n);
	if (rc) {
		tier_error(s, "loading", ch->tier, c, rc);
		return rc;
	}
	s->st.bytes_from_tier += n * PVM_PAGE_SIZE;
	return 0;
}

static void tier_release_chunk(struct spill *s, uint64_t c)
{
	struct spill_chunk *ch = &s->chunks[c];

	swap_tier_release(s->tiers[ch->tier], ch->slots, s->pages_per_chunk);
	free(ch->slots);
	ch->slots = NULL;
}

/* Move host chunks on to the tiers while host DRAM is over its share.
 * Best effort: a chunk a tier refuses stays in host memory. */
static void host_trim(struct spill *s)
{
	while (s->host_chunks > s->host_limit_chunks) {
		int64_t v = pick_victim(s, SPILL_HOST);
		struct spill_chunk *ch;

		if (v < 0)
			return;
		ch = &s->chunks[v];
		if (tier_store_chunk(s, (uint64_t)v, ch->host))
			return;
		free_chunk_buffer(s, ch->host);
		ch->host = NULL;
		set_place(s, (uint64_t)v, SPILL_TIER);
		s->host_chunks--;
		s->tier_chunks++;
		s->st.demotions++;
	}
}

/* ---- device chunks ------------------------------------------------------ */

static int sync_once(struct spill *s)
{
	int rc;

	if (s->synced)
		return 0;
	rc = s->be->ops->sync(s->be);
	if (rc == 0)
		s->synced = true;
	return rc;
}

/* A free physical chunk: pooled, or newly created within the quota. */
static int take_phys(struct spill *s, uint32_t *idx)
{
	int rc;

	if (s->nfree) {
		*idx = s->phys_free[--s->nfree];
		return 0;
	}
	if (s->nphys >= s->slots_total)
		return -ENOSPC;
	rc = s->be->ops->create(s->be, s->chunk_bytes, &s->phys[s->nphys]);
	if (rc)
		return rc;
	*idx = s->nphys++;
	return 0;
}

static void put_phys(struct spill *s, uint32_t idx)
{
	s->phys_free[s->nfree++] = idx;
}

static int unmap_chunk(struct spill *s, uint64_t c)
{
	struct spill_chunk *ch = &s->chunks[c];
	int rc = s->be->ops->unmap(s->be, chunk_va(s, c), s->chunk_bytes);

	if (rc)
		return rc;
	put_phys(s, ch->phys);
	s->resident--;
	return 0;
}

/* Move device chunk @c out: to host DRAM if it has room, else whichever of
 * @c and the host's best victim should go farther goes to a tier. On any
 * error @c stays resident and nothing moved. */
static int evict_device(struct spill *s, uint64_t c)
{
	struct spill_chunk *ch = &s->chunks[c];
	const struct spill_backend_ops *ops = s->be->ops;
	uint64_t va = chunk_va(s, c);
	void *buf;
	int rc;

	rc = sync_once(s);
	if (rc)
		return rc;
	if (s->host_chunks < s->host_limit_chunks) {
		buf = alloc_chunk_buffer(s);
		if (!buf)
			return -ENOMEM;
		rc = ops->to_host(s->be, buf, va, s->chunk_bytes);
		if (rc == 0)
			rc = unmap_chunk(s, c);
		if (rc) {
			free_chunk_buffer(s, buf);
			return rc;
		}
		ch->host = buf;
		set_place(s, c, SPILL_HOST);
		s->host_chunks++;
	} else {
		int64_t hv = pick_victim(s, SPILL_HOST);

		if (hv >= 0 && evict_before(s, (uint64_t)hv, c)) {
			/* the host chunk goes down, @c takes its buffer */
			struct spill_chunk *hc = &s->chunks[hv];

			rc = tier_store_chunk(s, (uint64_t)hv, hc->host);
			if (rc)
				return rc;
			buf = hc->host;
			hc->host = NULL;
			set_place(s, (uint64_t)hv, SPILL_TIER);
			s->tier_chunks++;
			s->st.demotions++;
			rc = ops->to_host(s->be, buf, va, s->chunk_bytes);
			if (rc == 0)
				rc = unmap_chunk(s, c);
			if (rc) {
				/* @hv's image is safe in the tier; keep the
				 * buffer accounted as free host memory */
				free_chunk_buffer(s, buf);
				s->host_chunks--;
				return rc;
			}
			ch->host = buf;
			set_place(s, c, SPILL_HOST);
		} else {
			rc = ops->to_host(s->be, s->bounce, va, s->chunk_bytes);
			if (rc)
				return rc;
			rc = tier_store_chunk(s, c, s->bounce);
			if (rc)
				return rc;
			rc = unmap_chunk(s, c);
			if (rc) {
				tier_release_chunk(s, c);
				return rc;
			}
			set_place(s, c, SPILL_TIER);
			s->tier_chunks++;
		}
	}
	s->st.evictions++;
	s->st.bytes_to_host += s->chunk_bytes;
	return 0;
}

/* A physical chunk for a refill: free room, or the victim's. */
static int make_room(struct spill *s, uint32_t *idx)
{
	int64_t v;
	int rc;

	rc = take_phys(s, idx);
	if (rc != -ENOSPC && rc != -ENOMEM)
		return rc;
	/* quota reached, or the device itself is full: evict */
	v = pick_victim(s, SPILL_DEVICE);
	if (v < 0)
		return rc == -ENOMEM ? -ENOMEM : -E2BIG;
	rc = evict_device(s, (uint64_t)v);
	if (rc)
		return rc;
	return take_phys(s, idx);
}

/* Bring chunk @c (not on the device) in, using physical chunk @idx. On
 * error @idx goes back to the pool and @c stays where it was. */
static int refill(struct spill *s, uint64_t c, uint32_t idx)
{
	struct spill_chunk *ch = &s->chunks[c];
	const struct spill_backend_ops *ops = s->be->ops;
	uint64_t va = chunk_va(s, c);
	int rc;

	rc = ops->map(s->be, va, s->chunk_bytes, s->phys[idx]);
	if (rc) {
		put_phys(s, idx);
		return rc;
	}
	switch (ch->place) {
	case SPILL_NONE:
		rc = ops->fill(s->be, va, 0, s->chunk_bytes);
		break;
	case SPILL_HOST:
		rc = ops->to_device(s->be, va, ch->host, s->chunk_bytes);
		break;
	case SPILL_TIER:
		rc = tier_load_pages(s, c, 0, s->pages_per_chunk, s->bounce);
		if (rc == 0)
			rc = ops->to_device(s->be, va, s->bounce, s->chunk_bytes);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc) {
		ops->unmap(s->be, va, s->chunk_bytes);
		put_phys(s, idx);
		return rc;
	}
	switch (ch->place) {
	case SPILL_NONE:
		s->st.zero_fills++;
		break;
	case SPILL_HOST:
		free_chunk_buffer(s, ch->host);
		ch->host = NULL;
		s->host_chunks--;
		s->st.refills++;
		s->st.bytes_to_device += s->chunk_bytes;
		break;
	default:
		tier_release_chunk(s, c);
		s->tier_chunks--;
		s->st.refills++;
		s->st.bytes_to_device += s->chunk_bytes;
		break;
	}
	set_place(s, c, SPILL_DEVICE);
	ch->phys = idx;
	s->resident++;
	return 0;
}

static int bring_in(struct spill *s, uint64_t c)
{
	uint32_t idx;
	int rc;

	if (s->chunks[c].place == SPILL_DEVICE)
		return 0;
	rc = make_room(s, &idx);
	if (rc)
		return rc;
	return refill(s, c, idx);
}

/* Drop chunk @c's contents wherever they are (its last allocation went). */
static void discard_chunk(struct spill *s, uint64_t c)
{
	struct spill_chunk *ch = &s->chunks[c];

	switch (ch->place) {
	case SPILL_DEVICE:
		if (sync_once(s) == 0 && unmap_chunk(s, c) == 0)
			break;
		/* cannot unmap: keep the mapping, lose only the pool slot */
		s->resident--;
		break;
	case SPILL_HOST:
		free_chunk_buffer(s, ch->host);
		ch->host = NULL;
		s->host_chunks--;
		break;
	case SPILL_TIER:
		tier_release_chunk(s, c);
		s->tier_chunks--;
		break;
	default:
		break;
	}
	set_place(s, c, SPILL_NONE);
}

/* ---- pinning a set of chunks --------------------------------------------- */

static int add_needed(struct spill *s, uint64_t first, uint64_t last)
{
	uint64_t c;

	for (c = first; c <= last; c++) {
		if (s->nneeded == s->needed_cap) {
			size_t cap = s->needed_cap ? 2 * s->needed_cap : 64;
			uint32_t *grown = realloc(s->needed, cap * sizeof(*grown));

			if (!grown)
				return -ENOMEM;
			s->needed = grown;
			s->needed_cap = cap;
		}
		s->needed[s->nneeded++] = (uint32_t)c;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void sort_needed(struct spill *s)
{
	size_t i, out = 0;

	if (!s->nneeded)
		return;
	qsort(s->needed, s->nneeded, sizeof(*s->needed), cmp_u32);
	for (i = 0; i < s->nneeded; i++)
		if (out == 0 || s->needed[out - 1] != s->needed[i])
			s->needed[out++] = s->needed[i];
	s->nneeded = out;
}

/* Unpin what the current call pinned (all of it is in s->needed). */
static void unpin_all(struct spill *s)
{
	size_t i;

	for (i = 0; i < s->nneeded; i++)
		s->chunks[s->needed[i]].pinned = 0;
}

/* Make the chunks in s->needed resident (they are pinned first). */
/* Victim order as a key: evict larger next use first, then older. */
struct victim_key {
	uint64_t next, last_use;
	uint32_t chunk;
};

static bool key_before(const struct victim_key *a, const struct victim_key *b)
{
	if (a->next != b->next)
		return a->next > b->next;
	return a->last_use < b->last_use;
}

/* Sift down in a heap whose root is the least evictable of the chosen. */
static void heap_sift(struct victim_key *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct victim_key t;

		if (l < n && key_before(&h[m], &h[l]))
			m = l;
		if (r < n && key_before(&h[m], &h[r]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Evict the @k best unpinned device chunks, found in one pass over the
 * device list (the same chunks k single picks would choose, since
 * evicting one does not change the order of the others). */
static int evict_batch(struct spill *s, size_t k)
{
	struct victim_key *h;
	size_t n = 0, i;
	int rc = 0;

	h = malloc(k * sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (i = 0; i < s->nlisted[SPILL_DEVICE]; i++) {
		uint32_t c = s->listed[SPILL_DEVICE][i];
		struct victim_key key;

		if (s->chunks[c].pinned)
			continue;
		key.next = next_use(s, c);
		key.last_use = s->chunks[c].last_use;
		key.chunk = c;
		if (n < k) {
			size_t j = n++;

			h[j] = key;
			/* sift up */
			while (j && key_before(&h[(j - 1) / 2], &h[j])) {
				struct victim_key t = h[j];

				h[j] = h[(j - 1) / 2];
				h[(j - 1) / 2] = t;
				j = (j - 1) / 2;
			}
		} else if (key_before(&key, &h[0])) {
			h[0] = key;
			heap_sift(h, n, 0);
		}
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = evict_device(s, h[i].chunk);
	free(h);
	return rc;
}

static int make_needed_resident(struct spill *s)
{
	size_t i, missing = 0;
	uint64_t room;
	int rc;

	if (s->nneeded > s->slots_total)
		return -E2BIG;
	s->clock++;
	for (i = 0; i < s->nneeded; i++) {
		struct spill_chunk *ch = &s->chunks[s->needed[i]];

		ch->pinned = 1;
		ch->last_use = s->clock;
		missing += ch->place != SPILL_DEVICE;
	}
	/* make the room for all of them at once when several must go */
	room = s->nfree + (s->slots_total - s->nphys);
	if (missing > room + 1) {
		rc = evict_batch(s, missing - room);
		if (rc)
			return rc;
	}
	for (i = 0; i < s->nneeded; i++) {
		rc = bring_in(s, s->needed[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* Prefetch for the next launches of the schedule. A chunk comes in when
 * there is free room, or by evicting a victim whose next use is farther
 * than the chunk's and than that of every chunk the current launch holds:
 * Belady, deciding when the chunk is needed, would evict the same victim
 * (the current launch's chunks are free to go by then), so prefetching
 * moves data earlier but never adds a move. */
static void prefetch(struct spill *s)
{
	uint64_t held_next = 0;
	unsigned k;
	size_t i;

	if (!learning(s))
		return;
	for (i = 0; i < s->nneeded; i++) {
		uint64_t u = next_use(s, s->needed[i]);

		held_next = u > held_next ? u : held_next;
	}
	for (k = 1; k <= s->prefetch_depth; k++) {
		const uint32_t *list;
		size_t n = spill_plan_upcoming(s->plan, k, &list);

		for (i = 0; i < n; i++) {
			uint64_t c = list[i];
			struct spill_chunk *ch = &s->chunks[c];
			uint32_t idx;
			int64_t v;

			if (ch->pinned)
				continue;
			if (add_needed(s, c, c))
				return;
			if (ch->place == SPILL_DEVICE || ch->refs == 0) {
				ch->pinned = 1;
				continue;
			}
			if (take_phys(s, &idx) != 0) {
				uint64_t vn;

				v = pick_victim(s, SPILL_DEVICE);
				if (v < 0)
					return;
				vn = next_use(s, (uint64_t)v);
				if (vn <= next_use(s, c) || vn <= held_next)
					return;
				if (evict_device(s, (uint64_t)v))
					return;
				if (take_phys(s, &idx))
					return;
			}
			if (refill(s, c, idx))
				return;
			ch->pinned = 1;
			s->st.prefetches++;
		}
	}
}

/* ---- public API --------------------------------------------------------- */

static void begin(struct spill *s)
{
	pthread_mutex_lock(&s->lock);
	s->synced = false;
	s->nneeded = 0;
}

static int end(struct spill *s, int rc)
{
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int spill_alloc(struct spill *s, uint64_t size, uint64_t *dptr)
{
	uint64_t align, need, prev_end, start = 0, c;
	size_t at;
	bool found = false;

	if (size == 0)
		return -EINVAL;
	align = size >= s->chunk_bytes ? s->chunk_bytes : ALLOC_ALIGN;
	if (size > s->limit)
		return -ENOMEM;
	need = (size + ALLOC_ALIGN - 1) & ~(uint64_t)(ALLOC_ALIGN - 1);
	begin(s);
	if (s->nallocs == s->allocs_cap) {
		size_t cap = s->allocs_cap ? 2 * s->allocs_cap : 64;
		struct spill_alloc_rec *grown = realloc(s->allocs, cap * sizeof(*grown));

		if (!grown)
			return end(s, -ENOMEM);
		s->allocs = grown;
		s->allocs_cap = cap;
	}
	prev_end = s->base;
	for (at = 0; at <= s->nallocs; at++) {
		uint64_t gap_end = at < s->nallocs ? s->allocs[at].start : s->base + s->limit;

		start = (prev_end + align - 1) & ~(align - 1);
		if (start <= gap_end && gap_end - start >= need) {
			found = true;
			break;
		}
		if (at < s->nallocs)
			prev_end = s->allocs[at].start + s->allocs[at].size;
	}
	if (!found)
		return end(s, -ENOMEM);
	memmove(&s->allocs[at + 1], &s->allocs[at], (s->nallocs - at) * sizeof(*s->allocs));
	s->allocs[at].start = start;
	s->allocs[at].size = size;
	s->nallocs++;
	s->allocated += size;
	for (c = chunk_of(s, start); c <= chunk_of(s, start + size - 1); c++) {
		if (s->chunks[c].refs++ == 0)
			s->chunks[c].place = SPILL_NONE;
		if (c + 1 > s->hiwater)
			s->hiwater = c + 1;
	}
	*dptr = start;
	return end(s, 0);
}

int spill_free(struct spill *s, uint64_t dptr)
{
	long a;
	uint64_t c, start, size;

	begin(s);
	a = find_alloc(s, dptr);
	if (a < 0 || s->allocs[a].start != dptr)
		return end(s, -EINVAL);
	start = s->allocs[a].start;
	size = s->allocs[a].size;
	for (c = chunk_of(s, start); c <= chunk_of(s, start + size - 1); c++)
		if (--s->chunks[c].refs == 0)
			discard_chunk(s, c);
	memmove(&s->allocs[a], &s->allocs[a + 1],
		(s->nallocs - (size_t)a - 1) * sizeof(*s->allocs));
	s->nallocs--;
	s->allocated -= size;
	return end(s, 0);
}

int spill_resolve(struct spill *s, uint64_t dptr, struct spill_where *out)
{
	long a;
	uint64_t c;

	begin(s);
	a = find_alloc(s, dptr);
	if (a < 0)
		return end(s, -ENOENT);
	c = chunk_of(s, dptr);
	out->alloc_base = s->allocs[a].start;
	out->alloc_size = s->allocs[a].size;
	out->chunk = c;
	out->chunk_offset = dptr - chunk_va(s, c);
	out->place = (enum spill_place)s->chunks[c].place;
	out->tier = s->chunks[c].tier;
	return end(s, 0);
}

int spill_prepare_launch(struct spill *s, uint64_t kernel, const uint64_t *ptrs, size_t n)
{
	size_t i;
	int rc = 0;

	begin(s);
	for (i = 0; i < n && rc == 0; i++) {
		long a = find_alloc(s, ptrs[i]);

		if (a >= 0)
			rc = add_needed(s, chunk_of(s, s->allocs[a].start),
					chunk_of(s, s->allocs[a].start + s->allocs[a].size - 1));
	}
	if (rc)
		return end(s, rc);
	sort_needed(s);
	if (s->nneeded > s->slots_total)
		return end(s, -E2BIG);
	s->st.launches++;
	if (s->policy == SPILL_POLICY_LEARNED) {
		uint64_t sig = spill_plan_signature(kernel, s->needed, s->nneeded);

		rc = spill_plan_record(s->plan, sig, s->needed, s->nneeded);
		if (rc < 0 && rc != -1)
			return end(s, rc);
	}
	rc = make_needed_resident(s);
	if (rc == 0)
		prefetch(s);
	unpin_all(s);
	return end(s, rc);
}

int spill_make_resident(struct spill *s, uint64_t dptr, uint64_t len)
{
	int rc;

	begin(s);
	if (len == 0)
		return end(s, 0);
	rc = check_range(s, dptr, len);
	if (rc == 0)
		rc = add_needed(s, chunk_of(s, dptr), chunk_of(s, dptr + len - 1));
	if (rc == 0)
		rc = make_needed_resident(s);
	unpin_all(s);
	return end(s, rc);
}

/* Read or write [off, off+len) of chunk @c wherever it is. */
static int xfer_piece(struct spill *s, uint64_t c, uint64_t off, void *buf,
		      uint64_t len, bool write)
{
	struct spill_chunk *ch = &s->chunks[c];
	const struct spill_backend_ops *ops = s->be->ops;
	uint64_t first, npages;
	int rc;

	switch (ch->place) {
	case SPILL_DEVICE:
		return write ? ops->to_device(s->be, chunk_va(s, c) + off, buf, len)
			     : ops->to_host(s->be, buf, chunk_va(s, c) + off, len);
	case SPILL_HOST:
		if (write)
			memcpy((uint8_t *)ch->host + off, buf, len);
		else
			memcpy(buf, (uint8_t *)ch->host + off, len);
		return 0;
	case SPILL_NONE:
		if (!write) {
			memset(buf, 0, len);
			return 0;
		}
		ch->host = alloc_chunk_buffer(s);
		if (!ch->host)
			return -ENOMEM;
		memset(ch->host, 0, s->chunk_bytes);
		memcpy((uint8_t *)ch->host + off, buf, len);
		set_place(s, c, SPILL_HOST);
		s->host_chunks++;
		return 0;
	case SPILL_TIER:
		if (!write) {
			first = off / PVM_PAGE_SIZE;
			npages = (off + len + PVM_PAGE_SIZE - 1) / PVM_PAGE_SIZE - first;
			rc = tier_load_pages(s, c, first, npages, s->bounce);
			if (rc)
				return rc;
			memcpy(buf, (uint8_t *)s->bounce + off - first * PVM_PAGE_SIZE, len);
			return 0;
		} else {
			/* to host memory first: a failed store in place
			 * could lose the pages the write does not cover */
			void *img = alloc_chunk_buffer(s);

			if (!img)
				return -ENOMEM;
			rc = tier_load_pages(s, c, 0, s->pages_per_chunk, img);
			if (rc) {
				free_chunk_buffer(s, img);
				return rc;
			}
			memcpy((uint8_t *)img + off, buf, len);
			tier_release_chunk(s, c);
			s->tier_chunks--;
			ch->host = img;
			set_place(s, c, SPILL_HOST);
			s->host_chunks++;
			return 0;
		}
	default:
		return -EINVAL;
	}
}

static int xfer(struct spill *s, uint64_t dptr, void *buf, uint64_t len, bool write)
{
	uint64_t done = 0;
	int rc = 0;

	while (done < len && rc == 0) {
		uint64_t va = dptr + done, c = chunk_of(s, va);
		uint64_t off = va - chunk_va(s, c);
		uint64_t piece = PVM_MIN(len - done, s->chunk_bytes - off);

		rc = xfer_piece(s, c, off, (uint8_t *)buf + done, piece, write);
		done += piece;
	}
	if (write)
		host_trim(s);
	return rc;
}

int spill_write(struct spill *s, uint64_t dptr, const void *src, uint64_t len)
{
	int rc;

	begin(s);
	rc = check_range(s, dptr, len);
	if (rc == 0)
		rc = xfer(s, dptr, (void *)src, len, true);
	return end(s, rc);
}

int spill_read(struct spill *s, void *dst, uint64_t dptr, uint64_t len)
{
	int rc;

	begin(s);
	rc = check_range(s, dptr, len);
	if (rc == 0)
		rc = xfer(s, dptr, dst, len, false);
	return end(s, rc);
}

static bool range_resident(const struct spill *s, uint64_t va, uint64_t len)
{
	uint64_t c;

	for (c = chunk_of(s, va); c <= chunk_of(s, va + len - 1); c++)
		if (s->chunks[c].place != SPILL_DEVICE)
			return false;
	return true;
}

int spill_copy(struct spill *s, uint64_t dst, uint64_t src, uint64_t len)
{
	uint64_t done = 0;
	bool backward;
	void *tmp;
	int rc;

	begin(s);
	rc = check_range(s, dst, len);
	if (rc == 0)
		rc = check_range(s, src, len);
	if (rc || len == 0)
		return end(s, rc);
	if (range_resident(s, src, len) && range_resident(s, dst, len))
		return end(s, s->be->ops->device_copy(s->be, dst, src, len));
	tmp = malloc(s->chunk_bytes);
	if (!tmp)
		return end(s, -ENOMEM);
	/* overlapping with dst above src: copy from the end */
	backward = dst > src && dst < src + len;
	while (done < len && rc == 0) {
		uint64_t piece = PVM_MIN(len - done, s->chunk_bytes);
		uint64_t at = backward ? len - done - piece : done;

		rc = xfer(s, src + at, tmp, piece, false);
		if (rc == 0)
			rc = xfer(s, dst + at, tmp, piece, true);
		done += piece;
	}
	free(tmp);
	return end(s, rc);
}

int spill_memset(struct spill *s, uint64_t dptr, uint32_t value, unsigned width,
		 uint64_t count)
{
	uint64_t len, done = 0, i;
	uint8_t *pat;
	int rc;

	if (width != 1 && width != 2 && width != 4)
		return -EINVAL;
	if (count > UINT64_MAX / width)
		return -EFAULT;
	len = count * width;
	begin(s);
	rc = check_range(s, dptr, len);
	if (rc || len == 0)
		return end(s, rc);
	pat = malloc(s->chunk_bytes + 4);
	if (!pat)
		return end(s, -ENOMEM);
	for (i = 0; i < s->chunk_bytes + 4; i++)     /* little-endian elements */
		pat[i] = (uint8_t)(value >> (8 * (i % width)));
	while (done < len && rc == 0) {
		uint64_t va = dptr + done, c = chunk_of(s, va);
		uint64_t off = va - chunk_va(s, c);
		uint64_t piece = PVM_MIN(len - done, s->chunk_bytes - off);

		if (width == 1 && s->chunks[c].place == SPILL_DEVICE)
			rc = s->be->ops->fill(s->be, va, (uint8_t)value, piece);
		else
			rc = xfer_piece(s, c, off, pat + done % width, piece, true);
		done += piece;
	}
	free(pat);
	host_trim(s);
	return end(s, rc);
}

void spill_mem_info(struct spill *s, uint64_t *free_bytes, uint64_t *total_bytes)
{
	pthread_mutex_lock(&s->lock);
	*total_bytes = s->limit;
	*free_bytes = s->limit - s->allocated;
	pthread_mutex_unlock(&s->lock);
}

static void fill_stats(struct spill *s, struct spill_stats *out)
{
	struct spill_plan_stats ps;

	*out = s->st;
	out->chunk_bytes = s->chunk_bytes;
	out->quota_bytes = s->slots_total * s->chunk_bytes;
	out->limit_bytes = s->limit;
	out->allocated_bytes = s->allocated;
	out->resident_bytes = s->resident * s->chunk_bytes;
	out->host_bytes = s->host_chunks * s->chunk_bytes;
	out->tier_bytes = s->tier_chunks * s->chunk_bytes;
	spill_plan_get_stats(s->plan, &ps);
	out->period = spill_plan_period(s->plan);
	out->periods_found = ps.periods_found;
	out->predicted = ps.predicted;
	out->mispredicted = ps.mispredicted;
}

void spill_get_stats(struct spill *s, struct spill_stats *out)
{
	pthread_mutex_lock(&s->lock);
	fill_stats(s, out);
	pthread_mutex_unlock(&s->lock);
}

struct json_object *spill_stats_json(struct spill *s)
{
	struct json_object *obj = json_object_new_object(), *tiers;
	struct spill_stats st;
	unsigned t;

	if (!obj)
		return NULL;
	spill_get_stats(s, &st);
#define PUT(name) json_object_object_add(obj, #name, json_object_new_uint64(st.name))
	json_object_object_add(obj, "backend", json_object_new_string(s->be->ops->name));
	json_object_object_add(obj, "policy", json_object_new_string(
		s->policy == SPILL_POLICY_LRU ? "lru" : "learned"));
	PUT(chunk_bytes); PUT(quota_bytes); PUT(limit_bytes); PUT(allocated_bytes);
	PUT(resident_bytes); PUT(host_bytes); PUT(tier_bytes); PUT(launches);
	PUT(evictions); PUT(refills); PUT(demotions); PUT(prefetches);
	PUT(zero_fills); PUT(bytes_to_host); PUT(bytes_to_device);
	PUT(bytes_to_tier); PUT(bytes_from_tier); PUT(tier_errors);
	PUT(period); PUT(periods_found); PUT(predicted); PUT(mispredicted);
#undef PUT
	tiers = json_object_new_array();
	for (t = 0; tiers && t < s->ntiers; t++) {
		struct json_object *to = json_object_new_object();
		struct swap_tier_stats ts;

		if (!to)
			break;
		swap_tier_get_stats(s->tiers[t], &ts);
		json_object_object_add(to, "spec", json_object_new_string(s->tiers[t]->spec));
		json_object_object_add(to, "pages_used", json_object_new_uint64(ts.slots_used));
		json_object_object_add(to, "store_errors", json_object_new_uint64(ts.store_errors));
		json_object_array_add(tiers, to);
	}
	if (tiers)
		json_object_object_add(obj, "tiers", tiers);
	return obj;
}
