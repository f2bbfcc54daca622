/* net/fabric_rma.c — memory registration and batched one-sided RMA.
 *
 * A batch posts as many operations as the endpoint's window allows, polls
 * the CQ, posts more as completions free the window, and stops at the
 * deadline. Consecutive ops of a batch under the same key go out together
 * as one fi_writemsg/fi_readmsg of up to the provider's iov limits (4 on
 * tcp;ofi_rxm): over tcp each posted operation costs a message and, for
 * a delivery-complete write, an acknowledgement, whatever its length. Contexts come from a free list that grows in chunks; contexts
 * of operations abandoned at a deadline are orphans and return to the
 * free list only when the provider reports them (never, for a peer that
 * died: their memory is released when the endpoint closes).
 */
#include "fabric_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define NET_RMA_IOV_MAX     8
/* A group stays small: large runs are already one op each. */
#define NET_RMA_GROUP_BYTES (256u * 1024)

unsigned net_rma_iov_max(size_t iov_limit, size_t rma_iov_limit)
{
	const char *env = getenv("POOLVM_NET_RMA_IOV");
	size_t m = PVM_MIN(iov_limit, rma_iov_limit);

	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);

		if (!*end && v >= 1)
			m = PVM_MIN(m, (size_t)v);
	}
	return (unsigned)PVM_MAX((size_t)1, PVM_MIN(m, (size_t)NET_RMA_IOV_MAX));
}

/* ------------------------------------------------------------------ */
/* Registration.                                                        */

bool net_mr_local_required(const struct net_endpoint *ep)
{
	return !!(ep->mr_mode & FI_MR_LOCAL);
}

static int mr_register(struct net_endpoint *ep, void *base, size_t len,
		       uint64_t access, uint64_t key, struct net_mr **out)
{
	struct net_mr *mr;
	int ret;

	*out = NULL;
	if (!base || !len)
		return -EINVAL;
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -ENOMEM;
	mr->hdr.class = NET_CLASS_MR;
	mr->ep = ep;
	mr->base = base;
	mr->len = len;
	mr->key = key;

	pthread_mutex_lock(&ep->lock);
	ret = fi_mr_reg(ep->domain, base, len, access, 0, key, 0, &mr->mr, NULL);
	if (ret == 0 && (ep->mr_mode & FI_MR_ENDPOINT)) {
		ret = fi_mr_bind(mr->mr, &ep->ep->fid, 0);
		if (!ret)
			ret = fi_mr_enable(mr->mr);
		if (ret) {
			fi_close(&mr->mr->fid);
			mr->mr = NULL;
		}
	}
	if (ret == 0) {
		mr->desc = fi_mr_desc(mr->mr);
		mr->key = fi_mr_key(mr->mr);
		ep->hdr.refs++;
	}
	pthread_mutex_unlock(&ep->lock);
	if (ret) {
		free(mr);
		if (ret == -FI_ENOKEY || ret == -FI_EBUSY)
			return -EEXIST;
		return net_fi_errno(ret);
	}
	mr->remote_addr = (ep->mr_mode & FI_MR_VIRT_ADDR) ? (uintptr_t)base : 0;
	*out = mr;
	return 0;
}

int net_mr_register_remote(struct net_endpoint *ep, void *base, size_t len,
			   uint64_t key, struct net_mr **out)
{
	if (!(ep->mr_mode & FI_MR_PROV_KEY) && key >= NET_MR_KEY_INTERNAL) {
		*out = NULL;
		return -EINVAL;
	}
	return mr_register(ep, base, len, FI_REMOTE_READ | FI_REMOTE_WRITE,
			   key, out);
}

int net_mr_register_local(struct net_endpoint *ep, void *base, size_t len,
			  struct net_mr **out)
{
	struct net_mr *mr;
	uint64_t key;

	if (!net_mr_local_required(ep)) {
		/* Nothing to register: a record so callers need no branch. */
		*out = NULL;
		if (!base || !len)
			return -EINVAL;
		mr = calloc(1, sizeof(*mr));
		if (!mr)
			return -ENOMEM;
		mr->hdr.class = NET_CLASS_MR;
		mr->ep = ep;
		mr->base = base;
		mr->len = len;
		pthread_mutex_lock(&ep->lock);
		ep->hdr.refs++;
		pthread_mutex_unlock(&ep->lock);
		*out = mr;
		return 0;
	}
	pthread_mutex_lock(&ep->lock);
	key = NET_MR_KEY_INTERNAL + ep->next_internal_key++;
	pthread_mutex_unlock(&ep->lock);
	return mr_register(ep, base, len,
			   FI_READ | FI_WRITE | FI_SEND | FI_RECV, key, out);
}

