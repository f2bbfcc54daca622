/* vmm/host_view.h — what `poolvm stats` and `poolvm top` see: the VMs and
 * pods of this host, read from their control sockets under the run
 * directory (common/ctl_server.h), and the numbers derived from them.
 *
 * Concepts: a view is one sample of every process that answered; stale
 * sockets (a process killed without cleaning up) are skipped. Rates and
 * interval percentiles come from two samples of the same name.
 */
#ifndef POOLVM_VMM_HOST_VIEW_H
#define POOLVM_VMM_HOST_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pager.h"

struct json_object;

struct host_entry {
	char kind[8];                   /* "vm" or "pod" */
	char name[72];
	struct json_object *stats;      /* the control socket's answer */
	uint64_t t_ns;                  /* when it was read */
	/* VMs, from stats (zero before the pager attached) */
	bool attached;
	int pid;
	const char *state;
	uint64_t mem_pages, local_pages, resident, dram_pages, remote_pages, disk_pages;
	uint64_t faults, evictions, refaults;
	uint64_t lat[SWAP_LAT_BUCKETS];
	double uptime_s;
	/* pods */
	uint64_t cap_bytes, free_bytes, leased_bytes, clients, leases;
};

struct host_view {
	struct host_entry *e;
	size_t n;
};

/**
 * host_view_read() - read every VM and pod of the run directory, or only
 * those in @names (@nnames of them; each name is looked up as a VM, then as
 * a pod). Return: 0; -ENOENT when a named one does not answer (reported);
 * -ENOMEM.
 */
int host_view_read(struct host_view *v, char **names, size_t nnames);

/** host_view_free() - drop a view (fields zeroed). */
void host_view_free(struct host_view *v);

/** host_view_find() - the entry of @kind and @name in @v, or NULL. */
const struct host_entry *host_view_find(const struct host_view *v, const char *kind,
					const char *name);

/** host_format_pages() - "123.4M" style size of @pages 4 KiB pages. */
char *host_format_pages(uint64_t pages, char *buf, size_t len);

#endif
