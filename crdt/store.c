#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "codec.h"
#include "entry.h"
#include "hlc.h"
#include "key.h"
#include "payload.h"
#include "state.h"
#include "store_db.h"

/* The map is address space: a 32-bit Pi has little of it to spare, a
 * 64-bit one plenty. The disk fills up long before either. */
#if SIZE_MAX > 0xffffffffu
#define STORE_MAP_MAX ((size_t)1 << 40)
#else
#define STORE_MAP_MAX ((size_t)1 << 30)
#endif

static const char *const db_names[DB_COUNT] = {
	[DB_META] = "meta",
	[DB_ENTRIES] = "entries",
	[DB_SIGS] = "sigs",
	[DB_FEEDS] = "feeds",
	[DB_VECTOR] = "vector",
	[DB_CLOCK] = "clock",
	[DB_ADMIN] = "admin",
	[DB_RECEIPTS] = "receipts",
	[DB_DEVICES] = "devices",
	[DB_RECORDS] = "records",
	[DB_POSTINGS] = "postings",
	[DB_BALANCES] = "balances",
	[DB_REVERSALS] = "reversals",
	[DB_ROLES] = "roles",
};

int
store_mdb_err(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return -NUSA_ENOTFOUND;
	case MDB_KEYEXIST:
		return -NUSA_EEXIST;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return -NUSA_ECORRUPT;
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
		return -NUSA_ESTOREVER;
	default:
		if (rc > 0)
			return -rc;		/* errno from LMDB */
		return rc > MDB_LAST_ERRCODE ? rc : -EIO; /* ours already */
	}
}

void
store_order_key(uint8_t out[ORDER_KEY_LEN], uint64_t hlc,
    const uint8_t *author, const uint8_t *id)
{
	codec_be64(out, hlc);
	memcpy(out + 8, author, NUSA_KEY_LEN);
	memcpy(out + 8 + NUSA_KEY_LEN, id, NUSA_HASH_LEN);
}

static void
feed_key(uint8_t out[FEED_KEY_LEN], const uint8_t *author, uint64_t seq)
{
	memcpy(out, author, NUSA_KEY_LEN);
	codec_be64(out + NUSA_KEY_LEN, seq);
}

static int
meta_get(struct store_txn *t, const char *name, MDB_val *v)
{
	MDB_val k = MV(name, strlen(name));

	return store_mdb_err(mdb_get(t->txn, t->s->dbi[DB_META], &k, v));
}

static int
meta_put(struct store_txn *t, const char *name, const void *p, size_t n)
{
	MDB_val k = MV(name, strlen(name)), v = MV(p, n);

	return store_mdb_err(mdb_put(t->txn, t->s->dbi[DB_META], &k, &v, 0));
}

static int
store_init_dbs(struct store *s, int create)
{
	uint8_t fmt[4] = { 0, 0, 0, STORE_FORMAT };
	struct store_txn t = { .s = s };
	MDB_val v;
	int i, rc, flags;

	rc = mdb_txn_begin(s->env, NULL, 0, &t.txn);
	if (rc)
		return store_mdb_err(rc);
	for (i = 0; i < DB_COUNT; i++) {
		flags = MDB_CREATE;
		if (i == DB_FEEDS || i == DB_REVERSALS)
			flags |= MDB_DUPSORT | MDB_DUPFIXED;
		rc = mdb_dbi_open(t.txn, db_names[i], flags, &s->dbi[i]);
		if (rc) {
			rc = store_mdb_err(rc);
			goto fail;
		}
	}
	rc = meta_get(&t, "format", &v);
	if (rc == -NUSA_ENOTFOUND && create) {
		rc = meta_put(&t, "format", fmt, sizeof(fmt));
	} else if (rc == 0) {
		if (v.mv_size != sizeof(fmt) || memcmp(v.mv_data, fmt, 4) != 0)
			rc = -NUSA_ESTOREVER;
	} else if (rc == -NUSA_ENOTFOUND) {
		rc = -ENOENT;
	}
	if (rc)
		goto fail;
	return store_mdb_err(mdb_txn_commit(t.txn));
fail:
	mdb_txn_abort(t.txn);
	return rc;
}

int
store_open(struct store **out, const char *path, int flags)
{
	return store_open_map(out, path, flags, 0, 0);
}

/* Removes dir/name if it is there. Returns 0 or -errno. */
static int
unlink_in(const char *dir, const char *name)
{
	char p[4096];

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
		return -ENAMETOOLONG;
	if (unlink(p) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Opens path/compact.lock and flocks it with op. flock() locks belong to
 * the open file description: closing other descriptors of the file (as
 * LMDB does with its own fcntl locks) leaves them alone. Returns the
 * descriptor, or -EBUSY (op has LOCK_NB and another holds it), -errno. */
static int
compact_lock(const char *path, int op)
{
	char p[4096];
	int fd;

	if ((size_t)snprintf(p, sizeof(p), "%s/compact.lock", path) >=
	    sizeof(p))
		return -ENAMETOOLONG;
	if ((fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 &&
	    (errno == EACCES || errno == EROFS))
		fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, op) != 0) {
		int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;

		if (errno == EINTR)
			continue;
		close(fd);
		return rc;
	}
	return fd;
}

/* Removes what a compaction cut short by a power cut left: the old file
 * (data.mdb.old, a second copy of the books once the new one is in
 * place) and the unfinished copy in path.compact/. Only with
 * compact.lock held shared, so that no compaction is running, and only
 * once data.mdb has opened as a store. Best effort: what stays is
 * removed next time. */
static void
remove_leftovers(const char *path)
{
	char tmp[4096];

	unlink_in(path, "data.mdb.old");
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.compact", path) >=
	    sizeof(tmp))
		return;
	if (unlink_in(tmp, "data.mdb") == 0 &&
	    unlink_in(tmp, "lock.mdb") == 0)
		rmdir(tmp);
}

/* lock: take compact.lock shared for the store's lifetime (every open
 * but compaction's own, which holds it exclusively). */
