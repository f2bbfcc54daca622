/* vmm/stats_cli.c — `poolvm stats` (one sample, a table or JSON) and
 * `poolvm top` (a live view in the terminal with ncurses, or plain text
 * frames in batch mode). */
#include "stats_cli.h"

#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "ctl_server.h"
#include "host_view.h"
#include "metrics.h"

/* ---- poolvm stats ------------------------------------------------------- */

static void stats_usage(FILE *f)
{
	fprintf(f,
"Usage: poolvm stats [--json] [NAME...]\n"
"\n"
"Print the live statistics of the VMs (poolvm run) and memory pods (poolvm\n"
"pod) running on this host, read from their control sockets in the run\n"
"directory ($POOLVM_RUN_DIR, default /run/poolvm: vm/NAME.sock and\n"
"pod/NAME.sock). With NAMEs, only those (each looked up as a VM, then as a\n"
"pod); without, every one that answers.\n"
"\n"
"Options:\n"
"  --json      one JSON object: {\"vms\": [...], \"pods\": [...]}, each entry\n"
"              the process's answer to a stats request (docs/metrics.md)\n"
"  -h, --help  this help\n"
"\n"
"Table columns (VMs): resident, local limit, pages in remote and disk tiers,\n"
"faults, refaults from tiers, evictions, fault service p50/p99 since start.\n"
"Pods: capacity, free and leased memory, clients, leases.\n"
"\n"
"Exit status: 0; 1 when a NAME does not answer; 2 usage error.\n");
}

static void print_tables(FILE *f, const struct host_view *v)
{
	char a[16], b[16], c[16], d[16], e2[16];
	bool vm_head = false, pod_head = false;

	for (size_t i = 0; i < v->n; i++) {
		const struct host_entry *e = &v->e[i];

		if (strcmp(e->kind, "vm"))
			continue;
		if (!vm_head) {
			fprintf(f, "%-20s %7s %-8s %8s %8s %8s %8s %8s %10s %10s %10s %8s %8s\n",
				"VM", "PID", "STATE", "MEM", "LOCAL", "RESIDENT", "REMOTE", "DISK",
				"FAULTS", "REFAULTS", "EVICTIONS", "P50_US", "P99_US");
			vm_head = true;
		}
		fprintf(f, "%-20s %7d %-8s %8s %8s %8s %8s %8s %10llu %10llu %10llu %8.1f %8.1f\n",
			e->name, e->pid, e->state ? e->state : "?",
			host_format_pages(e->mem_pages, a, sizeof(a)),
			host_format_pages(e->local_pages, b, sizeof(b)),
			host_format_pages(e->resident, c, sizeof(c)),
			host_format_pages(e->remote_pages, d, sizeof(d)),
			host_format_pages(e->disk_pages, e2, sizeof(e2)),
			(unsigned long long)e->faults, (unsigned long long)e->refaults,
			(unsigned long long)e->evictions,
			pvm_lat_percentile_us(e->lat, SWAP_LAT_BUCKETS, 50),
			pvm_lat_percentile_us(e->lat, SWAP_LAT_BUCKETS, 99));
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct host_entry *e = &v->e[i];

		if (strcmp(e->kind, "pod"))
			continue;
		if (!pod_head) {
			fprintf(f, "%s%-20s %7s %10s %10s %10s %8s %8s\n", vm_head ? "\n" : "",
				"POD", "PID", "CAPACITY", "FREE", "LEASED", "CLIENTS", "LEASES");
			pod_head = true;
		}
		fprintf(f, "%-20s %7d %10s %10s %10s %8llu %8llu\n", e->name, e->pid,
			host_format_pages(e->cap_bytes >> 12, a, sizeof(a)),
			host_format_pages(e->free_bytes >> 12, b, sizeof(b)),
			host_format_pages(e->leased_bytes >> 12, c, sizeof(c)),
			(unsigned long long)e->clients, (unsigned long long)e->leases);
	}
	if (!vm_head && !pod_head)
		fprintf(f, "no VM or pod answers under %s\n", pvm_ctl_run_dir());
}

