/* tests/unit/registry/test_registry.c — the registry's pure parts: base64,
 * prefix ranges, parsing etcd's answers (good, broken and hostile), the
 * pod announcement's value, transaction bodies and the reservation plan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "registry.h"

#define MiB (1ull << 20)

static void b64_round_trips_every_length(void **state)
{
	unsigned char buf[64];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(buf); len++) {
		char *enc = etcd_b64_encode(buf, len), *dec;
		size_t dlen;

		assert_non_null(enc);
		assert_int_equal(strlen(enc), (len + 2) / 3 * 4);
		assert_int_equal(etcd_b64_decode(enc, &dec, &dlen), 0);
		assert_int_equal(dlen, len);
		assert_memory_equal(dec, buf, len);
		assert_int_equal(dec[len], '\0');
		free(enc);
		free(dec);
	}
}

static void b64_known_values(void **state)
{
	char *s = etcd_b64_encode("/poolvm/pods/a", 14), *d;
	size_t n;

	assert_string_equal(s, "L3Bvb2x2bS9wb2RzL2E=");
	free(s);
	assert_int_equal(etcd_b64_decode("Zm9vYmFy", &d, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(d, "foobar");
	free(d);
}

static void b64_rejects_garbage(void **state)
{
	static const char *const bad[] = {
		"abc", "ab=c", "a===", "====", "ab!d", "Zm9v\nYmFy", "Zm9=YmFy", "=AAA",
	};
	char *d = NULL;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(etcd_b64_decode(bad[i], &d, &n), -EINVAL);
	assert_null(d);
}

static void prefix_end_increments_last_byte(void **state)
{
	char *e = etcd_prefix_end("/poolvm/");

	assert_string_equal(e, "/poolvm0");
	free(e);
	e = etcd_prefix_end("a\xff\xff");
	assert_string_equal(e, "b");
	free(e);
	assert_null(etcd_prefix_end(""));
	assert_null(etcd_prefix_end("\xff"));
}

static const char range_ok[] =
	"{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"42\","
	"\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"L3Avci9h\",\"create_revision\":\"7\","
	"\"mod_revision\":\"9\",\"version\":\"2\",\"value\":\"NQ==\",\"lease\":"
	"\"7587899117365735433\"},{\"key\":\"L3Avci9i\",\"create_revision\":8,"
	"\"mod_revision\":8,\"version\":1}],\"count\":\"2\"}\n";

static void range_answer_is_parsed(void **state)
{
	struct etcd_range_result r;
	char why[200];

	assert_int_equal(etcd_parse_range(range_ok, strlen(range_ok), &r, why,
					  sizeof(why)), 0);
	assert_int_equal(r.revision, 42);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.kvs[0].key, "/p/r/a");
	assert_string_equal(r.kvs[0].value, "5");
	assert_int_equal(r.kvs[0].value_len, 1);
	assert_int_equal(r.kvs[0].mod_revision, 9);
	assert_int_equal(r.kvs[0].create_revision, 7);
	assert_true(r.kvs[0].lease == 7587899117365735433ll);
	/* Value left out (empty) and numbers as numbers are fine. */
	assert_string_equal(r.kvs[1].key, "/p/r/b");
	assert_int_equal(r.kvs[1].value_len, 0);
	assert_int_equal(r.kvs[1].mod_revision, 8);
	etcd_range_free(&r);
}

static void empty_range_has_no_kvs(void **state)
{
	static const char body[] = "{\"header\":{\"revision\":\"3\"}}";
	struct etcd_range_result r;
	char why[200];

	assert_int_equal(etcd_parse_range(body, strlen(body), &r, why, sizeof(why)), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.revision, 3);
	etcd_range_free(&r);
}

