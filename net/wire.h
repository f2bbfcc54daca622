/* net/wire.h — the control protocol between a VMM ("client") and a memory pod.
 *
 * Concepts: every message is a 20-byte header followed by a type-specific
 * body, all fields little-endian, encoded and decoded field by field (never
 * by copying structs). The header says how long the whole message is; a
 * message is never longer than PVM_WIRE_MAX_MSG (64 KiB). Strings travel as
 * a u16 byte count that includes one terminating NUL, then the bytes; they
 * hold printable ASCII only. A decoded message is self-contained: strings
 * are copied into fixed arrays of struct pvm_wire_msg, nothing points into
 * the receive buffer.
 *
 * The bytes come from peers we do not trust: pvm_wire_decode() checks every
 * length and every field, never reads outside [buf, buf + len), and says
 * what was wrong through pvm_wire_last_error(). docs/wire-format.md is the
 * normative description; this header and that document change together.
 *
 * Requests and replies: a reply carries the seq of the request it answers.
 * Any request may be answered with ERROR instead of its normal reply.
 */
#ifndef POOLVM_NET_WIRE_H
#define POOLVM_NET_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 'P' 'V' 'M' 'W' as bytes on the wire, i.e. this value read little-endian. */
#define PVM_WIRE_MAGIC          0x574d5650u
#define PVM_WIRE_VERSION        1u
#define PVM_WIRE_HDR_LEN        20u
#define PVM_WIRE_MAX_MSG        65536u

#define PVM_WIRE_NONCE_LEN      32u
#define PVM_WIRE_MAC_LEN        32u
#define PVM_WIRE_ID_MAX         64u     /* client id, pod id: chars, no NUL */
#define PVM_WIRE_FABRIC_MAX     32u     /* "tcp;ofi_rxm", "verbs;ofi_rxm", "shm" */
#define PVM_WIRE_MESSAGE_MAX    255u    /* ERROR text */
#define PVM_WIRE_ADDR_MAX       128u    /* raw libfabric endpoint name */
#define PVM_WIRE_VERSIONS_MAX   8u      /* versions listed in HELLO */
#define PVM_WIRE_COUNTERS_MAX   64u     /* counters in one STATS */

enum pvm_wire_type {
	PVM_WIRE_HELLO          = 1,    /* client -> pod */
	PVM_WIRE_CHALLENGE      = 2,    /* pod -> client, answers HELLO */
	PVM_WIRE_AUTH           = 3,    /* client -> pod, answers CHALLENGE */
	PVM_WIRE_AUTH_OK        = 4,    /* pod -> client, answers AUTH */
	PVM_WIRE_ERROR          = 5,    /* either way, answers any request */
	PVM_WIRE_LEASE_REQUEST  = 6,    /* client -> pod */
	PVM_WIRE_LEASE_GRANT    = 7,    /* pod -> client, answers LEASE_REQUEST */
	PVM_WIRE_RELEASE        = 8,    /* client -> pod, no reply */
	PVM_WIRE_STATS_REQUEST  = 9,    /* client -> pod */
	PVM_WIRE_STATS          = 10,   /* pod -> client, answers STATS_REQUEST */
	PVM_WIRE_HEARTBEAT      = 11,   /* either way; the peer echoes it */
	PVM_WIRE_DRAIN          = 12,   /* pod -> client: move your pages away */
	PVM_WIRE_DRAIN_DONE     = 13,   /* client -> pod, answers DRAIN */
	PVM_WIRE_TYPE_MAX       = 13,
};

/* Status codes carried by ERROR. Values are part of the protocol. */
enum pvm_wire_status {
	PVM_WIRE_ST_OK            = 0,
	PVM_WIRE_ST_BAD_REQUEST   = 1,  /* malformed or unexpected message */
	PVM_WIRE_ST_VERSION       = 2,  /* no protocol version in common */
	PVM_WIRE_ST_AUTH_FAILED   = 3,  /* wrong MAC, unknown client */
	PVM_WIRE_ST_NOT_AUTHED    = 4,  /* request before AUTH_OK */
	PVM_WIRE_ST_NO_SPACE      = 5,  /* lease larger than free memory */
	PVM_WIRE_ST_NOT_FOUND     = 6,  /* unknown lease id */
	PVM_WIRE_ST_BUSY          = 7,  /* try again later */
	PVM_WIRE_ST_DRAINING      = 8,  /* pod is draining, no new leases */
	PVM_WIRE_ST_INTERNAL      = 9,  /* pod-side failure */
	PVM_WIRE_ST_MAX           = 9,
};

