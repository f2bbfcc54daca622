/* tests/unit/net/test_wire.c — the control protocol codec and the
 * shared-secret helpers. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "wire.h"

/* ------------------------------------------------------------------ */
/* One valid message of every type.                                     */

static void fill_sample(struct pvm_wire_msg *m, unsigned int type)
{
	pvm_wire_init(m, type, 0x01020304u + type);
	switch (type) {
	case PVM_WIRE_HELLO:
		for (unsigned int i = 0; i < PVM_WIRE_NONCE_LEN; i++)
			m->u.hello.nonce[i] = (uint8_t)(i * 7);
		m->u.hello.nversions = 2;
		m->u.hello.versions[0] = 1;
		m->u.hello.versions[1] = 2;
		strcpy(m->u.hello.client_id, "vmm-host-a/vm-42");
		m->u.hello.addr_len = 16;
		for (unsigned int i = 0; i < 16; i++)
			m->u.hello.addr[i] = (uint8_t)(0xa0 + i);
		break;
	case PVM_WIRE_CHALLENGE:
		m->u.challenge.version = 1;
		memset(m->u.challenge.nonce, 0x33, PVM_WIRE_NONCE_LEN);
		strcpy(m->u.challenge.pod_id, "pod-7");
		strcpy(m->u.challenge.fabric, "tcp;ofi_rxm");
		m->u.challenge.mem_total = 64ull << 30;
		m->u.challenge.mem_free = 48ull << 30;
		m->u.challenge.page_size = 4096;
		break;
	case PVM_WIRE_AUTH:
		memset(m->u.auth.mac, 0xab, PVM_WIRE_MAC_LEN);
		break;
	case PVM_WIRE_AUTH_OK:
		memset(m->u.auth_ok.mac, 0xcd, PVM_WIRE_MAC_LEN);
		break;
	case PVM_WIRE_ERROR:
		m->u.error.status = PVM_WIRE_ST_NO_SPACE;
		strcpy(m->u.error.message, "only 2 GiB free");
		break;
	case PVM_WIRE_LEASE_REQUEST:
		m->u.lease_request.bytes = 1ull << 30;
		break;
	case PVM_WIRE_LEASE_GRANT:
		m->u.lease_grant.lease_id = 9;
		m->u.lease_grant.size = 1ull << 30;
		m->u.lease_grant.remote_key = 0x1234567890abcdefull;
		m->u.lease_grant.remote_addr = 0x7f0000000000ull;
		break;
	case PVM_WIRE_RELEASE:
		m->u.release.lease_id = 9;
		break;
	case PVM_WIRE_STATS_REQUEST:
		break;
	case PVM_WIRE_STATS:
		m->u.stats.ncounters = 3;
		m->u.stats.counters[0] = (struct pvm_wire_counter_value){ PVM_WIRE_CTR_MEM_TOTAL, 1ull << 36 };
		m->u.stats.counters[1] = (struct pvm_wire_counter_value){ PVM_WIRE_CTR_MEM_FREE, 1ull << 35 };
		m->u.stats.counters[2] = (struct pvm_wire_counter_value){ 999, UINT64_MAX };
		break;
	case PVM_WIRE_HEARTBEAT:
		m->u.heartbeat.timestamp_ns = 123456789012345ull;
		m->u.heartbeat.echo_ns = 42;
		break;
	case PVM_WIRE_DRAIN:
		m->u.drain.lease_id = 0;
		m->u.drain.deadline_ms = 30000;
		break;
	case PVM_WIRE_DRAIN_DONE:
		m->u.drain_done.lease_id = 0;
		break;
	}
}

