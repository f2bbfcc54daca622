/* pods/pod_cli.h — `poolvm pod`: run a memory pod from the command line.
 *
 * Concepts: parses the options into a struct pod_config, creates the pod,
 * prints one "serving" line on stdout when clients can connect, and serves
 * until SIGTERM/SIGINT (drain: clients move their pages away, then exit 0;
 * a second signal exits at once). The same entry point backs the `poolvm
 * pod` subcommand and the standalone `pvm-pod` program.
 */
#ifndef POOLVM_PODS_POD_CLI_H
#define POOLVM_PODS_POD_CLI_H

/**
 * pod_cli_main() - the pod command.
 * @argc, @argv: argv[0] is the command name ("pod"), options follow.
 *
 * Return: the process exit status: 0 after a drain or --help, 1 when the
 * pod could not start or its endpoint failed, 2 for a usage error.
 * Installs SIGTERM, SIGINT and SIGPIPE handlers; main thread only.
 */
int pod_cli_main(int argc, char **argv);

#endif
