#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "nusa.h"
#include "payload.h"

static const uint8_t ref1[NUSA_HASH_LEN] = { 0xde, 0xad, 0xbe, 0xef, 1, 2,
	3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
	22, 23, 24, 25, 26, 27, 28 };
static const uint8_t zero[NUSA_HASH_LEN];

static struct payload_str
S(const char *s)
{
	return (struct payload_str){ .p = s, .n = strlen(s) };
}

static int
str_is(const struct payload_str *s, const char *want)
{
	return s->n == strlen(want) && memcmp(s->p, want, s->n) == 0;
}

static size_t
must_encode(struct payload *p, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	assert_int_equal(payload_encode(p, buf, cap, &len), 0);
	assert_true(len > 0 && len <= cap);
	return len;
}

/* Raw encoders that write whatever they are given, so the decoder can be
 * shown inputs payload_encode() would refuse to produce. */
struct raw_field {
	const char *name;
	const char *value;
};

static size_t
raw_record(uint8_t *buf, size_t cap, uint8_t coll, const char *key,
    size_t n, const struct raw_field *f)
{
	struct codec_writer w;
	size_t i;

	codec_writer_init(&w, buf, cap);
	codec_put_u8(&w, coll);
	codec_put_str(&w, key, strlen(key));
	codec_put_u8(&w, (uint8_t)n);
	for (i = 0; i < n; i++) {
		codec_put_str(&w, f[i].name, strlen(f[i].name));
		codec_put_str(&w, f[i].value, strlen(f[i].value));
	}
	assert_int_equal(w.err, 0);
	return w.len;
}

struct raw_posting {
	uint8_t type;
	const uint8_t *ref;
	uint32_t date;
	const char *memo;
	uint8_t nlegs;
	const char *acct[3];
	int64_t amount[3];
};

static size_t
raw_posting(uint8_t *buf, size_t cap, const struct raw_posting *rp)
{
	struct codec_writer w;
	unsigned i;

	codec_writer_init(&w, buf, cap);
	codec_put_u8(&w, rp->type);
	codec_put_bytes(&w, rp->ref ? rp->ref : zero, NUSA_HASH_LEN);
	codec_put_u32(&w, rp->date);
	codec_put_str(&w, rp->memo, strlen(rp->memo));
	codec_put_u8(&w, rp->nlegs);
	for (i = 0; i < rp->nlegs && i < 3; i++) {
		codec_put_str(&w, rp->acct[i], strlen(rp->acct[i]));
		codec_put_u64(&w, (uint64_t)rp->amount[i]);
	}
	assert_int_equal(w.err, 0);
	return w.len;
}

static int
decode_raw_posting(const struct raw_posting *rp)
{
	uint8_t buf[1024];
	struct payload p;

	return payload_decode(&p, KIND_POSTING, buf,
	    raw_posting(buf, sizeof(buf), rp));
}

static int
decode_raw_record(uint8_t coll, const char *key, size_t n,
    const struct raw_field *f)
{
	uint8_t buf[NUSA_PAYLOAD_MAX];
	struct payload p;

	return payload_decode(&p, KIND_RECORD, buf,
	    raw_record(buf, sizeof(buf), coll, key, n, f));
}

static void
test_network_roundtrip(void **state)
{
	static const uint8_t want[] = { 0, 12, 'K', 'o', 'p', 'e', 'r', 'a',
		's', 'i', ' ', 'U', 'j', 'i' };
	struct payload p = { .kind = KIND_NETWORK }, d;
	uint8_t buf[64];
	size_t len;

	(void)state;
	p.u.network.name = S("Koperasi Uji");
	len = must_encode(&p, buf, sizeof(buf));
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(payload_decode(&d, KIND_NETWORK, buf, len), 0);
	assert_int_equal(d.kind, KIND_NETWORK);
	assert_true(str_is(&d.u.network.name, "Koperasi Uji"));
	assert_ptr_equal(d.u.network.name.p, (const char *)buf + 2);
}

static void
test_cert_roundtrip(void **state)
{
	struct payload p = { .kind = KIND_CERT }, d;
	uint8_t buf[64];
	size_t len;
	uint8_t role;

	(void)state;
	for (role = ROLE_ADMIN; role <= ROLE_RELAY; role++) {
		memset(p.u.cert.device, 0x40 + role, NUSA_KEY_LEN);
		p.u.cert.role = role;
		len = must_encode(&p, buf, sizeof(buf));
		assert_int_equal(len, NUSA_KEY_LEN + 1);
		assert_int_equal(payload_decode(&d, KIND_CERT, buf, len), 0);
		assert_memory_equal(d.u.cert.device, p.u.cert.device,
		    NUSA_KEY_LEN);
		assert_int_equal(d.u.cert.role, role);
	}
}

static void
test_revoke_roundtrip(void **state)
{
	static const uint64_t seqs[] = { 0, 1, 0x0102030405060708,
		UINT64_MAX };
	struct payload p = { .kind = KIND_REVOKE }, d;
	uint8_t buf[64];
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		memset(p.u.revoke.device, (int)i + 1, NUSA_KEY_LEN);
		p.u.revoke.last_seq = seqs[i];
		len = must_encode(&p, buf, sizeof(buf));
		assert_int_equal(len, NUSA_KEY_LEN + 8);
		assert_int_equal(payload_decode(&d, KIND_REVOKE, buf, len), 0);
		assert_memory_equal(d.u.revoke.device, p.u.revoke.device,
		    NUSA_KEY_LEN);
		assert_true(d.u.revoke.last_seq == seqs[i]);
	}
}

