#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "nusa.h"

static void
test_roundtrip(void **state)
{
	static const uint8_t want[] = { 0xab, 0x12, 0x34, 0xde, 0xad, 0xbe,
		0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 'x', 'y',
		0x00, 0x05, 'h', 'a', 'l', 'o', '!', 0x00, 0x00 };
	uint8_t buf[64];
	struct codec_writer w;
	struct codec_reader r;
	const uint8_t *p;
	const char *s;
	size_t n;

	(void)state;
	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_u8(&w, 0xab);
	codec_put_u16(&w, 0x1234);
	codec_put_u32(&w, 0xdeadbeef);
	codec_put_u64(&w, 0x0102030405060708);
	codec_put_bytes(&w, "xy", 2);
	codec_put_str(&w, "halo!", 5);
	codec_put_str(&w, "", 0);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	codec_reader_init(&r, buf, w.len);
	assert_int_equal(codec_get_u8(&r), 0xab);
	assert_int_equal(codec_get_u16(&r), 0x1234);
	assert_int_equal(codec_get_u32(&r), 0xdeadbeef);
	assert_true(codec_get_u64(&r) == 0x0102030405060708);
	p = codec_get_bytes(&r, 2);
	assert_ptr_equal(p, buf + 15);
	codec_get_str(&r, &s, &n, 16);
	assert_int_equal(n, 5);
	assert_memory_equal(s, "halo!", 5);
	assert_ptr_equal(s, (const char *)buf + 19);
	codec_get_str(&r, &s, &n, 16);
	assert_int_equal(n, 0);
	assert_int_equal(r.err, 0);
	assert_int_equal(codec_reader_end(&r), 0);
}

static void
test_extremes(void **state)
{
	uint8_t buf[32];
	struct codec_writer w;
	struct codec_reader r;

	(void)state;
	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_u16(&w, 0xffff);
	codec_put_u32(&w, 0xffffffff);
	codec_put_u64(&w, UINT64_MAX);
	codec_put_u64(&w, 0);
	codec_put_u8(&w, 0);
	assert_int_equal(w.err, 0);
	codec_reader_init(&r, buf, w.len);
	assert_int_equal(codec_get_u16(&r), 0xffff);
	assert_true(codec_get_u32(&r) == 0xffffffff);
	assert_true(codec_get_u64(&r) == UINT64_MAX);
	assert_true(codec_get_u64(&r) == 0);
	assert_int_equal(codec_get_u8(&r), 0);
	assert_int_equal(codec_reader_end(&r), 0);
}

static void
test_be64(void **state)
{
	static const uint64_t vals[] = { 0, 1, 0xff, 0x100,
		0x8000000000000000, 0x0123456789abcdef, UINT64_MAX };
	uint8_t b[8];
	size_t i;

	(void)state;
	codec_be64(b, 0x0123456789abcdef);
	assert_memory_equal(b, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		codec_be64(b, vals[i]);
		assert_true(codec_rd64(b) == vals[i]);
	}
}

static void
test_writer_overflow(void **state)
{
	uint8_t buf[8];
	struct codec_writer w;

	(void)state;
	memset(buf, 0x55, sizeof(buf));
	codec_writer_init(&w, buf, 3);
	codec_put_u16(&w, 0x0102);
	assert_int_equal(w.err, 0);
	codec_put_u16(&w, 0x0304);	/* 1 byte left: does not fit */
	assert_int_equal(w.err, -NUSA_ERANGE);
	assert_int_equal(w.len, 2);
	assert_int_equal(buf[2], 0x55);	/* no partial write */
	codec_put_u8(&w, 0x09);	/* would fit, but the error sticks */
	assert_int_equal(w.err, -NUSA_ERANGE);
	assert_int_equal(w.len, 2);
	assert_int_equal(buf[2], 0x55);

	/* An exact fit is not an overflow. */
	codec_writer_init(&w, buf, 8);
	codec_put_u64(&w, 1);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, 8);
	codec_put_bytes(&w, "", 0);
	assert_int_equal(w.err, 0);
	codec_put_u8(&w, 1);
	assert_int_equal(w.err, -NUSA_ERANGE);

	codec_writer_init(&w, NULL, 0);
	codec_put_bytes(&w, NULL, 0);
	assert_int_equal(w.err, 0);
	codec_put_u32(&w, 1);
	assert_int_equal(w.err, -NUSA_ERANGE);
	assert_int_equal(w.len, 0);
}

