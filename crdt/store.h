/* The LMDB store of one box: entries, the per-author feed index, the
 * version vector, enrolled devices and the materialized ledger state.
 * Every ingest runs in one write transaction, so after a crash the store
 * holds exactly a prefix of the acknowledged batches. Readers never block
 * the writer (LMDB MVCC). */
#ifndef NUSA_STORE_H
#define NUSA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"

#define STORE_FORMAT 1

struct store;
struct store_txn;
struct key;

enum store_open_flags {
	STORE_CREATE = 1,	/* create the directory's store if absent */
};

enum store_txn_flags {
	STORE_READ = 1,		/* a read-only snapshot */
	STORE_WRITE = 2,
};

/* A device as the network knows it. */
struct store_device {
	uint8_t pk[NUSA_KEY_LEN];
	uint8_t role;		/* enum role; ROLE_NONE if not enrolled */
	uint8_t forked;		/* fork_seq != 0 */
	uint64_t cut;		/* last valid seq; UINT64_MAX unless revoked */
	uint64_t cert_hlc;	/* clock of the winning certificate */
	uint64_t fork_seq;	/* lowest seq (up to cut) with two entries */
};

/* Returns the last seq of d's feed that counts: all of it unless d is
 * revoked; if revoked, up to its cut, and then only up to before its
 * first fork: a revoked key that forked has leaked, and no box can tell
 * which branch is genuine (a thief could fork below the cut). */
uint64_t store_device_cut(const struct store_device *d);

/* What one ingest did. */
struct store_ingest_stats {
	size_t added;		/* new entries stored */
	size_t duplicates;	/* already here */
	size_t forks;		/* new entries that fork a feed */
	size_t revoked;		/* past their author's revocation: dropped */
	size_t recomputes;	/* admin entries that recomputed the devices */
	size_t bad_index;	/* on error: index in the batch at fault */
};

/* A batch from a peer or a bundle: n bodies of one author's feed in seq
 * order and the signature of the last one. */
struct store_batch {
	const uint8_t *const *bodies;
	const size_t *lens;
	size_t n;
	const uint8_t *sig;
};

/* Opens (and with STORE_CREATE creates) the store in directory path.
 * Holds path/compact.lock shared (flock) until store_close(): waits
 * while a compaction runs, then opens the compacted store, and removes
 * what a compaction cut short left (data.mdb.old, path.compact/).
 * Returns 0 and sets *out, -errno, an LMDB error, or -NUSA_ESTOREVER.
 * Caller closes with store_close(). */
int store_open(struct store **out, const char *path, int flags);
void store_close(struct store *s);

/* The LMDB map (address space, not disk: LMDB writes only the pages it
 * uses) starts at STORE_MAP_INITIAL and doubles, up to STORE_MAP_MAX,
 * when a write transaction begins with more than half of it in use, so
 * there is always room for a transaction as large as the store so far.
 * A larger one fails with -ENOSPC (MDB_MAP_FULL); store_write() then
 * grows the map and runs it again. A map grown by another process
 * (nusactl while nusad runs) is adopted when a transaction begins. */
#define STORE_MAP_INITIAL ((size_t)64 << 20)

/* Like store_open() with a map that starts at initial bytes and grows up
 * to max (0: the defaults); for tests. */
int store_open_map(struct store **out, const char *path, int flags,
    size_t initial, size_t max);

/* Doubles the map now (never past its maximum; at least to what another
 * process set). No transaction of s may be open. Returns 0, -EBUSY if
 * one is, -ENOSPC at the maximum, or an LMDB error. */
int store_grow(struct store *s);

/* Runs fn(t, ctx) in a write transaction and commits it if fn returns 0
 * (else aborts, returning fn's value). If the map fills up (-ENOSPC),
 * grows it and runs fn again from the start, until the maximum. */
int store_write(struct store *s, int (*fn)(struct store_txn *t, void *ctx),
    void *ctx);

/* Space of a store and of the filesystem it is on, in bytes. */
struct store_space {
	uint64_t used;		/* pages in use up to the last one */
	uint64_t map;		/* the map's size now */
	uint64_t file;		/* data.mdb on disk */
	uint64_t fs_free;	/* free to unprivileged users */
	uint64_t fs_size;
};

/* Fills *sp. Returns 0 or -errno. */
int store_space(struct store *s, struct store_space *sp);

/* Rewrites the store in directory path without its free pages
 * (mdb_env_copy2 with MDB_CP_COMPACT into path.compact/, fsync), then
 * renames the copy over path/data.mdb: a power cut at any point leaves
 * either the old store or the new one whole. Leftovers of a compaction
 * cut short are removed first. The store must not be open anywhere (nusad:
 * stop it first): -EBUSY if any store_open() holds it, in this process or
 * another; a process that opens it meanwhile waits for the result.
 * Sets the sizes of data.mdb before and after. Returns 0 or a negative
 * error. */
int store_compact(const char *path, uint64_t *before, uint64_t *after);

/* Begins a transaction: STORE_READ or STORE_WRITE. Only one write
 * transaction runs at a time (LMDB serializes writers, also across
 * processes). Returns 0 and sets *out or a negative error. */
int store_begin(struct store *s, struct store_txn **out, int flags);
/* Begins a transaction inside the write transaction parent: its commit
 * merges into parent, its abort leaves parent as it was. parent must not
 * be used until the child ends. */
int store_begin_nested(struct store_txn *parent, struct store_txn **out);
/* Commits durably (fsync; a nested one into its parent) and frees t.
 * Returns 0 or a negative error; t is freed either way. A network joined
 * in a nested transaction must be committed before the parent is used. */
