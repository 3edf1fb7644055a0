/* Payloads of the entry kinds: what a change says. Each kind has one
 * canonical encoding; payload_decode() accepts nothing else, so two
 * replicas never disagree on what an entry means. Decoded strings point
 * into the input buffer and are not NUL-terminated. */
#ifndef NUSA_PAYLOAD_H
#define NUSA_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"

enum entry_kind {
	KIND_NETWORK = 1,	/* genesis of a network, by its root key */
	KIND_CERT = 2,		/* enrolment of a device with a role */
	KIND_REVOKE = 3,	/* revocation of a device after a seq */
	KIND_RECORD = 4,	/* last-writer-wins fields of a record */
	KIND_POSTING = 5,	/* an immutable ledger transaction */
};

enum role {
	ROLE_NONE = 0,
	ROLE_ADMIN = 1,
	ROLE_CLERK = 2,
	ROLE_RELAY = 3,
	ROLE_ROOT = 4,		/* never in a certificate: the network key */
};

enum collection {
	COLL_MEMBER = 1,
	COLL_ACCOUNT = 2,
};

enum posting_type {
	POST_DEPOSIT = 1,	/* one leg, amount > 0 */
	POST_WITHDRAW = 2,	/* one leg, amount < 0 */
	POST_TRANSFER = 3,	/* two legs: -x from the first, +x to the 2nd */
	POST_DISBURSE = 4,	/* loan paid out: one leg > 0, a loan account */
	POST_REPAY = 5,		/* loan repaid: one leg < 0 on a loan account */
	POST_REVERSE = 6,	/* negates the legs of the posting in ref */
};

#define PAYLOAD_FIELDS_MAX 16
#define RECORD_DELETED	   "_deleted"	/* field holding a tombstone */
#define PAYLOAD_BY_MAX	   32		/* bytes of a web user's name */

struct payload_str {
	const char *p;
	size_t n;
};

struct payload_field {
	struct payload_str name;
	struct payload_str value;
};

struct payload_leg {
	struct payload_str account;
	int64_t amount;
};

struct payload {
	uint8_t kind;
	union {
		struct {
			struct payload_str name;
		} network;
		struct {
			uint8_t device[NUSA_KEY_LEN];
			uint8_t role;
		} cert;
		struct {
			uint8_t device[NUSA_KEY_LEN];
			uint64_t last_seq;	/* last valid seq of its feed */
		} revoke;
		struct {
			uint8_t collection;
			struct payload_str key;
			uint8_t nfields;
			struct payload_field fields[PAYLOAD_FIELDS_MAX];
			struct payload_str by;	/* web user; n 0 if none */
		} record;
		struct {
			uint8_t type;
			uint8_t ref[NUSA_HASH_LEN]; /* 0 unless reverse */
			uint32_t date;		/* YYYYMMDD, book date */
			struct payload_str memo;
			uint8_t nlegs;
			struct payload_leg legs[2];
			struct payload_str by;	/* web user; n 0 if none */
		} posting;
	} u;
};

/* Encodes p into buf of cap bytes and sets *len. Fields of a record are
 * sorted by name here, so callers may give them in any order. Returns 0,
 * -NUSA_EMALFORMED if p breaks a rule payload_decode() enforces, or
 * -NUSA_ERANGE if cap is too small. */
int payload_encode(struct payload *p, uint8_t *buf, size_t cap, size_t *len);

/* Decodes and validates a payload of the given kind. Returns 0 or
 * -NUSA_EMALFORMED. p points into buf: buf must outlive p. */
int payload_decode(struct payload *p, uint8_t kind, const uint8_t *buf,
    size_t len);

/* Returns the record field called name, or NULL. */
const struct payload_field *payload_field(const struct payload *p,
    const char *name);

/* Names of enum values for humans and JSON; "?" for unknown values. */
const char *payload_kind_name(uint8_t kind);
const char *payload_role_name(uint8_t role);
const char *payload_posting_name(uint8_t type);
const char *payload_collection_name(uint8_t coll);
/* Parse a name back; return the value or 0 if unknown. */
uint8_t payload_role_parse(const char *s);
uint8_t payload_posting_parse(const char *s);

/* Returns 1 if s of n bytes is a valid member or account id: 1 to
 * NUSA_ID_MAX bytes of [A-Za-z0-9._-]. */
int payload_id_ok(const char *s, size_t n);

/* Returns 1 if s of n bytes is a valid web user name (the optional `by`
 * of records and postings): 1 to PAYLOAD_BY_MAX of [A-Za-z0-9._-]. */
int payload_by_ok(const char *s, size_t n);

/* Returns 1 if s of n bytes may name a record field: 1 to NUSA_NAME_MAX
 * of [a-z0-9_], not starting with '_' (but for RECORD_DELETED). */
int payload_field_name_ok(const char *s, size_t n);

/* Returns 1 if d is a valid YYYYMMDD calendar date. */
int payload_date_ok(uint32_t d);

#endif
