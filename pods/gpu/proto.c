/* pods/gpu/proto.c — encoding and checked decoding of the GPU remoting
 * protocol (see proto.h and docs/gpu.md). */
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define A GPU_CALL_ASYNC

static const struct gpu_call_info calls[GPU_CALL_MAX + 1] = {
	[GPU_CALL_SET_CONTEXT]          = { "cuCtxSetCurrent", "q", "", A },
	[GPU_CALL_INIT]                 = { "cuInit", "i", "", 0 },
	[GPU_CALL_DRIVER_GET_VERSION]   = { "cuDriverGetVersion", "", "i", 0 },
	[GPU_CALL_DEVICE_GET_COUNT]     = { "cuDeviceGetCount", "", "i", 0 },
	[GPU_CALL_DEVICE_GET]           = { "cuDeviceGet", "i", "i", 0 },
	[GPU_CALL_DEVICE_GET_NAME]      = { "cuDeviceGetName", "ii", "b", 0 },
	[GPU_CALL_DEVICE_TOTAL_MEM]     = { "cuDeviceTotalMem_v2", "i", "q", 0 },
	[GPU_CALL_DEVICE_GET_ATTRIBUTE] = { "cuDeviceGetAttribute", "ii", "i", 0 },
	[GPU_CALL_DEVICE_GET_UUID]      = { "cuDeviceGetUuid", "i", "b", 0 },
	[GPU_CALL_PRIMARY_CTX_RETAIN]   = { "cuDevicePrimaryCtxRetain", "i", "q", 0 },
	[GPU_CALL_PRIMARY_CTX_RELEASE]  = { "cuDevicePrimaryCtxRelease_v2", "i", "", 0 },
	[GPU_CALL_PRIMARY_CTX_RESET]    = { "cuDevicePrimaryCtxReset_v2", "i", "", 0 },
	[GPU_CALL_PRIMARY_CTX_GET_STATE] = { "cuDevicePrimaryCtxGetState", "i", "ii", 0 },
	[GPU_CALL_PRIMARY_CTX_SET_FLAGS] = { "cuDevicePrimaryCtxSetFlags_v2", "ii", "", 0 },
	[GPU_CALL_CTX_CREATE]           = { "cuCtxCreate_v2", "ii", "q", 0 },
	[GPU_CALL_CTX_DESTROY]          = { "cuCtxDestroy_v2", "q", "", 0 },
	[GPU_CALL_CTX_SYNCHRONIZE]      = { "cuCtxSynchronize", "", "", 0 },
	[GPU_CALL_CTX_GET_DEVICE]       = { "cuCtxGetDevice", "", "i", 0 },
	[GPU_CALL_MODULE_LOAD_DATA]     = { "cuModuleLoadData", "b", "q", 0 },
	[GPU_CALL_MODULE_UNLOAD]        = { "cuModuleUnload", "q", "", 0 },
	[GPU_CALL_MODULE_GET_FUNCTION]  = { "cuModuleGetFunction", "qb", "qb", 0 },
	[GPU_CALL_MODULE_GET_GLOBAL]    = { "cuModuleGetGlobal_v2", "qb", "qq", 0 },
	[GPU_CALL_MEM_ALLOC]            = { "cuMemAlloc_v2", "q", "q", 0 },
	[GPU_CALL_MEM_FREE]             = { "cuMemFree_v2", "q", "", 0 },
	[GPU_CALL_MEM_GET_INFO]         = { "cuMemGetInfo_v2", "", "qq", 0 },
	[GPU_CALL_MEMCPY_HTOD]          = { "cuMemcpyHtoD_v2", "qb", "", 0 },
	[GPU_CALL_MEMCPY_DTOH]          = { "cuMemcpyDtoH_v2", "qq", "b", 0 },
	[GPU_CALL_MEMCPY_DTOD]          = { "cuMemcpyDtoD_v2", "qqq", "", 0 },
	[GPU_CALL_MEMCPY_HTOD_ASYNC]    = { "cuMemcpyHtoDAsync_v2", "qbq", "", A },
	[GPU_CALL_MEMCPY_DTOH_ASYNC]    = { "cuMemcpyDtoHAsync_v2", "qqq", "b", 0 },
	[GPU_CALL_MEMCPY_DTOD_ASYNC]    = { "cuMemcpyDtoDAsync_v2", "qqqq", "", A },
	[GPU_CALL_MEMSET_D8]            = { "cuMemsetD8_v2", "qiq", "", 0 },
	[GPU_CALL_MEMSET_D32]           = { "cuMemsetD32_v2", "qiq", "", 0 },
	[GPU_CALL_MEMSET_D8_ASYNC]      = { "cuMemsetD8Async", "qiqq", "", A },
	[GPU_CALL_MEMSET_D32_ASYNC]     = { "cuMemsetD32Async", "qiqq", "", A },
	[GPU_CALL_LAUNCH_KERNEL]        = { "cuLaunchKernel", "qiiiiiiiqb", "", A },
	[GPU_CALL_STREAM_CREATE]        = { "cuStreamCreateWithPriority", "ii", "q", 0 },
	[GPU_CALL_STREAM_DESTROY]       = { "cuStreamDestroy_v2", "q", "", 0 },
	[GPU_CALL_STREAM_SYNCHRONIZE]   = { "cuStreamSynchronize", "q", "", 0 },
	[GPU_CALL_STREAM_QUERY]         = { "cuStreamQuery", "q", "", 0 },
	[GPU_CALL_STREAM_WAIT_EVENT]    = { "cuStreamWaitEvent", "qqi", "", A },
	[GPU_CALL_EVENT_CREATE]         = { "cuEventCreate", "i", "q", 0 },
	[GPU_CALL_EVENT_DESTROY]        = { "cuEventDestroy_v2", "q", "", 0 },
	[GPU_CALL_EVENT_RECORD]         = { "cuEventRecord", "qq", "", A },
	[GPU_CALL_EVENT_SYNCHRONIZE]    = { "cuEventSynchronize", "q", "", 0 },
	[GPU_CALL_EVENT_QUERY]          = { "cuEventQuery", "q", "", 0 },
	[GPU_CALL_EVENT_ELAPSED_TIME]   = { "cuEventElapsedTime", "qq", "i", 0 },
	[GPU_CALL_FUNC_GET_ATTRIBUTE]   = { "cuFuncGetAttribute", "iq", "i", 0 },
	[GPU_CALL_FUNC_SET_ATTRIBUTE]   = { "cuFuncSetAttribute", "qii", "", 0 },
};