static int
open_env(struct store **out, const char *path, int flags,
    size_t initial, size_t max, int lock)
{
	char file[4096];
	struct store *s;
	int rc, created = 0;

	*out = NULL;
	if (sodium_init() < 0)
		return -ENOMEM;
	if ((flags & STORE_CREATE) && mkdir(path, 0700) == 0)
		created = 1;
	else if ((flags & STORE_CREATE) && errno != EEXIST)
		return -errno;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return -ENOMEM;
	}
	s->lockfd = -1;
	/* A compaction running now holds it exclusively: wait for it, and
	 * open the compacted store. */
	if (lock && (s->lockfd = compact_lock(path, LOCK_SH)) < 0) {
		rc = s->lockfd;
		s->lockfd = -1;
		store_close(s);
		return rc;
	}
	s->map_max = max ? max : STORE_MAP_MAX;
	if ((rc = mdb_env_create(&s->env)) != 0)
		goto fail;
	if ((rc = mdb_env_set_maxdbs(s->env, DB_COUNT)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, initial ? initial :
	    STORE_MAP_INITIAL)) != 0 ||
	    (rc = mdb_env_open(s->env, path, MDB_NOTLS, 0600)) != 0)
		goto fail;
	/* A store grown earlier (or by another process) keeps its size:
	 * adopt what its meta page says if that is more. */
	if ((rc = mdb_env_set_mapsize(s->env, 0)) != 0)
		goto fail;
	if ((rc = store_init_dbs(s, flags & STORE_CREATE)) != 0) {
		store_close(s);
		return rc;
	}
	/* LMDB syncs its files; the new directory and its entries are ours
	 * to make durable. */
	if (created && ((size_t)snprintf(file, sizeof(file), "%s/data.mdb",
	    path) >= sizeof(file) || (rc = nusa_sync_parent(file)) != 0 ||
	    (rc = nusa_sync_parent(path)) != 0)) {
		store_close(s);
		return rc ? rc : -ENAMETOOLONG;
	}
	if (lock)
		remove_leftovers(path);
	*out = s;
	return 0;
fail:
	store_close(s);
	return store_mdb_err(rc);
}

int
store_open_map(struct store **out, const char *path, int flags,
    size_t initial, size_t max)
{
	return open_env(out, path, flags, initial, max, 1);
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->env)
		mdb_env_close(s->env);
	pthread_mutex_destroy(&s->lock);
	if (s->lockfd >= 0)
		close(s->lockfd);
	free(s);
}

/* Sets the map to size, if more than now and at most the maximum. Only
 * with no transaction open in this process (LMDB remaps the file). */
static int
map_resize(struct store *s, size_t size)
{
	MDB_envinfo info;
	int rc;

	if (s->active)
		return -EBUSY;
	if ((rc = mdb_env_info(s->env, &info)) != 0)
		return store_mdb_err(rc);
	if (size > s->map_max)
		size = s->map_max;
	if (size <= info.me_mapsize)
		return -ENOSPC;
	return store_mdb_err(mdb_env_set_mapsize(s->env, size));
}

static int grow_locked(struct store *s);

int
store_grow(struct store *s)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = grow_locked(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int
grow_locked(struct store *s)
{
	MDB_envinfo info, other;
	int rc;

	if (s->active)
		return -EBUSY;
	/* Another process may have grown it already: the meta page says
	 * (it may also say less, when our larger map never committed). */
	if ((rc = mdb_env_info(s->env, &info)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, 0)) != 0 ||
	    (rc = mdb_env_info(s->env, &other)) != 0)
		return store_mdb_err(rc);
	if (other.me_mapsize > info.me_mapsize)
		info.me_mapsize = other.me_mapsize;
	if (info.me_mapsize >= s->map_max) {
		if (other.me_mapsize < info.me_mapsize)
			mdb_env_set_mapsize(s->env, info.me_mapsize);
		return -ENOSPC;
	}
	return map_resize(s, info.me_mapsize * 2);
}

/* Before a write transaction: keep the map at least twice what is in
 * use, so that the next transaction has as much room as the whole store
 * took so far. */
static void
map_headroom(struct store *s)
{
	MDB_envinfo info;
	MDB_stat st;
	size_t used, size;

	if (s->active || mdb_env_info(s->env, &info) != 0 ||
	    mdb_env_stat(s->env, &st) != 0)
		return;
	used = (info.me_last_pgno + 1) * (size_t)st.ms_psize;
	for (size = info.me_mapsize; used > size / 2 && size < s->map_max;)
		size *= 2;
	if (size > info.me_mapsize)
		map_resize(s, size);	/* at the maximum: carry on */
}

int
store_begin(struct store *s, struct store_txn **out, int flags)
{
	struct store_txn *t;
	MDB_val v;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->s = s;
	t->write = (flags & STORE_WRITE) != 0;
	/* Counted before it begins, so that no other thread resizes the
	 * map under it; the lock is not held while LMDB may block. */
	pthread_mutex_lock(&s->lock);
	if (t->write)
		map_headroom(s);
	s->active++;
	pthread_mutex_unlock(&s->lock);
	rc = mdb_txn_begin(s->env, NULL, t->write ? 0 : MDB_RDONLY, &t->txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map past ours: adopt its size,
		 * if no other transaction of ours is open. */
		pthread_mutex_lock(&s->lock);
		if (s->active == 1 &&
		    (rc = mdb_env_set_mapsize(s->env, 0)) == 0)
			rc = mdb_txn_begin(s->env, NULL, t->write ? 0 :
			    MDB_RDONLY, &t->txn);
		pthread_mutex_unlock(&s->lock);
	}
	if (rc) {
		pthread_mutex_lock(&s->lock);
		s->active--;
		pthread_mutex_unlock(&s->lock);
		free(t);
		return store_mdb_err(rc);
	}
	if (meta_get(t, "network", &v) == 0 && v.mv_size == NUSA_KEY_LEN) {
		memcpy(t->network, v.mv_data, NUSA_KEY_LEN);
		t->network_known = 1;
	}
	*out = t;
	return 0;
}

int
store_begin_nested(struct store_txn *parent, struct store_txn **out)
{
	struct store_txn *t;
	int rc;

	*out = NULL;
	if (!parent->write)
		return -EBADF;
	if ((t = malloc(sizeof(*t))) == NULL)
		return -ENOMEM;
	*t = *parent;
	t->nested = 1;
	rc = mdb_txn_begin(parent->s->env, parent->txn, 0, &t->txn);
	if (rc) {
		free(t);
		return store_mdb_err(rc);
	}
	*out = t;
	return 0;
}

int
store_commit(struct store_txn *t)
{
	int rc = mdb_txn_commit(t->txn);

	if (!t->nested) {
		pthread_mutex_lock(&t->s->lock);
		t->s->active--;
		pthread_mutex_unlock(&t->s->lock);
	}
	free(t);
	return store_mdb_err(rc);
}

void
store_abort(struct store_txn *t)
{
	if (t == NULL)
		return;
	mdb_txn_abort(t->txn);
	if (!t->nested) {
		pthread_mutex_lock(&t->s->lock);
		t->s->active--;
		pthread_mutex_unlock(&t->s->lock);
	}
	free(t);
}

