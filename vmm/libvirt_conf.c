/* vmm/libvirt_conf.c — the <poolvm:pool> element of a libvirt domain, and
 * the per-domain JSON file the hook hands to poolvm-qemu. */
#include "libvirt_conf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "policy.h"
#include "prefetch.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) PVM_PRINTF(3, 4);
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int vmm_libvirt_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > POOLVM_LIBVIRT_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

int vmm_libvirt_path(char *buf, size_t len, const char *name, const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s", POOLVM_LIBVIRT_RUNDIR, name, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void vmm_libvirt_conf_free(struct vmm_libvirt_conf *c)
{
	for (unsigned i = 0; i < c->tier_count; i++)
		free(c->tiers[i]);
	for (unsigned i = 0; i < c->tier_dir_count; i++)
		free(c->tier_dirs[i]);
	free(c->policy);
	free(c->prefetch);
	free(c->stats_json);
	free(c->qemu);
	memset(c, 0, sizeof(*c));
}

/* The text of the first node XPATH selects, or NULL. Caller frees. */
static char *xpath_text(xmlXPathContextPtr ctx, const char *xpath)
{
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)xpath, ctx);
	char *s = NULL;

	if (o && o->nodesetval && o->nodesetval->nodeNr > 0) {
		xmlChar *t = xmlNodeGetContent(o->nodesetval->nodeTab[0]);

		if (t)
			s = strdup((const char *)t);
		xmlFree(t);
	}
	xmlXPathFreeObject(o);
	return s;
}

static int xpath_count(xmlXPathContextPtr ctx, const char *xpath)
{
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)xpath, ctx);
	int n = o && o->nodesetval ? o->nodesetval->nodeNr : 0;

	xmlXPathFreeObject(o);
	return n;
}

/* <memory unit='U'>N</memory> in bytes; libvirt always formats KiB. */
static int domain_memory(xmlXPathContextPtr ctx, uint64_t *out, char *err, size_t errlen)
{
	char *text = xpath_text(ctx, "/domain/memory"), *unit = xpath_text(ctx, "/domain/memory/@unit");
	unsigned long long v;
	uint64_t mult = 1024;
	char *end;
	int ret = 0;

	if (!text) {
		ret = fail(err, errlen, "the domain has no <memory> element");
		goto out;
	}
	if (unit) {
		static const struct { const char *u; uint64_t m; } units[] = {
			{ "b", 1 }, { "bytes", 1 }, { "KiB", 1ULL << 10 }, { "k", 1ULL << 10 },
			{ "MiB", 1ULL << 20 }, { "M", 1ULL << 20 }, { "GiB", 1ULL << 30 },
			{ "G", 1ULL << 30 }, { "TiB", 1ULL << 40 }, { "T", 1ULL << 40 },
		};
		mult = 0;
		for (size_t i = 0; i < PVM_ARRAY_SIZE(units); i++)
			if (!strcmp(unit, units[i].u))
				mult = units[i].m;
		if (!mult) {
			ret = fail(err, errlen, "<memory unit='%s'>: unit not understood", unit);
			goto out;
		}
	}
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text || *end || v == 0) {
		ret = fail(err, errlen, "<memory>%s</memory> is not a size", text);
		goto out;
	}
	*out = v * mult;
out:
	free(text);
	free(unit);
	return ret;
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

static int attr_size(const char *attr, const char *v, uint64_t *out, char *err, size_t errlen)
{
	if (pvm_parse_size(v, out) < 0 || *out == 0)
		return fail(err, errlen, "poolvm:pool %s='%s': not a size (use e.g. 512M, 2G)", attr, v);
	return 0;
}

/* Append a tier spec; each one is a heap string. */
static int add_tier(struct vmm_libvirt_conf *c, char *spec, char *err, size_t errlen)
{
	if (!spec)
		return -ENOMEM;
	if (c->tier_count == VMM_MAX_TIERS) {
		free(spec);
		return fail(err, errlen, "poolvm:pool tiers: at most %d tiers", VMM_MAX_TIERS);
	}
	c->tiers[c->tier_count++] = spec;
	return 0;
}

static bool path_ok(const char *p)
{
	return p[0] == '/' && !strchr(p, ',') && strlen(p) < PATH_MAX - 32;
}

struct pool_attrs {
	const char *local, *tiers, *dram, *disk, *pods, *secret, *replicas, *fabric;
	const char *policy, *prefetch, *stats, *qemu;
};

