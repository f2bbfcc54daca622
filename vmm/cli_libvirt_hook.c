/* vmm/cli_libvirt_hook.c — "poolvm libvirt-hook" (what libvirt's qemu hook
 * runs) and "poolvm libvirt-install" (which installs that hook). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "ctl_server.h"
#include "libvirt_conf.h"

#define HOOK_NAME "poolvm"
#define POOLVM_LIBVIRT_LOGDIR "/var/log/libvirt/qemu"

static void hook_usage(FILE *f)
{
	fprintf(f,
"Usage: poolvm libvirt-hook DOMAIN OPERATION SUB-OPERATION EXTRA < DOMAIN-XML\n"
"\n"
"libvirt's qemu hook for pooled domains; libvirt runs it (through the script\n"
"'poolvm libvirt-install' puts in /etc/libvirt/hooks/qemu.d/) with the\n"
"domain XML on stdin. Not meant to be run by hand.\n"
"\n"
"  prepare   validates the domain's <poolvm:pool> metadata element and writes\n"
"            " POOLVM_LIBVIRT_RUNDIR "/DOMAIN.json for poolvm-qemu, and makes\n"
"            DOMAIN/ there, owned by QEMU's user (socket, statistics). A domain\n"
"            without the element gets nothing. A wrong element, or a pooled\n"
"            domain without shared memfd memory or without poolvm-qemu as its\n"
"            emulator, fails: libvirt then refuses to start the domain and\n"
"            shows this hook's message ('Hook script execution failed').\n"
"  start     gives DOMAIN/ and the tier directories it made to the user QEMU\n"
"            runs as (libvirt's DAC label), so QEMU and the pager can write.\n"
"  stopped,  remove DOMAIN.json and the attach socket; the statistics file\n"
"  release   (DOMAIN/stats.json) stays.\n"
"  others    nothing.\n"
"\n"
"Exit status: 0, or 1 with a message on stderr.\n");
}

/* Everything on stdin (the domain XML), up to 16 MiB. */
static char *read_stdin(size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	while (buf) {
		ssize_t r;

		if (n == cap) {
			char *nb = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(0, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void remove_files(const char *name)
{
	char p[PATH_MAX];

	if (vmm_libvirt_path(p, sizeof(p), name, ".json") == 0)
		unlink(p);
	if (vmm_libvirt_path(p, sizeof(p), name, "/attach.sock") == 0)
		unlink(p);
}

/* The pager runs as QEMU's user: let it serve its control socket next to
 * every other VM's (RUN/vm), so poolvm stats and top list libvirt domains
 * too. The directory goes to QEMU's group, group-writable and setgid (the
 * sockets are 0660: root and that group may ask). Only a directory that
 * root owns is changed. */
static void share_vm_run_dir(long gid)
{
	const char *run = pvm_ctl_run_dir();
	char dir[PATH_MAX];
	struct stat st;

	if (mkdir(run, 0755) < 0 && errno != EEXIST)
		return;
	if (snprintf(dir, sizeof(dir), "%s/vm", run) >= (int)sizeof(dir) ||
	    (mkdir(dir, 0755) < 0 && errno != EEXIST))
		return;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0)
		return;
	if ((st.st_gid != (gid_t)gid && chown(dir, 0, (gid_t)gid) < 0) ||
	    chmod(dir, 02775) < 0)
		fprintf(stderr, "poolvm: cannot open %s to QEMU's group %ld (poolvm stats will "
			"not list this domain): %s\n", dir, gid, strerror(errno));
}

/* "start": QEMU's user is known now (the DAC label); give it the domain's
 * directory (attach socket, statistics) and the tier directories the hook
 * made. */
static int hook_start(const char *name, const char *xml, size_t len)
{
	struct vmm_libvirt_conf c;
	char err[512], path[PATH_MAX];
	long uid, gid;
	int ret;

	if (vmm_libvirt_path(path, sizeof(path), name, ".json") < 0)
		return 0;
	ret = vmm_libvirt_conf_read(path, &c, err, sizeof(err));
	if (ret == -ENOENT)
		return 0;   /* not a pooled domain */
	if (ret < 0) {
		fprintf(stderr, "poolvm: domain %s: %s\n", name, ret == -EINVAL ? err : strerror(-ret));
		return 1;
	}
	if (vmm_libvirt_dac_owner(xml, len, &uid, &gid) == 0) {
		vmm_libvirt_path(path, sizeof(path), name, "");
		ret = chown(path, (uid_t)uid, (gid_t)gid) < 0 ? -errno : 0;
		for (unsigned i = 0; !ret && i < c.tier_dir_count; i++) {
			snprintf(path, sizeof(path), "%s", c.tier_dirs[i]);
			ret = chown(path, (uid_t)uid, (gid_t)gid) < 0 ? -errno : 0;
		}
		if (ret < 0)
			fprintf(stderr, "poolvm: domain %s: cannot give %s to QEMU's user %ld:%ld: %s\n",
				name, path, uid, gid, strerror(-ret));
		else if (uid != 0)
			share_vm_run_dir(gid);
	}
	vmm_libvirt_conf_free(&c);
	return ret < 0 ? 1 : 0;
}

/* Also say it in the domain's log, where an operator looks first; libvirt
 * itself shows the hook's stderr as the error of 'virsh start'. */
static void domain_log(const char *name, const char *msg)
{
	char path[PATH_MAX], line[2048], ts[64];
	time_t now = time(NULL);
	struct tm tm;
	int fd, n;

	if (!vmm_libvirt_name_ok(name) ||
	    snprintf(path, sizeof(path), "%s/%s.log", POOLVM_LIBVIRT_LOGDIR, name) >= (int)sizeof(path))
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S+0000", &tm);
	n = snprintf(line, sizeof(line), "%s: poolvm hook: %s; the domain was not started\n", ts, msg);
	if (n > 0 && write(fd, line, PVM_MIN((size_t)n, sizeof(line) - 1)) < 0) {
		/* stderr has it too */
	}
	close(fd);
}

static int hook_prepare(const char *name, const char *xml, size_t len)
{
	struct vmm_libvirt_conf c;
	char err[1024], path[PATH_MAX];
	int ret;

	ret = vmm_libvirt_conf_from_xml(xml, len, &c, err, sizeof(err));
	if (ret == -ENOENT) {
		if (vmm_libvirt_name_ok(name))
			remove_files(name);   /* stale: the element was removed */
		return 0;
	}
	if (ret < 0) {
		fprintf(stderr, "poolvm: domain %s: %s\n", name,
			ret == -EINVAL ? err : strerror(-ret));
		domain_log(name, ret == -EINVAL ? err : strerror(-ret));
		return 1;
	}
	if (strcmp(c.name, name) != 0) {
		fprintf(stderr, "poolvm: libvirt called the hook for '%s' with the XML of '%s'\n",
			name, c.name);
		vmm_libvirt_conf_free(&c);
		return 1;
	}
	ret = mkdir_p(POOLVM_LIBVIRT_RUNDIR, 0755);
	if (!ret && !(ret = vmm_libvirt_path(path, sizeof(path), name, "")))
		ret = mkdir_p(path, 0750);
	if (ret < 0)
		fprintf(stderr, "poolvm: domain %s: cannot create %s/%s/: %s\n", name,
			POOLVM_LIBVIRT_RUNDIR, name, strerror(-ret));
	/* Keep in the file only the tier directories made here: "start"
	 * hands them to QEMU's user; others are the operator's. */
	unsigned keep = 0;

	for (unsigned i = 0; i < c.tier_dir_count; i++) {
		struct stat st;
		bool made = stat(c.tier_dirs[i], &st) < 0;

		if (!ret && (ret = mkdir_p(c.tier_dirs[i], 0700)) < 0)
			fprintf(stderr, "poolvm: domain %s: cannot create the tier directory %s: %s\n",
				name, c.tier_dirs[i], strerror(-ret));
		if (made && !ret) {
			c.tier_dirs[keep++] = c.tier_dirs[i];
		} else {
			free(c.tier_dirs[i]);
		}
	}
	c.tier_dir_count = keep;
	if (ret == 0 && (ret = vmm_libvirt_path(path, sizeof(path), name, ".json")) == 0)
		ret = vmm_libvirt_conf_write(&c, path);
	if (ret < 0)
		fprintf(stderr, "poolvm: domain %s: cannot write %s/%s.json: %s\n", name,
			POOLVM_LIBVIRT_RUNDIR, name, strerror(-ret));
	vmm_libvirt_conf_free(&c);
	return ret < 0 ? 1 : 0;
}

int cli_libvirt_hook(int argc, char **argv)
{
	const char *name, *op;
	size_t len = 0;
	char *xml;
	int ret = 0;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		hook_usage(stdout);
		return 0;
	}
	if (argc < 3) {
		hook_usage(stderr);
		return 2;
	}
	name = argv[1];
	op = argv[2];
	/* Always drain stdin: libvirt writes the whole XML. */
	xml = read_stdin(&len);
	if (!strcmp(op, "prepare")) {
		if (!xml) {
			fprintf(stderr, "poolvm: domain %s: cannot read the domain XML\n", name);
			return 1;
		}
		ret = hook_prepare(name, xml, len);
	} else if (!strcmp(op, "start") && vmm_libvirt_name_ok(name)) {
		ret = xml ? hook_start(name, xml, len) : 1;
	} else if ((!strcmp(op, "stopped") || !strcmp(op, "release")) && vmm_libvirt_name_ok(name)) {
		remove_files(name);
	}
	free(xml);
	return ret;
}

/* ---- poolvm libvirt-install ------------------------------------------------ */

static void install_usage(FILE *f)
{
	fprintf(f,
"Usage: poolvm libvirt-install [--hooks-dir DIR] [--uninstall] [--dry-run]\n"
"\n"
"Install poolvm's qemu hook for libvirt: a small script, DIR/qemu.d/" HOOK_NAME ",\n"
"that runs 'poolvm libvirt-hook' with this poolvm binary. libvirt runs every\n"
"script in qemu.d/ for each domain event; the hook acts only on domains with\n"
"a <poolvm:pool> metadata element and leaves others alone. An existing\n"
"DIR/qemu script is not touched.\n"
"\n"
"Idempotent: run it again and it says the hook is already installed. libvirt\n"
"looks for hooks when it starts: restart libvirtd after the first install.\n"
"\n"
"Options:\n"
"  --hooks-dir DIR   libvirt's hooks directory (default /etc/libvirt/hooks)\n"
"  --uninstall       remove the hook script (only if poolvm installed it)\n"
"  --dry-run         say what would be done, do nothing\n"
"  -h, --help        this help\n"
"\n"
"It also prints the path to put in a pooled domain's <emulator>: poolvm-qemu,\n"
"next to this poolvm binary. See docs/libvirt.md.\n");
}

static char *hook_script(const char *poolvm)
{
	char *s = NULL;

	if (asprintf(&s,
		     "#!/bin/sh\n"
		     "# Installed by 'poolvm libvirt-install': libvirt's qemu hook for pooled\n"
		     "# domains (docs/libvirt.md). Remove with 'poolvm libvirt-install --uninstall'.\n"
		     "exec '%s' libvirt-hook \"$@\"\n", poolvm) < 0)
		return NULL;
	return s;
}

static char *read_file_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 65537);
	n = buf ? fread(buf, 1, 65536, f) : 0;
	(void)n;
	fclose(f);
	return buf;
}

