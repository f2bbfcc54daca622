/* sim/pvm_sim.c — pvm-sim: the simulator without the rest of poolvm. */
#include "common.h"
#include "sim_cli.h"

int main(int argc, char **argv)
{
	pvm_set_progname("pvm-sim");
	return sim_cli_main(argc, argv);
}
