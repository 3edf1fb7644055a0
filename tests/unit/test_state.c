#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bundle.h"
#include "entry.h"
#include "key.h"
#include "ledger.h"
#include "payload.h"
#include "state.h"
#include "store.h"
#include "testfeed.h"
#include "testutil.h"

/* Deterministic pseudo-random numbers (xorshift64*), so a failing
 * interleaving can be replayed. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

static size_t
rnd_below(uint64_t *s, size_t n)
{
	return (size_t)(rnd(s) % n);
}

#define NAUTH	 3	/* root and two clerks */
#define NMEMBERS 6
#define NACCTS	 6
#define FEED_MAX 300

static const char *const member_ids[NMEMBERS] = { "m0", "m1", "m2", "m3",
	"m4", "m5" };
static const char *const acct_ids[NACCTS] = { "a0", "a1", "a2", "a3", "a4",
	"a5" };
static const char *const fields[] = { "name", "village", "phone" };

/* The expected winner of one LWW register. */
struct reg {
	int set;
	uint64_t hlc;
	uint8_t author[NUSA_KEY_LEN];
	uint8_t id[NUSA_HASH_LEN];
	char value[32];
};

struct post {
	uint8_t id[NUSA_HASH_LEN];
	int from, to;		/* to < 0: one leg of amount on from */
	int64_t amount;
};

/* Three authors' feeds, made offline, and what any replica holding them
 * all must show. */
struct world {
	char dir[64];
	struct key *k[NAUTH];
	struct tf_author a[NAUTH];
	struct tf_ent *feed[NAUTH];
	size_t n[NAUTH];
	int64_t bal[NACCTS];
	struct reg reg[NMEMBERS][4];	/* the fields, then the tombstone */
	struct post post[NAUTH * FEED_MAX];
	size_t npost;
};

static int
world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	int i;

	assert_non_null(w);
	testutil_tmpdir(w->dir);
	for (i = 0; i < NAUTH; i++) {
		w->k[i] = key_generate();
		assert_non_null(w->k[i]);
		w->feed[i] = calloc(FEED_MAX, sizeof(struct tf_ent));
		assert_non_null(w->feed[i]);
	}
	for (i = 0; i < NAUTH; i++)
		tf_author_init(&w->a[i], w->k[i], w->k[0]->pk);
	*state = w;
	return 0;
}

static int
world_teardown(void **state)
{
	struct world *w = *state;
	int i;

	testutil_rmtree(w->dir);
	for (i = 0; i < NAUTH; i++) {
		key_free(&w->k[i]);
		free(w->feed[i]);
	}
	free(w);
	return 0;
}

static struct tf_ent *
next_ent(struct world *w, int who)
{
	assert_true(w->n[who] < FEED_MAX);
	return &w->feed[who][w->n[who]++];
}

/* Takes e as the write of register r if it wins by (hlc, author, id). */
static void
reg_write(struct reg *r, const struct tf_ent *e, const char *value)
{
	int c;

	if (r->set) {
		c = r->hlc < e->hlc ? -1 : r->hlc > e->hlc ? 1 : 0;
		if (c == 0)
			c = memcmp(r->author, e->author, NUSA_KEY_LEN);
		if (c == 0)
			c = memcmp(r->id, e->id, NUSA_HASH_LEN);
		if (c >= 0)
			return;
	}
	r->set = 1;
	r->hlc = e->hlc;
	memcpy(r->author, e->author, NUSA_KEY_LEN);
	memcpy(r->id, e->id, NUSA_HASH_LEN);
	snprintf(r->value, sizeof(r->value), "%s", value);
}

static void
note_post(struct world *w, const struct tf_ent *e, int from, int to,
    int64_t amount)
{
	struct post *p = &w->post[w->npost++];

	memcpy(p->id, e->id, NUSA_HASH_LEN);
	p->from = from;
	p->to = to;
	p->amount = amount;
}

/* The root's genesis and two clerk certificates, then ops random changes
 * by random authors. Their clocks overlap, so writes of different authors
 * often carry the same clock. Reversals name any earlier posting of any
 * author, which a replica may not have yet. */
