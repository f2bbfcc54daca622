/* common/expose.c — VM and pod statistics (JSON) as Prometheus text; the
 * metric list is in docs/metrics.md. */
#include "expose.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

#define LAT_BUCKETS_MAX 64
#define MAX_TIERS 8
#define PVM_ARRAY_SIZE_LOCAL(a) (sizeof(a) / sizeof((a)[0]))

json_object *pvm_json_get(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

uint64_t pvm_json_u64(json_object *o, const char *key)
{
	json_object *v = pvm_json_get(o, key);

	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);

		return d > 0 ? (uint64_t)d : 0;
	}
	if (json_object_is_type(v, json_type_int))
		return json_object_get_uint64(v);
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? 1 : 0;
	return 0;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v = pvm_json_get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* One gauge or counter family with a single sample. */
static void one(struct pvm_metrics *m, const char *name, const char *type,
		const char *help, const char *labels, uint64_t v)
{
	pvm_metrics_family(m, name, type, help);
	pvm_metrics_u64(m, labels, v);
}

/* A latency object {"log2_us_buckets": [...], "sum_ns": N} as one series. */
static void latency(struct pvm_metrics *m, const char *labels, json_object *lat)
{
	uint64_t b[LAT_BUCKETS_MAX] = { 0 };
	json_object *arr = pvm_json_get(lat, "log2_us_buckets");
	size_t n = 0;

	if (!arr || !json_object_is_type(arr, json_type_array))
		return;
	n = json_object_array_length(arr);
	if (n > LAT_BUCKETS_MAX)
		n = LAT_BUCKETS_MAX;
	for (size_t i = 0; i < n; i++)
		b[i] = json_object_get_uint64(json_object_array_get_idx(arr, i));
	pvm_metrics_histogram(m, labels, b, n, (double)pvm_json_u64(lat, "sum_ns") / 1e9);
}

struct tier_view {
	json_object *obj;
	char name[48];
	char labels[PVM_METRICS_LABELS_MAX];
};

/* Per-tier counters: one family, one sample per tier. */
static void per_tier(struct pvm_metrics *m, struct tier_view *t, size_t nt,
		     const char *name, const char *type, const char *help,
		     const char *key, bool only_if_present)
{
	bool any = false;

	for (size_t i = 0; i < nt && !any; i++)
		any = !only_if_present || pvm_json_get(t[i].obj, key);
	if (!any)
		return;
	pvm_metrics_family(m, name, type, help);
	for (size_t i = 0; i < nt; i++)
		if (!only_if_present || pvm_json_get(t[i].obj, key))
			pvm_metrics_u64(m, t[i].labels, pvm_json_u64(t[i].obj, key));
}

