/* Entries: the unit of change and of sync. An entry's body is a canonical,
 * versioned binary encoding; its id is BLAKE2b-256 of the body and its
 * signature is Ed25519 over that id. Because each body names the id of
 * its author's previous entry, one valid signature on entry n vouches for
 * entries 1..n of the feed (see DESIGN.md). */
#ifndef NUSA_ENTRY_H
#define NUSA_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"

#define ENTRY_VERSION	 1
#define ENTRY_HEADER_LEN 118	/* bytes of a body before its payload */
#define ENTRY_BODY_MAX	 (ENTRY_HEADER_LEN + NUSA_PAYLOAD_MAX)

struct entry {
	uint8_t kind;
	uint8_t network[NUSA_KEY_LEN];
	uint8_t author[NUSA_KEY_LEN];
	uint64_t seq;			/* 1, 2, 3... per author */
	uint8_t prev[NUSA_HASH_LEN];	/* id of seq - 1; zero for seq 1 */
	uint64_t hlc;			/* hybrid logical clock, see hlc.h */
	const uint8_t *payload;
	uint32_t payload_len;
};

/* Encodes the body of e into buf of cap bytes, sets *len. Returns 0,
 * -NUSA_EMALFORMED if e or its payload is invalid, or -NUSA_ERANGE if cap
 * is too small. */
int entry_encode(const struct entry *e, uint8_t *buf, size_t cap,
    size_t *len);

/* Decodes a body, rejecting anything but its one canonical encoding:
 * wrong version, unknown kind, seq 0, prev not zero exactly for seq 1,
 * truncation, trailing bytes, or an invalid payload. Returns 0,
 * -NUSA_EVERSION or -NUSA_EMALFORMED. e points into buf: buf must
 * outlive e. */
int entry_decode(struct entry *e, const uint8_t *buf, size_t len);

/* Computes the id of a body. */
void entry_id(uint8_t id[NUSA_HASH_LEN], const uint8_t *body, size_t len);

/* Signs an id with a libsodium Ed25519 secret key (64 bytes). */
void entry_sign(uint8_t sig[NUSA_SIG_LEN], const uint8_t id[NUSA_HASH_LEN],
    const uint8_t *sk);

/* Returns 0 if sig is author's signature over id, else -NUSA_EBADSIG. */
int entry_verify(const uint8_t sig[NUSA_SIG_LEN],
    const uint8_t id[NUSA_HASH_LEN], const uint8_t author[NUSA_KEY_LEN]);

#endif
