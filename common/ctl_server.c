/* common/ctl_server.c — the UNIX control socket and the Prometheus HTTP
 * endpoint of a VM or a pod (see ctl_server.h). */
#include "ctl_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define CTL_REQUEST_MAX         4096
#define CTL_IO_TIMEOUT_MS       2000
#define HTTP_CONNECTIONS        16
#define HTTP_PER_IP             8
#define HTTP_IDLE_S             5
#define HTTP_MEMORY             (16 * 1024)

struct pvm_ctl {
	char kind[16];
	char name[PVM_CTL_NAME_MAX + 1];
	const struct pvm_ctl_ops *ops;
	void *ctx;
	pthread_mutex_t op_lock;        /* one op at a time */

	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int stop_efd;
	pthread_t tid;
	bool thread_started;

	struct MHD_Daemon *httpd;
	int http_fd;
	int http_port;
};

const char *pvm_ctl_run_dir(void)
{
	static __thread char user_dir[PATH_MAX];
	const char *d = getenv("POOLVM_RUN_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");

	if (d && *d)
		return d;
	/* Not root: the user's runtime directory, where it has one. */
	if (geteuid() != 0 && xdg && xdg[0] == '/' &&
	    snprintf(user_dir, sizeof(user_dir), "%s/poolvm", xdg) < (int)sizeof(user_dir))
		return user_dir;
	return PVM_CTL_RUN_DIR_DEFAULT;
}

int pvm_ctl_valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > PVM_CTL_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* ---- answers ---------------------------------------------------------- */

static json_object *error_object(const char *why)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(why));
	return o;
}

/* The answer to one request line (a JSON object or a bare word). */
static json_object *answer(struct pvm_ctl *ctl, const char *line)
{
	char word[32] = "";
	json_object *req = NULL, *o = NULL, *v;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '{') {
		req = json_tokener_parse(line);
		if (!req || !json_object_is_type(req, json_type_object) ||
		    !json_object_object_get_ex(req, "request", &v) ||
		    !json_object_is_type(v, json_type_string)) {
			json_object_put(req);
			return error_object("a request is a JSON object with a \"request\" string, "
					    "e.g. {\"request\":\"stats\"}");
		}
		snprintf(word, sizeof(word), "%s", json_object_get_string(v));
		json_object_put(req);
	} else {
		size_t n = strcspn(line, " \t\r\n");

		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, line, n);
		word[n] = '\0';
	}

	pthread_mutex_lock(&ctl->op_lock);
	if (!strcmp(word, "stats")) {
		o = ctl->ops->stats(ctl->ctx);
		if (!o)
			o = error_object("no statistics available");
	} else if (!strcmp(word, "metrics")) {
		char *text = NULL;
		size_t len = 0;
		int ret = ctl->ops->metrics ? ctl->ops->metrics(ctl->ctx, &text, &len) : -ENOSYS;

		if (ret < 0) {
			o = error_object(strerror(-ret));
		} else {
			o = json_object_new_object();
			json_object_object_add(o, "metrics", json_object_new_string_len(text, (int)len));
		}
		free(text);
	} else if (!strcmp(word, "ping")) {
		o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	} else {
		o = error_object("unknown request (stats, metrics or ping)");
	}
	pthread_mutex_unlock(&ctl->op_lock);
	if (!json_object_object_get_ex(o, "error", NULL)) {
		json_object_object_add(o, "kind", json_object_new_string(ctl->kind));
		json_object_object_add(o, "name", json_object_new_string(ctl->name));
	}
	return o;
}

/* ---- the UNIX socket ---------------------------------------------------- */

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = pvm_now_ns();

	return now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);
}

/* Read one line (up to CTL_REQUEST_MAX) by the deadline. */
static int read_request(int fd, char *buf, size_t cap, uint64_t deadline)
{
	size_t n = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = remaining_ms(deadline);
		ssize_t r;

		if (ms <= 0 || poll(&p, 1, ms) <= 0)
			return -ETIMEDOUT;
		r = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return -errno;
		n += (size_t)r;
		buf[n] = '\0';
		if (r == 0 || memchr(buf, '\n', n))
			return n ? 0 : -ENODATA;
		if (n == cap - 1)
			return -E2BIG;
	}
}

