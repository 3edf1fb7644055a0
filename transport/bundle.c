#include "bundle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <zstd.h>

#include "codec.h"
#include "entry.h"
#include "key.h"
#include "payload.h"
#include "receipt.h"
#include "stream.h"
#include "vector.h"

static const char bundle_magic[8] = { 'N', 'U', 'S', 'A', 'B', 'N', 'D',
	'L' };
static const char bundle_domain[] = "nusa-bundle-2";

/* Entries per durable commit on import. Each batch still succeeds or
 * fails whole (a nested transaction); grouping saves an fsync per batch,
 * and a crash loses at most a group, which importing the bundle again
 * restores. LMDB holds a transaction's dirty pages in memory, so the group
 * also bounds what an import allocates, whatever the backlog: 4096 gives
 * about 20 MB and most of the speed of larger groups (make bench). */
#define IMPORT_GROUP 4096

/* Bytes read from or written to the file at a time. */
#define IO_CHUNK 65536

/* Past its first MiB, a body may not decompress to more than this many
 * times the compressed bytes read: real bundles stay near 11 (docs/
 * formats.md), a bomb goes into the thousands. */
#define BODY_FREE  ((uint64_t)1 << 20)
#define BODY_RATIO 64

/* The exporter sends each feed's batches in seq order; only the branches
 * of a forked feed go back. A file may go back this often in all (a
 * repeated valid batch would keep an import busy for hours), and name
 * this many authors (what the reader remembers of them is bounded). */
#define REWINDS_MAX 1024
#define AUTHORS_MAX 16384

/* Where a body holds its author and seq (entry.c's encoding). */
#define ENTRY_AUTHOR_AT (STREAM_CHAIN_FROM + NUSA_KEY_LEN)
#define ENTRY_SEQ_AT	(ENTRY_AUTHOR_AT + NUSA_KEY_LEN)

#define TAG_BATCH   'B'
#define TAG_RECEIPT 'R'
#define TAG_END	    'E'

static void
hash_init(crypto_generichash_state *h)
{
	crypto_generichash_init(h, (const uint8_t *)bundle_domain,
	    sizeof(bundle_domain) - 1, NUSA_HASH_LEN);
}

/* ---- writing ---- */

struct bundle_writer {
	FILE *f;
	const struct key *maker;
	int compression;
	ZSTD_CCtx *z;
	uint8_t *zbuf;		/* compressed output, IO_CHUNK bytes */
	crypto_generichash_state h;
	uint64_t entries, batches, receipts;
	uint64_t want_entries, want_batches;
	int err;
};

/* Writes stored bytes: to the file, and into the hash. */
static int
w_raw(struct bundle_writer *w, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	crypto_generichash_update(&w->h, p, n);
	return fwrite(p, 1, n, w->f) == n ? 0 : -EIO;
}

/* Runs the compressor over n bytes (end: finishing the frame). */
static int
w_zstd(struct bundle_writer *w, const void *p, size_t n, ZSTD_EndDirective e)
{
	ZSTD_inBuffer in = { p, n, 0 };
	ZSTD_outBuffer out;
	size_t left;
	int rc;

	do {
		out = (ZSTD_outBuffer){ w->zbuf, IO_CHUNK, 0 };
		left = ZSTD_compressStream2(w->z, &out, &in, e);
		if (ZSTD_isError(left))
			return -EIO;
		if ((rc = w_raw(w, w->zbuf, out.pos)) != 0)
			return rc;
	} while (e != ZSTD_e_continue ? left != 0 : in.pos < in.size);
	return 0;
}

/* Writes body bytes, compressed as the header says. */
static int
w_body(struct bundle_writer *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	w->err = w->compression == BUNDLE_ZSTD ?
	    w_zstd(w, p, n, ZSTD_e_continue) : w_raw(w, p, n);
	return w->err;
}