int store_commit(struct store_txn *t);
/* Discards t's changes and frees it; NULL-safe. */
void store_abort(struct store_txn *t);

/* Copies the network id and name (NUL-terminated, truncated to cap).
 * name may be NULL. Returns 0 or -NUSA_ENONET. */
int store_network(struct store_txn *t, uint8_t id[NUSA_KEY_LEN], char *name,
    size_t cap);

/* Makes this store part of network id (the root's public key). Fails
 * with -NUSA_EEXIST if it already is part of one, of any id. */
int store_join(struct store_txn *t, const uint8_t id[NUSA_KEY_LEN]);

/* Creates a new network rooted at key k: joins it and writes the genesis
 * entry naming it. */
int store_create_network(struct store_txn *t, const struct key *k,
    const char *name);

/* Authors a new entry of kind with payload on k's feed: next seq, chained
 * to the feed head, clock from hlc_next(), signed, and ingested exactly as
 * a peer's entry would be. Sets id (may be NULL). Returns 0,
 * -NUSA_EUNENROLLED, -NUSA_EREVOKED, -NUSA_EFORBIDDEN, -NUSA_EMALFORMED or
 * an LMDB error. */
int store_append(struct store_txn *t, const struct key *k, uint8_t kind,
    const uint8_t *payload, size_t len, uint8_t id[NUSA_HASH_LEN]);

/* Verifies a batch (decoding, network, one author, seq and hash chain,
 * link to a stored predecessor, the signature of the last entry, the
 * author's enrolment and role) and stores and materializes every entry
 * in t. Entries past their author's revocation are counted in
 * st->revoked and never count in the state; they are dropped, except the
 * tail of a batch that crosses the cut, which is kept (out of the state)
 * once so that the entries before the cut stay vouched for.
 * On error nothing of the batch should be committed: abort t. Returns 0
 * or -NUSA_EMALFORMED, -NUSA_ENETWORK, -NUSA_EBADCHAIN, -NUSA_EGAP,
 * -NUSA_EBADSIG, -NUSA_EUNENROLLED, -NUSA_EFORBIDDEN, -NUSA_ERANGE. */
int store_ingest(struct store_txn *t, const struct store_batch *b,
    struct store_ingest_stats *st);

/* Looks up a device. Returns 0, or -NUSA_ENOTFOUND (d->role ROLE_NONE). */
int store_device(struct store_txn *t, const uint8_t pk[NUSA_KEY_LEN],
    struct store_device *d);

/* Calls fn for every known device in key order; stops at and returns the
 * first non-zero value fn returns. */
int store_devices_each(struct store_txn *t,
    int (*fn)(const struct store_device *d, void *ctx), void *ctx);

/* Reads an entry: *body (valid until t ends) and its signature if this
 * store holds one (*sig NULL otherwise; sig may be NULL). Returns 0 or
 * -NUSA_ENOTFOUND. */
int store_entry(struct store_txn *t, const uint8_t id[NUSA_HASH_LEN],
    const uint8_t **body, size_t *len, const uint8_t **sig);

/* Highest contiguous seq of author's feed here; 0 if none. */
uint64_t store_vector_get(struct store_txn *t,
    const uint8_t author[NUSA_KEY_LEN]);

/* Calls fn(author, seq) for each feed in author order. */
int store_vector_each(struct store_txn *t,
    int (*fn)(const uint8_t *author, uint64_t seq, void *ctx), void *ctx);

/* One stored entry as the iterators hand it out; pointers valid until
 * the callback returns. sig is NULL where this store holds none. */
struct store_item {
	const uint8_t *id;
	const uint8_t *body;
	size_t len;
	const uint8_t *sig;
	uint64_t seq;
};

/* Calls fn for author's entries with seq >= from, in (seq, id) order. */
int store_feed_each(struct store_txn *t, const uint8_t author[NUSA_KEY_LEN],
    uint64_t from, int (*fn)(const struct store_item *it, void *ctx),
    void *ctx);

/* Like store_feed_each() from seq, but starting after the entry with id
 * after at seq (NULL: from seq on), so a stream can resume where it
 * stopped in another transaction. */
int store_feed_each_after(struct store_txn *t,
    const uint8_t author[NUSA_KEY_LEN], uint64_t seq,
    const uint8_t after[NUSA_HASH_LEN],
    int (*fn)(const struct store_item *it, void *ctx), void *ctx);

/* Calls fn for every entry in (clock, author, id) order. */
int store_log_each(struct store_txn *t,
    int (*fn)(const struct store_item *it, void *ctx), void *ctx);

/* Number of stored entries. */
size_t store_count(struct store_txn *t);

/* A fault found by store_verify(): the entry (or NULL) and what is wrong. */
typedef void (*store_fault_fn)(const uint8_t *id, const char *what,
    void *ctx);

/* Re-verifies every entry (canonical decoding, id, feed index, chain,
 * stored signatures, every entry vouched for by a signature) and
 * recomputes the materialized state from the entries, comparing digests.
 * Reports each fault to fn. Uses a write transaction that it aborts, so
 * nothing changes. Returns 0 if all is well, -NUSA_ECORRUPT if any fault
 * was reported, or another negative error. */
int store_verify(struct store *s, store_fault_fn fn, void *ctx,
    size_t *entries);

/* A number that changes whenever a write transaction commits (in this
 * or another process): cheap to poll for new entries. */
uint64_t store_generation(struct store *s);

/* Copies the clock of the last entry this store authored or saw. */
uint64_t store_hlc(struct store_txn *t);

#endif