static void
test_record_roundtrip_sorted(void **state)
{
	struct payload p = { .kind = KIND_RECORD }, d;
	uint8_t buf[512], buf2[512];
	const struct payload_field *f;
	size_t len, len2;

	(void)state;
	p.u.record.collection = COLL_MEMBER;
	p.u.record.key = S("m-001");
	p.u.record.nfields = 5;
	p.u.record.fields[0].name = S("village");
	p.u.record.fields[0].value = S("Desa Sukamaju");
	p.u.record.fields[1].name = S("name");
	p.u.record.fields[1].value = S("Ibu Siti \xc3\xa9");
	p.u.record.fields[2].name = S(RECORD_DELETED);
	p.u.record.fields[2].value = S("0");
	p.u.record.fields[3].name = S("phone2");
	p.u.record.fields[3].value = S("");
	p.u.record.fields[4].name = S("phone");
	p.u.record.fields[4].value = S("0812");
	len = must_encode(&p, buf, sizeof(buf));

	assert_int_equal(payload_decode(&d, KIND_RECORD, buf, len), 0);
	assert_int_equal(d.u.record.collection, COLL_MEMBER);
	assert_true(str_is(&d.u.record.key, "m-001"));
	assert_int_equal(d.u.record.nfields, 5);
	assert_true(str_is(&d.u.record.fields[0].name, "_deleted"));
	assert_true(str_is(&d.u.record.fields[1].name, "name"));
	assert_true(str_is(&d.u.record.fields[2].name, "phone"));
	assert_true(str_is(&d.u.record.fields[3].name, "phone2"));
	assert_true(str_is(&d.u.record.fields[4].name, "village"));
	assert_true(str_is(&d.u.record.fields[1].value, "Ibu Siti \xc3\xa9"));
	assert_true(str_is(&d.u.record.fields[3].value, ""));
	assert_true(str_is(&d.u.record.fields[4].value, "Desa Sukamaju"));

	/* Any input order gives the same bytes. */
	p.u.record.fields[0] = d.u.record.fields[3];
	p.u.record.fields[1] = d.u.record.fields[0];
	p.u.record.fields[2] = d.u.record.fields[4];
	p.u.record.fields[3] = d.u.record.fields[2];
	p.u.record.fields[4] = d.u.record.fields[1];
	len2 = must_encode(&p, buf2, sizeof(buf2));
	assert_int_equal(len2, len);
	assert_memory_equal(buf2, buf, len);

	f = payload_field(&d, "phone");
	assert_non_null(f);
	assert_true(str_is(&f->value, "0812"));
	assert_null(payload_field(&d, "phon"));
	assert_null(payload_field(&d, "phone22"));
	p.kind = KIND_NETWORK;
	assert_null(payload_field(&p, "phone"));
}

static void
test_record_limits(void **state)
{
	struct payload p = { .kind = KIND_RECORD }, d;
	static char names[PAYLOAD_FIELDS_MAX + 1][8];
	static char longval[NUSA_TEXT_MAX + 2];
	static char longkey[NUSA_ID_MAX + 2];
	static char longname[NUSA_NAME_MAX + 2];
	uint8_t buf[NUSA_PAYLOAD_MAX];
	size_t len;
	unsigned i;

	(void)state;
	memset(longval, 'v', NUSA_TEXT_MAX);
	memset(longkey, 'k', NUSA_ID_MAX);
	memset(longname, 'n', NUSA_NAME_MAX);
	p.u.record.collection = COLL_ACCOUNT;
	p.u.record.key = S(longkey);
	for (i = 0; i < PAYLOAD_FIELDS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "f%02u", i);
		p.u.record.fields[i].name = S(names[i]);
		p.u.record.fields[i].value = S("x");
	}
	p.u.record.fields[0].name = S(longname);
	p.u.record.fields[0].value = S(longval);
	p.u.record.nfields = PAYLOAD_FIELDS_MAX;
	len = must_encode(&p, buf, sizeof(buf));
	assert_int_equal(payload_decode(&d, KIND_RECORD, buf, len), 0);
	assert_int_equal(d.u.record.nfields, PAYLOAD_FIELDS_MAX);
	assert_int_equal(d.u.record.key.n, NUSA_ID_MAX);
	/* Sorted: the long name comes last. */
	assert_int_equal(d.u.record.fields[PAYLOAD_FIELDS_MAX - 1].name.n,
	    NUSA_NAME_MAX);
	assert_int_equal(d.u.record.fields[PAYLOAD_FIELDS_MAX - 1].value.n,
	    NUSA_TEXT_MAX);

	/* The encoder holds itself to the same limits. */
	p.u.record.nfields = PAYLOAD_FIELDS_MAX + 1;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	p.u.record.nfields = 0;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	p.u.record.nfields = 1;
	longval[NUSA_TEXT_MAX] = 'v';
	p.u.record.fields[0].value = S(longval);
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	longval[NUSA_TEXT_MAX] = '\0';
	longkey[NUSA_ID_MAX] = 'k';
	p.u.record.fields[0].value = S("x");
	p.u.record.key = S(longkey);
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	longkey[NUSA_ID_MAX] = '\0';
	p.u.record.key = S(longkey);
	p.u.record.fields[0].name = S("Name");
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	p.u.record.nfields = 2;
	p.u.record.fields[0].name = S("a");
	p.u.record.fields[1].name = S("a");
	p.u.record.fields[1].value = S("y");
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	/* An unset name is refused, not compared while sorting. */
	p.u.record.fields[1].name = (struct payload_str){ NULL, 0 };
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	p.u.record.fields[0].name = (struct payload_str){ NULL, 0 };
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
}

