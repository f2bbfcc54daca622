/* net/wire.c — encode and decode control messages, field by field.
 *
 * The decoder reads through a cursor that knows how many bytes remain and
 * refuses to move past them; each message body is parsed into the output,
 * then one validator per type checks the values. The encoder runs the same
 * validators before writing, so anything it produces decodes.
 */
#include "wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char wire_error[192];

static int __attribute__((format(printf, 2, 3)))
wire_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(wire_error, sizeof(wire_error), fmt, ap);
	va_end(ap);
	return err;
}

const char *pvm_wire_last_error(void)
{
	return wire_error[0] ? wire_error : "no error";
}

const char *pvm_wire_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -EBADMSG:
		return "malformed control message";
	case -EPROTO:
		return "control message of an unsupported version, type or flags";
	case -E2BIG:
		return "control message or one of its fields is too long";
	case -EINVAL:
		return "message fields out of range (not encodable)";
	case -ENOSPC:
		return "buffer too small for the message";
	default:
		return "unknown wire error";
	}
}

static const char *const type_names[] = {
	[PVM_WIRE_HELLO] = "HELLO",
	[PVM_WIRE_CHALLENGE] = "CHALLENGE",
	[PVM_WIRE_AUTH] = "AUTH",
	[PVM_WIRE_AUTH_OK] = "AUTH_OK",
	[PVM_WIRE_ERROR] = "ERROR",
	[PVM_WIRE_LEASE_REQUEST] = "LEASE_REQUEST",
	[PVM_WIRE_LEASE_GRANT] = "LEASE_GRANT",
	[PVM_WIRE_RELEASE] = "RELEASE",
	[PVM_WIRE_STATS_REQUEST] = "STATS_REQUEST",
	[PVM_WIRE_STATS] = "STATS",
	[PVM_WIRE_HEARTBEAT] = "HEARTBEAT",
	[PVM_WIRE_DRAIN] = "DRAIN",
	[PVM_WIRE_DRAIN_DONE] = "DRAIN_DONE",
};

const char *pvm_wire_type_name(unsigned int type)
{
	if (type == 0 || type > PVM_WIRE_TYPE_MAX)
		return "UNKNOWN";
	return type_names[type];
}

static const char *const status_names[] = {
	[PVM_WIRE_ST_OK] = "OK",
	[PVM_WIRE_ST_BAD_REQUEST] = "BAD_REQUEST",
	[PVM_WIRE_ST_VERSION] = "VERSION",
	[PVM_WIRE_ST_AUTH_FAILED] = "AUTH_FAILED",
	[PVM_WIRE_ST_NOT_AUTHED] = "NOT_AUTHED",
	[PVM_WIRE_ST_NO_SPACE] = "NO_SPACE",
	[PVM_WIRE_ST_NOT_FOUND] = "NOT_FOUND",
	[PVM_WIRE_ST_BUSY] = "BUSY",
	[PVM_WIRE_ST_DRAINING] = "DRAINING",
	[PVM_WIRE_ST_INTERNAL] = "INTERNAL",
};

const char *pvm_wire_status_name(unsigned int status)
{
	if (status > PVM_WIRE_ST_MAX)
		return "UNKNOWN";
	return status_names[status];
}

struct pvm_wire_msg *pvm_wire_init(struct pvm_wire_msg *msg, unsigned int type,
				   uint32_t seq)
{
	memset(msg, 0, sizeof(*msg));
	msg->type = (uint16_t)type;
	msg->seq = seq;
	return msg;
}

int pvm_wire_set_string(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (cap == 0)
		return -E2BIG;
	if (n >= cap) {
		dst[0] = '\0';
		return -E2BIG;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Value checks shared by the encoder and the decoder.                 */

static int check_text(const char *field, const char *s, size_t min, size_t max,
		      int too_long)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		return wire_fail(too_long, "%s is longer than %zu characters",
				 field, max);
	if (n < min)
		return wire_fail(-EBADMSG, "%s is empty", field);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e)
			return wire_fail(-EBADMSG,
					 "%s holds byte 0x%02x at %zu: only printable ASCII is allowed",
					 field, c, i);
	}
	return 0;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* @too_long: the code for "over a maximum" (-E2BIG decoding, -EINVAL encoding). */
