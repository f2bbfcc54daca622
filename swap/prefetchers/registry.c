/* swap/prefetchers/registry.c — the prefetchers poolvm knows, by name.
 *
 * One explicit array: adding a prefetcher means adding its ops table here.
 */
#include <errno.h>
#include <string.h>

#include "prefetch.h"

static const struct swap_prefetch_ops *const swap_prefetch_registry[] = {
	&swap_prefetch_none_ops,
	&swap_prefetch_stride_ops,
	&swap_prefetch_learned_ops,
	NULL,
};

const struct swap_prefetch_ops *const *swap_prefetch_kinds(void)
{
	return swap_prefetch_registry;
}

int swap_prefetch_create(const char *name, const struct swap_prefetch_env *env,
			 struct swap_prefetcher **out)
{
	const struct swap_prefetch_ops *const *ops;

	if (!name)
		return -ENOENT;
	for (ops = swap_prefetch_registry; *ops; ops++) {
		if (strcmp((*ops)->name, name) == 0)
			return (*ops)->create(env, out);
	}
	return -ENOENT;
}

void swap_prefetch_destroy(struct swap_prefetcher *pf)
{
	if (pf)
		pf->ops->destroy(pf);
}