static void
test_record_rejects(void **state)
{
	static char longval[NUSA_TEXT_MAX + 2];
	static char longkey[NUSA_ID_MAX + 2];
	static char longname[NUSA_NAME_MAX + 2];
	static char names[PAYLOAD_FIELDS_MAX + 1][8];
	struct raw_field f[PAYLOAD_FIELDS_MAX + 1];
	static const struct raw_field ok2[] = { { "age", "30" },
		{ "name", "Budi" } };
	static const struct raw_field unsorted[] = { { "name", "Budi" },
		{ "age", "30" } };
	static const struct raw_field dup[] = { { "name", "Budi" },
		{ "name", "Budi" } };
	static const struct raw_field prefix[] = { { "name", "" },
		{ "name2", "" } };
	static const struct raw_field prefix_rev[] = { { "name2", "" },
		{ "name", "" } };
	static const char *const bad_names[] = { "", "Name", "_x", "_",
		"a-b", "a.b", "a b", "na\xc3\xa9me", "_deleted2", "_Deleted",
		"_deleteD", longname };
	static const char *const good_names[] = { "a", "0", "a_b", "x9_",
		"deleted_", "_deleted", longname };
	static const char *const bad_keys[] = { "", "a b", "a/b", "a:b",
		"caf\xc3\xa9", "a\tb", longkey };
	static const char *const good_keys[] = { "a", "A-1", "x.y_z", "007",
		longkey };
	static const char *const bad_values[] = { "a\nb", "\x7f", "\xc3",
		"\xed\xa0\x80", longval };
	uint8_t buf[NUSA_PAYLOAD_MAX];
	struct raw_field one[1];
	struct payload p;
	size_t len;
	unsigned i;

	(void)state;
	memset(longval, 'v', NUSA_TEXT_MAX + 1);
	memset(longkey, 'k', NUSA_ID_MAX + 1);
	memset(longname, 'n', NUSA_NAME_MAX + 1);

	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1", 2, ok2), 0);
	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1", 2, prefix), 0);
	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1", 2, unsorted),
	    -NUSA_EMALFORMED);
	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1", 2, dup),
	    -NUSA_EMALFORMED);
	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1", 2, prefix_rev),
	    -NUSA_EMALFORMED);
	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1", 0, ok2),
	    -NUSA_EMALFORMED);

	/* Collections. */
	assert_int_equal(decode_raw_record(COLL_ACCOUNT, "a1", 2, ok2), 0);
	assert_int_equal(decode_raw_record(0, "m1", 2, ok2),
	    -NUSA_EMALFORMED);
	assert_int_equal(decode_raw_record(3, "m1", 2, ok2),
	    -NUSA_EMALFORMED);
	assert_int_equal(decode_raw_record(255, "m1", 2, ok2),
	    -NUSA_EMALFORMED);

	/* Field names: NUSA_NAME_MAX is fine, one more is not. */
	longname[NUSA_NAME_MAX] = '\0';
	one[0].value = "x";
	for (i = 0; i < sizeof(good_names) / sizeof(good_names[0]); i++) {
		one[0].name = good_names[i];
		if (decode_raw_record(COLL_MEMBER, "m1", 1, one) != 0)
			fail_msg("good field name %u rejected", i);
	}
	longname[NUSA_NAME_MAX] = 'n';
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		one[0].name = bad_names[i];
		if (decode_raw_record(COLL_MEMBER, "m1", 1, one) !=
		    -NUSA_EMALFORMED)
			fail_msg("bad field name %u accepted", i);
	}

	/* Record ids. */
	one[0].name = "name";
	longkey[NUSA_ID_MAX] = '\0';
	for (i = 0; i < sizeof(good_keys) / sizeof(good_keys[0]); i++)
		if (decode_raw_record(COLL_MEMBER, good_keys[i], 1, one) != 0)
			fail_msg("good id %u rejected", i);
	longkey[NUSA_ID_MAX] = 'k';
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++)
		if (decode_raw_record(COLL_MEMBER, bad_keys[i], 1, one) !=
		    -NUSA_EMALFORMED)
			fail_msg("bad id %u accepted", i);

	/* Values. */
	longval[NUSA_TEXT_MAX] = '\0';
	one[0].value = longval;
	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1", 1, one), 0);
	longval[NUSA_TEXT_MAX] = 'v';
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		one[0].value = bad_values[i];
		if (decode_raw_record(COLL_MEMBER, "m1", 1, one) !=
		    -NUSA_EMALFORMED)
			fail_msg("bad value %u accepted", i);
	}

	/* Field count: PAYLOAD_FIELDS_MAX sorted fields are fine. */
	for (i = 0; i <= PAYLOAD_FIELDS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "f%02u", i);
		f[i].name = names[i];
		f[i].value = "";
	}
	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1",
	    PAYLOAD_FIELDS_MAX, f), 0);
	assert_int_equal(decode_raw_record(COLL_MEMBER, "m1",
	    PAYLOAD_FIELDS_MAX + 1, f), -NUSA_EMALFORMED);
	/* A count of 255 with fewer fields behind it. */
	len = raw_record(buf, sizeof(buf), COLL_MEMBER, "m1",
	    PAYLOAD_FIELDS_MAX, f);
	buf[5] = 255;
	assert_int_equal(payload_decode(&p, KIND_RECORD, buf, len),
	    -NUSA_EMALFORMED);
	buf[5] = PAYLOAD_FIELDS_MAX;
	assert_int_equal(payload_decode(&p, KIND_RECORD, buf, len), 0);
}

