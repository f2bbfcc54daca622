/* vmm/launch.c — QEMU supervision and the pager hand-over. */
#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "common.h"
#include "pager.h"
#include "tier.h"
#include "control.h"
#include "learned_model.h"
#include "trace.h"

#define ATTACH_TIMEOUT_MS 60000

struct launch {
	const struct vmm_launch_config *cfg;
	char rundir[200];
	char sock_path[PATH_MAX];
	char preload[PATH_MAX];
	struct swap_tier *tiers[VMM_MAX_TIERS];
	unsigned tier_count;
	struct swap_pager *pager;
	struct swap_region region;
	int listen_fd, conn_fd, sig_fd, fail_efd;
	int qemu_pidfd;                  /* serve_only: readable when QEMU is gone */
	pid_t qemu;
	int qemu_status;
	bool qemu_exited, terminating, killed_for_failure, conn_quiet;
	uint64_t t_start, t_attach;
	struct sim_trace_writer *trace;  /* --trace; writes under the policy lock */
	uint64_t trace_records;
	int trace_err;
	struct learned_model *model;     /* --policy-model */
	struct vmm_control *control;     /* control socket, --metrics */
};

/* The pager's access hook: one trace record per observed access. */
static void trace_access(void *ctx, uint64_t page, bool write, bool fault)
{
	struct launch *l = ctx;
	struct sim_trace_record rec = {
		.page = page, .time_us = pvm_now_ns() / 1000, .write = write,
		.kind = fault ? SIM_ACCESS_MISSING : SIM_ACCESS_WP,
	};
	int ret;

	if (l->trace_err)
		return;
	ret = sim_trace_writer_append(l->trace, &rec);
	if (ret < 0)
		l->trace_err = ret;    /* reported at exit; the guest runs on */
	else
		l->trace_records++;
}

static int trace_open(struct launch *l)
{
	int ret = sim_trace_writer_open(l->cfg->trace, pvm_now_ns() / 1000,
					sim_trace_have_zstd() ? SIM_TRACE_ZSTD : 0,
					&l->trace);

	if (ret < 0)
		pvm_err("--trace %s: %s", l->cfg->trace, strerror(-ret));
	return ret;
}

static void trace_close(struct launch *l)
{
	int ret;

	if (!l->trace)
		return;
	ret = sim_trace_writer_close(l->trace);
	l->trace = NULL;
	if (!ret)
		ret = l->trace_err;
	if (ret < 0)
		pvm_err("--trace %s: writing failed after %llu records: %s; the trace "
			"is incomplete", l->cfg->trace,
			(unsigned long long)l->trace_records, strerror(-ret));
	else if (!l->cfg->quiet)
		pvm_info("trace: %llu accesses recorded in %s",
			 (unsigned long long)l->trace_records, l->cfg->trace);
}

/* Hardware virtualization in the CPU flags. Some hosts expose a /dev/kvm
 * without it (e.g. the paravirtual "kvm-pvm" flavour), which cannot boot a
 * stock guest kernel: those get TCG. */
static bool cpu_has_hw_virt(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		found = strstr(line, " vmx") || strstr(line, " svm");
		break;
	}
	fclose(f);
	return found;
}

enum vmm_accel vmm_accel_resolve(enum vmm_accel want)
{
	int fd, ver;

	if (want != VMM_ACCEL_AUTO)
		return want;
	if (!cpu_has_hw_virt())
		return VMM_ACCEL_TCG;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return VMM_ACCEL_TCG;
	ver = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	return ver == KVM_API_VERSION ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
}

