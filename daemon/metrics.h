/* Prometheus metrics of nusad: a page in the text exposition format
 * 0.0.4, built by the event loop (metrics_page_*), and a small HTTP
 * server (libmicrohttpd, a thread of its own) that answers GET /metrics
 * with the last page published and 404 to anything else. The server
 * thread never touches the daemon's structures: it copies the published
 * text under a mutex. */
#ifndef NUSA_METRICS_H
#define NUSA_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;

/* A page being built. Errors (out of memory) are sticky: failed is set
 * and later calls do nothing. */
struct metrics_page {
	char *buf;
	size_t len, cap;
	int failed;
};

/* Starts the server on addr, "IPv4:PORT" or "[IPv6]:PORT" (config.h's
 * metrics key). Returns 0 and sets *out (caller stops it with
 * metrics_close()), -EINVAL for a bad address, or a negative errno if it
 * cannot listen. */
int metrics_open(struct metrics **out, const char *addr);

/* Stops the server and frees m. NULL-safe. */
void metrics_close(struct metrics *m);

/* Serves a copy of p's text from now on. Returns 0 or -ENOMEM (the old
 * page stays). */
int metrics_publish(struct metrics *m, const struct metrics_page *p);

/* Writes the # HELP and # TYPE lines of a family: type is "counter" or
 * "gauge"; a counter's name ends in _total. */
void metrics_page_family(struct metrics_page *p, const char *name,
    const char *type, const char *help);

/* Writes one sample: labels is NULL or a NULL-terminated list of name,
 * value pairs; values are escaped as the format requires. */
void metrics_page_sample(struct metrics_page *p, const char *name,
    const char *const *labels, uint64_t value);

/* A family of one sample without labels: family and sample, the name
 * written once. */
void metrics_page_one(struct metrics_page *p, const char *name,
    const char *type, const char *help, uint64_t value);

/* Frees p's text and resets it for reuse. */
void metrics_page_free(struct metrics_page *p);

#endif
