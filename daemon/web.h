/* The clerk's web app: an HTTP server (libmicrohttpd, on its own thread)
 * inside nusad that serves the static front end from web_root and the
 * JSON API of docs/API.md. Here: the server's limits, sessions by cookie,
 * CSRF tokens, sign-in with its rate limit, languages and static files;
 * webapi.c answers the API itself. The server thread touches only this
 * module's state and the store (LMDB serialises writers; readers never
 * block), so a slow client never holds up the sync loop. */
#ifndef NUSA_WEB_H
#define NUSA_WEB_H

#include "log.h"

struct web;
struct store;
struct key;

struct web_conf {
	const char *http;	/* "ADDRESS:PORT" (config_http_addr()) */
	const char *web_root;	/* directory of index.html and the rest */
	const char *data_dir;	/* DATA_DIR/users holds the web users */
	const char *control;	/* nusad's control socket, for /sync */
	void *zctx;		/* a zmq context to reach it */
	struct store *store;
	const struct key *key;
	int hub;
	const struct log *log;
};

/* Starts the server. The strings of c are copied; store, key, zctx and
 * log must outlive it. Returns 0 and sets *out (caller stops it with
 * web_close()), or a negative error after logging what went wrong. */
int web_open(struct web **out, const struct web_conf *c);

/* Stops the server and waits for its thread. NULL-safe. */
void web_close(struct web *w);

#endif
