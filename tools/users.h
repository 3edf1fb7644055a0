/* Web users of one box: who may sign in to the web app, with which role.
 * Kept in DATA_DIR/users (mode 0600), one "NAME ROLE HASH" line each,
 * the PIN hashed with libsodium's crypto_pwhash_str (Argon2id, interactive
 * limits). Web users are not devices: what they write is signed by the
 * box's device key and names them in the entry's `by`. */
#ifndef NUSA_USERS_H
#define NUSA_USERS_H

#include <stddef.h>

#define USERS_NAME_MAX 32	/* bytes of a user name */
#define USERS_PIN_MIN  4	/* bytes of a PIN or password, at least */
#define USERS_PIN_MAX  128	/* and at most */
#define USERS_HASH_MAX 128	/* crypto_pwhash_STRBYTES */
#define USERS_MAX      1024	/* users in one file */
#define USERS_FILE_MAX (USERS_MAX * 200)	/* bytes of the file */

enum users_role {
	USERS_CLERK = 1,	/* members, accounts, postings */
	USERS_TREASURER,	/* also reversals and conflicts */
	USERS_ADMIN,		/* also web users */
};

struct users_entry {
	char name[USERS_NAME_MAX + 1];
	int role;
	char hash[USERS_HASH_MAX];
};

struct users {
	struct users_entry *v;
	size_t n, cap;
};

/* Returns 1 if name is a valid user name: 1 to USERS_NAME_MAX of
 * [A-Za-z0-9._-]. */
int users_name_ok(const char *name);

/* Returns the enum users_role named s ("clerk", "treasurer", "admin"),
 * or 0. users_role_name() returns "?" for an unknown role. */
int users_role_parse(const char *s);
const char *users_role_name(int role);

/* Returns an empty list, or NULL if out of memory. Caller frees with
 * users_free(). */
struct users *users_new(void);
void users_free(struct users **u);

/* Parses the text of a users file (len bytes, need not be
 * NUL-terminated) into a new list. Blank lines and lines starting with
 * '#' are skipped. Returns 0 and sets *out (caller frees with
 * users_free()), -NUSA_EMALFORMED (and *line, 1-based, of the bad line)
 * or -ENOMEM. */
int users_parse(struct users **out, const char *text, size_t len,
    size_t *line);

/* Reads the file at path; a missing file is an empty list. Returns 0 and
 * sets *out, -errno, -EFBIG or -NUSA_EMALFORMED. */
int users_load(struct users **out, const char *path);

/* Writes u to path: a new path.tmp.PID.N (0600, outfile.h), fsync, rename, sync
 * of the parent. Returns 0 or -errno. A change is users_lock(),
 * users_load(), the change, users_save(), users_unlock(). */
int users_save(const struct users *u, const char *path);

/* Takes the lock of the users file at path (flock of path.lock, made
 * if missing), waiting for whoever holds it. Returns the lock's fd for
 * users_unlock(), or -errno. */
int users_lock(const char *path);
void users_unlock(int fd);

/* Returns the user called name, or NULL. */
const struct users_entry *users_find(const struct users *u,
    const char *name);

/* Adds name with role and the hash of pin. Returns 0, -NUSA_EMALFORMED
 * (bad name or role), -NUSA_ERANGE (pin shorter than USERS_PIN_MIN or
 * longer than USERS_PIN_MAX), -NUSA_EEXIST, -ENOSPC (USERS_MAX) or
 * -ENOMEM (hashing ran out of memory). */
int users_add(struct users *u, const char *name, int role, const char *pin);

/* Removes name. Returns 0 or -NUSA_ENOTFOUND. */
int users_remove(struct users *u, const char *name);

/* Checks pin against e's hash. Returns 0 if it matches, else -EACCES. */
int users_verify(const struct users_entry *e, const char *pin);

#endif
