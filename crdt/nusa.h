/* Project-wide limits and error codes shared by every layer of nusa.
 * Library functions return 0 or a negative errno / -NUSA_E* code;
 * nusa_strerror() turns either into one line of text. */
#ifndef NUSA_NUSA_H
#define NUSA_NUSA_H

#include <stddef.h>
#include <stdint.h>

#define NUSA_KEY_LEN	 32	/* Ed25519 public key, network id */
#define NUSA_HASH_LEN	 32	/* BLAKE2b-256: entry ids, digests */
#define NUSA_SIG_LEN	 64	/* Ed25519 signature */
#define NUSA_PAYLOAD_MAX 4096	/* bytes of payload in one entry */
#define NUSA_BATCH_MAX	 256	/* entries under one batch signature */
#define NUSA_ID_MAX	 64	/* bytes of a member or account id */
#define NUSA_NAME_MAX	 32	/* bytes of a record field name */
#define NUSA_TEXT_MAX	 512	/* bytes of a field value, memo, name */
#define NUSA_AMOUNT_MAX	 1000000000000LL /* 10^12 rupiah in one leg */

enum nusa_error {
	NUSA_EFIRST = 1000,
	NUSA_EMALFORMED = NUSA_EFIRST, /* not a valid canonical encoding */
	NUSA_EVERSION,	  /* unknown format or protocol version */
	NUSA_EBADSIG,	  /* signature does not verify */
	NUSA_EBADCHAIN,	  /* previous-entry hash or seq does not link */
	NUSA_EGAP,	  /* predecessor of an entry is not known here */
	NUSA_EUNENROLLED, /* author is not enrolled in the network */
	NUSA_EREVOKED,	  /* author's key was revoked before this entry */
	NUSA_EFORBIDDEN,  /* author's role may not write this kind */
	NUSA_ENETWORK,	  /* entry or bundle of another network */
	NUSA_ENONET,	  /* this box has not joined a network yet */
	NUSA_EEXIST,	  /* already exists */
	NUSA_ENOTFOUND,	  /* no such member, account, entry or device */
	NUSA_EFUNDS,	  /* withdrawal larger than the known balance */
	NUSA_ERANGE,	  /* number out of the allowed range */
	NUSA_ETRUNCATED,  /* input ends before its end marker */
	NUSA_ECORRUPT,	  /* the store disagrees with its own entries */
	NUSA_ESTOREVER,	  /* store written by another format version */
	NUSA_ELAST
};

/* Returns a static description of err (negative or positive). */
const char *nusa_strerror(int err);

/* Writes the lowercase hex of len bytes and a NUL into out, which holds
 * 2 * len + 1 bytes. Returns out. */
char *nusa_hex(char *out, const uint8_t *bin, size_t len);

/* Parses exactly 2 * len hex digits of str into bin. Returns 0 or
 * -NUSA_EMALFORMED. */
int nusa_unhex(uint8_t *bin, size_t len, const char *str);

/* Writes all len bytes of buf to fd, again after EINTR and short
 * writes. Returns 0, -errno, or -EIO if write() wrote nothing. */
int nusa_write_all(int fd, const void *buf, size_t len);

/* Fsyncs the directory that holds path, so that a file or directory just
 * created there survives a power cut. Returns 0 or -errno. */
int nusa_sync_parent(const char *path);

#endif
