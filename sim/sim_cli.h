/* sim/sim_cli.h — "poolvm sim" (and pvm-sim): replay traces, compare
 * eviction policies against Belady's OPT, print a table or JSON, plot.
 *
 * Concepts: every (trace, cache size, policy) triple is one run. Policies
 * come from the swap policy registry by name ("learned" too, once it is
 * registered); "opt" is the offline bound, replayed by the simulator itself.
 * Options and formats: sim_cli_main(argc, argv) with "--help", or
 * docs/sim.md.
 */
#ifndef POOLVM_SIM_CLI_H
#define POOLVM_SIM_CLI_H

#include <stdio.h>

/**
 * sim_cli_main() - run the sim command; argv[0] is the command's name.
 * Results go to stdout, messages to stderr (through pvm_err()).
 * Return: the exit status: 0, 1 when a run failed (unreadable trace, no
 * policy available, plot not written), 2 for a usage error.
 */
int sim_cli_main(int argc, char **argv);

/** sim_cli_run() - sim_cli_main() writing its results to @out (tests). */
int sim_cli_run(int argc, char **argv, FILE *out);

#endif
