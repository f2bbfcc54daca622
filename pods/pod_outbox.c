/* pods/pod_outbox.c — how the pod sends: never waiting for one peer.
 *
 * A pod serves many clients from one control loop, and a client can
 * vanish at any moment (a VMM killed, a benchmark that exited, a host cut
 * off) without a word. tcp;ofi_rxm then answers every send to it with
 * -FI_EAGAIN while it tries to connect again, for as long as one cares to
 * retry: a blocking send there held the whole loop for its full timeout
 * (1 s), so HEARTBEAT probes to K departed clients delayed every other
 * client's HELLO and requests by K seconds.
 *
 * So pod_send() posts a message only if the provider takes it at once
 * (net_send_msg_nowait()) and otherwise queues it in the peer's outbox,
 * behind what is queued already (a peer's messages keep their order).
 * pod_outbox_flush(), from the control loop, retries outboxes with a
 * backoff (1 ms doubling to 64 ms) and drops a message that waited longer
 * than the send timeout (1 s for authenticated clients, 300 ms for
 * handshakes), with what dropping it means:
 *  - a LEASE_GRANT never sent: the client never learnt the key, the lease
 *    is freed (as when a blocking send failed);
 *  - a peer that never authenticated and holds nothing is forgotten (its
 *    HELLO may have named someone else's address).
 * A departed client's leases are not touched here: they stay until its
 * client timeout, as docs/pods.md says (it may come back).
 *
 * Called with pod->lock held, from the control loop.
 */
#include "pod_internal.h"

#include <errno.h>
#include <stdlib.h>

#include "common.h"

static uint64_t send_timeout_ns(const struct pod_peer *peer)
{
	return (peer->state == POD_PEER_AUTHED ? POD_SEND_TIMEOUT_MS :
		POD_SEND_TIMEOUT_PENDING_MS) * 1000000ull;
}

static struct pod_outbox_msg *outbox_at(struct pod_peer *peer, unsigned int i)
{
	return &peer->outbox[(peer->outbox_head + i) % POD_OUTBOX_CAP];
}

static void outbox_pop(struct pod_peer *peer)
{
	peer->outbox_head = (peer->outbox_head + 1) % POD_OUTBOX_CAP;
	peer->outbox_len--;
}

/* What a message that will never be sent leaves behind. */
static void unsent(struct pod *pod, struct pod_peer *peer,
		   const struct pvm_wire_msg *msg)
{
	struct pod_lease_rec *lease;

	if (msg->type != PVM_WIRE_LEASE_GRANT)
		return;
	lease = pod_lease_find(pod, msg->u.lease_grant.lease_id);
	if (lease && lease->owner == peer) {
		/* The client never learnt the key: nothing can use it. */
		pod_lease_free(pod, lease);
		pod->leases_granted--;
		pod->leases_refused++;
	}
}

/* Drop the oldest queued message. Return: true when @peer was forgotten. */
static bool drop_head(struct pod *pod, struct pod_peer *peer, uint64_t now,
		      int err)
{
	struct pod_outbox_msg *q = outbox_at(peer, 0);
	struct pvm_wire_msg msg = q->msg;
	char who[POD_WHO_LEN];

	if (err == -EAGAIN || err == -EBUSY)
		pod_log(pod, "pod: %s unreachable for %llu ms: dropped %s",
			pod_peer_name(peer, who, sizeof(who)),
			(unsigned long long)((now - q->queued_ns) / 1000000ull),
			pvm_wire_type_name(msg.type));
	else
		pod_log(pod, "pod: sending %s to %s failed: %s",
			pvm_wire_type_name(msg.type),
			pod_peer_name(peer, who, sizeof(who)), net_strerror(err));
	outbox_pop(peer);
	unsent(pod, peer, &msg);
	if (peer->state != POD_PEER_AUTHED && !peer->leases) {
		/* Cannot reach it: keep no address vector entry for a name
		 * that may be a lie. */
		pod_peer_forget(pod, peer);
		return true;
	}
	return false;
}

