/* common/conf.h — configuration files for poolvm's commands.
 *
 * A command that takes long options (getopt_long) also takes them from an
 * INI file named by --config FILE (parsed by inih): one section named for
 * the command ([vm] for poolvm run, [pod] for poolvm pod), each key a long
 * option without its dashes ('_' may stand for '-'), each value what the
 * option takes. A key may repeat where the option does (tier, pod, disk).
 * Options without an argument take yes/no (true/false, on/off, 1/0).
 *
 *     [vm]
 *     mem = 2G
 *     local = 512M          ; inline comments start with ';'
 *     tier = disk:/var/lib/poolvm/vm1.pages
 *     balloon = yes
 *
 * The file's options come first, the command line's after them, so the
 * command line wins where an option takes one value. Errors name the file,
 * the line and the key: a syntax error, an unknown section or key, a key
 * outside the section, a bad yes/no, and (through pvm_conf_context()) any
 * error the command's own option parser reports for a value from the file.
 */
#ifndef POOLVM_COMMON_CONF_H
#define POOLVM_COMMON_CONF_H

#include <getopt.h>

struct pvm_conf {
	char **argv;            /* argv[0], the file's options, the command line's */
	int argc;
	int *line;              /* per argv index: its line in the file, 0: command line */
	char *path;             /* the file, or NULL when none was given */
	char context[512];
};

/**
 * pvm_conf_load() - find --config FILE (or --config=FILE) in @argv; if it
 * is there, read @section from FILE and build the argv to parse: argv[0],
 * the file's options, then @argv's own (argv[1..]) unchanged.
 * @opts: the command's getopt_long table (it must contain "config").
 * Return: 0 (out->argv/argc to parse; without --config they are @argv's
 * own), -EINVAL after printing "FILE:LINE: ..." for a bad file, -ENOENT
 * when the file cannot be read (printed), -ENOMEM.
 */
int pvm_conf_load(int argc, char **argv, const char *section,
		  const struct option *opts, struct pvm_conf *out);

/**
 * pvm_conf_context() - call in the getopt loop once an option was
 * returned (getopt's optind is past it): messages printed by pvm_err()
 * until the next call then begin with "FILE:LINE: key 'K': " when the
 * option came from the file. pvm_conf_context(c, -1) clears it.
 */
void pvm_conf_context(struct pvm_conf *c, int optind_now);

/** pvm_conf_free() - release what pvm_conf_load() built; clears the context. */
void pvm_conf_free(struct pvm_conf *c);

#endif