/* Tier specs from tiers='...' and the attributes each tier needs. */
static int build_tiers(struct vmm_libvirt_conf *c, const struct pool_attrs *a,
		       char *err, size_t errlen)
{
	char *list, *save = NULL, *tok;
	bool seen_dram = false, seen_disk = false, seen_remote = false;
	char disk_path[PATH_MAX];
	int ret = 0;

	if (a->disk) {
		if (!path_ok(a->disk))
			return fail(err, errlen, "poolvm:pool disk='%s': needs an absolute path "
				    "without commas", a->disk);
		snprintf(disk_path, sizeof(disk_path), "%s", a->disk);
	} else {
		snprintf(disk_path, sizeof(disk_path), "%s/%s.pages", POOLVM_LIBVIRT_TIERDIR, c->name);
	}
	list = strdup(a->tiers ? a->tiers : (c->local_bytes ? "disk" : ""));
	if (!list)
		return -ENOMEM;
	for (tok = strtok_r(list, ", ", &save); tok && !ret; tok = strtok_r(NULL, ", ", &save)) {
		if (!strcmp(tok, "dram")) {
			uint64_t sz;

			if (seen_dram)
				ret = fail(err, errlen, "poolvm:pool tiers: dram given twice");
			else if (!a->dram)
				ret = fail(err, errlen, "poolvm:pool tiers has dram but no dram='SIZE'");
			else if (!(ret = attr_size("dram", a->dram, &sz, err, errlen)))
				ret = add_tier(c, pvm_asprintf("dram:%llu", (unsigned long long)sz), err, errlen);
			seen_dram = true;
		} else if (!strcmp(tok, "disk")) {
			if (seen_disk)
				ret = fail(err, errlen, "poolvm:pool tiers: disk given twice");
			else
				ret = add_tier(c, pvm_asprintf("disk:%s", disk_path), err, errlen);
			seen_disk = true;
		} else if (!strcmp(tok, "remote")) {
			seen_remote = true;
		} else {
			ret = fail(err, errlen, "poolvm:pool tiers='%s': '%s' is not dram, disk or remote",
				   a->tiers, tok);
		}
	}
	free(list);
	if (ret)
		return ret;
	if (seen_remote) {
		/* The remote tier goes where it was listed; rebuild the order. */
		unsigned replicas = 2;
		char *pods, *p, *spec;

		if (!a->pods)
			return fail(err, errlen, "poolvm:pool tiers has remote but no pods='HOST:PORT,...'");
		if (!a->secret || !path_ok(a->secret))
			return fail(err, errlen, "poolvm:pool tiers has remote but no secret='/PATH' "
				    "(the pods' shared secret file)");
		if (a->replicas) {
			char *end;
			unsigned long v = strtoul(a->replicas, &end, 10);

			if (*end || end == a->replicas || v < 1 || v > 4)
				return fail(err, errlen, "poolvm:pool replicas='%s': not a number from 1 to 4",
					    a->replicas);
			replicas = (unsigned)v;
		}
		if (a->fabric && !in_list(a->fabric, (const char *const[]){ "auto", "verbs", "tcp", "shm", NULL }))
			return fail(err, errlen, "poolvm:pool fabric='%s': not auto, verbs, tcp or shm", a->fabric);
		pods = strdup(a->pods);
		if (!pods)
			return -ENOMEM;
		for (p = pods; *p; p++) {
			if (*p == ',' || *p == ' ')
				*p = '+';
		}
		for (char *q = pods; *q; q++) {
			if (!isalnum((unsigned char)*q) && !strchr(".:-+[]_", *q)) {
				free(pods);
				return fail(err, errlen, "poolvm:pool pods='%s': not a list of HOST:PORT", a->pods);
			}
		}
		spec = pvm_asprintf("remote:pods=%s,replicas=%u,secret=%s,fabric=%s%s%s%s", pods, replicas,
				  a->secret, a->fabric ? a->fabric : "auto",
				  seen_disk ? ",backup=disk:" : "", seen_disk ? disk_path : "",
				  seen_disk ? ".remote-backup" : "");
		free(pods);
		if (!spec)
			return -ENOMEM;
		/* Put it where "remote" stood in tiers=. */
		list = strdup(a->tiers);
		if (!list) {
			free(spec);
			return -ENOMEM;
		}
		unsigned pos = 0;

		save = NULL;
		for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
			if (!strcmp(tok, "remote"))
				break;
			pos++;
		}
		free(list);
		if ((ret = add_tier(c, spec, err, errlen)))
			return ret;
		for (unsigned i = c->tier_count - 1; i > pos; i--) {
			char *t = c->tiers[i];

			c->tiers[i] = c->tiers[i - 1];
			c->tiers[i - 1] = t;
		}
	}
	if (seen_disk) {
		char tmp[PATH_MAX];

		snprintf(tmp, sizeof(tmp), "%s", disk_path);
		c->tier_dirs[c->tier_dir_count] = strdup(dirname(tmp));
		if (!c->tier_dirs[c->tier_dir_count])
			return -ENOMEM;
		c->tier_dir_count++;
	}
	if (c->local_bytes && c->tier_count == 0)
		return fail(err, errlen, "poolvm:pool local='%s' is less than the domain's memory but "
			    "tiers='' leaves nowhere to put the rest", a->local);
	return 0;
}

