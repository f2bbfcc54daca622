/* pods/gpu/proto.h — the wire protocol between the CUDA shim in a guest
 * (guest/cuda, libcuda.so.1) and a GPU pod (`poolvm pod --gpu`).
 *
 * Concepts: a stream of frames over TCP. A frame is a 16-byte header
 * (magic "PVGC", version, kind, payload length, reserved zero; all fields
 * little-endian) and a payload of at most GPU_PROTO_MAX_PAYLOAD bytes.
 * Kinds: HELLO, CHALLENGE, AUTH, AUTH_OK, REFUSED (the shared-secret
 * handshake of net/auth.h), CALLS (client -> pod) and REPLY (pod -> client).
 *
 * A CALLS payload is a u32 count and that many call records. A record is
 * u16 call id, u16 zero, u32 argument length, then the arguments laid out
 * by the call's request signature (gpu_call_info()): 'i' is a u32, 'q' a
 * u64, 'b' a u32 byte count then the bytes. Every call but the last in a
 * message must be asynchronous (GPU_CALL_ASYNC): the client queues those
 * (launches, async copies and sets, event records, stream waits) and sends
 * them together with the next synchronous call, or alone when the queue is
 * full. A CALLS whose last call is synchronous gets one REPLY: u32 deferred
 * error (the first failure of an earlier asynchronous call, or 0), u32 the
 * synchronous call's CUresult, then its outputs by its reply signature
 * (zeros when it failed). A CALLS of only asynchronous calls gets no reply.
 *
 * The bytes come from guests and peers that are not trusted: the decoders
 * check every length and every field and never read outside the buffer;
 * a decoded bytes field points into the buffer it came from. The encoding
 * is canonical: a message that decodes re-encodes to the same bytes.
 * docs/gpu.md is the normative description; this header and it change
 * together.
 */
#ifndef POOLVM_GPU_PROTO_H
#define POOLVM_GPU_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GPU_PROTO_MAGIC         0x43475650u     /* "PVGC" read little-endian */
#define GPU_PROTO_VERSION       1u
#define GPU_PROTO_HDR_LEN       16u
#define GPU_PROTO_MAX_PAYLOAD   (64u << 20)
#define GPU_PROTO_COPY_CHUNK    (32u << 20)     /* memcpy split into these */
#define GPU_PROTO_MAX_ARGS      12u
#define GPU_PROTO_MAX_CALLS     4096u           /* records in one CALLS */
#define GPU_PROTO_ID_MAX        64u
#define GPU_PROTO_NONCE_LEN     32u
#define GPU_PROTO_MAC_LEN       32u

enum gpu_frame_kind {
	GPU_FRAME_HELLO = 1,    /* client: nonce[32], u32 id length, id */
	GPU_FRAME_CHALLENGE,    /* pod: nonce[32] */
	GPU_FRAME_AUTH,         /* client: mac[32] */
	GPU_FRAME_AUTH_OK,      /* pod: mac[32], u32 id length, id */
	GPU_FRAME_REFUSED,      /* pod: u32 length, reason (ASCII) */
	GPU_FRAME_CALLS,
	GPU_FRAME_REPLY,
	GPU_FRAME_KIND_MAX = GPU_FRAME_REPLY,
};

/* Call ids are part of the protocol: append, never renumber. */
enum gpu_call_id {
	GPU_CALL_SET_CONTEXT = 1,
	GPU_CALL_INIT,
	GPU_CALL_DRIVER_GET_VERSION,
	GPU_CALL_DEVICE_GET_COUNT,
	GPU_CALL_DEVICE_GET,
	GPU_CALL_DEVICE_GET_NAME,
	GPU_CALL_DEVICE_TOTAL_MEM,
	GPU_CALL_DEVICE_GET_ATTRIBUTE,
	GPU_CALL_DEVICE_GET_UUID,
	GPU_CALL_PRIMARY_CTX_RETAIN,
	GPU_CALL_PRIMARY_CTX_RELEASE,
	GPU_CALL_PRIMARY_CTX_RESET,
	GPU_CALL_PRIMARY_CTX_GET_STATE,
	GPU_CALL_PRIMARY_CTX_SET_FLAGS,
	GPU_CALL_CTX_CREATE,
	GPU_CALL_CTX_DESTROY,
	GPU_CALL_CTX_SYNCHRONIZE,
	GPU_CALL_CTX_GET_DEVICE,
	GPU_CALL_MODULE_LOAD_DATA,
	GPU_CALL_MODULE_UNLOAD,
	GPU_CALL_MODULE_GET_FUNCTION,
	GPU_CALL_MODULE_GET_GLOBAL,
	GPU_CALL_MEM_ALLOC,
	GPU_CALL_MEM_FREE,
	GPU_CALL_MEM_GET_INFO,
	GPU_CALL_MEMCPY_HTOD,
	GPU_CALL_MEMCPY_DTOH,
	GPU_CALL_MEMCPY_DTOD,
	GPU_CALL_MEMCPY_HTOD_ASYNC,
	GPU_CALL_MEMCPY_DTOH_ASYNC,
	GPU_CALL_MEMCPY_DTOD_ASYNC,
	GPU_CALL_MEMSET_D8,
	GPU_CALL_MEMSET_D32,
	GPU_CALL_MEMSET_D8_ASYNC,
	GPU_CALL_MEMSET_D32_ASYNC,
	GPU_CALL_LAUNCH_KERNEL,
	GPU_CALL_STREAM_CREATE,
	GPU_CALL_STREAM_DESTROY,
	GPU_CALL_STREAM_SYNCHRONIZE,
	GPU_CALL_STREAM_QUERY,
	GPU_CALL_STREAM_WAIT_EVENT,
	GPU_CALL_EVENT_CREATE,
	GPU_CALL_EVENT_DESTROY,
	GPU_CALL_EVENT_RECORD,
	GPU_CALL_EVENT_SYNCHRONIZE,
	GPU_CALL_EVENT_QUERY,
	GPU_CALL_EVENT_ELAPSED_TIME,
	GPU_CALL_FUNC_GET_ATTRIBUTE,
	GPU_CALL_FUNC_SET_ATTRIBUTE,
	GPU_CALL_MAX = GPU_CALL_FUNC_SET_ATTRIBUTE,
};

