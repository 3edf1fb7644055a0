#include "replica.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "key.h"
#include "payload.h"
#include "store.h"

static const char replica_magic[] = "nusa-replica-v1\n";
static const char rekey_magic[] = "nusa-rekey-v1\n";
static const char *const reasons[] = { NULL, "copy", "restore", "manual" };

const char *
rekey_reason_name(int reason)
{
	return reason >= REKEY_COPY && reason <= REKEY_MANUAL ?
	    reasons[reason] : "unknown";
}

/* ---- where a directory is ---------------------------------------------- */

/* Reads up to cap - 1 bytes of a small file; returns the length or -1. */
static ssize_t
read_small(const char *path, char *buf, size_t cap)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	buf[n] = '\0';
	return n;
}

/* Hashes the printable, non-blank characters of s; 0 if there are none
 * or they are all zeros (an x86 board reports no serial, a VM zeros). */
static int
hash_token(uint8_t out[NUSA_HASH_LEN], const char *s, size_t n)
{
	char tok[256];
	size_t i, k = 0;
	int nonzero = 0;

	for (i = 0; i < n && k < sizeof(tok); i++)
		if (s[i] > ' ' && s[i] < 127) {
			tok[k++] = s[i];
			nonzero |= s[i] != '0';
		}
	if (k == 0 || !nonzero)
		return 0;
	crypto_generichash(out, NUSA_HASH_LEN, (const uint8_t *)tok, k, NULL,
	    0);
	return 1;
}

static int
machine_serial(uint8_t out[NUSA_HASH_LEN])
{
	char buf[8192], *p, *nl;
	ssize_t n;

	n = read_small("/sys/firmware/devicetree/base/serial-number", buf,
	    256);
	if (n > 0 && hash_token(out, buf, strnlen(buf, (size_t)n)))
		return 1;
	if ((n = read_small("/proc/cpuinfo", buf, sizeof(buf))) <= 0)
		return 0;
	for (p = buf; p && *p; p = nl ? nl + 1 : NULL) {
		nl = strchr(p, '\n');
		if (strncmp(p, "Serial", 6) == 0 && strchr(p, ':') &&
		    (!nl || strchr(p, ':') < nl)) {
			p = strchr(p, ':') + 1;
			return hash_token(out, p, nl ? (size_t)(nl - p) :
			    strlen(p));
		}
	}
	return 0;
}

/* Reads netdir/name/file into buf; 0 or -1. */
static int
read_net(const char *netdir, const char *name, const char *file, char *buf,
    size_t cap)
{
	char p[PATH_MAX];

	if ((size_t)snprintf(p, sizeof(p), "%s/%s/%s", netdir, name, file) >=
	    sizeof(p))
		return -1;
	return read_small(p, buf, cap) < 0 ? -1 : 0;
}

/* 1 if netdir/name/device leads to a USB device (a dongle, or a Pi 3's
 * on-board Ethernet, which hangs off its USB hub). */
static int
on_usb(const char *netdir, const char *name)
{
	char p[PATH_MAX], real[PATH_MAX];

	if ((size_t)snprintf(p, sizeof(p), "%s/%s/device", netdir, name) >=
	    sizeof(p) || realpath(p, real) == NULL)
		return 0;
	return strstr(real, "/usb") != NULL;
}

