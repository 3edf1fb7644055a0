#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "payload.h"
#include "vector.h"

/* Open runs of entries per feed: forks make a feed a tree, so several
 * chains may be open at once. Runs keep ids only (8 KiB each). A relay
 * holds signatures only at the ends of the batches it received, so a run
 * must stay open until a signature vouches for it: runs grow as branches
 * need, up to STREAM_RUNS_MAX; past that (a feed forked a thousand ways)
 * the oldest run is closed and its unsigned tail left out. */
#define STREAM_RUNS	8
#define STREAM_RUNS_MAX 1024
/* Batches ready to hand out: closing every run at a feed's end queues
 * at most one per run, an entry at most two. */
#define QUEUE_FOR(runs) ((runs) + 2)

struct run {
	uint8_t ids[NUSA_BATCH_MAX][NUSA_HASH_LEN];
	size_t n;
	long last_sig;		/* index of the last signed entry, or -1 */
	size_t bytes;		/* encoded, if flushed now */
	size_t sig_bytes;	/* encoded, up to and with last_sig */
	uint64_t age;
};

struct feed {
	uint8_t pk[NUSA_KEY_LEN];
	uint64_t from;
	int root;
	uint64_t first_hlc;
};

struct ready {
	uint8_t *buf;
	size_t len, cap, n;
	uint8_t author[NUSA_KEY_LEN];
	uint64_t first_seq, last_seq;
};

struct stream {
	struct feed *feeds;
	size_t nfeeds, cap;
	size_t fi;		/* the feed being read */
	uint64_t pos_seq;	/* last entry read of it, if pos_valid */
	uint8_t pos_id[NUSA_HASH_LEN];
	int pos_valid;
	struct run *runs;
	size_t nruns;
	uint64_t clock;
	struct ready *q;	/* a ring of QUEUE_FOR(nruns) */
	size_t qhead, qlen;
	int handed;		/* q[qhead - 1] is out with the caller */
	size_t batch_max, byte_max;
	struct stream_stats st;
	/* while reading */
	struct store_txn *t;
	int err;
};

size_t
stream_put_entry(uint8_t *out, const uint8_t *body, size_t len, int first)
{
	if (len < ENTRY_HEADER_LEN || len > ENTRY_BODY_MAX)
		return 0;
	if (first) {
		codec_be32(out, (uint32_t)len);
		memcpy(out + 4, body, len);
		return 4 + len;
	}
	codec_be32(out, (uint32_t)(len - STREAM_CHAIN_IMPLIED));
	memcpy(out + 4, body, STREAM_CHAIN_FROM);
	memcpy(out + 4 + STREAM_CHAIN_FROM, body + STREAM_CHAIN_TO,
	    len - STREAM_CHAIN_TO);
	return 4 + len - STREAM_CHAIN_IMPLIED;
}

void
stream_chain_restore(const uint8_t *prev, size_t prev_len, uint8_t *body)
{
	uint8_t id[NUSA_HASH_LEN];

	memcpy(body + STREAM_CHAIN_FROM, prev + STREAM_CHAIN_FROM,
	    66 - STREAM_CHAIN_FROM);
	codec_be64(body + 66, codec_rd64(prev + 66) + 1);
	entry_id(id, prev, prev_len);
	memcpy(body + 74, id, NUSA_HASH_LEN);
}

/* Encodes the first n entries of run r as one batch at the queue's tail
 * and keeps the rest. */
