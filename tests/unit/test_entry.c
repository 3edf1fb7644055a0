#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "codec.h"
#include "entry.h"
#include "hlc.h"
#include "nusa.h"
#include "payload.h"

/* Offsets of the header fields in a body. */
#define OFF_VERSION 0
#define OFF_KIND    1
#define OFF_NETWORK 2
#define OFF_AUTHOR  34
#define OFF_SEQ	    66
#define OFF_PREV    74
#define OFF_HLC	    106
#define OFF_PLEN    114

struct fixture {
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	uint8_t payload[NUSA_PAYLOAD_MAX];
	size_t plen;
	struct entry e;
	uint8_t body[ENTRY_BODY_MAX + 16];
	size_t len;
};

static struct fixture fx;

static void
make_posting(uint8_t *buf, size_t cap, size_t *len, int64_t amount)
{
	struct payload p = { .kind = KIND_POSTING };

	p.u.posting.type = amount > 0 ? POST_DEPOSIT : POST_WITHDRAW;
	p.u.posting.date = 20240517;
	p.u.posting.memo = (struct payload_str){ "setoran", 7 };
	p.u.posting.nlegs = 1;
	p.u.posting.legs[0].account = (struct payload_str){ "sim-7", 5 };
	p.u.posting.legs[0].amount = amount;
	assert_int_equal(payload_encode(&p, buf, cap, len), 0);
}

/* A valid seq-2 posting entry by a key made from a fixed seed. */
static int
setup(void **state)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	(void)state;
	if (sodium_init() < 0)
		return -1;
	memset(&fx, 0, sizeof(fx));
	memset(seed, 0x5e, sizeof(seed));
	crypto_sign_seed_keypair(fx.pk, fx.sk, seed);
	make_posting(fx.payload, sizeof(fx.payload), &fx.plen, 250000);
	fx.e.kind = KIND_POSTING;
	memset(fx.e.network, 0xaa, NUSA_KEY_LEN);
	memcpy(fx.e.author, fx.pk, NUSA_KEY_LEN);
	fx.e.seq = 2;
	memset(fx.e.prev, 0x11, NUSA_HASH_LEN);
	fx.e.hlc = (UINT64_C(1715900000000) << HLC_LOGICAL_BITS) | 3;
	fx.e.payload = fx.payload;
	fx.e.payload_len = (uint32_t)fx.plen;
	if (entry_encode(&fx.e, fx.body, sizeof(fx.body), &fx.len) != 0)
		return -1;
	return 0;
}

static int
decode(const uint8_t *buf, size_t len)
{
	struct entry e;

	return entry_decode(&e, buf, len);
}

static void
put_u64(uint8_t *buf, size_t off, uint64_t v)
{
	codec_be64(buf + off, v);
}

static void
put_u32(uint8_t *buf, size_t off, uint32_t v)
{
	buf[off] = (uint8_t)(v >> 24);
	buf[off + 1] = (uint8_t)(v >> 16);
	buf[off + 2] = (uint8_t)(v >> 8);
	buf[off + 3] = (uint8_t)v;
}

static void
test_roundtrip(void **state)
{
	struct entry d;
	uint8_t again[ENTRY_BODY_MAX];
	size_t len;

	(void)state;
	assert_int_equal(fx.len, ENTRY_HEADER_LEN + fx.plen);
	assert_int_equal(fx.body[OFF_VERSION], ENTRY_VERSION);
	assert_int_equal(fx.body[OFF_KIND], KIND_POSTING);
	assert_memory_equal(fx.body + OFF_AUTHOR, fx.pk, NUSA_KEY_LEN);
	assert_true(codec_rd64(fx.body + OFF_SEQ) == 2);
	assert_true(codec_rd64(fx.body + OFF_HLC) == fx.e.hlc);
	assert_memory_equal(fx.body + ENTRY_HEADER_LEN, fx.payload, fx.plen);

	assert_int_equal(entry_decode(&d, fx.body, fx.len), 0);
	assert_int_equal(d.kind, fx.e.kind);
	assert_memory_equal(d.network, fx.e.network, NUSA_KEY_LEN);
	assert_memory_equal(d.author, fx.e.author, NUSA_KEY_LEN);
	assert_true(d.seq == fx.e.seq);
	assert_memory_equal(d.prev, fx.e.prev, NUSA_HASH_LEN);
	assert_true(d.hlc == fx.e.hlc);
	assert_int_equal(d.payload_len, fx.plen);
	assert_ptr_equal(d.payload, fx.body + ENTRY_HEADER_LEN);

	assert_int_equal(entry_encode(&d, again, sizeof(again), &len), 0);
	assert_int_equal(len, fx.len);
	assert_memory_equal(again, fx.body, len);
}

