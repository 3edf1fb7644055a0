/* Receipts: what a box holds (its version vector), with the time, signed
 * by the box, so that the boxes that send it entries learn what reached
 * it, also through a mule that carries bundles both ways. A box keeps the
 * latest receipt of every device in its store (the receipts table), keyed
 * by device and by how it learned it: from a bundle (signed, and carried
 * on in the bundles it makes) or from a sync session (the peer's vector,
 * authenticated by CURVE: kept here, never carried on).
 *
 *   receipt  u8 version=1, network[32], device[32], u64 time (unix s),
 *            u16 n (0..RECEIPT_FEEDS_MAX), n x (author[32], u64 seq)
 *            with authors strictly ascending and seq >= 1,
 *            signature[64]: the device's Ed25519 signature over the
 *            BLAKE2b-256 (keyed "nusa-receipt-1") of all bytes before it.
 */
#ifndef NUSA_RECEIPT_H
#define NUSA_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"

#define RECEIPT_VERSION	  1
#define RECEIPT_FEEDS_MAX 1024
#define RECEIPT_HEAD_LEN  (1 + NUSA_KEY_LEN + NUSA_KEY_LEN + 8 + 2)
#define RECEIPT_ITEM_LEN  (NUSA_KEY_LEN + 8)
#define RECEIPT_MAX                                                       \
	(RECEIPT_HEAD_LEN + RECEIPT_FEEDS_MAX * RECEIPT_ITEM_LEN + NUSA_SIG_LEN)

enum receipt_via {
	RECEIPT_BUNDLE = 1,	/* signed by the device, carried by bundles */
	RECEIPT_SYNC = 2,	/* the vector a sync session saw */
};

struct store_txn;
struct key;
struct vector;

/* A decoded receipt; items points into the encoding it came from. */
struct receipt {
	uint8_t network[NUSA_KEY_LEN];
	uint8_t device[NUSA_KEY_LEN];
	uint64_t time;
	size_t n;
	const uint8_t *items;	/* n x (author[32], be64 seq) */
	uint8_t via;		/* from the store: enum receipt_via */
	uint64_t recorded;	/* from the store: when this box learned it */
};

/* Author and seq of item i (< r->n). */
void receipt_item(const struct receipt *r, size_t i,
    const uint8_t **author, uint64_t *seq);

/* The seq r lists for author, 0 if none. */
uint64_t receipt_get_seq(const struct receipt *r,
    const uint8_t author[NUSA_KEY_LEN]);

/* Encodes and signs k's receipt of what t's store holds now, at time
 * now, into buf of cap bytes (RECEIPT_MAX is enough). Returns 0 and sets
 * *len, -NUSA_ENONET, -NUSA_ERANGE (more than RECEIPT_FEEDS_MAX feeds or
 * cap too small) or a store error. */
int receipt_make(struct store_txn *t, const struct key *k, uint64_t now,
    uint8_t *buf, size_t cap, size_t *len);

/* Decodes a receipt of exactly len bytes and verifies its signature.
 * Returns 0, -NUSA_EVERSION, -NUSA_EMALFORMED or -NUSA_EBADSIG. r points
 * into p. */
int receipt_decode(struct receipt *r, const uint8_t *p, size_t len);

/* Keeps a receipt (signed: verified again here) learned from a bundle:
 * it must be of t's network and of a device enrolled in it, and it
 * replaces the one kept of that device only if it is later: it lists
 * more entries, or as many at a time no earlier (what a box holds only
 * grows, so a device's wrong clock cannot pin an old receipt), or fewer
 * at a later time no more than a day past now (the device lost entries:
 * restored from a backup). Sets *kept (may be NULL) to 1 if it did.
 * Returns 0, a receipt_decode() error, -NUSA_ENETWORK, -NUSA_EUNENROLLED,
 * -NUSA_EREVOKED (the device was revoked) or a store error. */
int receipt_put(struct store_txn *t, const uint8_t *p, size_t len,
    uint64_t now, int *kept);

/* Records a peer's vector, as a sync session saw it at time now, as the
 * peer's receipt by sync (at most RECEIPT_FEEDS_MAX feeds: the lowest
 * authors), also when it holds less than the one kept (a fresh,
 * authenticated vector). Writes nothing if the vector is the one kept:
 * its time is when the vector last changed. Returns 0 or a store
 * error. */
int receipt_put_sync(struct store_txn *t, const uint8_t device[NUSA_KEY_LEN],
    const struct vector *have, uint64_t now);

/* Fills r with the later receipt of device (by either way: the sync one
 * if its vector was seen after the bundle one reached this box; else the
 * bundle one if it is later as receipt_put() orders them); r points into
 * t's memory, valid until t ends. Returns 0 or -NUSA_ENOTFOUND. */
int receipt_get(struct store_txn *t, const uint8_t device[NUSA_KEY_LEN],
    struct receipt *r);

/* Calls fn for every kept receipt in (device, via) order with its
 * encoding (signed ones only are worth carrying on: via RECEIPT_BUNDLE);
 * stops at and returns the first non-zero value fn returns. */
int receipt_each(struct store_txn *t,
    int (*fn)(const struct receipt *r, const uint8_t *enc, size_t len,
    void *ctx), void *ctx);

/* Counts, over the feeds t's store holds, the entries r's device has
 * (*have) and lacks (*missing). */
int receipt_compare(struct store_txn *t, const struct receipt *r,
    uint64_t *have, uint64_t *missing);

/* r's items as a vector, for bundle_export(). Returns NULL on -ENOMEM.
 * Caller frees with vector_free(). */
struct vector *receipt_vector(const struct receipt *r);

#endif
