#include "key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* File layout: a magic line, then the 64-byte libsodium secret key (which
 * embeds the public key). */
static const char key_magic[] = "nusa-device-key-v1\n";
#define KEY_FILE_LEN (sizeof(key_magic) - 1 + crypto_sign_SECRETKEYBYTES)

static struct key *
key_alloc(void)
{
	struct key *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (k->sk == NULL) {
		free(k);
		return NULL;
	}
	return k;
}

struct key *
key_generate(void)
{
	struct key *k;

	if (sodium_init() < 0 || (k = key_alloc()) == NULL)
		return NULL;
	crypto_sign_keypair(k->pk, k->sk);
	return k;
}

void
key_free(struct key **k)
{
	if (k == NULL || *k == NULL)
		return;
	sodium_free((*k)->sk);	/* wipes before unmapping */
	free(*k);
	*k = NULL;
}

int
key_save(const struct key *k, const char *path)
{
	size_t mlen = sizeof(key_magic) - 1;
	int fd, rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = nusa_write_all(fd, key_magic, mlen);
	if (rc == 0)
		rc = nusa_write_all(fd, k->sk, KEY_FILE_LEN - mlen);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0)
		rc = nusa_sync_parent(path);
	if (rc != 0)
		unlink(path);
	return rc;
}

/* The public half is stored inside the secret key: recompute the pair
 * from the seed and compare, so a damaged file is caught here, not at a
 * peer. Sets k->pk. Returns 0, -ENOMEM or -NUSA_EMALFORMED. */
static int
key_check(struct key *k)
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[NUSA_KEY_LEN];
	uint8_t *sk2 = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	int same;

	if (sk2 == NULL)
		return -ENOMEM;
	crypto_sign_ed25519_sk_to_seed(seed, k->sk);
	crypto_sign_seed_keypair(pk, sk2, seed);
	sodium_memzero(seed, sizeof(seed));
	same = sodium_memcmp(sk2, k->sk, crypto_sign_SECRETKEYBYTES) == 0;
	sodium_free(sk2);
	if (!same)
		return -NUSA_EMALFORMED;
	memcpy(k->pk, pk, NUSA_KEY_LEN);
	return 0;
}

int
key_load(struct key **out, const char *path)
{
	uint8_t *buf = NULL;
	struct key *k = NULL;
	struct stat st;
	size_t off = 0;
	ssize_t n;
	int fd, rc;

	*out = NULL;
	if (sodium_init() < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if (st.st_size != (off_t)KEY_FILE_LEN) {
		rc = -NUSA_EMALFORMED;
		goto fail;
	}
	if ((buf = sodium_malloc(KEY_FILE_LEN)) == NULL ||
	    (k = key_alloc()) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	while (off < KEY_FILE_LEN) {
		n = read(fd, buf + off, KEY_FILE_LEN - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -NUSA_EMALFORMED;
			goto fail;
		}
		off += (size_t)n;
	}
	if (memcmp(buf, key_magic, sizeof(key_magic) - 1) != 0) {
		rc = -NUSA_EMALFORMED;
		goto fail;
	}
	memcpy(k->sk, buf + sizeof(key_magic) - 1, crypto_sign_SECRETKEYBYTES);
	if ((rc = key_check(k)) != 0)
		goto fail;
	sodium_free(buf);
	close(fd);
	*out = k;
	return 0;
fail:
	key_free(&k);
	sodium_free(buf);
	close(fd);
	return rc;
}