int
bundle_writer_open(struct bundle_writer **out, FILE *f,
    const uint8_t network[NUSA_KEY_LEN], const struct key *maker,
    uint64_t created, uint64_t entries, uint64_t batches, int compression)
{
	struct bundle_writer *w;
	uint8_t head[BUNDLE_HEAD_LEN], *p = head;
	int rc;

	*out = NULL;
	if (compression != BUNDLE_RAW && compression != BUNDLE_ZSTD)
		return -EINVAL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->f = f;
	w->maker = maker;
	w->compression = compression;
	w->want_entries = entries;
	w->want_batches = batches;
	hash_init(&w->h);
	if (compression == BUNDLE_ZSTD) {
		if ((w->z = ZSTD_createCCtx()) == NULL ||
		    (w->zbuf = malloc(IO_CHUNK)) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		if (ZSTD_isError(ZSTD_CCtx_setParameter(w->z,
		    ZSTD_c_compressionLevel, BUNDLE_ZSTD_LEVEL)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->z,
		    ZSTD_c_windowLog, BUNDLE_WINDOW_LOG)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(w->z,
		    ZSTD_c_checksumFlag, 1))) {
			rc = -EINVAL;
			goto fail;
		}
	}
	memcpy(p, bundle_magic, sizeof(bundle_magic));
	p += sizeof(bundle_magic);
	*p++ = BUNDLE_VERSION;
	*p++ = (uint8_t)compression;
	memcpy(p, network, NUSA_KEY_LEN);
	p += NUSA_KEY_LEN;
	memcpy(p, maker->pk, NUSA_KEY_LEN);
	p += NUSA_KEY_LEN;
	codec_be64(p, created);
	codec_be64(p + 8, entries);
	codec_be32(p + 16, (uint32_t)batches);
	if (batches > UINT32_MAX) {
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = w_raw(w, head, sizeof(head))) != 0)
		goto fail;
	*out = w;
	return 0;
fail:
	ZSTD_freeCCtx(w->z);
	free(w->zbuf);
	free(w);
	return rc;
}

int
bundle_writer_encoded(struct bundle_writer *w, const uint8_t *data,
    size_t len, size_t n)
{
	uint8_t tag = TAG_BATCH;
	int rc;

	if ((rc = w_body(w, &tag, 1)) != 0 || (rc = w_body(w, data, len)))
		return rc;
	w->entries += n;
	w->batches++;
	/* End a zstd block at every batch: a cut file then still holds
	 * every batch written before the cut, for a few bytes a batch. */
	if (w->compression == BUNDLE_ZSTD &&
	    (rc = w->err = w_zstd(w, NULL, 0, ZSTD_e_flush)) != 0)
		return rc;
	return 0;
}

int
bundle_writer_receipt(struct bundle_writer *w, const uint8_t *p, size_t len)
{
	uint8_t head[5] = { TAG_RECEIPT };
	int rc;

	if (len > RECEIPT_MAX || w->receipts >= BUNDLE_RECEIPTS_MAX)
		return -NUSA_ERANGE;
	codec_be32(head + 1, (uint32_t)len);
	if ((rc = w_body(w, head, sizeof(head))) != 0 ||
	    (rc = w_body(w, p, len)) != 0)
		return rc;
	w->receipts++;
	return 0;
}

int
bundle_writer_close(struct bundle_writer **wp)
{
	struct bundle_writer *w = *wp;
	uint8_t end[1 + 8 + 4 + 4] = { TAG_END }, h[NUSA_HASH_LEN];
	uint8_t sig[NUSA_SIG_LEN];
	int rc;

	*wp = NULL;
	if (w == NULL)
		return -EINVAL;
	codec_be64(end + 1, w->entries);
	codec_be32(end + 9, (uint32_t)w->batches);
	codec_be32(end + 13, (uint32_t)w->receipts);
	if ((rc = w->err) == 0 && (w->entries != w->want_entries ||
	    w->batches != w->want_batches))
		rc = -EINVAL;
	if (rc == 0)
		rc = w_body(w, end, sizeof(end));
	if (rc == 0 && w->compression == BUNDLE_ZSTD)
		rc = w_zstd(w, NULL, 0, ZSTD_e_end);
	if (rc == 0) {
		crypto_generichash_final(&w->h, h, sizeof(h));
		crypto_sign_detached(sig, NULL, h, sizeof(h), w->maker->sk);
		if (fwrite(sig, 1, sizeof(sig), w->f) != sizeof(sig) ||
		    fflush(w->f) != 0)
			rc = -EIO;
	}
	ZSTD_freeCCtx(w->z);
	free(w->zbuf);
	free(w);
	return rc;
}