static size_t encode_sample(unsigned int type, uint8_t *buf, size_t cap)
{
	struct pvm_wire_msg m;
	ssize_t n;

	fill_sample(&m, type);
	n = pvm_wire_encode(&m, buf, cap);
	assert_true(n >= (ssize_t)PVM_WIRE_HDR_LEN);
	return (size_t)n;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Decode @buf and check the code and that the error text names @needle. */
static void expect_error(const uint8_t *buf, size_t len, int code,
			 const char *needle)
{
	struct pvm_wire_msg out;
	int ret = pvm_wire_decode(buf, len, &out);

	if (ret != code || !strstr(pvm_wire_last_error(), needle))
		print_error("decode gave %d (%s), want %d mentioning '%s'\n", ret,
			    pvm_wire_last_error(), code, needle);
	assert_int_equal(ret, code);
	assert_non_null(strstr(pvm_wire_last_error(), needle));
	assert_non_null(pvm_wire_strerror(ret));
}

/* ------------------------------------------------------------------ */

static void every_type_round_trips(void **state)
{
	(void)state;
	for (unsigned int t = 1; t <= PVM_WIRE_TYPE_MAX; t++) {
		struct pvm_wire_msg in, out;
		uint8_t buf[PVM_WIRE_MAX_MSG];
		uint8_t again[PVM_WIRE_MAX_MSG];
		ssize_t n, n2;

		fill_sample(&in, t);
		n = pvm_wire_encode(&in, buf, sizeof(buf));
		assert_true(n >= (ssize_t)PVM_WIRE_HDR_LEN);
		assert_int_equal(pvm_wire_decode(buf, (size_t)n, &out), 0);
		assert_int_equal(out.type, t);
		assert_int_equal(out.seq, in.seq);
		assert_int_equal(out.flags, 0);
		/* The decoded message encodes to the same bytes. */
		n2 = pvm_wire_encode(&out, again, sizeof(again));
		assert_int_equal(n2, n);
		assert_memory_equal(buf, again, (size_t)n);
		assert_string_not_equal(pvm_wire_type_name(t), "UNKNOWN");
	}
}

static void header_is_little_endian_pvmw(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_RELEASE, buf, sizeof(buf));
	assert_memory_equal(buf, "PVMW", 4);
	assert_int_equal(buf[4], 1);                    /* version */
	assert_int_equal(buf[5], 0);
	assert_int_equal(buf[6], PVM_WIRE_RELEASE);     /* type */
	assert_int_equal(buf[8], n);                    /* length */
	assert_int_equal(buf[12], 0x04 + PVM_WIRE_RELEASE); /* seq low byte */
	assert_int_equal(n, PVM_WIRE_HDR_LEN + 8);
	assert_int_equal(buf[20], 9);                   /* lease id */
	assert_int_equal(pvm_wire_peek_length(buf, n), (ssize_t)n);
}

static void hello_fields_survive(void **state)
{
	struct pvm_wire_msg in, out;
	uint8_t buf[1024];
	ssize_t n;

	(void)state;
	fill_sample(&in, PVM_WIRE_HELLO);
	n = pvm_wire_encode(&in, buf, sizeof(buf));
	assert_int_equal(pvm_wire_decode(buf, (size_t)n, &out), 0);
	assert_memory_equal(out.u.hello.nonce, in.u.hello.nonce, PVM_WIRE_NONCE_LEN);
	assert_int_equal(out.u.hello.nversions, 2);
	assert_int_equal(out.u.hello.versions[1], 2);
	assert_string_equal(out.u.hello.client_id, "vmm-host-a/vm-42");
	assert_int_equal(out.u.hello.addr_len, 16);
	assert_memory_equal(out.u.hello.addr, in.u.hello.addr, 16);
}

static void empty_and_tiny_buffers_are_truncated(void **state)
{
	uint8_t buf[64] = { 'P', 'V', 'M', 'W' };

	(void)state;
	expect_error(NULL, 0, -EBADMSG, "truncated");
	expect_error(buf, 3, -EBADMSG, "truncated");
	expect_error(buf, PVM_WIRE_HDR_LEN - 1, -EBADMSG, "truncated");
}

static void bad_magic_is_refused(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HEARTBEAT, buf, sizeof(buf));
	buf[0] = 'X';
	expect_error(buf, n, -EBADMSG, "magic");
}

static void other_version_is_a_protocol_error(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HEARTBEAT, buf, sizeof(buf));
	buf[4] = 2;
	expect_error(buf, n, -EPROTO, "version 2");
}

static void unknown_type_is_a_protocol_error(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HEARTBEAT, buf, sizeof(buf));
	buf[6] = 0;
	expect_error(buf, n, -EPROTO, "type 0");
	buf[6] = PVM_WIRE_TYPE_MAX + 1;
	expect_error(buf, n, -EPROTO, "unknown message type");
	buf[6] = 0xff;
	buf[7] = 0xff;
	expect_error(buf, n, -EPROTO, "65535");
}

static void reserved_flags_are_refused(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HEARTBEAT, buf, sizeof(buf));
	buf[16] = 1;
	expect_error(buf, n, -EPROTO, "flags");
}

