#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "entry.h"
#include "payload.h"
#include "store_db.h"

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

uint8_t
state_role_at(struct store_txn *t, const uint8_t *pk, uint64_t hlc)
{
	uint8_t key[NUSA_KEY_LEN + 8], role = ROLE_NONE;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	memcpy(key, pk, NUSA_KEY_LEN);
	codec_be64(key + NUSA_KEY_LEN, hlc);
	k = MV(key, sizeof(key));
	if (mdb_cursor_open(t->txn, DBI(t, DB_ROLES), &c) != 0)
		return ROLE_NONE;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && (k.mv_size != sizeof(key) ||
	    memcmp(k.mv_data, key, sizeof(key)) != 0))
		rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
	else if (rc == MDB_NOTFOUND)
		rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == sizeof(key) && v.mv_size == 1 &&
	    memcmp(k.mv_data, pk, NUSA_KEY_LEN) == 0)
		role = *(const uint8_t *)v.mv_data;
	mdb_cursor_close(c);
	return role;
}

int
state_effective(struct store_txn *t, const struct entry *e)
{
	struct store_device d;
	uint8_t role;

	if (store_device(t, e->author, &d) != 0 || d.role == ROLE_NONE ||
	    e->seq > store_device_cut(&d))
		return 0;
	if (e->kind != KIND_RECORD && e->kind != KIND_POSTING)
		return 1;	/* admin entries: see state_devices_recompute() */
	/* Ledger entries count if their author could write them when it
	 * did: a later change of role does not undo what happened. */
	role = state_role_at(t, e->author, e->hlc);
	return role == ROLE_ROOT || role == ROLE_ADMIN || role == ROLE_CLERK;
}

/* A certificate in force: from its clock on, pk has role. */
struct role_at {
	uint8_t pk[NUSA_KEY_LEN];
	uint64_t hlc;
	uint8_t role;
};

struct devtab {
	struct store_device *v;
	size_t n, cap;
	struct role_at *hist;	/* the certificates applied, in order */
	size_t nhist, caphist;
};

static int
devtab_history(struct devtab *dt, const uint8_t *pk, uint64_t hlc,
    uint8_t role)
{
	if (dt->nhist == dt->caphist) {
		size_t cap = dt->caphist ? dt->caphist * 2 : 16;
		struct role_at *h = realloc(dt->hist, cap * sizeof(*h));

		if (h == NULL)
			return -ENOMEM;
		dt->hist = h;
		dt->caphist = cap;
	}
	memcpy(dt->hist[dt->nhist].pk, pk, NUSA_KEY_LEN);
	dt->hist[dt->nhist].hlc = hlc;
	dt->hist[dt->nhist].role = role;
	dt->nhist++;
	return 0;
}

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

static const struct store_device *
devtab_get(const struct devtab *dt, const uint8_t *pk)
{
	size_t i;

	for (i = 0; i < dt->n; i++)
		if (memcmp(dt->v[i].pk, pk, NUSA_KEY_LEN) == 0)
			return &dt->v[i];
	return NULL;
}

/* Applies one network, cert or revoke entry to the table being built.
 * Besides the cuts known so far in clock order, the entry must not lie
 * past its author's cut in cuts, the table of the previous round: a
 * revocation excludes what its device wrote past the cut whatever their
 * clocks say, as a replica that learnt of it first never stores them. A
 * device's revocation of itself lies past the cut it sets, so it is
 * exempt from that check. */
/* The last seq of a device in a table being built that counts: as
 * store_device_cut(), with the fork looked up in the feed. */
static int
devtab_cut_of(struct store_txn *t, const struct store_device *d,
    uint64_t *cut)
{
	uint64_t fork;
	int rc;

	*cut = d->cut;
	if (d->cut == UINT64_MAX)
		return 0;
	if ((rc = store_first_fork(t, d->pk, d->cut, &fork)) != 0)
		return rc;
	if (fork)
		*cut = fork - 1;
	return 0;
}

