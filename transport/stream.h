/* The entry stream: what a peer lacks, as batches of one feed each under
 * the signature of their last entry. Bundles write it to a file and sync
 * sessions send it a batch at a time; both decode it with the same code.
 *
 * A batch is encoded as
 *   u16 count (1..NUSA_BATCH_MAX), count x (u32 len, body), signature[64]
 * where bodies after the first leave out the 104 bytes the chain implies
 * (network, author, seq, prev: bytes 2..105); the reader restores them
 * from the entry before, and the signature then verifies the restored
 * bodies exactly as they were signed.
 *
 * A stream keeps only a position in the store and the ids of at most a
 * few open runs, never the backlog: it resumes in a new read transaction
 * for every batch, so a slow peer holds no LMDB snapshot open. */
#ifndef NUSA_STREAM_H
#define NUSA_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "entry.h"
#include "nusa.h"
#include "store.h"

struct vector;

/* An encoded batch is never longer than this. */
#define STREAM_BATCH_MAX                                                  \
	(2 + NUSA_BATCH_MAX * (4 + ENTRY_BODY_MAX) + NUSA_SIG_LEN)

enum stream_flags {
	/* Send a forked feed from its fork, even if the peer's vector
	 * says it has as much: a vector cannot tell which branch it has. */
	STREAM_FORKS = 1,
};

struct stream_stats {
	uint64_t entries;	/* in the batches produced */
	uint64_t batches;
	uint64_t skipped;	/* entries no signature here vouches for */
};

/* One batch as stream_next() hands it out; data belongs to the stream
 * and is valid until the next call. */
struct stream_batch {
	const uint8_t *data;	/* the encoding above */
	size_t len;
	size_t n;		/* entries */
	uint8_t author[NUSA_KEY_LEN];
	uint64_t first_seq, last_seq;
};

struct stream;

/* Plans the stream of every entry of t's store that a peer with vector
 * have lacks (everything if have is NULL): feeds of admins before the
 * devices they enrol, each in seq order. Batches hold at most
 * batch_max entries (1..NUSA_BATCH_MAX) and end early past byte_max
 * encoded bytes (0: no limit) where a signature allows. Returns 0 and
 * sets *out (caller frees with stream_free()), -ENOMEM, or a store error. */
int stream_open(struct stream **out, struct store_txn *t,
    const struct vector *have, int flags, size_t batch_max, size_t byte_max);

/* Produces the next batch, reading from t (any read transaction of the
 * same store; the stream's plan was fixed when it was opened). Returns 1
 * with a batch in *b, 0 when the stream is done, or a negative error. */
int stream_next(struct stream *x, struct store_txn *t, struct stream_batch *b);

/* Changes the soft cap on a batch's bytes for the batches to come. */
void stream_set_byte_max(struct stream *x, size_t byte_max);

/* Counts so far. */
const struct stream_stats *stream_stats(const struct stream *x);

/* Number of feeds the stream plans to send. */
size_t stream_feeds(const struct stream *x);

void stream_free(struct stream **x);

/* Restores a batch's bodies from its encoding. */
struct stream_reader;

/* Returns a reader or NULL. Caller frees with stream_reader_free(). */
struct stream_reader *stream_reader_new(void);
void stream_reader_free(struct stream_reader **r);

/* Decodes one encoded batch of exactly len bytes into b, whose buffers
 * belong to r and stay valid until the next call. Checks every length
 * before it allocates, and allocates at most what arrived plus the
 * implied bytes. Returns 0, or -NUSA_EMALFORMED (also for trailing
 * bytes), or -ENOMEM. */
int stream_reader_decode(struct stream_reader *r, const uint8_t *p,
    size_t len, struct store_batch *b);

/* Writes one entry of a batch at out (room for len bytes): u32 length and
 * the body, whole if first, else without the bytes the chain implies.
 * Returns the bytes written, or 0 if len is not a body's length. */
size_t stream_put_entry(uint8_t *out, const uint8_t *body, size_t len,
    int first);

/* Fills in the implied bytes of body from its predecessor prev: body
 * holds its first 2 bytes, then a 104-byte hole, then the rest. */
void stream_chain_restore(const uint8_t *prev, size_t prev_len,
    uint8_t *body);

#define STREAM_CHAIN_FROM    2
#define STREAM_CHAIN_TO	     106
#define STREAM_CHAIN_IMPLIED (STREAM_CHAIN_TO - STREAM_CHAIN_FROM)

#endif