static void write_all(int fd, const char *s, size_t n, uint64_t deadline)
{
	while (n) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int ms = remaining_ms(deadline);
		ssize_t w;

		if (ms <= 0 || poll(&p, 1, ms) <= 0)
			return;
		w = send(fd, s, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void serve_one(struct pvm_ctl *ctl, int fd)
{
	char buf[CTL_REQUEST_MAX];
	uint64_t deadline = pvm_now_ns() + (uint64_t)CTL_IO_TIMEOUT_MS * 1000000ull;
	json_object *o;
	const char *text;
	int ret;

	ret = read_request(fd, buf, sizeof(buf), deadline);
	if (ret == -E2BIG)
		o = error_object("request longer than 4096 bytes");
	else if (ret < 0)
		return;         /* silent or gone: nothing to answer */
	else
		o = answer(ctl, buf);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	write_all(fd, text, strlen(text), deadline);
	write_all(fd, "\n", 1, deadline);
	json_object_put(o);
}

static void *socket_thread(void *arg)
{
	struct pvm_ctl *ctl = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = ctl->listen_fd, .events = POLLIN },
			{ .fd = ctl->stop_efd, .events = POLLIN },
		};
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!p[0].revents)
			continue;
		fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				poll(NULL, 0, 100);     /* let descriptors come back */
			continue;
		}
		serve_one(ctl, fd);
		close(fd);
	}
	return NULL;
}

static int mkdir_p(const char *dir)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static int open_socket(struct pvm_ctl *ctl)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	int fd, ret;

	if (snprintf(dir, sizeof(dir), "%s/%s", pvm_ctl_run_dir(), ctl->kind) >= (int)sizeof(dir) ||
	    snprintf(ctl->path, sizeof(ctl->path), "%s/%s.sock", dir, ctl->name) >= (int)sizeof(ctl->path)) {
		pvm_err("control socket %s/%s.sock: the path is longer than %zu bytes; "
			"set POOLVM_RUN_DIR to a shorter directory", dir, ctl->name,
			sizeof(ctl->path) - 1);
		ctl->path[0] = '\0';
		return -ENAMETOOLONG;
	}
	ret = mkdir_p(dir);
	if (ret < 0) {
		pvm_err("control socket: cannot create %s: %s (set POOLVM_RUN_DIR to a "
			"writable directory)", dir, strerror(-ret));
		ctl->path[0] = '\0';
		return ret;
	}
	memcpy(sa.sun_path, ctl->path, strlen(ctl->path) + 1);

	/* A socket of that name: live (someone answers) or stale. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		pvm_err("control socket %s is in use: a %s named '%s' is running; "
			"choose another --name", ctl->path, ctl->kind, ctl->name);
		ctl->path[0] = '\0';
		return -EADDRINUSE;
	}
	close(fd);
	unlink(ctl->path);      /* stale, or nothing */

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		pvm_err("control socket %s: %s", ctl->path, strerror(-ret));
		close(fd);
		ctl->path[0] = '\0';
		return ret;
	}
	chmod(ctl->path, 0660);
	ctl->listen_fd = fd;
	return 0;
}

/* ---- HTTP ------------------------------------------------------------- */

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
				  const char *text, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
					    MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c,
			       const char *url, const char *method,
			       const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct pvm_ctl *ctl = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;
	int err;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	/* Answer on the first call: no request body is ever read. */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "only GET /metrics is served\n", "text/plain");
	if (!strcmp(url, "/"))
		return reply_text(c, MHD_HTTP_OK,
				  "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n",
				  "text/html");
	if (strcmp(url, "/metrics"))
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n",
				  "text/plain");
	pthread_mutex_lock(&ctl->op_lock);
	err = ctl->ops->metrics ? ctl->ops->metrics(ctl->ctx, &text, &len) : -ENOSYS;
	pthread_mutex_unlock(&ctl->op_lock);
	if (err < 0)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "metrics unavailable\n", "text/plain");
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void quiet_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	(void)fmt;
	(void)ap;       /* hostile clients must not fill our log */
}

