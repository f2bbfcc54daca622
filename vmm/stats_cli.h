/* vmm/stats_cli.h — `poolvm stats` and `poolvm top`: the VMs and pods of
 * this host, from their control sockets (vmm/host_view.h). */
#ifndef POOLVM_VMM_STATS_CLI_H
#define POOLVM_VMM_STATS_CLI_H

/** stats_cli_main() - `poolvm stats [--json] [NAME...]`; exit status. */
int stats_cli_main(int argc, char **argv);

/** top_cli_main() - `poolvm top [-b] [-n N] [-d S] [NAME...]`; exit status. */
int top_cli_main(int argc, char **argv);

#endif