void net_mr_close(struct net_mr *mr)
{
	if (!mr)
		return;
	pthread_mutex_lock(&mr->ep->lock);
	if (mr->mr)
		fi_close(&mr->mr->fid);
	mr->ep->hdr.refs--;
	pthread_mutex_unlock(&mr->ep->lock);
	mr->hdr.class = 0;
	free(mr);
}

uint64_t net_mr_key(const struct net_mr *mr)
{
	return mr->key;
}

uint64_t net_mr_remote_addr(const struct net_mr *mr)
{
	return mr->remote_addr;
}

/* ------------------------------------------------------------------ */
/* Contexts.                                                            */

static struct net_ctx *ctx_get_locked(struct net_endpoint *ep)
{
	struct net_ctx *ctx = ep->ctx_free;

	if (!ctx) {
		struct net_ctx_chunk *chunk = calloc(1, sizeof(*chunk));

		if (!chunk)
			return NULL;
		chunk->next = ep->ctx_chunks;
		ep->ctx_chunks = chunk;
		for (size_t i = 0; i < PVM_ARRAY_SIZE(chunk->ctx); i++) {
			chunk->ctx[i].kind = NET_CTX_RMA;
			chunk->ctx[i].next = ep->ctx_free;
			ep->ctx_free = &chunk->ctx[i];
		}
		ctx = ep->ctx_free;
	}
	ep->ctx_free = ctx->next;
	ctx->next = ctx->prev = NULL;
	ctx->orphan = false;
	return ctx;
}

static void ctx_put_locked(struct net_endpoint *ep, struct net_ctx *ctx)
{
	ctx->rma.batch = NULL;
	ctx->rma.op = NULL;
	ctx->rma.nops = 0;
	ctx->rma.read = false;
	ctx->orphan = false;
	ctx->prev = NULL;
	ctx->next = ep->ctx_free;
	ep->ctx_free = ctx;
}

static void batch_link(struct net_batch *b, struct net_ctx *ctx)
{
	ctx->prev = NULL;
	ctx->next = b->inflight;
	if (b->inflight)
		b->inflight->prev = ctx;
	b->inflight = ctx;
}

static void batch_unlink(struct net_batch *b, struct net_ctx *ctx)
{
	if (ctx->prev)
		ctx->prev->next = ctx->next;
	else
		b->inflight = ctx->next;
	if (ctx->next)
		ctx->next->prev = ctx->prev;
	ctx->next = ctx->prev = NULL;
}

static bool is_connection_error(int err)
{
	return err == -ENOTCONN || err == -ECONNRESET || err == -EPIPE ||
	       err == -ECONNABORTED;
}

void net_rma_complete_locked(struct net_endpoint *ep, struct net_ctx *ctx,
			     int err)
{
	struct net_batch *b = ctx->rma.batch;

	if (ctx->rma.read)
		ep->rma_reads_out--;
	if (ctx->orphan || !b) {
		ctx_put_locked(ep, ctx);
		return;
	}
	batch_unlink(b, ctx);
	if (is_connection_error(err) && b->retry_budget) {
		/* A connection that broke under the op (stale after a peer
		 * restart, or torn down by an earlier error): post it again,
		 * rxm connects afresh. Reads and writes are idempotent. */
		b->retry_budget--;
		b->retry_pending += ctx->rma.nops;     /* reposted one by one */
		/* Immediate reposts meet the same dying connection; give rxm
		 * time to tear it down (1 ms, doubling to 64 ms). */
		b->retry_backoff_ns = b->retry_backoff_ns ?
				      PVM_MIN(b->retry_backoff_ns * 2, 64000000ull) :
				      1000000ull;
		b->retry_after_ns = net_now_ns() + b->retry_backoff_ns;
		ep->stats.rma_reposts++;
		err = NET_RMA_RETRY;
	}
	for (unsigned i = 0; i < ctx->rma.nops; i++)
		ctx->rma.op[i].result = err;
	if (err == 0 && b->write)
		ep->stats.rma_writes += ctx->rma.nops;
	else if (err == 0)
		ep->stats.rma_reads += ctx->rma.nops;
	else if (err != NET_RMA_RETRY)
		ep->stats.rma_errors += ctx->rma.nops;
	b->outstanding--;
	ep->rma_inflight--;
	ctx_put_locked(ep, ctx);
}

