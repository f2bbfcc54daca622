/* pods/pod_control.c — a pod's control socket and metrics endpoint: the
 * pod's statistics (pod_stats_json()) for common/ctl_server.c. */
#include "pod_control.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"
#include "ctl_server.h"
#include "expose.h"
#include "pod.h"

struct pod_control {
	struct pod *pod;
	char name[PVM_CTL_NAME_MAX + 1];
	struct pvm_ctl *ctl;
};

static json_object *pod_ctl_stats(void *arg)
{
	struct pod_control *c = arg;
	json_object *o = pod_stats_json(c->pod);

	if (o)
		json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	return o;
}

static int pod_ctl_metrics(void *arg, char **text, size_t *len)
{
	struct pod_control *c = arg;
	json_object *o = pod_stats_json(c->pod);
	int ret;

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "name", json_object_new_string(c->name));
	ret = pvm_expose_pod(o, text, len);
	json_object_put(o);
	return ret;
}

static const struct pvm_ctl_ops pod_ctl_ops = {
	.size = sizeof(struct pvm_ctl_ops),
	.stats = pod_ctl_stats,
	.metrics = pod_ctl_metrics,
};

int pod_control_start(struct pod *pod, const char *name, const char *metrics,
		      struct pod_control **out)
{
	struct pod_control *c = calloc(1, sizeof(*c));
	struct pvm_ctl_config cfg = {
		.kind = "pod", .name = name, .metrics = metrics, .ops = &pod_ctl_ops,
	};
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->pod = pod;
	snprintf(c->name, sizeof(c->name), "%s", name);
	cfg.ctx = c;
	ret = pvm_ctl_start(&cfg, &c->ctl);
	if (ret < 0) {
		free(c);
		return ret;
	}
	if (metrics)
		pvm_info("pod: metrics on http://%s/metrics (port %d); control socket %s",
			 metrics, pvm_ctl_metrics_port(c->ctl), pvm_ctl_socket_path(c->ctl));
	*out = c;
	return 0;
}

void pod_control_stop(struct pod_control *c)
{
	if (!c)
		return;
	pvm_ctl_stop(c->ctl);
	free(c);
}
