/* swap/policies/learned_guard.h — what the guarded learned policy
 * ("learned", learned_guard.c) tells about itself.
 */
#ifndef POOLVM_SWAP_LEARNED_GUARD_H
#define POOLVM_SWAP_LEARNED_GUARD_H

#include <stdbool.h>
#include <stdint.h>

struct swap_policy;

struct guard_stats {
	bool follows_model;             /* else LRU */
	uint64_t switches;              /* changes of the expert followed */
	uint64_t model_evictions;       /* evictions while following the model */
	double model_misses;            /* weighted (recent accesses count more), */
	double lru_misses;              /* in units of the latest access */
};

/**
 * swap_policy_learned_guard_stats() - the state of a "learned" policy.
 * Return: 0, or -EINVAL if @p is not one.
 */
int swap_policy_learned_guard_stats(struct swap_policy *p, struct guard_stats *out);

/**
 * swap_policy_learned_guard_model() - the learned model ("learned-core")
 * inside a "learned" policy, as it runs there; NULL if @p is not one.
 */
struct swap_policy *swap_policy_learned_guard_model(struct swap_policy *p);

#endif
