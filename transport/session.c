#include "session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "codec.h"
#include "store.h"
#include "stream.h"
#include "vector.h"

/* Feeds a peer refused (it lacks what they need, e.g. the certificate of
 * their author) that we try again once it has taken something else. */
#define REFUSED_MAX 64

struct flight {
	uint32_t number;
	uint8_t author[NUSA_KEY_LEN];
	uint64_t last_seq;
	size_t n, bytes;
	int64_t sent;		/* monotonic ms */
};

/* A batch should take about this long to cross the link. */
#define BATCH_TARGET_MS 250

struct refused {
	uint8_t author[NUSA_KEY_LEN];
	uint64_t head;
};

/* Feeds resent from seq 1 because the peer's head turned out to be
 * another branch of a fork (ACK GAP, or FORKS). */
#define RESENT_MAX 64

struct session {
	struct session_conf c;
	int dialer;
	uint8_t peer[NUSA_KEY_LEN];
	uint8_t network[NUSA_KEY_LEN];
	int established, over, peer_fault;
	char error[PROTO_TEXT_MAX + 64];
	/* what the peer holds, as far as we know */
	struct vector *have;
	/* sending */
	uint16_t peer_credit;
	struct stream *stream;
	int need_plan, first_plan;
	uint32_t next_out;
	struct flight flights[PROTO_CREDIT_MAX];
	size_t fhead, nflights;
	int sent_done;
	struct refused refused[REFUSED_MAX];
	size_t nrefused;
	struct vector *report;	/* have, with refused feeds at their heads */
	uint8_t resent[RESENT_MAX][NUSA_KEY_LEN];
	size_t nresent;
	int forks_asked, forks_answered;
	int ask_done;		/* the next DONE asks the peer for one */
	int64_t last_ack;	/* monotonic ms */
	int64_t last_in;	/* monotonic ms: the peer's last message */
	/* receiving */
	int peer_error;		/* code of the peer's ERROR */
	uint32_t next_in;
	int peer_done;
	struct stream_reader *reader;
	struct proto_buf out;
	struct session_stats st;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
session_new(struct session **out, const struct session_conf *c, int dialer,
    const uint8_t peer[NUSA_KEY_LEN])
{
	struct session *s;

	*out = NULL;
	if (c->batch_max == 0 || c->batch_max > NUSA_BATCH_MAX ||
	    c->credit == 0 || c->credit > PROTO_CREDIT_MAX || c->send == NULL ||
	    c->byte_min > c->byte_max)
		return -EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->c = *c;
	s->dialer = dialer;
	memcpy(s->peer, peer, NUSA_KEY_LEN);
	s->first_plan = 1;
	/* Start small: a slow link learns nothing from a first batch that
	 * takes seconds; a fast one grows past it in a few acks. */
	s->st.batch_bytes = c->byte_min ? c->byte_min * 2 : 0;
	if (s->st.batch_bytes > c->byte_max)
		s->st.batch_bytes = c->byte_max;
	if ((s->have = vector_new()) == NULL ||
	    (s->reader = stream_reader_new()) == NULL) {
		session_free(&s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void
session_free(struct session **sp)
{
	struct session *s;

	if (sp == NULL || (s = *sp) == NULL)
		return;
	vector_free(&s->have);
	vector_free(&s->report);
	stream_free(&s->stream);
	stream_reader_free(&s->reader);
	free(s->out.buf);
	free(s);
	*sp = NULL;
}

static int
send_out(struct session *s)
{
	int rc = s->c.send(s->c.ctx, s->out.buf, s->out.len);

	if (rc == 0) {
		s->st.bytes_out += s->out.len;
		s->st.msgs_out++;
	}
	return rc;
}

static void
set_error(struct session *s, int peer_fault, const char *what, int rc)
{
	if (s->error[0] == '\0')
		snprintf(s->error, sizeof(s->error), "%s%s%s", what,
		    rc ? ": " : "", rc ? nusa_strerror(rc) : "");
	s->peer_fault = peer_fault;
	s->over = 1;
}

int
session_fail(struct session *s, uint8_t code, const char *text)
{
	if (s->error[0] == '\0')
		snprintf(s->error, sizeof(s->error), "%s", text);
	s->over = 1;
	if (proto_error(&s->out, code, text) != 0)
		return -ENOMEM;
	return send_out(s);
}

/* The peer broke the protocol or sent what does not verify: tell it and
 * end the session. Returns rc. */
static int
peer_fault(struct session *s, uint8_t code, const char *what, int rc)
{
	set_error(s, 1, what, rc);
	if (proto_error(&s->out, code, what) == 0)
		send_out(s);
	return rc;
}

struct vec_copy {
	struct vector *v;
	struct proto_buf *b;	/* HELLO: items go out too */
};

static int
copy_item(const uint8_t *author, uint64_t seq, void *ctx)
{
	struct vec_copy *vc = ctx;
	int rc;

	if ((rc = vector_set(vc->v, author, seq)) != 0)
		return rc;
	return vc->b ? proto_put_item(vc->b, author, seq) : 0;
}

int
session_start(struct session *s)
{
	struct store_txn *t;
	struct vec_copy vc = { .v = s->have, .b = &s->out };
	int rc;

	if (!s->dialer)
		return -EINVAL;
	if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
		return rc;
	if ((rc = store_network(t, s->network, NULL, 0)) == 0 &&
	    (rc = proto_hello(&s->out, s->c.credit, s->network)) == 0)
		rc = store_vector_each(t, copy_item, &vc);
	store_abort(t);
	if (rc)
		return rc;
	/* Until WELCOME says otherwise, the peer has what we have. */
	proto_finish_items(&s->out);
	return send_out(s);
}

struct head_ctx {
	uint64_t seq;
	crypto_generichash_state h;
};

static int
head_item(const struct store_item *it, void *ctx)
{
	struct head_ctx *hc = ctx;

	if (it->seq != hc->seq)
		return 1;
	crypto_generichash_update(&hc->h, it->id, NUSA_HASH_LEN);
	return 0;
}

/* A short hash of every id at seq of author's feed here: two stores
 * whose heads are on different branches of a fork differ in it, which
 * their vectors (seq only) cannot show. */
static int
head_hash(struct store_txn *t, const uint8_t author[NUSA_KEY_LEN],
    uint64_t seq, uint8_t out[PROTO_HEAD_LEN])
{
	struct head_ctx hc = { .seq = seq };
	int rc;

	crypto_generichash_init(&hc.h, NULL, 0, PROTO_HEAD_LEN);
	rc = store_feed_each_after(t, author, seq, NULL, head_item, &hc);
	crypto_generichash_final(&hc.h, out, PROTO_HEAD_LEN);
	return rc < 0 ? rc : 0;
}

/* 1 if author's feed is being resent whole (resend_feed()). */
static int
resending(const struct session *s, const uint8_t author[NUSA_KEY_LEN])
{
	size_t i;

	for (i = 0; i < s->nresent; i++)
		if (memcmp(s->resent[i], author, NUSA_KEY_LEN) == 0)
			return 1;
	return 0;
}

/* Sends author's feed again from its start: the peer holds another
 * branch of it, and only the whole feed is sure to link. Once per
 * session and feed. Returns 0 or -ENOMEM. */
static int
resend_feed(struct session *s, const uint8_t author[NUSA_KEY_LEN])
{
	if (resending(s, author) || s->nresent == RESENT_MAX)
		return 0;
	memcpy(s->resent[s->nresent++], author, NUSA_KEY_LEN);
	s->need_plan = 1;
	return vector_set(s->have, author, 0);
}

static int
establish(struct session *s, uint16_t credit)
{
	s->established = 1;
	s->peer_credit = credit;
	s->need_plan = 1;
	s->st.established = (int64_t)time(NULL);
	return session_pump(s, 0);
}

/* Listener: the dialer's vector is what it holds; answer with ours where
 * it differs. */
static int
on_hello(struct session *s, const struct proto_msg *m)
{
	struct store_txn *t = NULL;
	crypto_generichash_state hs;
	uint8_t h[PROTO_HEAD_LEN];
	struct vec_copy vc;
	struct vector *ours;
	struct proto_item it;
	uint32_t i;
	size_t j;
	int rc, c;

	if (s->dialer || s->established)
		return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected HELLO",
		    -NUSA_EMALFORMED);
	memcpy(s->network, m->network, NUSA_KEY_LEN);
	for (i = 0; i < m->n; i++) {
		/* proto_decode() checked the order: appends, no search. */
		proto_item_at(m, i, &it);
		if ((rc = vector_set(s->have, it.author, it.seq)) != 0)
			return rc;
	}
	if ((ours = vector_new()) == NULL)
		return -ENOMEM;
	vc.v = ours;
	vc.b = NULL;
	if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0) {
		vector_free(&ours);
		return rc;
	}
	rc = store_vector_each(t, copy_item, &vc);
	store_abort(t);
	t = NULL;
	if (rc == 0)
		rc = proto_welcome(&s->out, s->c.credit);
	/* Merge the two sorted vectors: every author where they differ,
	 * and a digest of the heads of the feeds where they agree. */
	crypto_generichash_init(&hs, NULL, 0, PROTO_HEAD_LEN);
	if (rc == 0)
		rc = store_begin(s->c.store, &t, STORE_READ);
	for (i = 0, j = 0; rc == 0 && (i < s->have->n || j < ours->n);) {
		if (j == ours->n)
			c = -1;
		else if (i == s->have->n)
			c = 1;
		else
			c = memcmp(s->have->v[i].author, ours->v[j].author,
			    NUSA_KEY_LEN);
		if (c < 0) {
			rc = proto_put_item(&s->out, s->have->v[i].author, 0);
			i++;
		} else if (c > 0) {
			rc = proto_put_item(&s->out, ours->v[j].author,
			    ours->v[j].seq);
			j++;
		} else {
			if (s->have->v[i].seq != ours->v[j].seq)
				rc = proto_put_item(&s->out,
				    ours->v[j].author, ours->v[j].seq);
			else if ((rc = head_hash(t, ours->v[j].author,
			    ours->v[j].seq, h)) == 0) {
				crypto_generichash_update(&hs,
				    ours->v[j].author, NUSA_KEY_LEN);
				crypto_generichash_update(&hs, h, sizeof(h));
			}
			i++;
			j++;
		}
	}
	if (t)
		store_abort(t);
	crypto_generichash_final(&hs, h, sizeof(h));
	vector_free(&ours);
	if (rc)
		return rc;
	proto_finish_items(&s->out);
	proto_welcome_heads(&s->out, h);
	if ((rc = send_out(s)) != 0)
		return rc;
	return establish(s, m->credit);
}

/* Dialer: the listener told us where its vector differs from ours, and
 * a digest of its heads where they agree. If our heads of those feeds
 * digest otherwise, some feed forked with each of us on another branch:
 * FORKS lists our heads so that the listener can say which. */
static int
on_welcome(struct session *s, const struct proto_msg *m)
{
	struct store_txn *t;
	struct proto_item it;
	crypto_generichash_state hs;
	uint8_t h[PROTO_HEAD_LEN], mine[PROTO_HEAD_LEN];
	struct proto_buf forks = { 0 };
	uint32_t j;
	size_t i;
	int rc, c;

	if (!s->dialer || s->established)
		return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected WELCOME",
		    -NUSA_EMALFORMED);
	/* s->have still is our vector as HELLO sent it. */
	crypto_generichash_init(&hs, NULL, 0, PROTO_HEAD_LEN);
	if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
		return rc;
	rc = proto_forks(&forks);
	for (i = 0, j = 0; rc == 0 && i < s->have->n; i++) {
		c = 1;
		while (j < m->n) {
			proto_item_at(m, j, &it);
			c = memcmp(it.author, s->have->v[i].author,
			    NUSA_KEY_LEN);
			if (c >= 0)
				break;
			j++;
		}
		if (c == 0 && j < m->n)
			continue;	/* listed: the vectors differ */
		if ((rc = head_hash(t, s->have->v[i].author,
		    s->have->v[i].seq, h)) != 0)
			break;
		crypto_generichash_update(&hs, s->have->v[i].author,
		    NUSA_KEY_LEN);
		crypto_generichash_update(&hs, h, sizeof(h));
		rc = proto_put_fork(&forks, s->have->v[i].author,
		    s->have->v[i].seq, h);
	}
	store_abort(t);
	crypto_generichash_final(&hs, mine, sizeof(mine));
	for (j = 0; rc == 0 && j < m->n; j++) {
		proto_item_at(m, j, &it);
		rc = vector_set(s->have, it.author, it.seq);
	}
	if (rc == 0 && memcmp(mine, m->heads, sizeof(mine)) != 0) {
		proto_finish_items(&forks);
		s->forks_asked = 1;
		rc = s->c.send(s->c.ctx, forks.buf, forks.len);
		if (rc == 0) {
			s->st.bytes_out += forks.len;
			s->st.msgs_out++;
		}
	}
	free(forks.buf);
	if (rc)
		return rc;
	return establish(s, m->credit);
}

/* FORKS: the dialer's heads of the feeds where our vectors agree (we
 * answer with ours where they differ, and send those feeds whole), or
 * the listener's answer (we send those feeds whole too). */
static int
on_forks(struct session *s, const struct proto_msg *m)
{
	struct store_txn *t;
	struct proto_item it;
	uint8_t h[PROTO_HEAD_LEN];
	uint32_t i;
	int rc;

	/* One FORKS each way at most: the dialer's question (only after a
	 * heads mismatch), the listener's answer. */
	if ((s->dialer && !s->forks_asked) || s->forks_answered)
		return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected FORKS",
		    -NUSA_EMALFORMED);
	s->forks_answered = 1;
	if (s->dialer) {
		for (i = 0; i < m->n; i++) {
			proto_item_at(m, i, &it);
			if ((rc = resend_feed(s, it.author)) != 0)
				return rc;
		}
		return session_pump(s, 0);
	}
	if ((rc = proto_forks(&s->out)) != 0 ||
	    (rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
		return rc;
	for (i = 0; rc == 0 && i < m->n; i++) {
		proto_item_at(m, i, &it);
		if (store_vector_get(t, it.author) != it.seq ||
		    (rc = head_hash(t, it.author, it.seq, h)) != 0 ||
		    memcmp(h, it.head, sizeof(h)) == 0)
			continue;
		if ((rc = proto_put_fork(&s->out, it.author, it.seq, h)) == 0)
			rc = resend_feed(s, it.author);
	}
	store_abort(t);
	if (rc)
		return rc;
	proto_finish_items(&s->out);
	if ((rc = send_out(s)) != 0)
		return rc;
	return session_pump(s, 0);
}

static int
feed_refusal(int rc)
{
	return rc == -NUSA_EUNENROLLED || rc == -NUSA_EFORBIDDEN ||
	    rc == -NUSA_EGAP;
}

/* What only a peer can be blamed for: its bytes do not verify. */
static int
bad_entry(int rc)
{
	return rc == -NUSA_EMALFORMED || rc == -NUSA_EBADSIG ||
	    rc == -NUSA_EBADCHAIN || rc == -NUSA_ENETWORK ||
	    rc == -NUSA_ERANGE || rc == -NUSA_EVERSION;
}

static int
on_batch(struct session *s, const struct proto_msg *m)
{
	struct store_batch b;
	struct store_ingest_stats is;
	struct store_txn *t;
	uint8_t author[NUSA_KEY_LEN];
	uint64_t last, head;
	uint8_t status = PROTO_ACK_STORED;
	char what[96];
	int rc;

	if (!s->established || m->number != s->next_in)
		return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected BATCH",
		    -NUSA_EMALFORMED);
	s->next_in++;
	if ((rc = stream_reader_decode(s->reader, m->batch, m->batch_len,
	    &b)) != 0)
		return rc == -ENOMEM ? rc : peer_fault(s, PROTO_ERR_ENTRY,
		    "malformed batch", rc);
	if ((rc = store_begin(s->c.store, &t, STORE_WRITE)) != 0) {
		set_error(s, 0, "store", rc);
		return rc;
	}
	rc = store_ingest(t, &b, &is);
	if (rc == 0) {
		memcpy(author, b.bodies[0] + 34, NUSA_KEY_LEN);
		head = store_vector_get(t, author);
		if ((rc = store_commit(t)) != 0) {
			set_error(s, 0, "store", rc);
			return rc;
		}
		/* The peer holds what it sent: no need to send it back. Not
		 * so for a feed being resent whole: a fork's branches share
		 * seqs, and what the peer sent says nothing of ours. */
		last = codec_rd64(b.bodies[b.n - 1] + 66);
		if (!resending(s, author) &&
		    vector_get(s->have, author) < last &&
		    (rc = vector_set(s->have, author, last)) != 0)
			return rc;
		s->st.added += is.added;
		s->st.duplicates += is.duplicates;
		s->st.revoked += is.revoked;
	} else {
		store_abort(t);
		if (!feed_refusal(rc)) {
			if (!bad_entry(rc)) {
				set_error(s, 0, "store", rc);
				return rc;
			}
			snprintf(what, sizeof(what),
			    "batch %u, entry %zu does not verify",
			    (unsigned)m->number, is.bad_index + 1);
			return peer_fault(s, PROTO_ERR_ENTRY, what, rc);
		}
		status = rc == -NUSA_EGAP ? PROTO_ACK_GAP : PROTO_ACK_REFUSED;
		head = 0;
		s->st.refused += b.n;
		/* A gap means the peer's branch of this feed is not ours: it
		 * will send us its whole feed, and it lacks ours as much. */
		if (rc == -NUSA_EGAP && (rc = resend_feed(s, b.bodies[0] +
		    34)) != 0)
			return rc;
	}
	s->st.recv_entries += b.n;
	s->st.recv_batches++;
	s->st.last_batch = (int64_t)time(NULL);
	s->peer_done = 0;
	if ((rc = proto_ack(&s->out, m->number, status, head)) != 0 ||
	    (rc = send_out(s)) != 0)
		return rc;
	/* A gap gave us something to send (the feed whole). */
	return status == PROTO_ACK_GAP ? session_pump(s, 0) : 0;
}

static int
is_refused(const struct session *s, const uint8_t author[NUSA_KEY_LEN])
{
	size_t i;

	for (i = 0; i < s->nrefused; i++)
		if (memcmp(s->refused[i].author, author, NUSA_KEY_LEN) == 0)
			return 1;
	return 0;
}

static void
retry_refused(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nrefused; i++)
		vector_set(s->have, s->refused[i].author, s->refused[i].head);
	if (s->nrefused)
		s->need_plan = 1;
	s->nrefused = 0;
}

