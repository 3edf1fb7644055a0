/* Device keys: an Ed25519 key pair per box. The secret half lives in
 * sodium_malloc() memory, is written only to a 0600 file, and is never
 * printed. The public half is the device id. */
#ifndef NUSA_KEY_H
#define NUSA_KEY_H

#include <stdint.h>

#include "nusa.h"

struct key {
	uint8_t pk[NUSA_KEY_LEN];
	uint8_t *sk;		/* crypto_sign_SECRETKEYBYTES, guarded */
};

/* Generates a new key pair. Returns NULL on failure. Caller frees with
 * key_free(). */
struct key *key_generate(void);

/* Writes k's secret key to path, created with mode 0600; fails with
 * -EEXIST rather than replace an existing key. Returns 0 or -errno. */
int key_save(const struct key *k, const char *path);

/* Reads a key written by key_save() and checks that it is one. Returns 0
 * and sets *out (caller frees with key_free()), -errno, or
 * -NUSA_EMALFORMED. */
int key_load(struct key **out, const char *path);

/* Wipes and frees *k; NULL-safe; clears the caller's pointer. */
void key_free(struct key **k);

#endif
