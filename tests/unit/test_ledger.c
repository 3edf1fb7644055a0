#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "entry.h"
#include "key.h"
#include "ledger.h"
#include "payload.h"
#include "state.h"
#include "store.h"
#include "testfeed.h"
#include "testutil.h"

/* A box of a fresh network, its root key doing the clerk's work, with
 * member m1 and a savings and a loan account. */
struct box {
	char dir[64];
	struct store *s;
	struct key *root;
	struct store_txn *t;	/* the write transaction of the test */
};

static int
box_setup(void **state)
{
	struct box *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	testutil_tmpdir(b->dir);
	b->s = testutil_store(b->dir, "box", &b->root);
	assert_int_equal(store_begin(b->s, &b->t, STORE_WRITE), 0);
	assert_int_equal(ledger_member_add(b->t, b->root, "m1", "Siti",
	    "Ende"), 0);
	assert_int_equal(ledger_account_open(b->t, b->root, "s1", "m1",
	    "sukarela"), 0);
	assert_int_equal(ledger_account_open(b->t, b->root, "w1", "m1",
	    "wajib"), 0);
	assert_int_equal(ledger_account_open(b->t, b->root, "l1", "m1",
	    "loan"), 0);
	*state = b;
	return 0;
}

static int
box_teardown(void **state)
{
	struct box *b = *state;

	store_abort(b->t);
	store_close(b->s);
	testutil_rmtree(b->dir);
	key_free(&b->root);
	free(b);
	return 0;
}

static int64_t
bal(struct box *b, const char *acct)
{
	int64_t v;

	assert_int_equal(state_balance(b->t, acct, &v), 0);
	return v;
}

static void
test_parse_date(void **state)
{
	static const char *const bad[] = { "2023-02-29", "2024-13-01",
		"2024-1-01", "2024-01-1", "2024-00-10", "2024-01-00",
		"2024-04-31", "1900-02-29", "1969-12-31", "2024/01/01",
		"2024-+1-01", "2024- 1-01", "+024-01-01", " 2024-1-01",
		"2024-01-01 ", "20240101", "", "2024-01-0a", "2024-01-01x" };
	uint32_t d = 7;
	size_t i;

	(void)state;
	assert_int_equal(ledger_parse_date("2024-02-29", &d), 0);
	assert_int_equal(d, 20240229);
	assert_int_equal(ledger_parse_date("2000-02-29", &d), 0);
	assert_int_equal(d, 20000229);
	assert_int_equal(ledger_parse_date("1970-01-01", &d), 0);
	assert_int_equal(d, 19700101);
	assert_int_equal(ledger_parse_date("2023-12-31", &d), 0);
	assert_int_equal(d, 20231231);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d = 7;
		assert_int_equal(ledger_parse_date(bad[i], &d),
		    -NUSA_EMALFORMED);
		assert_int_equal(d, 7);	/* untouched on error */
	}
	assert_true(payload_date_ok(ledger_today()));
	assert_true(ledger_today() >= 20240101);
}

static void
test_account_types(void **state)
{
	(void)state;
	assert_int_equal(ledger_account_type("pokok"), ACCT_POKOK);
	assert_int_equal(ledger_account_type("wajib"), ACCT_WAJIB);
	assert_int_equal(ledger_account_type("sukarela"), ACCT_SUKARELA);
	assert_int_equal(ledger_account_type("loan"), ACCT_LOAN);
	assert_int_equal(ledger_account_type("Loan"), 0);
	assert_int_equal(ledger_account_type(""), 0);
}