static void
world_generate(struct world *w, uint64_t seed, int ops)
{
	uint64_t s = seed, now = 2000;
	char value[32];
	int i;

	tf_network(&w->a[0], "Koperasi Uji", 1000, next_ent(w, 0));
	tf_cert(&w->a[0], w->k[1]->pk, ROLE_CLERK, 0, next_ent(w, 0));
	tf_cert(&w->a[0], w->k[2]->pk, ROLE_CLERK, 0, next_ent(w, 0));
	for (i = 0; i < ops; i++) {
		int who = (int)rnd_below(&s, NAUTH), m, f, x, y;
		struct tf_author *a = &w->a[who];
		const struct post *p;
		struct tf_ent *e;
		uint64_t hlc;
		int64_t amt;

		now += rnd_below(&s, 2);
		hlc = a->hlc + 1 > now ? a->hlc + 1 : now;
		e = next_ent(w, who);
		m = (int)rnd_below(&s, NMEMBERS);
		x = (int)rnd_below(&s, NACCTS);
		y = (x + 1 + (int)rnd_below(&s, NACCTS - 1)) % NACCTS;
		amt = 1 + (int64_t)rnd_below(&s, 100000);
		switch (rnd_below(&s, 8)) {
		case 0:
		case 1:
			f = (int)rnd_below(&s, 3);
			snprintf(value, sizeof(value), "v%d-%d", who, i);
			tf_record(a, COLL_MEMBER, member_ids[m], fields[f],
			    value, hlc, e);
			reg_write(&w->reg[m][f], e, value);
			break;
		case 2:
			/* Remove, or add back as ledger_member_add() does. */
			f = (int)rnd_below(&s, 2);
			tf_record(a, COLL_MEMBER, member_ids[m], RECORD_DELETED,
			    f ? "1" : "0", hlc, e);
			reg_write(&w->reg[m][3], e, f ? "1" : "0");
			break;
		case 3:
			tf_record(a, COLL_ACCOUNT, acct_ids[x], "member",
			    member_ids[m], hlc, e);
			break;
		case 4:
			tf_posting(a, POST_DEPOSIT, acct_ids[x], NULL, amt,
			    NULL, hlc, e);
			w->bal[x] += amt;
			note_post(w, e, x, -1, amt);
			break;
		case 5:
			tf_posting(a, POST_WITHDRAW, acct_ids[x], NULL, amt,
			    NULL, hlc, e);
			w->bal[x] -= amt;
			note_post(w, e, x, -1, -amt);
			break;
		case 6:
			tf_posting(a, POST_TRANSFER, acct_ids[x], acct_ids[y],
			    amt, NULL, hlc, e);
			w->bal[x] -= amt;
			w->bal[y] += amt;
			note_post(w, e, x, y, amt);
			break;
		default:
			if (w->npost == 0) {
				tf_posting(a, POST_DEPOSIT, acct_ids[x], NULL,
				    amt, NULL, hlc, e);
				w->bal[x] += amt;
				note_post(w, e, x, -1, amt);
				break;
			}
			p = &w->post[rnd_below(&s, w->npost)];
			if (p->to < 0) {
				/* One leg: amount negated. */
				tf_posting(a, POST_REVERSE, acct_ids[p->from],
				    NULL, p->amount, p->id, hlc, e);
				w->bal[p->from] -= p->amount;
			} else {
				/* Debit the side that was credited. */
				tf_posting(a, POST_REVERSE, acct_ids[p->to],
				    acct_ids[p->from], p->amount, p->id, hlc,
				    e);
				w->bal[p->to] -= p->amount;
				w->bal[p->from] += p->amount;
			}
			break;
		}
	}
}

/* Delivers all feeds to a fresh store in a random interleaving: the
 * root's genesis and certificates first, then batches of random length
 * of random feeds, a fifth of them starting a few entries before what was
 * delivered already. */
