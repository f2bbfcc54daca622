/* registry/registry_cli.h — the "poolvm registry" command. */
#ifndef POOLVM_REGISTRY_CLI_H
#define POOLVM_REGISTRY_CLI_H

/** registry_cli_main() - ls, reserve, release; exit status 0, 1 or 2. */
int registry_cli_main(int argc, char **argv);

#endif
