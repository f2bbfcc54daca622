/* swap/tiers/remote_spec.c — parsing "remote:..." strictly.
 *
 *   pods=HOST:PORT+HOST:PORT | pods=@FILE   (required)
 *   secret=FILE                              (required)
 *   replicas=N        1..4, default 2
 *   fabric=NAME       tcp, verbs, shm, auto; default auto
 *   lease=SIZE        chunk leased from a pod at a time, default 64M
 *   timeout=MS        deadline of one network operation, default 2000
 *   heartbeat=MS      heartbeat period, default 500
 *   dead=MS           heartbeat silence after which a pod is dead, default 3000
 *   id=NAME           client id shown to pods, default poolvm-HOST-PID
 *   reserve=SIZE      with pods=etcd://: reserve this much per copy in the
 *                     pod registry before using pods (docs/registry.md)
 *   backup=SPEC       a tier spec (e.g. disk:PATH,max=8G); must come last:
 *                     everything after "backup=" belongs to it
 */
#include "remote_internal.h"

#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPEC_USAGE "write remote:pods=HOST:PORT+HOST:PORT,secret=FILE[,replicas=N]" \
	"[,fabric=tcp][,lease=64M][,timeout=MS][,heartbeat=MS][,dead=MS][,id=NAME]" \
	"[,backup=disk:PATH]"

