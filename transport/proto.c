#include "proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define ITEM_LEN (NUSA_KEY_LEN + 8)
#define FORK_LEN (ITEM_LEN + PROTO_HEAD_LEN)
#define WELCOME_HEADS 5		/* offset of the heads digest */

/* Reads the items of a HELLO, WELCOME (size ITEM_LEN) or FORKS
 * (FORK_LEN) from p (len bytes left): strictly in author order, one per
 * feed, so that they merge with a vector in one pass. */
static int
items(struct proto_msg *m, const uint8_t *p, size_t len, size_t size)
{
	uint32_t i;

	if (len < 4)
		return -NUSA_EMALFORMED;
	m->n = codec_rd32(p);
	if (m->n > PROTO_FEEDS_MAX || len - 4 != (size_t)m->n * size)
		return -NUSA_EMALFORMED;
	m->items = p + 4;
	for (i = 1; i < m->n; i++)
		if (memcmp(m->items + (size_t)(i - 1) * size,
		    m->items + (size_t)i * size, NUSA_KEY_LEN) >= 0)
			return -NUSA_EMALFORMED;
	return 0;
}

int
proto_decode(struct proto_msg *m, const uint8_t *p, size_t len)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	if (len < 1)
		return -NUSA_EMALFORMED;
	m->len = len;
	m->type = p[0];
	switch (p[0]) {
	case PROTO_HELLO:
	case PROTO_WELCOME:
		if (len < 2)
			return -NUSA_EMALFORMED;
		m->version = p[1];
		if (m->version != PROTO_VERSION)
			return -NUSA_EVERSION;
		if (len < 5)
			return -NUSA_EMALFORMED;
		m->flags = p[2];
		m->credit = codec_rd16(p + 3);
		if (m->flags != 0 || m->credit == 0 ||
		    m->credit > PROTO_CREDIT_MAX)
			return -NUSA_EMALFORMED;
		if (p[0] == PROTO_WELCOME) {
			if (len < 5 + PROTO_HEAD_LEN)
				return -NUSA_EMALFORMED;
			m->heads = p + 5;
			return items(m, p + 5 + PROTO_HEAD_LEN,
			    len - 5 - PROTO_HEAD_LEN, ITEM_LEN);
		}
		if (len < 5 + NUSA_KEY_LEN)
			return -NUSA_EMALFORMED;
		m->network = p + 5;
		return items(m, p + 5 + NUSA_KEY_LEN, len - 5 - NUSA_KEY_LEN,
		    ITEM_LEN);
	case PROTO_FORKS:
		return items(m, p + 1, len - 1, FORK_LEN);
	case PROTO_BATCH:
		/* The batch itself is checked by stream_reader_decode(). */
		if (len < 5 + 2 + NUSA_SIG_LEN)
			return -NUSA_EMALFORMED;
		m->number = codec_rd32(p + 1);
		m->batch = p + 5;
		m->batch_len = len - 5;
		return 0;
	case PROTO_ACK:
		if (len != 1 + 4 + 1 + 8)
			return -NUSA_EMALFORMED;
		m->number = codec_rd32(p + 1);
		m->status = p[5];
		m->head = codec_rd64(p + 6);
		return m->status <= PROTO_ACK_LAST ? 0 : -NUSA_EMALFORMED;
	case PROTO_DONE:
		if (len == 1)
			return 0;
		if (len != 2 || p[1] != PROTO_DONE_ASK)
			return -NUSA_EMALFORMED;
		m->flags = p[1];
		return 0;
	case PROTO_ERROR:
		if (len < 2 || len - 2 > PROTO_TEXT_MAX)
			return -NUSA_EMALFORMED;
		m->code = p[1];
		/* Text from a peer ends up in our log: printable only. */
		for (i = 2; i < len; i++)
			m->text[i - 2] = p[i] >= 0x20 && p[i] < 0x7f ?
			    (char)p[i] : '?';
		m->text[len - 2] = '\0';
		return 0;
	default:
		return -NUSA_EMALFORMED;
	}
}

void
proto_item_at(const struct proto_msg *m, uint32_t i, struct proto_item *it)
{
	size_t size = m->type == PROTO_FORKS ? FORK_LEN : ITEM_LEN;
	const uint8_t *p = m->items + (size_t)i * size;

	memcpy(it->author, p, NUSA_KEY_LEN);
	it->seq = codec_rd64(p + NUSA_KEY_LEN);
	if (m->type == PROTO_FORKS)
		memcpy(it->head, p + ITEM_LEN, PROTO_HEAD_LEN);
	else
		memset(it->head, 0, PROTO_HEAD_LEN);
}