static void schedule_retry(struct pod_peer *peer, uint64_t now)
{
	if (!peer->outbox_backoff_ns)
		peer->outbox_backoff_ns = POD_OUTBOX_RETRY_MIN_NS;
	else if (peer->outbox_backoff_ns < POD_OUTBOX_RETRY_MAX_NS)
		peer->outbox_backoff_ns *= 2;
	peer->outbox_retry_ns = now + peer->outbox_backoff_ns;
}

/**
 * pod_send() - send @msg to @peer now if the provider takes it, else queue
 * it in the peer's outbox (pod_outbox_flush() retries). Never waits.
 * Return: 0 sent or queued; -ENOBUFS the outbox is full (the peer has not
 * taken a message for a while); another -errno when the message cannot be
 * sent at all. A refusal is logged once here; the caller undoes what the
 * message announced. pod->lock held.
 */
int pod_send(struct pod *pod, struct pod_peer *peer,
	     const struct pvm_wire_msg *msg)
{
	uint64_t now = pvm_now_ns();
	struct pod_outbox_msg *q;
	char who[POD_WHO_LEN];
	int ret = -EAGAIN;

	if (!peer->outbox_len) {
		ret = net_send_msg_nowait(pod->ep, peer->handle, msg);
		if (ret == 0)
			return 0;
	}
	if (ret == -EAGAIN || ret == -EBUSY) {
		if (!peer->outbox)
			peer->outbox = malloc(POD_OUTBOX_CAP * sizeof(*peer->outbox));
		if (peer->outbox && peer->outbox_len < POD_OUTBOX_CAP) {
			q = outbox_at(peer, peer->outbox_len);
			q->msg = *msg;
			q->queued_ns = now;
			if (!peer->outbox_len++) {
				peer->outbox_backoff_ns = 0;
				schedule_retry(peer, now);
			}
			return 0;
		}
		ret = -ENOBUFS;
	}
	pod_log(pod, "pod: sending %s to %s failed: %s",
		pvm_wire_type_name(msg->type),
		pod_peer_name(peer, who, sizeof(who)),
		ret == -ENOBUFS ? "it has not taken the messages queued for it"
				: net_strerror(ret));
	return ret;
}

/**
 * pod_outbox_flush() - retry the outboxes that are due; drop messages
 * that waited past their send timeout (and forget peers as the file's
 * comment says). pod->lock held; control loop.
 * Return: when the next retry is due (pvm_now_ns() clock), UINT64_MAX
 * when every outbox is empty.
 */
uint64_t pod_outbox_flush(struct pod *pod, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = pod->npeers; i-- > 0;) {
		struct pod_peer *peer;
		bool forgotten = false;

		if (i >= pod->npeers)
			continue;
		peer = pod->peers[i];
		if (!peer->outbox_len)
			continue;
		if (now < peer->outbox_retry_ns) {
			next = PVM_MIN(next, peer->outbox_retry_ns);
			continue;
		}
		while (peer->outbox_len && !forgotten) {
			struct pod_outbox_msg *q = outbox_at(peer, 0);
			int ret;

			if (now - q->queued_ns > send_timeout_ns(peer)) {
				forgotten = drop_head(pod, peer, now, -EAGAIN);
				continue;
			}
			ret = net_send_msg_nowait(pod->ep, peer->handle, &q->msg);
			if (ret == 0) {
				outbox_pop(peer);
				peer->outbox_backoff_ns = 0;
			} else if (ret == -EAGAIN || ret == -EBUSY) {
				schedule_retry(peer, now);
				break;
			} else {
				forgotten = drop_head(pod, peer, now, ret);
			}
		}
		if (!forgotten && peer->outbox_len)
			next = PVM_MIN(next, peer->outbox_retry_ns);
	}
	return next;
}

/** pod_outbox_free() - drop what @peer still has queued (it is forgotten). */
void pod_outbox_free(struct pod_peer *peer)
{
	free(peer->outbox);
	peer->outbox = NULL;
	peer->outbox_len = 0;
}
