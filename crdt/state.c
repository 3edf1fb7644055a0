#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "entry.h"
#include "payload.h"
#include "store_db.h"

#define MV(p, n) ((MDB_val){ .mv_size = (n), .mv_data = (void *)(p) })
#define DBI(t, d) ((t)->s->dbi[d])

static const uint8_t deleted_value[] = "1";

/* coll | key | 0 | field */
static size_t
record_key(uint8_t *out, uint8_t coll, const char *key, size_t klen,
    const char *field, size_t flen)
{
	out[0] = coll;
	memcpy(out + 1, key, klen);
	out[1 + klen] = 0;
	memcpy(out + 2 + klen, field, flen);
	return 2 + klen + flen;
}

static int
apply_record(struct store_txn *t, const uint8_t *order,
    const struct payload *p)
{
	uint8_t k[2 + NUSA_ID_MAX + NUSA_NAME_MAX];
	uint8_t v[ORDER_KEY_LEN + NUSA_TEXT_MAX];
	MDB_val mk, mv;
	unsigned i;
	int rc;

	for (i = 0; i < p->u.record.nfields; i++) {
		const struct payload_field *f = &p->u.record.fields[i];

		mk = MV(k, record_key(k, p->u.record.collection,
		    p->u.record.key.p, p->u.record.key.n, f->name.p,
		    f->name.n));
		rc = mdb_get(t->txn, DBI(t, DB_RECORDS), &mk, &mv);
		if (rc == 0 && mv.mv_size >= ORDER_KEY_LEN &&
		    memcmp(mv.mv_data, order, ORDER_KEY_LEN) >= 0)
			continue;	/* a later write already won */
		if (rc != 0 && rc != MDB_NOTFOUND)
			return store_mdb_err(rc);
		memcpy(v, order, ORDER_KEY_LEN);
		memcpy(v + ORDER_KEY_LEN, f->value.p, f->value.n);
		mv = MV(v, ORDER_KEY_LEN + f->value.n);
		if ((rc = mdb_put(t->txn, DBI(t, DB_RECORDS), &mk, &mv, 0)))
			return store_mdb_err(rc);
	}
	return 0;
}