static int
reserve(struct proto_buf *b, size_t more)
{
	size_t cap;
	uint8_t *nb;

	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	if ((nb = realloc(b->buf, cap)) == NULL)
		return -ENOMEM;
	b->buf = nb;
	b->cap = cap;
	return 0;
}

static int
put(struct proto_buf *b, const void *p, size_t n)
{
	if (reserve(b, n) != 0)
		return -ENOMEM;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return 0;
}

static int
put_be(struct proto_buf *b, uint64_t v, int bytes)
{
	uint8_t x[8];
	int i;

	for (i = bytes - 1; i >= 0; i--) {
		x[i] = (uint8_t)v;
		v >>= 8;
	}
	return put(b, x, (size_t)bytes);
}

static int
head(struct proto_buf *b, uint8_t type)
{
	b->len = 0;
	b->count = 0;
	return put(b, &type, 1);
}

int
proto_hello(struct proto_buf *b, uint16_t credit,
    const uint8_t network[NUSA_KEY_LEN])
{
	if (head(b, PROTO_HELLO) || put_be(b, PROTO_VERSION, 1) ||
	    put_be(b, 0, 1) || put_be(b, credit, 2) ||
	    put(b, network, NUSA_KEY_LEN))
		return -ENOMEM;
	b->count_at = b->len;
	return put_be(b, 0, 4);
}

int
proto_welcome(struct proto_buf *b, uint16_t credit)
{
	static const uint8_t zero[PROTO_HEAD_LEN];

	if (head(b, PROTO_WELCOME) || put_be(b, PROTO_VERSION, 1) ||
	    put_be(b, 0, 1) || put_be(b, credit, 2) ||
	    put(b, zero, sizeof(zero)))
		return -ENOMEM;
	b->count_at = b->len;
	return put_be(b, 0, 4);
}

void
proto_welcome_heads(struct proto_buf *b, const uint8_t heads[PROTO_HEAD_LEN])
{
	memcpy(b->buf + WELCOME_HEADS, heads, PROTO_HEAD_LEN);
}

int
proto_forks(struct proto_buf *b)
{
	if (head(b, PROTO_FORKS))
		return -ENOMEM;
	b->count_at = b->len;
	return put_be(b, 0, 4);
}

int
proto_put_fork(struct proto_buf *b, const uint8_t author[NUSA_KEY_LEN],
    uint64_t seq, const uint8_t h[PROTO_HEAD_LEN])
{
	int rc;

	if ((rc = proto_put_item(b, author, seq)) != 0)
		return rc;
	return put(b, h, PROTO_HEAD_LEN);
}

int
proto_put_item(struct proto_buf *b, const uint8_t author[NUSA_KEY_LEN],
    uint64_t seq)
{
	if (b->count >= PROTO_FEEDS_MAX)
		return -NUSA_ERANGE;
	if (put(b, author, NUSA_KEY_LEN) || put_be(b, seq, 8))
		return -ENOMEM;
	b->count++;
	return 0;
}

void
proto_finish_items(struct proto_buf *b)
{
	codec_be32(b->buf + b->count_at, b->count);
}

int
proto_batch(struct proto_buf *b, uint32_t number, const uint8_t *batch,
    size_t len)
{
	if (head(b, PROTO_BATCH) || put_be(b, number, 4) ||
	    put(b, batch, len))
		return -ENOMEM;
	return 0;
}

int
proto_ack(struct proto_buf *b, uint32_t number, uint8_t status,
    uint64_t h)
{
	if (head(b, PROTO_ACK) || put_be(b, number, 4) ||
	    put_be(b, status, 1) || put_be(b, h, 8))
		return -ENOMEM;
	return 0;
}

int
proto_done(struct proto_buf *b)
{
	return head(b, PROTO_DONE) ? -ENOMEM : 0;
}

int
proto_done_request(struct proto_buf *b)
{
	if (head(b, PROTO_DONE) || put_be(b, PROTO_DONE_ASK, 1))
		return -ENOMEM;
	return 0;
}

int
proto_error(struct proto_buf *b, uint8_t code, const char *text)
{
	size_t n = strlen(text);

	if (n > PROTO_TEXT_MAX)
		n = PROTO_TEXT_MAX;
	if (head(b, PROTO_ERROR) || put_be(b, code, 1) || put(b, text, n))
		return -ENOMEM;
	return 0;
}
