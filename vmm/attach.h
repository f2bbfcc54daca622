/* vmm/attach.h — the wire between the library preloaded into QEMU and the
 * pager: one UNIX stream socket per QEMU, fds passed with SCM_RIGHTS.
 *
 * Concepts: when QEMU maps its guest-RAM memfd, the preloaded library
 * registers a userfaultfd over the mapping and sends one REGION message with
 * two fds (uffd, memfd). The pager answers with a REPLY; status 0 means it
 * owns the region from now on. The socket then stays open for QEMU's whole
 * life: when it closes from the pager's side, the library stops QEMU
 * (fail-stop), because nobody would serve its page faults any more.
 */
#ifndef POOLVM_VMM_ATTACH_H
#define POOLVM_VMM_ATTACH_H

#include <stdint.h>

#define PVM_ATTACH_MAGIC   0x54415f4d56504f50ULL  /* "POPVM_AT" */
#define PVM_ATTACH_VERSION 1

#define PVM_ATTACH_ENV_SOCK   "POOLVM_ATTACH_SOCK"   /* path of the pager socket */
#define PVM_ATTACH_ENV_MATCH  "POOLVM_ATTACH_MATCH"  /* memfd name to claim */
#define PVM_ATTACH_DEFAULT_MATCH "memory-backend-memfd"

enum pvm_attach_type {
	PVM_ATTACH_REGION = 1,
	PVM_ATTACH_REPLY = 2,
};

#define PVM_ATTACH_F_WP 1u   /* range registered with write-protect mode */

struct pvm_attach_region {
	uint64_t magic;
	uint32_t version;
	uint32_t type;           /* PVM_ATTACH_REGION */
	uint64_t base;           /* address of the mapping in QEMU */
	uint64_t size;
	uint64_t memfd_offset;
	uint32_t flags;          /* PVM_ATTACH_F_* */
	uint32_t pid;            /* QEMU's pid */
	char memfd_name[64];
};

struct pvm_attach_reply {
	uint64_t magic;
	uint32_t version;
	uint32_t type;           /* PVM_ATTACH_REPLY */
	int32_t status;          /* 0 or -errno */
	uint32_t reserved;
	char message[200];
};

#endif
