/* tests/fuzz/fuzz_etcd_decode.c — libFuzzer target for what an etcd
 * endpoint or another registry writer can send us: answers of the JSON
 * gateway (etcd_parse_range, etcd_parse_answer) and registry values
 * (registry_pod_parse, registry_reservation_parse), plus base64.
 */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct etcd_range_result r;
	struct json_object *o;
	struct registry_pod p;
	char why[256], *copy, *dec;
	uint64_t bytes;
	size_t n;

	if (size > (1u << 20))
		return 0;
	if (etcd_parse_range((const char *)data, size, &r, why, sizeof(why)) == 0) {
		for (size_t i = 0; i < r.n; i++) {
			/* Whatever parsed must be usable as C strings. */
			(void)strlen(r.kvs[i].key);
			(void)strlen(r.kvs[i].value);
			registry_pod_parse(r.kvs[i].value, r.kvs[i].value_len, r.kvs[i].key,
					   &p, why, sizeof(why));
		}
		etcd_range_free(&r);
	}
	if (etcd_parse_answer((const char *)data, size, &o, why, sizeof(why)) == 0) {
		int64_t v;

		etcd_json_int64(o, "ID", &v);
		etcd_json_int64(o, "TTL", &v);
		json_object_put(o);
	}
	registry_pod_parse((const char *)data, size, "a:1", &p, why, sizeof(why));
	registry_reservation_parse((const char *)data, size, &bytes);
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (etcd_b64_decode(copy, &dec, &n) == 0) {
		char *enc = etcd_b64_encode(dec, n);

		/* Canonical inputs round-trip exactly. */
		if (enc && strlen(enc) == size && memcmp(enc, copy, size) != 0 &&
		    strchr(copy, '=') == NULL)
			abort();
		free(enc);
		free(dec);
	}
	free(copy);
	return 0;
}
