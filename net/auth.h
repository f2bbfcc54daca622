/* net/auth.h — shared-secret authentication of the control protocol.
 *
 * Concepts: a client and a pod share a secret (a file of at least 16 bytes,
 * readable by its owner only). The handshake is HELLO (client nonce) ->
 * CHALLENGE (pod nonce) -> AUTH (client MAC) -> AUTH_OK (pod MAC). Both
 * MACs are HMAC-SHA256 keyed with the secret:
 *
 *   client MAC = HMAC(secret, "poolvm-auth-v1" || client_nonce || pod_nonce
 *                             || client_id)
 *   pod MAC    = HMAC(secret, "poolvm-pod-v1"  || client_nonce || pod_nonce
 *                             || pod_id)
 *
 * Labels are ASCII without NUL, nonces are 32 bytes, ids are their
 * characters without the NUL. Fresh nonces on both sides make every MAC
 * single-use; the pod MAC lets the client refuse a pod that does not know
 * the secret. Comparisons are constant time (libsodium).
 *
 * Secret bytes live in memory locked from swap where the system allows it
 * and are wiped when freed.
 */
#ifndef POOLVM_NET_AUTH_H
#define POOLVM_NET_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define PVM_AUTH_NONCE_LEN      32u
#define PVM_AUTH_MAC_LEN        32u
#define PVM_AUTH_SECRET_MIN     16u
#define PVM_AUTH_SECRET_MAX     4096u

#define PVM_AUTH_CLIENT_LABEL   "poolvm-auth-v1"
#define PVM_AUTH_POD_LABEL      "poolvm-pod-v1"

struct pvm_auth_secret;

/**
 * pvm_auth_init() - initialise libsodium. Idempotent, any thread.
 * Return: 0, or -EIO when libsodium cannot start (no entropy source).
 */
int pvm_auth_init(void);

/**
 * pvm_auth_secret_load() - read a secret file.
 * @path: the file; must be a regular file that neither group nor others
 *        may read or write (mode 0600 or 0400), holding 16..4096 bytes
 *        after one trailing "\n" or "\r\n" is stripped.
 * @out:  the secret; free with pvm_auth_secret_free().
 * @err:  on failure, a sentence naming the file, the problem and the fix.
 * @errlen: size of @err (may be 0 with @err NULL).
 *
 * Return: 0, or -errno from open/read, -EPERM (group/other access), -EINVAL
 * (not a regular file, or shorter than 16 bytes), -ENODATA (empty file),
 * -EFBIG (over 4096 bytes), -ENOMEM. Any thread.
 */
int pvm_auth_secret_load(const char *path, struct pvm_auth_secret **out,
			 char *err, size_t errlen);

/**
 * pvm_auth_secret_from_bytes() - a secret from memory (tests, key agents).
 * Return: 0, -EINVAL when @len is outside 16..4096, -ENOMEM.
 */
int pvm_auth_secret_from_bytes(const void *bytes, size_t len,
			       struct pvm_auth_secret **out);

/** pvm_auth_secret_free() - wipe and free; NULL is a no-op. */
void pvm_auth_secret_free(struct pvm_auth_secret *secret);

/** pvm_auth_nonce() - fill @nonce with 32 random bytes (libsodium). */
void pvm_auth_nonce(uint8_t nonce[PVM_AUTH_NONCE_LEN]);

/**
 * pvm_auth_client_mac() - the MAC a client sends in AUTH.
 * @client_id: NUL-terminated, as sent in HELLO.
 * Return: 0, or -EINVAL for a NULL argument.
 */
int pvm_auth_client_mac(const struct pvm_auth_secret *secret,
			const uint8_t client_nonce[PVM_AUTH_NONCE_LEN],
			const uint8_t pod_nonce[PVM_AUTH_NONCE_LEN],
			const char *client_id, uint8_t mac[PVM_AUTH_MAC_LEN]);

/**
 * pvm_auth_client_verify() - pod side: check the MAC from AUTH.
 * Return: 0 when it matches, -EACCES when not (constant-time compare).
 */
int pvm_auth_client_verify(const struct pvm_auth_secret *secret,
			   const uint8_t client_nonce[PVM_AUTH_NONCE_LEN],
			   const uint8_t pod_nonce[PVM_AUTH_NONCE_LEN],
			   const char *client_id,
			   const uint8_t mac[PVM_AUTH_MAC_LEN]);

/** pvm_auth_pod_mac() - the MAC a pod sends in AUTH_OK. Return: 0/-EINVAL. */
int pvm_auth_pod_mac(const struct pvm_auth_secret *secret,
		     const uint8_t client_nonce[PVM_AUTH_NONCE_LEN],
		     const uint8_t pod_nonce[PVM_AUTH_NONCE_LEN],
		     const char *pod_id, uint8_t mac[PVM_AUTH_MAC_LEN]);

/** pvm_auth_pod_verify() - client side: check AUTH_OK. Return: 0/-EACCES. */
int pvm_auth_pod_verify(const struct pvm_auth_secret *secret,
			const uint8_t client_nonce[PVM_AUTH_NONCE_LEN],
			const uint8_t pod_nonce[PVM_AUTH_NONCE_LEN],
			const char *pod_id, const uint8_t mac[PVM_AUTH_MAC_LEN]);

#endif
