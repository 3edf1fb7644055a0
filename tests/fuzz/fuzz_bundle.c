/* Bundles come from untrusted hands: reading one and ingesting its
 * batches must fail cleanly, never crash or leak, whatever the bytes.
 *
 * The store is made once: it has joined the network of a root key derived
 * from a fixed seed (the seeds of tests/fuzz/mkseeds.c are signed by the
 * same root), exactly as a new box that imports its first bundle. Each
 * input runs in one write transaction that is aborted, so every input
 * sees the same store and a crash reproduces from its input alone. Seeds
 * are mostly uncompressed bundles (BUNDLE_RAW), a few zstd ones. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "bundle.h"
#include "receipt.h"
#include "store.h"

/* What a reader may hold: the zstd window and its tables, the buffers,
 * a batch and a receipt. */
#define BUNDLE_READER_MAX ((size_t)8 << 20)

/* Every byte of the root key's seed; mkseeds.c signs with the same. */
#define FUZZ_ROOT_SEED 0x4e

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static char dir[64], path[96];

static void
cleanup(void)
{
	char f[128];

	store_close(store);
	store = NULL;
	snprintf(f, sizeof(f), "%s/data.mdb", path);
	unlink(f);
	snprintf(f, sizeof(f), "%s/lock.mdb", path);
	unlink(f);
	snprintf(f, sizeof(f), "%s/compact.lock", path);
	unlink(f);
	rmdir(path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	const char *tmp = getenv("TMPDIR");
	struct store_txn *t;

	(void)argc;
	(void)argv;
	if (sodium_init() < 0)
		abort();
	memset(seed, FUZZ_ROOT_SEED, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	sodium_memzero(sk, sizeof(sk));
	snprintf(dir, sizeof(dir), "%s/nusa-fuzz-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/store", dir);
	if (store_open(&store, path, STORE_CREATE) != 0 ||
	    store_begin(store, &t, STORE_WRITE) != 0)
		abort();
	if (store_join(t, pk) != 0 || store_commit(t) != 0)
		abort();
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_reader *r = NULL;
	struct store_ingest_stats st;
	struct store_txn *t = NULL;
	struct store_batch b;
	struct receipt rc_;
	const uint8_t *rp;
	size_t rlen;
	FILE *in;
	int rc, dead = 0;

	if (size == 0)
		return 0;
	if ((in = fmemopen((void *)data, size, "rb")) == NULL)
		abort();
	if (bundle_reader_open(&r, in) != 0)
		goto out;
	(void)bundle_reader_network(r);
	(void)bundle_reader_maker(r);
	if (store_begin(store, &t, STORE_WRITE) != 0)
		abort();
	/* Read to the end (the trailer is checked there), ingesting the
	 * batches until one is refused, and every receipt. */
	while ((rc = bundle_reader_next(r, &b)) > 0) {
		if (bundle_reader_memory(r) > BUNDLE_READER_MAX)
			abort();
		if (rc == BUNDLE_RECEIPT) {
			bundle_reader_receipt(r, &rp, &rlen);
			if (receipt_decode(&rc_, rp, rlen) == 0 &&
			    rc_.n > RECEIPT_FEEDS_MAX)
				abort();
			(void)receipt_put(t, rp, rlen, 1, NULL);
			continue;
		}
		if (b.n == 0 || b.n > NUSA_BATCH_MAX)
			abort();
		if (dead || store_ingest(t, &b, &st) != 0) {
			dead = 1;
			continue;
		}
		if (st.added + st.duplicates + st.revoked != b.n)
			abort();
	}
	store_abort(t);
out:
	bundle_reader_free(&r);
	fclose(in);
	return 0;
}