static int
devtab_apply(struct store_txn *t, struct devtab *dt,
    const struct devtab *cuts, const uint8_t *body, size_t len)
{
	const uint8_t *network = t->network;
	const struct store_device *c;
	struct store_device *author, *d;
	struct payload p;
	struct entry e;
	uint64_t cut;
	int rc;

	if (entry_decode(&e, body, len) != 0 ||
	    payload_decode(&p, e.kind, e.payload, e.payload_len) != 0)
		return -NUSA_ECORRUPT;
	author = devtab_find(dt, e.author, 0);
	if (author == NULL ||
	    (author->role != ROLE_ADMIN && author->role != ROLE_ROOT))
		return 0;	/* not effective: no power */
	if ((rc = devtab_cut_of(t, author, &cut)) != 0)
		return rc;
	if (e.seq > cut)
		return 0;
	if (cuts && (c = devtab_get(cuts, e.author)) != NULL) {
		if ((rc = devtab_cut_of(t, c, &cut)) != 0)
			return rc;
		if (e.seq > cut && !(e.kind == KIND_REVOKE &&
		    memcmp(p.u.revoke.device, e.author, NUSA_KEY_LEN) == 0))
			return 0;
	}
	if (e.kind == KIND_CERT) {
		if (memcmp(p.u.cert.device, network, NUSA_KEY_LEN) == 0)
			return 0;
		if ((d = devtab_find(dt, p.u.cert.device, 1)) == NULL)
			return -ENOMEM;
		d->role = p.u.cert.role;
		d->cert_hlc = e.hlc;
		return devtab_history(dt, d->pk, e.hlc, d->role);
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

/* Builds a device table from every admin entry in clock order. */
static int
devtab_build(struct store_txn *t, struct devtab *dt,
    const struct devtab *cuts)
{
	struct store_device *root;
	const uint8_t *body;
	MDB_cursor *c;
	MDB_val k, v;
	size_t len;
	int rc, op = MDB_FIRST;

	dt->n = 0;
	dt->nhist = 0;
	if (!t->network_known)
		return 0;	/* a box made by keygen alone: nobody yet */
	if ((root = devtab_find(dt, t->network, 1)) == NULL ||
	    devtab_history(dt, t->network, 0, ROLE_ROOT) != 0)
		return -ENOMEM;
	root->role = ROLE_ROOT;
	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_ADMIN), &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size != ORDER_KEY_LEN) {
			rc = -NUSA_ECORRUPT;
			break;
		}
		rc = store_entry(t, (const uint8_t *)k.mv_data + 8 +
		    NUSA_KEY_LEN, &body, &len, NULL);
		if (rc || (rc = devtab_apply(t, dt, cuts, body, len)))
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

static uint64_t
devtab_cut(const struct devtab *dt, const uint8_t *pk)
{
	const struct store_device *d = devtab_get(dt, pk);

	return d ? d->cut : UINT64_MAX;
}

static int
devtab_same_cuts(const struct devtab *a, const struct devtab *b)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (devtab_cut(b, a->v[i].pk) != a->v[i].cut)
			return 0;
	for (i = 0; i < b->n; i++)
		if (devtab_cut(a, b->v[i].pk) != b->v[i].cut)
			return 0;
	return 1;
}

static int
devtab_any_cut(const struct devtab *dt)
{
	size_t i;

	for (i = 0; i < dt->n; i++)
		if (dt->v[i].cut != UINT64_MAX)
			return 1;
	return 0;
}

/* Rounds of devtab_build() before giving up on a fixed point. Only
 * devices that revoke each other's revokers need more than two, and the
 * result is a function of the entries either way. */
#define DEVTAB_ROUNDS 8