static int
run_flush(struct stream *x, struct run *r, size_t n)
{
	struct ready *q;
	const uint8_t *body, *sig = NULL;
	size_t i, len, need, w;
	int rc;

	if (n == 0)
		return 0;
	if (x->qlen == QUEUE_FOR(x->nruns))
		return -NUSA_ECORRUPT;	/* cannot happen: see QUEUE_FOR */
	q = &x->q[(x->qhead + x->qlen) % QUEUE_FOR(x->nruns)];
	q->len = 2;
	for (i = 0; i < n; i++) {
		rc = store_entry(x->t, r->ids[i], &body, &len,
		    i == n - 1 ? &sig : NULL);
		if (rc)
			return rc == -NUSA_ENOTFOUND ? -NUSA_ECORRUPT : rc;
		need = q->len + 4 + len + NUSA_SIG_LEN;
		if (need > q->cap) {
			size_t cap = q->cap ? q->cap : 4096;
			uint8_t *nb;

			while (cap < need)
				cap *= 2;
			if ((nb = realloc(q->buf, cap)) == NULL)
				return -ENOMEM;
			q->buf = nb;
			q->cap = cap;
		}
		if ((w = stream_put_entry(q->buf + q->len, body, len,
		    i == 0)) == 0)
			return -NUSA_ECORRUPT;
		q->len += w;
		if (i == 0) {
			memcpy(q->author, body + 34, NUSA_KEY_LEN);
			q->first_seq = codec_rd64(body + 66);
		}
		if (i == n - 1)
			q->last_seq = codec_rd64(body + 66);
	}
	if (sig == NULL)
		return -NUSA_ECORRUPT;
	memcpy(q->buf + q->len, sig, NUSA_SIG_LEN);
	q->len += NUSA_SIG_LEN;
	codec_be16(q->buf, (uint16_t)n);
	q->n = n;
	x->qlen++;
	x->st.entries += n;
	x->st.batches++;
	memmove(r->ids, r->ids + n, (r->n - n) * NUSA_HASH_LEN);
	r->n -= n;
	r->last_sig = r->last_sig >= (long)n ? r->last_sig - (long)n : -1;
	/* What stays is unsigned (see the callers): it will start a batch,
	 * whole, so count the implied bytes back in. */
	r->bytes = r->n ? 2 + r->bytes - r->sig_bytes + STREAM_CHAIN_IMPLIED :
	    2;
	r->sig_bytes = 0;
	return 0;
}

/* Flushes a run up to its last signature; an unsigned tail cannot be
 * vouched for, so it is counted and dropped. */
static int
run_close(struct stream *x, struct run *r)
{
	int rc = run_flush(x, r, (size_t)(r->last_sig + 1));

	x->st.skipped += r->n;
	r->n = 0;
	r->last_sig = -1;
	r->bytes = 2;
	r->sig_bytes = 0;
	return rc;
}

static void
run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	r->last_sig = -1;
	r->bytes = 2;
}

/* Doubles the runs (and the queue with them). Only while the queue is
 * empty, so that the ring can start afresh. Returns 0 or -ENOMEM. */
static int
runs_grow(struct stream *x)
{
	size_t n = x->nruns * 2, i;
	struct run *r;
	struct ready *q;

	if ((r = realloc(x->runs, n * sizeof(*r))) == NULL)
		return -ENOMEM;
	x->runs = r;
	for (i = x->nruns; i < n; i++)
		run_init(&x->runs[i]);
	if ((q = realloc(x->q, QUEUE_FOR(n) * sizeof(*q))) == NULL)
		return -ENOMEM;
	x->q = q;
	memset(x->q + QUEUE_FOR(x->nruns), 0,
	    (QUEUE_FOR(n) - QUEUE_FOR(x->nruns)) * sizeof(*q));
	x->qhead = 0;
	x->nruns = n;
	return 0;
}

static int
take_item(const struct store_item *it, void *ctx)
{
	struct stream *x = ctx;
	const uint8_t *prev = it->body + 74;
	struct run *r = NULL, *oldest = NULL;
	size_t i, enc;
	int rc;

	if (it->len < ENTRY_HEADER_LEN)
		return -NUSA_ECORRUPT;
	for (i = 0; i < x->nruns && r == NULL; i++) {
		struct run *c = &x->runs[i];

		if (c->n && memcmp(c->ids[c->n - 1], prev, NUSA_HASH_LEN) == 0)
			r = c;
	}
	if (r == NULL) {
		/* A new chain: the first of the feed, or a fork branch. */
		for (i = 0; i < x->nruns && r == NULL; i++)
			if (x->runs[i].n == 0)
				r = &x->runs[i];
		if (r == NULL && x->nruns < STREAM_RUNS_MAX && x->qlen == 0) {
			if ((rc = runs_grow(x)) != 0)
				return rc;
			r = &x->runs[x->nruns / 2];
		}
		for (i = 0; i < x->nruns && r == NULL; i++)
			if (oldest == NULL || x->runs[i].age < oldest->age)
				oldest = &x->runs[i];
		if (r == NULL) {
			if ((rc = run_close(x, oldest)) != 0)
				return rc;
			r = oldest;
		}
	}
	enc = 4 + (r->n ? it->len - STREAM_CHAIN_IMPLIED : it->len);
	/* Full: end the batch at its last signature. Entries relayed
	 * without their own signature may stretch it to the format's cap. */
	if (r->n == NUSA_BATCH_MAX || (r->last_sig >= 0 &&
	    (r->n >= x->batch_max || (x->byte_max &&
	    r->bytes + enc + NUSA_SIG_LEN > x->byte_max)))) {
		if (r->last_sig < 0)
			return -NUSA_ECORRUPT;
		if ((rc = run_flush(x, r, (size_t)r->last_sig + 1)) != 0)
			return rc;
		enc = 4 + (r->n ? it->len - STREAM_CHAIN_IMPLIED : it->len);
	}
	memcpy(r->ids[r->n], it->id, NUSA_HASH_LEN);
	r->bytes += enc;
	if (it->sig) {
		r->last_sig = (long)r->n;
		r->sig_bytes = r->bytes;
	}
	r->n++;
	r->age = ++x->clock;
	x->pos_seq = it->seq;
	memcpy(x->pos_id, it->id, NUSA_HASH_LEN);
	x->pos_valid = 1;
	return x->qlen ? 1 : 0;
}

