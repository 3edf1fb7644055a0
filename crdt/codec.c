#include "codec.h"

#include <string.h>

#include "nusa.h"

void
codec_writer_init(struct codec_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
}

void
codec_put_bytes(struct codec_writer *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (n > w->cap - w->len) {
		w->err = -NUSA_ERANGE;
		return;
	}
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void
codec_put_u8(struct codec_writer *w, uint8_t v)
{
	codec_put_bytes(w, &v, 1);
}

void
codec_put_u16(struct codec_writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	codec_put_bytes(w, b, 2);
}

void
codec_put_u32(struct codec_writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
		(uint8_t)(v >> 8), (uint8_t)v };

	codec_put_bytes(w, b, 4);
}

void
codec_be64(uint8_t out[8], uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t
codec_rd64(const uint8_t in[8])
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

void
codec_be32(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

uint32_t
codec_rd32(const uint8_t in[4])
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
	    (uint32_t)in[2] << 8 | in[3];
}

void
codec_be16(uint8_t out[2], uint16_t v)
{
	out[0] = (uint8_t)(v >> 8);
	out[1] = (uint8_t)v;
}

uint16_t
codec_rd16(const uint8_t in[2])
{
	return (uint16_t)(in[0] << 8 | in[1]);
}

void
codec_put_u64(struct codec_writer *w, uint64_t v)
{
	uint8_t b[8];

	codec_be64(b, v);
	codec_put_bytes(w, b, 8);
}

void
codec_put_str(struct codec_writer *w, const char *s, size_t n)
{
	if (n > 0xffff) {
		if (!w->err)
			w->err = -NUSA_ERANGE;
		return;
	}
	codec_put_u16(w, (uint16_t)n);
	codec_put_bytes(w, s, n);
}

void
codec_reader_init(struct codec_reader *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->err = 0;
}

const uint8_t *
codec_get_bytes(struct codec_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err)
		return NULL;
	if (n > r->len - r->pos) {
		r->err = -NUSA_EMALFORMED;
		return NULL;
	}
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

uint8_t
codec_get_u8(struct codec_reader *r)
{
	const uint8_t *p = codec_get_bytes(r, 1);

	return p ? p[0] : 0;
}

uint16_t
codec_get_u16(struct codec_reader *r)
{
	const uint8_t *p = codec_get_bytes(r, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t
codec_get_u32(struct codec_reader *r)
{
	const uint8_t *p = codec_get_bytes(r, 4);

	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3] : 0;
}

uint64_t
codec_get_u64(struct codec_reader *r)
{
	const uint8_t *p = codec_get_bytes(r, 8);

	return p ? codec_rd64(p) : 0;
}

int
codec_text_ok(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, k, need;
	uint32_t cp;

	while (i < n) {
		unsigned char c = s[i];

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (need > n - i - 1)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* No overlong forms, surrogates, or values past U+10FFFF. */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += need + 1;
	}
	return 1;
}

void
codec_get_str(struct codec_reader *r, const char **s, size_t *n, size_t max)
{
	uint16_t len = codec_get_u16(r);
	const uint8_t *p;

	*s = "";
	*n = 0;
	if (r->err)
		return;
	if (len > max) {
		r->err = -NUSA_EMALFORMED;
		return;
	}
	p = codec_get_bytes(r, len);
	if (p == NULL)
		return;
	if (!codec_text_ok((const char *)p, len)) {
		r->err = -NUSA_EMALFORMED;
		return;
	}
	*s = (const char *)p;
	*n = len;
}

int
codec_reader_end(const struct codec_reader *r)
{
	if (r->err)
		return r->err;
	return r->pos == r->len ? 0 : -NUSA_EMALFORMED;
}

size_t
codec_text_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	/* s[max] is the first byte left out: while it continues a
	 * character, that character started inside what is kept. */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}
