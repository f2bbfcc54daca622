/* net/hostport.h — "host:port" addresses (no libfabric needed). */
#ifndef POOLVM_NET_HOSTPORT_H
#define POOLVM_NET_HOSTPORT_H

#include <stddef.h>

/**
 * net_split_host_port() - split "host:port" or "[v6addr]:port".
 * Return: 0, or -EINVAL when either part is empty, too long for its buffer,
 * or the port is not a number. Any thread.
 */
int net_split_host_port(const char *text, char *host, size_t hostlen,
			char *port, size_t portlen);

#endif