int vmm_find_preload(const char *explicit_path, char out[], size_t len)
{
	const char *env = getenv("POOLVM_PRELOAD");
	static const char *const rel[] = {
		"libpoolvm-preload.so", "preload/libpoolvm-preload.so",
		"../lib/poolvm/libpoolvm-preload.so", "../lib/libpoolvm-preload.so",
	};
	char exe[PATH_MAX], dir[PATH_MAX];
	ssize_t n;

	char real[PATH_MAX];

	if (explicit_path || env) {
		const char *p = explicit_path ? explicit_path : env;

		if (!realpath(p, real) || snprintf(out, len, "%s", real) >= (int)len) {
			pvm_err("preload library %s: %s", p, strerror(errno));
			return -ENOENT;
		}
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	snprintf(dir, sizeof(dir), "%s", dirname(exe));
	for (size_t i = 0; i < PVM_ARRAY_SIZE(rel); i++) {
		char cand[PATH_MAX * 2];

		snprintf(cand, sizeof(cand), "%s/%s", dir, rel[i]);
		if (access(cand, R_OK) == 0 && realpath(cand, real) &&
		    snprintf(out, len, "%s", real) < (int)len)
			return 0;
	}
#ifdef POOLVM_PRELOAD_DIR
	/* Installed: where meson install put it (PREFIX/LIBDIR/poolvm). */
	if (access(POOLVM_PRELOAD_DIR "/libpoolvm-preload.so", R_OK) == 0 &&
	    realpath(POOLVM_PRELOAD_DIR "/libpoolvm-preload.so", real) &&
	    snprintf(out, len, "%s", real) < (int)len)
		return 0;
#endif
	pvm_err("cannot find libpoolvm-preload.so next to %s%s; set POOLVM_PRELOAD", exe,
#ifdef POOLVM_PRELOAD_DIR
		" or in " POOLVM_PRELOAD_DIR
#else
		""
#endif
		);
	return -ENOENT;
}

static int find_preload(struct launch *l)
{
	return vmm_find_preload(l->cfg->preload, l->preload, sizeof(l->preload));
}

static int make_socket(struct launch *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *base = getenv("POOLVM_RUNDIR");

	snprintf(l->rundir, sizeof(l->rundir), "%s/poolvm.XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(l->rundir)) {
		pvm_err("cannot create a runtime directory under %s: %s",
			base ? base : "/tmp", strerror(errno));
		l->rundir[0] = '\0';
		return -errno;
	}
	snprintf(l->sock_path, sizeof(l->sock_path), "%s/attach.sock", l->rundir);
	if (strlen(l->sock_path) >= sizeof(sa.sun_path)) {
		pvm_err("runtime path %s is too long for a UNIX socket", l->sock_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, l->sock_path);
	l->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->listen_fd < 0 ||
	    bind(l->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l->listen_fd, 4) < 0) {
		pvm_err("attach socket %s: %s", l->sock_path, strerror(errno));
		return -errno;
	}
	return 0;
}

static void push(char **argv, int *argc, const char *s)
{
	argv[(*argc)++] = (char *)s;
}

/* Build QEMU's argv. Strings are leaked on purpose: the child execs. */
static char **qemu_argv(const struct vmm_launch_config *c)
{
	int max = 64 + 2 * (int)c->disk_count + c->qemu_extra_count, n = 0;
	char **argv = calloc((size_t)max, sizeof(*argv));
	enum vmm_accel accel = vmm_accel_resolve(c->accel);
	unsigned long long mib = (unsigned long long)(c->mem_bytes >> 20);

	if (!argv)
		return NULL;
	push(argv, &n, c->qemu ? c->qemu : "qemu-system-x86_64");
	push(argv, &n, "-name");
	push(argv, &n, pvm_asprintf("guest=%s,debug-threads=on", c->name ? c->name : "poolvm"));
	push(argv, &n, "-machine");
	push(argv, &n, "pc,memory-backend=pvm-ram");
	push(argv, &n, "-accel");
	push(argv, &n, accel == VMM_ACCEL_KVM ? "kvm" : "tcg");
	push(argv, &n, "-cpu");
	push(argv, &n, c->cpu ? c->cpu : accel == VMM_ACCEL_KVM ? "host" : "max,-avx2");
	push(argv, &n, "-object");
	push(argv, &n, pvm_asprintf("memory-backend-memfd,id=pvm-ram,size=%lluM,share=on", mib));
	push(argv, &n, "-m");
	push(argv, &n, pvm_asprintf("%lluM", mib));
	push(argv, &n, "-smp");
	push(argv, &n, pvm_asprintf("%u", c->smp ? c->smp : 1));
	push(argv, &n, "-nodefaults");
	push(argv, &n, "-no-user-config");
	push(argv, &n, "-display");
	push(argv, &n, "none");
	push(argv, &n, "-serial");
	push(argv, &n, "stdio");
	if (c->kernel) {
		push(argv, &n, "-kernel");
		push(argv, &n, c->kernel);
	}
	if (c->initrd) {
		push(argv, &n, "-initrd");
		push(argv, &n, c->initrd);
	}
	if (c->append) {
		push(argv, &n, "-append");
		push(argv, &n, c->append);
	}
	/* Never cache=none (O_DIRECT): the host kernel would pin guest pages
	 * and DMA into them, which write protection cannot stop; a page
	 * evicted meanwhile (protected, copied out, hole punched) loses what
	 * the DMA wrote, and the guest later reads the stale copy. Buffered
	 * I/O writes guest RAM with CPU copies that fault like any access. */
	for (unsigned i = 0; i < c->disk_count; i++) {
		push(argv, &n, "-drive");
		push(argv, &n, pvm_asprintf("file=%s,if=virtio,format=raw,cache=writeback,aio=threads",
					 c->disks[i]));
	}
	if (c->qmp) {
		push(argv, &n, "-qmp");
		push(argv, &n, pvm_asprintf("unix:%s,server=on,wait=off", c->qmp));
	}
	if (c->balloon) {
		push(argv, &n, "-device");
		push(argv, &n, "virtio-balloon-pci,free-page-reporting=on");
	}
	for (int i = 0; i < c->qemu_extra_count; i++)
		push(argv, &n, c->qemu_extra[i]);
	argv[n] = NULL;
	return argv;
}

static int start_qemu(struct launch *l, const sigset_t *oldmask)
{
	char **argv = qemu_argv(l->cfg);
	pid_t pid;

	if (!argv)
		return -ENOMEM;
	if (!l->cfg->quiet) {
		fprintf(stderr, "poolvm: starting");
		for (char **a = argv; *a; a++)
			fprintf(stderr, " %s", *a);
		fprintf(stderr, "\n");
	}
	pid = fork();
	if (pid < 0) {
		pvm_err("fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		const char *old = getenv("LD_PRELOAD");
		char *pre = old && *old ? pvm_asprintf("%s:%s", l->preload, old) : l->preload;

		sigprocmask(SIG_SETMASK, oldmask, NULL);
		setenv("LD_PRELOAD", pre, 1);
		setenv(PVM_ATTACH_ENV_SOCK, l->sock_path, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "poolvm: cannot run %s: %s (install qemu-system-x86)\n",
			argv[0], strerror(errno));
		_exit(127);
	}
	l->qemu = pid;
	return 0;
}

static void on_pager_fail(void *ctx, const char *why)
{
	struct launch *l = ctx;
	uint64_t one = 1;

	(void)why;
	if (write(l->fail_efd, &one, sizeof(one)) < 0) {
		/* the main loop also polls swap_pager_failed() */
	}
}

static void reply(int fd, int status, const char *msg)
{
	struct pvm_attach_reply r = {
		.magic = PVM_ATTACH_MAGIC, .version = PVM_ATTACH_VERSION,
		.type = PVM_ATTACH_REPLY, .status = status,
	};

	snprintf(r.message, sizeof(r.message), "%s", msg);
	if (send(fd, &r, sizeof(r), MSG_NOSIGNAL) < 0)
		pvm_err("replying to QEMU's preload library: %s", strerror(errno));
}

static int receive_region(struct launch *l)
{
	struct pvm_attach_region msg;
	struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	int fds[4], nfds = 0, ret;
	ssize_t n;
	struct swap_pager_config pc = { 0 };

	n = recvmsg(l->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	if (n <= 0)
		return n == 0 ? -ECONNRESET : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k && nfds < 4; i++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
	if ((size_t)n != sizeof(msg) || msg.magic != PVM_ATTACH_MAGIC ||
	    msg.version != PVM_ATTACH_VERSION || msg.type != PVM_ATTACH_REGION || nfds != 2) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		reply(l->conn_fd, -EPROTO, "malformed attach message");
		pvm_err("malformed attach message from QEMU's preload library");
		return -EPROTO;
	}
	if (l->pager) {
		close(fds[0]);
		close(fds[1]);
		reply(l->conn_fd, -EBUSY, "this poolvm already pages one guest RAM region");
		pvm_err("QEMU mapped a second guest RAM region; only one is supported");
		return -EBUSY;
	}
	l->region = (struct swap_region){
		.base = msg.base, .size = msg.size, .memfd_offset = msg.memfd_offset,
		.uffd = fds[0], .memfd = fds[1], .wp_ok = msg.flags & PVM_ATTACH_F_WP,
	};
	pc.local_bytes = l->cfg->local_bytes;
	pc.policy = l->cfg->policy;
	pc.policy_model = l->model;
	pc.prefetch = l->cfg->prefetch;
	pc.tiers = l->tiers;
	pc.tier_count = l->tier_count;
	/* One fault thread per vCPU by default (up to 8): a vCPU waits on one
	 * fault at a time, and on a small host an idle second thread only
	 * polls beside the one that works (random at 25 % local, 1 vCPU, 2
	 * cores: 11-12 s with one thread, 14-16 s with two). */
	pc.fault_threads = l->cfg->fault_threads ? l->cfg->fault_threads :
			   PVM_MIN(PVM_MAX(l->cfg->smp, 1u), 8u);
	pc.track_writes = !l->cfg->no_recency;
	pc.spin_us = l->cfg->spin_us;
	pc.on_fail = on_pager_fail;
	pc.on_fail_ctx = l;
	if (l->trace) {
		pc.on_access = trace_access;
		pc.on_access_ctx = l;
	}
	ret = swap_pager_create(&pc, &l->region, &l->pager);
	if (ret == 0) {
		ret = swap_pager_start(l->pager);
		if (ret < 0) {
			swap_pager_destroy(l->pager);
			l->pager = NULL;
		}
	}
	if (ret < 0) {
		close(fds[0]);
		close(fds[1]);
		reply(l->conn_fd, ret, "the pager could not start (see poolvm's messages)");
		return ret;
	}
	reply(l->conn_fd, 0, "ok");
	vmm_control_attach(l->control, l->pager, (int)msg.pid);
	l->t_attach = pvm_now_ns();
	if (!l->cfg->quiet) {
		char a[32], b[32];

		pvm_info("pager attached to QEMU %u: %s guest RAM, %s kept resident, %u tier(s)",
			 msg.pid, pvm_format_size(msg.size, a, sizeof(a)),
			 pvm_format_size(l->cfg->local_bytes ? l->cfg->local_bytes : msg.size, b, sizeof(b)),
			 l->tier_count);
	}
	return 0;
}

static void write_stats(struct launch *l, int exit_code)
{
	json_object *o = json_object_new_object();
	uint64_t now = pvm_now_ns();

	json_object_object_add(o, "exit_code", json_object_new_int(exit_code));
	if (l->qemu_exited && !l->cfg->serve_only) {
		if (WIFEXITED(l->qemu_status))
			json_object_object_add(o, "qemu_exit_status", json_object_new_int(WEXITSTATUS(l->qemu_status)));
		else if (WIFSIGNALED(l->qemu_status))
			json_object_object_add(o, "qemu_signal", json_object_new_int(WTERMSIG(l->qemu_status)));
	}
	json_object_object_add(o, "elapsed_s", json_object_new_double((double)(now - l->t_start) / 1e9));
	if (l->t_attach)
		json_object_object_add(o, "attached_s", json_object_new_double((double)(now - l->t_attach) / 1e9));
	json_object_object_add(o, "mem_bytes", json_object_new_uint64(l->cfg->mem_bytes));
	json_object_object_add(o, "local_bytes", json_object_new_uint64(l->cfg->local_bytes));
	if (l->pager)
		json_object_object_add(o, "pager", swap_pager_stats_json(l->pager));
	if (json_object_to_file_ext(l->cfg->stats_json, o, JSON_C_TO_STRING_PRETTY) < 0)
		pvm_err("writing stats to %s: %s", l->cfg->stats_json, json_util_get_last_err());
	json_object_put(o);
}

static void print_summary(struct launch *l)
{
	struct swap_pager_stats s;
	char a[32], b[32];

	if (!l->pager || l->cfg->quiet)
		return;
	swap_pager_stats(l->pager, &s);
	pvm_info("summary: %llu faults (%llu zero-filled, %llu from tiers, %llu pages prefetched), "
		 "%llu write-protect faults",
		 (unsigned long long)s.faults, (unsigned long long)s.zero_fills,
		 (unsigned long long)s.refaults, (unsigned long long)s.prefetched,
		 (unsigned long long)s.wp_faults);
	pvm_info("summary: %llu pages evicted (%llu written, %llu clean, %llu zero), "
		 "%llu discarded by QEMU; peak resident %s of %s allowed",
		 (unsigned long long)s.evictions, (unsigned long long)s.writebacks,
		 (unsigned long long)s.clean_drops, (unsigned long long)s.zero_drops,
		 (unsigned long long)s.discards,
		 pvm_format_size(s.resident_peak << 12, a, sizeof(a)),
		 pvm_format_size(s.limit_pages << 12, b, sizeof(b)));
	pvm_info("summary: fault service p50 %.1f us, p99 %.1f us",
		 swap_lat_percentile_us(s.fault_lat_us, SWAP_LAT_BUCKETS, 50),
		 swap_lat_percentile_us(s.fault_lat_us, SWAP_LAT_BUCKETS, 99));
}

static void cleanup(struct launch *l)
{
	vmm_control_stop(l->control);   /* before the pager goes */
	l->control = NULL;
	if (l->pager) {
		swap_pager_stop(l->pager);
	}
	if (l->conn_fd >= 0)
		close(l->conn_fd);
	if (l->listen_fd >= 0)
		close(l->listen_fd);
	if (l->sig_fd >= 0)
		close(l->sig_fd);
	if (l->fail_efd >= 0)
		close(l->fail_efd);
	if (l->qemu_pidfd >= 0)
		close(l->qemu_pidfd);
	if (l->sock_path[0])
		unlink(l->sock_path);
	if (l->rundir[0])
		rmdir(l->rundir);
}

static void finish(struct launch *l)
{
	swap_pager_destroy(l->pager);
	l->pager = NULL;
	if (l->region.uffd > 0)
		close(l->region.uffd);
	if (l->region.memfd > 0)
		close(l->region.memfd);
	for (unsigned i = 0; i < l->tier_count; i++)
		swap_tier_close(l->tiers[i]);   /* frees tier space */
}

static void handle_signal(struct launch *l)
{
	struct signalfd_siginfo si;

	while (read(l->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			int st;
			pid_t r;

			while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
				if (r == l->qemu) {
					l->qemu_exited = true;
					l->qemu_status = st;
				}
			}
			continue;
		}
		/* SIGTERM, SIGINT, SIGHUP: ask QEMU to shut down, then insist. */
		if (!l->terminating) {
			pvm_info("%s received: asking QEMU to shut down (send again to kill it)",
				 strsignal((int)si.ssi_signo));
			l->terminating = true;
			if (l->qemu > 0)
				kill(l->qemu, SIGTERM);
		} else if (l->qemu > 0) {
			kill(l->qemu, SIGKILL);
		}
	}
}

int vmm_launch_run(const struct vmm_launch_config *cfg)
{
	struct launch l = {
		.cfg = cfg, .listen_fd = -1, .conn_fd = -1, .sig_fd = -1, .fail_efd = -1,
		.qemu_pidfd = -1, .region = { .uffd = -1, .memfd = -1 },
	};
	sigset_t mask, oldmask;
	int exit_code = 1, ret;

	pvm_set_quiet(cfg->quiet);
	l.t_start = pvm_now_ns();
	/* Block the signals we take through signalfd before any thread exists
	 * (tiers and the pager start threads), so none of them can take one. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	if (cfg->serve_only) {
		/* The socket and the pidfd are ours from here on: closed and
		 * unlinked at the end, even when a tier fails to open (QEMU's
		 * preload library then finds nobody and QEMU stops). */
		l.listen_fd = cfg->attach_listen_fd;
		l.qemu_pidfd = cfg->qemu_pidfd;
		l.qemu = cfg->qemu_pid;
		snprintf(l.sock_path, sizeof(l.sock_path), "%s", cfg->attach_path);
	}
	for (unsigned i = 0; i < cfg->tier_count; i++) {
		ret = swap_tier_open(cfg->tiers[i], &l.tiers[i]);
		if (ret < 0)
			goto out;   /* the tier said what was wrong */
		l.tier_count++;
	}
	if (!cfg->serve_only && (find_preload(&l) < 0 || make_socket(&l) < 0))
		goto out;
	if (cfg->trace && trace_open(&l) < 0)
		goto out;
	if (cfg->policy_model) {
		char err[512];

		l.model = malloc(sizeof(*l.model));
		if (!l.model || lm_load(cfg->policy_model, l.model, err, sizeof(err)) < 0) {
			pvm_err("--policy-model: %s", l.model ? err : "out of memory");
			goto out;
		}
	}

	l.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	l.fail_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l.sig_fd < 0 || l.fail_efd < 0) {
		pvm_err("signalfd/eventfd: %s", strerror(errno));
		goto out;
	}
	if (vmm_control_start(cfg->name ? cfg->name : "poolvm", cfg->metrics, cfg->mem_bytes,
			      cfg->local_bytes, &l.control) < 0)
		goto out;
	if (!cfg->serve_only && start_qemu(&l, &oldmask) < 0)
		goto out;

	while (!l.qemu_exited) {
		struct pollfd pfd[4] = {
			{ .fd = l.sig_fd, .events = POLLIN },
			{ .fd = l.fail_efd, .events = POLLIN },
			{ .fd = l.conn_quiet ? -1 : l.conn_fd >= 0 ? l.conn_fd : l.listen_fd,
			  .events = POLLIN },
			{ .fd = l.qemu_pidfd, .events = POLLIN },
		};
		int timeout = l.pager ? -1 : 1000;
		int r = poll(pfd, 4, timeout);

		if (r < 0 && errno != EINTR) {
			pvm_err("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			handle_signal(&l);
		if (pfd[3].revents) {
			/* serve_only: not our child, so no status to collect */
			l.qemu_exited = true;
			l.qemu_status = -1;
		}
		if (pfd[1].revents && !l.killed_for_failure) {
			l.killed_for_failure = true;
			pvm_err("stopping the guest: %s", swap_pager_failed(l.pager));
			kill(l.qemu, SIGKILL);
		}
		if (pfd[2].revents && l.conn_fd < 0) {
			l.conn_fd = accept4(l.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		} else if (pfd[2].revents && l.conn_fd >= 0) {
			if (l.pager) {
				/* The library says nothing after attaching; EOF or a
				 * hang-up means QEMU is exiting, which SIGCHLD reports.
				 * Stop polling the socket so the loop does not spin. */
				char b;

				if ((pfd[2].revents & (POLLHUP | POLLERR)) ||
				    recv(l.conn_fd, &b, 1, MSG_DONTWAIT) <= 0)
					l.conn_quiet = true;
			} else if (receive_region(&l) < 0) {
				kill(l.qemu, SIGKILL);
			}
		}
		if (!l.pager && !l.qemu_exited &&
		    pvm_now_ns() - l.t_start > (uint64_t)ATTACH_TIMEOUT_MS * 1000000ULL) {
			pvm_err("QEMU did not hand over its guest RAM within %d s "
				"(is the memory backend a shared memfd?); stopping it",
				ATTACH_TIMEOUT_MS / 1000);
			kill(l.qemu, SIGKILL);
			l.terminating = true;
		}
	}

	if (l.killed_for_failure) {
		exit_code = 3;
	} else if (cfg->serve_only) {
		exit_code = l.pager ? 0 : 1;
		if (l.pager)
			pvm_info("QEMU %d exited", (int)l.qemu);
		else
			pvm_err("QEMU %d exited before handing over its guest RAM", (int)l.qemu);
	} else if (WIFEXITED(l.qemu_status)) {
		exit_code = WEXITSTATUS(l.qemu_status);
		if (!l.pager && exit_code == 0)
			exit_code = 1;
		if (!l.pager)
			pvm_err("QEMU exited (status %d) before handing over its guest RAM",
				WEXITSTATUS(l.qemu_status));
		else
			pvm_info("QEMU exited with status %d", exit_code);
	} else if (WIFSIGNALED(l.qemu_status)) {
		int sig = WTERMSIG(l.qemu_status);

		exit_code = l.terminating && sig == SIGTERM ? 0 : 128 + sig;
		pvm_info("QEMU ended by signal %d (%s)", sig, strsignal(sig));
	}
	if (l.terminating && exit_code != 3 && l.pager)
		exit_code = 0;
	if (l.pager) {
		swap_pager_stop(l.pager);
		print_summary(&l);
	}
	if (cfg->stats_json)
		write_stats(&l, exit_code);
out:
	cleanup(&l);
	finish(&l);
	trace_close(&l);
	free(l.model);
	return exit_code;
}