static void
test_members_and_accounts(void **state)
{
	struct box *b = *state;
	const char *names[] = { "phone" }, *values[] = { "0812" };
	const char *bad[] = { "type" }, *tomb[] = { RECORD_DELETED };
	char buf[64];

	assert_int_equal(ledger_member_add(b->t, b->root, "m1", "Lain",
	    NULL), -NUSA_EEXIST);
	assert_int_equal(ledger_member_add(b->t, b->root, "m 2", "Budi",
	    NULL), -NUSA_EMALFORMED);
	assert_int_equal(ledger_member_add(b->t, b->root, "m2", "", NULL),
	    -NUSA_EMALFORMED);
	assert_int_equal(ledger_account_open(b->t, b->root, "s9", "nobody",
	    "sukarela"), -NUSA_ENOTFOUND);
	assert_int_equal(ledger_account_open(b->t, b->root, "s1", "m1",
	    "sukarela"), -NUSA_EEXIST);
	assert_int_equal(ledger_account_open(b->t, b->root, "s9", "m1",
	    "deposito"), -NUSA_EMALFORMED);
	assert_int_equal(state_field_get(b->t, COLL_ACCOUNT, "s1", "member",
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "m1");
	assert_int_equal(state_field_get(b->t, COLL_ACCOUNT, "l1", "type",
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "loan");

	assert_int_equal(ledger_record_set(b->t, b->root, COLL_MEMBER, "m1",
	    1, names, values), 0);
	assert_int_equal(state_field_get(b->t, COLL_MEMBER, "m1", "phone",
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0812");
	assert_int_equal(ledger_record_set(b->t, b->root, COLL_MEMBER, "m7",
	    1, names, values), -NUSA_ENOTFOUND);
	assert_int_equal(ledger_record_set(b->t, b->root, COLL_ACCOUNT, "s1",
	    1, bad, values), -NUSA_EFORBIDDEN);
	assert_int_equal(ledger_record_set(b->t, b->root, COLL_MEMBER, "m1",
	    1, tomb, values), -NUSA_EFORBIDDEN);
	assert_int_equal(ledger_record_set(b->t, b->root, COLL_MEMBER, "m1",
	    0, names, values), -NUSA_EMALFORMED);

	/* Removing hides the member; adding it again revives it. */
	assert_int_equal(ledger_record_remove(b->t, b->root, COLL_MEMBER,
	    "m1"), 0);
	assert_int_equal(state_field_get(b->t, COLL_MEMBER, "m1", "name",
	    buf, sizeof(buf)), -NUSA_ENOTFOUND);
	assert_int_equal(ledger_record_remove(b->t, b->root, COLL_MEMBER,
	    "m1"), -NUSA_ENOTFOUND);
	assert_int_equal(ledger_account_open(b->t, b->root, "s2", "m1",
	    "sukarela"), -NUSA_ENOTFOUND);
	assert_int_equal(ledger_member_add(b->t, b->root, "m1", "Siti Baru",
	    NULL), 0);
	assert_int_equal(state_field_get(b->t, COLL_MEMBER, "m1", "name",
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Siti Baru");
}

static void
test_post_rules(void **state)
{
	struct box *b = *state;
	uint8_t id[NUSA_HASH_LEN];
	uint32_t day = 20240301;

	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "s1", NULL,
	    100000, "setor", day, id), 0);
	assert_int_equal(bal(b, "s1"), 100000);
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "s1", NULL,
	    100001, NULL, day, id), -NUSA_EFUNDS);
	assert_int_equal(bal(b, "s1"), 100000);
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "s1", NULL,
	    40000, NULL, day, id), 0);
	assert_int_equal(bal(b, "s1"), 60000);
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "s1", NULL,
	    60000, NULL, day, id), 0);
	assert_int_equal(bal(b, "s1"), 0);
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "s1", NULL,
	    1, NULL, day, id), -NUSA_EFUNDS);

	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "s404",
	    NULL, 5, NULL, day, id), -NUSA_ENOTFOUND);
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "s404",
	    NULL, 5, NULL, day, id), -NUSA_ENOTFOUND);
	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "s1", NULL,
	    0, NULL, day, id), -NUSA_ERANGE);
	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "s1", NULL,
	    -5, NULL, day, id), -NUSA_ERANGE);
	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "s1", NULL,
	    NUSA_AMOUNT_MAX + 1, NULL, day, id), -NUSA_ERANGE);
	assert_int_equal(ledger_post(b->t, b->root, POST_REVERSE, "s1", NULL,
	    5, NULL, day, id), -NUSA_EMALFORMED);
	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "s1", NULL,
	    5, NULL, 20230229, id), -NUSA_EMALFORMED);

	/* Loans: disbursed and repaid, never deposited or withdrawn. */
	assert_int_equal(ledger_post(b->t, b->root, POST_DISBURSE, "s1", NULL,
	    500, NULL, day, id), -NUSA_EFORBIDDEN);
	assert_int_equal(ledger_post(b->t, b->root, POST_REPAY, "w1", NULL,
	    500, NULL, day, id), -NUSA_EFORBIDDEN);
	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "l1", NULL,
	    500, NULL, day, id), -NUSA_EFORBIDDEN);
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "l1", NULL,
	    500, NULL, day, id), -NUSA_EFORBIDDEN);
	assert_int_equal(ledger_post(b->t, b->root, POST_DISBURSE, "l1", NULL,
	    2000000, "pinjaman", day, id), 0);
	assert_int_equal(bal(b, "l1"), 2000000);
	assert_int_equal(ledger_post(b->t, b->root, POST_REPAY, "l1", NULL,
	    2000001, NULL, day, id), -NUSA_EFUNDS);
	assert_int_equal(ledger_post(b->t, b->root, POST_REPAY, "l1", NULL,
	    500000, NULL, day, id), 0);
	assert_int_equal(bal(b, "l1"), 1500000);
	assert_int_equal(ledger_post(b->t, b->root, POST_REPAY, "l1", NULL,
	    1500000, NULL, day, id), 0);
	assert_int_equal(bal(b, "l1"), 0);
	assert_int_equal(ledger_post(b->t, b->root, POST_TRANSFER, "s1", "l1",
	    1, NULL, day, id), -NUSA_EFORBIDDEN);
}