static int
balance_add(struct store_txn *t, const struct payload_str *acct,
    int64_t amount)
{
	MDB_val k = MV(acct->p, acct->n), v;
	int64_t bal = 0;
	uint8_t b[8];
	int rc;

	rc = mdb_get(t->txn, DBI(t, DB_BALANCES), &k, &v);
	if (rc == 0 && v.mv_size == 8)
		bal = (int64_t)codec_rd64(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(rc);
	if (__builtin_add_overflow(bal, amount, &bal))
		return -NUSA_ERANGE;
	codec_be64(b, (uint64_t)bal);
	v = MV(b, 8);
	return store_mdb_err(mdb_put(t->txn, DBI(t, DB_BALANCES), &k, &v, 0));
}

static int
apply_posting(struct store_txn *t, const uint8_t *order,
    const uint8_t *id, const struct payload *p)
{
	uint8_t k[1 + NUSA_ID_MAX + ORDER_KEY_LEN], amount[8];
	MDB_val mk, mv;
	unsigned i;
	int rc;

	for (i = 0; i < p->u.posting.nlegs; i++) {
		const struct payload_leg *l = &p->u.posting.legs[i];

		memcpy(k, l->account.p, l->account.n);
		k[l->account.n] = 0;
		memcpy(k + l->account.n + 1, order, ORDER_KEY_LEN);
		codec_be64(amount, (uint64_t)l->amount);
		mk = MV(k, l->account.n + 1 + ORDER_KEY_LEN);
		mv = MV(amount, 8);
		rc = mdb_put(t->txn, DBI(t, DB_POSTINGS), &mk, &mv,
		    MDB_NOOVERWRITE);
		if (rc == MDB_KEYEXIST)
			return 0;	/* applied before: idempotent */
		if (rc)
			return store_mdb_err(rc);
		if ((rc = balance_add(t, &l->account, l->amount)) != 0)
			return rc;
	}
	if (p->u.posting.type == POST_REVERSE) {
		mk = MV(p->u.posting.ref, NUSA_HASH_LEN);
		mv = MV(id, NUSA_HASH_LEN);
		if ((rc = mdb_put(t->txn, DBI(t, DB_REVERSALS), &mk, &mv, 0)))
			return store_mdb_err(rc);
	}
	return 0;
}

int
state_apply(struct store_txn *t, const uint8_t id[NUSA_HASH_LEN],
    const struct entry *e)
{
	uint8_t order[ORDER_KEY_LEN];
	struct payload p;
	int rc;

	if ((rc = payload_decode(&p, e->kind, e->payload, e->payload_len)))
		return rc;
	store_order_key(order, e->hlc, e->author, id);
	switch (e->kind) {
	case KIND_RECORD:
		return apply_record(t, order, &p);
	case KIND_POSTING:
		return apply_posting(t, order, id, &p);
	default:
		return 0;	/* devices: see state_devices_recompute() */
	}
}

int
state_effective(struct store_txn *t, const struct entry *e)
{
	struct store_device d;

	if (store_device(t, e->author, &d) != 0)
		return 0;
	return d.role != ROLE_NONE && e->seq <= d.cut;
}

struct devtab {
	struct store_device *v;
	size_t n, cap;
};

static struct store_device *
devtab_find(struct devtab *dt, const uint8_t *pk, int create)
{
	struct store_device *d;
	size_t i;

	for (i = 0; i < dt->n; i++)
		if (memcmp(dt->v[i].pk, pk, NUSA_KEY_LEN) == 0)
			return &dt->v[i];
	if (!create)
		return NULL;
	if (dt->n == dt->cap) {
		size_t cap = dt->cap ? dt->cap * 2 : 16;
		struct store_device *v = realloc(dt->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		dt->v = v;
		dt->cap = cap;
	}
	d = &dt->v[dt->n++];
	memset(d, 0, sizeof(*d));
	memcpy(d->pk, pk, NUSA_KEY_LEN);
	d->cut = UINT64_MAX;
	return d;
}

/* Applies one network, cert or revoke entry to the table being built. */
static int
devtab_apply(struct devtab *dt, const uint8_t *network, const uint8_t *body,
    size_t len)
{
	struct store_device *author, *d;
	struct payload p;
	struct entry e;

	if (entry_decode(&e, body, len) != 0 ||
	    payload_decode(&p, e.kind, e.payload, e.payload_len) != 0)
		return -NUSA_ECORRUPT;
	author = devtab_find(dt, e.author, 0);
	if (author == NULL || e.seq > author->cut ||
	    (author->role != ROLE_ADMIN && author->role != ROLE_ROOT))
		return 0;	/* not effective: no power */
	if (e.kind == KIND_CERT) {
		if (memcmp(p.u.cert.device, network, NUSA_KEY_LEN) == 0)
			return 0;
		if ((d = devtab_find(dt, p.u.cert.device, 1)) == NULL)
			return -ENOMEM;
		d->role = p.u.cert.role;
		d->cert_hlc = e.hlc;
	} else if (e.kind == KIND_REVOKE) {
		if (memcmp(p.u.revoke.device, network, NUSA_KEY_LEN) == 0)
			return 0;
		if ((d = devtab_find(dt, p.u.revoke.device, 1)) == NULL)
			return -ENOMEM;
		if (p.u.revoke.last_seq < d->cut)
			d->cut = p.u.revoke.last_seq;
	}
	return 0;
}

int
state_devices_recompute(struct store_txn *t, int *restricted)
{
	struct devtab dt = { 0 };
	struct store_device *root, *d, old;
	const uint8_t *body;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t len, i;
	int rc, op = MDB_FIRST;

	*restricted = 0;
	if ((root = devtab_find(&dt, t->network, 1)) == NULL)
		return -ENOMEM;
	root->role = ROLE_ROOT;
	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_ADMIN), &c)) != 0) {
		rc = store_mdb_err(rc);
		goto out;
	}
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size != ORDER_KEY_LEN) {
			rc = -NUSA_ECORRUPT;
			goto out;
		}
		rc = store_entry(t, (const uint8_t *)k.mv_data + 8 +
		    NUSA_KEY_LEN, &body, &len, NULL);
		if (rc || (rc = devtab_apply(&dt, t->network, body, len)))
			goto out;
	}
	if (rc != MDB_NOTFOUND) {
		rc = store_mdb_err(rc);
		goto out;
	}
	mdb_cursor_close(c);
	c = NULL;

	/* Compare with the table in force, keep fork flags, and replace. */
	for (i = 0; i < dt.n; i++) {
		d = &dt.v[i];
		if (store_device(t, d->pk, &old) == 0) {
			d->forked = old.forked;
			if ((old.role != ROLE_NONE && d->role == ROLE_NONE) ||
			    d->cut < old.cut)
				*restricted = 1;
		}
	}
	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_DEVICES), &c)) != 0) {
		rc = store_mdb_err(rc);
		goto out;
	}
	op = MDB_FIRST;
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size == NUSA_KEY_LEN &&
		    devtab_find(&dt, k.mv_data, 0) == NULL)
			*restricted = 1;	/* a device vanished */
	}
	mdb_cursor_close(c);
	c = NULL;
	if ((rc = mdb_drop(t->txn, DBI(t, DB_DEVICES), 0)) != 0) {
		rc = store_mdb_err(rc);
		goto out;
	}
	for (i = 0; i < dt.n; i++)
		if ((rc = store_device_put(t, &dt.v[i])) != 0)
			goto out;
	rc = 0;
