/* swap/prefetchers/none.c — predicts nothing: every page is fetched on its
 * own fault. The baseline for measuring the other prefetchers. */
#include <errno.h>
#include <stdlib.h>

#include "prefetch.h"

static int none_create(const struct swap_prefetch_env *env, struct swap_prefetcher **out)
{
	struct swap_prefetcher *pf = calloc(1, sizeof(*pf));

	if (!pf)
		return -ENOMEM;
	pf->ops = &swap_prefetch_none_ops;
	if (env)
		pf->env = *env;
	*out = pf;
	return 0;
}

static void none_destroy(struct swap_prefetcher *pf)
{
	free(pf);
}

static size_t none_predict(struct swap_prefetcher *pf, uint64_t page, unsigned flags,
			   uint64_t *out, size_t max)
{
	(void)pf;
	(void)page;
	(void)flags;
	(void)out;
	(void)max;
	return 0;
}

const struct swap_prefetch_ops swap_prefetch_none_ops = {
	.size = sizeof(struct swap_prefetch_ops),
	.name = "none",
	.help = "no prefetching: fetch only the faulting page",
	.create = none_create,
	.destroy = none_destroy,
	.predict = none_predict,
	.feedback = NULL,
};
