#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
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
#include "proto.h"
#include "session.h"
#include "state.h"
#include "store.h"
#include "testfeed.h"
#include "testutil.h"
#include "vector.h"

/* Two sessions wired back to back in memory: what one side sends waits
 * in its queue until deliver() hands it, decoded, to the other. */
struct msg {
	uint8_t *p;
	size_t len;
};

struct side {
	struct session *s;
	struct store *store;
	uint8_t id[NUSA_KEY_LEN];
	struct msg *q;		/* sent, not yet delivered */
	size_t qhead, qlen, qcap;
	size_t sent[256], bytes[256];	/* by type */
	size_t acks_refused;
	uint8_t last_error;	/* code of the last ERROR sent */
	int outstanding;	/* BATCHes sent that no ACK answered yet */
	int max_outstanding;
	int fail_send;		/* make send fail with this */
};

struct pair {
	struct side d, l;	/* dialer, listener */
};

static int
side_send(void *ctx, const uint8_t *msg, size_t len)
{
	struct side *sd = ctx;
	struct msg *m;

	assert_true(len >= 1);
	if (sd->fail_send)
		return sd->fail_send;
	if (sd->qhead + sd->qlen == sd->qcap) {
		if (sd->qhead) {
			memmove(sd->q, sd->q + sd->qhead,
			    sd->qlen * sizeof(*sd->q));
			sd->qhead = 0;
		} else {
			sd->qcap = sd->qcap ? 2 * sd->qcap : 64;
			sd->q = realloc(sd->q, sd->qcap * sizeof(*sd->q));
			assert_non_null(sd->q);
		}
	}
	m = &sd->q[sd->qhead + sd->qlen++];
	assert_non_null(m->p = malloc(len));
	memcpy(m->p, msg, len);
	m->len = len;
	sd->sent[msg[0]]++;
	sd->bytes[msg[0]] += len;
	if (msg[0] == PROTO_BATCH && ++sd->outstanding > sd->max_outstanding)
		sd->max_outstanding = sd->outstanding;
	if (msg[0] == PROTO_ACK && len == 14 && msg[5] == PROTO_ACK_REFUSED)
		sd->acks_refused++;
	if (msg[0] == PROTO_ERROR && len >= 2)
		sd->last_error = msg[1];
	return 0;
}

static size_t
msgs_sent(const struct side *sd)
{
	size_t i, n = 0;

	for (i = 0; i < 256; i++)
		n += sd->sent[i];
	return n;
}

static size_t
bytes_sent(const struct side *sd)
{
	size_t i, n = 0;

	for (i = 0; i < 256; i++)
		n += sd->bytes[i];
	return n;
}

/* Drops what from has sent and not yet delivered: a cut link. */
static void
drop_queue(struct side *sd)
{
	size_t i;

	for (i = 0; i < sd->qlen; i++)
		free(sd->q[sd->qhead + i].p);
	sd->qhead = sd->qlen = 0;
}

/* The next message from has sent (which must be there). */
static struct msg *
peek(struct side *from)
{
	assert_true(from->qlen > 0);
	return &from->q[from->qhead];
}

/* Hands raw bytes to to's session, as the daemon does a frame. */
static int
input_raw(struct side *to, const uint8_t *p, size_t len)
{
	struct proto_msg m;

	if (proto_decode(&m, p, len) == 0 && m.type == PROTO_ACK)
		to->outstanding--;
	return session_receive(to->s, p, len);
}

/* Delivers from's oldest message to to. */
static int
deliver(struct side *from, struct side *to)
{
	struct msg m = *peek(from);
	int rc;

	from->qhead++;
	from->qlen--;
	rc = input_raw(to, m.p, m.len);
	free(m.p);
	return rc;
}

/* Delivers one message each way in turn until both queues are empty;
 * every message must be taken. Returns the messages delivered. */
static size_t
run(struct pair *p)
{
	size_t n = 0;
	int rc;

	while (p->d.qlen || p->l.qlen) {
		if (p->d.qlen) {
			if ((rc = deliver(&p->d, &p->l)) != 0)
				fail_msg("listener: %s: %s", nusa_strerror(rc),
				    session_error(p->l.s));
			n++;
		}
		if (p->l.qlen) {
			if ((rc = deliver(&p->l, &p->d)) != 0)
				fail_msg("dialer: %s: %s", nusa_strerror(rc),
				    session_error(p->d.s));
			n++;
		}
		assert_true(n < 1000000);
	}
	return n;
}

static void
side_new(struct side *sd, struct store *st, int dialer, size_t batch_max,
    uint16_t credit, const uint8_t *peer)
{
	struct session_conf c = {
		.store = st,
		.batch_max = batch_max,
		.credit = credit,
		.send = side_send,
		.ctx = sd,
	};

	sd->store = st;
	assert_int_equal(session_new(&sd->s, &c, dialer, peer), 0);
	assert_memory_equal(session_peer(sd->s), peer, NUSA_KEY_LEN);
	assert_int_equal(session_established(sd->s), 0);
}

/* A dialer on store ds and a listener on ls, not started. */
static void
pair_new(struct pair *p, struct store *ds, struct store *ls,
    size_t batch_max, uint16_t dcredit, uint16_t lcredit)
{
	memset(p, 0, sizeof(*p));
	memset(p->d.id, 0xd1, NUSA_KEY_LEN);
	memset(p->l.id, 0x1e, NUSA_KEY_LEN);
	side_new(&p->d, ds, 1, batch_max, dcredit, p->l.id);
	side_new(&p->l, ls, 0, batch_max, lcredit, p->d.id);
}

static void
side_free(struct side *sd)
{
	drop_queue(sd);
	free(sd->q);
	sd->q = NULL;
	sd->qcap = 0;
	session_free(&sd->s);
	assert_null(sd->s);
}

static void
pair_free(struct pair *p)
{
	side_free(&p->d);
	side_free(&p->l);
}

/* Starts and runs a session to its quiet end. */
static void
pair_sync(struct pair *p)
{
	assert_int_equal(session_start(p->d.s), 0);
	assert_int_equal(p->d.sent[PROTO_HELLO], 1);
	run(p);
}

static void
assert_lag(struct side *sd, uint64_t ahead, uint64_t behind)
{
	uint64_t a, b;

	assert_int_equal(session_lag(sd->s, &a, &b), 0);
	if (a != ahead || b != behind)
		fail_msg("lag %llu/%llu, expected %llu/%llu",
		    (unsigned long long)a, (unsigned long long)b,
		    (unsigned long long)ahead, (unsigned long long)behind);
}

