/* vmm/cli_define.c — "poolvm define": a pooled libvirt domain from options,
 * defined through libvirt's C API (or only printed). */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif

#include "cli.h"
#include "common.h"
#include "launch.h"
#include "libvirt_conf.h"

static void define_usage(FILE *f)
{
	fprintf(f,
"Usage: poolvm define --name NAME --mem SIZE [OPTIONS]\n"
"\n"
"Define a libvirt domain whose guest RAM is paged by poolvm, through\n"
"libvirt's API (virDomainDefineXML): an ordinary domain with shared memfd\n"
"memory, poolvm-qemu as its emulator, and a <poolvm:pool> element in its\n"
"metadata carrying the pool settings. Manage it with virsh afterwards\n"
"(start, shutdown, destroy, dominfo). The qemu hook must be installed\n"
"first: poolvm libvirt-install. See docs/libvirt.md.\n"
"\n"
"Domain:\n"
"  --name NAME           domain name (letters, digits, '.', '_', '-'). Required.\n"
"  --mem SIZE            guest RAM, a whole number of MiB (e.g. 512M, 2G). Required.\n"
"  --smp N               virtual CPUs (default 1)\n"
"  --kernel FILE         kernel to boot directly (an uncompressed vmlinux boots\n"
"                        fastest); without it the domain boots from its disk\n"
"  --initrd FILE         initramfs\n"
"  --append CMDLINE      kernel command line\n"
"  --disk FILE           raw disk image as a virtio disk; repeatable\n"
"  --serial-log FILE     guest serial console to FILE (default: a pty, for\n"
"                        'virsh console')\n"
"  --accel auto|kvm|tcg  domain type kvm or qemu; auto: kvm when /dev/kvm works\n"
"  --emulator FILE       the wrapper (default: poolvm-qemu next to poolvm)\n"
"\n"
"Pool (the <poolvm:pool> attributes):\n"
"  --local SIZE          guest RAM kept resident (default: all of --mem)\n"
"  --tier NAME           dram, disk or remote; repeat, in order of preference\n"
"                        (default disk when --local is less than --mem)\n"
"  --dram SIZE           size of the dram tier\n"
"  --disk-tier PATH      the disk tier's file (default\n"
"                        " POOLVM_LIBVIRT_TIERDIR "/NAME.pages)\n"
"  --pod HOST:PORT       a memory pod, for --tier remote; repeatable\n"
"  --secret-file FILE    the pods' shared secret (absolute path)\n"
"  --replicas N          copies of each remote page, 1-4 (default 2)\n"
"  --fabric NAME         auto, verbs, tcp or shm\n"
"  --policy NAME         eviction policy (see 'poolvm run --help')\n"
"  --prefetch NAME       prefetcher\n"
"  --stats-json FILE     statistics at exit (default\n"
"                        " POOLVM_LIBVIRT_RUNDIR "/NAME/stats.json)\n"
"\n"
"Output:\n"
"  --uri URI             libvirt connection (default qemu:///system); with a\n"
"                        remote URI (qemu+ssh://HOST/system) files are not\n"
"                        checked here: they are paths on HOST\n"
"  --print-xml           print the domain XML, define nothing\n"
"  -h, --help            this help\n"
"\n"
"Exit status: 0 defined (or printed), 1 libvirt refused, 2 bad options.\n"
"\n"
"Example:\n"
"  poolvm define --name vm1 --mem 2G --local 512M --tier disk \\\n"
"                --kernel /srv/vmlinux --initrd /srv/initrd --append console=ttyS0\n"
"  virsh start vm1\n");
}

enum {
	OPT_NAME = 256, OPT_MEM, OPT_SMP, OPT_KERNEL, OPT_INITRD, OPT_APPEND, OPT_DISK,
	OPT_SERIAL, OPT_ACCEL, OPT_EMULATOR, OPT_LOCAL, OPT_TIER, OPT_DRAM, OPT_DISK_TIER,
	OPT_POD, OPT_SECRET, OPT_REPLICAS, OPT_FABRIC, OPT_POLICY, OPT_PREFETCH, OPT_STATS,
	OPT_URI, OPT_PRINT,
};

