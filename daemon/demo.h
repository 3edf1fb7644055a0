/* nusad --demo: a demo network of three boxes in a temporary directory,
 * syncing on loopback, with postings written on each while they run. */
#ifndef NUSA_DEMO_H
#define NUSA_DEMO_H

#include <signal.h>

/* Runs the demo: builds the boxes, starts a nusad for each (a child
 * process), writes postings and waits for the boxes to converge. When
 * stdin is a terminal the boxes keep running until *stop (Ctrl-C), so
 * that the user can try nusactl on them. Returns 0 once converged, or a
 * negative error. */
int demo_run(const char *argv0, volatile sig_atomic_t *stop);

#endif