static struct store *
deliver(struct world *w, const char *name, uint64_t seed)
{
	struct store_ingest_stats st;
	size_t pos[NAUTH] = { 3, 0, 0 }, left, i;
	uint64_t s = seed;
	struct store *out;
	int who;

	out = testutil_store(w->dir, name, NULL);
	tf_join(out, w->k[0]->pk);
	assert_int_equal(tf_ingest(out, w->feed[0], 3, &st), 0);
	for (;;) {
		size_t from, n, fresh;

		for (left = 0, i = 0; i < NAUTH; i++)
			left += w->n[i] - pos[i];
		if (left == 0)
			break;
		do
			who = (int)rnd_below(&s, NAUTH);
		while (pos[who] == w->n[who]);
		from = pos[who];
		if (from > 0 && rnd_below(&s, 5) == 0)
			from -= 1 + rnd_below(&s, from < 4 ? from : 4);
		n = 1 + rnd_below(&s, 40);
		if (from + n > w->n[who])
			n = w->n[who] - from;
		fresh = from + n > pos[who] ? from + n - pos[who] : 0;
		assert_int_equal(tf_ingest(out, w->feed[who] + from, n, &st),
		    0);
		assert_int_equal(st.added, fresh);
		assert_int_equal(st.duplicates, n - fresh);
		pos[who] += fresh;
	}
	return out;
}

static void
check_model(struct world *w, struct store *s)
{
	struct store_txn *t;
	char buf[64];
	int64_t b;
	int m, f, rc;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	for (m = 0; m < NACCTS; m++) {
		assert_int_equal(state_balance(t, acct_ids[m], &b), 0);
		assert_int_equal(b, w->bal[m]);
	}
	for (m = 0; m < NMEMBERS; m++) {
		int deleted = w->reg[m][3].set &&
		    strcmp(w->reg[m][3].value, "1") == 0;

		for (f = 0; f < 3; f++) {
			rc = state_field_get(t, COLL_MEMBER, member_ids[m],
			    fields[f], buf, sizeof(buf));
			if (deleted || !w->reg[m][f].set) {
				assert_int_equal(rc, -NUSA_ENOTFOUND);
				continue;
			}
			assert_int_equal(rc, 0);
			assert_string_equal(buf, w->reg[m][f].value);
		}
	}
	store_abort(t);
}

static void
no_fault(const uint8_t *id, const char *what, void *ctx)
{
	(void)id;
	(void)ctx;
	fail_msg("store_verify: %s", what);
}

static void
test_convergence(void **state)
{
	struct world *w = *state;
	uint8_t d0[NUSA_HASH_LEN], d[NUSA_HASH_LEN];
	struct store *s;
	char name[16];
	size_t n;
	int i, deleted = 0;

	world_generate(w, UINT64_C(0x6b6f7065726173), 420);
	assert_true(w->n[1] > 60 && w->n[2] > 60 && w->n[0] > 60);
	for (i = 0; i < NMEMBERS; i++)
		deleted += w->reg[i][3].set &&
		    strcmp(w->reg[i][3].value, "1") == 0;
	assert_true(deleted > 0 && deleted < NMEMBERS);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		s = deliver(w, name, UINT64_C(0x1234567) * (uint64_t)(i + 1));
		assert_int_equal(tf_count(s), w->n[0] + w->n[1] + w->n[2]);
		check_model(w, s);
		tf_digest(s, d);
		if (i == 0)
			memcpy(d0, d, sizeof(d));
		assert_memory_equal(d0, d, NUSA_HASH_LEN);
		/* The state also equals its recomputation from the entries
		 * in key order, yet another order. */
		assert_int_equal(store_verify(s, no_fault, NULL, &n), 0);
		store_close(s);
	}
}

/* One entry per batch, in the order given. */
static void
deliver_each(struct store *s, struct tf_ent *const *es, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(tf_ingest(s, es[i], 1, NULL), 0);
}

static struct store *
small_store(struct world *w, const char *name)
{
	struct store *s = testutil_store(w->dir, name, NULL);

	tf_join(s, w->k[0]->pk);
	assert_int_equal(tf_ingest(s, w->feed[0], 3, NULL), 0);
	return s;
}

static void
field_is(struct store *s, const char *key, const char *field,
    const char *want)
{
	struct store_txn *t;
	char buf[64];
	int rc;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	rc = state_field_get(t, COLL_MEMBER, key, field, buf, sizeof(buf));
	store_abort(t);
	if (want == NULL) {
		assert_int_equal(rc, -NUSA_ENOTFOUND);
		return;
	}
	assert_int_equal(rc, 0);
	assert_string_equal(buf, want);
}

