/* Materialized CRDT state: records of last-writer-wins fields ordered by
 * (clock, author, entry id), tombstones as a field, a grow-only set of
 * postings and balances as their sums, and the enrolled devices. The state
 * is a pure function of the set of effective entries: state_apply() is
 * commutative, associative and idempotent, so replicas with the same
 * entries have byte-identical tables and digests whatever the delivery
 * order (tests/unit/test_state.c). */
#ifndef NUSA_STATE_H
#define NUSA_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"

struct store_txn;
struct entry;

/* Applies the effect of one effective entry. Returns 0, -NUSA_ERANGE if a
 * balance would overflow, or an LMDB error. */
int state_apply(struct store_txn *t, const uint8_t id[NUSA_HASH_LEN],
    const struct entry *e);

/* Recomputes the device table from all certificate and revocation entries
 * in clock order, repeating until the revocation cuts are stable. Sets
 * *restricted if the set of entries that count may have changed (a role
 * gained or lost, a cut moved): then the caller must state_rebuild(). */
int state_devices_recompute(struct store_txn *t, int *restricted);

/* Drops all materialized tables and recomputes them from the entries. */
int state_rebuild(struct store_txn *t);

/* BLAKE2b-256 over every materialized table in key order. */
int state_digest(struct store_txn *t, uint8_t out[NUSA_HASH_LEN]);

/* The role pk had at clock hlc: that of the last certificate in force at
 * or before it, ROLE_NONE if none (as the device table stands now). */
uint8_t state_role_at(struct store_txn *t, const uint8_t *pk, uint64_t hlc);

/* Returns 1 if entry e of a known device counts in the state: its author
 * is enrolled and e is not past the author's revocation. */
int state_effective(struct store_txn *t, const struct entry *e);

struct state_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	uint64_t hlc;
};

struct state_record {
	uint8_t collection;
	const char *key;
	size_t key_len;
	int deleted;		/* tombstone field set */
	size_t nfields;		/* without the tombstone field */
	const struct state_field *fields;
};

/* Iterators below call fn for each item and stop at the first non-zero
 * value fn returns, which they return unchanged; else 0 or a negative
 * error.
 *
 * Calls fn for each record of coll in key order (deleted ones too; check
 * r->deleted); with key non-NULL, only that record, or -NUSA_ENOTFOUND
 * if it is absent. */
int state_records_each(struct store_txn *t, uint8_t coll, const char *key,
    int (*fn)(const struct state_record *r, void *ctx), void *ctx);

/* Returns the field called name of a record handed out by
 * state_records_each(), or NULL. */
const struct state_field *state_record_field(const struct state_record *r,
    const char *name);

/* Copies field of record (coll, key) into buf (NUL-terminated). Returns
 * 0, -NUSA_ENOTFOUND if the record or field is absent or the record is
 * deleted, or -NUSA_ERANGE if cap is too small. */
int state_field_get(struct store_txn *t, uint8_t coll, const char *key,
    const char *field, char *buf, size_t cap);

/* Sets *bal to the balance of an account (0 if it has no postings). */
int state_balance(struct store_txn *t, const char *acct, int64_t *bal);

/* Calls fn for each account with postings, in account order. */
int state_balances_each(struct store_txn *t,
    int (*fn)(const char *acct, size_t n, int64_t bal, void *ctx),
    void *ctx);

/* One posting's leg on an account, as state_account_postings_each()
 * hands it out; pointers valid until fn returns. */
struct state_leg {
	uint64_t hlc;
	const uint8_t *author;
	const uint8_t *id;
	int64_t amount;
};

/* Calls fn for each posting leg on account acct, in (clock, author, id)
 * order. */
int state_account_postings_each(struct store_txn *t, const char *acct,
    int (*fn)(const struct state_leg *l, void *ctx), void *ctx);

/* Returns 1 if the posting id has been reversed, 0 if not. */
int state_reversed(struct store_txn *t, const uint8_t id[NUSA_HASH_LEN]);

/* An account whose running balance, taking postings in (clock, author,
 * id) order, went below zero: concurrent offline withdrawals. ids lists
 * the postings that took it below zero. */
struct state_overdraft {
	const char *acct;
	size_t acct_len;
	int64_t balance;
	int64_t lowest;
	size_t nids;
	const uint8_t (*ids)[NUSA_HASH_LEN];
};

int state_overdrafts_each(struct store_txn *t,
    int (*fn)(const struct state_overdraft *o, void *ctx), void *ctx);

/* A fork: nids entries of author with the same seq. */
struct state_fork {
	const uint8_t *author;
	uint64_t seq;
	size_t nids;
	const uint8_t (*ids)[NUSA_HASH_LEN];
};

int state_forks_each(struct store_txn *t,
    int (*fn)(const struct state_fork *f, void *ctx), void *ctx);

/* A posting reversed more than once: two boxes corrected the same mistake
 * while offline, so the correction counts twice. ids lists the
 * reversals; one of them should itself be reversed. */
struct state_reversals {
	const uint8_t *posting;
	size_t nids;
	const uint8_t (*ids)[NUSA_HASH_LEN];
};

int state_double_reversals_each(struct store_txn *t,
    int (*fn)(const struct state_reversals *r, void *ctx), void *ctx);

#endif