void net_rma_teardown(struct net_endpoint *ep)
{
	while (ep->ctx_chunks) {
		struct net_ctx_chunk *next = ep->ctx_chunks->next;

		free(ep->ctx_chunks);
		ep->ctx_chunks = next;
	}
	ep->ctx_free = NULL;
}

/* ------------------------------------------------------------------ */
/* Batches.                                                             */

static int op_check(const struct net_endpoint *ep, const struct net_rma_op *op)
{
	const struct net_mr *mr = op->local_mr;

	if (!op->local || !op->len)
		return -EINVAL;
	if (!mr)
		return net_mr_local_required(ep) ? -EINVAL : 0;
	if (mr->hdr.class != NET_CLASS_MR || mr->ep != ep)
		return -EINVAL;
	if ((uintptr_t)op->local < (uintptr_t)mr->base ||
	    (uintptr_t)op->local + op->len > (uintptr_t)mr->base + mr->len)
		return -EINVAL;
	return 0;
}

static ssize_t post_one_locked(struct net_endpoint *ep, net_peer_t peer,
			       struct net_rma_op *ops, unsigned nops,
			       struct net_ctx *ctx, bool write)
{
	struct iovec iov[NET_RMA_IOV_MAX];
	void *desc[NET_RMA_IOV_MAX];
	struct fi_rma_iov rma[NET_RMA_IOV_MAX];
	struct fi_msg_rma msg = {
		.msg_iov = iov,
		.desc = desc,
		.iov_count = nops,
		.addr = peer,
		.rma_iov = rma,
		.rma_iov_count = nops,
		.context = &ctx->fi,
	};

	for (unsigned i = 0; i < nops; i++) {
		iov[i] = (struct iovec){ .iov_base = ops[i].local, .iov_len = ops[i].len };
		desc[i] = ops[i].local_mr ? ops[i].local_mr->desc : NULL;
		rma[i] = (struct fi_rma_iov){
			.addr = ops[i].remote_addr, .len = ops[i].len, .key = ops[i].key,
		};
	}
	if (write)
		return fi_writemsg(ep->ep, &msg,
				   FI_COMPLETION | FI_DELIVERY_COMPLETE);
	return fi_readmsg(ep->ep, &msg, FI_COMPLETION);
}

/* Post @nops consecutive ops as one operation. Return: 0 posted (or
 * failed: their results set), -EAGAIN when the provider is full or
 * connecting (ops untouched: post them again later). */
static int post_ops_locked(struct net_endpoint *ep, net_peer_t peer,
			   struct net_batch *b, struct net_rma_op *ops,
			   unsigned nops)
{
	struct net_ctx *ctx = ctx_get_locked(ep);
	ssize_t rc;

	if (!ctx) {
		for (unsigned i = 0; i < nops; i++)
			ops[i].result = -ENOMEM;
		return 0;
	}
	ctx->rma.batch = b;
	ctx->rma.op = ops;
	ctx->rma.nops = nops;
	rc = post_one_locked(ep, peer, ops, nops, ctx, b->write);
	if (rc == -FI_EAGAIN) {
		ctx_put_locked(ep, ctx);
		ep->stats.rma_eagain++;
		return -EAGAIN;
	}
	if (rc) {
		ctx_put_locked(ep, ctx);
		for (unsigned i = 0; i < nops; i++)
			ops[i].result = net_fi_errno((int)rc);
		ep->stats.rma_errors += nops;
		return 0;
	}
	for (unsigned i = 0; i < nops; i++)
		ops[i].result = -EINPROGRESS;
	ep->stats.rma_posts++;
	ep->last_activity_ns = net_now_ns();     /* spin for its completion */
	batch_link(b, ctx);
	b->outstanding++;
	ep->rma_inflight++;
	if (!b->write) {
		ctx->rma.read = true;
		ep->rma_reads_out++;
	}
	return 0;
}