int
store_write(struct store *s, int (*fn)(struct store_txn *t, void *ctx),
    void *ctx)
{
	struct store_txn *t;
	int rc;

	for (;;) {
		if ((rc = store_begin(s, &t, STORE_WRITE)) != 0)
			return rc;
		if ((rc = fn(t, ctx)) == 0)
			rc = store_commit(t);
		else
			store_abort(t);
		if (rc != -ENOSPC || store_grow(s) != 0)
			return rc;
	}
}

int
store_space(struct store *s, struct store_space *sp)
{
	MDB_envinfo info;
	MDB_stat st;
	struct statvfs vfs;
	struct stat sb;
	const char *dir;
	char file[4096];
	int rc;

	memset(sp, 0, sizeof(*sp));
	if ((rc = mdb_env_info(s->env, &info)) != 0 ||
	    (rc = mdb_env_stat(s->env, &st)) != 0 ||
	    (rc = mdb_env_get_path(s->env, &dir)) != 0)
		return store_mdb_err(rc);
	sp->used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	sp->map = info.me_mapsize;
	if ((size_t)snprintf(file, sizeof(file), "%s/data.mdb", dir) >=
	    sizeof(file))
		return -ENAMETOOLONG;
	if (stat(file, &sb) != 0)
		return -errno;
	/* Blocks, not length: what the file really takes on the card. */
	sp->file = (uint64_t)sb.st_blocks * 512;
	if (statvfs(dir, &vfs) != 0)
		return -errno;
	sp->fs_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	sp->fs_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	return 0;
}

static int
fsync_path(const char *path, int flags)
{
	int fd, rc = 0;

	if ((fd = open(path, flags | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int
file_size(const char *dir, const char *name, uint64_t *size)
{
	char p[4096];
	struct stat sb;

	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
		return -ENAMETOOLONG;
	if (stat(p, &sb) != 0)
		return -errno;
	*size = (uint64_t)sb.st_size;
	return 0;
}

/* The steps, and what a power cut after each leaves:
 *   1. copy into path.compact/data.mdb and fsync it and the directory:
 *      path/data.mdb is untouched, the copy a leftover;
 *   2. link path/data.mdb to path/data.mdb.old: the same file twice;
 *   3. rename the copy over path/data.mdb, fsync path/: the new store;
 *   4. remove data.mdb.old, lock.mdb and path.compact/.
 * A leftover data.mdb.old or path.compact/ is removed by the next
 * store_open() or compaction.
 * A process that had the store open would go on writing to the old file,
 * so none may: every store_open() holds path/compact.lock shared for as
 * long as the store is open, compaction takes it exclusively or fails
 * with -EBUSY, and a process opening meanwhile waits in store_open().
 * The environment is opened once here (LMDB forbids two opens of one
 * store in a process); its lock file goes with the old data file, so
 * the first open after builds LMDB's lock region from the new one. */
int
store_compact_hook(const char *path, uint64_t *before, uint64_t *after,
    void (*copied)(const char *tmp, void *ctx), void *ctx)
{
	char tmp[4096], from[4096], to[4096], old[4096];
	struct store *s = NULL, *fresh = NULL;
	int rc, guard = -1, swapped = 0;

	*before = *after = 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.compact", path) >=
	    sizeof(tmp) || (size_t)snprintf(from, sizeof(from),
	    "%s/data.mdb", tmp) >= sizeof(from) ||
	    (size_t)snprintf(to, sizeof(to), "%s/data.mdb", path) >=
	    sizeof(to) || (size_t)snprintf(old, sizeof(old),
	    "%s/data.mdb.old", path) >= sizeof(old))
		return -ENAMETOOLONG;
	if ((rc = file_size(path, "data.mdb", before)) != 0)
		return rc;
	if ((guard = compact_lock(path, LOCK_EX | LOCK_NB)) < 0)
		return guard;
	if ((rc = unlink_in(tmp, "data.mdb")) != 0 ||
	    (rc = unlink_in(tmp, "lock.mdb")) != 0 ||
	    (rc = unlink_in(path, "data.mdb.old")) != 0)
		goto fail;
	if (rmdir(tmp) != 0 && errno != ENOENT) {
		rc = -errno;
		goto fail;
	}
	if ((rc = open_env(&s, path, 0, 0, 0, 0)) != 0)
		goto fail;
	if (mkdir(tmp, 0700) != 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = store_mdb_err(mdb_env_copy2(s->env, tmp,
	    MDB_CP_COMPACT))) != 0)
		goto fail;
	if ((rc = fsync_path(from, O_RDONLY)) != 0 ||
	    (rc = fsync_path(tmp, O_RDONLY | O_DIRECTORY)) != 0 ||
	    (rc = nusa_sync_parent(tmp)) != 0)
		goto fail;
	/* The copy must open as a store before it replaces one (another
	 * file, another environment). */
	if ((rc = open_env(&fresh, tmp, 0, 0, 0, 0)) != 0)
		goto fail;
	store_close(fresh);
	fresh = NULL;
	if ((rc = unlink_in(tmp, "lock.mdb")) != 0)
		goto fail;
	if (copied)
		copied(tmp, ctx);
	if (link(to, old) != 0) {
		rc = -errno;
		goto fail;
	}
	if (rename(from, to) != 0) {
		rc = -errno;
		unlink(old);
		goto fail;
	}
	swapped = 1;
	if ((rc = fsync_path(path, O_RDONLY | O_DIRECTORY)) != 0)
		goto fail;
	store_close(s);
	s = NULL;
	/* Nobody else has it open (we hold compact.lock): the next open
	 * makes a new lock file and reads the new data file. */
	if ((rc = unlink_in(path, "lock.mdb")) != 0)
		goto fail;
	unlink(old);
	rmdir(tmp);
	if ((rc = fsync_path(path, O_RDONLY | O_DIRECTORY)) != 0 ||
	    (rc = nusa_sync_parent(tmp)) != 0 ||
	    (rc = file_size(path, "data.mdb", after)) != 0)
		goto fail;
	close(guard);
	return 0;
fail:
	store_close(s);
	if (!swapped) {
		unlink_in(tmp, "data.mdb");
		unlink_in(tmp, "lock.mdb");
		rmdir(tmp);
	}
	close(guard);
	return rc;
}

int
store_compact(const char *path, uint64_t *before, uint64_t *after)
{
	return store_compact_hook(path, before, after, NULL, NULL);
}

int
store_network(struct store_txn *t, uint8_t id[NUSA_KEY_LEN], char *name,
    size_t cap)
{
	MDB_val v;
	size_t n;

	if (!t->network_known)
		return -NUSA_ENONET;
	memcpy(id, t->network, NUSA_KEY_LEN);
	if (name && cap) {
		name[0] = '\0';
		if (meta_get(t, "name", &v) == 0) {
			n = v.mv_size < cap - 1 ? v.mv_size : cap - 1;
			memcpy(name, v.mv_data, n);
			name[n] = '\0';
		}
	}
	return 0;
}

/* Turns an iteration's LMDB end into 0, keeps a callback's own value. */
static int
iter_end(int rc, int from_fn)
{
	if (from_fn)
		return rc;
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

int
store_device_put(struct store_txn *t, const struct store_device *d)
{
	uint8_t b[25];
	MDB_val k = MV(d->pk, NUSA_KEY_LEN), v = MV(b, sizeof(b));

	b[0] = d->role;
	codec_be64(b + 1, d->cut);
	codec_be64(b + 9, d->cert_hlc);
	codec_be64(b + 17, d->fork_seq);
	return store_mdb_err(mdb_put(t->txn, t->s->dbi[DB_DEVICES], &k, &v,
	    0));
}

static void
device_unpack(struct store_device *d, const uint8_t *pk, const MDB_val *v)
{
	const uint8_t *b = v->mv_data;

	memset(d, 0, sizeof(*d));
	memcpy(d->pk, pk, NUSA_KEY_LEN);
	if (v->mv_size != 25)
		return;
	d->role = b[0];
	d->cut = codec_rd64(b + 1);
	d->cert_hlc = codec_rd64(b + 9);
	d->fork_seq = codec_rd64(b + 17);
	d->forked = d->fork_seq != 0;
}

uint64_t
store_device_cut(const struct store_device *d)
{
	if (d->cut == UINT64_MAX)
		return UINT64_MAX;
	if (d->fork_seq && d->fork_seq <= d->cut)
		return d->fork_seq - 1;
	return d->cut;
}

int
store_first_fork(struct store_txn *t, const uint8_t *author, uint64_t max,
    uint64_t *seq)
{
	uint8_t fk[FEED_KEY_LEN];
	MDB_cursor *c;
	MDB_val k, v;
	size_t n;
	int rc;

	*seq = 0;
	feed_key(fk, author, 1);
	k = MV(fk, sizeof(fk));
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[DB_FEEDS], &c)) != 0)
		return store_mdb_err(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
		if (k.mv_size != FEED_KEY_LEN ||
		    memcmp(k.mv_data, author, NUSA_KEY_LEN) != 0 ||
		    codec_rd64((const uint8_t *)k.mv_data + NUSA_KEY_LEN) > max)
			break;
		if ((rc = mdb_cursor_count(c, &n)) != 0)
			break;
		if (n > 1) {
			*seq = codec_rd64((const uint8_t *)k.mv_data +
			    NUSA_KEY_LEN);
			break;
		}
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

int
store_device(struct store_txn *t, const uint8_t pk[NUSA_KEY_LEN],
    struct store_device *d)
{
	MDB_val k = MV(pk, NUSA_KEY_LEN), v;
	int rc;

	rc = mdb_get(t->txn, t->s->dbi[DB_DEVICES], &k, &v);
	if (rc) {
		memset(d, 0, sizeof(*d));
		memcpy(d->pk, pk, NUSA_KEY_LEN);
		return store_mdb_err(rc);
	}
	device_unpack(d, pk, &v);
	return 0;
}

int
store_devices_each(struct store_txn *t,
    int (*fn)(const struct store_device *d, void *ctx), void *ctx)
{
	struct store_device d;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, op = MDB_FIRST, from_fn = 0;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[DB_DEVICES], &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size != NUSA_KEY_LEN)
			continue;
		device_unpack(&d, k.mv_data, &v);
		if ((rc = fn(&d, ctx)) != 0) {
			from_fn = 1;
			break;
		}
	}
	mdb_cursor_close(c);
	return iter_end(rc, from_fn);
}

