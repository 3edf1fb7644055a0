/* LAN discovery with Avahi: publishes this box as _nusa._tcp and reports
 * the other nusa boxes that Avahi finds, inside the caller's zmq_poll loop
 * (the module is an AvahiPoll over the caller's loop: no thread, no
 * second loop). A box's TXT record says
 *   v=PROTO     protocol version, decimal
 *   id=DEVICE   device id, 64 lowercase hex digits
 *   net=HASH    hash of the box's network ids, 32 lowercase hex digits
 * Services whose TXT lacks one of these or has a malformed value are
 * ignored, and so is our own device id. Only IPv4 is used: a ZMQ socket
 * connects to IPv6 only with ZMQ_IPV6 set, and a link-local address needs
 * its interface; every LAN we serve has IPv4.
 *
 * A peer is a device id: a box seen on two interfaces or under two names
 * is reported once, with one address, and gone only when Avahi has
 * withdrawn all of them: at once when the box withdraws its service, or
 * when its address record expires (about 2 minutes) if it vanished.
 *
 * Memory is bounded: at most DISCOVER_SERVICES services are tracked at
 * once, each with one resolver. When all are taken, a service of no use
 * (malformed TXT, our own, not resolving) makes room for a new one; if
 * none is, new ones are ignored until the module browses again a minute
 * later.
 *
 * The module survives the Avahi daemon or the system bus being absent,
 * stopping or restarting: it reconnects (backing off to 10 s), publishes
 * again and reports the peers it lost as gone, then found again. The
 * client library's D-Bus calls block, for up to D-Bus's 25 s default if
 * the daemon hangs; libdbus sets SIGPIPE to be ignored.
 */
#ifndef NUSA_DISCOVER_H
#define NUSA_DISCOVER_H

#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "nusa.h"

#define DISCOVER_TYPE	   "_nusa._tcp"
#define DISCOVER_SERVICES  256	/* services tracked at once */
#define DISCOVER_POLLITEMS 8	/* most items discover_pollitems() adds */
#define DISCOVER_ADDR_MAX  96

struct discover;

struct discover_peer {
	uint8_t device[NUSA_KEY_LEN];
	uint8_t nethash[16];
	unsigned proto;
	char addr[DISCOVER_ADDR_MAX];	/* "tcp://192.0.2.1:7700" */
};

/* found is 1 when a peer appears or its address, net hash or protocol
 * changes, 0 when it is gone (only p->device is meaningful then). p is
 * valid during the call only. The callback runs from discover_dispatch()
 * and must not call discover_close(). */
typedef void (*discover_fn)(int found, const struct discover_peer *p,
    void *ctx);

/* Starts publishing the service instance name (1..63 bytes of UTF-8, e.g.
 * "nusa-" and the first 8 hex digits of the device id) on port, and
 * browsing for other boxes. On a name conflict on the LAN it publishes
 * under Avahi's alternative name ("nusa-0a1b2c3d #2") instead. Succeeds
 * even if the Avahi daemon or the system bus is not there
 * (discover_running() says 0): the module connects when they appear.
 * Port 0: a box that does not listen, so neither published as a peer nor
 * browsing; only discover_set_http()'s web app is published.
 * Returns 0, -EINVAL for a bad name, -ENOMEM. Caller closes with
 * discover_close(). */
int discover_open(struct discover **out, const char *name, uint16_t port,
    const uint8_t device[NUSA_KEY_LEN], const uint8_t nethash[16],
    unsigned proto, discover_fn fn, void *ctx);

/* Also publishes the web app on port (0: not) as _http._tcp under the
 * same name, so that phones find http://HOSTNAME.local:PORT. */
void discover_set_http(struct discover *d, uint16_t port);

/* Withdraws the service and frees d (NULL is fine). No callbacks run. */
void discover_close(struct discover *d);

/* Appends the module's file descriptors to items (socket NULL, fd and
 * events set, revents 0) and returns how many it added, at most cap: give
 * it room for DISCOVER_POLLITEMS, or some fds go unwatched. The set
 * changes as the module runs: fill items again before each zmq_poll(). */
size_t discover_pollitems(struct discover *d, zmq_pollitem_t *items,
    size_t cap);

/* Milliseconds until the module's next timer is due (0 if one is due
 * now), or -1 if none: the most the caller may pass to zmq_poll(). */
long discover_timeout(struct discover *d);

/* Handles the items discover_pollitems() filled in, after zmq_poll() set
 * their revents, and the timers that are due; peer callbacks run from
 * here. Call it after every zmq_poll() return, timeouts included. */
void discover_dispatch(struct discover *d, const zmq_pollitem_t *items,
    size_t n);

/* 1 while connected to a running Avahi daemon, 0 otherwise. */
int discover_running(const struct discover *d);

/* One line on the last change worth a log line (the daemon is not
 * running, came back, a name conflict, a failure), or "" if none yet.
 * With seen non-NULL, returns the line only if it is newer than *seen and
 * sets *seen, NULL otherwise: so a caller keeping one unsigned (starting
 * at 0) logs each line once. The string stays valid until the next
 * discover_dispatch() or discover_close(). */
const char *discover_status(const struct discover *d, unsigned *seen);

#endif