static int check_body(const struct pvm_wire_msg *m, int too_long)
{
	int ret;

	switch (m->type) {
	case PVM_WIRE_HELLO: {
		const struct pvm_wire_hello *h = &m->u.hello;

		if (h->nversions == 0)
			return wire_fail(-EBADMSG, "HELLO lists no protocol version");
		if (h->nversions > PVM_WIRE_VERSIONS_MAX)
			return wire_fail(too_long, "HELLO lists %u versions, at most %u",
					 h->nversions, PVM_WIRE_VERSIONS_MAX);
		for (unsigned int i = 0; i < h->nversions; i++)
			if (h->versions[i] == 0)
				return wire_fail(-EBADMSG, "HELLO version %u is 0", i);
		if (h->addr_len > PVM_WIRE_ADDR_MAX)
			return wire_fail(too_long, "HELLO address is %u bytes, at most %u",
					 h->addr_len, PVM_WIRE_ADDR_MAX);
		return check_text("HELLO client_id", h->client_id, 1,
				  PVM_WIRE_ID_MAX, too_long);
	}
	case PVM_WIRE_CHALLENGE: {
		const struct pvm_wire_challenge *c = &m->u.challenge;

		if (c->version == 0)
			return wire_fail(-EBADMSG, "CHALLENGE selects version 0");
		ret = check_text("CHALLENGE pod_id", c->pod_id, 1,
				 PVM_WIRE_ID_MAX, too_long);
		if (ret)
			return ret;
		ret = check_text("CHALLENGE fabric", c->fabric, 1,
				 PVM_WIRE_FABRIC_MAX, too_long);
		if (ret)
			return ret;
		if (c->mem_free > c->mem_total)
			return wire_fail(-EBADMSG,
					 "CHALLENGE mem_free %llu exceeds mem_total %llu",
					 (unsigned long long)c->mem_free,
					 (unsigned long long)c->mem_total);
		if (!is_pow2(c->page_size) || c->page_size < 4096 ||
		    c->page_size > (1u << 30))
			return wire_fail(-EBADMSG,
					 "CHALLENGE page_size %u is not a power of two in [4096, 1 GiB]",
					 c->page_size);
		return 0;
	}
	case PVM_WIRE_AUTH:
	case PVM_WIRE_AUTH_OK:
	case PVM_WIRE_STATS_REQUEST:
	case PVM_WIRE_HEARTBEAT:
		return 0;
	case PVM_WIRE_ERROR:
		if (m->u.error.status == PVM_WIRE_ST_OK)
			return wire_fail(-EBADMSG, "ERROR carries status OK");
		return check_text("ERROR message", m->u.error.message, 0,
				  PVM_WIRE_MESSAGE_MAX, too_long);
	case PVM_WIRE_LEASE_REQUEST:
		if (m->u.lease_request.bytes == 0)
			return wire_fail(-EBADMSG, "LEASE_REQUEST for 0 bytes");
		return 0;
	case PVM_WIRE_LEASE_GRANT: {
		const struct pvm_wire_lease_grant *g = &m->u.lease_grant;

		if (g->lease_id == 0)
			return wire_fail(-EBADMSG, "LEASE_GRANT lease_id is 0");
		if (g->size == 0)
			return wire_fail(-EBADMSG, "LEASE_GRANT size is 0");
		if (g->remote_addr + (g->size - 1) < g->remote_addr)
			return wire_fail(-EBADMSG,
					 "LEASE_GRANT remote_addr + size wraps around");
		return 0;
	}
	case PVM_WIRE_RELEASE:
		if (m->u.release.lease_id == 0)
			return wire_fail(-EBADMSG, "RELEASE lease_id is 0");
		return 0;
	case PVM_WIRE_STATS: {
		const struct pvm_wire_stats *s = &m->u.stats;

		if (s->ncounters > PVM_WIRE_COUNTERS_MAX)
			return wire_fail(too_long, "STATS has %u counters, at most %u",
					 s->ncounters, PVM_WIRE_COUNTERS_MAX);
		for (unsigned int i = 0; i < s->ncounters; i++) {
			if (s->counters[i].id == 0)
				return wire_fail(-EBADMSG, "STATS counter %u has id 0", i);
			for (unsigned int j = 0; j < i; j++)
				if (s->counters[j].id == s->counters[i].id)
					return wire_fail(-EBADMSG,
							 "STATS counter id %u appears twice",
							 s->counters[i].id);
		}
		return 0;
	}
	case PVM_WIRE_DRAIN:
	case PVM_WIRE_DRAIN_DONE:
		return 0;
	default:
		return wire_fail(-EPROTO, "unknown message type %u", m->type);
	}
}

