#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>

#include "bundle.h"
#include "codec.h"
#include "entry.h"
#include "key.h"
#include "ledger.h"
#include "payload.h"
#include "receipt.h"
#include "state.h"
#include "store.h"
#include "testfeed.h"
#include "testutil.h"
#include "vector.h"

struct mem {
	char *buf;
	size_t len;
};

static void
mem_free(struct mem *m)
{
	free(m->buf);
	m->buf = NULL;
	m->len = 0;
}

/* Exports s for vector have (NULL: everything) into m. */
static void
export_mem(struct store *s, const struct key *maker,
    const struct vector *have, struct mem *m, struct bundle_stats *st,
    int compression)
{
	struct bundle_stats dummy;
	struct store_txn *t;
	FILE *f;

	m->buf = NULL;
	m->len = 0;
	f = open_memstream(&m->buf, &m->len);
	assert_non_null(f);
	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(bundle_export(t, f, have, maker, compression,
	    st ? st : &dummy), 0);
	store_abort(t);
	assert_int_equal(fclose(f), 0);
}

/* Imports the first len bytes of buf into s as self. */
static int
import_mem(struct store *s, const void *buf, size_t len,
    const struct key *self, struct bundle_stats *st,
    struct bundle_fault *where)
{
	struct bundle_stats dummy;
	struct bundle_fault wdummy;
	FILE *f;
	int rc;

	/* fmemopen() of zero bytes is not portable; an empty file is. */
	f = len ? fmemopen((void *)buf, len, "r") : tmpfile();
	assert_non_null(f);
	rc = bundle_import(s, f, self, st ? st : &dummy,
	    where ? where : &wdummy);
	fclose(f);
	return rc;
}

static void
sync_to(struct store *from, struct store *to, const struct key *self)
{
	struct mem m;

	/* Signed by the importer: a member of the network. */
	export_mem(from, self, NULL, &m, NULL, BUNDLE_ZSTD);
	assert_int_equal(import_mem(to, m.buf, m.len, self, NULL, NULL), 0);
	mem_free(&m);
}

static int
field_in(struct store *s, const char *member, char *buf, size_t cap)
{
	struct store_txn *t;
	int rc;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	rc = state_field_get(t, COLL_MEMBER, member, "name", buf, cap);
	store_abort(t);
	return rc;
}

static int
vec_add(const uint8_t *author, uint64_t seq, void *ctx)
{
	return vector_set(ctx, author, seq);
}

static struct vector *
vector_of(struct store *s)
{
	struct vector *v = vector_new();
	struct store_txn *t;

	assert_non_null(v);
	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(store_vector_each(t, vec_add, v), 0);
	store_abort(t);
	return v;
}

/* Where the parts of a bundle are. */
struct layout {
	size_t nb;
	struct {
		size_t count;
		size_t body[NUSA_BATCH_MAX], len[NUSA_BATCH_MAX];
		size_t sig;
	} *b;
	size_t end;
};

static uint64_t
be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

static void
parse(const struct mem *m, struct layout *l)
{
	const uint8_t *p = (const uint8_t *)m->buf;
	size_t off = BUNDLE_HEAD_LEN, i;

	l->nb = 0;
	l->b = calloc(16, sizeof(*l->b));
	assert_non_null(l->b);
	assert_memory_equal(p, "NUSABNDL", 8);
	assert_int_equal(p[8], BUNDLE_VERSION);
	assert_int_equal(p[9], BUNDLE_RAW);
	while (p[off] == 'B') {
		assert_true(l->nb < 16);
		l->b[l->nb].count = (size_t)be(p + off + 1, 2);
		off += 3;
		for (i = 0; i < l->b[l->nb].count; i++) {
			l->b[l->nb].len[i] = (size_t)be(p + off, 4);
			l->b[l->nb].body[i] = off + 4;
			off += 4 + l->b[l->nb].len[i];
		}
		l->b[l->nb].sig = off;
		off += NUSA_SIG_LEN;
		l->nb++;
	}
	while (p[off] == 'R')
		off += 5 + (size_t)be(p + off + 1, 4);
	assert_int_equal(p[off], 'E');
	l->end = off;
	assert_int_equal(off + 1 + 8 + 4 + 4 + NUSA_SIG_LEN, m->len);
}

/* An office box with the root key: an enrolled clerk and admin, members,
 * accounts and postings. */
struct net {
	char dir[64];
	struct store *office;
	struct key *root, *clerk, *admin, *stranger;
};

static int
net_setup(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	struct store_txn *t;
	uint8_t id[NUSA_HASH_LEN];

	assert_non_null(n);
	testutil_tmpdir(n->dir);
	n->office = testutil_store(n->dir, "office", &n->root);
	n->clerk = key_generate();
	n->admin = key_generate();
	n->stranger = key_generate();
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_enrol(t, n->root, n->clerk->pk, ROLE_CLERK),
	    0);
	assert_int_equal(ledger_enrol(t, n->root, n->admin->pk, ROLE_ADMIN),
	    0);
	assert_int_equal(ledger_member_add(t, n->root, "m1", "Siti", "Ende"),
	    0);
	assert_int_equal(ledger_member_add(t, n->root, "m2", "Budi", NULL),
	    0);
	assert_int_equal(ledger_account_open(t, n->root, "s1", "m1",
	    "sukarela"), 0);
	assert_int_equal(ledger_account_open(t, n->root, "l2", "m2", "loan"),
	    0);
	assert_int_equal(ledger_post(t, n->root, POST_DEPOSIT, "s1", NULL,
	    250000, "setoran", 20240301, id), 0);
	assert_int_equal(ledger_post(t, n->root, POST_DISBURSE, "l2", NULL,
	    1000000, NULL, 20240302, NULL), 0);
	assert_int_equal(ledger_reverse(t, n->root, id, "salah", 20240303,
	    NULL), 0);
	assert_int_equal(store_commit(t), 0);
	*state = n;
	return 0;
}

static int
net_teardown(void **state)
{
	struct net *n = *state;

	store_close(n->office);
	testutil_rmtree(n->dir);
	key_free(&n->root);
	key_free(&n->clerk);
	key_free(&n->admin);
	key_free(&n->stranger);
	free(n);
	return 0;
}

static void
test_join_by_bundle(void **state)
{
	struct net *n = *state;
	struct bundle_stats st;
	struct bundle_fault where;
	uint8_t id[NUSA_KEY_LEN];
	char name[64];
	struct store_txn *t;
	struct store *box;
	struct mem m;
	size_t count = tf_count(n->office);

	export_mem(n->office, n->root, NULL, &m, &st, BUNDLE_RAW);
	assert_int_equal(st.entries, count);
	assert_int_equal(st.skipped, 0);
	box = testutil_store(n->dir, "box", NULL);

	/* A bundle that does not enrol this box leaves it as it was. */
	assert_int_equal(import_mem(box, m.buf, m.len, n->stranger, &st,
	    &where), -NUSA_EUNENROLLED);
	assert_int_equal(store_begin(box, &t, STORE_READ), 0);
	assert_int_equal(store_network(t, id, name, sizeof(name)),
	    -NUSA_ENONET);
	assert_int_equal(store_count(t), 0);
	store_abort(t);

	assert_int_equal(import_mem(box, m.buf, m.len, n->clerk, &st,
	    &where), 0);
	assert_int_equal(st.entries, count);
	assert_int_equal(st.added, count);
	assert_int_equal(st.duplicates, 0);
	assert_int_equal(tf_count(box), count);
	tf_same_digest(n->office, box);
	assert_int_equal(store_begin(box, &t, STORE_READ), 0);
	assert_int_equal(store_network(t, id, name, sizeof(name)), 0);
	assert_memory_equal(id, n->root->pk, NUSA_KEY_LEN);
	assert_string_equal(name, "Koperasi Uji");
	store_abort(t);
	assert_int_equal(tf_balance(box, "s1"), 0);
	assert_int_equal(tf_balance(box, "l2"), 1000000);
	tf_verify_clean(box);

	/* Again: nothing new. */
	assert_int_equal(import_mem(box, m.buf, m.len, n->clerk, &st,
	    &where), 0);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.duplicates, count);
	tf_same_digest(n->office, box);
	mem_free(&m);
	store_close(box);
}

