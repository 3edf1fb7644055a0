#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "config.h"
#include "nusa.h"
#include "users.h"
#include "webapi.h"
#include "webrate.h"
#include "webreq.h"

#define SESSIONS_MAX	  256
#define SESSION_IDLE	  (12 * 3600)	/* seconds without a request */
#define TOKEN_BYTES	  32
#define TOKEN_HEX	  (2 * TOKEN_BYTES + 1)
#define ATTEMPTS_MAX	  512
#define CONN_LIMIT	  256	/* connections at once */
#define CONN_PER_IP	  5	/* a phone opens a few; 256 / 5 addresses
				 * are needed to fill the box */
#define CONN_TIMEOUT	  5	/* seconds a connection may idle */
#define CONN_MEMORY	  (32 * 1024)	/* request line, headers, buffers */
#define STATIC_MAX	  (8 * 1024 * 1024)	/* bytes of a served file */
#define LANG_COOKIE_AGE	  31536000

struct session {
	char token[TOKEN_HEX];	/* "" if the slot is free */
	char csrf[TOKEN_HEX];
	char user[USERS_NAME_MAX + 1];
	uint8_t entry[32];	/* hash of the user's line at sign-in */
	int lang;
	time_t used;
};

struct web {
	struct MHD_Daemon *mhd;
	const struct log *log;
	char root[PATH_MAX];
	char users_path[PATH_MAX];
	char data_dir[PATH_MAX];
	char control[CONFIG_ADDR_MAX];
	struct webapi_conf api;
	char dummy[crypto_pwhash_STRBYTES]; /* for unknown user names */
	struct session sessions[SESSIONS_MAX];
	/* Sign-in limits: addresses and unknown names; names in the users
	 * file apart, so that junk names cannot fill their table. */
	struct webrate_entry attempt_v[ATTEMPTS_MAX], known_v[USERS_MAX];
	struct webrate attempts, known;
};

/* What one connection has sent of its body so far. */
struct conn {
	char *body;
	size_t len;
	int too_large;
};

/* An answer on its way out. */
struct answer {
	int status;
	json_t *json;		/* owned */
	char *body;		/* malloc'd, or NULL */
	size_t len;
	int fd;			/* a static file, or -1 */
	const char *ctype;
	char cookie[2][160];
	char disposition[96];
	long retry_after;	/* seconds, or 0 */
	int no_store;
};

/* ---- answers ---- */

static enum MHD_Result
send_answer(struct MHD_Connection *c, struct answer *a)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char num[24];
	char *text = NULL;
	size_t i;

	if (a->fd >= 0) {
		r = MHD_create_response_from_fd(a->len, a->fd);
		if (r == NULL)
			close(a->fd);
	} else if (a->json) {
		text = json_dumps(a->json, JSON_COMPACT);
		r = MHD_create_response_from_buffer(text ? strlen(text) : 0,
		    text, MHD_RESPMEM_MUST_FREE);
		a->ctype = "application/json; charset=utf-8";
		if (r == NULL)
			free(text);
	} else {
		r = MHD_create_response_from_buffer(a->len, a->body,
		    MHD_RESPMEM_MUST_FREE);
		if (r == NULL)
			free(a->body);
	}
	a->body = NULL;
	json_decref(a->json);
	a->json = NULL;
	if (r == NULL)
		return MHD_NO;
	if (a->ctype)
		MHD_add_response_header(r, "Content-Type", a->ctype);
	MHD_add_response_header(r, "Cache-Control", a->no_store ? "no-store" :
	    "no-cache");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* No inline script or style, nothing from elsewhere. */
	MHD_add_response_header(r, "Content-Security-Policy",
	    "default-src 'self'; img-src 'self' data:; object-src 'none'; "
	    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	for (i = 0; i < 2; i++)
		if (a->cookie[i][0])
			MHD_add_response_header(r, "Set-Cookie", a->cookie[i]);
	if (a->disposition[0])
		MHD_add_response_header(r, "Content-Disposition",
		    a->disposition);
	if (a->retry_after > 0) {
		snprintf(num, sizeof(num), "%ld", a->retry_after);
		MHD_add_response_header(r, "Retry-After", num);
	}
	ret = MHD_queue_response(c, (unsigned)a->status, r);
	MHD_destroy_response(r);
	return ret;
}

