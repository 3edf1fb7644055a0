#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "entry.h"
#include "key.h"
#include "ledger.h"
#include "payload.h"
#include "state.h"
#include "store.h"
#include "stream.h"
#include "testfeed.h"
#include "testutil.h"
#include "vector.h"

/* What one stream produced, batch by batch. */
struct got_batch {
	uint8_t author[NUSA_KEY_LEN];
	uint64_t first_seq, last_seq;
	size_t n, len;
	size_t first_len;	/* whole length of the first body */
	size_t nsigned;		/* signed here, before the last */
};

struct got {
	struct got_batch *b;
	size_t nb, bcap;
	uint8_t (*ids)[NUSA_HASH_LEN];	/* every entry, in stream order */
	size_t nids, icap;
	size_t refused;		/* batches the receiver did not take */
	int first_refusal;
	struct stream_stats st;
	size_t feeds;
};

/* How to run a stream, and where to send it. */
struct run {
	const struct vector *have;
	int flags;
	size_t batch_max, byte_max;
	struct store *to;	/* ingest every batch here (NULL: no) */
	int may_refuse;		/* count refusals instead of failing */
	/* Called after each batch, with no transaction open. */
	void (*between)(void *ctx, const struct got_batch *b);
	void *ctx;
};

static void
got_free(struct got *g)
{
	free(g->b);
	free(g->ids);
	memset(g, 0, sizeof(*g));
}

static void
got_id(struct got *g, const uint8_t *id)
{
	if (g->nids == g->icap) {
		g->icap = g->icap ? 2 * g->icap : 256;
		g->ids = realloc(g->ids, g->icap * NUSA_HASH_LEN);
		assert_non_null(g->ids);
	}
	memcpy(g->ids[g->nids++], id, NUSA_HASH_LEN);
}

/* Checks one batch against the store it came from (t) and records it. */
static void
check_batch(struct store_txn *t, const struct stream_batch *sb,
    const struct store_batch *bb, struct got *g)
{
	struct got_batch *gb;
	uint8_t id[NUSA_HASH_LEN];
	const uint8_t *body, *sig;
	struct entry e;
	size_t i, len;

	if (g->nb == g->bcap) {
		g->bcap = g->bcap ? 2 * g->bcap : 64;
		g->b = realloc(g->b, g->bcap * sizeof(*g->b));
		assert_non_null(g->b);
	}
	gb = &g->b[g->nb++];
	memset(gb, 0, sizeof(*gb));
	memcpy(gb->author, sb->author, NUSA_KEY_LEN);
	gb->first_seq = sb->first_seq;
	gb->last_seq = sb->last_seq;
	gb->n = sb->n;
	gb->len = sb->len;
	gb->first_len = bb->lens[0];
	assert_int_equal(bb->n, sb->n);
	for (i = 0; i < bb->n; i++) {
		assert_int_equal(entry_decode(&e, bb->bodies[i], bb->lens[i]),
		    0);
		assert_memory_equal(e.author, sb->author, NUSA_KEY_LEN);
		assert_int_equal(e.seq, sb->first_seq + i);
		entry_id(id, bb->bodies[i], bb->lens[i]);
		/* Restored exactly as stored. */
		assert_int_equal(store_entry(t, id, &body, &len, &sig), 0);
		assert_int_equal(len, bb->lens[i]);
		assert_memory_equal(body, bb->bodies[i], len);
		if (i + 1 < bb->n && sig != NULL)
			gb->nsigned++;
		if (i + 1 == bb->n) {
			/* A batch ends at an entry signed here. */
			assert_non_null(sig);
			assert_memory_equal(sig, bb->sig, NUSA_SIG_LEN);
			assert_int_equal(e.seq, sb->last_seq);
			assert_int_equal(entry_verify(bb->sig, id, e.author),
			    0);
		}
		got_id(g, id);
	}
}

static void
run_stream(struct store *from, const struct run *o, struct got *g)
{
	struct stream_reader *r = stream_reader_new();
	struct store_ingest_stats ist;
	struct stream_batch sb;
	struct store_batch bb;
	struct store_txn *t, *w;
	struct stream *x;
	size_t entries = 0;
	int rc;

	memset(g, 0, sizeof(*g));
	assert_non_null(r);
	assert_int_equal(store_begin(from, &t, STORE_READ), 0);
	assert_int_equal(stream_open(&x, t, o->have, o->flags, o->batch_max,
	    o->byte_max), 0);
	store_abort(t);
	g->feeds = stream_feeds(x);
	for (;;) {
		/* Every batch in a read transaction of its own. */
		assert_int_equal(store_begin(from, &t, STORE_READ), 0);
		rc = stream_next(x, t, &sb);
		if (rc <= 0) {
			store_abort(t);
			assert_int_equal(rc, 0);
			break;
		}
		assert_true(sb.n >= 1 && sb.n <= NUSA_BATCH_MAX);
		assert_true(sb.len <= STREAM_BATCH_MAX);
		assert_true(g->nb < 100000);
		assert_int_equal(stream_reader_decode(r, sb.data, sb.len, &bb),
		    0);
		check_batch(t, &sb, &bb, g);
		store_abort(t);
		entries += sb.n;
		if (o->to) {
			assert_int_equal(store_begin(o->to, &w, STORE_WRITE),
			    0);
			rc = store_ingest(w, &bb, &ist);
			if (rc == 0) {
				assert_int_equal(store_commit(w), 0);
			} else {
				store_abort(w);
				if (!o->may_refuse)
					fail_msg("batch %zu (seq %llu..%llu) "
					    "refused: %s", g->nb,
					    (unsigned long long)sb.first_seq,
					    (unsigned long long)sb.last_seq,
					    nusa_strerror(rc));
				if (g->refused++ == 0)
					g->first_refusal = rc;
			}
		}
		if (o->between)
			o->between(o->ctx, &g->b[g->nb - 1]);
	}
	/* Done stays done. */
	assert_int_equal(store_begin(from, &t, STORE_READ), 0);
	assert_int_equal(stream_next(x, t, &sb), 0);
	store_abort(t);
	g->st = *stream_stats(x);
	assert_int_equal(g->st.entries, entries);
	assert_int_equal(g->st.batches, g->nb);
	stream_free(&x);
	assert_null(x);
	stream_reader_free(&r);
	assert_null(r);
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

static uint64_t
seq_of(struct store *s, const uint8_t *author)
{
	struct store_txn *t;
	uint64_t seq;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	seq = store_vector_get(t, author);
	store_abort(t);
	return seq;
}

static int
collect_id(const struct store_item *it, void *ctx)
{
	got_id(ctx, it->id);
	return 0;
}

/* Every entry id of s (in g->ids). */
static void
ids_of(struct store *s, struct got *g)
{
	struct store_txn *t;

	memset(g, 0, sizeof(*g));
	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(store_log_each(t, collect_id, g), 0);
	store_abort(t);
}

/* Ids of author's entries from seq from on. */
static void
feed_ids(struct store *s, const uint8_t *author, uint64_t from,
    struct got *g)
{
	struct store_txn *t;

	memset(g, 0, sizeof(*g));
	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(store_feed_each(t, author, from, collect_id, g), 0);
	store_abort(t);
}

static int
id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, NUSA_HASH_LEN);
}

