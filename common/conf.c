/* common/conf.c — --config FILE: INI files (inih) turned into long options,
 * with errors that name the file, the line and the key. See conf.h. */
#include "conf.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

struct loader {
	const char *path;
	const char *section;
	const struct option *opts;
	FILE *f;
	int lineno;             /* of the line inih is handling */
	char **argv;            /* the file's options, argv[0] first */
	int *line;
	int argc, cap;
	int err_line;
	char err[400];
};

static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	char *r = fgets(str, num, ld->f);

	if (r)
		ld->lineno++;
	return r;
}

static int push(struct loader *ld, const char *s, int line)
{
	if (ld->argc + 2 > ld->cap) {
		int cap = ld->cap ? ld->cap * 2 : 32;
		char **a = realloc(ld->argv, (size_t)cap * sizeof(*a));
		int *l;

		if (!a)
			return -ENOMEM;
		ld->argv = a;
		l = realloc(ld->line, (size_t)cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		ld->line = l;
		ld->cap = cap;
	}
	ld->argv[ld->argc] = strdup(s);
	if (!ld->argv[ld->argc])
		return -ENOMEM;
	ld->line[ld->argc++] = line;
	ld->argv[ld->argc] = NULL;
	return 0;
}

static int fail(struct loader *ld, const char *fmt, ...) PVM_PRINTF(2, 3);
static int fail(struct loader *ld, const char *fmt, ...)
{
	va_list ap;

	if (ld->err_line)
		return 0;       /* the first error is the one reported */
	va_start(ap, fmt);
	vsnprintf(ld->err, sizeof(ld->err), fmt, ap);
	va_end(ap);
	ld->err_line = ld->lineno;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < PVM_ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	char key[64], opt[80];
	const struct option *o;
	size_t n = strlen(name);

	if (ld->err_line)
		return 0;
	if (!*section)
		return fail(ld, "key '%s' is outside a section (put it under [%s])", name, ld->section);
	if (strcmp(section, ld->section))
		return fail(ld, "unknown section [%s] (this command reads [%s])", section, ld->section);
	if (n == 0 || n >= sizeof(key))
		return fail(ld, "key '%s' is not an option", name);
	for (size_t i = 0; i <= n; i++)
		key[i] = name[i] == '_' ? '-' : name[i];
	for (o = ld->opts; o->name; o++)
		if (!strcmp(o->name, key))
			break;
	if (!o->name || !strcmp(key, "config") || !strcmp(key, "help"))
		return fail(ld, "unknown key '%s' in [%s] (keys are the command's long options; see --help)",
			    name, section);
	snprintf(opt, sizeof(opt), "--%s", key);
	if (o->has_arg == no_argument) {
		bool on;

		if (parse_bool(value, &on) < 0)
			return fail(ld, "key '%s': '%s' is not yes or no", name, value);
		if (on && push(ld, opt, ld->lineno) < 0)
			return fail(ld, "out of memory");
		return 1;
	}
	if (!*value)
		return fail(ld, "key '%s' has no value", name);
	if (o->has_arg == optional_argument) {
		char *both;
		int rc;

		if (asprintf(&both, "%s=%s", opt, value) < 0)
			return fail(ld, "out of memory");
		rc = push(ld, both, ld->lineno);
		free(both);
		return rc == 0 ? 1 : fail(ld, "out of memory");
	}
	if (push(ld, opt, ld->lineno) < 0 || push(ld, value, ld->lineno) < 0)
		return fail(ld, "out of memory");
	return 1;
}

static const char *config_arg(int argc, char **argv, int *bad)
{
	const char *path = NULL;

	*bad = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				*bad = 1;
				return NULL;
			}
			path = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			path = argv[i] + 9;
		}
	}
	return path;
}

int pvm_conf_load(int argc, char **argv, const char *section,
		  const struct option *opts, struct pvm_conf *out)
{
	struct loader ld = { .section = section, .opts = opts };
	const char *path;
	int bad, rc;

	memset(out, 0, sizeof(*out));
	out->argv = argv;
	out->argc = argc;
	path = config_arg(argc, argv, &bad);
	if (bad) {
		pvm_err("--config needs a FILE");
		return -EINVAL;
	}
	if (!path)
		return 0;
	ld.path = path;
	ld.f = fopen(path, "re");
	if (!ld.f) {
		rc = -errno;
		pvm_err("--config %s: %s", path, strerror(errno));
		return rc;
	}
	if (push(&ld, argv[0], 0) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	rc = ini_parse_stream(read_line, &ld, on_key, &ld);
	if (ld.err_line && !(rc > 0 && rc < ld.err_line)) {
		pvm_err("%s:%d: %s", path, ld.err_line, ld.err);
		rc = -EINVAL;
		goto out;
	}
	if (rc != 0) {
		if (rc > 0)
			pvm_err("%s:%d: syntax error (expected [section], key = value, or a ';'/'#' comment)",
				path, rc);
		else
			pvm_err("%s: cannot read it", path);
		rc = -EINVAL;
		goto out;
	}
	for (int i = 1; i < argc; i++)
		if (push(&ld, argv[i], 0) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	out->path = strdup(path);
	if (!out->path) {
		rc = -ENOMEM;
		goto out;
	}
	out->argv = ld.argv;
	out->argc = ld.argc;
	out->line = ld.line;
	fclose(ld.f);
	return 0;
out:
	fclose(ld.f);
	for (int i = 0; i < ld.argc; i++)
		free(ld.argv[i]);
	free(ld.argv);
	free(ld.line);
	out->argv = argv;
	out->argc = argc;
	if (rc == -ENOMEM)
		pvm_err("%s: out of memory", path);
	return rc;
}

void pvm_conf_context(struct pvm_conf *c, int optind_now)
{
	int i = optind_now - 1;

	if (!c->line || i < 1 || i >= c->argc || !c->line[i]) {
		pvm_set_err_context(NULL);
		return;
	}
	/* The option's own word: the value's line is the key's, so step back
	 * over a value to name the key. */
	if (strncmp(c->argv[i], "--", 2) && i > 1 && c->line[i - 1] == c->line[i])
		i--;
	{
		const char *key = c->argv[i] + 2;
		size_t klen = strcspn(key, "=");

		snprintf(c->context, sizeof(c->context), "%s:%d: key '%.*s'",
			 c->path, c->line[i], (int)klen, key);
	}
	pvm_set_err_context(c->context);
}

void pvm_conf_free(struct pvm_conf *c)
{
	pvm_set_err_context(NULL);
	if (c->line) {
		for (int i = 0; i < c->argc; i++)
			free(c->argv[i]);
		free(c->argv);
		free(c->line);
	}
	free(c->path);
	memset(c, 0, sizeof(*c));
}