/* Both sides consider themselves in sync, and the counts of each side's
 * messages agree with what the other saw. */
static void
assert_synced(struct pair *p)
{
	const struct session_stats *d = session_stats(p->d.s);
	const struct session_stats *l = session_stats(p->l.s);

	assert_int_equal(session_established(p->d.s), 1);
	assert_int_equal(session_established(p->l.s), 1);
	assert_true(d->established != 0);
	assert_true(l->established != 0);
	assert_true(d->synced != 0);
	assert_true(l->synced != 0);
	assert_lag(&p->d, 0, 0);
	assert_lag(&p->l, 0, 0);
	assert_int_equal(d->msgs_out, msgs_sent(&p->d));
	assert_int_equal(l->msgs_out, msgs_sent(&p->l));
	assert_int_equal(d->bytes_out, bytes_sent(&p->d));
	assert_int_equal(l->bytes_out, bytes_sent(&p->l));
	assert_int_equal(d->msgs_in, l->msgs_out);
	assert_int_equal(l->msgs_in, d->msgs_out);
	assert_int_equal(d->bytes_in, l->bytes_out);
	assert_int_equal(l->bytes_in, d->bytes_out);
	assert_int_equal(d->sent_batches, p->d.sent[PROTO_BATCH]);
	assert_int_equal(l->sent_batches, p->l.sent[PROTO_BATCH]);
	assert_int_equal(d->recv_batches, p->l.sent[PROTO_BATCH]);
	assert_int_equal(l->recv_batches, p->d.sent[PROTO_BATCH]);
	assert_int_equal(d->sent_entries, l->recv_entries);
	assert_int_equal(l->sent_entries, d->recv_entries);
	assert_int_equal(p->d.sent[PROTO_ERROR], 0);
	assert_int_equal(p->l.sent[PROTO_ERROR], 0);
	assert_int_equal(p->d.outstanding, 0);
	assert_int_equal(p->l.outstanding, 0);
	assert_string_equal(session_error(p->d.s), "");
	assert_string_equal(session_error(p->l.s), "");
}

/* Bundles move stores into place, as test_bundle.c does. */
static void
sync_to(struct store *from, struct store *to, const struct key *self)
{
	struct bundle_stats st;
	struct bundle_fault where;
	struct store_txn *t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	assert_non_null(f = open_memstream(&buf, &len));
	assert_int_equal(store_begin(from, &t, STORE_READ), 0);
	/* Signed by the importer: a member of the network. */
	assert_int_equal(bundle_export(t, f, NULL, self, BUNDLE_RAW, &st), 0);
	store_abort(t);
	assert_int_equal(fclose(f), 0);
	assert_non_null(f = fmemopen(buf, len, "r"));
	assert_int_equal(bundle_import(to, f, self, &st, &where), 0);
	fclose(f);
	free(buf);
}

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
count_feed(const uint8_t *author, uint64_t seq, void *ctx)
{
	(void)author;
	(void)seq;
	++*(size_t *)ctx;
	return 0;
}

static size_t
feeds_of(struct store *s)
{
	struct store_txn *t;
	size_t n = 0;

	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(store_vector_each(t, count_feed, &n), 0);
	store_abort(t);
	return n;
}

/* The office box with the root key: a clerk and an admin enrolled,
 * members, accounts, postings, and entries of all three feeds. */
struct net {
	char dir[64];
	struct store *office;
	struct key *root, *clerk, *admin;
};