static void
check_synced(struct session *s)
{
	if (s->peer_done && s->sent_done && s->nflights == 0 &&
	    s->stream == NULL && !s->need_plan)
		s->st.synced = (int64_t)time(NULL);
}

/* Learns the link's pace from an acknowledged batch: its bytes over the
 * time since the previous ack (or since it was sent, if the pipe had
 * drained), and sets the size of the batches to come. */
static void
adapt(struct session *s, const struct flight *f)
{
	int64_t now = mono_ms(), since = f->sent > s->last_ack ? f->sent :
	    s->last_ack, dt = now - since;
	uint64_t sample, want;

	s->last_ack = now;
	if (s->c.byte_max == 0)
		return;
	sample = (uint64_t)f->bytes * 1000 / (uint64_t)(dt > 0 ? dt : 1);
	s->st.rate = s->st.rate ? (s->st.rate * 3 + sample) / 4 : sample;
	want = s->st.rate * BATCH_TARGET_MS / 1000;
	if (want < s->c.byte_min)
		want = s->c.byte_min;
	if (want > s->c.byte_max)
		want = s->c.byte_max;
	s->st.batch_bytes = (size_t)want;
	if (s->stream)
		stream_set_byte_max(s->stream, s->st.batch_bytes);
}

static int
on_ack(struct session *s, const struct proto_msg *m)
{
	struct flight *f = &s->flights[s->fhead];
	struct store_txn *t;
	struct refused *r;
	size_t i;
	int rc;

	if (s->nflights == 0 || m->number != f->number)
		return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected ACK",
		    -NUSA_EMALFORMED);
	s->fhead = (s->fhead + 1) % PROTO_CREDIT_MAX;
	s->nflights--;
	adapt(s, f);
	if (m->status == PROTO_ACK_STORED) {
		if ((rc = vector_set(s->have, f->author, m->head)) != 0)
			return rc;
		retry_refused(s);
	} else if (m->status == PROTO_ACK_GAP) {
		/* The peer's head of this feed is not ours: another branch
		 * of a fork. Batches after this one fail alike; the feed goes
		 * again from its start once they are done. */
		if ((rc = resend_feed(s, f->author)) != 0)
			return rc;
	} else {
		/* Not yet for this peer: stop offering the feed until it
		 * has taken something else (say its author's certificate).
		 * Later batches of the same feed were in flight already: the
		 * peer's head is the one noted at the first refusal. */
		for (i = 0; i < s->nrefused; i++)
			if (memcmp(s->refused[i].author, f->author,
			    NUSA_KEY_LEN) == 0)
				break;
		if (i == s->nrefused && s->nrefused < REFUSED_MAX) {
			r = &s->refused[s->nrefused++];
			memcpy(r->author, f->author, NUSA_KEY_LEN);
			r->head = vector_get(s->have, f->author);
		}
		if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
			return rc;
		rc = vector_set(s->have, f->author,
		    store_vector_get(t, f->author));
		store_abort(t);
		if (rc)
			return rc;
	}
	return session_pump(s, 0);
}

