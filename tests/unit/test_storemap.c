/* The store's map grows as the books do, adopts a map another process
 * grew, and compacts without losing an entry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "key.h"
#include "ledger.h"
#include "state.h"
#include "store.h"
#include "store_db.h"
#include "testfeed.h"
#include "testutil.h"

#define MIB ((size_t)1 << 20)

struct fill {
	struct key *k;
	size_t from, n;		/* members M<from> .. M<from + n - 1> */
	int runs;		/* how often fn ran */
};

/* Members with long names: about a kilobyte of store each. */
static int
add_members(struct store_txn *t, void *ctx)
{
	struct fill *f = ctx;
	char id[32], name[NUSA_TEXT_MAX];
	size_t i;
	int rc;

	f->runs++;
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for (i = f->from; i < f->from + f->n; i++) {
		snprintf(id, sizeof(id), "M%zu", i);
		if ((rc = ledger_member_add(t, f->k, id, name, "Labuan")) != 0)
			return rc;
	}
	return 0;
}

/* Opens a new store dir/name with a map of initial bytes at most max,
 * as the root of a new network. */
static struct store *
small_store(const char *dir, const char *name, size_t initial, size_t max,
    struct key **root)
{
	char path[256];
	struct store *s;
	struct store_txn *t;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(store_open_map(&s, path, STORE_CREATE, initial, max),
	    0);
	*root = key_generate();
	assert_non_null(*root);
	assert_int_equal(store_begin(s, &t, STORE_WRITE), 0);
	assert_int_equal(store_create_network(t, *root, "Koperasi Uji"), 0);
	assert_int_equal(store_commit(t), 0);
	return s;
}

static struct store_space
space(struct store *s)
{
	struct store_space sp;

	assert_int_equal(store_space(s, &sp), 0);
	return sp;
}

/* Many ordinary transactions through the normal write API take the
 * store far past its first map. */
static void
test_grows_past_initial(void **state)
{
	char dir[64];
	struct store *s;
	struct key *k;
	struct fill f = { 0 };
	struct store_txn *t;
	size_t i;

	(void)state;
	testutil_tmpdir(dir);
	s = small_store(dir, "a", MIB, 0, &k);
	f.k = k;
	f.n = 100;
	for (i = 0; i < 40; i++) {
		f.from = i * f.n;
		assert_int_equal(store_begin(s, &t, STORE_WRITE), 0);
		assert_int_equal(add_members(t, &f), 0);
		assert_int_equal(store_commit(t), 0);
	}
	assert_true(space(s).used > 3 * MIB);
	assert_true(space(s).map >= 2 * space(s).used);
	assert_int_equal(tf_count(s), 1 + 4000);
	tf_verify_clean(s);
	store_close(s);
	/* Reopened with the default first size, it keeps what it grew to. */
	s = testutil_reopen(dir, "a");
	assert_int_equal(tf_count(s), 1 + 4000);
	store_close(s);
	key_free(&k);
	testutil_rmtree(dir);
}

struct reader {
	struct store *s;
	volatile int stop;
	size_t reads, errors, last;
};

static void *
read_loop(void *arg)
{
	struct reader *r = arg;
	struct store_txn *t;

	while (!r->stop) {
		if (store_begin(r->s, &t, STORE_READ) != 0) {
			r->errors++;
			continue;
		}
		r->last = store_count(t);
		store_abort(t);
		r->reads++;
		usleep(100);	/* a web request now and then */
	}
	return NULL;
}

/* nusad's web server reads and writes the store from its own thread
 * while the sync loop writes: the map grows under neither's open
 * transaction (LMDB remaps the file), and both see every commit. */
static void
test_threads_share_a_store(void **state)
{
	char dir[64];
	struct reader r = { 0 };
	struct fill f = { 0 };
	pthread_t th;
	struct key *k;
	size_t i;
	int rc = 0;

	(void)state;
	testutil_need_native();
	testutil_tmpdir(dir);
	r.s = small_store(dir, "a", MIB, 0, &k);
	f.k = k;
	f.n = 100;
	assert_int_equal(pthread_create(&th, NULL, read_loop, &r), 0);
	for (i = 0; i < 30 && rc == 0; i++) {
		f.from = i * f.n;
		rc = store_write(r.s, add_members, &f);
	}
	r.stop = 1;
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(r.errors, 0);
	assert_true(r.reads > 0);
	assert_true(space(r.s).map > MIB);
	assert_int_equal(tf_count(r.s), 1 + 3000);
	tf_verify_clean(r.s);
	store_close(r.s);
	key_free(&k);
	testutil_rmtree(dir);
}

/* One transaction larger than all the room there is: MDB_MAP_FULL, and
 * store_write() grows the map and runs it again. */
static void
test_full_retries(void **state)
{
	char dir[64];
	struct store *s;
	struct key *k;
	struct fill f = { 0 };

	(void)state;
	testutil_tmpdir(dir);
	s = small_store(dir, "a", MIB, 0, &k);
	f.k = k;
	f.n = 3000;		/* about 3 MiB in one go */
	assert_int_equal(store_write(s, add_members, &f), 0);
	assert_true(f.runs >= 2);
	assert_int_equal(tf_count(s), 1 + 3000);
	tf_verify_clean(s);
	store_close(s);
	key_free(&k);
	testutil_rmtree(dir);
}

