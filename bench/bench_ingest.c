/* Ingest benchmark: how fast a box takes in a backlog from a bundle, next
 * to what checking one signature per entry alone would cost. Run with
 * `make bench` (optionally BENCH_ENTRIES=N). Figures are ratios measured
 * in one run, since these machines are shared and noisy. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bundle.h"
#include "entry.h"
#include "key.h"
#include "ledger.h"
#include "payload.h"
#include "state.h"
#include "store.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
check(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "bench: %s: %s\n", what, nusa_strerror(rc));
		exit(1);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	char dir[] = "/tmp/nusa-bench-XXXXXX", pa[64], pb[64], cmd[96];
	uint8_t id[NUSA_HASH_LEN], sig[NUSA_SIG_LEN];
	struct store *a, *b;
	struct store_txn *t;
	struct key *k;
	struct bundle_stats st;
	struct bundle_fault where;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	struct mallinfo2 heap0, heap1;
	double t0, ingest, verify;
	long i;

	if (n < 1 || mkdtemp(dir) == NULL || sodium_init() < 0)
		return 1;
	snprintf(pa, sizeof(pa), "%s/a", dir);
	snprintf(pb, sizeof(pb), "%s/b", dir);
	k = key_generate();
	/* The source is written in one transaction: a map that holds it
	 * from the start (the store grows between transactions only). */
	check(store_open_map(&a, pa, STORE_CREATE, (size_t)1 << 30, 0),
	    "open a");
	check(store_begin(a, &t, STORE_WRITE), "begin");
	check(store_create_network(t, k, "Koperasi Bench"), "network");
	check(ledger_member_add(t, k, "M1", "Siti", "Labuan"), "member");
	check(ledger_account_open(t, k, "S1", "M1", "sukarela"), "account");
	for (i = 0; i < n; i++)
		check(ledger_post(t, k, POST_DEPOSIT, "S1", NULL, 1000 + i % 7,
		    "setor", 20260101, NULL), "post");
	check(store_commit(t), "commit");

	f = open_memstream(&buf, &len);
	check(store_begin(a, &t, STORE_READ), "begin");
	check(bundle_export(t, f, NULL, k, BUNDLE_ZSTD, &st), "export");
	store_abort(t);
	fclose(f);

	/* The receiving box has joined the network already. */
	check(store_open(&b, pb, STORE_CREATE), "open b");
	check(store_begin(b, &t, STORE_WRITE), "begin");
	check(store_join(t, k->pk), "join");
	check(store_commit(t), "commit");
	f = fmemopen(buf, len, "rb");
	heap0 = mallinfo2();
	t0 = now();
	check(bundle_import(b, f, k, &st, &where), "import");
	ingest = now() - t0;
	heap1 = mallinfo2();
	fclose(f);

	/* What one Ed25519 check per entry alone costs, on the same ids. */
	memset(id, 7, sizeof(id));
	entry_sign(sig, id, k->sk);
	t0 = now();
	for (i = 0; i < (long)st.entries; i++)
		if (entry_verify(sig, id, k->pk) != 0)
			return 1;
	verify = now() - t0;

	printf("entries              %llu in %llu batches\n",
	    (unsigned long long)st.entries, (unsigned long long)st.batches);
	printf("bundle bytes/entry   %.1f\n", (double)len / (double)st.entries);
	printf("ingest               %.0f entries/s (verify, store, "
	    "materialize; fsync per 4096 entries)\n",
	    (double)st.entries / ingest);
	printf("per-entry signatures %.0f entries/s (Ed25519 verify only)\n",
	    (double)st.entries / verify);
	printf("ratio                %.2fx (ingest rate / signature-only "
	    "rate)\n", verify / ingest);
	/* Bounded memory: the heap an import grows by does not depend on the
	 * backlog (compare runs of different sizes; LMDB pages are mapped
	 * from the file, not allocated). */
	printf("import heap growth   %zu KiB\n", (heap1.arena + heap1.hblkhd -
	    heap0.arena - heap0.hblkhd) / 1024);

	store_close(a);
	store_close(b);
	key_free(&k);
	free(buf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