int
session_input(struct session *s, const struct proto_msg *m)
{
	if (s->over)
		return -ECONNRESET;
	s->st.msgs_in++;
	s->st.bytes_in += m->len;
	switch (m->type) {
	case PROTO_HELLO:
		return on_hello(s, m);
	case PROTO_WELCOME:
		return on_welcome(s, m);
	case PROTO_BATCH:
		return on_batch(s, m);
	case PROTO_ACK:
		if (!s->established)
			break;
		return on_ack(s, m);
	case PROTO_DONE:
		if (!s->established)
			break;
		s->peer_done = 1;
		if (m->flags & PROTO_DONE_ASK) {
			/* Answer once caught up: now if idle, else at the
			 * end of what is under way. */
			s->sent_done = 0;
			return session_pump(s, 0);
		}
		check_synced(s);
		return 0;
	case PROTO_FORKS:
		if (!s->established)
			break;
		return on_forks(s, m);
	case PROTO_ERROR:
		s->peer_error = m->code;
		snprintf(s->error, sizeof(s->error), "peer says: %s",
		    m->text);
		s->over = 1;
		return -ECONNRESET;
	}
	return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected message",
	    -NUSA_EMALFORMED);
}

int
session_receive(struct session *s, const uint8_t *p, size_t len)
{
	struct proto_msg m;
	int rc;

	if (s->over)
		return -ECONNRESET;
	s->last_in = mono_ms();
	if ((rc = proto_decode(&m, p, len)) != 0) {
		s->st.msgs_in++;
		s->st.bytes_in += len;
		return peer_fault(s, rc == -NUSA_EVERSION ? PROTO_ERR_VERSION :
		    PROTO_ERR_PROTOCOL, "malformed message", rc);
	}
	return session_input(s, &m);
}

