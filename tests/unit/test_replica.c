/* Replica binding and the rekey state (crdt/replica.c): a copy is told
 * from a move, a copied box switches keys once and waits for enrolment,
 * a crash in the middle of a rekey is finished, damaged files are clear
 * errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "key.h"
#include "ledger.h"
#include "payload.h"
#include "replica.h"
#include "store.h"
#include "testutil.h"

struct fx {
	char dir[64];
	char box[128];
	struct store *s;
	struct key *root;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[200];
	struct key *k;

	assert_non_null(f);
	setenv("NUSA_TEST_MACHINE_ID", "machine-one", 1);
	testutil_tmpdir(f->dir);
	snprintf(f->box, sizeof(f->box), "%s/box", f->dir);
	assert_int_equal(mkdir(f->box, 0700), 0);
	/* The box is the network's root: its key is the root key. */
	f->s = testutil_store(f->box, "store", &f->root);
	k = f->root;
	snprintf(path, sizeof(path), "%s/device.key", f->box);
	assert_int_equal(key_save(k, path), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->s)
		store_close(f->s);
	key_free(&f->root);
	testutil_rmtree(f->dir);
	free(f);
	unsetenv("NUSA_TEST_MACHINE_ID");
	return 0;
}

static void
device_pk(const char *box, uint8_t pk[NUSA_KEY_LEN])
{
	char path[200];
	struct key *k;

	snprintf(path, sizeof(path), "%s/device.key", box);
	assert_int_equal(key_load(&k, path), 0);
	memcpy(pk, k->pk, NUSA_KEY_LEN);
	key_free(&k);
}

static void
test_compare(void **state)
{
	struct replica a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.has_machine = 1;
	memset(a.machine, 1, sizeof(a.machine));
	a.dev = 10;
	a.ino = 99;
	b = a;
	assert_int_equal(replica_compare(&a, &b), REPLICA_SAME);
	b.dev = 11;		/* disks renumbered, same filesystem */
	assert_int_equal(replica_compare(&a, &b), REPLICA_SAME);
	b = a;
	b.ino = 100;		/* cp -a on the same machine */
	assert_int_equal(replica_compare(&a, &b), REPLICA_COPY);
	b = a;
	b.machine[0] = 2;	/* a card in another box */
	assert_int_equal(replica_compare(&a, &b), REPLICA_COPY);
	b.has_machine = 0;	/* unknown on one side: not compared */
	assert_int_equal(replica_compare(&a, &b), REPLICA_SAME);
	b = a;
	a.has_serial = b.has_serial = 1;
	memset(a.serial, 3, sizeof(a.serial));
	memset(b.serial, 4, sizeof(b.serial));
	assert_int_equal(replica_compare(&a, &b), REPLICA_COPY);
}

static void
test_here_follows_env(void **state)
{
	struct fx *f = *state;
	struct replica a, b;

	assert_int_equal(replica_here(&a, f->box), 0);
	setenv("NUSA_TEST_MACHINE_ID", "machine-two", 1);
	assert_int_equal(replica_here(&b, f->box), 0);
	assert_int_equal(a.has_machine, 1);
	assert_int_equal(a.has_serial, 0);
	assert_int_equal(a.has_nic, 0);
	assert_int_equal(replica_compare(&a, &b), REPLICA_COPY);
	assert_int_equal(replica_here(&b, "/nonexistent/nusa"), -2);
}

/* Lays out root/net/NAME like /sys/class/net: address, addr_assign_type,
 * and a device link to root/devices/BUS/NAME (bus NULL: no device). */
static void
fake_nic(const char *root, const char *name, const char *bus,
    const char *addr, int type)
{
	char p[512], q[512];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/net", root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/net/%s", root, name);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/net/%s/address", root, name);
	assert_non_null(fp = fopen(p, "w"));
	fprintf(fp, "%s\n", addr);
	fclose(fp);
	snprintf(p, sizeof(p), "%s/net/%s/addr_assign_type", root, name);
	assert_non_null(fp = fopen(p, "w"));
	fprintf(fp, "%d\n", type);
	fclose(fp);
	if (bus == NULL)
		return;
	snprintf(q, sizeof(q), "%s/devices", root);
	mkdir(q, 0700);
	snprintf(q, sizeof(q), "%s/devices/%s", root, bus);
	mkdir(q, 0700);
	snprintf(q, sizeof(q), "%s/devices/%s/%s", root, bus, name);
	assert_int_equal(mkdir(q, 0700), 0);
	snprintf(p, sizeof(p), "%s/net/%s/device", root, name);
	assert_int_equal(symlink(q, p), 0);
}

static void
nic_of(uint8_t out[NUSA_HASH_LEN], const char *addr)
{
	crypto_generichash(out, NUSA_HASH_LEN, (const uint8_t *)addr,
	    strlen(addr), NULL, 0);
}

