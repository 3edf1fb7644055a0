/* payload_decode() accepts exactly one encoding per payload: whatever it
 * accepts must encode back to the same bytes. The first input byte is
 * the entry kind, the rest the payload. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every field of a decoded record can be found again by name. */
static void
check_fields(const struct payload *p)
{
	char name[NUSA_NAME_MAX + 1];
	unsigned i;

	for (i = 0; i < p->u.record.nfields; i++) {
		const struct payload_field *f = &p->u.record.fields[i];

		if (f->name.n > NUSA_NAME_MAX)
			abort();
		memcpy(name, f->name.p, f->name.n);
		name[f->name.n] = '\0';
		if (payload_field(p, name) != f)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[NUSA_PAYLOAD_MAX];
	struct payload p;
	size_t len = 0;

	if (size < 1 || payload_decode(&p, data[0], data + 1, size - 1) != 0)
		return 0;
	if (p.kind != data[0])
		abort();
	if (p.kind == KIND_RECORD)
		check_fields(&p);
	if (payload_encode(&p, out, sizeof(out), &len) != 0 ||
	    len != size - 1 || memcmp(out, data + 1, len) != 0)
		abort();
	return 0;
}