/* ---- export ---- */

struct carry {
	struct bundle_writer *w;
	const uint8_t *maker;
	uint64_t n;
	int rc;
};

/* Carries on the signed receipts of other devices, as many as fit. */
static int
carry_receipt(const struct receipt *r, const uint8_t *enc, size_t len,
    void *ctx)
{
	struct carry *c = ctx;

	if (r->via != RECEIPT_BUNDLE ||
	    memcmp(r->device, c->maker, NUSA_KEY_LEN) == 0)
		return 0;
	if (c->n >= BUNDLE_RECEIPTS_MAX)
		return 1;
	if ((c->rc = bundle_writer_receipt(c->w, enc, len)) != 0)
		return 1;
	c->n++;
	return 0;
}

int
bundle_export(struct store_txn *t, FILE *out, const struct vector *have,
    const struct key *maker, int compression, struct bundle_stats *st)
{
	struct bundle_writer *w = NULL;
	struct stream *x = NULL;
	struct stream_batch b;
	struct carry c = { .maker = maker->pk };
	uint8_t net[NUSA_KEY_LEN], *rbuf = NULL;
	uint64_t now = (uint64_t)time(NULL);
	size_t rlen;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = store_network(t, net, NULL, 0)) != 0)
		return rc;
	/* The header says what the body holds, so that a reader of a cut
	 * file can tell what it missed: count first, in the same snapshot. */
	if ((rc = stream_open(&x, t, have, STREAM_FORKS, NUSA_BATCH_MAX,
	    0)) != 0)
		return rc;
	while ((rc = stream_next(x, t, &b)) == 1)
		;
	if (rc < 0)
		goto out;
	st->entries = stream_stats(x)->entries;
	st->batches = stream_stats(x)->batches;
	st->skipped = stream_stats(x)->skipped;
	stream_free(&x);
	if ((rc = bundle_writer_open(&w, out, net, maker, now, st->entries,
	    st->batches, compression)) != 0)
		goto out;
	if ((rc = stream_open(&x, t, have, STREAM_FORKS, NUSA_BATCH_MAX,
	    0)) != 0)
		goto out;
	while ((rc = stream_next(x, t, &b)) == 1)
		if ((rc = bundle_writer_encoded(w, b.data, b.len, b.n)) != 0)
			goto out;
	if (rc < 0)
		goto out;
	/* Our own receipt, fresh, then those we keep of others. A box in
	 * a network of more feeds than a receipt holds sends none. */
	if ((rbuf = malloc(RECEIPT_MAX)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = receipt_make(t, maker, now, rbuf, RECEIPT_MAX, &rlen);
	if (rc == 0 && (rc = bundle_writer_receipt(w, rbuf, rlen)) != 0)
		goto out;
	if (rc != 0 && rc != -NUSA_ERANGE)
		goto out;
	c.n = rc == 0;
	c.w = w;
	/* carry_receipt() stops the walk with 1: when the bundle is full
	 * of receipts (not an error), or when writing failed (c.rc). */
	rc = receipt_each(t, carry_receipt, &c);
	if (c.rc != 0)
		rc = c.rc;
	if (rc < 0)
		goto out;
	st->receipts = c.n;
	rc = bundle_writer_close(&w);
out:
	if (w) {
		w->err = rc;	/* frees it and writes no more */
		bundle_writer_close(&w);
	}
	free(rbuf);
	stream_free(&x);
	return rc;
}

/* ---- reading ---- */

struct bundle_reader {
	FILE *in;
	uint8_t network[NUSA_KEY_LEN], maker[NUSA_KEY_LEN];
	uint64_t created, expected, expected_batches;
	int compression;
	crypto_generichash_state h;
	ZSTD_DCtx *z;
	uint8_t *zin, *zout;	/* IO_CHUNK each */
	size_t in_len, in_pos, out_len, out_pos;
	int more;		/* the decompressor may hold more output */
	int frame_done;
	int ended;		/* the end marker was read */
	uint8_t *buf;		/* bodies of the current batch, back to back */
	size_t cap;
	const uint8_t *bodies[NUSA_BATCH_MAX];
	size_t lens[NUSA_BATCH_MAX];
	uint8_t sig[NUSA_SIG_LEN];
	uint8_t *rbuf;		/* the current receipt, RECEIPT_MAX */
	size_t rlen;
	uint64_t entries, batches, receipts;
	uint64_t zin_total, zout_total;	/* compressed bytes read, and
					 * what they decompressed to */
	struct seen *seen;	/* authors of the batches so far: a hash
				 * table of seen_cap slots */
	size_t seen_n, seen_cap;
	uint8_t seen_key[crypto_shorthash_KEYBYTES];
	uint64_t rewinds;
};

/* An author's batches read so far: the highest seq they reached. */
struct seen {
	uint8_t author[NUSA_KEY_LEN];
	uint64_t last;		/* 0: a free slot */
};

/* Reads up to n stored bytes from the file, hashing them. Returns the
 * count or -EIO. */
static ssize_t
r_file(struct bundle_reader *r, void *p, size_t n)
{
	size_t got = fread(p, 1, n, r->in);

	if (got < n && ferror(r->in))
		return -EIO;
	crypto_generichash_update(&r->h, p, got);
	return (ssize_t)got;
}

/* Decompresses more into zout. Returns 0, -NUSA_ETRUNCATED,
 * -NUSA_EMALFORMED or -EIO. */
static int
r_inflate(struct bundle_reader *r)
{
	ZSTD_inBuffer in;
	ZSTD_outBuffer out = { r->zout, IO_CHUNK, 0 };
	ssize_t got;
	size_t ret;

	if (r->frame_done)
		return -NUSA_EMALFORMED;	/* the frame ended early */
	/* Only what the decompressor consumed is hashed: the bytes after
	 * the frame are the trailer. */
	if (r->in_pos == r->in_len && !r->more) {
		got = fread(r->zin, 1, IO_CHUNK, r->in);
		if (got == 0)
			return ferror(r->in) ? -EIO : -NUSA_ETRUNCATED;
		r->in_len = (size_t)got;
		r->in_pos = 0;
	}
	in = (ZSTD_inBuffer){ r->zin, r->in_len, r->in_pos };
	ret = ZSTD_decompressStream(r->z, &out, &in);
	if (ZSTD_isError(ret))
		return -NUSA_EMALFORMED;
	crypto_generichash_update(&r->h, r->zin + r->in_pos,
	    in.pos - r->in_pos);
	r->zin_total += in.pos - r->in_pos;
	r->zout_total += out.pos;
	r->in_pos = in.pos;
	r->out_len = out.pos;
	r->out_pos = 0;
	r->more = out.pos == out.size;
	if (ret == 0)
		r->frame_done = 1;
	if (r->zout_total > BODY_FREE &&
	    r->zout_total / BODY_RATIO > r->zin_total)
		return -NUSA_EMALFORMED;	/* a bomb */
	return 0;
}

/* Reads exactly n bytes of the body: 0, or -NUSA_ETRUNCATED at end of
 * file, or another error. */
static int
body_read(struct bundle_reader *r, void *p, size_t n)
{
	uint8_t *q = p;
	size_t k;
	ssize_t got;
	int rc;

	if (r->compression == BUNDLE_RAW) {
		if ((got = r_file(r, p, n)) < 0)
			return (int)got;
		return (size_t)got == n ? 0 : -NUSA_ETRUNCATED;
	}
	while (n > 0) {
		if (r->out_pos == r->out_len && (rc = r_inflate(r)) != 0)
			return rc;
		k = r->out_len - r->out_pos;
		if (k > n)
			k = n;
		memcpy(q, r->zout + r->out_pos, k);
		r->out_pos += k;
		q += k;
		n -= k;
	}
	return 0;
}

static int
body_be(struct bundle_reader *r, uint64_t *v, int bytes)
{
	uint8_t b[8];
	int i, rc;

	if ((rc = body_read(r, b, (size_t)bytes)) != 0)
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
	uint8_t head[BUNDLE_HEAD_LEN], *p = head + sizeof(bundle_magic);
	size_t got;

	*out = NULL;
	got = fread(head, 1, sizeof(head), in);
	if (got < sizeof(head) && ferror(in))
		return -EIO;
	if (got < sizeof(bundle_magic) + 1 ||
	    memcmp(head, bundle_magic, sizeof(bundle_magic)) != 0)
		return -NUSA_EMALFORMED;
	if (p[0] != BUNDLE_VERSION)
		return -NUSA_EVERSION;
	if (got < sizeof(head) || (p[1] != BUNDLE_RAW && p[1] != BUNDLE_ZSTD))
		return -NUSA_EMALFORMED;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->in = in;
	r->compression = p[1];
	p += 2;
	memcpy(r->network, p, NUSA_KEY_LEN);
	memcpy(r->maker, p + NUSA_KEY_LEN, NUSA_KEY_LEN);
	p += 2 * NUSA_KEY_LEN;
	r->created = codec_rd64(p);
	r->expected = codec_rd64(p + 8);
	r->expected_batches = codec_rd32(p + 16);
	hash_init(&r->h);
	crypto_generichash_update(&r->h, head, sizeof(head));
	if ((r->rbuf = malloc(RECEIPT_MAX)) == NULL)
		goto nomem;
	if (r->compression == BUNDLE_ZSTD) {
		/* The window bounds what decompression holds: a frame that
		 * asks for more is refused, not allocated. */
		if ((r->z = ZSTD_createDCtx()) == NULL ||
		    (r->zin = malloc(IO_CHUNK)) == NULL ||
		    (r->zout = malloc(IO_CHUNK)) == NULL ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(r->z,
		    ZSTD_d_windowLogMax, BUNDLE_WINDOW_LOG)))
			goto nomem;
	}
	*out = r;
	return 0;
nomem:
	bundle_reader_free(&r);
	return -ENOMEM;
}

