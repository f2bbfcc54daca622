/* tests/unit/gpu/test_gpu_proto.c — the GPU remoting protocol: round trips
 * of every call and reply, batches, frame headers, and the decoder's
 * refusals (pods/gpu/proto.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

/* Fill values for @sig: scalars from @seed, bytes of length (seed % 37). */
static unsigned int fill(const char *sig, struct gpu_val *v, uint64_t seed, uint8_t *pool)
{
	unsigned int i, n = (unsigned int)strlen(sig);

	for (i = 0; i < n; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		if (sig[i] == 'i')
			v[i].u = (uint32_t)(seed * 2654435761u + i);
		else if (sig[i] == 'q')
			v[i].u = seed * 0x9e3779b97f4a7c15ull + i;
		else {
			v[i].len = (uint32_t)((seed + i) % 37);
			v[i].p = pool;
		}
	}
	return n;
}

static void same_vals(const char *sig, const struct gpu_val *a, const struct gpu_val *b)
{
	unsigned int i;

	for (i = 0; sig[i]; i++) {
		if (sig[i] == 'b') {
			assert_int_equal(a[i].len, b[i].len);
			assert_memory_equal(a[i].p, b[i].p, a[i].len);
		} else {
			assert_true(a[i].u == b[i].u);
		}
	}
}

struct seen {
	struct gpu_call calls[8];
	unsigned int n;
	bool last_flag[8];
};

static int collect(void *arg, const struct gpu_call *call, bool last)
{
	struct seen *s = arg;

	s->calls[s->n] = *call;
	s->last_flag[s->n++] = last;
	return 0;
}

static void test_every_call_round_trips(void **state)
{
	static uint8_t pool[64], buf[4096];
	unsigned int id, seed;

	(void)state;
	for (id = 0; id < sizeof(pool); id++)
		pool[id] = (uint8_t)(id * 7 + 1);
	for (id = 1; id <= GPU_CALL_MAX; id++) {
		const struct gpu_call_info *info = gpu_call_info(id);

		assert_non_null(info);
		assert_non_null(info->name);
		if (info->flags & GPU_CALL_ASYNC)
			assert_string_equal(info->rep, "");
		for (seed = 0; seed < 5; seed++) {
			struct gpu_call c = { .id = (uint16_t)id };
			struct gpu_val out[GPU_PROTO_MAX_ARGS], back[GPU_PROTO_MAX_ARGS];
			struct seen s = { .n = 0 };
			uint32_t deferred, result;
			size_t off = 4;
			long n;
			int k;

			c.nargs = fill(info->req, c.arg, seed, pool);
			assert_int_equal(gpu_call_encode(&c, buf, sizeof(buf), &off), 0);
			gpu_put32(buf, 1);
			assert_int_equal(gpu_calls_decode(buf, off, collect, &s), 0);
			assert_int_equal(s.n, 1);
			assert_true(s.last_flag[0]);
			assert_int_equal(s.calls[0].id, id);
			assert_int_equal(s.calls[0].nargs, c.nargs);
			same_vals(info->req, c.arg, s.calls[0].arg);

			/* and its reply */
			k = (int)fill(info->rep, out, seed + 11, pool);
			n = gpu_reply_encode(id, seed, 100 + seed, out, (unsigned int)k, buf, sizeof(buf));
			assert_true(n >= 8);
			assert_int_equal(gpu_reply_decode(id, buf, (size_t)n, &deferred, &result, back), k);
			assert_int_equal(deferred, seed);
			assert_int_equal(result, 100 + seed);
			same_vals(info->rep, out, back);
			/* one byte short or long is refused */
			assert_int_equal(gpu_reply_decode(id, buf, (size_t)n - 1, &deferred, &result, back),
					 -EBADMSG);
			assert_int_equal(gpu_reply_decode(id, buf, (size_t)n + 1, &deferred, &result, back),
					 -EBADMSG);
		}
	}
	assert_null(gpu_call_info(0));
	assert_null(gpu_call_info(GPU_CALL_MAX + 1));
}

static size_t batch(uint8_t *buf, size_t cap, const unsigned int *ids, unsigned int n)
{
	static const uint8_t data[8] = "abcdefg";
	size_t off = 4;
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct gpu_call c = { .id = (uint16_t)ids[i] };

		c.nargs = fill(gpu_call_info(ids[i])->req, c.arg, i, (uint8_t *)data);
		for (unsigned int j = 0; j < c.nargs; j++)
			if (c.arg[j].len > 8)
				c.arg[j].len = 8;
		assert_int_equal(gpu_call_encode(&c, buf, cap, &off), 0);
	}
	gpu_put32(buf, n);
	return off;
}