static void
test_network_rejects(void **state)
{
	static char longname[NUSA_TEXT_MAX + 2];
	struct payload p = { .kind = KIND_NETWORK }, d;
	uint8_t buf[NUSA_TEXT_MAX + 8];
	struct codec_writer w;
	size_t len;

	(void)state;
	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_str(&w, "", 0);
	assert_int_equal(payload_decode(&d, KIND_NETWORK, buf, w.len),
	    -NUSA_EMALFORMED);
	p.u.network.name = S("");
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);

	memset(longname, 'K', NUSA_TEXT_MAX);
	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_str(&w, longname, NUSA_TEXT_MAX);
	assert_int_equal(payload_decode(&d, KIND_NETWORK, buf, w.len), 0);
	longname[NUSA_TEXT_MAX] = 'K';
	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_str(&w, longname, NUSA_TEXT_MAX + 1);
	assert_int_equal(payload_decode(&d, KIND_NETWORK, buf, w.len),
	    -NUSA_EMALFORMED);
	p.u.network.name = S(longname);
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);

	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_str(&w, "Kop\x00", 4);
	assert_int_equal(payload_decode(&d, KIND_NETWORK, buf, w.len),
	    -NUSA_EMALFORMED);
	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_str(&w, "Kop\xc0\x80", 5);
	assert_int_equal(payload_decode(&d, KIND_NETWORK, buf, w.len),
	    -NUSA_EMALFORMED);
}

static void
test_cert_rejects(void **state)
{
	static const uint8_t bad_roles[] = { ROLE_NONE, ROLE_ROOT, 5, 0x80,
		255 };
	struct payload p = { .kind = KIND_CERT }, d;
	uint8_t buf[NUSA_KEY_LEN + 1];
	size_t len, i;

	(void)state;
	memset(buf, 7, sizeof(buf));
	buf[NUSA_KEY_LEN] = ROLE_CLERK;
	assert_int_equal(payload_decode(&d, KIND_CERT, buf, sizeof(buf)), 0);
	for (i = 0; i < sizeof(bad_roles); i++) {
		buf[NUSA_KEY_LEN] = bad_roles[i];
		assert_int_equal(payload_decode(&d, KIND_CERT, buf,
		    sizeof(buf)), -NUSA_EMALFORMED);
		p.u.cert.role = bad_roles[i];
		assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
		    -NUSA_EMALFORMED);
	}
}

static void
test_posting_roundtrip(void **state)
{
	static const struct {
		uint8_t type;
		uint8_t nlegs;
		int64_t a0, a1;
		int reverse;
	} cases[] = {
		{ POST_DEPOSIT, 1, 150000, 0, 0 },
		{ POST_DEPOSIT, 1, NUSA_AMOUNT_MAX, 0, 0 },
		{ POST_WITHDRAW, 1, -25000, 0, 0 },
		{ POST_WITHDRAW, 1, -NUSA_AMOUNT_MAX, 0, 0 },
		{ POST_TRANSFER, 2, -5000, 5000, 0 },
		{ POST_TRANSFER, 2, -NUSA_AMOUNT_MAX, NUSA_AMOUNT_MAX, 0 },
		{ POST_DISBURSE, 1, 2000000, 0, 0 },
		{ POST_REPAY, 1, -1, 0, 0 },
		{ POST_REVERSE, 1, -150000, 0, 1 },
		{ POST_REVERSE, 1, 25000, 0, 1 },
		{ POST_REVERSE, 2, -5000, 5000, 1 },
		{ POST_REVERSE, 2, 5000, -5000, 1 },
	};
	struct payload p, d;
	uint8_t buf[256], buf2[256];
	size_t len, len2, i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.kind = KIND_POSTING;
		p.u.posting.type = cases[i].type;
		if (cases[i].reverse)
			memcpy(p.u.posting.ref, ref1, NUSA_HASH_LEN);
		p.u.posting.date = 20240229;
		p.u.posting.memo = S(i % 2 ? "setoran bulan Februari" : "");
		p.u.posting.nlegs = cases[i].nlegs;
		p.u.posting.legs[0].account = S("sim-001");
		p.u.posting.legs[0].amount = cases[i].a0;
		p.u.posting.legs[1].account = S("sim-002");
		p.u.posting.legs[1].amount = cases[i].a1;
		len = must_encode(&p, buf, sizeof(buf));
		if (payload_decode(&d, KIND_POSTING, buf, len) != 0)
			fail_msg("case %zu does not decode", i);
		assert_int_equal(d.u.posting.type, cases[i].type);
		assert_memory_equal(d.u.posting.ref,
		    cases[i].reverse ? ref1 : zero, NUSA_HASH_LEN);
		assert_int_equal(d.u.posting.date, 20240229);
		assert_int_equal(d.u.posting.memo.n, p.u.posting.memo.n);
		assert_memory_equal(d.u.posting.memo.p, p.u.posting.memo.p,
		    p.u.posting.memo.n);
		assert_int_equal(d.u.posting.nlegs, cases[i].nlegs);
		assert_true(str_is(&d.u.posting.legs[0].account, "sim-001"));
		assert_true(d.u.posting.legs[0].amount == cases[i].a0);
		if (cases[i].nlegs == 2) {
			assert_true(str_is(&d.u.posting.legs[1].account,
			    "sim-002"));
			assert_true(d.u.posting.legs[1].amount == cases[i].a1);
		}
		len2 = must_encode(&d, buf2, sizeof(buf2));
		assert_int_equal(len2, len);
		assert_memory_equal(buf2, buf, len);
	}

	/* The layout, byte for byte, of one deposit. */
	{
		static const uint8_t want[] = {
			POST_DEPOSIT,
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0x01, 0x34, 0xd6, 0xe5,		/* 20240101 */
			0, 2, 'h', 'i',
			1,
			0, 2, 'a', '1', 0, 0, 0, 0, 0, 0, 0x27, 0x10,
		};

		memset(&p, 0, sizeof(p));
		p.kind = KIND_POSTING;
		p.u.posting.type = POST_DEPOSIT;
		p.u.posting.date = 20240101;
		p.u.posting.memo = S("hi");
		p.u.posting.nlegs = 1;
		p.u.posting.legs[0].account = S("a1");
		p.u.posting.legs[0].amount = 10000;
		len = must_encode(&p, buf, sizeof(buf));
		assert_int_equal(len, sizeof(want));
		assert_memory_equal(buf, want, sizeof(want));

		/* No memo at all encodes as an empty one. */
		p.u.posting.memo = S("");
		len = must_encode(&p, buf, sizeof(buf));
		p.u.posting.memo = (struct payload_str){ NULL, 0 };
		len2 = must_encode(&p, buf2, sizeof(buf2));
		assert_int_equal(len2, len);
		assert_memory_equal(buf2, buf, len);
	}
}