static void hostile_range_answers_fail_cleanly(void **state)
{
	static const char *const bad[] = {
		"",
		"HTTP/1.1 200 OK",
		"<html>502 Bad Gateway</html>",
		"[1,2,3]",
		"{\"kvs\":[]}",                                         /* no header */
		"{\"header\":{\"revision\":\"x\"}}",
		"{\"header\":{\"revision\":\"-4\"}}",
		"{\"header\":{\"revision\":\"99999999999999999999999\"}}",
		"{\"header\":{\"revision\":\"3\"},\"kvs\":{}}",
		"{\"header\":{\"revision\":\"3\"},\"kvs\":[7]}",
		"{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"value\":\"NQ==\"}]}",
		"{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"key\":\"!!!!\"}]}",
		"{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"key\":\"YQBi\"}]}", /* a\0b */
		"{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"key\":\"YQ==\",\"mod_revision\":[]}]}",
		"{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"key\":\"YQ==\",\"value\":5}]}",
		"{\"header\":{\"revision\":\"3\"}} trailing",
		"{\"header\":{\"revision\":\"3\"",
	};
	struct etcd_range_result r;
	char why[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(etcd_parse_range(bad[i], strlen(bad[i]), &r, why,
						  sizeof(why)), -EPROTO);
		assert_true(why[0] != '\0');
		assert_int_equal(r.n, 0);
		assert_null(r.kvs);
	}
}

static void etcd_errors_are_classified(void **state)
{
	static const struct { const char *body; int rc; } cases[] = {
		{ "{\"error\":\"etcdserver: user name is empty\",\"code\":3,"
		  "\"message\":\"etcdserver: user name is empty\"}", -EACCES },
		{ "{\"error\":\"x\",\"code\":16,\"message\":\"unauthenticated\"}", -EACCES },
		{ "{\"error\":\"etcdserver: requested lease not found\",\"code\":5,"
		  "\"message\":\"etcdserver: requested lease not found\"}", -ENOENT },
		{ "{\"error\":\"unexpected EOF\",\"message\":\"unexpected EOF\","
		  "\"code\":3}", -EINVAL },
		{ "{\"error\":{\"grpc_code\":5,\"http_code\":404,\"message\":"
		  "\"etcdserver: requested lease not found\"}}", -ENOENT },
		{ "{\"error\":[1]}", -EINVAL },
	};
	struct json_object *o;
	char why[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(etcd_parse_answer(cases[i].body, strlen(cases[i].body),
						   &o, why, sizeof(why)), cases[i].rc);
		assert_null(o);
		assert_non_null(strstr(why, "etcd says"));
	}
	/* Control characters from a server do not reach the message. */
	assert_int_equal(etcd_parse_answer("\x1b[2J\x01garbage", 12, &o, why,
					   sizeof(why)), -EPROTO);
	for (char *c = why; *c; c++)
		assert_true(*c >= 0x20 && *c <= 0x7e);
}

