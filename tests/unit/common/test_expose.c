/* tests/unit/common/test_expose.c — VM and pod statistics become the
 * documented Prometheus families (common/expose.c), and the control server
 * (common/ctl_server.c) answers on its socket, refuses a taken name or port,
 * replaces a stale socket and removes its socket when stopped. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl_server.h"
#include "expose.h"

static json_object *latency(uint64_t in_bucket7, uint64_t sum_ns)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();

	for (int i = 0; i < 24; i++)
		json_object_array_add(a, json_object_new_uint64(i == 7 ? in_bucket7 : 0));
	json_object_object_add(o, "log2_us_buckets", a);
	json_object_object_add(o, "sum_ns", json_object_new_uint64(sum_ns));
	return o;
}

static json_object *tier(const char *kind, uint64_t refaults, uint64_t used)
{
	json_object *t = json_object_new_object();

	json_object_object_add(t, "kind", json_object_new_string(kind));
	json_object_object_add(t, "refaults", json_object_new_uint64(refaults));
	json_object_object_add(t, "slots_used", json_object_new_uint64(used));
	json_object_object_add(t, "refault_latency", latency(refaults, refaults * 100000));
	return t;
}

static json_object *vm_snapshot(void)
{
	json_object *s = json_object_new_object(), *p = json_object_new_object();
	json_object *tiers = json_object_new_array(), *r = json_object_new_object();
	json_object *pods = json_object_new_array(), *pod = json_object_new_object();
	json_object *t2;

	json_object_object_add(s, "name", json_object_new_string("vm\"1"));
	json_object_object_add(s, "mem_bytes", json_object_new_uint64(1 << 30));
	json_object_object_add(p, "pages", json_object_new_uint64(262144));
	json_object_object_add(p, "limit_pages", json_object_new_uint64(65536));
	json_object_object_add(p, "resident_pages", json_object_new_uint64(60000));
	json_object_object_add(p, "faults", json_object_new_uint64(30));
	json_object_object_add(p, "zero_fills", json_object_new_uint64(10));
	json_object_object_add(p, "evictions", json_object_new_uint64(99));
	json_object_object_add(p, "writebacks", json_object_new_uint64(77));
	json_object_object_add(p, "policy", json_object_new_string("clock"));
	json_object_object_add(p, "first_touch_latency", latency(10, 10 * 50000));
	json_object_object_add(p, "fault_latency", latency(30, 30 * 80000));
	json_object_array_add(tiers, tier("disk", 15, 1000));
	t2 = tier("remote", 5, 500);
	json_object_object_add(r, "replicas", json_object_new_uint64(2));
	json_object_object_add(r, "slots_degraded", json_object_new_uint64(3));
	json_object_object_add(r, "rebuilds", json_object_new_uint64(4));
	json_object_object_add(pod, "addr", json_object_new_string("10.0.0.5:7300"));
	json_object_object_add(pod, "state", json_object_new_string("up"));
	json_object_object_add(pod, "rma_read_ops", json_object_new_uint64(11));
	json_object_object_add(pod, "rma_write_ops", json_object_new_uint64(12));
	json_object_array_add(pods, pod);
	json_object_object_add(r, "pods", pods);
	json_object_object_add(t2, "remote", r);
	json_object_array_add(tiers, t2);
	json_object_object_add(p, "tiers", tiers);
	json_object_object_add(s, "pager", p);
	return s;
}

static unsigned count(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

static void vm_metrics_name_every_documented_family_once(void **state)
{
	static const char *const families[] = {
		"poolvm_vm_info", "poolvm_resident_pages", "poolvm_local_limit_pages",
		"poolvm_faults_total", "poolvm_first_touch_faults_total",
		"poolvm_refaults_total", "poolvm_evictions_total", "poolvm_writebacks_total",
		"poolvm_prefetched_pages_total", "poolvm_tier_used_pages",
		"poolvm_fault_latency_seconds", "poolvm_fault_service_seconds",
		"poolvm_remote_pages_degraded", "poolvm_remote_rebuilds_total",
		"poolvm_remote_pods", "poolvm_remote_pod_up", "poolvm_remote_pod_rma_ops_total",
	};
	json_object *s = vm_snapshot();
	char *text = NULL, line[160];
	size_t len;

	(void)state;
	assert_int_equal(pvm_expose_vm(s, &text, &len), 0);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(line, sizeof(line), "# TYPE %s ", families[i]);
		assert_int_equal(count(text, line), 1);
		snprintf(line, sizeof(line), "# HELP %s ", families[i]);
		assert_int_equal(count(text, line), 1);
	}
	/* labels: the VM's name escaped, tiers by kind */
	assert_non_null(strstr(text, "poolvm_faults_total{vm=\"vm\\\"1\"} 30\n"));
	assert_non_null(strstr(text, "poolvm_refaults_total{vm=\"vm\\\"1\",tier=\"disk\"} 15\n"));
	assert_non_null(strstr(text, "poolvm_refaults_total{vm=\"vm\\\"1\",tier=\"remote\"} 5\n"));
	assert_non_null(strstr(text, "poolvm_fault_latency_seconds_count{vm=\"vm\\\"1\",kind=\"first_touch\"} 10\n"));
	assert_non_null(strstr(text, "poolvm_fault_latency_seconds_count{vm=\"vm\\\"1\",kind=\"refault\",tier=\"disk\"} 15\n"));
	assert_non_null(strstr(text, "poolvm_fault_latency_seconds_sum{vm=\"vm\\\"1\",kind=\"refault\",tier=\"disk\"} 0.0015\n"));
	assert_non_null(strstr(text, "poolvm_remote_pages_degraded{vm=\"vm\\\"1\",tier=\"remote\"} 3\n"));
	assert_non_null(strstr(text, "poolvm_remote_pods{vm=\"vm\\\"1\",tier=\"remote\",state=\"up\"} 1\n"));
	assert_non_null(strstr(text, "poolvm_remote_pod_rma_ops_total{vm=\"vm\\\"1\",tier=\"remote\",pod=\"10.0.0.5:7300\",op=\"write\"} 12\n"));
	/* a disk-only VM has no remote families */
	free(text);
	json_object_put(s);
}

