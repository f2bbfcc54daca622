/* vmm/preload/preload.c — libpoolvm-preload.so, loaded into a stock QEMU.
 *
 * Mechanism only, no policy: when QEMU maps a shared memfd whose name
 * matches POOLVM_ATTACH_MATCH (default "memory-backend-memfd"), register a
 * userfaultfd over the mapping and hand it, with the memfd, to the pager at
 * POOLVM_ATTACH_SOCK. The library keeps its own reference to the uffd: if the
 * pager dies, faults stay blocked instead of the kernel filling zero pages,
 * and a watcher thread stops QEMU with a message (fail-stop). It never forks
 * or execs, so it runs under libvirt's "-sandbox spawn=deny".
 */
/* Define mmap and mmap64 as two symbols: no off_t redirection here. */
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "../attach.h"
#include "uffd.h"

#define EXPORT __attribute__((visibility("default")))
#define MIN_REGION (2UL << 20)
#define PVM_MIN_LEN(a, b) ((a) < (b) ? (a) : (b))

static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static int pager_sock = -1;
static bool watcher_started;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof(line), "poolvm-preload[%d]: ", (int)getpid());

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	strncat(line, "\n", sizeof(line) - strlen(line) - 1);
	if (write(2, line, strlen(line)) < 0) {
		/* nowhere else to report it */
	}
}

static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static bool is_guest_ram(int fd, char *name, size_t namelen)
{
	char path[64], link[256];
	const char *match = getenv(PVM_ATTACH_ENV_MATCH);
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	if (strncmp(link, "/memfd:", 7) != 0)
		return false;
	if (!match || !*match)
		match = PVM_ATTACH_DEFAULT_MATCH;
	if (!strstr(link + 7, match))
		return false;
	size_t k = strlen(link + 7);

	if (k >= namelen)
		k = namelen - 1;
	memcpy(name, link + 7, k);
	name[k] = '\0';
	return true;
}

static void *watch_pager(void *arg)
{
	char byte;

	(void)arg;
	for (;;) {
		ssize_t n = read(pager_sock, &byte, 1);

		if (n > 0)
			continue;   /* the pager sends nothing today; ignore */
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	say("the pager serving this guest's memory is gone; stopping QEMU so "
	    "the guest never runs on a page it cannot get back");
	kill(getpid(), SIGKILL);
	return NULL;
}

static int connect_pager(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int send_region(int sock, const struct pvm_attach_region *msg, int uffd, int memfd)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = sizeof(*msg) };
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	int fds[2] = { uffd, memfd };

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static int recv_reply(int sock, struct pvm_attach_reply *reply)
{
	size_t got = 0;

	while (got < sizeof(*reply)) {
		ssize_t n = read(sock, (char *)reply + got, sizeof(*reply) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		got += (size_t)n;
	}
	if (reply->magic != PVM_ATTACH_MAGIC || reply->type != PVM_ATTACH_REPLY)
		return -EPROTO;
	reply->message[sizeof(reply->message) - 1] = '\0';
	return 0;
}

static int attach(void *addr, size_t len, int memfd, off_t off, const char *name)
{
	const char *path = getenv(PVM_ATTACH_ENV_SOCK);
	struct pvm_attach_region msg = {
		.magic = PVM_ATTACH_MAGIC, .version = PVM_ATTACH_VERSION,
		.type = PVM_ATTACH_REGION, .base = (uint64_t)(uintptr_t)addr,
		.size = len, .memfd_offset = (uint64_t)off, .pid = (uint32_t)getpid(),
	};
	struct pvm_attach_reply reply;
	bool wp_ok = false;
	int uffd, ret;

	memcpy(msg.memfd_name, name, PVM_MIN_LEN(strlen(name), sizeof(msg.memfd_name) - 1));
	uffd = swap_uffd_create_registered(addr, len, &wp_ok);
	if (uffd < 0) {
		say("cannot create a userfaultfd for guest RAM: %s "
		    "(root, or vm.unprivileged_userfaultfd=1, or access to /dev/userfaultfd is needed)",
		    strerror(-uffd));
		return uffd;
	}
	msg.flags = wp_ok ? PVM_ATTACH_F_WP : 0;
	if (pager_sock < 0) {
		pager_sock = connect_pager(path);
		if (pager_sock < 0) {
			ret = pager_sock;
			pager_sock = -1;
			say("cannot reach the pager at %s: %s", path, strerror(-ret));
			close(uffd);
			return ret;
		}
	}
	ret = send_region(pager_sock, &msg, uffd, memfd);
	if (ret == 0)
		ret = recv_reply(pager_sock, &reply);
	if (ret < 0) {
		say("talking to the pager at %s failed: %s", path, strerror(-ret));
		close(uffd);
		return ret;
	}
	if (reply.status != 0) {
		say("the pager refused guest RAM: %s", reply.message);
		close(uffd);
		return reply.status;
	}
	/* Keep uffd open on purpose: see the comment at the top. */
	if (!watcher_started) {
		pthread_t tid;
		pthread_attr_t attr;
		sigset_t all, old;

		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 64 * 1024);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		ret = pthread_create(&tid, &attr, watch_pager, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
		if (ret) {
			say("cannot start the pager watcher thread: %s", strerror(ret));
			return -ret;
		}
		watcher_started = true;
	}
	return 0;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *ret = raw_mmap(addr, len, prot, flags, fd, off);
	char name[64];
	int err;

	if (ret == MAP_FAILED || fd < 0 || !(flags & MAP_SHARED) || len < MIN_REGION ||
	    !getenv(PVM_ATTACH_ENV_SOCK) || !is_guest_ram(fd, name, sizeof(name)))
		return ret;
	pthread_mutex_lock(&attach_lock);
	err = attach(ret, len, fd, off, name);
	pthread_mutex_unlock(&attach_lock);
	if (err < 0) {
		/* QEMU reports the failed mapping and exits: no guest runs
		 * on memory nobody pages. */
		munmap(ret, len);
		errno = -err;
		return MAP_FAILED;
	}
	return ret;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}
