/* The systemd notify protocol (sd_notify(3)), without libsystemd: one
 * datagram per message to the socket named by $NOTIFY_SOCKET. Without it
 * (not run by systemd) every call does nothing. */
#ifndef NUSA_NOTIFY_H
#define NUSA_NOTIFY_H

#include <stdint.h>

struct notify;

/* Reads $NOTIFY_SOCKET and $WATCHDOG_USEC. Returns 0 and sets *out
 * (caller closes with notify_close(); *out is NULL when there is nothing
 * to notify), or -errno. */
int notify_open(struct notify **out);
void notify_close(struct notify *n);

/* Sends one message ("READY=1", "STATUS=...", "WATCHDOG=1"). NULL-safe.
 * Returns 0 or -errno. */
int notify_send(struct notify *n, const char *msg);

/* Milliseconds between WATCHDOG=1 messages (half of $WATCHDOG_USEC), 0 if
 * systemd wants none. */
int64_t notify_watchdog_ms(const struct notify *n);

#endif
