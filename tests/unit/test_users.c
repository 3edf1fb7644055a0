/* Web users: names, roles, PIN hashes and the users file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "nusa.h"
#include "testutil.h"
#include "users.h"

static void
test_names_roles(void **state)
{
	(void)state;
	assert_true(users_name_ok("siti"));
	assert_true(users_name_ok("Siti.A_1-x"));
	assert_true(users_name_ok("abcdefghijklmnopqrstuvwxyz012345"));
	assert_false(users_name_ok("abcdefghijklmnopqrstuvwxyz0123456"));
	assert_false(users_name_ok(""));
	assert_false(users_name_ok("siti aminah"));
	assert_false(users_name_ok("a/b"));
	assert_false(users_name_ok("\xc3\xa9"));
	assert_int_equal(users_role_parse("clerk"), USERS_CLERK);
	assert_int_equal(users_role_parse("treasurer"), USERS_TREASURER);
	assert_int_equal(users_role_parse("admin"), USERS_ADMIN);
	assert_int_equal(users_role_parse("root"), 0);
	assert_int_equal(users_role_parse("Admin"), 0);
	assert_string_equal(users_role_name(USERS_TREASURER), "treasurer");
	assert_string_equal(users_role_name(9), "?");
}

static void
test_hash_verify(void **state)
{
	struct users *u = users_new();
	const struct users_entry *e;

	(void)state;
	assert_non_null(u);
	assert_int_equal(users_add(u, "siti", USERS_CLERK, "1234"), 0);
	assert_int_equal(users_add(u, "siti", USERS_ADMIN, "5678"),
	    -NUSA_EEXIST);
	assert_int_equal(users_add(u, "budi", USERS_CLERK, "123"),
	    -NUSA_ERANGE);
	assert_int_equal(users_add(u, "b d", USERS_CLERK, "1234"),
	    -NUSA_EMALFORMED);
	assert_int_equal(users_add(u, "budi", 7, "1234"), -NUSA_EMALFORMED);
	assert_int_equal(u->n, 1);
	e = users_find(u, "siti");
	assert_non_null(e);
	assert_int_equal(e->role, USERS_CLERK);
	/* Stored hashed, never in the clear. */
	assert_null(strstr(e->hash, "1234"));
	assert_int_equal(strncmp(e->hash, "$argon2id$", 10), 0);
	assert_int_equal(users_verify(e, "1234"), 0);
	assert_int_equal(users_verify(e, "1235"), -EACCES);
	assert_int_equal(users_verify(e, ""), -EACCES);
	assert_null(users_find(u, "Siti"));
	assert_int_equal(users_remove(u, "nobody"), -NUSA_ENOTFOUND);
	assert_int_equal(users_remove(u, "siti"), 0);
	assert_int_equal(u->n, 0);
	users_free(&u);
	assert_null(u);
	users_free(&u);
}

static void
test_file_roundtrip(void **state)
{
	char dir[64], path[128];
	struct users *u = users_new(), *v = NULL;
	struct stat st;

	(void)state;
	testutil_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/users", dir);
	/* No file yet: no users. */
	assert_int_equal(users_load(&v, path), 0);
	assert_int_equal(v->n, 0);
	users_free(&v);
	assert_int_equal(users_add(u, "siti", USERS_CLERK, "1234"), 0);
	assert_int_equal(users_add(u, "budi", USERS_ADMIN, "rahasia!"), 0);
	assert_int_equal(users_save(u, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(users_load(&v, path), 0);
	assert_int_equal(v->n, 2);
	assert_string_equal(v->v[1].name, "budi");
	assert_int_equal(v->v[1].role, USERS_ADMIN);
	assert_string_equal(v->v[0].hash, u->v[0].hash);
	assert_int_equal(users_verify(users_find(v, "budi"), "rahasia!"), 0);
	assert_int_equal(users_verify(users_find(v, "budi"), "1234"),
	    -EACCES);
	users_free(&v);
	users_free(&u);
	testutil_rmtree(dir);
}

static void
test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"siti clerk\n",
		"siti clerk nohash\n",
		"siti boss $argon2id$v=19$m=65536,t=2,p=1$abc$def\n",
		"si ti clerk $argon2id$v=19$m=65536,t=2,p=1$abc$def\n",
		"siti clerk $argon2id$v=19$m=65536,t=2,p=1$abc$def extra\n",
		"siti clerk $argon2id$v=19$m=65536,t=2,p=1$abc$def\n"
		"siti admin $argon2id$v=19$m=65536,t=2,p=1$abc$def\n",
		" siti clerk $argon2id$v=19$m=65536,t=2,p=1$abc$def\n",
		"abcdefghijklmnopqrstuvwxyz0123456 clerk $argon2id$x\n",
	};
	struct users *u = NULL;
	size_t i, line;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		line = 0;
		if (users_parse(&u, bad[i], strlen(bad[i]), &line) !=
		    -NUSA_EMALFORMED)
			fail_msg("case %zu accepted", i);
		assert_null(u);
		assert_int_equal(line, i == 5 ? 2 : 1);
	}
	assert_int_equal(users_parse(&u, "# c\n\nsiti treasurer "
	    "$argon2id$v=19$m=65536,t=2,p=1$abc$def", 50, &line), 0);
	assert_int_equal(u->n, 1);
	assert_int_equal(u->v[0].role, USERS_TREASURER);
	users_free(&u);
}

/* One writer: ROUNDS times lock, load, add "wN_K", wait a little,
 * save, unlock. Exits 0 if every step went well. */
#define WRITERS 3
#define ROUNDS	8
static int
writer(const char *path, int n, const char *hash)
{
	struct users *u = NULL, *one = NULL;
	struct users_entry *v;
	char line[256];
	int k, lk;

	for (k = 0; k < ROUNDS; k++) {
		snprintf(line, sizeof(line), "w%d_%d clerk %s\n", n, k, hash);
		if (users_parse(&one, line, strlen(line), NULL) != 0 ||
		    (lk = users_lock(path)) < 0 ||
		    users_load(&u, path) != 0)
			return 1;
		if ((v = realloc(u->v, (u->n + 1) * sizeof(*v))) == NULL)
			return 1;
		u->v = v;
		u->v[u->n++] = one->v[0];
		u->cap = u->n;
		usleep(2000);	/* a wide window for a lost change */
		if (users_save(u, path) != 0)
			return 1;
		users_unlock(lk);
		users_free(&u);
		users_free(&one);
	}
	return 0;
}

/* Writers at once, each under the lock: every change lands. */
static void
test_concurrent_writers(void **state)
{
	char dir[64], path[128], name[32];
	struct users *u = users_new(), *v = NULL;
	pid_t pid[WRITERS];
	int i, k, st;

	(void)state;
	/* Dozens of Argon2 hashes in three processes: minutes in qemu. */
	testutil_need_native();
	testutil_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/users", dir);
	assert_int_equal(users_add(u, "siti", USERS_CLERK, "1234"), 0);
	for (i = 0; i < WRITERS; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0)
			_exit(writer(path, i, u->v[0].hash));
	}
	for (i = 0; i < WRITERS; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(users_load(&v, path), 0);
	assert_int_equal(v->n, WRITERS * ROUNDS);
	for (i = 0; i < WRITERS; i++)
		for (k = 0; k < ROUNDS; k++) {
			snprintf(name, sizeof(name), "w%d_%d", i, k);
			assert_non_null(users_find(v, name));
		}
	users_free(&v);
	users_free(&u);
	testutil_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_roles),
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_file_roundtrip),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_concurrent_writers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
