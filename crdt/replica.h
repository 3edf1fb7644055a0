/* Clone and restore safety (docs/CLONES.md). A box's feed must never fork:
 * two copies of one data directory writing with one device key would. So
 * each installation binds its data directory to the place it runs
 * (DIR/replica: a random replica id, this machine's fingerprint and the
 * directory's device and inode), and a writer that finds the binding
 * broken, or a peer or bundle holding more of its own feed than it does,
 * switches to a fresh device key before it writes anything (DIR/rekey
 * records that, until an admin's enrolment of the new key arrives).
 * Every entry is kept: the old feed stays valid, only its key retires. */
#ifndef NUSA_REPLICA_H
#define NUSA_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"

#define REPLICA_ID_LEN	 16
#define REPLICA_FILE_MAX 1024	/* bytes of DIR/replica or DIR/rekey */

struct store;

/* Where a data directory lives. The machine, serial and nic parts are
 * BLAKE2b hashes of /etc/machine-id, of the board's serial number
 * (Raspberry Pi) and of the lowest permanent MAC address of the physical
 * network interfaces (replica_nic()), each only where this process can
 * read it: a part one side lacks is not compared, so a sandboxed nusad
 * (systemd ProcSubset=pid hides /proc/cpuinfo) and nusactl agree.
 * NUSA_TEST_MACHINE_ID, for tests only, stands for the machine id and
 * hides the serial and the nic. */
struct replica {
	uint8_t id[REPLICA_ID_LEN];
	uint8_t machine[NUSA_HASH_LEN];
	uint8_t serial[NUSA_HASH_LEN];
	uint8_t nic[NUSA_HASH_LEN];
	int has_machine, has_serial, has_nic;
	uint64_t dev, ino;	/* of the data directory (stat, follows links) */
};

enum replica_verdict {
	REPLICA_SAME = 0,	/* same machine, same directory (or renamed) */
	REPLICA_COPY = 1,	/* another machine, or another directory */
};

enum rekey_reason {
	REKEY_COPY = 1,		/* the data directory was copied or moved */
	REKEY_RESTORE = 2,	/* a peer or bundle held more of our feed */
	REKEY_MANUAL = 3,	/* nusactl rekey */
};

/* "Rekeyed, waiting for enrolment": the retired key, the new one, the
 * role the admin should give it (the old key's; admin for the root) and
 * why. */
struct rekey {
	uint8_t old[NUSA_KEY_LEN];
	uint8_t new[NUSA_KEY_LEN];
	uint8_t role;		/* enum role: ROLE_ADMIN, _CLERK or _RELAY */
	uint8_t reason;		/* enum rekey_reason */
	uint64_t time;		/* unix seconds */
};

/* Hashes the lowest permanent MAC address (addr_assign_type 0, or
 * unreadable) of the interfaces in netdir (/sys/class/net; another
 * directory laid out alike in tests) that have a device link, preferring
 * those not on USB (a dongle is unplugged; a Pi 3's Ethernet is on USB
 * and counts when it is all there is). Returns 1 and fills out, or 0 if
 * there is none. */
int replica_nic(const char *netdir, uint8_t out[NUSA_HASH_LEN]);

/* Fills r with where dir is now (id left zero). Returns 0 or -errno. */
int replica_here(struct replica *r, const char *dir);

/* Compares the saved binding with where the directory is now. A legit
 * move is a rename within one filesystem (same inode) on the same
 * machine; the device number alone may change (disks renumbered). Any
 * other difference is a copy. Returns enum replica_verdict. */
int replica_compare(const struct replica *saved, const struct replica *now);

/* Text encodings of DIR/replica and DIR/rekey (docs/CLONES.md). encode
 * writes a NUL-terminated text into buf (cap >= REPLICA_FILE_MAX) and
 * returns its length or -ENOSPC; decode accepts exactly that text and
 * returns 0 or -NUSA_EMALFORMED. */
int replica_encode(const struct replica *r, char *buf, size_t cap);
int replica_decode(struct replica *r, const char *buf, size_t len);
int rekey_encode(const struct rekey *k, char *buf, size_t cap);
int rekey_decode(struct rekey *k, const char *buf, size_t len);

/* Read and write DIR/replica and DIR/rekey; writes go to a temporary
 * file, fsync, rename and fsync of the directory, so a power cut leaves
 * the old file or the new one. Loads return -ENOENT when absent and
 * -NUSA_EMALFORMED when damaged. rekey_clear() removes DIR/rekey. */
int replica_load(struct replica *r, const char *dir);
int replica_save(const struct replica *r, const char *dir);
int rekey_load(struct rekey *k, const char *dir);
int rekey_save(const struct rekey *k, const char *dir);
int rekey_clear(const char *dir);

/* What a writer learns from replica_check(). */
struct replica_status {
	int rekeyed;		/* this call switched keys (reason in rk) */
	int pending;		/* writes refused until rk.new is enrolled */
	int settled;		/* this call found rk.new enrolled: resumed */
	int claimed;		/* a peer's claim is pending (DIR/claim):
				 * writes wait */
	struct rekey rk;	/* valid if rekeyed, pending or settled */
};

/* Run by every writer of the feed (nusactl commands that append, nusad
 * at start) before it loads DIR/device.key: under a lock on
 * DIR/replica.lock, finishes a rekey a crash interrupted, binds a
 * directory that has no DIR/replica yet, switches keys when the binding
 * is broken (replica_rekey(REKEY_COPY)), and ends the waiting state once
 * the new key's certificate is in s (removes DIR/rekey). Returns 0 and
 * fills *st, or a negative error (a damaged DIR/replica or DIR/rekey:
 * -NUSA_EMALFORMED; nothing is changed then). */
int replica_check(const char *dir, struct store *s, struct replica_status *st);

/* Switches this box to a fresh device key, if DIR/device.key still is
 * expect_old (NULL: whatever it is): DIR/device.key.new (0600), then
 * DIR/rekey, a new binding, the old key kept as
 * DIR/device.key.retired-UNIXTIME (0600, hard link), and the new key
 * renamed over DIR/device.key. Each step is durable and a crash at any
 * point is finished by the next replica_check(). Fills *rk. Returns 0,
 * 1 if the key was not expect_old any more (someone rekeyed already:
 * nothing done, *rk is the pending state if any), or a negative error. */
int replica_rekey(const char *dir, struct store *s, int reason,
    const uint8_t expect_old[NUSA_KEY_LEN], struct rekey *rk);

/* A peer said it holds seq of our own feed, past mine (our head), and
 * nusad waits for those entries as evidence of a restore: DIR/claim
 * (durable, text for people, never decoded) stops every writer
 * (replica_check() sets claimed) until replica_claim_clear(), when the
 * entries arrived (and the key retired) or the session ended without
 * them. Return 0 or a negative error. */
int replica_claim_set(const char *dir, const uint8_t peer[NUSA_KEY_LEN],
    uint64_t seq, uint64_t mine);
int replica_claim_clear(const char *dir);

/* "copy", "restore", "manual". */
const char *rekey_reason_name(int reason);

#endif
