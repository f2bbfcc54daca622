/* vmm/cli.h — subcommands of the poolvm binary. Each returns the exit code. */
#ifndef POOLVM_VMM_CLI_H
#define POOLVM_VMM_CLI_H

#include <stddef.h>

struct cli_command {
	const char *name;
	const char *summary;
	int (*fn)(int argc, char **argv);
};

const struct cli_command *cli_commands(size_t *count);
int cli_run(int argc, char **argv);
int cli_help(int argc, char **argv);
int cli_version(int argc, char **argv);
int cli_define(int argc, char **argv);          /* cli_define.c */
int cli_libvirt_install(int argc, char **argv); /* cli_libvirt_hook.c */
int cli_libvirt_hook(int argc, char **argv);

#endif
