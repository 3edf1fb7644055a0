#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "nusa.h"
#include "outfile.h"
#include "payload.h"

_Static_assert(USERS_HASH_MAX == crypto_pwhash_STRBYTES, "hash size");

static const char *const role_names[] = { "?", "clerk", "treasurer",
	"admin" };

/* A user name is what an entry's `by` may carry, so the two agree. */
int
users_name_ok(const char *name)
{
	_Static_assert(USERS_NAME_MAX == PAYLOAD_BY_MAX,
	    "a web user's name fits an entry's by");
	return payload_by_ok(name, strlen(name));
}

int
users_role_parse(const char *s)
{
	int i;

	for (i = USERS_CLERK; i <= USERS_ADMIN; i++)
		if (strcmp(s, role_names[i]) == 0)
			return i;
	return 0;
}

const char *
users_role_name(int role)
{
	return role >= USERS_CLERK && role <= USERS_ADMIN ? role_names[role] :
	    role_names[0];
}

struct users *
users_new(void)
{
	return calloc(1, sizeof(struct users));
}

void
users_free(struct users **u)
{
	if (u == NULL || *u == NULL)
		return;
	if ((*u)->v)
		sodium_memzero((*u)->v, (*u)->cap * sizeof(*(*u)->v));
	free((*u)->v);
	free(*u);
	*u = NULL;
}