static void
test_roundtrip_values(void **state)
{
	static const uint64_t hlcs[] = { 0, 1, 2, 0x100, HLC_MAX - 1,
		HLC_MAX };
	static const uint64_t seqs[] = { 2, 3, 0x100000000, UINT64_MAX };
	uint8_t buf[ENTRY_BODY_MAX];
	struct entry e = fx.e, d;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(hlcs) / sizeof(hlcs[0]); i++) {
		e.hlc = hlcs[i];
		assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len), 0);
		assert_int_equal(entry_decode(&d, buf, len), 0);
		assert_true(d.hlc == hlcs[i]);
	}
	e = fx.e;
	for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		e.seq = seqs[i];
		assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len), 0);
		assert_int_equal(entry_decode(&d, buf, len), 0);
		assert_true(d.seq == seqs[i]);
	}
}

static void
test_seq1_network(void **state)
{
	static const uint8_t name[] = { 0, 4, 'K', 'o', 'p', 'i' };
	struct entry e = { .kind = KIND_NETWORK }, d;
	uint8_t buf[ENTRY_BODY_MAX];
	size_t len;

	(void)state;
	memcpy(e.network, fx.pk, NUSA_KEY_LEN);
	memcpy(e.author, fx.pk, NUSA_KEY_LEN);
	e.seq = 1;
	e.hlc = HLC_MAX;
	e.payload = name;
	e.payload_len = sizeof(name);
	assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len), 0);
	assert_int_equal(entry_decode(&d, buf, len), 0);
	assert_true(d.seq == 1);
	assert_true(d.hlc == HLC_MAX);
	assert_int_equal(d.kind, KIND_NETWORK);
}

/* Known answers, computed by an independent implementation (Python's
 * hashlib and cryptography): the encoding, the id and the signed message
 * must never change, or replicas of different versions would disagree on
 * every entry id and signature. */
static void
test_known_answer(void **state)
{
	static const char want[] = "fa529c2fecaa1e9ded523a9ba527bc6c"
				   "1bad1f7f0444c3203ee332c3984cf730";
	static const char want_sig[] =
	    "0b72e39730b3df89f4316425b2e8c6b89c66214dc006efffd969fe2d330b15c0"
	    "eae574c112584a5c5938db0f61f13394ad03de10f30b4043fe2431530121b802";
	uint8_t id[NUSA_HASH_LEN], id2[NUSA_HASH_LEN], sig[NUSA_SIG_LEN];
	char hex[2 * NUSA_SIG_LEN + 1];

	(void)state;
	entry_id(id, fx.body, fx.len);
	entry_id(id2, fx.body, fx.len);
	assert_memory_equal(id, id2, NUSA_HASH_LEN);
	crypto_generichash(id2, sizeof(id2), fx.body, fx.len, NULL, 0);
	assert_memory_equal(id, id2, NUSA_HASH_LEN);
	assert_int_equal(fx.len, 180);
	assert_string_equal(nusa_hex(hex, id, NUSA_HASH_LEN), want);
	entry_sign(sig, id, fx.sk);
	assert_string_equal(nusa_hex(hex, sig, NUSA_SIG_LEN), want_sig);
}

static void
id_of(const struct entry *e, uint8_t id[NUSA_HASH_LEN])
{
	uint8_t buf[ENTRY_BODY_MAX];
	size_t len;

	assert_int_equal(entry_encode(e, buf, sizeof(buf), &len), 0);
	entry_id(id, buf, len);
}

static void
test_id_changes_with_every_field(void **state)
{
	uint8_t base[NUSA_HASH_LEN], id[NUSA_HASH_LEN];
	uint8_t other[NUSA_PAYLOAD_MAX];
	static const uint8_t cert[NUSA_KEY_LEN + 1] = { [NUSA_KEY_LEN] =
		ROLE_CLERK };
	struct entry e;
	size_t olen;

	(void)state;
	id_of(&fx.e, base);
	id_of(&fx.e, id);
	assert_memory_equal(base, id, NUSA_HASH_LEN);

	e = fx.e;
	e.kind = KIND_CERT;
	e.payload = cert;
	e.payload_len = sizeof(cert);
	id_of(&e, id);
	assert_memory_not_equal(base, id, NUSA_HASH_LEN);

	e = fx.e;
	e.network[31] ^= 1;
	id_of(&e, id);
	assert_memory_not_equal(base, id, NUSA_HASH_LEN);

	e = fx.e;
	e.author[0] ^= 0x80;
	id_of(&e, id);
	assert_memory_not_equal(base, id, NUSA_HASH_LEN);

	e = fx.e;
	e.seq = 3;
	id_of(&e, id);
	assert_memory_not_equal(base, id, NUSA_HASH_LEN);

	e = fx.e;
	e.prev[17] ^= 4;
	id_of(&e, id);
	assert_memory_not_equal(base, id, NUSA_HASH_LEN);

	e = fx.e;
	e.hlc++;
	id_of(&e, id);
	assert_memory_not_equal(base, id, NUSA_HASH_LEN);

	e = fx.e;
	make_posting(other, sizeof(other), &olen, 250001);
	assert_int_equal(olen, fx.plen);
	e.payload = other;
	id_of(&e, id);
	assert_memory_not_equal(base, id, NUSA_HASH_LEN);
}

