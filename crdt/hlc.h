/* Hybrid logical clock: 48 bits of wall-clock milliseconds and a 16-bit
 * counter in one u64. It never goes backwards, stays close to real time,
 * and orders every entry after every entry its author had seen, even
 * when the wall clock is wrong by days. */
#ifndef NUSA_HLC_H
#define NUSA_HLC_H

#include <stdint.h>

#define HLC_LOGICAL_BITS 16
/* Entries with a later clock are rejected, so last + 1 never wraps. */
#define HLC_MAX ((UINT64_C(1) << 62) - 1)

/* Returns the next timestamp after last, given the wall clock in ms since
 * the epoch: max(wall << 16, last + 1), with wall clamped to fit and the
 * result saturating at HLC_MAX. */
uint64_t hlc_next(uint64_t last, uint64_t wall_ms);

/* Returns the clock after seeing a remote timestamp: max(last, remote). */
uint64_t hlc_observe(uint64_t last, uint64_t remote);

/* Returns the wall-clock milliseconds part of a timestamp. */
uint64_t hlc_ms(uint64_t hlc);

/* Returns the current wall clock in ms since the epoch. */
uint64_t hlc_wall_ms(void);

#endif
