/* swap/uffd.h — userfaultfd operations on guest RAM, as the pager uses them.
 *
 * Concepts: the uffd was created inside QEMU (or inside a test) and
 * registered over guest RAM with MISSING and WP modes; these calls act on
 * QEMU's address space from the pager's process. Addresses are in the
 * registering process's address space. Every call returns 0 or -errno. The
 * kernel's transient -EAGAIN (a non-cooperative event such as
 * UFFD_EVENT_REMOVE waits to be read) is retried briefly, then returned: a
 * caller that reads the uffd must go and read it; others retry later.
 */
#ifndef POOLVM_SWAP_UFFD_H
#define POOLVM_SWAP_UFFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/userfaultfd.h>

/* Features the pager asks for; MISSING_SHMEM and WP_HUGETLBFS_SHMEM are
 * needed for memfd guest RAM, EVENT_REMOVE to see QEMU's discards. */
#define SWAP_UFFD_FEATURES_REQUIRED  (UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_EVENT_REMOVE)
#define SWAP_UFFD_FEATURES_WANTED    (UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_PAGEFAULT_FLAG_WP)

/**
 * swap_uffd_create_registered() - create a userfaultfd in this process and
 * register [@addr, @addr+@len) with MISSING|WP, asking for the features
 * above. Used by the preloaded library inside QEMU and by tests.
 * Return: the uffd (>= 0, O_CLOEXEC|O_NONBLOCK) or -errno (-ENOTSUP when
 * the kernel lacks shmem write-protect support: then @wp_ok is false and the
 * range is registered MISSING only).
 */
int swap_uffd_create_registered(void *addr, size_t len, bool *wp_ok);

/** swap_uffd_copy() - install @len bytes from @src at @dst; @wp: write-protected. */
int swap_uffd_copy(int uffd, uint64_t dst, const void *src, size_t len, bool wp, bool wake);
/** swap_uffd_zero() - install zero pages over [@dst, @dst+@len). */
int swap_uffd_zero(int uffd, uint64_t dst, size_t len, bool wake);
/** swap_uffd_protect() - set (@wp true) or clear write protection; clearing wakes. */
int swap_uffd_protect(int uffd, uint64_t start, size_t len, bool wp);
/** swap_uffd_wake() - wake threads waiting on faults in the range. */
int swap_uffd_wake(int uffd, uint64_t start, size_t len);

#endif