static void test_batches(void **state)
{
	static const unsigned int good[] = { GPU_CALL_SET_CONTEXT, GPU_CALL_LAUNCH_KERNEL,
		GPU_CALL_MEMCPY_HTOD_ASYNC, GPU_CALL_EVENT_RECORD, GPU_CALL_STREAM_SYNCHRONIZE };
	static const unsigned int sync_first[] = { GPU_CALL_MEM_ALLOC, GPU_CALL_LAUNCH_KERNEL };
	uint8_t buf[2048];
	struct seen s = { .n = 0 };
	size_t len;
	unsigned int i;

	(void)state;
	len = batch(buf, sizeof(buf), good, 5);
	assert_int_equal(gpu_calls_decode(buf, len, collect, &s), 0);
	assert_int_equal(s.n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(s.calls[i].id, good[i]);
		assert_int_equal(s.last_flag[i], i == 4);
	}
	/* async-only messages are fine */
	len = batch(buf, sizeof(buf), good, 4);
	assert_int_equal(gpu_calls_decode(buf, len, NULL, NULL), 0);
	/* a synchronous call that is not last is refused, before any call runs */
	len = batch(buf, sizeof(buf), sync_first, 2);
	assert_int_equal(gpu_calls_decode(buf, len, NULL, NULL), -EPROTO);
	assert_non_null(strstr(gpu_proto_last_error(), "not last"));
	/* every truncation of a good batch is refused */
	len = batch(buf, sizeof(buf), good, 5);
	for (i = 0; i < len; i++)
		assert_true(gpu_calls_decode(buf, i, NULL, NULL) < 0);
	/* as is a trailing byte, a zero count, a too-large count */
	buf[len] = 0;
	assert_int_equal(gpu_calls_decode(buf, len + 1, NULL, NULL), -EBADMSG);
	gpu_put32(buf, 0);
	assert_int_equal(gpu_calls_decode(buf, len, NULL, NULL), -EPROTO);
	gpu_put32(buf, GPU_PROTO_MAX_CALLS + 1);
	assert_int_equal(gpu_calls_decode(buf, len, NULL, NULL), -EPROTO);
}

static void test_decoder_refusals(void **state)
{
	uint8_t buf[64];
	struct gpu_val v[GPU_PROTO_MAX_ARGS];

	(void)state;
	/* unknown id, reserved bits */
	gpu_put32(buf, 1);
	buf[4] = 0xff; buf[5] = 0x7f; buf[6] = 0; buf[7] = 0;
	gpu_put32(buf + 8, 0);
	assert_int_equal(gpu_calls_decode(buf, 12, NULL, NULL), -EPROTO);
	assert_non_null(strstr(gpu_proto_last_error(), "unknown call"));
	buf[4] = GPU_CALL_CTX_SYNCHRONIZE; buf[5] = 0; buf[6] = 1;
	assert_int_equal(gpu_calls_decode(buf, 12, NULL, NULL), -EPROTO);
	buf[6] = 0;
	assert_int_equal(gpu_calls_decode(buf, 12, NULL, NULL), 0);
	/* argument length beyond the message */
	gpu_put32(buf + 8, 1000);
	assert_int_equal(gpu_calls_decode(buf, 12, NULL, NULL), -EBADMSG);
	/* a bytes field claiming more than is there */
	gpu_put32(buf, 0xfffffff0u);
	assert_int_equal(gpu_args_decode("b", buf, 8, v), -EBADMSG);
	gpu_put32(buf, 4);
	assert_int_equal(gpu_args_decode("b", buf, 8, v), 1);
	assert_int_equal(v[0].len, 4);
	assert_ptr_equal(v[0].p, buf + 4);
	assert_int_equal(gpu_args_decode("q", buf, 7, v), -EBADMSG);
	assert_int_equal(gpu_args_decode("i", buf, 5, v), -EBADMSG);
	/* encoder refuses mismatched counts and small buffers */
	v[0].u = 1;
	assert_int_equal(gpu_args_encode("ii", v, 1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(gpu_args_encode("q", v, 1, buf, 7), -ENOSPC);
}

static void test_frame_header(void **state)
{
	uint8_t h[GPU_PROTO_HDR_LEN];
	struct gpu_frame_hdr d;

	(void)state;
	gpu_frame_hdr_encode(h, GPU_FRAME_CALLS, 1234);
	assert_memory_equal(h, "PVGC", 4);
	assert_int_equal(gpu_frame_hdr_decode(h, &d), 0);
	assert_int_equal(d.kind, GPU_FRAME_CALLS);
	assert_int_equal(d.len, 1234);
	gpu_frame_hdr_encode(h, GPU_FRAME_CALLS, GPU_PROTO_MAX_PAYLOAD + 1);
	assert_int_equal(gpu_frame_hdr_decode(h, &d), -E2BIG);
	gpu_frame_hdr_encode(h, 0, 0);
	assert_int_equal(gpu_frame_hdr_decode(h, &d), -EPROTO);
	gpu_frame_hdr_encode(h, GPU_FRAME_KIND_MAX + 1, 0);
	assert_int_equal(gpu_frame_hdr_decode(h, &d), -EPROTO);
	gpu_frame_hdr_encode(h, GPU_FRAME_HELLO, 0);
	h[4] = 2;
	assert_int_equal(gpu_frame_hdr_decode(h, &d), -EPROTO);
	assert_non_null(strstr(gpu_proto_last_error(), "version"));
	gpu_frame_hdr_encode(h, GPU_FRAME_HELLO, 0);
	h[15] = 1;
	assert_int_equal(gpu_frame_hdr_decode(h, &d), -EPROTO);
	gpu_frame_hdr_encode(h, GPU_FRAME_HELLO, 0);
	h[0] = 'X';
	assert_int_equal(gpu_frame_hdr_decode(h, &d), -EPROTO);
	assert_non_null(strstr(gpu_proto_last_error(), "magic"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_call_round_trips),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_decoder_refusals),
		cmocka_unit_test(test_frame_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