static void vm_before_attach_says_so(void **state)
{
	json_object *s = json_object_new_object();
	char *text = NULL;
	size_t len;

	(void)state;
	json_object_object_add(s, "name", json_object_new_string("v"));
	assert_int_equal(pvm_expose_vm(s, &text, &len), 0);
	assert_non_null(strstr(text, "poolvm_pager_attached{vm=\"v\"} 0\n"));
	assert_null(strstr(text, "poolvm_faults_total"));
	free(text);
	json_object_put(s);
}

static void pod_metrics_show_capacity_and_clients(void **state)
{
	json_object *s = json_tokener_parse(
		"{\"name\":\"p1\",\"pod_id\":\"h\",\"address\":\"127.0.0.1:1\",\"fabric\":\"tcp\","
		"\"uptime_ms\":1500,\"draining\":false,"
		"\"memory\":{\"total\":1048576,\"free\":524288,\"leased\":524288,\"slab_size\":4096},"
		"\"leases\":{\"alive\":2,\"granted\":3,\"refused\":1,\"expired\":0},"
		"\"messages\":{\"received\":9,\"rejected\":1,\"auth_failures\":0},"
		"\"clients_pending\":0,\"clients\":[{\"id\":\"vmm-a\",\"leased_bytes\":524288}]}");
	char *text = NULL;
	size_t len;

	(void)state;
	assert_non_null(s);
	assert_int_equal(pvm_expose_pod(s, &text, &len), 0);
	assert_non_null(strstr(text, "# TYPE poolvm_pod_capacity_bytes gauge\npoolvm_pod_capacity_bytes{pod=\"p1\"} 1048576\n"));
	assert_non_null(strstr(text, "poolvm_pod_free_bytes{pod=\"p1\"} 524288\n"));
	assert_non_null(strstr(text, "poolvm_pod_clients{pod=\"p1\"} 1\n"));
	assert_non_null(strstr(text, "poolvm_pod_leases_granted_total{pod=\"p1\"} 3\n"));
	assert_non_null(strstr(text, "poolvm_pod_client_leased_bytes{pod=\"p1\",client=\"vmm-a\"} 524288\n"));
	assert_non_null(strstr(text, "poolvm_pod_uptime_seconds{pod=\"p1\"} 1.5\n"));
	free(text);
	json_object_put(s);
}