int
replica_nic(const char *netdir, uint8_t out[NUSA_HASH_LEN])
{
	char best[2][18] = { "", "" }, addr[64], type[16], p[PATH_MAX];
	struct dirent *de;
	struct stat st;
	size_t i, k;
	int usb, any = -1;
	DIR *d;

	if ((d = opendir(netdir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		/* Physical: bound to a device (not lo, bridges, tunnels). */
		if ((size_t)snprintf(p, sizeof(p), "%s/%s/device", netdir,
		    de->d_name) >= sizeof(p) || stat(p, &st) != 0)
			continue;
		/* 0: the address burnt into the card; not one made up or set
		 * by software. Unreadable: take the address as it is. */
		if (read_net(netdir, de->d_name, "addr_assign_type", type,
		    sizeof(type)) == 0 && atoi(type) != 0)
			continue;
		if (read_net(netdir, de->d_name, "address", addr,
		    sizeof(addr)) != 0)
			continue;
		for (i = k = 0; addr[i] && k < 17; i++)
			if (addr[i] > ' ')
				addr[k++] = (char)(addr[i] >= 'A' &&
				    addr[i] <= 'F' ? addr[i] + 32 : addr[i]);
		addr[k] = '\0';
		if (k != 17 || strcmp(addr, "00:00:00:00:00:00") == 0)
			continue;
		usb = on_usb(netdir, de->d_name);
		if (best[usb][0] == '\0' || strcmp(addr, best[usb]) < 0)
			memcpy(best[usb], addr, 18);
	}
	closedir(d);
	/* Built-in interfaces first: a dongle comes and goes. */
	if (best[0][0])
		any = 0;
	else if (best[1][0])
		any = 1;
	if (any < 0)
		return 0;
	return hash_token(out, best[any], strlen(best[any]));
}

int
replica_here(struct replica *r, const char *dir)
{
	const char *test = getenv("NUSA_TEST_MACHINE_ID");
	char buf[256];
	struct stat st;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	if (sodium_init() < 0)
		return -ENOMEM;
	if (stat(dir, &st) != 0)
		return -errno;
	r->dev = (uint64_t)st.st_dev;
	r->ino = (uint64_t)st.st_ino;
	if (test && test[0]) {
		r->has_machine = hash_token(r->machine, test, strlen(test));
		return 0;
	}
	if ((n = read_small("/etc/machine-id", buf, sizeof(buf))) <= 0)
		n = read_small("/var/lib/dbus/machine-id", buf, sizeof(buf));
	if (n > 0)
		r->has_machine = hash_token(r->machine, buf, (size_t)n);
	r->has_serial = machine_serial(r->serial);
	r->has_nic = replica_nic("/sys/class/net", r->nic);
	return 0;
}

int
replica_compare(const struct replica *saved, const struct replica *now)
{
	if (saved->has_machine && now->has_machine &&
	    memcmp(saved->machine, now->machine, NUSA_HASH_LEN) != 0)
		return REPLICA_COPY;
	if (saved->has_serial && now->has_serial &&
	    memcmp(saved->serial, now->serial, NUSA_HASH_LEN) != 0)
		return REPLICA_COPY;
	/* The network card tells boxes apart only where no serial does: on
	 * a Pi whose serial both sides read, a card that changed (Wi-Fi
	 * turned off in config.txt, a HAT added) is the same box. */
	if (!(saved->has_serial && now->has_serial) &&
	    saved->has_nic && now->has_nic &&
	    memcmp(saved->nic, now->nic, NUSA_HASH_LEN) != 0)
		return REPLICA_COPY;
	/* cp -a, rsync, a restore from a tar file: a new directory inode.
	 * A rename keeps it. The device number alone may change when disks
	 * are renumbered; an inode number equal by chance on another
	 * filesystem of the same machine is a risk we take. */
	if (saved->ino != now->ino)
		return REPLICA_COPY;
	return REPLICA_SAME;
}

/* ---- text encodings ------------------------------------------------------ */

static int
put_hex(char **p, char *end, const char *name, const uint8_t *b, size_t n,
    int have)
{
	char hex[2 * NUSA_HASH_LEN + 1];
	int w;

	w = snprintf(*p, (size_t)(end - *p), "%s %s\n", name,
	    have ? nusa_hex(hex, b, n) : "-");
	if (w < 0 || w >= end - *p)
		return -ENOSPC;
	*p += w;
	return 0;
}

static int
put_u64(char **p, char *end, const char *name, uint64_t v)
{
	int w = snprintf(*p, (size_t)(end - *p), "%s %" PRIu64 "\n", name, v);

	if (w < 0 || w >= end - *p)
		return -ENOSPC;
	*p += w;
	return 0;
}

static int
put_word(char **p, char *end, const char *name, const char *word)
{
	int w = snprintf(*p, (size_t)(end - *p), "%s %s\n", name, word);

	if (w < 0 || w >= end - *p)
		return -ENOSPC;
	*p += w;
	return 0;
}

int
replica_encode(const struct replica *r, char *buf, size_t cap)
{
	char *p = buf, *end = buf + cap;
	int rc;

	if (cap < sizeof(replica_magic))
		return -ENOSPC;
	memcpy(p, replica_magic, sizeof(replica_magic));
	p += sizeof(replica_magic) - 1;
	if ((rc = put_hex(&p, end, "id", r->id, REPLICA_ID_LEN, 1)) != 0 ||
	    (rc = put_hex(&p, end, "machine", r->machine, NUSA_HASH_LEN,
	    r->has_machine)) != 0 ||
	    (rc = put_hex(&p, end, "serial", r->serial, NUSA_HASH_LEN,
	    r->has_serial)) != 0 ||
	    (rc = put_u64(&p, end, "dev", r->dev)) != 0 ||
	    (rc = put_u64(&p, end, "ino", r->ino)) != 0)
		return rc;
	/* Only where read: a binding made before it existed has no line. */
	if (r->has_nic && (rc = put_hex(&p, end, "nic", r->nic,
	    NUSA_HASH_LEN, 1)) != 0)
		return rc;
	return (int)(p - buf);
}

int
rekey_encode(const struct rekey *k, char *buf, size_t cap)
{
	char *p = buf, *end = buf + cap;
	int rc;

	if (cap < sizeof(rekey_magic))
		return -ENOSPC;
	memcpy(p, rekey_magic, sizeof(rekey_magic));
	p += sizeof(rekey_magic) - 1;
	if ((rc = put_hex(&p, end, "old", k->old, NUSA_KEY_LEN, 1)) != 0 ||
	    (rc = put_hex(&p, end, "new", k->new, NUSA_KEY_LEN, 1)) != 0 ||
	    (rc = put_word(&p, end, "role",
	    payload_role_name(k->role))) != 0 ||
	    (rc = put_word(&p, end, "reason",
	    rekey_reason_name(k->reason))) != 0 ||
	    (rc = put_u64(&p, end, "time", k->time)) != 0)
		return rc;
	return (int)(p - buf);
}

/* A cursor over "name value\n" lines: each get_* takes the next line,
 * which must carry exactly that name, and leaves its value in v. */
struct lines {
	const char *p, *end;
	char v[2 * NUSA_HASH_LEN + 1];
};

static int
get_line(struct lines *l, const char *name)
{
	size_t n = strlen(name), vlen;
	const char *nl;

	if ((size_t)(l->end - l->p) < n + 2 || memcmp(l->p, name, n) != 0 ||
	    l->p[n] != ' ')
		return -NUSA_EMALFORMED;
	l->p += n + 1;
	if ((nl = memchr(l->p, '\n', (size_t)(l->end - l->p))) == NULL)
		return -NUSA_EMALFORMED;
	vlen = (size_t)(nl - l->p);
	if (vlen == 0 || vlen >= sizeof(l->v) || memchr(l->p, '\0', vlen))
		return -NUSA_EMALFORMED;
	memcpy(l->v, l->p, vlen);
	l->v[vlen] = '\0';
	l->p = nl + 1;
	return 0;
}

static int
get_hex(struct lines *l, const char *name, uint8_t *b, size_t n, int *have)
{
	int rc;

	if ((rc = get_line(l, name)) != 0)
		return rc;
	if (have && strcmp(l->v, "-") == 0) {
		*have = 0;
		memset(b, 0, n);
		return 0;
	}
	/* nusa_unhex() takes either case; one encoding means lowercase. */
	if (strlen(l->v) != 2 * n || strspn(l->v, "0123456789abcdef") !=
	    2 * n || nusa_unhex(b, n, l->v) != 0)
		return -NUSA_EMALFORMED;
	if (have)
		*have = 1;
	return 0;
}

static int
get_u64(struct lines *l, const char *name, uint64_t *v)
{
	size_t i, n;
	int rc;

	if ((rc = get_line(l, name)) != 0)
		return rc;
	n = strlen(l->v);
	if (n > 20 || (n > 1 && l->v[0] == '0'))
		return -NUSA_EMALFORMED;
	*v = 0;
	for (i = 0; i < n; i++) {
		if (l->v[i] < '0' || l->v[i] > '9' ||
		    *v > (UINT64_MAX - (uint64_t)(l->v[i] - '0')) / 10)
			return -NUSA_EMALFORMED;
		*v = *v * 10 + (uint64_t)(l->v[i] - '0');
	}
	return 0;
}

static int
lines_open(struct lines *l, const char *buf, size_t len, const char *magic)
{
	size_t m = strlen(magic);

	if (len > REPLICA_FILE_MAX || len < m || memcmp(buf, magic, m) != 0)
		return -NUSA_EMALFORMED;
	l->p = buf + m;
	l->end = buf + len;
	return 0;
}

int
replica_decode(struct replica *r, const char *buf, size_t len)
{
	struct lines l;

	memset(r, 0, sizeof(*r));
	if (lines_open(&l, buf, len, replica_magic) != 0 ||
	    get_hex(&l, "id", r->id, REPLICA_ID_LEN, NULL) != 0 ||
	    get_hex(&l, "machine", r->machine, NUSA_HASH_LEN,
	    &r->has_machine) != 0 ||
	    get_hex(&l, "serial", r->serial, NUSA_HASH_LEN,
	    &r->has_serial) != 0 ||
	    get_u64(&l, "dev", &r->dev) != 0 ||
	    get_u64(&l, "ino", &r->ino) != 0)
		return -NUSA_EMALFORMED;
	if (l.p == l.end)
		return 0;
	if (get_hex(&l, "nic", r->nic, NUSA_HASH_LEN, NULL) != 0 ||
	    l.p != l.end)
		return -NUSA_EMALFORMED;
	r->has_nic = 1;
	return 0;
}

int
rekey_decode(struct rekey *k, const char *buf, size_t len)
{
	struct lines l;
	int i;

	memset(k, 0, sizeof(*k));
	if (lines_open(&l, buf, len, rekey_magic) != 0 ||
	    get_hex(&l, "old", k->old, NUSA_KEY_LEN, NULL) != 0 ||
	    get_hex(&l, "new", k->new, NUSA_KEY_LEN, NULL) != 0 ||
	    get_line(&l, "role") != 0)
		return -NUSA_EMALFORMED;
	k->role = payload_role_parse(l.v);
	if (k->role != ROLE_ADMIN && k->role != ROLE_CLERK &&
	    k->role != ROLE_RELAY)
		return -NUSA_EMALFORMED;
	if (get_line(&l, "reason") != 0)
		return -NUSA_EMALFORMED;
	for (i = REKEY_COPY; i <= REKEY_MANUAL; i++)
		if (strcmp(l.v, reasons[i]) == 0)
			k->reason = (uint8_t)i;
	if (k->reason == 0 || get_u64(&l, "time", &k->time) != 0 ||
	    l.p != l.end || memcmp(k->old, k->new, NUSA_KEY_LEN) == 0)
		return -NUSA_EMALFORMED;
	return 0;
}

/* ---- files ------------------------------------------------------------- */

static int
path_in(char out[PATH_MAX], const char *dir, const char *name)
{
	if ((size_t)snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* Writes len bytes to DIR/name through DIR/name.tmp: fsync, rename, and
 * fsync of the directory. */
static int
write_file(const char *dir, const char *name, const char *buf, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int fd, rc = 0;

	if ((rc = path_in(path, dir, name)) != 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = nusa_write_all(fd, buf, len);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc == 0)
		rc = nusa_sync_parent(path);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

static int
read_file(const char *dir, const char *name, char *buf, size_t cap,
    size_t *len)
{
	char path[PATH_MAX];
	ssize_t n;
	int rc;

	if ((rc = path_in(path, dir, name)) != 0)
		return rc;
	/* One byte more than a valid file can hold: a longer one fails. */
	if ((n = read_small(path, buf, cap)) < 0)
		return -errno;
	*len = (size_t)n;
	return 0;
}

int
replica_load(struct replica *r, const char *dir)
{
	char buf[REPLICA_FILE_MAX + 2];
	size_t len = 0;
	int rc;

	if ((rc = read_file(dir, "replica", buf, sizeof(buf), &len)) != 0)
		return rc;
	return replica_decode(r, buf, len);
}

int
replica_save(const struct replica *r, const char *dir)
{
	char buf[REPLICA_FILE_MAX];
	int n = replica_encode(r, buf, sizeof(buf));

	return n < 0 ? n : write_file(dir, "replica", buf, (size_t)n);
}

int
rekey_load(struct rekey *k, const char *dir)
{
	char buf[REPLICA_FILE_MAX + 2];
	size_t len = 0;
	int rc;

	if ((rc = read_file(dir, "rekey", buf, sizeof(buf), &len)) != 0)
		return rc;
	return rekey_decode(k, buf, len);
}

int
rekey_save(const struct rekey *k, const char *dir)
{
	char buf[REPLICA_FILE_MAX];
	int n = rekey_encode(k, buf, sizeof(buf));

	return n < 0 ? n : write_file(dir, "rekey", buf, (size_t)n);
}

/* Removes DIR/name for good (a power cut cannot bring it back); a file
 * that is not there is fine. */
static int
remove_file(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = path_in(path, dir, name)) != 0)
		return rc;
	if (unlink(path) != 0)
		return errno == ENOENT ? 0 : -errno;
	return nusa_sync_parent(path);
}

int
rekey_clear(const char *dir)
{
	return remove_file(dir, "rekey");
}

int
replica_claim_set(const char *dir, const uint8_t peer[NUSA_KEY_LEN],
    uint64_t seq, uint64_t mine)
{
	char buf[256], hex[2 * NUSA_KEY_LEN + 1];
	int n;

	n = snprintf(buf, sizeof(buf), "peer %s claims seq %" PRIu64
	    " of our own feed, we have %" PRIu64 "\n",
	    nusa_hex(hex, peer, NUSA_KEY_LEN), seq, mine);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENOSPC;
	return write_file(dir, "claim", buf, (size_t)n);
}

int
replica_claim_clear(const char *dir)
{
	return remove_file(dir, "claim");
}

/* ---- switching keys ---------------------------------------------------- */

/* Holds an exclusive lock on DIR/replica.lock, so that nusad and nusactl
 * starting at once on a copy make one new key, not two. Returns the
 * descriptor or a negative error. */
static int
lock_dir(const char *dir)
{
	char path[PATH_MAX];
	int fd, rc;

	if ((rc = path_in(path, dir, "replica.lock")) != 0)
		return rc;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return -errno;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			rc = -errno;
			close(fd);
			return rc;
		}
	return fd;
}

/* The device as this box's store knows it: role and whether it may
 * write (enrolled and not revoked). */
static uint8_t
device_role(struct store *s, const uint8_t pk[NUSA_KEY_LEN], int *usable)
{
	struct store_device d;
	struct store_txn *t;

	*usable = 0;
	if (store_begin(s, &t, STORE_READ) != 0)
		return ROLE_NONE;
	if (store_device(t, pk, &d) != 0)
		d.role = ROLE_NONE;
	store_abort(t);
	*usable = d.role != ROLE_NONE && d.cut == UINT64_MAX;
	return d.role;
}

static int
key_pk(const char *path, uint8_t pk[NUSA_KEY_LEN])
{
	struct key *k;
	int rc = key_load(&k, path);

	if (rc == 0) {
		memcpy(pk, k->pk, NUSA_KEY_LEN);
		key_free(&k);
	}
	return rc;
}

/* A rekey stopped by a crash after DIR/rekey was written: DIR/device.key
 * still is the old key and DIR/device.key.new the new one. Retire the
 * old and put the new in place. */
static int
rekey_finish(const char *dir, const struct rekey *rk)
{
	char cur[PATH_MAX], nxt[PATH_MAX], ret[PATH_MAX + 32];
	uint8_t pk[NUSA_KEY_LEN];
	int rc, i;

	if ((rc = path_in(cur, dir, "device.key")) != 0 ||
	    (rc = path_in(nxt, dir, "device.key.new")) != 0)
		return rc;
	rc = key_pk(cur, pk);
	if (rc == 0 && memcmp(pk, rk->new, NUSA_KEY_LEN) == 0) {
		unlink(nxt);	/* done before; a leftover at most */
		return 0;
	}
	if (rc != 0 && rc != -ENOENT)
		return rc;
	if ((rc = key_pk(nxt, pk)) != 0)
		return rc;
	if (memcmp(pk, rk->new, NUSA_KEY_LEN) != 0)
		return -NUSA_EMALFORMED;
	if (access(cur, F_OK) == 0) {
		/* The old key stays, under a name no tool loads. */
		for (i = 0; i < 100; i++) {
			if (i == 0)
				snprintf(ret, sizeof(ret), "%s.retired-%" PRIu64,
				    cur, rk->time);
			else
				snprintf(ret, sizeof(ret), "%s.retired-%" PRIu64
				    "-%d", cur, rk->time, i);
			if (link(cur, ret) == 0)
				break;
			if (errno != EEXIST)
				return -errno;
		}
		if (i == 100)
			return -EEXIST;
	}
	if (rename(nxt, cur) != 0)
		return -errno;
	return nusa_sync_parent(cur);
}

static int
rekey_locked(const char *dir, struct store *s, int reason,
    const uint8_t expect_old[NUSA_KEY_LEN], struct rekey *rk)
{
	char cur[PATH_MAX], nxt[PATH_MAX];
	struct rekey prev;
	struct replica r;
	struct key *k = NULL;
	int rc, usable, had;

	if ((rc = path_in(cur, dir, "device.key")) != 0 ||
	    (rc = path_in(nxt, dir, "device.key.new")) != 0)
		return rc;
	memset(rk, 0, sizeof(*rk));
	if ((rc = key_pk(cur, rk->old)) != 0)
		return rc;
	had = rekey_load(&prev, dir);
	if (had != 0 && had != -ENOENT)
		return had;
	if (expect_old && memcmp(rk->old, expect_old, NUSA_KEY_LEN) != 0) {
		if (had == 0)
			*rk = prev;
		return 1;
	}
	rk->role = device_role(s, rk->old, &usable);
	if (rk->role == ROLE_ROOT)
		rk->role = ROLE_ADMIN;	/* the root key cannot be re-made */
	if (rk->role == ROLE_NONE)
		/* Rekeyed again while waiting: what the first one asked. */
		rk->role = had == 0 ? prev.role : ROLE_CLERK;
	rk->reason = (uint8_t)reason;
	rk->time = (uint64_t)time(NULL);
	unlink(nxt);		/* an earlier attempt's, never used */
	if ((k = key_generate()) == NULL)
		return -ENOMEM;
	memcpy(rk->new, k->pk, NUSA_KEY_LEN);
	rc = key_save(k, nxt);
	key_free(&k);
	if (rc != 0)
		return rc;
	/* From here on, DIR/rekey says what to finish after a crash. */
	if ((rc = rekey_save(rk, dir)) != 0)
		return rc;
	if ((rc = replica_here(&r, dir)) != 0)
		return rc;
	randombytes_buf(r.id, sizeof(r.id));
	if ((rc = replica_save(&r, dir)) != 0)
		return rc;
	return rekey_finish(dir, rk);
}

int
replica_rekey(const char *dir, struct store *s, int reason,
    const uint8_t expect_old[NUSA_KEY_LEN], struct rekey *rk)
{
	int fd, rc;

	if (sodium_init() < 0)
		return -ENOMEM;
	if ((fd = lock_dir(dir)) < 0)
		return fd;
	rc = rekey_locked(dir, s, reason, expect_old, rk);
	close(fd);
	return rc;
}

static int
check_locked(const char *dir, struct store *s, struct replica_status *st)
{
	struct replica saved, now;
	int rc, usable, pending;

	pending = rekey_load(&st->rk, dir);
	if (pending != 0 && pending != -ENOENT)
		return pending;
	pending = pending == 0;
	if (pending && (rc = rekey_finish(dir, &st->rk)) != 0)
		return rc;
	if ((rc = replica_here(&now, dir)) != 0)
		return rc;
	rc = replica_load(&saved, dir);
	if (rc == -ENOENT) {
		/* A new box, or one from before this check: bound here. */
		randombytes_buf(now.id, sizeof(now.id));
		return replica_save(&now, dir);
	}
	if (rc != 0)
		return rc;
	if (replica_compare(&saved, &now) == REPLICA_COPY) {
		if ((rc = rekey_locked(dir, s, REKEY_COPY, NULL, &st->rk)) != 0)
			return rc < 0 ? rc : -EAGAIN;
		st->rekeyed = 1;
		st->pending = 1;
		return 0;
	}
	if (saved.dev != now.dev || (now.has_nic && !saved.has_nic)) {
		/* Same filesystem under another device number: follow it.
		 * A binding from before the NIC part learns it. Parts this
		 * process cannot read stay as they were. */
		memcpy(now.id, saved.id, sizeof(now.id));
		if (!now.has_machine && saved.has_machine) {
			now.has_machine = 1;
			memcpy(now.machine, saved.machine, NUSA_HASH_LEN);
		}
		if (!now.has_serial && saved.has_serial) {
			now.has_serial = 1;
			memcpy(now.serial, saved.serial, NUSA_HASH_LEN);
		}
		if (!now.has_nic && saved.has_nic) {
			now.has_nic = 1;
			memcpy(now.nic, saved.nic, NUSA_HASH_LEN);
		}
		if ((rc = replica_save(&now, dir)) != 0)
			return rc;
	}
	if (!pending)
		return 0;
	device_role(s, st->rk.new, &usable);
	if (!usable) {
		st->pending = 1;
		return 0;
	}
	if ((rc = rekey_clear(dir)) != 0)
		return rc;
	st->settled = 1;
	return 0;
}

int
replica_check(const char *dir, struct store *s, struct replica_status *st)
{
	char path[PATH_MAX];
	int fd, rc;

	memset(st, 0, sizeof(*st));
	if (sodium_init() < 0)
		return -ENOMEM;
	if ((fd = lock_dir(dir)) < 0)
		return fd;
	rc = check_locked(dir, s, st);
	if (rc == 0 && (rc = path_in(path, dir, "claim")) == 0)
		st->claimed = access(path, F_OK) == 0;
	close(fd);
	return rc;
}
