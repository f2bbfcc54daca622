/* pods/pod_main.c — pvm-pod: the pod command as its own program (tests,
 * hosts that run only pods). `poolvm pod` is the same code. */
#include "common.h"
#include "pod_cli.h"

int main(int argc, char **argv)
{
	pvm_set_progname("poolvm");
	return pod_cli_main(argc, argv);
}
