/* swap/tiers/remote_podclient.c — the remote tier's transport over the pod
 * client library (pods/pod_client.h). Built only when meson knows that
 * library (PVM_HAVE_POD_CLIENT); otherwise remote_transport_pod is NULL and
 * opening a remote tier says so.
 *
 * Two connections per pod: page reads (the faults a vCPU waits for) have
 * their own, so they never queue behind a batch of eviction writes in the
 * same byte stream; control messages and writes share the other.
 *
 * Providers that need registered local buffers (verbs) get a registered
 * bounce area per connection: pages are copied through it, one batch of
 * BOUNCE_PAGES at a time. tcp and shm read and write the pager's buffers
 * directly.
 */
#include "remote_internal.h"

#ifndef PVM_HAVE_POD_CLIENT

const struct remote_transport_ops *const remote_transport_pod = NULL;

#else

#include "common.h"
#include "pod_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BOUNCE_PAGES 256
/* A fault thread waiting for a page read busy-polls this long before it
 * sleeps: a read that outlasts the default 50 us (the pod busy with a
 * write batch) would otherwise pay a sleep and a wake-up on top. */
#define RD_SPIN_US 1000

struct remote_conn {
	struct pod_client *pc;          /* control and page writes */
	struct pod_client *rd;          /* page reads (faults): its own connection */
	pthread_mutex_t bounce_lock;
	uint8_t *bounce;                /* NULL: not needed */
	struct net_mr *bounce_mr;
};

static int pc_connect(const struct remote_connect_params *p, struct remote_conn **out,
		      char *err, size_t errlen)
{
	struct pod_client_config cfg = {
		.address = p->address,
		.fabric = p->fabric,
		.secret_file = p->secret_file,
		.client_id = p->client_id,
		.timeout_ms = p->timeout_ms,
	};
	struct remote_conn *c = calloc(1, sizeof(*c));
	void *bounce = NULL;
	int rc;

	if (!c)
		return -ENOMEM;
	rc = pod_client_connect(&cfg, &c->pc);
	if (rc) {
		snprintf(err, errlen, "%s", pod_client_last_error());
		free(c);
		return rc;
	}
	cfg.spin_us = RD_SPIN_US;
	rc = pod_client_connect(&cfg, &c->rd);
	if (rc) {
		snprintf(err, errlen, "read connection: %s", pod_client_last_error());
		pod_client_close(c->pc);
		free(c);
		return rc;
	}
	pthread_mutex_init(&c->bounce_lock, NULL);
	if (pod_client_needs_registration(c->pc)) {
		if (posix_memalign(&bounce, PVM_PAGE_SIZE, BOUNCE_PAGES * PVM_PAGE_SIZE))
			rc = -ENOMEM;
		else
			rc = pod_client_register_buffer(c->pc, bounce,
							BOUNCE_PAGES * PVM_PAGE_SIZE,
							&c->bounce_mr);
		if (rc) {
			snprintf(err, errlen, "cannot register a bounce buffer: %s",
				 strerror(-rc));
			free(bounce);
			pod_client_close(c->rd);
			pod_client_close(c->pc);
			pthread_mutex_destroy(&c->bounce_lock);
			free(c);
			return rc;
		}
		c->bounce = bounce;
	}
	*out = c;
	return 0;
}

static void pc_close(struct remote_conn *c)
{
	if (!c)
		return;
	pod_client_unregister_buffer(c->bounce_mr);
	pod_client_close(c->rd);
	pod_client_close(c->pc);
	free(c->bounce);
	pthread_mutex_destroy(&c->bounce_lock);
	free(c);
}

static int pc_info(struct remote_conn *c, struct remote_conn_info *out)
{
	const struct pod_info *i = pod_client_info(c->pc);

	memset(out, 0, sizeof(*out));
	snprintf(out->pod_id, sizeof(out->pod_id), "%s", i->pod_id);
	snprintf(out->fabric, sizeof(out->fabric), "%s", i->fabric);
	out->mem_total = i->mem_total;
	out->mem_free = i->mem_free;
	return 0;
}

static int pc_lease(struct remote_conn *c, uint64_t bytes, struct remote_lease *out)
{
	struct pod_lease l;
	int rc = pod_client_lease(c->pc, bytes, &l);

	if (rc == -ESHUTDOWN)
		rc = -ENOSPC;   /* draining: no room for us there */
	if (!rc)
		*out = (struct remote_lease){ l.id, l.size, l.key, l.remote_addr };
	return rc;
}

static int pc_release(struct remote_conn *c, uint64_t lease_id)
{
	return pod_client_release(c->pc, lease_id);
}

static struct pod_lease to_pod_lease(const struct remote_lease *l)
{
	return (struct pod_lease){ l->id, l->size, l->key, l->remote_addr };
}

/* Direct: the pager's buffers go to the provider as they are. Pages that
 * follow each other both in the pager's buffers and in the lease (a batch
 * evicted together was placed together) travel as one operation of up to
 * RUN_MAX bytes: over tcp each operation costs a message and, for writes,
 * a delivery acknowledgement of its own, whatever its length. */
#define RUN_MAX (64u * PVM_PAGE_SIZE)

static int rma_direct(struct remote_conn *c, const struct pod_lease *l,
		      struct remote_page_op *ops, size_t n, bool write)
{
	struct net_rma_op stack[64], *ro = n <= 64 ? stack : malloc(n * sizeof(*ro));
	size_t stack_first[64], *first = n <= 64 ? stack_first : malloc(n * sizeof(*first));
	size_t nro = 0;
	int rc;

