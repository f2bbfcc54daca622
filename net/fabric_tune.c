/* net/fabric_tune.c — how much memory the providers set aside per endpoint.
 *
 * ofi_rxm sizes its bounce-buffer pools from its own variables, read once
 * when libfabric loads its providers (the process's first fi_getinfo): the
 * fi_info queue sizes an application asks for do not reach them. With
 * 1.17's defaults over tcp (16 KiB buffers; 4096 receive buffers, shared
 * by the endpoint's connections) one client endpoint keeps ~87 MiB
 * resident, a pod's ~72 MiB. poolvm sends nothing larger than ~1 KiB
 * through them: control messages only, pages travel by RMA straight
 * between the peers' buffers. So before libfabric loads, poolvm gives
 * these variables its own values, each group only where the environment
 * names none of its variables: an operator's setting always wins, and
 * POOLVM_NET_PROVIDER_DEFAULTS=0 keeps libfabric's defaults.
 *
 * Peers must agree on one thing: rxm refuses a connection whose eager
 * limit differs from its own ("eager_limit mismatch"), and the limit
 * follows the buffer size unless set. poolvm therefore keeps the eager
 * limit at libfabric's default (16384) when it shrinks the buffers, so
 * its endpoints still connect to peers left at the defaults (an older
 * pod, another libfabric program). rxm over verbs wants the two equal,
 * so the buffers are shrunk only where verbs cannot be chosen: the tcp
 * provider named, or "auto" on a host without RDMA devices.
 * Figures: docs/remote-tier.md "Memory per connection".
 */
#include "fabric_internal.h"

#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* A provider variable and the value poolvm gives it. */
struct net_tune_var {
	const char *name;
	const char *value;
};

/*
 * Bounce buffers of 2 KiB: the largest control message (STATS with 64
 * counters) is under 1 KiB, so each still fits one buffer. The eager limit
 * stays at libfabric's default (see above); a message over 2 KiB would be
 * received into the posted buffer directly or through rxm's segmentation,
 * not refused.
 */
static const struct net_tune_var net_tune_buffer[] = {
	{ "FI_OFI_RXM_BUFFER_SIZE", "2048" },
	{ "FI_OFI_RXM_EAGER_LIMIT", "16384" },
};

/*
 * Receive buffers rxm posts to the tcp or verbs endpoint beneath it (one
 * shared pool per endpoint over tcp in 1.17, 4096 by default). 128 is
 * rxm's own default without sharing: far more than the 8 (client) or 32
 * (pod) control receives poolvm keeps posted. When all are taken, the
 * peer's bytes wait in its socket (tcp's flow control): nothing is lost.
 * A local setting: peers need not agree on it.
 */
static const struct net_tune_var net_tune_msg_rx[] = {
	{ "FI_OFI_RXM_MSG_RX_SIZE", "128" },
};

static pthread_mutex_t net_tune_lock = PTHREAD_MUTEX_INITIALIZER;
static bool net_tune_done;

static bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

/* Set every variable of @group, or none when the environment names any
 * of them (an empty value counts as unset, as libfabric reads it). */
static void apply_group(const struct net_tune_var *group, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (env_set(group[i].name))
			return;
	for (size_t i = 0; i < n; i++)
		setenv(group[i].name, group[i].value, 1);
}

/* An RDMA device (real or soft-RoCE) that verbs could use. */
static bool rdma_devices_present(void)
{
	DIR *d = opendir("/sys/class/infiniband");
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d)))
		found = e->d_name[0] != '.';
	closedir(d);
	return found;
}

static bool verbs_possible(const char *provider)
{
	if (provider && (!strcmp(provider, "tcp") || !strcmp(provider, "shm")))
		return false;
	if (provider && !strcmp(provider, "verbs"))
		return true;
	return rdma_devices_present();
}

static void apply_defaults(const char *provider)
{
	const char *off = getenv("POOLVM_NET_PROVIDER_DEFAULTS");

	if (off && !strcmp(off, "0"))
		return;
	if (!verbs_possible(provider))
		apply_group(net_tune_buffer, PVM_ARRAY_SIZE(net_tune_buffer));
	apply_group(net_tune_msg_rx, PVM_ARRAY_SIZE(net_tune_msg_rx));
}

void net_provider_defaults(const char *provider)
{
	/* Once per process: the first call's provider decides. */
	pthread_mutex_lock(&net_tune_lock);
	if (!net_tune_done)
		apply_defaults(provider);
	net_tune_done = true;
	pthread_mutex_unlock(&net_tune_lock);
}

void net_tune_hints(struct fi_info *hints, unsigned rx_count)
{
	/* At most the RMA window and every control send slot at once
	 * (abandoned ops can push past it: the provider then answers
	 * -FI_EAGAIN, and posting waits). */
	hints->tx_attr->size = NET_RMA_WINDOW_MAX + NET_TX_SLOTS;
	/* The control receives kept posted, twice over: the provider never
	 * sees more than @rx_count. */
	hints->rx_attr->size = PVM_MAX((size_t)rx_count * 2, (size_t)NET_RX_MIN_DEPTH);
}
