/* tests/unit/common/test_size.c — pvm_parse_size() reads sizes the way
 * operators write them and refuses everything else. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"

static void expect_size(const char *text, uint64_t want)
{
	uint64_t got = 0;

	assert_int_equal(pvm_parse_size(text, &got), 0);
	assert_int_equal(got, want);
}

static void expect_error(const char *text, int err)
{
	uint64_t got = 12345;

	assert_int_equal(pvm_parse_size(text, &got), err);
	assert_int_equal(got, 12345);   /* untouched on failure */
}

static void plain_numbers_are_bytes(void **state)
{
	(void)state;
	expect_size("4096", 4096);
	expect_size("0", 0);
	expect_size("1", 1);
	expect_size("18446744073709551615", UINT64_MAX);
}

static void binary_units_multiply(void **state)
{
	(void)state;
	expect_size("4K", 4096);
	expect_size("4k", 4096);
	expect_size("512M", 512ULL << 20);
	expect_size("2G", 2ULL << 30);
	expect_size("1T", 1ULL << 40);
	expect_size("0G", 0);
}

static void unit_suffixes_b_and_ib_are_accepted(void **state)
{
	(void)state;
	expect_size("2GiB", 2ULL << 30);
	expect_size("512MB", 512ULL << 20);
	expect_size("8KiB", 8192);
	expect_size("3Ti", 3ULL << 40);
}

static void non_sizes_are_rejected_with_einval(void **state)
{
	(void)state;
	expect_error("", -EINVAL);
	expect_error("abc", -EINVAL);
	expect_error("12X", -EINVAL);
	expect_error("-1", -EINVAL);
	expect_error("K", -EINVAL);
	expect_error("4 K", -EINVAL);
	expect_error("4KX", -EINVAL);
	expect_error("4GiBs", -EINVAL);
	expect_error("1.5G", -EINVAL);
	expect_error(NULL, -EINVAL);
}

static void overflow_is_rejected_with_erange(void **state)
{
	(void)state;
	expect_error("18446744073709551616", -ERANGE);    /* 2^64 */
	expect_error("99999999999999999999999", -ERANGE);
	expect_error("16777216T", -ERANGE);               /* 2^24 TiB = 2^64 */
	expect_error("17179869184G", -ERANGE);            /* 2^34 GiB = 2^64 */
	expect_size("16777215T", 16777215ULL << 40);      /* just fits */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_numbers_are_bytes),
		cmocka_unit_test(binary_units_multiply),
		cmocka_unit_test(unit_suffixes_b_and_ib_are_accepted),
		cmocka_unit_test(non_sizes_are_rejected_with_einval),
		cmocka_unit_test(overflow_is_rejected_with_erange),
	};

	return cmocka_run_group_tests_name("common_size", tests, NULL, NULL);
}