static int
push(struct users *u, const struct users_entry *e)
{
	struct users_entry *v;
	size_t cap;

	if (u->n == USERS_MAX)
		return -ENOSPC;
	if (u->n == u->cap) {
		cap = u->cap ? u->cap * 2 : 8;
		if ((v = realloc(u->v, cap * sizeof(*v))) == NULL)
			return -ENOMEM;
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = *e;
	return 0;
}

/* A hash as crypto_pwhash_str() writes it: "$argon2", printable, no
 * blanks, shorter than crypto_pwhash_STRBYTES. */
static int
hash_ok(const char *h, size_t n)
{
	size_t i;

	if (n < 8 || n >= USERS_HASH_MAX || strncmp(h, "$argon2", 7) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (h[i] <= ' ' || h[i] > '~')
			return 0;
	return 1;
}

/* One "NAME ROLE HASH" line of n bytes (no newline) into *e. */
static int
parse_line(struct users_entry *e, const char *s, size_t n)
{
	char role[16];
	const char *sp1, *sp2;
	size_t ln, lr, lh;

	memset(e, 0, sizeof(*e));
	if ((sp1 = memchr(s, ' ', n)) == NULL)
		return -NUSA_EMALFORMED;
	ln = (size_t)(sp1 - s);
	if ((sp2 = memchr(sp1 + 1, ' ', n - ln - 1)) == NULL)
		return -NUSA_EMALFORMED;
	lr = (size_t)(sp2 - sp1 - 1);
	lh = n - ln - lr - 2;
	if (ln > USERS_NAME_MAX || lr >= sizeof(role) || !hash_ok(sp2 + 1, lh))
		return -NUSA_EMALFORMED;
	memcpy(e->name, s, ln);
	memcpy(role, sp1 + 1, lr);
	role[lr] = '\0';
	memcpy(e->hash, sp2 + 1, lh);
	if (!users_name_ok(e->name) || (e->role = users_role_parse(role)) == 0)
		return -NUSA_EMALFORMED;
	return 0;
}

int
users_parse(struct users **out, const char *text, size_t len, size_t *line)
{
	struct users *u;
	struct users_entry e;
	size_t pos = 0, n, ln = 0;
	const char *nl;
	int rc = 0;

	*out = NULL;
	if ((u = users_new()) == NULL)
		return -ENOMEM;
	while (pos < len) {
		ln++;
		nl = memchr(text + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		if (n > 0 && text[pos] != '#') {
			if ((rc = parse_line(&e, text + pos, n)) == 0 &&
			    users_find(u, e.name) != NULL)
				rc = -NUSA_EMALFORMED;
			if (rc == 0)
				rc = push(u, &e);
			if (rc) {
				if (line)
					*line = ln;
				users_free(&u);
				return rc == -ENOSPC ? -NUSA_EMALFORMED : rc;
			}
		}
		pos += n + (nl != NULL);
	}
	*out = u;
	return 0;
}

int
users_load(struct users **out, const char *path)
{
	char *buf;
	ssize_t r;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno != ENOENT)
			return -errno;
		return (*out = users_new()) ? 0 : -ENOMEM;
	}
	if ((buf = malloc(USERS_FILE_MAX + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while ((r = read(fd, buf + len, USERS_FILE_MAX + 1 - len)) > 0)
		len += (size_t)r;
	rc = r < 0 ? -errno : len > USERS_FILE_MAX ? -EFBIG : 0;
	close(fd);
	if (rc == 0)
		rc = users_parse(out, buf, len, NULL);
	sodium_memzero(buf, USERS_FILE_MAX + 1);
	free(buf);
	return rc;
}

/* Run as root (sudo nusactl user add), the file still belongs to whoever
 * owns the data directory: nusad runs as that user and must read it. */
static void
owner_of_dir(int fd, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (geteuid() != 0)
		return;
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) ?
		    (int)(slash - path) : 1, path);
	if (stat(dir, &st) == 0 && (st.st_uid != 0 || st.st_gid != 0))
		(void)!fchown(fd, st.st_uid, st.st_gid);
}

int
users_save(const struct users *u, const char *path)
{
	struct outfile o;
	size_t i;
	int rc;

	/* A name of its own (mode 0600): two writers never share one. */
	if ((rc = outfile_open_mode(&o, path, 0600)) != 0)
		return rc;
	owner_of_dir(fileno(o.f), path);
	fprintf(o.f, "# nusa web users: NAME ROLE HASH (nusactl user ...)\n");
	for (i = 0; i < u->n; i++)
		fprintf(o.f, "%s %s %s\n", u->v[i].name,
		    users_role_name(u->v[i].role), u->v[i].hash);
	/* A write that failed on the way shows in ferror(): then no rename. */
	return outfile_close(&o, 1);
}

int
users_lock(const char *path)
{
	char lk[4096];
	int fd;

	if ((size_t)snprintf(lk, sizeof(lk), "%s.lock", path) >= sizeof(lk))
		return -ENAMETOOLONG;
	if ((fd = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return -errno;
	owner_of_dir(fd, path);
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			int rc = -errno;

			close(fd);
			return rc;
		}
	}
	return fd;
}

void
users_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* drops the flock */
}

const struct users_entry *
users_find(const struct users *u, const char *name)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return &u->v[i];
	return NULL;
}

int
users_add(struct users *u, const char *name, int role, const char *pin)
{
	struct users_entry e;
	size_t n = strlen(pin);

	if (!users_name_ok(name) || role < USERS_CLERK || role > USERS_ADMIN)
		return -NUSA_EMALFORMED;
	if (n < USERS_PIN_MIN || n > USERS_PIN_MAX)
		return -NUSA_ERANGE;
	if (users_find(u, name))
		return -NUSA_EEXIST;
	if (u->n == USERS_MAX)
		return -ENOSPC;
	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.role = role;
	if (crypto_pwhash_str(e.hash, pin, n,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return -ENOMEM;
	return push(u, &e);
}

int
users_remove(struct users *u, const char *name)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0) {
			memmove(&u->v[i], &u->v[i + 1],
			    (u->n - i - 1) * sizeof(u->v[0]));
			u->n--;
			return 0;
		}
	return -NUSA_ENOTFOUND;
}

int
users_verify(const struct users_entry *e, const char *pin)
{
	return crypto_pwhash_str_verify(e->hash, pin, strlen(pin)) == 0 ? 0 :
	    -EACCES;
}