#undef A

static _Thread_local char last_error[200] = "no error";

#define FAIL(code, ...) do { \
	snprintf(last_error, sizeof(last_error), __VA_ARGS__); \
	return (code); \
} while (0)

const struct gpu_call_info *gpu_call_info(unsigned int id)
{
	if (id == 0 || id > GPU_CALL_MAX)
		return NULL;
	return &calls[id];
}

const char *gpu_proto_last_error(void)
{
	return last_error;
}

void gpu_frame_hdr_encode(uint8_t out[GPU_PROTO_HDR_LEN], unsigned int kind, uint32_t len)
{
	gpu_put32(out, GPU_PROTO_MAGIC);
	out[4] = (uint8_t)GPU_PROTO_VERSION;
	out[5] = (uint8_t)(GPU_PROTO_VERSION >> 8);
	out[6] = (uint8_t)kind;
	out[7] = (uint8_t)(kind >> 8);
	gpu_put32(out + 8, len);
	gpu_put32(out + 12, 0);
}

int gpu_frame_hdr_decode(const uint8_t in[GPU_PROTO_HDR_LEN], struct gpu_frame_hdr *hdr)
{
	unsigned int version = in[4] | in[5] << 8;
	unsigned int kind = in[6] | in[7] << 8;
	uint32_t len = gpu_get32(in + 8);

	if (gpu_get32(in) != GPU_PROTO_MAGIC)
		FAIL(-EPROTO, "bad magic 0x%08x (not a poolvm GPU peer)", gpu_get32(in));
	if (version != GPU_PROTO_VERSION)
		FAIL(-EPROTO, "protocol version %u, this side speaks %u", version,
		     GPU_PROTO_VERSION);
	if (kind == 0 || kind > GPU_FRAME_KIND_MAX)
		FAIL(-EPROTO, "unknown frame kind %u", kind);
	if (gpu_get32(in + 12) != 0)
		FAIL(-EPROTO, "reserved header field is not zero");
	if (len > GPU_PROTO_MAX_PAYLOAD)
		FAIL(-E2BIG, "payload of %u bytes is over the limit of %u", len,
		     GPU_PROTO_MAX_PAYLOAD);
	hdr->kind = (uint16_t)kind;
	hdr->len = len;
	return 0;
}

long gpu_args_size(const char *sig, const struct gpu_val *v, unsigned int n)
{
	size_t len = strlen(sig), i, size = 0;

	if (len != n)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		switch (sig[i]) {
		case 'i': size += 4; break;
		case 'q': size += 8; break;
		case 'b': size += 4 + (size_t)v[i].len; break;
		default: return -EINVAL;
		}
	}
	return (long)size;
}

long gpu_args_encode(const char *sig, const struct gpu_val *v, unsigned int n,
		     uint8_t *out, size_t cap)
{
	long size = gpu_args_size(sig, v, n);
	size_t i, off = 0;

	if (size < 0)
		return size;
	if ((size_t)size > cap)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		switch (sig[i]) {
		case 'i':
			gpu_put32(out + off, (uint32_t)v[i].u);
			off += 4;
			break;
		case 'q':
			gpu_put64(out + off, v[i].u);
			off += 8;
			break;
		default:
			gpu_put32(out + off, v[i].len);
			if (v[i].len)
				memcpy(out + off + 4, v[i].p, v[i].len);
			off += 4 + v[i].len;
			break;
		}
	}
	return (long)off;
}