int pvm_ctl_parse_listen(const char *text, struct sockaddr_storage *ss,
			 socklen_t *sslen, char *err, size_t errlen)
{
	char host[256] = "";
	const char *port = text, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *res = NULL;
	char *end;
	unsigned long p;
	int r;

	if (!text || !*text) {
		snprintf(err, errlen, "empty address: use [ADDR:]PORT");
		return -EINVAL;
	}
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host)) {
			snprintf(err, errlen, "'%s': use [IPV6]:PORT", text);
			return -EINVAL;
		}
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port = close + 2;
	} else if ((colon = strrchr(text, ':')) != NULL) {
		if ((size_t)(colon - text) >= sizeof(host) || strchr(text, ':') != colon) {
			snprintf(err, errlen, "'%s': use ADDR:PORT, [IPV6]:PORT or PORT", text);
			return -EINVAL;
		}
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port = colon + 1;
	}
	errno = 0;
	p = strtoul(port, &end, 10);
	if (!*port || *end || errno || p > 65535 || port[0] == '-' || port[0] == '+') {
		snprintf(err, errlen, "'%s': the port must be a number 0..65535", text);
		return -EINVAL;
	}
	if (!host[0]) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		memset(ss, 0, sizeof(*ss));
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons((uint16_t)p);
		*sslen = sizeof(*in);
		return 0;
	}
	r = getaddrinfo(host, port, &hints, &res);
	if (r || !res) {
		snprintf(err, errlen, "'%s': address '%s' not found: %s", text, host,
			 r ? gai_strerror(r) : "no result");
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int open_http(struct pvm_ctl *ctl, const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char err[300];
	int fd, one = 1, ret;

	if (pvm_ctl_parse_listen(spec, &ss, &sslen, err, sizeof(err)) < 0) {
		pvm_err("--metrics %s", err);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		pvm_err("--metrics %s: socket: %s", spec, strerror(-ret));
		return ret;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 32) < 0) {
		ret = -errno;
		if (ret == -EADDRINUSE)
			pvm_err("--metrics %s: the port is already in use (another "
				"exporter or poolvm); choose another port", spec);
		else if (ret == -EADDRNOTAVAIL)
			pvm_err("--metrics %s: this host has no such address", spec);
		else
			pvm_err("--metrics %s: %s", spec, strerror(-ret));
		close(fd);
		return ret;
	}
	if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
		struct sockaddr_storage got;
		socklen_t gl = sizeof(got);

		if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
			ctl->http_port = ntohs(got.ss_family == AF_INET ?
					       ((struct sockaddr_in *)&got)->sin_port :
					       ((struct sockaddr_in6 *)&got)->sin6_port);
	}
	/* MHD writes with MSG_NOSIGNAL here; where it cannot, a client that
	 * hangs up mid-answer must not kill the process. */
	if (MHD_is_feature_supported(MHD_FEATURE_AUTOSUPPRESS_SIGPIPE) != MHD_YES)
		signal(SIGPIPE, SIG_IGN);
	ctl->http_fd = fd;
	ctl->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC,
				      0, NULL, NULL, on_http, ctl,
				      MHD_OPTION_LISTEN_SOCKET, fd,
				      MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS,
				      MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_PER_IP,
				      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
				      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY,
				      MHD_OPTION_EXTERNAL_LOGGER, quiet_mhd_log, NULL,
				      MHD_OPTION_END);
	if (!ctl->httpd) {
		pvm_err("--metrics %s: the HTTP server (libmicrohttpd) did not start", spec);
		close(fd);
		ctl->http_fd = -1;
		return -EIO;
	}
	ctl->http_fd = -1;      /* MHD_stop_daemon() closes it */
	return 0;
}

/* ---- life cycle --------------------------------------------------------- */

