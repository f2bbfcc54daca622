/* net/auth.c — secret files and HMAC-SHA256 handshake MACs (libsodium). */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

struct pvm_auth_secret {
	size_t len;
	uint8_t bytes[PVM_AUTH_SECRET_MAX + 2];  /* + "\r\n" while loading */
};

int pvm_auth_init(void)
{
	/* 0: initialised now, 1: already initialised, -1: failure. */
	return sodium_init() < 0 ? -EIO : 0;
}

static int __attribute__((format(printf, 4, 5)))
auth_fail(int ret, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static struct pvm_auth_secret *secret_alloc(void)
{
	struct pvm_auth_secret *s;

	if (pvm_auth_init())
		return NULL;
	/* Guard pages, mlock where allowed, wiped by sodium_free(). */
	s = sodium_malloc(sizeof(*s));
	if (s)
		s->len = 0;
	return s;
}

void pvm_auth_secret_free(struct pvm_auth_secret *secret)
{
	if (secret)
		sodium_free(secret);
}

int pvm_auth_secret_from_bytes(const void *bytes, size_t len,
			       struct pvm_auth_secret **out)
{
	struct pvm_auth_secret *s;

	*out = NULL;
	if (!bytes || len < PVM_AUTH_SECRET_MIN || len > PVM_AUTH_SECRET_MAX)
		return -EINVAL;
	s = secret_alloc();
	if (!s)
		return -ENOMEM;
	memcpy(s->bytes, bytes, len);
	s->len = len;
	*out = s;
	return 0;
}

int pvm_auth_secret_load(const char *path, struct pvm_auth_secret **out,
			 char *err, size_t errlen)
{
	struct pvm_auth_secret *s = NULL;
	struct stat st;
	size_t len = 0;
	int fd, ret;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path)
		return auth_fail(-EINVAL, err, errlen,
				 "no secret file given: pass the path of a file holding the shared secret");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		return auth_fail(ret, err, errlen, "cannot open secret file %s: %s",
				 path, strerror(-ret));
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		auth_fail(ret, err, errlen, "cannot stat secret file %s: %s",
			  path, strerror(-ret));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = auth_fail(-EINVAL, err, errlen,
				"secret file %s is not a regular file", path);
		goto err_close;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		ret = auth_fail(-EPERM, err, errlen,
				"secret file %s is accessible by group or others (mode %04o): run chmod 600 %s",
				path, (unsigned int)(st.st_mode & 07777), path);
		goto err_close;
	}
	if (st.st_size == 0) {
		ret = auth_fail(-ENODATA, err, errlen,
				"secret file %s is empty: write at least %u random bytes into it (e.g. head -c 32 /dev/urandom | base64 > %s)",
				path, PVM_AUTH_SECRET_MIN, path);
		goto err_close;
	}
	s = secret_alloc();
	if (!s) {
		ret = auth_fail(-ENOMEM, err, errlen,
				"no memory for the secret from %s", path);
		goto err_close;
	}
	/* Up to MAX + 2 bytes (a secret of MAX plus "\r\n"), then one probe. */
	for (;;) {
		uint8_t probe;
		ssize_t n;

		if (len < sizeof(s->bytes))
			n = read(fd, s->bytes + len, sizeof(s->bytes) - len);
		else
			n = read(fd, &probe, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			auth_fail(ret, err, errlen, "cannot read secret file %s: %s",
				  path, strerror(-ret));
			goto err_free;
		}
		if (n == 0)
			break;
		if (len == sizeof(s->bytes)) {
			probe = 0;
			ret = auth_fail(-EFBIG, err, errlen,
					"secret file %s is larger than %u bytes",
					path, PVM_AUTH_SECRET_MAX);
			goto err_free;
		}
		len += (size_t)n;
	}
	close(fd);
	fd = -1;

	/* Strip one trailing "\n" or "\r\n" (editors and echo add them). */
	if (len && s->bytes[len - 1] == '\n') {
		len--;
		if (len && s->bytes[len - 1] == '\r')
			len--;
	}
	if (len > PVM_AUTH_SECRET_MAX) {
		ret = auth_fail(-EFBIG, err, errlen,
				"secret file %s is larger than %u bytes",
				path, PVM_AUTH_SECRET_MAX);
		goto err_free;
	}
	if (len == 0) {
		ret = auth_fail(-ENODATA, err, errlen,
				"secret file %s holds only a newline: write at least %u random bytes into it",
				path, PVM_AUTH_SECRET_MIN);
		goto err_free;
	}
	if (len < PVM_AUTH_SECRET_MIN) {
		ret = auth_fail(-EINVAL, err, errlen,
				"secret in %s is %zu bytes, at least %u are needed",
				path, len, PVM_AUTH_SECRET_MIN);
		goto err_free;
	}
	s->len = len;
	*out = s;
	return 0;