/* At the maximum the write fails cleanly and the store stays whole. */
static void
test_full_at_max(void **state)
{
	char dir[64];
	struct store *s;
	struct key *k;
	struct fill f = { 0 };

	(void)state;
	testutil_tmpdir(dir);
	s = small_store(dir, "a", MIB, 2 * MIB, &k);
	f.k = k;
	f.n = 100;
	assert_int_equal(store_write(s, add_members, &f), 0);
	f.from = 100;
	f.n = 3000;
	f.runs = 0;
	assert_int_equal(store_write(s, add_members, &f), -ENOSPC);
	assert_int_equal(space(s).map, 2 * MIB);
	assert_int_equal(tf_count(s), 1 + 100);
	tf_verify_clean(s);
	store_close(s);
	key_free(&k);
	testutil_rmtree(dir);
}

/* nusad holds the store open while nusactl grows it: nusad's next
 * transaction meets MDB_MAP_RESIZED and adopts the larger map. The
 * other process is a child with its own environment (LMDB forbids
 * opening one store twice in a process). */
static void
test_resized_by_another_process(void **state)
{
	char dir[64], path[256];
	struct store *s, *c;
	struct key *k;
	struct fill f = { 0 };
	struct store_txn *t;
	size_t map0;
	pid_t pid;
	int status;

	(void)state;
	testutil_need_native();
	testutil_tmpdir(dir);
	s = small_store(dir, "a", MIB, 0, &k);
	map0 = space(s).map;
	snprintf(path, sizeof(path), "%s/a", dir);
	f.k = k;
	f.n = 100;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t i;

		if (store_open_map(&c, path, 0, MIB, 0) != 0)
			_exit(2);
		for (i = 0; i < 40; i++) {
			f.from = i * f.n;
			if (store_write(c, add_members, &f) != 0)
				_exit(3);
		}
		store_close(c);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Our map is still the small one; the data is past it now. */
	assert_int_equal(space(s).map, map0);
	assert_int_equal(store_begin(s, &t, STORE_READ), 0);
	assert_int_equal(store_count(t), 1 + 4000);
	store_abort(t);
	assert_true(space(s).map > map0);
	f.from = 4000;
	f.n = 10;
	assert_int_equal(store_write(s, add_members, &f), 0);
	assert_int_equal(tf_count(s), 1 + 4010);
	tf_verify_clean(s);
	store_close(s);
	key_free(&k);
	testutil_rmtree(dir);
}

/* Pages freed while a reader held an old snapshot stay in the file;
 * compaction drops them and keeps every entry and the state. */
static void
test_compact(void **state)
{
	char dir[64], path[256], leftover[300];
	uint8_t d0[NUSA_HASH_LEN], d1[NUSA_HASH_LEN];
	uint64_t before, after;
	struct store *s;
	struct key *k;
	struct fill f = { 0 };
	struct store_txn *reader, *t;
	size_t i, n;

	(void)state;
	/* LMDB's compacting copy starts a thread. */
	testutil_need_native();
	testutil_tmpdir(dir);
	s = small_store(dir, "a", 0, 0, &k);
	f.k = k;
	f.n = 10;
	assert_int_equal(store_begin(s, &reader, STORE_READ), 0);
	for (i = 0; i < 150; i++) {
		const char *names[] = { "phone" }, *values[] = { "0812" };

		f.from = i * f.n;
		assert_int_equal(store_write(s, add_members, &f), 0);
		assert_int_equal(store_begin(s, &t, STORE_WRITE), 0);
		assert_int_equal(ledger_record_set(t, k, COLL_MEMBER, "M0", 1,
		    names, values), 0);
		assert_int_equal(store_commit(t), 0);
	}
	store_abort(reader);
	n = tf_count(s);
	tf_digest(s, d0);
	store_close(s);

	/* A leftover of a compaction cut short is cleared first. */
	snprintf(path, sizeof(path), "%s/a", dir);
	snprintf(leftover, sizeof(leftover), "%s.compact", path);
	assert_int_equal(mkdir(leftover, 0700), 0);
	assert_int_equal(store_compact(path, &before, &after), 0);
	assert_true(after < before);
	assert_int_equal(access(leftover, F_OK), -1);
	assert_int_equal(access(path, F_OK), 0);

	/* Never under a process that has the store open. */
	{
		int go[2], ready[2], status;
		char b = 0;
		pid_t pid;

		assert_int_equal(pipe(go), 0);
		assert_int_equal(pipe(ready), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct store *c;

			if (store_open(&c, path, 0) != 0)
				_exit(2);
			if (write(ready[1], &b, 1) != 1 ||
			    read(go[0], &b, 1) != 1)
				_exit(3);
			store_close(c);
			_exit(0);
		}
		assert_int_equal(read(ready[0], &b, 1), 1);
		assert_int_equal(store_compact(path, &before, &after), -EBUSY);
		assert_int_equal(write(go[1], &b, 1), 1);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(go[0]);
		close(go[1]);
		close(ready[0]);
		close(ready[1]);
	}

	s = testutil_reopen(dir, "a");
	assert_int_equal(tf_count(s), n);
	tf_digest(s, d1);
	assert_memory_equal(d0, d1, NUSA_HASH_LEN);
	tf_verify_clean(s);
	/* And it takes new entries as before. */
	f.from = 5000;
	f.n = 5;
	assert_int_equal(store_write(s, add_members, &f), 0);
	assert_int_equal(tf_count(s), n + 5);
	store_close(s);
	s = testutil_reopen(dir, "a");
	assert_int_equal(tf_count(s), n + 5);
	tf_verify_clean(s);
	store_close(s);
	key_free(&k);
	testutil_rmtree(dir);
}

