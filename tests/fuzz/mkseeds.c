/* Writes the seed corpora of the fuzzers: valid entries, payloads,
 * bundles, stream batches and sync messages of a small cooperative. Run
 * by hand when a format changes, from the repository root, and commit the
 * files it writes:
 *
 *   cc -std=c11 -D_GNU_SOURCE -Icrdt -Itransport -o build/mkseeds \
 *       tests/fuzz/mkseeds.c crdt/[a-z]*.c transport/bundle.c \
 *       transport/stream.c transport/proto.c \
 *       $(pkg-config --cflags --libs libsodium lmdb libzstd) && \
 *   build/mkseeds tests/fuzz/corpus
 *
 * The bundles are signed by the root key fuzz_bundle.c joins: its seed is
 * FUZZ_ROOT_SEED in every byte; it is also their maker. Most bundle seeds
 * are uncompressed (BUNDLE_RAW), so that mutations reach the records
 * rather than the decompressor; the -zstd ones are compressed. Entries
 * carry the wall clock, so each run writes different (equally valid)
 * files. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bundle.h"
#include "entry.h"
#include "key.h"
#include "ledger.h"
#include "payload.h"
#include "proto.h"
#include "receipt.h"
#include "store.h"
#include "stream.h"
#include "vector.h"

#define FUZZ_ROOT_SEED 0x4e
#define DATE	       20240517

static const char *outdir;
static char tmpdir[64];
static const struct key *maker;	/* signs every bundle: the root */

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mkseeds: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
check(int rc, const char *what)
{
	if (rc != 0)
		die("%s: %s", what, nusa_strerror(rc));
}

/* A key from a seed of one repeated byte, built by hand as key.h lays it
 * out, so the seeds and the harness agree on the root. */
