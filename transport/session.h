/* A sync session with one peer over one connection, for one network: the
 * protocol's state machine (docs/PROTOCOL.md), apart from any socket.
 * The dialer sends HELLO with its version vector; the listener answers
 * WELCOME with the items where its vector differs; from then on each side
 * streams what the other lacks, a batch at a time within the credit the
 * receiver granted, and the receiver verifies and commits each batch in
 * one transaction before it acknowledges it. After catch-up, new entries
 * of the store are pushed as they come (session_pump()).
 *
 * Memory per session is bounded by the number of feeds, never by the
 * backlog: batches stream from the store (stream.h). */
#ifndef NUSA_SESSION_H
#define NUSA_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"
#include "proto.h"

struct store;
struct session;

/* Sends one message to the peer; returns 0 or a negative error (the
 * session then ends). */
typedef int (*session_send_fn)(void *ctx, const uint8_t *msg, size_t len);

struct session_conf {
	struct store *store;	/* the network's store; not owned */
	size_t batch_max;	/* entries per batch, 1..NUSA_BATCH_MAX */
	/* Batches end early past a number of bytes that follows the link:
	 * about a quarter of a second's worth of what the peer acknowledges,
	 * from byte_min to byte_max (0, 0: no byte cap). A cut link then
	 * loses little, and a fast one carries full batches. */
	size_t byte_min, byte_max;
	uint16_t credit;	/* batches the peer may send unacknowledged */
	session_send_fn send;
	void *ctx;
};

struct session_stats {
	uint64_t sent_entries, sent_batches;
	uint64_t recv_entries, recv_batches;
	uint64_t added, duplicates, refused, revoked;
	uint64_t skipped_entries;	/* of feeds the peer refused: not sent */
	uint64_t bytes_in, bytes_out;	/* protocol messages */
	uint64_t msgs_in, msgs_out;
	int64_t established;	/* unix time, 0 if not yet */
	int64_t synced;		/* last time both sides were caught up */
	int64_t last_batch;	/* last time a batch arrived */
	uint64_t rate;		/* bytes/s the peer acknowledges, estimated */
	size_t batch_bytes;	/* the byte cap batches are cut at now */
};

/* Creates a session of the dialing (dialer != 0) or listening side with
 * peer. Returns 0 and sets *out (caller frees with session_free()), or
 * -ENOMEM or -EINVAL. */
int session_new(struct session **out, const struct session_conf *c,
    int dialer, const uint8_t peer[NUSA_KEY_LEN]);
void session_free(struct session **s);

/* Decodes one frame from the peer and handles it (session_input()); a
 * frame that does not decode is the peer's fault: ERROR 4, and the
 * session is over. Returns as session_input() does. */
int session_receive(struct session *s, const uint8_t *p, size_t len);

/* Dialer: sends HELLO. Returns 0 or an error. */
int session_start(struct session *s);

/* Handles one decoded message from the peer. Returns 0, or a negative
 * error after which the session is over (an ERROR message has been sent
 * if the peer was at fault; session_error() says why):
 * -NUSA_EMALFORMED etc. when the peer broke the protocol or sent an entry
 * that does not verify (session_peer_fault() is then 1), -ECONNRESET when
 * the peer sent ERROR, or a local error. */
int session_input(struct session *s, const struct proto_msg *m);

/* Sends batches while credit allows. changed != 0 says the store has
 * new entries since the last call, which the peer may lack. Returns 0 or
 * a negative error (the session is then over). */
int session_pump(struct session *s, int changed);

/* An idle session (caught up, nothing in flight) says so again: a DONE,
 * one byte, which tells the caller whether the peer is still there (the
 * send fails when it is not). A busy one sends nothing, and if it has
 * waited more than wait_max_ms for an acknowledgement with nothing at all
 * from the peer meanwhile, the peer is taken for gone: -ETIMEDOUT (a
 * listener learns of a lost connection only by a send that fails, and
 * one waiting for credit sends nothing). Returns 0 or an error. */
int session_keepalive(struct session *s, int64_t wait_max_ms);

/* Syncs now: offers the peer whatever it may lack and asks it to confirm
 * that it is caught up (a DONE asking for a DONE), so that
 * session_stats()->synced moves only once the peer has answered.
 * Returns 0 or a send error. */
int session_sync_now(struct session *s);

/* Sends ERROR with code and text, for the caller ending a session. */
int session_fail(struct session *s, uint8_t code, const char *text);

int session_established(const struct session *s);
const uint8_t *session_peer(const struct session *s);
const struct session_stats *session_stats(const struct session *s);
/* One line: why the session ended, or "". */
const char *session_error(const struct session *s);
/* 1 if the session ended through the peer's fault. */
int session_peer_fault(const struct session *s);
/* The code of the ERROR the peer sent (enum proto_err), or 0. */
int session_peer_error(const struct session *s);

/* The highest seq of author's feed the peer holds, as far as this
 * session knows (its HELLO or WELCOME, and what we sent since). */
uint64_t session_peer_seq(const struct session *s,
    const uint8_t author[NUSA_KEY_LEN]);

/* What the peer holds, as far as this session knows: its vector, with
 * what it acknowledged since (a feed it refused at the head it had then).
 * Valid until the next call on s; NULL if out of memory. */
const struct vector *session_have(struct session *s);

/* Entries we hold that the peer lacks, and that the peer holds and we
 * lack, as far as this session knows. */
int session_lag(struct session *s, uint64_t *ahead, uint64_t *behind);

#endif