static int
plan(struct session *s)
{
	struct store_txn *t;
	int rc;

	s->need_plan = 0;
	if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
		return rc;
	/* Only the first plan sends forked feeds from their fork: later
	 * ones would send them again and again. */
	rc = stream_open(&s->stream, t, s->have,
	    s->first_plan ? STREAM_FORKS : 0, s->c.batch_max,
	    s->st.batch_bytes);
	store_abort(t);
	s->first_plan = 0;
	return rc;
}

int
session_pump(struct session *s, int changed)
{
	struct store_txn *t;
	struct stream_batch b;
	struct flight *f;
	int rc, more;

	if (s->over)
		return -ECONNRESET;
	if (changed)
		s->need_plan = 1;
	if (!s->established)
		return 0;
	while (s->nflights < s->peer_credit) {
		if (s->stream == NULL) {
			/* A plan reads what the peer holds from its acks: wait
			 * for those in flight, or their batches go again. */
			if (!s->need_plan || s->nflights > 0)
				break;
			if ((rc = plan(s)) != 0)
				return rc;
			s->sent_done = 0;
		}
		if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
			return rc;
		more = stream_next(s->stream, t, &b);
		if (more == 1 && is_refused(s, b.author)) {
			/* The rest of a feed the peer cannot take yet: not
			 * sent (paid bytes); retry_refused() plans it again. */
			store_abort(t);
			s->st.skipped_entries += b.n;
			continue;
		}
		rc = more == 1 ? proto_batch(&s->out, s->next_out, b.data,
		    b.len) : more;
		store_abort(t);
		if (rc < 0)
			return rc;
		if (more == 0) {
			stream_free(&s->stream);
			continue;
		}
		f = &s->flights[(s->fhead + s->nflights) % PROTO_CREDIT_MAX];
		f->number = s->next_out++;
		memcpy(f->author, b.author, NUSA_KEY_LEN);
		f->last_seq = b.last_seq;
		f->n = b.n;
		f->bytes = s->out.len;
		f->sent = mono_ms();
		s->nflights++;
		if ((rc = send_out(s)) != 0)
			return rc;
		s->st.sent_entries += b.n;
		s->st.sent_batches++;
	}
	/* Caught up and acknowledged: say so once, so the peer knows when
	 * it last synced. */
	if (s->stream == NULL && !s->need_plan && s->nflights == 0 &&
	    !s->sent_done) {
		if ((rc = s->ask_done ? proto_done_request(&s->out) :
		    proto_done(&s->out)) != 0 || (rc = send_out(s)) != 0)
			return rc;
		s->sent_done = 1;
		s->ask_done = 0;
	}
	check_synced(s);
	return 0;
}

