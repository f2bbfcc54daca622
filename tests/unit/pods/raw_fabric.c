/* tests/unit/pods/raw_fabric.c — see raw_fabric.h. One send and one
 * receive outstanding at a time; the completion queue is polled. */
#include "raw_fabric.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>

#define RAW_RX_LEN (128u * 1024)

struct raw_ep {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_cq *cq;
	struct fid_av *av;
	struct fid_ep *ep;
	fi_addr_t pod;
	struct fi_context2 tx_ctx, rx_ctx;
	bool tx_done;
	int tx_err;
	bool rx_ready;
	size_t rx_len;
	int rx_err;
	uint8_t *rx_buf;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int to_errno(int fi)
{
	int e = fi < 0 ? -fi : fi;

	return e < FI_ERRNO_OFFSET ? -e : -EIO;
}

static void poll_cq(struct raw_ep *r)
{
	struct fi_cq_msg_entry ent[8];
	ssize_t n = fi_cq_read(r->cq, ent, 8);

	if (n > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (ent[i].op_context == &r->tx_ctx) {
				r->tx_done = true;
				r->tx_err = 0;
			} else if (ent[i].op_context == &r->rx_ctx) {
				r->rx_ready = true;
				r->rx_len = ent[i].len;
				r->rx_err = 0;
			}
		}
	} else if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry err = { 0 };

		if (fi_cq_readerr(r->cq, &err, 0) > 0) {
			if (err.op_context == &r->tx_ctx) {
				r->tx_done = true;
				r->tx_err = to_errno(err.err ? err.err : FI_EIO);
			} else if (err.op_context == &r->rx_ctx) {
				r->rx_ready = true;
				r->rx_len = err.len;
				r->rx_err = to_errno(err.err ? err.err : FI_EIO);
			}
		}
	}
}

static int post_recv(struct raw_ep *r)
{
	ssize_t ret;

	r->rx_ready = false;
	do {
		ret = fi_recv(r->ep, r->rx_buf, RAW_RX_LEN, NULL, FI_ADDR_UNSPEC,
			      &r->rx_ctx);
		if (ret == -FI_EAGAIN)
			poll_cq(r);
	} while (ret == -FI_EAGAIN);
	return (int)ret;
}

int raw_open(const char *pod_addr, struct raw_ep **out)
{
	return raw_open_from(pod_addr, "127.0.0.1", out);
}

int raw_open_from(const char *pod_addr, const char *from, struct raw_ep **out)
{
	struct fi_info *hints = fi_allocinfo();
	struct fi_cq_attr cq_attr = { .format = FI_CQ_FORMAT_MSG, .wait_obj = FI_WAIT_NONE };
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char host[64];
	unsigned int port;
	struct raw_ep *r;
	int ret;

	*out = NULL;
	if (!hints)
		return -ENOMEM;
	if (sscanf(pod_addr, "%63[^:]:%u", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fi_freeinfo(hints);
		return -EINVAL;
	}
	sin.sin_port = htons((uint16_t)port);
	r = calloc(1, sizeof(*r));
	r->rx_buf = malloc(RAW_RX_LEN);
	hints->caps = FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ |
		      FI_REMOTE_WRITE | FI_SEND | FI_RECV;
	hints->mode = FI_CONTEXT | FI_CONTEXT2;
	hints->ep_attr->type = FI_EP_RDM;
	hints->domain_attr->mr_mode = FI_MR_PROV_KEY | FI_MR_VIRT_ADDR |
				      FI_MR_ALLOCATED | FI_MR_ENDPOINT;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	hints->fabric_attr->prov_name = strdup("tcp;ofi_rxm");
	ret = fi_getinfo(FI_VERSION(1, 9), from, "0", FI_SOURCE, hints,
			 &r->info);
	fi_freeinfo(hints);
	if (ret)
		goto fail;
	ret = fi_fabric(r->info->fabric_attr, &r->fabric, NULL);
	if (!ret)
		ret = fi_domain(r->fabric, r->info, &r->domain, NULL);
	if (!ret)
		ret = fi_cq_open(r->domain, &cq_attr, &r->cq, NULL);
	if (!ret)
		ret = fi_av_open(r->domain, &av_attr, &r->av, NULL);
	if (!ret)
		ret = fi_endpoint(r->domain, r->info, &r->ep, NULL);
	if (!ret)
		ret = fi_ep_bind(r->ep, &r->av->fid, 0);
	if (!ret)
		ret = fi_ep_bind(r->ep, &r->cq->fid, FI_TRANSMIT | FI_RECV);
	if (!ret)
		ret = fi_enable(r->ep);
	if (ret)
		goto fail;
	if (fi_av_insert(r->av, &sin, 1, &r->pod, 0, NULL) != 1) {
		ret = -EINVAL;
		goto fail;
	}
	ret = post_recv(r);
	if (ret)
		goto fail;
	*out = r;
	return 0;
fail:
	raw_close(r);
	return ret < 0 ? ret : -ret;
}

void raw_close(struct raw_ep *r)
{
	if (!r)
		return;
	if (r->ep)
		fi_close(&r->ep->fid);
	if (r->av)
		fi_close(&r->av->fid);
	if (r->cq)
		fi_close(&r->cq->fid);
	if (r->domain)
		fi_close(&r->domain->fid);
	if (r->fabric)
		fi_close(&r->fabric->fid);
	if (r->info)
		fi_freeinfo(r->info);
	free(r->rx_buf);
	free(r);
}

int raw_name(struct raw_ep *r, void *buf, size_t *len)
{
	return fi_getname(&r->ep->fid, buf, len);
}

int raw_send(struct raw_ep *r, const void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	ssize_t ret;

	r->tx_done = false;
	for (;;) {
		ret = fi_send(r->ep, buf, len, NULL, r->pod, &r->tx_ctx);
		if (ret != -FI_EAGAIN)
			break;
		poll_cq(r);
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
	if (ret)
		return to_errno((int)ret);
	while (!r->tx_done) {
		poll_cq(r);
		if (now_ms() > deadline)
			return -ETIMEDOUT;   /* the context stays ours: keep r open */
		sched_yield();
	}
	return r->tx_err;
}

long raw_recv(struct raw_ep *r, void *buf, size_t cap, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	long ret;

	while (!r->rx_ready) {
		poll_cq(r);
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
	if (r->rx_err) {
		ret = r->rx_err;
	} else {
		ret = (long)(r->rx_len < cap ? r->rx_len : cap);
		memcpy(buf, r->rx_buf, (size_t)ret);
	}
	post_recv(r);
	return ret;
}
