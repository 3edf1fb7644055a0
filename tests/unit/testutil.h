/* Helpers shared by the unit tests: temporary directories and a fresh
 * network with its root key. */
#ifndef NUSA_TESTUTIL_H
#define NUSA_TESTUTIL_H

#include <stdint.h>

struct store;
struct key;

/* Creates a fresh temporary directory; returns its path (static storage
 * of the caller: buf of at least 64 bytes). Fails the test on error. */
char *testutil_tmpdir(char *buf);

/* Removes a directory tree made by testutil_tmpdir(). */
void testutil_rmtree(const char *path);

/* Opens a new store in dir/name and, if root is non-NULL, creates a
 * network "Koperasi Uji" rooted at *root (generated here). */
struct store *testutil_store(const char *dir, const char *name,
    struct key **root);

/* Reopens the store in dir/name. Fails the test on error. */
struct store *testutil_reopen(const char *dir, const char *name);

/* Copies the box directory dir/from to dir/to, as restoring an SD-card
 * backup would. Fails the test on error. */
void testutil_copy(const char *dir, const char *from, const char *to);

/* Skips the current test where it cannot run: make test-cross sets
 * NUSA_TEST_EMULATED under qemu-user, where on this machine a dynamically
 * linked arm64 program hangs in its first pthread_create, processes
 * sharing an LMDB store hang too (seen here; LMDB's process-shared
 * mutexes are the likely cause), and Argon2 in several processes takes
 * minutes. Those are tested natively. */
void testutil_need_native(void);

#endif
