/* registry/registry.c — keys and values of the pod registry, snapshots of
 * it, and the reservation ledger (registry.h, docs/registry.md).
 */
#include "registry.h"

#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RESERVE_ATTEMPTS 64
#define PLAN_MAX_PODS    256

int registry_prefix_check(const char *prefix, char *why, size_t whylen)
{
	size_t n = prefix ? strlen(prefix) : 0;

	if (n < 2 || prefix[0] != '/' || prefix[n - 1] == '/' ||
	    n >= REGISTRY_PREFIX_MAX || strstr(prefix, "//")) {
		snprintf(why, whylen, "key prefix '%s' is not of the form /NAME[/NAME] "
			 "(at most %d characters, no trailing '/')", prefix ? prefix : "",
			 REGISTRY_PREFIX_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (prefix[i] <= ' ' || prefix[i] > '~') {
			snprintf(why, whylen, "key prefix '%s' has a space or a "
				 "non-ASCII character", prefix);
			return -EINVAL;
		}
	}
	return 0;
}

int registry_name_check(const char *text, size_t max, char *why, size_t whylen)
{
	size_t n = strlen(text);

	if (n == 0 || n > max) {
		snprintf(why, whylen, "'%.*s' must have 1 to %zu characters",
			 (int)PVM_MIN(n, 64u), text, max);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (text[i] <= ' ' || text[i] > '~' || text[i] == '/' || text[i] == '"' ||
		    text[i] == '\\') {
			snprintf(why, whylen, "'%.*s' has a character not allowed in a "
				 "registry key (space, '/', quote, non-ASCII)",
				 (int)PVM_MIN(n, 64u), text);
			return -EINVAL;
		}
	}
	return 0;
}

struct json_object *registry_pod_json(const struct registry_pod *p)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "address", json_object_new_string(p->addr));
	json_object_object_add(o, "fabric", json_object_new_string(p->fabric));
	json_object_object_add(o, "pod_id", json_object_new_string(p->pod_id));
	json_object_object_add(o, "total", json_object_new_uint64(p->total));
	json_object_object_add(o, "free", json_object_new_uint64(p->free));
	json_object_object_add(o, "started", json_object_new_int64(p->started));
	json_object_object_add(o, "version", json_object_new_string(p->version));
	json_object_object_add(o, "draining", json_object_new_boolean(p->draining));
	return o;
}

char *registry_pod_value(const struct registry_pod *p)
{
	struct json_object *o = registry_pod_json(p);
	const char *s;
	char *out;

	if (!o)
		return NULL;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	out = s ? strdup(s) : NULL;
	json_object_put(o);
	return out;
}

static struct json_object *parse_object(const char *json, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *o;

	if (!tok)
		return NULL;
	if (memchr(json, '\0', len)) {
		json_tokener_free(tok);
		return NULL;
	}
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  (size_t)json_tokener_get_parse_end(tok) != len ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static int field_string(struct json_object *o, const char *k, char *dst, size_t cap,
			bool required, char *why, size_t whylen)
{
	struct json_object *v;
	const char *s;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, k, &v) || !v) {
		if (!required)
			return 0;
		snprintf(why, whylen, "no \"%s\"", k);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(s = json_object_get_string(v)) >= cap) {
		snprintf(why, whylen, "\"%s\" is not a string of at most %zu "
			 "characters", k, cap - 1);
		return -EINVAL;
	}
	for (const char *c = s; *c; c++) {
		if (*c < ' ' || *c > '~') {
			snprintf(why, whylen, "\"%s\" has a control or non-ASCII "
				 "character", k);
			return -EINVAL;
		}
	}
	strcpy(dst, s);
	return 0;
}

static int field_u64(struct json_object *o, const char *k, uint64_t *out,
		     bool required, char *why, size_t whylen)
{
	struct json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, k, &v) || !v) {
		if (!required)
			return 0;
		snprintf(why, whylen, "no \"%s\"", k);
		return -EINVAL;
	}
	/* json-c keeps integers above INT64_MAX as uint64; a negative or
	 * fractional number is not a size. */
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
		snprintf(why, whylen, "\"%s\" is not a non-negative integer", k);
		return -EINVAL;
	}
	*out = json_object_get_uint64(v);
	return 0;
}

