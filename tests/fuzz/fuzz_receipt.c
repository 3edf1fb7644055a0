/* Receipts come from other boxes inside bundles: decoding one must fail
 * cleanly whatever the bytes, and what decodes must be one canonical,
 * sorted vector. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "receipt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct receipt r;
	const uint8_t *a, *prev = NULL;
	uint64_t seq;
	size_t i;

	if (receipt_decode(&r, data, size) != 0)
		return 0;
	if (r.n > RECEIPT_FEEDS_MAX || size != RECEIPT_HEAD_LEN +
	    r.n * RECEIPT_ITEM_LEN + NUSA_SIG_LEN)
		abort();
	for (i = 0; i < r.n; i++) {
		receipt_item(&r, i, &a, &seq);
		if (seq == 0 || (prev && memcmp(prev, a, NUSA_KEY_LEN) >= 0) ||
		    receipt_get_seq(&r, a) != seq)
			abort();
		prev = a;
	}
	return 0;
}