int gpu_args_decode(const char *sig, const uint8_t *in, size_t len, struct gpu_val *v)
{
	size_t i, n = strlen(sig), off = 0;

	for (i = 0; i < n; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		switch (sig[i]) {
		case 'i':
			if (len - off < 4)
				FAIL(-EBADMSG, "field %zu: u32 cut short", i);
			v[i].u = gpu_get32(in + off);
			off += 4;
			break;
		case 'q':
			if (len - off < 8)
				FAIL(-EBADMSG, "field %zu: u64 cut short", i);
			v[i].u = gpu_get64(in + off);
			off += 8;
			break;
		default:
			if (len - off < 4)
				FAIL(-EBADMSG, "field %zu: byte count cut short", i);
			v[i].len = gpu_get32(in + off);
			off += 4;
			if (v[i].len > len - off)
				FAIL(-EBADMSG, "field %zu: %u bytes announced, %zu left",
				     i, v[i].len, len - off);
			v[i].p = in + off;
			off += v[i].len;
			break;
		}
	}
	if (off != len)
		FAIL(-EBADMSG, "%zu bytes left over after %zu fields", len - off, n);
	return (int)n;
}

int gpu_call_encode(const struct gpu_call *call, uint8_t *out, size_t cap, size_t *off)
{
	const struct gpu_call_info *info = gpu_call_info(call->id);
	long size, n;

	if (!info)
		return -EINVAL;
	size = gpu_args_size(info->req, call->arg, call->nargs);
	if (size < 0)
		return -EINVAL;
	if (*off > cap || cap - *off < 8 + (size_t)size)
		return -ENOSPC;
	out[*off] = (uint8_t)call->id;
	out[*off + 1] = (uint8_t)(call->id >> 8);
	out[*off + 2] = 0;
	out[*off + 3] = 0;
	gpu_put32(out + *off + 4, (uint32_t)size);
	n = gpu_args_encode(info->req, call->arg, call->nargs, out + *off + 8, (size_t)size);
	if (n != size)
		return -EINVAL;
	*off += 8 + (size_t)size;
	return 0;
}

int gpu_calls_decode(const uint8_t *in, size_t len,
		     int (*fn)(void *arg, const struct gpu_call *call, bool last),
		     void *arg)
{
	const struct gpu_call_info *info;
	struct gpu_call call;
	uint32_t count, i, alen;
	size_t off = 4;
	int ret;

	if (len < 4)
		FAIL(-EBADMSG, "CALLS shorter than its count");
	count = gpu_get32(in);
	if (count == 0 || count > GPU_PROTO_MAX_CALLS)
		FAIL(-EPROTO, "CALLS holds %u calls (1..%u)", count, GPU_PROTO_MAX_CALLS);
	for (i = 0; i < count; i++) {
		if (len - off < 8)
			FAIL(-EBADMSG, "call %u: record header cut short", i);
		call.id = (uint16_t)(in[off] | in[off + 1] << 8);
		info = gpu_call_info(call.id);
		if (!info)
			FAIL(-EPROTO, "call %u: unknown call id %u", i, call.id);
		if (in[off + 2] || in[off + 3])
			FAIL(-EPROTO, "call %u (%s): reserved field is not zero", i, info->name);
		alen = gpu_get32(in + off + 4);
		off += 8;
		if (alen > len - off)
			FAIL(-EBADMSG, "call %u (%s): %u argument bytes announced, %zu left",
			     i, info->name, alen, len - off);
		if (i + 1 < count && !(info->flags & GPU_CALL_ASYNC))
			FAIL(-EPROTO, "call %u (%s) is synchronous but not last", i, info->name);
		ret = gpu_args_decode(info->req, in + off, alen, call.arg);
		if (ret < 0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", last_error);
			FAIL(-EBADMSG, "call %u (%s): %.120s", i, info->name, why);
		}
		call.nargs = (unsigned int)ret;
		off += alen;
		if (i + 1 == count && off != len)
			FAIL(-EBADMSG, "%zu bytes after the last call", len - off);
		if (fn) {
			ret = fn(arg, &call, i + 1 == count);
			if (ret)
				return ret;
		}
	}
	return 0;
}

long gpu_reply_encode(unsigned int id, uint32_t deferred, uint32_t result,
		      const struct gpu_val *out, unsigned int n,
		      uint8_t *buf, size_t cap)
{
	const struct gpu_call_info *info = gpu_call_info(id);
	long size;

	if (!info || cap < 8)
		return info ? -ENOSPC : -EINVAL;
	gpu_put32(buf, deferred);
	gpu_put32(buf + 4, result);
	size = gpu_args_encode(info->rep, out, n, buf + 8, cap - 8);
	return size < 0 ? size : size + 8;
}

int gpu_reply_decode(unsigned int id, const uint8_t *in, size_t len,
		     uint32_t *deferred, uint32_t *result, struct gpu_val *out)
{
	const struct gpu_call_info *info = gpu_call_info(id);

	if (!info)
		FAIL(-EBADMSG, "reply to unknown call %u", id);
	if (len < 8)
		FAIL(-EBADMSG, "REPLY shorter than its two results");
	*deferred = gpu_get32(in);
	*result = gpu_get32(in + 4);
	return gpu_args_decode(info->rep, in + 8, len - 8, out);
}
