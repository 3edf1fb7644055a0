#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vector.h"

static void
test_set_get_sorted(void **state)
{
	struct vector *v = vector_new();
	uint8_t a[NUSA_KEY_LEN], b[NUSA_KEY_LEN], c[NUSA_KEY_LEN];

	(void)state;
	memset(a, 3, sizeof(a));
	memset(b, 1, sizeof(b));
	memset(c, 2, sizeof(c));
	assert_non_null(v);
	assert_int_equal(vector_get(v, a), 0);
	assert_int_equal(vector_set(v, a, 7), 0);
	assert_int_equal(vector_set(v, b, 9), 0);
	assert_int_equal(vector_set(v, c, 1), 0);
	assert_int_equal(vector_set(v, a, 8), 0);
	assert_int_equal(v->n, 3);
	assert_int_equal(vector_get(v, a), 8);
	assert_int_equal(vector_get(v, b), 9);
	assert_int_equal(vector_get(v, c), 1);
	assert_memory_equal(v->v[0].author, b, NUSA_KEY_LEN);
	assert_memory_equal(v->v[2].author, a, NUSA_KEY_LEN);
	vector_free(&v);
	assert_null(v);
	vector_free(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_get_sorted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