static struct raw_posting
deposit(void)
{
	return (struct raw_posting){ .type = POST_DEPOSIT, .date = 20240101,
		.memo = "", .nlegs = 1, .acct = { "a1", "a2", "a3" },
		.amount = { 100, 0, 0 } };
}

static struct raw_posting
transfer(void)
{
	return (struct raw_posting){ .type = POST_TRANSFER, .date = 20240101,
		.memo = "", .nlegs = 2, .acct = { "a1", "a2", "a3" },
		.amount = { -100, 100, 0 } };
}

static void
test_posting_rejects(void **state)
{
	static const uint8_t bad_types[] = { 0, 7, 0x80, 255 };
	static char longmemo[NUSA_TEXT_MAX + 2];
	struct raw_posting rp;
	size_t i;

	(void)state;
	/* Positive controls first: the raw encoder is right. */
	rp = deposit();
	assert_int_equal(decode_raw_posting(&rp), 0);
	rp = transfer();
	assert_int_equal(decode_raw_posting(&rp), 0);

	/* Signs by type. */
	rp = deposit();
	rp.amount[0] = -100;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.type = POST_WITHDRAW;
	assert_int_equal(decode_raw_posting(&rp), 0);
	rp.amount[0] = 100;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.type = POST_REPAY;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.type = POST_DISBURSE;
	assert_int_equal(decode_raw_posting(&rp), 0);
	rp.amount[0] = -100;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);

	/* One-leg types with two legs, and transfers with one. */
	rp = transfer();
	rp.type = POST_DEPOSIT;
	rp.amount[0] = 100;
	rp.amount[1] = -100;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.type = POST_WITHDRAW;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.nlegs = 1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);

	/* Transfer legs: opposite amounts, debit first, two accounts. */
	rp = transfer();
	rp.amount[1] = 99;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.amount[1] = -100;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.amount[0] = 100;
	rp.amount[1] = -100;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.acct[1] = "a1";
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.amount[0] = INT64_MIN;
	rp.amount[1] = INT64_MIN;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);

	/* Leg counts. */
	rp = transfer();
	rp.nlegs = 0;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.type = POST_REVERSE;
	rp.ref = ref1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.nlegs = 3;
	rp.amount[2] = 5;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);

	/* References. */
	rp = deposit();
	rp.ref = ref1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.ref = ref1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.type = POST_REVERSE;
	assert_int_equal(decode_raw_posting(&rp), 0);
	rp.ref = zero;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = deposit();
	rp.type = POST_REVERSE;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);

	/* Types. */
	for (i = 0; i < sizeof(bad_types); i++) {
		rp = deposit();
		rp.type = bad_types[i];
		assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	}

	/* Amounts. */
	rp = deposit();
	rp.amount[0] = 0;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.amount[0] = NUSA_AMOUNT_MAX;
	assert_int_equal(decode_raw_posting(&rp), 0);
	rp.amount[0] = NUSA_AMOUNT_MAX + 1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.amount[0] = INT64_MAX;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.type = POST_WITHDRAW;
	rp.amount[0] = -NUSA_AMOUNT_MAX;
	assert_int_equal(decode_raw_posting(&rp), 0);
	rp.amount[0] = -NUSA_AMOUNT_MAX - 1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.amount[0] = INT64_MIN;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.amount[0] = 0;
	rp.amount[1] = 0;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	/* A reversal has no sign rule of its own, but no zero leg either. */
	rp.type = POST_REVERSE;
	rp.ref = ref1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.nlegs = 1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.amount[0] = 1;
	assert_int_equal(decode_raw_posting(&rp), 0);
	rp.amount[0] = NUSA_AMOUNT_MAX + 1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.amount[0] = -NUSA_AMOUNT_MAX - 1;
	rp.amount[1] = NUSA_AMOUNT_MAX + 1;
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);

	/* Accounts. */
	rp = deposit();
	rp.acct[0] = "";
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.acct[0] = "a 1";
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp = transfer();
	rp.acct[1] = "a/2";
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);

	/* Memos. */
	memset(longmemo, 'm', NUSA_TEXT_MAX);
	rp = deposit();
	rp.memo = longmemo;
	assert_int_equal(decode_raw_posting(&rp), 0);
	longmemo[NUSA_TEXT_MAX] = 'm';
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.memo = "line\nbreak";
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
	rp.memo = "\xe0\x80\x80";
	assert_int_equal(decode_raw_posting(&rp), -NUSA_EMALFORMED);
}