/* How many times id occurs in the stream. */
static size_t
times(const struct got *g, const uint8_t *id)
{
	size_t i, n = 0;

	for (i = 0; i < g->nids; i++)
		n += memcmp(g->ids[i], id, NUSA_HASH_LEN) == 0;
	return n;
}

static void
assert_no_duplicates(const struct got *g)
{
	uint8_t (*s)[NUSA_HASH_LEN] = malloc(g->nids * NUSA_HASH_LEN + 1);
	size_t i;

	assert_non_null(s);
	memcpy(s, g->ids, g->nids * NUSA_HASH_LEN);
	qsort(s, g->nids, NUSA_HASH_LEN, id_cmp);
	for (i = 1; i < g->nids; i++)
		if (memcmp(s[i - 1], s[i], NUSA_HASH_LEN) == 0)
			fail_msg("an entry was streamed twice");
	free(s);
}

/* Index of author's first batch, or -1. */
static long
first_batch_of(const struct got *g, const uint8_t *author)
{
	size_t i;

	for (i = 0; i < g->nb; i++)
		if (memcmp(g->b[i].author, author, NUSA_KEY_LEN) == 0)
			return (long)i;
	return -1;
}

static size_t
batches_of(const struct got *g, const uint8_t *author)
{
	size_t i, n = 0;

	for (i = 0; i < g->nb; i++)
		n += memcmp(g->b[i].author, author, NUSA_KEY_LEN) == 0;
	return n;
}

/* Each feed's batches come together, one feed after another, and (for a
 * feed without forks) in seq order without a gap. */
static void
assert_feeds_whole(const struct got *g)
{
	size_t i, j;

	for (i = 1; i < g->nb; i++) {
		if (memcmp(g->b[i].author, g->b[i - 1].author,
		    NUSA_KEY_LEN) == 0)
			continue;
		for (j = 0; j + 1 < i; j++)
			if (memcmp(g->b[j].author, g->b[i].author,
			    NUSA_KEY_LEN) == 0)
				fail_msg("batch %zu: a feed comes back", i);
	}
}

static void
assert_seq_contiguous(const struct got *g)
{
	size_t i;

	for (i = 1; i < g->nb; i++)
		if (memcmp(g->b[i].author, g->b[i - 1].author,
		    NUSA_KEY_LEN) == 0 &&
		    g->b[i].first_seq != g->b[i - 1].last_seq + 1)
			fail_msg("batch %zu starts at %llu after %llu", i,
			    (unsigned long long)g->b[i].first_seq,
			    (unsigned long long)g->b[i - 1].last_seq);
}

/* A store in a fresh directory, joined to the network of root. */
static struct store *
joined_store(const char *dir, const char *name, const struct key *root)
{
	struct store *s = testutil_store(dir, name, NULL);

	tf_join(s, root->pk);
	return s;
}

/* A key whose first byte is below (or, with above, not below) bound. */
static struct key *
key_below(uint8_t bound, int above)
{
	struct key *k;

	for (;;) {
		assert_non_null(k = key_generate());
		if (above ? k->pk[0] >= bound : k->pk[0] < bound)
			return k;
		key_free(&k);
	}
}

/* An office box with four feeds: the root's (certificates, members,
 * accounts, postings), an admin's that enrols clerk2, a clerk's and
 * clerk2's postings. The keys sort so that author order is not feed
 * order: clerk2 < admin < root, clerk < root. */
struct net {
	char dir[64];
	struct store *office;
	struct key *root, *admin, *clerk, *clerk2;
};

static void
post(struct store *s, const struct key *k, const char *acct, int64_t amount,
    int n)
{
	struct store_txn *t;
	int i;

	assert_int_equal(store_begin(s, &t, STORE_WRITE), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(ledger_post(t, k, POST_DEPOSIT, acct, NULL,
		    amount + i, NULL, 20240301, NULL), 0);
	assert_int_equal(store_commit(t), 0);
}

static int
net_setup(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	struct store_txn *t;

	assert_non_null(n);
	testutil_tmpdir(n->dir);
	n->root = key_below(0x80, 1);
	n->admin = key_below(n->root->pk[0], 0);
	do {
		key_free(&n->clerk2);
		n->clerk2 = key_below(n->root->pk[0], 0);
	} while (memcmp(n->clerk2->pk, n->admin->pk, NUSA_KEY_LEN) >= 0);
	n->clerk = key_below(n->root->pk[0], 0);
	n->office = testutil_store(n->dir, "office", NULL);
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	assert_int_equal(store_create_network(t, n->root, "Koperasi Uji"), 0);
	assert_int_equal(ledger_enrol(t, n->root, n->admin->pk, ROLE_ADMIN),
	    0);
	assert_int_equal(ledger_enrol(t, n->root, n->clerk->pk, ROLE_CLERK),
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
	    250000, "setoran", 20240301, NULL), 0);
	assert_int_equal(ledger_post(t, n->root, POST_DISBURSE, "l2", NULL,
	    1000000, NULL, 20240302, NULL), 0);
	assert_int_equal(ledger_enrol(t, n->admin, n->clerk2->pk, ROLE_CLERK),
	    0);
	assert_int_equal(ledger_member_add(t, n->admin, "m3", "Wayan", NULL),
	    0);
	assert_int_equal(store_commit(t), 0);
	post(n->office, n->clerk, "s1", 100, 5);
	post(n->office, n->clerk2, "s1", 1000, 4);
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
	key_free(&n->admin);
	key_free(&n->clerk);
	key_free(&n->clerk2);
	free(n);
	return 0;
}

