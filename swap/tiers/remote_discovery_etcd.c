/* swap/tiers/remote_discovery_etcd.c — the "etcd" pod discovery source
 * (discovery.h): pods come from the pod registry (registry/registry.h,
 * docs/registry.md).
 *
 *   pods=etcd://HOST:PORT[+HOST:PORT...][/PREFIX]
 *
 * reserve() takes a lease of the tier's own (kept alive by a session
 * thread: if this VMM dies, its reservations expire with it) and reserves
 * copies x bytes spread over the registered pods, at most one copy's worth
 * per pod, in one transaction (registry_reserve). list() answers the pods
 * it holds a reservation on that are still registered (and those it listed
 * before that are still registered: a draining pod stays readable while
 * the tier moves its pages off); when one of them left the registry (its
 * lease expired: the pod died) or drains, it reserves the same amount
 * again on the pods that remain, so the tier can rebuild the lost
 * replicas there. When the lease itself was lost (etcd
 * unreachable longer than its TTL), the next list() reserves again under
 * the new one.
 */
#include "discovery.h"

#include "common.h"
#include "registry.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETCD_HOLDS_MAX 64
#define VMM_TTL_S      10

struct etcd_discovery {
	struct remote_discovery base;
	char endpoints[512];
	char prefix[REGISTRY_PREFIX_MAX];
	struct etcd_client *etcd;               /* for list(); the session has its own */
	struct registry_session *session;
	struct registry_want want;
	char client[REGISTRY_ID_MAX + 1];
	bool reserving;                         /* reserve() was called */
	atomic_bool lease_changed;              /* set by the session thread */
	pthread_mutex_t lock;                   /* holds, nholds (quota() reads) */
	struct registry_hold holds[ETCD_HOLDS_MAX];
	size_t nholds;
	/* What list() answered last (repair thread only): a pod stays listed
	 * while it is registered, even once we hold nothing there (it drains:
	 * the tier must still read the pages it has there). */
	struct remote_pod_addr listed[ETCD_HOLDS_MAX];
	size_t nlisted;
	bool said_error, said_short;
};

static int etcd_disc_open(const char *arg, struct remote_discovery **out)
{
	struct etcd_discovery *e;
	struct registry_view v;
	const char *slash;
	char why[200];
	size_t elen;
	int rc;

	if (!arg || strncmp(arg, "etcd://", 7)) {
		pvm_err("remote tier: pods=%s: write pods=etcd://HOST:PORT[+HOST:PORT][/PREFIX]",
			arg ? arg : "");
		return -EINVAL;
	}
	arg += 7;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	pthread_mutex_init(&e->lock, NULL);
	slash = strchr(arg, '/');
	elen = slash ? (size_t)(slash - arg) : strlen(arg);
	if (elen == 0 || elen >= sizeof(e->endpoints)) {
		pvm_err("remote tier: pods=etcd://%s: no etcd endpoint (HOST:PORT) or "
			"too long", arg);
		rc = -EINVAL;
		goto err;
	}
	memcpy(e->endpoints, arg, elen);
	snprintf(e->prefix, sizeof(e->prefix), "%s", slash ? slash : REGISTRY_PREFIX_DEFAULT);
	if (registry_prefix_check(e->prefix, why, sizeof(why))) {
		pvm_err("remote tier: pods=etcd://%s: %s", arg, why);
		rc = -EINVAL;
		goto err;
	}
	rc = etcd_open(e->endpoints, &e->etcd);
	if (rc)
		goto err;
	/* Say now, not at the first eviction, when etcd cannot be used. */
	rc = registry_view_load(e->etcd, e->prefix, &v);
	if (rc) {
		pvm_err("remote tier: pod registry: %s", etcd_error(e->etcd));
		goto err;
	}
	if (v.nbad)
		pvm_err("remote tier: pod registry %s: %zu malformed entries ignored, "
			"e.g. %s", e->prefix, v.nbad, v.bad_example);
	registry_view_free(&v);
	*out = &e->base;
	return 0;
err:
	etcd_close(e->etcd);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return rc;
}

