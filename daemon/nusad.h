/* nusad: the sync daemon. One zmq_poll loop serves the listening ROUTER
 * socket (boxes that dial us), one DEALER per peer we dial (static peers,
 * the hub, boxes found by Avahi), the ZAP handler that admits only
 * enrolled, unrevoked devices, and the control socket nusactl talks to.
 *
 * Box mode serves the network of DATA_DIR/store; hub mode serves every
 * network under DATA_DIR/networks/ (each its own store), isolated: a
 * session is for one network, and only for a device enrolled in it. */
#ifndef NUSA_NUSAD_H
#define NUSA_NUSAD_H

#include <signal.h>

#include "config.h"
#include "log.h"

struct nusad;

/* Tuning that tests and benchmarks may change; nusad_open() takes the
 * defaults when o is NULL. */
struct nusad_opts {
	size_t batch_max;	/* entries per batch sent */
	size_t byte_min;	/* batch byte caps follow the link between */
	size_t byte_max;	/* these two (session.h) */
	unsigned credit;	/* batches a peer may send unacknowledged */
};

/* Opens the stores and the key, binds the sockets and starts discovery.
 * Returns 0 and sets *out (caller closes with nusad_close()), or a
 * negative error after logging what went wrong. */
int nusad_open(struct nusad **out, const struct config *c,
    const struct nusad_opts *o, const struct log *l);

/* Runs the event loop until *stop is set; on *hup (cleared here) reloads
 * the peer list from the config file at path (NULL: no reload). Returns 0
 * or a negative error. */
int nusad_run(struct nusad *d, volatile sig_atomic_t *stop,
    volatile sig_atomic_t *hup, const char *path);

/* Ends every session, closes the sockets and the stores. NULL-safe. */
void nusad_close(struct nusad *d);

#endif