static void length_field_must_match_buffer(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_LEASE_GRANT, buf, sizeof(buf));
	/* Buffer shorter than the header says. */
	expect_error(buf, n - 1, -EBADMSG, "truncated");
	/* Buffer longer: trailing bytes. */
	expect_error(buf, n + 5, -EBADMSG, "trailing");
	/* Header length shorter than a header. */
	put32(buf + 8, 7);
	expect_error(buf, n, -EBADMSG, "shorter than the header");
	/* Header length over the maximum. */
	put32(buf + 8, PVM_WIRE_MAX_MSG + 1);
	expect_error(buf, n, -E2BIG, "exceeds");
}

static void oversize_buffer_is_too_big(void **state)
{
	uint8_t *buf = calloc(1, PVM_WIRE_MAX_MSG + 16);
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_STATS_REQUEST, buf, PVM_WIRE_MAX_MSG + 16);
	(void)n;
	expect_error(buf, PVM_WIRE_MAX_MSG + 1, -E2BIG, "exceeds");
	free(buf);
}

static void every_truncation_is_refused(void **state)
{
	(void)state;
	/* Cut every message at every length, fixing up the header length so
	 * that the body itself is short: each must fail cleanly. */
	for (unsigned int t = 1; t <= PVM_WIRE_TYPE_MAX; t++) {
		uint8_t buf[2048];
		size_t n = encode_sample(t, buf, sizeof(buf));

		for (size_t cut = PVM_WIRE_HDR_LEN; cut < n; cut++) {
			uint8_t *copy = malloc(cut);   /* exact size: ASan sees overreads */
			struct pvm_wire_msg out;
			int ret;

			memcpy(copy, buf, cut);
			put32(copy + 8, (uint32_t)cut);
			ret = pvm_wire_decode(copy, cut, &out);
			assert_true(ret == -EBADMSG);
			free(copy);
		}
	}
}

static void body_trailing_bytes_are_refused(void **state)
{
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_RELEASE, buf, sizeof(buf));
	buf[n] = 0;
	put32(buf + 8, (uint32_t)n + 1);
	expect_error(buf, n + 1, -EBADMSG, "trailing bytes in its body");
}

/* HELLO layout: hdr 20 | nonce 32 | nversions 2 | versions 2*n | id len 2 | id ... */
#define HELLO_NVERS_OFF (PVM_WIRE_HDR_LEN + PVM_WIRE_NONCE_LEN)
#define HELLO_IDLEN_OFF (HELLO_NVERS_OFF + 2 + 2 * 2)

static void hello_id_without_nul_is_refused(void **state)
{
	uint8_t buf[1024];
	size_t n;
	size_t idlen;

	(void)state;
	n = encode_sample(PVM_WIRE_HELLO, buf, sizeof(buf));
	idlen = buf[HELLO_IDLEN_OFF];
	assert_int_equal(idlen, strlen("vmm-host-a/vm-42") + 1);
	buf[HELLO_IDLEN_OFF + 2 + idlen - 1] = 'X';     /* overwrite the NUL */
	expect_error(buf, n, -EBADMSG, "not NUL-terminated");
}

static void hello_id_with_inner_nul_is_refused(void **state)
{
	uint8_t buf[1024];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HELLO, buf, sizeof(buf));
	buf[HELLO_IDLEN_OFF + 2 + 3] = '\0';
	expect_error(buf, n, -EBADMSG, "NUL before its end");
}

static void hello_id_with_control_bytes_is_refused(void **state)
{
	uint8_t buf[1024];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HELLO, buf, sizeof(buf));
	buf[HELLO_IDLEN_OFF + 2 + 3] = '\n';
	expect_error(buf, n, -EBADMSG, "printable");
}

static void hello_empty_id_is_refused(void **state)
{
	struct pvm_wire_msg m;
	uint8_t buf[1024];

	(void)state;
	fill_sample(&m, PVM_WIRE_HELLO);
	m.u.hello.client_id[0] = '\0';
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	assert_non_null(strstr(pvm_wire_last_error(), "empty"));
}

static void hello_zero_string_length_is_refused(void **state)
{
	uint8_t buf[1024];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HELLO, buf, sizeof(buf));
	buf[HELLO_IDLEN_OFF] = 0;
	buf[HELLO_IDLEN_OFF + 1] = 0;
	expect_error(buf, n, -EBADMSG, "length 0");
}

