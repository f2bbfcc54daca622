/* pods/gpu/spill/spill_host.c — the host-memory spill backend: "device
 * memory" in this process, driven the way the CUDA VMM API drives a GPU.
 *
 * Concepts: the address range is an anonymous PROT_NONE MAP_NORESERVE
 * mapping; a physical chunk is a memfd of one chunk; mapping it is an
 * mmap(MAP_FIXED | MAP_SHARED) over the reservation and unmapping puts a
 * PROT_NONE anonymous mapping back, so the reservation never has holes
 * another mmap could take. An evicted address faults when touched, as a
 * GPU's would. Copies are memcpy. Not a mock: bytes really live in the
 * memfds and move with every eviction and refill.
 */
#include "spill.h"

#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct host_backend {
	struct spill_backend base;
	uint64_t granularity;
};

static struct host_backend *to_host_be(struct spill_backend *be)
{
	return (struct host_backend *)be;
}

static int host_granularity(struct spill_backend *be, uint64_t *bytes)
{
	*bytes = to_host_be(be)->granularity;
	return 0;
}

/* Reserve @size bytes aligned to the granularity, as cuMemAddressReserve
 * does: over-reserve by one granule and trim both ends. */
static int host_reserve(struct spill_backend *be, uint64_t size, uint64_t *va)
{
	uint64_t gran = to_host_be(be)->granularity, start, aligned;
	void *p = mmap(NULL, size + gran, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	start = (uint64_t)(uintptr_t)p;
	aligned = (start + gran - 1) & ~(gran - 1);
	if (aligned > start)
		munmap(p, aligned - start);
	if (start + size + gran > aligned + size)
		munmap((void *)(uintptr_t)(aligned + size), start + gran - aligned);
	*va = aligned;
	return 0;
}

static void host_unreserve(struct spill_backend *be, uint64_t va, uint64_t size)
{
	munmap((void *)(uintptr_t)va, size);
}

/* Out of file descriptors is this backend's "device full": -ENOMEM, as
 * cuMemCreate reports CUDA_ERROR_OUT_OF_MEMORY. */
static int host_create(struct spill_backend *be, uint64_t size, uint64_t *handle)
{
	int fd = memfd_create("poolvm-gpu-chunk", MFD_CLOEXEC);

	if (fd < 0)
		return errno == EMFILE || errno == ENFILE ? -ENOMEM : -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	*handle = (uint64_t)fd;
	return 0;
}

static void host_release(struct spill_backend *be, uint64_t handle)
{
	close((int)handle);
}

static int host_map(struct spill_backend *be, uint64_t va, uint64_t size, uint64_t handle)
{
	void *p = mmap((void *)(uintptr_t)va, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, (int)handle, 0);

	return p == MAP_FAILED ? -errno : 0;
}

static int host_unmap(struct spill_backend *be, uint64_t va, uint64_t size)
{
	void *p = mmap((void *)(uintptr_t)va, size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);

	return p == MAP_FAILED ? -errno : 0;
}

static int host_to_host(struct spill_backend *be, void *dst, uint64_t va, uint64_t size)
{
	memcpy(dst, (const void *)(uintptr_t)va, size);
	return 0;
}

static int host_to_device(struct spill_backend *be, uint64_t va, const void *src, uint64_t size)
{
	memcpy((void *)(uintptr_t)va, src, size);
	return 0;
}

static int host_device_copy(struct spill_backend *be, uint64_t dst, uint64_t src, uint64_t size)
{
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, size);
	return 0;
}

static int host_fill(struct spill_backend *be, uint64_t va, uint8_t byte, uint64_t size)
{
	memset((void *)(uintptr_t)va, byte, size);
	return 0;
}

static int host_sync(struct spill_backend *be)
{
	return 0;       /* nothing runs asynchronously */
}

static void host_close(struct spill_backend *be)
{
	free(to_host_be(be));
}

static const struct spill_backend_ops host_ops = {
	.size = sizeof(struct spill_backend_ops),
	.name = "host",
	.granularity = host_granularity,
	.reserve = host_reserve,
	.unreserve = host_unreserve,
	.create = host_create,
	.release = host_release,
	.map = host_map,
	.unmap = host_unmap,
	.to_host = host_to_host,
	.to_device = host_to_device,
	.device_copy = host_device_copy,
	.fill = host_fill,
	.sync = host_sync,
	.close = host_close,
};

int spill_host_backend_open(uint64_t granularity, struct spill_backend **out)
{
	struct host_backend *h;
	long page = sysconf(_SC_PAGESIZE);

	if (granularity < (uint64_t)page || (granularity & (granularity - 1))) {
		pvm_err("gpu spill: host backend granularity %llu must be a power of "
			"two of at least %ld bytes", (unsigned long long)granularity, page);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->base.ops = &host_ops;
	h->granularity = granularity;
	*out = &h->base;
	return 0;
}
