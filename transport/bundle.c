#include "bundle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "entry.h"
#include "payload.h"
#include "vector.h"

static const char bundle_magic[8] = { 'N', 'U', 'S', 'A', 'B', 'N', 'D',
	'L' };

/* Entries per durable commit on import. Each batch still succeeds or
 * fails whole (a nested transaction); grouping saves an fsync per batch,
 * and a crash loses at most a group, which importing the bundle again
 * restores. LMDB holds a transaction's dirty pages in memory, so the group
 * also bounds what an import allocates, whatever the backlog: 4096 gives
 * about 20 MB and most of the speed of larger groups (make bench). */
#define IMPORT_GROUP 4096

/* Within a batch, every entry after the first leaves out the bytes of its
 * body that the chain implies: network and author (as the first entry's),
 * seq (one more) and prev (the id of the entry before). */
#define CHAIN_FROM    2		/* offset of the network id in a body */
#define CHAIN_TO      106	/* offset of the clock, after prev */
#define CHAIN_IMPLIED (CHAIN_TO - CHAIN_FROM)

#define TAG_BATCH 'B'
#define TAG_END	  'E'

/* Open runs of entries per feed while exporting: forks make a feed a
 * tree, so a few chains may be open at once. Runs keep ids only. */
#define EXPORT_RUNS 8

struct run {
	uint8_t ids[NUSA_BATCH_MAX][NUSA_HASH_LEN];
	size_t n;
	long last_sig;		/* index of the last signed entry, or -1 */
	uint64_t age;
};

struct exporter {
	struct store_txn *t;
	FILE *out;
	struct bundle_stats *st;
	struct run *runs;	/* EXPORT_RUNS of them */
	uint64_t clock;
	int err;
};

static int
put_be(FILE *out, uint64_t v, int bytes)
{
	uint8_t b[8];
	int i;

	for (i = bytes - 1; i >= 0; i--) {
		b[i] = (uint8_t)v;
		v >>= 8;
	}
	return fwrite(b, 1, (size_t)bytes, out) == (size_t)bytes ? 0 : -EIO;
}

int
bundle_put_entry(FILE *out, const uint8_t *body, size_t len, int first)
{
	if (len < ENTRY_HEADER_LEN)
		return -NUSA_EMALFORMED;
	if (first)
		return put_be(out, len, 4) != 0 ||
		    fwrite(body, 1, len, out) != len ? -EIO : 0;
	if (put_be(out, len - CHAIN_IMPLIED, 4) != 0 ||
	    fwrite(body, 1, CHAIN_FROM, out) != CHAIN_FROM ||
	    fwrite(body + CHAIN_TO, 1, len - CHAIN_TO, out) != len - CHAIN_TO)
		return -EIO;
	return 0;
}

/* Writes the first n entries of run r as one batch and keeps the rest. */
static int
run_flush(struct exporter *x, struct run *r, size_t n)
{
	const uint8_t *body, *sig = NULL;
	size_t i, len;
	int rc;

	if (n == 0)
		return 0;
	if (fputc(TAG_BATCH, x->out) == EOF || put_be(x->out, n, 2) != 0)
		return -EIO;
	for (i = 0; i < n; i++) {
		rc = store_entry(x->t, r->ids[i], &body, &len,
		    i == n - 1 ? &sig : NULL);
		if (rc)
			return rc == -NUSA_ENOTFOUND ? -NUSA_ECORRUPT : rc;
		if ((rc = bundle_put_entry(x->out, body, len, i == 0)) != 0)
			return rc;
	}
	if (sig == NULL)
		return -NUSA_ECORRUPT;
	if (fwrite(sig, 1, NUSA_SIG_LEN, x->out) != NUSA_SIG_LEN)
		return -EIO;
	x->st->entries += n;
	x->st->batches++;
	memmove(r->ids, r->ids + n, (r->n - n) * NUSA_HASH_LEN);
	r->n -= n;
	r->last_sig = r->last_sig >= (long)n ? r->last_sig - (long)n : -1;
	return 0;
}

