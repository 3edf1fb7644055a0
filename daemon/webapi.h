/* The JSON API of the web app (docs/API.md), behind the HTTP server of
 * web.c: members, accounts, postings, conflicts, sync, export and web
 * users, each request validated by webreq.c and written through the same
 * crdt/ledger.h functions as nusactl, signed by the box's key and naming
 * the web user in `by`. web.c has checked the session, the CSRF token and
 * the content type before a request gets here. */
#ifndef NUSA_WEBAPI_H
#define NUSA_WEBAPI_H

#include <stddef.h>

#include <jansson.h>

struct store;
struct key;

struct webapi_conf {
	struct store *store;		/* the box's store */
	const struct key *key;		/* nusad's device key (for /box) */
	const char *data_dir;		/* writes load DATA_DIR/device.key */
	const char *users_path;		/* DATA_DIR/users */
	const char *control;		/* nusad's control socket */
	void *zctx;			/* a zmq context to reach it */
	int hub;			/* hub mode */
};

/* Who asks: a signed-in web user. */
struct webapi_who {
	const char *user;
	int role;			/* enum users_role */
	int lang;			/* enum webreq_lang */
};

/* The answer: status and either json or body (text of len bytes with
 * ctype, and a file name for an attachment if filename[0]). */
struct webapi_out {
	int status;
	json_t *json;
	char *body;			/* malloc'd */
	int fd;				/* or, if >= 0, len bytes of this
					 * file from offset 0 (owned) */
	size_t len;
	const char *ctype;
	char filename[64];
};

typedef const char *(*webapi_query_fn)(void *arg, const char *name);

/* Serves method on path (after "/api/v1/", e.g. "members/M001") with the
 * request body (len bytes) and query parameters from q. Fills *out; the
 * caller frees out->json with json_decref() and out->body with free(),
 * and closes out->fd if it is not -1. */
void webapi_handle(const struct webapi_conf *c, const struct webapi_who *who,
    const char *method, const char *path, const char *body, size_t len,
    webapi_query_fn q, void *qarg, struct webapi_out *out);

#endif
