/* Bundles: the sync entry stream written to a file, so a USB stick can
 * carry a box's changes to another. Import verifies every batch exactly
 * as a peer's batch is verified (store_ingest()), so a bundle may pass
 * through untrusted hands; the box that made it signs the whole file, and
 * it carries receipts (receipt.h) back to the boxes that sent entries.
 *
 *   header   "NUSABNDL" u8 version=2, u8 compression (0 none, 1 zstd),
 *            network[32], maker[32] (its device id), u64 created (unix s),
 *            u64 entries, u32 batches: what the body holds
 *   body     compressed as the header says (one zstd frame, window at
 *            most 2^BUNDLE_WINDOW_LOG), a sequence of records:
 *     batch    'B' then a batch as stream.h encodes it
 *     receipt  'R' u32 len (<= RECEIPT_MAX), a signed receipt
 *     end      'E' u64 entries, u32 batches, u32 receipts
 *              (entries and batches equal the header's)
 *   trailer  signature[64]: the maker's Ed25519 signature over the
 *            BLAKE2b-256 (keyed "nusa-bundle-2") of every byte before it,
 *            as stored (header and compressed body)
 *
 * Batches come before receipts, so that a receipt's device is enrolled
 * by the time it is read. Memory stays bounded both ways: the body
 * streams through fixed buffers (and the zstd window), never the file.
 */
#ifndef NUSA_BUNDLE_H
#define NUSA_BUNDLE_H

#include <stdint.h>
#include <stdio.h>

#include "nusa.h"
#include "store.h"

#define BUNDLE_VERSION	    2
#define BUNDLE_HEAD_LEN	    (8 + 1 + 1 + 2 * NUSA_KEY_LEN + 8 + 8 + 4)
#define BUNDLE_WINDOW_LOG   22	/* 4 MiB: what a reader may need */
#define BUNDLE_RECEIPTS_MAX 256 /* receipts in one bundle */
#define BUNDLE_ZSTD_LEVEL   9

enum bundle_compression {
	BUNDLE_RAW = 0,		/* for tests and fuzz seeds */
	BUNDLE_ZSTD = 1,
};

/* What bundle_reader_next() found. */
enum bundle_item {
	BUNDLE_BATCH = 1,
	BUNDLE_RECEIPT = 2,
};

struct vector;
struct key;

struct bundle_stats {
	uint64_t entries;	/* written, or read from the file */
	uint64_t batches;
	uint64_t added;		/* import: new here */
	uint64_t duplicates;	/* import: already here */
	uint64_t revoked;	/* import: dropped, past a revocation */
	uint64_t refused;	/* import: in batches of feeds refused here */
	uint64_t skipped;	/* export: entries no signature vouches for */
	uint64_t receipts;	/* written; import: kept (newer than ours) */
	uint64_t receipts_bad;	/* import: not kept (bad, or unknown box) */
	uint64_t expected;	/* import: entries the header promised */
	int receipt_err;	/* import: 0, or why this box's own receipt
				 * could not be recorded (entries kept) */
};

/* Writes every entry of t's store that peer vector `have` lacks (all if
 * have is NULL) to out, feeds of enrolling admins before the devices they
 * enrol, then a fresh receipt of maker and the signed receipts t's store
 * keeps of other devices (at most BUNDLE_RECEIPTS_MAX), compressed as
 * compression says and signed by maker. Memory stays bounded whatever the
 * backlog: bodies stream from LMDB (twice: counting first, for the
 * header). Returns 0 or a negative error (-errno on a write error). */
int bundle_export(struct store_txn *t, FILE *out, const struct vector *have,
    const struct key *maker, int compression, struct bundle_stats *st);

/* Where an import stopped, for an error message. */
struct bundle_fault {
	uint64_t batch;		/* 1-based batch number in the file */
	uint64_t entry;		/* 1-based entry number in the file */
	int maker;		/* the fault is the maker's signature or
				 * enrolment; every batch was imported */
};

