/* pods/gpu/spill/spill_plan.c — learning the launch schedule: period
 * detection over launch signatures, and next-use prediction from the
 * learned period (see spill_plan.h for the concepts).
 *
 * Costs: recording a launch is O(chunks of the launch). While unlocked, the
 * candidate periods are only the distances to earlier launches with the
 * same signature, found by following a chain (each launch links to the
 * previous one with its signature, through a hash table of signatures), and
 * each candidate P is verified over at most max(P, 8) signatures; a launch
 * with a new signature costs O(1). Locking builds the schedule and a per-chunk list
 * of the positions using it (CSR arrays), so next_use() is a binary search.
 */
#include "spill_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_WINDOW 8    /* launches a short period must be confirmed over */

#define NO_PREV UINT64_MAX

struct launch_rec {
	uint64_t sig;
	uint64_t prev;                  /* previous launch with this sig */
	uint32_t *chunks;
	uint32_t n, cap;
};

struct spill_plan {
	uint64_t nchunks;
	unsigned max_period;
	uint64_t hist_cap;
	struct launch_rec *hist;        /* ring: launch i at hist[i % hist_cap] */
	uint64_t count;                 /* launches recorded */
	/* signature -> index + 1 of its latest launch (0: empty); linear
	 * probing, rebuilt from the ring when half full */
	uint64_t *tab_sig, *tab_idx;
	uint64_t tab_size, tab_used;

	uint64_t period;                /* 0: unlocked */
	uint64_t cursor;                /* schedule position of the last launch */
	uint64_t *sched_sig;            /* [period] */
	uint32_t *sched_off;            /* [period + 1] into sched_list */
	uint32_t *sched_list;
	uint32_t *use_off;              /* [nchunks + 1] into use_pos */
	uint32_t *use_pos;              /* positions using each chunk, ascending */

	struct spill_plan_stats stats;
};

