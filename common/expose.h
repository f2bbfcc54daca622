/* common/expose.h — the Prometheus exposition of a VM's and a pod's
 * statistics, made from the same JSON objects their control sockets answer
 * (so `poolvm stats --json` and /metrics never disagree). Metric names and
 * meanings: docs/metrics.md.
 */
#ifndef POOLVM_COMMON_EXPOSE_H
#define POOLVM_COMMON_EXPOSE_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/**
 * pvm_expose_vm() - Prometheus text for a VM snapshot: {"name", "mem_bytes",
 * "local_bytes", "pager": swap_pager_stats_json()} (the pager may be absent
 * before QEMU attached). Return: 0 and malloc()ed *@text, or -errno.
 */
/* pvm_json_get() - @o's member @key, or NULL (also for a NULL @o).
 * pvm_json_u64() - that member as a count: ints, doubles (negative -> 0)
 * and booleans; 0 when it is missing or of another type. */
struct json_object *pvm_json_get(struct json_object *o, const char *key);
uint64_t pvm_json_u64(struct json_object *o, const char *key);

int pvm_expose_vm(struct json_object *snap, char **text, size_t *len);

/**
 * pvm_expose_pod() - Prometheus text for a pod snapshot: {"name", and the
 * fields of the pod's --stats-json}. Return: as pvm_expose_vm().
 */
int pvm_expose_pod(struct json_object *snap, char **text, size_t *len);

#endif
