#include "payload.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"

static const uint8_t zero_hash[NUSA_HASH_LEN];

int
payload_id_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > NUSA_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return 0;
	}
	return 1;
}

int
payload_by_ok(const char *s, size_t n)
{
	return n <= PAYLOAD_BY_MAX && payload_id_ok(s, n);
}

/* The optional `by` of records and postings: absent (n 0) or a valid web
 * user name, so that there is one encoding of "nobody" (no bytes). */
static int
by_ok(const struct payload_str *by)
{
	return by->n == 0 || payload_by_ok(by->p, by->n);
}

static int field_name_ok(const struct payload_str *s);

int
payload_field_name_ok(const char *p, size_t n)
{
	struct payload_str s = { .p = p, .n = n };

	return field_name_ok(&s);
}

static int
field_name_ok(const struct payload_str *s)
{
	size_t i;

	if (s->n == 0 || s->n > NUSA_NAME_MAX)
		return 0;
	if (s->n == strlen(RECORD_DELETED) &&
	    memcmp(s->p, RECORD_DELETED, s->n) == 0)
		return 1;
	for (i = 0; i < s->n; i++) {
		char c = s->p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c == '_' && i > 0)))
			return 0;
	}
	return 1;
}

int
payload_date_ok(uint32_t d)
{
	static const uint8_t mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
		31, 30, 31 };
	uint32_t y = d / 10000, m = d / 100 % 100, day = d % 100;

	if (y < 1970 || y > 9999 || m < 1 || m > 12 || day < 1)
		return 0;
	if (m == 2 && day == 29)
		return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return day <= mdays[m - 1];
}

static int
str_cmp(const struct payload_str *a, const struct payload_str *b)
{
	size_t n = a->n < b->n ? a->n : b->n;
	/* The encoder sorts before it checks: an empty string may be NULL. */
	int c = n ? memcmp(a->p, b->p, n) : 0;

	if (c)
		return c;
	return (a->n > b->n) - (a->n < b->n);
}

static int
amount_ok(int64_t a)
{
	return a != 0 && a >= -NUSA_AMOUNT_MAX && a <= NUSA_AMOUNT_MAX;
}

