/* The web API's requests, validated: each JSON body and query parameter
 * is checked here before anything touches the store, and each refusal
 * carries an HTTP status, an error code, the bad field and a message from
 * the catalogue of the user's language (Bahasa Indonesia or English).
 * Pure functions of their input, so tests/fuzz/fuzz_webreq.c can feed
 * them anything. */
#ifndef NUSA_WEBREQ_H
#define NUSA_WEBREQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define WEBREQ_BODY_MAX	  16384	/* bytes of a request body */
#define WEBREQ_LIMIT_DEF  50	/* items of a page, by default */
#define WEBREQ_LIMIT_MAX  200	/* and at most */
#define WEBREQ_OFFSET_MAX 1000000000UL

enum webreq_lang {
	WEBREQ_ID = 0,		/* Bahasa Indonesia, the default */
	WEBREQ_EN = 1,
};

/* Messages of the catalogues; a "%s" in one takes webreq_err.arg. */
enum webreq_msg {
	MSG_BODY_JSON, MSG_MISSING, MSG_NOT_TEXT, MSG_BAD_ID, MSG_BAD_TEXT,
	MSG_EMPTY, MSG_BAD_AMOUNT, MSG_BAD_DATE, MSG_BAD_POST_TYPE,
	MSG_BAD_ACCT_TYPE, MSG_BAD_BOOL, MSG_BAD_LANG, MSG_BAD_ROLE,
	MSG_BAD_USER, MSG_BAD_PIN, MSG_BAD_NUMBER, MSG_BAD_ENTRY,
	MSG_LOGIN_FAILED, MSG_NOT_SIGNED_IN, MSG_RATE_LIMITED, MSG_FORBIDDEN,
	MSG_CSRF, MSG_NOT_FOUND, MSG_NO_MEMBER, MSG_NO_ACCOUNT, MSG_NO_ENTRY,
	MSG_NO_USER, MSG_EXISTS, MSG_FUNDS, MSG_FUNDS_REVERSE, MSG_REVERSED,
	MSG_ACCT_KIND,
	MSG_TOO_LARGE, MSG_CONTENT_TYPE, MSG_METHOD, MSG_INTERNAL, MSG_SELF,
	MSG_BUSY, MSG_PENDING, MSG_COUNT
};

/* A refusal: what the API answers. */
struct webreq_err {
	int status;		/* 400, 401, 403, 404, 409, 413, 415, 429... */
	const char *code;	/* "invalid", "not_found"... (static) */
	int msg;		/* enum webreq_msg */
	const char *field;	/* the bad field or NULL (static) */
	char arg[80];		/* fills the message's "%s" */
};

/* Fills e and returns -1 (for "return webreq_fail(...)"). arg may be
 * NULL. */
int webreq_fail(struct webreq_err *e, int status, const char *code,
    int msg, const char *field, const char *arg);

/* Writes e's message in lang into buf (cap bytes, NUL-terminated). */
void webreq_message(const struct webreq_err *e, int lang, char *buf,
    size_t cap);

/* Returns {"error","message","field"?} for e in lang; caller owns it. */
json_t *webreq_error_json(const struct webreq_err *e, int lang);

/* Returns WEBREQ_ID or WEBREQ_EN for "id" or "en", else -1 (s may be
 * NULL). webreq_lang_name() is the reverse. */
int webreq_lang_parse(const char *s);
const char *webreq_lang_name(int lang);

/* Parses a body of len bytes (at most WEBREQ_BODY_MAX) that must be one
 * JSON object; an empty body is {} when empty_ok. Returns 0 and sets *out
 * (caller frees with json_decref()), or -1 and fills e. */
int webreq_parse(json_t **out, const char *body, size_t len, int empty_ok,
    struct webreq_err *e);

/* The bodies. Strings point into the json_t they came from, which must
 * outlive the struct. Each returns 0, or -1 and fills e (400, naming
 * the field). */
struct webreq_login {
	const char *user, *pin;
};
int webreq_login(const json_t *o, struct webreq_login *r,
    struct webreq_err *e);

int webreq_lang(const json_t *o, int *lang, struct webreq_err *e);

struct webreq_member {
	const char *id, *name, *village;	/* village NULL if absent */
};
int webreq_member(const json_t *o, struct webreq_member *r,
    struct webreq_err *e);

struct webreq_account {
	const char *id, *member, *type;
};
int webreq_account(const json_t *o, struct webreq_account *r,
    struct webreq_err *e);

struct webreq_posting {
	uint8_t type;		/* POST_DEPOSIT, _WITHDRAW, _DISBURSE, _REPAY */
	const char *account;
	int64_t amount;		/* 1..NUSA_AMOUNT_MAX */
	const char *memo;	/* "" if absent */
	uint32_t date;		/* YYYYMMDD; 0 if absent (today) */
	int confirm;
};
int webreq_posting(const json_t *o, struct webreq_posting *r,
    struct webreq_err *e);

struct webreq_reverse {
	const char *memo;	/* "" if absent */
};
int webreq_reverse(const json_t *o, struct webreq_reverse *r,
    struct webreq_err *e);

struct webreq_user {
	const char *user, *pin;
	int role;		/* enum users_role */
};
int webreq_user(const json_t *o, struct webreq_user *r,
    struct webreq_err *e);

/* A query parameter: s (NULL if absent: def) must be digits only, from
 * min to max. Returns 0 and sets *out, or -1 and fills e. */
int webreq_uint(const char *s, const char *name, unsigned long min,
    unsigned long max, unsigned long def, unsigned long *out,
    struct webreq_err *e);

/* A path segment naming a member or account (an id) or an entry (64 hex
 * digits into id). Return 0, or -1 and fill e with 404. */
int webreq_path_id(const char *s, struct webreq_err *e);
int webreq_path_entry(const char *s, uint8_t id[32], struct webreq_err *e);

#endif