const uint8_t *
bundle_reader_network(const struct bundle_reader *r)
{
	return r->network;
}

const uint8_t *
bundle_reader_maker(const struct bundle_reader *r)
{
	return r->maker;
}

uint64_t
bundle_reader_expected(const struct bundle_reader *r)
{
	return r->expected;
}

void
bundle_reader_receipt(const struct bundle_reader *r, const uint8_t **p,
    size_t *len)
{
	*p = r->rbuf;
	*len = r->rlen;
}

size_t
bundle_reader_memory(const struct bundle_reader *r)
{
	return sizeof(*r) + r->cap + RECEIPT_MAX +
	    r->seen_cap * sizeof(*r->seen) +
	    (r->z ? 2 * IO_CHUNK + ZSTD_sizeof_DCtx(r->z) : 0);
}

/* After the end marker: the body must end there, then the trailer, then
 * the file. Returns 0 if the maker signed it all, -NUSA_EBADSIG if not. */
static int
read_trailer(struct bundle_reader *r)
{
	uint8_t sig[NUSA_SIG_LEN + 1], h[NUSA_HASH_LEN];
	size_t have = 0, k;
	int rc;

	if (r->compression == BUNDLE_ZSTD) {
		/* Drain the frame: nothing may follow the end marker. */
		while (r->out_pos == r->out_len && !r->frame_done)
			if ((rc = r_inflate(r)) != 0)
				return rc;
		if (r->out_pos != r->out_len)
			return -NUSA_EMALFORMED;
		k = r->in_len - r->in_pos;
		if (k > sizeof(sig))
			return -NUSA_EMALFORMED;
		memcpy(sig, r->zin + r->in_pos, k);
		have = k;
	}
	crypto_generichash_final(&r->h, h, sizeof(h));
	have += fread(sig + have, 1, sizeof(sig) - have, r->in);
	if (ferror(r->in))
		return -EIO;
	if (have < NUSA_SIG_LEN)
		return -NUSA_ETRUNCATED;
	if (have > NUSA_SIG_LEN || fgetc(r->in) != EOF)
		return -NUSA_EMALFORMED;
	if (crypto_sign_verify_detached(sig, h, sizeof(h), r->maker) != 0)
		return -NUSA_EBADSIG;
	return 0;
}

