/* tests/fuzz/gen_wire_corpus.c — write a seed corpus for the wire fuzzer:
 * every message type, once with small and once with maximal fields, all
 * produced by the real encoder.
 *
 *   gen-wire-corpus DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wire.h"

static void fill(struct pvm_wire_msg *m, unsigned int type, bool big)
{
	pvm_wire_init(m, type, big ? 0xffffffffu : type);
	switch (type) {
	case PVM_WIRE_HELLO:
		memset(m->u.hello.nonce, 0x11, PVM_WIRE_NONCE_LEN);
		m->u.hello.nversions = big ? PVM_WIRE_VERSIONS_MAX : 1;
		for (unsigned int i = 0; i < m->u.hello.nversions; i++)
			m->u.hello.versions[i] = (uint16_t)(i + 1);
		if (big)
			memset(m->u.hello.client_id, 'c', PVM_WIRE_ID_MAX);
		else
			strcpy(m->u.hello.client_id, "vm-1");
		m->u.hello.addr_len = big ? PVM_WIRE_ADDR_MAX : 16;
		memset(m->u.hello.addr, 0x7f, m->u.hello.addr_len);
		break;
	case PVM_WIRE_CHALLENGE:
		m->u.challenge.version = 1;
		memset(m->u.challenge.nonce, 0x22, PVM_WIRE_NONCE_LEN);
		if (big) {
			memset(m->u.challenge.pod_id, 'p', PVM_WIRE_ID_MAX);
			memset(m->u.challenge.fabric, 'f', PVM_WIRE_FABRIC_MAX);
		} else {
			strcpy(m->u.challenge.pod_id, "pod-1");
			strcpy(m->u.challenge.fabric, "tcp;ofi_rxm");
		}
		m->u.challenge.mem_total = big ? UINT64_MAX : 1u << 30;
		m->u.challenge.mem_free = big ? UINT64_MAX : 1u << 29;
		m->u.challenge.page_size = big ? 1u << 30 : 4096;
		break;
	case PVM_WIRE_AUTH:
		memset(m->u.auth.mac, 0x33, PVM_WIRE_MAC_LEN);
		break;
	case PVM_WIRE_AUTH_OK:
		memset(m->u.auth_ok.mac, 0x44, PVM_WIRE_MAC_LEN);
		break;
	case PVM_WIRE_ERROR:
		m->u.error.status = big ? 0xffffffffu : PVM_WIRE_ST_AUTH_FAILED;
		if (big)
			memset(m->u.error.message, 'e', PVM_WIRE_MESSAGE_MAX);
		else
			strcpy(m->u.error.message, "bad mac");
		break;
	case PVM_WIRE_LEASE_REQUEST:
		m->u.lease_request.bytes = big ? UINT64_MAX : 1u << 20;
		break;
	case PVM_WIRE_LEASE_GRANT:
		m->u.lease_grant.lease_id = big ? UINT64_MAX : 1;
		m->u.lease_grant.size = big ? 1 : 1u << 20;
		m->u.lease_grant.remote_key = big ? UINT64_MAX : 0x77;
		m->u.lease_grant.remote_addr = big ? UINT64_MAX - 1 : 0;
		break;
	case PVM_WIRE_RELEASE:
		m->u.release.lease_id = big ? UINT64_MAX : 1;
		break;
	case PVM_WIRE_STATS:
		m->u.stats.ncounters = big ? PVM_WIRE_COUNTERS_MAX : 2;
		for (unsigned int i = 0; i < m->u.stats.ncounters; i++) {
			m->u.stats.counters[i].id = i + 1;
			m->u.stats.counters[i].value = big ? UINT64_MAX - i : i;
		}
		break;
	case PVM_WIRE_HEARTBEAT:
		m->u.heartbeat.timestamp_ns = big ? UINT64_MAX : 1000;
		m->u.heartbeat.echo_ns = big ? UINT64_MAX : 0;
		break;
	case PVM_WIRE_DRAIN:
		m->u.drain.lease_id = big ? UINT64_MAX : 0;
		m->u.drain.deadline_ms = big ? UINT32_MAX : 5000;
		break;
	case PVM_WIRE_DRAIN_DONE:
		m->u.drain_done.lease_id = big ? UINT64_MAX : 0;
		break;
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	static uint8_t buf[PVM_WIRE_MAX_MSG];
	unsigned int written = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	if (mkdir(argv[1], 0755) && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	for (unsigned int type = 1; type <= PVM_WIRE_TYPE_MAX; type++) {
		for (int big = 0; big <= 1; big++) {
			struct pvm_wire_msg m;
			char path[4096];
			ssize_t n;
			FILE *f;

			fill(&m, type, big);
			n = pvm_wire_encode(&m, buf, sizeof(buf));
			if (n < 0) {
				fprintf(stderr, "encoding %s: %s\n",
					pvm_wire_type_name(type), pvm_wire_last_error());
				return 1;
			}
			snprintf(path, sizeof(path), "%s/seed-%s-%s", argv[1],
				 pvm_wire_type_name(type), big ? "max" : "min");
			f = fopen(path, "wb");
			if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n ||
			    fclose(f)) {
				perror(path);
				return 1;
			}
			written++;
		}
	}
	printf("wrote %u seeds to %s\n", written, argv[1]);
	return 0;
}
