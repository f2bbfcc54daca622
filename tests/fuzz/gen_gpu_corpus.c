/* tests/fuzz/gen_gpu_corpus.c — seeds for fuzz_gpu_decode: a CALLS with
 * every call alone, a batch, and a REPLY for every call, written by the
 * real encoder into DIR. Layout: byte 0 even = CALLS payload follows;
 * odd = byte 1 is a call id and a REPLY payload follows. */
#include <stdio.h>
#include <string.h>

#include "proto.h"

static int put(const char *dir, const char *name, unsigned int n, const uint8_t *b, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-%u", dir, name, n);
	f = fopen(path, "wb");
	if (!f || fwrite(b, 1, len, f) != len) {
		perror(path);
		return 1;
	}
	return fclose(f) ? 1 : 0;
}

static void fill(const char *sig, struct gpu_val *v)
{
	static const uint8_t bytes[] = "\x01\x02poolvm";

	for (unsigned int i = 0; sig[i]; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].u = 0x1000 + i;
		if (sig[i] == 'b') {
			v[i].p = bytes;
			v[i].len = 8;
		}
	}
}

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	size_t off = 5;
	int bad = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (unsigned int id = 1; id <= GPU_CALL_MAX; id++) {
		const struct gpu_call_info *info = gpu_call_info(id);
		struct gpu_call c = { .id = (uint16_t)id, .nargs = (unsigned int)strlen(info->req) };
		struct gpu_val out[GPU_PROTO_MAX_ARGS];
		size_t o = 5;
		long n;

		fill(info->req, c.arg);
		buf[0] = 0;
		gpu_put32(buf + 1, 1);
		gpu_call_encode(&c, buf, sizeof(buf), &o);
		bad |= put(argv[1], "call", id, buf, o);
		fill(info->rep, out);
		buf[0] = 1;
		buf[1] = (uint8_t)(id - 1);
		n = gpu_reply_encode(id, 0, 0, out, (unsigned int)strlen(info->rep), buf + 2,
				     sizeof(buf) - 2);
		bad |= put(argv[1], "reply", id, buf, (size_t)n + 2);
	}
	/* a batch: async calls, then a synchronous one */
	buf[0] = 0;
	for (unsigned int id = 1; id <= GPU_CALL_MAX; id++) {
		const struct gpu_call_info *info = gpu_call_info(id);
		struct gpu_call c = { .id = (uint16_t)id, .nargs = (unsigned int)strlen(info->req) };

		if (!(info->flags & GPU_CALL_ASYNC))
			continue;
		fill(info->req, c.arg);
		gpu_call_encode(&c, buf, sizeof(buf), &off);
	}
	{
		struct gpu_call c = { .id = GPU_CALL_CTX_SYNCHRONIZE };
		uint32_t count = 0;
		size_t o = 5;

		gpu_call_encode(&c, buf, sizeof(buf), &off);
		/* count the records */
		while (o < off) {
			o += 8 + gpu_get32(buf + o + 4);
			count++;
		}
		gpu_put32(buf + 1, count);
	}
	bad |= put(argv[1], "batch", 0, buf, off);
	return bad;
}
