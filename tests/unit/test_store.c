#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <lmdb.h>

#include "entry.h"
#include "hlc.h"
#include "key.h"
#include "payload.h"
#include "state.h"
#include "store.h"
#include "store_db.h"
#include "testfeed.h"
#include "testutil.h"

/* A store joined to a network of a root, a clerk, a relay and an admin
 * key, with the root's genesis and certificates ingested as one batch. */
struct world {
	char dir[64];
	struct store *s;
	struct key *root, *clerk, *relay, *admin;
	struct tf_author ra, ca, la, aa;
	struct tf_ent gen[4];
	struct store_ingest_stats gen_st;
};

static void
world_root_feed(struct world *w)
{
	tf_network(&w->ra, "Koperasi Uji", 1000, &w->gen[0]);
	tf_cert(&w->ra, w->clerk->pk, ROLE_CLERK, 0, &w->gen[1]);
	tf_cert(&w->ra, w->relay->pk, ROLE_RELAY, 0, &w->gen[2]);
	tf_cert(&w->ra, w->admin->pk, ROLE_ADMIN, 0, &w->gen[3]);
}

/* Opens a new store dir/name joined to w's network with its root feed. */
static struct store *
world_store(struct world *w, const char *name)
{
	struct store *s = testutil_store(w->dir, name, NULL);

	tf_join(s, w->root->pk);
	assert_int_equal(tf_ingest(s, w->gen, 4, &w->gen_st), 0);
	return s;
}

static int
world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	testutil_tmpdir(w->dir);
	w->root = key_generate();
	w->clerk = key_generate();
	w->relay = key_generate();
	w->admin = key_generate();
	assert_true(w->root && w->clerk && w->relay && w->admin);
	tf_author_init(&w->ra, w->root, w->root->pk);
	tf_author_init(&w->ca, w->clerk, w->root->pk);
	tf_author_init(&w->la, w->relay, w->root->pk);
	tf_author_init(&w->aa, w->admin, w->root->pk);
	world_root_feed(w);
	w->s = world_store(w, "a");
	*state = w;
	return 0;
}

static int
world_teardown(void **state)
{
	struct world *w = *state;

	store_close(w->s);
	testutil_rmtree(w->dir);
	key_free(&w->root);
	key_free(&w->clerk);
	key_free(&w->relay);
	key_free(&w->admin);
	free(w);
	return 0;
}

static struct store_device
device_of(struct store *s, const uint8_t *pk, int *rc)
{
	struct store_device d;
	struct store_txn *t;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	*rc = store_device(t, pk, &d);
	store_abort(t);
	return d;
}

static int
field_of(struct store *s, uint8_t coll, const char *key, const char *field,
    char *buf, size_t cap)
{
	struct store_txn *t;
	int rc;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	rc = state_field_get(t, coll, key, field, buf, cap);
	store_abort(t);
	return rc;
}

struct faults {
	size_t n, with_id;
	uint8_t id[NUSA_HASH_LEN];
	char what[4][80];
};

static void
collect_fault(const uint8_t *id, const char *what, void *ctx)
{
	struct faults *f = ctx;

	if (f->n < 4)
		snprintf(f->what[f->n], sizeof(f->what[0]), "%s", what);
	if (id) {
		memcpy(f->id, id, NUSA_HASH_LEN);
		f->with_id++;
	}
	f->n++;
}

