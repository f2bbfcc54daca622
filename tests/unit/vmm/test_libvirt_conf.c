/* tests/unit/vmm/test_libvirt_conf.c — the <poolvm:pool> element of a
 * libvirt domain: what the qemu hook accepts, what it refuses and says,
 * and the per-domain file it hands to poolvm-qemu. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "libvirt_conf.h"

#define NS "xmlns:poolvm='" POOLVM_LIBVIRT_NS "'"

/* A domain as libvirt formats it, with POOL inside <metadata> (or none),
 * BACKING inside <memoryBacking> and EMU as <emulator>. */
static char *domain(const char *pool, const char *backing, const char *emu)
{
	char *s = NULL;

	assert_true(asprintf(&s,
		"<domain type='qemu' id='1'>\n"
		"  <name>vm1</name>\n"
		"  <metadata>%s</metadata>\n"
		"  <memory unit='KiB'>524288</memory>\n"
		"  <vcpu placement='static'>2</vcpu>\n"
		"  <memoryBacking>%s</memoryBacking>\n"
		"  <devices><emulator>%s</emulator></devices>\n"
		"  <seclabel type='dynamic' model='dac' relabel='yes'>"
		"<label>+64055:+107</label></seclabel>\n"
		"</domain>\n", pool, backing, emu) > 0);
	return s;
}

#define MEMFD "<source type='memfd'/><access mode='shared'/>"
#define EMU "/usr/local/bin/poolvm-qemu"

static int parse(const char *pool, const char *backing, const char *emu,
		 struct vmm_libvirt_conf *c, char *err, size_t errlen)
{
	char *xml = domain(pool, backing, emu);
	int ret;

	err[0] = '\0';
	ret = vmm_libvirt_conf_from_xml(xml, strlen(xml), c, err, errlen);
	free(xml);
	return ret;
}

static void expect_refused(const char *pool, const char *backing, const char *emu,
			   const char *words)
{
	struct vmm_libvirt_conf c;
	char err[1024];

	assert_int_equal(parse(pool, backing, emu, &c, err, sizeof(err)), -EINVAL);
	if (!strstr(err, words))
		fail_msg("message '%s' does not contain '%s'", err, words);
}

static void pooled_domain_gets_disk_tier_and_defaults(void **state)
{
	struct vmm_libvirt_conf c;
	char err[512];

	(void)state;
	assert_int_equal(parse("<poolvm:pool " NS " local='128M' policy='clock'/>", MEMFD, EMU,
			       &c, err, sizeof(err)), 0);
	assert_string_equal(c.name, "vm1");
	assert_int_equal(c.mem_bytes, 512ULL << 20);
	assert_int_equal(c.local_bytes, 128ULL << 20);
	assert_int_equal(c.smp, 2);
	assert_int_equal(c.tier_count, 1);
	assert_string_equal(c.tiers[0], "disk:" POOLVM_LIBVIRT_TIERDIR "/vm1.pages");
	assert_string_equal(c.policy, "clock");
	assert_string_equal(c.stats_json, POOLVM_LIBVIRT_RUNDIR "/vm1/stats.json");
	assert_string_equal(c.qemu, POOLVM_LIBVIRT_QEMU);
	vmm_libvirt_conf_free(&c);
}

static void ordinary_domain_is_not_ours(void **state)
{
	struct vmm_libvirt_conf c;
	char err[512];

	(void)state;
	assert_int_equal(parse("<other:x xmlns:other='urn:x'/>", "", "/usr/bin/qemu-system-x86_64",
			       &c, err, sizeof(err)), -ENOENT);
	assert_int_equal(parse("", "", EMU, &c, err, sizeof(err)), -ENOENT);
}

static void remote_first_with_disk_backup(void **state)
{
	struct vmm_libvirt_conf c;
	char err[512];

	(void)state;
	assert_int_equal(parse("<poolvm:pool " NS " local='2G' tiers='remote,disk' replicas='3' "
			       "pods='10.0.0.1:7000,10.0.0.2:7000' secret='/etc/poolvm/secret' "
			       "disk='/srv/pages/vm1.pages'/>", MEMFD, EMU, &c, err, sizeof(err)), 0);
	/* local >= memory: everything stays resident */
	assert_int_equal(c.local_bytes, 0);
	assert_int_equal(c.tier_count, 2);
	assert_string_equal(c.tiers[0], "remote:pods=10.0.0.1:7000+10.0.0.2:7000,replicas=3,"
			    "secret=/etc/poolvm/secret,fabric=auto,"
			    "backup=disk:/srv/pages/vm1.pages.remote-backup");
	assert_string_equal(c.tiers[1], "disk:/srv/pages/vm1.pages");
	assert_int_equal(c.tier_dir_count, 1);
	assert_string_equal(c.tier_dirs[0], "/srv/pages");
	vmm_libvirt_conf_free(&c);
}

