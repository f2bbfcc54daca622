/* net/fabric_addr.c — endpoint names, address text, and the address
 * vector: inserting peers (checked: names in HELLO come from peers),
 * removing them, and re-inserting after a failure. */
#include "fabric_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_endpoint_name(struct net_endpoint *ep, void *buf, size_t *len)
{
	size_t cap = *len;
	int ret;

	pthread_mutex_lock(&ep->lock);
	ret = fi_getname(&ep->ep->fid, buf, len);
	pthread_mutex_unlock(&ep->lock);
	if (ret == -FI_ETOOSMALL || (ret == 0 && *len > cap))
		return -ENOSPC;
	return net_fi_errno(ret);
}

int net_endpoint_address(struct net_endpoint *ep, char *buf, size_t len)
{
	uint8_t name[PVM_WIRE_ADDR_MAX];
	size_t nlen = sizeof(name);
	int ret, n;

	ret = net_endpoint_name(ep, name, &nlen);
	if (ret)
		return ret;
	switch (ep->info->addr_format) {
	case FI_SOCKADDR_IN: {
		struct sockaddr_in sin;
		char host[INET_ADDRSTRLEN];

		if (nlen < sizeof(sin))
			return -EINVAL;
		memcpy(&sin, name, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
		n = snprintf(buf, len, "%s:%u", host, ntohs(sin.sin_port));
		break;
	}
	case FI_SOCKADDR_IN6: {
		struct sockaddr_in6 sin6;
		char host[INET6_ADDRSTRLEN];

		if (nlen < sizeof(sin6))
			return -EINVAL;
		memcpy(&sin6, name, sizeof(sin6));
		inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host));
		n = snprintf(buf, len, "[%s]:%u", host, ntohs(sin6.sin6_port));
		break;
	}
	case FI_ADDR_STR:
		n = snprintf(buf, len, "%.*s", (int)strnlen((char *)name, nlen),
			     (char *)name);
		break;
	default: {
		size_t slen = len;

		pthread_mutex_lock(&ep->lock);
		fi_av_straddr(ep->av, name, buf, &slen);
		pthread_mutex_unlock(&ep->lock);
		n = (int)slen - 1;
		break;
	}
	}
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return 0;
}

static struct net_peer_entry *peer_find_handle(struct net_endpoint *ep,
					       net_peer_t handle)
{
	for (size_t i = 0; i < ep->npeers; i++)
		if (ep->peers[i].handle == handle)
			return &ep->peers[i];
	return NULL;
}