/* ---- the control server -------------------------------------------------- */

static char run_dir[64];
static int stats_calls;

static json_object *fake_stats(void *ctx)
{
	json_object *o = json_object_new_object();

	stats_calls++;
	json_object_object_add(o, "answer", json_object_new_int(*(int *)ctx));
	return o;
}

static int fake_metrics(void *ctx, char **text, size_t *len)
{
	(void)ctx;
	*text = strdup("# HELP a A\n# TYPE a gauge\na 1\n");
	*len = strlen(*text);
	return 0;
}

static const struct pvm_ctl_ops fake_ops = {
	.size = sizeof(struct pvm_ctl_ops), .stats = fake_stats, .metrics = fake_metrics,
};

static int setup_run_dir(void **state)
{
	(void)state;
	snprintf(run_dir, sizeof(run_dir), "/tmp/pvm-test-ctl.XXXXXX");
	if (!mkdtemp(run_dir))
		return -1;
	setenv("POOLVM_RUN_DIR", run_dir, 1);
	return 0;
}

static int teardown_run_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void socket_answers_stats_and_is_removed_at_stop(void **state)
{
	int answer = 42;
	struct pvm_ctl_config cfg = { .kind = "vm", .name = "t1", .ops = &fake_ops, .ctx = &answer };
	struct pvm_ctl *ctl;
	json_object *o, *v;
	char path[128];
	struct stat st;

	(void)state;
	assert_int_equal(pvm_ctl_start(&cfg, &ctl), 0);
	snprintf(path, sizeof(path), "%s/vm/t1.sock", run_dir);
	assert_string_equal(pvm_ctl_socket_path(ctl), path);
	assert_int_equal(pvm_ctl_request(path, "{\"request\":\"stats\"}", &o, 2000), 0);
	assert_true(json_object_object_get_ex(o, "answer", &v));
	assert_int_equal(json_object_get_int(v), 42);
	assert_true(json_object_object_get_ex(o, "name", &v));
	assert_string_equal(json_object_get_string(v), "t1");
	assert_true(json_object_object_get_ex(o, "kind", &v));
	assert_string_equal(json_object_get_string(v), "vm");
	json_object_put(o);
	/* the bare word works too; garbage gets an error, not a crash */
	assert_int_equal(pvm_ctl_request(path, "stats", &o, 2000), 0);
	assert_true(json_object_object_get_ex(o, "answer", NULL));
	json_object_put(o);
	assert_int_equal(pvm_ctl_request(path, "{\"request\":", &o, 2000), 0);
	assert_true(json_object_object_get_ex(o, "error", NULL));
	json_object_put(o);
	assert_int_equal(pvm_ctl_request(path, "reboot", &o, 2000), 0);
	assert_true(json_object_object_get_ex(o, "error", NULL));
	json_object_put(o);
	assert_int_equal(pvm_ctl_request(path, "metrics", &o, 2000), 0);
	assert_true(json_object_object_get_ex(o, "metrics", &v));
	assert_non_null(strstr(json_object_get_string(v), "a 1\n"));
	json_object_put(o);
	pvm_ctl_stop(ctl);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(pvm_ctl_request(path, "stats", &o, 2000), -ENOENT);
}