static int parse_ms(const char *key, const char *val, unsigned lo, unsigned hi,
		    unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || errno || *end || v < lo || v > hi) {
		pvm_err("remote tier: %s=%s: expected milliseconds, %u..%u", key,
			val, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int parse_count(const char *key, const char *val, unsigned lo, unsigned hi,
		       unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (!isdigit((unsigned char)val[0]) || errno || *end || v < lo || v > hi) {
		pvm_err("remote tier: %s=%s: expected a number of copies, %u..%u",
			key, val, lo, hi);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

static int copy_value(const char *key, const char *val, char *dst, size_t cap)
{
	if (strlen(val) >= cap) {
		pvm_err("remote tier: %s= is longer than %zu characters", key, cap - 1);
		return -EINVAL;
	}
	strcpy(dst, val);
	return 0;
}

static int parse_id(const char *val, char *dst)
{
	size_t len = strlen(val);

	if (len == 0 || len > REMOTE_ID_MAX) {
		pvm_err("remote tier: id=%s: expected 1..%d characters", val,
			REMOTE_ID_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (val[i] < 0x21 || val[i] > 0x7e) {
			pvm_err("remote tier: id=%s: only printable characters "
				"without spaces", val);
			return -EINVAL;
		}
	}
	strcpy(dst, val);
	return 0;
}

static void default_id(char *dst)
{
	char host[64] = "host";

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	for (char *c = host; *c; c++)
		if (*c < 0x21 || *c > 0x7e)
			*c = '_';
	snprintf(dst, REMOTE_ID_MAX + 1, "poolvm-%.40s-%ld", host, (long)getpid());
}

/* One "key=value" (not backup). */
static int parse_option(struct remote_spec *o, const char *key, const char *val,
			unsigned *seen)
{
	static const char *const keys[] = {
		"pods", "replicas", "secret", "fabric", "lease", "timeout",
		"heartbeat", "dead", "id", "reserve",
	};
	unsigned k;

	for (k = 0; k < PVM_ARRAY_SIZE(keys); k++)
		if (!strcmp(key, keys[k]))
			break;
	if (k == PVM_ARRAY_SIZE(keys)) {
		pvm_err("remote tier: unknown option '%s'; options are pods, "
			"secret, replicas, fabric, lease, timeout, heartbeat, dead, "
			"id, reserve, backup (%s)", key, SPEC_USAGE);
		return -EINVAL;
	}
	if (*seen & (1u << k)) {
		pvm_err("remote tier: %s= given twice", key);
		return -EINVAL;
	}
	*seen |= 1u << k;
	if (!*val) {
		pvm_err("remote tier: %s= has no value (%s)", key, SPEC_USAGE);
		return -EINVAL;
	}
	switch (k) {
	case 0:
		if (!strncmp(val, "etcd://", 7)) {
			strcpy(o->discovery, "etcd");
			return copy_value(key, val, o->pods, sizeof(o->pods));
		}
		if (val[0] == '@') {
			strcpy(o->discovery, "file");
			return copy_value(key, val + 1, o->pods, sizeof(o->pods));
		}
		strcpy(o->discovery, "static");
		return copy_value(key, val, o->pods, sizeof(o->pods));
	case 1:
		return parse_count(key, val, 1, REMOTE_MAX_REPLICAS, &o->replicas);
	case 2:
		return copy_value(key, val, o->secret, sizeof(o->secret));
	case 3:
		if (strcmp(val, "tcp") && strcmp(val, "verbs") && strcmp(val, "shm") &&
		    strcmp(val, "auto")) {
			pvm_err("remote tier: fabric=%s: expected tcp, verbs, shm or "
				"auto", val);
			return -EINVAL;
		}
		return copy_value(key, val, o->fabric, sizeof(o->fabric));
	case 4:
		if (pvm_parse_size(val, &o->lease_bytes) ||
		    o->lease_bytes % (64 * PVM_PAGE_SIZE) ||
		    o->lease_bytes < (1ull << 20) || o->lease_bytes > (4ull << 30)) {
			pvm_err("remote tier: lease=%s: expected a size from 1M to 4G "
				"in multiples of 256K, e.g. lease=64M", val);
			return -EINVAL;
		}
		return 0;
	case 5:
		return parse_ms(key, val, 10, 600000, &o->timeout_ms);
	case 6:
		return parse_ms(key, val, 10, 60000, &o->heartbeat_ms);
	case 7:
		return parse_ms(key, val, 20, 600000, &o->dead_ms);
	case 9:
		if (pvm_parse_size(val, &o->reserve_bytes) || !o->reserve_bytes) {
			pvm_err("remote tier: reserve=%s: expected a size, e.g. reserve=2G",
				val);
			return -EINVAL;
		}
		return 0;
	default:
		return parse_id(val, o->client_id);
	}
}

int remote_spec_parse(const char *arg, struct remote_spec *o)
{
	char buf[1024];
	const char *backup;
	char *opt, *save = NULL;
	unsigned seen = 0;
	int rc;

	memset(o, 0, sizeof(*o));
	o->replicas = 2;
	o->lease_bytes = 64ull << 20;
	o->timeout_ms = 2000;
	o->heartbeat_ms = 500;
	o->dead_ms = 3000;
	if (!arg || !*arg) {
		pvm_err("remote tier needs pods and a secret: %s", SPEC_USAGE);
		return -EINVAL;
	}
	/* backup= swallows the rest: a disk spec has commas of its own. */
	backup = strncmp(arg, "backup=", 7) == 0 ? arg : strstr(arg, ",backup=");
	if (backup) {
		size_t head = (size_t)(backup - arg);
		const char *spec = backup + (*backup == ',' ? 8 : 7);

		if (!*spec) {
			pvm_err("remote tier: backup= has no value; write "
				"backup=disk:PATH (it must be the last option)");
			return -EINVAL;
		}
		if (strncmp(spec, "remote", 6) == 0 &&
		    (spec[6] == ':' || spec[6] == '\0')) {
			pvm_err("remote tier: backup=%s: the backup cannot be another "
				"remote tier; use disk:PATH", spec);
			return -EINVAL;
		}
		rc = copy_value("backup", spec, o->backup, sizeof(o->backup));
		if (rc)
			return rc;
		if (head >= sizeof(buf)) {
			pvm_err("remote tier: spec longer than %zu characters",
				sizeof(buf) - 1);
			return -EINVAL;
		}
		memcpy(buf, arg, head);
		buf[head] = '\0';
	} else {
		rc = copy_value("remote", arg, buf, sizeof(buf));
		if (rc)
			return rc;
	}
	if (buf[0] == ',' || (*buf && buf[strlen(buf) - 1] == ',') ||
	    strstr(buf, ",,")) {
		pvm_err("remote tier: empty option in '%s' (%s)", arg, SPEC_USAGE);
		return -EINVAL;
	}
	for (opt = strtok_r(buf, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(opt, '=');

		if (!eq) {
			pvm_err("remote tier: '%s' is not key=value (%s)", opt,
				SPEC_USAGE);
			return -EINVAL;
		}
		*eq = '\0';
		rc = parse_option(o, opt, eq + 1, &seen);
		if (rc)
			return rc;
	}
	if (!o->pods[0]) {
		pvm_err("remote tier: no pods given; %s", SPEC_USAGE);
		return -EINVAL;
	}
	if (!o->secret[0]) {
		pvm_err("remote tier: no secret= given: pods refuse clients without "
			"the shared secret; %s", SPEC_USAGE);
		return -EINVAL;
	}
	if (o->dead_ms < 2 * o->heartbeat_ms) {
		pvm_err("remote tier: dead=%u must be at least twice heartbeat=%u",
			o->dead_ms, o->heartbeat_ms);
		return -EINVAL;
	}
	if (o->reserve_bytes && strcmp(o->discovery, "etcd")) {
		pvm_err("remote tier: reserve= needs pods=etcd://HOST:PORT (the pod "
			"registry); static pod lists reserve nothing");
		return -EINVAL;
	}
	if (!o->client_id[0])
		default_id(o->client_id);
	return 0;
}