static void
test_lww(void **state)
{
	struct world *w = *state;
	struct tf_author *c1 = &w->a[1], *c2 = &w->a[2];
	const char *tie_winner;
	struct store *s0, *s1;
	struct tf_ent e[6];

	world_generate(w, 1, 0);
	/* c1 writes later by the clock, though c2's write arrives last. */
	tf_record(c1, COLL_MEMBER, "m1", "name", "Later", 5000, &e[0]);
	tf_record(c2, COLL_MEMBER, "m1", "name", "Earlier", 4000, &e[1]);
	/* Same clock: the greater author key wins. */
	tf_record(c1, COLL_MEMBER, "m1", "village", "Satu", 6000, &e[2]);
	tf_record(c2, COLL_MEMBER, "m1", "village", "Dua", 6000, &e[3]);
	/* Registers are per field: an older write of another field lands. */
	tf_record(c2, COLL_MEMBER, "m1", "phone", "0812", 6001, &e[4]);
	tf_record(c1, COLL_MEMBER, "m1", "phone", "0813", 6002, &e[5]);
	tie_winner = memcmp(w->k[1]->pk, w->k[2]->pk, NUSA_KEY_LEN) > 0 ?
	    "Satu" : "Dua";

	s0 = small_store(w, "a");
	{
		struct tf_ent *order[] = { &e[0], &e[2], &e[5], &e[1], &e[3],
			&e[4] };

		deliver_each(s0, order, 6);
	}
	s1 = small_store(w, "b");
	{
		struct tf_ent *order[] = { &e[1], &e[3], &e[4], &e[0], &e[2],
			&e[5] };

		deliver_each(s1, order, 6);
	}
	field_is(s0, "m1", "name", "Later");
	field_is(s1, "m1", "name", "Later");
	field_is(s0, "m1", "village", tie_winner);
	field_is(s1, "m1", "village", tie_winner);
	field_is(s0, "m1", "phone", "0813");
	field_is(s1, "m1", "phone", "0813");
	tf_same_digest(s0, s1);
	store_close(s0);
	store_close(s1);
}

struct rec_note {
	int seen, deleted;
	size_t nfields;
	char key[16];
};

static int
note_record(const struct state_record *r, void *ctx)
{
	struct rec_note *n = ctx;

	n->seen++;
	n->deleted = r->deleted;
	n->nfields = r->nfields;
	snprintf(n->key, sizeof(n->key), "%.*s", (int)r->key_len, r->key);
	return 0;
}

static void
test_tombstone(void **state)
{
	struct world *w = *state;
	struct tf_author *c1 = &w->a[1], *c2 = &w->a[2];
	struct payload p = { .kind = KIND_RECORD };
	struct tf_ent add, late, del, stale, revive, other;
	uint8_t buf[NUSA_PAYLOAD_MAX];
	struct rec_note rn = { 0 };
	struct store_txn *t;
	struct store *s0, *s1;

	world_generate(w, 1, 0);
	tf_record(c1, COLL_MEMBER, "m1", "name", "Siti", 5000, &add);
	tf_record(c2, COLL_MEMBER, "m1", NULL, NULL, 7000, &del);
	/* A field written before the removal is hidden with the rest. */
	tf_record(c1, COLL_MEMBER, "m1", "village", "Ende", 6000, &late);
	/* "_deleted" = "0" older than the removal does not revive. */
	p.u.record.collection = COLL_MEMBER;
	p.u.record.key = tf_str("m1");
	p.u.record.nfields = 1;
	p.u.record.fields[0].name = tf_str(RECORD_DELETED);
	p.u.record.fields[0].value = tf_str("0");
	tf_entry(c1, KIND_RECORD, buf, tf_encode(&p, buf), 6500, &stale);
	tf_record(c1, COLL_MEMBER, "m2", "name", "Budi", 6501, &other);

	s0 = small_store(w, "a");
	{
		struct tf_ent *order[] = { &add, &del, &late, &stale, &other };

		deliver_each(s0, order, 5);
	}
	s1 = small_store(w, "b");
	{
		struct tf_ent *order[] = { &del, &add, &late, &stale, &other };

		deliver_each(s1, order, 5);
	}
	field_is(s0, "m1", "name", NULL);
	field_is(s1, "m1", "name", NULL);
	field_is(s0, "m1", "village", NULL);
	field_is(s1, "m2", "name", "Budi");
	tf_same_digest(s0, s1);

	/* Listing shows the removed record as deleted, with its fields. */
	assert_int_equal(store_begin(s1, &t, STORE_READ), 0);
	assert_int_equal(state_records_each(t, COLL_MEMBER, "m1", note_record,
	    &rn), 0);
	assert_int_equal(rn.seen, 1);
	assert_int_equal(rn.deleted, 1);
	assert_int_equal(rn.nfields, 2);
	assert_string_equal(rn.key, "m1");
	memset(&rn, 0, sizeof(rn));
	assert_int_equal(state_records_each(t, COLL_MEMBER, NULL, note_record,
	    &rn), 0);
	assert_int_equal(rn.seen, 2);
	assert_int_equal(rn.deleted, 0);
	assert_string_equal(rn.key, "m2");
	assert_int_equal(state_records_each(t, COLL_MEMBER, "m9", note_record,
	    &rn), -NUSA_ENOTFOUND);
	memset(&rn, 0, sizeof(rn));
	assert_int_equal(state_records_each(t, COLL_ACCOUNT, NULL,
	    note_record, &rn), 0);
	assert_int_equal(rn.seen, 0);
	store_abort(t);

	/* A later "_deleted" = "0" revives it, fields and all. */
	tf_entry(c2, KIND_RECORD, buf, tf_encode(&p, buf), 8000, &revive);
	assert_int_equal(tf_ingest(s0, &revive, 1, NULL), 0);
	field_is(s0, "m1", "name", "Siti");
	field_is(s0, "m1", "village", "Ende");
	store_close(s0);
	store_close(s1);
}

