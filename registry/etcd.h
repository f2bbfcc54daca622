/* registry/etcd.h — a small etcd v3 client over etcd's JSON gateway
 * (HTTP POST of JSON to /v3/kv/range, /v3/kv/txn and the /v3/lease calls), with
 * libcurl and json-c.
 *
 * Concepts:
 * - Endpoints: a client holds a list of base URLs ("http://10.0.0.1:2379")
 *   and sends each request to the current one; when that one cannot be
 *   reached (connect refused, timeout, HTTP 5xx without an etcd answer) it
 *   tries the next, and keeps the one that answered. A request fails with
 *   -EHOSTUNREACH only when none answered.
 * - Keys and values travel base64-encoded; 64-bit numbers travel as JSON
 *   strings (the gateway's proto3 mapping) and are accepted as numbers too.
 *   Fields equal to zero or false are absent from etcd's answers.
 * - Everything an endpoint sends is untrusted: a body that is not the
 *   expected JSON fails the call with -EPROTO and a message naming the
 *   endpoint and what was wrong; nothing a server sends can crash us.
 * - Errors: every call returns 0 or -errno and leaves a sentence in
 *   etcd_error() (the last error of this client): -EHOSTUNREACH (no
 *   endpoint answered), -EACCES (etcd asks for authentication or refused
 *   it), -EPROTO (malformed answer), -ENOENT (lease not found), -EINVAL
 *   (etcd refused the request), -ENOMEM.
 * - Threads: calls on one client are serialized by its own lock; any
 *   thread may call.
 *
 * The pure encoders and parsers are exported for the unit tests
 * (tests/unit/registry) and the fuzz-minded: they take a buffer and never
 * touch the network.
 */
#ifndef POOLVM_REGISTRY_ETCD_H
#define POOLVM_REGISTRY_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_MAX_ENDPOINTS 8
#define ETCD_MAX_BODY      (8u << 20)      /* answers larger than this are refused */

struct etcd_client;

struct etcd_kv {
	char *key;              /* NUL-terminated (keys are text here) */
	char *value;            /* NUL-terminated; value_len bytes before it */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_range_result {
	int64_t revision;       /* the store's revision the answer reflects */
	size_t n;
	struct etcd_kv *kvs;
};

enum etcd_cmp_target { ETCD_CMP_VERSION, ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_VALUE };
enum etcd_cmp_result { ETCD_CMP_EQUAL, ETCD_CMP_GREATER, ETCD_CMP_LESS, ETCD_CMP_NOT_EQUAL };

/* One compare of a transaction: over @key, or every key in
 * [@key, @range_end) when @range_end is not NULL. */
struct etcd_cmp {
	const char *key;
	const char *range_end;
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	int64_t number;         /* revision or version */
	const char *value;      /* ETCD_CMP_VALUE */
};

enum etcd_op_type { ETCD_OP_PUT, ETCD_OP_DELETE };

struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	const char *range_end;  /* DELETE of a range; NULL: one key */
	const char *value;      /* PUT */
	int64_t lease;          /* PUT: 0 = none */
};

/**
 * etcd_open() - a client for @endpoints: URLs separated by ',' or '+'
 * ("http://h:2379,http://h2:2379"; "h:2379" means http://h:2379).
 * Connects to nothing yet. Return: 0 and *@out; -EINVAL with a message
 * printed (bad endpoint list); -ENOMEM.
 */
int etcd_open(const char *endpoints, struct etcd_client **out);

/** etcd_close() - NULL is a no-op. */
void etcd_close(struct etcd_client *c);

/** etcd_error() - the last error's sentence ("" after a success). */
const char *etcd_error(struct etcd_client *c);

/** etcd_endpoints() - the endpoint list as given to etcd_open(). */
const char *etcd_endpoints(struct etcd_client *c);

/** etcd_set_timeout_ms() - per-request deadline (default 3000 ms). */
void etcd_set_timeout_ms(struct etcd_client *c, unsigned ms);

/** etcd_range() - keys in [@key, @range_end) (@range_end NULL: @key only).
 * Free @out with etcd_range_free(). */
