/* registry/session.c — etcd leases kept alive by a thread, and a pod's
 * announcement built on one (registry.h).
 *
 * The thread wakes every 250 ms: it renews the lease every TTL/3, grants a
 * new one (and calls on_lease) when etcd says the old one is gone, and
 * calls on_tick. etcd being unreachable is said once, and once more when
 * it answers again.
 */
#include "registry.h"

#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct registry_session {
	struct registry_session_config cfg;
	char what[160];
	struct etcd_client *etcd;
	_Atomic int64_t lease;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;                  /* lock */
	bool said_down;
};

struct etcd_client *registry_session_client(struct registry_session *s)
{
	return s->etcd;
}

int64_t registry_session_lease(struct registry_session *s)
{
	return atomic_load(&s->lease);
}

/* Sleep @ms or until stopped; true when stopping. */
static bool session_sleep(struct registry_session *s, unsigned ms)
{
	struct timespec ts;
	bool stop;

	ts = pvm_deadline_ms(CLOCK_MONOTONIC, ms);
	pthread_mutex_lock(&s->lock);
	if (!s->stopping)
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	stop = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void *session_main(void *arg)
{
	struct registry_session *s = arg;
	uint64_t period_ns = (uint64_t)s->cfg.ttl_s * 1000000000ull / 3;
	uint64_t next = pvm_now_ns() + period_ns;

	/* Wake often: a renewal that comes late under load loses the lease. */
	while (!session_sleep(s, 250)) {
		int64_t lease = atomic_load(&s->lease), ttl = 0, fresh = 0;
		int rc = 0;

		if (pvm_now_ns() >= next) {
			rc = lease ? etcd_lease_keepalive(s->etcd, lease, &ttl) : -ENOENT;
			if (rc == -ENOENT) {
				if (lease)
					pvm_err("registry: %s: etcd lease %" PRIx64 " was "
						"lost (etcd unreachable for longer than "
						"its TTL?); taking a new one", s->what,
						(uint64_t)lease);
				rc = etcd_lease_grant(s->etcd, s->cfg.ttl_s, &fresh);
				if (!rc) {
					atomic_store(&s->lease, fresh);
					if (s->cfg.on_lease)
						s->cfg.on_lease(s->cfg.arg, s->etcd, fresh);
				} else {
					atomic_store(&s->lease, 0);
				}
			}
			if (rc && !s->said_down) {
				pvm_err("registry: %s: cannot renew its etcd lease: %s; "
					"retrying every second", s->what,
					etcd_error(s->etcd));
				s->said_down = true;
			} else if (!rc && s->said_down) {
				pvm_info("registry: %s: etcd answers again", s->what);
				s->said_down = false;
			}
			/* Renew at TTL/3; after a failure, try again in a second. */
			next = pvm_now_ns() + (rc ? 1000000000ull : period_ns);
		}
		if (s->cfg.on_tick && atomic_load(&s->lease))
			s->cfg.on_tick(s->cfg.arg, s->etcd, atomic_load(&s->lease));
	}
	return NULL;
}

int registry_session_start(const struct registry_session_config *cfg,
			   struct registry_session **out)
{
	struct registry_session *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;
	sigset_t all, old;
	int64_t lease = 0;
	int rc;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.ttl_s)
		s->cfg.ttl_s = REGISTRY_TTL_DEFAULT;
	snprintf(s->what, sizeof(s->what), "%s", cfg->what ? cfg->what : "session");
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = etcd_open(cfg->endpoints, &s->etcd);
	if (rc)
		goto err;
	rc = etcd_lease_grant(s->etcd, s->cfg.ttl_s, &lease);
	if (rc) {
		pvm_err("registry: %s: cannot take an etcd lease: %s", s->what,
			etcd_error(s->etcd));
		goto err;
	}
	atomic_store(&s->lease, lease);
	if (cfg->on_lease)
		cfg->on_lease(cfg->arg, s->etcd, lease);
	/* The thread takes no signal meant for the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&s->thread, NULL, session_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		pvm_err("registry: %s: cannot start a thread: %s", s->what, strerror(-rc));
		etcd_lease_revoke(s->etcd, lease);
		goto err;
	}
	pthread_setname_np(s->thread, "pvm-registry");
	s->started = true;
	*out = s;
	return 0;
err:
	etcd_close(s->etcd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}

void registry_session_stop(struct registry_session *s, bool revoke)
{
	int64_t lease;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->started)
		pthread_join(s->thread, NULL);
	lease = atomic_load(&s->lease);
	if (revoke && lease && etcd_lease_revoke(s->etcd, lease) &&
	    etcd_error(s->etcd)[0])
		pvm_err("registry: %s: revoking its etcd lease failed: %s; its keys "
			"go when the lease expires", s->what, etcd_error(s->etcd));
	etcd_close(s->etcd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- a pod's announcement ---- */

#define ANNOUNCE_MIN_INTERVAL_NS 1000000000ull

struct registry_announce {
	struct registry_announce_config cfg;
	char prefix[REGISTRY_PREFIX_MAX];
	char key[REGISTRY_PREFIX_MAX + REGISTRY_ADDR_MAX + 8];
	struct registry_pod pod;        /* last written (session thread only) */
	uint64_t last_write_ns;
	bool dirty;                     /* last write failed */
	struct registry_session *session;
};

static int announce_write(struct registry_announce *a, struct etcd_client *c,
			  int64_t lease)
{
	char *value;
	int rc;

	a->cfg.sample(a->cfg.arg, &a->pod.total, &a->pod.free, &a->pod.draining);
	value = registry_pod_value(&a->pod);
	if (!value)
		return -ENOMEM;
	rc = etcd_put(c, a->key, value, lease);
	free(value);
	a->last_write_ns = pvm_now_ns();
	a->dirty = rc != 0;
	return rc;
}

static void announce_on_lease(void *arg, struct etcd_client *c, int64_t lease)
{
	struct registry_announce *a = arg;
	int rc = announce_write(a, c, lease);

	if (rc && a->session)       /* at start, the caller reports it */
		pvm_err("registry: pod %s: cannot write %s: %s", a->pod.addr, a->key,
			etcd_error(c));
}

static void announce_on_tick(void *arg, struct etcd_client *c, int64_t lease)
{
	struct registry_announce *a = arg;
	uint64_t total, free_bytes;
	bool draining;

	a->cfg.sample(a->cfg.arg, &total, &free_bytes, &draining);
	/* A drain is news for every VMM choosing pods: it goes out at the
	 * next tick. Capacity changes are rewritten at most once a second. */
	if (draining != a->pod.draining) {
		announce_write(a, c, lease);
		return;
	}
	if (pvm_now_ns() - a->last_write_ns < ANNOUNCE_MIN_INTERVAL_NS)
		return;
	if (!a->dirty && total == a->pod.total && free_bytes == a->pod.free)
		return;
	announce_write(a, c, lease);
}

int registry_announce_start(const struct registry_announce_config *cfg,
			    struct registry_announce **out)
{
	struct registry_announce *a;
	struct registry_session_config sc = { 0 };
	char why[200], what[160];
	int rc;

	if (cfg->prefix && registry_prefix_check(cfg->prefix, why, sizeof(why))) {
		pvm_err("registry: --etcd-prefix: %s", why);
		return -EINVAL;
	}
	if (registry_name_check(cfg->addr, REGISTRY_ADDR_MAX - 1, why, sizeof(why))) {
		pvm_err("registry: pod address %s cannot be a registry key: %s "
			"(the shm fabric's names cannot be registered)", cfg->addr, why);
		return -EINVAL;
	}
	if (!strncmp(cfg->addr, "0.0.0.0:", 8) || !strncmp(cfg->addr, "[::]:", 5)) {
		pvm_err("registry: pod %s: a wildcard address cannot be registered; "
			"give --listen the address VMMs should connect to", cfg->addr);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	snprintf(a->prefix, sizeof(a->prefix), "%s",
		 cfg->prefix ? cfg->prefix : REGISTRY_PREFIX_DEFAULT);
	snprintf(a->key, sizeof(a->key), "%s/pods/%s", a->prefix, cfg->addr);
	snprintf(a->pod.addr, sizeof(a->pod.addr), "%s", cfg->addr);
	snprintf(a->pod.fabric, sizeof(a->pod.fabric), "%s", cfg->fabric);
	snprintf(a->pod.pod_id, sizeof(a->pod.pod_id), "%s",
		 cfg->pod_id ? cfg->pod_id : "");
	snprintf(a->pod.version, sizeof(a->pod.version), "%s",
		 cfg->version ? cfg->version : POOLVM_VERSION);
	a->pod.started = (int64_t)time(NULL);
	snprintf(what, sizeof(what), "pod %s", cfg->addr);
	sc.endpoints = cfg->endpoints;
	sc.ttl_s = cfg->ttl_s;
	sc.what = what;
	sc.on_lease = announce_on_lease;
	sc.on_tick = announce_on_tick;
	sc.arg = a;
	rc = registry_session_start(&sc, &a->session);
	if (rc) {
		free(a);
		return rc;
	}
	if (a->dirty) {
		pvm_err("registry: pod %s: cannot write %s: %s", cfg->addr, a->key,
			etcd_error(registry_session_client(a->session)));
		registry_session_stop(a->session, true);
		free(a);
		return -EIO;
	}
	pvm_info("registry: pod %s registered as %s in etcd %s (TTL %u s)", cfg->addr,
		 a->key, cfg->endpoints, cfg->ttl_s ? cfg->ttl_s : REGISTRY_TTL_DEFAULT);
	*out = a;
	return 0;
}

void registry_announce_stop(struct registry_announce *a, bool revoke)
{
	if (!a)
		return;
	registry_session_stop(a->session, revoke);
	if (revoke)
		pvm_info("registry: pod %s left the registry", a->pod.addr);
	free(a);
}