static int
stop_record(const struct state_record *r, void *ctx)
{
	(void)r;
	++*(int *)ctx;
	return 7;
}

static int
count_record(const struct state_record *r, void *ctx)
{
	(void)r;
	++*(int *)ctx;
	return 0;
}

static int
stop_balance(const char *acct, size_t n, int64_t bal, void *ctx)
{
	(void)acct;
	(void)n;
	(void)bal;
	++*(int *)ctx;
	return 3;
}

static int
count_balance(const char *acct, size_t n, int64_t bal, void *ctx)
{
	(void)acct;
	(void)n;
	(void)bal;
	++*(int *)ctx;
	return 0;
}

static int
stop_overdraft(const struct state_overdraft *o, void *ctx)
{
	(void)o;
	++*(int *)ctx;
	return 5;
}

static int
count_overdraft(const struct state_overdraft *o, void *ctx)
{
	(void)o;
	++*(int *)ctx;
	return 0;
}

/* Iterators visit each item once, and stop at a callback's non-zero
 * value and return it unchanged. */
static void
test_iterators(void **state)
{
	struct world *w = *state;
	struct store_txn *t;
	struct store *s;
	struct tf_ent extra;
	int calls = 0, members = 0, m;

	world_generate(w, 99, 150);
	s = deliver(w, "a", 5);
	/* Whatever the random books did, one account is overdrawn. */
	tf_posting(&w->a[1], POST_WITHDRAW, "zz", NULL, 5, NULL, 0, &extra);
	assert_int_equal(tf_ingest(s, &extra, 1, NULL), 0);
	for (m = 0; m < NMEMBERS; m++)
		members += w->reg[m][0].set || w->reg[m][1].set ||
		    w->reg[m][2].set || w->reg[m][3].set;
	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(state_records_each(t, COLL_MEMBER, NULL, count_record,
	    &calls), 0);
	assert_int_equal(calls, members);
	calls = 0;
	assert_int_equal(state_records_each(t, COLL_MEMBER, NULL, stop_record,
	    &calls), 7);
	assert_int_equal(calls, 1);
	calls = 0;
	assert_int_equal(state_balances_each(t, count_balance, &calls), 0);
	assert_int_equal(calls, NACCTS + 1);
	calls = 0;
	assert_int_equal(state_balances_each(t, stop_balance, &calls), 3);
	assert_int_equal(calls, 1);
	calls = 0;
	assert_int_equal(state_overdrafts_each(t, count_overdraft, &calls), 0);
	assert_true(calls >= 1);
	calls = 0;
	assert_int_equal(state_overdrafts_each(t, stop_overdraft, &calls), 5);
	assert_int_equal(calls, 1);
	store_abort(t);
	store_close(s);
}