/* Everything, into an empty box of the network: the same state, feeds
 * root first and the admin before the clerk it enrolled. */
static void
test_roundtrip(void **state)
{
	struct net *n = *state;
	struct run o = { .batch_max = NUSA_BATCH_MAX };
	struct store *box;
	struct got g, all;

	box = joined_store(n->dir, "box", n->root);
	o.to = box;
	run_stream(n->office, &o, &g);
	assert_int_equal(g.feeds, 4);
	assert_int_equal(g.nb, 4);
	assert_int_equal(g.st.entries, tf_count(n->office));
	assert_int_equal(g.st.skipped, 0);
	assert_int_equal(first_batch_of(&g, n->root->pk), 0);
	assert_int_equal(first_batch_of(&g, n->admin->pk), 1);
	assert_int_equal(first_batch_of(&g, n->clerk->pk), 2);
	assert_int_equal(first_batch_of(&g, n->clerk2->pk), 3);
	assert_int_equal(g.b[0].first_seq, 1);
	assert_int_equal(g.b[0].last_seq, seq_of(n->office, n->root->pk));
	assert_int_equal(g.b[3].n, 4);
	assert_no_duplicates(&g);
	ids_of(n->office, &all);
	assert_int_equal(g.nids, all.nids);
	got_free(&all);
	tf_same_digest(n->office, box);
	assert_int_equal(tf_count(box), tf_count(n->office));
	assert_int_equal(tf_balance(box, "s1"), 250000 + 510 + 4006);
	tf_verify_clean(box);
	got_free(&g);

	/* Again: all duplicates, nothing changes. */
	run_stream(n->office, &o, &g);
	tf_same_digest(n->office, box);
	got_free(&g);
	store_close(box);
}

/* Only what a peer lacks: each feed from the seq after the peer's. */
static void
test_have_vector(void **state)
{
	struct net *n = *state;
	struct run o = { .batch_max = NUSA_BATCH_MAX };
	uint8_t stranger[NUSA_KEY_LEN];
	uint64_t root_seq = seq_of(n->office, n->root->pk);
	struct vector *have = vector_new();
	struct store *box;
	struct got g;
	long i;

	assert_non_null(have);
	memset(stranger, 0x11, sizeof(stranger));
	assert_int_equal(vector_set(have, n->root->pk, 3), 0);
	assert_int_equal(vector_set(have, n->clerk->pk, 2), 0);
	assert_int_equal(vector_set(have, n->clerk2->pk, 4), 0);
	assert_int_equal(vector_set(have, stranger, 9), 0);
	o.have = have;
	run_stream(n->office, &o, &g);
	assert_int_equal(g.feeds, 3);
	assert_int_equal(g.nb, 3);
	assert_int_equal(g.st.entries, (root_seq - 3) + 2 + 3);
	assert_int_equal(first_batch_of(&g, n->clerk2->pk), -1);
	i = first_batch_of(&g, n->root->pk);
	assert_int_equal(i, 0);
	assert_int_equal(g.b[i].first_seq, 4);
	assert_int_equal(g.b[i].last_seq, root_seq);
	i = first_batch_of(&g, n->admin->pk);
	assert_int_equal(g.b[i].first_seq, 1);
	assert_int_equal(g.b[i].last_seq, 2);
	i = first_batch_of(&g, n->clerk->pk);
	assert_int_equal(g.b[i].first_seq, 3);
	assert_int_equal(g.b[i].last_seq, 5);
	got_free(&g);

	/* A peer ahead of us on a feed gets nothing of it. */
	assert_int_equal(vector_set(have, n->clerk->pk, 100), 0);
	run_stream(n->office, &o, &g);
	assert_int_equal(first_batch_of(&g, n->clerk->pk), -1);
	assert_int_equal(g.feeds, 2);
	got_free(&g);
	vector_free(&have);

	/* In step: no batch at all. */
	have = vector_of(n->office);
	o.have = have;
	run_stream(n->office, &o, &g);
	assert_int_equal(g.feeds, 0);
	assert_int_equal(g.nb, 0);
	got_free(&g);
	vector_free(&have);

	/* The real use: a box that took a stream, while the office went
	 * on, gets exactly the new entries. */
	box = joined_store(n->dir, "box", n->root);
	o.have = NULL;
	o.to = box;
	run_stream(n->office, &o, &g);
	got_free(&g);
	post(n->office, n->root, "s1", 7, 3);
	post(n->office, n->clerk2, "s1", 9, 2);
	have = vector_of(box);
	o.have = have;
	run_stream(n->office, &o, &g);
	assert_int_equal(g.st.entries, 5);
	assert_int_equal(g.nb, 2);
	assert_int_equal(g.b[0].first_seq, root_seq + 1);
	assert_int_equal(g.b[1].first_seq, 5);
	assert_int_equal(g.b[1].last_seq, 6);
	tf_same_digest(n->office, box);
	got_free(&g);
	vector_free(&have);
	store_close(box);
}

static void
test_open_args(void **state)
{
	struct net *n = *state;
	struct store_txn *t;
	struct stream *x = (struct stream *)&x;

	assert_int_equal(store_begin(n->office, &t, STORE_READ), 0);
	assert_int_equal(stream_open(&x, t, NULL, 0, 0, 0), -EINVAL);
	assert_null(x);
	x = (struct stream *)&x;
	assert_int_equal(stream_open(&x, t, NULL, 0, NUSA_BATCH_MAX + 1, 0),
	    -EINVAL);
	assert_null(x);
	assert_int_equal(stream_open(&x, t, NULL, 0, NUSA_BATCH_MAX, 0), 0);
	store_abort(t);
	stream_free(&x);
	stream_free(&x);
	stream_free(NULL);
}