static void
test_put_str_too_long(void **state)
{
	static uint8_t buf[0x10010];
	static char big[0x10001];
	struct codec_writer w;

	(void)state;
	memset(big, 'a', sizeof(big));
	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_str(&w, big, 0x10000);
	assert_int_equal(w.err, -NUSA_ERANGE);
	assert_int_equal(w.len, 0);

	codec_writer_init(&w, buf, sizeof(buf));
	codec_put_str(&w, big, 0xffff);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.len, 2 + 0xffff);
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xff);

	/* A string that does not fit leaves the error, not a length. */
	codec_writer_init(&w, buf, 4);
	codec_put_str(&w, "abc", 3);
	assert_int_equal(w.err, -NUSA_ERANGE);
}

static void
test_reader_past_end(void **state)
{
	static const uint8_t buf[] = { 1, 2, 3 };
	struct codec_reader r;

	(void)state;
	codec_reader_init(&r, buf, sizeof(buf));
	assert_int_equal(codec_get_u16(&r), 0x0102);
	assert_int_equal(codec_get_u16(&r), 0);
	assert_int_equal(r.err, -NUSA_EMALFORMED);
	assert_int_equal(r.pos, 2);
	/* One byte remains, but the error is sticky. */
	assert_int_equal(codec_get_u8(&r), 0);
	assert_null(codec_get_bytes(&r, 1));
	assert_null(codec_get_bytes(&r, 0));
	assert_int_equal(r.pos, 2);
	assert_int_equal(codec_reader_end(&r), -NUSA_EMALFORMED);

	codec_reader_init(&r, buf, sizeof(buf));
	assert_true(codec_get_u32(&r) == 0);
	assert_int_equal(r.err, -NUSA_EMALFORMED);
	codec_reader_init(&r, buf, sizeof(buf));
	assert_true(codec_get_u64(&r) == 0);
	assert_int_equal(r.err, -NUSA_EMALFORMED);
	codec_reader_init(&r, buf, sizeof(buf));
	assert_null(codec_get_bytes(&r, 4));
	assert_int_equal(codec_reader_end(&r), -NUSA_EMALFORMED);
	codec_reader_init(&r, buf, sizeof(buf));
	assert_null(codec_get_bytes(&r, SIZE_MAX));
	assert_int_equal(r.err, -NUSA_EMALFORMED);

	codec_reader_init(&r, NULL, 0);
	assert_int_equal(codec_reader_end(&r), 0);
	assert_int_equal(codec_get_u8(&r), 0);
	assert_int_equal(codec_reader_end(&r), -NUSA_EMALFORMED);
}

static void
test_reader_end_trailing(void **state)
{
	static const uint8_t buf[] = { 1, 2, 3 };
	struct codec_reader r;

	(void)state;
	codec_reader_init(&r, buf, sizeof(buf));
	codec_get_u16(&r);
	assert_int_equal(r.err, 0);
	assert_int_equal(codec_reader_end(&r), -NUSA_EMALFORMED);
	codec_get_u8(&r);
	assert_int_equal(codec_reader_end(&r), 0);
}