/* Flushes a run up to its last signature; an unsigned tail cannot be
 * vouched for, so it is counted and dropped. */
static int
run_close(struct exporter *x, struct run *r)
{
	int rc = run_flush(x, r, (size_t)(r->last_sig + 1));

	x->st->skipped += r->n;
	r->n = 0;
	r->last_sig = -1;
	return rc;
}

static int
export_item(const struct store_item *it, void *ctx)
{
	struct exporter *x = ctx;
	const uint8_t *prev = it->body + 74;
	struct run *r = NULL, *oldest = NULL;
	size_t i;
	int rc;

	if (it->len < ENTRY_HEADER_LEN)
		return -NUSA_ECORRUPT;
	for (i = 0; i < EXPORT_RUNS && r == NULL; i++) {
		struct run *c = &x->runs[i];

		if (c->n && memcmp(c->ids[c->n - 1], prev, NUSA_HASH_LEN) == 0)
			r = c;
	}
	if (r == NULL) {
		/* A new chain: the first of the feed, or a fork branch. */
		for (i = 0; i < EXPORT_RUNS && r == NULL; i++)
			if (x->runs[i].n == 0)
				r = &x->runs[i];
		for (i = 0; i < EXPORT_RUNS && r == NULL; i++)
			if (oldest == NULL || x->runs[i].age < oldest->age)
				oldest = &x->runs[i];
		if (r == NULL) {
			if ((rc = run_close(x, oldest)) != 0)
				return rc;
			r = oldest;
		}
	}
	if (r->n == NUSA_BATCH_MAX) {
		if (r->last_sig < 0)
			return -NUSA_ECORRUPT;
		if ((rc = run_flush(x, r, (size_t)r->last_sig + 1)) != 0)
			return rc;
	}
	memcpy(r->ids[r->n], it->id, NUSA_HASH_LEN);
	if (it->sig)
		r->last_sig = (long)r->n;
	r->n++;
	r->age = ++x->clock;
	return 0;
}

struct author_ord {
	uint8_t pk[NUSA_KEY_LEN];
	uint64_t from;
	int root;
	uint64_t first_hlc;
};

struct author_list {
	struct store_txn *t;
	const struct vector *have;
	struct author_ord *v;
	size_t n, cap;
};

static int
first_hlc(const struct store_item *it, void *ctx)
{
	uint64_t *hlc = ctx;

	if (it->len < ENTRY_HEADER_LEN)
		return -NUSA_ECORRUPT;
	*hlc = codec_rd64(it->body + 106);
	return 1;
}

