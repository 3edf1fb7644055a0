/* The web app's sign-in limits: failures per client address ("a:ADDR")
 * and per user name ("u:NAME"), successful sign-ins per address
 * ("s:ADDR"), in a fixed table the caller owns. An entry that locks or
 * failed lately is never pushed out by new ones: when no slot is free or
 * stale, the new failure is refused (-ENOSPC) and the caller answers
 * 429, so that flooding the table with junk names cannot wipe a lock. */
#ifndef NUSA_WEBRATE_H
#define NUSA_WEBRATE_H

#include <stddef.h>
#include <time.h>

#define WEBRATE_KEY_MAX	  64	/* bytes of a key with its NUL */
#define WEBRATE_FREE	  5	/* failures before a wait */
#define WEBRATE_WAIT	  30L	/* seconds after WEBRATE_FREE failures, */
#define WEBRATE_WAIT_MAX  900	/* doubling with each more, up to this */
#define WEBRATE_STALE	  WEBRATE_WAIT_MAX	/* an entry not locking and
						 * unchanged this long may
						 * make room */
#define WEBRATE_SIGNINS	  20	/* successful sign-ins of an address */
#define WEBRATE_WINDOW	  60	/* per this many seconds */

struct webrate_entry {
	char key[WEBRATE_KEY_MAX];	/* "" if free */
	unsigned count;		/* failures, or sign-ins in the window */
	time_t until;		/* no attempt before (s: the window's start) */
	time_t last;
};

struct webrate {
	struct webrate_entry *v;	/* n slots, zeroed; caller owns */
	size_t n;
};

/* Seconds before key may try again; 0 if now. */
long webrate_wait(struct webrate *t, const char *key, time_t now);

/* Counts a failure of key. Returns 0, or -ENOSPC if every slot locks or
 * failed within WEBRATE_STALE seconds. */
int webrate_failed(struct webrate *t, const char *key, time_t now);

/* Forgets key's failures (a good sign-in). */
void webrate_clear(struct webrate *t, const char *key, time_t now);

/* Counts a successful sign-in of key ("s:ADDR"). Returns 0 if it may go
 * ahead (a full table does not stop it), else the seconds to wait. */
long webrate_signin(struct webrate *t, const char *key, time_t now);

#endif