int
store_join(struct store_txn *t, const uint8_t id[NUSA_KEY_LEN])
{
	struct store_device root = { .role = ROLE_ROOT, .cut = UINT64_MAX };
	int rc;

	if (t->network_known)
		return -NUSA_EEXIST;
	if ((rc = meta_put(t, "network", id, NUSA_KEY_LEN)) != 0)
		return rc;
	memcpy(root.pk, id, NUSA_KEY_LEN);
	if ((rc = store_device_put(t, &root)) != 0)
		return rc;
	memcpy(t->network, id, NUSA_KEY_LEN);
	t->network_known = 1;
	return 0;
}

uint64_t
store_hlc(struct store_txn *t)
{
	MDB_val v;

	if (meta_get(t, "hlc", &v) != 0 || v.mv_size != 8)
		return 0;
	return codec_rd64(v.mv_data);
}

static int
store_set_hlc(struct store_txn *t, uint64_t hlc)
{
	uint8_t b[8];

	codec_be64(b, hlc);
	return meta_put(t, "hlc", b, sizeof(b));
}

uint64_t
store_vector_get(struct store_txn *t, const uint8_t author[NUSA_KEY_LEN])
{
	MDB_val k = MV(author, NUSA_KEY_LEN), v;

	if (mdb_get(t->txn, t->s->dbi[DB_VECTOR], &k, &v) != 0 ||
	    v.mv_size != 8)
		return 0;
	return codec_rd64(v.mv_data);
}

/* Which kinds each role may author. Relays only carry others' entries. */
static int
role_allows(uint8_t role, uint8_t kind)
{
	switch (kind) {
	case KIND_NETWORK:
		return role == ROLE_ROOT;
	case KIND_CERT:
	case KIND_REVOKE:
		return role == ROLE_ROOT || role == ROLE_ADMIN;
	case KIND_RECORD:
	case KIND_POSTING:
		return role == ROLE_ROOT || role == ROLE_ADMIN ||
		    role == ROLE_CLERK;
	default:
		return 0;
	}
}

static int
is_admin_kind(uint8_t kind)
{
	return kind == KIND_NETWORK || kind == KIND_CERT ||
	    kind == KIND_REVOKE;
}

/* Checks that e links to a stored predecessor with an earlier clock. */
static int
check_link(struct store_txn *t, const struct entry *e)
{
	uint8_t fk[FEED_KEY_LEN];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if (e->seq == 1)
		return 0;
	feed_key(fk, e->author, e->seq - 1);
	k = MV(fk, sizeof(fk));
	v = MV(e->prev, NUSA_HASH_LEN);
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[DB_FEEDS], &c)) != 0)
		return store_mdb_err(rc);
	rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		return -NUSA_EGAP;
	if (rc)
		return store_mdb_err(rc);
	k = MV(e->prev, NUSA_HASH_LEN);
	if ((rc = mdb_get(t->txn, t->s->dbi[DB_ENTRIES], &k, &v)) != 0)
		return rc == MDB_NOTFOUND ? -NUSA_ECORRUPT : store_mdb_err(rc);
	if (v.mv_size < ENTRY_HEADER_LEN ||
	    codec_rd64((const uint8_t *)v.mv_data + 106) >= e->hlc)
		return -NUSA_EBADCHAIN;
	return 0;
}

