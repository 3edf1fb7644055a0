/* replica_decode() and rekey_decode() (DIR/replica, DIR/rekey) accept
 * exactly one text per value: whatever they accept must encode back to
 * the same bytes. The first input byte picks the decoder. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replica.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[REPLICA_FILE_MAX];
	const char *in;
	struct replica r;
	struct rekey k;
	int n;

	if (size < 1)
		return 0;
	in = (const char *)data + 1;
	size--;
	if (data[0] & 1) {
		if (rekey_decode(&k, in, size) != 0)
			return 0;
		n = rekey_encode(&k, out, sizeof(out));
	} else {
		if (replica_decode(&r, in, size) != 0)
			return 0;
		n = replica_encode(&r, out, sizeof(out));
	}
	if (n < 0 || (size_t)n != size || memcmp(out, in, size) != 0)
		abort();
	return 0;
}