/* How many ops from ops[0] (not yet posted) go out together: the ones
 * after it that are not posted either, under the same key, within the
 * iov limit and NET_RMA_GROUP_BYTES. */
static unsigned group_len(const struct net_endpoint *ep, const struct net_rma_op *ops,
			  size_t left)
{
	size_t bytes = ops[0].len;
	unsigned k = 1;

	while (k < ep->rma_iov_max && k < left &&
	       ops[k].result == -EINPROGRESS && ops[k].key == ops[0].key &&
	       bytes + ops[k].len <= NET_RMA_GROUP_BYTES) {
		bytes += ops[k].len;
		k++;
	}
	return k;
}

static int rma_batch(struct net_endpoint *ep, net_peer_t peer,
		     struct net_rma_op *ops, size_t n, int timeout_ms,
		     bool write)
{
	uint64_t deadline = net_deadline(timeout_ms);
	struct net_batch b = { .write = write, .retry_budget = 4 * n + 4 };
	size_t next = 0;
	int ret = 0;

	/* -EINPROGRESS: not posted yet or in flight; final values otherwise. */
	for (size_t i = 0; i < n; i++)
		ops[i].result = op_check(ep, &ops[i]) ? -EINVAL : -EINPROGRESS;

	for (;;) {
		bool full = false;

		pthread_mutex_lock(&ep->lock);
		net_cq_drain_locked(ep);
		/* Reposts first: they are the oldest. */
		for (size_t i = 0; i < next && b.retry_pending && !full &&
		     net_now_ns() >= b.retry_after_ns; i++) {
			if (ops[i].result != NET_RMA_RETRY)
				continue;
			if (ep->rma_inflight >= ep->rma_window ||
			    post_ops_locked(ep, peer, &b, &ops[i], 1) == -EAGAIN) {
				full = true;
				break;
			}
			b.retry_pending--;
		}
		while (!full && next < n && ep->rma_inflight < ep->rma_window) {
			if (ops[next].result != -EINPROGRESS) {
				next++;
				continue;
			}
			unsigned k = group_len(ep, &ops[next], n - next);

			if (post_ops_locked(ep, peer, &b, &ops[next], k) == -EAGAIN) {
				/* Full or connecting: progress, then retry. */
				net_cq_drain_locked(ep);
				break;
			}
			next += k;
		}
		if (next == n && b.outstanding == 0 && b.retry_pending == 0) {
			pthread_mutex_unlock(&ep->lock);
			break;
		}
		pthread_mutex_unlock(&ep->lock);

		if (net_wait_step(ep, deadline, 1)) {
			pthread_mutex_lock(&ep->lock);
			net_cq_drain_locked(ep);
			/* Abandon what is still out; late completions find an
			 * orphan and only free its context. */
			while (b.inflight) {
				struct net_ctx *ctx = b.inflight;

				batch_unlink(&b, ctx);
				ctx->orphan = true;
				for (unsigned i = 0; i < ctx->rma.nops; i++)
					ctx->rma.op[i].result = -ETIMEDOUT;
				ep->stats.rma_timeouts += ctx->rma.nops;
				ctx->rma.batch = NULL;
				ctx->rma.op = NULL;
				ctx->rma.nops = 0;
				ep->rma_inflight--;
			}
			for (size_t i = 0; i < n; i++) {
				if (ops[i].result == -EINPROGRESS ||
				    ops[i].result == NET_RMA_RETRY) {
					ops[i].result = -ETIMEDOUT;
					ep->stats.rma_timeouts++;
				}
			}
			b.outstanding = 0;
			pthread_mutex_unlock(&ep->lock);
			break;
		}
	}

	for (size_t i = 0; i < n; i++) {
		if (ops[i].result) {
			ret = ops[i].result;
			break;
		}
	}
	return ret;
}

int net_rma_read_batch(struct net_endpoint *ep, net_peer_t peer,
		       struct net_rma_op *ops, size_t n, int timeout_ms)
{
	return rma_batch(ep, peer, ops, n, timeout_ms, false);
}

int net_rma_write_batch(struct net_endpoint *ep, net_peer_t peer,
			struct net_rma_op *ops, size_t n, int timeout_ms)
{
	return rma_batch(ep, peer, ops, n, timeout_ms, true);
}