/* The card's own MAC tells a copied card in another box of the same
 * kind (same machine-id, same inode after a block copy): built-in
 * interfaces first, permanent addresses only, none without a device. */
static void
test_nic(void **state)
{
	char root[64], net[128], p[256];
	uint8_t got[NUSA_HASH_LEN], want[NUSA_HASH_LEN];
	struct replica a, b;

	(void)state;
	testutil_tmpdir(root);
	snprintf(net, sizeof(net), "%s/net", root);
	assert_int_equal(replica_nic(net, got), 0);	/* no directory */
	fake_nic(root, "lo", NULL, "00:00:00:00:00:00", 0);
	fake_nic(root, "br0", NULL, "02:00:00:00:00:01", 0);
	assert_int_equal(replica_nic(net, got), 0);	/* nothing physical */
	fake_nic(root, "wlan1", "usb1", "00:0F:00:00:00:09", 0);
	assert_int_equal(replica_nic(net, got), 1);	/* a dongle alone */
	nic_of(want, "00:0f:00:00:00:09");
	assert_memory_equal(got, want, NUSA_HASH_LEN);
	fake_nic(root, "eth0", "platform", "B8:27:EB:00:00:22", 0);
	fake_nic(root, "wlan0", "mmc", "b8:27:eb:00:00:33", 0);
	fake_nic(root, "eth1", "platform", "00:00:00:00:00:07", 3);
	assert_int_equal(replica_nic(net, got), 1);
	nic_of(want, "b8:27:eb:00:00:22");	/* lowest built-in, permanent */
	assert_memory_equal(got, want, NUSA_HASH_LEN);
	/* The dongle unplugged: the same. */
	snprintf(p, sizeof(p), "%s/net/wlan1", root);
	testutil_rmtree(p);
	assert_int_equal(replica_nic(net, got), 1);
	assert_memory_equal(got, want, NUSA_HASH_LEN);

	/* Compared only when both sides read one. */
	memset(&a, 0, sizeof(a));
	a.has_machine = 1;
	a.has_nic = 1;
	memcpy(a.nic, want, NUSA_HASH_LEN);
	b = a;
	assert_int_equal(replica_compare(&a, &b), REPLICA_SAME);
	b.nic[0] ^= 1;		/* the card in another box */
	assert_int_equal(replica_compare(&a, &b), REPLICA_COPY);
	b.has_nic = 0;
	assert_int_equal(replica_compare(&a, &b), REPLICA_SAME);
	/* Where both read the board's serial, that decides, not the card. */
	b.has_nic = 1;
	a.has_serial = b.has_serial = 1;
	memset(a.serial, 0x5c, NUSA_HASH_LEN);
	memcpy(b.serial, a.serial, NUSA_HASH_LEN);
	assert_int_equal(replica_compare(&a, &b), REPLICA_SAME);
	b.serial[0] ^= 1;
	assert_int_equal(replica_compare(&a, &b), REPLICA_COPY);
	b.serial[0] ^= 1;
	b.has_serial = 0;	/* one side could not read it: the card */
	assert_int_equal(replica_compare(&a, &b), REPLICA_COPY);
	testutil_rmtree(root);
}