int spill_plan_create(uint64_t nchunks, unsigned max_period, struct spill_plan **out)
{
	struct spill_plan *p;

	if (!max_period || nchunks == 0 || nchunks >= UINT32_MAX)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->nchunks = nchunks;
	p->max_period = max_period;
	p->hist_cap = 2ULL * max_period + MIN_WINDOW;
	p->hist = calloc(p->hist_cap, sizeof(*p->hist));
	p->use_off = calloc(nchunks + 1, sizeof(*p->use_off));
	p->tab_size = 64;
	while (p->tab_size < 4 * p->hist_cap)
		p->tab_size *= 2;
	p->tab_sig = calloc(p->tab_size, sizeof(*p->tab_sig));
	p->tab_idx = calloc(p->tab_size, sizeof(*p->tab_idx));
	if (!p->hist || !p->use_off || !p->tab_sig || !p->tab_idx) {
		spill_plan_destroy(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

static void drop_schedule(struct spill_plan *p)
{
	free(p->sched_sig);
	free(p->sched_off);
	free(p->sched_list);
	free(p->use_pos);
	p->sched_sig = NULL;
	p->sched_off = p->sched_list = p->use_pos = NULL;
	p->period = 0;
	p->cursor = 0;
}

void spill_plan_destroy(struct spill_plan *p)
{
	uint64_t i;

	if (!p)
		return;
	drop_schedule(p);
	if (p->hist)
		for (i = 0; i < p->hist_cap; i++)
			free(p->hist[i].chunks);
	free(p->hist);
	free(p->use_off);
	free(p->tab_sig);
	free(p->tab_idx);
	free(p);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 29);
}

uint64_t spill_plan_signature(uint64_t kernel, const uint32_t *chunks, size_t n)
{
	uint64_t h = mix(0x5eed, kernel);
	size_t i;

	h = mix(h, n);
	for (i = 0; i < n; i++)
		h = mix(h, chunks[i]);
	return h;
}

static struct launch_rec *rec(struct spill_plan *p, uint64_t i)
{
	return &p->hist[i % p->hist_cap];
}

/* Lock on period @P: the last P launches become the schedule. */
static int lock_period(struct spill_plan *p, uint64_t P)
{
	uint64_t first = p->count - P, k, total = 0, c;
	uint32_t *fill;

	for (k = 0; k < P; k++)
		total += rec(p, first + k)->n;
	if (total >= UINT32_MAX)
		return -E2BIG;
	p->sched_sig = malloc(P * sizeof(*p->sched_sig));
	p->sched_off = malloc((P + 1) * sizeof(*p->sched_off));
	p->sched_list = malloc((total ? total : 1) * sizeof(*p->sched_list));
	p->use_pos = malloc((total ? total : 1) * sizeof(*p->use_pos));
	fill = calloc(p->nchunks, sizeof(*fill));
	if (!p->sched_sig || !p->sched_off || !p->sched_list || !p->use_pos || !fill) {
		free(fill);
		drop_schedule(p);
		return -ENOMEM;
	}
	memset(p->use_off, 0, (p->nchunks + 1) * sizeof(*p->use_off));
	p->sched_off[0] = 0;
	for (k = 0; k < P; k++) {
		struct launch_rec *r = rec(p, first + k);
		uint32_t j;

		p->sched_sig[k] = r->sig;
		memcpy(p->sched_list + p->sched_off[k], r->chunks, r->n * sizeof(uint32_t));
		p->sched_off[k + 1] = p->sched_off[k] + r->n;
		for (j = 0; j < r->n; j++)
			p->use_off[r->chunks[j] + 1]++;
	}
	for (c = 0; c < p->nchunks; c++)
		p->use_off[c + 1] += p->use_off[c];
	/* Positions are visited in ascending order, so each list is sorted. */
	for (k = 0; k < P; k++) {
		uint32_t j;

		for (j = p->sched_off[k]; j < p->sched_off[k + 1]; j++) {
			uint32_t ch = p->sched_list[j];

			p->use_pos[p->use_off[ch] + fill[ch]++] = (uint32_t)k;
		}
	}
	free(fill);
	p->period = P;
	p->cursor = P - 1;
	p->stats.periods_found++;
	return 0;
}

/* Find the smallest period the recent launches confirm, and lock on it.
 * Candidates, smallest first: distances to earlier launches with the same
 * signature as the last one. */
static int detect(struct spill_plan *p)
{
	uint64_t n = p->count - 1, prev = rec(p, n)->prev, P, i;

	while (prev != NO_PREV && n - prev < p->hist_cap) {
		uint64_t window;

		P = n - prev;
		window = P > MIN_WINDOW ? P : MIN_WINDOW;
		if (P > p->max_period || P + window > p->count)
			break;
		for (i = 0; i < window; i++)
			if (rec(p, n - i)->sig != rec(p, n - i - P)->sig)
				break;
		if (i == window)
			return lock_period(p, P);
		prev = rec(p, prev)->prev;
	}
	return 0;
}

/* The table slot of @sig: where it is, or the empty slot it would take. */
static uint64_t tab_slot(const struct spill_plan *p, uint64_t sig)
{
	uint64_t j = (sig ^ (sig >> 29)) & (p->tab_size - 1);

	while (p->tab_idx[j] && p->tab_sig[j] != sig)
		j = (j + 1) & (p->tab_size - 1);
	return j;
}

/* Refill the table from the launches still in the ring. */
static void tab_rebuild(struct spill_plan *p)
{
	uint64_t i = p->count > p->hist_cap ? p->count - p->hist_cap : 0;

	memset(p->tab_idx, 0, p->tab_size * sizeof(*p->tab_idx));
	p->tab_used = 0;
	for (; i < p->count; i++) {
		uint64_t sig = rec(p, i)->sig, j = tab_slot(p, sig);

		if (!p->tab_idx[j])
			p->tab_used++;
		p->tab_sig[j] = sig;
		p->tab_idx[j] = i + 1;
	}
}

/* Link launch @n (already in the ring) to the previous one with its sig. */
static void link_launch(struct spill_plan *p, uint64_t n)
{
	struct launch_rec *r = rec(p, n);
	uint64_t j = tab_slot(p, r->sig);

	r->prev = NO_PREV;
	if (p->tab_idx[j]) {
		uint64_t last = p->tab_idx[j] - 1;

		if (n - last < p->hist_cap)
			r->prev = last;
	} else {
		p->tab_used++;
	}
	p->tab_sig[j] = r->sig;
	p->tab_idx[j] = n + 1;
	if (p->tab_used > p->tab_size / 2)
		tab_rebuild(p);
}

int spill_plan_record(struct spill_plan *p, uint64_t sig, const uint32_t *chunks, size_t n)
{
	struct launch_rec *r = rec(p, p->count);
	int result = 0, rc;

	if (n > r->cap) {
		uint32_t *grown = realloc(r->chunks, n * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		r->chunks = grown;
		r->cap = (uint32_t)n;
	}
	if (n)
		memcpy(r->chunks, chunks, n * sizeof(*chunks));
	r->n = (uint32_t)n;
	r->sig = sig;
	link_launch(p, p->count);
	p->count++;

	if (p->period) {
		uint64_t next = (p->cursor + 1) % p->period;

		if (p->sched_sig[next] == sig) {
			p->cursor = next;
			p->stats.predicted++;
			return 1;
		}
		p->stats.mispredicted++;
		drop_schedule(p);
		result = -1;
	}
	rc = detect(p);
	return rc ? rc : result;
}

uint64_t spill_plan_period(const struct spill_plan *p)
{
	return p->period;
}

uint64_t spill_plan_next_use(const struct spill_plan *p, uint64_t c)
{
	uint32_t lo, hi, first;

	if (!p->period || c >= p->nchunks)
		return SPILL_PLAN_NEVER;
	lo = first = p->use_off[c];
	hi = p->use_off[c + 1];
	if (lo == hi)
		return SPILL_PLAN_NEVER;
	/* first position > cursor */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->use_pos[mid] <= p->cursor)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->use_off[c + 1])
		return p->use_pos[lo] - p->cursor;
	return p->use_pos[first] + p->period - p->cursor;
}

size_t spill_plan_upcoming(const struct spill_plan *p, unsigned k, const uint32_t **chunks)
{
	uint64_t pos;

	if (!p->period || k == 0)
		return 0;
	pos = (p->cursor + k) % p->period;
	*chunks = p->sched_list + p->sched_off[pos];
	return p->sched_off[pos + 1] - p->sched_off[pos];
}

void spill_plan_get_stats(const struct spill_plan *p, struct spill_plan_stats *out)
{
	*out = p->stats;
}