static struct seen *
seen_slot(struct seen *tab, size_t cap, const uint8_t *key,
    const uint8_t *author)
{
	uint8_t h[crypto_shorthash_BYTES];
	size_t i;

	/* Keyed (SipHash, a random key per reader): a file cannot pick
	 * authors that collide. */
	crypto_shorthash(h, author, NUSA_KEY_LEN, key);
	for (i = (size_t)codec_rd64(h) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (tab[i].last == 0 ||
		    memcmp(tab[i].author, author, NUSA_KEY_LEN) == 0)
			return &tab[i];
}

/* Records a batch of author from seq first to last; a batch that does
 * not go past the author's earlier ones is a rewind. Returns 0,
 * -NUSA_EMALFORMED past REWINDS_MAX or AUTHORS_MAX, or -ENOMEM. */
static int
seen_batch(struct bundle_reader *r, const uint8_t *author, uint64_t first,
    uint64_t last)
{
	struct seen *e, *tab;
	size_t i, cap;

	if (r->seen_n * 2 >= r->seen_cap) {
		if (r->seen_n >= AUTHORS_MAX)
			return -NUSA_EMALFORMED;
		cap = r->seen_cap ? r->seen_cap * 2 : 64;
		if ((tab = calloc(cap, sizeof(*tab))) == NULL)
			return -ENOMEM;
		if (r->seen == NULL)
			randombytes_buf(r->seen_key, sizeof(r->seen_key));
		for (i = 0; i < r->seen_cap; i++)
			if (r->seen[i].last)
				*seen_slot(tab, cap, r->seen_key,
				    r->seen[i].author) = r->seen[i];
		free(r->seen);
		r->seen = tab;
		r->seen_cap = cap;
	}
	e = seen_slot(r->seen, r->seen_cap, r->seen_key, author);
	if (e->last == 0) {
		memcpy(e->author, author, NUSA_KEY_LEN);
		r->seen_n++;
	} else if (first <= e->last && ++r->rewinds > REWINDS_MAX) {
		return -NUSA_EMALFORMED;
	}
	if (last > e->last)
		e->last = last;
	return 0;
}

static int
read_batch(struct bundle_reader *r, struct store_batch *b)
{
	uint64_t count, len, total = 0, first;
	uint8_t *nb;
	size_t i, off = 0, prev = 0, skip;
	int rc;

	if (r->receipts)
		return -NUSA_EMALFORMED;	/* batches come first */
	if ((rc = body_be(r, &count, 2)) != 0)
		return rc;
	if (count == 0 || count > NUSA_BATCH_MAX)
		return -NUSA_EMALFORMED;
	for (i = 0; i < count; i++) {
		if ((rc = body_be(r, &len, 4)) != 0)
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
		if ((rc = body_read(r, r->buf + off + skip, len)) != 0)
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
	if ((rc = body_read(r, r->sig, NUSA_SIG_LEN)) != 0)
		return rc;
	/* The first body is whole: its author and seq are in the clear
	 * (store_ingest() checks them, and the chain from there). */
	first = codec_rd64(r->buf + ENTRY_SEQ_AT);
	/* Seqs that reach the top of the range are no feed's: refused, not
	 * waved past the rewind and author limits. (Seq 0 is no entry's:
	 * decoding the body refuses it.) */
	if (first > UINT64_MAX - count)
		return -NUSA_EMALFORMED;
	if (first != 0 && (rc = seen_batch(r, r->buf + ENTRY_AUTHOR_AT,
	    first, first + count - 1)) != 0)
		return rc;
	r->entries += count;
	r->batches++;
	if (r->entries > r->expected || r->batches > r->expected_batches)
		return -NUSA_EMALFORMED;
	b->bodies = r->bodies;
	b->lens = r->lens;
	b->n = count;
	b->sig = r->sig;
	return BUNDLE_BATCH;
}

int
bundle_reader_next(struct bundle_reader *r, struct store_batch *b)
{
	uint64_t entries, batches, receipts, len;
	uint8_t tag;
	int rc;

	if (r->ended)
		return -EINVAL;
	if ((rc = body_read(r, &tag, 1)) != 0)
		return rc;
	switch (tag) {
	case TAG_BATCH:
		return read_batch(r, b);
	case TAG_RECEIPT:
		if ((rc = body_be(r, &len, 4)) != 0)
			return rc;
		if (len > RECEIPT_MAX || r->receipts >= BUNDLE_RECEIPTS_MAX)
			return -NUSA_EMALFORMED;
		if ((rc = body_read(r, r->rbuf, len)) != 0)
			return rc;
		r->rlen = len;
		r->receipts++;
		return BUNDLE_RECEIPT;
	case TAG_END:
		if ((rc = body_be(r, &entries, 8)) != 0 ||
		    (rc = body_be(r, &batches, 4)) != 0 ||
		    (rc = body_be(r, &receipts, 4)) != 0)
			return rc;
		if (entries != r->entries || batches != r->batches ||
		    receipts != r->receipts || entries != r->expected ||
		    batches != r->expected_batches)
			return -NUSA_EMALFORMED;
		r->ended = 1;
		return read_trailer(r);
	default:
		return -NUSA_EMALFORMED;
	}
}

void
bundle_reader_free(struct bundle_reader **r)
{
	if (r == NULL || *r == NULL)
		return;
	ZSTD_freeDCtx((*r)->z);
	free((*r)->zin);
	free((*r)->zout);
	free((*r)->rbuf);
	free((*r)->buf);
	free((*r)->seen);
	free(*r);
	*r = NULL;
}

/* ---- import ---- */

/* Refusals that concern one feed only, and what this box knows of its
 * author: not enrolled here (yet), a role that may not write this, a
 * predecessor this box lacks. The other feeds are still worth taking. */
static int
feed_refusal(int rc)
{
	return rc == -NUSA_EUNENROLLED || rc == -NUSA_EFORBIDDEN ||
	    rc == -NUSA_EGAP;
}

struct own {
	const struct key *self;
	int changed;
};

/* Records in t self's receipt of what the store holds now: if the import
 * changed it, or there is none yet. For store_write(). */
static int
own_receipt(struct store_txn *t, void *ctx)
{
	const struct key *self = ((struct own *)ctx)->self;
	int changed = ((struct own *)ctx)->changed;
	struct receipt old;
	uint8_t *buf;
	size_t len;
	int rc;

	if (!changed && receipt_get(t, self->pk, &old) == 0)
		return 0;
	if ((buf = malloc(RECEIPT_MAX)) == NULL)
		return -ENOMEM;
	rc = receipt_make(t, self, (uint64_t)time(NULL), buf, RECEIPT_MAX,
	    &len);
	if (rc == 0)
		rc = receipt_put(t, buf, len, (uint64_t)time(NULL), NULL);
	free(buf);
	/* Not enrolled (a relay that only carries) or too many feeds: no
	 * receipt, and nothing wrong with the import. */
	if (rc == -NUSA_EUNENROLLED || rc == -NUSA_EREVOKED ||
	    rc == -NUSA_ERANGE)
		rc = 0;
	return rc;
}

static int
import_once(struct store *s, FILE *in, const struct key *self,
    struct bundle_stats *st, struct bundle_fault *where)
{
	struct bundle_reader *r = NULL;
	struct store_ingest_stats is;
	struct store_txn *t = NULL, *child;
	struct store_batch b;
	struct store_device d;
	struct bundle_fault first = { 0 };
	uint8_t net[NUSA_KEY_LEN];
	const uint8_t *rp;
	uint64_t committed = 0;
	size_t rlen;
	int rc, crc, joining = 0, refused = 0, kept;
	struct own own = { .self = self };

	memset(st, 0, sizeof(*st));
	memset(where, 0, sizeof(*where));
	if ((rc = bundle_reader_open(&r, in)) != 0)
		return rc;
	st->expected = bundle_reader_expected(r);
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
		if ((rc = bundle_reader_next(r, &b)) <= 0) {
			/* The reader checks one signature: the maker's. */
			if (rc == -NUSA_EBADSIG)
				where->maker = 1;
			break;
		}
		if (t == NULL && (rc = store_begin(s, &t, STORE_WRITE)) != 0)
			break;
		if (rc == BUNDLE_RECEIPT) {
			/* A receipt stands on its own device's signature. */
			bundle_reader_receipt(r, &rp, &rlen);
			/* Ours we make ourselves (below), whatever a copy of
			 * this box's key may have said. */
			if (rlen > RECEIPT_HEAD_LEN && memcmp(rp + 1 +
			    NUSA_KEY_LEN, self->pk, NUSA_KEY_LEN) == 0)
				continue;
			rc = receipt_put(t, rp, rlen, (uint64_t)time(NULL),
			    &kept);
			if (rc != 0 && rc != -NUSA_EBADSIG &&
			    rc != -NUSA_EMALFORMED && rc != -NUSA_EVERSION &&
			    rc != -NUSA_ENETWORK && rc != -NUSA_EUNENROLLED &&
			    rc != -NUSA_EREVOKED)
				break;
			if (rc == 0)
				st->receipts += (uint64_t)kept;
			else
				st->receipts_bad++;
			rc = 0;
			continue;
		}
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
		if (joining && store_device(t, self->pk, &d) == 0 &&
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
	if (rc == 0 && t == NULL && (rc = store_begin(s, &t,
	    STORE_WRITE)) != 0)
		goto out;
	if (rc == 0 && (store_device(t, bundle_reader_maker(r), &d) != 0 ||
	    d.role == ROLE_NONE)) {
		rc = -NUSA_EUNENROLLED;
		where->maker = 1;
	}
	if (rc == 0 && refused) {
		rc = refused;
		*where = first;
	}
	if (joining) {
		/* Never enrolled: keep nothing, not even the network. */
		if (rc == 0 || rc == refused || where->maker)
			rc = -NUSA_EUNENROLLED;
		where->maker = 0;
	} else {
		/* The batches before a bad one or a cut-off end stay, and
		 * our receipt says what we have now. The receipt goes in a
		 * transaction of its own: failing to write it must not
		 * take back verified batches already counted in st. (No
		 * unit test injects that failure: the store has no fault
		 * hook, and a map sized to fit the batches but not the
		 * receipt depends on LMDB's page use.) */
		crc = t ? store_commit(t) : 0;
		t = NULL;
		if (rc == 0)
			rc = crc;
		own.changed = st->added > 0;
		if (crc == 0)
			st->receipt_err = store_write(s, own_receipt, &own);
	}
out:
	store_abort(t);
	bundle_reader_free(&r);
	return rc;
}

int
bundle_import(struct store *s, FILE *in, const struct key *self,
    struct bundle_stats *st, struct bundle_fault *where)
{
	off_t start = ftello(in);
	int rc;

	/* The map grows between transactions, but a joining box holds all
	 * it reads in one until it is enrolled (and a group may outgrow a
	 * small store): if the map fills up, grow it and read the file
	 * again from its start; what went in already is a duplicate. A
	 * file that cannot rewind (a pipe) gets -ENOSPC: spool it first. */
	for (;;) {
		rc = import_once(s, in, self, st, where);
		if (rc != -ENOSPC || start < 0 || store_grow(s) != 0 ||
		    fseeko(in, start, SEEK_SET) != 0)
			return rc;
	}
}