static void
test_transfer(void **state)
{
	struct box *b = *state;
	uint8_t id[NUSA_HASH_LEN];
	uint32_t day = 20240301;

	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "s1", NULL,
	    70000, NULL, day, id), 0);
	assert_int_equal(ledger_post(b->t, b->root, POST_TRANSFER, "s1", "w1",
	    25000, "ke wajib", day, id), 0);
	assert_int_equal(bal(b, "s1"), 45000);
	assert_int_equal(bal(b, "w1"), 25000);
	assert_int_equal(ledger_post(b->t, b->root, POST_TRANSFER, "s1", "w1",
	    45001, NULL, day, id), -NUSA_EFUNDS);
	assert_int_equal(ledger_post(b->t, b->root, POST_TRANSFER, "s1", NULL,
	    1, NULL, day, id), -NUSA_EMALFORMED);
	assert_int_equal(ledger_post(b->t, b->root, POST_TRANSFER, "s1", "s1",
	    1, NULL, day, id), -NUSA_EMALFORMED);
	assert_int_equal(ledger_post(b->t, b->root, POST_TRANSFER, "s1", "x9",
	    1, NULL, day, id), -NUSA_ENOTFOUND);
	assert_int_equal(ledger_post(b->t, b->root, POST_TRANSFER, "w1", "s1",
	    25000, NULL, day, id), 0);
	assert_int_equal(bal(b, "s1"), 70000);
	assert_int_equal(bal(b, "w1"), 0);
}

static int
second_id(const struct store_item *it, void *ctx)
{
	assert_int_equal(it->seq, 2);
	memcpy(ctx, it->id, NUSA_HASH_LEN);
	return 1;
}