/* ------------------------------------------------------------------ */
/* Decoding.                                                           */

struct cursor {
	const uint8_t *p;
	size_t left;
	const char *what;       /* message type name, for errors */
};

static int short_body(const struct cursor *c, const char *field, size_t need)
{
	return wire_fail(-EBADMSG, "%s truncated: %s needs %zu bytes, %zu left",
			 c->what, field, need, c->left);
}

static int get_bytes(struct cursor *c, const char *field, void *dst, size_t n)
{
	if (c->left < n)
		return short_body(c, field, n);
	memcpy(dst, c->p, n);
	c->p += n;
	c->left -= n;
	return 0;
}

static int get_u16(struct cursor *c, const char *field, uint16_t *v)
{
	if (c->left < 2)
		return short_body(c, field, 2);
	*v = (uint16_t)(c->p[0] | (unsigned)c->p[1] << 8);
	c->p += 2;
	c->left -= 2;
	return 0;
}

static int get_u32(struct cursor *c, const char *field, uint32_t *v)
{
	if (c->left < 4)
		return short_body(c, field, 4);
	*v = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 |
	     (uint32_t)c->p[2] << 16 | (uint32_t)c->p[3] << 24;
	c->p += 4;
	c->left -= 4;
	return 0;
}

static int get_u64(struct cursor *c, const char *field, uint64_t *v)
{
	uint32_t lo = 0, hi = 0;

	if (c->left < 8)
		return short_body(c, field, 8);
	get_u32(c, field, &lo);
	get_u32(c, field, &hi);
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A string: u16 count including the NUL, then the bytes. @max excludes NUL. */
static int get_string(struct cursor *c, const char *field, char *dst, size_t max)
{
	uint16_t n = 0;
	int ret = get_u16(c, field, &n);

	if (ret)
		return ret;
	if (n == 0)
		return wire_fail(-EBADMSG, "%s %s has length 0: the count must include the NUL",
				 c->what, field);
	if ((size_t)n - 1 > max)
		return wire_fail(-E2BIG, "%s %s is %u bytes, at most %zu",
				 c->what, field, n - 1u, max);
	if (c->left < n)
		return short_body(c, field, n);
	if (c->p[n - 1] != '\0')
		return wire_fail(-EBADMSG, "%s %s is not NUL-terminated",
				 c->what, field);
	if (memchr(c->p, '\0', n - 1u))
		return wire_fail(-EBADMSG, "%s %s holds a NUL before its end",
				 c->what, field);
	memcpy(dst, c->p, n);
	c->p += n;
	c->left -= n;
	return 0;
}

#define TRY(expr) do { int ret_ = (expr); if (ret_) return ret_; } while (0)

static int decode_body(struct cursor *c, struct pvm_wire_msg *m)
{
	switch (m->type) {
	case PVM_WIRE_HELLO: {
		struct pvm_wire_hello *h = &m->u.hello;

		TRY(get_bytes(c, "nonce", h->nonce, sizeof(h->nonce)));
		TRY(get_u16(c, "nversions", &h->nversions));
		if (h->nversions > PVM_WIRE_VERSIONS_MAX)
			return wire_fail(-E2BIG, "HELLO lists %u versions, at most %u",
					 h->nversions, PVM_WIRE_VERSIONS_MAX);
		for (unsigned int i = 0; i < h->nversions; i++)
			TRY(get_u16(c, "versions", &h->versions[i]));
		TRY(get_string(c, "client_id", h->client_id, PVM_WIRE_ID_MAX));
		TRY(get_u16(c, "addr_len", &h->addr_len));
		if (h->addr_len > PVM_WIRE_ADDR_MAX)
			return wire_fail(-E2BIG, "HELLO address is %u bytes, at most %u",
					 h->addr_len, PVM_WIRE_ADDR_MAX);
		return get_bytes(c, "addr", h->addr, h->addr_len);
	}
	case PVM_WIRE_CHALLENGE: {
		struct pvm_wire_challenge *ch = &m->u.challenge;

		TRY(get_u16(c, "version", &ch->version));
		TRY(get_bytes(c, "nonce", ch->nonce, sizeof(ch->nonce)));
		TRY(get_string(c, "pod_id", ch->pod_id, PVM_WIRE_ID_MAX));
		TRY(get_string(c, "fabric", ch->fabric, PVM_WIRE_FABRIC_MAX));
		TRY(get_u64(c, "mem_total", &ch->mem_total));
		TRY(get_u64(c, "mem_free", &ch->mem_free));
		return get_u32(c, "page_size", &ch->page_size);
	}
	case PVM_WIRE_AUTH:
		return get_bytes(c, "mac", m->u.auth.mac, PVM_WIRE_MAC_LEN);
	case PVM_WIRE_AUTH_OK:
		return get_bytes(c, "mac", m->u.auth_ok.mac, PVM_WIRE_MAC_LEN);
	case PVM_WIRE_ERROR:
		TRY(get_u32(c, "status", &m->u.error.status));
		return get_string(c, "message", m->u.error.message,
				  PVM_WIRE_MESSAGE_MAX);
	case PVM_WIRE_LEASE_REQUEST:
		return get_u64(c, "bytes", &m->u.lease_request.bytes);
	case PVM_WIRE_LEASE_GRANT:
		TRY(get_u64(c, "lease_id", &m->u.lease_grant.lease_id));
		TRY(get_u64(c, "size", &m->u.lease_grant.size));
		TRY(get_u64(c, "remote_key", &m->u.lease_grant.remote_key));
		return get_u64(c, "remote_addr", &m->u.lease_grant.remote_addr);
	case PVM_WIRE_RELEASE:
		return get_u64(c, "lease_id", &m->u.release.lease_id);
	case PVM_WIRE_STATS_REQUEST:
		return 0;
	case PVM_WIRE_STATS: {
		struct pvm_wire_stats *s = &m->u.stats;

		TRY(get_u32(c, "ncounters", &s->ncounters));
		if (s->ncounters > PVM_WIRE_COUNTERS_MAX)
			return wire_fail(-E2BIG, "STATS has %u counters, at most %u",
					 s->ncounters, PVM_WIRE_COUNTERS_MAX);
		for (unsigned int i = 0; i < s->ncounters; i++) {
			TRY(get_u32(c, "counter id", &s->counters[i].id));
			TRY(get_u64(c, "counter value", &s->counters[i].value));
		}
		return 0;
	}
	case PVM_WIRE_HEARTBEAT:
		TRY(get_u64(c, "timestamp_ns", &m->u.heartbeat.timestamp_ns));
		return get_u64(c, "echo_ns", &m->u.heartbeat.echo_ns);
	case PVM_WIRE_DRAIN:
		TRY(get_u64(c, "lease_id", &m->u.drain.lease_id));
		return get_u32(c, "deadline_ms", &m->u.drain.deadline_ms);
	case PVM_WIRE_DRAIN_DONE:
		return get_u64(c, "lease_id", &m->u.drain_done.lease_id);
	default:
		return wire_fail(-EPROTO, "unknown message type %u", m->type);
	}
}

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

ssize_t pvm_wire_peek_length(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (len < PVM_WIRE_HDR_LEN)
		return wire_fail(-EBADMSG, "header truncated: %zu of %u bytes",
				 len, PVM_WIRE_HDR_LEN);
	if (le32_at(p) != PVM_WIRE_MAGIC)
		return wire_fail(-EBADMSG, "bad magic 0x%08x (want 'PVMW')",
				 le32_at(p));
	return (ssize_t)le32_at(p + 8);
}

int pvm_wire_decode(const void *buf, size_t len, struct pvm_wire_msg *out)
{
	struct cursor c = { .p = buf, .left = len, .what = "header" };
	uint32_t magic, length;
	uint16_t version, type;
	int ret;

	wire_error[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!buf && len)
		return wire_fail(-EBADMSG, "no buffer");
	if (len >= 4 && le32_at(buf) != PVM_WIRE_MAGIC)
		return wire_fail(-EBADMSG, "bad magic 0x%08x (want 'PVMW')",
				 le32_at(buf));
	if (len < PVM_WIRE_HDR_LEN)
		return wire_fail(-EBADMSG, "truncated: %zu bytes, a header is %u",
				 len, PVM_WIRE_HDR_LEN);
	if (len > PVM_WIRE_MAX_MSG)
		return wire_fail(-E2BIG, "message of %zu bytes exceeds %u",
				 len, PVM_WIRE_MAX_MSG);
	get_u32(&c, "magic", &magic);
	get_u16(&c, "version", &version);
	get_u16(&c, "type", &type);
	get_u32(&c, "length", &length);
	get_u32(&c, "seq", &out->seq);
	get_u32(&c, "flags", &out->flags);
	out->type = type;

	if (version != PVM_WIRE_VERSION)
		return wire_fail(-EPROTO, "protocol version %u not supported (this side speaks %u)",
				 version, PVM_WIRE_VERSION);
	if (length > PVM_WIRE_MAX_MSG)
		return wire_fail(-E2BIG, "header length %u exceeds %u",
				 length, PVM_WIRE_MAX_MSG);
	if (length < PVM_WIRE_HDR_LEN)
		return wire_fail(-EBADMSG, "header length %u is shorter than the header",
				 length);
	if (length > len)
		return wire_fail(-EBADMSG, "truncated: header says %u bytes, %zu received",
				 length, len);
	if (length < len)
		return wire_fail(-EBADMSG, "%zu trailing bytes after a %u-byte message",
				 len - length, length);
	if (type == 0 || type > PVM_WIRE_TYPE_MAX)
		return wire_fail(-EPROTO, "unknown message type %u", type);
	if (out->flags)
		return wire_fail(-EPROTO, "%s has reserved flags 0x%x set",
				 pvm_wire_type_name(type), out->flags);

	c.what = pvm_wire_type_name(type);
	ret = decode_body(&c, out);
	if (ret)
		return ret;
	if (c.left)
		return wire_fail(-EBADMSG, "%s has %zu trailing bytes in its body",
				 c.what, c.left);
	return check_body(out, -E2BIG);
}

/* ------------------------------------------------------------------ */
/* Encoding.                                                           */

struct writer {
	uint8_t *p;
	size_t cap;
	size_t len;
};

static void put_bytes(struct writer *w, const void *src, size_t n)
{
	if (w->len + n <= w->cap && n)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

static void put_u16(struct writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	put_bytes(w, b, sizeof(b));
}

static void put_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			 (uint8_t)(v >> 24) };

	put_bytes(w, b, sizeof(b));
}