out:
	if (c)
		mdb_cursor_close(c);
	free(dt.v);
	return rc;
}

/* Sets the fork flag of every device whose feed has two entries at one
 * seq. */
static int
mark_forks(struct store_txn *t)
{
	struct store_device d;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n;
	int rc, op = MDB_FIRST;

	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_FEEDS), &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT_NODUP;
		if ((rc = mdb_cursor_count(c, &n)) != 0)
			break;
		if (n < 2 || k.mv_size < NUSA_KEY_LEN ||
		    store_device(t, k.mv_data, &d) != 0 || d.forked)
			continue;
		d.forked = 1;
		if ((rc = store_device_put(t, &d)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

int
state_rebuild(struct store_txn *t)
{
	struct entry e;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, i, restricted, op = MDB_FIRST;

	for (i = DB_FIRST_STATE; i < DB_COUNT; i++)
		if ((rc = mdb_drop(t->txn, DBI(t, i), 0)) != 0)
			return store_mdb_err(rc);
	if ((rc = state_devices_recompute(t, &restricted)) != 0 ||
	    (rc = mark_forks(t)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_ENTRIES), &c)) != 0)
		return store_mdb_err(rc);
	/* Any order gives the same state; key order is the cheapest. */
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size != NUSA_HASH_LEN ||
		    entry_decode(&e, v.mv_data, v.mv_size) != 0) {
			rc = -NUSA_ECORRUPT;
			break;
		}
		if (e.kind != KIND_RECORD && e.kind != KIND_POSTING)
			continue;
		if (!state_effective(t, &e))
			continue;
		if ((rc = state_apply(t, k.mv_data, &e)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

/* Hashes a value with a u32 length first, so the stream is unambiguous. */
static void
hash_val(crypto_generichash_state *h, const MDB_val *v)
{
	uint8_t len[4] = { (uint8_t)(v->mv_size >> 24),
		(uint8_t)(v->mv_size >> 16), (uint8_t)(v->mv_size >> 8),
		(uint8_t)v->mv_size };

	crypto_generichash_update(h, len, sizeof(len));
	crypto_generichash_update(h, v->mv_data, v->mv_size);
}

int
state_digest(struct store_txn *t, uint8_t out[NUSA_HASH_LEN])
{
	crypto_generichash_state h;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, i, op;

	crypto_generichash_init(&h, NULL, 0, NUSA_HASH_LEN);
	for (i = DB_FIRST_STATE; i < DB_COUNT; i++) {
		uint8_t tag = (uint8_t)i;

		crypto_generichash_update(&h, &tag, 1);
		if ((rc = mdb_cursor_open(t->txn, DBI(t, i), &c)) != 0)
			return store_mdb_err(rc);
		op = MDB_FIRST;
		while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
			op = MDB_NEXT;
			hash_val(&h, &k);
			hash_val(&h, &v);
		}
		mdb_cursor_close(c);
		if (rc != MDB_NOTFOUND)
			return store_mdb_err(rc);
	}
	crypto_generichash_final(&h, out, NUSA_HASH_LEN);
	return 0;
}

struct fieldvec {
	struct state_field *v;
	size_t n, cap;
};

static int
fieldvec_push(struct fieldvec *fv, const struct state_field *f)
{
	if (fv->n == fv->cap) {
		size_t cap = fv->cap ? fv->cap * 2 : 8;
		struct state_field *v = realloc(fv->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		fv->v = v;
		fv->cap = cap;
	}
	fv->v[fv->n++] = *f;
	return 0;
}

/* Splits a records key into its key and field parts. */
static int
split_record_key(const MDB_val *k, const char **key, size_t *klen,
    const char **field, size_t *flen)
{
	const char *p = (const char *)k->mv_data + 1;
	const char *nul = memchr(p, 0, k->mv_size - 1);

	if (k->mv_size < 3 || nul == NULL)
		return -NUSA_ECORRUPT;
	*key = p;
	*klen = (size_t)(nul - p);
	*field = nul + 1;
	*flen = k->mv_size - 2 - *klen;
	return 0;
}

int
state_records_each(struct store_txn *t, uint8_t coll, const char *key,
    int (*fn)(const struct state_record *r, void *ctx), void *ctx)
{
	uint8_t start[2 + NUSA_ID_MAX];
	struct fieldvec fv = { 0 };
	struct state_record r = { .collection = coll };
	struct state_field f;
	const char *rk = NULL, *fname = NULL;
	size_t rklen = 0, flen = 0, slen = 1;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, found = 0;

	start[0] = coll;
	if (key) {
		slen = strlen(key);
		if (!payload_id_ok(key, slen))
			return -NUSA_ENOTFOUND;
		memcpy(start + 1, key, slen);
		start[1 + slen] = 0;
		slen += 2;
	}
	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_RECORDS), &c)) != 0)
		return store_mdb_err(rc);
	k = MV(start, slen);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (;;) {
		int same;

		if (rc == 0 && (k.mv_size < slen ||
		    memcmp(k.mv_data, start, slen) != 0))
			rc = MDB_NOTFOUND;
		if (rc == 0 && (rc = split_record_key(&k, &rk, &rklen, &fname,
		    &flen)) != 0)
			break;
		same = rc == 0 && r.key && rklen == r.key_len &&
		    memcmp(rk, r.key, rklen) == 0;
		if (r.key && !same) {
			/* The previous record is complete: hand it out. */
			r.nfields = fv.n;
			r.fields = fv.v;
			found = 1;
			if ((rc = fn(&r, ctx)) != 0)
				goto out;
			fv.n = 0;
			r.deleted = 0;
			r.key = NULL;
		}
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		if (v.mv_size < ORDER_KEY_LEN) {
			rc = -NUSA_ECORRUPT;
			break;
		}
		r.key = rk;
		r.key_len = rklen;
		f.name = fname;
		f.name_len = flen;
		f.value = (const char *)v.mv_data + ORDER_KEY_LEN;
		f.value_len = v.mv_size - ORDER_KEY_LEN;
		f.hlc = codec_rd64(v.mv_data);
		if (flen == strlen(RECORD_DELETED) &&
		    memcmp(fname, RECORD_DELETED, flen) == 0)
			r.deleted = f.value_len == 1 && f.value[0] == '1';
		else if ((rc = fieldvec_push(&fv, &f)) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
out:
	mdb_cursor_close(c);
	free(fv.v);
	if (rc == 0 && key && !found)
		return -NUSA_ENOTFOUND;
	return store_mdb_err(rc);
}

int
state_field_get(struct store_txn *t, uint8_t coll, const char *key,
    const char *field, char *buf, size_t cap)
{
	uint8_t k[2 + NUSA_ID_MAX + NUSA_NAME_MAX];
	size_t klen = strlen(key), flen = strlen(field), n;
	MDB_val mk, mv;
	int rc;

	if (!payload_id_ok(key, klen) || flen == 0 || flen > NUSA_NAME_MAX)
		return -NUSA_ENOTFOUND;
	mk = MV(k, record_key(k, coll, key, klen, RECORD_DELETED,
	    strlen(RECORD_DELETED)));
	rc = mdb_get(t->txn, DBI(t, DB_RECORDS), &mk, &mv);
	if (rc == 0 && mv.mv_size == ORDER_KEY_LEN + 1 &&
	    ((const char *)mv.mv_data)[ORDER_KEY_LEN] == deleted_value[0])
		return -NUSA_ENOTFOUND;
	mk = MV(k, record_key(k, coll, key, klen, field, flen));
	if ((rc = mdb_get(t->txn, DBI(t, DB_RECORDS), &mk, &mv)) != 0)
		return store_mdb_err(rc);
	if (mv.mv_size < ORDER_KEY_LEN)
		return -NUSA_ECORRUPT;
	n = mv.mv_size - ORDER_KEY_LEN;
	if (n + 1 > cap)
		return -NUSA_ERANGE;
	memcpy(buf, (const char *)mv.mv_data + ORDER_KEY_LEN, n);
	buf[n] = '\0';
	return 0;
}

int
state_balance(struct store_txn *t, const char *acct, int64_t *bal)
{
	MDB_val k = MV(acct, strlen(acct)), v;
	int rc;

	*bal = 0;
	if (k.mv_size == 0 || k.mv_size > NUSA_ID_MAX)
		return 0;
	rc = mdb_get(t->txn, DBI(t, DB_BALANCES), &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return store_mdb_err(rc);
	if (v.mv_size != 8)
		return -NUSA_ECORRUPT;
	*bal = (int64_t)codec_rd64(v.mv_data);
	return 0;
}

int
state_balances_each(struct store_txn *t,
    int (*fn)(const char *acct, size_t n, int64_t bal, void *ctx),
    void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc, op = MDB_FIRST;

	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_BALANCES), &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (v.mv_size != 8) {
			rc = -NUSA_ECORRUPT;
			break;
		}
		if ((rc = fn(k.mv_data, k.mv_size,
		    (int64_t)codec_rd64(v.mv_data), ctx)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

int
state_reversed(struct store_txn *t, const uint8_t id[NUSA_HASH_LEN])
{
	MDB_val k = MV(id, NUSA_HASH_LEN), v;

	return mdb_get(t->txn, DBI(t, DB_REVERSALS), &k, &v) == 0;
}

struct idvec {
	uint8_t (*v)[NUSA_HASH_LEN];
	size_t n, cap;
};

static int
idvec_push(struct idvec *iv, const uint8_t *id)
{
	if (iv->n == iv->cap) {
		size_t cap = iv->cap ? iv->cap * 2 : 8;
		uint8_t (*v)[NUSA_HASH_LEN] = realloc(iv->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		iv->v = v;
		iv->cap = cap;
	}
	memcpy(iv->v[iv->n++], id, NUSA_HASH_LEN);
	return 0;
}

int
state_overdrafts_each(struct store_txn *t,
    int (*fn)(const struct state_overdraft *o, void *ctx), void *ctx)
{
	struct state_overdraft o = { 0 };
	struct idvec iv = { 0 };
	MDB_cursor *c;
	MDB_val k, v;
	const char *acct = NULL;
	size_t alen = 0;
	int64_t amount;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_POSTINGS), &c)) != 0)
		return store_mdb_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	for (;;) {
		int same = 0;

		if (rc == 0) {
			if (k.mv_size < 1 + ORDER_KEY_LEN || v.mv_size != 8) {
				rc = -NUSA_ECORRUPT;
				break;
			}
			acct = k.mv_data;
			alen = k.mv_size - 1 - ORDER_KEY_LEN;
			same = o.acct && alen == o.acct_len &&
			    memcmp(acct, o.acct, alen) == 0;
		}
		if (o.acct && !same) {
			if (iv.n) {
				o.nids = iv.n;
				o.ids = (const uint8_t (*)[NUSA_HASH_LEN])iv.v;
				if ((rc = fn(&o, ctx)) != 0)
					break;
			}
			iv.n = 0;
			o.acct = NULL;
		}
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		if (!o.acct) {
			o.acct = acct;
			o.acct_len = alen;
			o.balance = 0;
			o.lowest = 0;
		}
		amount = (int64_t)codec_rd64(v.mv_data);
		if (__builtin_add_overflow(o.balance, amount, &o.balance)) {
			rc = -NUSA_ERANGE;
			break;
		}
		if (o.balance < o.lowest)
			o.lowest = o.balance;
		if (amount < 0 && o.balance < 0 &&
		    (rc = idvec_push(&iv, (const uint8_t *)k.mv_data +
		    k.mv_size - NUSA_HASH_LEN)) != 0)
			break;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	free(iv.v);
	return store_mdb_err(rc);
}

int
state_forks_each(struct store_txn *t,
    int (*fn)(const struct state_fork *f, void *ctx), void *ctx)
{
	struct state_fork f;
	struct idvec iv = { 0 };
	MDB_cursor *c;
	MDB_val k, v;
	size_t n;
	int rc, op = MDB_FIRST;

	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_FEEDS), &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT_NODUP;
		if ((rc = mdb_cursor_count(c, &n)) != 0)
			break;
		if (n < 2)
			continue;
		if (k.mv_size != FEED_KEY_LEN) {
			rc = -NUSA_ECORRUPT;
			break;
		}
		iv.n = 0;
		do {
			if (v.mv_size != NUSA_HASH_LEN) {
				rc = -NUSA_ECORRUPT;
				goto out;
			}
			if ((rc = idvec_push(&iv, v.mv_data)) != 0)
				goto out;
		} while (mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP) == 0);
		f.author = k.mv_data;
		f.seq = codec_rd64((const uint8_t *)k.mv_data + NUSA_KEY_LEN);
		f.nids = iv.n;
		f.ids = (const uint8_t (*)[NUSA_HASH_LEN])iv.v;
		if ((rc = fn(&f, ctx)) != 0)
			break;
	}
out:
	mdb_cursor_close(c);
	free(iv.v);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}
