/* Internals shared by store.c, state.c and receipt.c only: the LMDB
 * databases of a store and the layout of their keys. Not part of any
 * public API. */
#ifndef NUSA_STORE_DB_H
#define NUSA_STORE_DB_H

#include <lmdb.h>
#include <pthread.h>

#include "nusa.h"
#include "store.h"

/* An MDB_val over n bytes at p (LMDB takes keys as non-const). */
#define MV(p, n) ((MDB_val){ .mv_size = (n), .mv_data = (void *)(p) })

/*
 * meta      "format" -> u32, "network" -> id, "name" -> text,
 *           "hlc" -> u64: the box's clock
 * entries   id -> body
 * sigs      id -> signature, for entries this box holds one of
 * feeds     author | seq -> id (dupsort: a fork has two)
 * vector    author -> u64 highest contiguous seq
 * clock     hlc | author | id -> "" (log order)
 * admin     hlc | author | id -> "" for network, cert and revoke entries
 * receipts  device | via -> u64 recorded | receipt (receipt.h): the
 *           latest per device; not state, so before DB_FIRST_STATE
 * devices   pk -> packed struct store_device
 * records   coll | key | 0 | field -> hlc | author | id | value
 * postings  acct | 0 | hlc | author | id -> i64 amount
 *           (ids never contain a NUL, so 0 keeps them in id order)
 * balances  acct -> i64
 * reversals id of a posting -> ids of its reversals (dupsort)
 * roles     pk | hlc -> role: each certificate in force, so that an
 *           entry is judged by its author's role at its clock
 */
enum store_dbi {
	DB_META,
	DB_ENTRIES,
	DB_SIGS,
	DB_FEEDS,
	DB_VECTOR,
	DB_CLOCK,
	DB_ADMIN,
	DB_RECEIPTS,
	DB_DEVICES,
	DB_RECORDS,
	DB_POSTINGS,
	DB_BALANCES,
	DB_REVERSALS,
	DB_ROLES,
	DB_COUNT
};

/* The first materialized table: everything from here on is a function of
 * the entries and is dropped and recomputed by state_rebuild(). */
#define DB_FIRST_STATE DB_DEVICES

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	size_t map_max;		/* the map never grows past this */
	/* Threads of one process share a store (nusad's sync loop and its
	 * web server): lock guards active, and the map is only resized
	 * under it with no transaction open or about to open. */
	pthread_mutex_t lock;
	int active;		/* open top-level transactions */
	int lockfd;		/* compact.lock, held shared; -1: none */
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	int write;
	int nested;		/* a child of another: not counted */
	int network_known;
	uint8_t network[NUSA_KEY_LEN];
};

#define ORDER_KEY_LEN (8 + NUSA_KEY_LEN + NUSA_HASH_LEN)
#define FEED_KEY_LEN  (NUSA_KEY_LEN + 8)

/* store_compact(), calling copied(tmp, ctx) once the copy in tmp/ is
 * whole and before it replaces the store (tests: a moment at which the
 * compaction holds the store). */
int store_compact_hook(const char *path, uint64_t *before, uint64_t *after,
    void (*copied)(const char *tmp, void *ctx), void *ctx);

/* Maps an LMDB code or positive errno to our negative convention; passes
 * our own negative codes through, so it may wrap any result. */
int store_mdb_err(int rc);

/* Sets *seq to the lowest seq up to max at which author's feed holds two
 * entries, or 0 if there is none. Returns 0 or a negative error. */
int store_first_fork(struct store_txn *t, const uint8_t *author,
    uint64_t max, uint64_t *seq);

/* Writes a device row. */
int store_device_put(struct store_txn *t, const struct store_device *d);

/* Builds hlc | author | id, the order of LWW registers and of the log. */
void store_order_key(uint8_t out[ORDER_KEY_LEN], uint64_t hlc,
    const uint8_t *author, const uint8_t *id);

#endif
