/* vmm/control.h — a running VM's control surfaces: its control socket
 * (RUN/vm/NAME.sock: live statistics as JSON for `poolvm stats` and
 * `poolvm top`) and, with --metrics, Prometheus text on GET /metrics.
 *
 * Concepts: started by vmm_launch_run() before QEMU, so a taken name or a
 * port in use stops the launch before anything runs; the pager is attached
 * once QEMU handed over its RAM (before that, requests report the VM as
 * starting). Stopped before the pager is destroyed. Requests are served by
 * the control threads (common/ctl_server.c), never by the pager's.
 */
#ifndef POOLVM_VMM_CONTROL_H
#define POOLVM_VMM_CONTROL_H

#include <stdint.h>

struct swap_pager;
struct vmm_control;

/**
 * vmm_control_start() - serve RUN/vm/@name.sock, and HTTP on @metrics
 * ("[ADDR:]PORT") unless NULL. Return: 0 and *@out, or -errno (reported).
 */
int vmm_control_start(const char *name, const char *metrics, uint64_t mem_bytes,
		      uint64_t local_bytes, struct vmm_control **out);

/**
 * vmm_control_attach() - from now on, answer with @pager's statistics and
 * @qemu_pid. Launch thread; @pager must outlive vmm_control_stop().
 */
void vmm_control_attach(struct vmm_control *ctl, struct swap_pager *pager, int qemu_pid);

/** vmm_control_stop() - stop serving and remove the socket; NULL is a no-op. */
void vmm_control_stop(struct vmm_control *ctl);

#endif
