#include "hlc.h"

#include <time.h>

uint64_t
hlc_next(uint64_t last, uint64_t wall_ms)
{
	uint64_t phys = (wall_ms & ((UINT64_C(1) << 48) - 1)) <<
	    HLC_LOGICAL_BITS;

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
