/* sim/train.h — `poolvm train` (sim/train.c). */
#ifndef POOLVM_SIM_TRAIN_H
#define POOLVM_SIM_TRAIN_H

/** train_cli_main() - the subcommand; returns the exit status. */
int train_cli_main(int argc, char **argv);

#endif