static int
collect_author(const uint8_t *author, uint64_t seq, void *ctx)
{
	struct author_list *al = ctx;
	struct store_device d;
	uint64_t have = vector_get(al->have, author), hlc = 0, from;
	int rc;

	if (store_device(al->t, author, &d) != 0 || d.role == ROLE_NONE)
		return 0;
	/* A vector holds one seq per feed and cannot say which branch of a
	 * forked feed the peer has: send a forked feed from its fork on
	 * (what the peer has already costs bytes, not harm). */
	from = have + 1;
	if (d.fork_seq && d.fork_seq <= have)
		from = d.fork_seq;
	if (seq < from)
		return 0;
	rc = store_feed_each(al->t, author, 1, first_hlc, &hlc);
	if (rc < 0)
		return rc;
	if (al->n == al->cap) {
		size_t cap = al->cap ? al->cap * 2 : 16;
		struct author_ord *v = realloc(al->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		al->v = v;
		al->cap = cap;
	}
	memcpy(al->v[al->n].pk, author, NUSA_KEY_LEN);
	al->v[al->n].from = from;
	al->v[al->n].root = d.role == ROLE_ROOT;
	al->v[al->n].first_hlc = hlc;
	al->n++;
	return 0;
}

/* Root first, then by the clock of each feed's first entry. A device
 * writes only once some certificate enrols it at its box, whose clock has
 * then seen that certificate, so every feed comes after the feed of the
 * admin that enrolled it. (The clock of the winning certificate would
 * not do: re-certifying an admin moves it past the certificates that
 * admin issued before.) */
static int
author_cmp(const void *a, const void *b)
{
	const struct author_ord *x = a, *y = b;

	if (x->root != y->root)
		return y->root - x->root;
	if (x->first_hlc != y->first_hlc)
		return x->first_hlc < y->first_hlc ? -1 : 1;
	return memcmp(x->pk, y->pk, NUSA_KEY_LEN);
}

int
bundle_export(struct store_txn *t, FILE *out, const struct vector *have,
    struct bundle_stats *st)
{
	struct author_list al = { .t = t, .have = have };
	struct exporter x = { .t = t, .out = out, .st = st };
	uint8_t net[NUSA_KEY_LEN];
	size_t i, j;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = store_network(t, net, NULL, 0)) != 0)
		return rc;
	if ((x.runs = calloc(EXPORT_RUNS, sizeof(*x.runs))) == NULL)
		return -ENOMEM;
	for (i = 0; i < EXPORT_RUNS; i++)
		x.runs[i].last_sig = -1;
	if ((rc = store_vector_each(t, collect_author, &al)) != 0)
		goto out;
	if (al.n > 1)
		qsort(al.v, al.n, sizeof(al.v[0]), author_cmp);

	if (fwrite(bundle_magic, 1, sizeof(bundle_magic), out) !=
	    sizeof(bundle_magic) || fputc(BUNDLE_VERSION, out) == EOF ||
	    fwrite(net, 1, NUSA_KEY_LEN, out) != NUSA_KEY_LEN) {
		rc = -EIO;
		goto out;
	}
	for (i = 0; i < al.n; i++) {
		rc = store_feed_each(t, al.v[i].pk, al.v[i].from, export_item,
		    &x);
		for (j = 0; j < EXPORT_RUNS && rc == 0; j++)
			rc = run_close(&x, &x.runs[j]);
		if (rc)
			goto out;
	}
	if (fputc(TAG_END, out) == EOF || put_be(out, st->entries, 8) ||
	    put_be(out, st->batches, 4) || fflush(out) != 0)
		rc = -EIO;
out:
	free(al.v);
	free(x.runs);
	return rc;
}

struct bundle_reader {
	FILE *in;
	uint8_t network[NUSA_KEY_LEN];
	uint8_t *buf;		/* bodies of the current batch, back to back */
	size_t cap;
	const uint8_t *bodies[NUSA_BATCH_MAX];
	size_t lens[NUSA_BATCH_MAX];
	uint8_t sig[NUSA_SIG_LEN];
	uint64_t entries, batches;
};

/* Reads exactly n bytes: 0, or -NUSA_ETRUNCATED at end of file. */
static int
read_full(FILE *in, void *p, size_t n)
{
	if (fread(p, 1, n, in) == n)
		return 0;
	return ferror(in) ? -EIO : -NUSA_ETRUNCATED;
}

static int
read_be(FILE *in, uint64_t *v, int bytes)
{
	uint8_t b[8];
	int i, rc;

	if ((rc = read_full(in, b, (size_t)bytes)) != 0)
		return rc;
	*v = 0;
	for (i = 0; i < bytes; i++)
		*v = *v << 8 | b[i];
	return 0;
}

