/* vmm/libvirt_conf.h — a libvirt domain's poolvm settings: read from the
 * <poolvm:pool> element of its XML metadata, kept as one JSON file per
 * domain between libvirt's qemu hook and the poolvm-qemu wrapper.
 *
 * Concepts: libvirt hands the hook the domain XML at "prepare" (before
 * QEMU exists). The hook validates the element and writes
 * RUNDIR/NAME.json (RUNDIR is POOLVM_LIBVIRT_RUNDIR, /run/poolvm/libvirt).
 * It also makes RUNDIR/NAME/, owned by the user QEMU runs as, for the
 * attach socket and the statistics. libvirt then execs the domain's <emulator>, poolvm-qemu, which finds the
 * domain's name in QEMU's "-name guest=NAME" argument, reads that file,
 * starts the pager for it and execs the real QEMU. No file means an
 * ordinary domain (or libvirt probing QEMU's capabilities): plain QEMU.
 *
 * The element, in namespace POOLVM_LIBVIRT_NS (all attributes optional):
 *   local='SIZE'      guest RAM kept resident (default: all of it)
 *   tiers='LIST'      comma-separated, in order: dram, disk, remote
 *   dram='SIZE'       size of the dram tier (needed when tiers has dram)
 *   disk='PATH'       the disk tier's file (default
 *                     /var/lib/poolvm/libvirt/NAME.pages)
 *   pods='H:P,H:P'    memory pods, for remote
 *   secret='FILE'     the pods' shared secret, for remote
 *   replicas='N'      1..4 copies of each remote page (default 2)
 *   fabric='NAME'     auto, verbs, tcp or shm
 *   policy='NAME'     eviction policy; prefetch='NAME' prefetcher
 *   stats='FILE'      statistics JSON at exit (default RUNDIR/NAME/stats.json)
 *   qemu='FILE'       the real QEMU (default /usr/bin/qemu-system-x86_64)
 */
#ifndef POOLVM_VMM_LIBVIRT_CONF_H
#define POOLVM_VMM_LIBVIRT_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "launch.h"

#define POOLVM_LIBVIRT_NS "https://poolvm.dev/xmlns/libvirt/1"
#ifndef POOLVM_LIBVIRT_RUNDIR
#define POOLVM_LIBVIRT_RUNDIR "/run/poolvm/libvirt"
#endif
#define POOLVM_LIBVIRT_TIERDIR "/var/lib/poolvm/libvirt"
#define POOLVM_LIBVIRT_QEMU "/usr/bin/qemu-system-x86_64"
#define POOLVM_LIBVIRT_NAME_MAX 64

struct vmm_libvirt_conf {
	char name[POOLVM_LIBVIRT_NAME_MAX + 1];
	uint64_t mem_bytes;             /* the domain's <memory> */
	uint64_t local_bytes;           /* 0 = all resident */
	unsigned smp;
	char *tiers[VMM_MAX_TIERS];     /* full tier specs, as poolvm run takes them */
	unsigned tier_count;
	char *policy, *prefetch, *stats_json, *qemu;
	/* Directories the tiers' files live in; in the JSON file, those the
	 * hook created, which it gives to QEMU's user at "start". */
	char *tier_dirs[VMM_MAX_TIERS];
	unsigned tier_dir_count;
};

/**
 * vmm_libvirt_conf_from_xml() - validate a domain XML's poolvm element.
 * @xml, @len: the domain XML as libvirt formats it.
 * @err: a message naming the attribute or element at fault, on -EINVAL.
 * Return: 0 and @out filled; -ENOENT when the domain has no poolvm element
 * (an ordinary domain); -EINVAL when the XML or the element is wrong.
 */
int vmm_libvirt_conf_from_xml(const char *xml, size_t len, struct vmm_libvirt_conf *out,
			      char *err, size_t errlen);

/**
 * vmm_libvirt_dac_owner() - the uid:gid QEMU will run as, from libvirt's
 * DAC <seclabel> (present from the "start" hook on, not at "prepare").
 * Return: 0, or -ENOENT when the XML has none (QEMU runs as root).
 */
int vmm_libvirt_dac_owner(const char *xml, size_t len, long *uid, long *gid);

/** vmm_libvirt_conf_write() - store @c as JSON at @path (0644, atomically). */
int vmm_libvirt_conf_write(const struct vmm_libvirt_conf *c, const char *path);

/**
 * vmm_libvirt_conf_read() - load what vmm_libvirt_conf_write() stored.
 * Return: 0; -ENOENT when @path does not exist; -EINVAL (with @err) when
 * it is not such a file.
 */
int vmm_libvirt_conf_read(const char *path, struct vmm_libvirt_conf *c,
			  char *err, size_t errlen);

/** vmm_libvirt_conf_free() - free what @c holds (not @c itself). */
void vmm_libvirt_conf_free(struct vmm_libvirt_conf *c);

/** vmm_libvirt_name_ok() - whether @name can name a pooled domain's files. */
int vmm_libvirt_name_ok(const char *name);

/** vmm_libvirt_path() - RUNDIR/NAME SUFFIX into @buf (SUFFIX ".json",
 * "/attach.sock", "/stats.json", ""). 0 or -ENAMETOOLONG. */
int vmm_libvirt_path(char *buf, size_t len, const char *name, const char *suffix);

#endif
