/* swap/tiers/remote_discovery.c — pod discovery sources (discovery.h):
 * "static" (addresses in the spec) and "file" (a config file).
 */
#include "discovery.h"

#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATIC_MAX_PODS 64

int remote_addr_check(const char *text, char *why, size_t whylen)
{
	const char *colon, *host = text;
	size_t host_len;
	char *end;
	unsigned long port;

	if (!text || !*text) {
		snprintf(why, whylen, "empty address");
		return -EINVAL;
	}
	if (strlen(text) >= REMOTE_ADDR_MAX) {
		snprintf(why, whylen, "address longer than %d characters",
			 REMOTE_ADDR_MAX - 1);
		return -EINVAL;
	}
	if (strstr(text, "://")) {
		/* A provider's own name (shm: "fi_shm://PID:0:0"): opaque. */
		for (const char *c = text; *c; c++) {
			if (*c <= ' ' || *c > '~' || *c == '+' || *c == ',') {
				snprintf(why, whylen, "'%s' is not a fabric name", text);
				return -EINVAL;
			}
		}
		return 0;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':') {
			snprintf(why, whylen, "'%s': write an IPv6 address as "
				 "[ADDR]:PORT", text);
			return -EINVAL;
		}
		host = text + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			snprintf(why, whylen, "'%s' has no port; write HOST:PORT",
				 text);
			return -EINVAL;
		}
		host_len = (size_t)(colon - text);
		if (memchr(text, ':', host_len)) {
			snprintf(why, whylen, "'%s': write an IPv6 address as "
				 "[ADDR]:PORT", text);
			return -EINVAL;
		}
	}
	if (host_len == 0) {
		snprintf(why, whylen, "'%s' has no host; write HOST:PORT", text);
		return -EINVAL;
	}
	for (size_t i = 0; i < host_len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (!isalnum(c) && c != '.' && c != '-' && c != '_' &&
		    !(text[0] == '[' && (c == ':' || c == '%'))) {
			snprintf(why, whylen, "'%s': character '%c' cannot be "
				 "part of a host name", text, isprint(c) ? c : '?');
			return -EINVAL;
		}
	}
	if (!isdigit((unsigned char)colon[1])) {
		snprintf(why, whylen, "'%s': the port must be a number 1..65535",
			 text);
		return -EINVAL;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535) {
		snprintf(why, whylen, "'%s': the port must be a number 1..65535",
			 text);
		return -EINVAL;
	}
	return 0;
}

/* Append @text (length @len) to @addrs unless present. -EINVAL/-E2BIG. */
static int add_addr(struct remote_pod_addr *addrs, size_t max, size_t *n,
		    const char *text, size_t len, const char *where)
{
	char buf[REMOTE_ADDR_MAX], why[192];

	if (len >= sizeof(buf)) {
		pvm_err("remote tier: %s: pod address '%.*s...' is too long", where,
			40, text);
		return -EINVAL;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (remote_addr_check(buf, why, sizeof(why))) {
		pvm_err("remote tier: %s: bad pod address: %s", where, why);
		return -EINVAL;
	}
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(addrs[i].text, buf) == 0) {
			pvm_err("remote tier: %s: pod %s is listed twice", where, buf);
			return -EINVAL;
		}
	}
	if (*n == max) {
		pvm_err("remote tier: %s: more than %zu pods", where, max);
		return -E2BIG;
	}
	memcpy(addrs[(*n)++].text, buf, len + 1);
	return 0;
}

/* ---- static: "HOST:PORT+HOST:PORT" ---- */

struct static_discovery {
	struct remote_discovery base;
	size_t n;
	struct remote_pod_addr addrs[STATIC_MAX_PODS];
};

static int static_open(const char *arg, struct remote_discovery **out)
{
	struct static_discovery *s = calloc(1, sizeof(*s));
	const char *p = arg;
	int rc;

	if (!s)
		return -ENOMEM;
	if (!arg || !*arg) {
		pvm_err("remote tier: pods= is empty; write pods=HOST:PORT+HOST:PORT");
		free(s);
		return -EINVAL;
	}
	for (;;) {
		const char *plus = strchr(p, '+');
		size_t len = plus ? (size_t)(plus - p) : strlen(p);

		if (len == 0) {
			pvm_err("remote tier: pods=%s has an empty entry; separate "
				"pods with a single '+'", arg);
			free(s);
			return -EINVAL;
		}
		rc = add_addr(s->addrs, STATIC_MAX_PODS, &s->n, p, len, "pods=");
		if (rc) {
			free(s);
			return rc;
		}
		if (!plus)
			break;
		p = plus + 1;
	}
	*out = &s->base;
	return 0;
}

static void static_close(struct remote_discovery *d)
{
	free(d);
}

static int static_list(struct remote_discovery *d, struct remote_pod_addr *addrs,
		       size_t max, size_t *n)
{
	struct static_discovery *s = (struct static_discovery *)d;

	*n = PVM_MIN(max, s->n);
	memcpy(addrs, s->addrs, *n * sizeof(*addrs));
	return 0;
}