int
session_sync_now(struct session *s)
{
	if (s->over)
		return -ECONNRESET;
	/* Not in sync until the peer says so again. */
	s->peer_done = 0;
	s->ask_done = 1;
	return session_pump(s, 1);
}

int
session_keepalive(struct session *s, int64_t wait_max_ms)
{
	int64_t since;
	int rc;

	if (s->over)
		return -ECONNRESET;
	if (s->nflights) {
		since = mono_ms() - (s->last_in > s->flights[s->fhead].sent ?
		    s->last_in : s->flights[s->fhead].sent);
		if (since > wait_max_ms) {
			char what[96];

			snprintf(what, sizeof(what), "no answer for %" PRId64
			    " s with %zu batches unacknowledged", since / 1000,
			    s->nflights);
			set_error(s, 0, what, 0);
			return -ETIMEDOUT;
		}
	}
	if (!s->established || s->stream || s->nflights || !s->sent_done ||
	    s->need_plan)
		return 0;
	if ((rc = proto_done(&s->out)) != 0)
		return rc;
	return send_out(s);
}

int
session_established(const struct session *s)
{
	return s->established && !s->over;
}

const uint8_t *
session_peer(const struct session *s)
{
	return s->peer;
}

const struct session_stats *
session_stats(const struct session *s)
{
	return &s->st;
}

