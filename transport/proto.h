/* The sync protocol's messages (docs/PROTOCOL.md): one ZMQ frame each,
 * a type byte then fixed big-endian fields. Decoders check every length
 * before use and reject trailing bytes; a message that does not decode
 * ends the session.
 *
 *   HELLO   'H' u8 version, u8 flags, u16 credit, network[32],
 *               u32 n, n x (author[32], u64 seq)      dialer's vector
 *   WELCOME 'W' u8 version, u8 flags, u16 credit, heads[8],
 *               u32 n, n x (author[32], u64 seq)      where it differs
 *   FORKS   'F' u32 n, n x (author[32], u64 seq, head[8])
 *   BATCH   'B' u32 number, batch (stream.h)
 *   ACK     'A' u32 number, u8 status, u64 head
 *   DONE    'D' [u8 flags]                            caught up; flag 1:
 *                                                     please say so too
 *   ERROR   'E' u8 code, text (0..200 bytes, printable)
 */
#ifndef NUSA_PROTO_H
#define NUSA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "nusa.h"
#include "stream.h"

#define PROTO_VERSION	  1
#define PROTO_CREDIT	  3	/* batches a receiver lets be in flight */
#define PROTO_CREDIT_MAX  64
#define PROTO_FEEDS_MAX	  (1u << 14)	/* vector items in one message */
#define PROTO_TEXT_MAX	  200
/* No valid message is longer: ZMQ_MAXMSGSIZE drops a peer that tries. */
#define PROTO_HELLO_MAX (41 + 48 * (size_t)PROTO_FEEDS_MAX)
#define PROTO_MSG_MAX                                                     \
	(1 + 4 + STREAM_BATCH_MAX > PROTO_HELLO_MAX ?                        \
	    1 + 4 + STREAM_BATCH_MAX : PROTO_HELLO_MAX)

enum proto_type {
	PROTO_HELLO = 'H',
	PROTO_WELCOME = 'W',
	PROTO_BATCH = 'B',
	PROTO_ACK = 'A',
	PROTO_DONE = 'D',
	PROTO_ERROR = 'E',
	PROTO_FORKS = 'F',
};

#define PROTO_HEAD_LEN 8	/* a short hash of the ids at a feed's head */
#define PROTO_DONE_ASK 1	/* DONE flag: answer with a DONE */

enum proto_ack {
	PROTO_ACK_STORED = 0,	/* verified and committed */
	PROTO_ACK_REFUSED = 1,	/* this feed cannot be taken here yet */
	PROTO_ACK_GAP = 2,	/* its first entry's predecessor is not here */
	PROTO_ACK_LAST = PROTO_ACK_GAP
};

enum proto_err {
	PROTO_ERR_VERSION = 1,	/* no common protocol version */
	PROTO_ERR_NETWORK = 2,	/* the network is not served here */
	PROTO_ERR_DENIED = 3,	/* not enrolled in it, or revoked */
	PROTO_ERR_PROTOCOL = 4,	/* a message out of place or malformed */
	PROTO_ERR_ENTRY = 5,	/* an entry that does not verify */
	PROTO_ERR_BUSY = 6,	/* too many sessions; try later */
	PROTO_ERR_DUPLICATE = 7, /* connected the other way already */
};

struct proto_item {
	uint8_t author[NUSA_KEY_LEN];
	uint64_t seq;
	uint8_t head[PROTO_HEAD_LEN];	/* FORKS only */
};

/* A decoded message; pointers point into the frame it came from. */
struct proto_msg {
	size_t len;			/* of the whole frame */
	uint8_t type;
	uint8_t version, flags, status, code;
	uint16_t credit;
	uint32_t number, n;
	uint64_t head;
	const uint8_t *network;
	const uint8_t *items;		/* see proto_item_at() */
	const uint8_t *heads;		/* WELCOME: PROTO_HEAD_LEN bytes */
	const uint8_t *batch;		/* BATCH: the encoded batch */
	size_t batch_len;
	char text[PROTO_TEXT_MAX + 1];	/* ERROR, NUL-terminated */
};

/* Decodes a frame. Returns 0 or -NUSA_EMALFORMED (or -NUSA_EVERSION for
 * a HELLO or WELCOME of another protocol version, with m->type and
 * m->version set so that the caller can say so). */
int proto_decode(struct proto_msg *m, const uint8_t *p, size_t len);

/* Reads vector item i (< m->n) of a HELLO, WELCOME or FORKS. */
void proto_item_at(const struct proto_msg *m, uint32_t i,
    struct proto_item *it);

/* A growing buffer the encoders append to; caller frees buf. */
struct proto_buf {
	uint8_t *buf;
	size_t len, cap;
	size_t count_at;	/* where the item count goes */
	uint32_t count;
};

/* Encoders: clear b and write one message. Return 0 or -ENOMEM. The
 * HELLO and WELCOME encoders take their items through proto_put_item()
 * after the head, then proto_finish_items() to set the count. */
int proto_hello(struct proto_buf *b, uint16_t credit,
    const uint8_t network[NUSA_KEY_LEN]);
int proto_welcome(struct proto_buf *b, uint16_t credit);
/* Sets the heads digest of the WELCOME in b (zero until set). */
void proto_welcome_heads(struct proto_buf *b,
    const uint8_t heads[PROTO_HEAD_LEN]);
int proto_forks(struct proto_buf *b);
int proto_put_fork(struct proto_buf *b, const uint8_t author[NUSA_KEY_LEN],
    uint64_t seq, const uint8_t head[PROTO_HEAD_LEN]);
int proto_put_item(struct proto_buf *b, const uint8_t author[NUSA_KEY_LEN],
    uint64_t seq);
void proto_finish_items(struct proto_buf *b);
int proto_batch(struct proto_buf *b, uint32_t number, const uint8_t *batch,
    size_t len);
int proto_ack(struct proto_buf *b, uint32_t number, uint8_t status,
    uint64_t head);
int proto_done(struct proto_buf *b);
/* A DONE that asks the peer to answer with its own once caught up. */
int proto_done_request(struct proto_buf *b);
int proto_error(struct proto_buf *b, uint8_t code, const char *text);

#endif
