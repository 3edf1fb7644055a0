#include "testutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include <cmocka.h>

#include "key.h"
#include "store.h"

char *
testutil_tmpdir(char *buf)
{
	const char *base = getenv("TMPDIR");

	snprintf(buf, 64, "%s/nusa-test-XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(buf));
	return buf;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
testutil_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

struct store *
testutil_store(const char *dir, const char *name, struct key **root)
{
	char path[256];
	struct store *s;
	struct store_txn *t;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(store_open(&s, path, STORE_CREATE), 0);
	if (root) {
		*root = key_generate();
		assert_non_null(*root);
		assert_int_equal(store_begin(s, &t, STORE_WRITE), 0);
		assert_int_equal(store_create_network(t, *root,
		    "Koperasi Uji"), 0);
		assert_int_equal(store_commit(t), 0);
	}
	return s;
}

struct store *
testutil_reopen(const char *dir, const char *name)
{
	char path[256];
	struct store *s;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(store_open(&s, path, 0), 0);
	return s;
}

void
testutil_copy(const char *dir, const char *from, const char *to)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "cp -r '%s/%s' '%s/%s'", dir, from, dir,
	    to);
	assert_int_equal(system(cmd), 0);
}

void
testutil_need_native(void)
{
	if (getenv("NUSA_TEST_EMULATED") != NULL) {
		fprintf(stderr, "skipped: not run under emulation "
		    "(NUSA_TEST_EMULATED)\n");
		skip();
	}
}
