/* swap/pagedir.c — a two-level sparse directory with lock-free chunk fill. */
#include "pagedir.h"

#include <errno.h>
#include <stdlib.h>

#define CHUNK_SHIFT 9
#define CHUNK_PAGES (1ULL << CHUNK_SHIFT)

struct swap_pagedir {
	uint64_t pages;
	uint64_t nchunks;
	_Atomic uint64_t allocated;
	_Atomic(swap_pe_t *) *chunks;
};

int swap_pagedir_create(uint64_t page_count, struct swap_pagedir **out)
{
	struct swap_pagedir *dir;

	if (page_count == 0)
		return -EINVAL;
	dir = calloc(1, sizeof(*dir));
	if (!dir)
		return -ENOMEM;
	dir->pages = page_count;
	dir->nchunks = (page_count + CHUNK_PAGES - 1) >> CHUNK_SHIFT;
	dir->chunks = calloc(dir->nchunks, sizeof(*dir->chunks));
	if (!dir->chunks) {
		free(dir);
		return -ENOMEM;
	}
	*out = dir;
	return 0;
}

void swap_pagedir_destroy(struct swap_pagedir *dir)
{
	if (!dir)
		return;
	for (uint64_t i = 0; i < dir->nchunks; i++)
		free(atomic_load_explicit(&dir->chunks[i], memory_order_relaxed));
	free(dir->chunks);
	free(dir);
}

uint64_t swap_pagedir_pages(const struct swap_pagedir *dir)
{
	return dir->pages;
}

swap_pe_t *swap_pagedir_entry(struct swap_pagedir *dir, uint64_t page)
{
	uint64_t ci = page >> CHUNK_SHIFT;
	swap_pe_t *chunk, *fresh = NULL;

	if (page >= dir->pages)
		return NULL;
	chunk = atomic_load_explicit(&dir->chunks[ci], memory_order_acquire);
	if (!chunk) {
		fresh = calloc(CHUNK_PAGES, sizeof(*fresh));
		if (!fresh)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(&dir->chunks[ci], &chunk,
				fresh, memory_order_acq_rel, memory_order_acquire)) {
			chunk = fresh;
			atomic_fetch_add_explicit(&dir->allocated, 1, memory_order_relaxed);
		} else {
			free(fresh);  /* another thread won; chunk holds its pointer */
		}
	}
	return &chunk[page & (CHUNK_PAGES - 1)];
}

uint64_t swap_pagedir_peek(struct swap_pagedir *dir, uint64_t page)
{
	swap_pe_t *chunk;

	if (page >= dir->pages)
		return 0;
	chunk = atomic_load_explicit(&dir->chunks[page >> CHUNK_SHIFT], memory_order_acquire);
	if (!chunk)
		return 0;
	return atomic_load_explicit(&chunk[page & (CHUNK_PAGES - 1)], memory_order_acquire);
}

uint64_t swap_pagedir_chunks(const struct swap_pagedir *dir)
{
	return atomic_load_explicit(&dir->allocated, memory_order_relaxed);
}

uint64_t swap_pagedir_bytes(const struct swap_pagedir *dir)
{
	return sizeof(*dir) + dir->nchunks * sizeof(*dir->chunks) +
	       swap_pagedir_chunks(dir) * CHUNK_PAGES * sizeof(swap_pe_t);
}

void swap_pagedir_foreach(struct swap_pagedir *dir,
			  void (*fn)(void *ctx, uint64_t page, uint64_t entry),
			  void *ctx)
{
	for (uint64_t ci = 0; ci < dir->nchunks; ci++) {
		swap_pe_t *chunk = atomic_load_explicit(&dir->chunks[ci], memory_order_acquire);

		if (!chunk)
			continue;
		for (uint64_t i = 0; i < CHUNK_PAGES; i++) {
			uint64_t e = atomic_load_explicit(&chunk[i], memory_order_relaxed);
			uint64_t page = (ci << CHUNK_SHIFT) + i;

			if (e && page < dir->pages)
				fn(ctx, page, e);
		}
	}
}