static struct key *
seed_key(uint8_t fill)
{
	uint8_t seed[crypto_sign_SEEDBYTES];
	struct key *k = calloc(1, sizeof(*k));

	if (k == NULL ||
	    (k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
		die("out of memory");
	memset(seed, fill, sizeof(seed));
	crypto_sign_seed_keypair(k->pk, k->sk, seed);
	return k;
}

static struct store *
new_store(const char *name)
{
	struct store *s;
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	check(store_open(&s, path, STORE_CREATE), path);
	return s;
}

static void
write_seed(const char *corpus, const char *name, const uint8_t *a,
    size_t alen, const uint8_t *b, size_t blen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, corpus);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die("%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, corpus, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(a, 1, alen, f) != alen ||
	    (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

/* Entry and payload seeds: the first entry of each kind and posting
 * type, named after it. */
struct picker {
	unsigned seen;
};

static int
pick_entry(const struct store_item *it, void *ctx)
{
	struct picker *pk = ctx;
	struct entry e;
	struct payload p;
	char name[64];
	unsigned bit;
	uint8_t kind;

	check(entry_decode(&e, it->body, it->len), "stored entry");
	check(payload_decode(&p, e.kind, e.payload, e.payload_len),
	    "stored payload");
	if (e.kind == KIND_POSTING) {
		bit = 8 + p.u.posting.type;
		snprintf(name, sizeof(name), "posting-%s",
		    payload_posting_name(p.u.posting.type));
	} else if (e.kind == KIND_RECORD) {
		bit = 16 + p.u.record.collection;
		snprintf(name, sizeof(name), "record-%s",
		    payload_collection_name(p.u.record.collection));
	} else {
		bit = e.kind;
		snprintf(name, sizeof(name), "%s", payload_kind_name(e.kind));
	}
	if (pk->seen & 1u << bit)
		return 0;
	pk->seen |= 1u << bit;
	write_seed("fuzz_entry", name, it->body, it->len, NULL, 0);
	kind = e.kind;
	write_seed("fuzz_payload", name, &kind, 1, e.payload, e.payload_len);
	return 0;
}

static void
export_c(struct store *s, const char *path, const struct vector *have,
    int compression)
{
	struct bundle_stats st;
	struct store_txn *t;
	FILE *f;

	if ((f = fopen(path, "wb")) == NULL)
		die("%s: %s", path, strerror(errno));
	check(store_begin(s, &t, STORE_READ), "begin");
	check(bundle_export(t, f, have, maker, compression, &st),
	    "bundle export");
	store_abort(t);
	if (fclose(f) != 0)
		die("%s: %s", path, strerror(errno));
}

static void
export(struct store *s, const char *path, const struct vector *have)
{
	export_c(s, path, have, BUNDLE_RAW);
}

static void
export_seed(struct store *s, const char *name, const struct vector *have,
    int compression)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/fuzz_bundle", outdir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die("%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/fuzz_bundle/%s", outdir, name);
	export_c(s, path, have, compression);
}

/* A bundle written by hand, batch by batch: the batches are kept until
 * the end, since the header counts them. */
#define BW_MAX 16

struct bwriter {
	char path[512];
	uint8_t network[NUSA_KEY_LEN];
	uint8_t *enc[BW_MAX];
	size_t len[BW_MAX], n[BW_MAX];
	size_t batches;
	uint64_t entries;
};

static void
bw_open(struct bwriter *bw, const char *name, const uint8_t *network)
{
	memset(bw, 0, sizeof(*bw));
	snprintf(bw->path, sizeof(bw->path), "%s/fuzz_bundle/%s", outdir,
	    name);
	memcpy(bw->network, network, NUSA_KEY_LEN);
}

static void
bw_batch(struct bwriter *bw, const uint8_t *const *bodies,
    const size_t *lens, size_t n, const uint8_t *sig)
{
	uint8_t *buf, *p;
	size_t i, k;

	if (bw->batches == BW_MAX ||
	    (buf = malloc(STREAM_BATCH_MAX)) == NULL)
		die("bw_batch: too many batches");
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	p = buf + 2;
	for (i = 0; i < n; i++) {
		if ((k = stream_put_entry(p, bodies[i], lens[i], i == 0)) == 0)
			die("stream_put_entry");
		p += k;
	}
	memcpy(p, sig, NUSA_SIG_LEN);
	p += NUSA_SIG_LEN;
	bw->enc[bw->batches] = buf;
	bw->len[bw->batches] = (size_t)(p - buf);
	bw->n[bw->batches++] = n;
	bw->entries += n;
}

static void
bw_close(struct bwriter *bw)
{
	struct bundle_writer *w;
	FILE *out;
	size_t i;

	if ((out = fopen(bw->path, "wb")) == NULL)
		die("%s: %s", bw->path, strerror(errno));
	check(bundle_writer_open(&w, out, bw->network, maker, 1715900000,
	    bw->entries, bw->batches, BUNDLE_RAW), "bundle_writer_open");
	for (i = 0; i < bw->batches; i++) {
		check(bundle_writer_encoded(w, bw->enc[i], bw->len[i],
		    bw->n[i]), "bundle_writer_encoded");
		free(bw->enc[i]);
	}
	check(bundle_writer_close(&w), "bundle_writer_close");
	if (fclose(out) != 0)
		die("%s: %s", bw->path, strerror(errno));
}

/* Writes one bundle holding the batches of several, in the order given:
 * the way two bundles arrive one after the other at a box. */
static void
concat_seed(const char *name, const char *const *paths, size_t n)
{
	struct bundle_reader *r;
	struct store_batch b;
	struct bwriter bw;
	size_t i;
	FILE *in;
	int rc;

	for (i = 0; i < n; i++) {
		if ((in = fopen(paths[i], "rb")) == NULL)
			die("%s: %s", paths[i], strerror(errno));
		check(bundle_reader_open(&r, in), paths[i]);
		if (i == 0)
			bw_open(&bw, name, bundle_reader_network(r));
		while ((rc = bundle_reader_next(r, &b)) > 0)
			if (rc == BUNDLE_BATCH)
				bw_batch(&bw, b.bodies, b.lens, b.n, b.sig);
		check(rc, paths[i]);
		bundle_reader_free(&r);
		fclose(in);
	}
	bw_close(&bw);
}

/* A feed of entries made by hand, to write what the ledger functions
 * refuse to: entries a store must reject on ingest. */
#define CRAFT_MAX 4

struct craft {
	const struct key *k;
	const uint8_t *network;
	uint64_t seq;
	uint8_t prev[NUSA_HASH_LEN];
	uint8_t bodies[CRAFT_MAX][ENTRY_BODY_MAX];
	size_t lens[CRAFT_MAX];
	const uint8_t *ptrs[CRAFT_MAX];
	uint8_t sig[NUSA_SIG_LEN];
	size_t n;
};

static void
craft_init(struct craft *c, const struct key *k, const uint8_t *network)
{
	memset(c, 0, sizeof(*c));
	c->k = k;
	c->network = network;
}

static void
craft_add(struct craft *c, struct payload *p, uint64_t hlc)
{
	uint8_t buf[NUSA_PAYLOAD_MAX], id[NUSA_HASH_LEN];
	struct entry e = { .kind = p->kind };
	size_t len;

	if (c->n == CRAFT_MAX)
		die("craft: feed full");
	check(payload_encode(p, buf, sizeof(buf), &len), "craft payload");
	memcpy(e.network, c->network, NUSA_KEY_LEN);
	memcpy(e.author, c->k->pk, NUSA_KEY_LEN);
	e.seq = ++c->seq;
	memcpy(e.prev, c->prev, NUSA_HASH_LEN);
	e.hlc = hlc;
	e.payload = buf;
	e.payload_len = (uint32_t)len;
	check(entry_encode(&e, c->bodies[c->n], ENTRY_BODY_MAX,
	    &c->lens[c->n]), "craft entry");
	entry_id(id, c->bodies[c->n], c->lens[c->n]);
	entry_sign(c->sig, id, c->k->sk);
	memcpy(c->prev, id, NUSA_HASH_LEN);
	c->ptrs[c->n] = c->bodies[c->n];
	c->n++;
}

static void
craft_flush(struct craft *c, struct bwriter *bw)
{
	bw_batch(bw, c->ptrs, c->lens, c->n, c->sig);
	c->n = 0;
}

static struct payload
network_payload(const char *name)
{
	struct payload p = { .kind = KIND_NETWORK };

	p.u.network.name.p = name;
	p.u.network.name.n = strlen(name);
	return p;
}

static struct payload
cert_payload(const uint8_t *pk, uint8_t role)
{
	struct payload p = { .kind = KIND_CERT };

	memcpy(p.u.cert.device, pk, NUSA_KEY_LEN);
	p.u.cert.role = role;
	return p;
}

static struct payload
member_payload(const char *id, const char *name)
{
	struct payload p = { .kind = KIND_RECORD };

	p.u.record.collection = COLL_MEMBER;
	p.u.record.key.p = id;
	p.u.record.key.n = strlen(id);
	p.u.record.nfields = 1;
	p.u.record.fields[0].name.p = "name";
	p.u.record.fields[0].name.n = 4;
	p.u.record.fields[0].value.p = name;
	p.u.record.fields[0].value.n = strlen(name);
	return p;
}

/* Bundles whose entries are all well formed and signed, but that a store
 * must refuse: each reaches one of store_ingest()'s checks past the
 * signature, which mutations alone would hardly ever get through. */
static void
crafted_seeds(const struct key *root, const struct key *clerk,
    const struct key *stranger)
{
	const uint64_t t0 = (UINT64_C(1715900000000) << 16);
	struct craft rc, cc;
	struct bwriter bw;
	struct payload p;

	/* A clerk writing a certificate, which only admins may. */
	bw_open(&bw, "forbidden-cert", root->pk);
	craft_init(&rc, root, root->pk);
	p = network_payload("Koperasi Rakitan");
	craft_add(&rc, &p, t0);
	p = cert_payload(clerk->pk, ROLE_CLERK);
	craft_add(&rc, &p, t0 + 1);
	craft_flush(&rc, &bw);
	craft_init(&cc, clerk, root->pk);
	p = member_payload("m-1", "Ibu Rina");
	craft_add(&cc, &p, t0 + 2);
	p = cert_payload(stranger->pk, ROLE_ADMIN);
	craft_add(&cc, &p, t0 + 3);
	craft_flush(&cc, &bw);
	bw_close(&bw);

	/* A feed whose clock goes back: seq 2 is older than seq 1. */
	bw_open(&bw, "clock-back", root->pk);
	craft_init(&rc, root, root->pk);
	p = network_payload("Koperasi Rakitan");
	craft_add(&rc, &p, t0 + 10);
	p = member_payload("m-1", "Ibu Rina");
	craft_add(&rc, &p, t0 + 5);
	craft_flush(&rc, &bw);
	bw_close(&bw);

	/* The same, split over two batches, and a second genesis entry. */
	bw_open(&bw, "two-batches", root->pk);
	craft_init(&rc, root, root->pk);
	p = network_payload("Koperasi Rakitan");
	craft_add(&rc, &p, t0);
	craft_flush(&rc, &bw);
	p = member_payload("m-1", "Ibu Rina");
	craft_add(&rc, &p, t0 + 1);
	p = network_payload("Koperasi Lagi");
	craft_add(&rc, &p, t0 + 2);
	craft_flush(&rc, &bw);
	bw_close(&bw);

	/* A device nobody enrolled. */
	bw_open(&bw, "unenrolled", root->pk);
	craft_init(&rc, root, root->pk);
	p = network_payload("Koperasi Rakitan");
	craft_add(&rc, &p, t0);
	craft_flush(&rc, &bw);
	craft_init(&cc, stranger, root->pk);
	p = member_payload("m-2", "Pak Anton");
	craft_add(&cc, &p, t0 + 1);
	craft_flush(&cc, &bw);
	bw_close(&bw);

	/* Another network's genesis under this network's header. */
	bw_open(&bw, "other-network", root->pk);
	craft_init(&rc, stranger, stranger->pk);
	p = network_payload("Koperasi Lain");
	craft_add(&rc, &p, t0);
	craft_flush(&rc, &bw);
	bw_close(&bw);
}

/* Stream seeds (fuzz_stream): the first max batches of a stream of s,
 * named prefix-1, prefix-2, ... */
static void
stream_seeds(struct store *s, const char *prefix, const struct vector *have,
    int flags, size_t batch_max, size_t max)
{
	struct stream_batch b;
	struct store_txn *t;
	struct stream *x;
	char name[64];
	size_t n = 0;
	int rc = 0;

	check(store_begin(s, &t, STORE_READ), "begin");
	check(stream_open(&x, t, have, flags, batch_max, 0), "stream open");
	while (n < max && (rc = stream_next(x, t, &b)) == 1) {
		snprintf(name, sizeof(name), "%s-%zu", prefix, ++n);
		write_seed("fuzz_stream", name, b.data, b.len, NULL, 0);
	}
	if (rc < 0)
		check(rc, "stream next");
	store_abort(t);
	stream_free(&x);
}

static int
put_item(const uint8_t *author, uint64_t seq, void *ctx)
{
	return proto_put_item(ctx, author, seq);
}

static void
proto_seed(const char *name, struct proto_buf *pb, int rc)
{
	check(rc, name);
	write_seed("fuzz_proto", name, pb->buf, pb->len, NULL, 0);
}

/* Sync message seeds (fuzz_proto): one or two of each type, the vectors
 * and batches those of s. */
static void
proto_seeds(struct store *s)
{
	struct proto_buf pb = { 0 };
	uint8_t net[NUSA_KEY_LEN];
	struct stream_batch b;
	struct store_txn *t;
	struct stream *x;
	char name[64];
	uint32_t i;

	check(store_begin(s, &t, STORE_READ), "begin");
	check(store_network(t, net, NULL, 0), "network");
	check(proto_hello(&pb, PROTO_CREDIT, net), "hello");
	check(store_vector_each(t, put_item, &pb), "hello items");
	proto_finish_items(&pb);
	proto_seed("hello", &pb, 0);
	check(proto_welcome(&pb, PROTO_CREDIT), "welcome");
	check(store_vector_each(t, put_item, &pb), "welcome items");
	proto_finish_items(&pb);
	proto_seed("welcome", &pb, 0);
	check(proto_hello(&pb, 1, net), "hello");
	proto_finish_items(&pb);
	proto_seed("hello-empty", &pb, 0);
	check(proto_welcome(&pb, PROTO_CREDIT_MAX), "welcome");
	proto_finish_items(&pb);
	proto_seed("welcome-empty", &pb, 0);
	check(stream_open(&x, t, NULL, 0, 3, 0), "stream open");
	for (i = 0; i < 2 && stream_next(x, t, &b) == 1; i++) {
		snprintf(name, sizeof(name), "batch-%u", (unsigned)i);
		proto_seed(name, &pb, proto_batch(&pb, i, b.data, b.len));
	}
	stream_free(&x);
	store_abort(t);
	proto_seed("ack-stored", &pb, proto_ack(&pb, 0, PROTO_ACK_STORED, 12));
	proto_seed("ack-refused", &pb, proto_ack(&pb, 7, PROTO_ACK_REFUSED,
	    0));
	proto_seed("ack-gap", &pb, proto_ack(&pb, 8, PROTO_ACK_GAP, 0));
	check(proto_forks(&pb), "forks");
	check(proto_put_fork(&pb, net, 3, (const uint8_t *)"head0123"),
	    "fork item");
	proto_finish_items(&pb);
	proto_seed("forks", &pb, 0);
	proto_seed("done", &pb, proto_done(&pb));
	proto_seed("done-ask", &pb, proto_done_request(&pb));
	proto_seed("error", &pb, proto_error(&pb, PROTO_ERR_ENTRY,
	    "batch 3, entry 2 does not verify"));
	free(pb.buf);
}

/* Receipt seeds (fuzz_receipt): what a store holds, signed by k. */
static void
receipt_seed(struct store *s, const struct key *k, const char *name)
{
	uint8_t buf[RECEIPT_MAX];
	struct store_txn *t;
	size_t len;

	check(store_begin(s, &t, STORE_READ), "begin");
	check(receipt_make(t, k, 1715900000, buf, sizeof(buf), &len),
	    "receipt");
	store_abort(t);
	write_seed("fuzz_receipt", name, buf, len, NULL, 0);
}

static void
import(struct store *s, const char *path, const struct key *self)
{
	struct bundle_stats st;
	struct bundle_fault where;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		die("%s: %s", path, strerror(errno));
	check(bundle_import(s, f, self, &st, &where), "bundle import");
	fclose(f);
}

static void
rmtree(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "mkseeds: could not remove %s\n", tmpdir);
}

int
main(int argc, char **argv)
{
	struct key *root, *admin, *clerk, *stranger;
	struct store *a, *b, *c, *g;
	struct store_txn *t;
	struct picker pk = { 0 };
	struct vector *have;
	uint8_t wd[NUSA_HASH_LEN];
	char a0[128], a1[128], b1[128], c1[128];
	const char *ab[2], *ba[2], *ac[2];
	const char *names[] = { "phone" }, *values[] = { "0812-555-0101" };

	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds CORPUS-DIR\n");
		return 2;
	}
	outdir = argv[1];
	if (sodium_init() < 0)
		die("sodium_init failed");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/nusa-mkseeds-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	atexit(rmtree);
	root = seed_key(FUZZ_ROOT_SEED);
	maker = root;
	admin = seed_key(0x41);
	clerk = seed_key(0x43);
	stranger = seed_key(0x53);

	/* A: the cooperative's office box. */
	a = new_store("a");
	check(store_begin(a, &t, STORE_WRITE), "begin");
	check(store_create_network(t, root, "Koperasi Seed Makmur"), "net");
	check(ledger_member_add(t, root, "m-001", "Ibu Siti",
	    "Desa Sukamaju"), "member");
	check(ledger_member_add(t, root, "m-002", "Pak Budi", NULL), "member");
	check(ledger_account_open(t, root, "s-001", "m-001", "sukarela"),
	    "account");
	check(ledger_account_open(t, root, "w-002", "m-002", "wajib"),
	    "account");
	check(ledger_account_open(t, root, "l-001", "m-001", "loan"),
	    "account");
	check(ledger_post(t, root, POST_DEPOSIT, "s-001", NULL, 100000,
	    "setoran awal", DATE, NULL), "deposit");
	check(ledger_post(t, root, POST_WITHDRAW, "s-001", NULL, 25000, "",
	    DATE, wd), "withdraw");
	check(ledger_post(t, root, POST_TRANSFER, "s-001", "w-002", 5000,
	    "iuran wajib", DATE, NULL), "transfer");
	check(ledger_post(t, root, POST_DISBURSE, "l-001", NULL, 2000000,
	    "pinjaman usaha", DATE, NULL), "disburse");
	check(ledger_post(t, root, POST_REPAY, "l-001", NULL, 150000,
	    "angsuran 1", DATE, NULL), "repay");
	check(ledger_reverse(t, root, wd, "salah input", DATE, NULL),
	    "reverse");
	check(ledger_record_set(t, root, COLL_MEMBER, "m-001", 1, names,
	    values), "record set");
	check(ledger_enrol(t, root, admin->pk, ROLE_ADMIN), "enrol admin");
	check(ledger_enrol(t, admin, clerk->pk, ROLE_CLERK), "enrol clerk");
	check(ledger_post(t, clerk, POST_DEPOSIT, "w-002", NULL, 10000,
	    "setoran wajib", DATE, NULL), "clerk deposit");
	check(store_commit(t), "commit");
	snprintf(a0, sizeof(a0), "%s/a0.bundle", tmpdir);
	export(a, a0, NULL);

	/* B: the clerk's box joins from A's bundle, writes offline. */
	b = new_store("b");
	import(b, a0, clerk);
	check(store_begin(b, &t, STORE_WRITE), "begin");
	check(ledger_post(t, clerk, POST_DEPOSIT, "s-001", NULL, 3000, "",
	    DATE, NULL), "clerk deposit");
	check(ledger_post(t, clerk, POST_WITHDRAW, "w-002", NULL, 2000, "",
	    DATE, NULL), "clerk withdraw");
	check(store_commit(t), "commit");

	/* Meanwhile A revokes the clerk and removes a member. */
	check(store_begin(a, &t, STORE_WRITE), "begin");
	check(ledger_revoke(t, admin, clerk->pk), "revoke");
	check(ledger_record_remove(t, root, COLL_MEMBER, "m-002"), "remove");
	check(store_commit(t), "commit");

	/* C: another box restored with the same root key: a fork. */
	c = new_store("c");
	check(store_begin(c, &t, STORE_WRITE), "begin");
	check(store_create_network(t, root, "Koperasi Seed Cabang"), "net");
	check(ledger_member_add(t, root, "m-900", "Ibu Ani", NULL), "member");
	check(store_commit(t), "commit");

	/* G: a network and nothing else. */
	g = new_store("g");
	check(store_begin(g, &t, STORE_WRITE), "begin");
	check(store_create_network(t, root, "K"), "net");
	check(store_commit(t), "commit");

	check(store_begin(a, &t, STORE_READ), "begin");
	check(store_log_each(t, pick_entry, &pk), "log");
	store_abort(t);

	snprintf(a1, sizeof(a1), "%s/a1.bundle", tmpdir);
	snprintf(b1, sizeof(b1), "%s/b1.bundle", tmpdir);
	snprintf(c1, sizeof(c1), "%s/c1.bundle", tmpdir);
	export(a, a1, NULL);
	export(b, b1, NULL);
	export(c, c1, NULL);
	export_seed(a, "office", NULL, BUNDLE_RAW);
	export_seed(a, "office-zstd", NULL, BUNDLE_ZSTD);
	export_seed(g, "genesis", NULL, BUNDLE_RAW);
	if ((have = vector_new()) == NULL ||
	    vector_set(have, root->pk, 4) != 0)
		die("out of memory");
	export_seed(a, "since-4", have, BUNDLE_RAW);
	export_seed(b, "clerk-zstd", have, BUNDLE_ZSTD);
	vector_free(&have);
	ab[0] = a1, ab[1] = b1;
	ba[0] = b1, ba[1] = a1;
	ac[0] = a1, ac[1] = c1;
	concat_seed("revoked-first", ab, 2);
	concat_seed("revoked-last", ba, 2);
	concat_seed("fork", ac, 2);
	crafted_seeds(root, clerk, stranger);
	stream_seeds(a, "office", NULL, 0, NUSA_BATCH_MAX, 16);
	stream_seeds(a, "office-by-3", NULL, 0, 3, 3);
	stream_seeds(b, "clerk", NULL, 0, NUSA_BATCH_MAX, 16);
	stream_seeds(c, "branch", NULL, 0, NUSA_BATCH_MAX, 16);
	proto_seeds(a);
	receipt_seed(a, root, "office");
	receipt_seed(b, clerk, "clerk");
	receipt_seed(g, admin, "genesis");

	store_close(a);
	store_close(b);
	store_close(c);
	store_close(g);
	key_free(&root);
	key_free(&admin);
	key_free(&clerk);
	key_free(&stranger);
	return 0;
}
