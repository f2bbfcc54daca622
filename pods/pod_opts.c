/* pods/pod_opts.c — option checks both pod command lines share. */
#include "pod_opts.h"

#include <errno.h>
#include <string.h>

#include "common.h"

int pod_opt_pod_id(const char *arg)
{
	if (!arg[0] || strlen(arg) > 64) {
		pvm_err("pod: --pod-id must have 1 to 64 characters");
		return -EINVAL;
	}
	return 0;
}

int pod_opt_fabric(const char *opt, const char *arg)
{
	if (strcmp(arg, "auto") && strcmp(arg, "verbs") &&
	    strcmp(arg, "tcp") && strcmp(arg, "shm")) {
		pvm_err("pod: %s '%s': use auto, verbs, tcp or shm", opt, arg);
		return -EINVAL;
	}
	return 0;
}