int stats_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct host_view v;
	bool json = false;
	int opt, ret;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = true; break;
		case 'h': stats_usage(stdout); return 0;
		default:
			pvm_err("stats: option '%s' is unknown (see poolvm stats --help)",
				argv[optind - 1]);
			return 2;
		}
	}
	ret = host_view_read(&v, argv + optind, (size_t)(argc - optind));
	if (ret < 0) {
		host_view_free(&v);
		return 1;
	}
	if (json) {
		json_object *root = json_object_new_object();
		json_object *vms = json_object_new_array(), *pods = json_object_new_array();

		for (size_t i = 0; i < v.n; i++)
			json_object_array_add(strcmp(v.e[i].kind, "vm") ? pods : vms,
					      json_object_get(v.e[i].stats));
		json_object_object_add(root, "run_dir", json_object_new_string(pvm_ctl_run_dir()));
		json_object_object_add(root, "vms", vms);
		json_object_object_add(root, "pods", pods);
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	} else {
		print_tables(stdout, &v);
	}
	host_view_free(&v);
	return 0;
}

/* ---- poolvm top --------------------------------------------------------- */

static void top_usage(FILE *f)
{
	fprintf(f,
"Usage: poolvm top [-d SECONDS] [-b] [-n FRAMES] [NAME...]\n"
"\n"
"A live view of the VMs and memory pods of this host, like top or virt-top:\n"
"each frame reads every control socket under the run directory\n"
"($POOLVM_RUN_DIR, default /run/poolvm), or only the NAMEs given.\n"
"\n"
"Per VM: pages resident, the local limit, pages in remote and disk tiers,\n"
"faults per second, p50 and p99 fault service time in microseconds and\n"
"evictions per second, all over the last interval (the first frame: since\n"
"the VM started). Per pod: capacity, free, leased, clients and leases.\n"
"\n"
"Options:\n"
"  -d SECONDS    refresh interval (default 2; at least 0.1)\n"
"  -b            batch mode: plain text frames on stdout, no terminal control,\n"
"                for scripts and logs\n"
"  -n FRAMES     stop after FRAMES frames (default: until q or a signal)\n"
"  -h, --help    this help\n"
"\n"
"Keys (interactive): q quits, any other key refreshes now.\n"
"\n"
"Exit status: 0; 1 when a NAME does not answer or the terminal cannot be\n"
"used; 2 usage error.\n");
}

static volatile sig_atomic_t top_stop;

static void top_on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

