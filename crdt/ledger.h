/* What clerks and admins do, as entries: members, accounts, postings,
 * enrolment. These are the rules a box enforces on its own writes, against
 * the state it knows (a member must exist to get an account; a withdrawal
 * may not exceed the known balance). Entries from peers are not held to
 * them: concurrent offline writes can still overdraw, and state.h surfaces
 * that for review instead. All functions append in the caller's write
 * transaction and return 0 or a negative error. */
#ifndef NUSA_LEDGER_H
#define NUSA_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"

struct store_txn;
struct key;

enum account_type {
	ACCT_POKOK = 1,		/* simpanan pokok: principal share */
	ACCT_WAJIB,		/* simpanan wajib: mandatory savings */
	ACCT_SUKARELA,		/* simpanan sukarela: voluntary savings */
	ACCT_LOAN,		/* pinjaman: balance is what is owed */
};

/* Returns the account type named s, or 0. */
int ledger_account_type(const char *s);

/* Returns the enum account_type of account acct, -NUSA_ENOTFOUND, or
 * another negative error. */
int ledger_account_type_of(struct store_txn *t, const char *acct);

/* Today's date (UTC) as YYYYMMDD. */
uint32_t ledger_today(void);

/* Parses YYYY-MM-DD into YYYYMMDD. Returns 0 or -NUSA_EMALFORMED. */
int ledger_parse_date(const char *s, uint32_t *out);

/* Parses a whole number of rupiah, 1 to NUSA_AMOUNT_MAX, digits only (no
 * sign, blanks or thousands dots). Returns 0 or -NUSA_ERANGE. */
int ledger_parse_amount(const char *s, int64_t *out);

/* Adds member id. village may be NULL. -NUSA_EEXIST if it exists. */
int ledger_member_add(struct store_txn *t, const struct key *k,
    const char *id, const char *name, const char *village);

/* Sets n fields (names[i] = values[i]) of an existing member or account.
 * -NUSA_ENOTFOUND if absent, -NUSA_EMALFORMED for a bad field name. */
int ledger_record_set(struct store_txn *t, const struct key *k,
    uint8_t coll, const char *id, size_t n, const char *const *names,
    const char *const *values);

/* Writes a tombstone for member or account id. */
int ledger_record_remove(struct store_txn *t, const struct key *k,
    uint8_t coll, const char *id);

/* Opens account id of member with type name. -NUSA_ENOTFOUND if the
 * member does not exist, -NUSA_EEXIST if the account does,
 * -NUSA_EMALFORMED for an unknown type. */
int ledger_account_open(struct store_txn *t, const struct key *k,
    const char *id, const char *member, const char *type);

/* Posts amount (> 0) of type (deposit, withdraw, disburse, repay, or
 * transfer from acct to acct2). Deposits and withdrawals go to savings
 * accounts, disbursements and repayments to loan accounts. Refuses with
 * -NUSA_EFUNDS what would take a balance below zero here. Sets id. */
int ledger_post(struct store_txn *t, const struct key *k, uint8_t type,
    const char *acct, const char *acct2, int64_t amount, const char *memo,
    uint32_t date, uint8_t id[NUSA_HASH_LEN]);

/* Reverses the posting with id orig. -NUSA_ENOTFOUND if orig is not a
 * posting, -NUSA_EEXIST if it is reversed already or is itself a
 * reversal, -NUSA_EFUNDS if the reversal would overdraw. */
int ledger_reverse(struct store_txn *t, const struct key *k,
    const uint8_t orig[NUSA_HASH_LEN], const char *memo, uint32_t date,
    uint8_t id[NUSA_HASH_LEN]);

/* The same as ledger_member_add(), ledger_account_open(), ledger_post()
 * and ledger_reverse(), for an entry written on behalf of web user by
 * (NULL: none): by goes into the payload (payload_by_ok(), else
 * -NUSA_EMALFORMED). */
int ledger_member_add_by(struct store_txn *t, const struct key *k,
    const char *id, const char *name, const char *village, const char *by);
int ledger_account_open_by(struct store_txn *t, const struct key *k,
    const char *id, const char *member, const char *type, const char *by);
int ledger_post_by(struct store_txn *t, const struct key *k, uint8_t type,
    const char *acct, const char *acct2, int64_t amount, const char *memo,
    uint32_t date, const char *by, uint8_t id[NUSA_HASH_LEN]);
int ledger_reverse_by(struct store_txn *t, const struct key *k,
    const uint8_t orig[NUSA_HASH_LEN], const char *memo, uint32_t date,
    const char *by, uint8_t id[NUSA_HASH_LEN]);

/* Enrols device pk with role (admin, clerk or relay). */
int ledger_enrol(struct store_txn *t, const struct key *k,
    const uint8_t pk[NUSA_KEY_LEN], uint8_t role);

/* Revokes device pk: entries of its feed past what this box has seen
 * stop counting everywhere. -NUSA_ENOTFOUND if pk is not enrolled. */
int ledger_revoke(struct store_txn *t, const struct key *k,
    const uint8_t pk[NUSA_KEY_LEN]);

#endif