	if (!ro || !first) {
		if (ro != stack)
			free(ro);
		if (first != stack_first)
			free(first);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct net_rma_op *prev = nro ? &ro[nro - 1] : NULL;

		if (prev && prev->len < RUN_MAX &&
		    ops[i].offset == prev->remote_addr + prev->len &&
		    (uint8_t *)ops[i].buf == (uint8_t *)prev->local + prev->len) {
			prev->len += PVM_PAGE_SIZE;
			continue;
		}
		first[nro] = i;
		ro[nro++] = (struct net_rma_op){
			.local = ops[i].buf, .remote_addr = ops[i].offset,
			.len = PVM_PAGE_SIZE,
		};
	}
	rc = write ? pod_client_write(c->pc, l, ro, nro) : pod_client_read(c->rd, l, ro, nro);
	for (size_t k = 0; k < nro; k++) {
		size_t end = k + 1 < nro ? first[k + 1] : n;

		for (size_t i = first[k]; i < end; i++)
			ops[i].result = ro[k].result;
	}
	if (ro != stack)
		free(ro);
	if (first != stack_first)
		free(first);
	return rc;
}

static int rma_bounce(struct remote_conn *c, const struct pod_lease *l,
		      struct remote_page_op *ops, size_t n, bool write)
{
	struct net_rma_op ro[BOUNCE_PAGES];
	int first = 0;

	pthread_mutex_lock(&c->bounce_lock);
	for (size_t base = 0; base < n; base += BOUNCE_PAGES) {
		size_t m = PVM_MIN(n - base, (size_t)BOUNCE_PAGES);
		int rc;

		for (size_t i = 0; i < m; i++) {
			uint8_t *b = c->bounce + i * PVM_PAGE_SIZE;

			if (write)
				memcpy(b, ops[base + i].buf, PVM_PAGE_SIZE);
			ro[i] = (struct net_rma_op){
				.local = b, .local_mr = c->bounce_mr,
				.remote_addr = ops[base + i].offset, .len = PVM_PAGE_SIZE,
			};
		}
		/* the bounce area is registered on the main connection */
		rc = write ? pod_client_write(c->pc, l, ro, m)
			   : pod_client_read(c->pc, l, ro, m);
		for (size_t i = 0; i < m; i++) {
			ops[base + i].result = ro[i].result;
			if (!write && !ro[i].result)
				memcpy(ops[base + i].buf, c->bounce + i * PVM_PAGE_SIZE,
				       PVM_PAGE_SIZE);
		}
		if (rc && !first)
			first = rc;
	}
	pthread_mutex_unlock(&c->bounce_lock);
	return first;
}

static int pc_rma(struct remote_conn *c, const struct remote_lease *lease,
		  struct remote_page_op *ops, size_t n, bool write)
{
	struct pod_lease l = to_pod_lease(lease);

	return c->bounce ? rma_bounce(c, &l, ops, n, write)
			 : rma_direct(c, &l, ops, n, write);
}

static int pc_read(struct remote_conn *c, const struct remote_lease *lease,
		   struct remote_page_op *ops, size_t n)
{
	return pc_rma(c, lease, ops, n, false);
}

static int pc_write(struct remote_conn *c, const struct remote_lease *lease,
		    struct remote_page_op *ops, size_t n)
{
	return pc_rma(c, lease, ops, n, true);
}

/* Both connections: the pod forgets a client silent for its client
 * timeout, and the read connection may be idle that long. Its round trip
 * is the one faults see. */
static int pc_heartbeat(struct remote_conn *c, uint64_t *rtt_ns)
{
	int rc = pod_client_heartbeat(c->pc, NULL);

	return rc ? rc : pod_client_heartbeat(c->rd, rtt_ns);
}

static int pc_poll_event(struct remote_conn *c, struct remote_event *ev)
{
	struct pod_event pe;
	int rc = pod_client_poll_event(c->pc, &pe);

	if (rc)
		return rc;
	*ev = (struct remote_event){
		.type = pe.type == POD_EVENT_DRAIN ? REMOTE_EVENT_DRAIN : 0,
		.lease_id = pe.lease_id,
		.deadline_ms = pe.deadline_ms,
	};
	return 0;
}

static int pc_drain_done(struct remote_conn *c, uint64_t lease_id)
{
	return pod_client_drain_done(c->pc, lease_id);
}

static void pc_counters(struct remote_conn *c, uint64_t *read_ops, uint64_t *write_ops)
{
	struct net_endpoint_stats a, b;

	pod_client_endpoint_stats(c->pc, &a);
	pod_client_endpoint_stats(c->rd, &b);
	*read_ops = a.rma_reads + b.rma_reads;
	*write_ops = a.rma_writes + b.rma_writes;
}

static const struct remote_transport_ops pod_client_transport = {
	.size = sizeof(struct remote_transport_ops),
	.name = "pod_client",
	.connect = pc_connect,
	.close = pc_close,
	.info = pc_info,
	.lease = pc_lease,
	.release = pc_release,
	.read = pc_read,
	.write = pc_write,
	.heartbeat = pc_heartbeat,
	.poll_event = pc_poll_event,
	.drain_done = pc_drain_done,
	.counters = pc_counters,
};

const struct remote_transport_ops *const remote_transport_pod = &pod_client_transport;

#endif