static int peer_insert_locked(struct net_endpoint *ep, const void *name,
			      size_t len, net_peer_t *out)
{
	fi_addr_t addr = FI_ADDR_NOTAVAIL;
	int ret;

	for (size_t i = 0; i < ep->npeers; i++) {
		if (ep->peers[i].len == len &&
		    !memcmp(ep->peers[i].name, name, len)) {
			*out = ep->peers[i].handle;
			return 0;
		}
	}
	if (ep->npeers == ep->peers_cap) {
		size_t cap = ep->peers_cap ? ep->peers_cap * 2 : 8;
		struct net_peer_entry *p = realloc(ep->peers, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		ep->peers = p;
		ep->peers_cap = cap;
	}
	ret = fi_av_insert(ep->av, name, 1, &addr, 0, NULL);
	if (ret != 1 || addr == FI_ADDR_NOTAVAIL)
		return ret < 0 ? net_fi_errno(ret) : -EINVAL;
	ep->peers[ep->npeers].handle = addr;
	ep->peers[ep->npeers].len = len;
	memcpy(ep->peers[ep->npeers].name, name, len);
	ep->npeers++;
	*out = addr;
	return 0;
}

/* Names come from peers (HELLO): check they are what the format says. */
static int name_valid(const struct net_endpoint *ep, const void *name, size_t len)
{
	if (!name || len == 0 || len > PVM_WIRE_ADDR_MAX)
		return 0;
	switch (ep->info->addr_format) {
	case FI_SOCKADDR_IN: {
		struct sockaddr_in sin;

		if (len != sizeof(sin))
			return 0;
		memcpy(&sin, name, sizeof(sin));
		return sin.sin_family == AF_INET && sin.sin_port != 0;
	}
	case FI_SOCKADDR_IN6: {
		struct sockaddr_in6 sin6;

		if (len != sizeof(sin6))
			return 0;
		memcpy(&sin6, name, sizeof(sin6));
		return sin6.sin6_family == AF_INET6 && sin6.sin6_port != 0;
	}
	case FI_ADDR_STR:
		/* One NUL, at the end, and printable before it. */
		if (((const char *)name)[len - 1] != '\0' || len < 2)
			return 0;
		for (size_t i = 0; i + 1 < len; i++) {
			unsigned char c = ((const unsigned char *)name)[i];

			if (c < 0x21 || c > 0x7e)
				return 0;
		}
		return 1;
	default:
		/* Fixed-size formats: must match our own name's size. */
		return len == ep->info->src_addrlen || ep->info->src_addrlen == 0;
	}
}

int net_peer_insert_raw(struct net_endpoint *ep, const void *name, size_t len,
			net_peer_t *out)
{
	int ret;

	*out = NET_PEER_NONE;
	if (!name_valid(ep, name, len))
		return -EINVAL;
	pthread_mutex_lock(&ep->lock);
	ret = peer_insert_locked(ep, name, len, out);
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

int net_peer_insert(struct net_endpoint *ep, const char *address,
		    net_peer_t *out)
{
	char host[256], port[32];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int ret;

	*out = NET_PEER_NONE;
	if (!address || !*address)
		return -EINVAL;
	switch (ep->info->addr_format) {
	case FI_ADDR_STR:
		if (strlen(address) + 1 > PVM_WIRE_ADDR_MAX)
			return -EINVAL;
		return net_peer_insert_raw(ep, address, strlen(address) + 1, out);
	case FI_SOCKADDR_IN:
	case FI_SOCKADDR_IN6:
	case FI_SOCKADDR:
		break;
	default: {
		fi_addr_t addr = FI_ADDR_NOTAVAIL;

		if (net_split_host_port(address, host, sizeof(host), port, sizeof(port)))
			return -EINVAL;
		pthread_mutex_lock(&ep->lock);
		ret = fi_av_insertsvc(ep->av, host, port, &addr, 0, NULL);
		pthread_mutex_unlock(&ep->lock);
		if (ret != 1)
			return ret < 0 ? net_fi_errno(ret) : -EHOSTUNREACH;
		*out = addr;
		return 0;
	}
	}
	/* Accept what fi_av_straddr prints as well. */
	if (!strncmp(address, "fi_sockaddr_in://", 17))
		address += 17;
	else if (!strncmp(address, "fi_sockaddr_in6://", 18))
		address += 18;
	if (net_split_host_port(address, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;
	hints.ai_family = ep->info->addr_format == FI_SOCKADDR_IN ? AF_INET :
			  ep->info->addr_format == FI_SOCKADDR_IN6 ? AF_INET6 :
			  AF_UNSPEC;
	hints.ai_flags = AI_NUMERICSERV;
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret || !res)
		return ret == EAI_SERVICE || ret == EAI_NONAME ? -EHOSTUNREACH :
		       -EHOSTUNREACH;
	ret = net_peer_insert_raw(ep, res->ai_addr, res->ai_addrlen, out);
	freeaddrinfo(res);
	return ret;
}

static int peer_remove_locked(struct net_endpoint *ep, net_peer_t peer)
{
	struct net_peer_entry *e = peer_find_handle(ep, peer);
	fi_addr_t addr = peer;
	int ret;

	ret = fi_av_remove(ep->av, &addr, 1, 0);
	if (e) {
		*e = ep->peers[ep->npeers - 1];
		ep->npeers--;
	}
	return net_fi_errno(ret);
}

int net_peer_remove(struct net_endpoint *ep, net_peer_t peer)
{
	int ret;

	pthread_mutex_lock(&ep->lock);
	ret = peer_remove_locked(ep, peer);
	pthread_mutex_unlock(&ep->lock);
	return ret;
}

int net_peer_reconnect(struct net_endpoint *ep, net_peer_t *peer)
{
	struct net_peer_entry *e, saved;
	int ret;

	pthread_mutex_lock(&ep->lock);
	e = peer_find_handle(ep, *peer);
	if (!e) {
		pthread_mutex_unlock(&ep->lock);
		return -ENOENT;
	}
	saved = *e;
	peer_remove_locked(ep, *peer);
	/* Let the provider report what the removal flushed. */
	net_cq_drain_locked(ep);
	ret = peer_insert_locked(ep, saved.name, saved.len, peer);
	pthread_mutex_unlock(&ep->lock);
	return ret;
}