/* After an admin entry is stored: recomputes the device table, unless
 * the entry certainly has no power: its author is neither root nor admin
 * now, nor was at the entry's clock (which the author chose: a clerk
 * dating certificates before its own must not make each one cost a
 * recompute, a read of every admin entry). An entry without power now
 * gains none later but by another admin entry, which recomputes. */
static int
admin_entry_stored(struct store_txn *t, const struct entry *e,
    const struct store_device *author, int *rebuild,
    struct store_ingest_stats *st)
{
	int rc, restricted = 0;
	uint8_t then;

	if (!is_admin_kind(e->kind))
		return 0;
	if (author->role != ROLE_ROOT && author->role != ROLE_ADMIN) {
		then = author->cert_hlc < e->hlc ? author->role :
		    state_role_at(t, e->author, e->hlc);
		if (then != ROLE_ROOT && then != ROLE_ADMIN)
			return 0;
	}
	st->recomputes++;
	if ((rc = state_devices_recompute(t, &restricted)) != 0)
		return rc;
	if (restricted)
		*rebuild = 1;
	return 0;
}

/* Stores one entry whose chain to a signature the caller has checked,
 * and materializes it. An entry past its author's cut is dropped, or with
 * keep_revoked stored outside the state (see keep_revoked_tail()); both
 * count as revoked. Sets *rebuild when state must be recomputed. */
static int
put_entry(struct store_txn *t, const struct entry *e,
    const uint8_t id[NUSA_HASH_LEN], const uint8_t *body, size_t len,
    const uint8_t *sig, int keep_revoked, struct store_ingest_stats *st,
    int *rebuild)
{
	uint8_t fk[FEED_KEY_LEN], ok[ORDER_KEY_LEN], seqb[8];
	struct store_device d;
	struct payload p;
	MDB_val k, v;
	int rc, fork, revoked;

	k = MV(id, NUSA_HASH_LEN);
	rc = mdb_get(t->txn, t->s->dbi[DB_ENTRIES], &k, &v);
	if (rc == 0) {
		st->duplicates++;
		if (sig == NULL)
			return 0;
		v = MV(sig, NUSA_SIG_LEN);
		return store_mdb_err(mdb_put(t->txn, t->s->dbi[DB_SIGS], &k,
		    &v, 0));
	}
	if (rc != MDB_NOTFOUND)
		return store_mdb_err(rc);

	if (memcmp(e->network, t->network, NUSA_KEY_LEN) != 0)
		return -NUSA_ENETWORK;
	if ((memcmp(e->author, t->network, NUSA_KEY_LEN) == 0 &&
	    e->seq == 1) != (e->kind == KIND_NETWORK))
		return -NUSA_EFORBIDDEN;
	if (store_device(t, e->author, &d) != 0 || d.role == ROLE_NONE)
		return -NUSA_EUNENROLLED;
	revoked = e->seq > store_device_cut(&d);
	if (revoked && !keep_revoked) {
		st->revoked++;
		return 0;
	}
	/* What an entry may do depends on its author's role at its clock,
	 * which the state judges (state_effective(), and for certificates
	 * state_devices_recompute()). Refusing it here by the role known now
	 * would stall the feed forever on the replicas that heard of a later
	 * change of role first, and nowhere else. */
	if ((rc = check_link(t, e)) != 0)
		return rc;

	feed_key(fk, e->author, e->seq);
	k = MV(fk, sizeof(fk));
	rc = mdb_get(t->txn, t->s->dbi[DB_FEEDS], &k, &v);
	fork = rc == 0;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_mdb_err(rc);

	k = MV(id, NUSA_HASH_LEN);
	v = MV(body, len);
	if ((rc = mdb_put(t->txn, t->s->dbi[DB_ENTRIES], &k, &v, 0)))
		return store_mdb_err(rc);
	if (sig) {
		v = MV(sig, NUSA_SIG_LEN);
		if ((rc = mdb_put(t->txn, t->s->dbi[DB_SIGS], &k, &v, 0)))
			return store_mdb_err(rc);
	}
	k = MV(fk, sizeof(fk));
	v = MV(id, NUSA_HASH_LEN);
	if ((rc = mdb_put(t->txn, t->s->dbi[DB_FEEDS], &k, &v, 0)))
		return store_mdb_err(rc);
	if (e->seq > store_vector_get(t, e->author)) {
		codec_be64(seqb, e->seq);
		k = MV(e->author, NUSA_KEY_LEN);
		v = MV(seqb, 8);
		if ((rc = mdb_put(t->txn, t->s->dbi[DB_VECTOR], &k, &v, 0)))
			return store_mdb_err(rc);
	}
	store_order_key(ok, e->hlc, e->author, id);
	k = MV(ok, sizeof(ok));
	v = MV("", 0);
	if ((rc = mdb_put(t->txn, t->s->dbi[DB_CLOCK], &k, &v, 0)))
		return store_mdb_err(rc);
	if (is_admin_kind(e->kind) &&
	    (rc = mdb_put(t->txn, t->s->dbi[DB_ADMIN], &k, &v, 0)))
		return store_mdb_err(rc);
	if (e->hlc > store_hlc(t) && (rc = store_set_hlc(t, e->hlc)) != 0)
		return rc;
	if (fork && !revoked && (d.fork_seq == 0 || e->seq < d.fork_seq)) {
		st->forks++;
		d.fork_seq = e->seq;
		d.forked = 1;
		if ((rc = store_device_put(t, &d)) != 0)
			return rc;
		/* A revoked key that forks has leaked: less of it counts. */
		if (d.cut != UINT64_MAX) {
			*rebuild = 1;
			revoked = 1;
		}
	} else if (fork && !revoked) {
		st->forks++;
	}
	if (revoked) {
		/* Out of the state, but the device table is recomputed from
		 * every stored admin entry: keep it in step with the rebuild. */
		st->revoked++;
		return admin_entry_stored(t, e, &d, rebuild, st);
	}

	st->added++;
	if (e->kind == KIND_NETWORK) {
		/* A box that joined by sync learns the name here. */
		if (payload_decode(&p, e->kind, e->payload, e->payload_len))
			return -NUSA_EMALFORMED;
		if ((rc = meta_put(t, "name", p.u.network.name.p,
		    p.u.network.name.n)) != 0)
			return rc;
	}
	if (is_admin_kind(e->kind))
		return admin_entry_stored(t, e, &d, rebuild, st);
	return state_effective(t, e) ? state_apply(t, id, e) : 0;
}

