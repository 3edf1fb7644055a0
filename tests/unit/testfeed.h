/* Hand-built feeds for the store, state and bundle tests: entries made
 * with entry_encode(), entry_id() and entry_sign() outside any store, so a
 * test controls seq, prev, clock and signature, and batches of them go
 * through store_ingest() exactly as a peer's would. Header-only because
 * the unit test build links each test with testutil.c alone. */
#ifndef NUSA_TESTFEED_H
#define NUSA_TESTFEED_H

#include <stdint.h>
#include <string.h>

#include "entry.h"
#include "key.h"
#include "payload.h"
#include "state.h"
#include "store.h"

struct tf_ent {
	uint8_t body[ENTRY_BODY_MAX];
	size_t len;
	uint8_t id[NUSA_HASH_LEN];
	uint8_t sig[NUSA_SIG_LEN];
	uint64_t seq;
	uint64_t hlc;
	uint8_t author[NUSA_KEY_LEN];
};

/* One author's position in its feed. */
struct tf_author {
	struct key *k;
	uint8_t net[NUSA_KEY_LEN];
	uint64_t seq;
	uint8_t prev[NUSA_HASH_LEN];
	uint64_t hlc;
};

static inline void
tf_author_init(struct tf_author *a, struct key *k, const uint8_t *net)
{
	memset(a, 0, sizeof(*a));
	a->k = k;
	memcpy(a->net, net, NUSA_KEY_LEN);
}

/* Appends an entry to a's feed with clock hlc (a->hlc + 1 if 0). */
static inline void
tf_entry(struct tf_author *a, uint8_t kind, const uint8_t *payload,
    size_t plen, uint64_t hlc, struct tf_ent *out)
{
	struct entry e = { .kind = kind };

	if (hlc == 0)
		hlc = a->hlc + 1;
	memcpy(e.network, a->net, NUSA_KEY_LEN);
	memcpy(e.author, a->k->pk, NUSA_KEY_LEN);
	e.seq = a->seq + 1;
	if (e.seq > 1)
		memcpy(e.prev, a->prev, NUSA_HASH_LEN);
	e.hlc = hlc;
	e.payload = payload;
	e.payload_len = (uint32_t)plen;
	assert_int_equal(entry_encode(&e, out->body, sizeof(out->body),
	    &out->len), 0);
	entry_id(out->id, out->body, out->len);
	entry_sign(out->sig, out->id, a->k->sk);
	out->seq = e.seq;
	out->hlc = hlc;
	memcpy(out->author, a->k->pk, NUSA_KEY_LEN);
	a->seq = e.seq;
	a->hlc = hlc;
	memcpy(a->prev, out->id, NUSA_HASH_LEN);
}

static inline size_t
tf_encode(struct payload *p, uint8_t *buf)
{
	size_t len;

	assert_int_equal(payload_encode(p, buf, NUSA_PAYLOAD_MAX, &len), 0);
	return len;
}

static inline struct payload_str
tf_str(const char *s)
{
	return (struct payload_str){ .p = s, .n = strlen(s) };
}

static inline void
tf_network(struct tf_author *a, const char *name, uint64_t hlc,
    struct tf_ent *out)
{
	struct payload p = { .kind = KIND_NETWORK };
	uint8_t buf[NUSA_PAYLOAD_MAX];

	p.u.network.name = tf_str(name);
	tf_entry(a, KIND_NETWORK, buf, tf_encode(&p, buf), hlc, out);
}

static inline void
tf_cert(struct tf_author *a, const uint8_t *pk, uint8_t role, uint64_t hlc,
    struct tf_ent *out)
{
	struct payload p = { .kind = KIND_CERT };
	uint8_t buf[NUSA_PAYLOAD_MAX];

	memcpy(p.u.cert.device, pk, NUSA_KEY_LEN);
	p.u.cert.role = role;
	tf_entry(a, KIND_CERT, buf, tf_encode(&p, buf), hlc, out);
}

static inline void
tf_revoke(struct tf_author *a, const uint8_t *pk, uint64_t last_seq,
    uint64_t hlc, struct tf_ent *out)
{
	struct payload p = { .kind = KIND_REVOKE };
	uint8_t buf[NUSA_PAYLOAD_MAX];

	memcpy(p.u.revoke.device, pk, NUSA_KEY_LEN);
	p.u.revoke.last_seq = last_seq;
	tf_entry(a, KIND_REVOKE, buf, tf_encode(&p, buf), hlc, out);
}

/* A record entry setting one field (value NULL: the tombstone "1"). */
static inline void
tf_record(struct tf_author *a, uint8_t coll, const char *key,
    const char *field, const char *value, uint64_t hlc, struct tf_ent *out)
{
	struct payload p = { .kind = KIND_RECORD };
	uint8_t buf[NUSA_PAYLOAD_MAX];

	p.u.record.collection = coll;
	p.u.record.key = tf_str(key);
	p.u.record.nfields = 1;
	p.u.record.fields[0].name = tf_str(value ? field : RECORD_DELETED);
	p.u.record.fields[0].value = tf_str(value ? value : "1");
	tf_entry(a, KIND_RECORD, buf, tf_encode(&p, buf), hlc, out);
}

