/* vmm/host_view.c — read the VMs and pods of this host from their control
 * sockets (see host_view.h). */
#include "host_view.h"

#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ctl_server.h"
#include "expose.h"

#define REQUEST_TIMEOUT_MS 2000

static void derive(struct host_entry *e)
{
	json_object *s = e->stats, *pager = pvm_json_get(s, "pager"), *tiers, *lat;

	e->pid = (int)pvm_json_u64(s, "pid");
	if (!strcmp(e->kind, "pod")) {
		json_object *mem = pvm_json_get(s, "memory"), *cl = pvm_json_get(s, "clients");

		e->cap_bytes = pvm_json_u64(mem, "total");
		e->free_bytes = pvm_json_u64(mem, "free");
		e->leased_bytes = pvm_json_u64(mem, "leased");
		e->clients = cl ? json_object_array_length(cl) : 0;
		e->leases = pvm_json_u64(pvm_json_get(s, "leases"), "alive");
		return;
	}
	e->state = json_object_get_string(pvm_json_get(s, "state"));
	e->uptime_s = json_object_get_double(pvm_json_get(s, "uptime_s"));
	e->mem_pages = pvm_json_u64(s, "mem_bytes") >> 12;
	e->local_pages = pvm_json_u64(s, "local_bytes") >> 12;
	if (!pager)
		return;
	e->attached = true;
	e->resident = pvm_json_u64(pager, "resident_pages");
	e->faults = pvm_json_u64(pager, "faults");
	e->evictions = pvm_json_u64(pager, "evictions");
	e->refaults = pvm_json_u64(pager, "refaults");
	tiers = pvm_json_get(pager, "tiers");
	for (size_t i = 0; tiers && i < json_object_array_length(tiers); i++) {
		json_object *t = json_object_array_get_idx(tiers, i);
		const char *kind = json_object_get_string(pvm_json_get(t, "kind"));
		uint64_t used = pvm_json_u64(t, "slots_used");

		if (!kind)
			continue;
		if (!strcmp(kind, "remote"))
			e->remote_pages += used;
		else if (!strcmp(kind, "disk"))
			e->disk_pages += used;
		else if (!strcmp(kind, "dram"))
			e->dram_pages += used;
	}
	lat = pvm_json_get(pvm_json_get(pager, "fault_latency"), "log2_us_buckets");
	for (size_t i = 0; lat && i < json_object_array_length(lat) && i < SWAP_LAT_BUCKETS; i++)
		e->lat[i] = json_object_get_uint64(json_object_array_get_idx(lat, i));
}

static int add(struct host_view *v, const char *kind, const char *name, json_object *o)
{
	struct host_entry *e = realloc(v->e, (v->n + 1) * sizeof(*e));

	if (!e) {
		json_object_put(o);
		return -ENOMEM;
	}
	v->e = e;
	e = &v->e[v->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->stats = o;
	e->t_ns = pvm_now_ns();
	derive(e);
	return 0;
}

/* Ask KIND/NAME; 1 if it answered, 0 if nobody serves it, -errno. */
static int read_one(struct host_view *v, const char *kind, const char *name)
{
	char path[4096];
	json_object *o;
	int ret;

	snprintf(path, sizeof(path), "%s/%s/%s.sock", pvm_ctl_run_dir(), kind, name);
	ret = pvm_ctl_request(path, "stats", &o, REQUEST_TIMEOUT_MS);
	if (ret == -ENOENT || ret == -ECONNREFUSED)
		return 0;       /* absent, or stale: its process is gone */
	if (ret < 0) {
		pvm_err("%s: %s", path, strerror(-ret));
		return 0;
	}
	if (pvm_json_get(o, "error")) {
		pvm_err("%s: %s", path, json_object_get_string(pvm_json_get(o, "error")));
		json_object_put(o);
		return 0;
	}
	ret = add(v, kind, name, o);
	return ret < 0 ? ret : 1;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_kind(struct host_view *v, const char *kind)
{
	char dir[4096];
	char **names = NULL;
	size_t n = 0;
	struct dirent *d;
	DIR *dp;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s/%s", pvm_ctl_run_dir(), kind);
	dp = opendir(dir);
	if (!dp)
		return 0;       /* nothing of this kind ever ran here */
	while ((d = readdir(dp)) != NULL) {
		size_t len = strlen(d->d_name);
		char **nn;

		if (len <= 5 || strcmp(d->d_name + len - 5, ".sock"))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*nn));
		if (!nn) {
			ret = -ENOMEM;
			break;
		}
		names = nn;
		names[n] = strndup(d->d_name, len - 5);
		if (!names[n]) {
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(dp);
	if (n)
		qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (!ret && pvm_ctl_valid_name(names[i])) {
			int r = read_one(v, kind, names[i]);

			if (r < 0)
				ret = r;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int host_view_read(struct host_view *v, char **names, size_t nnames)
{
	int ret;

	memset(v, 0, sizeof(*v));
	if (!nnames) {
		ret = read_kind(v, "vm");
		if (!ret)
			ret = read_kind(v, "pod");
		return ret;
	}
	for (size_t i = 0; i < nnames; i++) {
		if (!pvm_ctl_valid_name(names[i])) {
			pvm_err("'%s' is not a VM or pod name", names[i]);
			return -ENOENT;
		}
		ret = read_one(v, "vm", names[i]);
		if (ret == 0)
			ret = read_one(v, "pod", names[i]);
		if (ret < 0)
			return ret;
		if (ret == 0) {
			pvm_err("no VM or pod named '%s' answers under %s", names[i],
				pvm_ctl_run_dir());
			return -ENOENT;
		}
	}
	return 0;
}

void host_view_free(struct host_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		json_object_put(v->e[i].stats);
	free(v->e);
	memset(v, 0, sizeof(*v));
}

const struct host_entry *host_view_find(const struct host_view *v, const char *kind,
					const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->e[i].kind, kind) && !strcmp(v->e[i].name, name))
			return &v->e[i];
	return NULL;
}

char *host_format_pages(uint64_t pages, char *buf, size_t len)
{
	double b = (double)pages * 4096.0;
	static const char units[] = "KMGTP";
	int u = -1;

	while (b >= 1024.0 && u < 4) {
		b /= 1024.0;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%.0f", b);
	else
		snprintf(buf, len, b < 10 ? "%.1f%c" : "%.0f%c", b, units[u]);
	return buf;
}