/* Counter ids carried by STATS. Unknown ids are legal (newer pods). */
enum pvm_wire_counter {
	PVM_WIRE_CTR_MEM_TOTAL      = 1,   /* bytes the pod can lease */
	PVM_WIRE_CTR_MEM_FREE       = 2,   /* bytes not leased */
	PVM_WIRE_CTR_LEASES         = 3,   /* leases held by this client */
	PVM_WIRE_CTR_LEASED_BYTES   = 4,   /* bytes leased to this client */
	PVM_WIRE_CTR_CLIENTS        = 5,   /* authenticated clients */
	PVM_WIRE_CTR_UPTIME_MS      = 6,
	PVM_WIRE_CTR_MSGS_RX        = 7,   /* control messages received */
	PVM_WIRE_CTR_MSGS_BAD       = 8,   /* control messages rejected */
};

struct pvm_wire_hello {
	uint8_t nonce[PVM_WIRE_NONCE_LEN];      /* client nonce, fresh per HELLO */
	uint16_t nversions;                     /* 1..PVM_WIRE_VERSIONS_MAX */
	uint16_t versions[PVM_WIRE_VERSIONS_MAX];
	char client_id[PVM_WIRE_ID_MAX + 1];    /* 1..64 printable chars */
	uint16_t addr_len;                      /* 0..PVM_WIRE_ADDR_MAX */
	uint8_t addr[PVM_WIRE_ADDR_MAX];        /* client's fabric name, opaque */
};

struct pvm_wire_challenge {
	uint16_t version;                       /* selected protocol version */
	uint8_t nonce[PVM_WIRE_NONCE_LEN];      /* pod nonce, fresh per HELLO */
	char pod_id[PVM_WIRE_ID_MAX + 1];
	char fabric[PVM_WIRE_FABRIC_MAX + 1];   /* libfabric provider in use */
	uint64_t mem_total;                     /* bytes */
	uint64_t mem_free;                      /* bytes */
	uint32_t page_size;                     /* power of two, >= 4096 */
};

struct pvm_wire_auth {
	uint8_t mac[PVM_WIRE_MAC_LEN];          /* see net/auth.h */
};

struct pvm_wire_auth_ok {
	uint8_t mac[PVM_WIRE_MAC_LEN];          /* pod's proof, see net/auth.h */
};

struct pvm_wire_error {
	uint32_t status;                        /* enum pvm_wire_status */
	char message[PVM_WIRE_MESSAGE_MAX + 1]; /* 0..255 printable chars */
};

struct pvm_wire_lease_request {
	uint64_t bytes;                         /* > 0, multiple of page size */
};

struct pvm_wire_lease_grant {
	uint64_t lease_id;                      /* != 0 */
	uint64_t size;                          /* bytes granted */
	uint64_t remote_key;                    /* RMA key of the region */
	uint64_t remote_addr;                   /* RMA address of byte 0 */
};

struct pvm_wire_release {
	uint64_t lease_id;
};

struct pvm_wire_counter_value {
	uint32_t id;                            /* enum pvm_wire_counter */
	uint64_t value;
};

struct pvm_wire_stats {
	uint32_t ncounters;                     /* 0..PVM_WIRE_COUNTERS_MAX */
	struct pvm_wire_counter_value counters[PVM_WIRE_COUNTERS_MAX];
};

struct pvm_wire_heartbeat {
	uint64_t timestamp_ns;                  /* sender's monotonic clock */
	uint64_t echo_ns;                       /* 0, or the timestamp echoed */
};

