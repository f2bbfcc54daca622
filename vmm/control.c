/* vmm/control.c — a VM's control socket and metrics endpoint: snapshots of
 * the pager's statistics for common/ctl_server.c (see control.h). */
#include "control.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "ctl_server.h"
#include "expose.h"
#include "pager.h"

struct vmm_control {
	char name[PVM_CTL_NAME_MAX + 1];
	uint64_t mem_bytes, local_bytes;
	uint64_t t_start;
	pthread_mutex_t lock;           /* pager, qemu_pid */
	struct swap_pager *pager;
	int qemu_pid;
	struct pvm_ctl *ctl;
};

static json_object *vm_stats(void *arg)
{
	struct vmm_control *c = arg;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(o, "uptime_s", json_object_new_double(
		(double)(pvm_now_ns() - c->t_start) / 1e9));
	json_object_object_add(o, "mem_bytes", json_object_new_uint64(c->mem_bytes));
	json_object_object_add(o, "local_bytes", json_object_new_uint64(
		c->local_bytes ? c->local_bytes : c->mem_bytes));
	pthread_mutex_lock(&c->lock);
	if (c->pager) {
		json_object_object_add(o, "state", json_object_new_string(
			swap_pager_failed(c->pager) ? "failed" : "running"));
		json_object_object_add(o, "qemu_pid", json_object_new_int(c->qemu_pid));
		json_object_object_add(o, "pager", swap_pager_stats_json(c->pager));
	} else {
		json_object_object_add(o, "state", json_object_new_string("starting"));
	}
	pthread_mutex_unlock(&c->lock);
	return o;
}

static int vm_metrics(void *arg, char **text, size_t *len)
{
	struct vmm_control *c = arg;
	json_object *o = vm_stats(c);
	int ret;

	json_object_object_add(o, "name", json_object_new_string(c->name));
	ret = pvm_expose_vm(o, text, len);
	json_object_put(o);
	return ret;
}

static const struct pvm_ctl_ops vm_ctl_ops = {
	.size = sizeof(struct pvm_ctl_ops),
	.stats = vm_stats,
	.metrics = vm_metrics,
};

int vmm_control_start(const char *name, const char *metrics, uint64_t mem_bytes,
		      uint64_t local_bytes, struct vmm_control **out)
{
	struct vmm_control *c = calloc(1, sizeof(*c));
	struct pvm_ctl_config cfg = {
		.kind = "vm", .name = name, .metrics = metrics, .ops = &vm_ctl_ops,
	};
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->mem_bytes = mem_bytes;
	c->local_bytes = local_bytes;
	c->t_start = pvm_now_ns();
	pthread_mutex_init(&c->lock, NULL);
	cfg.ctx = c;
	ret = pvm_ctl_start(&cfg, &c->ctl);
	if (ret < 0) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return ret;
	}
	if (metrics)
		pvm_info("metrics: http://%s/metrics (port %d); control socket %s",
			 metrics, pvm_ctl_metrics_port(c->ctl), pvm_ctl_socket_path(c->ctl));
	*out = c;
	return 0;
}

void vmm_control_attach(struct vmm_control *c, struct swap_pager *pager, int qemu_pid)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->pager = pager;
	c->qemu_pid = qemu_pid;
	pthread_mutex_unlock(&c->lock);
}

void vmm_control_stop(struct vmm_control *c)
{
	if (!c)
		return;
	pvm_ctl_stop(c->ctl);   /* no request runs after this */
	pthread_mutex_destroy(&c->lock);
	free(c);
}