static void
answer_error(struct answer *a, int lang, int status, const char *code,
    int msg, const char *field, const char *arg)
{
	struct webreq_err e;

	webreq_fail(&e, status, code, msg, field, arg);
	a->status = status;
	json_decref(a->json);
	a->json = webreq_error_json(&e, lang);
}

static void
answer_err(struct answer *a, int lang, const struct webreq_err *e)
{
	a->status = e->status;
	json_decref(a->json);
	a->json = webreq_error_json(e, lang);
}

/* ---- sessions ---- */

static void
random_hex(char out[TOKEN_HEX])
{
	uint8_t b[TOKEN_BYTES];

	randombytes_buf(b, sizeof(b));
	nusa_hex(out, b, sizeof(b));
	sodium_memzero(b, sizeof(b));
}

static struct session *
session_find(struct web *w, const char *token, time_t now)
{
	size_t i;

	if (token == NULL || strlen(token) != TOKEN_HEX - 1)
		return NULL;
	for (i = 0; i < SESSIONS_MAX; i++) {
		struct session *s = &w->sessions[i];

		if (s->token[0] == '\0')
			continue;
		if (now - s->used > SESSION_IDLE) {
			sodium_memzero(s, sizeof(*s));
			continue;
		}
		if (sodium_memcmp(s->token, token, TOKEN_HEX - 1) == 0)
			return s;
	}
	return NULL;
}

/* A new session; when all slots are taken, the least recently used
 * one ends. */
static struct session *
session_new(struct web *w, const char *user, const uint8_t entry[32],
    int lang, time_t now)
{
	struct session *s = &w->sessions[0];
	size_t i;

	for (i = 0; i < SESSIONS_MAX; i++) {
		if (w->sessions[i].token[0] == '\0') {
			s = &w->sessions[i];
			break;
		}
		if (w->sessions[i].used < s->used)
			s = &w->sessions[i];
	}
	memset(s, 0, sizeof(*s));
	random_hex(s->token);
	random_hex(s->csrf);
	snprintf(s->user, sizeof(s->user), "%s", user);
	memcpy(s->entry, entry, sizeof(s->entry));
	s->lang = lang;
	s->used = now;
	return s;
}

/* ---- sign-in rate limit ---- */

static void
client_key(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char addr[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, addr, sizeof(addr));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, addr, sizeof(addr));
	snprintf(out, cap, "a:%s", addr);
}

/* ---- requests ---- */

static int
lang_of(struct MHD_Connection *c, const struct session *s)
{
	int l;

	if (s)
		return s->lang;
	l = webreq_lang_parse(MHD_lookup_connection_value(c, MHD_COOKIE_KIND,
	    "nusa_lang"));
	return l < 0 ? WEBREQ_ID : l;
}

/* The hash of a user's line (name, role, PIN hash): a session lives as
 * long as its user's line is the one signed in with. */
static void
entry_hash(uint8_t out[32], const struct users_entry *e)
{
	crypto_generichash_state st;
	uint8_t role = (uint8_t)e->role;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)e->name,
	    strlen(e->name) + 1);
	crypto_generichash_update(&st, &role, 1);
	crypto_generichash_update(&st, (const uint8_t *)e->hash,
	    strlen(e->hash));
	crypto_generichash_final(&st, out, 32);
}

/* The signed-in user's current role from DATA_DIR/users, so that a user
 * removed or changed there (nusactl user ...) is so at once; 0 if the
 * user is gone or their line changed since s signed in (a new PIN or
 * role: remove and add again), or a negative error if the file could not
 * be read now (out of file descriptors or memory, a broken file): then
 * nothing is allowed, but nobody is signed out either. */
static int
current_role(struct web *w, const struct session *s)
{
	struct users *u = NULL;
	const struct users_entry *e;
	uint8_t h[32];
	int role = 0, rc;

	if ((rc = users_load(&u, w->users_path)) != 0)
		return rc < 0 ? rc : -EIO;
	if ((e = users_find(u, s->user)) != NULL) {
		entry_hash(h, e);
		if (sodium_memcmp(h, s->entry, sizeof(h)) == 0)
			role = e->role;
	}
	users_free(&u);
	return role;
}

static void
set_lang_cookie(struct answer *a, int slot, int lang)
{
	snprintf(a->cookie[slot], sizeof(a->cookie[slot]),
	    "nusa_lang=%s; Path=/; Max-Age=%d; SameSite=Strict",
	    webreq_lang_name(lang), LANG_COOKIE_AGE);
}