/* Opens the raw LMDB environment of a closed store. */
static MDB_env *
raw_open(const char *path)
{
	MDB_env *env;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
	assert_int_equal(mdb_env_set_mapsize(env, (size_t)1 << 30), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	return env;
}

/* Puts (v non-NULL) or deletes key k of database db in a closed store. */
static void
raw_put(const char *path, const char *db, const void *k, size_t klen,
    const void *v, size_t vlen)
{
	MDB_env *env = raw_open(path);
	MDB_val mk = { .mv_size = klen, .mv_data = (void *)k };
	MDB_val mv = { .mv_size = vlen, .mv_data = (void *)v };
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (v)
		assert_int_equal(mdb_put(txn, dbi, &mk, &mv, 0), 0);
	else
		assert_int_equal(mdb_del(txn, dbi, &mk, NULL), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_format_check(void **state)
{
	uint8_t bad[4] = { 0, 0, 0, STORE_FORMAT + 1 };
	uint8_t good[4] = { 0, 0, 0, STORE_FORMAT };
	char dir[64], path[128], empty[128];
	struct store *s;

	(void)state;
	testutil_tmpdir(dir);
	s = testutil_store(dir, "s", NULL);
	store_close(s);
	snprintf(path, sizeof(path), "%s/s", dir);

	raw_put(path, "meta", "format", 6, bad, sizeof(bad));
	s = (struct store *)1;
	assert_int_equal(store_open(&s, path, 0), -NUSA_ESTOREVER);
	assert_null(s);
	assert_int_equal(store_open(&s, path, STORE_CREATE), -NUSA_ESTOREVER);
	raw_put(path, "meta", "format", 6, good, 3);
	assert_int_equal(store_open(&s, path, 0), -NUSA_ESTOREVER);
	raw_put(path, "meta", "format", 6, good, sizeof(good));
	assert_int_equal(store_open(&s, path, 0), 0);
	store_close(s);

	/* Without STORE_CREATE nothing is made. */
	snprintf(empty, sizeof(empty), "%s/none", dir);
	assert_int_equal(store_open(&s, empty, 0), -ENOENT);
	assert_null(s);
	assert_int_equal(mkdir(empty, 0700), 0);
	assert_int_equal(store_open(&s, empty, 0), -ENOENT);
	testutil_rmtree(dir);
}

static void
test_batch_signed_at_end(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	const uint8_t *body, *sig;
	struct store_device d;
	struct tf_ent c[4];
	struct store_txn *t;
	char buf[64];
	size_t len;
	int rc;

	/* The root feed went in as one batch with only its last signature. */
	assert_int_equal(w->gen_st.added, 4);
	assert_int_equal(w->gen_st.duplicates, 0);
	assert_int_equal(store_begin(w->s, &t, STORE_READ), 0);
	assert_int_equal(store_vector_get(t, w->root->pk), 4);
	assert_int_equal(store_entry(t, w->gen[0].id, &body, &len, &sig), 0);
	assert_null(sig);
	assert_int_equal(len, w->gen[0].len);
	assert_memory_equal(body, w->gen[0].body, len);
	assert_int_equal(store_entry(t, w->gen[3].id, &body, &len, &sig), 0);
	assert_non_null(sig);
	assert_memory_equal(sig, w->gen[3].sig, NUSA_SIG_LEN);
	store_abort(t);
	d = device_of(w->s, w->clerk->pk, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(d.role, ROLE_CLERK);
	assert_int_equal(d.cut, UINT64_MAX);
	assert_int_equal(d.cert_hlc, w->gen[1].hlc);

	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Siti", 2000, &c[0]);
	tf_record(&w->ca, COLL_MEMBER, "m1", "village", "Ende", 0, &c[1]);
	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 5000, NULL, 0, &c[2]);
	tf_posting(&w->ca, POST_WITHDRAW, "s1", NULL, 1500, NULL, 0, &c[3]);
	assert_int_equal(tf_ingest(w->s, c, 4, &st), 0);
	assert_int_equal(st.added, 4);
	assert_int_equal(tf_count(w->s), 8);
	assert_int_equal(field_of(w->s, COLL_MEMBER, "m1", "village", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "Ende");
	assert_int_equal(tf_balance(w->s, "s1"), 3500);
}

static void
test_bad_signature(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	uint8_t sig[NUSA_SIG_LEN];
	struct tf_ent c[3];
	size_t i;

	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Siti", 2000, &c[0]);
	tf_record(&w->ca, COLL_MEMBER, "m2", "name", "Budi", 0, &c[1]);
	tf_record(&w->ca, COLL_MEMBER, "m3", "name", "Wayan", 0, &c[2]);

	for (i = 0; i < NUSA_SIG_LEN; i += 7) {
		memcpy(sig, c[2].sig, sizeof(sig));
		sig[i] ^= 0x20;
		assert_int_equal(tf_ingest_sig(w->s, c, 3, sig, &st),
		    -NUSA_EBADSIG);
		assert_int_equal(st.bad_index, 2);
	}
	/* A valid signature, but of another entry of the batch. */
	assert_int_equal(tf_ingest_sig(w->s, c, 3, c[0].sig, &st),
	    -NUSA_EBADSIG);
	/* The right entry, signed by another key. */
	entry_sign(sig, c[2].id, w->root->sk);
	assert_int_equal(tf_ingest_sig(w->s, c, 3, sig, &st), -NUSA_EBADSIG);
	assert_int_equal(tf_count(w->s), 4);
	assert_int_equal(tf_ingest(w->s, c, 3, &st), 0);
	assert_int_equal(tf_count(w->s), 7);
}

static void
test_broken_chain(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct tf_author fork;
	struct tf_ent c[3], x, r;

	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Siti", 2000, &c[0]);
	fork = w->ca;
	tf_record(&w->ca, COLL_MEMBER, "m2", "name", "Budi", 0, &c[1]);
	tf_record(&w->ca, COLL_MEMBER, "m3", "name", "Wayan", 0, &c[2]);

	/* Seq 2 whose prev names something other than entry 1. */
	memset(fork.prev, 0xab, NUSA_HASH_LEN);
	tf_record(&fork, COLL_MEMBER, "m2", "name", "Budi", 0, &x);
	{
		struct tf_ent b[2] = { c[0], x };

		assert_int_equal(tf_ingest(w->s, b, 2, &st),
		    -NUSA_EBADCHAIN);
		assert_int_equal(st.bad_index, 1);
	}
	/* A seq skipped. */
	{
		struct tf_ent b[2] = { c[0], c[2] };

		assert_int_equal(tf_ingest(w->s, b, 2, &st),
		    -NUSA_EBADCHAIN);
		assert_int_equal(st.bad_index, 1);
	}
	/* Two authors in one batch, each entry fine on its own. */
	tf_record(&w->aa, COLL_MEMBER, "m9", "name", "Ani", 2000, &r);
	{
		struct tf_ent b[2] = { c[0], r };

		assert_int_equal(tf_ingest(w->s, b, 2, &st),
		    -NUSA_EBADCHAIN);
	}
	/* The same entry twice. */
	{
		struct tf_ent b[2] = { c[0], c[0] };

		assert_int_equal(tf_ingest(w->s, b, 2, &st),
		    -NUSA_EBADCHAIN);
	}
	assert_int_equal(tf_count(w->s), 4);
	assert_int_equal(tf_ingest(w->s, c, 3, &st), 0);
	assert_int_equal(st.added, 3);
}

static void
test_gap(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct tf_author other;
	struct tf_ent c[3], y;

	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Siti", 2000, &c[0]);
	other = w->ca;
	tf_record(&w->ca, COLL_MEMBER, "m2", "name", "Budi", 0, &c[1]);
	tf_record(&w->ca, COLL_MEMBER, "m3", "name", "Wayan", 0, &c[2]);
	assert_int_equal(tf_ingest(w->s, c + 1, 2, &st), -NUSA_EGAP);
	assert_int_equal(st.bad_index, 0);
	assert_int_equal(tf_ingest(w->s, c + 2, 1, &st), -NUSA_EGAP);
	assert_int_equal(tf_count(w->s), 4);

	/* Seq 1 known, but the predecessor named is another seq-1 entry. */
	assert_int_equal(tf_ingest(w->s, c, 1, &st), 0);
	memset(other.prev, 0x11, NUSA_HASH_LEN);
	tf_record(&other, COLL_MEMBER, "m2", "name", "Budi", 0, &y);
	assert_int_equal(tf_ingest(w->s, &y, 1, &st), -NUSA_EGAP);

	assert_int_equal(tf_ingest(w->s, c + 1, 2, &st), 0);
	assert_int_equal(st.added, 2);
}

static void
test_other_network(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *net2 = key_generate();
	struct tf_author a, g;
	struct tf_ent e[2], ok;

	/* An enrolled key writing into another network. */
	tf_author_init(&a, w->clerk, net2->pk);
	tf_record(&a, COLL_MEMBER, "m1", "name", "Siti", 2000, &e[0]);
	assert_int_equal(tf_ingest(w->s, e, 1, &st), -NUSA_ENETWORK);
	/* That network's own genesis. */
	tf_author_init(&g, net2, net2->pk);
	tf_network(&g, "Lain", 1000, &e[1]);
	assert_int_equal(tf_ingest(w->s, e + 1, 1, &st), -NUSA_ENETWORK);
	/* Ours first, another network's after it in the same batch. */
	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Siti", 2000, &ok);
	{
		struct tf_ent b[2] = { ok, e[0] };

		assert_int_equal(tf_ingest(w->s, b, 2, &st), -NUSA_ENETWORK);
	}
	assert_int_equal(tf_count(w->s), 4);
	key_free(&net2);
}

static void
test_unenrolled(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *stranger = key_generate();
	struct tf_author a;
	struct tf_ent e[2];
	int rc;

	tf_author_init(&a, stranger, w->root->pk);
	tf_posting(&a, POST_DEPOSIT, "s1", NULL, 100, NULL, 2000, &e[0]);
	tf_posting(&a, POST_DEPOSIT, "s1", NULL, 100, NULL, 0, &e[1]);
	assert_int_equal(tf_ingest(w->s, e, 2, &st), -NUSA_EUNENROLLED);
	assert_int_equal(st.bad_index, 0);
	assert_int_equal(tf_count(w->s), 4);
	assert_int_equal(tf_balance(w->s, "s1"), 0);
	device_of(w->s, stranger->pk, &rc);
	assert_int_equal(rc, -NUSA_ENOTFOUND);
	key_free(&stranger);
}

static void
test_forbidden(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *extra = key_generate();
	struct tf_author c2, r2, a2;
	struct tf_ent e;
	int rc;

	c2 = w->ca;
	tf_network(&c2, "Palsu", 2000, &e);
	assert_int_equal(tf_ingest(w->s, &e, 1, &st), -NUSA_EFORBIDDEN);
	/* Only the root's first entry may be a genesis, and it must be. */
	r2 = w->ra;
	tf_network(&r2, "Lagi", 2000, &e);
	assert_int_equal(tf_ingest(w->s, &e, 1, &st), -NUSA_EFORBIDDEN);
	assert_int_equal(tf_count(w->s), 4);
	assert_int_equal(tf_balance(w->s, "s1"), 0);

	/* What roles may do goes through. */
	a2 = w->aa;
	tf_cert(&a2, extra->pk, ROLE_CLERK, 2000, &e);
	assert_int_equal(tf_ingest(w->s, &e, 1, &st), 0);
	assert_int_equal(device_of(w->s, extra->pk, &rc).role, ROLE_CLERK);
	c2 = w->ca;
	tf_posting(&c2, POST_DEPOSIT, "s1", NULL, 100, NULL, 2000, &e);
	assert_int_equal(tf_ingest(w->s, &e, 1, &st), 0);
	assert_int_equal(tf_balance(w->s, "s1"), 100);
	key_free(&extra);
}

static void
test_reingest_idempotent(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	uint8_t d1[NUSA_HASH_LEN], d2[NUSA_HASH_LEN];
	const uint8_t *body, *sig;
	struct store_txn *t;
	struct tf_ent c[5];
	size_t len;

	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Siti", 2000, &c[0]);
	tf_record(&w->ca, COLL_ACCOUNT, "s1", "type", "sukarela", 0, &c[1]);
	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 700, NULL, 0, &c[2]);
	tf_posting(&w->ca, POST_TRANSFER, "s1", "s2", 200, NULL, 0, &c[3]);
	tf_posting(&w->ca, POST_REVERSE, "s2", "s1", 200, c[3].id, 0, &c[4]);
	assert_int_equal(tf_ingest(w->s, c, 5, &st), 0);
	assert_int_equal(st.added, 5);
	tf_digest(w->s, d1);

	assert_int_equal(tf_ingest(w->s, c, 5, &st), 0);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.duplicates, 5);
	assert_int_equal(tf_count(w->s), 9);
	tf_digest(w->s, d2);
	assert_memory_equal(d1, d2, NUSA_HASH_LEN);
	assert_int_equal(tf_balance(w->s, "s1"), 700);
	assert_int_equal(tf_balance(w->s, "s2"), 0);

	/* A shorter batch of the same feed adds its end's signature only. */
	assert_int_equal(tf_ingest(w->s, c, 3, &st), 0);
	assert_int_equal(st.duplicates, 3);
	tf_digest(w->s, d2);
	assert_memory_equal(d1, d2, NUSA_HASH_LEN);
	assert_int_equal(store_begin(w->s, &t, STORE_READ), 0);
	assert_int_equal(store_entry(t, c[2].id, &body, &len, &sig), 0);
	assert_non_null(sig);
	assert_int_equal(store_entry(t, c[1].id, &body, &len, &sig), 0);
	assert_null(sig);
	store_abort(t);
}

static void
test_clock_must_increase(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct tf_author base, a;
	struct tf_ent c1, e[2], x;

	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Siti", 2000, &c1);
	base = w->ca;

	/* Inside one batch: equal, then earlier. */
	a = base;
	tf_record(&a, COLL_MEMBER, "m2", "name", "Budi", 2000, &x);
	e[0] = c1;
	e[1] = x;
	assert_int_equal(tf_ingest(w->s, e, 2, &st), -NUSA_EBADCHAIN);
	a = base;
	tf_record(&a, COLL_MEMBER, "m2", "name", "Budi", 1999, &x);
	e[1] = x;
	assert_int_equal(tf_ingest(w->s, e, 2, &st), -NUSA_EBADCHAIN);
	assert_int_equal(tf_count(w->s), 4);

	/* Against a stored predecessor. */
	assert_int_equal(tf_ingest(w->s, &c1, 1, &st), 0);
	a = base;
	tf_record(&a, COLL_MEMBER, "m2", "name", "Budi", 2000, &x);
	assert_int_equal(tf_ingest(w->s, &x, 1, &st), -NUSA_EBADCHAIN);
	a = base;
	tf_record(&a, COLL_MEMBER, "m2", "name", "Budi", 1, &x);
	assert_int_equal(tf_ingest(w->s, &x, 1, &st), -NUSA_EBADCHAIN);
	a = base;
	tf_record(&a, COLL_MEMBER, "m2", "name", "Budi", 2001, &x);
	assert_int_equal(tf_ingest(w->s, &x, 1, &st), 0);
}

struct forks {
	size_t n;
	uint64_t seq[4];
	size_t nids[4];
	uint8_t ids[4][2][NUSA_HASH_LEN];
	uint8_t author[NUSA_KEY_LEN];
};

static int
collect_fork(const struct state_fork *f, void *ctx)
{
	struct forks *fs = ctx;
	size_t i;

	assert_true(fs->n < 4);
	memcpy(fs->author, f->author, NUSA_KEY_LEN);
	fs->seq[fs->n] = f->seq;
	fs->nids[fs->n] = f->nids;
	for (i = 0; i < f->nids && i < 2; i++)
		memcpy(fs->ids[fs->n][i], f->ids[i], NUSA_HASH_LEN);
	fs->n++;
	return 0;
}

struct forks_count {
	size_t n, ids;
};

static int
count_forks(const struct state_fork *f, void *ctx)
{
	struct forks_count *fc = ctx;

	fc->n++;
	fc->ids += f->nids;
	return 0;
}

static int
ids_match(const uint8_t (*got)[NUSA_HASH_LEN], const uint8_t *a,
    const uint8_t *b)
{
	return (memcmp(got[0], a, NUSA_HASH_LEN) == 0 &&
	    memcmp(got[1], b, NUSA_HASH_LEN) == 0) ||
	    (memcmp(got[0], b, NUSA_HASH_LEN) == 0 &&
	    memcmp(got[1], a, NUSA_HASH_LEN) == 0);
}

static void
test_fork_kept(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	uint8_t d1[NUSA_HASH_LEN], d2[NUSA_HASH_LEN];
	struct tf_author backup;
	struct tf_ent c[3], f[2];
	struct forks fs = { 0 };
	struct faults flt = { 0 };
	struct store_txn *t;
	struct store *s2;
	size_t n;
	int rc;

	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 100, NULL, 2000, &c[0]);
	backup = w->ca;		/* the SD card copied after entry 1 */
	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 200, NULL, 0, &c[1]);
	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 300, NULL, 0, &c[2]);
	tf_posting(&backup, POST_DEPOSIT, "s1", NULL, 50, NULL, 2500, &f[0]);
	tf_posting(&backup, POST_WITHDRAW, "s1", NULL, 20, NULL, 0, &f[1]);

	assert_int_equal(tf_ingest(w->s, c, 3, &st), 0);
	assert_int_equal(st.forks, 0);
	assert_int_equal(device_of(w->s, w->clerk->pk, &rc).forked, 0);
	assert_int_equal(tf_ingest(w->s, f, 2, &st), 0);
	assert_int_equal(st.added, 2);
	assert_int_equal(st.forks, 2);
	assert_int_equal(tf_count(w->s), 4 + 5);
	assert_int_equal(device_of(w->s, w->clerk->pk, &rc).forked, 1);
	assert_int_equal(rc, 0);
	assert_int_equal(tf_balance(w->s, "s1"), 100 + 200 + 300 + 50 - 20);

	assert_int_equal(store_begin(w->s, &t, STORE_READ), 0);
	assert_int_equal(state_forks_each(t, collect_fork, &fs), 0);
	assert_int_equal(store_vector_get(t, w->clerk->pk), 3);
	store_abort(t);
	assert_int_equal(fs.n, 2);
	assert_memory_equal(fs.author, w->clerk->pk, NUSA_KEY_LEN);
	assert_int_equal(fs.seq[0], 2);
	assert_int_equal(fs.seq[1], 3);
	assert_int_equal(fs.nids[0], 2);
	assert_int_equal(fs.nids[1], 2);
	assert_true(ids_match((const uint8_t (*)[NUSA_HASH_LEN])fs.ids[0],
	    c[1].id, f[0].id));
	assert_true(ids_match((const uint8_t (*)[NUSA_HASH_LEN])fs.ids[1],
	    c[2].id, f[1].id));
	assert_int_equal(store_verify(w->s, collect_fault, &flt, &n), 0);
	assert_int_equal(flt.n, 0);
	assert_int_equal(n, 9);

	/* The branches the other way round give the same state. */
	s2 = world_store(w, "b");
	assert_int_equal(tf_ingest(s2, c, 1, &st), 0);
	assert_int_equal(tf_ingest(s2, f, 2, &st), 0);
	assert_int_equal(st.forks, 0);
	assert_int_equal(tf_ingest(s2, c + 1, 2, &st), 0);
	assert_int_equal(st.forks, 2);
	tf_digest(w->s, d1);
	tf_digest(s2, d2);
	assert_memory_equal(d1, d2, NUSA_HASH_LEN);
	store_close(s2);
}

