/* common/expose.h — the Prometheus exposition of a VM's and a pod's
 * statistics, made from the same JSON objects their control sockets answer
 * (so `poolvm stats --json` and /metrics never disagree). Metric names and
 * meanings: docs/metrics.md.
 */
#ifndef POOLVM_COMMON_EXPOSE_H
#define POOLVM_COMMON_EXPOSE_H

#include <stddef.h>

struct json_object;

/**
 * pvm_expose_vm() - Prometheus text for a VM snapshot: {"name", "mem_bytes",
 * "local_bytes", "pager": swap_pager_stats_json()} (the pager may be absent
 * before QEMU attached). Return: 0 and malloc()ed *@text, or -errno.
 */
int pvm_expose_vm(struct json_object *snap, char **text, size_t *len);

/**
 * pvm_expose_pod() - Prometheus text for a pod snapshot: {"name", and the
 * fields of the pod's --stats-json}. Return: as pvm_expose_vm().
 */
int pvm_expose_pod(struct json_object *snap, char **text, size_t *len);

#endif