int
state_devices_recompute(struct store_txn *t, int *restricted)
{
	struct devtab a = { 0 }, b = { 0 }, *cur = &a, *prev = &b, *tmp;
	struct store_device *d, old;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t i;
	int rc, op, round;

	*restricted = 0;
	if ((rc = devtab_build(t, cur, NULL)) != 0)
		goto out;
	for (round = 1; round < DEVTAB_ROUNDS && devtab_any_cut(cur);
	    round++) {
		tmp = prev;
		prev = cur;
		cur = tmp;
		if ((rc = devtab_build(t, cur, prev)) != 0)
			goto out;
		if (devtab_same_cuts(cur, prev))
			break;
	}

	/* Compare with the table in force, keep fork flags, and replace.
	 * Any change of who counts, either way, changes which stored entries
	 * are effective: a cut can also rise when its revoker turns out to
	 * have been revoked first. */
	for (i = 0; i < cur->n; i++) {
		d = &cur->v[i];
		if ((rc = store_first_fork(t, d->pk, d->cut, &d->fork_seq)))
			goto out;
		d->forked = d->fork_seq != 0;
		if (store_device(t, d->pk, &old) == 0) {
			if (old.role != d->role ||
			    store_device_cut(d) != store_device_cut(&old))
				*restricted = 1;
		} else if (d->role != ROLE_NONE &&
		    store_vector_get(t, d->pk) > 0) {
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
		    devtab_get(cur, k.mv_data) == NULL)
			*restricted = 1;	/* a device vanished */
	}
	mdb_cursor_close(c);
	c = NULL;
	if ((rc = mdb_drop(t->txn, DBI(t, DB_DEVICES), 0)) != 0) {
		rc = store_mdb_err(rc);
		goto out;
	}
	for (i = 0; i < cur->n; i++)
		if ((rc = store_device_put(t, &cur->v[i])) != 0)
			goto out;
	if ((rc = mdb_drop(t->txn, DBI(t, DB_ROLES), 0)) != 0) {
		rc = store_mdb_err(rc);
		goto out;
	}
	for (i = 0; i < cur->nhist; i++) {
		uint8_t key[NUSA_KEY_LEN + 8];

		memcpy(key, cur->hist[i].pk, NUSA_KEY_LEN);
		codec_be64(key + NUSA_KEY_LEN, cur->hist[i].hlc);
		k = MV(key, sizeof(key));
		v = MV(&cur->hist[i].role, 1);
		if ((rc = mdb_put(t->txn, DBI(t, DB_ROLES), &k, &v, 0))) {
			rc = store_mdb_err(rc);
			goto out;
		}
	}
	rc = 0;
out:
	if (c)
		mdb_cursor_close(c);
	free(a.v);
	free(b.v);
	free(a.hist);
	free(b.hist);
	return rc;
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
	/* The device table, fork marks included, comes from the entries. */
	if ((rc = state_devices_recompute(t, &restricted)) != 0)
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
	const char *nul;

	if (k->mv_size < 3 || (nul = memchr(p, 0, k->mv_size - 1)) == NULL)
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
	int rc, found = 0, from_fn = 0, end;

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
		end = rc == MDB_NOTFOUND || (rc == 0 && (k.mv_size < slen ||
		    memcmp(k.mv_data, start, slen) != 0));
		if (rc != 0 && !end)
			break;
		if (!end && (rc = split_record_key(&k, &rk, &rklen, &fname,
		    &flen)) != 0)
			break;
		if (r.key && (end || rklen != r.key_len ||
		    memcmp(rk, r.key, rklen) != 0)) {
			/* The previous record is complete: hand it out. */
			r.nfields = fv.n;
			r.fields = fv.v;
			found = 1;
			if ((rc = fn(&r, ctx)) != 0) {
				from_fn = 1;
				break;
			}
			fv.n = 0;
			r.deleted = 0;
			r.key = NULL;
		}
		if (end) {
			rc = 0;
			break;
		}
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
	mdb_cursor_close(c);
	free(fv.v);
	if (from_fn)
		return rc;
	if (rc == 0 && key && !found)
		return -NUSA_ENOTFOUND;
	return store_mdb_err(rc);
}

const struct state_field *
state_record_field(const struct state_record *r, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < r->nfields; i++)
		if (r->fields[i].name_len == n &&
		    memcmp(r->fields[i].name, name, n) == 0)
			return &r->fields[i];
	return NULL;
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
	int rc, op = MDB_FIRST, from_fn = 0;

	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_BALANCES), &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (v.mv_size != 8) {
			rc = -NUSA_ECORRUPT;
			break;
		}
		if ((rc = fn(k.mv_data, k.mv_size,
		    (int64_t)codec_rd64(v.mv_data), ctx)) != 0) {
			from_fn = 1;
			break;
		}
	}
	mdb_cursor_close(c);
	if (from_fn)
		return rc;
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

