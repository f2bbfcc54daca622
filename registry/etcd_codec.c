/* registry/etcd_codec.c — what travels to and from etcd's JSON gateway:
 * base64, prefix ranges, transaction bodies, and strict parsing of the
 * answers (etcd.h). No network here; every input is treated as hostile.
 */
#include "etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t olen = (len + 2) / 3 * 4, o = 0;
	char *out = malloc(olen + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int etcd_b64_decode(const char *text, char **out, size_t *len)
{
	size_t n = strlen(text), o = 0, pad = 0;
	char *buf;

	if (n % 4)
		return -EINVAL;
	if (n && text[n - 1] == '=')
		pad++;
	if (n > 1 && text[n - 2] == '=')
		pad++;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		bool last = i + 4 == n;

		for (int k = 0; k < 4; k++) {
			v[k] = b64_value(text[i + k]);
			if (v[k] < 0 && !(last && text[i + k] == '=' && k >= 4 - (int)pad)) {
				free(buf);
				return -EINVAL;
			}
			if (v[k] < 0)
				v[k] = 0;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];

		buf[o++] = (char)(w >> 16);
		if (!last || pad < 2)
			buf[o++] = (char)(w >> 8);
		if (!last || pad < 1)
			buf[o++] = (char)w;
	}
	buf[o] = '\0';
	*out = buf;
	*len = o;
	return 0;
}

char *etcd_prefix_end(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end = malloc(n + 2);

	if (!end)
		return NULL;
	memcpy(end, prefix, n + 1);
	while (n > 0) {
		unsigned char c = (unsigned char)end[n - 1];

		if (c < 0xff) {
			end[n - 1] = (char)(c + 1);
			end[n] = '\0';
			return end;
		}
		end[--n] = '\0';
	}
	/* Every byte 0xff, or empty: no prefix range exists; callers use
	 * prefixes that start with '/'. */
	free(end);
	return NULL;
}

int etcd_json_int64(struct json_object *obj, const char *field, int64_t *out)
{
	struct json_object *v;
	const char *s;
	char *end;
	long long x;

	*out = 0;
	if (!json_object_object_get_ex(obj, field, &v) || !v)
		return 0;
	switch (json_object_get_type(v)) {
	case json_type_int:
		*out = json_object_get_int64(v);
		return 0;
	case json_type_string:
		s = json_object_get_string(v);
		if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
			return -EPROTO;
		errno = 0;
		x = strtoll(s, &end, 10);
		if (errno || *end)
			return -EPROTO;
		*out = x;
		return 0;
	default:
		return -EPROTO;
	}
}

/* The string field @field of @obj, or NULL (absent: *@present false). */
static int get_string(struct json_object *obj, const char *field, const char **out)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(obj, field, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EPROTO;
	*out = json_object_get_string(v);
	return 0;
}