static int
first_hlc(const struct store_item *it, void *ctx)
{
	uint64_t *hlc = ctx;

	if (it->len < ENTRY_HEADER_LEN)
		return -NUSA_ECORRUPT;
	*hlc = codec_rd64(it->body + 106);
	return 1;
}

struct planner {
	struct stream *x;
	struct store_txn *t;
	const struct vector *have;
	int flags;
};

static int
plan_feed(const uint8_t *author, uint64_t seq, void *ctx)
{
	struct planner *p = ctx;
	struct stream *x = p->x;
	struct store_device d;
	uint64_t have = p->have ? vector_get(p->have, author) : 0, hlc = 0;
	uint64_t from;
	int rc;

	if (store_device(p->t, author, &d) != 0 || d.role == ROLE_NONE)
		return 0;
	from = have + 1;
	if ((p->flags & STREAM_FORKS) && d.fork_seq && d.fork_seq <= have)
		from = d.fork_seq;
	if (seq < from)
		return 0;
	rc = store_feed_each(p->t, author, 1, first_hlc, &hlc);
	if (rc < 0)
		return rc;
	if (x->nfeeds == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		struct feed *v = realloc(x->feeds, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		x->feeds = v;
		x->cap = cap;
	}
	memcpy(x->feeds[x->nfeeds].pk, author, NUSA_KEY_LEN);
	x->feeds[x->nfeeds].from = from;
	x->feeds[x->nfeeds].root = d.role == ROLE_ROOT;
	x->feeds[x->nfeeds].first_hlc = hlc;
	x->nfeeds++;
	return 0;
}

/* Root first, then by the clock of each feed's first entry. A device
 * writes only once some certificate enrols it at its box, whose clock has
 * then seen that certificate, so every feed comes after the feed of the
 * admin that enrolled it. (The clock of the winning certificate would
 * not do: re-certifying an admin moves it past the certificates that
 * admin issued before.) */
static int
feed_cmp(const void *a, const void *b)
{
	const struct feed *x = a, *y = b;

	if (x->root != y->root)
		return y->root - x->root;
	if (x->first_hlc != y->first_hlc)
		return x->first_hlc < y->first_hlc ? -1 : 1;
	return memcmp(x->pk, y->pk, NUSA_KEY_LEN);
}

int
stream_open(struct stream **out, struct store_txn *t,
    const struct vector *have, int flags, size_t batch_max, size_t byte_max)
{
	struct stream *x;
	struct planner p = { .t = t, .have = have, .flags = flags };
	size_t i;
	int rc;

	*out = NULL;
	if (batch_max == 0 || batch_max > NUSA_BATCH_MAX)
		return -EINVAL;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		return -ENOMEM;
	x->batch_max = batch_max;
	x->byte_max = byte_max;
	x->nruns = STREAM_RUNS;
	if ((x->runs = calloc(x->nruns, sizeof(*x->runs))) == NULL ||
	    (x->q = calloc(QUEUE_FOR(x->nruns), sizeof(*x->q))) == NULL) {
		stream_free(&x);
		return -ENOMEM;
	}
	for (i = 0; i < x->nruns; i++)
		run_init(&x->runs[i]);
	p.x = x;
	if ((rc = store_vector_each(t, plan_feed, &p)) != 0) {
		stream_free(&x);
		return rc;
	}
	if (x->nfeeds > 1)
		qsort(x->feeds, x->nfeeds, sizeof(x->feeds[0]), feed_cmp);
	*out = x;
	return 0;
}

int
stream_next(struct stream *x, struct store_txn *t, struct stream_batch *b)
{
	struct ready *q;
	struct feed *f;
	size_t i;
	int rc;

	if (x->handed) {
		x->handed = 0;
		x->qhead = (x->qhead + 1) % QUEUE_FOR(x->nruns);
		x->qlen--;
	}
	x->t = t;
	while (x->qlen == 0 && x->fi < x->nfeeds) {
		f = &x->feeds[x->fi];
		if (x->pos_valid)
			rc = store_feed_each_after(t, f->pk, x->pos_seq,
			    x->pos_id, take_item, x);
		else
			rc = store_feed_each(t, f->pk, f->from, take_item, x);
		if (rc < 0)
			goto fail;
		if (rc == 0) {
			/* The feed is read: what its runs hold goes out. */
			for (i = 0; i < x->nruns; i++)
				if ((rc = run_close(x, &x->runs[i])) != 0)
					goto fail;
			x->fi++;
			x->pos_valid = 0;
		}
	}
	x->t = NULL;
	if (x->qlen == 0)
		return 0;
	q = &x->q[x->qhead];
	b->data = q->buf;
	b->len = q->len;
	b->n = q->n;
	memcpy(b->author, q->author, NUSA_KEY_LEN);
	b->first_seq = q->first_seq;
	b->last_seq = q->last_seq;
	x->handed = 1;
	return 1;
fail:
	x->t = NULL;
	return rc;
}

void
stream_set_byte_max(struct stream *x, size_t byte_max)
{
	x->byte_max = byte_max;
}

const struct stream_stats *
stream_stats(const struct stream *x)
{
	return &x->st;
}

size_t
stream_feeds(const struct stream *x)
{
	return x->nfeeds;
}

void
stream_free(struct stream **xp)
{
	size_t i;

	if (xp == NULL || *xp == NULL)
		return;
	for (i = 0; (*xp)->q && i < QUEUE_FOR((*xp)->nruns); i++)
		free((*xp)->q[i].buf);
	free((*xp)->q);
	free((*xp)->runs);
	free((*xp)->feeds);
	free(*xp);
	*xp = NULL;
}

struct stream_reader {
	uint8_t *buf;		/* bodies, back to back */
	size_t cap;
	const uint8_t *bodies[NUSA_BATCH_MAX];
	size_t lens[NUSA_BATCH_MAX];
	uint8_t sig[NUSA_SIG_LEN];
};

struct stream_reader *
stream_reader_new(void)
{
	return calloc(1, sizeof(struct stream_reader));
}

void
stream_reader_free(struct stream_reader **r)
{
	if (r == NULL || *r == NULL)
		return;
	free((*r)->buf);
	free(*r);
	*r = NULL;
}

int
stream_reader_decode(struct stream_reader *r, const uint8_t *p, size_t len,
    struct store_batch *b)
{
	size_t count, i, off = 2, total = 0, elen, skip, prev = 0, at = 0;
	uint8_t *nb;

	if (len < 2 + NUSA_SIG_LEN)
		return -NUSA_EMALFORMED;
	count = codec_rd16(p);
	if (count == 0 || count > NUSA_BATCH_MAX)
		return -NUSA_EMALFORMED;
	/* First pass: check every length against what arrived. */
	for (i = 0; i < count; i++) {
		if (len - NUSA_SIG_LEN - off < 4)
			return -NUSA_EMALFORMED;
		elen = codec_rd32(p + off);
		skip = i ? STREAM_CHAIN_IMPLIED : 0;
		if (elen > ENTRY_BODY_MAX - skip ||
		    elen < ENTRY_HEADER_LEN - skip ||
		    elen > len - NUSA_SIG_LEN - off - 4)
			return -NUSA_EMALFORMED;
		off += 4 + elen;
		total += elen + skip;
	}
	if (off + NUSA_SIG_LEN != len)
		return -NUSA_EMALFORMED;
	if (total > r->cap) {
		if ((nb = realloc(r->buf, total)) == NULL)
			return -ENOMEM;
		r->buf = nb;
		r->cap = total;
	}
	for (i = 0, off = 2; i < count; i++) {
		elen = codec_rd32(p + off);
		off += 4;
		if (i == 0) {
			memcpy(r->buf, p + off, elen);
			r->lens[0] = elen;
		} else {
			memcpy(r->buf + at, p + off, STREAM_CHAIN_FROM);
			memcpy(r->buf + at + STREAM_CHAIN_TO,
			    p + off + STREAM_CHAIN_FROM,
			    elen - STREAM_CHAIN_FROM);
			stream_chain_restore(r->buf + prev, r->lens[i - 1],
			    r->buf + at);
			r->lens[i] = elen + STREAM_CHAIN_IMPLIED;
		}
		r->bodies[i] = r->buf + at;
		prev = at;
		at += r->lens[i];
		off += elen;
	}
	memcpy(r->sig, p + off, NUSA_SIG_LEN);
	b->bodies = r->bodies;
	b->lens = r->lens;
	b->n = count;
	b->sig = r->sig;
	return 0;
}
