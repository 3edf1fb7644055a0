#include "entry.h"

#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "hlc.h"
#include "payload.h"

/* Signatures cover this tag and the id, so an entry signature can never
 * be replayed as a signature of anything else a device signs. */
static const char sign_tag[] = "nusa/entry/v1";

static const uint8_t zero_hash[NUSA_HASH_LEN];

static int
entry_check(const struct entry *e)
{
	struct payload p;

	if (e->seq == 0 ||
	    (e->seq == 1) != (memcmp(e->prev, zero_hash, NUSA_HASH_LEN) == 0))
		return -NUSA_EMALFORMED;
	if (e->payload_len > NUSA_PAYLOAD_MAX || e->hlc > HLC_MAX)
		return -NUSA_EMALFORMED;
	return payload_decode(&p, e->kind, e->payload, e->payload_len);
}

int
entry_encode(const struct entry *e, uint8_t *buf, size_t cap, size_t *len)
{
	struct codec_writer w;
	int rc;

	if ((rc = entry_check(e)) != 0)
		return rc;
	codec_writer_init(&w, buf, cap);
	codec_put_u8(&w, ENTRY_VERSION);
	codec_put_u8(&w, e->kind);
	codec_put_bytes(&w, e->network, NUSA_KEY_LEN);
	codec_put_bytes(&w, e->author, NUSA_KEY_LEN);
	codec_put_u64(&w, e->seq);
	codec_put_bytes(&w, e->prev, NUSA_HASH_LEN);
	codec_put_u64(&w, e->hlc);
	codec_put_u32(&w, e->payload_len);
	codec_put_bytes(&w, e->payload, e->payload_len);
	if (w.err)
		return w.err;
	*len = w.len;
	return 0;
}

int
entry_decode(struct entry *e, const uint8_t *buf, size_t len)
{
	struct codec_reader r;
	const uint8_t *b;

	memset(e, 0, sizeof(*e));
	codec_reader_init(&r, buf, len);
	if (codec_get_u8(&r) != ENTRY_VERSION)
		return r.err ? r.err : -NUSA_EVERSION;
	e->kind = codec_get_u8(&r);
	if ((b = codec_get_bytes(&r, NUSA_KEY_LEN)) != NULL)
		memcpy(e->network, b, NUSA_KEY_LEN);
	if ((b = codec_get_bytes(&r, NUSA_KEY_LEN)) != NULL)
		memcpy(e->author, b, NUSA_KEY_LEN);
	e->seq = codec_get_u64(&r);
	if ((b = codec_get_bytes(&r, NUSA_HASH_LEN)) != NULL)
		memcpy(e->prev, b, NUSA_HASH_LEN);
	e->hlc = codec_get_u64(&r);
	e->payload_len = codec_get_u32(&r);
	if (r.err)
		return r.err;
	if (e->payload_len != len - r.pos)
		return -NUSA_EMALFORMED;
	e->payload = codec_get_bytes(&r, e->payload_len);
	if (codec_reader_end(&r) != 0)
		return -NUSA_EMALFORMED;
	return entry_check(e) ? -NUSA_EMALFORMED : 0;
}

void
entry_id(uint8_t id[NUSA_HASH_LEN], const uint8_t *body, size_t len)
{
	crypto_generichash(id, NUSA_HASH_LEN, body, len, NULL, 0);
}

static void
sign_message(uint8_t msg[sizeof(sign_tag) + NUSA_HASH_LEN],
    const uint8_t id[NUSA_HASH_LEN])
{
	memcpy(msg, sign_tag, sizeof(sign_tag));
	memcpy(msg + sizeof(sign_tag), id, NUSA_HASH_LEN);
}

void
entry_sign(uint8_t sig[NUSA_SIG_LEN], const uint8_t id[NUSA_HASH_LEN],
    const uint8_t *sk)
{
	uint8_t msg[sizeof(sign_tag) + NUSA_HASH_LEN];

	sign_message(msg, id);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
}

int
entry_verify(const uint8_t sig[NUSA_SIG_LEN], const uint8_t id[NUSA_HASH_LEN],
    const uint8_t author[NUSA_KEY_LEN])
{
	uint8_t msg[sizeof(sign_tag) + NUSA_HASH_LEN];

	sign_message(msg, id);
	if (crypto_sign_verify_detached(sig, msg, sizeof(msg), author) != 0)
		return -NUSA_EBADSIG;
	return 0;
}