static int check_names(const struct pool_attrs *a, char *err, size_t errlen)
{
	if (a->policy) {
		struct swap_policy *p;
		struct swap_policy_env env = { .capacity = 16 };

		if (swap_policy_create(a->policy, &env, &p) < 0)
			return fail(err, errlen, "poolvm:pool policy='%s': no such eviction policy "
				    "(see 'poolvm run --help')", a->policy);
		swap_policy_destroy(p);
	}
	if (a->prefetch) {
		struct swap_prefetcher *p;
		struct swap_prefetch_env env = { .max_window = 8, .page_count = 1024 };

		if (swap_prefetch_create(a->prefetch, &env, &p) < 0)
			return fail(err, errlen, "poolvm:pool prefetch='%s': no such prefetcher "
				    "(see 'poolvm run --help')", a->prefetch);
		swap_prefetch_destroy(p);
	}
	return 0;
}

/* Read the element's attributes; unknown ones are errors (typos). */
static int read_attrs(xmlNodePtr el, struct pool_attrs *a, char *err, size_t errlen)
{
	static const char *const names[] = {
		"local", "tiers", "dram", "disk", "pods", "secret", "replicas", "fabric",
		"policy", "prefetch", "stats", "qemu",
	};
	const char **slots[] = {
		&a->local, &a->tiers, &a->dram, &a->disk, &a->pods, &a->secret, &a->replicas,
		&a->fabric, &a->policy, &a->prefetch, &a->stats, &a->qemu,
	};

	for (xmlAttrPtr at = el->properties; at; at = at->next) {
		size_t i;

		for (i = 0; i < PVM_ARRAY_SIZE(names); i++)
			if (!strcmp((const char *)at->name, names[i]))
				break;
		if (i == PVM_ARRAY_SIZE(names))
			return fail(err, errlen, "poolvm:pool: unknown attribute '%s' (known: local, tiers, "
				    "dram, disk, pods, secret, replicas, fabric, policy, prefetch, stats, qemu)",
				    (const char *)at->name);
		if (at->children && at->children->content)
			*slots[i] = (const char *)at->children->content;
		else
			*slots[i] = "";
	}
	for (xmlNodePtr ch = el->children; ch; ch = ch->next)
		if (ch->type == XML_ELEMENT_NODE)
			return fail(err, errlen, "poolvm:pool: unexpected child element <%s>",
				    (const char *)ch->name);
	return 0;
}

static int check_domain(xmlXPathContextPtr ctx, char *err, size_t errlen)
{
	char *emu;
	int ret = 0;

	if (xpath_count(ctx, "/domain/memoryBacking/source[@type='memfd']") != 1 ||
	    xpath_count(ctx, "/domain/memoryBacking/access[@mode='shared']") != 1)
		return fail(err, errlen, "a pooled domain needs <memoryBacking><source type='memfd'/>"
			    "<access mode='shared'/></memoryBacking>: poolvm pages guest RAM through "
			    "a shared memfd");
	if (xpath_count(ctx, "/domain/cpu/numa/cell") > 0)
		return fail(err, errlen, "a pooled domain cannot have NUMA cells yet (<cpu><numa>): "
			    "poolvm pages one guest RAM region");
	emu = xpath_text(ctx, "/domain/devices/emulator");
	if (!emu || !strstr(emu, "poolvm-qemu"))
		ret = fail(err, errlen, "the domain has a poolvm:pool element but its <emulator> is "
			   "'%s', not poolvm's QEMU wrapper (poolvm-qemu): without it nothing would "
			   "page guest RAM", emu ? emu : "(none)");
	free(emu);
	return ret;
}