/* The clerk writes 5 entries; the root revokes it after the 3rd. Every
 * order of arrival must give one state without entries 4 and 5. */
static void
test_revocation_orders(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	uint8_t d[5][NUSA_HASH_LEN];
	struct store *s[5];
	struct tf_author backup;
	struct tf_ent c[5], rv, f;
	struct faults flt;
	char buf[64];
	size_t i, n;
	int rc;

	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 1000, NULL, 2000, &c[0]);
	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Asli", 0, &c[1]);
	tf_posting(&w->ca, POST_WITHDRAW, "s1", NULL, 100, NULL, 0, &c[2]);
	backup = w->ca;
	tf_posting(&w->ca, POST_WITHDRAW, "s1", NULL, 500, NULL, 0, &c[3]);
	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Curian", 0, &c[4]);
	/* A fork past the cut: it happened after the revocation's view. */
	tf_posting(&backup, POST_WITHDRAW, "s1", NULL, 333, NULL, 2100, &f);
	tf_revoke(&w->ra, w->clerk->pk, 3, 3000, &rv);

	/* 0: everything before the revocation, in one batch. */
	s[0] = w->s;
	assert_int_equal(tf_ingest(s[0], c, 5, &st), 0);
	assert_int_equal(tf_ingest(s[0], &f, 1, &st), 0);
	assert_int_equal(st.forks, 1);
	assert_int_equal(tf_balance(s[0], "s1"), 1000 - 100 - 500 - 333);
	assert_int_equal(tf_ingest(s[0], &rv, 1, &st), 0);

	/* 1: the revocation first, then the whole feed. */
	s[1] = world_store(w, "b");
	assert_int_equal(tf_ingest(s[1], &rv, 1, &st), 0);
	assert_int_equal(tf_ingest(s[1], c, 5, &st), 0);
	assert_int_equal(st.added, 3);
	assert_int_equal(st.revoked, 2);
	assert_int_equal(tf_ingest(s[1], &f, 1, &st), 0);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.revoked, 1);
	/* Entry 3 had no signature of its own, so the tail 4..5 that vouches
	 * for it stays stored (out of the state); another tail past the cut
	 * adds nothing more. */
	assert_int_equal(tf_count(s[1]), 4 + 1 + 5);
	{
		struct tf_ent b[2] = { c[2], f };

		assert_int_equal(tf_ingest(s[1], b, 2, &st), 0);
		assert_int_equal(st.duplicates, 1);
		assert_int_equal(st.revoked, 1);
		assert_int_equal(tf_count(s[1]), 4 + 1 + 5);
	}

	/* 2: the revocation first, the feed in two batches. */
	s[2] = world_store(w, "c");
	assert_int_equal(tf_ingest(s[2], &rv, 1, &st), 0);
	assert_int_equal(tf_ingest(s[2], c, 3, &st), 0);
	assert_int_equal(st.added, 3);
	assert_int_equal(tf_ingest(s[2], c + 3, 2, &st), 0);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.revoked, 2);
	assert_int_equal(tf_count(s[2]), 4 + 1 + 3);

	/* 3: the revocation between the two batches. */
	s[3] = world_store(w, "d");
	assert_int_equal(tf_ingest(s[3], c, 3, &st), 0);
	assert_int_equal(tf_ingest(s[3], &rv, 1, &st), 0);
	assert_int_equal(tf_ingest(s[3], c + 3, 2, &st), 0);
	assert_int_equal(st.revoked, 2);
	assert_int_equal(tf_ingest(s[3], &f, 1, &st), 0);
	assert_int_equal(st.revoked, 1);

	/* 4: the fork and the tail before the revocation, separately. */
	s[4] = world_store(w, "e");
	assert_int_equal(tf_ingest(s[4], c, 3, &st), 0);
	assert_int_equal(tf_ingest(s[4], &f, 1, &st), 0);
	assert_int_equal(tf_ingest(s[4], c + 3, 2, &st), 0);
	assert_int_equal(tf_ingest(s[4], &rv, 1, &st), 0);

	for (i = 0; i < 5; i++) {
		struct store_device dv = device_of(s[i], w->clerk->pk, &rc);

		assert_int_equal(rc, 0);
		assert_int_equal(dv.cut, 3);
		assert_int_equal(dv.role, ROLE_CLERK);
		assert_int_equal(tf_balance(s[i], "s1"), 900);
		assert_int_equal(field_of(s[i], COLL_MEMBER, "m1", "name", buf,
		    sizeof(buf)), 0);
		assert_string_equal(buf, "Asli");
		tf_digest(s[i], d[i]);
		memset(&flt, 0, sizeof(flt));
		assert_int_equal(store_verify(s[i], collect_fault, &flt, &n),
		    0);
		assert_int_equal(flt.n, 0);
		if (i > 0)
			assert_memory_equal(d[0], d[i], NUSA_HASH_LEN);
	}
	for (i = 1; i < 5; i++)
		store_close(s[i]);
}

