#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "hlc.h"

#define DAY_MS	 (UINT64_C(86400000))
#define T2024_MS (UINT64_C(1704067200000))	/* 2024-01-01T00:00Z */

static void
test_follows_wall_clock(void **state)
{
	uint64_t h;

	(void)state;
	h = hlc_next(0, T2024_MS);
	assert_true(h == T2024_MS << HLC_LOGICAL_BITS);
	assert_true(hlc_ms(h) == T2024_MS);
	/* The wall clock moving on wins over the counter. */
	h = hlc_next(h, T2024_MS + 1);
	assert_true(h == (T2024_MS + 1) << HLC_LOGICAL_BITS);
	/* Within one millisecond, the counter orders events. */
	assert_true(hlc_next(h, T2024_MS + 1) == h + 1);
	assert_true(hlc_next(h + 5, T2024_MS + 1) == h + 6);
	/* Jumps forward to wall time even after many counted events. */
	h = hlc_next(h + 40000, T2024_MS + 2 * DAY_MS);
	assert_true(h == (T2024_MS + 2 * DAY_MS) << HLC_LOGICAL_BITS);
	assert_true(hlc_next(0, 0) == 1);
}

static void
test_wall_clock_backwards(void **state)
{
	uint64_t h, prev, start;
	int i;

	(void)state;
	/* A box with a clock days ahead wrote h; ours is days behind. */
	start = hlc_next(0, T2024_MS + 3 * DAY_MS);
	prev = start;
	for (i = 0; i < 200000; i++) {
		h = hlc_next(prev, T2024_MS - 3 * DAY_MS + (uint64_t)i);
		if (h <= prev)
			fail_msg("step %d: %llu after %llu", i,
			    (unsigned long long)h, (unsigned long long)prev);
		prev = h;
	}
	/* Far more events than the 16-bit counter holds in one ms: the
	 * clock stays ordered and near the latest time seen. */
	assert_true(prev == start + 200000);
	assert_true(hlc_ms(prev) - hlc_ms(start) <= 4);
	/* Once wall time passes the clock again, it takes over. */
	h = hlc_next(prev, T2024_MS + 4 * DAY_MS);
	assert_true(h == (T2024_MS + 4 * DAY_MS) << HLC_LOGICAL_BITS);
}

static void
test_saturates(void **state)
{
	uint64_t h;

	(void)state;
	assert_true(hlc_next(HLC_MAX - 1, 0) == HLC_MAX);
	assert_true(hlc_next(HLC_MAX, 0) == HLC_MAX);
	assert_true(hlc_next(HLC_MAX, T2024_MS) == HLC_MAX);
	/* A last value out of range (a damaged store) comes back in. */
	assert_true(hlc_next(UINT64_MAX, T2024_MS) == HLC_MAX);

	/* A wall clock far in the future (a corrupt RTC, a bad NTP answer)
	 * still gives a valid clock: never past HLC_MAX, which entries may
	 * not exceed. */
	h = hlc_next(0, UINT64_MAX);
	assert_true(h <= HLC_MAX);
	h = hlc_next(0, HLC_MAX >> HLC_LOGICAL_BITS);
	assert_true(h <= HLC_MAX);
	h = hlc_next(0, (HLC_MAX >> HLC_LOGICAL_BITS) + 1);
	assert_true(h <= HLC_MAX);
	h = hlc_next(0, UINT64_C(1) << 48);
	assert_true(h <= HLC_MAX);
	/* ... and there is room left to count after it. */
	assert_true(hlc_next(h, UINT64_MAX) == h + 1);
}

/* A later wall clock never gives an earlier timestamp, also where the
 * milliseconds no longer fit their 48 bits. */
static void
test_monotonic_in_wall(void **state)
{
	static const uint64_t walls[] = { 0, 1, T2024_MS, T2024_MS + DAY_MS,
		(UINT64_C(1) << 46) - 2, (UINT64_C(1) << 46) - 1,
		UINT64_C(1) << 46, (UINT64_C(1) << 47) + 3,
		(UINT64_C(1) << 48) - 1, UINT64_C(1) << 48,
		(UINT64_C(1) << 48) + 5, UINT64_C(1) << 60, UINT64_MAX };
	uint64_t prev = 0, h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(walls) / sizeof(walls[0]); i++) {
		h = hlc_next(0, walls[i]);
		if (h < prev)
			fail_msg("wall %zu: %llx < %llx", i,
			    (unsigned long long)h, (unsigned long long)prev);
		assert_true(h <= HLC_MAX);
		prev = h;
	}
}

static void
test_observe(void **state)
{
	uint64_t local, remote, h;

	(void)state;
	local = hlc_next(0, T2024_MS);
	remote = hlc_next(0, T2024_MS + DAY_MS) + 7;
	h = hlc_observe(local, remote);
	assert_true(h == remote);
	assert_true(hlc_observe(remote, local) == remote);
	assert_true(hlc_observe(local, local) == local);
	assert_true(hlc_observe(0, 0) == 0);
	/* After seeing a remote clock ahead of ours, the next local event
	 * is ordered after it even though our wall clock is behind. */
	assert_true(hlc_next(h, T2024_MS + 1) == remote + 1);
}

static void
test_wall_ms(void **state)
{
	uint64_t a, b, now;

	(void)state;
	a = hlc_wall_ms();
	now = (uint64_t)time(NULL) * 1000;
	b = hlc_wall_ms();
	assert_true(a > T2024_MS - 365 * DAY_MS);
	assert_true(b >= a || a - b < 1000);
	assert_true(now + 2000 >= a && a + 2000 >= now);
	assert_true(hlc_ms(hlc_next(0, a)) == a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_follows_wall_clock),
		cmocka_unit_test(test_wall_clock_backwards),
		cmocka_unit_test(test_saturates),
		cmocka_unit_test(test_monotonic_in_wall),
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_wall_ms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