static void put_u64(struct writer *w, uint64_t v)
{
	put_u32(w, (uint32_t)v);
	put_u32(w, (uint32_t)(v >> 32));
}

/* Callers have checked strlen(s) <= 65534 through check_body(). */
static void put_string(struct writer *w, const char *s)
{
	size_t n = strlen(s) + 1;

	put_u16(w, (uint16_t)n);
	put_bytes(w, s, n);
}

static void encode_body(struct writer *w, const struct pvm_wire_msg *m)
{
	switch (m->type) {
	case PVM_WIRE_HELLO:
		put_bytes(w, m->u.hello.nonce, PVM_WIRE_NONCE_LEN);
		put_u16(w, m->u.hello.nversions);
		for (unsigned int i = 0; i < m->u.hello.nversions; i++)
			put_u16(w, m->u.hello.versions[i]);
		put_string(w, m->u.hello.client_id);
		put_u16(w, m->u.hello.addr_len);
		put_bytes(w, m->u.hello.addr, m->u.hello.addr_len);
		break;
	case PVM_WIRE_CHALLENGE:
		put_u16(w, m->u.challenge.version);
		put_bytes(w, m->u.challenge.nonce, PVM_WIRE_NONCE_LEN);
		put_string(w, m->u.challenge.pod_id);
		put_string(w, m->u.challenge.fabric);
		put_u64(w, m->u.challenge.mem_total);
		put_u64(w, m->u.challenge.mem_free);
		put_u32(w, m->u.challenge.page_size);
		break;
	case PVM_WIRE_AUTH:
		put_bytes(w, m->u.auth.mac, PVM_WIRE_MAC_LEN);
		break;
	case PVM_WIRE_AUTH_OK:
		put_bytes(w, m->u.auth_ok.mac, PVM_WIRE_MAC_LEN);
		break;
	case PVM_WIRE_ERROR:
		put_u32(w, m->u.error.status);
		put_string(w, m->u.error.message);
		break;
	case PVM_WIRE_LEASE_REQUEST:
		put_u64(w, m->u.lease_request.bytes);
		break;
	case PVM_WIRE_LEASE_GRANT:
		put_u64(w, m->u.lease_grant.lease_id);
		put_u64(w, m->u.lease_grant.size);
		put_u64(w, m->u.lease_grant.remote_key);
		put_u64(w, m->u.lease_grant.remote_addr);
		break;
	case PVM_WIRE_RELEASE:
		put_u64(w, m->u.release.lease_id);
		break;
	case PVM_WIRE_STATS_REQUEST:
		break;
	case PVM_WIRE_STATS:
		put_u32(w, m->u.stats.ncounters);
		for (unsigned int i = 0; i < m->u.stats.ncounters; i++) {
			put_u32(w, m->u.stats.counters[i].id);
			put_u64(w, m->u.stats.counters[i].value);
		}
		break;
	case PVM_WIRE_HEARTBEAT:
		put_u64(w, m->u.heartbeat.timestamp_ns);
		put_u64(w, m->u.heartbeat.echo_ns);
		break;
	case PVM_WIRE_DRAIN:
		put_u64(w, m->u.drain.lease_id);
		put_u32(w, m->u.drain.deadline_ms);
		break;
	case PVM_WIRE_DRAIN_DONE:
		put_u64(w, m->u.drain_done.lease_id);
		break;
	}
}

