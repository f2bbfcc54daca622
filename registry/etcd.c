/* registry/etcd.c — the etcd client's network half (etcd.h): one curl
 * handle per client, POSTs of JSON to the current endpoint, fail-over to
 * the next endpoint when one cannot be reached.
 */
#include "etcd.h"

#include "common.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct etcd_client {
	pthread_mutex_t lock;
	CURL *curl;
	char *endpoints_text;
	char *urls[ETCD_MAX_ENDPOINTS];
	unsigned nurls;
	unsigned current;               /* the endpoint that answered last */
	unsigned timeout_ms;
	char error[512];
	/* the answer being received */
	char *body;
	size_t body_len, body_cap;
	bool body_too_big;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* "h:p" -> "http://h:p"; trailing '/' dropped. NULL: not an endpoint. */
static char *normalize_url(const char *text, size_t len, char *why, size_t whylen)
{
	char *url;

	while (len && text[len - 1] == '/')
		len--;
	if (len == 0) {
		snprintf(why, whylen, "empty endpoint");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c <= ' ' || c > '~') {
			snprintf(why, whylen, "endpoint '%.*s' has a space or a "
				 "non-ASCII character", (int)PVM_MIN(len, 64u), text);
			return NULL;
		}
	}
	if (len > 7 && !strncmp(text, "http://", 7)) {
		url = strndup(text, len);
	} else if (len > 8 && !strncmp(text, "https://", 8)) {
		url = strndup(text, len);
	} else if (memmem(text, len, "://", 3)) {
		snprintf(why, whylen, "endpoint '%.*s': only http:// and https:// "
			 "are understood", (int)PVM_MIN(len, 64u), text);
		return NULL;
	} else {
		if (!memchr(text, ':', len)) {
			snprintf(why, whylen, "endpoint '%.*s' has no port; write "
				 "HOST:PORT or http://HOST:PORT", (int)PVM_MIN(len, 64u),
				 text);
			return NULL;
		}
		url = malloc(len + 8);
		if (url)
			snprintf(url, len + 8, "http://%.*s", (int)len, text);
	}
	if (!url)
		snprintf(why, whylen, "out of memory");
	else if (strchr(url + 8, '/')) {
		snprintf(why, whylen, "endpoint '%s' has a path; write only "
			 "http://HOST:PORT", url);
		free(url);
		url = NULL;
	}
	return url;
}

int etcd_open(const char *endpoints, struct etcd_client **out)
{
	struct etcd_client *c;
	const char *p = endpoints;
	char why[256];

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK) {
		pvm_err("etcd: libcurl failed to initialize: %s",
			curl_easy_strerror(curl_init_rc));
		return -ENOMEM;
	}
	if (!endpoints || !*endpoints) {
		pvm_err("etcd: no endpoint given; write http://HOST:2379[,http://HOST2:2379]");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->timeout_ms = 3000;
	c->endpoints_text = strdup(endpoints);
	c->curl = curl_easy_init();
	if (!c->endpoints_text || !c->curl) {
		etcd_close(c);
		return -ENOMEM;
	}
	for (;;) {
		size_t len = strcspn(p, ",+");

		if (c->nurls == ETCD_MAX_ENDPOINTS) {
			pvm_err("etcd: more than %d endpoints in '%s'", ETCD_MAX_ENDPOINTS,
				endpoints);
			etcd_close(c);
			return -EINVAL;
		}
		c->urls[c->nurls] = normalize_url(p, len, why, sizeof(why));
		if (!c->urls[c->nurls]) {
			pvm_err("etcd: %s (in '%s')", why, endpoints);
			etcd_close(c);
			return -EINVAL;
		}
		c->nurls++;
		if (!p[len])
			break;
		p += len + 1;
	}
	*out = c;
	return 0;
}

