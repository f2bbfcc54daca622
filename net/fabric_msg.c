/* net/fabric_msg.c — control messages over fi_send/fi_recv.
 *
 * Receive side: rx_count buffers of PVM_WIRE_MAX_MSG bytes stay posted.
 * A completed buffer goes to a ring of ready slots; net_recv_msg() decodes
 * the oldest and posts the buffer again. Send side: NET_TX_SLOTS buffers;
 * a send owns one until the provider reports its completion, even when
 * the sender stopped waiting (orphan).
 */
#include "fabric_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define NET_MSG_BUF PVM_WIRE_MAX_MSG

static int post_recv_locked(struct net_endpoint *ep, struct net_recv_slot *slot)
{
	ssize_t ret;

	ret = fi_recv(ep->ep, slot->buf, NET_MSG_BUF, ep->rx_desc,
		      FI_ADDR_UNSPEC, &slot->ctx.fi);
	if (ret)
		return net_fi_errno((int)ret);
	slot->posted = true;
	return 0;
}

/* Slots neither posted nor waiting in the ready ring need a new post. */
void net_msg_repost_locked(struct net_endpoint *ep)
{
	for (unsigned int i = 0; i < ep->rx_count; i++) {
		struct net_recv_slot *slot = &ep->rx[i];

		if (!slot->posted && !slot->ctx.orphan && slot->len == SIZE_MAX)
			post_recv_locked(ep, slot);
	}
}

