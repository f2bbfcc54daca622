/* tests/fuzz/fuzz_gpu_decode.c — libFuzzer target for the GPU remoting
 * protocol's decoders (pods/gpu/proto.c): frame header, CALLS, REPLY.
 *
 * Properties beyond "no crash, no sanitizer report": a refusal says why;
 * a CALLS payload that decodes re-encodes, call by call, to exactly the
 * bytes it came from (the encoding is canonical); only the last call may
 * be synchronous; a REPLY that decodes re-encodes to the same bytes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct check {
	uint8_t out[1 << 16];
	size_t off;
	unsigned int n;
	bool overflow;
};

static int reencode(void *arg, const struct gpu_call *call, bool last)
{
	struct check *c = arg;
	const struct gpu_call_info *info = gpu_call_info(call->id);

	if (!info || (!last && !(info->flags & GPU_CALL_ASYNC)))
		abort();
	if (gpu_call_encode(call, c->out, sizeof(c->out), &c->off))
		c->overflow = true;
	c->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct check c;
	struct gpu_frame_hdr hdr;
	struct gpu_val v[GPU_PROTO_MAX_ARGS];
	uint32_t deferred, result;
	int ret;

	if (size >= GPU_PROTO_HDR_LEN) {
		ret = gpu_frame_hdr_decode(data, &hdr);
		if (ret && ret != -EPROTO && ret != -E2BIG)
			abort();
	}
	if (size < 2)
		return 0;
	/* First byte picks what the rest is. */
	if (data[0] & 1) {
		unsigned int id = 1 + data[1] % GPU_CALL_MAX;
		uint8_t again[1 << 16];
		long n;

		ret = gpu_reply_decode(id, data + 2, size - 2, &deferred, &result, v);
		if (ret < 0) {
			if (ret != -EBADMSG || !strcmp(gpu_proto_last_error(), "no error"))
				abort();
			return 0;
		}
		n = gpu_reply_encode(id, deferred, result, v, (unsigned int)ret, again, sizeof(again));
		if (size - 2 <= sizeof(again) &&
		    (n != (long)(size - 2) || memcmp(again, data + 2, size - 2)))
			abort();
		return 0;
	}
	c.off = 4;
	c.n = 0;
	c.overflow = false;
	ret = gpu_calls_decode(data + 1, size - 1, reencode, &c);
	if (ret) {
		if (ret != -EBADMSG && ret != -EPROTO)
			abort();
		if (!strcmp(gpu_proto_last_error(), "no error"))
			abort();
		return 0;
	}
	gpu_put32(c.out, c.n);
	if (!c.overflow && (c.off != size - 1 || memcmp(c.out, data + 1, size - 1)))
		abort();
	return 0;
}
