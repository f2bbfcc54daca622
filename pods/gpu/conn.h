/* pods/gpu/conn.h — framing and the shared-secret handshake of the GPU
 * protocol, used by both the GPU pod and the guest shim, on any link
 * (link.h: TCP or libfabric); and the TCP sockets under the tcp link.
 *
 * Concepts: blocking calls, one frame at a time (proto.h). The handshake
 * is that of net/auth.h carried in GPU frames: HELLO (client nonce, client
 * id) -> CHALLENGE (pod nonce) -> AUTH (client MAC) -> AUTH_OK (pod MAC,
 * pod id) or REFUSED (reason). Both sides check the other's MAC.
 */
#ifndef POOLVM_GPU_CONN_H
#define POOLVM_GPU_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "link.h"
#include "proto.h"

struct pvm_auth_secret;

/**
 * gpu_conn_send() - send one frame (header and @len payload bytes).
 * Return: 0, or -errno (-EPIPE/-ECONNRESET when the peer is gone). Never
 * raises SIGPIPE (tcp).
 */
int gpu_conn_send(struct gpu_link *l, unsigned int kind, const void *payload, uint32_t len);

/**
 * gpu_conn_recv() - receive one frame; the payload goes to *@buf, which is
 * grown (realloc) to fit, *@cap its size.
 * Return: 0, -ECONNRESET (peer closed, also mid-frame), -ETIMEDOUT,
 * -EPROTO/-E2BIG (bad header, see gpu_proto_last_error()), -ENOMEM, -errno.
 */
int gpu_conn_recv(struct gpu_link *l, struct gpu_frame_hdr *hdr, uint8_t **buf, size_t *cap);

/**
 * gpu_conn_connect() - connect to HOST:PORT ("10.0.0.5:7400", "[::1]:7400").
 * Sets TCP_NODELAY and keepalives that notice a vanished host in about
 * 20 s. Return: fd, or -errno with a sentence in @err.
 */
int gpu_conn_connect(const char *hostport, char *err, size_t errlen);

/**
 * gpu_conn_listen() - listen on HOST:PORT (port 0: any free port); the
 * address bound goes to @bound. Return: fd, or -errno with @err.
 */
int gpu_conn_listen(const char *hostport, char *bound, size_t boundlen,
		    char *err, size_t errlen);

/** gpu_conn_tune() - TCP_NODELAY and keepalives on an accepted socket. */
void gpu_conn_tune(int fd);

/**
 * gpu_handshake_client() - authenticate to a pod as @client_id; the pod's
 * id goes to @pod_id (GPU_PROTO_ID_MAX + 1 bytes).
 * Return: 0, -EACCES (refused, or the pod does not know the secret: @err
 * says which), -EPROTO, -ECONNRESET, -ETIMEDOUT.
 */
int gpu_handshake_client(struct gpu_link *l, const struct pvm_auth_secret *secret,
			 const char *client_id, char *pod_id,
			 char *err, size_t errlen);

/**
 * gpu_handshake_pod() - authenticate a client; its id goes to @client_id
 * (GPU_PROTO_ID_MAX + 1 bytes). A wrong MAC is answered REFUSED.
 * Return: 0, -EACCES, -EPROTO, -ECONNRESET, -ETIMEDOUT.
 */
int gpu_handshake_pod(struct gpu_link *l, const struct pvm_auth_secret *secret,
		      const char *pod_id, char *client_id,
		      char *err, size_t errlen);

#endif