ssize_t pvm_wire_encode(const struct pvm_wire_msg *msg, void *buf, size_t cap)
{
	struct writer w = { .p = buf, .cap = buf ? cap : 0 };
	int ret;

	wire_error[0] = '\0';
	if (msg->type == 0 || msg->type > PVM_WIRE_TYPE_MAX)
		return wire_fail(-EINVAL, "cannot encode unknown type %u", msg->type);
	if (msg->flags)
		return wire_fail(-EINVAL, "flags 0x%x are reserved in version %u",
				 msg->flags, PVM_WIRE_VERSION);
	/* Same rules as the decoder; every violation is -EINVAL here. */
	ret = check_body(msg, -EINVAL);
	if (ret)
		return -EINVAL;

	put_u32(&w, PVM_WIRE_MAGIC);
	put_u16(&w, PVM_WIRE_VERSION);
	put_u16(&w, msg->type);
	put_u32(&w, 0);                 /* length, patched below */
	put_u32(&w, msg->seq);
	put_u32(&w, msg->flags);
	encode_body(&w, msg);

	/* Bodies are bounded far below 64 KiB by the per-field maxima. */
	if (w.len > PVM_WIRE_MAX_MSG)
		return wire_fail(-EINVAL, "%s would be %zu bytes", pvm_wire_type_name(msg->type),
				 w.len);
	if (w.len > w.cap)
		return wire_fail(-ENOSPC, "%s needs %zu bytes, buffer has %zu",
				 pvm_wire_type_name(msg->type), w.len, cap);
	w.p[8] = (uint8_t)w.len;
	w.p[9] = (uint8_t)(w.len >> 8);
	w.p[10] = (uint8_t)(w.len >> 16);
	w.p[11] = (uint8_t)(w.len >> 24);
	return (ssize_t)w.len;
}
