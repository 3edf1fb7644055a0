/* Bundles: the sync entry stream written to a file, so a USB stick can
 * carry a box's changes to another. A bundle is a header naming the
 * network, batches of one feed each (bodies and the signature of the last
 * body), and an end marker. Import verifies every batch exactly as a
 * peer's batch is verified (store_ingest()), so a bundle may pass through
 * untrusted hands.
 *
 *   header  "NUSABNDL" u8 version=1, network id[32]
 *   batch   'B' u16 count (1..NUSA_BATCH_MAX), count x (u32 len, body),
 *           signature[64]
 *   end     'E' u64 entries, u32 batches
 *
 * In a batch, bodies after the first leave out the 104 bytes the chain
 * implies (network, author, seq, prev: bytes 2..105 of the body); the
 * reader restores them from the entry before, and the signature then
 * verifies the restored bodies exactly as sent.
 */
#ifndef NUSA_BUNDLE_H
#define NUSA_BUNDLE_H

#include <stdint.h>
#include <stdio.h>

#include "nusa.h"
#include "store.h"

#define BUNDLE_VERSION 1

struct vector;

struct bundle_stats {
	uint64_t entries;	/* written, or read from the file */
	uint64_t batches;
	uint64_t added;		/* import: new here */
	uint64_t duplicates;	/* import: already here */
	uint64_t revoked;	/* import: dropped, past a revocation */
	uint64_t refused;	/* import: in batches of feeds refused here */
	uint64_t skipped;	/* export: entries no signature vouches for */
};

/* Writes every entry of t's store that peer vector `have` lacks (all if
 * have is NULL) to out, feeds of enrolling admins before the devices they
 * enrol. Memory stays bounded whatever the backlog: bodies stream from
 * LMDB. Returns 0 or a negative error (-errno on a write error). */
int bundle_export(struct store_txn *t, FILE *out, const struct vector *have,
    struct bundle_stats *st);

/* Where an import stopped, for an error message. */
struct bundle_fault {
	uint64_t batch;		/* 1-based batch number in the file */
	uint64_t entry;		/* 1-based entry number in the file */
};

/* Imports a bundle into s: a batch is stored whole or not at all (a
 * nested transaction), and batches before a bad one stay. A batch refused
 * for what this box knows of its author (-NUSA_EUNENROLLED,
 * -NUSA_EFORBIDDEN, -NUSA_EGAP) does not stop the import: the other feeds
 * go in, st->refused counts it, and the first such refusal is returned
 * with *where at the end. Anything else (a bad signature, a broken chain,
 * a malformed or truncated file) stops it there. Commits are
 * grouped (IMPORT_GROUP entries), so a crash mid-import keeps a prefix of
 * the batches; importing again completes it. If s has
 * no network yet, it joins the bundle's network only if the bundle enrols
 * self (the box's own key): until the batch that does, nothing is
 * committed, and a bundle that never does leaves s as it was.
 * Returns 0, -NUSA_EVERSION, -NUSA_ENETWORK, -NUSA_ETRUNCATED,
 * -NUSA_EMALFORMED, -NUSA_EUNENROLLED, or any store_ingest() error, with
 * *where set. */
int bundle_import(struct store *s, FILE *in,
    const uint8_t self[NUSA_KEY_LEN], struct bundle_stats *st,
    struct bundle_fault *where);

/* Writes one entry of a batch as bundles carry it: u32 length and the
 * body, whole if first, else without the bytes the chain implies.
 * Returns 0, -NUSA_EMALFORMED or -EIO. */
int bundle_put_entry(FILE *out, const uint8_t *body, size_t len, int first);

struct bundle_reader;

/* Reads and checks a bundle header. Returns 0 and sets *out (caller frees
 * with bundle_reader_free()), -NUSA_EMALFORMED, -NUSA_EVERSION or
 * -ENOMEM. in is not owned. */
int bundle_reader_open(struct bundle_reader **out, FILE *in);

/* The network the bundle belongs to. */
const uint8_t *bundle_reader_network(const struct bundle_reader *r);

/* Reads the next batch into b; its buffers belong to r and stay valid
 * until the next call. Returns 1 with a batch, 0 at a valid end marker,
 * -NUSA_ETRUNCATED at a premature end of file, or -NUSA_EMALFORMED. */
int bundle_reader_next(struct bundle_reader *r, struct store_batch *b);

void bundle_reader_free(struct bundle_reader **r);

#endif