/* batch_max: a signed feed goes in batches of exactly batch_max entries,
 * but for its last. */
static void
test_batch_max(void **state)
{
	struct net *n = *state;
	const size_t maxes[] = { 1, 2, 3, 5, NUSA_BATCH_MAX };
	struct run o = { 0 };
	const struct key *feeds[4];
	char name[32];
	struct store *box;
	struct got g;
	size_t i, j, k, expect;

	/* A root feed longer than one batch can be. */
	post(n->office, n->root, "s1", 1, 300);
	feeds[0] = n->root;
	feeds[1] = n->admin;
	feeds[2] = n->clerk;
	feeds[3] = n->clerk2;
	for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		snprintf(name, sizeof(name), "box%zu", i);
		box = joined_store(n->dir, name, n->root);
		o.batch_max = maxes[i];
		o.to = box;
		run_stream(n->office, &o, &g);
		assert_feeds_whole(&g);
		assert_seq_contiguous(&g);
		expect = 0;
		for (j = 0; j < 4; j++) {
			uint64_t seq = seq_of(n->office, feeds[j]->pk);

			assert_int_equal(batches_of(&g, feeds[j]->pk),
			    (seq + maxes[i] - 1) / maxes[i]);
			expect += (seq + maxes[i] - 1) / maxes[i];
		}
		assert_int_equal(g.nb, expect);
		for (k = 0; k < g.nb; k++) {
			int last_of_feed = k + 1 == g.nb ||
			    memcmp(g.b[k].author, g.b[k + 1].author,
			    NUSA_KEY_LEN) != 0;

			assert_true(g.b[k].n <= maxes[i]);
			if (!last_of_feed)
				assert_int_equal(g.b[k].n, maxes[i]);
		}
		assert_int_equal(g.st.skipped, 0);
		tf_same_digest(n->office, box);
		got_free(&g);
		store_close(box);
	}
}

/* byte_max: a batch stops before the entry that would take it past
 * byte_max, and holds one entry at least. */
static void
test_byte_max(void **state)
{
	struct net *n = *state;
	const size_t caps[] = { 1, 200, 300, 700, 2000 };
	struct run o = { .batch_max = NUSA_BATCH_MAX };
	char name[32];
	struct store *box;
	struct got g;
	size_t i, k, early;

	post(n->office, n->root, "s1", 1, 40);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		snprintf(name, sizeof(name), "box%zu", i);
		box = joined_store(n->dir, name, n->root);
		o.byte_max = caps[i];
		o.to = box;
		run_stream(n->office, &o, &g);
		assert_feeds_whole(&g);
		assert_seq_contiguous(&g);
		early = 0;
		for (k = 0; k < g.nb; k++) {
			const struct got_batch *b = &g.b[k], *nx;

			if (b->n > 1 && b->len > caps[i])
				fail_msg("cap %zu: batch %zu of %zu entries "
				    "is %zu bytes", caps[i], k, b->n, b->len);
			if (caps[i] == 1)
				assert_int_equal(b->n, 1);
			if (k + 1 == g.nb || memcmp(b->author,
			    g.b[k + 1].author, NUSA_KEY_LEN) != 0)
				continue;
			/* It ended because the next entry, compact, did
			 * not fit. */
			nx = &g.b[k + 1];
			if (b->len + 4 + nx->first_len -
			    STREAM_CHAIN_IMPLIED <= caps[i])
				fail_msg("cap %zu: batch %zu (%zu bytes) ended "
				    "early", caps[i], k, b->len);
			early++;
		}
		if (caps[i] < 2000)
			assert_true(early > 0);
		tf_same_digest(n->office, box);
		tf_verify_clean(box);
		got_free(&g);
		store_close(box);
	}
}

/* The office writes between the batches of a stream: each batch is read
 * in a new transaction, and nothing planned is lost or sent twice. */
struct writer {
	struct net *n;
	struct key *late;	/* a device enrolled mid-stream */
	int calls;
};

static void
write_between(void *ctx, const struct got_batch *b)
{
	struct writer *w = ctx;
	struct net *n = w->n;
	struct store_txn *t;

	(void)b;
	w->calls++;
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	switch (w->calls % 4) {
	case 0:	/* the feed being read, at first */
		assert_int_equal(ledger_post(t, n->root, POST_DEPOSIT, "s1",
		    NULL, 1, NULL, 20240305, NULL), 0);
		break;
	case 1:	/* a feed read later */
		assert_int_equal(ledger_post(t, n->clerk2, POST_DEPOSIT, "s1",
		    NULL, 2, NULL, 20240305, NULL), 0);
		break;
	case 2:
		assert_int_equal(ledger_post(t, n->clerk, POST_DEPOSIT, "s1",
		    NULL, 3, NULL, 20240305, NULL), 0);
		break;
	case 3:	/* a feed the plan does not know */
		if (w->late == NULL) {
			assert_non_null(w->late = key_generate());
			assert_int_equal(ledger_enrol(t, n->admin,
			    w->late->pk, ROLE_CLERK), 0);
		}
		assert_int_equal(ledger_post(t, w->late, POST_DEPOSIT, "s1",
		    NULL, 4, NULL, 20240305, NULL), 0);
		break;
	}
	assert_int_equal(store_commit(t), 0);
}