int cli_libvirt_install(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hooks-dir", required_argument, NULL, 'd' },
		{ "uninstall", no_argument, NULL, 'u' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hooks = "/etc/libvirt/hooks";
	bool uninstall = false, dry = false;
	char exe[PATH_MAX], dir[PATH_MAX], qd[PATH_MAX], hook[PATH_MAX + 16], wrapper[PATH_MAX + 16];
	char *want, *have, tmp[PATH_MAX + 32];
	ssize_t n;
	int opt, fd, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': hooks = optarg; break;
		case 'u': uninstall = true; break;
		case 'n': dry = true; break;
		case 'h': install_usage(stdout); return 0;
		default:
			fprintf(stderr, "Try 'poolvm libvirt-install --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		pvm_err("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		pvm_err("cannot find this poolvm binary: %s", strerror(errno));
		return 1;
	}
	exe[n] = '\0';
	if (strchr(exe, '\'')) {
		pvm_err("the poolvm binary's path %s has a quote in it; install it elsewhere", exe);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", exe);
	snprintf(wrapper, sizeof(wrapper), "%s/poolvm-qemu", dirname(dir));
	snprintf(qd, sizeof(qd), "%s/qemu.d", hooks);
	snprintf(hook, sizeof(hook), "%s/" HOOK_NAME, qd);
	want = hook_script(exe);
	have = read_file_text(hook);
	if (!want) {
		free(have);
		return 1;
	}
	if (uninstall) {
		ret = 0;
		if (!have) {
			printf("no poolvm hook at %s: nothing to remove\n", hook);
		} else if (!strstr(have, "poolvm libvirt-install")) {
			pvm_err("%s was not installed by poolvm; leaving it", hook);
			ret = 1;
		} else if (dry) {
			printf("would remove %s\n", hook);
		} else if (unlink(hook) < 0) {
			pvm_err("removing %s: %s", hook, strerror(errno));
			ret = 1;
		} else {
			printf("removed %s\n", hook);
		}
		goto out;
	}
	if (have && !strcmp(have, want)) {
		printf("hook already installed: %s\n", hook);
		ret = 0;
	} else if (dry) {
		printf("would %s %s (runs '%s libvirt-hook')\n", have ? "replace" : "create", hook, exe);
		ret = 0;
	} else {
		ret = 0;
		if (access(hooks, F_OK) < 0 && mkdir(hooks, 0755) < 0 && errno != EEXIST)
			ret = -errno;
		if (!ret && mkdir(qd, 0755) < 0 && errno != EEXIST)
			ret = -errno;
		snprintf(tmp, sizeof(tmp), "%s.tmp", hook);
		if (!ret) {
			fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
			if (fd < 0) {
				ret = -errno;
			} else {
				if (write(fd, want, strlen(want)) != (ssize_t)strlen(want))
					ret = -EIO;
				if (close(fd) < 0 && !ret)
					ret = -errno;
				if (!ret && (chmod(tmp, 0755) < 0 || rename(tmp, hook) < 0))
					ret = -errno;
				if (ret)
					unlink(tmp);
			}
		}
		if (ret) {
			pvm_err("installing %s: %s", hook, strerror(-ret));
			ret = 1;
			goto out;
		}
		printf("%s %s (runs '%s libvirt-hook')\n", have ? "replaced" : "installed", hook, exe);
		printf("restart libvirtd if it was running before qemu.d/ existed: libvirt looks "
		       "for hooks at start\n");
	}
	if (access(wrapper, X_OK) == 0)
		printf("emulator for pooled domains: <emulator>%s</emulator>\n", wrapper);
	else
		printf("warning: %s is missing; pooled domains need it as their <emulator>\n", wrapper);
out:
	free(want);
	free(have);
	return ret;
}