/* The frame for @cur, rates against @prev (NULL: since start), into @f. */
static void top_frame(FILE *f, const struct host_view *cur, const struct host_view *prev,
		      double interval_s)
{
	char a[16], b[16], c[16], d[16], tbuf[32];
	time_t now = time(NULL);
	size_t nvm = 0, npod = 0;
	struct tm tm;

	for (size_t i = 0; i < cur->n; i++)
		*(!strcmp(cur->e[i].kind, "vm") ? &nvm : &npod) += 1;
	localtime_r(&now, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	fprintf(f, "poolvm top - %s  %zu VM%s, %zu pod%s, every %.1fs  (%s)\n\n", tbuf,
		nvm, nvm == 1 ? "" : "s", npod, npod == 1 ? "" : "s", interval_s,
		pvm_ctl_run_dir());
	fprintf(f, "%-20s %-8s %8s %8s %8s %8s %9s %8s %8s %9s\n", "VM", "STATE", "RESIDENT",
		"LOCAL", "REMOTE", "DISK", "FAULTS/s", "P50_US", "P99_US", "EVICTS/s");
	for (size_t i = 0; i < cur->n; i++) {
		const struct host_entry *e = &cur->e[i], *p;
		uint64_t lat[SWAP_LAT_BUCKETS], faults = e->faults, evictions = e->evictions;
		double dt = e->uptime_s;
		uint64_t nlat = 0;

		if (strcmp(e->kind, "vm"))
			continue;
		memcpy(lat, e->lat, sizeof(lat));
		p = prev ? host_view_find(prev, "vm", e->name) : NULL;
		if (p && p->pid == e->pid && p->faults <= e->faults) {
			dt = (double)(e->t_ns - p->t_ns) / 1e9;
			faults -= p->faults;
			evictions = e->evictions >= p->evictions ? e->evictions - p->evictions : 0;
			for (size_t k = 0; k < SWAP_LAT_BUCKETS; k++)
				lat[k] = lat[k] >= p->lat[k] ? lat[k] - p->lat[k] : 0;
		}
		for (size_t k = 0; k < SWAP_LAT_BUCKETS; k++)
			nlat += lat[k];
		if (dt <= 0)
			dt = 1;
		fprintf(f, "%-20s %-8s %8s %8s %8s %8s %9.0f ", e->name,
			e->state ? e->state : "?",
			host_format_pages(e->resident, a, sizeof(a)),
			host_format_pages(e->local_pages, b, sizeof(b)),
			host_format_pages(e->remote_pages, c, sizeof(c)),
			host_format_pages(e->disk_pages, d, sizeof(d)),
			(double)faults / dt);
		if (nlat)
			fprintf(f, "%8.1f %8.1f ", pvm_lat_percentile_us(lat, SWAP_LAT_BUCKETS, 50),
				pvm_lat_percentile_us(lat, SWAP_LAT_BUCKETS, 99));
		else
			fprintf(f, "%8s %8s ", "-", "-");
		fprintf(f, "%9.0f\n", (double)evictions / dt);
	}
	fprintf(f, "\n%-20s %10s %10s %10s %8s %8s\n", "POD", "CAPACITY", "FREE", "LEASED",
		"CLIENTS", "LEASES");
	for (size_t i = 0; i < cur->n; i++) {
		const struct host_entry *e = &cur->e[i];

		if (strcmp(e->kind, "pod"))
			continue;
		fprintf(f, "%-20s %10s %10s %10s %8llu %8llu\n", e->name,
			host_format_pages(e->cap_bytes >> 12, a, sizeof(a)),
			host_format_pages(e->free_bytes >> 12, b, sizeof(b)),
			host_format_pages(e->leased_bytes >> 12, c, sizeof(c)),
			(unsigned long long)e->clients, (unsigned long long)e->leases);
	}
}

int top_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct host_view cur = { 0 }, prev = { 0 };
	struct sigaction sa = { 0 };
	double interval = 2.0;
	long frames = -1;
	bool batch = false, curses = false;
	char *end;
	int opt, ret = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "hbd:n:", opts, NULL)) != -1) {
		switch (opt) {
		case 'b': batch = true; break;
		case 'd':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(interval >= 0.1) || interval > 86400) {
				pvm_err("top: -d '%s': give seconds, 0.1 to 86400", optarg);
				return 2;
			}
			break;
		case 'n':
			errno = 0;
			frames = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || frames < 1) {
				pvm_err("top: -n '%s': give a number of frames, at least 1", optarg);
				return 2;
			}
			break;
		case 'h': top_usage(stdout); return 0;
		default:
			pvm_err("top: option '%s' is unknown or lacks its value (see poolvm top --help)",
				argv[optind - 1]);
			return 2;
		}
	}
	top_stop = 0;
	sa.sa_handler = top_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (!batch) {
		if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
			pvm_err("top: not a terminal; use -b for plain text");
			return 1;
		}
		if (!initscr()) {
			pvm_err("top: cannot use this terminal (TERM=%s); use -b",
				getenv("TERM") ? getenv("TERM") : "");
			return 1;
		}
		curses = true;
		cbreak();
		noecho();
		curs_set(0);
		keypad(stdscr, TRUE);
	}
	for (long frame = 0; !top_stop && (frames < 0 || frame < frames); frame++) {
		char *text = NULL;
		size_t len = 0;
		FILE *mf;

		if (host_view_read(&cur, argv + optind, (size_t)(argc - optind)) < 0) {
			ret = 1;
			break;
		}
		mf = open_memstream(&text, &len);
		if (!mf) {
			ret = 1;
			break;
		}
		top_frame(mf, &cur, frame ? &prev : NULL, interval);
		fclose(mf);
		if (curses) {
			erase();
			mvaddstr(0, 0, text);
			mvaddstr(LINES - 1, 0, "q: quit");
			refresh();
		} else {
			fputs(text, stdout);
			if (frames < 0 || frame + 1 < frames)
				fputs("\n", stdout);
			fflush(stdout);
		}
		free(text);
		host_view_free(&prev);
		prev = cur;
		memset(&cur, 0, sizeof(cur));
		if (frames >= 0 && frame + 1 >= frames)
			break;
		if (curses) {
			int ch;

			timeout((int)(interval * 1000));
			ch = getch();
			if (ch == 'q' || ch == 'Q')
				break;
		} else {
			poll(NULL, 0, (int)(interval * 1000));
		}
	}
	if (curses)
		endwin();
	host_view_free(&prev);
	host_view_free(&cur);
	return ret;
}
