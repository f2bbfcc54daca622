/* vmm/launch.h — start a stock QEMU with the preloaded library, take over
 * its guest RAM, and supervise it.
 *
 * Concepts: a launch builds QEMU's command line from a struct
 * vmm_launch_config, opens a private attach socket, forks and execs QEMU
 * with LD_PRELOAD, waits for the library's REGION message, creates and
 * starts the pager, and then supervises: QEMU exiting ends the launch;
 * SIGTERM/SIGINT ask QEMU to quit (a second one kills it); a pager
 * fail-stop kills QEMU and says why.
 */
#ifndef POOLVM_VMM_LAUNCH_H
#define POOLVM_VMM_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_MAX_TIERS 8
#define VMM_MAX_DISKS 8
#define VMM_MAX_PODS 32

enum vmm_accel { VMM_ACCEL_AUTO, VMM_ACCEL_KVM, VMM_ACCEL_TCG };

struct vmm_launch_config {
	uint64_t mem_bytes;
	uint64_t local_bytes;           /* 0 = all of --mem */
	const char *tiers[VMM_MAX_TIERS];
	unsigned tier_count;
	const char *policy;
	const char *policy_model;       /* --policy-model FILE (learned) */
	const char *prefetch;
	unsigned fault_threads;
	unsigned spin_us;               /* fault-thread poll window before sleeping */
	bool no_recency;                /* --recency none: no write-protect re-arming */
	const char *pods[VMM_MAX_PODS];  /* --pod HOST:PORT, for --tier remote */
	unsigned pod_count;
	const char *registry;            /* --registry etcd://..., instead of --pod */
	const char *secret_file;
	unsigned replicas;              /* 0 = 2 */
	const char *fabric;             /* auto|verbs|tcp|shm */
	const char *kernel, *initrd, *append;
	const char *disks[VMM_MAX_DISKS];
	unsigned disk_count;
	unsigned smp;
	enum vmm_accel accel;
	const char *cpu;
	const char *name;               /* --name: the VM's name (default vm-PID) */
	const char *qmp;
	const char *stats_json;
	const char *metrics;            /* --metrics [ADDR:]PORT: Prometheus over HTTP */
	const char *trace;              /* --trace FILE: record observed accesses */
	const char *qemu;               /* binary; default qemu-system-x86_64 */
	const char *preload;            /* library path; default: next to poolvm */
	bool balloon;                   /* virtio-balloon with free page reporting */
	bool quiet;
	char **qemu_extra;              /* after "--" */
	int qemu_extra_count;
	/* Serve a QEMU that someone else started (poolvm-qemu under libvirt):
	 * no QEMU is forked; attach_listen_fd is a listening socket already
	 * bound at attach_path, qemu_pidfd a pidfd of the QEMU to serve. The
	 * launch ends when that QEMU does; its exit status is not known. */
	bool serve_only;
	int attach_listen_fd;
	const char *attach_path;        /* unlinked at the end */
	int qemu_pidfd;
	int qemu_pid;
};

/**
 * vmm_launch_run() - run one guest to completion.
 * Return: the process exit code poolvm should end with: QEMU's own code
 * when it exited by itself, 0 after a clean shutdown on SIGTERM, 3 when the
 * pager fail-stopped, 1 on a setup error (already reported).
 */
int vmm_launch_run(const struct vmm_launch_config *cfg);

/**
 * vmm_find_preload() - the path of libpoolvm-preload.so: @explicit, else
 * $POOLVM_PRELOAD, else next to the running executable. Reports an error.
 * Return: 0, or -ENOENT when there is none.
 */
int vmm_find_preload(const char *explicit_path, char out[], size_t len);

/** vmm_accel_resolve() - KVM when /dev/kvm is usable for AUTO. */
enum vmm_accel vmm_accel_resolve(enum vmm_accel want);

#endif
