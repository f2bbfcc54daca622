/* tests/unit/gpu_spill/test_spill_cuda_stub.c — the CUDA backend's entry
 * points against NVIDIA's stub libcuda (the toolkit's lib64/stubs), which
 * exports every driver symbol but runs nothing: every name the backend
 * needs must resolve by dlsym(), and opening the backend must fail cleanly
 * (the stub's granularity query returns an error) instead of crashing.
 * Exits 77 when no toolkit stub is installed (CUDA stays optional).
 * Path: $PVM_CUDA_STUB, else /usr/local/cuda/lib64/stubs/libcuda.so.
 */
#include "spill.h"

#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

static void *lib;

static void *lookup(void *ctx, const char *name)
{
	return dlsym(ctx, name);
}

static void *refuse_copies(void *ctx, const char *name)
{
	if (name[0] == 'c' && name[5] == 'c' && name[6] == 'p' && name[7] == 'y')
		return NULL;    /* cuMemcpy* */
	return dlsym(ctx, name);
}

static void every_entry_point_resolves(void **state)
{
	struct spill_cuda_fns fns;
	struct spill_backend *be = NULL;

	assert_int_equal(spill_cuda_fns_load(lookup, lib, 0, &fns), 0);
	assert_non_null(fns.cuMemcpyDtoH_v2);
	assert_non_null(fns.cuCtxSynchronize);
	/* the stub answers every call with an error: a clean -EIO */
	assert_int_equal(spill_cuda_backend_open(&fns, &be), -EIO);
	assert_null(be);
	(void)state;
}

static void a_missing_entry_point_is_named(void **state)
{
	struct spill_cuda_fns fns;

	assert_int_equal(spill_cuda_fns_load(refuse_copies, lib, 0, &fns), -ENOENT);
	(void)state;
}

int main(void)
{
	const char *path = getenv("PVM_CUDA_STUB");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_entry_point_resolves),
		cmocka_unit_test(a_missing_entry_point_is_named),
	};
	int rc;

	if (!path)
		path = "/usr/local/cuda/lib64/stubs/libcuda.so";
	lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("1..0 # SKIP no CUDA stub library at %s (%s)\n", path, dlerror());
		return 0;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dlclose(lib);
	return rc;
}
