/* pods/gpu/spill/spill_plan.h — learning the launch schedule (internal).
 *
 * Concepts: a launch is a signature (a hash of the kernel identity and the
 * sorted chunks it touches) plus its chunk list. The plan keeps the last
 * 2 x max_period launches. While unlocked, after each launch it looks for
 * the smallest period P such that the last max(P, 8) launches each equal
 * the one P before; then it locks: the last P launches become the schedule,
 * and a cursor follows the schedule as launches arrive. A launch that is not
 * the one the schedule predicts unlocks the plan, and the search resumes.
 *
 * While locked the plan answers "in how many launches is chunk c used
 * next" (for Belady eviction) and "which chunks does launch cursor+k use"
 * (for prefetch). Not thread-safe: the manager's lock covers it.
 */
#ifndef POOLVM_GPU_SPILL_PLAN_H
#define POOLVM_GPU_SPILL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spill_plan;

#define SPILL_PLAN_NEVER UINT64_MAX

int spill_plan_create(uint64_t nchunks, unsigned max_period, struct spill_plan **out);
void spill_plan_destroy(struct spill_plan *p);

/** spill_plan_signature() - the signature of a launch (chunks sorted). */
uint64_t spill_plan_signature(uint64_t kernel, const uint32_t *chunks, size_t n);

/**
 * spill_plan_record() - record a launch (@chunks sorted, copied).
 * Return: 1 when it matched the prediction, 0 when nothing was predicted,
 * -1 when it did not match (the plan unlocked), -ENOMEM.
 */
int spill_plan_record(struct spill_plan *p, uint64_t sig, const uint32_t *chunks, size_t n);

/** spill_plan_period() - the locked period, 0 when unlocked. */
uint64_t spill_plan_period(const struct spill_plan *p);

/**
 * spill_plan_next_use() - launches from the current one until chunk @c is
 * used again (1 = the next launch), or SPILL_PLAN_NEVER when the schedule
 * does not use it or the plan is unlocked.
 */
uint64_t spill_plan_next_use(const struct spill_plan *p, uint64_t c);

/**
 * spill_plan_upcoming() - the chunks of the launch @k after the current
 * one (k >= 1) in the schedule; returns their number, 0 when unlocked.
 */
size_t spill_plan_upcoming(const struct spill_plan *p, unsigned k, const uint32_t **chunks);

struct spill_plan_stats {
	uint64_t periods_found;
	uint64_t predicted;
	uint64_t mispredicted;
};
void spill_plan_get_stats(const struct spill_plan *p, struct spill_plan_stats *out);

#endif