static int
str_eq(const struct payload_str *a, const struct payload_str *b)
{
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/* The rules shared by the encoder and the decoder. */
static int
payload_check(const struct payload *p)
{
	const struct payload_leg *l;
	unsigned i;

	switch (p->kind) {
	case KIND_NETWORK:
		if (p->u.network.name.n == 0 ||
		    p->u.network.name.n > NUSA_TEXT_MAX ||
		    !codec_text_ok(p->u.network.name.p, p->u.network.name.n))
			return -NUSA_EMALFORMED;
		return 0;
	case KIND_CERT:
		if (p->u.cert.role < ROLE_ADMIN || p->u.cert.role > ROLE_RELAY)
			return -NUSA_EMALFORMED;
		return 0;
	case KIND_REVOKE:
		return 0;
	case KIND_RECORD:
		if ((p->u.record.collection != COLL_MEMBER &&
		    p->u.record.collection != COLL_ACCOUNT) ||
		    !payload_id_ok(p->u.record.key.p, p->u.record.key.n) ||
		    p->u.record.nfields == 0 ||
		    p->u.record.nfields > PAYLOAD_FIELDS_MAX ||
		    !by_ok(&p->u.record.by))
			return -NUSA_EMALFORMED;
		for (i = 0; i < p->u.record.nfields; i++) {
			const struct payload_field *f = &p->u.record.fields[i];

			if (!field_name_ok(&f->name) ||
			    f->value.n > NUSA_TEXT_MAX ||
			    !codec_text_ok(f->value.p, f->value.n))
				return -NUSA_EMALFORMED;
			if (i > 0 && str_cmp(&p->u.record.fields[i - 1].name,
			    &f->name) >= 0)
				return -NUSA_EMALFORMED;
		}
		return 0;
	case KIND_POSTING:
		break;
	default:
		return -NUSA_EVERSION;
	}

	l = p->u.posting.legs;
	if (!payload_date_ok(p->u.posting.date) ||
	    p->u.posting.memo.n > NUSA_TEXT_MAX ||
	    !codec_text_ok(p->u.posting.memo.p, p->u.posting.memo.n) ||
	    p->u.posting.nlegs < 1 || p->u.posting.nlegs > 2 ||
	    !by_ok(&p->u.posting.by))
		return -NUSA_EMALFORMED;
	for (i = 0; i < p->u.posting.nlegs; i++)
		if (!payload_id_ok(l[i].account.p, l[i].account.n) ||
		    !amount_ok(l[i].amount))
			return -NUSA_EMALFORMED;
	if (p->u.posting.nlegs == 2 && (l[0].amount != -l[1].amount ||
	    str_eq(&l[0].account, &l[1].account)))
		return -NUSA_EMALFORMED;
	if ((p->u.posting.type == POST_REVERSE) !=
	    (memcmp(p->u.posting.ref, zero_hash, NUSA_HASH_LEN) != 0))
		return -NUSA_EMALFORMED;

	switch (p->u.posting.type) {
	case POST_DEPOSIT:
	case POST_DISBURSE:
		return p->u.posting.nlegs == 1 && l[0].amount > 0 ? 0 :
			-NUSA_EMALFORMED;
	case POST_WITHDRAW:
	case POST_REPAY:
		return p->u.posting.nlegs == 1 && l[0].amount < 0 ? 0 :
			-NUSA_EMALFORMED;
	case POST_TRANSFER:
		return p->u.posting.nlegs == 2 && l[0].amount < 0 ? 0 :
			-NUSA_EMALFORMED;
	case POST_REVERSE:
		return 0;
	default:
		return -NUSA_EMALFORMED;
	}
}

static int
field_cmp(const void *a, const void *b)
{
	return str_cmp(&((const struct payload_field *)a)->name,
	    &((const struct payload_field *)b)->name);
}

int
payload_encode(struct payload *p, uint8_t *buf, size_t cap, size_t *len)
{
	struct codec_writer w;
	unsigned i;
	int rc;

	if (p->kind == KIND_RECORD && p->u.record.nfields <= PAYLOAD_FIELDS_MAX)
		qsort(p->u.record.fields, p->u.record.nfields,
		    sizeof(p->u.record.fields[0]), field_cmp);
	if ((rc = payload_check(p)) != 0)
		return rc == -NUSA_EVERSION ? -NUSA_EMALFORMED : rc;

	codec_writer_init(&w, buf, cap);
	switch (p->kind) {
	case KIND_NETWORK:
		codec_put_str(&w, p->u.network.name.p, p->u.network.name.n);
		break;
	case KIND_CERT:
		codec_put_bytes(&w, p->u.cert.device, NUSA_KEY_LEN);
		codec_put_u8(&w, p->u.cert.role);
		break;
	case KIND_REVOKE:
		codec_put_bytes(&w, p->u.revoke.device, NUSA_KEY_LEN);
		codec_put_u64(&w, p->u.revoke.last_seq);
		break;
	case KIND_RECORD:
		codec_put_u8(&w, p->u.record.collection);
		codec_put_str(&w, p->u.record.key.p, p->u.record.key.n);
		codec_put_u8(&w, p->u.record.nfields);
		for (i = 0; i < p->u.record.nfields; i++) {
			const struct payload_field *f = &p->u.record.fields[i];

			codec_put_str(&w, f->name.p, f->name.n);
			codec_put_str(&w, f->value.p, f->value.n);
		}
		if (p->u.record.by.n)
			codec_put_str(&w, p->u.record.by.p, p->u.record.by.n);
		break;
	case KIND_POSTING:
		codec_put_u8(&w, p->u.posting.type);
		codec_put_bytes(&w, p->u.posting.ref, NUSA_HASH_LEN);
		codec_put_u32(&w, p->u.posting.date);
		codec_put_str(&w, p->u.posting.memo.p, p->u.posting.memo.n);
		codec_put_u8(&w, p->u.posting.nlegs);
		for (i = 0; i < p->u.posting.nlegs; i++) {
			const struct payload_leg *l = &p->u.posting.legs[i];

			codec_put_str(&w, l->account.p, l->account.n);
			codec_put_u64(&w, (uint64_t)l->amount);
		}
		if (p->u.posting.by.n)
			codec_put_str(&w, p->u.posting.by.p,
			    p->u.posting.by.n);
		break;
	}
	if (w.err)
		return w.err;
	if (w.len > NUSA_PAYLOAD_MAX)
		return -NUSA_ERANGE;
	*len = w.len;
	return 0;
}

static void
get_pstr(struct codec_reader *r, struct payload_str *s, size_t max)
{
	codec_get_str(r, &s->p, &s->n, max);
}

/* Bytes left after the legs or fields are the `by` string. An empty one
 * is refused: "nobody" has one encoding, no bytes at all. */
static void
get_by(struct codec_reader *r, struct payload_str *by)
{
	if (r->err || r->pos == r->len)
		return;
	codec_get_str(r, &by->p, &by->n, PAYLOAD_BY_MAX);
	if (r->err == 0 && by->n == 0)
		r->err = -NUSA_EMALFORMED;
}

int
payload_decode(struct payload *p, uint8_t kind, const uint8_t *buf,
    size_t len)
{
	struct codec_reader r;
	const uint8_t *b;
	unsigned i;
	int rc;

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	if (len > NUSA_PAYLOAD_MAX)
		return -NUSA_EMALFORMED;
	codec_reader_init(&r, buf, len);
	switch (kind) {
	case KIND_NETWORK:
		get_pstr(&r, &p->u.network.name, NUSA_TEXT_MAX);
		break;
	case KIND_CERT:
		if ((b = codec_get_bytes(&r, NUSA_KEY_LEN)) != NULL)
			memcpy(p->u.cert.device, b, NUSA_KEY_LEN);
		p->u.cert.role = codec_get_u8(&r);
		break;
	case KIND_REVOKE:
		if ((b = codec_get_bytes(&r, NUSA_KEY_LEN)) != NULL)
			memcpy(p->u.revoke.device, b, NUSA_KEY_LEN);
		p->u.revoke.last_seq = codec_get_u64(&r);
		break;
	case KIND_RECORD:
		p->u.record.collection = codec_get_u8(&r);
		get_pstr(&r, &p->u.record.key, NUSA_ID_MAX);
		p->u.record.nfields = codec_get_u8(&r);
		if (p->u.record.nfields > PAYLOAD_FIELDS_MAX)
			return -NUSA_EMALFORMED;
		for (i = 0; i < p->u.record.nfields; i++) {
			get_pstr(&r, &p->u.record.fields[i].name,
			    NUSA_NAME_MAX);
			get_pstr(&r, &p->u.record.fields[i].value,
			    NUSA_TEXT_MAX);
		}
		get_by(&r, &p->u.record.by);
		break;
	case KIND_POSTING:
		p->u.posting.type = codec_get_u8(&r);
		if ((b = codec_get_bytes(&r, NUSA_HASH_LEN)) != NULL)
			memcpy(p->u.posting.ref, b, NUSA_HASH_LEN);
		p->u.posting.date = codec_get_u32(&r);
		get_pstr(&r, &p->u.posting.memo, NUSA_TEXT_MAX);
		p->u.posting.nlegs = codec_get_u8(&r);
		if (p->u.posting.nlegs > 2)
			return -NUSA_EMALFORMED;
		for (i = 0; i < p->u.posting.nlegs; i++) {
			get_pstr(&r, &p->u.posting.legs[i].account,
			    NUSA_ID_MAX);
			p->u.posting.legs[i].amount =
			    (int64_t)codec_get_u64(&r);
		}
		get_by(&r, &p->u.posting.by);
		break;
	default:
		return -NUSA_EMALFORMED;
	}
	if ((rc = codec_reader_end(&r)) != 0)
		return rc;
	rc = payload_check(p);
	return rc ? -NUSA_EMALFORMED : 0;
}

const struct payload_field *
payload_field(const struct payload *p, const char *name)
{
	size_t n = strlen(name);
	unsigned i;

	if (p->kind != KIND_RECORD)
		return NULL;
	for (i = 0; i < p->u.record.nfields; i++) {
		const struct payload_field *f = &p->u.record.fields[i];

		if (f->name.n == n && memcmp(f->name.p, name, n) == 0)
			return f;
	}
	return NULL;
}

static const char *const kind_names[] = { "?", "network", "cert", "revoke",
	"record", "posting" };
static const char *const role_names[] = { "none", "admin", "clerk", "relay",
	"root" };
static const char *const posting_names[] = { "?", "deposit", "withdraw",
	"transfer", "disburse", "repay", "reverse" };
static const char *const coll_names[] = { "?", "member", "account" };

#define NAME_OF(tab, v) \
	((size_t)(v) < sizeof(tab) / sizeof(tab[0]) ? tab[v] : "?")

const char *
payload_kind_name(uint8_t kind)
{
	return NAME_OF(kind_names, kind);
}

const char *
payload_role_name(uint8_t role)
{
	return NAME_OF(role_names, role);
}

const char *
payload_posting_name(uint8_t type)
{
	return NAME_OF(posting_names, type);
}

const char *
payload_collection_name(uint8_t coll)
{
	return NAME_OF(coll_names, coll);
}

uint8_t
payload_role_parse(const char *s)
{
	uint8_t i;

	for (i = ROLE_ADMIN; i <= ROLE_RELAY; i++)
		if (strcmp(s, role_names[i]) == 0)
			return i;
	return 0;
}

uint8_t
payload_posting_parse(const char *s)
{
	uint8_t i;

	for (i = POST_DEPOSIT; i <= POST_REVERSE; i++)
		if (strcmp(s, posting_names[i]) == 0)
			return i;
	if (strcmp(s, "withdrawal") == 0)
		return POST_WITHDRAW;
	return 0;
}