static void
test_posting_dates(void **state)
{
	static const uint32_t good[] = { 19700101, 20240229, 20000229,
		20231231, 20230131, 20230430, 99991231, 20230228 };
	static const uint32_t bad[] = { 20230229, 21000229, 19000229,
		20230431, 20230631, 20230931, 20231131, 20231301, 20230001,
		20230100, 20230132, 19691231, 0, 1, 100000101, 99999999,
		UINT32_MAX, 2024229, 202402290 };
	struct raw_posting rp;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_true(payload_date_ok(good[i]));
		rp = deposit();
		rp.date = good[i];
		if (decode_raw_posting(&rp) != 0)
			fail_msg("date %u rejected", (unsigned)good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(payload_date_ok(bad[i]));
		rp = deposit();
		rp.date = bad[i];
		if (decode_raw_posting(&rp) != -NUSA_EMALFORMED)
			fail_msg("date %u accepted", (unsigned)bad[i]);
	}
}

static void
test_encode_rejects(void **state)
{
	struct payload p = { .kind = KIND_POSTING };
	uint8_t buf[256];
	size_t len = 12345;

	(void)state;
	p.u.posting.type = POST_DEPOSIT;
	p.u.posting.date = 20240101;
	p.u.posting.memo = S("");
	p.u.posting.nlegs = 1;
	p.u.posting.legs[0].account = S("a1");
	p.u.posting.legs[0].amount = -1;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	p.u.posting.legs[0].amount = 1;
	p.u.posting.date = 20230229;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	p.u.posting.date = 20240101;
	p.u.posting.nlegs = 3;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	p.u.posting.nlegs = 1;
	assert_int_equal(len, 12345);

	/* Too small a buffer, at every size. */
	for (len = 0; len < 52; len++) {
		size_t out = 999;

		assert_int_equal(payload_encode(&p, buf, len, &out),
		    -NUSA_ERANGE);
		assert_int_equal(out, 999);
	}
	assert_int_equal(payload_encode(&p, buf, 52, &len), 0);
	assert_int_equal(len, 52);

	p.kind = 0;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
	p.kind = 6;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &len),
	    -NUSA_EMALFORMED);
}

/* Valid encodings of every kind, for the truncation and trailing-byte
 * tests. */
struct sample {
	uint8_t kind;
	uint8_t buf[256];
	size_t len;
};

static size_t
samples(struct sample *s)
{
	struct payload p;
	size_t n = 0;

	memset(&p, 0, sizeof(p));
	p.kind = KIND_NETWORK;
	p.u.network.name = S("Koperasi Maju");
	s[n].kind = p.kind;
	s[n].len = must_encode(&p, s[n].buf, sizeof(s[n].buf));
	n++;

	memset(&p, 0, sizeof(p));
	p.kind = KIND_CERT;
	memset(p.u.cert.device, 9, NUSA_KEY_LEN);
	p.u.cert.role = ROLE_CLERK;
	s[n].kind = p.kind;
	s[n].len = must_encode(&p, s[n].buf, sizeof(s[n].buf));
	n++;

	memset(&p, 0, sizeof(p));
	p.kind = KIND_REVOKE;
	memset(p.u.revoke.device, 9, NUSA_KEY_LEN);
	p.u.revoke.last_seq = 17;
	s[n].kind = p.kind;
	s[n].len = must_encode(&p, s[n].buf, sizeof(s[n].buf));
	n++;

	memset(&p, 0, sizeof(p));
	p.kind = KIND_RECORD;
	p.u.record.collection = COLL_ACCOUNT;
	p.u.record.key = S("sim-1");
	p.u.record.nfields = 3;
	p.u.record.fields[0].name = S("type");
	p.u.record.fields[0].value = S("sukarela");
	p.u.record.fields[1].name = S("member");
	p.u.record.fields[1].value = S("m1");
	p.u.record.fields[2].name = S("_deleted");
	p.u.record.fields[2].value = S("");
	s[n].kind = p.kind;
	s[n].len = must_encode(&p, s[n].buf, sizeof(s[n].buf));
	n++;

	memset(&p, 0, sizeof(p));
	p.kind = KIND_POSTING;
	p.u.posting.type = POST_REVERSE;
	memcpy(p.u.posting.ref, ref1, NUSA_HASH_LEN);
	p.u.posting.date = 20240315;
	p.u.posting.memo = S("koreksi");
	p.u.posting.nlegs = 2;
	p.u.posting.legs[0].account = S("b");
	p.u.posting.legs[0].amount = -7;
	p.u.posting.legs[1].account = S("a");
	p.u.posting.legs[1].amount = 7;
	s[n].kind = p.kind;
	s[n].len = must_encode(&p, s[n].buf, sizeof(s[n].buf));
	n++;
	return n;
}