const char *
session_error(const struct session *s)
{
	return s->error;
}

int
session_peer_fault(const struct session *s)
{
	return s->peer_fault;
}

int
session_peer_error(const struct session *s)
{
	return s->peer_error;
}

const struct vector *
session_have(struct session *s)
{
	size_t i;

	if (s->nrefused == 0)
		return s->have;
	/* have holds our head for a refused feed (so that no plan offers
	 * it again): what the peer holds is the head noted at the refusal. */
	if (s->report == NULL && (s->report = vector_new()) == NULL)
		return NULL;
	s->report->n = 0;
	for (i = 0; i < s->have->n; i++)
		if (vector_set(s->report, s->have->v[i].author,
		    s->have->v[i].seq) != 0)
			return NULL;
	for (i = 0; i < s->nrefused; i++)
		if (vector_set(s->report, s->refused[i].author,
		    s->refused[i].head) != 0)
			return NULL;
	return s->report;
}

struct lag {
	const struct vector *have;
	uint64_t ahead;
};

static int
lag_item(const uint8_t *author, uint64_t seq, void *ctx)
{
	struct lag *l = ctx;
	uint64_t theirs = vector_get(l->have, author);

	if (seq > theirs)
		l->ahead += seq - theirs;
	return 0;
}

int
session_lag(struct session *s, uint64_t *ahead, uint64_t *behind)
{
	struct store_txn *t;
	struct lag l = { .have = session_have(s) };
	const struct vector *have = l.have;
	size_t i;
	uint64_t ours;
	int rc;

	*ahead = *behind = 0;
	if (!s->established)
		return 0;
	if (have == NULL)
		return -ENOMEM;
	if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
		return rc;
	rc = store_vector_each(t, lag_item, &l);
	for (i = 0; rc == 0 && i < have->n; i++) {
		ours = store_vector_get(t, have->v[i].author);
		if (have->v[i].seq > ours)
			*behind += have->v[i].seq - ours;
	}
	store_abort(t);
	*ahead = l.ahead;
	return rc;
}

uint64_t
session_peer_seq(const struct session *s, const uint8_t author[NUSA_KEY_LEN])
{
	return vector_get(s->have, author);
}