static void
test_export_for_vector(void **state)
{
	struct net *n = *state;
	struct bundle_stats st;
	struct store_txn *t;
	struct vector *have;
	struct store *box;
	struct mem m;
	int i;

	box = testutil_store(n->dir, "box", NULL);
	sync_to(n->office, box, n->clerk);

	/* The office goes on; the box writes too. */
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(ledger_post(t, n->root, POST_DEPOSIT, "s1",
		    NULL, 1000 + i, NULL, 20240310, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_begin(box, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_member_add(t, n->clerk, "m3", "Wayan", NULL),
	    0);
	assert_int_equal(store_commit(t), 0);

	have = vector_of(box);
	export_mem(n->office, n->root, have, &m, &st, BUNDLE_RAW);
	assert_int_equal(st.entries, 5);
	assert_int_equal(st.batches, 1);
	assert_int_equal(import_mem(box, m.buf, m.len, n->clerk, &st,
	    NULL), 0);
	assert_int_equal(st.added, 5);
	assert_int_equal(st.duplicates, 0);
	assert_int_equal(tf_balance(box, "s1"), 1000 * 5 + 10);
	mem_free(&m);
	vector_free(&have);

	/* And back: the office lacks only the clerk's entry. */
	have = vector_of(n->office);
	export_mem(box, n->clerk, have, &m, &st, BUNDLE_RAW);
	assert_int_equal(st.entries, 1);
	assert_int_equal(import_mem(n->office, m.buf, m.len, n->root, &st,
	    NULL), 0);
	assert_int_equal(st.added, 1);
	tf_same_digest(n->office, box);
	mem_free(&m);
	vector_free(&have);

	/* In step: an empty bundle, which imports cleanly. */
	have = vector_of(box);
	export_mem(n->office, n->root, have, &m, &st, BUNDLE_RAW);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.batches, 0);
	assert_int_equal(import_mem(box, m.buf, m.len, n->clerk, &st,
	    NULL), 0);
	mem_free(&m);
	vector_free(&have);
	store_close(box);
}

static int
rc_is_rejection(int rc)
{
	/* A changed body changes its id, so the chain or the batch
	 * signature breaks, unless decoding fails first: version,
	 * network, lengths or payload. */
	return rc == -NUSA_EBADSIG || rc == -NUSA_EBADCHAIN ||
	    rc == -NUSA_EMALFORMED || rc == -NUSA_EVERSION ||
	    rc == -NUSA_ENETWORK;
}

static void
flip_and_check(struct store *s, struct mem *m, size_t off, size_t batch,
    const struct key *self, size_t count_before, const uint8_t *digest)
{
	uint8_t d[NUSA_HASH_LEN];
	struct bundle_fault where;
	struct bundle_stats st;
	int rc;

	m->buf[off] ^= 0x41;
	rc = import_mem(s, m->buf, m->len, self, &st, &where);
	m->buf[off] ^= 0x41;
	if (!rc_is_rejection(rc))
		fail_msg("flip at %zu: %s", off, nusa_strerror(rc));
	assert_int_equal(where.batch, batch + 1);
	assert_int_equal(st.batches, batch);
	assert_int_equal(tf_count(s), count_before);
	tf_digest(s, d);
	assert_memory_equal(d, digest, NUSA_HASH_LEN);
}

static void
test_flipped_byte(void **state)
{
	struct net *n = *state;
	uint8_t d1[NUSA_HASH_LEN];
	struct store *clerkbox, *t1, *fresh;
	struct store_txn *t;
	struct layout l;
	struct mem m;
	size_t i, j, off, first;

	/* Two batches: the root's feed, then the clerk's. */
	clerkbox = testutil_store(n->dir, "clerk", NULL);
	sync_to(n->office, clerkbox, n->clerk);
	assert_int_equal(store_begin(clerkbox, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_member_add(t, n->clerk, "m3", "Wayan", NULL),
	    0);
	assert_int_equal(ledger_post(t, n->clerk, POST_DEPOSIT, "s1", NULL,
	    5000, "tunai", 20240305, NULL), 0);
	assert_int_equal(ledger_post(t, n->clerk, POST_WITHDRAW, "s1", NULL,
	    1000, NULL, 20240306, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	export_mem(clerkbox, n->clerk, NULL, &m, NULL, BUNDLE_RAW);
	parse(&m, &l);
	assert_int_equal(l.nb, 2);
	assert_int_equal(l.b[1].count, 3);

	/* The reference: a store that took only the first batch. */
	t1 = testutil_store(n->dir, "t1", NULL);
	tf_join(t1, n->root->pk);
	first = l.b[1].body[0] - 4 - 3;
	{
		struct mem head = { .buf = m.buf, .len = first };
		struct bundle_fault where;

		assert_int_equal(import_mem(t1, head.buf, head.len,
		    n->root, NULL, &where), -NUSA_ETRUNCATED);
		assert_int_equal(where.batch, 2);
	}
	tf_digest(t1, d1);
	tf_same_digest(n->office, t1);

	/* Every byte of every body and of the signature of batch 2. */
	for (i = 0; i < l.b[1].count; i++)
		for (j = 0; j < l.b[1].len[i]; j++)
			flip_and_check(t1, &m, l.b[1].body[i] + j, 1,
			    n->root, tf_count(n->office), d1);
	for (j = 0; j < NUSA_SIG_LEN; j++)
		flip_and_check(t1, &m, l.b[1].sig + j, 1, n->root,
		    tf_count(n->office), d1);

	/* Batch 1, sampled, into a fresh store of the network. */
	fresh = testutil_store(n->dir, "fresh", NULL);
	tf_join(fresh, n->root->pk);
	{
		uint8_t d0[NUSA_HASH_LEN];

		tf_digest(fresh, d0);
		for (i = 0; i < l.b[0].count; i++)
			for (j = i % 5; j < l.b[0].len[i]; j += 5)
				flip_and_check(fresh, &m, l.b[0].body[i] + j,
				    0, n->root, 0, d0);
		for (j = 0; j < NUSA_SIG_LEN; j += 3)
			flip_and_check(fresh, &m, l.b[0].sig + j, 0,
			    n->root, 0, d0);
	}

	/* A box joining by a bundle broken before the batch that enrols it
	 * joins nothing. */
	store_close(fresh);
	fresh = testutil_store(n->dir, "joiner", NULL);
	off = l.b[0].body[1] + 20;
	m.buf[off] ^= 1;
	assert_true(rc_is_rejection(import_mem(fresh, m.buf, m.len,
	    n->clerk, NULL, NULL)));
	m.buf[off] ^= 1;
	assert_int_equal(store_begin(fresh, &t, STORE_READ), 0);
	assert_int_equal(store_network(t, d1, NULL, 0), -NUSA_ENONET);
	assert_int_equal(store_count(t), 0);
	store_abort(t);

	/* Broken after it, the box has joined and keeps the batches before
	 * the bad one, as any member does. */
	off = l.b[1].body[2] + 12;
	m.buf[off] ^= 1;
	assert_true(rc_is_rejection(import_mem(fresh, m.buf, m.len,
	    n->clerk, NULL, NULL)));
	m.buf[off] ^= 1;
	tf_same_digest(fresh, t1);
	assert_int_equal(tf_count(fresh), tf_count(t1));

	/* Unharmed, it all goes in. */
	assert_int_equal(import_mem(t1, m.buf, m.len, n->root, NULL,
	    NULL), 0);
	tf_same_digest(clerkbox, t1);
	free(l.b);
	mem_free(&m);
	store_close(fresh);
	store_close(t1);
	store_close(clerkbox);
}

static void
test_truncated(void **state)
{
	struct net *n = *state;
	struct bundle_fault where;
	struct store *s;
	struct mem m;
	size_t cut;
	int rc;

	export_mem(n->office, n->root, NULL, &m, NULL, BUNDLE_RAW);
	s = testutil_store(n->dir, "s", NULL);
	tf_join(s, n->root->pk);
	for (cut = 0; cut < m.len; cut++) {
		rc = import_mem(s, m.buf, cut, n->root, NULL, &where);
		if (cut < BUNDLE_HEAD_LEN)
			assert_int_equal(rc, -NUSA_EMALFORMED);
		else if (rc != -NUSA_ETRUNCATED)
			fail_msg("cut at %zu of %zu: %s", cut, m.len,
			    nusa_strerror(rc));
	}
	assert_int_equal(import_mem(s, m.buf, m.len, n->root, NULL, NULL),
	    0);
	tf_same_digest(n->office, s);

	/* Bytes after the end marker. */
	m.buf = realloc(m.buf, m.len + 1);
	assert_non_null(m.buf);
	m.buf[m.len] = 'B';
	assert_int_equal(import_mem(s, m.buf, m.len + 1, n->root, NULL,
	    NULL), -NUSA_EMALFORMED);
	/* An end marker whose counts disagree. */
	m.buf[m.len - NUSA_SIG_LEN - 1] ^= 1;
	assert_int_equal(import_mem(s, m.buf, m.len, n->root, NULL, NULL),
	    -NUSA_EMALFORMED);
	m.buf[m.len - NUSA_SIG_LEN - 1] ^= 1;
	/* Another version; not a bundle at all. */
	m.buf[8] = BUNDLE_VERSION + 1;
	assert_int_equal(import_mem(s, m.buf, m.len, n->root, NULL, NULL),
	    -NUSA_EVERSION);
	m.buf[8] = BUNDLE_VERSION;
	m.buf[0] = 'X';
	assert_int_equal(import_mem(s, m.buf, m.len, n->root, NULL, NULL),
	    -NUSA_EMALFORMED);
	mem_free(&m);
	store_close(s);
}

static void
test_other_network(void **state)
{
	struct net *n = *state;
	uint8_t d0[NUSA_HASH_LEN], d1[NUSA_HASH_LEN];
	struct store *other;
	struct key *root2;
	struct mem m;
	size_t count;

	other = testutil_store(n->dir, "other", &root2);
	count = tf_count(other);
	tf_digest(other, d0);
	export_mem(n->office, n->root, NULL, &m, NULL, BUNDLE_RAW);
	assert_int_equal(import_mem(other, m.buf, m.len, root2, NULL,
	    NULL), -NUSA_ENETWORK);
	assert_int_equal(tf_count(other), count);
	tf_digest(other, d1);
	assert_memory_equal(d0, d1, NUSA_HASH_LEN);
	mem_free(&m);
	store_close(other);
	key_free(&root2);
}

static void
test_many_batches(void **state)
{
	struct net *n = *state;
	struct bundle_stats st;
	struct store_txn *t;
	struct store *s;
	struct layout l;
	struct mem m;
	size_t count, i, total = 0;

	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	for (i = 0; i < 600; i++)
		assert_int_equal(ledger_post(t, n->root, POST_DEPOSIT, "s1",
		    NULL, 10, NULL, 20240401, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	count = tf_count(n->office);

	export_mem(n->office, n->root, NULL, &m, &st, BUNDLE_RAW);
	assert_int_equal(st.entries, count);
	assert_int_equal(st.batches, (count + NUSA_BATCH_MAX - 1) /
	    NUSA_BATCH_MAX);
	parse(&m, &l);
	assert_int_equal(l.nb, st.batches);
	for (i = 0; i < l.nb; i++) {
		assert_true(l.b[i].count <= NUSA_BATCH_MAX);
		total += l.b[i].count;
	}
	assert_int_equal(l.b[0].count, NUSA_BATCH_MAX);
	assert_int_equal(total, count);
	/* Only a batch's first entry carries network, author, seq and prev;
	 * the others leave those 104 bytes to the chain. */
	for (i = 0; i < l.nb; i++) {
		size_t j;

		assert_true(l.b[i].len[0] >= ENTRY_HEADER_LEN);
		for (j = 1; j < l.b[i].count; j++)
			assert_true(l.b[i].len[j] + 104 >= ENTRY_HEADER_LEN &&
			    l.b[i].len[j] < ENTRY_HEADER_LEN);
	}
	assert_true(m.len < count * 80);

	s = testutil_store(n->dir, "s", NULL);
	assert_int_equal(import_mem(s, m.buf, m.len, n->clerk, &st, NULL),
	    0);
	assert_int_equal(st.added, count);
	assert_int_equal(st.batches, l.nb);
	assert_int_equal(tf_balance(s, "s1"), 6000);
	tf_same_digest(n->office, s);
	tf_verify_clean(s);
	free(l.b);
	mem_free(&m);
	store_close(s);
}

/* B takes A's books in two bundles, so it holds signatures at the ends of
 * those batches only; C gets everything from B alone. */
static void
test_relay(void **state)
{
	struct net *n = *state;
	struct bundle_stats st;
	const uint8_t *body, *sig;
	struct store *clerkbox, *b, *c;
	struct store_txn *t;
	struct vector *have;
	struct layout l;
	struct mem m;
	size_t i, len, short_batches = 0;
	uint8_t mid[NUSA_HASH_LEN];

	clerkbox = testutil_store(n->dir, "clerk", NULL);
	sync_to(n->office, clerkbox, n->clerk);
	assert_int_equal(store_begin(clerkbox, &t, STORE_WRITE), 0);
	for (i = 0; i < 300; i++)
		assert_int_equal(ledger_post(t, n->clerk, POST_DEPOSIT, "s1",
		    NULL, 7, NULL, 20240401, i == 150 ? mid : NULL), 0);
	assert_int_equal(store_commit(t), 0);
	sync_to(clerkbox, n->office, n->root);

	b = testutil_store(n->dir, "b", NULL);
	sync_to(n->office, b, n->admin);
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	for (i = 0; i < 300; i++)
		assert_int_equal(ledger_post(t, n->root, POST_DEPOSIT, "s1",
		    NULL, 3, NULL, 20240402, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	have = vector_of(b);
	export_mem(n->office, n->root, have, &m, &st, BUNDLE_RAW);
	assert_int_equal(st.entries, 300);
	assert_int_equal(import_mem(b, m.buf, m.len, n->admin, NULL,
	    NULL), 0);
	mem_free(&m);
	vector_free(&have);
	tf_same_digest(n->office, b);

	/* B holds the clerk's entries mid-batch without signatures. */
	assert_int_equal(store_begin(b, &t, STORE_READ), 0);
	assert_int_equal(store_entry(t, mid, &body, &len, &sig), 0);
	assert_null(sig);
	store_abort(t);
	tf_verify_clean(b);

	export_mem(b, n->admin, NULL, &m, &st, BUNDLE_RAW);
	assert_int_equal(st.skipped, 0);
	assert_int_equal(st.entries, tf_count(n->office));
	/* Its batches end where it holds signatures, not every 256. */
	parse(&m, &l);
	for (i = 0; i < l.nb; i++)
		short_batches += l.b[i].count < NUSA_BATCH_MAX;
	assert_true(short_batches >= 3);
	c = testutil_store(n->dir, "c", NULL);
	assert_int_equal(import_mem(c, m.buf, m.len, n->clerk, &st, NULL),
	    0);
	assert_int_equal(st.added, tf_count(n->office));
	tf_same_digest(n->office, c);
	assert_int_equal(tf_balance(c, "s1"), 300 * 7 + 300 * 3);
	tf_verify_clean(c);
	free(l.b);
	mem_free(&m);
	store_close(c);
	store_close(b);
	store_close(clerkbox);
}

/* An admin that enrols a clerk and is then certified again: the clerk's
 * feed must still follow the admin's in a bundle. */
static void
test_recertified_admin(void **state)
{
	struct net *n = *state;
	struct store *adminbox, *clerkbox, *fresh;
	struct key *clerk2 = key_generate();
	struct store_txn *t;

	adminbox = testutil_store(n->dir, "admin", NULL);
	sync_to(n->office, adminbox, n->admin);
	assert_int_equal(store_begin(adminbox, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_enrol(t, n->admin, clerk2->pk, ROLE_CLERK),
	    0);
	assert_int_equal(store_commit(t), 0);
	sync_to(adminbox, n->office, n->root);
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_enrol(t, n->root, n->admin->pk, ROLE_ADMIN),
	    0);
	assert_int_equal(store_commit(t), 0);

	clerkbox = testutil_store(n->dir, "clerk2", NULL);
	sync_to(n->office, clerkbox, clerk2);
	assert_int_equal(store_begin(clerkbox, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_post(t, clerk2, POST_DEPOSIT, "s1", NULL, 10,
	    NULL, 20240401, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	sync_to(clerkbox, n->office, n->root);

	fresh = testutil_store(n->dir, "fresh", NULL);
	sync_to(n->office, fresh, n->root);
	tf_same_digest(n->office, fresh);
	assert_int_equal(tf_balance(fresh, "s1"), 10);
	store_close(fresh);
	store_close(clerkbox);
	store_close(adminbox);
	key_free(&clerk2);
}

/* A box that learnt of a revocation before the revoked clerk's batch
 * crossing the cut arrived still relays the part before the cut. */
static void
test_relay_after_revocation(void **state)
{
	struct net *n = *state;
	struct tf_author ra, ca;
	struct tf_ent g[3], c[5], rv;
	struct store_ingest_stats st;
	struct store *y, *z;
	struct key *root = key_generate();

	(void)n;
	tf_author_init(&ra, root, root->pk);
	tf_author_init(&ca, n->clerk, root->pk);
	tf_network(&ra, "Koperasi Dua", 1000, &g[0]);
	tf_cert(&ra, n->clerk->pk, ROLE_CLERK, 0, &g[1]);
	tf_posting(&ca, POST_DEPOSIT, "s1", NULL, 100, NULL, 2000, &c[0]);
	tf_posting(&ca, POST_DEPOSIT, "s1", NULL, 200, NULL, 0, &c[1]);
	tf_posting(&ca, POST_DEPOSIT, "s1", NULL, 300, NULL, 0, &c[2]);
	tf_posting(&ca, POST_DEPOSIT, "s1", NULL, 400, NULL, 0, &c[3]);
	tf_posting(&ca, POST_DEPOSIT, "s1", NULL, 500, NULL, 0, &c[4]);
	tf_revoke(&ra, n->clerk->pk, 3, 3000, &rv);
	g[2] = rv;

	y = testutil_store(n->dir, "y", NULL);
	tf_join(y, root->pk);
	assert_int_equal(tf_ingest(y, g, 3, &st), 0);
	assert_int_equal(tf_ingest(y, c, 5, &st), 0);
	assert_int_equal(st.added, 3);
	assert_int_equal(st.revoked, 2);
	assert_int_equal(tf_balance(y, "s1"), 600);
	tf_verify_clean(y);

	z = testutil_store(n->dir, "z", NULL);
	sync_to(y, z, root);
	assert_int_equal(tf_balance(z, "s1"), 600);
	tf_same_digest(y, z);
	tf_verify_clean(z);
	store_close(z);
	store_close(y);
	key_free(&root);
}

/* Hostile framing is refused before anything is allocated for it. */
static void
test_hostile_framing(void **state)
{
	struct net *n = *state;
	uint8_t buf[BUNDLE_HEAD_LEN + 8 + ENTRY_BODY_MAX + NUSA_SIG_LEN + 16];
	size_t hl = BUNDLE_HEAD_LEN, len;
	struct bundle_fault where;
	struct store *s;

	s = testutil_store(n->dir, "s", NULL);
	tf_join(s, n->root->pk);
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "NUSABNDL", 8);
	buf[8] = BUNDLE_VERSION;
	buf[9] = BUNDLE_RAW;
	memcpy(buf + 10, n->root->pk, NUSA_KEY_LEN);
	memcpy(buf + 10 + NUSA_KEY_LEN, n->root->pk, NUSA_KEY_LEN);
	buf[hl - 5] = 1;	/* one entry */
	buf[hl - 1] = 1;	/* in one batch */

	/* An unknown tag. */
	buf[hl] = 'Q';
	assert_int_equal(import_mem(s, buf, hl + 1, n->root, NULL,
	    &where), -NUSA_EMALFORMED);
	assert_int_equal(where.batch, 1);
	/* Batches of 0 and of NUSA_BATCH_MAX + 1 entries. */
	buf[hl] = 'B';
	buf[hl + 1] = 0;
	buf[hl + 2] = 0;
	assert_int_equal(import_mem(s, buf, hl + 3, n->root, NULL, NULL),
	    -NUSA_EMALFORMED);
	buf[hl + 1] = (NUSA_BATCH_MAX + 1) >> 8;
	buf[hl + 2] = (NUSA_BATCH_MAX + 1) & 0xff;
	assert_int_equal(import_mem(s, buf, hl + 3, n->root, NULL, NULL),
	    -NUSA_EMALFORMED);
	/* An entry of 4 GiB, one too long, one too short for a header. */
	buf[hl + 1] = 0;
	buf[hl + 2] = 1;
	memset(buf + hl + 3, 0xff, 4);
	assert_int_equal(import_mem(s, buf, hl + 7, n->root, NULL, NULL),
	    -NUSA_EMALFORMED);
	len = ENTRY_BODY_MAX + 1;
	buf[hl + 3] = (uint8_t)(len >> 24);
	buf[hl + 4] = (uint8_t)(len >> 16);
	buf[hl + 5] = (uint8_t)(len >> 8);
	buf[hl + 6] = (uint8_t)len;
	assert_int_equal(import_mem(s, buf, hl + 7, n->root, NULL, NULL),
	    -NUSA_EMALFORMED);
	len = ENTRY_HEADER_LEN - 1;
	buf[hl + 3] = 0;
	buf[hl + 4] = 0;
	buf[hl + 5] = 0;
	buf[hl + 6] = (uint8_t)len;
	assert_int_equal(import_mem(s, buf, hl + 7, n->root, NULL, NULL),
	    -NUSA_EMALFORMED);
	/* The largest entry, then the file ends. */
	len = ENTRY_BODY_MAX;
	buf[hl + 5] = (uint8_t)(len >> 8);
	buf[hl + 6] = (uint8_t)len;
	memset(buf + hl + 7, 0, 100);
	assert_int_equal(import_mem(s, buf, hl + 7 + 100, n->root, NULL,
	    NULL), -NUSA_ETRUNCATED);
	/* Zeros where an entry should be: not an entry. */
	memset(buf + hl + 7, 0, len + NUSA_SIG_LEN);
	assert_int_equal(import_mem(s, buf, hl + 7 + len + NUSA_SIG_LEN,
	    n->root, NULL, NULL), -NUSA_EVERSION);
	buf[hl + 7] = ENTRY_VERSION;
	assert_int_equal(import_mem(s, buf, hl + 7 + len + NUSA_SIG_LEN,
	    n->root, NULL, NULL), -NUSA_EMALFORMED);
	/* An empty bundle whose trailer is not the maker's signature. */
	buf[hl - 5] = 0;
	buf[hl - 1] = 0;
	buf[hl] = 'E';
	memset(buf + hl + 1, 0, 16 + NUSA_SIG_LEN);
	assert_int_equal(import_mem(s, buf, hl + 17 + NUSA_SIG_LEN, n->root,
	    NULL, &where), -NUSA_EBADSIG);
	assert_int_equal(where.maker, 1);
	assert_int_equal(tf_count(s), 0);
	store_close(s);
}

/* A feed the receiver cannot take (here: the bundle was made for a
 * vector that claims more of the clerk's feed than this box has) is left
 * out, and the feeds after it in the bundle still go in. */
static void
test_refused_feed_skipped(void **state)
{
	struct net *n = *state;
	struct store *cb, *ab, *b;
	struct store_txn *t;
	struct bundle_stats st;
	struct bundle_fault where;
	struct vector *v;
	struct mem m;
	char buf[32];

	cb = testutil_store(n->dir, "clerkbox", NULL);
	ab = testutil_store(n->dir, "adminbox", NULL);
	sync_to(n->office, cb, n->clerk);
	sync_to(n->office, ab, n->admin);
	assert_int_equal(store_begin(cb, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_post(t, n->clerk, POST_DEPOSIT, "s1", NULL, 7,
	    NULL, 20240310, NULL), 0);
	assert_int_equal(ledger_post(t, n->clerk, POST_DEPOSIT, "s1", NULL, 8,
	    NULL, 20240310, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_begin(ab, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_member_add(t, n->admin, "m7", "Wayan", NULL),
	    0);
	assert_int_equal(store_commit(t), 0);
	sync_to(cb, n->office, n->root);
	sync_to(ab, n->office, n->root);

	b = testutil_store(n->dir, "b", NULL);
	tf_join(b, n->root->pk);
	v = vector_new();
	assert_non_null(v);
	assert_int_equal(vector_set(v, n->clerk->pk, 1), 0);
	export_mem(n->office, n->root, v, &m, NULL, BUNDLE_RAW);
	assert_int_equal(import_mem(b, m.buf, m.len, n->root, &st,
	    &where), -NUSA_EGAP);
	assert_int_equal(st.refused, 1);
	assert_true(where.batch >= 2);
	/* The admin's feed came after the refused one, and is in. */
	assert_int_equal(field_in(b, "m7", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Wayan");
	tf_verify_clean(b);
	vector_free(&v);
	mem_free(&m);
	store_close(b);
	store_close(ab);
	store_close(cb);
}

/* A clerk's box restored from a backup writes on: its feed forks. The
 * office holds both branches; a bundle made for the restored box's vector
 * (same height, other branch) must still carry the branch it lacks. */
static void
test_fork_for_vector(void **state)
{
	struct net *n = *state;
	struct store *cb, *cb2;
	struct store_txn *t;
	struct vector *v;
	struct mem m;

	cb = testutil_store(n->dir, "clerkbox", NULL);
	sync_to(n->office, cb, n->clerk);
	store_close(cb);
	testutil_copy(n->dir, "clerkbox", "restored");
	cb = testutil_reopen(n->dir, "clerkbox");
	cb2 = testutil_reopen(n->dir, "restored");
	assert_int_equal(store_begin(cb, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_post(t, n->clerk, POST_DEPOSIT, "s1", NULL, 11,
	    NULL, 20240310, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_begin(cb2, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_post(t, n->clerk, POST_DEPOSIT, "s1", NULL, 22,
	    NULL, 20240311, NULL), 0);
	assert_int_equal(store_commit(t), 0);
	sync_to(cb, n->office, n->root);
	sync_to(cb2, n->office, n->root);
	assert_int_equal(tf_balance(n->office, "s1"), 250000 - 250000 + 33);

	v = vector_of(cb2);
	export_mem(n->office, n->root, v, &m, NULL, BUNDLE_RAW);
	assert_int_equal(import_mem(cb2, m.buf, m.len, n->clerk, NULL,
	    NULL), 0);
	tf_same_digest(n->office, cb2);
	tf_verify_clean(cb2);
	vector_free(&v);
	mem_free(&m);
	store_close(cb);
	store_close(cb2);
}

/* --- format v2: compressed, signed by the maker, receipts ---------------- */

/* Adds n deposits to the office: enough of them fill several zstd blocks
 * (128 KiB of body each), so that a cut file still holds whole blocks. */
static void
office_posts(struct net *n, int count)
{
	struct store_txn *t;
	int i;

	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	for (i = 0; i < count; i++)
		assert_int_equal(ledger_post(t, n->root, POST_DEPOSIT, "s1",
		    NULL, 100 + i, "setoran harian di kantor", 20240401,
		    NULL), 0);
	assert_int_equal(store_commit(t), 0);
}

static void
test_double_import(void **state)
{
	struct net *n = *state;
	uint8_t d0[NUSA_HASH_LEN], d1[NUSA_HASH_LEN];
	struct bundle_stats st;
	struct store *s;
	struct mem m, raw;

	office_posts(n, 300);
	export_mem(n->office, n->root, NULL, &m, &st, BUNDLE_ZSTD);
	export_mem(n->office, n->root, NULL, &raw, NULL, BUNDLE_RAW);
	/* Compressed: well under the raw body (signatures and hashes do
	 * not compress; the repeated fields of postings do). */
	assert_true(m.len * 2 < raw.len);
	assert_int_equal(m.buf[9], BUNDLE_ZSTD);
	assert_memory_equal(m.buf + 10 + NUSA_KEY_LEN, n->root->pk,
	    NUSA_KEY_LEN);
	s = testutil_store(n->dir, "s", NULL);
	tf_join(s, n->root->pk);
	assert_int_equal(import_mem(s, m.buf, m.len, n->clerk, &st, NULL), 0);
	assert_int_equal(st.added, tf_count(n->office));
	assert_int_equal(st.expected, tf_count(n->office));
	tf_digest(s, d0);
	assert_int_equal(import_mem(s, m.buf, m.len, n->clerk, &st, NULL), 0);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.duplicates, tf_count(n->office));
	tf_digest(s, d1);
	assert_memory_equal(d0, d1, NUSA_HASH_LEN);
	tf_same_digest(n->office, s);
	tf_verify_clean(s);
	mem_free(&m);
	mem_free(&raw);
	store_close(s);
}

/* store_verify() of a store that joined without the genesis entry finds
 * the root's device row without an entry behind it: check those with
 * entries only. */
static void
verify_some(struct store *s)
{
	if (tf_count(s) > 0)
		tf_verify_clean(s);
}

static void
test_truncated_compressed(void **state)
{
	struct net *n = *state;
	struct bundle_fault where;
	struct bundle_stats st;
	struct store *s;
	struct mem m;
	char name[16];
	size_t total, cuts[6], i;
	int rc, kept_some = 0;

	office_posts(n, 800);
	total = tf_count(n->office);
	export_mem(n->office, n->root, NULL, &m, NULL, BUNDLE_ZSTD);
	cuts[0] = BUNDLE_HEAD_LEN + 10;
	cuts[1] = m.len / 3;
	cuts[2] = m.len * 2 / 3;
	cuts[3] = m.len * 9 / 10;
	cuts[4] = m.len - NUSA_SIG_LEN;	/* the trailer is missing */
	cuts[5] = m.len - 1;
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "cut%zu", i);
		s = testutil_store(n->dir, name, NULL);
		tf_join(s, n->root->pk);
		rc = import_mem(s, m.buf, cuts[i], n->clerk, &st, &where);
		assert_int_equal(rc, -NUSA_ETRUNCATED);
		assert_int_equal(st.expected, total);
		/* Every complete batch read is kept, and nothing else. */
		assert_int_equal(tf_count(s), st.added);
		assert_int_equal(st.entries, st.added);
		assert_true(st.entries <= total);
		if (i >= 4)
			assert_int_equal(st.entries, total);
		kept_some += st.batches > 0 && st.entries < total;
		verify_some(s);
		/* The whole file completes it. */
		assert_int_equal(import_mem(s, m.buf, m.len, n->clerk, &st,
		    NULL), 0);
		tf_same_digest(n->office, s);
		store_close(s);
	}
	assert_true(kept_some >= 2);
	mem_free(&m);
}

static int
rc_is_tamper(int rc)
{
	return rc == -NUSA_EMALFORMED || rc == -NUSA_EBADSIG ||
	    rc == -NUSA_EBADCHAIN || rc == -NUSA_EVERSION ||
	    rc == -NUSA_ENETWORK || rc == -NUSA_ETRUNCATED;
}

static void
test_tampered(void **state)
{
	struct net *n = *state;
	struct bundle_fault where;
	struct bundle_stats st;
	struct store *s;
	struct mem m;
	char name[16];
	size_t i, off, body;
	int rc;

	office_posts(n, 400);
	export_mem(n->office, n->root, NULL, &m, NULL, BUNDLE_ZSTD);
	body = m.len - BUNDLE_HEAD_LEN - NUSA_SIG_LEN;

	/* Bytes of the compressed body: refused; what went in verifies. */
	for (i = 0; i < 12; i++) {
		snprintf(name, sizeof(name), "t%zu", i);
		s = testutil_store(n->dir, name, NULL);
		tf_join(s, n->root->pk);
		off = BUNDLE_HEAD_LEN + 1 + body * i / 12;
		m.buf[off] ^= 0x5a;
		rc = import_mem(s, m.buf, m.len, n->clerk, &st, &where);
		m.buf[off] ^= 0x5a;
		if (!rc_is_tamper(rc))
			fail_msg("flip at %zu: %s", off, nusa_strerror(rc));
		assert_true(tf_count(s) < tf_count(n->office) ||
		    where.maker);
		verify_some(s);
		store_close(s);
	}

	/* The trailer: every entry verified on its own and stays, but the
	 * import says the file is not the maker's. */
	s = testutil_store(n->dir, "sig", NULL);
	tf_join(s, n->root->pk);
	m.buf[m.len - 10] ^= 1;
	assert_int_equal(import_mem(s, m.buf, m.len, n->clerk, &st, &where),
	    -NUSA_EBADSIG);
	m.buf[m.len - 10] ^= 1;
	assert_int_equal(where.maker, 1);
	tf_same_digest(n->office, s);
	tf_verify_clean(s);
	store_close(s);

	/* The maker's id in the header. */
	s = testutil_store(n->dir, "maker", NULL);
	tf_join(s, n->root->pk);
	m.buf[10 + NUSA_KEY_LEN + 3] ^= 0x10;
	assert_int_equal(import_mem(s, m.buf, m.len, n->clerk, &st, &where),
	    -NUSA_EBADSIG);
	m.buf[10 + NUSA_KEY_LEN + 3] ^= 0x10;
	assert_int_equal(where.maker, 1);
	tf_verify_clean(s);
	/* The untouched file goes in cleanly. */
	assert_int_equal(import_mem(s, m.buf, m.len, n->clerk, &st, &where),
	    0);
	tf_same_digest(n->office, s);
	store_close(s);
	mem_free(&m);

	/* Signed well, by a box that is no device of the network. */
	export_mem(n->office, n->stranger, NULL, &m, NULL, BUNDLE_ZSTD);
	s = testutil_store(n->dir, "stranger", NULL);
	tf_join(s, n->root->pk);
	assert_int_equal(import_mem(s, m.buf, m.len, n->clerk, &st, &where),
	    -NUSA_EUNENROLLED);
	assert_int_equal(where.maker, 1);
	tf_same_digest(n->office, s);
	store_close(s);
	mem_free(&m);
}

/* Exports from s by maker for what peer's latest receipt says it lacks,
 * as nusactl bundle export --for-peer does. */
static void
export_for_peer(struct store *s, const struct key *maker,
    const uint8_t *peer, struct mem *m, struct bundle_stats *st)
{
	struct store_txn *t;
	struct receipt r;
	struct vector *have;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(receipt_get(t, peer, &r), 0);
	have = receipt_vector(&r);
	assert_non_null(have);
	store_abort(t);
	export_mem(s, maker, have, m, st, BUNDLE_ZSTD);
	vector_free(&have);
}

/* What s's latest receipt of device says: has and missing. */
static void
receipt_of(struct store *s, const uint8_t *device, uint64_t *has,
    uint64_t *missing, uint8_t *via)
{
	struct store_txn *t;
	struct receipt r;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(receipt_get(t, device, &r), 0);
	assert_int_equal(receipt_compare(t, &r, has, missing), 0);
	*via = r.via;
	store_abort(t);
}

static void
carry(struct store *from, const struct key *maker, struct store *to,
    const struct key *self, struct bundle_stats *st)
{
	struct mem m;

	export_mem(from, maker, NULL, &m, st, BUNDLE_ZSTD);
	assert_int_equal(import_mem(to, m.buf, m.len, self, st, NULL), 0);
	mem_free(&m);
}

static void
test_receipts_flow(void **state)
{
	struct net *n = *state;
	struct bundle_stats st;
	struct store *b, *c;
	struct store_txn *t;
	struct mem m;
	uint64_t has, missing;
	uint8_t via;

	/* A (the office) writes for B; B joins and writes a member. */
	b = testutil_store(n->dir, "b", NULL);
	carry(n->office, n->root, b, n->clerk, &st);
	assert_int_equal(store_begin(b, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_member_add(t, n->clerk, "m7", "Nyoman", NULL),
	    0);
	assert_int_equal(store_commit(t), 0);
	/* A more entries B has not seen. */
	office_posts(n, 3);

	/* B's next bundle to A carries B's receipt: A learns B has all but
	 * the 3 new ones. */
	carry(b, n->clerk, n->office, n->root, &st);
	assert_true(st.receipts >= 1);
	receipt_of(n->office, n->clerk->pk, &has, &missing, &via);
	assert_int_equal(via, RECEIPT_BUNDLE);
	assert_int_equal(missing, 3);
	assert_int_equal(has, tf_count(n->office) - 3);

	/* A bundle for B carries just those. */
	export_for_peer(n->office, n->root, n->clerk->pk, &m, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(import_mem(b, m.buf, m.len, n->clerk, &st, NULL), 0);
	assert_int_equal(st.added, 3);
	mem_free(&m);

	/* Back through a mule C (the admin's box): B -> C -> A. */
	c = testutil_store(n->dir, "c", NULL);
	carry(n->office, n->root, c, n->admin, &st);
	carry(b, n->clerk, c, n->admin, &st);
	carry(c, n->admin, n->office, n->root, &st);
	receipt_of(n->office, n->clerk->pk, &has, &missing, &via);
	assert_int_equal(missing, 0);
	assert_int_equal(has, tf_count(n->office));
	/* The mule's own receipt came too. */
	receipt_of(n->office, n->admin->pk, &has, &missing, &via);
	assert_int_equal(missing, 0);

	/* Now B lacks nothing: a bundle for it is empty. */
	export_for_peer(n->office, n->root, n->clerk->pk, &m, &st);
	assert_int_equal(st.entries, 0);
	mem_free(&m);
	store_close(b);
	store_close(c);
}

static void
test_receipt_decode(void **state)
{
	struct net *n = *state;
	uint8_t buf[RECEIPT_MAX];
	struct store_txn *t;
	struct receipt r;
	size_t len, i;

	assert_int_equal(store_begin(n->office, &t, STORE_READ), 0);
	assert_int_equal(receipt_make(t, n->root, 1700000000, buf,
	    sizeof(buf), &len), 0);
	store_abort(t);
	assert_int_equal(receipt_decode(&r, buf, len), 0);
	assert_int_equal(r.time, 1700000000);
	assert_true(r.n >= 1);
	assert_int_equal(receipt_get_seq(&r, n->root->pk),
	    tf_count(n->office));
	/* Every flipped byte is refused; so is every cut. */
	for (i = 0; i < len; i++) {
		buf[i] ^= 1;
		assert_int_not_equal(receipt_decode(&r, buf, len), 0);
		buf[i] ^= 1;
	}
	for (i = 0; i < len; i++)
		assert_int_not_equal(receipt_decode(&r, buf, i), 0);
}

/* A device whose clock ran days ahead does not pin its old receipt: the
 * later receipt is the one that lists more. */
static void
test_receipt_order(void **state)
{
	struct net *n = *state;
	uint8_t old[RECEIPT_MAX], cur[RECEIPT_MAX];
	size_t olen, clen;
	struct store_txn *t;
	struct receipt r;
	int kept;

	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	assert_int_equal(receipt_make(t, n->clerk, 2000000000, old,
	    sizeof(old), &olen), 0);
	assert_int_equal(ledger_member_add(t, n->root, "m9", "Ketut", NULL),
	    0);
	assert_int_equal(receipt_make(t, n->clerk, 1700000000, cur,
	    sizeof(cur), &clen), 0);
	assert_int_equal(receipt_put(t, old, olen, 1, &kept), 0);
	assert_int_equal(kept, 1);
	assert_int_equal(receipt_put(t, cur, clen, 2, &kept), 0);
	assert_int_equal(kept, 1);
	/* The old one again, with its later clock: not kept. */
	assert_int_equal(receipt_put(t, old, olen, 3, &kept), 0);
	assert_int_equal(kept, 0);
	assert_int_equal(receipt_get(t, n->clerk->pk, &r), 0);
	assert_int_equal(r.time, 1700000000);
	assert_int_equal(r.recorded, 2);
	/* A stranger's receipt, well signed, is not kept. */
	assert_int_equal(receipt_make(t, n->stranger, 1, old, sizeof(old),
	    &olen), 0);
	assert_int_equal(receipt_put(t, old, olen, 4, &kept),
	    -NUSA_EUNENROLLED);
	/* Nor a revoked device's. */
	assert_int_equal(ledger_revoke(t, n->root, n->clerk->pk), 0);
	assert_int_equal(receipt_make(t, n->clerk, 1700000001, cur,
	    sizeof(cur), &clen), 0);
	assert_int_equal(receipt_put(t, cur, clen, 5, &kept), -NUSA_EREVOKED);
	assert_int_equal(kept, 0);
	store_abort(t);
}

/* A sync receipt is written when the peer's vector changed, and only
 * then: a write wakes every session of nusad, which would sync again. */
static void
test_receipt_sync(void **state)
{
	struct net *n = *state;
	struct store_txn *t;
	struct vector *v;
	struct receipt r;
	uint64_t gen, has, missing;

	v = vector_of(n->office);
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	assert_int_equal(receipt_put_sync(t, n->clerk->pk, v, 100), 0);
	assert_int_equal(store_commit(t), 0);
	gen = store_generation(n->office);
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	assert_int_equal(receipt_put_sync(t, n->clerk->pk, v, 200), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(store_generation(n->office), gen);
	/* The peer got one more: written, with the new time. */
	assert_int_equal(vector_set(v, n->root->pk, vector_get(v,
	    n->root->pk) + 1), 0);
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	assert_int_equal(receipt_put_sync(t, n->clerk->pk, v, 300), 0);
	assert_int_equal(receipt_get(t, n->clerk->pk, &r), 0);
	assert_int_equal(r.time, 300);
	assert_int_equal(r.via, RECEIPT_SYNC);
	assert_int_equal(receipt_compare(t, &r, &has, &missing), 0);
	assert_int_equal(missing, 0);
	assert_int_equal(has, tf_count(n->office));
	assert_int_equal(store_commit(t), 0);
	assert_true(store_generation(n->office) != gen);
	vector_free(&v);
}

/* Receipts go down when the device really shrank (a hub restored from
 * a backup): a sync's vector always counts; a signed receipt made later
 * by a sane clock does; one from a clock far ahead does not. */
static void
test_receipt_shrink(void **state)
{
	struct net *n = *state;
	uint8_t big[RECEIPT_MAX], small[RECEIPT_MAX], ahead[RECEIPT_MAX];
	size_t blen, slen, alen;
	struct store_txn *t;
	struct receipt r;
	struct vector *v;
	uint64_t has, missing;
	int kept;

	v = vector_of(n->office);
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	/* The clerk's box by sync: all, then 3 fewer (it lost them). */
	assert_int_equal(receipt_put_sync(t, n->clerk->pk, v, 100), 0);
	assert_int_equal(vector_set(v, n->root->pk, vector_get(v,
	    n->root->pk) - 3), 0);
	assert_int_equal(receipt_put_sync(t, n->clerk->pk, v, 200), 0);
	assert_int_equal(receipt_get(t, n->clerk->pk, &r), 0);
	assert_int_equal(r.time, 200);
	assert_int_equal(receipt_compare(t, &r, &has, &missing), 0);
	assert_int_equal(missing, 3);

	/* The admin's box by bundle: smaller receipts made before, one
	 * with its clock years ahead, then the big one. */
	assert_int_equal(receipt_make(t, n->admin, 4000000000, ahead,
	    sizeof(ahead), &alen), 0);
	assert_int_equal(receipt_make(t, n->admin, 2000, small,
	    sizeof(small), &slen), 0);
	assert_int_equal(ledger_member_add(t, n->root, "m9", "Ketut", NULL),
	    0);
	assert_int_equal(receipt_make(t, n->admin, 1000, big, sizeof(big),
	    &blen), 0);
	assert_int_equal(receipt_put(t, big, blen, 1500, &kept), 0);
	assert_int_equal(kept, 1);
	assert_int_equal(receipt_put(t, ahead, alen, 2100, &kept), 0);
	assert_int_equal(kept, 0);
	assert_int_equal(receipt_put(t, small, slen, 2100, &kept), 0);
	assert_int_equal(kept, 1);
	assert_int_equal(receipt_get(t, n->admin->pk, &r), 0);
	assert_int_equal(r.time, 2000);
	assert_int_equal(receipt_compare(t, &r, &has, &missing), 0);
	assert_int_equal(missing, 1);

	/* A hub restored from a backup: its big signed receipt reached us
	 * first, then it synced a smaller vector; the sync one counts. */
	assert_int_equal(receipt_put(t, big, blen, 2300, &kept), 0);
	assert_int_equal(kept, 1);
	assert_int_equal(receipt_put_sync(t, n->admin->pk, v, 2400), 0);
	assert_int_equal(receipt_get(t, n->admin->pk, &r), 0);
	assert_int_equal(r.via, RECEIPT_SYNC);
	assert_int_equal(receipt_compare(t, &r, &has, &missing), 0);
	assert_int_equal(missing, 4);
	store_abort(t);
	vector_free(&v);
}

/* Writes a bundle header and a zstd frame of body compressed with
 * windowLog wlog into m: the way a hostile file would. */
static void
craft_zstd(struct net *n, struct mem *m, int wlog, size_t zeros)
{
	static uint8_t chunk[1 << 16];
	uint8_t head[BUNDLE_HEAD_LEN] = { 0 }, out[1 << 16];
	ZSTD_CCtx *z = ZSTD_createCCtx();
	ZSTD_inBuffer in;
	ZSTD_outBuffer o;
	size_t left, done = 0;
	FILE *f;

	assert_non_null(z);
	memset(chunk, 0, sizeof(chunk));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(z,
	    ZSTD_c_windowLog, wlog)));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(z,
	    ZSTD_c_compressionLevel, 1)));
	f = open_memstream(&m->buf, &m->len);
	assert_non_null(f);
	memcpy(head, "NUSABNDL", 8);
	head[8] = BUNDLE_VERSION;
	head[9] = BUNDLE_ZSTD;
	memcpy(head + 10, n->root->pk, NUSA_KEY_LEN);
	memcpy(head + 10 + NUSA_KEY_LEN, n->root->pk, NUSA_KEY_LEN);
	fwrite(head, 1, sizeof(head), f);
	for (;;) {
		size_t k = zeros - done < sizeof(chunk) ? zeros - done :
		    sizeof(chunk);
		int end = done + k == zeros;

		in = (ZSTD_inBuffer){ chunk, k, 0 };
		do {
			o = (ZSTD_outBuffer){ out, sizeof(out), 0 };
			left = ZSTD_compressStream2(z, &o, &in, end ?
			    ZSTD_e_end : ZSTD_e_continue);
			assert_false(ZSTD_isError(left));
			fwrite(out, 1, o.pos, f);
		} while (end ? left != 0 : in.pos < in.size);
		done += k;
		if (end)
			break;
	}
	assert_int_equal(fclose(f), 0);
	ZSTD_freeCCtx(z);
}

/* The most a reader may hold: the window, two i/o buffers, a receipt and
 * the decompressor's own tables. */
#define READER_BOUND ((size_t)6 << 20)

static size_t
read_all(struct mem *m, int *rc)
{
	struct bundle_reader *r;
	struct store_batch b;
	size_t peak = 0;
	FILE *f = fmemopen(m->buf, m->len, "r");

	assert_non_null(f);
	assert_int_equal(bundle_reader_open(&r, f), 0);
	while ((*rc = bundle_reader_next(r, &b)) > 0)
		if (bundle_reader_memory(r) > peak)
			peak = bundle_reader_memory(r);
	if (bundle_reader_memory(r) > peak)
		peak = bundle_reader_memory(r);
	bundle_reader_free(&r);
	fclose(f);
	return peak;
}

static void
test_bomb(void **state)
{
	struct net *n = *state;
	struct store *s;
	struct mem m;
	size_t peak;
	int rc;

	s = testutil_store(n->dir, "s", NULL);
	tf_join(s, n->root->pk);
	/* 256 MiB of zeros in a few KiB: refused at the first byte, having
	 * decompressed no more than a buffer. */
	craft_zstd(n, &m, BUNDLE_WINDOW_LOG, (size_t)256 << 20);
	assert_true(m.len < 64 * 1024);
	peak = read_all(&m, &rc);
	assert_int_equal(rc, -NUSA_EMALFORMED);
	assert_true(peak < READER_BOUND);
	assert_int_equal(import_mem(s, m.buf, m.len, n->root, NULL, NULL),
	    -NUSA_EMALFORMED);
	mem_free(&m);
	/* A frame that asks for a 128 MiB window is refused, not given it. */
	craft_zstd(n, &m, 27, (size_t)1 << 20);
	peak = read_all(&m, &rc);
	assert_int_equal(rc, -NUSA_EMALFORMED);
	assert_true(peak < READER_BOUND);
	mem_free(&m);
	assert_int_equal(tf_count(s), 0);
	store_close(s);
}

/* Enrols k more devices in the office and keeps a bundle receipt of each,
 * as if mules had carried them in. */
static void
more_receipts(struct net *n, size_t k)
{
	uint8_t buf[RECEIPT_MAX];
	struct store_txn *t;
	struct key *d;
	size_t len, i;
	int kept;

	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	for (i = 0; i < k; i++) {
		d = key_generate();
		assert_non_null(d);
		assert_int_equal(ledger_enrol(t, n->root, d->pk, ROLE_CLERK),
		    0);
		assert_int_equal(receipt_make(t, d, 1000, buf, sizeof(buf),
		    &len), 0);
		assert_int_equal(receipt_put(t, buf, len, 1000, &kept), 0);
		assert_int_equal(kept, 1);
		key_free(&d);
	}
	assert_int_equal(store_commit(t), 0);
}

/* A store that keeps more receipts than a bundle holds still exports:
 * the bundle carries BUNDLE_RECEIPTS_MAX of them (ours first), and reads
 * back whole. A write error among the receipts is the error returned. */
static void
test_many_receipts(void **state)
{
	static const size_t others[] = { BUNDLE_RECEIPTS_MAX - 1,
		BUNDLE_RECEIPTS_MAX, BUNDLE_RECEIPTS_MAX + 44 };
	struct net *n = *state;
	struct bundle_stats st;
	struct store_txn *t;
	struct mem m;
	size_t i, have = 0;
	char *buf;
	FILE *f;
	int rc;

	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		more_receipts(n, others[i] - have);
		have = others[i];
		export_mem(n->office, n->root, NULL, &m, &st, BUNDLE_ZSTD);
		assert_int_equal(st.receipts, BUNDLE_RECEIPTS_MAX);
		read_all(&m, &rc);
		assert_int_equal(rc, 0);
		mem_free(&m);
	}
	/* The file fills up among the receipts: -EIO, not a stop. */
	export_mem(n->office, n->root, NULL, &m, &st, BUNDLE_RAW);
	buf = malloc(m.len);
	assert_non_null(buf);
	f = fmemopen(buf, m.len - 200 * BUNDLE_RECEIPTS_MAX / 2, "w");
	assert_non_null(f);
	setvbuf(f, NULL, _IONBF, 0);
	assert_int_equal(store_begin(n->office, &t, STORE_READ), 0);
	assert_int_equal(bundle_export(t, f, NULL, n->root, BUNDLE_RAW, &st),
	    -EIO);
	store_abort(t);
	fclose(f);
	free(buf);
	mem_free(&m);
}

/* A joining box holds all it reads in one transaction until the batch
 * that enrols it: with a small map that fills up, the import grows the
 * map and reads the file again, and joins. */
static void
test_join_small_map(void **state)
{
	struct net *n = *state;
	struct bundle_stats st;
	struct bundle_fault where;
	struct store_txn *t;
	struct store *b;
	struct key *late;
	struct mem m;
	char path[128], id[16], name[NUSA_TEXT_MAX];
	size_t i, j;

	late = key_generate();
	assert_non_null(late);
	memset(name, 0, sizeof(name));
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	for (i = 0; i < 1200; i++) {
		snprintf(id, sizeof(id), "M%zu", i);
		/* Names that do not compress to nothing. */
		randombytes_buf(name, 120);
		for (j = 0; j < 120; j++)
			name[j] = (char)('a' + (uint8_t)name[j] % 26);
		assert_int_equal(ledger_member_add(t, n->root, id, name, "L"),
		    0);
	}
	assert_int_equal(ledger_enrol(t, n->root, late->pk, ROLE_CLERK), 0);
	assert_int_equal(store_commit(t), 0);
	export_mem(n->office, n->root, NULL, &m, NULL, BUNDLE_ZSTD);
	snprintf(path, sizeof(path), "%s/small", n->dir);
	assert_int_equal(store_open_map(&b, path, STORE_CREATE,
	    (size_t)1 << 20, (size_t)1 << 30), 0);
	assert_int_equal(import_mem(b, m.buf, m.len, late, &st, &where), 0);
	assert_int_equal(st.added, tf_count(n->office));
	assert_int_equal(tf_count(b), tf_count(n->office));
	store_close(b);
	mem_free(&m);
	key_free(&late);
}

/* A bundle whose body is the first batch of the office's bundle
 * repeated times (a header promising all the entries in the world). */
static void
craft_repeat(struct net *n, struct mem *m, int compression, size_t times)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	struct layout l;
	struct mem raw;
	uint8_t head[BUNDLE_HEAD_LEN], out[1 << 16];
	const uint8_t *batch;
	size_t blen, i, left;
	ZSTD_inBuffer in;
	ZSTD_outBuffer o;
	FILE *f;

	assert_non_null(z);
	export_mem(n->office, n->root, NULL, &raw, NULL, BUNDLE_RAW);
	parse(&raw, &l);
	batch = (const uint8_t *)raw.buf + BUNDLE_HEAD_LEN;
	blen = l.b[0].sig + NUSA_SIG_LEN - BUNDLE_HEAD_LEN;
	memcpy(head, raw.buf, sizeof(head));
	head[9] = (uint8_t)compression;
	memset(head + sizeof(head) - 12, 0x7f, 12);
	f = open_memstream(&m->buf, &m->len);
	assert_non_null(f);
	fwrite(head, 1, sizeof(head), f);
	for (i = 0; i < times; i++) {
		if (compression == BUNDLE_RAW) {
			fwrite(batch, 1, blen, f);
			continue;
		}
		in = (ZSTD_inBuffer){ batch, blen, 0 };
		do {
			o = (ZSTD_outBuffer){ out, sizeof(out), 0 };
			left = ZSTD_compressStream2(z, &o, &in, i + 1 == times ?
			    ZSTD_e_end : ZSTD_e_continue);
			assert_false(ZSTD_isError(left));
			fwrite(out, 1, o.pos, f);
		} while (i + 1 == times ? left != 0 : in.pos < in.size);
	}
	assert_int_equal(fclose(f), 0);
	ZSTD_freeCCtx(z);
	free(l.b);
	mem_free(&raw);
}

/* A time bomb: one valid batch repeated (tiny compressed, hours to
 * verify) is refused, by the rewinds it makes and, compressed, by how
 * much it inflates. */
static void
test_bomb_repeat(void **state)
{
	struct net *n = *state;
	struct bundle_fault where;
	struct bundle_stats st;
	struct store *s;
	struct mem m;
	size_t peak;
	int rc;

	s = testutil_store(n->dir, "s", NULL);
	tf_join(s, n->root->pk);
	craft_repeat(n, &m, BUNDLE_ZSTD, 100000);
	assert_true(m.len < 256 * 1024);
	assert_int_equal(import_mem(s, m.buf, m.len, n->root, &st, &where),
	    -NUSA_EMALFORMED);
	assert_true(where.batch > 1 && where.batch < 1100);
	assert_true(st.added > 0);
	mem_free(&m);
	/* Uncompressed: the rewinds alone stop it, at the first past the
	 * limit. */
	craft_repeat(n, &m, BUNDLE_RAW, 1100);
	peak = read_all(&m, &rc);
	assert_int_equal(rc, -NUSA_EMALFORMED);
	assert_true(peak < READER_BOUND);
	assert_int_equal(import_mem(s, m.buf, m.len, n->root, &st, &where),
	    -NUSA_EMALFORMED);
	assert_int_equal(where.batch, 1 + 1024 + 1);
	assert_int_equal(st.added, 0);
	mem_free(&m);
	store_close(s);
}

/* A batch at the top of the seq range (a stranger's entry with seq
 * 2^64-1) repeated under a header that promises everything: it must not
 * slip past the rewind limit, each copy costing a signature check. */
static void
test_seq_at_top(void **state)
{
	struct net *n = *state;
	struct bundle_fault where;
	struct bundle_stats st;
	struct tf_author a;
	struct tf_ent e;
	struct mem raw, m;
	struct store *s;
	uint8_t len[4];
	size_t i;
	FILE *f;

	tf_author_init(&a, n->stranger, n->root->pk);
	a.seq = UINT64_MAX - 1;
	memset(a.prev, 0x5a, sizeof(a.prev));
	tf_record(&a, COLL_MEMBER, "m1", "name", "Siti", 5000, &e);
	assert_true(e.seq == UINT64_MAX);
	export_mem(n->office, n->root, NULL, &raw, NULL, BUNDLE_RAW);
	s = testutil_store(n->dir, "top", NULL);
	tf_join(s, n->root->pk);
	assert_int_equal(import_mem(s, raw.buf, raw.len, n->root, &st,
	    &where), 0);
	memset((uint8_t *)raw.buf + BUNDLE_HEAD_LEN - 12, 0x7f, 12);
	f = open_memstream(&m.buf, &m.len);
	assert_non_null(f);
	fwrite(raw.buf, 1, BUNDLE_HEAD_LEN, f);
	for (i = 0; i < 1100; i++) {
		fputc('B', f);
		fputc(0, f);
		fputc(1, f);		/* u16 count 1 */
		codec_be32(len, (uint32_t)e.len);
		fwrite(len, 1, 4, f);
		fwrite(e.body, 1, e.len, f);
		fwrite(e.sig, 1, NUSA_SIG_LEN, f);
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(import_mem(s, m.buf, m.len, n->root, &st, &where),
	    -NUSA_EMALFORMED);
	assert_int_equal(where.batch, 1);
	assert_int_equal(st.added, 0);
	store_close(s);
	mem_free(&raw);
	mem_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, net_setup, net_teardown)
		T(test_join_by_bundle),
		T(test_export_for_vector),
		T(test_flipped_byte),
		T(test_truncated),
		T(test_other_network),
		T(test_many_batches),
		T(test_relay),
		T(test_recertified_admin),
		T(test_relay_after_revocation),
		T(test_hostile_framing),
		T(test_refused_feed_skipped),
		T(test_fork_for_vector),
		T(test_double_import),
		T(test_truncated_compressed),
		T(test_tampered),
		T(test_receipts_flow),
		T(test_receipt_decode),
		T(test_receipt_order),
		T(test_receipt_sync),
		T(test_receipt_shrink),
		T(test_bomb),
		T(test_many_receipts),
		T(test_bomb_repeat),
		T(test_seq_at_top),
		T(test_join_small_map),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