/* Imports a bundle into s: a batch is stored whole or not at all (a
 * nested transaction), and batches before a bad one stay. A batch refused
 * for what this box knows of its author (-NUSA_EUNENROLLED,
 * -NUSA_EFORBIDDEN, -NUSA_EGAP) does not stop the import: the other feeds
 * go in, st->refused counts it, and the first such refusal is returned
 * with *where at the end. Anything else (a bad signature, a broken chain,
 * a malformed or truncated file) stops it there. Receipts of enrolled
 * devices are kept if newer than the ones s has. Commits are grouped
 * (IMPORT_GROUP entries), so a crash mid-import keeps a prefix of the
 * batches; importing again completes it. If s has no network yet, it
 * joins the bundle's network only if the bundle enrols self: until the
 * batch that does, nothing is committed, and a bundle that never does
 * leaves s as it was.
 *
 * The maker's signature can only be checked at the end. Every entry was
 * verified against its author's signature by then, so what was imported
 * stays; a signature that does not verify returns -NUSA_EBADSIG, a maker
 * not enrolled here -NUSA_EUNENROLLED, both with where->maker set.
 * Whatever went in stays (committed), then s records self's own receipt
 * in a transaction of its own: if that fails, st->receipt_err says why
 * and the return value does not. If the LMDB map fills up (-ENOSPC), it
 * grows and the import runs again from where in stood (fseeko(): a pipe
 * cannot, and gets -ENOSPC). Returns 0, -NUSA_EVERSION, -NUSA_ENETWORK, -NUSA_ETRUNCATED,
 * -NUSA_EMALFORMED, -NUSA_EUNENROLLED, -NUSA_EBADSIG, or any
 * store_ingest() error, with *where set. */
int bundle_import(struct store *s, FILE *in, const struct key *self,
    struct bundle_stats *st, struct bundle_fault *where);

struct bundle_writer;

/* Writes a bundle header and starts the body: the caller promises
 * entries in batches. Returns 0 and sets *out, -ENOMEM, -EINVAL or -EIO.
 * out and maker are not owned and must outlive the writer. */
int bundle_writer_open(struct bundle_writer **out, FILE *f,
    const uint8_t network[NUSA_KEY_LEN], const struct key *maker,
    uint64_t created, uint64_t entries, uint64_t batches, int compression);

/* Appends one batch already encoded as stream.h does (n entries). */
int bundle_writer_encoded(struct bundle_writer *w, const uint8_t *data,
    size_t len, size_t n);

/* Appends one encoded receipt. Returns 0, -NUSA_ERANGE or -EIO. */
int bundle_writer_receipt(struct bundle_writer *w, const uint8_t *p,
    size_t len);

/* Ends the body, writes the trailer and flushes: returns 0, -EIO, or
 * -EINVAL if the batches differ from the promise. Frees *w (also on
 * error) and clears the pointer. */
int bundle_writer_close(struct bundle_writer **w);

struct bundle_reader;

/* Reads and checks a bundle header. Returns 0 and sets *out (caller frees
 * with bundle_reader_free()), -NUSA_EMALFORMED, -NUSA_EVERSION or
 * -ENOMEM. in is not owned. */
int bundle_reader_open(struct bundle_reader **out, FILE *in);

/* The network the bundle belongs to, the box that made it (its claim
 * until bundle_reader_next() returned 0), and the entries its header
 * promises. */
const uint8_t *bundle_reader_network(const struct bundle_reader *r);
const uint8_t *bundle_reader_maker(const struct bundle_reader *r);
uint64_t bundle_reader_expected(const struct bundle_reader *r);

/* Reads the next record: BUNDLE_BATCH with a batch in b, BUNDLE_RECEIPT
 * (bundle_reader_receipt() has it), 0 at a valid end whose trailer is
 * the maker's signature, -NUSA_EBADSIG if it is not, -NUSA_ETRUNCATED at
 * a premature end of file, -NUSA_EMALFORMED (also for corrupt compressed
 * data, or a window larger than BUNDLE_WINDOW_LOG), -ENOMEM or -EIO.
 * Buffers belong to r and stay valid until the next call. */
int bundle_reader_next(struct bundle_reader *r, struct store_batch *b);

/* The receipt just read: its encoding, not yet verified. */
void bundle_reader_receipt(const struct bundle_reader *r, const uint8_t **p,
    size_t *len);

/* Bytes r holds now (buffers and the decompressor's state). */
size_t bundle_reader_memory(const struct bundle_reader *r);

void bundle_reader_free(struct bundle_reader **r);

#endif