/* What a revoked admin wrote past its cut, before the revocation was
 * written (earlier clocks), counts on no replica: its certificate enrols
 * nobody and its revocation of a clerk revokes nothing, also where they
 * arrived first and took effect for a while. */
static void
test_revoked_admin_cert(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *rogue = key_generate();
	struct faults f = { 0 };
	struct tf_author ga;
	struct tf_ent a[2], r, rv, c;
	struct store_device d;
	struct store *s1;
	size_t n;
	int rc;

	tf_posting(&w->ca, POST_DEPOSIT, "s2", NULL, 50, NULL, 1400, &c);
	tf_cert(&w->aa, rogue->pk, ROLE_CLERK, 1500, &a[0]);
	tf_revoke(&w->aa, w->clerk->pk, 0, 0, &a[1]);
	tf_author_init(&ga, rogue, w->root->pk);
	tf_posting(&ga, POST_DEPOSIT, "s1", NULL, 999, NULL, 1600, &r);
	tf_revoke(&w->ra, w->admin->pk, 0, 3000, &rv);

	assert_int_equal(tf_ingest(w->s, &c, 1, &st), 0);
	assert_int_equal(tf_ingest(w->s, a, 2, &st), 0);
	assert_int_equal(tf_balance(w->s, "s2"), 0);
	assert_int_equal(tf_ingest(w->s, &r, 1, &st), 0);
	assert_int_equal(tf_balance(w->s, "s1"), 999);
	assert_int_equal(tf_ingest(w->s, &rv, 1, &st), 0);

	s1 = world_store(w, "b");
	assert_int_equal(tf_ingest(s1, &rv, 1, &st), 0);
	assert_int_equal(tf_ingest(s1, a, 2, &st), 0);
	assert_int_equal(st.revoked, 2);
	assert_int_equal(tf_ingest(s1, &c, 1, &st), 0);
	assert_int_equal(tf_ingest(s1, &r, 1, &st), -NUSA_EUNENROLLED);

	device_of(w->s, rogue->pk, &rc);
	assert_int_equal(rc, -NUSA_ENOTFOUND);
	d = device_of(w->s, w->clerk->pk, &rc);
	assert_int_equal(d.cut, UINT64_MAX);
	d = device_of(w->s, w->admin->pk, &rc);
	assert_int_equal(d.cut, 0);
	assert_int_equal(tf_balance(w->s, "s1"), 0);
	assert_int_equal(tf_balance(w->s, "s2"), 50);
	assert_int_equal(tf_balance(s1, "s2"), 50);
	tf_same_digest(w->s, s1);
	assert_int_equal(store_verify(w->s, collect_fault, &f, &n), 0);
	assert_int_equal(store_verify(s1, collect_fault, &f, &n), 0);
	assert_int_equal(f.n, 0);
	store_close(s1);
	key_free(&rogue);
}

