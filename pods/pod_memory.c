/* pods/pod_memory.c — the pod's memory: one mapping carved into slabs,
 * leases as first-fit runs of slabs, each registered under its own key.
 *
 * A freed lease's slabs are returned to the kernel (MADV_DONTNEED) so the
 * next client reads zeros, never the previous client's pages.
 */
#include "pod_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "common.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

#define POD_HUGE_PAGE (2ull << 20)

int pod_memory_map(struct pod *pod, uint64_t bytes, bool hugepages)
{
	char sz[32], slab[32];
	void *p = MAP_FAILED;
	size_t len;

	pod->nslabs = bytes / pod->slab_size;
	if (pod->nslabs == 0) {
		pvm_err("pod: --memory %s is smaller than one slab (%s)",
			pvm_format_size(bytes, sz, sizeof(sz)),
			pvm_format_size(pod->slab_size, slab, sizeof(slab)));
		return -EINVAL;
	}
	len = (size_t)(pod->nslabs * pod->slab_size);
	if (hugepages) {
		if (pod->slab_size % POD_HUGE_PAGE) {
			pvm_err("pod: --hugepages needs a slab size that is a multiple of 2 MiB");
			return -EINVAL;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
			 -1, 0);
		if (p == MAP_FAILED)
			pvm_err("pod: cannot map %s of 2 MiB huge pages (%s); using normal pages (reserve more in /proc/sys/vm/nr_hugepages)",
				pvm_format_size(len, sz, sizeof(sz)), strerror(errno));
		else
			pod->hugepages = true;
	}
	if (p == MAP_FAILED)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		pvm_err("pod: cannot map %s of memory: %s",
			pvm_format_size(len, sz, sizeof(sz)), strerror(errno));
		return -ENOMEM;
	}
	pod->slab_used = calloc(pod->nslabs, 1);
	if (!pod->slab_used) {
		munmap(p, len);
		return -ENOMEM;
	}
	pod->base = p;
	pod->map_len = len;
	pod->free_slabs = pod->nslabs;
	pod->next_lease_id = 1;
	return 0;
}

void pod_memory_unmap(struct pod *pod)
{
	while (pod->nleases)
		pod_lease_free(pod, pod->leases[pod->nleases - 1]);
	free(pod->leases);
	pod->leases = NULL;
	pod->leases_cap = 0;
	if (pod->base)
		munmap(pod->base, pod->map_len);
	pod->base = NULL;
	free(pod->slab_used);
	pod->slab_used = NULL;
}

uint64_t pod_mem_free(const struct pod *pod)
{
	return pod->free_slabs * pod->slab_size;
}

/* First fit: the lowest run of @n free slabs. Return its index or -1. */
static int64_t find_run(const struct pod *pod, uint64_t n)
{
	uint64_t run = 0;

	for (uint64_t i = 0; i < pod->nslabs; i++) {
		run = pod->slab_used[i] ? 0 : run + 1;
		if (run == n)
			return (int64_t)(i + 1 - n);
	}
	return -1;
}

static void mark(struct pod *pod, uint64_t first, uint64_t n, uint8_t used)
{
	memset(pod->slab_used + first, used, n);
	if (used)
		pod->free_slabs -= n;
	else
		pod->free_slabs += n;
}

/* A random key the provider accepts: below net's reserved range, not 0. */
static uint64_t random_key(void)
{
	uint64_t key;

	do {
		randombytes_buf(&key, sizeof(key));
		key &= 0x7fffffffffffffffull;
	} while (key == 0);
	return key;
}

/*
 * Return: 0 and *@out; -ENOSPC when no run of free slabs is large enough,
 * -ENOMEM, or the registration's error.
 */
int pod_lease_grant(struct pod *pod, struct pod_peer *owner, uint64_t bytes,
		    struct pod_lease_rec **out)
{
	struct pod_lease_rec *lease;
	uint64_t n;
	int64_t first;
	int ret = -EEXIST;

	*out = NULL;
	if (bytes == 0 || bytes > pod->nslabs * pod->slab_size)
		return -ENOSPC;
	n = (bytes + pod->slab_size - 1) / pod->slab_size;
	if (n > pod->free_slabs)
		return -ENOSPC;
	first = find_run(pod, n);
	if (first < 0)
		return -ENOSPC;
	if (pod->nleases == pod->leases_cap) {
		size_t cap = pod->leases_cap ? pod->leases_cap * 2 : 16;
		struct pod_lease_rec **l = realloc(pod->leases, cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		pod->leases = l;
		pod->leases_cap = cap;
	}
	lease = calloc(1, sizeof(*lease));
	if (!lease)
		return -ENOMEM;
	lease->id = pod->next_lease_id++;
	lease->size = bytes;
	lease->first_slab = (uint64_t)first;
	lease->nslabs = n;
	lease->owner = owner;
	/* Register exactly the bytes granted: the provider refuses RMA past
	 * them, so a lease never reaches its neighbour's slabs. */
	for (int tries = 0; tries < POD_KEY_TRIES && ret == -EEXIST; tries++)
		ret = net_mr_register_remote(pod->ep,
					     pod->base + lease->first_slab * pod->slab_size,
					     (size_t)bytes, random_key(), &lease->mr);
	if (ret) {
		free(lease);
		return ret;
	}
	lease->key = net_mr_key(lease->mr);
	lease->remote_addr = net_mr_remote_addr(lease->mr);
	mark(pod, lease->first_slab, n, 1);
	pod->leases[pod->nleases++] = lease;
	owner->leases++;
	owner->leased_bytes += bytes;
	*out = lease;
	return 0;
}

struct pod_lease_rec *pod_lease_find(struct pod *pod, uint64_t id)
{
	for (size_t i = 0; i < pod->nleases; i++)
		if (pod->leases[i]->id == id)
			return pod->leases[i];
	return NULL;
}

void pod_lease_free(struct pod *pod, struct pod_lease_rec *lease)
{
	uint8_t *start = pod->base + lease->first_slab * pod->slab_size;
	size_t len = (size_t)(lease->nslabs * pod->slab_size);

	/* Deregister first: from here on the key opens nothing. */
	net_mr_close(lease->mr);
	if (madvise(start, len, MADV_DONTNEED))
		memset(start, 0, len);
	mark(pod, lease->first_slab, lease->nslabs, 0);
	if (lease->owner) {
		lease->owner->leases--;
		lease->owner->leased_bytes -= lease->size;
	}
	for (size_t i = 0; i < pod->nleases; i++) {
		if (pod->leases[i] == lease) {
			pod->leases[i] = pod->leases[--pod->nleases];
			break;
		}
	}
	free(lease);
}

void pod_lease_free_all_of(struct pod *pod, struct pod_peer *owner)
{
	for (size_t i = pod->nleases; i-- > 0;) {
		if (i < pod->nleases && pod->leases[i]->owner == owner)
			pod_lease_free(pod, pod->leases[i]);
	}
}