int etcd_parse_answer(const char *body, size_t len, struct json_object **obj,
		      char *why, size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *o, *err;
	int64_t code = 0;
	const char *msg = NULL;

	*obj = NULL;
	if (len == 0) {
		snprintf(why, whylen, "empty answer");
		return -EPROTO;
	}
	if (memchr(body, '\0', len)) {
		snprintf(why, whylen, "answer contains a NUL byte");
		return -EPROTO;
	}
	tok = json_tokener_new_ex(64);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    (size_t)json_tokener_get_parse_end(tok) < len) {
		/* Trailing whitespace is fine; anything else is not. */
		size_t end = o ? json_tokener_get_parse_end(tok) : 0;
		bool only_space = o != NULL;

		for (size_t i = end; only_space && i < len; i++)
			if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' &&
			    body[i] != '\t')
				only_space = false;
		if (!only_space) {
			json_object_put(o);
			json_tokener_free(tok);
			snprintf(why, whylen, "answer is not JSON (starts with '%.*s')",
				 (int)(len < 24 ? len : 24), body);
			for (char *c = why; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
					*c = '?';
			return -EPROTO;
		}
	}
	json_tokener_free(tok);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		snprintf(why, whylen, "answer is JSON but not an object");
		return -EPROTO;
	}
	if (json_object_object_get_ex(o, "error", &err) && err) {
		int rc;

		/* Unary calls: {"error": "...", "code": N, "message": "..."};
		 * streaming ones: {"error": {"grpc_code": N, "message": "..."}}. */
		struct json_object *inner = json_object_is_type(err, json_type_object)
					    ? err : o;

		if (etcd_json_int64(inner, inner == o ? "code" : "grpc_code", &code))
			code = 0;
		if (get_string(inner, "message", &msg) || !msg)
			msg = json_object_is_type(err, json_type_string)
				? json_object_get_string(err) : "(no message)";
		/* gRPC codes: 16 unauthenticated, 7 permission denied; etcd
		 * also says "user name is empty" (code 3) when auth is on. */
		if (code == 16 || code == 7 || strstr(msg, "user name is empty") ||
		    strstr(msg, "invalid auth token") || strstr(msg, "authentication"))
			rc = -EACCES;
		else if (code == 5 || strstr(msg, "lease not found"))
			rc = -ENOENT;
		else
			rc = -EINVAL;
		snprintf(why, whylen, "etcd says: %.200s (code %" PRId64 ")", msg, code);
		for (char *c = why; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				*c = '?';
		json_object_put(o);
		return rc;
	}
	*obj = o;
	return 0;
}

static int header_revision(struct json_object *o, int64_t *rev)
{
	struct json_object *h;

	*rev = 0;
	if (!json_object_object_get_ex(o, "header", &h) || !h ||
	    !json_object_is_type(h, json_type_object))
		return -EPROTO;
	return etcd_json_int64(h, "revision", rev);
}

void etcd_range_free(struct etcd_range_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->kvs[i].key);
		free(r->kvs[i].value);
	}
	free(r->kvs);
	r->kvs = NULL;
	r->n = 0;
}

static int parse_kv(struct json_object *o, struct etcd_kv *kv, char *why, size_t whylen)
{
	const char *k = NULL, *v = NULL;
	size_t klen;
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_object_is_type(o, json_type_object) || get_string(o, "key", &k) ||
	    !k || get_string(o, "value", &v)) {
		snprintf(why, whylen, "a key-value entry lacks a string key");
		return -EPROTO;
	}
	if (etcd_json_int64(o, "create_revision", &kv->create_revision) ||
	    etcd_json_int64(o, "mod_revision", &kv->mod_revision) ||
	    etcd_json_int64(o, "version", &kv->version) ||
	    etcd_json_int64(o, "lease", &kv->lease)) {
		snprintf(why, whylen, "a key-value entry has a revision that is not "
			 "a number");
		return -EPROTO;
	}
	rc = etcd_b64_decode(k, &kv->key, &klen);
	if (!rc && strlen(kv->key) != klen) {
		free(kv->key);
		kv->key = NULL;
		rc = -EINVAL;
	}
	if (!rc)
		rc = etcd_b64_decode(v ? v : "", &kv->value, &kv->value_len);
	if (rc) {
		free(kv->key);
		kv->key = NULL;
		if (rc == -ENOMEM)
			return rc;
		snprintf(why, whylen, "a key or value is not base64 (or a key "
			 "holds a NUL byte)");
		return -EPROTO;
	}
	return 0;
}

