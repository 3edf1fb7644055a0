/* Batches come from peers and bundles: stream_reader_decode() must take
 * any bytes without crashing or allocating more than they imply, and the
 * encoding is canonical: a batch it accepts is exactly what the writer
 * makes of the bodies it restored (the first whole, the others without
 * the bytes the chain implies, then the signature). Restored bodies must
 * chain: network and author of the first, seq one more, prev the id of
 * the body before. Pure (no store) so that it runs fast. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"
#include "nusa.h"
#include "store.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct stream_reader *reader;
static uint8_t *out;

static uint64_t
rd64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t id[NUSA_HASH_LEN];
	struct store_batch b;
	size_t i, off, w;
	int rc;

	if (reader == NULL && (reader = stream_reader_new()) == NULL)
		abort();
	if (out == NULL && (out = malloc(STREAM_BATCH_MAX + 4 +
	    ENTRY_BODY_MAX)) == NULL)
		abort();
	rc = stream_reader_decode(reader, data, size, &b);
	if (rc == -NUSA_EMALFORMED)
		return 0;
	if (rc != 0 || b.n == 0 || b.n > NUSA_BATCH_MAX ||
	    size > STREAM_BATCH_MAX)
		abort();
	out[0] = (uint8_t)(b.n >> 8);
	out[1] = (uint8_t)b.n;
	off = 2;
	for (i = 0; i < b.n; i++) {
		if (b.lens[i] < ENTRY_HEADER_LEN ||
		    b.lens[i] > ENTRY_BODY_MAX)
			abort();
		if (i > 0) {
			if (memcmp(b.bodies[i] + STREAM_CHAIN_FROM,
			    b.bodies[0] + STREAM_CHAIN_FROM, 64) != 0 ||
			    rd64(b.bodies[i] + 66) !=
			    rd64(b.bodies[i - 1] + 66) + 1)
				abort();
			entry_id(id, b.bodies[i - 1], b.lens[i - 1]);
			if (memcmp(b.bodies[i] + 74, id, NUSA_HASH_LEN) != 0)
				abort();
		}
		if ((w = stream_put_entry(out + off, b.bodies[i], b.lens[i],
		    i == 0)) == 0)
			abort();
		off += w;
		if (off + NUSA_SIG_LEN > size)
			abort();
	}
	memcpy(out + off, b.sig, NUSA_SIG_LEN);
	off += NUSA_SIG_LEN;
	if (off != size || memcmp(out, data, size) != 0)
		abort();
	return 0;
}