static void
test_verify_tamper(void **state)
{
	struct world *w = *state;
	struct faults f = { 0 };
	struct tf_ent c[4];
	uint8_t body[ENTRY_BODY_MAX], bal[8];
	char path[128];
	size_t n, i;
	int rc;

	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Siti", 2000, &c[0]);
	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 5000, NULL, 0, &c[1]);
	tf_posting(&w->ca, POST_WITHDRAW, "s1", NULL, 700, NULL, 0, &c[2]);
	tf_posting(&w->ca, POST_DEPOSIT, "s2", NULL, 10, NULL, 0, &c[3]);
	assert_int_equal(tf_ingest(w->s, c, 2, NULL), 0);
	assert_int_equal(tf_ingest(w->s, c + 2, 2, NULL), 0);
	assert_int_equal(store_verify(w->s, collect_fault, &f, &n), 0);
	assert_int_equal(f.n, 0);
	assert_int_equal(n, 8);
	store_close(w->s);
	w->s = NULL;
	snprintf(path, sizeof(path), "%s/a", w->dir);

	/* One byte of a stored entry: its memo "uji" becomes "uki". */
	memcpy(body, c[2].body, c[2].len);
	for (i = ENTRY_HEADER_LEN; i + 2 < c[2].len; i++)
		if (memcmp(body + i, "uji", 3) == 0)
			break;
	assert_true(i + 2 < c[2].len);
	body[i + 1] = 'k';
	raw_put(path, "entries", c[2].id, NUSA_HASH_LEN, body, c[2].len);
	assert_int_equal(store_open(&w->s, path, 0), 0);
	rc = store_verify(w->s, collect_fault, &f, &n);
	assert_int_equal(rc, -NUSA_ECORRUPT);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.with_id, 1);
	assert_memory_equal(f.id, c[2].id, NUSA_HASH_LEN);
	store_close(w->s);

	/* Put it back: the store is whole again. */
	raw_put(path, "entries", c[2].id, NUSA_HASH_LEN, c[2].body, c[2].len);
	assert_int_equal(store_open(&w->s, path, 0), 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(store_verify(w->s, collect_fault, &f, &n), 0);
	assert_int_equal(f.n, 0);
	store_close(w->s);

	/* A materialized balance that its postings do not add up to. */
	memset(bal, 0, sizeof(bal));
	bal[7] = 0x2a;
	raw_put(path, "balances", "s1", 2, bal, sizeof(bal));
	assert_int_equal(store_open(&w->s, path, 0), 0);
	assert_int_equal(tf_balance(w->s, "s1"), 42);
	memset(&f, 0, sizeof(f));
	assert_int_equal(store_verify(w->s, collect_fault, &f, &n),
	    -NUSA_ECORRUPT);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.with_id, 0);
	/* store_verify changes nothing, also when it finds a fault. */
	assert_int_equal(tf_balance(w->s, "s1"), 42);
	store_close(w->s);
	memset(bal, 0, sizeof(bal));
	bal[6] = (5000 - 700) >> 8;
	bal[7] = (5000 - 700) & 0xff;
	raw_put(path, "balances", "s1", 2, bal, sizeof(bal));

	/* The signature on the clerk's head vouched for entries 3 and 4;
	 * entry 2's own signature still vouches for 1 and 2. */
	raw_put(path, "sigs", c[3].id, NUSA_HASH_LEN, NULL, 0);
	assert_int_equal(store_open(&w->s, path, 0), 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(store_verify(w->s, collect_fault, &f, &n),
	    -NUSA_ECORRUPT);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.with_id, 2);
}

