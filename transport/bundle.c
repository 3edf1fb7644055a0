#include "bundle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "entry.h"
#include "payload.h"
#include "stream.h"
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

#define TAG_BATCH 'B'
#define TAG_END	  'E'

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
	uint8_t buf[4 + ENTRY_BODY_MAX];
	size_t n = stream_put_entry(buf, body, len, first);

	if (n == 0)
		return -NUSA_EMALFORMED;
	return fwrite(buf, 1, n, out) == n ? 0 : -EIO;
}

int
bundle_export(struct store_txn *t, FILE *out, const struct vector *have,
    struct bundle_stats *st)
{
	struct stream *x = NULL;
	struct stream_batch b;
	uint8_t net[NUSA_KEY_LEN];
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = store_network(t, net, NULL, 0)) != 0)
		return rc;
	if ((rc = stream_open(&x, t, have, STREAM_FORKS, NUSA_BATCH_MAX,
	    0)) != 0)
		return rc;
	if (fwrite(bundle_magic, 1, sizeof(bundle_magic), out) !=
	    sizeof(bundle_magic) || fputc(BUNDLE_VERSION, out) == EOF ||
	    fwrite(net, 1, NUSA_KEY_LEN, out) != NUSA_KEY_LEN) {
		rc = -EIO;
		goto out;
	}
	while ((rc = stream_next(x, t, &b)) == 1) {
		if (fputc(TAG_BATCH, out) == EOF ||
		    fwrite(b.data, 1, b.len, out) != b.len) {
			rc = -EIO;
			goto out;
		}
	}
	if (rc < 0)
		goto out;
	st->entries = stream_stats(x)->entries;
	st->batches = stream_stats(x)->batches;
	st->skipped = stream_stats(x)->skipped;
	if (fputc(TAG_END, out) == EOF || put_be(out, st->entries, 8) ||
	    put_be(out, st->batches, 4) || fflush(out) != 0)
		rc = -EIO;
out:
	stream_free(&x);
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
		skip = i ? STREAM_CHAIN_IMPLIED : 0;
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
		if (i) {
			memmove(r->buf + off, r->buf + off + skip,
			    STREAM_CHAIN_FROM);
			stream_chain_restore(r->buf + prev, r->lens[i - 1],
			    r->buf + off);
		}
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