/* In store_compact_hook(): the copy is whole, the store not yet
 * replaced. Tells the child which file it must find, then gives it time
 * to reach store_open() and block there. */
static void
copied(const char *tmp, void *ctx)
{
	int *fd = ctx;
	char p[300];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/data.mdb", tmp);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(write(*fd, &sb.st_ino, sizeof(sb.st_ino)),
	    sizeof(sb.st_ino));
	usleep(300 * 1000);
}

/* Compaction refuses a store open in this very process (flock belongs to
 * the open file, not the process); one opened during compaction waits,
 * then gets the compacted file and writes to it. */
static void
test_compact_waiter(void **state)
{
	char dir[64], path[256], file[300];
	uint64_t before, after;
	struct store *s;
	struct key *k;
	struct fill f = { 0 };
	int p[2], status;
	pid_t pid;
	size_t n;

	(void)state;
	testutil_need_native();
	testutil_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/a", dir);
	snprintf(file, sizeof(file), "%s/data.mdb", path);
	s = small_store(dir, "a", 0, 0, &k);
	f.k = k;
	f.n = 20;
	assert_int_equal(store_write(s, add_members, &f), 0);
	n = tf_count(s);
	assert_int_equal(store_compact(path, &before, &after), -EBUSY);
	store_close(s);

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *c;
		struct stat sb;
		struct timespec t0, t1;
		ino_t ino;

		close(p[1]);
		if (read(p[0], &ino, sizeof(ino)) != sizeof(ino))
			_exit(2);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (store_open(&c, path, 0) != 0)
			_exit(3);
		/* It waited for the compaction (the hook's 300 ms). */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000 < 200)
			_exit(7);
		if (stat(file, &sb) != 0 || sb.st_ino != ino)
			_exit(4);
		f.from = 1000;
		f.n = 3;
		if (store_write(c, add_members, &f) != 0)
			_exit(5);
		if (tf_count(c) != n + 3)
			_exit(6);
		store_close(c);
		_exit(0);
	}
	close(p[0]);
	assert_int_equal(store_compact_hook(path, &before, &after, copied,
	    &p[1]), 0);
	close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	s = testutil_reopen(dir, "a");
	assert_int_equal(tf_count(s), n + 3);
	tf_verify_clean(s);
	/* And this process writes to it too. */
	f.from = 2000;
	f.n = 3;
	assert_int_equal(store_write(s, add_members, &f), 0);
	assert_int_equal(tf_count(s), n + 6);
	store_close(s);
	key_free(&k);
	testutil_rmtree(dir);
}

/* A power cut after compaction's link or copy leaves a second copy of
 * the books on disk: the next open removes it, and only that. */
static void
test_open_removes_leftovers(void **state)
{
	char dir[64], path[256], file[300], old[300], tmp[300], copy[320];
	uint8_t d0[NUSA_HASH_LEN], d1[NUSA_HASH_LEN];
	struct store *s;
	struct key *k;
	int fd;

	(void)state;
	testutil_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/a", dir);
	snprintf(file, sizeof(file), "%s/data.mdb", path);
	snprintf(old, sizeof(old), "%s/data.mdb.old", path);
	snprintf(tmp, sizeof(tmp), "%s.compact", path);
	snprintf(copy, sizeof(copy), "%s/data.mdb", tmp);
	s = small_store(dir, "a", 0, 0, &k);
	tf_digest(s, d0);
	store_close(s);
	assert_int_equal(link(file, old), 0);
	assert_int_equal(mkdir(tmp, 0700), 0);
	fd = open(copy, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);

	s = testutil_reopen(dir, "a");
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(access(file, F_OK), 0);
	tf_digest(s, d1);
	assert_memory_equal(d0, d1, NUSA_HASH_LEN);
	tf_verify_clean(s);
	store_close(s);
	key_free(&k);
	testutil_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grows_past_initial),
		cmocka_unit_test(test_threads_share_a_store),
		cmocka_unit_test(test_full_retries),
		cmocka_unit_test(test_full_at_max),
		cmocka_unit_test(test_resized_by_another_process),
		cmocka_unit_test(test_compact),
		cmocka_unit_test(test_compact_waiter),
		cmocka_unit_test(test_open_removes_leftovers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