static void
test_get_str(void **state)
{
	static const uint8_t ok[] = { 0, 3, 'a', 'b', 'c' };
	static const uint8_t nul[] = { 0, 3, 'a', 0, 'c' };
	static const uint8_t bad_utf8[] = { 0, 2, 0xc3, 0x28 };
	static const uint8_t short_body[] = { 0, 4, 'a', 'b', 'c' };
	static const uint8_t short_len[] = { 0 };
	struct codec_reader r;
	const char *s;
	size_t n;

	(void)state;
	codec_reader_init(&r, ok, sizeof(ok));
	codec_get_str(&r, &s, &n, 3);
	assert_int_equal(codec_reader_end(&r), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "abc", 3);

	codec_reader_init(&r, ok, sizeof(ok));
	codec_get_str(&r, &s, &n, 2);	/* longer than max */
	assert_int_equal(r.err, -NUSA_EMALFORMED);
	assert_int_equal(n, 0);
	assert_string_equal(s, "");

	codec_reader_init(&r, nul, sizeof(nul));
	codec_get_str(&r, &s, &n, 16);
	assert_int_equal(r.err, -NUSA_EMALFORMED);
	assert_int_equal(n, 0);

	codec_reader_init(&r, bad_utf8, sizeof(bad_utf8));
	codec_get_str(&r, &s, &n, 16);
	assert_int_equal(r.err, -NUSA_EMALFORMED);
	assert_int_equal(n, 0);

	codec_reader_init(&r, short_body, sizeof(short_body));
	codec_get_str(&r, &s, &n, 16);
	assert_int_equal(r.err, -NUSA_EMALFORMED);
	assert_int_equal(n, 0);

	codec_reader_init(&r, short_len, sizeof(short_len));
	codec_get_str(&r, &s, &n, 16);
	assert_int_equal(r.err, -NUSA_EMALFORMED);
	assert_int_equal(n, 0);
	assert_non_null(s);
}

struct text_case {
	const char *s;
	size_t n;
	int ok;
};

#define T(lit, ok) { lit, sizeof(lit) - 1, ok }

static const struct text_case text_cases[] = {
	T("", 1),
	T("Koperasi Simpan Pinjam", 1),
	T("a\tb", 1),			/* tab is allowed */
	T("~", 1),
	T("\xc2\x80", 1),		/* U+0080, smallest 2-byte */
	T("\xc3\xa9", 1),		/* U+00E9 */
	T("\xdf\xbf", 1),		/* U+07FF */
	T("\xe0\xa0\x80", 1),		/* U+0800, smallest 3-byte */
	T("\xe2\x82\xac", 1),		/* U+20AC euro sign */
	T("\xed\x9f\xbf", 1),		/* U+D7FF, below surrogates */
	T("\xee\x80\x80", 1),		/* U+E000, above surrogates */
	T("\xef\xbf\xbf", 1),		/* U+FFFF */
	T("\xf0\x90\x80\x80", 1),	/* U+10000, smallest 4-byte */
	T("\xf0\x9f\x98\x80", 1),	/* U+1F600 */
	T("\xf4\x8f\xbf\xbf", 1),	/* U+10FFFF, the last */
	T("Rp 1.000 \xe2\x80\x94 lunas", 1),
	/* Overlong forms. */
	T("\xc0\x80", 0),
	T("\xc0\xaf", 0),
	T("\xc1\xbf", 0),
	T("\xe0\x80\x80", 0),
	T("\xe0\x9f\xbf", 0),
	T("\xf0\x80\x80\x80", 0),
	T("\xf0\x8f\xbf\xbf", 0),
	/* Surrogates. */
	T("\xed\xa0\x80", 0),
	T("\xed\xad\xbf", 0),
	T("\xed\xbf\xbf", 0),
	T("\xed\xa0\xbd\xed\xb8\x80", 0),	/* CESU-8 pair */
	/* Past U+10FFFF. */
	T("\xf4\x90\x80\x80", 0),
	T("\xf5\x80\x80\x80", 0),
	T("\xf7\xbf\xbf\xbf", 0),
	T("\xf8\x88\x80\x80\x80", 0),
	T("\xfe", 0),
	T("\xff", 0),
	/* Broken sequences. */
	T("\x80", 0),
	T("a\xbf", 0),
	T("\xc3", 0),
	T("\xc3\x28", 0),
	T("\xc3\xc3\xa9", 0),
	T("\xe2\x82", 0),
	T("\xe2\x28\xac", 0),
	T("\xe2\x82\x28", 0),
	T("\xf0\x9f\x98", 0),
	T("\xf0\x9f\x98\x28", 0),
	T("ok\xe2", 0),
	/* Control characters other than tab, and DEL. */
	T("\x01", 0),
	T("a\nb", 0),
	T("a\rb", 0),
	T("\x1b[0m", 0),
	T("\x1f", 0),
	T("\x7f", 0),
	/* NUL. */
	T("a\0b", 0),
	T("\0", 0),
};

