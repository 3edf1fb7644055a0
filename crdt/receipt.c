#include "receipt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>
#include <sodium.h>

#include "codec.h"
#include "key.h"
#include "payload.h"
#include "store.h"
#include "store_db.h"
#include "vector.h"

/* A stored receipt: u64 recorded, then the encoding (a sync one with a
 * zero signature). */
#define STORED_HEAD 8

static const char receipt_domain[] = "nusa-receipt-1";

static void
receipt_hash(uint8_t h[NUSA_HASH_LEN], const uint8_t *p, size_t len)
{
	crypto_generichash(h, NUSA_HASH_LEN, p, len,
	    (const uint8_t *)receipt_domain, sizeof(receipt_domain) - 1);
}

void
receipt_item(const struct receipt *r, size_t i, const uint8_t **author,
    uint64_t *seq)
{
	const uint8_t *p = r->items + i * RECEIPT_ITEM_LEN;

	*author = p;
	*seq = codec_rd64(p + NUSA_KEY_LEN);
}

uint64_t
receipt_get_seq(const struct receipt *r, const uint8_t author[NUSA_KEY_LEN])
{
	size_t lo = 0, hi = r->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = memcmp(r->items + mid * RECEIPT_ITEM_LEN, author,
		    NUSA_KEY_LEN);
		if (c == 0)
			return codec_rd64(r->items + mid * RECEIPT_ITEM_LEN +
			    NUSA_KEY_LEN);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Entries a receipt says its device holds: what only grows on a box, so
 * it orders receipts whatever the device's clock says. */
static uint64_t
receipt_total(const struct receipt *r)
{
	uint64_t sum = 0, seq;
	const uint8_t *a;
	size_t i;

	for (i = 0; i < r->n; i++) {
		receipt_item(r, i, &a, &seq);
		sum = sum + seq < sum ? UINT64_MAX : sum + seq;
	}
	return sum;
}

/* 1 if a is later than b: it lists more, or as much at a later time. */
static int
receipt_later(const struct receipt *a, const struct receipt *b)
{
	uint64_t ta = receipt_total(a), tb = receipt_total(b);

	return ta > tb || (ta == tb && a->time >= b->time);
}

/* How far ahead of ours a device's clock may be for its receipt to
 * count as made later than another. */
#define RECEIPT_SKEW (24 * 3600)

/* 1 if signed receipt a, which lists less than b, was made after b by a
 * clock not ahead of ours (now): the device lost entries (restored from
 * an old backup), and a says what it holds now. A receipt from a clock
 * running ahead cannot make a device look smaller than it is. */
static int
receipt_shrunk(const struct receipt *a, const struct receipt *b,
    uint64_t now)
{
	return a->time > b->time && a->time <= now + RECEIPT_SKEW;
}

/* Decodes without checking the signature: for what our own store holds. */
static int
decode(struct receipt *r, const uint8_t *p, size_t len)
{
	const uint8_t *prev = NULL, *it;
	size_t i, n;

	memset(r, 0, sizeof(*r));
	if (len < RECEIPT_HEAD_LEN + NUSA_SIG_LEN)
		return -NUSA_EMALFORMED;
	if (p[0] != RECEIPT_VERSION)
		return -NUSA_EVERSION;
	memcpy(r->network, p + 1, NUSA_KEY_LEN);
	memcpy(r->device, p + 1 + NUSA_KEY_LEN, NUSA_KEY_LEN);
	r->time = codec_rd64(p + 1 + 2 * NUSA_KEY_LEN);
	n = codec_rd16(p + 1 + 2 * NUSA_KEY_LEN + 8);
	if (n > RECEIPT_FEEDS_MAX ||
	    len != RECEIPT_HEAD_LEN + n * RECEIPT_ITEM_LEN + NUSA_SIG_LEN)
		return -NUSA_EMALFORMED;
	r->n = n;
	r->items = p + RECEIPT_HEAD_LEN;
	/* One encoding per receipt: authors ascending, no empty feed. */
	for (i = 0; i < n; i++) {
		it = r->items + i * RECEIPT_ITEM_LEN;
		if ((prev && memcmp(prev, it, NUSA_KEY_LEN) >= 0) ||
		    codec_rd64(it + NUSA_KEY_LEN) == 0)
			return -NUSA_EMALFORMED;
		prev = it;
	}
	return 0;
}

int
receipt_decode(struct receipt *r, const uint8_t *p, size_t len)
{
	uint8_t h[NUSA_HASH_LEN];
	int rc;

	if ((rc = decode(r, p, len)) != 0)
		return rc;
	receipt_hash(h, p, len - NUSA_SIG_LEN);
	if (crypto_sign_verify_detached(p + len - NUSA_SIG_LEN, h,
	    sizeof(h), r->device) != 0)
		return -NUSA_EBADSIG;
	return 0;
}

struct enc {
	struct codec_writer *w;
	size_t n;
};

static int
enc_item(const uint8_t *author, uint64_t seq, void *ctx)
{
	struct enc *e = ctx;

	if (seq == 0)
		return 0;
	if (e->n == RECEIPT_FEEDS_MAX)
		return -NUSA_ERANGE;
	codec_put_bytes(e->w, author, NUSA_KEY_LEN);
	codec_put_u64(e->w, seq);
	e->n++;
	return 0;
}

/* Writes the head with a zero count; the caller patches it. */
static void
put_head(struct codec_writer *w, const uint8_t *net, const uint8_t *dev,
    uint64_t now)
{
	codec_put_u8(w, RECEIPT_VERSION);
	codec_put_bytes(w, net, NUSA_KEY_LEN);
	codec_put_bytes(w, dev, NUSA_KEY_LEN);
	codec_put_u64(w, now);
	codec_put_u16(w, 0);
}

int
receipt_make(struct store_txn *t, const struct key *k, uint64_t now,
    uint8_t *buf, size_t cap, size_t *len)
{
	struct codec_writer w;
	uint8_t net[NUSA_KEY_LEN], h[NUSA_HASH_LEN];
	struct enc e = { .w = &w };
	int rc;

	if ((rc = store_network(t, net, NULL, 0)) != 0)
		return rc;
	codec_writer_init(&w, buf, cap);
	put_head(&w, net, k->pk, now);
	if ((rc = store_vector_each(t, enc_item, &e)) != 0)
		return rc;
	if (w.err || w.len + NUSA_SIG_LEN > cap)
		return -NUSA_ERANGE;
	codec_be16(buf + RECEIPT_HEAD_LEN - 2, (uint16_t)e.n);
	receipt_hash(h, buf, w.len);
	crypto_sign_detached(buf + w.len, NULL, h, sizeof(h), k->sk);
	*len = w.len + NUSA_SIG_LEN;
	return 0;
}

static void
db_key(uint8_t k[NUSA_KEY_LEN + 1], const uint8_t *dev, uint8_t via)
{
	memcpy(k, dev, NUSA_KEY_LEN);
	k[NUSA_KEY_LEN] = via;
}

/* Stores enc (decoded: r) as its device's receipt by via unless a later
 * one is there. */
static int
put(struct store_txn *t, const struct receipt *r, uint8_t via, uint64_t now,
    const uint8_t *enc, size_t len, int *kept)
{
	uint8_t k[NUSA_KEY_LEN + 1];
	struct receipt old;
	MDB_val key = MV(k, sizeof(k)), v;
	int rc;

	db_key(k, r->device, via);
	rc = mdb_get(t->txn, t->s->dbi[DB_RECEIPTS], &key, &v);
	if (rc == 0 && v.mv_size > STORED_HEAD &&
	    decode(&old, (const uint8_t *)v.mv_data + STORED_HEAD,
	    v.mv_size - STORED_HEAD) == 0) {
		/* A sync's vector is fresh and authenticated (CURVE): it
		 * replaces the old one, also when smaller. A bundle's may
		 * have travelled for weeks: it replaces a larger one only
		 * if made later, by a sane clock. */
		if (via == RECEIPT_BUNDLE && !receipt_later(r, &old) &&
		    !receipt_shrunk(r, &old, now))
			return 0;
		/* A sync that taught us nothing new writes nothing: a write
		 * wakes every session (the store changed), and an idle box
		 * must stay idle. Nor does the same receipt twice. */
		if (via == RECEIPT_SYNC ? old.n == r->n && memcmp(old.items,
		    r->items, r->n * RECEIPT_ITEM_LEN) == 0 : v.mv_size -
		    STORED_HEAD == len && memcmp((const uint8_t *)v.mv_data +
		    STORED_HEAD, enc, len) == 0)
			return 0;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(rc);
	v.mv_size = STORED_HEAD + len;
	if ((rc = mdb_put(t->txn, t->s->dbi[DB_RECEIPTS], &key, &v,
	    MDB_RESERVE)) != 0)
		return store_mdb_err(rc);
	codec_be64(v.mv_data, now);
	memcpy((uint8_t *)v.mv_data + STORED_HEAD, enc, len);
	if (kept)
		*kept = 1;
	return 0;
}

int
receipt_put(struct store_txn *t, const uint8_t *p, size_t len, uint64_t now,
    int *kept)
{
	struct store_device d;
	struct receipt r;
	uint8_t net[NUSA_KEY_LEN];
	int rc;

	if (kept)
		*kept = 0;
	if ((rc = receipt_decode(&r, p, len)) != 0)
		return rc;
	if ((rc = store_network(t, net, NULL, 0)) != 0)
		return rc;
	if (memcmp(net, r.network, NUSA_KEY_LEN) != 0)
		return -NUSA_ENETWORK;
	if (store_device(t, r.device, &d) != 0 || d.role == ROLE_NONE)
		return -NUSA_EUNENROLLED;
	/* A stolen key, revoked, must not tell what its box holds: bundles
	 * made --for-peer would leave out what it claimed. */
	if (d.cut != UINT64_MAX)
		return -NUSA_EREVOKED;
	return put(t, &r, RECEIPT_BUNDLE, now, p, len, kept);
}

int
receipt_put_sync(struct store_txn *t, const uint8_t device[NUSA_KEY_LEN],
    const struct vector *have, uint64_t now)
{
	struct codec_writer w;
	struct receipt r;
	uint8_t net[NUSA_KEY_LEN], *buf;
	size_t i, n = 0;
	int rc;

	if ((rc = store_network(t, net, NULL, 0)) != 0)
		return rc;
	if ((buf = malloc(RECEIPT_MAX)) == NULL)
		return -ENOMEM;
	codec_writer_init(&w, buf, RECEIPT_MAX);
	put_head(&w, net, device, now);
	for (i = 0; i < have->n && n < RECEIPT_FEEDS_MAX; i++) {
		if (have->v[i].seq == 0)
			continue;
		codec_put_bytes(&w, have->v[i].author, NUSA_KEY_LEN);
		codec_put_u64(&w, have->v[i].seq);
		n++;
	}
	codec_be16(buf + RECEIPT_HEAD_LEN - 2, (uint16_t)n);
	memset(buf + w.len, 0, NUSA_SIG_LEN);
	if ((rc = decode(&r, buf, w.len + NUSA_SIG_LEN)) == 0)
		rc = put(t, &r, RECEIPT_SYNC, now, buf, w.len + NUSA_SIG_LEN,
		    NULL);
	free(buf);
	return rc;
}

/* Decodes a stored value. */
static int
unpack(struct receipt *r, const MDB_val *k, const MDB_val *v)
{
	int rc;

	if (k->mv_size != NUSA_KEY_LEN + 1 || v->mv_size < STORED_HEAD)
		return -NUSA_ECORRUPT;
	if ((rc = decode(r, (const uint8_t *)v->mv_data + STORED_HEAD,
	    v->mv_size - STORED_HEAD)) != 0)
		return -NUSA_ECORRUPT;
	r->via = ((const uint8_t *)k->mv_data)[NUSA_KEY_LEN];
	r->recorded = codec_rd64(v->mv_data);
	return 0;
}

/* 1 if sync receipt y says more of its device now than bundle receipt
 * b. y's time is our clock when the session saw that vector: if that was
 * after b reached us, y is the fresher (a hub restored from a backup
 * syncs a smaller vector, and the larger receipt it signed before must
 * not hide what it lost). Else b may be the fresher: made after the
 * sync, it is later if it lists more or shrank since (by a sane clock). */
static int
later_via(const struct receipt *y, const struct receipt *b)
{
	if (y->time >= b->recorded)
		return 1;
	return !receipt_later(b, y) && !receipt_shrunk(b, y, b->recorded);
}

int
receipt_get(struct store_txn *t, const uint8_t device[NUSA_KEY_LEN],
    struct receipt *r)
{
	static const uint8_t vias[] = { RECEIPT_BUNDLE, RECEIPT_SYNC };
	uint8_t k[NUSA_KEY_LEN + 1];
	struct receipt c;
	MDB_val key = MV(k, sizeof(k)), v;
	size_t i;
	int rc, found = 0;

	/* vias[0] is the bundle one: r holds it when the sync one comes. */
	for (i = 0; i < sizeof(vias); i++) {
		db_key(k, device, vias[i]);
		rc = mdb_get(t->txn, t->s->dbi[DB_RECEIPTS], &key, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return store_mdb_err(rc);
		if ((rc = unpack(&c, &key, &v)) != 0)
			return rc;
		if (!found || later_via(&c, r)) {
			*r = c;
			found = 1;
		}
	}
	return found ? 0 : -NUSA_ENOTFOUND;
}

int
receipt_each(struct store_txn *t,
    int (*fn)(const struct receipt *r, const uint8_t *enc, size_t len,
    void *ctx), void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	struct receipt r;
	int rc, op = MDB_FIRST;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[DB_RECEIPTS], &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		/* Ours and fn's values are returned as they are: only
		 * LMDB's codes go through store_mdb_err() (1 is not one). */
		if ((rc = unpack(&r, &k, &v)) != 0 ||
		    (rc = fn(&r, (const uint8_t *)v.mv_data + STORED_HEAD,
		    v.mv_size - STORED_HEAD, ctx)) != 0) {
			mdb_cursor_close(c);
			return rc;
		}
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

struct cmp {
	const struct receipt *r;
	uint64_t have, missing;
};

static int
cmp_item(const uint8_t *author, uint64_t seq, void *ctx)
{
	struct cmp *c = ctx;
	uint64_t theirs = receipt_get_seq(c->r, author);

	if (theirs >= seq) {
		c->have += seq;
	} else {
		c->have += theirs;
		c->missing += seq - theirs;
	}
	return 0;
}

int
receipt_compare(struct store_txn *t, const struct receipt *r,
    uint64_t *have, uint64_t *missing)
{
	struct cmp c = { .r = r };
	int rc = store_vector_each(t, cmp_item, &c);

	*have = c.have;
	*missing = c.missing;
	return rc;
}

struct vector *
receipt_vector(const struct receipt *r)
{
	struct vector *v = vector_new();
	const uint8_t *a;
	uint64_t seq;
	size_t i;

	for (i = 0; v && i < r->n; i++) {
		receipt_item(r, i, &a, &seq);
		if (vector_set(v, a, seq) != 0)
			vector_free(&v);
	}
	return v;
}