int etcd_parse_range(const char *body, size_t len, struct etcd_range_result *out,
		     char *why, size_t whylen)
{
	struct json_object *o, *kvs;
	size_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = etcd_parse_answer(body, len, &o, why, whylen);
	if (rc)
		return rc;
	if (header_revision(o, &out->revision) || out->revision <= 0) {
		snprintf(why, whylen, "answer has no header with a revision");
		rc = -EPROTO;
		goto out;
	}
	if (!json_object_object_get_ex(o, "kvs", &kvs) || !kvs)
		goto out;               /* no keys: the field is left out */
	if (!json_object_is_type(kvs, json_type_array)) {
		snprintf(why, whylen, "\"kvs\" is not an array");
		rc = -EPROTO;
		goto out;
	}
	n = json_object_array_length(kvs);
	out->kvs = calloc(n ? n : 1, sizeof(*out->kvs));
	if (!out->kvs) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		rc = parse_kv(json_object_array_get_idx(kvs, i), &out->kvs[i], why, whylen);
		if (rc)
			break;
		out->n++;
	}
out:
	json_object_put(o);
	if (rc)
		etcd_range_free(out);
	return rc;
}

static const char *const target_names[] = { "VERSION", "CREATE", "MOD", "VALUE" };
static const char *const result_names[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };

int etcd_json_add_b64(struct json_object *o, const char *field, const char *text)
{
	char *b = etcd_b64_encode(text, strlen(text));

	if (!b)
		return -ENOMEM;
	json_object_object_add(o, field, json_object_new_string(b));
	free(b);
	return 0;
}

void etcd_json_add_i64(struct json_object *o, const char *field, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	json_object_object_add(o, field, json_object_new_string(buf));
}

char *etcd_build_txn(const struct etcd_cmp *cmps, size_t ncmp,
		     const struct etcd_op *ops, size_t nops)
{
	struct json_object *root = json_object_new_object();
	struct json_object *carr = json_object_new_array();
	struct json_object *sarr = json_object_new_array();
	char *out = NULL;
	int rc = 0;

	if (!root || !carr || !sarr) {
		json_object_put(root);
		json_object_put(carr);
		json_object_put(sarr);
		return NULL;
	}
	json_object_object_add(root, "compare", carr);
	json_object_object_add(root, "success", sarr);
	for (size_t i = 0; i < ncmp && !rc; i++) {
		const struct etcd_cmp *c = &cmps[i];
		struct json_object *o = json_object_new_object();

		json_object_array_add(carr, o);
		rc = etcd_json_add_b64(o, "key", c->key);
		if (!rc && c->range_end)
			rc = etcd_json_add_b64(o, "range_end", c->range_end);
		json_object_object_add(o, "target",
				       json_object_new_string(target_names[c->target]));
		json_object_object_add(o, "result",
				       json_object_new_string(result_names[c->result]));
		switch (c->target) {
		case ETCD_CMP_VERSION: etcd_json_add_i64(o, "version", c->number); break;
		case ETCD_CMP_CREATE: etcd_json_add_i64(o, "create_revision", c->number); break;
		case ETCD_CMP_MOD: etcd_json_add_i64(o, "mod_revision", c->number); break;
		case ETCD_CMP_VALUE:
			if (!rc)
				rc = etcd_json_add_b64(o, "value", c->value ? c->value : "");
			break;
		}
	}
	for (size_t i = 0; i < nops && !rc; i++) {
		const struct etcd_op *op = &ops[i];
		struct json_object *wrap = json_object_new_object();
		struct json_object *o = json_object_new_object();

		json_object_array_add(sarr, wrap);
		if (op->type == ETCD_OP_PUT) {
			json_object_object_add(wrap, "request_put", o);
			rc = etcd_json_add_b64(o, "key", op->key);
			if (!rc)
				rc = etcd_json_add_b64(o, "value", op->value ? op->value : "");
			if (op->lease)
				etcd_json_add_i64(o, "lease", op->lease);
		} else {
			json_object_object_add(wrap, "request_delete_range", o);
			rc = etcd_json_add_b64(o, "key", op->key);
			if (!rc && op->range_end)
				rc = etcd_json_add_b64(o, "range_end", op->range_end);
		}
	}
	if (!rc) {
		const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);

		out = s ? strdup(s) : NULL;
	}
	json_object_put(root);
	return out;
}