int registry_pod_parse(const char *json, size_t len, const char *addr,
		       struct registry_pod *out, char *why, size_t whylen)
{
	struct json_object *o = parse_object(json, len), *v;
	uint64_t started = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!o) {
		snprintf(why, whylen, "value is not a JSON object");
		return -EINVAL;
	}
	rc = field_string(o, "address", out->addr, sizeof(out->addr), true, why, whylen);
	if (!rc)
		rc = field_string(o, "fabric", out->fabric, sizeof(out->fabric), true,
				  why, whylen);
	if (!rc)
		rc = field_string(o, "pod_id", out->pod_id, sizeof(out->pod_id), false,
				  why, whylen);
	if (!rc)
		rc = field_string(o, "version", out->version, sizeof(out->version),
				  false, why, whylen);
	if (!rc)
		rc = field_u64(o, "total", &out->total, true, why, whylen);
	if (!rc)
		rc = field_u64(o, "free", &out->free, true, why, whylen);
	if (!rc)
		rc = field_u64(o, "started", &started, false, why, whylen);
	if (!rc && json_object_object_get_ex(o, "draining", &v) && v) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(why, whylen, "\"draining\" is not true or false");
			rc = -EINVAL;
		} else {
			out->draining = json_object_get_boolean(v);
		}
	}
	json_object_put(o);
	if (rc)
		return rc;
	out->started = (int64_t)PVM_MIN(started, (uint64_t)INT64_MAX);
	if (strcmp(out->addr, addr)) {
		snprintf(why, whylen, "\"address\" %s differs from the key's %s",
			 out->addr, addr);
		return -EINVAL;
	}
	if (out->free > out->total || out->total == 0) {
		snprintf(why, whylen, "capacity makes no sense: free %" PRIu64
			 " of total %" PRIu64, out->free, out->total);
		return -EINVAL;
	}
	return registry_name_check(out->addr, REGISTRY_ADDR_MAX - 1, why, whylen);
}

int registry_reservation_parse(const char *json, size_t len, uint64_t *bytes)
{
	struct json_object *o = parse_object(json, len);
	char why[64];
	int rc;

	*bytes = 0;
	if (!o)
		return -EINVAL;
	rc = field_u64(o, "bytes", bytes, true, why, sizeof(why));
	json_object_put(o);
	return rc;
}

void registry_view_free(struct registry_view *v)
{
	if (!v)
		return;
	free(v->pods);
	free(v->res);
	memset(v, 0, sizeof(*v));
}

const struct registry_pod *registry_view_pod(const struct registry_view *v,
					     const char *addr)
{
	for (size_t i = 0; i < v->npods; i++)
		if (!strcmp(v->pods[i].addr, addr))
			return &v->pods[i];
	return NULL;
}

uint64_t registry_view_mine(const struct registry_view *v, const char *addr,
			    const char *client)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < v->nres; i++)
		if (!strcmp(v->res[i].pod, addr) && !strcmp(v->res[i].client, client))
			sum += v->res[i].bytes;
	return sum;
}

static void note_bad(struct registry_view *v, const char *key, const char *why)
{
	if (!v->nbad++)
		snprintf(v->bad_example, sizeof(v->bad_example), "%.80s: %.100s", key, why);
}

int registry_view_load(struct etcd_client *c, const char *prefix,
		       struct registry_view *out)
{
	struct etcd_range_result r;
	char base[REGISTRY_PREFIX_MAX + 2], why[200];
	size_t blen;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(base, sizeof(base), "%s/", prefix);
	blen = strlen(base);
	rc = etcd_range_prefix(c, base, &r);
	if (rc)
		return rc;
	out->revision = r.revision;
	out->pods = calloc(r.n ? r.n : 1, sizeof(*out->pods));
	out->res = calloc(r.n ? r.n : 1, sizeof(*out->res));
	if (!out->pods || !out->res) {
		etcd_range_free(&r);
		registry_view_free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r.n; i++) {
		const struct etcd_kv *kv = &r.kvs[i];
		const char *rest = kv->key + blen;

		if (strncmp(kv->key, base, blen))
			continue;
		if (!strncmp(rest, "pods/", 5)) {
			struct registry_pod *p = &out->pods[out->npods];

			if (registry_pod_parse(kv->value, kv->value_len, rest + 5, p, why,
					       sizeof(why))) {
				note_bad(out, kv->key, why);
				continue;
			}
			p->create_revision = kv->create_revision;
			p->lease = kv->lease;
			out->npods++;
		} else if (!strncmp(rest, "reservations/", 13)) {
			struct registry_reservation *res = &out->res[out->nres];
			const char *pod = rest + 13, *slash = strchr(pod, '/');
			size_t plen = slash ? (size_t)(slash - pod) : 0;

			if (!slash || plen == 0 || plen >= sizeof(res->pod) ||
			    strlen(slash + 1) == 0 || strlen(slash + 1) > REGISTRY_ID_MAX ||
			    strchr(slash + 1, '/')) {
				note_bad(out, kv->key, "not reservations/POD/CLIENT");
				continue;
			}
			if (registry_reservation_parse(kv->value, kv->value_len,
						       &res->bytes)) {
				note_bad(out, kv->key, "value is not {\"bytes\": N}");
				continue;
			}
			memcpy(res->pod, pod, plen);
			res->pod[plen] = '\0';
			strcpy(res->client, slash + 1);
			res->lease = kv->lease;
			res->mod_revision = kv->mod_revision;
			out->nres++;
		}
	}
	etcd_range_free(&r);
	for (size_t i = 0; i < out->nres; i++) {
		for (size_t k = 0; k < out->npods; k++) {
			if (!strcmp(out->pods[k].addr, out->res[i].pod)) {
				out->pods[k].reserved += out->res[i].bytes;
				break;
			}
		}
	}
	return 0;
}