static json_t *
me_json(const struct session *s, int role)
{
	return json_pack("{s:s, s:s, s:s, s:s}", "user", s->user, "role",
	    users_role_name(role), "csrf", s->csrf,
	    "lang", webreq_lang_name(s->lang));
}

static void
refuse_wait(struct web *w, struct answer *a, int lang, long wait,
    const char *user, const char *addr, const char *why)
{
	char secs[24];

	snprintf(secs, sizeof(secs), "%ld", wait);
	answer_error(a, lang, 429, "rate_limited", MSG_RATE_LIMITED, NULL,
	    secs);
	json_object_set_new(a->json, "retry_after", json_integer(wait));
	a->retry_after = wait;
	log_info(w->log, "web: sign-in of %s from %s refused for %lds (%s)",
	    user, addr, wait, why);
}

static void
login(struct web *w, struct MHD_Connection *c, const struct conn *cn,
    struct answer *a, int lang, time_t now)
{
	struct webreq_login l;
	struct webreq_err e;
	struct users *u = NULL;
	const struct users_entry *ue;
	struct session *s;
	char akey[WEBRATE_KEY_MAX], skey[WEBRATE_KEY_MAX];
	char ukey[WEBRATE_KEY_MAX];
	struct webrate *ut;
	uint8_t eh[32] = { 0 };
	long wait, sw;
	json_t *o;
	int ok, role = 0, known;

	if (webreq_parse(&o, cn->body, cn->len, 0, &e) != 0 ||
	    webreq_login(o, &l, &e) != 0) {
		json_decref(o);
		answer_err(a, lang, &e);
		return;
	}
	if (users_load(&u, w->users_path) != 0) {
		json_decref(o);
		answer_error(a, lang, 500, "internal", MSG_INTERNAL, NULL,
		    NULL);
		return;
	}
	ue = users_find(u, l.user);
	known = ue != NULL;
	client_key(c, akey, sizeof(akey));
	snprintf(skey, sizeof(skey), "s:%s", akey + 2);
	snprintf(ukey, sizeof(ukey), "u:%s", l.user);
	ut = known ? &w->known : &w->attempts;
	wait = webrate_wait(&w->attempts, akey, now);
	if (webrate_wait(ut, ukey, now) > wait)
		wait = webrate_wait(ut, ukey, now);
	if (wait > 0) {
		refuse_wait(w, a, lang, wait, l.user, akey + 2,
		    "after failures");
		users_free(&u);
		json_decref(o);
		return;
	}
	/* An unknown name costs the same time as a wrong PIN. */
	if (ue) {
		ok = users_verify(ue, l.pin) == 0;
		role = ue->role;
		entry_hash(eh, ue);
	} else
		ok = crypto_pwhash_str_verify(w->dummy, l.pin,
		    strlen(l.pin)) == 2;	/* never: 0 or -1 */
	users_free(&u);
	if (!ok) {
		if (webrate_failed(&w->attempts, akey, now) != 0 ||
		    webrate_failed(ut, ukey, now) != 0) {
			/* No room to count it: refuse rather than forget
			 * a lock. */
			refuse_wait(w, a, lang, WEBRATE_WAIT, l.user, akey + 2,
			    "failure table full");
			json_decref(o);
			return;
		}
		log_info(w->log, "web: failed sign-in as %s from %s", l.user,
		    akey + 2);
		answer_error(a, lang, 401, "login_failed", MSG_LOGIN_FAILED,
		    NULL, NULL);
		json_decref(o);
		return;
	}
	/* A full table does not stop a good sign-in. */
	if ((sw = webrate_signin(&w->attempts, skey, now)) > 0) {
		refuse_wait(w, a, lang, sw, l.user, akey + 2,
		    "too many sign-ins");
		json_decref(o);
		return;
	}
	webrate_clear(&w->attempts, akey, now);
	webrate_clear(ut, ukey, now);
	/* A sign-in always gets a fresh token: the old one ends. */
	if ((s = session_find(w, MHD_lookup_connection_value(c,
	    MHD_COOKIE_KIND, "nusa_session"), now)) != NULL)
		sodium_memzero(s, sizeof(*s));
	s = session_new(w, l.user, eh, lang, now);
	snprintf(a->cookie[0], sizeof(a->cookie[0]),
	    "nusa_session=%s; Path=/; HttpOnly; SameSite=Strict", s->token);
	a->status = 200;
	a->json = me_json(s, role);
	log_info(w->log, "web: %s signed in from %s", l.user, akey + 2);
	json_decref(o);
}