void etcd_close(struct etcd_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	for (unsigned i = 0; i < c->nurls; i++)
		free(c->urls[i]);
	free(c->endpoints_text);
	free(c->body);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *etcd_error(struct etcd_client *c)
{
	return c->error;
}

const char *etcd_endpoints(struct etcd_client *c)
{
	return c->endpoints_text;
}

void etcd_set_timeout_ms(struct etcd_client *c, unsigned ms)
{
	c->timeout_ms = ms ? ms : 3000;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct etcd_client *c = arg;
	size_t n = size * nmemb;

	if (c->body_len + n > ETCD_MAX_BODY) {
		c->body_too_big = true;
		return 0;               /* aborts the transfer */
	}
	if (c->body_len + n + 1 > c->body_cap) {
		size_t cap = PVM_MAX(c->body_cap * 2, c->body_len + n + 1);
		char *b = realloc(c->body, PVM_MAX(cap, (size_t)4096));

		if (!b)
			return 0;
		c->body = b;
		c->body_cap = PVM_MAX(cap, (size_t)4096);
	}
	memcpy(c->body + c->body_len, data, n);
	c->body_len += n;
	c->body[c->body_len] = '\0';
	return n;
}

/*
 * POST @json to @path on one endpoint after another, starting at the
 * current one. 0 when some endpoint answered with a body (any HTTP status:
 * the gateway puts etcd's errors in JSON bodies); the body is in c->body.
 * Lock held.
 */
static int post(struct etcd_client *c, const char *path, const char *json)
{
	struct curl_slist *headers = curl_slist_append(NULL,
						       "Content-Type: application/json");
	/* No "Expect: 100-continue" wait (1 s) before larger bodies. */
	struct curl_slist *more = headers ? curl_slist_append(headers, "Expect:") : NULL;
	char url[1024], failures[400] = "";
	size_t flen = 0;

	if (!more) {
		curl_slist_free_all(headers);
		return -ENOMEM;
	}
	headers = more;
	for (unsigned tried = 0; tried < c->nurls; tried++) {
		unsigned i = (c->current + tried) % c->nurls;
		long status = 0;
		CURLcode cc;

		snprintf(url, sizeof(url), "%s%s", c->urls[i], path);
		c->body_len = 0;
		c->body_too_big = false;
		curl_easy_reset(c->curl);
		curl_easy_setopt(c->curl, CURLOPT_URL, url);
		curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, json);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
		curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)PVM_MIN(c->timeout_ms, 1000u));
		curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
		cc = curl_easy_perform(c->curl);
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		if (cc == CURLE_OK && status >= 500 && c->body_len == 0)
			cc = CURLE_HTTP_RETURNED_ERROR;
		if (cc == CURLE_OK && c->body_len > 0) {
			c->current = i;
			curl_slist_free_all(headers);
			return 0;
		}
		if (flen < sizeof(failures))
			flen += (size_t)snprintf(failures + flen, sizeof(failures) - flen,
				"%s%s: %s", flen ? "; " : "", c->urls[i],
				c->body_too_big ? "answer larger than 8 MiB" :
				cc == CURLE_OK ? (status ? "empty answer" : "no answer")
					       : curl_easy_strerror(cc));
	}
	curl_slist_free_all(headers);
	snprintf(c->error, sizeof(c->error), "etcd unreachable (%s); is etcd "
		 "running and are the endpoints right?", failures);
	return -EHOSTUNREACH;
}

/* POST and check the answer's shape; *@obj on success. Lock held. */
static int call(struct etcd_client *c, const char *path, const char *json,
		struct json_object **obj)
{
	char why[300];
	int rc;

	c->error[0] = '\0';
	rc = post(c, path, json);
	if (rc)
		return rc;
	rc = etcd_parse_answer(c->body, c->body_len, obj, why, sizeof(why));
	if (rc)
		snprintf(c->error, sizeof(c->error), "%s%s: %s%s",
			 c->urls[c->current], path,
			 rc == -EPROTO ? "malformed answer: " : "",
			 rc == -EACCES ? "etcd requires authentication, which "
					 "poolvm does not do yet (use an etcd "
					 "without auth on a trusted network)" : why);
	if (rc == -EACCES) {
		size_t n = strlen(c->error);

		snprintf(c->error + n, sizeof(c->error) - n, " [%s]", why);
	}
	return rc;
}

/* Render a JSON object and call; consumes @req. */
static int call_obj(struct etcd_client *c, const char *path, struct json_object *req,
		    struct json_object **obj)
{
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	int rc = s ? call(c, path, s, obj) : -ENOMEM;

	json_object_put(req);
	return rc;
}

static int proto_error(struct etcd_client *c, const char *path, const char *what)
{
	snprintf(c->error, sizeof(c->error), "%s%s: malformed answer: %s",
		 c->urls[c->current], path, what);
	return -EPROTO;
}

/* A request naming @key and, unless NULL, @range_end (both base64). */
static int key_request(const char *key, const char *range_end, struct json_object **out)
{
	struct json_object *req = json_object_new_object();
	int rc;

	if (!req)
		return -ENOMEM;
	rc = etcd_json_add_b64(req, "key", key);
	if (!rc && range_end)
		rc = etcd_json_add_b64(req, "range_end", range_end);
	if (rc) {
		json_object_put(req);
		return rc;
	}
	*out = req;
	return 0;
}

int etcd_range(struct etcd_client *c, const char *key, const char *range_end,
	       struct etcd_range_result *out)
{
	struct json_object *req;
	char why[300];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = key_request(key, range_end, &req);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	c->error[0] = '\0';
	{
		const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);