/* ---- plan ---- */

static uint64_t round_up(uint64_t x, uint64_t unit)
{
	return (x + unit - 1) / unit * unit;
}

int registry_plan(const struct registry_view *v, const char *client,
		  const struct registry_want *w, struct registry_hold *out,
		  size_t max, uint64_t *short_by)
{
	uint64_t unit = w->unit ? w->unit : 1, cap = round_up(w->bytes, unit);
	uint64_t need = cap * w->copies, sum = 0;
	uint64_t target[PLAN_MAX_PODS], room[PLAN_MAX_PODS];
	size_t n = PVM_MIN(v->npods, (size_t)PLAN_MAX_PODS), k = 0;

	*short_by = 0;
	for (size_t i = 0; i < n; i++) {
		const struct registry_pod *p = &v->pods[i];
		uint64_t mine = registry_view_mine(v, p->addr, client);
		uint64_t others = p->reserved - PVM_MIN(p->reserved, mine);
		uint64_t avail = p->total - PVM_MIN(p->total, others);

		/* What may be held here: whole units, one copy's worth. */
		room[i] = p->draining ? 0 : PVM_MIN(avail / unit * unit, cap);
		target[i] = PVM_MIN(mine / unit * unit, room[i]);
		sum += target[i];
	}
	/* Shrink a plan that holds more than needed (fewer copies asked). */
	for (size_t i = 0; i < n && sum > need; i++) {
		uint64_t drop = PVM_MIN(target[i], sum - need);

		drop = drop / unit * unit;
		target[i] -= drop;
		sum -= drop;
	}
	while (sum < need) {
		size_t best = SIZE_MAX;
		uint64_t best_free = 0;

		for (size_t i = 0; i < n; i++) {
			uint64_t left = room[i] - target[i];
			const struct registry_pod *p = &v->pods[i];
			uint64_t slack = p->total - PVM_MIN(p->total, p->reserved);

			if (left < unit)
				continue;
			/* Most unreserved room first: spreads the load. */
			if (best == SIZE_MAX || slack - PVM_MIN(slack, target[i]) > best_free) {
				best = i;
				best_free = slack - PVM_MIN(slack, target[i]);
			}
		}
		if (best == SIZE_MAX) {
			*short_by = need - sum;
			return -ENOSPC;
		}
		target[best] += unit;
		sum += unit;
	}
	for (size_t i = 0; i < n; i++) {
		if (!target[i])
			continue;
		if (k == max) {
			*short_by = need;
			return -ENOSPC;
		}
		snprintf(out[k].pod, sizeof(out[k].pod), "%s", v->pods[i].addr);
		out[k++].bytes = target[i];
	}
	return (int)k;
}

/* ---- reserve ---- */

struct txn_buf {
	struct etcd_cmp *cmps;
	struct etcd_op *ops;
	char **strs;
	size_t ncmp, nops, nstrs;
};

static char *keep(struct txn_buf *t, char *s)
{
	if (s)
		t->strs[t->nstrs++] = s;
	return s;
}

static char *fmt(const char *f, const char *a, const char *b, const char *c)
{
	char *s = NULL;

	if (asprintf(&s, f, a, b, c) < 0)
		return NULL;
	return s;
}