static void
test_resume_between_writes(void **state)
{
	struct net *n = *state;
	struct writer w = { .n = n };
	struct run o = { .batch_max = 3, .between = write_between, .ctx = &w };
	struct vector *have;
	struct store *box;
	struct got g, planned, late;
	size_t i;

	post(n->office, n->root, "s1", 1, 30);
	ids_of(n->office, &planned);
	box = joined_store(n->dir, "box", n->root);
	o.to = box;
	run_stream(n->office, &o, &g);
	assert_true(w.calls > 10);
	assert_int_equal(g.feeds, 4);
	assert_no_duplicates(&g);
	for (i = 0; i < planned.nids; i++)
		if (times(&g, planned.ids[i]) != 1)
			fail_msg("planned entry %zu streamed %zu times", i,
			    times(&g, planned.ids[i]));
	assert_true(g.nids >= planned.nids);
	/* The device enrolled mid-stream has a feed the plan lacks. */
	assert_int_equal(first_batch_of(&g, w.late->pk), -1);
	feed_ids(n->office, w.late->pk, 1, &late);
	assert_true(late.nids > 0);
	for (i = 0; i < late.nids; i++)
		assert_int_equal(times(&g, late.ids[i]), 0);
	assert_feeds_whole(&g);
	assert_seq_contiguous(&g);
	got_free(&g);

	/* A stream for what the box holds now brings the rest. */
	have = vector_of(box);
	o.have = have;
	o.between = NULL;
	run_stream(n->office, &o, &g);
	assert_true(times(&g, late.ids[0]) == 1);
	tf_same_digest(n->office, box);
	assert_int_equal(tf_count(box), tf_count(n->office));
	tf_verify_clean(box);
	got_free(&g);
	got_free(&late);
	got_free(&planned);
	vector_free(&have);
	store_close(box);
	key_free(&w.late);
}

/* A clerk's box and a copy restored from its backup both write on: the
 * clerk's feed forks at the office. With STREAM_FORKS the restored box,
 * as high on the feed as the office, still gets the branch it lacks. */
static void
test_forked_feed(void **state)
{
	struct net *n = *state;
	struct run o = { .batch_max = 2 };
	struct store *cb, *rb, *fresh;
	struct store_device d;
	struct store_txn *t;
	struct vector *have;
	struct got g, ba, bb;
	uint64_t base;
	size_t i;

	cb = joined_store(n->dir, "clerkbox", n->root);
	o.to = cb;
	run_stream(n->office, &o, &g);
	got_free(&g);
	store_close(cb);
	testutil_copy(n->dir, "clerkbox", "restored");
	cb = testutil_reopen(n->dir, "clerkbox");
	rb = testutil_reopen(n->dir, "restored");
	base = seq_of(cb, n->clerk->pk);
	post(cb, n->clerk, "s1", 11, 3);
	post(rb, n->clerk, "s1", 21, 3);
	feed_ids(cb, n->clerk->pk, base + 1, &ba);
	feed_ids(rb, n->clerk->pk, base + 1, &bb);
	assert_int_equal(ba.nids, 3);
	assert_int_equal(bb.nids, 3);

	/* The office takes both branches. */
	have = vector_of(n->office);
	o.have = have;
	o.to = n->office;
	run_stream(cb, &o, &g);
	got_free(&g);
	vector_free(&have);
	o.have = NULL;
	run_stream(rb, &o, &g);
	got_free(&g);
	assert_int_equal(store_begin(n->office, &t, STORE_READ), 0);
	assert_int_equal(store_device(t, n->clerk->pk, &d), 0);
	store_abort(t);
	assert_int_equal(d.forked, 1);
	assert_int_equal(d.fork_seq, base + 1);

	/* Without STREAM_FORKS the restored box gets nothing of it: its
	 * vector says it is as high as the office. */
	have = vector_of(rb);
	o.have = have;
	o.to = NULL;
	run_stream(n->office, &o, &g);
	assert_int_equal(first_batch_of(&g, n->clerk->pk), -1);
	got_free(&g);

	/* With it, both branches, and the box ends where the office is. */
	o.flags = STREAM_FORKS;
	o.to = rb;
	run_stream(n->office, &o, &g);
	for (i = 0; i < 3; i++) {
		assert_int_equal(times(&g, ba.ids[i]), 1);
		assert_int_equal(times(&g, bb.ids[i]), 1);
	}
	assert_no_duplicates(&g);
	assert_feeds_whole(&g);
	assert_int_equal(g.st.skipped, 0);
	tf_same_digest(n->office, rb);
	tf_verify_clean(rb);
	got_free(&g);
	vector_free(&have);

	/* And everything to a new box, in batches of one. */
	fresh = joined_store(n->dir, "fresh", n->root);
	o.have = NULL;
	o.flags = 0;
	o.batch_max = 1;
	o.to = fresh;
	run_stream(n->office, &o, &g);
	assert_int_equal(g.st.entries, tf_count(n->office));
	tf_same_digest(n->office, fresh);
	tf_verify_clean(fresh);
	got_free(&g);
	got_free(&ba);
	got_free(&bb);
	store_close(fresh);
	store_close(rb);
	store_close(cb);
}

/* The bytes of author's first batch in a stream of s. */
static uint8_t *
batch_bytes(struct store *s, const uint8_t *author, size_t batch_max,
    size_t *len)
{
	struct stream_batch sb;
	struct store_txn *t;
	struct stream *x;
	uint8_t *out = NULL;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(stream_open(&x, t, NULL, 0, batch_max, 0), 0);
	while (out == NULL && stream_next(x, t, &sb) == 1)
		if (memcmp(sb.author, author, NUSA_KEY_LEN) == 0) {
			assert_non_null(out = malloc(sb.len + NUSA_SIG_LEN));
			memcpy(out, sb.data, sb.len);
			*len = sb.len;
		}
	store_abort(t);
	stream_free(&x);
	assert_non_null(out);
	return out;
}

