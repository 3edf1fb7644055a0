#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "entry.h"
#include "key.h"
#include "nusa.h"
#include "testutil.h"

#define MAGIC	 "nusa-device-key-v1\n"
#define MAGIC_LEN (sizeof(MAGIC) - 1)
#define FILE_LEN (MAGIC_LEN + crypto_sign_SECRETKEYBYTES)

/* What *out holds before key_load(): it must be NULL after a failure. */
static struct key sentinel;

struct fixture {
	char dir[64];
	char path[128];
	struct key *k;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	testutil_tmpdir(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/device.key", f->dir);
	f->k = key_generate();
	if (f->k == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	key_free(&f->k);
	testutil_rmtree(f->dir);
	free(f);
	return 0;
}

static size_t
read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE *fp = fopen(path, "rb");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, cap, fp);
	fclose(fp);
	return n;
}

static void
write_file(const char *path, const uint8_t *buf, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void
test_save_mode_and_layout(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[FILE_LEN + 16];
	struct stat st;
	mode_t old;
	int rc;

	/* With no umask at all the file must still be private. */
	old = umask(0);
	rc = key_save(f->k, f->path);
	umask(old);
	assert_int_equal(rc, 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, FILE_LEN);
	assert_int_equal(read_file(f->path, buf, sizeof(buf)), FILE_LEN);
	assert_memory_equal(buf, MAGIC, MAGIC_LEN);
	/* libsodium's secret key ends with the public key. */
	assert_memory_equal(buf + FILE_LEN - NUSA_KEY_LEN, f->k->pk,
	    NUSA_KEY_LEN);
}

static void
test_save_refuses_overwrite(void **state)
{
	struct fixture *f = *state;
	uint8_t before[FILE_LEN], after[FILE_LEN];
	struct key *other = key_generate();

	assert_non_null(other);
	assert_int_equal(key_save(f->k, f->path), 0);
	assert_int_equal(read_file(f->path, before, sizeof(before)),
	    FILE_LEN);
	assert_int_equal(key_save(other, f->path), -EEXIST);
	assert_int_equal(key_save(f->k, f->path), -EEXIST);
	assert_int_equal(read_file(f->path, after, sizeof(after)), FILE_LEN);
	assert_memory_equal(before, after, FILE_LEN);
	key_free(&other);
}

static void
test_save_errors(void **state)
{
	struct fixture *f = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/no/such/dir/key", f->dir);
	assert_int_equal(key_save(f->k, path), -ENOENT);
	/* A dangling symlink is not followed to create a file elsewhere. */
	snprintf(path, sizeof(path), "%s/link", f->dir);
	assert_int_equal(symlink(f->path, path), 0);
	assert_int_equal(key_save(f->k, path), -EEXIST);
	assert_int_equal(access(f->path, F_OK), -1);
}

static void
test_load_roundtrip(void **state)
{
	struct fixture *f = *state;
	uint8_t id[NUSA_HASH_LEN], sig[NUSA_SIG_LEN];
	struct key *k = NULL;

	assert_int_equal(key_save(f->k, f->path), 0);
	assert_int_equal(key_load(&k, f->path), 0);
	assert_non_null(k);
	assert_memory_equal(k->pk, f->k->pk, NUSA_KEY_LEN);
	assert_memory_equal(k->sk, f->k->sk, crypto_sign_SECRETKEYBYTES);

	/* The loaded key signs what the original key verifies. */
	randombytes_buf(id, sizeof(id));
	entry_sign(sig, id, k->sk);
	assert_int_equal(entry_verify(sig, id, f->k->pk), 0);
	entry_sign(sig, id, f->k->sk);
	assert_int_equal(entry_verify(sig, id, k->pk), 0);
	key_free(&k);
	assert_null(k);
}

static void
expect_malformed(const char *path, const uint8_t *buf, size_t n)
{
	struct key *k = &sentinel;

	assert_int_equal(unlink(path) == 0 || errno == ENOENT, 1);
	write_file(path, buf, n);
	assert_int_equal(key_load(&k, path), -NUSA_EMALFORMED);
	assert_null(k);
}

static void
test_load_rejects(void **state)
{
	struct fixture *f = *state;
	uint8_t good[FILE_LEN], buf[FILE_LEN + 1];
	struct key *other = key_generate();
	struct key *k = NULL;
	size_t n;

	assert_non_null(other);
	assert_int_equal(key_save(f->k, f->path), 0);
	assert_int_equal(read_file(f->path, good, sizeof(good)), FILE_LEN);

	/* Positive control: rewriting the same bytes by hand loads. */
	memcpy(buf, good, FILE_LEN);
	assert_int_equal(unlink(f->path), 0);
	write_file(f->path, buf, FILE_LEN);
	assert_int_equal(key_load(&k, f->path), 0);
	key_free(&k);

	/* Truncated at every length, and one byte too long. */
	for (n = 0; n < FILE_LEN; n++)
		expect_malformed(f->path, good, n);
	memcpy(buf, good, FILE_LEN);
	buf[FILE_LEN] = '\n';
	expect_malformed(f->path, buf, FILE_LEN + 1);

	/* Wrong magic. */
	memcpy(buf, good, FILE_LEN);
	buf[0] = 'N';
	expect_malformed(f->path, buf, FILE_LEN);
	memcpy(buf, good, FILE_LEN);
	buf[MAGIC_LEN - 3] = '2';
	expect_malformed(f->path, buf, FILE_LEN);
	memcpy(buf, good, FILE_LEN);
	buf[MAGIC_LEN - 1] = '\r';
	expect_malformed(f->path, buf, FILE_LEN);

	/* The embedded public key is another key's. */
	memcpy(buf, good, FILE_LEN);
	memcpy(buf + FILE_LEN - NUSA_KEY_LEN, other->pk, NUSA_KEY_LEN);
	expect_malformed(f->path, buf, FILE_LEN);
	/* One bit of the public key or of the seed is damaged. */
	memcpy(buf, good, FILE_LEN);
	buf[FILE_LEN - 1] ^= 1;
	expect_malformed(f->path, buf, FILE_LEN);
	memcpy(buf, good, FILE_LEN);
	buf[MAGIC_LEN] ^= 0x80;
	expect_malformed(f->path, buf, FILE_LEN);

	key_free(&other);
}

static void
test_load_errors(void **state)
{
	struct fixture *f = *state;
	struct key *k = &sentinel;
	char path[160];

	snprintf(path, sizeof(path), "%s/missing.key", f->dir);
	assert_int_equal(key_load(&k, path), -ENOENT);
	assert_null(k);
	k = &sentinel;
	assert_int_not_equal(key_load(&k, f->dir), 0);
	assert_null(k);
}

static void
test_key_free(void **state)
{
	struct key *k = key_generate();
	struct key *nk = NULL;

	(void)state;
	key_free(NULL);
	key_free(&nk);
	assert_null(nk);
	assert_non_null(k);
	key_free(&k);
	assert_null(k);
	key_free(&k);
	assert_null(k);
}

static void
test_generate_distinct(void **state)
{
	struct key *a = key_generate(), *b = key_generate();
	uint8_t pk[NUSA_KEY_LEN];

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_memory_not_equal(a->pk, b->pk, NUSA_KEY_LEN);
	assert_int_equal(crypto_sign_ed25519_sk_to_pk(pk, a->sk), 0);
	assert_memory_equal(pk, a->pk, NUSA_KEY_LEN);
	key_free(&a);
	key_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_save_mode_and_layout,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_refuses_overwrite,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_rejects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup,
		    teardown),
		cmocka_unit_test(test_key_free),
		cmocka_unit_test(test_generate_distinct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