/* The overdraft scenario on two real boxes synced by bundles. */
struct od {
	int n;
	char acct[16];
	int64_t balance, lowest;
	size_t nids;
	uint8_t ids[4][NUSA_HASH_LEN];
};

static int
note_overdraft(const struct state_overdraft *o, void *ctx)
{
	struct od *od = ctx;
	size_t i;

	od->n++;
	snprintf(od->acct, sizeof(od->acct), "%.*s", (int)o->acct_len,
	    o->acct);
	od->balance = o->balance;
	od->lowest = o->lowest;
	od->nids = o->nids;
	for (i = 0; i < o->nids && i < 4; i++)
		memcpy(od->ids[i], o->ids[i], NUSA_HASH_LEN);
	return 0;
}

static void
sync_bundle(struct store *from, struct store *to, const struct key *self)
{
	struct bundle_stats st;
	struct bundle_fault where;
	struct store_txn *t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(store_begin(from, &t, STORE_READ), 0);
	/* Signed by the importer: a member of the network. */
	assert_int_equal(bundle_export(t, f, NULL, self, BUNDLE_RAW, &st), 0);
	store_abort(t);
	assert_int_equal(fclose(f), 0);
	f = fmemopen(buf, len, "r");
	assert_non_null(f);
	assert_int_equal(bundle_import(to, f, self, &st, &where), 0);
	fclose(f);
	free(buf);
}

static void
overdrafts_of(struct store *s, struct od *od)
{
	struct store_txn *t;

	memset(od, 0, sizeof(*od));
	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(state_overdrafts_each(t, note_overdraft, od), 0);
	store_abort(t);
}

/* An office box with a new root key that enrolled clerk and holds member
 * m1 with savings account s1, and its write transaction left open in *t
 * for the test to add to. */
static struct store *
office_store(struct world *w, struct key *clerk, struct key **root,
    struct store_txn **t)
{
	struct store *office = testutil_store(w->dir, "office", root);

	assert_int_equal(store_begin(office, t, STORE_WRITE), 0);
	assert_int_equal(ledger_enrol(*t, *root, clerk->pk, ROLE_CLERK), 0);
	assert_int_equal(ledger_member_add(*t, *root, "m1", "Siti", NULL), 0);
	assert_int_equal(ledger_account_open(*t, *root, "s1", "m1",
	    "sukarela"), 0);
	return office;
}