int vmm_libvirt_dac_owner(const char *xml, size_t len, long *uid, long *gid)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
	char *label = ctx ? xpath_text(ctx, "/domain/seclabel[@model='dac']/label") : NULL;
	int ret = -ENOENT;

	/* libvirt's DAC label, "+UID:+GID" */
	if (label && sscanf(label, "+%ld:+%ld", uid, gid) == 2 && *uid >= 0 && *gid >= 0)
		ret = 0;
	free(label);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return ret;
}

int vmm_libvirt_conf_from_xml(const char *xml, size_t len, struct vmm_libvirt_conf *out,
			      char *err, size_t errlen)
{
	xmlDocPtr doc;
	xmlXPathContextPtr ctx = NULL;
	xmlXPathObjectPtr els = NULL;
	struct pool_attrs a = { 0 };
	char *name = NULL, *vcpu = NULL;
	int ret;

	memset(out, 0, sizeof(*out));
	doc = xmlReadMemory(xml, (int)len, "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return fail(err, errlen, "the domain XML does not parse");
	ctx = xmlXPathNewContext(doc);
	if (!ctx || xmlXPathRegisterNs(ctx, (const xmlChar *)"p", (const xmlChar *)POOLVM_LIBVIRT_NS)) {
		ret = -ENOMEM;
		goto out;
	}
	els = xmlXPathEvalExpression((const xmlChar *)"/domain/metadata/p:*", ctx);
	if (!els || !els->nodesetval || els->nodesetval->nodeNr == 0) {
		ret = -ENOENT;
		goto out;
	}
	if (els->nodesetval->nodeNr > 1 ||
	    strcmp((const char *)els->nodesetval->nodeTab[0]->name, "pool")) {
		ret = fail(err, errlen, "metadata in namespace %s: expected exactly one <pool> element, "
			   "found <%s>%s", POOLVM_LIBVIRT_NS,
			   (const char *)els->nodesetval->nodeTab[0]->name,
			   els->nodesetval->nodeNr > 1 ? " and more" : "");
		goto out;
	}
	name = xpath_text(ctx, "/domain/name");
	if (!name || !vmm_libvirt_name_ok(name)) {
		ret = fail(err, errlen, "domain name '%s': a pooled domain's name must be 1-%d of "
			   "letters, digits, '.', '_', '-' (it names files)", name ? name : "",
			   POOLVM_LIBVIRT_NAME_MAX);
		goto out;
	}
	snprintf(out->name, sizeof(out->name), "%s", name);
	if ((ret = check_domain(ctx, err, errlen)) ||
	    (ret = domain_memory(ctx, &out->mem_bytes, err, errlen)) ||
	    (ret = read_attrs(els->nodesetval->nodeTab[0], &a, err, errlen)) ||
	    (ret = check_names(&a, err, errlen)))
		goto out;
	vcpu = xpath_text(ctx, "/domain/vcpu");
	out->smp = vcpu ? (unsigned)strtoul(vcpu, NULL, 10) : 1;
	if (a.local && (ret = attr_size("local", a.local, &out->local_bytes, err, errlen)))
		goto out;
	if (out->local_bytes >= out->mem_bytes)
		out->local_bytes = 0;
	if ((ret = build_tiers(out, &a, err, errlen)))
		goto out;
	if ((a.stats && !path_ok(a.stats)) || (a.qemu && !path_ok(a.qemu))) {
		ret = fail(err, errlen, "poolvm:pool %s='%s': needs an absolute path",
			   a.stats && !path_ok(a.stats) ? "stats" : "qemu",
			   a.stats && !path_ok(a.stats) ? a.stats : a.qemu);
		goto out;
	}
	out->policy = a.policy ? strdup(a.policy) : NULL;
	out->prefetch = a.prefetch ? strdup(a.prefetch) : NULL;
	out->qemu = strdup(a.qemu ? a.qemu : POOLVM_LIBVIRT_QEMU);
	if (a.stats) {
		out->stats_json = strdup(a.stats);
	} else {
		char p[PATH_MAX];

		vmm_libvirt_path(p, sizeof(p), out->name, "/stats.json");
		out->stats_json = strdup(p);
	}
	ret = 0;
out:
	if (ret)
		vmm_libvirt_conf_free(out);
	free(name);
	free(vcpu);
	xmlXPathFreeObject(els);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return ret;
}

static void add_str(json_object *o, const char *key, const char *v)
{
	if (v)
		json_object_object_add(o, key, json_object_new_string(v));
}

int vmm_libvirt_conf_write(const struct vmm_libvirt_conf *c, const char *path)
{
	json_object *o = json_object_new_object(), *t = json_object_new_array();
	char tmp[PATH_MAX];
	const char *text;
	int fd, ret = 0;
	size_t len;

	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "mem_bytes", json_object_new_uint64(c->mem_bytes));
	json_object_object_add(o, "local_bytes", json_object_new_uint64(c->local_bytes));
	json_object_object_add(o, "smp", json_object_new_int((int)c->smp));
	for (unsigned i = 0; i < c->tier_count; i++)
		json_object_array_add(t, json_object_new_string(c->tiers[i]));
	json_object_object_add(o, "tiers", t);
	add_str(o, "policy", c->policy);
	add_str(o, "prefetch", c->prefetch);
	add_str(o, "stats_json", c->stats_json);
	add_str(o, "qemu", c->qemu);
	t = json_object_new_array();
	for (unsigned i = 0; i < c->tier_dir_count; i++)
		json_object_array_add(t, json_object_new_string(c->tier_dirs[i]));
	json_object_object_add(o, "own_dirs", t);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	len = strlen(text);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
	} else {
		if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
			ret = -EIO;
		if (close(fd) < 0 && !ret)
			ret = -errno;
		if (!ret && rename(tmp, path) < 0)
			ret = -errno;
		if (ret)
			unlink(tmp);
	}
	json_object_put(o);
	return ret;
}