/* Twenty boxes restored from one backup: a fork of twenty branches. */
static void
test_many_forks(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct tf_ent c1, b[20][2];
	struct tf_author base, x;
	struct faults f = { 0 };
	struct forks_count fc = { 0 };
	char path[128];
	size_t i, n;

	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 1, NULL, 2000, &c1);
	assert_int_equal(tf_ingest(w->s, &c1, 1, &st), 0);
	base = w->ca;
	for (i = 0; i < 20; i++) {
		x = base;
		tf_posting(&x, POST_DEPOSIT, "s1", NULL, 10 + (int64_t)i, NULL,
		    3000 + i, &b[i][0]);
		tf_posting(&x, POST_DEPOSIT, "s1", NULL, 100, NULL, 0,
		    &b[i][1]);
		assert_int_equal(tf_ingest(w->s, b[i], 2, &st), 0);
		assert_int_equal(st.added, 2);
		assert_int_equal(st.forks, i ? 2 : 0);
	}
	assert_int_equal(tf_balance(w->s, "s1"), 1 + 20 * 10 + 190 + 2000);
	assert_int_equal(store_verify(w->s, collect_fault, &f, &n), 0);
	assert_int_equal(f.n, 0);
	{
		struct store_txn *t;

		assert_int_equal(store_begin(w->s, &t, STORE_READ), 0);
		assert_int_equal(state_forks_each(t, count_forks, &fc), 0);
		store_abort(t);
	}
	assert_int_equal(fc.n, 2);
	assert_int_equal(fc.ids, 40);

	/* Without the signature at one branch's end, both its entries are
	 * unvouched, however many other branches there are. */
	store_close(w->s);
	snprintf(path, sizeof(path), "%s/a", w->dir);
	raw_put(path, "sigs", b[7][1].id, NUSA_HASH_LEN, NULL, 0);
	assert_int_equal(store_open(&w->s, path, 0), 0);
	assert_int_equal(store_verify(w->s, collect_fault, &f, &n),
	    -NUSA_ECORRUPT);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.with_id, 2);
	assert_memory_equal(f.id, b[7][0].id, NUSA_HASH_LEN);
}

/* A peer whose clock runs days ahead: this box's later writes still
 * order after what it has seen (invariant 5). */
static void
test_clock_ahead(void **state)
{
	struct world *w = *state;
	struct payload p = { .kind = KIND_RECORD };
	uint8_t buf[NUSA_PAYLOAD_MAX], id[NUSA_HASH_LEN];
	uint64_t ahead = (hlc_wall_ms() + 5 * 86400 * 1000ULL) <<
	    HLC_LOGICAL_BITS;
	const uint8_t *body;
	struct store_txn *t;
	struct tf_ent c;
	struct entry e;
	char val[64];
	size_t len;

	tf_record(&w->ca, COLL_MEMBER, "m1", "name", "Besok", ahead, &c);
	assert_int_equal(tf_ingest(w->s, &c, 1, NULL), 0);
	p.u.record.collection = COLL_MEMBER;
	p.u.record.key = tf_str("m1");
	p.u.record.nfields = 1;
	p.u.record.fields[0].name = tf_str("name");
	p.u.record.fields[0].value = tf_str("Hari ini");
	assert_int_equal(store_begin(w->s, &t, STORE_WRITE), 0);
	assert_int_equal(store_hlc(t), ahead);
	assert_int_equal(store_append(t, w->root, KIND_RECORD, buf,
	    tf_encode(&p, buf), id), 0);
	assert_int_equal(store_entry(t, id, &body, &len, NULL), 0);
	assert_int_equal(entry_decode(&e, body, len), 0);
	assert_true(e.hlc > ahead);
	assert_int_equal(e.seq, 5);
	assert_int_equal(state_field_get(t, COLL_MEMBER, "m1", "name", val,
	    sizeof(val)), 0);
	assert_string_equal(val, "Hari ini");
	assert_int_equal(store_commit(t), 0);
}

static void
test_error_mapping(void **state)
{
	(void)state;
	assert_int_equal(store_mdb_err(0), 0);
	assert_int_equal(store_mdb_err(MDB_NOTFOUND), -NUSA_ENOTFOUND);
	assert_int_equal(store_mdb_err(MDB_KEYEXIST), -NUSA_EEXIST);
	assert_int_equal(store_mdb_err(MDB_MAP_FULL), -ENOSPC);
	assert_int_equal(store_mdb_err(MDB_CORRUPTED), -NUSA_ECORRUPT);
	assert_int_equal(store_mdb_err(MDB_INVALID), -NUSA_ESTOREVER);
	assert_int_equal(store_mdb_err(ENOENT), -ENOENT);
	assert_int_equal(store_mdb_err(-NUSA_EGAP), -NUSA_EGAP);
	assert_int_equal(store_mdb_err(-EINVAL), -EINVAL);
	/* Every other LMDB code becomes an errno, never a raw LMDB code
	 * that nusa_strerror() cannot name. */
	assert_int_equal(store_mdb_err(MDB_TXN_FULL), -EIO);
	assert_int_equal(store_mdb_err(MDB_BAD_DBI), -EIO);
	assert_int_equal(store_mdb_err(MDB_MAP_RESIZED), -EIO);
}

/* A clerk's or a relay's certificate or revocation, and a relay's ledger
 * entries, are kept (the feed must not stall) but have no effect. */
