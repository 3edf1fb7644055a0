#include "hlc.h"

#include <time.h>

/* The latest wall time a timestamp can carry. A clock read past it (a
 * bad RTC or NTP answer) is clamped, not wrapped: wrapping would step the
 * clock back, and a larger value would exceed HLC_MAX, which makes every
 * entry the box writes invalid. */
#define HLC_WALL_MAX (HLC_MAX >> HLC_LOGICAL_BITS)

uint64_t
hlc_next(uint64_t last, uint64_t wall_ms)
{
	uint64_t phys;

	if (wall_ms > HLC_WALL_MAX)
		wall_ms = HLC_WALL_MAX;
	phys = wall_ms << HLC_LOGICAL_BITS;
	if (phys > last)
		return phys;
	return last < HLC_MAX ? last + 1 : HLC_MAX;
}

uint64_t
hlc_observe(uint64_t last, uint64_t remote)
{
	return remote > last ? remote : last;
}

uint64_t
hlc_ms(uint64_t hlc)
{
	return hlc >> HLC_LOGICAL_BITS;
}

uint64_t
hlc_wall_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