int
bundle_reader_open(struct bundle_reader **out, FILE *in)
{
	struct bundle_reader *r;
	uint8_t head[sizeof(bundle_magic) + 1];
	int rc;

	*out = NULL;
	if ((rc = read_full(in, head, sizeof(head))) != 0)
		return rc == -NUSA_ETRUNCATED ? -NUSA_EMALFORMED : rc;
	if (memcmp(head, bundle_magic, sizeof(bundle_magic)) != 0)
		return -NUSA_EMALFORMED;
	if (head[sizeof(bundle_magic)] != BUNDLE_VERSION)
		return -NUSA_EVERSION;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->in = in;
	if ((rc = read_full(in, r->network, NUSA_KEY_LEN)) != 0) {
		free(r);
		return rc == -NUSA_ETRUNCATED ? -NUSA_EMALFORMED : rc;
	}
	*out = r;
	return 0;
}

const uint8_t *
bundle_reader_network(const struct bundle_reader *r)
{
	return r->network;
}

/* Fills in the implied bytes of body, whose first CHAIN_FROM bytes were
 * read CHAIN_IMPLIED bytes too far on, from its predecessor prev. */
static void
chain_restore(const uint8_t *prev, size_t prev_len, uint8_t *body)
{
	uint8_t id[NUSA_HASH_LEN];

	memmove(body, body + CHAIN_IMPLIED, CHAIN_FROM);
	memcpy(body + CHAIN_FROM, prev + CHAIN_FROM, 66 - CHAIN_FROM);
	codec_be64(body + 66, codec_rd64(prev + 66) + 1);
	entry_id(id, prev, prev_len);
	memcpy(body + 74, id, NUSA_HASH_LEN);
}

int
bundle_reader_next(struct bundle_reader *r, struct store_batch *b)
{
	uint64_t count, len, total = 0, entries, batches;
	uint8_t *nb;
	size_t i, off = 0, prev = 0, skip;
	int tag, rc;

	tag = fgetc(r->in);
	if (tag == EOF)
		return ferror(r->in) ? -EIO : -NUSA_ETRUNCATED;
	if (tag == TAG_END) {
		if ((rc = read_be(r->in, &entries, 8)) != 0 ||
		    (rc = read_be(r->in, &batches, 4)) != 0)
			return rc;
		if (entries != r->entries || batches != r->batches ||
		    fgetc(r->in) != EOF)
			return -NUSA_EMALFORMED;
		return 0;
	}
	if (tag != TAG_BATCH)
		return -NUSA_EMALFORMED;
	if ((rc = read_be(r->in, &count, 2)) != 0)
		return rc;
	if (count == 0 || count > NUSA_BATCH_MAX)
		return -NUSA_EMALFORMED;
	for (i = 0; i < count; i++) {
		if ((rc = read_be(r->in, &len, 4)) != 0)
			return rc;
		/* After the first, entries come without what the chain
		 * implies; restore it so the body verifies as sent. */
		skip = i ? CHAIN_IMPLIED : 0;
		if (len > ENTRY_BODY_MAX - skip ||
		    len < ENTRY_HEADER_LEN - skip)
			return -NUSA_EMALFORMED;
		/* Grow only as far as the bytes that actually arrive. */
		total = off + skip + len;
		if (total > r->cap) {
			size_t cap = r->cap ? r->cap : 16384;

			while (cap < total)
				cap *= 2;
			if ((nb = realloc(r->buf, cap)) == NULL)
				return -ENOMEM;
			r->buf = nb;
			r->cap = cap;
		}
		if ((rc = read_full(r->in, r->buf + off + skip, len)) != 0)
			return rc;
		if (i)
			chain_restore(r->buf + prev, r->lens[i - 1],
			    r->buf + off);
		r->lens[i] = skip + len;
		prev = off;
		off = total;
	}
	for (i = 0, off = 0; i < count; off += r->lens[i], i++)
		r->bodies[i] = r->buf + off;
	if ((rc = read_full(r->in, r->sig, NUSA_SIG_LEN)) != 0)
		return rc;
	r->entries += count;
	r->batches++;
	b->bodies = r->bodies;
	b->lens = r->lens;
	b->n = count;
	b->sig = r->sig;
	return 1;
}