static void oversize_id_is_too_big(void **state)
{
	struct pvm_wire_msg m;
	uint8_t buf[1024];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HELLO, buf, sizeof(buf));
	/* Claim a 200-byte id: over the maximum before any bounds issue. */
	buf[HELLO_IDLEN_OFF] = 200;
	expect_error(buf, n, -E2BIG, "client_id");

	/* The encoder refuses an id of 65 characters. */
	fill_sample(&m, PVM_WIRE_HELLO);
	memset(m.u.hello.client_id, 'a', PVM_WIRE_ID_MAX);
	m.u.hello.client_id[PVM_WIRE_ID_MAX] = '\0';
	assert_true(pvm_wire_encode(&m, buf, sizeof(buf)) > 0);  /* 64: fine */
	assert_int_equal(pvm_wire_set_string(m.u.hello.client_id,
					     sizeof(m.u.hello.client_id),
					     "0123456789012345678901234567890123456789012345678901234567890123456789"),
			 -E2BIG);
}

static void hello_version_list_is_bounded(void **state)
{
	uint8_t buf[1024];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_HELLO, buf, sizeof(buf));
	buf[HELLO_NVERS_OFF] = 200;
	expect_error(buf, n, -E2BIG, "versions");
	buf[HELLO_NVERS_OFF] = 0;
	/* 0 versions: the id length is then read from the version slots. */
	assert_int_not_equal(pvm_wire_decode(buf, n, &(struct pvm_wire_msg){ 0 }), 0);
}

static void hello_address_is_bounded(void **state)
{
	struct pvm_wire_msg m;
	uint8_t buf[1024];
	ssize_t n;
	size_t off;

	(void)state;
	fill_sample(&m, PVM_WIRE_HELLO);
	n = pvm_wire_encode(&m, buf, sizeof(buf));
	off = (size_t)n - 16 - 2;               /* addr_len field */
	assert_int_equal(buf[off], 16);
	buf[off] = 0xff;
	buf[off + 1] = 0x00;
	expect_error(buf, (size_t)n, -E2BIG, "address");
	buf[off] = 17;                          /* one more than present */
	expect_error(buf, (size_t)n, -EBADMSG, "truncated");
}

static void challenge_values_are_checked(void **state)
{
	struct pvm_wire_msg m;
	uint8_t buf[1024];

	(void)state;
	fill_sample(&m, PVM_WIRE_CHALLENGE);
	m.u.challenge.page_size = 3000;
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	assert_non_null(strstr(pvm_wire_last_error(), "page_size"));
	fill_sample(&m, PVM_WIRE_CHALLENGE);
	m.u.challenge.mem_free = m.u.challenge.mem_total + 1;
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	fill_sample(&m, PVM_WIRE_CHALLENGE);
	memset(m.u.challenge.fabric, 'f', PVM_WIRE_FABRIC_MAX + 1);
	m.u.challenge.fabric[PVM_WIRE_FABRIC_MAX] = '\0';
	assert_true(pvm_wire_encode(&m, buf, sizeof(buf)) > 0);
}

static void challenge_bad_page_size_on_the_wire_is_refused(void **state)
{
	uint8_t buf[1024];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_CHALLENGE, buf, sizeof(buf));
	put32(buf + n - 4, 4097);
	expect_error(buf, n, -EBADMSG, "page_size");
}

static void grant_and_release_need_lease_ids(void **state)
{
	struct pvm_wire_msg m;
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_LEASE_GRANT, buf, sizeof(buf));
	memset(buf + PVM_WIRE_HDR_LEN, 0, 8);
	expect_error(buf, n, -EBADMSG, "lease_id is 0");
	n = encode_sample(PVM_WIRE_RELEASE, buf, sizeof(buf));
	memset(buf + PVM_WIRE_HDR_LEN, 0, 8);
	expect_error(buf, n, -EBADMSG, "lease_id is 0");
	fill_sample(&m, PVM_WIRE_LEASE_GRANT);
	m.u.lease_grant.remote_addr = UINT64_MAX - 10;
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	fill_sample(&m, PVM_WIRE_LEASE_REQUEST);
	m.u.lease_request.bytes = 0;
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void stats_counters_are_bounded_and_unique(void **state)
{
	struct pvm_wire_msg m;
	uint8_t buf[2048];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_STATS, buf, sizeof(buf));
	put32(buf + PVM_WIRE_HDR_LEN, 1000);
	expect_error(buf, n, -E2BIG, "counters");
	put32(buf + PVM_WIRE_HDR_LEN, 4);       /* one more than present */
	expect_error(buf, n, -EBADMSG, "truncated");
	fill_sample(&m, PVM_WIRE_STATS);
	m.u.stats.counters[2].id = m.u.stats.counters[0].id;
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	assert_non_null(strstr(pvm_wire_last_error(), "twice"));
	/* 64 counters fit. */
	m.u.stats.ncounters = PVM_WIRE_COUNTERS_MAX;
	for (unsigned int i = 0; i < PVM_WIRE_COUNTERS_MAX; i++)
		m.u.stats.counters[i] = (struct pvm_wire_counter_value){ i + 1, i };
	assert_true(pvm_wire_encode(&m, buf, sizeof(buf)) > 0);
}

