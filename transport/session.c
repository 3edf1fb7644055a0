#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	size_t n;
};

struct refused {
	uint8_t author[NUSA_KEY_LEN];
	uint64_t head;
};

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
	/* receiving */
	uint32_t next_in;
	int peer_done;
	struct stream_reader *reader;
	struct proto_buf out;
	struct session_stats st;
};

int
session_new(struct session **out, const struct session_conf *c, int dialer,
    const uint8_t peer[NUSA_KEY_LEN])
{
	struct session *s;

	*out = NULL;
	if (c->batch_max == 0 || c->batch_max > NUSA_BATCH_MAX ||
	    c->credit == 0 || c->credit > PROTO_CREDIT_MAX || c->send == NULL)
		return -EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->c = *c;
	s->dialer = dialer;
	memcpy(s->peer, peer, NUSA_KEY_LEN);
	s->first_plan = 1;
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
 * end the session. */
static int
peer_fault(struct session *s, uint8_t code, const char *what, int rc)
{
	session_fail(s, code, what);
	s->error[0] = '\0';
	set_error(s, 1, what, rc);
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
	struct store_txn *t;
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
		proto_item_at(m, i, &it);
		if (i > 0 && memcmp(it.author, s->have->v[s->have->n -
		    1].author, NUSA_KEY_LEN) <= 0)
			return peer_fault(s, PROTO_ERR_PROTOCOL,
			    "HELLO vector out of order", -NUSA_EMALFORMED);
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
	if (rc == 0)
		rc = proto_welcome(&s->out, s->c.credit);
	/* Merge the two sorted vectors: every author where they differ. */
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
			i++;
			j++;
		}
	}
	vector_free(&ours);
	if (rc)
		return rc;
	proto_finish_items(&s->out);
	if ((rc = send_out(s)) != 0)
		return rc;
	return establish(s, m->credit);
}

/* Dialer: the listener told us where its vector differs from ours. */
static int
on_welcome(struct session *s, const struct proto_msg *m)
{
	struct proto_item it;
	uint32_t i;
	int rc;

	if (!s->dialer || s->established)
		return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected WELCOME",
		    -NUSA_EMALFORMED);
	for (i = 0; i < m->n; i++) {
		proto_item_at(m, i, &it);
		if ((rc = vector_set(s->have, it.author, it.seq)) != 0)
			return rc;
	}
	return establish(s, m->credit);
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
		last = codec_rd64(b.bodies[b.n - 1] + 66);
		if (vector_get(s->have, author) < last &&
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
		status = PROTO_ACK_REFUSED;
		head = 0;
		s->st.refused += b.n;
	}
	s->st.recv_entries += b.n;
	s->st.recv_batches++;
	s->st.last_batch = (int64_t)time(NULL);
	s->peer_done = 0;
	if ((rc = proto_ack(&s->out, m->number, status, head)) != 0)
		return rc;
	return send_out(s);
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

static int
on_ack(struct session *s, const struct proto_msg *m)
{
	struct flight *f = &s->flights[s->fhead];
	struct store_txn *t;
	struct refused *r;
	int rc;

	if (s->nflights == 0 || m->number != f->number)
		return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected ACK",
		    -NUSA_EMALFORMED);
	s->fhead = (s->fhead + 1) % PROTO_CREDIT_MAX;
	s->nflights--;
	if (m->status == PROTO_ACK_STORED) {
		if ((rc = vector_set(s->have, f->author, m->head)) != 0)
			return rc;
		retry_refused(s);
	} else {
		/* Not yet for this peer: stop offering the feed until it
		 * has taken something else (say its author's certificate). */
		if (s->nrefused < REFUSED_MAX) {
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
		check_synced(s);
		return 0;
	case PROTO_ERROR:
		snprintf(s->error, sizeof(s->error), "peer says: %s",
		    m->text);
		s->over = 1;
		return -ECONNRESET;
	}
	return peer_fault(s, PROTO_ERR_PROTOCOL, "unexpected message",
	    -NUSA_EMALFORMED);
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
	    s->first_plan ? STREAM_FORKS : 0, s->c.batch_max, s->c.byte_max);
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
			if (!s->need_plan)
				break;
			if ((rc = plan(s)) != 0)
				return rc;
			s->sent_done = 0;
		}
		if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
			return rc;
		more = stream_next(s->stream, t, &b);
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
		if ((rc = proto_done(&s->out)) != 0 ||
		    (rc = send_out(s)) != 0)
			return rc;
		s->sent_done = 1;
	}
	check_synced(s);
	return 0;
}

int
session_keepalive(struct session *s)
{
	int rc;

	if (s->over)
		return -ECONNRESET;
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
	struct lag l = { .have = s->have };
	size_t i;
	uint64_t ours;
	int rc;

	*ahead = *behind = 0;
	if (!s->established)
		return 0;
	if ((rc = store_begin(s->c.store, &t, STORE_READ)) != 0)
		return rc;
	rc = store_vector_each(t, lag_item, &l);
	for (i = 0; rc == 0 && i < s->have->n; i++) {
		ours = store_vector_get(t, s->have->v[i].author);
		if (s->have->v[i].seq > ours)
			*behind += s->have->v[i].seq - ours;
	}
	store_abort(t);
	*ahead = l.ahead;
	return rc;
}