static void
test_truncation_and_trailing(void **state)
{
	struct sample s[8];
	struct payload d;
	size_t n, i, len;

	(void)state;
	n = samples(s);
	for (i = 0; i < n; i++) {
		assert_int_equal(payload_decode(&d, s[i].kind, s[i].buf,
		    s[i].len), 0);
		for (len = 0; len < s[i].len; len++)
			if (payload_decode(&d, s[i].kind, s[i].buf, len) !=
			    -NUSA_EMALFORMED)
				fail_msg("kind %u accepted %zu of %zu bytes",
				    s[i].kind, len, s[i].len);
		s[i].buf[s[i].len] = 0;
		assert_int_equal(payload_decode(&d, s[i].kind, s[i].buf,
		    s[i].len + 1), -NUSA_EMALFORMED);
		s[i].buf[s[i].len] = 'x';
		assert_int_equal(payload_decode(&d, s[i].kind, s[i].buf,
		    s[i].len + 1), -NUSA_EMALFORMED);
	}
}

static void
test_kind_mismatch(void **state)
{
	static const uint8_t kinds[] = { 0, 6, 7, 0x80, 255 };
	struct sample s[8];
	struct payload d;
	size_t n, i, j;

	(void)state;
	n = samples(s);
	for (i = 0; i < n; i++) {
		for (j = 0; j < sizeof(kinds); j++)
			assert_int_equal(payload_decode(&d, kinds[j], s[i].buf,
			    s[i].len), -NUSA_EMALFORMED);
		/* None of the samples is valid as another kind. */
		for (j = 0; j < n; j++)
			if (j != i)
				assert_int_equal(payload_decode(&d, s[j].kind,
				    s[i].buf, s[i].len), -NUSA_EMALFORMED);
	}
	assert_int_equal(payload_decode(&d, KIND_CERT, NULL, 0),
	    -NUSA_EMALFORMED);
}

/* Sixteen fields of NUSA_TEXT_MAX bytes each are valid one by one but
 * too long together: a payload never exceeds NUSA_PAYLOAD_MAX. */
static void
test_too_long(void **state)
{
	static char longval[NUSA_TEXT_MAX + 1];
	static char names[PAYLOAD_FIELDS_MAX][8];
	static uint8_t buf[2 * NUSA_PAYLOAD_MAX + 4096];
	struct raw_field f[PAYLOAD_FIELDS_MAX];
	struct payload p = { .kind = KIND_RECORD }, d;
	size_t len, n;
	unsigned i;

	(void)state;
	memset(longval, 'v', NUSA_TEXT_MAX);
	for (i = 0; i < PAYLOAD_FIELDS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "f%02u", i);
		f[i].name = names[i];
		f[i].value = longval;
		p.u.record.fields[i].name = S(names[i]);
		p.u.record.fields[i].value = S(longval);
	}
	/* 7 fields: 3 + 2 + 2 + 7 * (2 + 3 + 2 + 512) = 3640 bytes. */
	len = raw_record(buf, sizeof(buf), COLL_MEMBER, "m1", 7, f);
	assert_true(len <= NUSA_PAYLOAD_MAX);
	assert_int_equal(payload_decode(&d, KIND_RECORD, buf, len), 0);
	len = raw_record(buf, sizeof(buf), COLL_MEMBER, "m1", 8, f);
	assert_true(len > NUSA_PAYLOAD_MAX);
	assert_int_equal(payload_decode(&d, KIND_RECORD, buf, len),
	    -NUSA_EMALFORMED);
	len = raw_record(buf, sizeof(buf), COLL_MEMBER, "m1",
	    PAYLOAD_FIELDS_MAX, f);
	assert_int_equal(payload_decode(&d, KIND_RECORD, buf, len),
	    -NUSA_EMALFORMED);

	p.u.record.collection = COLL_MEMBER;
	p.u.record.key = S("m1");
	p.u.record.nfields = 7;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &n), 0);
	assert_true(n <= NUSA_PAYLOAD_MAX);
	p.u.record.nfields = 8;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &n),
	    -NUSA_ERANGE);
	p.u.record.nfields = PAYLOAD_FIELDS_MAX;
	assert_int_equal(payload_encode(&p, buf, sizeof(buf), &n),
	    -NUSA_ERANGE);
}

static void
test_ids(void **state)
{
	static char id[NUSA_ID_MAX + 1];

	(void)state;
	memset(id, 'x', sizeof(id));
	assert_true(payload_id_ok("a", 1));
	assert_true(payload_id_ok("Az09._-", 7));
	assert_true(payload_id_ok(id, NUSA_ID_MAX));
	assert_false(payload_id_ok(id, NUSA_ID_MAX + 1));
	assert_false(payload_id_ok("", 0));
	assert_false(payload_id_ok("a b", 3));
	assert_false(payload_id_ok("a+b", 3));
	assert_false(payload_id_ok("a\0b", 3));
	assert_false(payload_id_ok("\xc3\xa9", 2));
	assert_true(payload_id_ok("ab!", 2));
}

