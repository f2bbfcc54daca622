/* net/fabric_ep.c — endpoint lifecycle, provider choice,
 * completion dispatch, waiting and the progress thread. */
#include "fabric_internal.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

/* One entry per provider kind; "auto" tries those marked in_auto, in order. */
static const struct net_provider net_provider_verbs = {
	.size = sizeof(struct net_provider),
	.name = "verbs",
	.fi_name = "verbs;ofi_rxm",
	.in_auto = true,
	.uses_node = true,
};

static const struct net_provider net_provider_tcp = {
	.size = sizeof(struct net_provider),
	.name = "tcp",
	.fi_name = "tcp;ofi_rxm",
	.in_auto = true,
	.uses_node = true,
};

static const struct net_provider net_provider_shm = {
	.size = sizeof(struct net_provider),
	.name = "shm",
	.fi_name = "shm",
	.in_auto = false,
	.uses_node = false,
};

static const struct net_provider *const net_providers[] = {
	&net_provider_verbs,
	&net_provider_tcp,
	&net_provider_shm,
};

/* ------------------------------------------------------------------ */

uint64_t net_now_ns(void)
{
	return pvm_now_ns();
}

uint64_t net_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return UINT64_MAX;
	return net_now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

/* libfabric error (positive or negative, FI_E* included) -> -errno. */
int net_fi_errno(int fi_err)
{
	int e = fi_err < 0 ? -fi_err : fi_err;

	if (e == 0)
		return 0;
	if (e < FI_ERRNO_OFFSET)
		return -e;
	switch (e) {
	case FI_ETRUNC:
		return -EMSGSIZE;
	case FI_ENOKEY:
		return -EKEYREJECTED;
	case FI_ECRC:
		return -EBADMSG;
	case FI_EOVERRUN:
		return -EOVERFLOW;
	case FI_ENORX:
		return -ENOBUFS;
	case FI_EAVAIL:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

const char *net_strerror(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return "timed out waiting for the peer (dead or unreachable?)";
	case -ENODATA:
		return "no usable libfabric provider";
	case -EKEYREJECTED:
		return "the peer rejected the memory key";
	case -EEXIST:
		return "memory key already registered";
	case -EBUSY:
		return "every send buffer is stuck on an unresponsive peer";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

void net_report(const char *what, int fi_err)
{
	pvm_err("net: %s: %s", what, fi_strerror(fi_err < 0 ? -fi_err : fi_err));
}

/* ------------------------------------------------------------------ */
/* Provider selection.                                                  */

/* @sized: ask for poolvm's queue depths (net_tune_hints()); without, the
 * provider's defaults. */
static struct fi_info *net_hints(const struct net_provider *prov, bool source,
				 bool sized, unsigned rx_count)
{
	struct fi_info *hints = fi_allocinfo();

	if (!hints)
		return NULL;
	hints->caps = FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ |
		      FI_REMOTE_WRITE | FI_SEND | FI_RECV;
	if (source)
		hints->caps |= FI_SOURCE;
	/* Our contexts begin with a struct fi_context2. */
	hints->mode = FI_CONTEXT | FI_CONTEXT2;
	hints->ep_attr->type = FI_EP_RDM;
	/* The registration modes we know how to honour. */
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_ALLOCATED |
				      FI_MR_PROV_KEY | FI_MR_VIRT_ADDR |
				      FI_MR_ENDPOINT;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	if (sized)
		net_tune_hints(hints, rx_count);
	hints->fabric_attr->prov_name = strdup(prov->fi_name);
	if (!hints->fabric_attr->prov_name) {
		fi_freeinfo(hints);
		return NULL;
	}
	return hints;
}

static int net_getinfo(const struct net_provider *prov,
		       const struct net_endpoint_opts *o, unsigned rx_count,
		       struct fi_info **out)
{
	const char *node = NULL, *service = NULL;
	char rhost[256], rport[32];
	uint64_t flags = 0;
	int ret = -FI_ENODATA;

	if (prov->uses_node) {
		if (o->node || (o->service && strcmp(o->service, "0"))) {
			node = o->node;
			service = o->service ? o->service : "0";
			flags = FI_SOURCE;
		} else if (o->route_to) {
			/* Let the provider pick the interface towards the pod. */
			if (net_split_host_port(o->route_to, rhost, sizeof(rhost),
					    rport, sizeof(rport)))
				return -FI_EINVAL;
			node = rhost;
			service = rport;
		} else if (o->service) {
			service = o->service;
			flags = FI_SOURCE;
		}
	}
	/* Our queue depths first; a provider that cannot offer them (a
	 * shorter queue) gets its own defaults rather than being skipped. */
	for (int attempt = 0; attempt < 4 && ret; attempt++) {
		bool sized = attempt < 2, source = !(attempt & 1);
		struct fi_info *hints = net_hints(prov, source, sized, rx_count);

		if (!hints)
			return -FI_ENOMEM;
		ret = fi_getinfo(NET_FI_VERSION, node, service, flags, hints, out);
		fi_freeinfo(hints);
	}
	if (ret == 0 && !(flags & FI_SOURCE) && (*out)->dest_addr) {
		/* route_to only chose the source; peers come through the AV. */
		free((*out)->dest_addr);
		(*out)->dest_addr = NULL;
		(*out)->dest_addrlen = 0;
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* Completion dispatch and waiting.                                     */

static void net_dispatch(struct net_endpoint *ep, struct net_ctx *ctx,
			 size_t len, net_peer_t src, int err)
{
	if (!ctx)
		return;
	switch (ctx->kind) {
	case NET_CTX_RECV:
	case NET_CTX_SEND:
		net_msg_complete_locked(ep, ctx, len, src, err);
		break;
	case NET_CTX_RMA:
		net_rma_complete_locked(ep, ctx, err);
		break;
	}
}

int net_cq_drain_locked(struct net_endpoint *ep)
{
	struct fi_cq_msg_entry ent[NET_CQ_BATCH];
	fi_addr_t src[NET_CQ_BATCH];
	int handled = 0;

	for (;;) {
		ssize_t n;

		if (ep->have_source)
			n = fi_cq_readfrom(ep->cq, ent, NET_CQ_BATCH, src);
		else
			n = fi_cq_read(ep->cq, ent, NET_CQ_BATCH);
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				net_dispatch(ep, ent[i].op_context, ent[i].len,
					     ep->have_source ? src[i] : NET_PEER_NONE, 0);
			handled += (int)n;
			if (n < NET_CQ_BATCH)
				break;
			continue;
		}
		if (n == -FI_EAGAIN)
			break;
		if (n == -FI_EAVAIL) {
			struct fi_cq_err_entry err = { 0 };

			n = fi_cq_readerr(ep->cq, &err, 0);
			if (n == -FI_EAGAIN)
				break;
			if (n < 0)
				return net_fi_errno((int)n);
			ep->stats.cq_errors++;
			net_dispatch(ep, err.op_context, err.len, NET_PEER_NONE,
				     net_fi_errno(err.err ? err.err : FI_EIO));
			handled++;
			continue;
		}
		return net_fi_errno((int)n);
	}
	if (handled) {
		ep->last_activity_ns = net_now_ns();
		if (ep->progress_waiters)
			pthread_cond_broadcast(&ep->progress_cond);
	}
	return handled;
}

int net_progress(struct net_endpoint *ep)
{
	int ret;

	pthread_mutex_lock(&ep->lock);
	ret = net_cq_drain_locked(ep);
	net_msg_repost_locked(ep);
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

/*
 * Called without the lock by a thread whose condition is not met yet.
 * Busy-polls (yielding the CPU) for spin_ns after the last activity, then
 * sleeps on the CQ's wait fd (at most @cap_ms) or, without one, for 20 µs.
 * Posting an operation counts as activity: its completion is near.
 * Where a progress thread runs, any other thread sleeps until that thread
 * has drained completions (at most @cap_ms): two threads polling one
 * endpoint only fight over its lock and the CPUs.
 * Return: 0 to poll again, -ETIMEDOUT once @deadline_ns has passed.
 */
int net_wait_step(struct net_endpoint *ep, uint64_t deadline_ns,
		  unsigned int cap_ms)
{
	uint64_t now = net_now_ns();
	uint64_t last;
	int ret;

	if (now >= deadline_ns)
		return -ETIMEDOUT;
	if (ep->thread_running && !pthread_equal(pthread_self(), ep->thread)) {
		uint64_t until = PVM_MIN(deadline_ns, now + (uint64_t)cap_ms * 1000000ull);
		struct timespec ts = {
			.tv_sec = (time_t)(until / 1000000000ull),
			.tv_nsec = (long)(until % 1000000000ull),
		};

		pthread_mutex_lock(&ep->lock);
		ep->progress_waiters++;
		pthread_cond_timedwait(&ep->progress_cond, &ep->lock, &ts);
		ep->progress_waiters--;
		pthread_mutex_unlock(&ep->lock);
		return 0;
	}
	pthread_mutex_lock(&ep->lock);
	last = ep->last_activity_ns;
	pthread_mutex_unlock(&ep->lock);
	if (ep->spin_ns == UINT64_MAX || now - last < ep->spin_ns) {
		sched_yield();
		return 0;
	}
	if (ep->cq_fd >= 0) {
		struct fid *fids[1] = { &ep->cq->fid };
		uint64_t left_ms = (deadline_ns - now + 999999) / 1000000;
		struct pollfd pfd = { .fd = ep->cq_fd, .events = POLLIN };

		pthread_mutex_lock(&ep->lock);
		ret = fi_trywait(ep->fabric, fids, 1);
		pthread_mutex_unlock(&ep->lock);
		if (ret == FI_SUCCESS) {
			ret = poll(&pfd, 1, (int)PVM_MIN(left_ms, (uint64_t)cap_ms));
			if (ret > 0) {
				pthread_mutex_lock(&ep->lock);
				ep->last_activity_ns = net_now_ns();
				pthread_mutex_unlock(&ep->lock);
			}
		}
		return 0;
	} else {
		/* No wait object (shm): short naps keep the target responsive
		 * at a modest cost while idle. */
		struct timespec ts = { 0, 20000 };

		nanosleep(&ts, NULL);
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* Progress thread.                                                     */

static void *net_progress_main(void *arg)
{
	struct net_endpoint *ep = arg;

	while (!atomic_load(&ep->thread_stop)) {
		if (net_progress(ep) > 0)
			continue;
		net_wait_step(ep, UINT64_MAX, 20);
	}
	return NULL;
}

int net_progress_thread_start(struct net_endpoint *ep)
{
	int ret;

	if (ep->thread_running)
		return 0;
	atomic_store(&ep->thread_stop, false);
	ret = pthread_create(&ep->thread, NULL, net_progress_main, ep);
	if (ret)
		return -ret;
	ep->thread_running = true;
	pthread_setname_np(ep->thread, "pvm-netprog");
	return 0;
}

void net_progress_thread_stop(struct net_endpoint *ep)
{
	if (!ep || !ep->thread_running)
		return;
	atomic_store(&ep->thread_stop, true);
	pthread_join(ep->thread, NULL);
	ep->thread_running = false;
}

/* ------------------------------------------------------------------ */
/* Registrations the module makes for itself.                           */

int net_reg_internal_locked(struct net_endpoint *ep, void *buf, size_t len,
			    uint64_t access, struct fid_mr **mr, void **desc)
{
	int ret;

	ret = fi_mr_reg(ep->domain, buf, len, access, 0,
			NET_MR_KEY_INTERNAL + ep->next_internal_key++, 0, mr, NULL);
	if (ret)
		return net_fi_errno(ret);
	if (ep->mr_mode & FI_MR_ENDPOINT) {
		ret = fi_mr_bind(*mr, &ep->ep->fid, 0);
		if (!ret)
			ret = fi_mr_enable(*mr);
		if (ret) {
			fi_close(&(*mr)->fid);
			*mr = NULL;
			return net_fi_errno(ret);
		}
	}
	*desc = fi_mr_desc(*mr);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Open and close.                                                      */

static const struct net_provider *net_provider_by_name(const char *name)
{
	for (size_t i = 0; i < PVM_ARRAY_SIZE(net_providers); i++)
		if (!strcmp(net_providers[i]->name, name))
			return net_providers[i];
	return NULL;
}

static int net_open_objects(struct net_endpoint *ep)
{
	struct fi_info *info = ep->info;
	struct fi_cq_attr cq_attr = {
		.format = FI_CQ_FORMAT_MSG,
		.wait_obj = FI_WAIT_FD,
		.size = info->tx_attr->size + info->rx_attr->size,
	};
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE };
	int ret;

	ret = fi_fabric(info->fabric_attr, &ep->fabric, NULL);
	if (ret) {
		net_report("fi_fabric", ret);
		return net_fi_errno(ret);
	}
	ret = fi_domain(ep->fabric, info, &ep->domain, NULL);
	if (ret) {
		net_report("fi_domain", ret);
		return net_fi_errno(ret);
	}
	ret = fi_cq_open(ep->domain, &cq_attr, &ep->cq, NULL);
	if (ret) {
		/* shm has no wait fd: poll with short sleeps instead. */
		cq_attr.wait_obj = FI_WAIT_NONE;
		ret = fi_cq_open(ep->domain, &cq_attr, &ep->cq, NULL);
	}
	if (ret) {
		net_report("fi_cq_open", ret);
		return net_fi_errno(ret);
	}
	ep->cq_fd = -1;
	if (cq_attr.wait_obj == FI_WAIT_FD &&
	    fi_control(&ep->cq->fid, FI_GETWAIT, &ep->cq_fd))
		ep->cq_fd = -1;
	ret = fi_av_open(ep->domain, &av_attr, &ep->av, NULL);
	if (ret) {
		av_attr.type = FI_AV_UNSPEC;
		ret = fi_av_open(ep->domain, &av_attr, &ep->av, NULL);
	}
	if (ret) {
		net_report("fi_av_open", ret);
		return net_fi_errno(ret);
	}
	ret = fi_endpoint(ep->domain, info, &ep->ep, NULL);
	if (ret) {
		net_report("fi_endpoint", ret);
		return net_fi_errno(ret);
	}
	ret = fi_ep_bind(ep->ep, &ep->av->fid, 0);
	if (!ret)
		ret = fi_ep_bind(ep->ep, &ep->cq->fid, FI_TRANSMIT | FI_RECV);
	if (!ret)
		ret = fi_enable(ep->ep);
	if (ret) {
		net_report("binding and enabling the endpoint", ret);
		return net_fi_errno(ret);
	}
	return 0;
}

int net_endpoint_open(const struct net_endpoint_opts *opts,
		      struct net_endpoint **out)
{
	static const struct net_endpoint_opts defaults = { 0 };
	const struct net_endpoint_opts *o = opts ? opts : &defaults;
	const char *want = o->provider ? o->provider : "auto";
	const struct net_provider *only = NULL;
	struct net_endpoint *ep;
	int ret = -FI_ENODATA;

	*out = NULL;
	if (strcmp(want, "auto")) {
		only = net_provider_by_name(want);
		if (!only) {
			pvm_err("net: unknown provider '%s' (use auto, verbs, tcp or shm)",
				want);
			return -EINVAL;
		}
	}
	/* Before libfabric loads its providers (the first fi_getinfo). */
	net_provider_defaults(o->provider);
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->hdr.class = NET_CLASS_ENDPOINT;
	ep->cq_fd = -1;
	pthread_mutex_init(&ep->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ep->progress_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	atomic_init(&ep->thread_stop, false);
	ep->spin_ns = o->spin_us == UINT32_MAX ? UINT64_MAX :
		      (uint64_t)(o->spin_us ? o->spin_us : NET_SPIN_US_DEFAULT) * 1000;
	ep->rx_count = o->rx_buffers ? o->rx_buffers : NET_RX_DEFAULT;

	for (size_t i = 0; i < PVM_ARRAY_SIZE(net_providers); i++) {
		const struct net_provider *p = net_providers[i];

		if (only ? p != only : !p->in_auto)
			continue;
		ret = net_getinfo(p, o, ep->rx_count, &ep->info);
		if (ret == 0) {
			ep->prov = p;
			break;
		}
	}
	if (!ep->prov) {
		if (ret == -FI_ENODATA)
			pvm_err("net: no libfabric provider %s offers RDM messages and RMA%s%s (check fi_info -p '%s')",
				only ? only->fi_name : "(tried verbs;ofi_rxm, tcp;ofi_rxm)",
				o->node ? " on " : "", o->node ? o->node : "",
				only ? only->fi_name : "tcp;ofi_rxm");
		else
			net_report("fi_getinfo", ret);
		ret = ret == -FI_ENODATA ? -ENODATA : net_fi_errno(ret);
		goto err_free;
	}
	ep->have_source = !!(ep->info->caps & FI_SOURCE);
	ep->mr_mode = ep->info->domain_attr->mr_mode;
	ep->rma_window = PVM_MAX((size_t)NET_RMA_WINDOW_MIN,
				 PVM_MIN(ep->info->tx_attr->size,
					 (size_t)NET_RMA_WINDOW_MAX));
	/* Never more receives posted than the provider's queue takes. */
	if (ep->info->rx_attr->size && ep->rx_count > ep->info->rx_attr->size)
		ep->rx_count = (unsigned)ep->info->rx_attr->size;
	/* Grouping ops pays where each posted op is a message of its own
	 * (tcp). shm copies each iov by itself anyway, and a shm read with
	 * several iovs to a pod that replaced a dead one never completed
	 * here; verbs posts one remote address per work request. */
	ep->rma_iov_max = strstr(ep->info->fabric_attr->prov_name, "tcp")
			  ? net_rma_iov_max(ep->info->tx_attr->iov_limit,
					    ep->info->tx_attr->rma_iov_limit) : 1;
	ret = net_open_objects(ep);
	if (ret)
		goto err_close;
	ret = net_msg_setup(ep);
	if (ret)
		goto err_close;
	if (o->progress_thread) {
		ret = net_progress_thread_start(ep);
		if (ret)
			goto err_close;
	}
	*out = ep;
	return 0;

err_close:
	net_endpoint_close(ep);
	return ret;
err_free:
	pthread_mutex_destroy(&ep->lock);
	pthread_cond_destroy(&ep->progress_cond);
	free(ep);
	return ret;
}

void net_endpoint_close(struct net_endpoint *ep)
{
	if (!ep)
		return;
	net_progress_thread_stop(ep);
	if (ep->hdr.refs)
		pvm_err("net: closing an endpoint with %u memory registrations still open",
			ep->hdr.refs);
	/* Reads a deadline abandoned may still be out (a dead or stopped
	 * peer): end them first, fi_close() must not meet one half received
	 * (fabric_quiesce.c). */
	net_endpoint_quiesce(ep);
	/* Closing the endpoint first flushes posted buffers; then nothing can
	 * reference our contexts or pools any more. */
	if (ep->ep)
		fi_close(&ep->ep->fid);
	net_msg_teardown(ep);
	net_rma_teardown(ep);
	if (ep->av)
		fi_close(&ep->av->fid);
	if (ep->cq)
		fi_close(&ep->cq->fid);
	if (ep->domain)
		fi_close(&ep->domain->fid);
	if (ep->fabric)
		fi_close(&ep->fabric->fid);
	if (ep->info)
		fi_freeinfo(ep->info);
	free(ep->peers);
	pthread_mutex_destroy(&ep->lock);
	pthread_cond_destroy(&ep->progress_cond);
	ep->hdr.class = 0;
	free(ep);
}

const char *net_endpoint_provider(const struct net_endpoint *ep)
{
	return ep->info->fabric_attr->prov_name;
}

void net_endpoint_stats(struct net_endpoint *ep, struct net_endpoint_stats *out)
{
	pthread_mutex_lock(&ep->lock);
	*out = ep->stats;
	pthread_mutex_unlock(&ep->lock);
}
