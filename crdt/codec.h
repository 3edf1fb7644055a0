/* Canonical big-endian encoding used by entries, payloads and bundles.
 * Integers have fixed widths and strings a u16 length, so every value has
 * exactly one encoding. Readers and writers keep a sticky error: check
 * codec_*_error() once at the end instead of after every call. */
#ifndef NUSA_CODEC_H
#define NUSA_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct codec_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;	/* 0 or -NUSA_ERANGE once buf was too small */
};

struct codec_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	int err;	/* 0 or -NUSA_EMALFORMED once a read ran past len */
};

/* Sets up w to write into buf of cap bytes; w does not own buf. */
void codec_writer_init(struct codec_writer *w, uint8_t *buf, size_t cap);
void codec_put_u8(struct codec_writer *w, uint8_t v);
void codec_put_u16(struct codec_writer *w, uint16_t v);
void codec_put_u32(struct codec_writer *w, uint32_t v);
void codec_put_u64(struct codec_writer *w, uint64_t v);
void codec_put_bytes(struct codec_writer *w, const void *p, size_t n);
/* Writes a u16 length and n bytes; sets -NUSA_ERANGE if n > 0xffff. */
void codec_put_str(struct codec_writer *w, const char *s, size_t n);

/* Sets up r to read len bytes of buf; r does not own buf. */
void codec_reader_init(struct codec_reader *r, const uint8_t *buf,
    size_t len);
uint8_t codec_get_u8(struct codec_reader *r);
uint16_t codec_get_u16(struct codec_reader *r);
uint32_t codec_get_u32(struct codec_reader *r);
uint64_t codec_get_u64(struct codec_reader *r);
/* Returns a pointer to the next n bytes of the input, or NULL (and sets
 * the error) if fewer remain. */
const uint8_t *codec_get_bytes(struct codec_reader *r, size_t n);
/* Reads a u16-length string of at most max bytes that contains no NUL and
 * is valid UTF-8. *s points into the input; *n is its length. */
void codec_get_str(struct codec_reader *r, const char **s, size_t *n,
    size_t max);
/* Returns the sticky error, or -NUSA_EMALFORMED if input remains. */
int codec_reader_end(const struct codec_reader *r);

/* Big-endian helpers for LMDB keys and fixed headers. */
void codec_be64(uint8_t out[8], uint64_t v);
uint64_t codec_rd64(const uint8_t in[8]);
void codec_be32(uint8_t out[4], uint32_t v);
uint32_t codec_rd32(const uint8_t in[4]);
void codec_be16(uint8_t out[2], uint16_t v);
uint16_t codec_rd16(const uint8_t in[2]);

/* Returns 1 if the n bytes at s are valid UTF-8 without NUL or other C0
 * control characters except tab, else 0. */
int codec_text_ok(const char *s, size_t n);

/* The length of the longest start of the n bytes at s, at most max, that
 * does not end inside a UTF-8 character: where text valid by
 * codec_text_ok() may be cut and stay valid. */
size_t codec_text_cut(const char *s, size_t n, size_t max);

#endif