int etcd_range(struct etcd_client *c, const char *key, const char *range_end,
	       struct etcd_range_result *out);

/** etcd_range_prefix() - every key starting with @prefix. */
int etcd_range_prefix(struct etcd_client *c, const char *prefix,
		      struct etcd_range_result *out);

void etcd_range_free(struct etcd_range_result *r);

/** etcd_put() - set @key to @value, attached to @lease (0: none). */
int etcd_put(struct etcd_client *c, const char *key, const char *value, int64_t lease);

/** etcd_delete() - delete @key, or [@key, @range_end). *@deleted may be NULL. */
int etcd_delete(struct etcd_client *c, const char *key, const char *range_end,
		int64_t *deleted);

/**
 * etcd_txn() - if every compare holds, apply @ops atomically; else nothing.
 * *@succeeded says which; *@revision (may be NULL) the store's revision
 * after it. Return 0 whichever branch ran; -errno when the transaction
 * could not be sent or answered.
 */
int etcd_txn(struct etcd_client *c, const struct etcd_cmp *cmps, size_t ncmp,
	     const struct etcd_op *ops, size_t nops, bool *succeeded, int64_t *revision);

/** etcd_lease_grant() - a lease of @ttl_s seconds; its id in *@id. */
int etcd_lease_grant(struct etcd_client *c, int64_t ttl_s, int64_t *id);

/** etcd_lease_keepalive() - renew @id once; its remaining TTL in *@ttl_s.
 * -ENOENT when the lease expired or never existed. */
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ttl_s);

/** etcd_lease_revoke() - revoke @id (deleting its keys). -ENOENT: unknown. */
int etcd_lease_revoke(struct etcd_client *c, int64_t id);

/* ---- pure helpers (no network; exported for the unit tests) ---- */

/** etcd_b64_encode() - base64 of @len bytes into a malloc'd string, or NULL. */
char *etcd_b64_encode(const void *data, size_t len);

/**
 * etcd_b64_decode() - decode @text (standard alphabet, '=' padding
 * required when the length is not a multiple of 4) into a malloc'd buffer
 * with a NUL after the @*len bytes. Return: 0, -EINVAL (not base64), -ENOMEM.
 */
int etcd_b64_decode(const char *text, char **out, size_t *len);

/** etcd_prefix_end() - the range end that selects every key starting with
 * @prefix (the prefix with its last byte incremented, 0xff bytes dropped),
 * malloc'd; NULL when @prefix is empty or all 0xff bytes, or on ENOMEM. */
char *etcd_prefix_end(const char *prefix);

/**
 * etcd_parse_range() - parse a /v3/kv/range answer (@body, @len bytes).
 * Return: 0 and *@out; -EPROTO with a reason in @why; -ENOMEM.
 */
int etcd_parse_range(const char *body, size_t len, struct etcd_range_result *out,
		     char *why, size_t whylen);

/**
 * etcd_parse_answer() - check an answer's shape: a JSON object, and not an
 * etcd error ({"error": ..., "code": N}). Return 0 and the parsed object
 * in *@obj (json_object_put() it); -EACCES for authentication errors,
 * -ENOENT for "lease not found", -EINVAL for other etcd errors, -EPROTO for
 * what is not JSON; the reason in @why.
 */
struct json_object;
int etcd_parse_answer(const char *body, size_t len, struct json_object **obj,
		      char *why, size_t whylen);

/** etcd_json_int64() - a field that must be an int64 (string or number) if
 * present: 0 and *@out (0 when absent); -EPROTO when it is something else. */
int etcd_json_int64(struct json_object *obj, const char *field, int64_t *out);

/** etcd_build_txn() - the JSON body of a transaction, malloc'd, or NULL. */
char *etcd_build_txn(const struct etcd_cmp *cmps, size_t ncmp,
		     const struct etcd_op *ops, size_t nops);

/* Members of the gateway's JSON requests: @text base64-encoded (0 or
 * -ENOMEM), and a 64-bit number as the decimal string the gateway wants. */
struct json_object;
int etcd_json_add_b64(struct json_object *o, const char *field, const char *text);
void etcd_json_add_i64(struct json_object *o, const char *field, int64_t v);

#endif
