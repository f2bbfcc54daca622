/* vmm/qemu_wrapper.c — poolvm-qemu: the <emulator> of a pooled libvirt
 * domain. libvirt execs it exactly as it would exec qemu-system-x86_64.
 *
 * With no poolvm file for the domain named in "-name guest=NAME" (libvirt
 * probing capabilities, an ordinary domain) it execs the real QEMU with
 * the same arguments and nothing else. With one (written by the qemu hook
 * at "prepare", see libvirt_conf.h) it creates the attach socket, starts
 * the pager as a detached process that serves this very process, and then
 * execs the real QEMU with the preload library: libvirt's pid stays QEMU's
 * pid, and the pager ends when that pid does. It forks only before exec,
 * so QEMU's "-sandbox spawn=deny" does not concern it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.h"
#include "common.h"
#include "launch.h"
#include "libvirt_conf.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: poolvm-qemu QEMU-ARGS...\n"
"\n"
"poolvm's QEMU wrapper for libvirt. Name it as a domain's emulator:\n"
"  <devices><emulator>/usr/local/bin/poolvm-qemu</emulator>...\n"
"(the path next to poolvm; poolvm libvirt-install prints it)\n"
"and libvirt runs it with QEMU's arguments.\n"
"\n"
"When the domain named by '-name guest=NAME' has a poolvm configuration in\n"
POOLVM_LIBVIRT_RUNDIR "/NAME.json (written by poolvm's qemu hook from the\n"
"domain's <poolvm:pool> metadata), poolvm-qemu starts a pager for it, a\n"
"detached process that owns the guest's RAM and exits when QEMU does, and\n"
"then becomes the real QEMU (exec, same pid) with libpoolvm-preload.so\n"
"loaded. Otherwise it becomes the real QEMU untouched.\n"
"\n"
"The real QEMU is " POOLVM_LIBVIRT_QEMU ", or the pool element's qemu='FILE'.\n"
"Messages go to stderr, which libvirt writes to the domain's log\n"
"(/var/log/libvirt/qemu/NAME.log); so does the pager's summary at exit.\n"
"Statistics: " POOLVM_LIBVIRT_RUNDIR "/NAME/stats.json, or stats='FILE'.\n"
"See docs/libvirt.md.\n");
}

/* NAME from "-name guest=NAME,debug-threads=on" or "-name NAME", with
 * QEMU's ",," escaping undone. 0, or -ENOENT when there is no -name. */
static int domain_name(int argc, char **argv, char *out, size_t len)
{
	for (int i = 1; i + 1 < argc; i++) {
		const char *v = argv[i + 1], *p;
		size_t n = 0;

		if (strcmp(argv[i], "-name") != 0)
			continue;
		p = strncmp(v, "guest=", 6) == 0 ? v + 6 : v;
		for (; *p && n + 1 < len; p++) {
			if (*p == ',') {
				if (p[1] != ',')
					break;
				p++;
			}
			out[n++] = *p;
		}
		out[n] = '\0';
		return n ? 0 : -ENOENT;
	}
	return -ENOENT;
}

static int exec_qemu(const char *qemu, char **argv)
{
	argv[0] = (char *)qemu;
	execv(qemu, argv);
	fprintf(stderr, "poolvm-qemu: cannot run %s: %s (install qemu-system-x86, or set "
		"qemu='FILE' on the poolvm:pool element)\n", qemu, strerror(errno));
	return 127;
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	unlink(path);   /* a stale socket from a QEMU that was killed */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	chmod(path, 0600);
	return fd;
}