/* Returns 1 if a stored signature or a stored successor vouches for the
 * entry id at e's place in its feed. */
static int
entry_vouched(struct store_txn *t, const struct entry *e,
    const uint8_t id[NUSA_HASH_LEN])
{
	uint8_t fk[FEED_KEY_LEN];
	const uint8_t *body = NULL;
	MDB_cursor *c;
	MDB_val k = MV(id, NUSA_HASH_LEN), v;
	size_t len = 0;
	int rc, found = 0;

	if (mdb_get(t->txn, t->s->dbi[DB_SIGS], &k, &v) == 0)
		return 1;
	feed_key(fk, e->author, e->seq + 1);
	k = MV(fk, sizeof(fk));
	if (mdb_cursor_open(t->txn, t->s->dbi[DB_FEEDS], &c) != 0)
		return 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0 && !found;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		if (v.mv_size != NUSA_HASH_LEN ||
		    store_entry(t, v.mv_data, &body, &len, NULL) != 0)
			continue;
		found = len >= ENTRY_HEADER_LEN &&
		    memcmp(body + 74, id, NUSA_HASH_LEN) == 0;
	}
	mdb_cursor_close(c);
	return found;
}

/* Entries past their author's revocation are dropped, with two
 * exceptions, both kept out of the state. When a batch crosses the cut,
 * its part up to the cut ends at an entry whose own signature never came:
 * only the tail, up to the batch signature, vouches for it, and without it
 * store_verify() would fault the entry and no export could relay it. So
 * such a tail is kept unless the entry at the cut is vouched for already.
 * And the first tail holding a revocation is kept (see below). A stolen
 * key thus gets at most a tail or two stored. */
static int
keep_revoked_tail(struct store_txn *t, const struct entry *es,
    uint8_t (*ids)[NUSA_HASH_LEN], size_t n)
{
	struct store_device d;
	uint64_t cut;
	size_t i;
	int revokes = 0;

	if (store_device(t, es[0].author, &d) != 0 ||
	    (cut = store_device_cut(&d)) == UINT64_MAX)
		return 0;
	for (i = 0; i < n; i++)
		revokes |= es[i].seq > cut && es[i].kind == KIND_REVOKE;
	/* A revocation written past the cut can lift the cut (two admins
	 * revoking each other: the earlier one wins), and only if it is
	 * stored here. Keep the first tail that holds one; just the first,
	 * so a stolen key cannot make the box store more. */
	if (revokes && store_vector_get(t, es[0].author) <= cut)
		return 1;
	if (es[0].seq > cut)
		return 0;
	for (i = 1; i < n && es[i].seq <= cut; i++)
		;
	if (i == n)
		return 0;
	return !entry_vouched(t, &es[i - 1], ids[i - 1]);
}

int
store_ingest(struct store_txn *t, const struct store_batch *b,
    struct store_ingest_stats *st)
{
	uint8_t (*ids)[NUSA_HASH_LEN] = NULL;
	struct entry *es = NULL;
	int rc = 0, rebuild = 0, keep;
	size_t i;

	memset(st, 0, sizeof(*st));
	if (!t->write)
		return -EBADF;
	if (!t->network_known)
		return -NUSA_ENONET;
	if (b->n == 0 || b->n > NUSA_BATCH_MAX)
		return -NUSA_EMALFORMED;
	es = calloc(b->n, sizeof(*es));
	ids = calloc(b->n, sizeof(*ids));
	if (es == NULL || ids == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < b->n; i++) {
		st->bad_index = i;
		if (b->lens[i] > ENTRY_BODY_MAX ||
		    (rc = entry_decode(&es[i], b->bodies[i],
		    b->lens[i])) != 0) {
			rc = rc ? rc : -NUSA_EMALFORMED;
			goto out;
		}
		entry_id(ids[i], b->bodies[i], b->lens[i]);
		if (memcmp(es[i].network, t->network, NUSA_KEY_LEN) != 0) {
			rc = -NUSA_ENETWORK;
			goto out;
		}
		if (i > 0 && (memcmp(es[i].author, es[0].author,
		    NUSA_KEY_LEN) != 0 || es[i].seq != es[i - 1].seq + 1 ||
		    memcmp(es[i].prev, ids[i - 1], NUSA_HASH_LEN) != 0)) {
			rc = -NUSA_EBADCHAIN;
			goto out;
		}
	}
	st->bad_index = b->n - 1;
	if ((rc = entry_verify(b->sig, ids[b->n - 1], es[0].author)) != 0)
		goto out;
	keep = keep_revoked_tail(t, es, ids, b->n);
	for (i = 0; i < b->n; i++) {
		st->bad_index = i;
		rc = put_entry(t, &es[i], ids[i], b->bodies[i], b->lens[i],
		    i == b->n - 1 ? b->sig : NULL, keep, st, &rebuild);
		if (rc)
			goto out;
	}
	if (rebuild)
		rc = state_rebuild(t);
out:
	free(es);
	free(ids);
	return rc;
}

int
store_append(struct store_txn *t, const struct key *k, uint8_t kind,
    const uint8_t *payload, size_t len, uint8_t id_out[NUSA_HASH_LEN])
{
	struct store_ingest_stats st = { 0 };
	uint8_t body[ENTRY_BODY_MAX], id[NUSA_HASH_LEN], sig[NUSA_SIG_LEN];
	uint8_t fk[FEED_KEY_LEN];
	struct store_device d;
	struct entry e = { .kind = kind };
	size_t blen;
	MDB_val mk, mv;
	int rc, rebuild = 0;

	if (!t->write)
		return -EBADF;
	if (!t->network_known)
		return -NUSA_ENONET;
	if (len > NUSA_PAYLOAD_MAX)
		return -NUSA_ERANGE;
	if (store_device(t, k->pk, &d) != 0 || d.role == ROLE_NONE)
		return -NUSA_EUNENROLLED;
	if (d.cut != UINT64_MAX)
		return -NUSA_EREVOKED;
	if (!role_allows(d.role, kind))
		return -NUSA_EFORBIDDEN;
	memcpy(e.network, t->network, NUSA_KEY_LEN);
	memcpy(e.author, k->pk, NUSA_KEY_LEN);
	e.seq = store_vector_get(t, k->pk) + 1;
	if (e.seq > 1) {
		feed_key(fk, k->pk, e.seq - 1);
		mk = MV(fk, sizeof(fk));
		if ((rc = mdb_get(t->txn, t->s->dbi[DB_FEEDS], &mk, &mv)))
			return store_mdb_err(rc);
		if (mv.mv_size != NUSA_HASH_LEN)
			return -NUSA_ECORRUPT;
		memcpy(e.prev, mv.mv_data, NUSA_HASH_LEN);
	}
	e.hlc = hlc_next(store_hlc(t), hlc_wall_ms());
	e.payload = payload;
	e.payload_len = (uint32_t)len;
	if ((rc = entry_encode(&e, body, sizeof(body), &blen)) != 0)
		return rc;
	entry_id(id, body, blen);
	entry_sign(sig, id, k->sk);
	if ((rc = put_entry(t, &e, id, body, blen, sig, 0, &st,
	    &rebuild)) != 0)
		return rc;
	if (st.added != 1)
		return -NUSA_EREVOKED;
	if (rebuild && (rc = state_rebuild(t)) != 0)
		return rc;
	if (id_out)
		memcpy(id_out, id, NUSA_HASH_LEN);
	return 0;
}

