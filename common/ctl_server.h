/* common/ctl_server.h — the control surfaces of one poolvm process (a VM's
 * pager or a memory pod): a UNIX control socket that answers JSON requests,
 * and optionally Prometheus text exposition over HTTP.
 *
 * Concepts: the run directory is $POOLVM_RUN_DIR, else /run/poolvm (for
 * other users than root: $XDG_RUNTIME_DIR/poolvm when that is set). A
 * process of kind KIND ("vm", "pod") named NAME listens on
 * RUN/KIND/NAME.sock. A client connects, writes one request line, a JSON
 * object such as {"request":"stats"} (or the bare word stats), and reads one
 * JSON object back, then the server closes the connection (protocol in
 * docs/metrics.md). With a metrics address the process also serves
 * GET /metrics (text format 0.0.4) through libmicrohttpd.
 *
 * Threads: the socket has one thread of its own, the HTTP server one more;
 * each calls the owner's ops, never two at once (a mutex of the server
 * orders them), and never from the owner's own threads. Hostile clients:
 * requests are read with a 2 s deadline and limited to 4 KiB; HTTP allows
 * 16 connections (8 per address), 5 s of idleness and 16 KiB of request
 * memory each, so a slow or flooding client cannot stall the owner.
 */
#ifndef POOLVM_COMMON_CTL_SERVER_H
#define POOLVM_COMMON_CTL_SERVER_H

#include <stddef.h>
#include <sys/socket.h>

struct json_object;
struct pvm_ctl;

#define PVM_CTL_RUN_DIR_DEFAULT "/run/poolvm"
#define PVM_CTL_NAME_MAX 64

struct pvm_ctl_ops {
	size_t size;    /* sizeof(struct pvm_ctl_ops) */
	/* The answer to a stats request: a new JSON object (the server adds
	 * "kind" and "name"), or NULL when it cannot be made. */
	struct json_object *(*stats)(void *ctx);
	/* Prometheus text: 0 and a malloc()ed *text of *len bytes, or -errno. */
	int (*metrics)(void *ctx, char **text, size_t *len);
};

struct pvm_ctl_config {
	const char *kind;               /* "vm" or "pod": the folder in RUN */
	const char *name;               /* a valid name (pvm_ctl_valid_name) */
	const char *metrics;            /* "[ADDR:]PORT" for HTTP; NULL: none */
	const struct pvm_ctl_ops *ops;
	void *ctx;
};

/**
 * pvm_ctl_start() - create RUN/KIND/NAME.sock and, with @cfg->metrics, the
 * HTTP server, then start their threads. A live socket of the same name is
 * an error (-EADDRINUSE: that process runs); a stale one (nobody listens)
 * is replaced. When the socket cannot be made for another reason (run
 * directory not writable, path too long) the caller still gets a server
 * (HTTP only, if asked for) and a message says so. Errors are reported
 * here, once, with what to do.
 * Return: 0 and *@out; -EINVAL (bad name or address), -EADDRINUSE (socket
 * or port taken), -errno.
 */
int pvm_ctl_start(const struct pvm_ctl_config *cfg, struct pvm_ctl **out);

/**
 * pvm_ctl_stop() - stop both servers, wait for their threads and remove the
 * socket. After it returns no op is running or will run. NULL is a no-op.
 */
void pvm_ctl_stop(struct pvm_ctl *ctl);

/** pvm_ctl_socket_path() - the control socket's path. */
const char *pvm_ctl_socket_path(const struct pvm_ctl *ctl);

/** pvm_ctl_metrics_port() - the HTTP port (useful with port 0), or 0. */
int pvm_ctl_metrics_port(const struct pvm_ctl *ctl);

/**
 * pvm_ctl_run_dir() - $POOLVM_RUN_DIR; else, for a user other than root
 * with $XDG_RUNTIME_DIR, that directory's poolvm/; else /run/poolvm.
 */
const char *pvm_ctl_run_dir(void);

/** pvm_ctl_valid_name() - 1-64 of [A-Za-z0-9._-], not starting with . or -. */
int pvm_ctl_valid_name(const char *name);

/**
 * pvm_ctl_parse_listen() - parse "[ADDR:]PORT" ("9100", "127.0.0.1:9100",
 * "[::1]:9100", "localhost:9100"; no ADDR: every IPv4 address) into @ss.
 * Return: 0, or -EINVAL with the reason in @err.
 */
int pvm_ctl_parse_listen(const char *text, struct sockaddr_storage *ss,
			 socklen_t *sslen, char *err, size_t errlen);

/**
 * pvm_ctl_request() - client side: send @request (e.g. "stats") to the
 * socket at @path and parse the JSON answer into *@out, within
 * @timeout_ms. Return: 0; -ECONNREFUSED/-ENOENT (nobody serves it: a stale
 * socket), -ETIMEDOUT, -EPROTO (not JSON), -errno.
 */
int pvm_ctl_request(const char *path, const char *request,
		    struct json_object **out, int timeout_ms);

#endif