int net_msg_setup(struct net_endpoint *ep)
{
	size_t rx_bytes = (size_t)ep->rx_count * NET_MSG_BUF;
	size_t tx_bytes = (size_t)NET_TX_SLOTS * NET_MSG_BUF;
	int ret = 0;

	ep->rx = calloc(ep->rx_count, sizeof(*ep->rx));
	ep->rx_ready = calloc(ep->rx_count, sizeof(*ep->rx_ready));
	ep->rx_pool = aligned_alloc(PVM_PAGE_SIZE, rx_bytes);
	ep->tx_pool = aligned_alloc(PVM_PAGE_SIZE, tx_bytes);
	if (!ep->rx || !ep->rx_ready || !ep->rx_pool || !ep->tx_pool)
		return -ENOMEM;
	/* FI_MR_ALLOCATED wants backed pages; touch them. */
	memset(ep->rx_pool, 0, rx_bytes);
	memset(ep->tx_pool, 0, tx_bytes);

	pthread_mutex_lock(&ep->lock);
	if (ep->mr_mode & FI_MR_LOCAL) {
		ret = net_reg_internal_locked(ep, ep->rx_pool, rx_bytes,
					      FI_RECV, &ep->rx_mr, &ep->rx_desc);
		if (!ret)
			ret = net_reg_internal_locked(ep, ep->tx_pool, tx_bytes,
						      FI_SEND, &ep->tx_mr,
						      &ep->tx_desc);
		if (ret) {
			pvm_err("net: registering control buffers: %s",
				net_strerror(ret));
			goto out;
		}
	}
	for (unsigned int i = 0; i < NET_TX_SLOTS; i++) {
		ep->tx[i].ctx.kind = NET_CTX_SEND;
		ep->tx[i].ctx.send.index = i;
		ep->tx[i].buf = ep->tx_pool + (size_t)i * NET_MSG_BUF;
	}
	for (unsigned int i = 0; i < ep->rx_count; i++) {
		struct net_recv_slot *slot = &ep->rx[i];

		slot->ctx.kind = NET_CTX_RECV;
		slot->ctx.recv.index = i;
		slot->buf = ep->rx_pool + (size_t)i * NET_MSG_BUF;
		slot->len = SIZE_MAX;
		for (int tries = 0; tries < 1000; tries++) {
			ret = post_recv_locked(ep, slot);
			if (ret != -EAGAIN)
				break;
			net_cq_drain_locked(ep);
		}
		if (ret) {
			pvm_err("net: posting receive buffer %u: %s", i,
				net_strerror(ret));
			goto out;
		}
	}
out:
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

void net_msg_teardown(struct net_endpoint *ep)
{
	if (ep->rx_mr)
		fi_close(&ep->rx_mr->fid);
	if (ep->tx_mr)
		fi_close(&ep->tx_mr->fid);
	ep->rx_mr = ep->tx_mr = NULL;
	free(ep->rx_pool);
	free(ep->tx_pool);
	free(ep->rx);
	free(ep->rx_ready);
	ep->rx_pool = ep->tx_pool = NULL;
	ep->rx = NULL;
	ep->rx_ready = NULL;
}

void net_msg_complete_locked(struct net_endpoint *ep, struct net_ctx *ctx,
			     size_t len, net_peer_t src, int err)
{
	if (ctx->kind == NET_CTX_SEND) {
		struct net_send_slot *slot = &ep->tx[ctx->send.index];

		if (ctx->orphan) {
			ctx->orphan = false;
			slot->busy = false;
			return;
		}
		ctx->send.done = true;
		ctx->send.result = err;
		return;
	}

	struct net_recv_slot *slot = &ep->rx[ctx->recv.index];

	slot->posted = false;
	if (err == -ECANCELED) {
		/* Flushed at close: do not queue, do not repost. */
		slot->ctx.orphan = true;
		return;
	}
	slot->len = len;
	slot->src = src;
	slot->err = err;
	ep->rx_ready[ep->rx_tail % ep->rx_count] = ctx->recv.index;
	ep->rx_tail++;
}

/* Take the oldest ready message: decode it and post its buffer again. */
static int take_ready_locked(struct net_endpoint *ep, struct pvm_wire_msg *out,
			     net_peer_t *from)
{
	unsigned int idx = ep->rx_ready[ep->rx_head % ep->rx_count];
	struct net_recv_slot *slot = &ep->rx[idx];
	int ret;

	ep->rx_head++;
	*from = slot->src;
	if (slot->err)
		ret = slot->err == -EMSGSIZE ? -E2BIG : slot->err;
	else
		ret = pvm_wire_decode(slot->buf, slot->len, out);
	if (ret)
		ep->stats.msgs_bad++;
	else
		ep->stats.msgs_received++;
	slot->len = SIZE_MAX;
	/* On failure net_msg_repost_locked() retries on the next progress. */
	(void)post_recv_locked(ep, slot);
	return ret;
}

int net_recv_msg(struct net_endpoint *ep, struct pvm_wire_msg *out,
		 net_peer_t *from, int timeout_ms)
{
	uint64_t deadline = net_deadline(timeout_ms);
	int ret;

	*from = NET_PEER_NONE;
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		if (ep->rx_head == ep->rx_tail) {
			ret = net_cq_drain_locked(ep);
			net_msg_repost_locked(ep);
			if (ret < 0) {
				pthread_mutex_unlock(&ep->lock);
				return ret;
			}
		}
		if (ep->rx_head != ep->rx_tail) {
			ret = take_ready_locked(ep, out, from);
			pthread_mutex_unlock(&ep->lock);
			return ret;
		}
		pthread_mutex_unlock(&ep->lock);
		if (timeout_ms == 0)
			return -EAGAIN;
		ret = net_wait_step(ep, deadline, 1);
		if (ret)
			return ret;
	}
}

/* A send buffer nobody uses, claimed (busy, not orphaned, not done), or
 * NULL when all are taken. ep->lock held. */
static struct net_send_slot *claim_slot_locked(struct net_endpoint *ep)
{
	for (unsigned int i = 0; i < NET_TX_SLOTS; i++) {
		struct net_send_slot *slot = &ep->tx[i];

		if (!slot->busy) {
			slot->busy = true;
			slot->ctx.orphan = false;
			slot->ctx.send.done = false;
			slot->ctx.send.result = 0;
			return slot;
		}
	}
	return NULL;
}