static void
test_reverse(void **state)
{
	struct box *b = *state;
	uint8_t dep[NUSA_HASH_LEN], wd[NUSA_HASH_LEN], tr[NUSA_HASH_LEN];
	uint8_t rv[NUSA_HASH_LEN], rv2[NUSA_HASH_LEN], bogus[NUSA_HASH_LEN];
	uint32_t day = 20240301;

	assert_int_equal(ledger_post(b->t, b->root, POST_DEPOSIT, "s1", NULL,
	    90000, NULL, day, dep), 0);
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "s1", NULL,
	    10000, NULL, day, wd), 0);
	assert_int_equal(bal(b, "s1"), 80000);

	assert_int_equal(ledger_reverse(b->t, b->root, wd, "salah catat", day,
	    rv), 0);
	assert_int_equal(bal(b, "s1"), 90000);
	assert_true(state_reversed(b->t, wd));
	assert_false(state_reversed(b->t, dep));
	assert_int_equal(ledger_reverse(b->t, b->root, wd, NULL, day, rv2),
	    -NUSA_EEXIST);
	assert_int_equal(ledger_reverse(b->t, b->root, rv, NULL, day, rv2),
	    -NUSA_EEXIST);
	assert_int_equal(bal(b, "s1"), 90000);

	/* A transfer's reversal restores both sides. */
	assert_int_equal(ledger_post(b->t, b->root, POST_TRANSFER, "s1", "w1",
	    30000, NULL, day, tr), 0);
	assert_int_equal(ledger_reverse(b->t, b->root, tr, NULL, day, rv), 0);
	assert_int_equal(bal(b, "s1"), 90000);
	assert_int_equal(bal(b, "w1"), 0);

	/* Reversing a deposit that was spent would overdraw. */
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "s1", NULL,
	    50000, NULL, day, wd), 0);
	assert_int_equal(ledger_reverse(b->t, b->root, dep, NULL, day, rv),
	    -NUSA_EFUNDS);
	assert_false(state_reversed(b->t, dep));

	memset(bogus, 0x42, sizeof(bogus));
	assert_int_equal(ledger_reverse(b->t, b->root, bogus, NULL, day, rv),
	    -NUSA_ENOTFOUND);
	/* An entry that is not a posting: the member record. */
	assert_int_equal(store_feed_each(b->t, b->root->pk, 2, second_id,
	    bogus), 1);
	assert_int_equal(ledger_reverse(b->t, b->root, bogus, NULL, day, rv),
	    -NUSA_ENOTFOUND);
}

/* Copies author's feed entries from seq from to upto (inclusive) of src
 * into dst, in batches that end at entries src holds signatures of. */
struct copy {
	struct tf_ent *v;
	size_t n;
	uint64_t upto;
};

static int
copy_item(const struct store_item *it, void *ctx)
{
	struct copy *c = ctx;

	if (it->seq > c->upto)
		return 1;
	assert_true(c->n < 64);
	memcpy(c->v[c->n].body, it->body, it->len);
	c->v[c->n].len = it->len;
	memcpy(c->v[c->n].id, it->id, NUSA_HASH_LEN);
	if (it->sig)
		memcpy(c->v[c->n].sig, it->sig, NUSA_SIG_LEN);
	else
		memset(c->v[c->n].sig, 0, NUSA_SIG_LEN);
	c->n++;
	return 0;
}

static void
copy_feed(struct store *src, struct store *dst, const uint8_t *author,
    uint64_t upto, struct store_ingest_stats *st)
{
	struct copy c = { .upto = upto };
	struct store_txn *t;
	uint64_t from;

	c.v = calloc(64, sizeof(*c.v));
	assert_non_null(c.v);
	assert_int_equal(store_begin(dst, &t, STORE_READ), 0);
	from = store_vector_get(t, author) + 1;
	store_abort(t);
	assert_int_equal(store_begin(src, &t, STORE_READ), 0);
	assert_true(store_feed_each(t, author, from, copy_item, &c) >= 0);
	store_abort(t);
	assert_true(c.n > 0);
	/* Every entry a box authored carries its own signature. */
	assert_int_equal(tf_ingest(dst, c.v, c.n, st), 0);
	free(c.v);
}

