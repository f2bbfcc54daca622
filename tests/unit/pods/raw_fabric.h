/* tests/unit/pods/raw_fabric.h — a bare tcp;ofi_rxm endpoint that sends
 * arbitrary bytes to a pod: net/ only sends messages its encoder accepts,
 * and a hostile peer is not so polite. Test code only. */
#ifndef POOLVM_TESTS_RAW_FABRIC_H
#define POOLVM_TESTS_RAW_FABRIC_H

#include <stddef.h>
#include <stdint.h>

struct raw_ep;

/* Open an endpoint on 127.0.0.1 and insert @pod_addr ("127.0.0.1:port").
 * Return 0 or a negative errno code. */
int raw_open(const char *pod_addr, struct raw_ep **out);

/* The same, bound to the local address @from (an interface's IPv4
 * address, e.g. inside a network namespace). */
int raw_open_from(const char *pod_addr, const char *from, struct raw_ep **out);
void raw_close(struct raw_ep *r);

/* This endpoint's libfabric name (what HELLO carries). */
int raw_name(struct raw_ep *r, void *buf, size_t *len);

/* Send @len bytes as one message; wait for its local completion.
 * Return 0, or a negative code (the completion's error, -ETIMEDOUT). */
int raw_send(struct raw_ep *r, const void *buf, size_t len, int timeout_ms);

/* Receive one message into @buf. Return its length, -ETIMEDOUT, or a
 * negative error. */
long raw_recv(struct raw_ep *r, void *buf, size_t cap, int timeout_ms);

#endif
