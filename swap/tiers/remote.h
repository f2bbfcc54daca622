/* swap/tiers/remote.h — what the remote tier reports beyond the counters
 * every tier has (struct swap_tier_stats): replica health, rebuilds, the
 * backup, and each pod's state and round-trip time.
 *
 * Concepts: the remote tier keeps each evicted page on N memory pods
 * (docs/remote-tier.md). A replica is healthy while its pod is UP and its
 * lease is live; a slot with fewer healthy replicas than N is degraded and
 * the tier rebuilds it in the background.
 */
#ifndef POOLVM_SWAP_TIERS_REMOTE_H
#define POOLVM_SWAP_TIERS_REMOTE_H

#include <stddef.h>
#include <stdint.h>

struct swap_tier;

#define SWAP_REMOTE_STATS_PODS 32

struct swap_tier_remote_pod_stats {
	char addr[128];
	char pod_id[65];
	const char *state;              /* "connecting", "up", "draining", "dead" */
	uint64_t rtt_ns;                /* smoothed heartbeat round trip */
	uint64_t leased_bytes;          /* leases we hold there now */
	uint64_t pages;                 /* replicas kept there now */
	uint64_t pages_read, pages_written;
	uint64_t deaths, reconnects, rma_errors, heartbeat_failures;
	uint64_t rma_read_ops, rma_write_ops;   /* RMA operations (a run of pages is one) */
};

struct swap_tier_remote_stats {
	unsigned replicas;              /* N, from the spec */
	uint64_t slots;                 /* slots holding a stored page */
	uint64_t replicas_healthy;      /* replicas on UP pods, live leases */
	uint64_t slots_degraded;        /* slots with 1..N-1 healthy replicas */
	uint64_t slots_unreplicated;    /* slots with no readable replica */
	uint64_t rebuilds;              /* replicas rebuilt on another pod */
	uint64_t rebuild_failures;
	uint64_t drained_pages;         /* replicas moved off draining pods */
	uint64_t read_failovers;        /* pages read from a second choice */
	uint64_t replica_retries;       /* replica writes redone on another pod */
	uint64_t lost_loads;            /* loads with no replica and no backup: -EIO */
	uint64_t leases, lease_failures;
	uint64_t backup_writes, backup_errors, backup_loads, backup_pending;
	unsigned npods;
	struct swap_tier_remote_pod_stats pods[SWAP_REMOTE_STATS_PODS];
};

extern const struct swap_tier_ops swap_tier_remote_ops;

/**
 * swap_tier_remote_stats() - a snapshot of @tier's remote counters. Scans
 * the slot table (milliseconds for millions of slots): not for hot paths.
 * Return: 0, or -EINVAL when @tier is not a remote tier. Any thread.
 */
int swap_tier_remote_stats(struct swap_tier *tier, struct swap_tier_remote_stats *out);

/**
 * swap_tier_remote_summary() - those stats as one line of text for logs
 * and tests ("remote tier: slots=... healthy=... degraded=... rebuilds=...
 * pod0=ADDR:up:rtt=31us ..."). Return: @buf.
 */
char *swap_tier_remote_summary(struct swap_tier *tier, char *buf, size_t len);

#endif