int
store_create_network(struct store_txn *t, const struct key *k,
    const char *name)
{
	uint8_t buf[NUSA_PAYLOAD_MAX];
	struct payload p = { .kind = KIND_NETWORK };
	size_t len;
	int rc;

	p.u.network.name.p = name;
	p.u.network.name.n = strlen(name);
	if ((rc = payload_encode(&p, buf, sizeof(buf), &len)) != 0)
		return rc;
	if ((rc = store_join(t, k->pk)) != 0)
		return rc;
	if ((rc = meta_put(t, "name", name, strlen(name))) != 0)
		return rc;
	return store_append(t, k, KIND_NETWORK, buf, len, NULL);
}

int
store_entry(struct store_txn *t, const uint8_t id[NUSA_HASH_LEN],
    const uint8_t **body, size_t *len, const uint8_t **sig)
{
	MDB_val k = MV(id, NUSA_HASH_LEN), v;
	int rc;

	if ((rc = mdb_get(t->txn, t->s->dbi[DB_ENTRIES], &k, &v)) != 0)
		return store_mdb_err(rc);
	*body = v.mv_data;
	*len = v.mv_size;
	if (sig) {
		*sig = NULL;
		if (mdb_get(t->txn, t->s->dbi[DB_SIGS], &k, &v) == 0 &&
		    v.mv_size == NUSA_SIG_LEN)
			*sig = v.mv_data;
	}
	return 0;
}

int
store_vector_each(struct store_txn *t,
    int (*fn)(const uint8_t *author, uint64_t seq, void *ctx), void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc, op = MDB_FIRST, from_fn = 0;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[DB_VECTOR], &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size != NUSA_KEY_LEN || v.mv_size != 8)
			continue;
		if ((rc = fn(k.mv_data, codec_rd64(v.mv_data), ctx)) != 0) {
			from_fn = 1;
			break;
		}
	}
	mdb_cursor_close(c);
	return iter_end(rc, from_fn);
}

static int
item_fill(struct store_txn *t, struct store_item *it, const uint8_t *id)
{
	int rc;

	it->id = id;
	rc = store_entry(t, id, &it->body, &it->len, &it->sig);
	if (rc == -NUSA_ENOTFOUND)
		return -NUSA_ECORRUPT;
	if (rc == 0 && it->len >= ENTRY_HEADER_LEN)
		it->seq = codec_rd64(it->body + 66);
	return rc;
}

int
store_feed_each_after(struct store_txn *t,
    const uint8_t author[NUSA_KEY_LEN], uint64_t seq,
    const uint8_t after[NUSA_HASH_LEN],
    int (*fn)(const struct store_item *it, void *ctx), void *ctx)
{
	uint8_t fk[FEED_KEY_LEN];
	struct store_item it;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, op, from_fn = 0;

	feed_key(fk, author, seq ? seq : 1);
	k = MV(fk, sizeof(fk));
	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[DB_FEEDS], &c)) != 0)
		return store_mdb_err(rc);
	if (after) {
		/* The first id at seq not below after; skip after itself. */
		v = MV(after, NUSA_HASH_LEN);
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
		if (rc == 0 && v.mv_size == NUSA_HASH_LEN &&
		    memcmp(v.mv_data, after, NUSA_HASH_LEN) == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		else if (rc == MDB_NOTFOUND) {
			/* Nothing at seq from after on: the next seq. */
			feed_key(fk, author, seq + 1);
			k = MV(fk, sizeof(fk));
			rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		}
	} else
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	for (op = MDB_NEXT; rc == 0; rc = mdb_cursor_get(c, &k, &v, op)) {
		if (k.mv_size != FEED_KEY_LEN || v.mv_size != NUSA_HASH_LEN ||
		    memcmp(k.mv_data, author, NUSA_KEY_LEN) != 0) {
			rc = MDB_NOTFOUND;
			break;
		}
		if ((rc = item_fill(t, &it, v.mv_data)) != 0 ||
		    (rc = fn(&it, ctx)) != 0) {
			from_fn = 1;
			break;
		}
	}
	mdb_cursor_close(c);
	return iter_end(rc, from_fn);
}

uint64_t
store_generation(struct store *s)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) != 0)
		return 0;
	return (uint64_t)info.me_last_txnid;
}

int
store_feed_each(struct store_txn *t, const uint8_t author[NUSA_KEY_LEN],
    uint64_t from, int (*fn)(const struct store_item *it, void *ctx),
    void *ctx)
{
	return store_feed_each_after(t, author, from, NULL, fn, ctx);
}

int
store_log_each(struct store_txn *t,
    int (*fn)(const struct store_item *it, void *ctx), void *ctx)
{
	struct store_item it;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, op = MDB_FIRST, from_fn = 0;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[DB_CLOCK], &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		if (k.mv_size != ORDER_KEY_LEN)
			continue;
		if ((rc = item_fill(t, &it, (const uint8_t *)k.mv_data + 8 +
		    NUSA_KEY_LEN)) != 0 || (rc = fn(&it, ctx)) != 0) {
			from_fn = 1;
			break;
		}
	}
	mdb_cursor_close(c);
	return iter_end(rc, from_fn);
}

size_t
store_count(struct store_txn *t)
{
	MDB_stat st;

	if (mdb_stat(t->txn, t->s->dbi[DB_ENTRIES], &st) != 0)
		return 0;
	return st.ms_entries;
}

/* Entry ids of one seq of a feed that a vouched entry of the next seq
 * names as its predecessor. A fork adds one id per branch. */
struct vouch {
	uint8_t author[NUSA_KEY_LEN];
	uint64_t seq;
	uint8_t (*prevs)[NUSA_HASH_LEN];
	size_t n, cap;
};