static void a_live_name_is_refused_and_a_stale_one_replaced(void **state)
{
	int answer = 1;
	struct pvm_ctl_config cfg = { .kind = "pod", .name = "dup", .ops = &fake_ops, .ctx = &answer };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pvm_ctl *a, *b;
	json_object *o;
	int fd;

	(void)state;
	assert_int_equal(pvm_ctl_start(&cfg, &a), 0);
	assert_int_equal(pvm_ctl_start(&cfg, &b), -EADDRINUSE);
	assert_null(b);
	/* the first still serves, and its socket was not taken away */
	assert_int_equal(pvm_ctl_request(pvm_ctl_socket_path(a), "stats", &o, 2000), 0);
	json_object_put(o);
	pvm_ctl_stop(a);

	/* a socket file nobody listens on (a killed process) is replaced */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/pod/dup.sock", run_dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(pvm_ctl_request(sa.sun_path, "stats", &o, 2000), -ECONNREFUSED);
	assert_int_equal(pvm_ctl_start(&cfg, &a), 0);
	assert_int_equal(pvm_ctl_request(sa.sun_path, "stats", &o, 2000), 0);
	json_object_put(o);
	pvm_ctl_stop(a);
}

static void bad_names_and_addresses_are_refused(void **state)
{
	int answer = 1;
	struct pvm_ctl_config cfg = { .kind = "vm", .name = "../x", .ops = &fake_ops, .ctx = &answer };
	struct sockaddr_storage ss;
	socklen_t len;
	struct pvm_ctl *c;
	char err[256];

	(void)state;
	assert_int_equal(pvm_ctl_start(&cfg, &c), -EINVAL);
	cfg.name = "-x";
	assert_int_equal(pvm_ctl_start(&cfg, &c), -EINVAL);
	cfg.name = "ok";
	cfg.metrics = "127.0.0.1:99999";
	assert_int_equal(pvm_ctl_start(&cfg, &c), -EINVAL);
	assert_int_equal(pvm_ctl_parse_listen("9100", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9100);
	assert_int_equal(pvm_ctl_parse_listen("[::1]:9100", &ss, &len, err, sizeof(err)), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(pvm_ctl_parse_listen("127.0.0.1:x", &ss, &len, err, sizeof(err)), -EINVAL);
	assert_int_equal(pvm_ctl_parse_listen("", &ss, &len, err, sizeof(err)), -EINVAL);
	assert_int_equal(pvm_ctl_parse_listen("::1:80", &ss, &len, err, sizeof(err)), -EINVAL);
	assert_int_equal(pvm_ctl_parse_listen("[::1:80", &ss, &len, err, sizeof(err)), -EINVAL);
	assert_int_equal(pvm_ctl_parse_listen("-1", &ss, &len, err, sizeof(err)), -EINVAL);
}

static void a_port_in_use_is_refused(void **state)
{
	int answer = 1;
	struct pvm_ctl_config cfg = { .kind = "vm", .name = "p", .ops = &fake_ops, .ctx = &answer,
				      .metrics = "127.0.0.1:0" };
	struct pvm_ctl *a, *b;
	char spec[64];

	(void)state;
	assert_int_equal(pvm_ctl_start(&cfg, &a), 0);
	assert_true(pvm_ctl_metrics_port(a) > 0);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", pvm_ctl_metrics_port(a));
	cfg.name = "q";
	cfg.metrics = spec;
	assert_int_equal(pvm_ctl_start(&cfg, &b), -EADDRINUSE);
	pvm_ctl_stop(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vm_metrics_name_every_documented_family_once),
		cmocka_unit_test(vm_before_attach_says_so),
		cmocka_unit_test(pod_metrics_show_capacity_and_clients),
		cmocka_unit_test(socket_answers_stats_and_is_removed_at_stop),
		cmocka_unit_test(a_live_name_is_refused_and_a_stale_one_replaced),
		cmocka_unit_test(bad_names_and_addresses_are_refused),
		cmocka_unit_test(a_port_in_use_is_refused),
	};

	return cmocka_run_group_tests(tests, setup_run_dir, teardown_run_dir);
}
