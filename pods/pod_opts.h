/* pods/pod_opts.h — option checks both pod command lines share (the memory
 * pod's pods/pod_cli.c and the GPU pod's pods/gpu/gpu_cli.c, which the lean
 * pvm-gpu-pod builds without pod_lib). Each says what is wrong through
 * pvm_err() and returns -EINVAL, or returns 0. */
#ifndef POOLVM_POD_OPTS_H
#define POOLVM_POD_OPTS_H

/* --pod-id: 1 to 64 characters. */
int pod_opt_pod_id(const char *arg);

/* A libfabric provider name given to option @opt: auto, verbs, tcp, shm. */
int pod_opt_fabric(const char *opt, const char *arg);

#endif