/* Build the transaction that moves @client from what @v shows to @holds. */
static int build_commit(const struct registry_view *v, const char *prefix,
			const char *client, int64_t lease,
			const struct registry_hold *holds, size_t n, struct txn_buf *t)
{
	size_t cap = 2 * (v->npods + v->nres + n) + 4;

	t->cmps = calloc(cap, sizeof(*t->cmps));
	t->ops = calloc(cap, sizeof(*t->ops));
	t->strs = calloc(4 * cap, sizeof(*t->strs));
	if (!t->cmps || !t->ops || !t->strs)
		return -ENOMEM;
	/* Raise or set: compares on the pod and its reservations. */
	for (size_t i = 0; i < n; i++) {
		const struct registry_pod *p = registry_view_pod(v, holds[i].pod);
		uint64_t mine = registry_view_mine(v, holds[i].pod, client);
		char val[48], *podkey, *rkey, *rbase, *rend, *value;

		if (!p)
			return -ENOENT;
		podkey = keep(t, fmt("%s/pods/%s%s", prefix, p->addr, ""));
		rbase = keep(t, fmt("%s/reservations/%s/%s", prefix, p->addr, ""));
		rend = rbase ? keep(t, etcd_prefix_end(rbase)) : NULL;
		rkey = keep(t, fmt("%s/reservations/%s/%s", prefix, p->addr, client));
		snprintf(val, sizeof(val), "{\"bytes\":%" PRIu64 "}", holds[i].bytes);
		value = keep(t, strdup(val));
		if (!podkey || !rbase || !rend || !rkey || !value)
			return -ENOMEM;
		if (holds[i].bytes > mine) {
			t->cmps[t->ncmp++] = (struct etcd_cmp){
				.key = podkey, .target = ETCD_CMP_CREATE,
				.result = ETCD_CMP_EQUAL, .number = p->create_revision };
			t->cmps[t->ncmp++] = (struct etcd_cmp){
				.key = rbase, .range_end = rend, .target = ETCD_CMP_MOD,
				.result = ETCD_CMP_LESS, .number = v->revision + 1 };
		}
		t->ops[t->nops++] = (struct etcd_op){
			.type = ETCD_OP_PUT, .key = rkey, .value = value, .lease = lease };
	}
	/* Drop what is not in @holds. */
	for (size_t i = 0; i < v->nres; i++) {
		const struct registry_reservation *r = &v->res[i];
		bool listed = false;
		char *rkey;

		if (strcmp(r->client, client))
			continue;
		for (size_t k = 0; k < n && !listed; k++)
			listed = !strcmp(holds[k].pod, r->pod);
		if (listed)
			continue;
		rkey = keep(t, fmt("%s/reservations/%s/%s", prefix, r->pod, client));
		if (!rkey)
			return -ENOMEM;
		t->ops[t->nops++] = (struct etcd_op){ .type = ETCD_OP_DELETE, .key = rkey };
	}
	return 0;
}

static void txn_free(struct txn_buf *t)
{
	for (size_t i = 0; i < t->nstrs; i++)
		free(t->strs[i]);
	free(t->strs);
	free(t->cmps);
	free(t->ops);
	memset(t, 0, sizeof(*t));
}

int registry_reserve(struct etcd_client *c, const char *prefix, const char *client,
		     int64_t lease, registry_plan_fn plan_fn, void *arg,
		     struct registry_hold *holds, size_t max, size_t *n,
		     unsigned hold_read_ms, struct registry_reserve_stats *stats)
{
	struct registry_reserve_stats local = { 0 };
	uint64_t seed = pvm_now_ns() ^ (uint64_t)getpid();

	if (!stats)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	*n = 0;
	for (unsigned attempt = 0; attempt < RESERVE_ATTEMPTS; attempt++) {
		struct registry_view v;
		struct txn_buf t = { 0 };
		bool ok = false;
		int rc, k;

		rc = registry_view_load(c, prefix, &v);
		if (rc)
			return rc;
		k = plan_fn(&v, arg, holds, max);
		if (k < 0) {
			registry_view_free(&v);
			return k;
		}
		if (hold_read_ms)
			usleep(hold_read_ms * 1000u);
		rc = build_commit(&v, prefix, client, lease, holds, (size_t)k, &t);
		if (!rc && t.nops)
			rc = etcd_txn(c, t.cmps, t.ncmp, t.ops, t.nops, &ok, NULL);
		else if (!rc)
			ok = true;      /* nothing to change */
		txn_free(&t);
		registry_view_free(&v);
		if (rc == -ENOENT)
			continue;       /* the pod left between plan and build */
		if (rc)
			return rc;
		stats->attempts++;
		if (ok) {
			*n = (size_t)k;
			return 0;
		}
		stats->conflicts++;
		/* Lost a race: back off a little, at random, and re-read. */
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		usleep((useconds_t)(1000 + (seed >> 33) % (2000u << PVM_MIN(attempt, 4u))));
	}
	return -EBUSY;
}

int registry_release(struct etcd_client *c, const char *prefix, const char *client)
{
	struct registry_view v;
	int rc = registry_view_load(c, prefix, &v);

	for (size_t i = 0; !rc && i < v.nres; i++) {
		char *key;

		if (strcmp(v.res[i].client, client))
			continue;
		key = fmt("%s/reservations/%s/%s", prefix, v.res[i].pod, client);
		rc = key ? etcd_delete(c, key, NULL, NULL) : -ENOMEM;
		free(key);
	}
	registry_view_free(&v);
	return rc;
}