struct pvm_wire_drain {
	uint64_t lease_id;                      /* 0: every lease of the client */
	uint32_t deadline_ms;                   /* from receipt */
};

struct pvm_wire_drain_done {
	uint64_t lease_id;                      /* as in the DRAIN answered */
};

/* One decoded (or to-be-encoded) message. STATS_REQUEST has no body. */
struct pvm_wire_msg {
	uint16_t type;                          /* enum pvm_wire_type */
	uint32_t seq;                           /* reply: seq of the request */
	uint32_t flags;                         /* must be 0 in version 1 */
	union {
		struct pvm_wire_hello hello;
		struct pvm_wire_challenge challenge;
		struct pvm_wire_auth auth;
		struct pvm_wire_auth_ok auth_ok;
		struct pvm_wire_error error;
		struct pvm_wire_lease_request lease_request;
		struct pvm_wire_lease_grant lease_grant;
		struct pvm_wire_release release;
		struct pvm_wire_stats stats;
		struct pvm_wire_heartbeat heartbeat;
		struct pvm_wire_drain drain;
		struct pvm_wire_drain_done drain_done;
	} u;
};

/**
 * pvm_wire_decode() - parse and validate one message.
 * @buf: the received bytes (untrusted).
 * @len: how many; must be exactly the message, no more, no less.
 * @out: the decoded message; unspecified on failure.
 *
 * Return: 0, or
 *  -EBADMSG  malformed: bad magic, truncated, header length differs from
 *            @len, trailing bytes, a string without its NUL or with bytes
 *            that are not printable ASCII, a field out of its range;
 *  -EPROTO   well formed but not this protocol: unsupported version,
 *            unknown type, reserved flags set;
 *  -E2BIG    @len or the header length over PVM_WIRE_MAX_MSG, or a string,
 *            list or address longer than its maximum.
 * On failure pvm_wire_last_error() says which field and why. Never reads
 * outside @buf. Any thread (the error text is per thread).
 */
int pvm_wire_decode(const void *buf, size_t len, struct pvm_wire_msg *out);

/**
 * pvm_wire_encode() - encode @msg into @buf.
 * @msg: a message whose fields respect the limits documented above.
 * @buf: destination, @cap bytes.
 *
 * Return: the message length in bytes (header included), -EINVAL when @msg
 * breaks a rule the decoder enforces (the same checks, so anything encoded
 * decodes), -ENOSPC when @cap is too small. Any thread.
 */
ssize_t pvm_wire_encode(const struct pvm_wire_msg *msg, void *buf, size_t cap);

/**
 * pvm_wire_peek_length() - the message length announced by a header.
 * @buf: at least PVM_WIRE_HDR_LEN bytes.
 *
 * For stream framing. Return: the length field (unchecked beyond magic),
 * or -EBADMSG when @len is short or the magic is wrong.
 */
ssize_t pvm_wire_peek_length(const void *buf, size_t len);

/** pvm_wire_last_error() - why the last decode/encode on this thread failed. */
const char *pvm_wire_last_error(void);

/** pvm_wire_strerror() - text for a pvm_wire_decode() return code. */
const char *pvm_wire_strerror(int err);

/** pvm_wire_type_name() - "HELLO", "LEASE_GRANT"...; "UNKNOWN" otherwise. */
const char *pvm_wire_type_name(unsigned int type);

/** pvm_wire_status_name() - "AUTH_FAILED"...; "UNKNOWN" otherwise. */
const char *pvm_wire_status_name(unsigned int status);

/**
 * pvm_wire_init() - fill the header fields of @msg for @type and @seq and
 * zero the body. Returns @msg.
 */
struct pvm_wire_msg *pvm_wire_init(struct pvm_wire_msg *msg, unsigned int type,
				   uint32_t seq);

/**
 * pvm_wire_set_string() - copy @src into a fixed string field of @cap bytes
 * (the array size, NUL included). Return: 0, or -E2BIG when it does not fit
 * (the field is then left empty).
 */
int pvm_wire_set_string(char *dst, size_t cap, const char *src);

#endif