#define GPU_CALL_ASYNC  0x1u    /* may be queued; has no reply of its own */

struct gpu_call_info {
	const char *name;       /* the driver API function it carries */
	const char *req;        /* request signature: 'i' u32, 'q' u64, 'b' bytes */
	const char *rep;        /* reply signature (empty for async calls) */
	unsigned int flags;
};

/* One decoded field. 'i' and 'q' use u; 'b' uses p and len (into the buffer). */
struct gpu_val {
	uint64_t u;
	const uint8_t *p;
	uint32_t len;
};

struct gpu_call {
	uint16_t id;
	unsigned int nargs;
	struct gpu_val arg[GPU_PROTO_MAX_ARGS];
};

struct gpu_frame_hdr {
	uint16_t kind;
	uint32_t len;           /* payload bytes after the header */
};

/** gpu_call_info() - the signature of call @id, or NULL for an unknown id. */
const struct gpu_call_info *gpu_call_info(unsigned int id);

/** gpu_proto_last_error() - why the last decode in this thread failed. */
const char *gpu_proto_last_error(void);

/**
 * gpu_frame_hdr_encode() - write a frame header for @kind and @len into @out.
 */
void gpu_frame_hdr_encode(uint8_t out[GPU_PROTO_HDR_LEN], unsigned int kind, uint32_t len);

/**
 * gpu_frame_hdr_decode() - check and read a frame header.
 * Return: 0, -EPROTO (bad magic, version, kind or reserved field), -E2BIG
 * (payload longer than GPU_PROTO_MAX_PAYLOAD).
 */
int gpu_frame_hdr_decode(const uint8_t in[GPU_PROTO_HDR_LEN], struct gpu_frame_hdr *hdr);

/**
 * gpu_args_size() - bytes the arguments @v (by signature @sig) take.
 * Return: the size, or -EINVAL when @n does not match the signature.
 */
long gpu_args_size(const char *sig, const struct gpu_val *v, unsigned int n);

/**
 * gpu_args_encode() - write values @v by signature @sig into @out (@cap bytes).
 * Return: bytes written, -EINVAL (count mismatch), -ENOSPC.
 */
long gpu_args_encode(const char *sig, const struct gpu_val *v, unsigned int n,
		     uint8_t *out, size_t cap);

/**
 * gpu_args_decode() - read @len bytes at @in by signature @sig into @v.
 * Every byte must be used. Return: number of fields, or -EBADMSG.
 */
int gpu_args_decode(const char *sig, const uint8_t *in, size_t len,
		    struct gpu_val *v);

/**
 * gpu_call_encode() - append one call record to @out at offset *@off.
 * Return: 0, -EINVAL (unknown call or arguments not matching it), -ENOSPC.
 */
int gpu_call_encode(const struct gpu_call *call, uint8_t *out, size_t cap, size_t *off);

/**
 * gpu_calls_decode() - walk a CALLS payload, one record per call of @fn.
 * Checks the count, each record's id, length and arguments, that only the
 * last record may be synchronous, and that no byte is left over. Decoding
 * stops at the first bad record or when @fn returns non-zero, which is
 * returned; records before it have been passed to @fn. Pass a NULL @fn to
 * only check. Return: 0, -EBADMSG or -EPROTO (see gpu_proto_last_error()),
 * or @fn's value.
 */
int gpu_calls_decode(const uint8_t *in, size_t len,
		     int (*fn)(void *arg, const struct gpu_call *call, bool last),
		     void *arg);

/**
 * gpu_reply_encode() - a REPLY payload for call @id.
 * Return: bytes written, -EINVAL, -ENOSPC.
 */
long gpu_reply_encode(unsigned int id, uint32_t deferred, uint32_t result,
		      const struct gpu_val *out, unsigned int n,
		      uint8_t *buf, size_t cap);

/**
 * gpu_reply_decode() - read a REPLY payload for call @id.
 * Return: number of output fields, or -EBADMSG.
 */
int gpu_reply_decode(unsigned int id, const uint8_t *in, size_t len,
		     uint32_t *deferred, uint32_t *result, struct gpu_val *out);

/* Little-endian helpers. */
static inline void gpu_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t gpu_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void gpu_put64(uint8_t *p, uint64_t v)
{
	gpu_put32(p, (uint32_t)v);
	gpu_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t gpu_get64(const uint8_t *p)
{
	return (uint64_t)gpu_get32(p) | (uint64_t)gpu_get32(p + 4) << 32;
}

#endif