static void
test_overdraft(void **state)
{
	struct world *w = *state;
	uint8_t w1[NUSA_HASH_LEN], w2[NUSA_HASH_LEN];
	struct store *office, *field;
	struct key *root, *clerk = w->k[1];
	struct store_txn *t;
	struct od o0, o1;

	office = office_store(w, clerk, &root, &t);
	assert_int_equal(ledger_account_open(t, root, "s2", "m1", "wajib"),
	    0);
	assert_int_equal(ledger_post(t, root, POST_DEPOSIT, "s1", NULL, 1000,
	    NULL, 20240301, NULL), 0);
	assert_int_equal(ledger_post(t, root, POST_DEPOSIT, "s2", NULL, 50,
	    NULL, 20240301, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	field = testutil_store(w->dir, "field", NULL);
	sync_bundle(office, field, clerk);
	assert_int_equal(tf_balance(field, "s1"), 1000);

	/* Offline, each box lets a withdrawal of most of it through. */
	assert_int_equal(store_begin(office, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_post(t, root, POST_WITHDRAW, "s1", NULL, 800,
	    NULL, 20240302, w1), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_begin(field, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_post(t, clerk, POST_WITHDRAW, "s1", NULL, 700,
	    NULL, 20240302, w2), 0);
	/* Emptying an account exactly is no overdraft. */
	assert_int_equal(ledger_post(t, clerk, POST_WITHDRAW, "s2", NULL, 50,
	    NULL, 20240302, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	overdrafts_of(office, &o0);
	assert_int_equal(o0.n, 0);

	sync_bundle(field, office, root);
	sync_bundle(office, field, clerk);
	assert_int_equal(tf_balance(office, "s1"), -500);
	assert_int_equal(tf_balance(field, "s1"), -500);
	assert_int_equal(tf_balance(field, "s2"), 0);
	overdrafts_of(office, &o0);
	overdrafts_of(field, &o1);
	assert_int_equal(o0.n, 1);
	assert_int_equal(o1.n, 1);
	assert_string_equal(o0.acct, "s1");
	assert_string_equal(o1.acct, "s1");
	assert_int_equal(o0.balance, -500);
	assert_int_equal(o1.balance, -500);
	assert_int_equal(o0.lowest, -500);
	assert_int_equal(o1.lowest, -500);
	assert_int_equal(o0.nids, 1);
	assert_int_equal(o1.nids, 1);
	assert_memory_equal(o0.ids[0], o1.ids[0], NUSA_HASH_LEN);
	assert_true(memcmp(o0.ids[0], w1, NUSA_HASH_LEN) == 0 ||
	    memcmp(o0.ids[0], w2, NUSA_HASH_LEN) == 0);
	tf_same_digest(office, field);
	store_close(office);
	store_close(field);
	key_free(&root);
}

static int
note_reversals(const struct state_reversals *r, void *ctx)
{
	struct od *od = ctx;
	size_t i;

	od->n++;
	od->nids = r->nids;
	for (i = 0; i < r->nids && i < 4; i++)
		memcpy(od->ids[i], r->ids[i], NUSA_HASH_LEN);
	return 0;
}

static void
double_reversals_of(struct store *s, struct od *od)
{
	struct store_txn *t;

	memset(od, 0, sizeof(*od));
	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(state_double_reversals_each(t, note_reversals, od),
	    0);
	store_abort(t);
}

/* Two offline boxes reverse the same mistaken deposit: both reversals
 * count (they happened), and every replica lists the same pair. */
static void
test_double_reversal(void **state)
{
	struct world *w = *state;
	uint8_t dep[NUSA_HASH_LEN], r1[NUSA_HASH_LEN], r2[NUSA_HASH_LEN];
	struct store *office, *field;
	struct key *root, *clerk = w->k[1];
	struct store_txn *t;
	struct od o0, o1;

	office = office_store(w, clerk, &root, &t);
	assert_int_equal(ledger_post(t, root, POST_DEPOSIT, "s1", NULL, 1000,
	    NULL, 20240301, NULL), 0);
	assert_int_equal(ledger_post(t, root, POST_DEPOSIT, "s1", NULL, 300,
	    NULL, 20240301, dep), 0);
	assert_int_equal(store_commit(t), 0);
	field = testutil_store(w->dir, "field", NULL);
	sync_bundle(office, field, clerk);

	assert_int_equal(store_begin(office, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_reverse(t, root, dep, "salah", 20240302, r1),
	    0);
	assert_int_equal(ledger_reverse(t, root, dep, NULL, 20240302, NULL),
	    -NUSA_EEXIST);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_begin(field, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_reverse(t, clerk, dep, NULL, 20240302, r2), 0);
	assert_int_equal(store_commit(t), 0);
	double_reversals_of(office, &o0);
	assert_int_equal(o0.n, 0);

	sync_bundle(field, office, root);
	sync_bundle(office, field, clerk);
	assert_int_equal(tf_balance(office, "s1"), 700);
	double_reversals_of(office, &o0);
	double_reversals_of(field, &o1);
	assert_int_equal(o0.n, 1);
	assert_int_equal(o1.n, 1);
	assert_int_equal(o0.nids, 2);
	assert_memory_equal(o0.ids, o1.ids, 2 * NUSA_HASH_LEN);
	assert_true(memcmp(o0.ids[0], r1, NUSA_HASH_LEN) == 0 ||
	    memcmp(o0.ids[1], r1, NUSA_HASH_LEN) == 0);
	assert_true(memcmp(o0.ids[0], r2, NUSA_HASH_LEN) == 0 ||
	    memcmp(o0.ids[1], r2, NUSA_HASH_LEN) == 0);
	tf_same_digest(office, field);
	store_close(office);
	store_close(field);
	key_free(&root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, world_setup, world_teardown)
		T(test_convergence),
		T(test_lww),
		T(test_tombstone),
		T(test_iterators),
		T(test_overdraft),
		T(test_double_reversal),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