static void error_message_must_be_terminated_and_bounded(void **state)
{
	struct pvm_wire_msg m;
	uint8_t buf[1024];
	size_t n;

	(void)state;
	n = encode_sample(PVM_WIRE_ERROR, buf, sizeof(buf));
	buf[n - 1] = '!';
	expect_error(buf, n, -EBADMSG, "not NUL-terminated");
	fill_sample(&m, PVM_WIRE_ERROR);
	m.u.error.status = PVM_WIRE_ST_OK;
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	/* An empty message is legal. */
	fill_sample(&m, PVM_WIRE_ERROR);
	m.u.error.message[0] = '\0';
	assert_true(pvm_wire_encode(&m, buf, sizeof(buf)) > 0);
	assert_string_equal(pvm_wire_status_name(PVM_WIRE_ST_NO_SPACE), "NO_SPACE");
	assert_string_equal(pvm_wire_status_name(1234), "UNKNOWN");
}

static void encoder_reports_short_buffers(void **state)
{
	struct pvm_wire_msg m;
	uint8_t buf[64];

	(void)state;
	fill_sample(&m, PVM_WIRE_CHALLENGE);
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(pvm_wire_encode(&m, NULL, 0), -ENOSPC);
	m.type = 77;
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
	fill_sample(&m, PVM_WIRE_HEARTBEAT);
	m.flags = 1;
	assert_int_equal(pvm_wire_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void random_garbage_never_crashes(void **state)
{
	uint64_t s = 0x243f6a8885a308d3ull;

	(void)state;
	/* Valid headers with random bodies: exercises every body parser. */
	for (int iter = 0; iter < 20000; iter++) {
		size_t len;
		uint8_t *buf;
		struct pvm_wire_msg out;

		s ^= s << 13; s ^= s >> 7; s ^= s << 17;
		len = PVM_WIRE_HDR_LEN + (s % 200);
		buf = malloc(len);
		for (size_t i = 0; i < len; i++) {
			s ^= s << 13; s ^= s >> 7; s ^= s << 17;
			buf[i] = (uint8_t)s;
		}
		memcpy(buf, "PVMW", 4);
		buf[4] = 1;
		buf[5] = 0;
		buf[6] = (uint8_t)(1 + (s >> 32) % PVM_WIRE_TYPE_MAX);
		buf[7] = 0;
		put32(buf + 8, (uint32_t)len);
		memset(buf + 16, 0, 4);
		(void)pvm_wire_decode(buf, len, &out);
		free(buf);
	}
}

/* ------------------------------------------------------------------ */
/* Authentication.                                                      */

static const char test_secret[] = "correct horse battery staple 42";

static void hmac_verifies_with_the_right_secret(void **state)
{
	struct pvm_auth_secret *good, *bad;
	uint8_t cn[PVM_AUTH_NONCE_LEN], pn[PVM_AUTH_NONCE_LEN], mac[PVM_AUTH_MAC_LEN];

	(void)state;
	assert_int_equal(pvm_auth_init(), 0);
	assert_int_equal(pvm_auth_secret_from_bytes(test_secret, strlen(test_secret), &good), 0);
	assert_int_equal(pvm_auth_secret_from_bytes("another secret, 32 bytes long!!", 31, &bad), 0);
	pvm_auth_nonce(cn);
	pvm_auth_nonce(pn);
	assert_memory_not_equal(cn, pn, PVM_AUTH_NONCE_LEN);

	assert_int_equal(pvm_auth_client_mac(good, cn, pn, "vm-1", mac), 0);
	assert_int_equal(pvm_auth_client_verify(good, cn, pn, "vm-1", mac), 0);
	/* Wrong secret, other id, other nonce, flipped bit: all refused. */
	assert_int_equal(pvm_auth_client_verify(bad, cn, pn, "vm-1", mac), -EACCES);
	assert_int_equal(pvm_auth_client_verify(good, cn, pn, "vm-2", mac), -EACCES);
	assert_int_equal(pvm_auth_client_verify(good, pn, cn, "vm-1", mac), -EACCES);
	mac[5] ^= 1;
	assert_int_equal(pvm_auth_client_verify(good, cn, pn, "vm-1", mac), -EACCES);

	/* The pod's proof is a different MAC and verifies on its own. */
	assert_int_equal(pvm_auth_pod_mac(good, cn, pn, "vm-1", mac), 0);
	assert_int_equal(pvm_auth_client_verify(good, cn, pn, "vm-1", mac), -EACCES);
	assert_int_equal(pvm_auth_pod_verify(good, cn, pn, "vm-1", mac), 0);
	assert_int_equal(pvm_auth_pod_verify(bad, cn, pn, "vm-1", mac), -EACCES);
	assert_int_equal(pvm_auth_client_mac(NULL, cn, pn, "x", mac), -EINVAL);

	pvm_auth_secret_free(good);
	pvm_auth_secret_free(bad);
	pvm_auth_secret_free(NULL);
}

static void hmac_matches_the_documented_construction(void **state)
{
	/* HMAC-SHA256(key = 16 x 0x0b, "poolvm-auth-v1" || 32 x 0x01 ||
	 * 32 x 0x02 || "c1"), computed independently with Python's hmac. */
	static const uint8_t want[32] = {
		0xfa, 0xef, 0xbc, 0xa0, 0x18, 0x0a, 0x20, 0xfa, 0x84, 0xde, 0xba,
		0x3c, 0xcb, 0xf8, 0xb9, 0x6c, 0xce, 0x31, 0xf6, 0xc2, 0xf8, 0x9a,
		0xb4, 0xa5, 0xe5, 0x93, 0x0f, 0x61, 0x38, 0x01, 0x1a, 0xf4,
	};
	uint8_t key[16], cn[32], pn[32], mac[32];
	struct pvm_auth_secret *s;

	(void)state;
	memset(key, 0x0b, sizeof(key));
	memset(cn, 0x01, sizeof(cn));
	memset(pn, 0x02, sizeof(pn));
	assert_int_equal(pvm_auth_secret_from_bytes(key, sizeof(key), &s), 0);
	assert_int_equal(pvm_auth_client_mac(s, cn, pn, "c1", mac), 0);
	assert_memory_equal(mac, want, sizeof(want));
	pvm_auth_secret_free(s);
}

static void short_secret_bytes_are_refused(void **state)
{
	struct pvm_auth_secret *s = (void *)1;

	(void)state;
	assert_int_equal(pvm_auth_secret_from_bytes("short", 5, &s), -EINVAL);
	assert_null(s);
}

/* Write @data (@len bytes) to a fresh file with @mode; returns its path. */
static char *secret_file(const char *data, size_t len, mode_t mode)
{
	char *path = strdup("/tmp/pvm-test-secret-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static int load(const char *data, size_t len, mode_t mode, char *err,
		size_t errlen, size_t *secret_len)
{
	struct pvm_auth_secret *s = NULL;
	char *path = secret_file(data, len, mode);
	int ret = pvm_auth_secret_load(path, &s, err, errlen);

	if (ret == 0) {
		uint8_t cn[32] = { 0 }, pn[32] = { 0 }, a[32], b[32];
		struct pvm_auth_secret *ref;

		/* Compare with the bytes we expect to have been kept. */
		assert_int_equal(pvm_auth_secret_from_bytes(data, *secret_len, &ref), 0);
		pvm_auth_client_mac(s, cn, pn, "x", a);
		pvm_auth_client_mac(ref, cn, pn, "x", b);
		assert_memory_equal(a, b, 32);
		pvm_auth_secret_free(ref);
	} else {
		assert_null(s);
	}
	pvm_auth_secret_free(s);
	unlink(path);
	free(path);
	return ret;
}

static void secret_file_strips_one_newline(void **state)
{
	char err[256];
	size_t keep = 20;

	(void)state;
	assert_int_equal(load("0123456789abcdefghij\n", 21, 0600, err, sizeof(err), &keep), 0);
	assert_int_equal(load("0123456789abcdefghij\r\n", 22, 0400, err, sizeof(err), &keep), 0);
	assert_int_equal(load("0123456789abcdefghij", 20, 0600, err, sizeof(err), &keep), 0);
	keep = 21;      /* only one newline goes */
	assert_int_equal(load("0123456789abcdefghij\n\n", 22, 0600, err, sizeof(err), &keep), 0);
}

static void secret_file_errors_say_what_to_do(void **state)
{
	struct pvm_auth_secret *s = NULL;
	char err[512];
	size_t keep = 0;
	char *big;

	(void)state;
	assert_int_equal(load("0123456789abcdefghij", 20, 0644, err, sizeof(err), &keep), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(load("0123456789abcdefghij", 20, 0660, err, sizeof(err), &keep), -EPERM);
	assert_int_equal(load("", 0, 0600, err, sizeof(err), &keep), -ENODATA);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(load("\n", 1, 0600, err, sizeof(err), &keep), -ENODATA);
	assert_int_equal(load("short secret\n", 13, 0600, err, sizeof(err), &keep), -EINVAL);
	assert_non_null(strstr(err, "at least 16"));
	big = malloc(PVM_AUTH_SECRET_MAX + 10);
	memset(big, 'k', PVM_AUTH_SECRET_MAX + 10);
	assert_int_equal(load(big, PVM_AUTH_SECRET_MAX + 1, 0600, err, sizeof(err), &keep), -EFBIG);
	assert_int_equal(load(big, PVM_AUTH_SECRET_MAX + 10, 0600, err, sizeof(err), &keep), -EFBIG);
	keep = PVM_AUTH_SECRET_MAX;
	big[PVM_AUTH_SECRET_MAX] = '\r';
	big[PVM_AUTH_SECRET_MAX + 1] = '\n';
	assert_int_equal(load(big, PVM_AUTH_SECRET_MAX + 2, 0600, err, sizeof(err), &keep), 0);
	free(big);

	assert_int_equal(pvm_auth_secret_load("/nonexistent/poolvm.secret", &s, err,
					      sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/poolvm.secret"));
	assert_int_equal(pvm_auth_secret_load("/tmp", &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(pvm_auth_secret_load("", &s, NULL, 0), -EINVAL);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_type_round_trips),
		cmocka_unit_test(header_is_little_endian_pvmw),
		cmocka_unit_test(hello_fields_survive),
		cmocka_unit_test(empty_and_tiny_buffers_are_truncated),
		cmocka_unit_test(bad_magic_is_refused),
		cmocka_unit_test(other_version_is_a_protocol_error),
		cmocka_unit_test(unknown_type_is_a_protocol_error),
		cmocka_unit_test(reserved_flags_are_refused),
		cmocka_unit_test(length_field_must_match_buffer),
		cmocka_unit_test(oversize_buffer_is_too_big),
		cmocka_unit_test(every_truncation_is_refused),
		cmocka_unit_test(body_trailing_bytes_are_refused),
		cmocka_unit_test(hello_id_without_nul_is_refused),
		cmocka_unit_test(hello_id_with_inner_nul_is_refused),
		cmocka_unit_test(hello_id_with_control_bytes_is_refused),
		cmocka_unit_test(hello_empty_id_is_refused),
		cmocka_unit_test(hello_zero_string_length_is_refused),
		cmocka_unit_test(oversize_id_is_too_big),
		cmocka_unit_test(hello_version_list_is_bounded),
		cmocka_unit_test(hello_address_is_bounded),
		cmocka_unit_test(challenge_values_are_checked),
		cmocka_unit_test(challenge_bad_page_size_on_the_wire_is_refused),
		cmocka_unit_test(grant_and_release_need_lease_ids),
		cmocka_unit_test(stats_counters_are_bounded_and_unique),
		cmocka_unit_test(error_message_must_be_terminated_and_bounded),
		cmocka_unit_test(encoder_reports_short_buffers),
		cmocka_unit_test(random_garbage_never_crashes),
		cmocka_unit_test(hmac_verifies_with_the_right_secret),
		cmocka_unit_test(hmac_matches_the_documented_construction),
		cmocka_unit_test(short_secret_bytes_are_refused),
		cmocka_unit_test(secret_file_strips_one_newline),
		cmocka_unit_test(secret_file_errors_say_what_to_do),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