static int
net_setup(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	struct store_txn *t;

	assert_non_null(n);
	testutil_tmpdir(n->dir);
	n->office = testutil_store(n->dir, "office", &n->root);
	assert_non_null(n->clerk = key_generate());
	assert_non_null(n->admin = key_generate());
	assert_int_equal(store_begin(n->office, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_enrol(t, n->root, n->clerk->pk, ROLE_CLERK),
	    0);
	assert_int_equal(ledger_enrol(t, n->root, n->admin->pk, ROLE_ADMIN),
	    0);
	assert_int_equal(ledger_member_add(t, n->root, "m1", "Siti", "Ende"),
	    0);
	assert_int_equal(ledger_account_open(t, n->root, "s1", "m1",
	    "sukarela"), 0);
	assert_int_equal(ledger_post(t, n->root, POST_DEPOSIT, "s1", NULL,
	    250000, "setoran", 20240301, NULL), 0);
	assert_int_equal(ledger_member_add(t, n->admin, "m2", "Budi", NULL),
	    0);
	assert_int_equal(ledger_post(t, n->clerk, POST_DEPOSIT, "s1", NULL,
	    5000, NULL, 20240302, NULL), 0);
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
	free(n);
	return 0;
}

/* A box of the network holding what the office holds now. */
static struct store *
box_copy(struct net *n, const char *name)
{
	struct store *s = testutil_store(n->dir, name, NULL);

	sync_to(n->office, s, n->clerk);
	tf_same_digest(n->office, s);
	return s;
}

/* A box that has joined the network and holds nothing. */
static struct store *
box_empty(struct net *n, const char *name)
{
	struct store *s = testutil_store(n->dir, name, NULL);

	tf_join(s, n->root->pk);
	return s;
}

static void
add_member(struct store *s, const struct key *k, const char *id,
    const char *name)
{
	struct store_txn *t;

	assert_int_equal(store_begin(s, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_member_add(t, k, id, name, NULL), 0);
	assert_int_equal(store_commit(t), 0);
}

/* Each side holds entries the other lacks; one session later both hold
 * everything, both are in sync and neither lags. */
static void
test_catch_up_both_ways(void **state)
{
	struct net *n = *state;
	const struct session_stats *d, *l;
	struct store *box = box_copy(n, "box");
	struct pair p;

	post(n->office, n->root, "s1", 100, 7);
	add_member(n->office, n->admin, "m3", "Wayan");
	post(box, n->clerk, "s1", 10, 5);
	add_member(box, n->clerk, "m4", "Ketut");

	/* The box dials. Batches of 3, credit 2 both ways. */
	pair_new(&p, box, n->office, 3, 2, 2);
	assert_lag(&p.d, 0, 0);
	assert_int_equal(session_start(p.d.s), 0);
	assert_int_equal(deliver(&p.d, &p.l), 0);
	assert_int_equal(session_established(p.l.s), 1);
	assert_lag(&p.l, 8, 6);
	assert_int_equal(peek(&p.l)->p[0], PROTO_WELCOME);
	assert_int_equal(deliver(&p.l, &p.d), 0);
	assert_int_equal(session_established(p.d.s), 1);
	assert_lag(&p.d, 6, 8);
	run(&p);
	tf_same_digest(n->office, box);
	assert_int_equal(tf_count(box), tf_count(n->office));
	assert_int_equal(tf_balance(box, "s1"), 250000 + 5000 + 721 + 60);
	assert_synced(&p);
	d = session_stats(p.d.s);
	l = session_stats(p.l.s);
	assert_int_equal(d->recv_entries, 8);
	assert_int_equal(d->added, 8);
	assert_int_equal(d->duplicates, 0);
	assert_int_equal(d->sent_entries, 6);
	assert_int_equal(l->added, 6);
	assert_int_equal(l->duplicates, 0);
	assert_int_equal(l->refused, 0);
	assert_int_equal(p.d.sent[PROTO_BATCH], 2);
	assert_int_equal(p.l.sent[PROTO_BATCH], 3 + 1);
	assert_true(p.l.max_outstanding <= 2);
	assert_true(p.d.max_outstanding <= 2);
	tf_verify_clean(box);
	tf_verify_clean(n->office);
	pair_free(&p);

	/* Again the other way round: the office dials. */
	post(n->office, n->clerk, "s1", 3, 4);
	post(box, n->root, "s1", 4, 2);
	pair_new(&p, n->office, box, 1, PROTO_CREDIT, PROTO_CREDIT_MAX);
	pair_sync(&p);
	tf_same_digest(n->office, box);
	assert_synced(&p);
	assert_int_equal(session_stats(p.d.s)->added, 2);
	assert_int_equal(session_stats(p.l.s)->added, 4);
	assert_int_equal(p.d.sent[PROTO_BATCH], 4);
	pair_free(&p);
	store_close(box);
}

/* Two boxes in step: HELLO and WELCOME, one round trip, then a DONE each
 * way, and nothing else. */
static void
test_in_sync_handshake(void **state)
{
	struct net *n = *state;
	struct store *box = box_copy(n, "box");
	size_t feeds = feeds_of(n->office);
	struct pair p;

	assert_int_equal(feeds, 3);
	pair_new(&p, box, n->office, NUSA_BATCH_MAX, PROTO_CREDIT,
	    PROTO_CREDIT);
	pair_sync(&p);
	assert_int_equal(p.d.sent[PROTO_HELLO], 1);
	assert_int_equal(p.l.sent[PROTO_WELCOME], 1);
	assert_int_equal(p.d.sent[PROTO_DONE], 1);
	assert_int_equal(p.l.sent[PROTO_DONE], 1);
	assert_int_equal(msgs_sent(&p.d) + msgs_sent(&p.l), 4);
	/* The whole handshake, DONEs included: under 64 + 40 per feed. */
	assert_true(p.d.bytes[PROTO_HELLO] + p.l.bytes[PROTO_WELCOME] +
	    p.d.bytes[PROTO_DONE] + p.l.bytes[PROTO_DONE] < 64 + 40 * feeds);
	assert_int_equal(p.d.bytes[PROTO_HELLO], 41 + 40 * feeds);
	assert_int_equal(p.l.bytes[PROTO_WELCOME], 9 + PROTO_HEAD_LEN);
	assert_int_equal(p.d.sent[PROTO_FORKS] + p.l.sent[PROTO_FORKS], 0);
	assert_synced(&p);
	assert_int_equal(session_stats(p.d.s)->recv_batches, 0);
	pair_free(&p);
	store_close(box);
}

/* After catch-up, new entries go as they come. */
static void
test_live_push(void **state)
{
	struct net *n = *state;
	struct store *box = box_copy(n, "box");
	size_t batches;
	struct pair p;

	pair_new(&p, box, n->office, NUSA_BATCH_MAX, PROTO_CREDIT,
	    PROTO_CREDIT);
	pair_sync(&p);
	assert_synced(&p);

	post(n->office, n->root, "s1", 1, 2);
	/* Not told of it: nothing goes. */
	assert_int_equal(session_pump(p.l.s, 0), 0);
	assert_int_equal(p.l.qlen, 0);
	assert_int_equal(session_pump(p.l.s, 1), 0);
	assert_int_equal(p.l.sent[PROTO_BATCH], 1);
	run(&p);
	tf_same_digest(n->office, box);
	assert_int_equal(tf_count(box), tf_count(n->office));

	/* The other way. */
	post(box, n->clerk, "s1", 2, 3);
	assert_int_equal(session_pump(p.d.s, 1), 0);
	run(&p);
	tf_same_digest(n->office, box);
	assert_int_equal(session_stats(p.l.s)->added, 3);

	/* What the office just took from the box does not go back. */
	batches = p.l.sent[PROTO_BATCH];
	assert_int_equal(session_pump(p.l.s, 1), 0);
	run(&p);
	assert_int_equal(p.l.sent[PROTO_BATCH], batches);

	/* Both write at once. */
	post(n->office, n->admin, "s1", 5, 1);
	post(box, n->clerk, "s1", 6, 1);
	assert_int_equal(session_pump(p.l.s, 1), 0);
	assert_int_equal(session_pump(p.d.s, 1), 0);
	run(&p);
	tf_same_digest(n->office, box);
	assert_int_equal(tf_count(box), tf_count(n->office));
	assert_synced(&p);
	tf_verify_clean(box);
	pair_free(&p);
	store_close(box);
}

/* An idle session says DONE again when asked; a busy one, or one not yet
 * established, says nothing; one that is over fails. */
static void
test_keepalive(void **state)
{
	struct net *n = *state;
	struct store *box = box_copy(n, "box");
	struct pair p;

	pair_new(&p, box, n->office, 2, PROTO_CREDIT, PROTO_CREDIT);
	assert_int_equal(session_keepalive(p.d.s, 60000), 0);
	assert_int_equal(session_keepalive(p.l.s, 60000), 0);
	assert_int_equal(p.d.qlen + p.l.qlen, 0);
	pair_sync(&p);
	assert_synced(&p);
	assert_int_equal(session_keepalive(p.l.s, 60000), 0);
	assert_int_equal(session_keepalive(p.d.s, 60000), 0);
	assert_int_equal(p.l.qlen, 1);
	assert_int_equal(peek(&p.l)->len, 1);
	assert_int_equal(peek(&p.l)->p[0], PROTO_DONE);
	assert_int_equal(p.d.qlen, 1);
	run(&p);
	assert_synced(&p);

	/* Busy: batches in flight. */
	post(n->office, n->root, "s1", 1, 10);
	assert_int_equal(session_pump(p.l.s, 1), 0);
	assert_int_equal(p.l.qlen, PROTO_CREDIT);
	assert_int_equal(session_keepalive(p.l.s, 60000), 0);
	assert_int_equal(p.l.qlen, PROTO_CREDIT);
	run(&p);
	tf_same_digest(n->office, box);
	assert_synced(&p);

	/* Busy and waited too long: the peer is taken for gone. */
	post(n->office, n->root, "s1", 1, 11);
	assert_int_equal(session_pump(p.l.s, 1), 0);
	assert_true(p.l.qlen > 0);
	assert_int_equal(session_keepalive(p.l.s, 60000), 0);
	assert_int_equal(session_keepalive(p.l.s, -1), -ETIMEDOUT);
	assert_non_null(strstr(session_error(p.l.s), "no answer"));
	assert_int_equal(session_keepalive(p.l.s, 60000), -ECONNRESET);
	pair_free(&p);
	pair_new(&p, box, n->office, 2, PROTO_CREDIT, PROTO_CREDIT);
	pair_sync(&p);
	tf_same_digest(n->office, box);
	assert_synced(&p);

	/* A send that fails is reported: the peer is gone. */
	p.l.fail_send = -EHOSTUNREACH;
	assert_int_equal(session_keepalive(p.l.s, 60000), -EHOSTUNREACH);
	p.l.fail_send = 0;
	assert_int_equal(session_fail(p.l.s, PROTO_ERR_BUSY, "bye"), 0);
	assert_int_equal(session_keepalive(p.l.s, 60000), -ECONNRESET);
	pair_free(&p);
	store_close(box);
}

/* The receiver's credit bounds the batches in flight, each way. */
static void
test_credit(void **state)
{
	struct net *n = *state;
	const uint16_t credits[] = { 1, 2, 5 };
	struct store *box;
	char name[32];
	struct pair p;
	size_t i;

	post(n->office, n->root, "s1", 1, 60);
	for (i = 0; i < sizeof(credits) / sizeof(credits[0]); i++) {
		snprintf(name, sizeof(name), "box%zu", i);
		box = box_empty(n, name);
		pair_new(&p, box, n->office, 2, credits[i], PROTO_CREDIT_MAX);
		pair_sync(&p);
		assert_int_equal(p.l.max_outstanding, credits[i]);
		assert_true(p.l.sent[PROTO_BATCH] > 30);
		assert_int_equal(p.d.sent[PROTO_BATCH], 0);
		tf_same_digest(n->office, box);
		assert_synced(&p);
		pair_free(&p);

		/* The dialer sends within the listener's credit. */
		post(box, n->clerk, "s1", 1, 20);
		pair_new(&p, box, n->office, 2, PROTO_CREDIT_MAX, credits[i]);
		pair_sync(&p);
		assert_int_equal(p.d.max_outstanding, credits[i]);
		assert_int_equal(p.d.sent[PROTO_BATCH], 10);
		tf_same_digest(n->office, box);
		assert_synced(&p);
		pair_free(&p);
		store_close(box);
	}
}

/* A device's feed whose first entries are older than the certificate
 * that enrols it (hand-made: its clock was behind). Streams order feeds
 * by the clock of their first entry, so the device's feed goes before
 * the admin's feed that holds its certificate, and a box that lacks the
 * certificate refuses it, then takes it once the certificate is in. */
struct late {
	char dir[64];
	struct key *root, *admin, *dev;
	struct store *a, *b;
	size_t nx;
};

static void
late_setup(struct late *w, size_t nx)
{
	struct tf_author ra, aa, xa;
	struct tf_ent g[2], m[2], *x;
	size_t i;

	memset(w, 0, sizeof(*w));
	w->nx = nx;
	testutil_tmpdir(w->dir);
	assert_non_null(w->root = key_generate());
	assert_non_null(w->admin = key_generate());
	assert_non_null(w->dev = key_generate());
	tf_author_init(&ra, w->root, w->root->pk);
	tf_author_init(&aa, w->admin, w->root->pk);
	tf_author_init(&xa, w->dev, w->root->pk);
	tf_network(&ra, "Koperasi Telat", 1000, &g[0]);
	tf_cert(&ra, w->admin->pk, ROLE_ADMIN, 0, &g[1]);
	tf_record(&aa, COLL_MEMBER, "m1", "name", "Siti", 9000, &m[0]);
	tf_cert(&aa, w->dev->pk, ROLE_CLERK, 0, &m[1]);
	assert_non_null(x = calloc(nx, sizeof(*x)));
	for (i = 0; i < nx; i++)
		tf_posting(&xa, POST_DEPOSIT, "s1", NULL, 10 + (int64_t)i,
		    NULL, i ? 0 : 2000, &x[i]);
	w->a = testutil_store(w->dir, "a", NULL);
	tf_join(w->a, w->root->pk);
	assert_int_equal(tf_ingest(w->a, g, 2, NULL), 0);
	assert_int_equal(tf_ingest(w->a, m, 2, NULL), 0);
	/* a holds every signature: its batches end at batch_max. */
	for (i = 0; i < nx; i++)
		assert_int_equal(tf_ingest(w->a, x + i, 1, NULL), 0);
	w->b = testutil_store(w->dir, "b", NULL);
	tf_join(w->b, w->root->pk);
	assert_int_equal(tf_ingest(w->b, g, 2, NULL), 0);
	/* Without the certificate, b cannot take the device's feed. */
	assert_int_equal(tf_ingest(w->b, x, nx, NULL), -NUSA_EUNENROLLED);
	free(x);
}

static void
late_teardown(struct late *w)
{
	store_close(w->a);
	store_close(w->b);
	testutil_rmtree(w->dir);
	key_free(&w->root);
	key_free(&w->admin);
	key_free(&w->dev);
}

static void
test_refused_then_retried(void **state)
{
	struct late w;
	struct pair p;

	(void)state;
	late_setup(&w, 3);
	pair_new(&p, w.b, w.a, NUSA_BATCH_MAX, PROTO_CREDIT, PROTO_CREDIT);
	pair_sync(&p);
	/* The device's feed came first, was refused, and came again after
	 * the admin's. */
	assert_int_equal(p.d.acks_refused, 1);
	assert_int_equal(session_stats(p.d.s)->refused, 3);
	assert_int_equal(p.l.sent[PROTO_BATCH], 3);
	assert_int_equal(session_stats(p.d.s)->added, 2 + 3);
	tf_same_digest(w.a, w.b);
	assert_int_equal(tf_count(w.b), tf_count(w.a));
	assert_synced(&p);
	tf_verify_clean(w.b);
	pair_free(&p);
	late_teardown(&w);
}

/* The same with the device's feed in several batches: every one of them
 * is refused, and the feed must still be offered again. (A bug once
 * recorded each refusal with the head the first one had already raised
 * to ours, so that retry_refused() left the peer's head at ours and the
 * feed was never sent again: on_ack() records a feed's first refusal
 * only.) */
static void
test_refused_feed_of_many_batches(void **state)
{
	struct late w;
	struct pair p;
	size_t ca, cb, refusals;
	uint64_t ahead, behind;
	int same;
	uint8_t da[NUSA_HASH_LEN], db[NUSA_HASH_LEN];

	(void)state;
	late_setup(&w, 6);
	pair_new(&p, w.b, w.a, 2, PROTO_CREDIT, PROTO_CREDIT);
	pair_sync(&p);
	refusals = p.d.acks_refused;
	assert_int_equal(session_lag(p.l.s, &ahead, &behind), 0);
	pair_free(&p);
	ca = tf_count(w.a);
	cb = tf_count(w.b);
	tf_digest(w.a, da);
	tf_digest(w.b, db);
	same = memcmp(da, db, NUSA_HASH_LEN) == 0;
	late_teardown(&w);
	assert_true(refusals >= 2);
	if (ca != cb || !same)
		fail_msg("after %zu refusals the dialer holds %zu of %zu "
		    "entries; the listener thinks it lags %llu", refusals, cb,
		    ca, (unsigned long long)ahead);
}

/* A feed of many batches refused at its first: the batches in flight are
 * refused, the rest is not sent at all (paid bytes), and until the feed
 * is retried the peer is not said to hold it (its receipt would make
 * bundles --for-peer leave the feed out). */
static void
test_refused_feed_not_streamed_on(void **state)
{
	struct late w;
	struct pair p;
	struct proto_msg m;
	const struct vector *have;
	uint64_t ahead, behind;
	int seen = 0;

	(void)state;
	late_setup(&w, 20);
	pair_new(&p, w.b, w.a, 2, PROTO_CREDIT, PROTO_CREDIT);
	assert_int_equal(session_start(p.d.s), 0);
	/* Until the listener has taken the first refusal. */
	while (!seen && (p.d.qlen || p.l.qlen)) {
		if (p.d.qlen) {
			seen = proto_decode(&m, peek(&p.d)->p,
			    peek(&p.d)->len) == 0 && m.type == PROTO_ACK &&
			    m.status == PROTO_ACK_REFUSED;
			assert_int_equal(deliver(&p.d, &p.l), 0);
		}
		if (!seen && p.l.qlen)
			assert_int_equal(deliver(&p.l, &p.d), 0);
	}
	assert_true(seen);
	have = session_have(p.l.s);
	assert_non_null(have);
	assert_int_equal(vector_get(have, w.dev->pk), 0);
	assert_int_equal(session_lag(p.l.s, &ahead, &behind), 0);
	assert_true(ahead >= 20);
	run(&p);
	/* Only the batches in flight at the refusal were refused. */
	assert_int_equal(p.d.acks_refused, PROTO_CREDIT);
	assert_true(session_stats(p.l.s)->skipped_entries > 0);
	tf_same_digest(w.a, w.b);
	assert_int_equal(tf_count(w.b), tf_count(w.a));
	assert_synced(&p);
	assert_int_equal(vector_get(session_have(p.l.s), w.dev->pk), 20);
	pair_free(&p);
	late_teardown(&w);
}

/* Every byte of a batch flipped in transit: the receiver ends the
 * session, blames the peer, says so in an ERROR, and stores nothing. */
static void
test_tampered_batch(void **state)
{
	struct net *n = *state;
	struct store *box = box_empty(n, "box");
	struct msg *m;
	struct pair p;
	size_t off, len = 0;
	int rc;

	for (off = 1;; off++) {
		pair_new(&p, box, n->office, 4, PROTO_CREDIT, PROTO_CREDIT);
		assert_int_equal(session_start(p.d.s), 0);
		assert_int_equal(deliver(&p.d, &p.l), 0);
		assert_int_equal(deliver(&p.l, &p.d), 0);
		m = peek(&p.l);
		assert_int_equal(m->p[0], PROTO_BATCH);
		len = m->len;
		if (off == len) {
			pair_free(&p);
			break;
		}
		m->p[off] ^= off & 1 ? 0x01 : 0x80;
		rc = deliver(&p.l, &p.d);
		if (rc == 0)
			fail_msg("byte %zu of %zu flipped: batch taken", off,
			    len);
		assert_true(rc < 0);
		assert_int_equal(session_peer_fault(p.d.s), 1);
		assert_int_equal(session_established(p.d.s), 0);
		assert_true(session_error(p.d.s)[0] != '\0');
		assert_int_equal(p.d.sent[PROTO_ERROR], 1);
		assert_int_equal(p.d.last_error, off < 5 ? PROTO_ERR_PROTOCOL :
		    PROTO_ERR_ENTRY);
		assert_int_equal(p.d.sent[PROTO_ACK], 0);
		assert_int_equal(tf_count(box), 0);
		/* It is over. */
		assert_int_equal(session_pump(p.d.s, 1), -ECONNRESET);
		assert_int_equal(deliver(&p.l, &p.d), -ECONNRESET);
		if (off == 40) {
			/* The sender hears why, and is not the one blamed. */
			while (p.d.qlen > 1)
				assert_int_equal(deliver(&p.d, &p.l), 0);
			assert_int_equal(deliver(&p.d, &p.l), -ECONNRESET);
			assert_int_equal(session_peer_fault(p.l.s), 0);
			assert_int_equal(session_established(p.l.s), 0);
			assert_non_null(strstr(session_error(p.l.s),
			    "peer says: "));
			assert_int_equal(p.l.sent[PROTO_ERROR], 0);
			assert_int_equal(session_pump(p.l.s, 1), -ECONNRESET);
		}
		pair_free(&p);
	}
	assert_true(len > 300);

	/* Untouched, the same batches go in. */
	pair_new(&p, box, n->office, 4, PROTO_CREDIT, PROTO_CREDIT);
	pair_sync(&p);
	tf_same_digest(n->office, box);
	assert_synced(&p);
	pair_free(&p);
	store_close(box);
}

/* The peer at fault: the session ends with an ERROR of code. */
static void
assert_fault(struct side *sd, int rc, uint8_t code)
{
	if (rc >= 0)
		fail_msg("input taken");
	assert_int_equal(session_peer_fault(sd->s), 1);
	assert_int_equal(session_established(sd->s), 0);
	assert_true(session_error(sd->s)[0] != '\0');
	assert_int_equal(sd->sent[PROTO_ERROR], 1);
	assert_int_equal(sd->last_error, code);
	assert_int_equal(session_pump(sd->s, 1), -ECONNRESET);
}

/* A copy of from's next message. */
static struct msg
copy_next(struct side *from)
{
	struct msg c = *peek(from);

	assert_non_null(c.p = malloc(c.len));
	memcpy(c.p, peek(from)->p, c.len);
	return c;
}

static void
test_protocol_faults(void **state)
{
	struct net *n = *state;
	struct store *box = box_empty(n, "box");
	struct store *twin = box_copy(n, "twin");
	struct proto_buf b = { 0 };
	uint8_t a1[NUSA_KEY_LEN], a2[NUSA_KEY_LEN];
	struct msg hello, welcome, b0, tmp;
	struct pair p;

	/* HELLO twice; HELLO to the dialer. */
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(session_start(p.d.s), 0);
	hello = copy_next(&p.d);
	assert_int_equal(deliver(&p.d, &p.l), 0);
	assert_fault(&p.l, input_raw(&p.l, hello.p, hello.len),
	    PROTO_ERR_PROTOCOL);
	assert_fault(&p.d, input_raw(&p.d, hello.p, hello.len),
	    PROTO_ERR_PROTOCOL);
	pair_free(&p);

	/* WELCOME twice; WELCOME to the listener. */
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(session_start(p.d.s), 0);
	assert_int_equal(deliver(&p.d, &p.l), 0);
	welcome = copy_next(&p.l);
	assert_int_equal(deliver(&p.l, &p.d), 0);
	assert_fault(&p.d, input_raw(&p.d, welcome.p, welcome.len),
	    PROTO_ERR_PROTOCOL);
	assert_fault(&p.l, input_raw(&p.l, welcome.p, welcome.len),
	    PROTO_ERR_PROTOCOL);
	pair_free(&p);

	/* Batches out of order, and one replayed. */
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(session_start(p.d.s), 0);
	assert_int_equal(deliver(&p.d, &p.l), 0);
	assert_int_equal(deliver(&p.l, &p.d), 0);
	assert_int_equal(p.l.qlen, 2);
	tmp = p.l.q[p.l.qhead];
	p.l.q[p.l.qhead] = p.l.q[p.l.qhead + 1];
	p.l.q[p.l.qhead + 1] = tmp;
	assert_fault(&p.d, deliver(&p.l, &p.d), PROTO_ERR_PROTOCOL);
	assert_int_equal(tf_count(box), 0);
	pair_free(&p);

	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(session_start(p.d.s), 0);
	assert_int_equal(deliver(&p.d, &p.l), 0);
	assert_int_equal(deliver(&p.l, &p.d), 0);
	b0 = copy_next(&p.l);
	assert_int_equal(deliver(&p.l, &p.d), 0);
	assert_int_equal(tf_count(box), 2);
	assert_fault(&p.d, input_raw(&p.d, b0.p, b0.len),
	    PROTO_ERR_PROTOCOL);
	assert_int_equal(tf_count(box), 2);
	pair_free(&p);

	/* An ACK for a batch that was not sent, and one for the wrong
	 * batch. */
	pair_new(&p, twin, n->office, 2, 2, 2);
	pair_sync(&p);
	assert_int_equal(proto_ack(&b, 0, PROTO_ACK_STORED, 1), 0);
	assert_fault(&p.l, input_raw(&p.l, b.buf, b.len), PROTO_ERR_PROTOCOL);
	assert_fault(&p.d, input_raw(&p.d, b.buf, b.len), PROTO_ERR_PROTOCOL);
	pair_free(&p);

	pair_new(&p, n->office, twin, 2, 2, 2);
	post(n->office, n->root, "s1", 1, 6);
	assert_int_equal(session_start(p.d.s), 0);
	assert_int_equal(deliver(&p.d, &p.l), 0);
	assert_int_equal(deliver(&p.l, &p.d), 0);
	assert_int_equal(p.d.sent[PROTO_BATCH], 2);
	assert_int_equal(proto_ack(&b, 1, PROTO_ACK_STORED, 1), 0);
	assert_fault(&p.d, input_raw(&p.d, b.buf, b.len), PROTO_ERR_PROTOCOL);
	pair_free(&p);

	/* Anything but HELLO before the session is established. */
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_fault(&p.l, input_raw(&p.l, b0.p, b0.len), PROTO_ERR_PROTOCOL);
	pair_free(&p);
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(proto_ack(&b, 0, PROTO_ACK_STORED, 1), 0);
	assert_fault(&p.l, input_raw(&p.l, b.buf, b.len), PROTO_ERR_PROTOCOL);
	pair_free(&p);
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(proto_done(&b), 0);
	assert_fault(&p.l, input_raw(&p.l, b.buf, b.len), PROTO_ERR_PROTOCOL);
	pair_free(&p);
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(session_start(p.d.s), 0);
	assert_fault(&p.d, input_raw(&p.d, b0.p, b0.len), PROTO_ERR_PROTOCOL);
	pair_free(&p);

	/* A HELLO vector out of author order, or naming an author twice. */
	memset(a1, 0x10, sizeof(a1));
	memset(a2, 0x20, sizeof(a2));
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(proto_hello(&b, 2, n->root->pk), 0);
	assert_int_equal(proto_put_item(&b, a2, 1), 0);
	assert_int_equal(proto_put_item(&b, a1, 1), 0);
	proto_finish_items(&b);
	assert_fault(&p.l, input_raw(&p.l, b.buf, b.len), PROTO_ERR_PROTOCOL);
	pair_free(&p);
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(proto_hello(&b, 2, n->root->pk), 0);
	assert_int_equal(proto_put_item(&b, a1, 1), 0);
	assert_int_equal(proto_put_item(&b, a1, 2), 0);
	proto_finish_items(&b);
	assert_fault(&p.l, input_raw(&p.l, b.buf, b.len), PROTO_ERR_PROTOCOL);
	pair_free(&p);

	/* The peer says ERROR: over, and not the peer's fault here. */
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(session_start(p.d.s), 0);
	assert_int_equal(proto_error(&b, PROTO_ERR_BUSY, "sibuk"), 0);
	assert_int_equal(input_raw(&p.d, b.buf, b.len), -ECONNRESET);
	assert_int_equal(session_peer_fault(p.d.s), 0);
	assert_string_equal(session_error(p.d.s), "peer says: sibuk");
	assert_int_equal(p.d.sent[PROTO_ERROR], 0);
	assert_int_equal(input_raw(&p.d, b.buf, b.len), -ECONNRESET);
	pair_free(&p);

	free(hello.p);
	free(welcome.p);
	free(b0.p);
	free(b.buf);
	store_close(twin);
	store_close(box);
}

/* docs/PROTOCOL.md: decoders reject vectors out of author order. A
 * HELLO's is checked (test_protocol_faults); a WELCOME's must be too.
 *
 * BUG (minor; transport/session.c, on_welcome()): a WELCOME whose items
 * are out of author order, or name an author twice, is taken; only
 * on_hello() checks the order. Harmless as vector_set() sorts, but the
 * code and the protocol document disagree. */
static void
test_welcome_out_of_order(void **state)
{
	struct net *n = *state;
	struct store *box = box_empty(n, "box");
	struct proto_buf b = { 0 };
	uint8_t a1[NUSA_KEY_LEN], a2[NUSA_KEY_LEN];
	struct pair p;
	int rc, fault;

	memset(a1, 0x10, sizeof(a1));
	memset(a2, 0x20, sizeof(a2));
	pair_new(&p, box, n->office, 2, 2, 2);
	assert_int_equal(session_start(p.d.s), 0);
	assert_int_equal(proto_welcome(&b, 2), 0);
	assert_int_equal(proto_put_item(&b, a2, 1), 0);
	assert_int_equal(proto_put_item(&b, a1, 1), 0);
	proto_finish_items(&b);
	rc = input_raw(&p.d, b.buf, b.len);
	fault = session_peer_fault(p.d.s);
	pair_free(&p);
	free(b.buf);
	store_close(box);
	if (rc == 0 || !fault)
		fail_msg("BUG: a WELCOME vector out of author order is "
		    "taken (%s)", rc ? nusa_strerror(rc) : "0");
}

static void
test_api_misuse(void **state)
{
	struct net *n = *state;
	struct session_conf c = {
		.store = n->office,
		.batch_max = 4,
		.credit = 2,
		.send = side_send,
	};
	uint8_t peer[NUSA_KEY_LEN] = { 7 };
	struct session *s = (struct session *)&c;
	struct side sd;

	memset(&sd, 0, sizeof(sd));
	c.ctx = &sd;
	c.batch_max = 0;
	assert_int_equal(session_new(&s, &c, 1, peer), -EINVAL);
	assert_null(s);
	c.batch_max = NUSA_BATCH_MAX + 1;
	assert_int_equal(session_new(&s, &c, 1, peer), -EINVAL);
	c.batch_max = 4;
	c.credit = 0;
	assert_int_equal(session_new(&s, &c, 1, peer), -EINVAL);
	c.credit = PROTO_CREDIT_MAX + 1;
	assert_int_equal(session_new(&s, &c, 1, peer), -EINVAL);
	c.credit = 2;
	c.send = NULL;
	assert_int_equal(session_new(&s, &c, 1, peer), -EINVAL);
	c.send = side_send;

	/* Only a dialer starts. */
	assert_int_equal(session_new(&s, &c, 0, peer), 0);
	assert_int_equal(session_start(s), -EINVAL);
	assert_int_equal(sd.qlen, 0);
	/* Pumping before the session is established sends nothing. */
	assert_int_equal(session_pump(s, 1), 0);
	assert_int_equal(sd.qlen, 0);
	session_free(&s);
	assert_null(s);
	session_free(&s);
	session_free(NULL);

	/* A send that fails fails the call. */
	assert_int_equal(session_new(&s, &c, 1, peer), 0);
	sd.fail_send = -EPIPE;
	assert_int_equal(session_start(s), -EPIPE);
	sd.fail_send = 0;
	/* session_fail() says why, once, and ends the session. */
	assert_int_equal(session_fail(s, PROTO_ERR_DENIED, "dicabut"), 0);
	assert_int_equal(sd.sent[PROTO_ERROR], 1);
	assert_int_equal(sd.last_error, PROTO_ERR_DENIED);
	assert_string_equal(session_error(s), "dicabut");
	assert_int_equal(session_peer_fault(s), 0);
	assert_int_equal(session_pump(s, 1), -ECONNRESET);
	session_free(&s);
	side_free(&sd);
}

/* A link cut mid catch-up: a new session resumes from what the receiver
 * committed, and at most one batch arrives twice. */
static void
test_resume_after_cut(void **state)
{
	struct net *n = *state;
	const size_t cuts[] = { 2, 3, 4, 5, 6, 9, 20, 25 };
	const struct session_stats *st;
	struct store *box;
	size_t i, k, partial, total;
	char name[32];
	struct pair p;
	int box_dials;

	post(n->office, n->root, "s1", 1, 100);
	total = tf_count(n->office);
	for (i = 0; i < 2 * sizeof(cuts) / sizeof(cuts[0]); i++) {
		box_dials = i % 2 == 0;
		snprintf(name, sizeof(name), "box%zu", i);
		box = box_empty(n, name);
		if (box_dials)
			pair_new(&p, box, n->office, 8, 2, 2);
		else
			pair_new(&p, n->office, box, 8, 2, 2);
		assert_int_equal(session_start(p.d.s), 0);
		for (k = 0; k < cuts[i / 2] && (p.d.qlen || p.l.qlen);) {
			if (p.d.qlen && k++ < cuts[i / 2])
				assert_int_equal(deliver(&p.d, &p.l), 0);
			if (p.l.qlen && k++ < cuts[i / 2])
				assert_int_equal(deliver(&p.l, &p.d), 0);
		}
		pair_free(&p);
		partial = tf_count(box);
		if (partial >= total)
			fail_msg("cut %zu: nothing left to resume",
			    cuts[i / 2]);

		if (box_dials)
			pair_new(&p, box, n->office, 8, 2, 2);
		else
			pair_new(&p, n->office, box, 8, 2, 2);
		pair_sync(&p);
		tf_same_digest(n->office, box);
		assert_int_equal(tf_count(box), total);
		assert_synced(&p);
		st = session_stats(box_dials ? p.d.s : p.l.s);
		assert_int_equal(st->added, total - partial);
		assert_int_equal(st->recv_entries, st->added + st->duplicates);
		if (st->duplicates > 8)
			fail_msg("cut %zu: %llu entries arrived twice",
			    cuts[i / 2], (unsigned long long)st->duplicates);
		pair_free(&p);
		store_close(box);
	}
}

/* The clerk's box and a copy restored from its backup both write on:
 * its feed forks. Once the office holds both branches, a session brings
 * the restored box the branch it lacks though its vector is as high. */
static void
test_forked_feed(void **state)
{
	struct net *n = *state;
	struct store *cb, *rb;
	struct pair p;
	uint64_t dups;
	size_t batches;

	store_close(box_copy(n, "clerkbox"));
	testutil_copy(n->dir, "clerkbox", "restored");
	cb = testutil_reopen(n->dir, "clerkbox");
	rb = testutil_reopen(n->dir, "restored");
	post(cb, n->clerk, "s1", 11, 2);
	post(rb, n->clerk, "s1", 21, 2);
	sync_to(cb, n->office, n->root);
	sync_to(rb, n->office, n->root);
	assert_int_equal(tf_balance(n->office, "s1"), 255000 + 23 + 43);

	pair_new(&p, rb, n->office, 2, 2, 2);
	pair_sync(&p);
	tf_same_digest(n->office, rb);
	assert_synced(&p);
	/* Once: a live push later sends what is new, not the fork again. */
	dups = session_stats(p.d.s)->duplicates;
	batches = p.l.sent[PROTO_BATCH];
	post(n->office, n->root, "s1", 1, 1);
	assert_int_equal(session_pump(p.l.s, 1), 0);
	run(&p);
	assert_int_equal(p.l.sent[PROTO_BATCH], batches + 1);
	assert_int_equal(session_stats(p.d.s)->duplicates, dups);
	tf_same_digest(n->office, rb);
	pair_free(&p);
	pair_new(&p, n->office, cb, 2, 2, 2);
	pair_sync(&p);
	tf_same_digest(n->office, cb);
	assert_synced(&p);
	tf_verify_clean(cb);
	pair_free(&p);
	store_close(cb);
	store_close(rb);
}

/* A clerk's box and a copy of it (restored from a backup) each write on
 * the same feed: two postings on the box, `more` on the copy. The box
 * syncs with the office first, so the office holds the box's branch. */
static void
fork_boxes(struct net *n, const char *box, const char *copy, int more,
    struct store **cb, struct store **rb)
{
	struct pair p;

	store_close(box_copy(n, box));
	testutil_copy(n->dir, box, copy);
	*cb = testutil_reopen(n->dir, box);
	*rb = testutil_reopen(n->dir, copy);
	post(*cb, n->clerk, "s1", 11, 2);
	post(*rb, n->clerk, "s1", 21, more);
	pair_new(&p, *cb, n->office, 2, 2, 2);
	pair_sync(&p);
	tf_same_digest(n->office, *cb);
	pair_free(&p);
}

/* The same two branches, but each box meets the office only by session:
 * the office holds the first branch when the restored box, as high on
 * the feed, dials. Neither side knows of the fork, the vectors agree,
 * and both sides declare themselves in sync.
 *
 * BUG (protocol, transport/session.c): a version vector holds the seq
 * of a feed's head, not which entry it is, so two boxes holding different
 * branches at one height exchange nothing; with unequal heights the
 * longer branch is refused (-NUSA_EGAP) on every retry. Neither box ever
 * learns the other's branch by sync. */
static void
test_fork_unknown_to_both(void **state)
{
	struct net *n = *state;
	uint8_t da[NUSA_HASH_LEN], db[NUSA_HASH_LEN];
	struct store *cb, *rb;
	struct pair p;
	int64_t bo, br;
	uint64_t ahead, behind;
	int synced;

	fork_boxes(n, "clerkbox", "restored", 2, &cb, &rb);
	pair_new(&p, rb, n->office, 2, 2, 2);
	pair_sync(&p);
	synced = session_stats(p.d.s)->synced && session_stats(p.l.s)->synced;
	assert_int_equal(session_lag(p.d.s, &ahead, &behind), 0);
	pair_free(&p);
	tf_digest(n->office, da);
	tf_digest(rb, db);
	bo = tf_balance(n->office, "s1");
	br = tf_balance(rb, "s1");
	store_close(cb);
	store_close(rb);
	if (memcmp(da, db, NUSA_HASH_LEN) != 0)
		fail_msg("BUG: after a session that calls itself in sync (%d, "
		    "lag %llu/%llu) the office has s1 = %lld and the restored "
		    "box %lld (both branches: %d)", synced,
		    (unsigned long long)ahead, (unsigned long long)behind,
		    (long long)bo, (long long)br, 255000 + 23 + 43);
}

/* The restored box's branch is longer: the first batch past the office's
 * head is acknowledged GAP, and the feed goes whole. */
static void
test_fork_unequal_heights(void **state)
{
	struct net *n = *state;
	struct store *cb, *rb;
	struct pair p;

	fork_boxes(n, "clerkbox2", "restored2", 5, &cb, &rb);
	pair_new(&p, rb, n->office, 2, 2, 2);
	pair_sync(&p);
	assert_synced(&p);
	pair_free(&p);
	/* Both branches everywhere: 11+12 and 21..25 on top of what the
	 * copy held. */
	tf_same_digest(n->office, rb);
	assert_int_equal(tf_balance(n->office, "s1") -
	    tf_balance(cb, "s1"), 21 + 22 + 23 + 24 + 25);
	store_close(cb);
	store_close(rb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, net_setup, net_teardown)
		T(test_catch_up_both_ways),
		T(test_in_sync_handshake),
		T(test_live_push),
		T(test_credit),
		T(test_keepalive),
		T(test_tampered_batch),
		T(test_protocol_faults),
		T(test_welcome_out_of_order),
		T(test_api_misuse),
		T(test_resume_after_cut),
		T(test_forked_feed),
		T(test_fork_unknown_to_both),
		T(test_fork_unequal_heights),
#undef T
		cmocka_unit_test(test_refused_then_retried),
		cmocka_unit_test(test_refused_feed_of_many_batches),
		cmocka_unit_test(test_refused_feed_not_streamed_on),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