int net_send_msg(struct net_endpoint *ep, net_peer_t peer,
		 const struct pvm_wire_msg *msg, int timeout_ms)
{
	uint64_t deadline = net_deadline(timeout_ms);
	struct net_send_slot *slot = NULL;
	ssize_t len;
	int ret;

	/* Claim a buffer. */
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		net_cq_drain_locked(ep);
		slot = claim_slot_locked(ep);
		pthread_mutex_unlock(&ep->lock);
		if (slot)
			break;
		if (net_wait_step(ep, deadline, 1))
			return -EBUSY;
	}

	len = pvm_wire_encode(msg, slot->buf, NET_MSG_BUF);
	if (len < 0) {
		pthread_mutex_lock(&ep->lock);
		slot->busy = false;
		pthread_mutex_unlock(&ep->lock);
		return (int)len;
	}

	/* Post; rxm answers -FI_EAGAIN while it connects to a new peer. */
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		ret = (int)fi_send(ep->ep, slot->buf, (size_t)len, ep->tx_desc,
				   peer, &slot->ctx.fi);
		if (ret == -FI_EAGAIN)
			net_cq_drain_locked(ep);
		else if (ret == 0)
			ep->last_activity_ns = net_now_ns();
		pthread_mutex_unlock(&ep->lock);
		if (ret != -FI_EAGAIN)
			break;
		if (net_wait_step(ep, deadline, 1)) {
			ret = -FI_ETIMEDOUT;
			break;
		}
	}
	if (ret) {
		pthread_mutex_lock(&ep->lock);
		slot->busy = false;
		pthread_mutex_unlock(&ep->lock);
		return ret == -FI_ETIMEDOUT ? -ETIMEDOUT : net_fi_errno(ret);
	}

	/* Wait for the local completion. */
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		net_cq_drain_locked(ep);
		if (slot->ctx.send.done) {
			ret = slot->ctx.send.result;
			slot->busy = false;
			if (!ret)
				ep->stats.msgs_sent++;
			pthread_mutex_unlock(&ep->lock);
			return ret;
		}
		pthread_mutex_unlock(&ep->lock);
		if (net_wait_step(ep, deadline, 1)) {
			pthread_mutex_lock(&ep->lock);
			if (slot->ctx.send.done) {
				pthread_mutex_unlock(&ep->lock);
				continue;
			}
			slot->ctx.orphan = true;        /* freed by its completion */
			pthread_mutex_unlock(&ep->lock);
			return -ETIMEDOUT;
		}
	}
}

int net_send_msg_nowait(struct net_endpoint *ep, net_peer_t peer,
			const struct pvm_wire_msg *msg)
{
	struct net_send_slot *slot = NULL;
	ssize_t len;
	int ret;

	pthread_mutex_lock(&ep->lock);
	net_cq_drain_locked(ep);
	slot = claim_slot_locked(ep);
	if (!slot) {
		pthread_mutex_unlock(&ep->lock);
		return -EBUSY;
	}
	len = pvm_wire_encode(msg, slot->buf, NET_MSG_BUF);
	if (len < 0) {
		slot->busy = false;
		pthread_mutex_unlock(&ep->lock);
		return (int)len;
	}
	ret = (int)fi_send(ep->ep, slot->buf, (size_t)len, ep->tx_desc, peer,
			   &slot->ctx.fi);
	if (ret == 0) {
		/* Nobody waits for it: its completion frees the slot. */
		slot->ctx.orphan = true;
		ep->stats.msgs_sent++;
		ep->last_activity_ns = net_now_ns();
	} else {
		slot->busy = false;
	}
	pthread_mutex_unlock(&ep->lock);
	if (ret == -FI_EAGAIN)
		return -EAGAIN;
	return ret ? net_fi_errno(ret) : 0;
}