static const char *get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int vmm_libvirt_conf_read(const char *path, struct vmm_libvirt_conf *c, char *err, size_t errlen)
{
	json_object *o, *v, *t;
	const char *s;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	if (access(path, F_OK) < 0)
		return -errno;
	o = json_object_from_file(path);
	if (!o)
		return fail(err, errlen, "%s: not JSON: %s", path, json_util_get_last_err());
	s = get_str(o, "name");
	if (!s || !vmm_libvirt_name_ok(s)) {
		ret = fail(err, errlen, "%s: key \"name\" missing or not a domain name", path);
		goto out;
	}
	snprintf(c->name, sizeof(c->name), "%s", s);
	if (!json_object_object_get_ex(o, "mem_bytes", &v) ||
	    (c->mem_bytes = json_object_get_uint64(v)) == 0) {
		ret = fail(err, errlen, "%s: key \"mem_bytes\" missing", path);
		goto out;
	}
	if (json_object_object_get_ex(o, "local_bytes", &v))
		c->local_bytes = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "smp", &v))
		c->smp = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(o, "tiers", &t)) {
		if (!json_object_is_type(t, json_type_array) ||
		    json_object_array_length(t) > VMM_MAX_TIERS) {
			ret = fail(err, errlen, "%s: key \"tiers\" is not a list of at most %d specs",
				   path, VMM_MAX_TIERS);
			goto out;
		}
		for (size_t i = 0; i < json_object_array_length(t); i++) {
			s = json_object_get_string(json_object_array_get_idx(t, i));
			if (!s || !(c->tiers[c->tier_count] = strdup(s))) {
				ret = fail(err, errlen, "%s: tiers[%zu] is not a string", path, i);
				goto out;
			}
			c->tier_count++;
		}
	}
	if (json_object_object_get_ex(o, "own_dirs", &t) && json_object_is_type(t, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(t) && i < VMM_MAX_TIERS; i++) {
			s = json_object_get_string(json_object_array_get_idx(t, i));
			if (s && s[0] == '/' && (c->tier_dirs[c->tier_dir_count] = strdup(s)))
				c->tier_dir_count++;
		}
	}
	if ((s = get_str(o, "policy")))
		c->policy = strdup(s);
	if ((s = get_str(o, "prefetch")))
		c->prefetch = strdup(s);
	if ((s = get_str(o, "stats_json")))
		c->stats_json = strdup(s);
	c->qemu = strdup((s = get_str(o, "qemu")) ? s : POOLVM_LIBVIRT_QEMU);
out:
	json_object_put(o);
	if (ret)
		vmm_libvirt_conf_free(c);
	return ret;
}