err_free:
	pvm_auth_secret_free(s);
err_close:
	if (fd >= 0)
		close(fd);
	return ret;
}

void pvm_auth_nonce(uint8_t nonce[PVM_AUTH_NONCE_LEN])
{
	pvm_auth_init();
	randombytes_buf(nonce, PVM_AUTH_NONCE_LEN);
}

static int auth_mac(const struct pvm_auth_secret *secret, const char *label,
		    const uint8_t *client_nonce, const uint8_t *pod_nonce,
		    const char *id, uint8_t mac[PVM_AUTH_MAC_LEN])
{
	crypto_auth_hmacsha256_state st;

	if (!secret || !client_nonce || !pod_nonce || !id || !mac)
		return -EINVAL;
	crypto_auth_hmacsha256_init(&st, secret->bytes, secret->len);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, strlen(label));
	crypto_auth_hmacsha256_update(&st, client_nonce, PVM_AUTH_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, pod_nonce, PVM_AUTH_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)id, strlen(id));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
	return 0;
}

static int auth_verify(const struct pvm_auth_secret *secret, const char *label,
		       const uint8_t *client_nonce, const uint8_t *pod_nonce,
		       const char *id, const uint8_t mac[PVM_AUTH_MAC_LEN])
{
	uint8_t want[PVM_AUTH_MAC_LEN];
	int ret;

	if (!mac)
		return -EINVAL;
	ret = auth_mac(secret, label, client_nonce, pod_nonce, id, want);
	if (ret)
		return ret;
	ret = sodium_memcmp(want, mac, PVM_AUTH_MAC_LEN) == 0 ? 0 : -EACCES;
	sodium_memzero(want, sizeof(want));
	return ret;
}

int pvm_auth_client_mac(const struct pvm_auth_secret *secret,
			const uint8_t client_nonce[PVM_AUTH_NONCE_LEN],
			const uint8_t pod_nonce[PVM_AUTH_NONCE_LEN],
			const char *client_id, uint8_t mac[PVM_AUTH_MAC_LEN])
{
	return auth_mac(secret, PVM_AUTH_CLIENT_LABEL, client_nonce, pod_nonce,
			client_id, mac);
}

int pvm_auth_client_verify(const struct pvm_auth_secret *secret,
			   const uint8_t client_nonce[PVM_AUTH_NONCE_LEN],
			   const uint8_t pod_nonce[PVM_AUTH_NONCE_LEN],
			   const char *client_id,
			   const uint8_t mac[PVM_AUTH_MAC_LEN])
{
	return auth_verify(secret, PVM_AUTH_CLIENT_LABEL, client_nonce, pod_nonce,
			   client_id, mac);
}

int pvm_auth_pod_mac(const struct pvm_auth_secret *secret,
		     const uint8_t client_nonce[PVM_AUTH_NONCE_LEN],
		     const uint8_t pod_nonce[PVM_AUTH_NONCE_LEN],
		     const char *pod_id, uint8_t mac[PVM_AUTH_MAC_LEN])
{
	return auth_mac(secret, PVM_AUTH_POD_LABEL, client_nonce, pod_nonce,
			pod_id, mac);
}

int pvm_auth_pod_verify(const struct pvm_auth_secret *secret,
			const uint8_t client_nonce[PVM_AUTH_NONCE_LEN],
			const uint8_t pod_nonce[PVM_AUTH_NONCE_LEN],
			const char *pod_id, const uint8_t mac[PVM_AUTH_MAC_LEN])
{
	return auth_verify(secret, PVM_AUTH_POD_LABEL, client_nonce, pod_nonce,
			   pod_id, mac);
}