static void
test_encodings(void **state)
{
	struct replica r, r2;
	struct rekey k, k2;
	char buf[REPLICA_FILE_MAX], bad[REPLICA_FILE_MAX];
	int n;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(r.id, 0xab, sizeof(r.id));
	r.has_serial = 1;
	memset(r.serial, 0x5c, sizeof(r.serial));
	r.dev = 0;
	r.ino = UINT64_MAX;
	n = replica_encode(&r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(replica_decode(&r2, buf, (size_t)n), 0);
	assert_memory_equal(&r, &r2, sizeof(r));
	assert_int_equal(replica_decode(&r2, buf, (size_t)n - 1),
	    -NUSA_EMALFORMED);		/* no final newline */
	memcpy(bad, buf, (size_t)n);
	bad[n] = 'x';
	assert_int_equal(replica_decode(&r2, bad, (size_t)n + 1),
	    -NUSA_EMALFORMED);		/* trailing bytes */
	memcpy(bad, buf, (size_t)n);
	*strstr(bad, "abab") = 'A';
	assert_int_equal(replica_decode(&r2, bad, (size_t)n),
	    -NUSA_EMALFORMED);		/* one encoding: lowercase */
	/* The nic line, where one was read, comes last. */
	r.has_nic = 1;
	memset(r.nic, 0x17, sizeof(r.nic));
	n = replica_encode(&r, buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\nnic 1717"));
	assert_int_equal(replica_decode(&r2, buf, (size_t)n), 0);
	assert_memory_equal(&r, &r2, sizeof(r));
	memcpy(bad, buf, (size_t)n);
	memcpy(strstr(bad, "\nnic ") + 5, "-\n", 2);
	assert_int_equal(replica_decode(&r2, bad, (size_t)(strstr(bad,
	    "\nnic ") + 7 - bad)), -NUSA_EMALFORMED);

	memset(&k, 0, sizeof(k));
	memset(k.old, 1, sizeof(k.old));
	memset(k.new, 2, sizeof(k.new));
	k.role = ROLE_CLERK;
	k.reason = REKEY_RESTORE;
	k.time = 1700000000;
	n = rekey_encode(&k, buf, sizeof(buf));
	assert_true(n > 0);
	assert_non_null(strstr(buf, "\nrole clerk\nreason restore\n"));
	assert_int_equal(rekey_decode(&k2, buf, (size_t)n), 0);
	assert_memory_equal(&k, &k2, sizeof(k));
	memcpy(bad, buf, (size_t)n + 1);
	memcpy(strstr(bad, "clerk"), "roots", 5);
	assert_int_equal(rekey_decode(&k2, bad, (size_t)n), -NUSA_EMALFORMED);
	memcpy(bad, buf, (size_t)n + 1);
	memcpy(strstr(bad, "time 1"), "time 0", 6);	/* leading zero */
	assert_int_equal(rekey_decode(&k2, bad, (size_t)n), -NUSA_EMALFORMED);
	memcpy(k.new, k.old, sizeof(k.new));
	n = rekey_encode(&k, buf, sizeof(buf));
	assert_int_equal(rekey_decode(&k2, buf, (size_t)n), -NUSA_EMALFORMED);
	assert_int_equal(rekey_decode(&k2, "nusa-rekey-v1\n", 14),
	    -NUSA_EMALFORMED);
}

static void
test_check_binds_then_same(void **state)
{
	struct fx *f = *state;
	struct replica_status st;
	struct replica r;
	uint8_t pk[NUSA_KEY_LEN];

	assert_int_equal(replica_load(&r, f->box), -2);
	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	assert_false(st.rekeyed || st.pending || st.settled);
	assert_int_equal(replica_load(&r, f->box), 0);
	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	assert_false(st.rekeyed || st.pending);
	device_pk(f->box, pk);
	assert_memory_equal(pk, f->root->pk, NUSA_KEY_LEN);
}

/* A peer's claim on our own feed stops writers until it is cleared; it
 * changes no key. */
static void
test_claim_stops_writers(void **state)
{
	struct fx *f = *state;
	struct replica_status st;
	uint8_t pk[NUSA_KEY_LEN], peer[NUSA_KEY_LEN];
	char p[200];

	memset(peer, 7, sizeof(peer));
	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	assert_false(st.claimed);
	assert_int_equal(replica_claim_set(f->box, peer, 9, 4), 0);
	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	assert_true(st.claimed);
	assert_false(st.rekeyed || st.pending);
	device_pk(f->box, pk);
	assert_memory_equal(pk, f->root->pk, NUSA_KEY_LEN);
	assert_int_equal(replica_claim_clear(f->box), 0);
	snprintf(p, sizeof(p), "%s/claim", f->box);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(replica_claim_clear(f->box), 0);	/* none: fine */
	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	assert_false(st.claimed);
}

static void
test_move_is_not_a_copy(void **state)
{
	struct fx *f = *state;
	struct replica_status st;
	char moved[160];
	uint8_t pk[NUSA_KEY_LEN];

	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	store_close(f->s);
	snprintf(moved, sizeof(moved), "%s/renamed", f->dir);
	assert_int_equal(rename(f->box, moved), 0);
	f->s = testutil_reopen(moved, "store");
	assert_int_equal(replica_check(moved, f->s, &st), 0);
	assert_false(st.rekeyed || st.pending);
	device_pk(moved, pk);
	assert_memory_equal(pk, f->root->pk, NUSA_KEY_LEN);
	store_close(f->s);
	assert_int_equal(rename(moved, f->box), 0);
	f->s = testutil_reopen(f->box, "store");
}

static void
test_copy_rekeys_once_then_settles(void **state)
{
	struct fx *f = *state;
	struct replica_status st;
	struct store *s2;
	struct store_txn *t;
	struct rekey rk;
	char copy[160], path[220];
	uint8_t pk[NUSA_KEY_LEN], pk2[NUSA_KEY_LEN];
	struct key *old;
	struct stat sb;

	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	testutil_copy(f->dir, "box", "copy");
	snprintf(copy, sizeof(copy), "%s/copy", f->dir);
	s2 = testutil_reopen(copy, "store");
	assert_int_equal(replica_check(copy, s2, &st), 0);
	assert_true(st.rekeyed && st.pending);
	assert_int_equal(st.rk.reason, REKEY_COPY);
	assert_int_equal(st.rk.role, ROLE_ADMIN);	/* the root's */
	assert_memory_equal(st.rk.old, f->root->pk, NUSA_KEY_LEN);
	device_pk(copy, pk);
	assert_memory_equal(pk, st.rk.new, NUSA_KEY_LEN);
	snprintf(path, sizeof(path), "%s/device.key.retired-%llu", copy,
	    (unsigned long long)st.rk.time);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(key_load(&old, path), 0);
	assert_memory_equal(old->pk, f->root->pk, NUSA_KEY_LEN);
	key_free(&old);
	assert_int_equal(rekey_load(&rk, copy), 0);
	assert_memory_equal(&rk, &st.rk, sizeof(rk));

	/* Again: still waiting, no second new key. */
	assert_int_equal(replica_check(copy, s2, &st), 0);
	assert_true(st.pending && !st.rekeyed);
	device_pk(copy, pk2);
	assert_memory_equal(pk, pk2, NUSA_KEY_LEN);
	/* The original is not touched. */
	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	assert_false(st.rekeyed || st.pending);

	/* The enrolment arrives: writes resume, DIR/rekey goes. */
	assert_int_equal(store_begin(s2, &t, STORE_WRITE), 0);
	assert_int_equal(ledger_enrol(t, f->root, pk, ROLE_ADMIN), 0);
	assert_int_equal(store_commit(t), 0);
	assert_int_equal(replica_check(copy, s2, &st), 0);
	assert_true(st.settled && !st.pending);
	assert_int_equal(rekey_load(&rk, copy), -2);
	store_close(s2);
}

static void
test_crash_mid_rekey_is_finished(void **state)
{
	struct fx *f = *state;
	struct replica_status st;
	struct rekey rk;
	struct key *k;
	char path[200];
	uint8_t pk[NUSA_KEY_LEN];

	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	/* As replica_rekey() leaves it when cut after DIR/rekey. */
	k = key_generate();
	assert_non_null(k);
	snprintf(path, sizeof(path), "%s/device.key.new", f->box);
	assert_int_equal(key_save(k, path), 0);
	memset(&rk, 0, sizeof(rk));
	memcpy(rk.old, f->root->pk, NUSA_KEY_LEN);
	memcpy(rk.new, k->pk, NUSA_KEY_LEN);
	rk.role = ROLE_ADMIN;
	rk.reason = REKEY_MANUAL;
	rk.time = 1;
	assert_int_equal(rekey_save(&rk, f->box), 0);
	assert_int_equal(replica_check(f->box, f->s, &st), 0);
	assert_true(st.pending && !st.rekeyed);
	device_pk(f->box, pk);
	assert_memory_equal(pk, k->pk, NUSA_KEY_LEN);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/device.key.retired-1", f->box);
	assert_int_equal(access(path, F_OK), 0);
	key_free(&k);
}

static void
test_rekey_expect_old(void **state)
{
	struct fx *f = *state;
	struct rekey rk, rk2;
	uint8_t other[NUSA_KEY_LEN] = { 7 };

	assert_int_equal(replica_rekey(f->box, f->s, REKEY_RESTORE,
	    f->root->pk, &rk), 0);
	/* A second detector with the old key in hand changes nothing. */
	assert_int_equal(replica_rekey(f->box, f->s, REKEY_RESTORE,
	    f->root->pk, &rk2), 1);
	assert_memory_equal(&rk, &rk2, sizeof(rk));
	assert_int_equal(replica_rekey(f->box, f->s, REKEY_RESTORE, other,
	    &rk2), 1);
}

static void
test_damaged_files(void **state)
{
	struct fx *f = *state;
	struct replica_status st;
	char path[200];
	uint8_t pk[NUSA_KEY_LEN];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/rekey", f->box);
	assert_non_null(fp = fopen(path, "w"));
	fputs("nusa-rekey-v1\nold zz\n", fp);
	fclose(fp);
	assert_int_equal(replica_check(f->box, f->s, &st), -NUSA_EMALFORMED);
	unlink(path);
	snprintf(path, sizeof(path), "%s/replica", f->box);
	assert_non_null(fp = fopen(path, "w"));
	fputs("garbage\n", fp);
	fclose(fp);
	assert_int_equal(replica_check(f->box, f->s, &st), -NUSA_EMALFORMED);
	device_pk(f->box, pk);
	assert_memory_equal(pk, f->root->pk, NUSA_KEY_LEN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_nic),
		cmocka_unit_test_setup_teardown(test_here_follows_env, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_check_binds_then_same,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_claim_stops_writers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_is_not_a_copy,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_copy_rekeys_once_then_settles, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_crash_mid_rekey_is_finished, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_expect_old, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_damaged_files, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