static void
put32(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
test_reader_rejects(void **state)
{
	struct net *n = *state;
	struct stream_reader *r = stream_reader_new();
	const uint8_t *body, *sig;
	uint8_t id[NUSA_HASH_LEN], *p;
	struct store_batch b;
	struct store_txn *t;
	size_t len = 0, cut, i, second, blen;

	assert_non_null(r);
	p = batch_bytes(n->office, n->clerk->pk, NUSA_BATCH_MAX, &len);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[1], 5);

	/* What the stream wrote decodes to what the store holds. */
	assert_int_equal(stream_reader_decode(r, p, len, &b), 0);
	assert_int_equal(b.n, 5);
	assert_int_equal(store_begin(n->office, &t, STORE_READ), 0);
	for (i = 0; i < b.n; i++) {
		entry_id(id, b.bodies[i], b.lens[i]);
		assert_int_equal(store_entry(t, id, &body, &blen, &sig), 0);
		assert_int_equal(blen, b.lens[i]);
		assert_memory_equal(body, b.bodies[i], blen);
	}
	assert_memory_equal(sig, b.sig, NUSA_SIG_LEN);
	store_abort(t);

	/* Counts: 0, above the cap, one more and one less than sent. */
	p[1] = 0;
	assert_int_equal(stream_reader_decode(r, p, len, &b),
	    -NUSA_EMALFORMED);
	p[0] = (NUSA_BATCH_MAX + 1) >> 8;
	p[1] = (NUSA_BATCH_MAX + 1) & 0xff;
	assert_int_equal(stream_reader_decode(r, p, len, &b),
	    -NUSA_EMALFORMED);
	p[0] = p[1] = 0xff;
	assert_int_equal(stream_reader_decode(r, p, len, &b),
	    -NUSA_EMALFORMED);
	p[0] = 0;
	p[1] = 6;
	assert_int_equal(stream_reader_decode(r, p, len, &b),
	    -NUSA_EMALFORMED);
	p[1] = 4;
	assert_int_equal(stream_reader_decode(r, p, len, &b),
	    -NUSA_EMALFORMED);
	p[1] = 5;

	/* Cut anywhere, the signature missing, or a byte too many. */
	for (cut = 0; cut < len; cut++)
		if (stream_reader_decode(r, p, cut, &b) != -NUSA_EMALFORMED)
			fail_msg("cut at %zu of %zu decodes", cut, len);
	p[len] = 0;
	assert_int_equal(stream_reader_decode(r, p, len + 1, &b),
	    -NUSA_EMALFORMED);

	/* Entry lengths out of range, first and later. */
	blen = (size_t)p[2] << 24 | (size_t)p[3] << 16 | (size_t)p[4] << 8 |
	    p[5];
	second = 2 + 4 + blen;
	{
		const size_t bad_first[] = { 0, ENTRY_HEADER_LEN - 1,
			ENTRY_BODY_MAX + 1, 0xffffffff, len };
		const size_t bad_later[] = { 0,
			ENTRY_HEADER_LEN - STREAM_CHAIN_IMPLIED - 1,
			ENTRY_BODY_MAX - STREAM_CHAIN_IMPLIED + 1,
			0x80000000, len };
		uint8_t save[4];

		memcpy(save, p + 2, 4);
		for (i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
			put32(p + 2, bad_first[i]);
			assert_int_equal(stream_reader_decode(r, p, len, &b),
			    -NUSA_EMALFORMED);
		}
		memcpy(p + 2, save, 4);
		memcpy(save, p + second, 4);
		for (i = 0; i < sizeof(bad_later) / sizeof(bad_later[0]); i++) {
			put32(p + second, bad_later[i]);
			assert_int_equal(stream_reader_decode(r, p, len, &b),
			    -NUSA_EMALFORMED);
		}
		memcpy(p + second, save, 4);
	}

	/* None of it harmed the reader. */
	assert_int_equal(stream_reader_decode(r, p, len, &b), 0);
	assert_int_equal(b.n, 5);
	free(p);
	stream_reader_free(&r);
	assert_null(r);
	stream_reader_free(&r);
}

/* The decoder checks framing only: the shortest and longest bodies it
 * may carry, and a batch of NUSA_BATCH_MAX, decode, with the chain's
 * bytes restored from the entry before. */
static void
test_reader_bounds(void **state)
{
	struct stream_reader *r = stream_reader_new();
	const size_t cap = 2 + 4 + ENTRY_BODY_MAX +
	    (NUSA_BATCH_MAX - 1) * (4 + ENTRY_HEADER_LEN) + NUSA_SIG_LEN;
	uint8_t *p = calloc(1, cap), id[NUSA_HASH_LEN];
	struct store_batch b;
	size_t off, i;

	(void)state;
	assert_non_null(r);
	assert_non_null(p);
	/* One body of the least length. */
	p[1] = 1;
	put32(p + 2, ENTRY_HEADER_LEN);
	memset(p + 6, 0x5a, ENTRY_HEADER_LEN);
	off = 6 + ENTRY_HEADER_LEN;
	memset(p + off, 0xee, NUSA_SIG_LEN);
	assert_int_equal(stream_reader_decode(r, p, off + NUSA_SIG_LEN, &b),
	    0);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.lens[0], ENTRY_HEADER_LEN);
	assert_memory_equal(b.bodies[0], p + 6, ENTRY_HEADER_LEN);
	assert_int_equal(b.sig[0], 0xee);

	/* The largest first body, then NUSA_BATCH_MAX - 1 of the least. */
	p[0] = NUSA_BATCH_MAX >> 8;
	p[1] = NUSA_BATCH_MAX & 0xff;
	put32(p + 2, ENTRY_BODY_MAX);
	for (i = 0; i < ENTRY_BODY_MAX; i++)
		p[6 + i] = (uint8_t)i;
	off = 6 + ENTRY_BODY_MAX;
	for (i = 1; i < NUSA_BATCH_MAX; i++) {
		put32(p + off, ENTRY_HEADER_LEN - STREAM_CHAIN_IMPLIED);
		memset(p + off + 4, (int)i,
		    ENTRY_HEADER_LEN - STREAM_CHAIN_IMPLIED);
		off += 4 + ENTRY_HEADER_LEN - STREAM_CHAIN_IMPLIED;
	}
	memset(p + off, 0x77, NUSA_SIG_LEN);
	off += NUSA_SIG_LEN;
	assert_int_equal(stream_reader_decode(r, p, off, &b), 0);
	assert_int_equal(b.n, NUSA_BATCH_MAX);
	assert_int_equal(b.lens[0], ENTRY_BODY_MAX);
	for (i = 1; i < NUSA_BATCH_MAX; i++) {
		uint64_t s0 = 0, s1 = 0;
		int k;

		assert_int_equal(b.lens[i], ENTRY_HEADER_LEN);
		/* Version and kind as sent; network and author from the
		 * first; seq one more; prev the id of the one before. */
		assert_int_equal(b.bodies[i][0], (uint8_t)i);
		assert_int_equal(b.bodies[i][1], (uint8_t)i);
		assert_memory_equal(b.bodies[i] + 2, b.bodies[0] + 2, 64);
		for (k = 0; k < 8; k++) {
			s0 = s0 << 8 | b.bodies[i - 1][66 + k];
			s1 = s1 << 8 | b.bodies[i][66 + k];
		}
		assert_true(s1 == s0 + 1);
		entry_id(id, b.bodies[i - 1], b.lens[i - 1]);
		assert_memory_equal(b.bodies[i] + 74, id, NUSA_HASH_LEN);
		assert_int_equal(b.bodies[i][106], (uint8_t)i);
	}
	assert_int_equal(b.sig[63], 0x77);
	/* One more entry than the cap does not. */
	p[0] = (NUSA_BATCH_MAX + 1) >> 8;
	p[1] = (NUSA_BATCH_MAX + 1) & 0xff;
	assert_int_equal(stream_reader_decode(r, p, off, &b),
	    -NUSA_EMALFORMED);
	assert_int_equal(stream_reader_decode(r, p, 1, &b), -NUSA_EMALFORMED);
	assert_int_equal(stream_reader_decode(r, p, 0, &b), -NUSA_EMALFORMED);

	/* stream_put_entry() writes what the reader reads. */
	assert_int_equal(stream_put_entry(p, p, ENTRY_HEADER_LEN - 1, 1), 0);
	assert_int_equal(stream_put_entry(p, p, ENTRY_BODY_MAX + 1, 0), 0);
	free(p);
	stream_reader_free(&r);
}

