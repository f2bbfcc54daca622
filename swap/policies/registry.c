/* swap/policies/registry.c — the eviction policies poolvm knows, by name.
 *
 * One explicit array: adding a policy means adding its ops table here.
 */
#include <errno.h>
#include <string.h>

#include "policy.h"

/* Declared here until policy.h lists them with the others. */
extern const struct swap_policy_ops swap_policy_lru_ops;
extern const struct swap_policy_ops swap_policy_arc_ops;
extern const struct swap_policy_ops swap_policy_lecar_ops;
extern const struct swap_policy_ops swap_policy_learned_ops;
extern const struct swap_policy_ops swap_policy_learned_core_ops;

static const struct swap_policy_ops *const swap_policy_registry[] = {
	&swap_policy_clock_ops,
	&swap_policy_s3fifo_ops,
	&swap_policy_sieve_ops,
	&swap_policy_fifo_ops,
	&swap_policy_lru_ops,
	&swap_policy_arc_ops,
	&swap_policy_lecar_ops,
	&swap_policy_learned_ops,
	&swap_policy_learned_core_ops,
	NULL,
};

const struct swap_policy_ops *const *swap_policy_kinds(void)
{
	return swap_policy_registry;
}

int swap_policy_create(const char *name, const struct swap_policy_env *env,
		       struct swap_policy **out)
{
	const struct swap_policy_ops *const *ops;

	if (!name)
		return -ENOENT;
	for (ops = swap_policy_registry; *ops; ops++) {
		if (strcmp((*ops)->name, name) == 0)
			return (*ops)->create(env, out);
	}
	return -ENOENT;
}

void swap_policy_destroy(struct swap_policy *policy)
{
	if (policy)
		policy->ops->destroy(policy);
}