static void
test_enrol_and_revoke(void **state)
{
	struct box *b = *state;
	struct key *clerk = key_generate(), *stranger = key_generate();
	struct store_ingest_stats st;
	struct store_device d;
	struct store_txn *t;
	struct store *cs;

	assert_int_equal(ledger_enrol(b->t, b->root, clerk->pk, ROLE_ROOT),
	    -NUSA_EMALFORMED);
	assert_int_equal(ledger_enrol(b->t, b->root, clerk->pk, ROLE_NONE),
	    -NUSA_EMALFORMED);
	assert_int_equal(ledger_enrol(b->t, b->root, clerk->pk, ROLE_CLERK),
	    0);
	assert_int_equal(store_device(b->t, clerk->pk, &d), 0);
	assert_int_equal(d.role, ROLE_CLERK);
	assert_int_equal(store_commit(b->t), 0);
	b->t = NULL;

	/* The clerk's own box joins and writes three entries. */
	cs = testutil_store(b->dir, "clerk", NULL);
	tf_join(cs, b->root->pk);
	copy_feed(b->s, cs, b->root->pk, UINT64_MAX, &st);
	assert_int_equal(store_begin(cs, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_member_add(t, clerk, "m2", "Budi", NULL), 0);
	assert_int_equal(ledger_post(t, clerk, POST_DEPOSIT, "s1", NULL, 700,
	    NULL, 20240301, NULL), 0);
	assert_int_equal(ledger_post(t, clerk, POST_WITHDRAW, "s1", NULL, 200,
	    NULL, 20240302, NULL), 0);
	/* Not the clerk's job. */
	assert_int_equal(ledger_enrol(t, clerk, stranger->pk, ROLE_CLERK),
	    -NUSA_EFORBIDDEN);
	assert_int_equal(ledger_member_add(t, stranger, "m3", "Ani", NULL),
	    -NUSA_EUNENROLLED);
	assert_int_equal(store_commit(t), 0);

	/* The office box has seen two of them when it revokes the clerk. */
	copy_feed(cs, b->s, clerk->pk, 2, &st);
	assert_int_equal(st.added, 2);
	assert_int_equal(store_begin(b->s, &b->t, STORE_WRITE), 0);
	assert_int_equal(ledger_revoke(b->t, b->root, stranger->pk),
	    -NUSA_ENOTFOUND);
	assert_int_equal(ledger_revoke(b->t, b->root, b->root->pk),
	    -NUSA_ENOTFOUND);
	assert_int_equal(ledger_revoke(b->t, b->root, clerk->pk), 0);
	assert_int_equal(store_device(b->t, clerk->pk, &d), 0);
	assert_int_equal(d.cut, 2);
	assert_int_equal(d.role, ROLE_CLERK);
	assert_int_equal(ledger_revoke(b->t, b->root, clerk->pk),
	    -NUSA_EEXIST);
	assert_int_equal(bal(b, "s1"), 700);
	assert_int_equal(store_commit(b->t), 0);
	b->t = NULL;

	/* The third arrives after the revocation and is dropped. */
	copy_feed(cs, b->s, clerk->pk, 3, &st);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.revoked, 1);
	assert_int_equal(store_begin(b->s, &b->t, STORE_READ), 0);
	assert_int_equal(bal(b, "s1"), 700);
	store_abort(b->t);

	/* Once the clerk's box learns of it, the clerk can write no more. */
	copy_feed(b->s, cs, b->root->pk, UINT64_MAX, &st);
	assert_int_equal(store_begin(cs, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_member_add(t, clerk, "m4", "Dewi", NULL),
	    -NUSA_EREVOKED);
	assert_int_equal(store_device(t, clerk->pk, &d), 0);
	assert_int_equal(d.cut, 2);
	{
		int64_t v;

		assert_int_equal(state_balance(t, "s1", &v), 0);
		assert_int_equal(v, 700);
	}
	store_abort(t);
	b->t = NULL;
	assert_int_equal(store_begin(b->s, &b->t, STORE_WRITE), 0);
	store_close(cs);
	key_free(&clerk);
	key_free(&stranger);
}

struct legs {
	int64_t amount[8];
	uint8_t id[8][NUSA_HASH_LEN];
	uint64_t hlc[8];
	size_t n;
};

static int
leg_cb(const struct state_leg *l, void *ctx)
{
	struct legs *g = ctx;

	if (g->n == 8)
		return -1;
	g->amount[g->n] = l->amount;
	memcpy(g->id[g->n], l->id, NUSA_HASH_LEN);
	g->hlc[g->n] = l->hlc;
	g->n++;
	return 0;
}

/* Entries written for a web user carry their name; an account's postings
 * come out in clock order with their ids, reversals included. */
static void
test_by_and_statement(void **state)
{
	struct box *b = *state;
	uint8_t d1[NUSA_HASH_LEN], w1[NUSA_HASH_LEN], rv[NUSA_HASH_LEN];
	struct legs g = { 0 };
	const uint8_t *body;
	struct payload p;
	struct entry e;
	size_t len;

	assert_int_equal(ledger_post_by(b->t, b->root, POST_DEPOSIT, "s1",
	    NULL, 1000, "setor", 20261123, "siti", d1), 0);
	assert_int_equal(ledger_post(b->t, b->root, POST_WITHDRAW, "s1",
	    NULL, 300, "", 20261123, w1), 0);
	assert_int_equal(ledger_reverse_by(b->t, b->root, w1, "salah",
	    20261123, "tina", rv), 0);
	assert_int_equal(ledger_post_by(b->t, b->root, POST_DEPOSIT, "s1",
	    NULL, 1, "", 20261123, "bad name", d1), -NUSA_EMALFORMED);
	assert_int_equal(ledger_member_add_by(b->t, b->root, "m2", "Budi",
	    NULL, "siti"), 0);
	assert_int_equal(ledger_account_open_by(b->t, b->root, "s2", "m2",
	    "pokok", "siti"), 0);
	assert_int_equal(store_entry(b->t, d1, &body, &len, NULL), 0);
	assert_int_equal(entry_decode(&e, body, len), 0);
	assert_int_equal(payload_decode(&p, e.kind, e.payload,
	    e.payload_len), 0);
	assert_int_equal(p.u.posting.by.n, 4);
	assert_memory_equal(p.u.posting.by.p, "siti", 4);
	assert_int_equal(store_entry(b->t, w1, &body, &len, NULL), 0);
	assert_int_equal(entry_decode(&e, body, len), 0);
	assert_int_equal(payload_decode(&p, e.kind, e.payload,
	    e.payload_len), 0);
	assert_int_equal(p.u.posting.by.n, 0);

	assert_int_equal(state_account_postings_each(b->t, "s1", leg_cb, &g),
	    0);
	assert_int_equal(g.n, 3);
	assert_true(g.amount[0] == 1000 && g.amount[1] == -300 &&
	    g.amount[2] == 300);
	assert_memory_equal(g.id[0], d1, NUSA_HASH_LEN);
	assert_memory_equal(g.id[1], w1, NUSA_HASH_LEN);
	assert_memory_equal(g.id[2], rv, NUSA_HASH_LEN);
	assert_true(g.hlc[0] < g.hlc[1] && g.hlc[1] < g.hlc[2]);
	/* Another account's postings, or an account whose id is a prefix,
	 * are not this one's. */
	g.n = 0;
	assert_int_equal(state_account_postings_each(b->t, "s", leg_cb, &g),
	    0);
	assert_int_equal(g.n, 0);
	assert_int_equal(state_account_postings_each(b->t, "w1", leg_cb, &g),
	    0);
	assert_int_equal(g.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_date),
		cmocka_unit_test(test_account_types),
#define T(fn) cmocka_unit_test_setup_teardown(fn, box_setup, box_teardown)
		T(test_members_and_accounts),
		T(test_post_rules),
		T(test_transfer),
		T(test_reverse),
		T(test_enrol_and_revoke),
		T(test_by_and_statement),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