static void int64_fields_accept_strings_and_numbers_only(void **state)
{
	struct json_object *o = json_tokener_parse(
		"{\"a\":\"12\",\"b\":13,\"c\":\"1x\",\"d\":true,\"e\":\"\",\"f\":1.5}");
	int64_t v;

	assert_int_equal(etcd_json_int64(o, "a", &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(etcd_json_int64(o, "b", &v), 0);
	assert_int_equal(v, 13);
	assert_int_equal(etcd_json_int64(o, "missing", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(etcd_json_int64(o, "c", &v), -EPROTO);
	assert_int_equal(etcd_json_int64(o, "d", &v), -EPROTO);
	assert_int_equal(etcd_json_int64(o, "e", &v), -EPROTO);
	assert_int_equal(etcd_json_int64(o, "f", &v), -EPROTO);
	json_object_put(o);
}

static void txn_body_carries_compares_and_ops(void **state)
{
	struct etcd_cmp cmps[] = {
		{ .key = "/p/pods/a", .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL,
		  .number = 5 },
		{ .key = "/p/reservations/a/", .range_end = "/p/reservations/a0",
		  .target = ETCD_CMP_MOD, .result = ETCD_CMP_LESS, .number = 10 },
	};
	struct etcd_op ops[] = {
		{ .type = ETCD_OP_PUT, .key = "/p/reservations/a/vm", .value = "{}",
		  .lease = 77 },
		{ .type = ETCD_OP_DELETE, .key = "/p/reservations/b/vm" },
	};
	char *body = etcd_build_txn(cmps, 2, ops, 2);
	struct json_object *o = json_tokener_parse(body), *c, *x, *y;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "compare", &c));
	assert_int_equal(json_object_array_length(c), 2);
	x = json_object_array_get_idx(c, 1);
	assert_true(json_object_object_get_ex(x, "range_end", &y));
	assert_string_equal(json_object_get_string(y), "L3AvcmVzZXJ2YXRpb25zL2Ew");
	assert_true(json_object_object_get_ex(x, "mod_revision", &y));
	assert_string_equal(json_object_get_string(y), "10");
	assert_true(json_object_object_get_ex(x, "result", &y));
	assert_string_equal(json_object_get_string(y), "LESS");
	assert_true(json_object_object_get_ex(o, "success", &c));
	x = json_object_array_get_idx(c, 0);
	assert_true(json_object_object_get_ex(x, "request_put", &y));
	assert_true(json_object_object_get_ex(y, "lease", &x));
	assert_string_equal(json_object_get_string(x), "77");
	x = json_object_array_get_idx(c, 1);
	assert_true(json_object_object_get_ex(x, "request_delete_range", &y));
	json_object_put(o);
	free(body);
}

static void pod_value_round_trips(void **state)
{
	struct registry_pod p = { .addr = "10.0.0.5:7300", .fabric = "tcp",
				  .pod_id = "host5", .version = "0.1.0",
				  .total = 16ull << 30, .free = 3ull << 30,
				  .started = 1700000000, .draining = true }, q;
	char *v = registry_pod_value(&p), why[200];

	assert_int_equal(registry_pod_parse(v, strlen(v), "10.0.0.5:7300", &q, why,
					    sizeof(why)), 0);
	assert_string_equal(q.addr, p.addr);
	assert_string_equal(q.fabric, "tcp");
	assert_string_equal(q.pod_id, "host5");
	assert_true(q.total == p.total && q.free == p.free);
	assert_true(q.started == p.started && q.draining);
	/* The key names another pod: refused. */
	assert_int_equal(registry_pod_parse(v, strlen(v), "10.0.0.6:7300", &q, why,
					    sizeof(why)), -EINVAL);
	free(v);
}

static void bad_pod_values_are_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"null",
		"{}",
		"{\"address\":\"a:1\",\"fabric\":\"tcp\",\"total\":10}",
		"{\"address\":\"a:1\",\"fabric\":\"tcp\",\"total\":10,\"free\":11}",
		"{\"address\":\"a:1\",\"fabric\":\"tcp\",\"total\":0,\"free\":0}",
		"{\"address\":\"a:1\",\"fabric\":\"tcp\",\"total\":-5,\"free\":0}",
		"{\"address\":\"a:1\",\"fabric\":\"tcp\",\"total\":\"10\",\"free\":1}",
		"{\"address\":\"a:1\",\"fabric\":\"tcp\",\"total\":10.5,\"free\":1}",
		"{\"address\":7,\"fabric\":\"tcp\",\"total\":10,\"free\":1}",
		"{\"address\":\"a:1\",\"fabric\":\"tc\\u0001p\",\"total\":10,\"free\":1}",
		"{\"address\":\"a:1\",\"fabric\":\"tcp\",\"total\":10,\"free\":1,"
		"\"draining\":\"no\"}",
		"{\"address\":\"a:1\",\"fabric\":\"tcp\",\"total\":10,\"free\":1} x",
	};
	struct registry_pod q;
	char why[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(registry_pod_parse(bad[i], strlen(bad[i]), "a:1", &q,
						    why, sizeof(why)), -EINVAL);
		assert_true(why[0] != '\0');
	}
}