int
state_account_postings_each(struct store_txn *t, const char *acct,
    int (*fn)(const struct state_leg *l, void *ctx), void *ctx)
{
	uint8_t prefix[NUSA_ID_MAX + 1];
	struct state_leg l;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = strlen(acct);
	int rc, from_fn = 0;

	if (n == 0 || n > NUSA_ID_MAX)
		return 0;
	memcpy(prefix, acct, n);
	prefix[n] = 0;
	if ((rc = mdb_cursor_open(t->txn, DBI(t, DB_POSTINGS), &c)) != 0)
		return store_mdb_err(rc);
	k = MV(prefix, n + 1);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *kp = k.mv_data;

		if (k.mv_size != n + 1 + ORDER_KEY_LEN ||
		    memcmp(kp, prefix, n + 1) != 0)
			break;
		if (v.mv_size != 8) {
			rc = -NUSA_ECORRUPT;
			break;
		}
		l.hlc = codec_rd64(kp + n + 1);
		l.author = kp + n + 1 + 8;
		l.id = kp + n + 1 + 8 + NUSA_KEY_LEN;
		l.amount = (int64_t)codec_rd64(v.mv_data);
		if ((rc = fn(&l, ctx)) != 0) {
			from_fn = 1;
			break;
		}
	}
	mdb_cursor_close(c);
	if (from_fn)
		return rc;
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : store_mdb_err(rc);
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
	int rc, fnrc, from_fn = 0;

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
		} else if (rc != MDB_NOTFOUND) {
			break;
		}
		if (o.acct && !same) {
			if (iv.n) {
				o.nids = iv.n;
				o.ids = (const uint8_t (*)[NUSA_HASH_LEN])iv.v;
				if ((fnrc = fn(&o, ctx)) != 0) {
					rc = fnrc;
					from_fn = 1;
					break;
				}
			}
			iv.n = 0;
			o.acct = NULL;
		}
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
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
	return from_fn ? rc : store_mdb_err(rc);
}

/* Calls fn for every key of a dupsort table of 32-byte ids that holds
 * more than one id, with the ids gathered. */
static int
dup_groups_each(struct store_txn *t, int dbi, size_t keylen,
    int (*fn)(const MDB_val *k, const struct idvec *iv, void *ctx),
    void *ctx)
{
	struct idvec iv = { 0 };
	MDB_cursor *c;
	MDB_val k, v, dk, dv;
	size_t n;
	int rc, op = MDB_FIRST, from_fn = 0;

	if ((rc = mdb_cursor_open(t->txn, DBI(t, dbi), &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT_NODUP;
		if ((rc = mdb_cursor_count(c, &n)) != 0)
			break;
		if (n < 2)
			continue;
		if (k.mv_size != keylen) {
			rc = -NUSA_ECORRUPT;
			break;
		}
		iv.n = 0;
		dv = v;
		do {
			if (dv.mv_size != NUSA_HASH_LEN) {
				rc = -NUSA_ECORRUPT;
				goto out;
			}
			if ((rc = idvec_push(&iv, dv.mv_data)) != 0)
				goto out;
		} while (mdb_cursor_get(c, &dk, &dv, MDB_NEXT_DUP) == 0);
		if ((rc = fn(&k, &iv, ctx)) != 0) {
			from_fn = 1;
			break;
		}
	}
out:
	mdb_cursor_close(c);
	free(iv.v);
	if (from_fn)
		return rc;
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

/* The typed callback behind a dup_groups_each() adapter. */
struct group_fn {
	int (*fork)(const struct state_fork *f, void *ctx);
	int (*reversals)(const struct state_reversals *r, void *ctx);
	void *ctx;
};

static int
fork_group(const MDB_val *k, const struct idvec *iv, void *ctx)
{
	const struct group_fn *g = ctx;
	struct state_fork f = {
		.author = k->mv_data,
		.seq = codec_rd64((const uint8_t *)k->mv_data + NUSA_KEY_LEN),
		.nids = iv->n,
		.ids = (const uint8_t (*)[NUSA_HASH_LEN])iv->v,
	};

	return g->fork(&f, g->ctx);
}

int
state_forks_each(struct store_txn *t,
    int (*fn)(const struct state_fork *f, void *ctx), void *ctx)
{
	struct group_fn g = { .fork = fn, .ctx = ctx };

	return dup_groups_each(t, DB_FEEDS, FEED_KEY_LEN, fork_group, &g);
}

static int
reversal_group(const MDB_val *k, const struct idvec *iv, void *ctx)
{
	const struct group_fn *g = ctx;
	struct state_reversals r = {
		.posting = k->mv_data,
		.nids = iv->n,
		.ids = (const uint8_t (*)[NUSA_HASH_LEN])iv->v,
	};

	return g->reversals(&r, g->ctx);
}

int
state_double_reversals_each(struct store_txn *t,
    int (*fn)(const struct state_reversals *r, void *ctx), void *ctx)
{
	struct group_fn g = { .reversals = fn, .ctx = ctx };

	return dup_groups_each(t, DB_REVERSALS, NUSA_HASH_LEN,
	    reversal_group, &g);
}
