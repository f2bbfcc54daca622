/* swap/tiers/slots.c — lowest-first slot allocator over a two-level bitmap. */
#include "slots.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BITS 64u

/* Words of free_words needed for @slots, rounded to whole summary words. */
static size_t words_for(uint64_t slots)
{
	uint64_t words = (slots + BITS - 1) / BITS;

	return (size_t)((words + BITS - 1) / BITS * BITS);
}

/* Make the bitmaps cover at least @slots slots. Lock held. */
static int slots_reserve_map(struct tier_slots *s, uint64_t slots)
{
	size_t want = words_for(slots), cap = words_for(s->limit);
	uint64_t *words, *summary;

	if (want <= s->nwords)
		return 0;
	/* Double to keep growth amortized, but never past the limit. */
	if (want < s->nwords * 2)
		want = s->nwords * 2;
	if (want > cap)
		want = cap;
	words = realloc(s->free_words, want * sizeof(*words));
	if (!words)
		return -ENOMEM;
	s->free_words = words;
	summary = realloc(s->summary, want / BITS * sizeof(*summary));
	if (!summary)
		return -ENOMEM;   /* free_words grew; harmless, nwords unchanged */
	s->summary = summary;
	memset(words + s->nwords, 0, (want - s->nwords) * sizeof(*words));
	memset(summary + s->nwords / BITS, 0,
	       (want - s->nwords) / BITS * sizeof(*summary));
	s->nwords = want;
	return 0;
}

int tier_slots_init(struct tier_slots *s, uint64_t limit, int prealloc)
{
	int rc;

	memset(s, 0, sizeof(*s));
	if (limit == 0)
		return -EINVAL;
	rc = pthread_mutex_init(&s->lock, NULL);
	if (rc)
		return -rc;
	s->limit = limit;
	if (prealloc) {
		rc = slots_reserve_map(s, limit);
		if (rc) {
			tier_slots_destroy(s);
			return rc;
		}
	}
	return 0;
}

void tier_slots_destroy(struct tier_slots *s)
{
	free(s->free_words);
	free(s->summary);
	s->free_words = NULL;
	s->summary = NULL;
	s->nwords = 0;
	if (s->limit)
		pthread_mutex_destroy(&s->lock);
	s->limit = 0;
}

/* Take the @want lowest free slots below high into @out. Lock held, and
 * the caller checked that at least @want are free. */
static void slots_take_free(struct tier_slots *s, uint64_t *out, uint64_t want)
{
	size_t k = s->search_from;
	uint64_t taken = 0;

	while (taken < want) {
		while (s->summary[k] == 0)
			k++;
		unsigned j = (unsigned)__builtin_ctzll(s->summary[k]);
		size_t w = k * BITS + j;
		uint64_t word = s->free_words[w];

		while (word && taken < want) {
			unsigned b = (unsigned)__builtin_ctzll(word);

			word &= word - 1;
			out[taken++] = (uint64_t)w * BITS + b;
		}
		s->free_words[w] = word;
		if (word == 0)
			s->summary[k] &= ~(1ULL << j);
	}
	s->search_from = k;
}

int tier_slots_alloc(struct tier_slots *s, uint64_t *out, size_t n,
		     tier_slots_grow_fn grow, void *ctx)
{
	uint64_t free_below, fresh, i;
	int rc = 0;

	if (n == 0)
		return 0;
	pthread_mutex_lock(&s->lock);
	if ((uint64_t)n > s->limit - s->used) {
		rc = -ENOSPC;
		goto out;
	}
	free_below = s->high - s->used;
	fresh = (uint64_t)n > free_below ? (uint64_t)n - free_below : 0;
	if (fresh) {
		/* used + n <= limit, so high + fresh <= limit too. */
		rc = slots_reserve_map(s, s->high + fresh);
		if (rc)
			goto out;
		if (grow) {
			rc = grow(ctx, s->high + fresh);
			if (rc)
				goto out;
		}
	}
	slots_take_free(s, out, (uint64_t)n - fresh);
	for (i = 0; i < fresh; i++)
		out[(uint64_t)n - fresh + i] = s->high + i;
	s->high += fresh;
	s->used += n;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

size_t tier_slots_release(struct tier_slots *s, const uint64_t *slots, size_t n)
{
	size_t skipped = 0, i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < n; i++) {
		uint64_t slot = slots[i];
		size_t w = (size_t)(slot / BITS), k = w / BITS;
		uint64_t bit = 1ULL << (slot % BITS);

		if (slot >= s->high || (s->free_words[w] & bit)) {
			skipped++;
			continue;
		}
		s->free_words[w] |= bit;
		s->summary[k] |= 1ULL << (w % BITS);
		if (k < s->search_from)
			s->search_from = k;
		s->used--;
	}
	pthread_mutex_unlock(&s->lock);
	return skipped;
}

uint64_t tier_slots_used(struct tier_slots *s)
{
	uint64_t used;

	pthread_mutex_lock(&s->lock);
	used = s->used;
	pthread_mutex_unlock(&s->lock);
	return used;
}
