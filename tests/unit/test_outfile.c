/* Output files that appear whole or not at all (tools/outfile.c), and the
 * users file written through them. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "outfile.h"
#include "testutil.h"
#include "users.h"

/* Names in dir, space-separated and sorted by readdir's order: a
 * directory of one file holds exactly that name. */
static int
entries(const char *dir, char *out, size_t cap)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	out[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n++)
			strncat(out, " ", cap - strlen(out) - 1);
		strncat(out, de->d_name, cap - strlen(out) - 1);
	}
	closedir(d);
	return n;
}

static void
slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void
test_whole_or_nothing(void **state)
{
	char dir[64], path[128], names[512], buf[64];
	struct outfile o;
	struct stat st;

	(void)state;
	testutil_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/books.csv", dir);

	/* Kept: the file, and nothing else. */
	assert_int_equal(outfile_open(&o, path), 0);
	assert_int_equal(access(path, F_OK), -1);	/* not until close */
	fputs("one\n", o.f);
	assert_int_equal(outfile_close(&o, 1), 0);
	slurp(path, buf, sizeof(buf));
	assert_string_equal(buf, "one\n");
	assert_int_equal(entries(dir, names, sizeof(names)), 1);
	assert_string_equal(names, "books.csv");

	/* Dropped: the old file stays as it was, and no leftover. */
	assert_int_equal(outfile_open(&o, path), 0);
	fputs("two\n", o.f);
	assert_int_equal(outfile_close(&o, 0), 0);
	slurp(path, buf, sizeof(buf));
	assert_string_equal(buf, "one\n");
	assert_int_equal(entries(dir, names, sizeof(names)), 1);

	/* Two writers of one path at once do not share a temporary file. */
	{
		struct outfile a, b;

		assert_int_equal(outfile_open(&a, path), 0);
		assert_int_equal(outfile_open(&b, path), 0);
		assert_string_not_equal(a.tmp, b.tmp);
		fputs("a\n", a.f);
		fputs("b\n", b.f);
		assert_int_equal(outfile_close(&a, 1), 0);
		assert_int_equal(outfile_close(&b, 1), 0);
		slurp(path, buf, sizeof(buf));
		assert_string_equal(buf, "b\n");
		assert_int_equal(entries(dir, names, sizeof(names)), 1);
	}

	/* A mode of its own. */
	assert_int_equal(outfile_open_mode(&o, path, 0600), 0);
	assert_int_equal(fstat(fileno(o.f), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(outfile_close(&o, 0), 0);
	testutil_rmtree(dir);
}

/* A write that fails half way (the file size limit here, a full or
 * failing SD card in the field) is an error and replaces nothing, even
 * though stdio only reports it in ferror(). */
static void
test_write_error(void **state)
{
	static char chunk[65536];
	char dir[64], path[128], names[512], buf[64];
	struct rlimit old, lim;
	struct users u = { 0 };
	struct outfile o;
	size_t i;
	int rc, ursc, uexists;

	(void)state;
	testutil_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/out", dir);
	memset(chunk, 'x', sizeof(chunk));
	assert_int_equal(outfile_open(&o, path), 0);
	fputs("good\n", o.f);
	assert_int_equal(outfile_close(&o, 1), 0);

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 16384;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(outfile_open(&o, path), 0);
	/* One write larger than stdio's buffer goes straight to write(2):
	 * it fails, and the buffer is left empty, so that fflush() at close
	 * succeeds; only ferror() tells. */
	fputs("new\n", o.f);
	assert_true(fwrite(chunk, 1, sizeof(chunk), o.f) < sizeof(chunk));
	rc = outfile_close(&o, 1);

	/* The users file: many users, the same limit. */
	{
		char upath[128];

		snprintf(upath, sizeof(upath), "%s/users", dir);
		u.v = calloc(400, sizeof(*u.v));
		assert_non_null(u.v);
		for (i = 0; i < 400; i++) {
			snprintf(u.v[i].name, sizeof(u.v[i].name), "user%zu", i);
			u.v[i].role = USERS_CLERK;
			memset(u.v[i].hash, 'h', 90);
			u.v[i].hash[90] = '\0';
		}
		u.n = u.cap = 400;
		ursc = users_save(&u, upath);
		free(u.v);
		uexists = access(upath, F_OK) == 0;
	}
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(rc, -EIO);	/* stdio keeps no errno */
	assert_true(ursc < 0);
	assert_false(uexists);
	slurp(path, buf, sizeof(buf));
	assert_string_equal(buf, "good\n");
	assert_int_equal(entries(dir, names, sizeof(names)), 1);
	assert_string_equal(names, "out");
	testutil_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_or_nothing),
		cmocka_unit_test(test_write_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
