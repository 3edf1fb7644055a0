/* entry_decode() accepts exactly one encoding per entry: whatever it
 * accepts must encode back to the very same bytes, or two replicas could
 * hold one entry under two ids. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[ENTRY_BODY_MAX];
	struct entry e;
	size_t len = 0;

	if (entry_decode(&e, data, size) != 0)
		return 0;
	if (size > ENTRY_BODY_MAX || e.payload < data ||
	    e.payload + e.payload_len != data + size)
		abort();
	if (entry_encode(&e, out, sizeof(out), &len) != 0 || len != size ||
	    memcmp(out, data, size) != 0)
		abort();
	return 0;
}
