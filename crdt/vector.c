#include "vector.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct vector *
vector_new(void)
{
	return calloc(1, sizeof(struct vector));
}

void
vector_free(struct vector **vp)
{
	if (vp == NULL || *vp == NULL)
		return;
	free((*vp)->v);
	free(*vp);
	*vp = NULL;
}

/* Returns the index of author, or of where it belongs. */
static size_t
vector_find(const struct vector *v, const uint8_t *author, int *found)
{
	size_t lo = 0, hi = v->n, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = memcmp(v->v[mid].author, author, NUSA_KEY_LEN);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
vector_set(struct vector *v, const uint8_t author[NUSA_KEY_LEN],
    uint64_t seq)
{
	struct vector_item *nv;
	size_t i;
	int found;

	i = vector_find(v, author, &found);
	if (found) {
		v->v[i].seq = seq;
		return 0;
	}
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;

		if ((nv = realloc(v->v, cap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		v->v = nv;
		v->cap = cap;
	}
	memmove(&v->v[i + 1], &v->v[i], (v->n - i) * sizeof(v->v[0]));
	memcpy(v->v[i].author, author, NUSA_KEY_LEN);
	v->v[i].seq = seq;
	v->n++;
	return 0;
}

uint64_t
vector_get(const struct vector *v, const uint8_t author[NUSA_KEY_LEN])
{
	size_t i;
	int found;

	if (v == NULL)
		return 0;
	i = vector_find(v, author, &found);
	return found ? v->v[i].seq : 0;
}