/* Remote tiers: replica health and the pods they lease from. */
static void remote(struct pvm_metrics *m, const char *vm, struct tier_view *t, size_t nt)
{
	static const struct { const char *name, *type, *key, *help; } f[] = {
		{ "poolvm_remote_replicas_wanted", "gauge", "replicas",
		  "Copies kept of each remote page (--replicas)." },
		{ "poolvm_remote_pages", "gauge", "slots",
		  "Pages stored in the remote tier." },
		{ "poolvm_remote_pages_degraded", "gauge", "slots_degraded",
		  "Remote pages with fewer healthy replicas than wanted (still readable)." },
		{ "poolvm_remote_pages_unreplicated", "gauge", "slots_unreplicated",
		  "Remote pages with no readable replica (only a backup, if any, has them)." },
		{ "poolvm_remote_rebuilds_total", "counter", "rebuilds",
		  "Replicas rebuilt after a pod was lost." },
		{ "poolvm_remote_rebuild_failures_total", "counter", "rebuild_failures",
		  "Replica rebuilds that failed." },
		{ "poolvm_remote_read_failovers_total", "counter", "read_failovers",
		  "Loads served by another replica after one failed." },
		{ "poolvm_remote_lost_loads_total", "counter", "lost_loads",
		  "Loads that found no replica." },
		{ "poolvm_remote_leases", "gauge", "leases",
		  "Leases held on pods." },
	};
	json_object *r[MAX_TIERS] = { 0 };
	bool any = false;

	for (size_t i = 0; i < nt; i++) {
		r[i] = pvm_json_get(t[i].obj, "remote");
		any |= r[i] != NULL;
	}
	if (!any)
		return;
	for (size_t k = 0; k < PVM_ARRAY_SIZE_LOCAL(f); k++) {
		pvm_metrics_family(m, f[k].name, f[k].type, f[k].help);
		for (size_t i = 0; i < nt; i++)
			if (r[i])
				pvm_metrics_u64(m, t[i].labels, pvm_json_u64(r[i], f[k].key));
	}

	/* Pods by state, and per pod. */
	static const char *const states[] = { "connecting", "up", "draining", "dead" };

	pvm_metrics_family(m, "poolvm_remote_pods", "gauge",
			   "Pods the remote tier knows, by state (up, connecting, draining, dead).");
	for (size_t i = 0; i < nt; i++) {
		json_object *pods = pvm_json_get(r[i], "pods");

		if (!r[i])
			continue;
		for (size_t s = 0; s < 4; s++) {
			uint64_t count = 0;
			char l[PVM_METRICS_LABELS_MAX];

			for (size_t p = 0; pods && p < json_object_array_length(pods); p++) {
				const char *st = str(json_object_array_get_idx(pods, p), "state");

				count += st && !strcmp(st, states[s]);
			}
			pvm_metrics_labels(l, sizeof(l), "vm", vm, "tier", t[i].name,
					   "state", states[s], NULL);
			pvm_metrics_u64(m, l, count);
		}
	}
	static const struct { const char *name, *type, *key, *op, *help; } pf[] = {
		{ "poolvm_remote_pod_up", "gauge", NULL, NULL,
		  "1 while the pod is up, else 0." },
		{ "poolvm_remote_pod_pages", "gauge", "pages", NULL,
		  "Pages this VM keeps on the pod." },
		{ "poolvm_remote_pod_leased_bytes", "gauge", "leased_bytes", NULL,
		  "Bytes this VM leases from the pod." },
		{ "poolvm_remote_pod_rma_ops_total", "counter", "rma_read_ops", "read",
		  "One-sided RMA operations issued to the pod." },
		{ "poolvm_remote_pod_rma_errors_total", "counter", "rma_errors", NULL,
		  "RMA operations to the pod that failed." },
		{ "poolvm_remote_pod_deaths_total", "counter", "deaths", NULL,
		  "Times the pod was declared dead." },
	};
	for (size_t k = 0; k < PVM_ARRAY_SIZE_LOCAL(pf); k++) {
		pvm_metrics_family(m, pf[k].name, pf[k].type, pf[k].help);
		for (size_t i = 0; i < nt; i++) {
			json_object *pods = pvm_json_get(r[i], "pods");

			for (size_t p = 0; pods && p < json_object_array_length(pods); p++) {
				json_object *po = json_object_array_get_idx(pods, p);
				const char *st = str(po, "state");
				char l[PVM_METRICS_LABELS_MAX];

				for (int w = 0; w < (pf[k].op ? 2 : 1); w++) {
					pvm_metrics_labels(l, sizeof(l), "vm", vm, "tier", t[i].name,
							   "pod", str(po, "addr"),
							   "op", pf[k].op ? (w ? "write" : "read") : NULL,
							   NULL);
					if (!pf[k].key)
						pvm_metrics_u64(m, l, st && !strcmp(st, "up"));
					else
						pvm_metrics_u64(m, l, pvm_json_u64(po, w ? "rma_write_ops" : pf[k].key));
				}
			}
		}
	}
}