struct define_opts {
	const char *name, *kernel, *initrd, *append, *serial, *emulator, *accel;
	const char *disks[VMM_MAX_DISKS];
	unsigned disk_count;
	uint64_t mem, local, dram;
	const char *tiers[VMM_MAX_TIERS];
	unsigned tier_count;
	const char *pods[VMM_MAX_PODS];
	unsigned pod_count;
	const char *disk_tier, *secret, *replicas, *fabric, *policy, *prefetch, *stats;
	unsigned smp;
	const char *uri;
	bool print;
};

/* A growing string; on allocation failure it stays NULL and says so. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) PVM_PRINTF(2, 3);
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
		char *ns = realloc(b->s, cap);

		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
}

/* XML-escaped @s appended. */
static void sb_esc(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sb_add(b, "&amp;"); break;
		case '<': sb_add(b, "&lt;"); break;
		case '>': sb_add(b, "&gt;"); break;
		case '\'': sb_add(b, "&apos;"); break;
		case '"': sb_add(b, "&quot;"); break;
		default: sb_add(b, "%c", *s); break;
		}
	}
}

static void sb_attr(struct sbuf *b, const char *name, const char *v)
{
	if (!v)
		return;
	sb_add(b, " %s='", name);
	sb_esc(b, v);
	sb_add(b, "'");
}