static void
test_sign_verify(void **state)
{
	uint8_t id[NUSA_HASH_LEN], sig[NUSA_SIG_LEN], sig2[NUSA_SIG_LEN];
	uint8_t bad[NUSA_SIG_LEN], badid[NUSA_HASH_LEN];
	uint8_t opk[NUSA_KEY_LEN], osk[crypto_sign_SECRETKEYBYTES];
	size_t bit;

	(void)state;
	entry_id(id, fx.body, fx.len);
	entry_sign(sig, id, fx.sk);
	assert_int_equal(entry_verify(sig, id, fx.pk), 0);
	entry_sign(sig2, id, fx.sk);
	assert_memory_equal(sig, sig2, NUSA_SIG_LEN);

	for (bit = 0; bit < 8 * NUSA_SIG_LEN; bit++) {
		memcpy(bad, sig, NUSA_SIG_LEN);
		bad[bit / 8] ^= (uint8_t)(1u << bit % 8);
		if (entry_verify(bad, id, fx.pk) != -NUSA_EBADSIG)
			fail_msg("signature with bit %zu flipped verifies",
			    bit);
	}
	for (bit = 0; bit < 8 * NUSA_HASH_LEN; bit++) {
		memcpy(badid, id, NUSA_HASH_LEN);
		badid[bit / 8] ^= (uint8_t)(1u << bit % 8);
		if (entry_verify(sig, badid, fx.pk) != -NUSA_EBADSIG)
			fail_msg("id with bit %zu flipped verifies", bit);
	}

	/* Another key's signature, or ours under another key, fails. */
	crypto_sign_keypair(opk, osk);
	assert_int_equal(entry_verify(sig, id, opk), -NUSA_EBADSIG);
	entry_sign(sig2, id, osk);
	assert_int_equal(entry_verify(sig2, id, fx.pk), -NUSA_EBADSIG);
	assert_int_equal(entry_verify(sig2, id, opk), 0);

	/* The signature is over a tagged message, not the bare id, so it
	 * cannot be replayed as a signature of a 32-byte message. */
	assert_int_not_equal(crypto_sign_verify_detached(sig, id,
	    NUSA_HASH_LEN, fx.pk), 0);
	crypto_sign_detached(sig2, NULL, id, NUSA_HASH_LEN, fx.sk);
	assert_int_equal(entry_verify(sig2, id, fx.pk), -NUSA_EBADSIG);
}

static void
test_version(void **state)
{
	static const uint8_t versions[] = { 0, 2, 0x81, 255 };
	uint8_t buf[ENTRY_BODY_MAX];
	size_t i;

	(void)state;
	memcpy(buf, fx.body, fx.len);
	for (i = 0; i < sizeof(versions); i++) {
		buf[OFF_VERSION] = versions[i];
		assert_int_equal(decode(buf, fx.len), -NUSA_EVERSION);
		assert_int_equal(decode(buf, 1), -NUSA_EVERSION);
	}
}

static void
test_truncation(void **state)
{
	size_t len;

	(void)state;
	assert_int_equal(decode(fx.body, fx.len), 0);
	for (len = 0; len < fx.len; len++)
		if (decode(fx.body, len) != -NUSA_EMALFORMED)
			fail_msg("a prefix of %zu bytes is accepted", len);
	assert_int_equal(decode(NULL, 0), -NUSA_EMALFORMED);
}

static void
test_trailing(void **state)
{
	uint8_t buf[ENTRY_BODY_MAX + 1];

	(void)state;
	memcpy(buf, fx.body, fx.len);
	buf[fx.len] = 0;
	assert_int_equal(decode(buf, fx.len + 1), -NUSA_EMALFORMED);
	/* Also when the length field is patched to cover the extra byte:
	 * the payload then has a trailing byte. */
	put_u32(buf, OFF_PLEN, (uint32_t)fx.plen + 1);
	assert_int_equal(decode(buf, fx.len + 1), -NUSA_EMALFORMED);
}

