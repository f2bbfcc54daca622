/* pods/pod.c — pod lifecycle and the control loop.
 *
 * The loop waits for control messages (50 ms at most, so timers and
 * signals are seen promptly; less while an outbox waits for a retry),
 * handles one at a time under pod->lock, retries the sends the provider
 * would not take yet (pod_outbox.c: the loop never waits for one peer),
 * and every 100 ms runs the timers: handshakes that never finished, silent
 * clients, the drain deadline, the stats file. RMA needs no help from this
 * loop: the endpoint's progress thread keeps polling the completion queue
 * (tcp;ofi_rxm moves nothing while the target sleeps).
 */
#include "pod_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common.h"

#define POD_RECV_WAIT_MS        50
#define POD_TICK_NS             100000000ull
/* Messages already arrived that the timers wait for (bounded, so that a
 * flood cannot hold the timers off). */
#define POD_TICK_BACKLOG        256
#define POD_RX_BUFFERS          32u
#define POD_LINGER_NS           200000000ull
#define POD_LINGER_IDLE_MS      20

/* ------------------------------------------------------------------ */
/* Rate-limited error lines: a flood of bad messages must not flood the
 * log (or the disk). The counters still see every one.                 */

void pod_log(struct pod *pod, const char *fmt, ...)
{
	struct pod_log_limit *l = &pod->log_limit;
	uint64_t now = pvm_now_ns();
	char line[512];
	va_list ap;

	if (now - l->window_start_ns >= 1000000000ull) {
		if (l->suppressed)
			pvm_err("pod: %llu more error lines suppressed in the last second",
				(unsigned long long)l->suppressed);
		l->window_start_ns = now;
		l->lines = 0;
		l->suppressed = 0;
	}
	if (l->lines >= POD_LOG_BURST) {
		l->suppressed++;
		return;
	}
	l->lines++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* pvm_err adds the program name; our lines start with "pod: ". */
	pvm_err("%s", line);
}

/* ------------------------------------------------------------------ */
/* Creation.                                                            */