void
bundle_reader_free(struct bundle_reader **r)
{
	if (r == NULL || *r == NULL)
		return;
	free((*r)->buf);
	free(*r);
	*r = NULL;
}

/* Refusals that concern one feed only, and what this box knows of its
 * author: not enrolled here (yet), a role that may not write this, a
 * predecessor this box lacks. The other feeds are still worth taking. */
static int
feed_refusal(int rc)
{
	return rc == -NUSA_EUNENROLLED || rc == -NUSA_EFORBIDDEN ||
	    rc == -NUSA_EGAP;
}

int
bundle_import(struct store *s, FILE *in, const uint8_t self[NUSA_KEY_LEN],
    struct bundle_stats *st, struct bundle_fault *where)
{
	struct bundle_reader *r = NULL;
	struct store_ingest_stats is;
	struct store_txn *t = NULL, *child;
	struct store_batch b;
	struct store_device d;
	struct bundle_fault first = { 0 };
	uint8_t net[NUSA_KEY_LEN];
	uint64_t committed = 0;
	int rc, crc, joining = 0, refused = 0;

	memset(st, 0, sizeof(*st));
	memset(where, 0, sizeof(*where));
	if ((rc = bundle_reader_open(&r, in)) != 0)
		return rc;
	if ((rc = store_begin(s, &t, STORE_WRITE)) != 0)
		goto out;
	if (store_network(t, net, NULL, 0) == -NUSA_ENONET) {
		/* Joining: one transaction, kept only if we are enrolled. */
		if ((rc = store_join(t, bundle_reader_network(r))) != 0)
			goto out;
		joining = 1;
	} else if (memcmp(net, bundle_reader_network(r), NUSA_KEY_LEN)) {
		rc = -NUSA_ENETWORK;
		goto out;
	}
	for (;;) {
		where->batch = st->batches + 1;
		where->entry = st->entries + 1;
		if ((rc = bundle_reader_next(r, &b)) <= 0)
			break;
		if (t == NULL && (rc = store_begin(s, &t, STORE_WRITE)) != 0)
			break;
		if ((rc = store_begin_nested(t, &child)) != 0)
			break;
		if ((rc = store_ingest(child, &b, &is)) != 0) {
			store_abort(child);
			if (!feed_refusal(rc)) {
				where->entry = st->entries + is.bad_index + 1;
				break;
			}
			/* One feed this box cannot take yet: note the first,
			 * and carry on with the others. */
			if (refused == 0) {
				refused = rc;
				first = *where;
				first.entry = st->entries + is.bad_index + 1;
			}
			st->batches++;
			st->entries += b.n;
			st->refused += b.n;
			rc = 0;
			continue;
		}
		if ((rc = store_commit(child)) != 0)
			break;
		st->batches++;
		st->entries += b.n;
		st->added += is.added;
		st->duplicates += is.duplicates;
		st->revoked += is.revoked;
		/* A joining box keeps all in one transaction only until the
		 * bundle has enrolled it (admins' feeds come first); from
		 * then on it commits in groups like any member. */
		if (joining && store_device(t, self, &d) == 0 &&
		    d.role != ROLE_NONE)
			joining = 0;
		if (!joining && st->entries - committed >= IMPORT_GROUP) {
			committed = st->entries;
			rc = store_commit(t);
			t = NULL;
			if (rc)
				break;
		}
	}
	if (rc == 0 && refused) {
		rc = refused;
		*where = first;
	}
	if (joining) {
		/* Never enrolled: keep nothing, not even the network. */
		if (rc == 0 || rc == refused)
			rc = -NUSA_EUNENROLLED;
	} else if (t) {
		/* The batches before a bad one or a cut-off end stay. */
		crc = store_commit(t);
		t = NULL;
		if (rc == 0)
			rc = crc;
	}
out:
	store_abort(t);
	bundle_reader_free(&r);
	return rc;
}
