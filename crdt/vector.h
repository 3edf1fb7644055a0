/* Version vectors: for each author, the highest contiguous seq a replica
 * holds. What a peer lacks is every entry past its vector. */
#ifndef NUSA_VECTOR_H
#define NUSA_VECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"

struct vector_item {
	uint8_t author[NUSA_KEY_LEN];
	uint64_t seq;
};

struct vector {
	struct vector_item *v;	/* sorted by author */
	size_t n, cap;
};

/* Returns an empty vector or NULL. Caller frees with vector_free(). */
struct vector *vector_new(void);
void vector_free(struct vector **vp);

/* Sets author's seq (replacing any earlier value). Returns 0 or -ENOMEM. */
int vector_set(struct vector *v, const uint8_t author[NUSA_KEY_LEN],
    uint64_t seq);

/* Returns author's seq, 0 if absent. */
uint64_t vector_get(const struct vector *v,
    const uint8_t author[NUSA_KEY_LEN]);

#endif