/* A feed as a relay holds it: signatures only at the ends of the
 * batches it took. */
struct relay {
	char dir[64];
	struct key *root, *c1, *c2;
	struct store *s;
	size_t n1, n2;
};

static void
relay_feed(struct relay *w, struct tf_author *a, const size_t *sizes,
    size_t nsizes, uint64_t hlc)
{
	struct store_ingest_stats st;
	struct tf_ent *es;
	size_t i, j, total = 0;

	for (i = 0; i < nsizes; i++)
		total += sizes[i];
	assert_non_null(es = calloc(total, sizeof(*es)));
	for (i = 0; i < total; i++)
		tf_posting(a, POST_DEPOSIT, "s1", NULL, 10 + (int64_t)i, NULL,
		    i ? 0 : hlc, &es[i]);
	for (i = 0, j = 0; i < nsizes; j += sizes[i], i++) {
		assert_int_equal(tf_ingest(w->s, es + j, sizes[i], &st), 0);
		assert_int_equal(st.added, sizes[i]);
	}
	free(es);
}

/* A relay box with the root's feed enrolling two clerks. */
static void
relay_init(struct relay *w)
{
	struct tf_author ra;
	struct tf_ent g[3];

	memset(w, 0, sizeof(*w));
	testutil_tmpdir(w->dir);
	assert_non_null(w->root = key_generate());
	assert_non_null(w->c1 = key_generate());
	assert_non_null(w->c2 = key_generate());
	tf_author_init(&ra, w->root, w->root->pk);
	tf_network(&ra, "Koperasi Relai", 1000, &g[0]);
	tf_cert(&ra, w->c1->pk, ROLE_CLERK, 0, &g[1]);
	tf_cert(&ra, w->c2->pk, ROLE_CLERK, 0, &g[2]);
	w->s = joined_store(w->dir, "relay", w->root);
	assert_int_equal(tf_ingest(w->s, g, 3, NULL), 0);
}

static void
relay_setup(struct relay *w)
{
	/* c1 signs every 7th entry here; c2 at irregular ends, once after
	 * a whole NUSA_BATCH_MAX. */
	const size_t s1[] = { 7, 7, 7, 7, 7, 5 };
	const size_t s2[] = { 1, 12, 3, 30, 2, NUSA_BATCH_MAX, 9 };
	struct tf_author a1, a2;
	size_t i;

	relay_init(w);
	tf_author_init(&a1, w->c1, w->root->pk);
	tf_author_init(&a2, w->c2, w->root->pk);
	relay_feed(w, &a1, s1, sizeof(s1) / sizeof(s1[0]), 2000);
	relay_feed(w, &a2, s2, sizeof(s2) / sizeof(s2[0]), 3000);
	for (i = 0; i < sizeof(s1) / sizeof(s1[0]); i++)
		w->n1 += s1[i];
	for (i = 0; i < sizeof(s2) / sizeof(s2[0]); i++)
		w->n2 += s2[i];
}

static void
relay_teardown(struct relay *w)
{
	store_close(w->s);
	testutil_rmtree(w->dir);
	key_free(&w->root);
	key_free(&w->c1);
	key_free(&w->c2);
}

/* A batch ends at an entry signed here; it passes batch_max or byte_max
 * only when no entry before its last is signed here. */
static void
test_relayed_feed(void **state)
{
	struct {
		size_t batch_max, byte_max;
	} cases[8 + 24] = {
		{ 1, 0 }, { 3, 0 }, { 10, 0 }, { 20, 0 }, { NUSA_BATCH_MAX, 0 },
		{ NUSA_BATCH_MAX, 600 }, { 5, 2000 }, { 2, 1 },
	};
	struct relay w;
	struct run o = { 0 };
	char name[32];
	struct store *c;
	struct got g;
	size_t i, k, of1;

	(void)state;
	/* And byte_max from a little more than one entry to several. */
	for (i = 8; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cases[i].batch_max = NUSA_BATCH_MAX;
		cases[i].byte_max = 200 + 37 * (i - 8);
	}
	relay_setup(&w);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		c = joined_store(w.dir, name, w.root);
		o.batch_max = cases[i].batch_max;
		o.byte_max = cases[i].byte_max;
		o.to = c;
		run_stream(w.s, &o, &g);
		assert_int_equal(g.st.skipped, 0);
		assert_int_equal(g.st.entries, 3 + w.n1 + w.n2);
		assert_feeds_whole(&g);
		assert_seq_contiguous(&g);
		of1 = 0;
		for (k = 0; k < g.nb; k++) {
			const struct got_batch *b = &g.b[k];

			if (b->n > cases[i].batch_max && b->nsigned)
				fail_msg("case %zu: batch %zu of %zu passes "
				    "batch_max at a signature", i, k, b->n);
			if (cases[i].byte_max && b->len > cases[i].byte_max &&
			    b->nsigned)
				fail_msg("case %zu: batch %zu of %zu bytes "
				    "passes byte_max at a signature", i, k,
				    b->len);
			if (memcmp(b->author, w.c1->pk, NUSA_KEY_LEN) == 0) {
				/* c1 is signed at 7, 14, ... 35 and 40. */
				assert_true(b->last_seq % 7 == 0 ||
				    b->last_seq == w.n1);
				of1 += b->n;
			}
		}
		assert_int_equal(of1, w.n1);
		tf_same_digest(w.s, c);
		assert_int_equal(tf_count(c), tf_count(w.s));
		tf_verify_clean(c);
		got_free(&g);
		store_close(c);
	}
	relay_teardown(&w);
}