static int
vouch_has(const struct vouch *vs, const uint8_t *id)
{
	size_t i;

	for (i = 0; i < vs->n; i++)
		if (memcmp(vs->prevs[i], id, NUSA_HASH_LEN) == 0)
			return 1;
	return 0;
}

static int
vouch_add(struct vouch *vs, const uint8_t *prev)
{
	uint8_t (*v)[NUSA_HASH_LEN];
	size_t cap;

	if (vouch_has(vs, prev))
		return 0;
	if (vs->n == vs->cap) {
		cap = vs->cap ? vs->cap * 2 : 4;
		if ((v = realloc(vs->prevs, cap * sizeof(*v))) == NULL)
			return -ENOMEM;
		vs->prevs = v;
		vs->cap = cap;
	}
	memcpy(vs->prevs[vs->n++], prev, NUSA_HASH_LEN);
	return 0;
}

/* Walks every feed from its head down: an entry is vouched for if this
 * store holds its signature or a vouched entry names it as prev. */
static int
verify_vouched(struct store_txn *t, store_fault_fn fn, void *ctx,
    size_t *faults)
{
	struct vouch a = { 0 }, b = { 0 }, *cur = &a, *next = &b, *tmp;
	const uint8_t *body, *sig;
	MDB_cursor *c;
	MDB_val k, v;
	size_t len;
	uint64_t seq;
	int rc, op = MDB_LAST;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[DB_FEEDS], &c)) != 0)
		return store_mdb_err(rc);
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_PREV;
		if (k.mv_size != FEED_KEY_LEN || v.mv_size != NUSA_HASH_LEN) {
			fn(NULL, "malformed feed index row", ctx);
			(*faults)++;
			continue;
		}
		seq = codec_rd64((const uint8_t *)k.mv_data + NUSA_KEY_LEN);
		if (memcmp(cur->author, k.mv_data, NUSA_KEY_LEN) != 0 ||
		    seq != cur->seq) {
			/* Moving down one seq keeps what the entries above
			 * vouch for; a gap or another feed starts afresh. */
			if (memcmp(cur->author, k.mv_data, NUSA_KEY_LEN) == 0 &&
			    seq + 1 == cur->seq) {
				tmp = cur;
				cur = next;
				next = tmp;
			} else {
				cur->n = 0;
			}
			next->n = 0;
			memcpy(cur->author, k.mv_data, NUSA_KEY_LEN);
			cur->seq = seq;
		}
		if (store_entry(t, v.mv_data, &body, &len, &sig) != 0) {
			fn(v.mv_data, "in the feed index but not stored", ctx);
			(*faults)++;
			continue;
		}
		if (sig == NULL && !vouch_has(cur, v.mv_data)) {
			fn(v.mv_data, "no signature vouches for this entry",
			    ctx);
			(*faults)++;
			continue;
		}
		if (seq > 1 && len >= ENTRY_HEADER_LEN &&
		    (rc = vouch_add(next, body + 74)) != 0)
			break;
	}
	mdb_cursor_close(c);
	free(a.prevs);
	free(b.prevs);
	return rc == MDB_NOTFOUND ? 0 : store_mdb_err(rc);
}

/* Checks one stored entry on its own and against the indexes. */
static void
verify_entry(struct store_txn *t, const MDB_val *k, const MDB_val *v,
    store_fault_fn fn, void *ctx, size_t *faults)
{
	uint8_t id[NUSA_HASH_LEN], fk[FEED_KEY_LEN];
	const uint8_t *body, *sig;
	const char *what = NULL;
	struct entry e;
	MDB_cursor *c = NULL;
	MDB_val mk, mv;
	size_t len;

	if (k->mv_size != NUSA_HASH_LEN) {
		fn(NULL, "malformed entry key", ctx);
		(*faults)++;
		return;
	}
	entry_id(id, v->mv_data, v->mv_size);
	if (entry_decode(&e, v->mv_data, v->mv_size) != 0)
		what = "not a canonical entry";
	else if (memcmp(id, k->mv_data, NUSA_HASH_LEN) != 0)
		what = "content does not match its id";
	else if (memcmp(e.network, t->network, NUSA_KEY_LEN) != 0)
		what = "entry of another network";
	else if (e.seq > 1 && check_link(t, &e) != 0)
		what = "does not link to its predecessor";
	else if (store_entry(t, id, &body, &len, &sig) == 0 && sig &&
	    entry_verify(sig, id, e.author) != 0)
		what = "bad signature";
	if (what == NULL) {
		feed_key(fk, e.author, e.seq);
		mk = MV(fk, sizeof(fk));
		mv = MV(id, NUSA_HASH_LEN);
		if (mdb_cursor_open(t->txn, t->s->dbi[DB_FEEDS], &c) != 0) {
			c = NULL;
			what = "feed index unreadable";
		} else if (mdb_cursor_get(c, &mk, &mv, MDB_GET_BOTH) != 0) {
			what = "missing from the feed index";
		}
		if (c)
			mdb_cursor_close(c);
	}
	if (what) {
		fn(k->mv_data, what, ctx);
		(*faults)++;
	}
}

int
store_verify(struct store *s, store_fault_fn fn, void *ctx, size_t *entries)
{
	uint8_t before[NUSA_HASH_LEN], after[NUSA_HASH_LEN];
	struct store_txn *t;
	MDB_cursor *c;
	MDB_val k, v;
	size_t faults = 0, n = 0;
	int rc, op = MDB_FIRST;

	*entries = 0;
	if ((rc = store_begin(s, &t, STORE_WRITE)) != 0)
		return rc;
	if ((rc = mdb_cursor_open(t->txn, s->dbi[DB_ENTRIES], &c)) != 0) {
		rc = store_mdb_err(rc);
		goto out;
	}
	while ((rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
		op = MDB_NEXT;
		n++;
		verify_entry(t, &k, &v, fn, ctx, &faults);
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND) {
		rc = store_mdb_err(rc);
		goto out;
	}
	if ((rc = verify_vouched(t, fn, ctx, &faults)) != 0)
		goto out;
	/* Recompute the state from the entries inside this transaction and
	 * compare; the abort below throws the recomputation away. */
	if ((rc = state_digest(t, before)) != 0 ||
	    (rc = state_rebuild(t)) != 0 ||
	    (rc = state_digest(t, after)) != 0)
		goto out;
	if (memcmp(before, after, NUSA_HASH_LEN) != 0) {
		fn(NULL, "materialized state differs from its entries", ctx);
		faults++;
	}
	*entries = n;
	rc = faults ? -NUSA_ECORRUPT : 0;
out:
	store_abort(t);
	return rc;
}
