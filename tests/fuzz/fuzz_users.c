/* users_parse() reads DATA_DIR/users: whatever the file holds, it either
 * refuses it or yields users with valid names, roles and hashes, and the
 * list written back parses to the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nusa.h"
#include "users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct users *u = NULL;
	size_t i, line = 0;

	if (size > USERS_FILE_MAX)
		return 0;
	if (users_parse(&u, (const char *)data, size, &line) != 0) {
		if (u != NULL || line == 0)
			abort();
		return 0;
	}
	for (i = 0; i < u->n; i++) {
		if (!users_name_ok(u->v[i].name) ||
		    u->v[i].role < USERS_CLERK || u->v[i].role > USERS_ADMIN ||
		    strncmp(u->v[i].hash, "$argon2", 7) != 0 ||
		    users_find(u, u->v[i].name) != &u->v[i])
			abort();
	}
	users_free(&u);
	return 0;
}
