#include "webrate.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Free, or neither locking nor changed within WEBRATE_STALE seconds. */
static int
stale(const struct webrate_entry *a, time_t now)
{
	return a->key[0] == '\0' || (a->until <= now &&
	    now - a->last > WEBRATE_STALE);
}

/* key's entry; with create, a new one in a free or the stalest slot, or
 * NULL if there is none. */
static struct webrate_entry *
get(struct webrate *t, const char *key, int create, time_t now)
{
	struct webrate_entry *a, *old = NULL;
	size_t i;

	for (i = 0; i < t->n; i++) {
		a = &t->v[i];
		if (a->key[0] && strcmp(a->key, key) == 0)
			return a;
		if (stale(a, now) && (old == NULL || (old->key[0] &&
		    (a->key[0] == '\0' || a->last < old->last))))
			old = a;
	}
	if (!create || old == NULL)
		return NULL;
	memset(old, 0, sizeof(*old));
	snprintf(old->key, sizeof(old->key), "%s", key);
	old->last = now;
	return old;
}

long
webrate_wait(struct webrate *t, const char *key, time_t now)
{
	struct webrate_entry *a = get(t, key, 0, now);

	return a && a->until > now ? (long)(a->until - now) : 0;
}

int
webrate_failed(struct webrate *t, const char *key, time_t now)
{
	struct webrate_entry *a = get(t, key, 1, now);
	unsigned over;

	if (a == NULL)
		return -ENOSPC;
	a->count++;
	a->last = now;
	if (a->count >= WEBRATE_FREE) {
		over = a->count - WEBRATE_FREE;
		a->until = now + (over >= 5 ? WEBRATE_WAIT_MAX :
		    (WEBRATE_WAIT << over) > WEBRATE_WAIT_MAX ?
		    WEBRATE_WAIT_MAX : (WEBRATE_WAIT << over));
	}
	return 0;
}

void
webrate_clear(struct webrate *t, const char *key, time_t now)
{
	struct webrate_entry *a = get(t, key, 0, now);

	if (a)
		memset(a, 0, sizeof(*a));
}

long
webrate_signin(struct webrate *t, const char *key, time_t now)
{
	struct webrate_entry *a = get(t, key, 1, now);

	if (a == NULL)
		return 0;
	if (now - a->until >= WEBRATE_WINDOW) {
		a->until = now;
		a->count = 0;
	}
	if (a->count >= WEBRATE_SIGNINS)
		return WEBRATE_WINDOW - (long)(now - a->until);
	a->count++;
	a->last = now;
	return 0;
}