static int
json_content(struct MHD_Connection *c)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "Content-Type");
	size_t n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static const char *
query_value(void *arg, const char *name)
{
	return MHD_lookup_connection_value(arg, MHD_GET_ARGUMENT_KIND, name);
}

static void
api(struct web *w, struct MHD_Connection *c, const char *method,
    const char *path, const struct conn *cn, struct answer *a)
{
	time_t now = time(NULL);
	struct session *s = session_find(w, MHD_lookup_connection_value(c,
	    MHD_COOKIE_KIND, "nusa_session"), now);
	int lang = lang_of(c, s), changes, role = 0, l;
	const char *token;
	struct webreq_err e;
	struct webapi_who who;
	struct webapi_out out;
	json_t *o;

	a->no_store = 1;
	changes = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
	if (changes && strcmp(method, "POST") != 0 &&
	    strcmp(method, "DELETE") != 0) {
		answer_error(a, lang, 405, "method", MSG_METHOD, NULL, NULL);
		return;
	}
	if (cn->too_large) {
		answer_error(a, lang, 413, "too_large", MSG_TOO_LARGE, NULL,
		    NULL);
		return;
	}
	if (changes && cn->len > 0 && !json_content(c)) {
		answer_error(a, lang, 415, "content_type", MSG_CONTENT_TYPE,
		    NULL, NULL);
		return;
	}
	if (strcmp(path, "login") == 0) {
		if (strcmp(method, "POST") != 0)
			answer_error(a, lang, 405, "method", MSG_METHOD, NULL,
			    NULL);
		else
			login(w, c, cn, a, lang, now);
		return;
	}
	if (strcmp(path, "lang") == 0) {
		if (strcmp(method, "POST") != 0) {
			answer_error(a, lang, 405, "method", MSG_METHOD, NULL,
			    NULL);
			return;
		}
		if (webreq_parse(&o, cn->body, cn->len, 0, &e) != 0 ||
		    webreq_lang(o, &l, &e) != 0) {
			json_decref(o);
			answer_err(a, lang, &e);
			return;
		}
		json_decref(o);
		if (s)
			s->lang = l;
		set_lang_cookie(a, 0, l);
		a->status = 200;
		a->json = json_pack("{s:s}", "lang", webreq_lang_name(l));
		return;
	}
	if (s && (role = current_role(w, s)) < 0) {
		log_warn(w->log, "web: %s: %s", w->users_path,
		    nusa_strerror(role));
		answer_error(a, lang, 503, "busy", MSG_BUSY, NULL, NULL);
		return;
	}
	if (s && role == 0) {
		sodium_memzero(s, sizeof(*s));
		s = NULL;
	}
	if (s == NULL) {
		answer_error(a, lang, 401, "not_signed_in", MSG_NOT_SIGNED_IN,
		    NULL, NULL);
		return;
	}
	s->used = now;
	token = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    "X-CSRF-Token");
	if (changes && (token == NULL || strlen(token) != TOKEN_HEX - 1 ||
	    sodium_memcmp(token, s->csrf, TOKEN_HEX - 1) != 0)) {
		answer_error(a, lang, 403, "csrf", MSG_CSRF, NULL, NULL);
		return;
	}
	if (strcmp(path, "me") == 0 && !changes) {
		a->status = 200;
		a->json = me_json(s, role);
		return;
	}
	if (strcmp(path, "logout") == 0) {
		if (strcmp(method, "POST") != 0) {
			answer_error(a, lang, 405, "method", MSG_METHOD, NULL,
			    NULL);
			return;
		}
		sodium_memzero(s, sizeof(*s));
		snprintf(a->cookie[0], sizeof(a->cookie[0]), "nusa_session=; "
		    "Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
		a->status = 204;
		return;
	}
	who.user = s->user;
	who.role = role;
	who.lang = lang;
	webapi_handle(&w->api, &who, method, path, cn->body, cn->len,
	    query_value, c, &out);
	a->status = out.status;
	a->json = out.json;
	if (out.body || out.fd >= 0) {
		a->body = out.body;
		a->fd = out.fd;
		a->len = out.len;
		a->ctype = out.ctype;
		if (out.filename[0])
			snprintf(a->disposition, sizeof(a->disposition),
			    "attachment; filename=\"%s\"", out.filename);
	}
	if (changes && out.status < 300)
		log_info(w->log, "web: %s %s %s: %d", s->user, method, path,
		    out.status);
}