static void etcd_disc_close(struct remote_discovery *d)
{
	struct etcd_discovery *e = (struct etcd_discovery *)d;

	/* Revoking the lease hands every reservation back at once. */
	registry_session_stop(e->session, true);
	etcd_close(e->etcd);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static void on_lease(void *arg, struct etcd_client *c, int64_t lease)
{
	struct etcd_discovery *e = arg;

	atomic_store(&e->lease_changed, true);
}

struct plan_arg {
	struct etcd_discovery *e;
	uint64_t short_by;
};

static int plan_spread(const struct registry_view *v, void *arg,
		       struct registry_hold *holds, size_t max)
{
	struct plan_arg *p = arg;

	return registry_plan(v, p->e->client, &p->e->want, holds, max, &p->short_by);
}

/* Reserve (again) against a fresh snapshot. 0 or -errno; @loud prints. */
static int reserve_now(struct etcd_discovery *e, bool loud)
{
	struct registry_hold holds[ETCD_HOLDS_MAX];
	struct plan_arg pa = { .e = e };
	struct etcd_client *c = registry_session_client(e->session);
	char a[32], b[32];
	size_t n = 0;
	int rc;

	rc = registry_reserve(c, e->prefix, e->client, registry_session_lease(e->session),
			      plan_spread, &pa, holds, ETCD_HOLDS_MAX, &n, 0, NULL);
	if (rc == -ENOSPC) {
		if (loud || !e->said_short)
			pvm_err("remote tier: the pods in the registry (%s under %s) lack "
				"room for %u copies of %s: %s short; start more pods or "
				"lower --replicas", e->endpoints, e->prefix, e->want.copies,
				pvm_format_size(e->want.bytes, a, sizeof(a)),
				pvm_format_size(pa.short_by, b, sizeof(b)));
		e->said_short = true;
		return rc;
	}
	if (rc) {
		if (loud || !e->said_error)
			pvm_err("remote tier: reserving in the pod registry failed: %s",
				rc == -EBUSY ? "too many conflicting transactions"
					     : etcd_error(c));
		e->said_error = true;
		return rc;
	}
	e->said_short = e->said_error = false;
	pthread_mutex_lock(&e->lock);
	memcpy(e->holds, holds, n * sizeof(*holds));
	e->nholds = n;
	pthread_mutex_unlock(&e->lock);
	for (size_t i = 0; i < n; i++)
		pvm_info("remote tier: reserved %s on pod %s in the registry",
			 pvm_format_size(holds[i].bytes, a, sizeof(a)), holds[i].pod);
	return 0;
}

static int etcd_disc_reserve(struct remote_discovery *d,
			     const struct remote_discovery_need *need)
{
	struct etcd_discovery *e = (struct etcd_discovery *)d;
	struct registry_session_config sc = { 0 };
	char why[200], what[128];
	int rc;

	if (registry_name_check(need->client_id, REGISTRY_ID_MAX, why, sizeof(why))) {
		pvm_err("remote tier: client id cannot name a reservation: %s", why);
		return -EINVAL;
	}
	snprintf(e->client, sizeof(e->client), "%s", need->client_id);
	e->want.bytes = need->bytes;
	e->want.copies = need->copies;
	e->want.unit = need->unit;
	snprintf(what, sizeof(what), "VMM %s", e->client);
	sc.endpoints = e->endpoints;
	sc.ttl_s = VMM_TTL_S;
	sc.what = what;
	sc.on_lease = on_lease;
	sc.arg = e;
	rc = registry_session_start(&sc, &e->session);
	if (rc)
		return rc;
	atomic_store(&e->lease_changed, false);
	e->reserving = true;
	return reserve_now(e, true);
}

static int etcd_disc_list(struct remote_discovery *d, struct remote_pod_addr *addrs,
			  size_t max, size_t *n)
{
	struct etcd_discovery *e = (struct etcd_discovery *)d;
	struct registry_view v;
	bool again = false;
	int rc;

	*n = 0;
	rc = registry_view_load(e->etcd, e->prefix, &v);
	if (rc) {
		if (!e->said_error)
			pvm_err("remote tier: pod registry: %s; keeping the pods "
				"already known", etcd_error(e->etcd));
		e->said_error = true;
		return rc;
	}
	if (!e->reserving) {
		for (size_t i = 0; i < v.npods && *n < max; i++)
			if (!v.pods[i].draining)
				snprintf(addrs[(*n)++].text, REMOTE_ADDR_MAX, "%s",
					 v.pods[i].addr);
		registry_view_free(&v);
		e->said_error = false;
		return 0;
	}
	/* Reserve again when the lease was replaced, a pod we hold left or
	 * drains, or our reservation there vanished. */
	if (atomic_exchange(&e->lease_changed, false))
		again = true;
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->nholds && !again; i++) {
		const struct registry_pod *p = registry_view_pod(&v, e->holds[i].pod);

		if (!p || p->draining ||
		    registry_view_mine(&v, p->addr, e->client) < e->holds[i].bytes)
			again = true;
	}
	pthread_mutex_unlock(&e->lock);
	if (again) {
		pvm_info("remote tier: pods left the registry or our reservations "
			 "changed; reserving again on the pods that remain");
		registry_view_free(&v);
		reserve_now(e, false);          /* keeps the old holds on failure */
		rc = registry_view_load(e->etcd, e->prefix, &v);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->nholds && *n < max; i++)
		if (registry_view_pod(&v, e->holds[i].pod))
			snprintf(addrs[(*n)++].text, REMOTE_ADDR_MAX, "%s", e->holds[i].pod);
	pthread_mutex_unlock(&e->lock);
	/* Pods listed before and still registered stay (quota 0 now). */
	for (size_t i = 0; i < e->nlisted && *n < max; i++) {
		bool dup = false;

		for (size_t k = 0; k < *n && !dup; k++)
			dup = !strcmp(addrs[k].text, e->listed[i].text);
		if (!dup && registry_view_pod(&v, e->listed[i].text))
			addrs[(*n)++] = e->listed[i];
	}
	e->nlisted = PVM_MIN(*n, (size_t)ETCD_HOLDS_MAX);
	memcpy(e->listed, addrs, e->nlisted * sizeof(*addrs));
	registry_view_free(&v);
	e->said_error = false;
	return 0;
}

static uint64_t etcd_disc_quota(struct remote_discovery *d, const char *addr)
{
	struct etcd_discovery *e = (struct etcd_discovery *)d;
	uint64_t q = e->reserving ? 0 : UINT64_MAX;

	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->nholds; i++)
		if (!strcmp(e->holds[i].pod, addr))
			q = e->holds[i].bytes;
	pthread_mutex_unlock(&e->lock);
	return q;
}

const struct remote_discovery_ops remote_discovery_etcd_ops = {
	.size = sizeof(struct remote_discovery_ops),
	.name = "etcd",
	.open = etcd_disc_open,
	.close = etcd_disc_close,
	.list = etcd_disc_list,
	.reserve = etcd_disc_reserve,
	.quota = etcd_disc_quota,
	.authoritative = true,
};