static void
test_header_rules(void **state)
{
	static const uint8_t kinds[] = { 0, 6, 7, 0x80, 255 };
	uint8_t buf[ENTRY_BODY_MAX];
	size_t i;

	(void)state;
	memcpy(buf, fx.body, fx.len);
	put_u64(buf, OFF_SEQ, 0);
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);

	/* seq 1 needs a zero prev, and only seq 1 may have one. */
	put_u64(buf, OFF_SEQ, 1);
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	memset(buf + OFF_PREV, 0, NUSA_HASH_LEN);
	assert_int_equal(decode(buf, fx.len), 0);
	buf[OFF_PREV + NUSA_HASH_LEN - 1] = 1;
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	buf[OFF_PREV + NUSA_HASH_LEN - 1] = 0;
	put_u64(buf, OFF_SEQ, 2);
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	put_u64(buf, OFF_SEQ, UINT64_MAX);
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	buf[OFF_PREV] = 1;
	assert_int_equal(decode(buf, fx.len), 0);

	memcpy(buf, fx.body, fx.len);
	for (i = 0; i < sizeof(kinds); i++) {
		buf[OFF_KIND] = kinds[i];
		assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	}
	/* A posting payload is not a valid record, cert or network. */
	for (i = KIND_NETWORK; i <= KIND_RECORD; i++) {
		buf[OFF_KIND] = (uint8_t)i;
		assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	}

	memcpy(buf, fx.body, fx.len);
	put_u64(buf, OFF_HLC, HLC_MAX);
	assert_int_equal(decode(buf, fx.len), 0);
	put_u64(buf, OFF_HLC, HLC_MAX + 1);
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	put_u64(buf, OFF_HLC, UINT64_MAX);
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	put_u64(buf, OFF_HLC, 0);
	assert_int_equal(decode(buf, fx.len), 0);
}

static void
test_payload_len(void **state)
{
	static const uint32_t deltas[] = { 1, 2, 100, 0x10000 };
	uint8_t buf[ENTRY_BODY_MAX + 16];
	size_t i;

	(void)state;
	memcpy(buf, fx.body, fx.len);
	for (i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		put_u32(buf, OFF_PLEN, (uint32_t)fx.plen + deltas[i]);
		assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
		if (deltas[i] <= fx.plen) {
			put_u32(buf, OFF_PLEN, (uint32_t)fx.plen - deltas[i]);
			assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
		}
	}
	put_u32(buf, OFF_PLEN, UINT32_MAX);
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
	put_u32(buf, OFF_PLEN, 0);
	assert_int_equal(decode(buf, ENTRY_HEADER_LEN), -NUSA_EMALFORMED);
	put_u32(buf, OFF_PLEN, (uint32_t)fx.plen);
	assert_int_equal(decode(buf, fx.len), 0);
}

static void
test_bad_payload(void **state)
{
	uint8_t buf[ENTRY_BODY_MAX];

	(void)state;
	memcpy(buf, fx.body, fx.len);
	/* The posting's amount is its last byte: make it negative. */
	buf[fx.len - 8] = 0xff;
	assert_int_equal(decode(buf, fx.len), -NUSA_EMALFORMED);
}

static void
test_payload_too_long(void **state)
{
	static uint8_t payload[NUSA_PAYLOAD_MAX + 1];
	static uint8_t buf[ENTRY_BODY_MAX + 64];
	struct entry e = fx.e;
	size_t len;

	(void)state;
	e.payload = payload;
	e.payload_len = NUSA_PAYLOAD_MAX + 1;
	assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	memcpy(buf, fx.body, ENTRY_HEADER_LEN);
	put_u32(buf, OFF_PLEN, NUSA_PAYLOAD_MAX + 1);
	assert_int_equal(decode(buf, ENTRY_HEADER_LEN + NUSA_PAYLOAD_MAX + 1),
	    -NUSA_EMALFORMED);
}

static void
test_encode_rejects(void **state)
{
	uint8_t buf[ENTRY_BODY_MAX];
	struct entry e;
	size_t len = 777, cap;

	(void)state;
	e = fx.e;
	e.seq = 0;
	assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	e = fx.e;
	e.seq = 1;
	assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	e = fx.e;
	memset(e.prev, 0, NUSA_HASH_LEN);
	assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	e = fx.e;
	e.hlc = HLC_MAX + 1;
	assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	e = fx.e;
	e.kind = 9;
	assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	e = fx.e;
	e.payload_len--;
	assert_int_equal(entry_encode(&e, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	assert_int_equal(len, 777);

	for (cap = 0; cap < fx.len; cap++)
		if (entry_encode(&fx.e, buf, cap, &len) != -NUSA_ERANGE)
			fail_msg("encoded into %zu bytes", cap);
	assert_int_equal(len, 777);
	assert_int_equal(entry_encode(&fx.e, buf, fx.len, &len), 0);
	assert_int_equal(len, fx.len);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_roundtrip_values),
		cmocka_unit_test(test_seq1_network),
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_id_changes_with_every_field),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_payload_len),
		cmocka_unit_test(test_bad_payload),
		cmocka_unit_test(test_payload_too_long),
		cmocka_unit_test(test_encode_rejects),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