/* ---- static files ---- */

static const struct {
	const char *ext, *type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".json", "application/json; charset=utf-8" },
	{ ".webmanifest", "application/manifest+json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".woff2", "font/woff2" },
};

static const char *
type_of(const char *path)
{
	size_t i, n = strlen(path), e;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		e = strlen(types[i].ext);
		if (n > e && strcmp(path + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* A path under web_root: '/'-separated parts of [A-Za-z0-9._-], none
 * empty or starting with '.', so no "..", no hidden files. */
static int
static_path_ok(const char *p)
{
	size_t i, n = strlen(p);

	if (n < 2 || n > 256 || p[0] != '/')
		return 0;
	for (i = 1; i < n; i++) {
		char c = p[i];

		if (p[i - 1] == '/' && (c == '/' || c == '.'))
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-' || c == '/'))
			return 0;
	}
	return p[n - 1] != '/';
}

/* index.html with the lang attribute of <html> set to lang. */
static int
index_page(struct web *w, int lang, struct answer *a)
{
	char path[PATH_MAX + 16], *buf, *at, *end, *out;
	const char *l = webreq_lang_name(lang), *mark = "<html lang=\"";
	size_t len = 0, head, cap;
	struct stat st;
	ssize_t r;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/index.html", w->root);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	/* Sized by the file (a byte more tells a file that grew meanwhile). */
	if (fstat(fd, &st) != 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if (st.st_size > STATIC_MAX)
		rc = -EFBIG;
	if (rc) {
		close(fd);
		return rc;
	}
	cap = (size_t)st.st_size + 1;
	if ((buf = malloc(cap + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (len < cap && (r = read(fd, buf + len, cap - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			close(fd);
			free(buf);
			return rc;
		}
		len += (size_t)r;
	}
	close(fd);
	if (len == cap) {	/* grew while read: being replaced */
		free(buf);
		return -EAGAIN;
	}
	buf[len] = '\0';
	if ((at = strstr(buf, mark)) != NULL &&
	    (end = strchr(at + strlen(mark), '"')) != NULL) {
		head = (size_t)(at - buf) + strlen(mark);
		if ((out = malloc(len + 8)) == NULL) {
			free(buf);
			return -ENOMEM;
		}
		memcpy(out, buf, head);
		memcpy(out + head, l, strlen(l));
		memcpy(out + head + strlen(l), end, len - (size_t)(end -
		    buf));
		a->len = head + strlen(l) + len - (size_t)(end - buf);
		free(buf);
		buf = out;
	} else
		a->len = len;
	a->body = buf;
	a->status = 200;
	a->ctype = "text/html; charset=utf-8";
	return 0;
}

static void
static_file(struct web *w, struct MHD_Connection *c, const char *method,
    const char *url, struct answer *a)
{
	char path[PATH_MAX + 300];
	struct stat st;
	int fd, lang;

	lang = lang_of(c, session_find(w, MHD_lookup_connection_value(c,
	    MHD_COOKIE_KIND, "nusa_session"), time(NULL)));
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		answer_error(a, lang, 405, "method", MSG_METHOD, NULL, NULL);
		return;
	}
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
		if (index_page(w, lang, a) != 0)
			answer_error(a, lang, 404, "not_found", MSG_NOT_FOUND,
			    NULL, NULL);
		return;
	}
	if (!static_path_ok(url)) {
		answer_error(a, lang, 404, "not_found", MSG_NOT_FOUND, NULL,
		    NULL);
		return;
	}
	snprintf(path, sizeof(path), "%s%s", w->root, url);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		answer_error(a, lang, 404, "not_found", MSG_NOT_FOUND, NULL,
		    NULL);
		return;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > STATIC_MAX) {
		close(fd);
		answer_error(a, lang, 404, "not_found", MSG_NOT_FOUND, NULL,
		    NULL);
		return;
	}
	a->fd = fd;
	a->len = (size_t)st.st_size;
	a->status = 200;
	a->ctype = type_of(url);
}

/* ---- libmicrohttpd ---- */

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	struct conn *cn = *con_cls;
	struct answer a;
	const char *cl;
	char *nb;

	(void)version;
	if (cn == NULL) {
		if ((cn = calloc(1, sizeof(*cn))) == NULL)
			return MHD_NO;
		*con_cls = cn;
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    "Content-Length");
		if (cl && (strlen(cl) > 9 || strtoul(cl, NULL, 10) >
		    WEBREQ_BODY_MAX)) {
			/* Refused before a byte of the body is read. */
			cn->too_large = 1;
			memset(&a, 0, sizeof(a));
			a.fd = -1;
			answer_error(&a, lang_of(c, NULL), 413, "too_large",
			    MSG_TOO_LARGE, NULL, NULL);
			return send_answer(c, &a);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (!cn->too_large && cn->len + *upload_size <=
		    WEBREQ_BODY_MAX) {
			if ((nb = realloc(cn->body, cn->len + *upload_size +
			    1)) == NULL)
				return MHD_NO;
			cn->body = nb;
			memcpy(cn->body + cn->len, upload, *upload_size);
			cn->len += *upload_size;
			cn->body[cn->len] = '\0';
		} else
			cn->too_large = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	memset(&a, 0, sizeof(a));
	a.fd = -1;
	if (strncmp(url, "/api/v1/", 8) == 0)
		api(w, c, method, url + 8, cn, &a);
	else if (strncmp(url, "/api/", 5) == 0 || strcmp(url, "/api") == 0) {
		a.no_store = 1;
		answer_error(&a, lang_of(c, NULL), 404, "not_found",
		    MSG_NOT_FOUND, NULL, NULL);
	} else
		static_file(w, c, method, url, &a);
	return send_answer(c, &a);
}

static void
completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct conn *cn = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (cn) {
		free(cn->body);
		free(cn);
		*con_cls = NULL;
	}
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct web *w = cls;
	char line[256];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug(w->log, "web: %s", line);
}

int
web_open(struct web **out, const struct web_conf *c)
{
	struct sockaddr_storage addr;
	const char *why = NULL;
	/* epoll: more than FD_SETSIZE descriptors, no poll() of all of
	 * them at every turn. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
	    (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ?
	    MHD_USE_EPOLL : MHD_USE_POLL);
	struct web *w;
	int rc;

	*out = NULL;
	if (config_http_sockaddr(c->http, &addr, &why) != 0) {
		log_error(c->log, "http %s: %s", c->http, why);
		return -NUSA_EMALFORMED;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->log = c->log;
	w->attempts.v = w->attempt_v;
	w->attempts.n = ATTEMPTS_MAX;
	w->known.v = w->known_v;
	w->known.n = USERS_MAX;
	if ((size_t)snprintf(w->root, sizeof(w->root), "%s", c->web_root) >=
	    sizeof(w->root) || (size_t)snprintf(w->users_path,
	    sizeof(w->users_path), "%s/users", c->data_dir) >=
	    sizeof(w->users_path) || (size_t)snprintf(w->data_dir,
	    sizeof(w->data_dir), "%s", c->data_dir) >= sizeof(w->data_dir) ||
	    (size_t)snprintf(w->control,
	    sizeof(w->control), "%s", c->control) >= sizeof(w->control)) {
		free(w);
		return -ENAMETOOLONG;
	}
	/* Made now, not at the first unknown name: that one would take
	 * twice as long as a wrong PIN. */
	if (crypto_pwhash_str(w->dummy, "nusa-no-such-user", 17,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		free(w);
		return -ENOMEM;
	}
	w->api.store = c->store;
	w->api.key = c->key;
	w->api.data_dir = w->data_dir;
	w->api.users_path = w->users_path;
	w->api.control = w->control;
	w->api.zctx = c->zctx;
	w->api.hub = c->hub;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The port argument is ignored: MHD_OPTION_SOCK_ADDR has it. */
	w->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle,
	    w, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONN_PER_IP,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, completed, w,
	    MHD_OPTION_END);
	if (w->mhd == NULL) {
		rc = errno ? -errno : -EADDRINUSE;
		log_error(c->log, "http %s: cannot listen (%s)", c->http,
		    strerror(-rc));
		free(w);
		return rc;
	}
	log_info(c->log, "web app on http://%s (files from %s)", c->http,
	    w->root);
	*out = w;
	return 0;
}

void
web_close(struct web *w)
{
	if (w == NULL)
		return;
	MHD_stop_daemon(w->mhd);
	sodium_memzero(w->sessions, sizeof(w->sessions));
	free(w);
}