/* Printable, at most 64 characters: what CHALLENGE can carry. */
static void set_pod_id(struct pod *pod, const char *want)
{
	char host[256] = "pod";
	size_t n = 0;

	if (!want || !*want) {
		if (gethostname(host, sizeof(host) - 1) || !host[0])
			strcpy(host, "pod");
		host[sizeof(host) - 1] = '\0';
		want = host;
	}
	for (const char *c = want; *c && n < PVM_WIRE_ID_MAX; c++)
		pod->pod_id[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '_';
	pod->pod_id[n] = '\0';
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = true;
	return d;
}

static bool power_of_two(uint64_t v)
{
	return v && !(v & (v - 1));
}

int pod_create(const struct pod_config *cfg, struct pod **out)
{
	struct net_endpoint_opts eo = { 0 };
	char host[256], port[32], err[256];
	const char *prov;
	struct pod *pod;
	bool fail = false;
	size_t n;
	int ret;

	*out = NULL;
	if (!cfg || !cfg->listen || !cfg->secret_file) {
		pvm_err("pod: a listen address and a secret file are required");
		return -EINVAL;
	}
	if (net_split_host_port(cfg->listen, host, sizeof(host), port, sizeof(port))) {
		pvm_err("pod: --listen '%s' is not HOST:PORT (e.g. 10.0.0.5:7300, [::1]:7300)",
			cfg->listen);
		return -EINVAL;
	}
	if (cfg->slab_size && (!power_of_two(cfg->slab_size) ||
			       cfg->slab_size < POD_PAGE_SIZE)) {
		pvm_err("pod: slab size %llu is not a power of two of at least 4 KiB",
			(unsigned long long)cfg->slab_size);
		return -EINVAL;
	}
	ret = pvm_auth_init();
	if (ret) {
		pvm_err("pod: libsodium cannot start (no entropy source?)");
		return ret;
	}

	pod = calloc(1, sizeof(*pod));
	if (!pod)
		return -ENOMEM;
	pthread_mutex_init(&pod->lock, NULL);
	atomic_init(&pod->drain_requested, false);
	atomic_init(&pod->stop_requested, false);
	pod->cfg = *cfg;
	pod->listen = dup_or_null(cfg->listen, &fail);
	pod->fabric_opt = dup_or_null(cfg->fabric, &fail);
	pod->secret_file = dup_or_null(cfg->secret_file, &fail);
	pod->stats_json = dup_or_null(cfg->stats_json, &fail);
	if (fail) {
		ret = -ENOMEM;
		goto err_free;
	}
	pod->cfg.listen = pod->listen;
	pod->cfg.fabric = pod->fabric_opt;
	pod->cfg.secret_file = pod->secret_file;
	pod->cfg.stats_json = pod->stats_json;
	pod->cfg.pod_id = NULL;
	if (!pod->cfg.slab_size)
		pod->cfg.slab_size = POD_SLAB_SIZE_DEFAULT;
	if (!pod->cfg.client_timeout_ms)
		pod->cfg.client_timeout_ms = POD_CLIENT_TIMEOUT_MS_DEFAULT;
	if (!pod->cfg.drain_timeout_ms)
		pod->cfg.drain_timeout_ms = POD_DRAIN_TIMEOUT_MS_DEFAULT;
	if (!pod->cfg.handshake_timeout_ms)
		pod->cfg.handshake_timeout_ms = POD_HANDSHAKE_TIMEOUT_MS_DEFAULT;
	if (!pod->cfg.max_clients)
		pod->cfg.max_clients = POD_MAX_CLIENTS_DEFAULT;
	if (!pod->cfg.stats_interval_ms)
		pod->cfg.stats_interval_ms = POD_STATS_INTERVAL_MS_DEFAULT;
	pod->slab_size = pod->cfg.slab_size;
	set_pod_id(pod, cfg->pod_id);

	ret = pvm_auth_secret_load(cfg->secret_file, &pod->secret, err, sizeof(err));
	if (ret) {
		pvm_err("pod: %s", err);
		goto err_free;
	}
	ret = pod_memory_map(pod, cfg->memory, cfg->hugepages);
	if (ret)
		goto err_secret;

	eo.provider = cfg->fabric;
	eo.node = host;
	eo.service = port;
	eo.progress_thread = true;
	/* net: 0 is its default; a 1 us window is no busy-polling to speak of */
	eo.spin_us = cfg->poll_us == POD_POLL_NONE ? 1 : cfg->poll_us;
	eo.rx_buffers = POD_RX_BUFFERS;
	ret = net_endpoint_open(&eo, &pod->ep);
	if (ret) {
		pvm_err("pod: cannot listen on %s with fabric %s: %s", cfg->listen,
			cfg->fabric ? cfg->fabric : "auto", net_strerror(ret));
		goto err_unmap;
	}
	ret = net_endpoint_address(pod->ep, pod->address, sizeof(pod->address));
	if (ret) {
		pvm_err("pod: cannot read the endpoint's address: %s", net_strerror(ret));
		goto err_close;
	}
	prov = net_endpoint_provider(pod->ep);
	n = strlen(prov);
	if (n > PVM_WIRE_FABRIC_MAX)
		n = PVM_WIRE_FABRIC_MAX;
	memcpy(pod->fabric, prov, n);
	pod->fabric[n] = '\0';
	pod->start_ns = pvm_now_ns();
	*out = pod;
	return 0;

err_close:
	net_endpoint_close(pod->ep);
err_unmap:
	pod_memory_unmap(pod);
err_secret:
	pvm_auth_secret_free(pod->secret);
err_free:
	free(pod->listen);
	free(pod->fabric_opt);
	free(pod->secret_file);
	free(pod->stats_json);
	pthread_mutex_destroy(&pod->lock);
	free(pod);
	return ret;
}

void pod_destroy(struct pod *pod)
{
	if (!pod)
		return;
	pthread_mutex_lock(&pod->lock);
	/* Leases first: their registrations belong to the endpoint. */
	pod_forget_all(pod);
	pod_memory_unmap(pod);
	pthread_mutex_unlock(&pod->lock);
	net_endpoint_close(pod->ep);
	pvm_auth_secret_free(pod->secret);
	free(pod->listen);
	free(pod->fabric_opt);
	free(pod->secret_file);
	free(pod->stats_json);
	pthread_mutex_destroy(&pod->lock);
	free(pod);
}

const char *pod_address(const struct pod *pod)
{
	return pod->address;
}

const char *pod_fabric(const struct pod *pod)
{
	return pod->fabric;
}

void pod_request_drain(struct pod *pod)
{
	atomic_store(&pod->drain_requested, true);
}

void pod_request_stop(struct pod *pod)
{
	atomic_store(&pod->stop_requested, true);
}

/* ------------------------------------------------------------------ */
/* Statistics.                                                          */

static void stats_locked(struct pod *pod, struct pod_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->mem_total = pod->nslabs * pod->slab_size;
	s->mem_free = pod_mem_free(pod);
	s->mem_leased = s->mem_total - s->mem_free;
	for (size_t i = 0; i < pod->npeers; i++) {
		if (pod->peers[i]->state == POD_PEER_AUTHED)
			s->clients++;
		else
			s->clients_pending++;
	}
	s->leases = pod->nleases;
	s->leases_granted = pod->leases_granted;
	s->leases_refused = pod->leases_refused;
	s->leases_expired = pod->leases_expired;
	s->msgs_rx = pod->msgs_rx;
	s->msgs_bad = pod->msgs_bad;
	s->auth_failures = pod->auth_failures;
	s->uptime_ms = (pvm_now_ns() - pod->start_ns) / 1000000ull;
	s->draining = pod->draining;
	s->hugepages = pod->hugepages;
}

void pod_get_stats(struct pod *pod, struct pod_stats *out)
{
	pthread_mutex_lock(&pod->lock);
	stats_locked(pod, out);
	pthread_mutex_unlock(&pod->lock);
}

static void put_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static json_object *stats_json_locked(struct pod *pod)
{
	json_object *root = json_object_new_object();
	json_object *mem = json_object_new_object();
	json_object *msgs = json_object_new_object();
	json_object *leases = json_object_new_object();
	json_object *clients = json_object_new_array();
	uint64_t now = pvm_now_ns();
	struct pod_stats s;

	stats_locked(pod, &s);
	json_object_object_add(root, "pod_id", json_object_new_string(pod->pod_id));
	json_object_object_add(root, "address", json_object_new_string(pod->address));
	json_object_object_add(root, "fabric", json_object_new_string(pod->fabric));
	put_u64(root, "uptime_ms", s.uptime_ms);
	json_object_object_add(root, "draining", json_object_new_boolean(s.draining));
	put_u64(mem, "total", s.mem_total);
	put_u64(mem, "free", s.mem_free);
	put_u64(mem, "leased", s.mem_leased);
	put_u64(mem, "slab_size", pod->slab_size);
	json_object_object_add(mem, "hugepages", json_object_new_boolean(s.hugepages));
	json_object_object_add(root, "memory", mem);
	put_u64(leases, "alive", s.leases);
	put_u64(leases, "granted", s.leases_granted);
	put_u64(leases, "refused", s.leases_refused);
	put_u64(leases, "expired", s.leases_expired);
	json_object_object_add(root, "leases", leases);
	put_u64(msgs, "received", s.msgs_rx);
	put_u64(msgs, "rejected", s.msgs_bad);
	put_u64(msgs, "auth_failures", s.auth_failures);
	json_object_object_add(root, "messages", msgs);
	put_u64(root, "clients_pending", s.clients_pending);
	for (size_t i = 0; i < pod->npeers; i++) {
		const struct pod_peer *p = pod->peers[i];
		json_object *c;

		if (p->state != POD_PEER_AUTHED)
			continue;
		c = json_object_new_object();
		json_object_object_add(c, "id", json_object_new_string(p->client_id));
		json_object_object_add(c, "address", json_object_new_string(p->addr_text));
		put_u64(c, "leases", p->leases);
		put_u64(c, "leased_bytes", p->leased_bytes);
		put_u64(c, "messages", p->msgs_rx);
		put_u64(c, "rejected", p->msgs_bad);
		put_u64(c, "idle_ms", (now - p->last_seen_ns) / 1000000ull);
		put_u64(c, "connected_ms", (now - p->created_ns) / 1000000ull);
		json_object_object_add(c, "draining", json_object_new_boolean(p->drain_pending));
		json_object_array_add(clients, c);
	}
	json_object_object_add(root, "clients", clients);
	return root;
}

static int write_file_atomically(const char *path, const char *text)
{
	size_t len = strlen(path) + 16;
	char *tmp = malloc(len);
	size_t n = strlen(text);
	int fd, ret = 0;

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, len, "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1)
		ret = -EIO;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
out:
	free(tmp);
	return ret;
}

struct json_object *pod_stats_json(struct pod *pod)
{
	json_object *root;

	pthread_mutex_lock(&pod->lock);
	root = stats_json_locked(pod);
	pthread_mutex_unlock(&pod->lock);
	return root;
}

int pod_write_stats_json(struct pod *pod, const char *path)
{
	json_object *root;
	int ret;

	pthread_mutex_lock(&pod->lock);
	root = stats_json_locked(pod);
	pthread_mutex_unlock(&pod->lock);
	ret = write_file_atomically(path, json_object_to_json_string_ext(root,
				    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return ret;
}

static void stats_file_tick(struct pod *pod, uint64_t now, bool force)
{
	int ret;

	if (!pod->stats_json || (!force && now < pod->next_stats_ns))
		return;
	pod->next_stats_ns = now + (uint64_t)pod->cfg.stats_interval_ms * 1000000ull;
	pthread_mutex_unlock(&pod->lock);
	ret = pod_write_stats_json(pod, pod->stats_json);
	pthread_mutex_lock(&pod->lock);
	if (ret && !pod->stats_warned) {
		pvm_err("pod: cannot write --stats-json %s: %s", pod->stats_json,
			strerror(-ret));
		pod->stats_warned = true;
	}
}

/* ------------------------------------------------------------------ */
/* The control loop.                                                    */

static bool is_decode_error(int err)
{
	return err == -EBADMSG || err == -EPROTO || err == -E2BIG;
}

/*
 * After a drain: answer what clients sent right behind their last
 * RELEASE or DRAIN_DONE (pod_client_release() fences with a HEARTBEAT),
 * for as long as messages keep coming, 200 ms at most.
 */
/* How long the loop may wait for a message before @next_send_ns (the
 * next outbox retry), in ms: at least 1, at most @cap_ms. */
static int recv_wait_ms(uint64_t now, uint64_t next_send_ns, int cap_ms)
{
	uint64_t ms;

	if (next_send_ns == UINT64_MAX)
		return cap_ms;
	ms = next_send_ns > now ? (next_send_ns - now + 999999) / 1000000ull : 1;
	return (int)PVM_MAX(1ull, PVM_MIN(ms, (uint64_t)cap_ms));
}

static void linger(struct pod *pod)
{
	uint64_t end = pvm_now_ns() + POD_LINGER_NS;
	uint64_t next_send, now;
	struct pvm_wire_msg msg;
	net_peer_t from;
	int ret;

	pthread_mutex_lock(&pod->lock);
	next_send = pod_outbox_flush(pod, pvm_now_ns());
	pthread_mutex_unlock(&pod->lock);
	while ((now = pvm_now_ns()) < end) {
		ret = net_recv_msg(pod->ep, &msg, &from,
				   recv_wait_ms(now, next_send, POD_LINGER_IDLE_MS));
		pthread_mutex_lock(&pod->lock);
		if (ret == 0)
			pod_handle_msg(pod, &msg, from);
		next_send = pod_outbox_flush(pod, pvm_now_ns());
		pthread_mutex_unlock(&pod->lock);
		if (ret && next_send == UINT64_MAX)
			break;
	}
}

/* One receive's outcome, under pod->lock. Return: 0, or @ret when the
 * endpoint keeps failing and the pod gives up. */
static int take(struct pod *pod, int ret, const struct pvm_wire_msg *msg,
		net_peer_t from, const char *sentinel, unsigned int *net_errors)
{
	char why[320];

	if (ret == 0) {
		*net_errors = 0;
		pod_handle_msg(pod, msg, from);
	} else if (is_decode_error(ret)) {
		*net_errors = 0;
		if (ret == -E2BIG && !strcmp(pvm_wire_last_error(), sentinel))
			snprintf(why, sizeof(why), "larger than the %u-byte receive buffer (truncated by the provider)",
				 PVM_WIRE_MAX_MSG);
		else
			snprintf(why, sizeof(why), "%s", pvm_wire_last_error());
		pod_handle_bad(pod, ret, why, from);
	} else if (ret != -ETIMEDOUT && ret != -EAGAIN) {
		/* A completion error on a receive buffer, or worse. */
		pod_log(pod, "pod: receiving a control message failed: %s",
			net_strerror(ret));
		if (++*net_errors > 1000) {
			pvm_err("pod: the endpoint keeps failing (%s); giving up",
				net_strerror(ret));
			return ret;
		}
	}
	return 0;
}

int pod_run(struct pod *pod)
{
	static const uint8_t probe_byte[1];
	struct pvm_wire_msg msg, scratch;
	char sentinel[256];
	uint64_t next_tick = 0, next_send = UINT64_MAX;
	unsigned int net_errors = 0;
	int ret = 0, fatal;

	/* net_recv_msg() reports -E2BIG for a datagram the provider truncated
	 * without running the decoder, so pvm_wire_last_error() would still
	 * hold an older reason. Seed it with a known text before each receive
	 * and recognise it afterwards. */
	pvm_wire_decode(probe_byte, sizeof(probe_byte), &scratch);
	snprintf(sentinel, sizeof(sentinel), "%s", pvm_wire_last_error());

	for (;;) {
		uint64_t now;
		net_peer_t from;

		if (atomic_load(&pod->stop_requested)) {
			pvm_info("pod: stopping now");
			break;
		}
		if (atomic_load(&pod->drain_requested) && !pod->draining) {
			pthread_mutex_lock(&pod->lock);
			pod_drain_begin(pod);
			pthread_mutex_unlock(&pod->lock);
		}
		if (pod->draining) {
			bool done, late;

			pthread_mutex_lock(&pod->lock);
			done = pod_drain_finished(pod);
			late = pvm_now_ns() >= pod->drain_deadline_ns;
			if (done) {
				pvm_info("pod: drained: every client moved its pages");
			} else if (late) {
				uint64_t left = 0;

				for (size_t i = 0; i < pod->npeers; i++)
					if (pod->peers[i]->drain_pending)
						left += pod->peers[i]->leases;
				pvm_err("pod: drain deadline passed; dropping %llu leases still held",
					(unsigned long long)left);
			}
			pthread_mutex_unlock(&pod->lock);
			if (done || late) {
				linger(pod);
				break;
			}
		}

		pvm_wire_decode(probe_byte, sizeof(probe_byte), &scratch);
		ret = net_recv_msg(pod->ep, &msg, &from,
				   recv_wait_ms(pvm_now_ns(), next_send,
						POD_RECV_WAIT_MS));

		pthread_mutex_lock(&pod->lock);
		fatal = take(pod, ret, &msg, from, sentinel, &net_errors);
		now = pvm_now_ns();
		if (!fatal && now >= next_tick) {
			/* The timers judge clients silent: first read what has
			 * already arrived. A loop held up for a while (it used
			 * to be, by sends to departed clients) would otherwise
			 * expire a live client whose heartbeat waits in the
			 * queue, and free its leases. */
			for (unsigned int k = 0; k < POD_TICK_BACKLOG && !fatal; k++) {
				pvm_wire_decode(probe_byte, sizeof(probe_byte), &scratch);
				ret = net_recv_msg(pod->ep, &msg, &from, 0);
				if (ret == -EAGAIN || ret == -ETIMEDOUT)
					break;
				fatal = take(pod, ret, &msg, from, sentinel, &net_errors);
				if (ret && !is_decode_error(ret))
					break;
			}
			now = pvm_now_ns();
		}
		if (fatal) {
			pthread_mutex_unlock(&pod->lock);
			stats_file_tick(pod, pvm_now_ns(), true);
			return fatal;
		}
		if (now >= next_tick) {
			next_tick = now + POD_TICK_NS;
			pod_tick_peers(pod, now);
			stats_file_tick(pod, now, false);
		}
		next_send = pod_outbox_flush(pod, pvm_now_ns());
		pthread_mutex_unlock(&pod->lock);
		if (net_errors) {
			struct timespec ts = { 0, 10000000 };

			nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_lock(&pod->lock);
	stats_file_tick(pod, pvm_now_ns(), true);
	pthread_mutex_unlock(&pod->lock);
	return 0;
}