static const struct remote_discovery_ops static_discovery_ops = {
	.size = sizeof(struct remote_discovery_ops),
	.name = "static",
	.open = static_open,
	.close = static_close,
	.list = static_list,
};

/* ---- file: one address per line ---- */

struct file_discovery {
	struct remote_discovery base;
	char path[4096];
	int reported;           /* a read error was printed already */
};

static int file_read(struct file_discovery *f, struct remote_pod_addr *addrs,
		     size_t max, size_t *n, int loud)
{
	char line[512], where[4200];
	unsigned lineno = 0;
	FILE *fp = fopen(f->path, "re");
	int rc = 0;

	*n = 0;
	if (!fp) {
		rc = -errno;
		if (loud)
			pvm_err("remote tier: cannot read pod list %s: %s", f->path,
				strerror(errno));
		return rc;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *s = line, *e;

		lineno++;
		if (!strchr(line, '\n') && !feof(fp)) {
			if (loud)
				pvm_err("remote tier: %s:%u: line too long", f->path,
					lineno);
			rc = -EINVAL;
			break;
		}
		e = strchr(s, '#');
		if (e)
			*e = '\0';
		while (isspace((unsigned char)*s))
			s++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (!*s)
			continue;
		snprintf(where, sizeof(where), "%s:%u", f->path, lineno);
		if (loud) {
			rc = add_addr(addrs, max, n, s, strlen(s), where);
		} else {
			/* Quiet re-read: the same checks, no messages. */
			char why[192];

			rc = strlen(s) < REMOTE_ADDR_MAX &&
			     !remote_addr_check(s, why, sizeof(why)) && *n < max
				? 0 : -EINVAL;
			if (!rc) {
				for (size_t i = 0; i < *n; i++)
					if (!strcmp(addrs[i].text, s))
						rc = -EINVAL;
				if (!rc)
					snprintf(addrs[(*n)++].text, REMOTE_ADDR_MAX,
						 "%s", s);
			}
		}
		if (rc)
			break;
	}
	fclose(fp);
	if (!rc && *n == 0) {
		if (loud)
			pvm_err("remote tier: pod list %s names no pod; write one "
				"HOST:PORT per line", f->path);
		rc = -EINVAL;
	}
	return rc;
}

static int file_open(const char *arg, struct remote_discovery **out)
{
	struct remote_pod_addr addrs[STATIC_MAX_PODS];
	struct file_discovery *f;
	size_t n;
	int rc;

	if (!arg || !*arg) {
		pvm_err("remote tier: pods=@ needs a file name: pods=@/etc/poolvm/pods");
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (strlen(arg) >= sizeof(f->path)) {
		pvm_err("remote tier: pod list path too long");
		free(f);
		return -EINVAL;
	}
	strcpy(f->path, arg);
	rc = file_read(f, addrs, STATIC_MAX_PODS, &n, 1);
	if (rc) {
		free(f);
		return rc;
	}
	*out = &f->base;
	return 0;
}

static void file_close(struct remote_discovery *d)
{
	free(d);
}

static int file_list(struct remote_discovery *d, struct remote_pod_addr *addrs,
		     size_t max, size_t *n)
{
	struct file_discovery *f = (struct file_discovery *)d;
	int rc = file_read(f, addrs, max, n, 0);

	if (rc && !f->reported) {
		pvm_err("remote tier: pod list %s became unreadable or invalid; "
			"keeping the pods already known", f->path);
		f->reported = 1;
	} else if (!rc) {
		f->reported = 0;
	}
	return rc;
}

static const struct remote_discovery_ops file_discovery_ops = {
	.size = sizeof(struct remote_discovery_ops),
	.name = "file",
	.open = file_open,
	.close = file_close,
	.list = file_list,
};

/* ---- registry ---- */

static const struct remote_discovery_ops *const kinds[] = {
	&static_discovery_ops,
	&file_discovery_ops,
	&remote_discovery_etcd_ops,
	NULL,
};

int remote_discovery_open(const char *kind, const char *arg,
			  struct remote_discovery **out)
{
	for (size_t i = 0; kinds[i]; i++) {
		const struct remote_discovery_ops *ops = kinds[i];
		int rc;

		if (strcmp(ops->name, kind))
			continue;
		rc = ops->open(arg, out);
		if (!rc)
			(*out)->ops = ops;
		return rc;
	}
	pvm_err("remote tier: unknown pod discovery '%s'", kind);
	return -EINVAL;
}

int remote_discovery_reserve(struct remote_discovery *d,
			     const struct remote_discovery_need *need)
{
	return d->ops->reserve ? d->ops->reserve(d, need) : 0;
}

uint64_t remote_discovery_quota(struct remote_discovery *d, const char *addr)
{
	return d->ops->quota ? d->ops->quota(d, addr) : UINT64_MAX;
}

bool remote_discovery_authoritative(struct remote_discovery *d)
{
	return d->ops->authoritative;
}

void remote_discovery_close(struct remote_discovery *d)
{
	if (d)
		d->ops->close(d);
}

int remote_discovery_list(struct remote_discovery *d,
			  struct remote_pod_addr *addrs, size_t max, size_t *n)
{
	return d->ops->list(d, addrs, max, n);
}
