/* The web app's sign-in limits: locks, a full table, sign-ins per
 * address. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "webrate.h"

#define SLOTS 8

static void
test_lock(void **state)
{
	struct webrate_entry v[SLOTS];
	struct webrate t = { v, SLOTS };
	time_t now = 1000000;
	int i;

	(void)state;
	memset(v, 0, sizeof(v));
	for (i = 0; i < WEBRATE_FREE - 1; i++)
		assert_int_equal(webrate_failed(&t, "u:siti", now), 0);
	assert_int_equal(webrate_wait(&t, "u:siti", now), 0);
	assert_int_equal(webrate_failed(&t, "u:siti", now), 0);
	assert_int_equal(webrate_wait(&t, "u:siti", now), WEBRATE_WAIT);
	assert_int_equal(webrate_failed(&t, "u:siti", now), 0);
	assert_int_equal(webrate_wait(&t, "u:siti", now), 2 * WEBRATE_WAIT);
	assert_int_equal(webrate_wait(&t, "u:siti", now + 2 * WEBRATE_WAIT),
	    0);
	webrate_clear(&t, "u:siti", now);
	assert_int_equal(webrate_failed(&t, "u:siti", now), 0);
	assert_int_equal(webrate_wait(&t, "u:siti", now), 0);
}

/* Junk keys cannot push out a lock or a recent failure: the table says
 * no instead; stale entries make room. */
static void
test_full(void **state)
{
	struct webrate_entry v[SLOTS];
	struct webrate t = { v, SLOTS };
	time_t now = 1000000;
	char key[32];
	int i;

	(void)state;
	memset(v, 0, sizeof(v));
	for (i = 0; i < WEBRATE_FREE; i++)
		assert_int_equal(webrate_failed(&t, "u:siti", now), 0);
	for (i = 0; i < SLOTS - 1; i++) {
		snprintf(key, sizeof(key), "u:junk%d", i);
		assert_int_equal(webrate_failed(&t, key, now + 1), 0);
	}
	assert_int_equal(webrate_failed(&t, "u:more", now + 2), -ENOSPC);
	assert_int_equal(webrate_wait(&t, "u:siti", now + 2),
	    WEBRATE_WAIT - 2);
	/* Much later the junk is stale: it makes room, the lock... */
	now += WEBRATE_STALE + 10;
	assert_int_equal(webrate_failed(&t, "u:more", now), 0);
	assert_int_equal(webrate_failed(&t, "u:more2", now), 0);
	/* ...and a lock that runs out, then goes stale, too. */
	assert_int_equal(webrate_wait(&t, "u:more", now), 0);
	/* A successful sign-in counts even when the table is full. */
	memset(v, 0, sizeof(v));
	for (i = 0; i < SLOTS; i++) {
		snprintf(key, sizeof(key), "a:10.0.0.%d", i);
		assert_int_equal(webrate_failed(&t, key, now), 0);
	}
	assert_int_equal(webrate_signin(&t, "s:10.0.0.1", now), 0);
}

static void
test_signins(void **state)
{
	struct webrate_entry v[SLOTS];
	struct webrate t = { v, SLOTS };
	time_t now = 1000000;
	int i;

	(void)state;
	memset(v, 0, sizeof(v));
	for (i = 0; i < WEBRATE_SIGNINS; i++)
		assert_int_equal(webrate_signin(&t, "s:127.0.0.1", now + i), 0);
	assert_true(webrate_signin(&t, "s:127.0.0.1", now + 10) > 0);
	assert_int_equal(webrate_signin(&t, "s:127.0.0.2", now + 10), 0);
	assert_int_equal(webrate_signin(&t, "s:127.0.0.1", now +
	    WEBRATE_WINDOW), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_signins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