/* A posting of type on acct (and acct2 for a transfer): amount is the
 * magnitude; the sign follows the type. ref is for a reversal, whose legs
 * are given as legs of the original: they are negated here. */
static inline void
tf_posting(struct tf_author *a, uint8_t type, const char *acct,
    const char *acct2, int64_t amount, const uint8_t *ref, uint64_t hlc,
    struct tf_ent *out)
{
	struct payload p = { .kind = KIND_POSTING };
	uint8_t buf[NUSA_PAYLOAD_MAX];

	p.u.posting.type = type;
	p.u.posting.date = 20240115;
	p.u.posting.memo = tf_str("uji");
	p.u.posting.nlegs = 1;
	p.u.posting.legs[0].account = tf_str(acct);
	switch (type) {
	case POST_DEPOSIT:
	case POST_DISBURSE:
		p.u.posting.legs[0].amount = amount;
		break;
	case POST_WITHDRAW:
	case POST_REPAY:
		p.u.posting.legs[0].amount = -amount;
		break;
	case POST_TRANSFER:
		p.u.posting.nlegs = 2;
		p.u.posting.legs[0].amount = -amount;
		p.u.posting.legs[1].account = tf_str(acct2);
		p.u.posting.legs[1].amount = amount;
		break;
	case POST_REVERSE:
		memcpy(p.u.posting.ref, ref, NUSA_HASH_LEN);
		p.u.posting.legs[0].amount = -amount;
		if (acct2) {
			p.u.posting.nlegs = 2;
			p.u.posting.legs[1].account = tf_str(acct2);
			p.u.posting.legs[1].amount = amount;
		}
		break;
	}
	tf_entry(a, KIND_POSTING, buf, tf_encode(&p, buf), hlc, out);
}

/* Ingests es[0..n-1] as one batch signed by the last entry's signature
 * (or sig if non-NULL) in its own transaction: committed if it is
 * accepted, aborted if not. Returns store_ingest()'s result. */
static inline int
tf_ingest_sig(struct store *s, const struct tf_ent *es, size_t n,
    const uint8_t *sig, struct store_ingest_stats *st)
{
	const uint8_t *bodies[NUSA_BATCH_MAX];
	size_t lens[NUSA_BATCH_MAX], i;
	struct store_ingest_stats dummy;
	struct store_batch b;
	struct store_txn *t;
	int rc;

	assert_true(n >= 1 && n <= NUSA_BATCH_MAX);
	for (i = 0; i < n; i++) {
		bodies[i] = es[i].body;
		lens[i] = es[i].len;
	}
	b.bodies = bodies;
	b.lens = lens;
	b.n = n;
	b.sig = sig ? sig : es[n - 1].sig;
	assert_int_equal(store_begin(s, &t, STORE_WRITE), 0);
	rc = store_ingest(t, &b, st ? st : &dummy);
	if (rc == 0)
		assert_int_equal(store_commit(t), 0);
	else
		store_abort(t);
	return rc;
}

static inline int
tf_ingest(struct store *s, const struct tf_ent *es, size_t n,
    struct store_ingest_stats *st)
{
	return tf_ingest_sig(s, es, n, NULL, st);
}

static inline void
tf_digest(struct store *s, uint8_t out[NUSA_HASH_LEN])
{
	struct store_txn *t;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(state_digest(t, out), 0);
	store_abort(t);
}

/* Fails the test unless the two stores' states are byte-identical. */
static inline void
tf_same_digest(struct store *a, struct store *b)
{
	uint8_t da[NUSA_HASH_LEN], db[NUSA_HASH_LEN];

	tf_digest(a, da);
	tf_digest(b, db);
	assert_memory_equal(da, db, NUSA_HASH_LEN);
}

static inline int64_t
tf_balance(struct store *s, const char *acct)
{
	struct store_txn *t;
	int64_t bal;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(state_balance(t, acct, &bal), 0);
	store_abort(t);
	return bal;
}

static inline size_t
tf_count(struct store *s)
{
	struct store_txn *t;
	size_t n;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	n = store_count(t);
	store_abort(t);
	return n;
}

static inline void
tf_no_fault(const uint8_t *id, const char *what, void *ctx)
{
	(void)id;
	(void)ctx;
	fail_msg("verify: %s", what);
}

/* Fails the test unless store_verify() finds every entry sound. */
static inline void
tf_verify_clean(struct store *s)
{
	size_t n;

	assert_int_equal(store_verify(s, tf_no_fault, NULL, &n), 0);
	assert_int_equal(n, tf_count(s));
}

/* Joins s to the network rooted at pk without any entry. */
static inline void
tf_join(struct store *s, const uint8_t *pk)
{
	struct store_txn *t;

	assert_int_equal(store_begin(s, &t, STORE_WRITE), 0);
	assert_int_equal(store_join(t, pk), 0);
	assert_int_equal(store_commit(t), 0);
}

#endif