int pvm_expose_vm(json_object *snap, char **text, size_t *len)
{
	static const struct { const char *name, *type, *key, *help; } pc[] = {
		{ "poolvm_guest_memory_pages", "gauge", "pages", "Guest RAM in 4 KiB pages." },
		{ "poolvm_local_limit_pages", "gauge", "limit_pages",
		  "Pages the pager may keep resident in local DRAM (--local)." },
		{ "poolvm_resident_pages", "gauge", "resident_pages", "Guest pages resident in local DRAM now." },
		{ "poolvm_resident_peak_pages", "gauge", "resident_peak_pages", "Most guest pages resident at once." },
		{ "poolvm_faults_total", "counter", "faults", "Missing-page faults the pager served." },
		{ "poolvm_first_touch_faults_total", "counter", "zero_fills",
		  "Faults served with a zero page (first touch, or after a discard)." },
		{ "poolvm_wp_faults_total", "counter", "wp_faults",
		  "Write-protect faults (first write to a clean page)." },
		{ "poolvm_prefetched_pages_total", "counter", "prefetched", "Pages installed by the prefetcher." },
		{ "poolvm_evictions_total", "counter", "evictions", "Pages evicted from local DRAM." },
		{ "poolvm_writebacks_total", "counter", "writebacks", "Evicted pages written to a tier." },
		{ "poolvm_clean_drops_total", "counter", "clean_drops",
		  "Evicted pages dropped without a write (a clean copy was in a tier)." },
		{ "poolvm_zero_drops_total", "counter", "zero_drops",
		  "Evicted pages that were all zeros (nothing written)." },
		{ "poolvm_evict_aborts_total", "counter", "evict_aborts", "Evictions undone because the guest wrote." },
		{ "poolvm_store_errors_total", "counter", "store_errors", "Pages a tier failed to store (kept resident)." },
		{ "poolvm_discards_total", "counter", "discards", "Pages QEMU discarded (balloon, free page reporting)." },
		{ "poolvm_fault_waits_total", "counter", "fault_waits", "Faults that waited for reclaim at the limit." },
		{ "poolvm_reclaim_batches_total", "counter", "reclaim_batches", "Eviction batches run by the reclaim thread." },
	};
	json_object *pager = pvm_json_get(snap, "pager"), *tiers = pvm_json_get(pager, "tiers");
	struct tier_view t[MAX_TIERS];
	size_t nt = 0;
	struct pvm_metrics m;
	char vm[PVM_METRICS_LABELS_MAX], l[PVM_METRICS_LABELS_MAX];
	const char *name = str(snap, "name") ? str(snap, "name") : "";

	pvm_metrics_init(&m);
	if (pvm_metrics_labels(vm, sizeof(vm), "vm", name, NULL) < 0)
		return -EINVAL;

	pvm_metrics_family(&m, "poolvm_vm_info", "gauge",
			   "Always 1; labels name the VM, its eviction policy and prefetcher.");
	pvm_metrics_labels(l, sizeof(l), "vm", name, "policy", str(pager, "policy"),
			   "prefetch", str(pager, "prefetch"), NULL);
	pvm_metrics_u64(&m, l, 1);
	one(&m, "poolvm_guest_memory_bytes", "gauge", "Guest RAM (--mem) in bytes.", vm,
	    pvm_json_u64(snap, "mem_bytes"));
	one(&m, "poolvm_pager_attached", "gauge",
	    "1 once QEMU handed its guest RAM to the pager, else 0.", vm, pager != NULL);
	if (!pager)
		return pvm_metrics_finish(&m, text, len);
	one(&m, "poolvm_pager_failed", "gauge",
	    "1 after the pager fail-stopped (the guest is stopped), else 0.", vm,
	    pvm_json_get(pager, "failed") != NULL);
	for (size_t k = 0; k < PVM_ARRAY_SIZE_LOCAL(pc); k++)
		one(&m, pc[k].name, pc[k].type, pc[k].help, vm, pvm_json_u64(pager, pc[k].key));

	for (size_t i = 0; tiers && i < json_object_array_length(tiers) && nt < MAX_TIERS; i++) {
		struct tier_view *tv = &t[nt];
		const char *kind = str(json_object_array_get_idx(tiers, i), "kind");
		bool dup = false;

		tv->obj = json_object_array_get_idx(tiers, i);
		kind = kind ? kind : "tier";
		for (size_t j = 0; j < nt; j++)
			dup |= !strcmp(str(t[j].obj, "kind") ? str(t[j].obj, "kind") : "tier", kind);
		if (dup)
			snprintf(tv->name, sizeof(tv->name), "%s#%zu", kind, i);
		else
			snprintf(tv->name, sizeof(tv->name), "%s", kind);
		pvm_metrics_labels(tv->labels, sizeof(tv->labels), "vm", name, "tier", tv->name, NULL);
		nt++;
	}
	per_tier(&m, t, nt, "poolvm_refaults_total", "counter",
		 "Faults served by loading the page back from a tier.", "refaults", false);
	per_tier(&m, t, nt, "poolvm_tier_used_pages", "gauge",
		 "Pages stored in the tier now.", "slots_used", false);
	per_tier(&m, t, nt, "poolvm_tier_capacity_pages", "gauge",
		 "Pages the tier can hold (bounded tiers only).", "slots_total", true);
	per_tier(&m, t, nt, "poolvm_tier_stores_total", "counter",
		 "Pages the tier stored.", "stores", false);
	per_tier(&m, t, nt, "poolvm_tier_loads_total", "counter",
		 "Pages the tier loaded.", "loads", false);
	per_tier(&m, t, nt, "poolvm_tier_store_errors_total", "counter",
		 "Pages the tier failed to store.", "store_errors", false);
	per_tier(&m, t, nt, "poolvm_tier_load_errors_total", "counter",
		 "Pages the tier failed to load.", "load_errors", false);

	pvm_metrics_family(&m, "poolvm_fault_latency_seconds", "histogram",
			   "Time to serve a missing-page fault, by what served the page: "
			   "kind=\"first_touch\" (a zero page) or kind=\"refault\" with its tier.");
	pvm_metrics_labels(l, sizeof(l), "vm", name, "kind", "first_touch", NULL);
	latency(&m, l, pvm_json_get(pager, "first_touch_latency"));
	for (size_t i = 0; i < nt; i++) {
		if (!pvm_json_get(t[i].obj, "refault_latency"))
			continue;
		pvm_metrics_labels(l, sizeof(l), "vm", name, "kind", "refault",
				   "tier", t[i].name, NULL);
		latency(&m, l, pvm_json_get(t[i].obj, "refault_latency"));
	}
	pvm_metrics_family(&m, "poolvm_fault_service_seconds", "histogram",
			   "Time to serve every missing-page fault, whatever served it.");
	latency(&m, vm, pvm_json_get(pager, "fault_latency"));

	remote(&m, name, t, nt);
	return pvm_metrics_finish(&m, text, len);
}