		rc = s ? post(c, "/v3/kv/range", s) : -ENOMEM;
	}
	json_object_put(req);
	if (!rc) {
		rc = etcd_parse_range(c->body, c->body_len, out, why, sizeof(why));
		if (rc)
			snprintf(c->error, sizeof(c->error), "%s/v3/kv/range: %s%s",
				 c->urls[c->current], rc == -EPROTO ? "malformed answer: " : "",
				 rc == -EACCES ? "etcd requires authentication, which poolvm "
						 "does not do yet" : why);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

int etcd_range_prefix(struct etcd_client *c, const char *prefix,
		      struct etcd_range_result *out)
{
	char *end = etcd_prefix_end(prefix);
	int rc;

	if (!end) {
		memset(out, 0, sizeof(*out));
		snprintf(c->error, sizeof(c->error), "empty key prefix");
		return -EINVAL;
	}
	rc = etcd_range(c, prefix, end, out);
	free(end);
	return rc;
}

int etcd_put(struct etcd_client *c, const char *key, const char *value, int64_t lease)
{
	struct etcd_op op = { .type = ETCD_OP_PUT, .key = key, .value = value,
			      .lease = lease };
	bool ok;
	int rc = etcd_txn(c, NULL, 0, &op, 1, &ok, NULL);

	return rc;
}

int etcd_delete(struct etcd_client *c, const char *key, const char *range_end,
		int64_t *deleted)
{
	struct json_object *req, *ans = NULL;
	int64_t n = 0;
	int rc;

	rc = key_request(key, range_end, &req);
	if (rc)
		return rc;
	pthread_mutex_lock(&c->lock);
	rc = call_obj(c, "/v3/kv/deleterange", req, &ans);
	if (!rc && etcd_json_int64(ans, "deleted", &n))
		rc = proto_error(c, "/v3/kv/deleterange", "\"deleted\" is not a number");
	pthread_mutex_unlock(&c->lock);
	json_object_put(ans);
	if (deleted)
		*deleted = n;
	return rc;
}

int etcd_txn(struct etcd_client *c, const struct etcd_cmp *cmps, size_t ncmp,
	     const struct etcd_op *ops, size_t nops, bool *succeeded, int64_t *revision)
{
	char *body = etcd_build_txn(cmps, ncmp, ops, nops);
	struct json_object *ans = NULL, *h, *s;
	int64_t rev = 0;
	int rc;

	*succeeded = false;
	if (!body)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	rc = call(c, "/v3/kv/txn", body, &ans);
	if (!rc) {
		if (!json_object_object_get_ex(ans, "header", &h) ||
		    !json_object_is_type(h, json_type_object) ||
		    etcd_json_int64(h, "revision", &rev) || rev <= 0)
			rc = proto_error(c, "/v3/kv/txn", "no header with a revision");
		else if (json_object_object_get_ex(ans, "succeeded", &s) && s &&
			 !json_object_is_type(s, json_type_boolean))
			rc = proto_error(c, "/v3/kv/txn", "\"succeeded\" is not a boolean");
		else
			*succeeded = s && json_object_get_boolean(s);
	}
	pthread_mutex_unlock(&c->lock);
	json_object_put(ans);
	free(body);
	if (revision)
		*revision = rev;
	return rc;
}

int etcd_lease_grant(struct etcd_client *c, int64_t ttl_s, int64_t *id)
{
	struct json_object *req = json_object_new_object(), *ans = NULL;
	int64_t ttl = 0;
	int rc;

	if (!req)
		return -ENOMEM;
	etcd_json_add_i64(req, "TTL", ttl_s);
	pthread_mutex_lock(&c->lock);
	rc = call_obj(c, "/v3/lease/grant", req, &ans);
	if (!rc && (etcd_json_int64(ans, "ID", id) || *id == 0 ||
		    etcd_json_int64(ans, "TTL", &ttl) || ttl <= 0))
		rc = proto_error(c, "/v3/lease/grant", "no lease ID and TTL");
	pthread_mutex_unlock(&c->lock);
	json_object_put(ans);
	return rc;
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl_s)
{
	struct json_object *req = json_object_new_object(), *ans = NULL, *res;
	int rc;

	*ttl_s = 0;
	if (!req)
		return -ENOMEM;
	etcd_json_add_i64(req, "ID", id);
	pthread_mutex_lock(&c->lock);
	/* A streaming call on the gateway: one request, one result object. */
	rc = call_obj(c, "/v3/lease/keepalive", req, &ans);
	if (!rc) {
		if (!json_object_object_get_ex(ans, "result", &res) ||
		    !json_object_is_type(res, json_type_object) ||
		    etcd_json_int64(res, "TTL", ttl_s))
			rc = proto_error(c, "/v3/lease/keepalive", "no result with a TTL");
		else if (*ttl_s <= 0) {
			snprintf(c->error, sizeof(c->error), "etcd lease %" PRIx64
				 " expired", (uint64_t)id);
			rc = -ENOENT;
		}
	}
	pthread_mutex_unlock(&c->lock);
	json_object_put(ans);
	return rc;
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id)
{
	struct json_object *req = json_object_new_object(), *ans = NULL;
	int rc;

	if (!req)
		return -ENOMEM;
	etcd_json_add_i64(req, "ID", id);
	pthread_mutex_lock(&c->lock);
	rc = call_obj(c, "/v3/lease/revoke", req, &ans);
	pthread_mutex_unlock(&c->lock);
	json_object_put(ans);
	return rc;
}