/* The detached pager: serves the QEMU that this process is about to become. */
static void run_pager(struct vmm_libvirt_conf *c, int listen_fd, int pidfd, pid_t qemu)
{
	struct vmm_launch_config cfg = {
		.mem_bytes = c->mem_bytes, .local_bytes = c->local_bytes,
		.tier_count = c->tier_count, .policy = c->policy, .prefetch = c->prefetch,
		.smp = c->smp, .name = c->name, .stats_json = c->stats_json, .spin_us = 50,
		.serve_only = true, .attach_listen_fd = 3, .qemu_pidfd = 4, .qemu_pid = qemu,
	};
	char sock[PATH_MAX];
	int null = open("/dev/null", O_RDWR);

	for (unsigned i = 0; i < c->tier_count; i++)
		cfg.tiers[i] = c->tiers[i];
	vmm_libvirt_path(sock, sizeof(sock), c->name, "/attach.sock");
	cfg.attach_path = sock;
	/* Keep stderr (the domain log), the socket and the pidfd; drop every
	 * descriptor libvirt gave QEMU (monitor, serial, disks). */
	if (null >= 0) {
		dup2(null, 0);
		dup2(2, 1);
	}
	if (dup2(listen_fd, 3) < 0 || dup2(pidfd, 4) < 0)
		_exit(1);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	fcntl(4, F_SETFD, FD_CLOEXEC);
	syscall(SYS_close_range, 5U, ~0U, 0U);
	signal(SIGPIPE, SIG_IGN);
	pvm_set_progname("poolvm-pager");
	_exit(vmm_launch_run(&cfg));
}

int main(int argc, char **argv)
{
	struct vmm_libvirt_conf c;
	char name[POOLVM_LIBVIRT_NAME_MAX + 2], path[PATH_MAX], sock[PATH_MAX];
	char preload[PATH_MAX], err[512], *pre;
	const char *old;
	int ret, listen_fd, pidfd, st;
	pid_t child, self = getpid();

	pvm_set_progname("poolvm-qemu");
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (domain_name(argc, argv, name, sizeof(name)) < 0 || !vmm_libvirt_name_ok(name) ||
	    vmm_libvirt_path(path, sizeof(path), name, ".json") < 0)
		return exec_qemu(POOLVM_LIBVIRT_QEMU, argv);
	ret = vmm_libvirt_conf_read(path, &c, err, sizeof(err));
	if (ret == -ENOENT)
		return exec_qemu(POOLVM_LIBVIRT_QEMU, argv);
	if (ret < 0) {
		pvm_err("domain %s: %s; not starting QEMU", name, ret == -EINVAL ? err : strerror(-ret));
		return 1;
	}
	if (strcmp(c.name, name) != 0) {
		pvm_err("%s names domain '%s', not '%s'; not starting QEMU", path, c.name, name);
		return 1;
	}
	if (vmm_find_preload(NULL, preload, sizeof(preload)) < 0)
		return 1;
	vmm_libvirt_path(sock, sizeof(sock), name, "/attach.sock");
	listen_fd = listen_at(sock);
	if (listen_fd < 0) {
		pvm_err("attach socket %s: %s; not starting QEMU", sock, strerror(-listen_fd));
		return 1;
	}
	pidfd = (int)syscall(SYS_pidfd_open, self, 0);
	if (pidfd < 0) {
		pvm_err("pidfd_open: %s (Linux 5.3 or later is needed); not starting QEMU",
			strerror(errno));
		return 1;
	}
	fflush(stderr);
	child = fork();
	if (child < 0) {
		pvm_err("fork: %s; not starting QEMU", strerror(errno));
		return 1;
	}
	if (child == 0) {
		/* Detach twice: a session of its own, and init (or the nearest
		 * subreaper) as parent, never QEMU, which does not reap. */
		setsid();
		if (fork() == 0)
			run_pager(&c, listen_fd, pidfd, self);
		_exit(0);
	}
	waitpid(child, &st, 0);
	close(listen_fd);
	close(pidfd);
	old = getenv("LD_PRELOAD");
	if (old && *old) {
		if (asprintf(&pre, "%s:%s", preload, old) < 0)
			return 1;
	} else {
		pre = preload;
	}
	setenv("LD_PRELOAD", pre, 1);
	setenv(PVM_ATTACH_ENV_SOCK, sock, 1);
	fprintf(stderr, "poolvm-qemu: domain %s: pager started, running %s with %s\n",
		name, c.qemu, preload);
	return exec_qemu(c.qemu, argv);
}