int pvm_expose_pod(json_object *snap, char **text, size_t *len)
{
	json_object *mem = pvm_json_get(snap, "memory"), *leases = pvm_json_get(snap, "leases");
	json_object *msgs = pvm_json_get(snap, "messages"), *clients = pvm_json_get(snap, "clients");
	const char *name = str(snap, "name") ? str(snap, "name") : "";
	char pod[PVM_METRICS_LABELS_MAX], l[PVM_METRICS_LABELS_MAX];
	struct pvm_metrics m;

	pvm_metrics_init(&m);
	if (pvm_metrics_labels(pod, sizeof(pod), "pod", name, NULL) < 0)
		return -EINVAL;
	pvm_metrics_family(&m, "poolvm_pod_info", "gauge",
			   "Always 1; labels name the pod, its announced id, address and fabric.");
	pvm_metrics_labels(l, sizeof(l), "pod", name, "pod_id", str(snap, "pod_id"),
			   "address", str(snap, "address"), "fabric", str(snap, "fabric"), NULL);
	pvm_metrics_u64(&m, l, 1);
	one(&m, "poolvm_pod_capacity_bytes", "gauge", "Bytes the pod can lease (--memory, in whole slabs).",
	    pod, pvm_json_u64(mem, "total"));
	one(&m, "poolvm_pod_free_bytes", "gauge", "Bytes in free slabs.", pod, pvm_json_u64(mem, "free"));
	one(&m, "poolvm_pod_leased_bytes", "gauge", "Bytes in leased slabs.", pod, pvm_json_u64(mem, "leased"));
	one(&m, "poolvm_pod_slab_bytes", "gauge", "Slab size: the unit of leasing.", pod, pvm_json_u64(mem, "slab_size"));
	one(&m, "poolvm_pod_clients", "gauge", "Authenticated client connections (a VMM may hold more than one).", pod,
	    clients ? json_object_array_length(clients) : 0);
	one(&m, "poolvm_pod_clients_pending", "gauge", "Clients still in the handshake.", pod,
	    pvm_json_u64(snap, "clients_pending"));
	one(&m, "poolvm_pod_leases", "gauge", "Leases alive.", pod, pvm_json_u64(leases, "alive"));
	one(&m, "poolvm_pod_leases_granted_total", "counter", "Leases granted since start.", pod,
	    pvm_json_u64(leases, "granted"));
	one(&m, "poolvm_pod_leases_refused_total", "counter",
	    "Lease requests refused (no space, draining, bad size).", pod, pvm_json_u64(leases, "refused"));
	one(&m, "poolvm_pod_leases_expired_total", "counter",
	    "Leases freed because their client went silent.", pod, pvm_json_u64(leases, "expired"));
	one(&m, "poolvm_pod_messages_total", "counter", "Control messages received.", pod,
	    pvm_json_u64(msgs, "received"));
	one(&m, "poolvm_pod_messages_rejected_total", "counter",
	    "Control messages rejected (malformed, unexpected, unauthenticated).", pod,
	    pvm_json_u64(msgs, "rejected"));
	one(&m, "poolvm_pod_auth_failures_total", "counter", "Handshakes with a wrong MAC.", pod,
	    pvm_json_u64(msgs, "auth_failures"));
	one(&m, "poolvm_pod_draining", "gauge", "1 while the pod drains, else 0.", pod,
	    pvm_json_u64(snap, "draining"));
	pvm_metrics_family(&m, "poolvm_pod_uptime_seconds", "gauge", "Seconds since the pod started.");
	pvm_metrics_double(&m, pod, (double)pvm_json_u64(snap, "uptime_ms") / 1000.0);
	pvm_metrics_family(&m, "poolvm_pod_client_leased_bytes", "gauge",
			   "Bytes leased by each client (by its client id).");
	for (size_t i = 0; clients && i < json_object_array_length(clients); i++) {
		json_object *c = json_object_array_get_idx(clients, i);

		pvm_metrics_labels(l, sizeof(l), "pod", name, "client", str(c, "id"), NULL);
		pvm_metrics_u64(&m, l, pvm_json_u64(c, "leased_bytes"));
	}
	return pvm_metrics_finish(&m, text, len);
}