int pvm_ctl_start(const struct pvm_ctl_config *cfg, struct pvm_ctl **out)
{
	struct pvm_ctl *ctl;
	int ret;

	*out = NULL;
	if (!pvm_ctl_valid_name(cfg->name) || !cfg->ops || !cfg->ops->stats) {
		pvm_err("control socket: '%s' is not a name (1-64 of letters, digits, "
			"'.', '_', '-'; not starting with '.' or '-')", cfg->name ? cfg->name : "");
		return -EINVAL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	snprintf(ctl->kind, sizeof(ctl->kind), "%s", cfg->kind);
	snprintf(ctl->name, sizeof(ctl->name), "%s", cfg->name);
	ctl->ops = cfg->ops;
	ctl->ctx = cfg->ctx;
	ctl->listen_fd = ctl->stop_efd = ctl->http_fd = -1;
	pthread_mutex_init(&ctl->op_lock, NULL);

	if (cfg->metrics) {
		ret = open_http(ctl, cfg->metrics);
		if (ret < 0)
			goto fail;
	}
	ret = open_socket(ctl);
	if (ret == -EADDRINUSE)
		goto fail;      /* a process of that name runs: a real conflict */
	if (ret < 0) {
		/* No place for the socket (already reported): the VM or pod
		 * matters more than its statistics. */
		pvm_err("going on without a control socket: poolvm stats and poolvm top "
			"will not list this %s", ctl->kind);
		*out = ctl;
		return 0;
	}
	ctl->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->stop_efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_create(&ctl->tid, NULL, socket_thread, ctl);
	if (ret < 0) {
		pvm_err("control socket: cannot start its thread: %s", strerror(-ret));
		goto fail;
	}
	ctl->thread_started = true;
	*out = ctl;
	return 0;
fail:
	pvm_ctl_stop(ctl);
	return ret;
}

void pvm_ctl_stop(struct pvm_ctl *ctl)
{
	if (!ctl)
		return;
	if (ctl->httpd)
		MHD_stop_daemon(ctl->httpd);
	if (ctl->http_fd >= 0)
		close(ctl->http_fd);
	if (ctl->thread_started) {
		uint64_t one = 1;

		if (write(ctl->stop_efd, &one, sizeof(one)) != sizeof(one))
			pvm_err("control socket: cannot signal its thread");
		pthread_join(ctl->tid, NULL);
	}
	if (ctl->stop_efd >= 0)
		close(ctl->stop_efd);
	if (ctl->listen_fd >= 0) {
		close(ctl->listen_fd);
		unlink(ctl->path);
	}
	pthread_mutex_destroy(&ctl->op_lock);
	free(ctl);
}

const char *pvm_ctl_socket_path(const struct pvm_ctl *ctl)
{
	return ctl->path[0] ? ctl->path : "(none)";
}

int pvm_ctl_metrics_port(const struct pvm_ctl *ctl)
{
	return ctl->httpd ? ctl->http_port : 0;
}

/* ---- client ------------------------------------------------------------- */

int pvm_ctl_request(const char *path, const char *request,
		    json_object **out, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = pvm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	json_object *o;
	int fd, ret;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	write_all(fd, request, strlen(request), deadline);
	write_all(fd, "\n", 1, deadline);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ms = remaining_ms(deadline);
		ssize_t r;

		if (cap - n < 4096) {
			char *b = realloc(buf, cap ? cap * 2 : 65536);

			if (!b) {
				ret = -ENOMEM;
				goto out;
			}
			buf = b;
			cap = cap ? cap * 2 : 65536;
		}
		if (ms <= 0 || poll(&p, 1, ms) <= 0) {
			ret = -ETIMEDOUT;
			goto out;
		}
		r = recv(fd, buf + n, cap - n - 1, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > (64u << 20)) {
			ret = -EFBIG;
			goto out;
		}
	}
	buf[n] = '\0';
	o = json_tokener_parse(buf);
	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		ret = -EPROTO;
		goto out;
	}
	*out = o;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}