static void names_and_prefixes_are_checked(void **state)
{
	char why[200];

	assert_int_equal(registry_prefix_check("/poolvm", why, sizeof(why)), 0);
	assert_int_equal(registry_prefix_check("/a/b", why, sizeof(why)), 0);
	assert_int_equal(registry_prefix_check("poolvm", why, sizeof(why)), -EINVAL);
	assert_int_equal(registry_prefix_check("/poolvm/", why, sizeof(why)), -EINVAL);
	assert_int_equal(registry_prefix_check("/", why, sizeof(why)), -EINVAL);
	assert_int_equal(registry_prefix_check("/a b", why, sizeof(why)), -EINVAL);
	assert_int_equal(registry_name_check("10.0.0.1:7300", 127, why, sizeof(why)), 0);
	assert_int_equal(registry_name_check("[::1]:7300", 127, why, sizeof(why)), 0);
	assert_int_equal(registry_name_check("fi_shm://1:0:0", 127, why, sizeof(why)),
			 -EINVAL);
	assert_int_equal(registry_name_check("", 127, why, sizeof(why)), -EINVAL);
}

/* A view by hand: pods with totals, reservations by client. */
static void view_add_pod(struct registry_view *v, const char *addr, uint64_t total)
{
	struct registry_pod *p = &v->pods[v->npods++];

	memset(p, 0, sizeof(*p));
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->total = total;
	p->free = total;
	p->create_revision = 1;
}

static void view_add_res(struct registry_view *v, const char *pod, const char *client,
			 uint64_t bytes)
{
	struct registry_reservation *r = &v->res[v->nres++];

	snprintf(r->pod, sizeof(r->pod), "%s", pod);
	snprintf(r->client, sizeof(r->client), "%s", client);
	r->bytes = bytes;
	for (size_t i = 0; i < v->npods; i++)
		if (!strcmp(v->pods[i].addr, pod))
			v->pods[i].reserved += bytes;
}

static uint64_t hold_of(const struct registry_hold *h, int n, const char *pod)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(h[i].pod, pod))
			return h[i].bytes;
	return 0;
}

static void plan_spreads_copies_over_distinct_pods(void **state)
{
	struct registry_pod pods[4];
	struct registry_reservation res[4];
	struct registry_view v = { .revision = 5, .pods = pods, .res = res };
	struct registry_want w = { .bytes = 192 * MiB, .copies = 2, .unit = 64 * MiB };
	struct registry_hold h[8];
	uint64_t short_by, sum = 0;
	int n;

	view_add_pod(&v, "a:1", 512 * MiB);
	view_add_pod(&v, "b:1", 512 * MiB);
	view_add_pod(&v, "c:1", 512 * MiB);
	n = registry_plan(&v, "vm", &w, h, 8, &short_by);
	assert_true(n >= 2);
	for (int i = 0; i < n; i++) {
		assert_true(h[i].bytes <= 192 * MiB);   /* one copy per pod at most */
		assert_int_equal(h[i].bytes % (64 * MiB), 0);
		sum += h[i].bytes;
	}
	assert_int_equal(sum, 384 * MiB);
	/* Spread: no pod got everything it could while another got nothing. */
	assert_int_equal(n, 3);
}

static void plan_respects_other_clients_and_fails_when_full(void **state)
{
	struct registry_pod pods[4];
	struct registry_reservation res[4];
	struct registry_view v = { .revision = 5, .pods = pods, .res = res };
	struct registry_want w = { .bytes = 128 * MiB, .copies = 2, .unit = 64 * MiB };
	struct registry_hold h[8];
	uint64_t short_by;
	int n;

	view_add_pod(&v, "a:1", 192 * MiB);
	view_add_pod(&v, "b:1", 192 * MiB);
	view_add_res(&v, "a:1", "other", 128 * MiB);
	view_add_res(&v, "b:1", "other", 64 * MiB);
	/* a has 64M left, b 128M: 192M of the 256M needed. */
	n = registry_plan(&v, "vm", &w, h, 8, &short_by);
	assert_int_equal(n, -ENOSPC);
	assert_int_equal(short_by, 64 * MiB);
	w.bytes = 64 * MiB;
	n = registry_plan(&v, "vm", &w, h, 8, &short_by);
	assert_int_equal(n, 2);
	assert_int_equal(hold_of(h, n, "a:1"), 64 * MiB);
	assert_int_equal(hold_of(h, n, "b:1"), 64 * MiB);
}

