/* tests/unit/common/test_conf.c — --config FILE: INI to long options, and
 * errors that name the file, the line and the key. */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common.h"
#include "conf.h"

static const struct option opts[] = {
	{ "mem", required_argument, NULL, 'm' },
	{ "tier", required_argument, NULL, 't' },
	{ "balloon", no_argument, NULL, 'b' },
	{ "fault-threads", required_argument, NULL, 'f' },
	{ "color", optional_argument, NULL, 'c' },
	{ "config", required_argument, NULL, 'C' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static char path[64];

static void write_conf(const char *text)
{
	int fd;

	strcpy(path, "/tmp/pvm-test-conf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Load with argv = prog --config PATH EXTRA...; returns pvm_conf_load's. */
static int load(struct pvm_conf *c, const char *extra)
{
	char *argv[6] = { (char *)"prog", (char *)"--config", path, NULL, NULL, NULL };
	int argc = 3;

	if (extra)
		argv[argc++] = (char *)extra;
	return pvm_conf_load(argc, argv, "vm", opts, c);
}

static void options_in_file_order_then_command_line(void **state)
{
	struct pvm_conf c;

	(void)state;
	write_conf("# a VM\n[vm]\nmem = 2G\ntier = dram:64M\n\ntier = disk:/x ; inline\n"
		   "balloon = yes\nfault_threads = 2\ncolor = auto\n");
	assert_int_equal(load(&c, "--mem=4G"), 0);
	/* prog, --mem 2G, --tier dram:64M, --tier disk:/x, --balloon,
	 * --fault-threads 2, --color=auto, then the command line's own. */
	assert_int_equal(c.argc, 1 + 2 + 2 + 2 + 1 + 2 + 1 + 3);
	assert_string_equal(c.argv[1], "--mem");
	assert_string_equal(c.argv[2], "2G");
	assert_int_equal(c.line[1], 3);
	assert_string_equal(c.argv[5], "--tier");
	assert_string_equal(c.argv[6], "disk:/x");
	assert_int_equal(c.line[6], 6);
	assert_string_equal(c.argv[7], "--balloon");
	assert_string_equal(c.argv[8], "--fault-threads");
	assert_string_equal(c.argv[10], "--color=auto");
	assert_string_equal(c.argv[11], "--config");
	assert_string_equal(c.argv[13], "--mem=4G");
	assert_int_equal(c.line[13], 0);
	assert_null(c.argv[c.argc]);
	/* The context names the file, the line and the key of a value. */
	pvm_conf_context(&c, 3);        /* getopt is past "--mem 2G" */
	assert_non_null(strstr(c.context, ":3: key 'mem'"));
	pvm_conf_context(&c, 14);       /* past the command line's --mem=4G */
	pvm_conf_free(&c);
	unlink(path);
}

static void no_config_leaves_argv_alone(void **state)
{
	char *argv[] = { (char *)"prog", (char *)"--mem", (char *)"1G", NULL };
	struct pvm_conf c;

	(void)state;
	assert_int_equal(pvm_conf_load(3, argv, "vm", opts, &c), 0);
	assert_ptr_equal(c.argv, argv);
	assert_int_equal(c.argc, 3);
	pvm_conf_free(&c);
}

static void a_no_is_left_out(void **state)
{
	struct pvm_conf c;

	(void)state;
	write_conf("[vm]\nballoon = off\n");
	assert_int_equal(load(&c, NULL), 0);
	assert_int_equal(c.argc, 3);    /* prog --config PATH */
	pvm_conf_free(&c);
	unlink(path);
}

static void bad_files_are_refused(void **state)
{
	static const char *bad[] = {
		"mem = 2G\n",                   /* outside a section */
		"[vm]\nmem 2G\n",               /* syntax */
		"[vm]\nnope = 1\n",             /* unknown key */
		"[vm]\nconfig = other.conf\n",  /* no nesting */
		"[pod]\nmemory = 1G\n",         /* another command's section */
		"[vm]\nballoon = perhaps\n",    /* not yes/no */
		"[vm]\nmem =\n",                /* no value */
		"[vm\nmem = 1G\n",              /* broken header */
	};
	struct pvm_conf c;

	(void)state;
	for (size_t i = 0; i < PVM_ARRAY_SIZE(bad); i++) {
		write_conf(bad[i]);
		if (load(&c, NULL) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		unlink(path);
	}
	strcpy(path, "/nonexistent/poolvm.conf");
	assert_int_equal(load(&c, NULL), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(options_in_file_order_then_command_line),
		cmocka_unit_test(no_config_leaves_argv_alone),
		cmocka_unit_test(a_no_is_left_out),
		cmocka_unit_test(bad_files_are_refused),
	};

	pvm_set_progname("test_conf");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