static void
test_text_ok(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		const struct text_case *c = &text_cases[i];

		if (codec_text_ok(c->s, c->n) != c->ok)
			fail_msg("case %zu: codec_text_ok() = %d, want %d", i,
			    !c->ok, c->ok);
	}
	/* Only n bytes count: what follows is not looked at. */
	assert_true(codec_text_ok("abc\x01", 3));
	assert_true(codec_text_ok("\xc3\xa9\xff", 2));
	/* A sequence cut by n is incomplete, however the buffer goes on. */
	assert_false(codec_text_ok("\xc3\xa9", 1));
	assert_false(codec_text_ok("\xe2\x82\xac", 2));
	assert_true(codec_text_ok(NULL, 0));
}

static void
test_text_cut(void **state)
{
	const char *s = "ab\xc3\xa9\xe2\x82\xac";	/* a b e-acute euro */
	size_t max;

	(void)state;
	assert_int_equal(codec_text_cut(s, 7, 7), 7);
	assert_int_equal(codec_text_cut(s, 7, 9), 7);
	assert_int_equal(codec_text_cut(s, 7, 6), 4);	/* not in the euro */
	assert_int_equal(codec_text_cut(s, 7, 5), 4);
	assert_int_equal(codec_text_cut(s, 7, 4), 4);
	assert_int_equal(codec_text_cut(s, 7, 3), 2);	/* nor the e-acute */
	assert_int_equal(codec_text_cut(s, 7, 2), 2);
	assert_int_equal(codec_text_cut(s, 7, 0), 0);
	assert_int_equal(codec_text_cut("\xe2\x82\xac", 3, 2), 0);
	for (max = 0; max <= 7; max++)
		assert_true(codec_text_ok(s, codec_text_cut(s, 7, max)));
}

/* A plain decoder written from RFC 3629 to compare codec_text_ok() with,
 * plus the rule on control characters. */
static int
ref_text_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t need, k;

		if (s[i] < 0x80) {
			if (s[i] == 0x7f || (s[i] < 0x20 && s[i] != '\t'))
				return 0;
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0)
			need = 1, cp = s[i] & 0x1fu;
		else if ((s[i] & 0xf0) == 0xe0)
			need = 2, cp = s[i] & 0x0fu;
		else if ((s[i] & 0xf8) == 0xf0)
			need = 3, cp = s[i] & 0x07u;
		else
			return 0;
		if (i + need >= n)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if (cp < (need == 1 ? 0x80u : need == 2 ? 0x800u : 0x10000u))
			return 0;
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

static void
test_text_ok_exhaustive(void **state)
{
	uint8_t s[4];
	uint32_t v;

	(void)state;
	for (v = 0; v < 1u << 24; v++) {
		s[0] = (uint8_t)(v >> 16);
		s[1] = (uint8_t)(v >> 8);
		s[2] = (uint8_t)v;
		if (codec_text_ok((const char *)s, 3) != ref_text_ok(s, 3))
			fail_msg("3 bytes %06x", (unsigned)v);
		if (v < 1u << 16 && codec_text_ok((const char *)s + 1, 2) !=
		    ref_text_ok(s + 1, 2))
			fail_msg("2 bytes %04x", (unsigned)v & 0xffff);
	}
	/* 4-byte strings: every lead from 0xe0 and second byte, with
	 * continuation bytes at and around their limits. */
	for (v = 0; v < 32 * 256 * 16; v++) {
		static const uint8_t cont[] = { 0x7f, 0x80, 0xbf, 0xc0 };

		s[0] = (uint8_t)(0xe0 + v / (256 * 16));
		s[1] = (uint8_t)(v / 16 % 256);
		s[2] = cont[v / 4 % 4];
		s[3] = cont[v % 4];
		if (codec_text_ok((const char *)s, 4) != ref_text_ok(s, 4))
			fail_msg("4 bytes %02x%02x%02x%02x", s[0], s[1], s[2],
			    s[3]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_extremes),
		cmocka_unit_test(test_be64),
		cmocka_unit_test(test_writer_overflow),
		cmocka_unit_test(test_put_str_too_long),
		cmocka_unit_test(test_reader_past_end),
		cmocka_unit_test(test_reader_end_trailing),
		cmocka_unit_test(test_get_str),
		cmocka_unit_test(test_text_ok),
		cmocka_unit_test(test_text_cut),
		cmocka_unit_test(test_text_ok_exhaustive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