static void plan_keeps_what_it_holds_and_replaces_a_lost_pod(void **state)
{
	struct registry_pod pods[4];
	struct registry_reservation res[4];
	struct registry_view v = { .revision = 9, .pods = pods, .res = res };
	struct registry_want w = { .bytes = 128 * MiB, .copies = 2, .unit = 64 * MiB };
	struct registry_hold h[8];
	uint64_t short_by;
	int n;

	/* We held 128M on a and on gone:1, which left the registry. */
	view_add_pod(&v, "a:1", 1024 * MiB);
	view_add_pod(&v, "b:1", 1024 * MiB);
	view_add_pod(&v, "c:1", 256 * MiB);
	view_add_res(&v, "a:1", "vm", 128 * MiB);
	view_add_res(&v, "gone:1", "vm", 128 * MiB);
	n = registry_plan(&v, "vm", &w, h, 8, &short_by);
	assert_true(n >= 2);
	assert_int_equal(hold_of(h, n, "a:1"), 128 * MiB);
	assert_int_equal(hold_of(h, n, "gone:1"), 0);
	assert_int_equal(hold_of(h, n, "b:1") + hold_of(h, n, "c:1"), 128 * MiB);
	/* A draining pod gets nothing new and loses what it had. */
	pods[0].draining = true;
	n = registry_plan(&v, "vm", &w, h, 8, &short_by);
	assert_int_equal(hold_of(h, n, "a:1"), 0);
	assert_int_equal(hold_of(h, n, "b:1"), 128 * MiB);
	assert_int_equal(hold_of(h, n, "c:1"), 128 * MiB);
}

static void plan_needs_as_many_pods_as_copies(void **state)
{
	struct registry_pod pods[2];
	struct registry_reservation res[1];
	struct registry_view v = { .revision = 2, .pods = pods, .res = res };
	struct registry_want w = { .bytes = 64 * MiB, .copies = 2, .unit = 64 * MiB };
	struct registry_hold h[4];
	uint64_t short_by;

	view_add_pod(&v, "a:1", 4096 * MiB);     /* huge, but only one pod */
	assert_int_equal(registry_plan(&v, "vm", &w, h, 4, &short_by), -ENOSPC);
	assert_int_equal(short_by, 64 * MiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(b64_round_trips_every_length),
		cmocka_unit_test(b64_known_values),
		cmocka_unit_test(b64_rejects_garbage),
		cmocka_unit_test(prefix_end_increments_last_byte),
		cmocka_unit_test(range_answer_is_parsed),
		cmocka_unit_test(empty_range_has_no_kvs),
		cmocka_unit_test(hostile_range_answers_fail_cleanly),
		cmocka_unit_test(etcd_errors_are_classified),
		cmocka_unit_test(int64_fields_accept_strings_and_numbers_only),
		cmocka_unit_test(txn_body_carries_compares_and_ops),
		cmocka_unit_test(pod_value_round_trips),
		cmocka_unit_test(bad_pod_values_are_refused),
		cmocka_unit_test(names_and_prefixes_are_checked),
		cmocka_unit_test(plan_spreads_copies_over_distinct_pods),
		cmocka_unit_test(plan_respects_other_clients_and_fails_when_full),
		cmocka_unit_test(plan_keeps_what_it_holds_and_replaces_a_lost_pod),
		cmocka_unit_test(plan_needs_as_many_pods_as_copies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