/* The optional `by`: present only when set, one encoding, a valid name. */
static void
test_by(void **state)
{
	struct payload p, d;
	uint8_t buf[256], buf2[256], bad[300];
	size_t len, base, len2;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.kind = KIND_POSTING;
	p.u.posting.type = POST_DEPOSIT;
	p.u.posting.date = 20261123;
	p.u.posting.nlegs = 1;
	p.u.posting.legs[0].account = S("A1");
	p.u.posting.legs[0].amount = 5;
	base = must_encode(&p, buf, sizeof(buf));
	assert_int_equal(payload_decode(&d, KIND_POSTING, buf, base), 0);
	assert_int_equal(d.u.posting.by.n, 0);
	p.u.posting.by = S("siti.a_1-x");
	len = must_encode(&p, buf, sizeof(buf));
	assert_int_equal(len, base + 2 + 10);
	assert_int_equal(buf[base], 0);
	assert_int_equal(buf[base + 1], 10);
	assert_memory_equal(buf + base + 2, "siti.a_1-x", 10);
	assert_int_equal(payload_decode(&d, KIND_POSTING, buf, len), 0);
	assert_true(str_is(&d.u.posting.by, "siti.a_1-x"));
	len2 = must_encode(&d, buf2, sizeof(buf2));
	assert_int_equal(len2, len);
	assert_memory_equal(buf2, buf, len);

	/* An empty by is not the encoding of "nobody". */
	memcpy(bad, buf, base);
	bad[base] = 0;
	bad[base + 1] = 0;
	assert_int_equal(payload_decode(&d, KIND_POSTING, bad, base + 2),
	    -NUSA_EMALFORMED);
	/* A name with a blank, or too long, or trailing bytes after it. */
	memcpy(bad, buf, len);
	bad[base + 2 + 4] = ' ';
	assert_int_equal(payload_decode(&d, KIND_POSTING, bad, len),
	    -NUSA_EMALFORMED);
	memcpy(bad, buf, base);
	bad[base] = 0;
	bad[base + 1] = 33;
	memset(bad + base + 2, 'a', 33);
	assert_int_equal(payload_decode(&d, KIND_POSTING, bad, base + 35),
	    -NUSA_EMALFORMED);
	memcpy(bad, buf, len);
	bad[len] = 'x';
	assert_int_equal(payload_decode(&d, KIND_POSTING, bad, len + 1),
	    -NUSA_EMALFORMED);
	p.u.posting.by = S("no way");
	assert_int_equal(payload_encode(&p, buf2, sizeof(buf2), &len2),
	    -NUSA_EMALFORMED);

	/* Records carry it the same way. */
	memset(&p, 0, sizeof(p));
	p.kind = KIND_RECORD;
	p.u.record.collection = COLL_MEMBER;
	p.u.record.key = S("M1");
	p.u.record.nfields = 1;
	p.u.record.fields[0].name = S("name");
	p.u.record.fields[0].value = S("Siti");
	base = must_encode(&p, buf, sizeof(buf));
	p.u.record.by = S("admin");
	len = must_encode(&p, buf, sizeof(buf));
	assert_int_equal(len, base + 7);
	assert_int_equal(payload_decode(&d, KIND_RECORD, buf, len), 0);
	assert_true(str_is(&d.u.record.by, "admin"));
	assert_int_equal(payload_decode(&d, KIND_RECORD, buf, base + 2),
	    -NUSA_EMALFORMED);
	assert_true(payload_by_ok("a", 1));
	assert_false(payload_by_ok("", 0));
	assert_false(payload_by_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 33));
	assert_false(payload_by_ok("a/b", 3));
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(payload_kind_name(KIND_POSTING), "posting");
	assert_string_equal(payload_kind_name(KIND_NETWORK), "network");
	assert_string_equal(payload_kind_name(0), "?");
	assert_string_equal(payload_kind_name(200), "?");
	assert_string_equal(payload_role_name(ROLE_CLERK), "clerk");
	assert_string_equal(payload_role_name(ROLE_ROOT), "root");
	assert_string_equal(payload_role_name(9), "?");
	assert_string_equal(payload_posting_name(POST_REVERSE), "reverse");
	assert_string_equal(payload_posting_name(7), "?");
	assert_string_equal(payload_collection_name(COLL_ACCOUNT), "account");
	assert_string_equal(payload_collection_name(3), "?");
	assert_int_equal(payload_role_parse("admin"), ROLE_ADMIN);
	assert_int_equal(payload_role_parse("relay"), ROLE_RELAY);
	assert_int_equal(payload_role_parse("root"), 0);
	assert_int_equal(payload_role_parse("none"), 0);
	assert_int_equal(payload_role_parse(""), 0);
	assert_int_equal(payload_posting_parse("transfer"), POST_TRANSFER);
	assert_int_equal(payload_posting_parse("withdrawal"), POST_WITHDRAW);
	assert_int_equal(payload_posting_parse("?"), 0);
	assert_int_equal(payload_posting_parse("Deposit"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network_roundtrip),
		cmocka_unit_test(test_cert_roundtrip),
		cmocka_unit_test(test_revoke_roundtrip),
		cmocka_unit_test(test_record_roundtrip_sorted),
		cmocka_unit_test(test_record_limits),
		cmocka_unit_test(test_record_rejects),
		cmocka_unit_test(test_network_rejects),
		cmocka_unit_test(test_cert_rejects),
		cmocka_unit_test(test_posting_roundtrip),
		cmocka_unit_test(test_posting_rejects),
		cmocka_unit_test(test_posting_dates),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_truncation_and_trailing),
		cmocka_unit_test(test_kind_mismatch),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_by),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
