/* pods/pod_control.h — a pod's control surfaces: RUN/pod/NAME.sock (live
 * statistics as JSON for `poolvm stats` and `poolvm top`) and, with
 * --metrics, Prometheus text on GET /metrics (common/ctl_server.h). */
#ifndef POOLVM_PODS_POD_CONTROL_H
#define POOLVM_PODS_POD_CONTROL_H

struct pod;
struct pod_control;

/**
 * pod_control_start() - serve @pod's statistics as @name, with HTTP on
 * @metrics ("[ADDR:]PORT") unless NULL. Return: 0 and *@out, or -errno
 * (reported). The pod must outlive pod_control_stop().
 */
int pod_control_start(struct pod *pod, const char *name, const char *metrics,
		      struct pod_control **out);

/** pod_control_stop() - stop serving and remove the socket; NULL: no-op. */
void pod_control_stop(struct pod_control *ctl);

#endif