/* Puts (v non-NULL) or deletes key k of database db in a closed store. */
static void
raw_put(const char *path, const char *db, const void *k, size_t klen,
    const void *v, size_t vlen)
{
	MDB_val mk = { .mv_size = klen, .mv_data = (void *)k };
	MDB_val mv = { .mv_size = vlen, .mv_data = (void *)v };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (v)
		assert_int_equal(mdb_put(txn, dbi, &mk, &mv, 0), 0);
	else
		assert_int_equal(mdb_del(txn, dbi, &mk, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* A feed whose last entries no signature here vouches for (a damaged
 * store: the signature of the last is lost): the stream leaves them out,
 * counts them, and sends the rest. */
static void
test_unsigned_tail_skipped(void **state)
{
	struct run o = { .batch_max = NUSA_BATCH_MAX };
	struct relay w;
	struct store *c;
	struct got last, g;
	char path[128];

	(void)state;
	relay_setup(&w);
	feed_ids(w.s, w.c1->pk, w.n1, &last);
	assert_int_equal(last.nids, 1);
	store_close(w.s);
	snprintf(path, sizeof(path), "%s/relay", w.dir);
	raw_put(path, "sigs", last.ids[0], NUSA_HASH_LEN, NULL, 0);
	w.s = testutil_reopen(w.dir, "relay");

	c = joined_store(w.dir, "c", w.root);
	o.to = c;
	run_stream(w.s, &o, &g);
	assert_int_equal(g.st.skipped, w.n1 - 35);
	assert_int_equal(g.st.entries, tf_count(w.s) - (w.n1 - 35));
	assert_int_equal(times(&g, last.ids[0]), 0);
	assert_int_equal(seq_of(c, w.c1->pk), 35);
	assert_int_equal(seq_of(c, w.c2->pk), w.n2);
	tf_verify_clean(c);
	got_free(&g);
	got_free(&last);
	store_close(c);
	relay_teardown(&w);
}

/* Ten boxes restored from one backup each write two entries and sync
 * them to the office in one batch: the office holds the clerk's feed
 * forked ten ways, signed at the end of each branch only. A stream of it
 * must still carry every branch whole.
 *
 * BUG (transport/stream.c): a stream keeps at most STREAM_RUNS (8) open
 * chains per feed. Entries come in (seq, id) order, so the ten branches
 * are open at once; take_item() then closes the oldest run with
 * run_close(), which drops its unsigned tail as "skipped" although a
 * later entry of that branch vouches for it. The next entry of the branch
 * starts a batch whose predecessor was never sent: the receiver refuses
 * it (-NUSA_EGAP) and the branch never arrives, by sync or by bundle. */
static void
test_many_branches_relayed(void **state)
{
	enum { BRANCHES = 10 };
	struct relay w;
	struct tf_author ca, br;
	struct tf_ent base, e[2];
	struct run o = { .batch_max = NUSA_BATCH_MAX, .may_refuse = 1 };
	struct store *c;
	struct got g;
	size_t i, skipped, refused, have, arrived;
	int first;

	(void)state;
	relay_init(&w);
	tf_author_init(&ca, w.c1, w.root->pk);
	tf_posting(&ca, POST_DEPOSIT, "s1", NULL, 5, NULL, 2000, &base);
	assert_int_equal(tf_ingest(w.s, &base, 1, NULL), 0);
	for (i = 0; i < BRANCHES; i++) {
		br = ca;
		tf_posting(&br, POST_DEPOSIT, "s1", NULL, 100 + (int64_t)i,
		    NULL, 3000 + 10 * i, &e[0]);
		tf_posting(&br, POST_DEPOSIT, "s1", NULL, 200 + (int64_t)i,
		    NULL, 0, &e[1]);
		assert_int_equal(tf_ingest(w.s, e, 2, NULL), 0);
	}
	assert_int_equal(tf_count(w.s), 3 + 1 + 2 * BRANCHES);
	tf_verify_clean(w.s);

	c = joined_store(w.dir, "fresh", w.root);
	o.to = c;
	run_stream(w.s, &o, &g);
	skipped = g.st.skipped;
	refused = g.refused;
	first = g.first_refusal;
	got_free(&g);
	have = tf_count(w.s);
	arrived = tf_count(c);
	if (!skipped && !refused && have == arrived)
		tf_same_digest(w.s, c);
	store_close(c);
	relay_teardown(&w);
	if (skipped || refused || have != arrived)
		fail_msg("BUG: %zu of %zu entries skipped, %zu batches "
		    "refused (%s), %zu entries arrived", skipped, have,
		    refused, refused ? nusa_strerror(first) : "-", arrived);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, net_setup, net_teardown)
		T(test_roundtrip),
		T(test_have_vector),
		T(test_open_args),
		T(test_batch_max),
		T(test_byte_max),
		T(test_resume_between_writes),
		T(test_forked_feed),
		T(test_reader_rejects),
#undef T
		cmocka_unit_test(test_reader_bounds),
		cmocka_unit_test(test_relayed_feed),
		cmocka_unit_test(test_unsigned_tail_skipped),
		cmocka_unit_test(test_many_branches_relayed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