static void
test_powerless_admin_entries(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *extra = key_generate();
	struct store_device d;
	struct tf_ent e[2];
	uint8_t before[NUSA_HASH_LEN], after[NUSA_HASH_LEN];
	int rc;

	tf_digest(w->s, before);
	tf_cert(&w->ca, extra->pk, ROLE_ADMIN, 2000, &e[0]);
	tf_revoke(&w->ca, w->relay->pk, 0, 2001, &e[1]);
	assert_int_equal(tf_ingest(w->s, e, 2, &st), 0);
	assert_int_equal(st.added, 2);
	tf_cert(&w->la, extra->pk, ROLE_ADMIN, 2002, &e[0]);
	tf_posting(&w->la, POST_DEPOSIT, "s1", NULL, 100, NULL, 2003, &e[1]);
	assert_int_equal(tf_ingest(w->s, e, 2, &st), 0);
	tf_record(&w->la, COLL_MEMBER, "m1", "name", "Siti", 2004, &e[0]);
	assert_int_equal(tf_ingest(w->s, e, 1, &st), 0);
	assert_int_equal(tf_balance(w->s, "s1"), 0);
	d = device_of(w->s, extra->pk, &rc);
	assert_true(rc == -NUSA_ENOTFOUND || d.role == ROLE_NONE);
	d = device_of(w->s, w->relay->pk, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(d.role, ROLE_RELAY);
	assert_true(d.cut == UINT64_MAX);
	tf_digest(w->s, after);
	assert_memory_equal(before, after, NUSA_HASH_LEN);
	tf_verify_clean(w->s);
	key_free(&extra);
}

/* A clerk's certificates dated before its own enrolment (an author picks
 * its clocks) have no power, and cost no recompute of the device table
 * (a read of every admin entry each): a batch of them must not make
 * ingest quadratic. An admin's certificate does recompute. */
static void
test_dated_certs_cost_nothing(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *extra = key_generate();
	struct store_device d;
	static struct tf_ent e[NUSA_BATCH_MAX];
	size_t i;
	int rc;

	assert_non_null(extra);
	for (i = 0; i < NUSA_BATCH_MAX; i++)
		tf_cert(&w->ca, extra->pk, ROLE_ADMIN, i + 1, &e[i]);
	memset(&st, 0, sizeof(st));
	assert_int_equal(tf_ingest(w->s, e, NUSA_BATCH_MAX, &st), 0);
	assert_int_equal(st.added, NUSA_BATCH_MAX);
	assert_int_equal(st.recomputes, 0);
	d = device_of(w->s, extra->pk, &rc);
	assert_true(rc == -NUSA_ENOTFOUND || d.role == ROLE_NONE);

	tf_cert(&w->aa, extra->pk, ROLE_CLERK, 5000, &e[0]);
	memset(&st, 0, sizeof(st));
	assert_int_equal(tf_ingest(w->s, e, 1, &st), 0);
	assert_int_equal(st.recomputes, 1);
	d = device_of(w->s, extra->pk, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(d.role, ROLE_CLERK);
	tf_verify_clean(w->s);
	key_free(&extra);
}

/* An admin enrols a device, then the root demotes the admin to clerk
 * with a later clock. Replicas that hear of the demotion first must not
 * refuse the earlier certificate: both orders end enrolled and equal. */
static void
test_demotion_any_order(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *y = key_generate();
	struct store *s2 = world_store(w, "b");
	struct store_device d;
	struct tf_ent cert, demote, post;
	int rc;

	tf_cert(&w->aa, y->pk, ROLE_CLERK, 3000, &cert);
	tf_cert(&w->ra, w->admin->pk, ROLE_CLERK, 4000, &demote);
	tf_record(&w->aa, COLL_MEMBER, "m9", "name", "Ani", 5000, &post);

	assert_int_equal(tf_ingest(w->s, &cert, 1, &st), 0);
	assert_int_equal(tf_ingest(w->s, &demote, 1, &st), 0);
	assert_int_equal(tf_ingest(w->s, &post, 1, &st), 0);
	assert_int_equal(tf_ingest(s2, &demote, 1, &st), 0);
	assert_int_equal(tf_ingest(s2, &cert, 1, &st), 0);
	assert_int_equal(tf_ingest(s2, &post, 1, &st), 0);

	d = device_of(s2, y->pk, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(d.role, ROLE_CLERK);
	d = device_of(s2, w->admin->pk, &rc);
	assert_int_equal(d.role, ROLE_CLERK);
	tf_same_digest(w->s, s2);
	tf_verify_clean(s2);
	store_close(s2);
	key_free(&y);
}

/* Someone who stole a clerk's key forks its feed below the cut of the
 * revocation that followed. The fork must not count, in either arrival
 * order; as no box can tell which branch is the clerk's, the feed counts
 * only up to the fork, and the fork is listed for review. */
static void
test_thief_forks_below_cut(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct store *s2 = world_store(w, "b");
	struct store_device d;
	struct tf_author thief;
	struct tf_ent c[3], f, rv;
	int rc;

	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 1000, NULL, 2000, &c[0]);
	thief = w->ca;
	tf_posting(&w->ca, POST_WITHDRAW, "s1", NULL, 100, NULL, 0, &c[1]);
	tf_posting(&w->ca, POST_WITHDRAW, "s1", NULL, 200, NULL, 0, &c[2]);
	tf_revoke(&w->ra, w->clerk->pk, 3, 3000, &rv);
	tf_posting(&thief, POST_DEPOSIT, "s1", NULL, NUSA_AMOUNT_MAX, NULL,
	    2500, &f);

	/* The revocation first, then the thief's fork. */
	assert_int_equal(tf_ingest(w->s, c, 3, &st), 0);
	assert_int_equal(tf_balance(w->s, "s1"), 700);
	assert_int_equal(tf_ingest(w->s, &rv, 1, &st), 0);
	assert_int_equal(tf_ingest(w->s, &f, 1, &st), 0);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.revoked, 1);
	assert_int_equal(tf_balance(w->s, "s1"), 1000);

	/* The fork first, then the revocation. */
	assert_int_equal(tf_ingest(s2, c, 3, &st), 0);
	assert_int_equal(tf_ingest(s2, &f, 1, &st), 0);
	assert_int_equal(tf_balance(s2, "s1"), 700 + NUSA_AMOUNT_MAX);
	assert_int_equal(tf_ingest(s2, &rv, 1, &st), 0);
	assert_int_equal(tf_balance(s2, "s1"), 1000);

	d = device_of(s2, w->clerk->pk, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(d.fork_seq, 2);
	assert_int_equal(store_device_cut(&d), 1);
	tf_same_digest(w->s, s2);
	tf_verify_clean(w->s);
	tf_verify_clean(s2);
	store_close(s2);
}

/* A stolen admin key: a certificate forked in below the cut, with a clock
 * from before the revocation, must enrol nobody. */
static void
test_thief_admin_cert(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *mallory = key_generate();
	struct store *s2 = world_store(w, "b");
	struct store_device d;
	struct tf_author thief;
	struct tf_ent a[2], f, rv, m;
	int rc;

	tf_record(&w->aa, COLL_MEMBER, "m1", "name", "Siti", 2000, &a[0]);
	thief = w->aa;
	tf_record(&w->aa, COLL_MEMBER, "m2", "name", "Budi", 0, &a[1]);
	tf_revoke(&w->ra, w->admin->pk, 2, 3000, &rv);
	tf_cert(&thief, mallory->pk, ROLE_ADMIN, 2500, &f);
	{
		struct tf_author ma;

		tf_author_init(&ma, mallory, w->root->pk);
		tf_record(&ma, COLL_MEMBER, "m9", "name", "Palsu", 2600, &m);
	}

	assert_int_equal(tf_ingest(w->s, a, 2, &st), 0);
	assert_int_equal(tf_ingest(w->s, &rv, 1, &st), 0);
	assert_int_equal(tf_ingest(w->s, &f, 1, &st), 0);
	assert_int_equal(tf_ingest(w->s, &m, 1, &st), -NUSA_EUNENROLLED);

	assert_int_equal(tf_ingest(s2, a, 2, &st), 0);
	assert_int_equal(tf_ingest(s2, &f, 1, &st), 0);
	assert_int_equal(tf_ingest(s2, &m, 1, &st), 0);
	assert_int_equal(tf_ingest(s2, &rv, 1, &st), 0);
	d = device_of(s2, mallory->pk, &rc);
	assert_true(rc != 0 || d.role == ROLE_NONE);
	{
		char buf[32];

		assert_int_equal(field_of(s2, COLL_MEMBER, "m9", "name", buf,
		    sizeof(buf)), -NUSA_ENOTFOUND);
	}
	tf_same_digest(w->s, s2);
	tf_verify_clean(s2);
	store_close(s2);
	key_free(&mallory);
}

/* Two admins revoke each other. X's revocation of R (earlier clock)
 * wins, so R's has no power; but X wrote it past the cut R's revocation
 * names. A replica that hears R first must still take X's revocation in,
 * or it would keep X cut where no other replica does, for good. */
static void
test_mutual_revocation(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct key *r = key_generate();
	struct store *c = world_store(w, "c");
	struct store_device d;
	struct tf_author ra;
	struct tf_ent cert, x[6], rr;
	size_t i;
	int rc;

	tf_cert(&w->ra, r->pk, ROLE_ADMIN, 1500, &cert);
	for (i = 0; i < 5; i++)
		tf_record(&w->aa, COLL_MEMBER, "m1", "name", i % 2 ? "A" : "B",
		    2000 + i, &x[i]);
	tf_revoke(&w->aa, r->pk, 0, 2010, &x[5]);
	tf_author_init(&ra, r, w->root->pk);
	tf_revoke(&ra, w->admin->pk, 5, 2020, &rr);

	/* A: X's feed, then R's. */
	assert_int_equal(tf_ingest(w->s, &cert, 1, &st), 0);
	assert_int_equal(tf_ingest(w->s, x, 6, &st), 0);
	assert_int_equal(tf_ingest(w->s, &rr, 1, &st), 0);
	/* C: R's revocation first, then X's feed in two batches. */
	assert_int_equal(tf_ingest(c, &cert, 1, &st), 0);
	assert_int_equal(tf_ingest(c, &rr, 1, &st), 0);
	assert_int_equal(tf_ingest(c, x, 5, &st), 0);
	assert_int_equal(tf_ingest(c, x + 5, 1, &st), 0);

	d = device_of(c, w->admin->pk, &rc);
	assert_int_equal(rc, 0);
	assert_true(d.cut == UINT64_MAX);
	d = device_of(c, r->pk, &rc);
	assert_int_equal(d.cut, 0);
	tf_same_digest(w->s, c);
	tf_verify_clean(c);
	store_close(c);
	key_free(&r);
}

/* A clerk re-enrolled as a relay: what it posted as a clerk still counts
 * on every replica, whichever order they learn things in, and what it
 * posts as a relay counts nowhere. */
static void
test_role_at_clock(void **state)
{
	struct world *w = *state;
	struct store_ingest_stats st;
	struct store *s2 = world_store(w, "b");
	struct tf_ent before, recert, after;

	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 500, NULL, 2000, &before);
	tf_cert(&w->ra, w->clerk->pk, ROLE_RELAY, 3000, &recert);
	tf_posting(&w->ca, POST_DEPOSIT, "s1", NULL, 77, NULL, 4000, &after);

	assert_int_equal(tf_ingest(w->s, &before, 1, &st), 0);
	assert_int_equal(tf_balance(w->s, "s1"), 500);
	assert_int_equal(tf_ingest(w->s, &recert, 1, &st), 0);
	assert_int_equal(tf_ingest(w->s, &after, 1, &st), 0);

	assert_int_equal(tf_ingest(s2, &recert, 1, &st), 0);
	assert_int_equal(tf_ingest(s2, &before, 1, &st), 0);
	assert_int_equal(tf_ingest(s2, &after, 1, &st), 0);

	assert_int_equal(tf_balance(w->s, "s1"), 500);
	assert_int_equal(tf_balance(s2, "s1"), 500);
	tf_same_digest(w->s, s2);
	tf_verify_clean(w->s);
	tf_verify_clean(s2);
	store_close(s2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_check),
#define T(fn) cmocka_unit_test_setup_teardown(fn, world_setup, world_teardown)
		T(test_batch_signed_at_end),
		T(test_bad_signature),
		T(test_broken_chain),
		T(test_gap),
		T(test_other_network),
		T(test_unenrolled),
		T(test_forbidden),
		T(test_powerless_admin_entries),
		T(test_dated_certs_cost_nothing),
		T(test_demotion_any_order),
		T(test_thief_forks_below_cut),
		T(test_thief_admin_cert),
		T(test_mutual_revocation),
		T(test_role_at_clock),
		T(test_reingest_idempotent),
		T(test_clock_must_increase),
		T(test_fork_kept),
		T(test_revocation_orders),
		T(test_revoked_admin_cert),
		T(test_verify_tamper),
		T(test_many_forks),
		T(test_clock_ahead),
#undef T
		cmocka_unit_test(test_error_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