static void bad_attributes_are_named(void **state)
{
	(void)state;
	expect_refused("<poolvm:pool " NS " local='lots'/>", MEMFD, EMU, "local='lots': not a size");
	expect_refused("<poolvm:pool " NS " locl='1G'/>", MEMFD, EMU, "unknown attribute 'locl'");
	expect_refused("<poolvm:pool " NS " tiers='disk,tape'/>", MEMFD, EMU, "'tape' is not dram");
	expect_refused("<poolvm:pool " NS " tiers='dram'/>", MEMFD, EMU, "no dram='SIZE'");
	expect_refused("<poolvm:pool " NS " tiers='remote' secret='/s'/>", MEMFD, EMU, "no pods=");
	expect_refused("<poolvm:pool " NS " tiers='remote' pods='a:1'/>", MEMFD, EMU, "no secret=");
	expect_refused("<poolvm:pool " NS " tiers='remote' pods='a:1' secret='/s' replicas='9'/>",
		       MEMFD, EMU, "replicas='9'");
	expect_refused("<poolvm:pool " NS " policy='nope'/>", MEMFD, EMU, "policy='nope'");
	expect_refused("<poolvm:pool " NS " disk='relative/path'/>", MEMFD, EMU, "disk='relative/path'");
	expect_refused("<poolvm:pool " NS " local='128M' tiers=''/>", MEMFD, EMU, "nowhere to put");
	expect_refused("<poolvm:pool " NS "><poolvm:x/></poolvm:pool>", MEMFD, EMU,
		       "unexpected child element <x>");
	expect_refused("<poolvm:pools " NS "/>", MEMFD, EMU, "expected exactly one <pool>");
}

static void domain_must_fit_poolvm(void **state)
{
	(void)state;
	expect_refused("<poolvm:pool " NS "/>", "", EMU, "<source type='memfd'/>");
	expect_refused("<poolvm:pool " NS "/>", "<source type='memfd'/>", EMU, "<access mode='shared'/>");
	expect_refused("<poolvm:pool " NS "/>", MEMFD, "/usr/bin/qemu-system-x86_64",
		       "not poolvm's QEMU wrapper");
}

static void broken_xml_is_refused(void **state)
{
	struct vmm_libvirt_conf c;
	char err[512];

	(void)state;
	assert_int_equal(vmm_libvirt_conf_from_xml("<domain><name>", 14, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "does not parse"));
}

static void file_round_trip(void **state)
{
	struct vmm_libvirt_conf c, r;
	char err[512], path[] = "/tmp/test_libvirt_conf.XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(parse("<poolvm:pool " NS " local='64M' tiers='dram,disk' dram='32M' "
			       "prefetch='none' stats='/var/tmp/s.json' qemu='/opt/qemu'/>",
			       MEMFD, EMU, &c, err, sizeof(err)), 0);
	assert_int_equal(vmm_libvirt_conf_write(&c, path), 0);
	assert_int_equal(vmm_libvirt_conf_read(path, &r, err, sizeof(err)), 0);
	assert_string_equal(r.name, "vm1");
	assert_int_equal(r.mem_bytes, c.mem_bytes);
	assert_int_equal(r.local_bytes, 64ULL << 20);
	assert_int_equal(r.tier_count, 2);
	assert_string_equal(r.tiers[0], "dram:33554432");
	assert_string_equal(r.tiers[1], c.tiers[1]);
	assert_string_equal(r.prefetch, "none");
	assert_null(r.policy);
	assert_string_equal(r.stats_json, "/var/tmp/s.json");
	assert_string_equal(r.qemu, "/opt/qemu");
	assert_int_equal(r.tier_dir_count, 1);
	vmm_libvirt_conf_free(&r);
	vmm_libvirt_conf_free(&c);
	/* garbage is refused with the file's name */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(write(fd, "{\"name\": 3}", 11) == 11);
	close(fd);
	assert_int_equal(vmm_libvirt_conf_read(path, &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	unlink(path);
	assert_int_equal(vmm_libvirt_conf_read(path, &r, err, sizeof(err)), -ENOENT);
}

static void dac_label_gives_the_owner(void **state)
{
	char *xml = domain("", "", EMU);
	long uid = -1, gid = -1;

	(void)state;
	assert_int_equal(vmm_libvirt_dac_owner(xml, strlen(xml), &uid, &gid), 0);
	assert_int_equal(uid, 64055);
	assert_int_equal(gid, 107);
	free(xml);
	xml = "<domain><name>x</name></domain>";
	assert_int_equal(vmm_libvirt_dac_owner(xml, strlen(xml), &uid, &gid), -ENOENT);
}

static void names_that_name_files(void **state)
{
	(void)state;
	assert_true(vmm_libvirt_name_ok("vm-1.a_b"));
	assert_false(vmm_libvirt_name_ok(""));
	assert_false(vmm_libvirt_name_ok("../etc"));
	assert_false(vmm_libvirt_name_ok("a/b"));
	assert_false(vmm_libvirt_name_ok("-x"));
	assert_false(vmm_libvirt_name_ok("a b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pooled_domain_gets_disk_tier_and_defaults),
		cmocka_unit_test(ordinary_domain_is_not_ours),
		cmocka_unit_test(remote_first_with_disk_backup),
		cmocka_unit_test(bad_attributes_are_named),
		cmocka_unit_test(domain_must_fit_poolvm),
		cmocka_unit_test(broken_xml_is_refused),
		cmocka_unit_test(file_round_trip),
		cmocka_unit_test(dac_label_gives_the_owner),
		cmocka_unit_test(names_that_name_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
