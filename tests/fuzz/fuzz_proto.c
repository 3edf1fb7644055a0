/* Sync messages come from the network: proto_decode() must take any
 * bytes without crashing, and a frame it accepts must be the one encoding
 * the encoders write for what it decoded (an ERROR's text up to the
 * non-printable bytes it replaces), so that two boxes never read one
 * message two ways. A BATCH's batch goes on to stream_reader_decode(), as
 * a session passes it. Pure: no store, so every input runs alike. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nusa.h"
#include "proto.h"
#include "store.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct stream_reader *reader;
static struct proto_buf out;

/* The batch decoded: what store_ingest() will be handed. */
static void
check_batch(const struct proto_msg *m)
{
	struct store_batch b;
	size_t i, total = 0;
	int rc;

	rc = stream_reader_decode(reader, m->batch, m->batch_len, &b);
	if (rc == -NUSA_EMALFORMED)
		return;
	if (rc != 0 || b.n == 0 || b.n > NUSA_BATCH_MAX || b.sig == NULL)
		abort();
	for (i = 0; i < b.n; i++) {
		if (b.lens[i] < ENTRY_HEADER_LEN ||
		    b.lens[i] > ENTRY_BODY_MAX)
			abort();
		total += b.lens[i] - (i ? STREAM_CHAIN_IMPLIED : 0);
	}
	if (2 + 4 * b.n + total + NUSA_SIG_LEN != m->batch_len)
		abort();
	if (memcmp(b.sig, m->batch + m->batch_len - NUSA_SIG_LEN,
	    NUSA_SIG_LEN) != 0)
		abort();
}

static void
encode_again(const struct proto_msg *m)
{
	struct proto_item it;
	uint32_t i;
	int rc = 0;

	switch (m->type) {
	case PROTO_HELLO:
	case PROTO_WELCOME:
		if (m->version != PROTO_VERSION || m->flags != 0 ||
		    m->credit == 0 || m->credit > PROTO_CREDIT_MAX ||
		    m->n > PROTO_FEEDS_MAX || m->items == NULL)
			abort();
		if (m->type == PROTO_HELLO)
			rc = m->network ? proto_hello(&out, m->credit,
			    m->network) : -1;
		else
			rc = m->network ? -1 : proto_welcome(&out, m->credit);
		for (i = 0; rc == 0 && i < m->n; i++) {
			proto_item_at(m, i, &it);
			rc = proto_put_item(&out, it.author, it.seq);
		}
		if (rc == 0)
			proto_finish_items(&out);
		if (rc == 0 && m->type == PROTO_WELCOME)
			proto_welcome_heads(&out, m->heads);
		break;
	case PROTO_FORKS:
		rc = proto_forks(&out);
		for (i = 0; rc == 0 && i < m->n; i++) {
			proto_item_at(m, i, &it);
			rc = proto_put_fork(&out, it.author, it.seq, it.head);
		}
		if (rc == 0)
			proto_finish_items(&out);
		break;
	case PROTO_BATCH:
		check_batch(m);
		rc = proto_batch(&out, m->number, m->batch, m->batch_len);
		break;
	case PROTO_ACK:
		if (m->status > PROTO_ACK_LAST)
			abort();
		rc = proto_ack(&out, m->number, m->status, m->head);
		break;
	case PROTO_DONE:
		rc = m->flags & PROTO_DONE_ASK ? proto_done_request(&out) :
		    proto_done(&out);
		break;
	case PROTO_ERROR:
		rc = proto_error(&out, m->code, m->text);
		break;
	default:
		abort();
	}
	if (rc != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m;
	size_t i;
	int rc;

	if (reader == NULL && (reader = stream_reader_new()) == NULL)
		abort();
	rc = proto_decode(&m, data, size);
	if (rc == -NUSA_EVERSION) {
		/* Only a vector message of another version says so. */
		if (size < 2 || data[0] != m.type ||
		    (m.type != PROTO_HELLO && m.type != PROTO_WELCOME) ||
		    m.version != data[1] || m.version == PROTO_VERSION)
			abort();
		return 0;
	}
	if (rc == -NUSA_EMALFORMED)
		return 0;
	if (rc != 0 || m.len != size || size == 0 || m.type != data[0])
		abort();
	encode_again(&m);
	if (out.len != size)
		abort();
	if (m.type != PROTO_ERROR) {
		if (memcmp(out.buf, data, size) != 0)
			abort();
		return 0;
	}
	/* ERROR: the text reaches a log, printable only. */
	if (strlen(m.text) != size - 2 || out.buf[1] != data[1])
		abort();
	for (i = 2; i < size; i++)
		if (out.buf[i] != (data[i] >= 0x20 && data[i] < 0x7f ?
		    data[i] : '?'))
			abort();
	return 0;
}
