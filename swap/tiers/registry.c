/* swap/tiers/registry.c — the tier kinds, and opening a tier from a spec.
 *
 * Concepts: a spec is "kind:arg" or just "kind"; everything after the first
 * ':' goes to the kind's open() untouched (a disk path may hold ':'). The
 * kinds live in one explicit array; adding a tier means adding its ops here.
 * A kind's open() reports its own argument errors; this file reports only
 * what it decides itself (unknown kind, unusable spec).
 */
#include "tier.h"
#include "remote.h"

#include "common.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const struct swap_tier_ops *const tier_kinds[] = {
	&swap_tier_dram_ops,
	&swap_tier_disk_ops,
	&swap_tier_remote_ops,
	&swap_tier_faulty_ops,
	NULL,
};

const struct swap_tier_ops *const *swap_tier_kinds(void)
{
	return tier_kinds;
}

/* "dram, disk, faulty" into @buf, for messages. */
static const char *kind_names(char *buf, size_t len)
{
	size_t used = 0, i;

	buf[0] = '\0';
	for (i = 0; tier_kinds[i] && used < len; i++) {
		int n = snprintf(buf + used, len - used, "%s%s",
				 i ? ", " : "", tier_kinds[i]->name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return buf;
}

static const struct swap_tier_ops *find_kind(const char *name, size_t len)
{
	size_t i;

	for (i = 0; tier_kinds[i]; i++) {
		if (strlen(tier_kinds[i]->name) == len &&
		    memcmp(tier_kinds[i]->name, name, len) == 0)
			return tier_kinds[i];
	}
	return NULL;
}

int swap_tier_open(const char *spec, struct swap_tier **out)
{
	const struct swap_tier_ops *ops;
	struct swap_tier *tier = NULL;
	const char *colon, *arg;
	char names[128];
	size_t kind_len;
	int rc;

	if (!spec || !*spec) {
		pvm_err("empty tier spec; write kind:arg, kinds: %s",
			kind_names(names, sizeof(names)));
		return -EINVAL;
	}
	if (strlen(spec) >= sizeof(tier->spec)) {
		pvm_err("tier spec '%.40s...' is longer than %zu characters; "
			"use a shorter path", spec, sizeof(tier->spec) - 1);
		return -EINVAL;
	}
	colon = strchr(spec, ':');
	kind_len = colon ? (size_t)(colon - spec) : strlen(spec);
	arg = colon ? colon + 1 : "";
	ops = find_kind(spec, kind_len);
	if (!ops) {
		pvm_err("unknown tier kind '%.*s' in '%s'; known kinds: %s",
			(int)kind_len, spec, spec, kind_names(names, sizeof(names)));
		return -EINVAL;
	}
	if (!SWAP_TIER_OPS_HAS(ops, stats)) {
		pvm_err("tier kind '%s' was built against an older tier interface; "
			"rebuild it", ops->name);
		return -EINVAL;
	}
	rc = ops->open(arg, &tier);
	if (rc)
		return rc;
	tier->ops = ops;
	snprintf(tier->spec, sizeof(tier->spec), "%s", spec);
	*out = tier;
	return 0;
}

void swap_tier_close(struct swap_tier *tier)
{
	if (tier)
		tier->ops->close(tier);
}