static char *build_xml(const struct define_opts *o, const char *type)
{
	struct sbuf b = { 0 };
	char sz[32], tiers[128] = "", pods[4096] = "";

	sb_add(&b, "<domain type='%s'>\n  <name>", type);
	sb_esc(&b, o->name);
	sb_add(&b, "</name>\n  <memory unit='MiB'>%llu</memory>\n",
	       (unsigned long long)(o->mem >> 20));
	sb_add(&b, "  <vcpu>%u</vcpu>\n", o->smp ? o->smp : 1);
	sb_add(&b, "  <metadata>\n    <poolvm:pool xmlns:poolvm='%s'", POOLVM_LIBVIRT_NS);
	if (o->local) {
		snprintf(sz, sizeof(sz), "%lluM", (unsigned long long)(o->local >> 20));
		sb_attr(&b, "local", sz);
	}
	for (unsigned i = 0; i < o->tier_count; i++)
		snprintf(tiers + strlen(tiers), sizeof(tiers) - strlen(tiers), "%s%s",
			 i ? "," : "", o->tiers[i]);
	if (o->tier_count)
		sb_attr(&b, "tiers", tiers);
	if (o->dram) {
		snprintf(sz, sizeof(sz), "%lluM", (unsigned long long)(o->dram >> 20));
		sb_attr(&b, "dram", sz);
	}
	sb_attr(&b, "disk", o->disk_tier);
	for (unsigned i = 0; i < o->pod_count; i++)
		snprintf(pods + strlen(pods), sizeof(pods) - strlen(pods), "%s%s",
			 i ? "," : "", o->pods[i]);
	if (o->pod_count)
		sb_attr(&b, "pods", pods);
	sb_attr(&b, "secret", o->secret);
	sb_attr(&b, "replicas", o->replicas);
	sb_attr(&b, "fabric", o->fabric);
	sb_attr(&b, "policy", o->policy);
	sb_attr(&b, "prefetch", o->prefetch);
	sb_attr(&b, "stats", o->stats);
	sb_add(&b, "/>\n  </metadata>\n");
	sb_add(&b, "  <memoryBacking>\n    <source type='memfd'/>\n    <access mode='shared'/>\n"
		   "  </memoryBacking>\n");
	sb_add(&b, "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n");
	if (o->kernel) {
		sb_add(&b, "    <kernel>");
		sb_esc(&b, o->kernel);
		sb_add(&b, "</kernel>\n");
	}
	if (o->initrd) {
		sb_add(&b, "    <initrd>");
		sb_esc(&b, o->initrd);
		sb_add(&b, "</initrd>\n");
	}
	if (o->append) {
		sb_add(&b, "    <cmdline>");
		sb_esc(&b, o->append);
		sb_add(&b, "</cmdline>\n");
	}
	if (!o->kernel)
		sb_add(&b, "    <boot dev='hd'/>\n");
	sb_add(&b, "  </os>\n  <features>\n    <acpi/>\n  </features>\n");
	if (!strcmp(type, "qemu"))   /* TCG: numpy's AVX2 path breaks under QEMU 7.2 */
		sb_add(&b, "  <cpu mode='custom' match='exact'>\n    <model fallback='allow'>qemu64</model>\n  </cpu>\n");
	sb_add(&b, "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
		   "  <on_crash>destroy</on_crash>\n  <devices>\n    <emulator>");
	sb_esc(&b, o->emulator);
	sb_add(&b, "</emulator>\n");
	for (unsigned i = 0; i < o->disk_count; i++) {
		/* cache=writeback: never O_DIRECT into paged guest RAM (see
		 * poolvm run --help and docs/libvirt.md). */
		sb_add(&b, "    <disk type='file' device='disk'>\n"
			   "      <driver name='qemu' type='raw' cache='writeback' io='threads'/>\n"
			   "      <source file='");
		sb_esc(&b, o->disks[i]);
		sb_add(&b, "'/>\n      <target dev='vd%c' bus='virtio'/>\n    </disk>\n", 'a' + i);
	}
	if (o->serial) {
		sb_add(&b, "    <serial type='file'>\n      <source path='");
		sb_esc(&b, o->serial);
		sb_add(&b, "'/>\n    </serial>\n");
	} else {
		sb_add(&b, "    <serial type='pty'/>\n    <console type='pty'/>\n");
	}
	sb_add(&b, "    <memballoon model='none'/>\n  </devices>\n</domain>\n");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* Files are checked here only when libvirtd runs on this host: a URI with a
 * host part (qemu+ssh://host/system) names files on that host. */
static bool remote_uri;

static int need_file(const char *opt, const char *path)
{
	if (path[0] != '/') {
		pvm_err("%s %s: give an absolute path (libvirtd opens it, from its own directory)",
			opt, path);
		return -EINVAL;
	}
	if (!remote_uri && access(path, R_OK) < 0) {
		pvm_err("%s %s: %s", opt, path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int parse_size_mib(const char *opt, const char *s, uint64_t *out)
{
	if (pvm_parse_size(s, out) < 0 || *out == 0 || (*out & ((1ULL << 20) - 1))) {
		pvm_err("%s: '%s' is not a whole number of MiB (use e.g. 512M, 2G)", opt, s);
		return -EINVAL;
	}
	return 0;
}

static int validate(struct define_opts *o)
{
	bool remote = false;

	if (!o->name || !vmm_libvirt_name_ok(o->name)) {
		pvm_err(o->name ? "--name: '%s' is not a name (1-64 of letters, digits, '.', '_', '-')" :
			"--name is required%s", o->name ? o->name : "");
		return -EINVAL;
	}
	if (!o->mem) {
		pvm_err("--mem is required (e.g. --mem 2G)");
		return -EINVAL;
	}
	if (o->local >= o->mem)
		o->local = 0;
	for (unsigned i = 0; i < o->tier_count; i++) {
		if (!strcmp(o->tiers[i], "remote"))
			remote = true;
		else if (strcmp(o->tiers[i], "dram") && strcmp(o->tiers[i], "disk")) {
			pvm_err("--tier: '%s' is not dram, disk or remote", o->tiers[i]);
			return -EINVAL;
		}
		if (!strcmp(o->tiers[i], "dram") && !o->dram) {
			pvm_err("--tier dram needs --dram SIZE");
			return -EINVAL;
		}
	}
	if (remote && (!o->pod_count || !o->secret)) {
		pvm_err("--tier remote needs --pod HOST:PORT and --secret-file FILE");
		return -EINVAL;
	}
	if (!remote && (o->pod_count || o->secret || o->replicas || o->fabric)) {
		pvm_err("--pod, --secret-file, --replicas and --fabric need --tier remote");
		return -EINVAL;
	}
	if (o->secret && o->secret[0] != '/') {
		pvm_err("--secret-file %s: give an absolute path", o->secret);
		return -EINVAL;
	}
	if (o->disk_tier && o->disk_tier[0] != '/') {
		pvm_err("--disk-tier %s: give an absolute path", o->disk_tier);
		return -EINVAL;
	}
	if (o->stats && o->stats[0] != '/') {
		pvm_err("--stats-json %s: give an absolute path", o->stats);
		return -EINVAL;
	}
	if (o->replicas) {
		char *end;
		unsigned long v = strtoul(o->replicas, &end, 10);

		if (*end || end == o->replicas || v < 1 || v > 4) {
			pvm_err("--replicas: '%s' is not a number from 1 to 4", o->replicas);
			return -EINVAL;
		}
	}
	if (o->fabric && strcmp(o->fabric, "auto") && strcmp(o->fabric, "verbs") &&
	    strcmp(o->fabric, "tcp") && strcmp(o->fabric, "shm")) {
		pvm_err("--fabric: '%s' is not auto, verbs, tcp or shm", o->fabric);
		return -EINVAL;
	}
	if ((o->kernel && need_file("--kernel", o->kernel) < 0) ||
	    (o->initrd && need_file("--initrd", o->initrd) < 0))
		return -EINVAL;
	if (!o->kernel && (o->initrd || o->append)) {
		pvm_err("--initrd and --append need --kernel");
		return -EINVAL;
	}
	if (!o->kernel && !o->disk_count) {
		pvm_err("nothing to boot: give --kernel or --disk");
		return -EINVAL;
	}
	for (unsigned i = 0; i < o->disk_count; i++)
		if (need_file("--disk", o->disks[i]) < 0)
			return -EINVAL;
	if (o->serial && o->serial[0] != '/') {
		pvm_err("--serial-log %s: give an absolute path", o->serial);
		return -EINVAL;
	}
	if (o->emulator && need_file("--emulator", o->emulator) < 0)
		return -EINVAL;
	return 0;
}

/* The domain XML goes through the hook's own parser before libvirt sees it,
 * so what define accepts, the hook accepts at start. */
static int check_like_hook(const char *xml)
{
	struct vmm_libvirt_conf c;
	char err[1024];
	int ret = vmm_libvirt_conf_from_xml(xml, strlen(xml), &c, err, sizeof(err));

	if (ret < 0) {
		pvm_err("%s", ret == -EINVAL ? err : strerror(-ret));
		return ret;
	}
	vmm_libvirt_conf_free(&c);
	return 0;
}

#ifdef HAVE_LIBVIRT
static void quiet_errors(void *ud, virErrorPtr e)
{
	(void)ud;
	(void)e;
}

static int define_domain(const char *uri, const char *xml, const char *name)
{
	virConnectPtr conn;
	virDomainPtr dom;
	virErrorPtr e;

	virSetErrorFunc(NULL, quiet_errors);
	conn = virConnectOpen(uri);
	if (!conn) {
		e = virGetLastError();
		pvm_err("cannot connect to libvirt at %s: %s (is libvirtd running?)", uri,
			e && e->message ? e->message : "unknown error");
		return 1;
	}
	dom = virDomainDefineXML(conn, xml);
	if (!dom) {
		e = virGetLastError();
		pvm_err("libvirt refused domain %s: %s", name,
			e && e->message ? e->message : "unknown error");
		virConnectClose(conn);
		return 1;
	}
	printf("domain %s defined at %s; start it with: virsh -c %s start %s\n", name, uri, uri, name);
	virDomainFree(dom);
	virConnectClose(conn);
	return 0;
}
#else
static int define_domain(const char *uri, const char *xml, const char *name)
{
	(void)uri;
	(void)xml;
	(void)name;
	pvm_err("this poolvm was built without libvirt (libvirt-dev); use --print-xml and "
		"'virsh define'");
	return 1;
}
#endif

int cli_define(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, OPT_NAME },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "smp", required_argument, NULL, OPT_SMP },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "serial-log", required_argument, NULL, OPT_SERIAL },
		{ "accel", required_argument, NULL, OPT_ACCEL },
		{ "emulator", required_argument, NULL, OPT_EMULATOR },
		{ "local", required_argument, NULL, OPT_LOCAL },
		{ "tier", required_argument, NULL, OPT_TIER },
		{ "dram", required_argument, NULL, OPT_DRAM },
		{ "disk-tier", required_argument, NULL, OPT_DISK_TIER },
		{ "pod", required_argument, NULL, OPT_POD },
		{ "secret-file", required_argument, NULL, OPT_SECRET },
		{ "replicas", required_argument, NULL, OPT_REPLICAS },
		{ "fabric", required_argument, NULL, OPT_FABRIC },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "prefetch", required_argument, NULL, OPT_PREFETCH },
		{ "stats-json", required_argument, NULL, OPT_STATS },
		{ "uri", required_argument, NULL, OPT_URI },
		{ "print-xml", no_argument, NULL, OPT_PRINT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct define_opts o = { .uri = "qemu:///system", .accel = "auto" };
	char exe[PATH_MAX], emu[PATH_MAX + 16], *xml;
	const char *type;
	int opt, ret;
	ssize_t n;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case OPT_NAME: o.name = optarg; break;
		case OPT_MEM:
			if (parse_size_mib("--mem", optarg, &o.mem) < 0)
				return 2;
			break;
		case OPT_LOCAL:
			if (parse_size_mib("--local", optarg, &o.local) < 0)
				return 2;
			break;
		case OPT_DRAM:
			if (parse_size_mib("--dram", optarg, &o.dram) < 0)
				return 2;
			break;
		case OPT_SMP: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || end == optarg || v < 1 || v > 255) {
				pvm_err("--smp: '%s' is not a number from 1 to 255", optarg);
				return 2;
			}
			o.smp = (unsigned)v;
			break;
		}
		case OPT_KERNEL: o.kernel = optarg; break;
		case OPT_INITRD: o.initrd = optarg; break;
		case OPT_APPEND: o.append = optarg; break;
		case OPT_DISK:
			if (o.disk_count == VMM_MAX_DISKS) {
				pvm_err("--disk: at most %d disks", VMM_MAX_DISKS);
				return 2;
			}
			o.disks[o.disk_count++] = optarg;
			break;
		case OPT_SERIAL: o.serial = optarg; break;
		case OPT_ACCEL:
			if (strcmp(optarg, "auto") && strcmp(optarg, "kvm") && strcmp(optarg, "tcg")) {
				pvm_err("--accel: '%s' is not auto, kvm or tcg", optarg);
				return 2;
			}
			o.accel = optarg;
			break;
		case OPT_EMULATOR: o.emulator = optarg; break;
		case OPT_TIER:
			if (o.tier_count == 3) {
				pvm_err("--tier: at most 3 (dram, disk, remote)");
				return 2;
			}
			o.tiers[o.tier_count++] = optarg;
			break;
		case OPT_DISK_TIER: o.disk_tier = optarg; break;
		case OPT_POD:
			if (o.pod_count == VMM_MAX_PODS) {
				pvm_err("--pod: at most %d pods", VMM_MAX_PODS);
				return 2;
			}
			if (!strchr(optarg, ':') || strpbrk(optarg, ",+ ")) {
				pvm_err("--pod: '%s' is not HOST:PORT", optarg);
				return 2;
			}
			o.pods[o.pod_count++] = optarg;
			break;
		case OPT_SECRET: o.secret = optarg; break;
		case OPT_REPLICAS: o.replicas = optarg; break;
		case OPT_FABRIC: o.fabric = optarg; break;
		case OPT_POLICY: o.policy = optarg; break;
		case OPT_PREFETCH: o.prefetch = optarg; break;
		case OPT_STATS: o.stats = optarg; break;
		case OPT_URI: o.uri = optarg; break;
		case OPT_PRINT: o.print = true; break;
		case 'h':
			define_usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'poolvm define --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		pvm_err("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!o.emulator) {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0) {
			pvm_err("cannot find this poolvm binary: %s", strerror(errno));
			return 1;
		}
		exe[n] = '\0';
		snprintf(emu, sizeof(emu), "%s/poolvm-qemu", dirname(exe));
		o.emulator = emu;
	}
	{
		const char *h = strstr(o.uri, "://");

		remote_uri = h && h[3] && h[3] != '/';
	}
	if (validate(&o) < 0)
		return 2;
	if (!strcmp(o.accel, "auto"))
		type = vmm_accel_resolve(VMM_ACCEL_AUTO) == VMM_ACCEL_KVM ? "kvm" : "qemu";
	else
		type = !strcmp(o.accel, "kvm") ? "kvm" : "qemu";
	xml = build_xml(&o, type);
	if (!xml) {
		pvm_err("out of memory");
		return 1;
	}
	if (check_like_hook(xml) < 0) {
		free(xml);
		return 2;
	}
	if (o.print) {
		fputs(xml, stdout);
		ret = 0;
	} else {
		ret = define_domain(o.uri, xml, o.name);
	}
	free(xml);
	return ret;
}
