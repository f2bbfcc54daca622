/* vmm/main.c — the poolvm command: subcommand dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "pod_cli.h"
#include "registry_cli.h"
#include "sim_cli.h"
#include "stats_cli.h"
#include "train.h"

static const struct cli_command commands[] = {
	{ "run", "run a guest on pooled memory", cli_run },
	{ "pod", "contribute this host's memory to the pool (a memory pod)", pod_cli_main },
	{ "registry", "show and edit the pod registry on etcd", registry_cli_main },
	{ "sim", "replay page access traces under eviction policies", sim_cli_main },
	{ "train", "learn the learned eviction policy's model from traces", train_cli_main },
	{ "stats", "print the live statistics of this host's VMs and pods", stats_cli_main },
	{ "top", "a live view of this host's VMs and pods", top_cli_main },
	{ "define", "define a pooled libvirt domain (libvirt's API)", cli_define },
	{ "libvirt-install", "install the qemu hook that lets libvirt run pooled domains", cli_libvirt_install },
	{ "libvirt-hook", "libvirt's qemu hook for pooled domains (run by libvirt)", cli_libvirt_hook },
	{ "help", "show help for a command", cli_help },
	{ "version", "print the version", cli_version },
};

const struct cli_command *cli_commands(size_t *count)
{
	*count = PVM_ARRAY_SIZE(commands);
	return commands;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: poolvm COMMAND [OPTIONS]\n"
		"\n"
		"poolvm runs unmodified QEMU guests whose RAM lives in a pool: local DRAM,\n"
		"memory pods on other hosts, and local disk. A pager owns every page of\n"
		"guest RAM and moves it between those tiers.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < PVM_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'poolvm COMMAND --help' for a command's options.\n");
}

int cli_help(int argc, char **argv)
{
	if (argc > 1) {
		for (size_t i = 0; i < PVM_ARRAY_SIZE(commands); i++) {
			if (strcmp(argv[1], commands[i].name) == 0) {
				char *sub[] = { argv[1], (char *)"--help", NULL };

				return commands[i].fn(2, sub);
			}
		}
		pvm_err("no command '%s'", argv[1]);
		return 2;
	}
	usage(stdout);
	return 0;
}

int cli_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("poolvm %s\n", POOLVM_VERSION);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cli_help(1, argv);
	if (!strcmp(argv[1], "--version"))
		return cli_version(1, argv);
	for (size_t i = 0; i < PVM_ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			char name[64];

			snprintf(name, sizeof(name), "poolvm %s", commands[i].name);
			pvm_set_progname("poolvm");
			return commands[i].fn(argc - 1, argv + 1);
		}
	}
	pvm_err("unknown command '%s'; see 'poolvm --help'", argv[1]);
	return 2;
}
