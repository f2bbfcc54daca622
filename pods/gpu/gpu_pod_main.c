/* pods/gpu/gpu_pod_main.c — pvm-gpu-pod: `poolvm pod --gpu` as a program of
 * its own that needs only glibc, libsodium and inih (no libfabric, no
 * json-c), for GPU hosts that run nothing else of poolvm. */
#include "common.h"
#include "server.h"

int main(int argc, char **argv)
{
	pvm_set_progname("poolvm");
	return gpu_pod_main(argc, argv);
}
