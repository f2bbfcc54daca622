/* swap/uffd.c — thin, retrying wrappers around the userfaultfd ioctls. */
#include "uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* -EAGAIN means a non-cooperative event (UFFD_EVENT_REMOVE) is being
 * delivered and waits to be read. A fault thread that spun here forever could
 * be the reader that event needs, so retry briefly and hand -EAGAIN back. */
#define EAGAIN_RETRIES 256

static void backoff(unsigned tries)
{
	if (tries < 64) {
		sched_yield();
	} else {
		struct timespec ts = { 0, 20000 };

		nanosleep(&ts, NULL);
	}
}

static int open_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0)
		return fd;
	/* Where the syscall is refused (sysctl or seccomp), the device node
	 * (Linux 6.1+) grants the same thing to whoever may open it. */
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	int err = errno;

	close(dev);
	return fd >= 0 ? fd : -err;
}

int swap_uffd_create_registered(void *addr, size_t len, bool *wp_ok)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uint64_t)(uintptr_t)addr, .len = len },
	};
	int fd = open_uffd(), err;

	if (fd < 0)
		return fd;
	api.features = SWAP_UFFD_FEATURES_REQUIRED | SWAP_UFFD_FEATURES_WANTED;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		/* Retry on a fresh fd without the wanted-but-optional features:
		 * UFFDIO_API may be called once per fd. */
		close(fd);
		fd = open_uffd();
		if (fd < 0)
			return fd;
		api.api = UFFD_API;
		api.features = SWAP_UFFD_FEATURES_REQUIRED;
		if (ioctl(fd, UFFDIO_API, &api) < 0) {
			err = -errno;
			close(fd);
			return err;
		}
	}
	*wp_ok = (api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM) != 0;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING |
		   (*wp_ok ? UFFDIO_REGISTER_MODE_WP : 0);
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int swap_uffd_copy(int uffd, uint64_t dst, const void *src, size_t len, bool wp, bool wake)
{
	size_t done = 0;
	unsigned tries = 0;

	while (done < len) {
		struct uffdio_copy c = {
			.dst = dst + done,
			.src = (uint64_t)(uintptr_t)src + done,
			.len = len - done,
			.mode = (wp ? UFFDIO_COPY_MODE_WP : 0) |
				(wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE),
		};

		if (ioctl(uffd, UFFDIO_COPY, &c) == 0) {
			done += (size_t)c.copy;
			continue;
		}
		if (c.copy > 0)
			done += (size_t)c.copy;
		if (errno == EAGAIN && ++tries < EAGAIN_RETRIES) {
			backoff(tries);
			continue;
		}
		return -errno;
	}
	return 0;
}

int swap_uffd_zero(int uffd, uint64_t dst, size_t len, bool wake)
{
	size_t done = 0;
	unsigned tries = 0;

	while (done < len) {
		struct uffdio_zeropage z = {
			.range = { .start = dst + done, .len = len - done },
			.mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE,
		};

		if (ioctl(uffd, UFFDIO_ZEROPAGE, &z) == 0) {
			done += (size_t)z.zeropage;
			continue;
		}
		if (z.zeropage > 0)
			done += (size_t)z.zeropage;
		if (errno == EAGAIN && ++tries < EAGAIN_RETRIES) {
			backoff(tries);
			continue;
		}
		return -errno;
	}
	return 0;
}

int swap_uffd_protect(int uffd, uint64_t start, size_t len, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = start, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	unsigned tries = 0;

	while (ioctl(uffd, UFFDIO_WRITEPROTECT, &w) < 0) {
		if (errno == EAGAIN && ++tries < EAGAIN_RETRIES) {
			backoff(tries);
			continue;
		}
		return -errno;
	}
	return 0;
}

int swap_uffd_wake(int uffd, uint64_t start, size_t len)
{
	struct uffdio_range r = { .start = start, .len = len };

	return ioctl(uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
}
