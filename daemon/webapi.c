#include "webapi.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "books.h"
#include "codec.h"
#include "entry.h"
#include "hlc.h"
#include "key.h"
#include "ledger.h"
#include "nusa.h"
#include "payload.h"
#include "replica.h"
#include "state.h"
#include "store.h"
#include "users.h"
#include "webreq.h"

#define CONTROL_TIMEOUT_MS 3000	/* for nusad's answer to "status" */

/* One request being served. */
struct req {
	const struct webapi_conf *c;
	const struct webapi_who *who;
	struct webapi_out *out;
	struct webreq_err err;
	webapi_query_fn q;
	void *qarg;
};

static void
reply(struct req *r, int status, json_t *j)
{
	/* json_pack() fails on memory or on text that is not UTF-8: never
	 * a success with an empty body. */
	if (j == NULL && status < 300 && status != 204) {
		webreq_fail(&r->err, 500, "internal", MSG_INTERNAL, NULL,
		    NULL);
		status = 500;
		j = webreq_error_json(&r->err, r->who->lang);
	}
	r->out->status = status;
	r->out->json = j;
}

/* Answers with r->err (filled by a webreq_*() that returned -1). */
static void
refuse(struct req *r)
{
	reply(r, r->err.status, webreq_error_json(&r->err, r->who->lang));
}

static void
fail(struct req *r, int status, const char *code, int msg,
    const char *field, const char *arg)
{
	webreq_fail(&r->err, status, code, msg, field, arg);
	refuse(r);
}

static void
internal(struct req *r, int rc)
{
	(void)rc;
	fail(r, 500, "internal", MSG_INTERNAL, NULL, NULL);
}

/* "Rp 1.250.000", "-Rp 1.000": rupiah as the web app shows them. */
static void
rupiah(char out[32], int64_t v)
{
	char digits[24];
	size_t n, i, o = 0;

	if (v < 0) {
		out[o++] = '-';
		v = -v;
	}
	memcpy(out + o, "Rp ", 3);
	o += 3;
	n = (size_t)snprintf(digits, sizeof(digits), "%" PRId64, v);
	for (i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[o++] = '.';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

/* Today in the box's time zone (TZ, /etc/localtime): a clerk's deposit
 * at 06:00 WITA is booked today, not yesterday as in UTC. The web app
 * sends the phone's date anyway; nusactl keeps UTC (docs/cli.md). */
static uint32_t
local_today(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (localtime_r(&now, &tm) == NULL)
		return ledger_today();
	return (uint32_t)(tm.tm_year + 1900) * 10000 +
	    (uint32_t)(tm.tm_mon + 1) * 100 + (uint32_t)tm.tm_mday;
}

static const char *
date_str(char out[16], uint32_t d)
{
	snprintf(out, 16, "%04u-%02u-%02u", d / 10000 % 10000,
	    d / 100 % 100, d % 100);
	return out;
}

static json_t *
jstrn(const char *s, size_t n)
{
	return json_stringn(s, n);
}

static json_t *
jhex(const uint8_t *b, size_t n)
{
	char hex[2 * NUSA_HASH_LEN + 1];

	return json_string(nusa_hex(hex, b, n));
}

/* Copies the field of a record into buf, or "" if absent. */
static const char *
field_str(const struct state_record *rec, const char *name, char *buf,
    size_t cap)
{
	const struct state_field *f = state_record_field(rec, name);
	size_t n = f ? f->value_len : 0;

	n = codec_text_cut(f ? f->value : "", n, cap - 1);
	if (n)
		memcpy(buf, f->value, n);
	buf[n] = '\0';
	return buf;
}

/* Every write goes through the clone guard first, as nusactl's do
 * (docs/CLONES.md): a copied box switches keys, a box waiting for its new
 * key's enrolment writes nothing, and the key is read from
 * DATA_DIR/device.key each time, since a rekey replaces it. Returns 0 and
 * sets *k (caller frees with key_free()), or -1 after answering. */
static int
writer_key(struct req *r, struct key **k)
{
	struct replica_status st;
	char path[4096], nw[2 * NUSA_KEY_LEN + 1];
	int rc;

	*k = NULL;
	if ((rc = replica_check(r->c->data_dir, r->c->store, &st)) != 0) {
		internal(r, rc);
		return -1;
	}
	if (st.pending) {
		fail(r, 503, "not_enrolled", MSG_PENDING, NULL,
		    nusa_hex(nw, st.rk.new, NUSA_KEY_LEN));
		return -1;
	}
	if (st.claimed) {
		/* A peer's claim on our own feed waits for its entries. */
		fail(r, 503, "claim_pending", MSG_BUSY, NULL, NULL);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/device.key", r->c->data_dir);
	if ((rc = key_load(k, path)) != 0) {
		internal(r, rc);
		return -1;
	}
	return 0;
}

/* ---- accounts of members ---- */

static const char *
acct_type_name(int type)
{
	static const char *const names[] = { "?", "pokok", "wajib",
		"sukarela", "loan" };

	return type >= ACCT_POKOK && type <= ACCT_LOAN ? names[type] :
	    names[0];
}

struct acct_row {
	char id[NUSA_ID_MAX + 1];
	char member[NUSA_ID_MAX + 1];
	int type;
	int64_t balance;
};

struct accts {
	struct store_txn *t;
	struct acct_row *v;
	size_t n, cap;
	const char *member;	/* only this member's, if non-NULL */
};

static int
collect_acct(const struct state_record *rec, void *ctx)
{
	struct accts *a = ctx;
	struct acct_row row, *v;
	char type[16];
	int rc;

	if (rec->deleted || rec->key_len > NUSA_ID_MAX)
		return 0;
	memset(&row, 0, sizeof(row));
	memcpy(row.id, rec->key, rec->key_len);
	field_str(rec, "member", row.member, sizeof(row.member));
	if (a->member && strcmp(a->member, row.member) != 0)
		return 0;
	row.type = ledger_account_type(field_str(rec, "type", type,
	    sizeof(type)));
	if ((rc = state_balance(a->t, row.id, &row.balance)) != 0)
		return rc;
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		if ((v = realloc(a->v, a->cap * sizeof(*v))) == NULL)
			return -ENOMEM;
		a->v = v;
	}
	a->v[a->n++] = row;
	return 0;
}

static int
row_cmp(const void *x, const void *y)
{
	const struct acct_row *a = x, *b = y;
	int c = strcmp(a->member, b->member);

	return c ? c : strcmp(a->id, b->id);
}

/* Sums a member's savings and loans from a sorted rows array. */
static void
member_sums(const struct accts *a, const char *member, int64_t *savings,
    int64_t *owed)
{
	size_t lo = 0, hi = a->n, mid;

	*savings = *owed = 0;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (strcmp(a->v[mid].member, member) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < a->n && strcmp(a->v[lo].member, member) == 0; lo++) {
		if (a->v[lo].type == ACCT_LOAN)
			*owed += a->v[lo].balance;
		else
			*savings += a->v[lo].balance;
	}
}

/* ---- members ---- */

struct mlist {
	struct accts *a;
	const char *q;
	unsigned long offset, limit, total;
	json_t *arr;
};

/* ASCII case-insensitive substring. */
static int
contains(const char *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle), i, j;

	if (m == 0)
		return 1;
	for (i = 0; i + m <= n; i++) {
		for (j = 0; j < m; j++) {
			char a = hay[i + j], b = needle[j];

			if (a >= 'A' && a <= 'Z')
				a = (char)(a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (char)(b - 'A' + 'a');
			if (a != b)
				break;
		}
		if (j == m)
			return 1;
	}
	return 0;
}

static json_t *
member_json(const struct state_record *rec, const struct accts *a)
{
	const struct state_field *name = state_record_field(rec, "name");
	const struct state_field *vil = state_record_field(rec, "village");
	char id[NUSA_ID_MAX + 1];
	int64_t savings, owed;

	memcpy(id, rec->key, rec->key_len);
	id[rec->key_len] = '\0';
	member_sums(a, id, &savings, &owed);
	return json_pack("{s:s, s:o, s:o, s:I, s:I}", "id", id, "name",
	    name ? jstrn(name->value, name->value_len) : json_string(""),
	    "village", vil && vil->value_len ? jstrn(vil->value,
	    vil->value_len) : json_null(), "savings", (json_int_t)savings,
	    "owed", (json_int_t)owed);
}

static int
list_member(const struct state_record *rec, void *ctx)
{
	struct mlist *m = ctx;
	const struct state_field *name;

	if (rec->deleted || rec->key_len > NUSA_ID_MAX)
		return 0;
	name = state_record_field(rec, "name");
	if (m->q[0] && !contains(rec->key, rec->key_len, m->q) &&
	    !(name && contains(name->value, name->value_len, m->q)))
		return 0;
	if (m->total >= m->offset && m->total < m->offset + m->limit)
		json_array_append_new(m->arr, member_json(rec, m->a));
	m->total++;
	return 0;
}

static int
page(struct req *r, unsigned long *offset, unsigned long *limit)
{
	if (webreq_uint(r->q(r->qarg, "offset"), "offset", 0,
	    WEBREQ_OFFSET_MAX, 0, offset, &r->err) != 0 ||
	    webreq_uint(r->q(r->qarg, "limit"), "limit", 1, WEBREQ_LIMIT_MAX,
	    WEBREQ_LIMIT_DEF, limit, &r->err) != 0) {
		refuse(r);
		return -1;
	}
	return 0;
}

static void
get_members(struct req *r)
{
	struct accts a = { 0 };
	struct mlist m = { 0 };
	struct store_txn *t;
	const char *q = r->q(r->qarg, "q");
	int rc;

	if (q && (strlen(q) > NUSA_TEXT_MAX ||
	    !codec_text_ok(q, strlen(q)))) {
		fail(r, 400, "invalid", MSG_BAD_TEXT, "q", NULL);
		return;
	}
	if (page(r, &m.offset, &m.limit) != 0)
		return;
	if ((rc = store_begin(r->c->store, &t, STORE_READ)) != 0) {
		internal(r, rc);
		return;
	}
	a.t = t;
	m.a = &a;
	m.q = q ? q : "";
	m.arr = json_array();
	rc = state_records_each(t, COLL_ACCOUNT, NULL, collect_acct, &a);
	if (rc == 0) {
		if (a.n)
			qsort(a.v, a.n, sizeof(*a.v), row_cmp);
		rc = state_records_each(t, COLL_MEMBER, NULL, list_member, &m);
	}
	store_abort(t);
	free(a.v);
	if (rc) {
		json_decref(m.arr);
		internal(r, rc);
		return;
	}
	reply(r, 200, json_pack("{s:I, s:o}", "total", (json_int_t)m.total,
	    "members", m.arr));
}

struct mone {
	struct accts *a;
	json_t *obj;
};

static int
one_member(const struct state_record *rec, void *ctx)
{
	struct mone *m = ctx;
	json_t *fields;
	size_t i;

	if (rec->deleted)
		return 0;
	m->obj = member_json(rec, m->a);
	fields = json_object();
	for (i = 0; i < rec->nfields; i++) {
		char name[NUSA_NAME_MAX + 1];
		size_t n = rec->fields[i].name_len;

		if (n > NUSA_NAME_MAX)
			continue;
		memcpy(name, rec->fields[i].name, n);
		name[n] = '\0';
		if (strcmp(name, "name") == 0 || strcmp(name, "village") == 0)
			continue;
		json_object_set_new(fields, name, jstrn(rec->fields[i].value,
		    rec->fields[i].value_len));
	}
	json_object_set_new(m->obj, "fields", fields);
	return 0;
}

static void
get_member(struct req *r, const char *id)
{
	struct accts a = { .member = id };
	struct mone m = { .a = &a };
	struct store_txn *t;
	json_t *arr;
	size_t i;
	int rc;

	if (webreq_path_id(id, &r->err) != 0) {
		refuse(r);
		return;
	}
	if ((rc = store_begin(r->c->store, &t, STORE_READ)) != 0) {
		internal(r, rc);
		return;
	}
	a.t = t;
	rc = state_records_each(t, COLL_ACCOUNT, NULL, collect_acct, &a);
	if (rc == 0) {
		if (a.n)
			qsort(a.v, a.n, sizeof(*a.v), row_cmp);
		rc = state_records_each(t, COLL_MEMBER, id, one_member, &m);
	}
	store_abort(t);
	if (rc == -NUSA_ENOTFOUND || (rc == 0 && m.obj == NULL)) {
		free(a.v);
		fail(r, 404, "not_found", MSG_NO_MEMBER, NULL, id);
		return;
	}
	if (rc) {
		free(a.v);
		json_decref(m.obj);
		internal(r, rc);
		return;
	}
	arr = json_array();
	for (i = 0; i < a.n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "id",
		    a.v[i].id, "type", acct_type_name(a.v[i].type), "balance",
		    (json_int_t)a.v[i].balance));
	free(a.v);
	json_object_set_new(m.obj, "accounts", arr);
	reply(r, 200, m.obj);
}

/* Maps what a ledger write returned to an answer; 0 is not handled. */
static void
ledger_refusal(struct req *r, int rc, const char *field, const char *arg)
{
	switch (rc) {
	case -NUSA_EEXIST:
		fail(r, 409, "exists", MSG_EXISTS, field, arg);
		break;
	case -NUSA_ENOTFOUND:
		fail(r, 404, "not_found", MSG_NOT_FOUND, field, arg);
		break;
	case -NUSA_EMALFORMED:
		fail(r, 400, "invalid", MSG_BAD_TEXT, field, NULL);
		break;
	default:
		internal(r, rc);
	}
}

/* One web write: what it writes and with which key, for store_write(),
 * which grows the LMDB map and runs it again when the map fills up. */
enum web_write_op { WRITE_MEMBER, WRITE_ACCOUNT, WRITE_REVERSE };

struct web_write {
	enum web_write_op op;
	const struct key *k;
	const char *user;
	const struct webreq_member *m;
	const struct webreq_account *a;
	const uint8_t *orig;		/* WRITE_REVERSE: the posting */
	const char *memo;
	uint8_t *id;			/* WRITE_REVERSE: the new entry */
};

static int
web_write_fn(struct store_txn *t, void *ctx)
{
	const struct web_write *w = ctx;

	switch (w->op) {
	case WRITE_MEMBER:
		return ledger_member_add_by(t, w->k, w->m->id, w->m->name,
		    w->m->village, w->user);
	case WRITE_ACCOUNT:
		return ledger_account_open_by(t, w->k, w->a->id,
		    w->a->member, w->a->type, w->user);
	case WRITE_REVERSE:
		return ledger_reverse_by(t, w->k, w->orig, w->memo,
		    local_today(), w->user, w->id);
	}
	return -EINVAL;
}

/* Runs w as the signed-in user, signed with the box's current key.
 * Returns 0 with the write's result in *rc, or -1 after answering (no
 * key may write now). */
static int
web_run(struct req *r, struct web_write *w, int *rc)
{
	struct key *k;

	if (writer_key(r, &k) != 0)
		return -1;
	w->k = k;
	w->user = r->who->user;
	*rc = store_write(r->c->store, web_write_fn, w);
	key_free(&k);
	return 0;
}

static void
post_member(struct req *r, const char *body, size_t len)
{
	struct webreq_member m;
	struct web_write w = { .op = WRITE_MEMBER, .m = &m };
	json_t *o;
	int rc;

	if (webreq_parse(&o, body, len, 0, &r->err) != 0 ||
	    webreq_member(o, &m, &r->err) != 0) {
		json_decref(o);
		refuse(r);
		return;
	}
	if (web_run(r, &w, &rc) != 0) {
		json_decref(o);
		return;
	}
	if (rc == 0)
		reply(r, 201, json_pack("{s:s, s:s, s:s?, s:i, s:i}", "id",
		    m.id, "name", m.name, "village", m.village, "savings", 0,
		    "owed", 0));
	else
		ledger_refusal(r, rc, "id", m.id);
	json_decref(o);
}

static void
post_account(struct req *r, const char *body, size_t len)
{
	struct webreq_account a;
	struct web_write w = { .op = WRITE_ACCOUNT, .a = &a };
	json_t *o;
	int rc;

	if (webreq_parse(&o, body, len, 0, &r->err) != 0 ||
	    webreq_account(o, &a, &r->err) != 0) {
		json_decref(o);
		refuse(r);
		return;
	}
	if (web_run(r, &w, &rc) != 0) {
		json_decref(o);
		return;
	}
	if (rc == 0)
		reply(r, 201, json_pack("{s:s, s:s, s:s, s:i}", "id", a.id,
		    "member", a.member, "type", a.type, "balance", 0));
	else if (rc == -NUSA_ENOTFOUND)
		fail(r, 404, "not_found", MSG_NO_MEMBER, "member", a.member);
	else
		ledger_refusal(r, rc, "id", a.id);
	json_decref(o);
}

/* ---- an account's statement ---- */

struct legs {
	struct state_leg *v;
	uint8_t (*ids)[NUSA_HASH_LEN];
	uint8_t (*authors)[NUSA_KEY_LEN];
	size_t n, cap;
};

static int
collect_leg(const struct state_leg *l, void *ctx)
{
	struct legs *g = ctx;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		void *a, *b, *c;

		a = realloc(g->v, cap * sizeof(*g->v));
		if (a)
			g->v = a;
		b = realloc(g->ids, cap * sizeof(*g->ids));
		if (b)
			g->ids = b;
		c = realloc(g->authors, cap * sizeof(*g->authors));
		if (c)
			g->authors = c;
		if (!a || !b || !c)
			return -ENOMEM;
		g->cap = cap;
	}
	g->v[g->n] = *l;
	memcpy(g->ids[g->n], l->id, NUSA_HASH_LEN);
	memcpy(g->authors[g->n], l->author, NUSA_KEY_LEN);
	g->n++;
	return 0;
}

static json_t *
posting_json(struct store_txn *t, const struct legs *g, size_t i)
{
	const uint8_t *body;
	struct payload p;
	struct entry e;
	size_t len;
	char date[16];

	if (store_entry(t, g->ids[i], &body, &len, NULL) != 0 ||
	    entry_decode(&e, body, len) != 0 ||
	    payload_decode(&p, e.kind, e.payload, e.payload_len) != 0 ||
	    e.kind != KIND_POSTING)
		return NULL;
	return json_pack("{s:o, s:s, s:I, s:o, s:s, s:I, s:o, s:o, s:b}",
	    "entry", jhex(g->ids[i], NUSA_HASH_LEN), "type",
	    payload_posting_name(p.u.posting.type), "amount",
	    (json_int_t)g->v[i].amount, "memo", jstrn(p.u.posting.memo.p,
	    p.u.posting.memo.n), "date", date_str(date, p.u.posting.date),
	    "time", (json_int_t)(hlc_ms(g->v[i].hlc) / 1000), "by",
	    p.u.posting.by.n ? jstrn(p.u.posting.by.p, p.u.posting.by.n) :
	    json_null(), "device", jhex(g->authors[i], NUSA_KEY_LEN),
	    "reversed", state_reversed(t, g->ids[i]));
}

struct aone {
	char member[NUSA_ID_MAX + 1];
	char type[16];
	int found;
};

static int
one_account(const struct state_record *rec, void *ctx)
{
	struct aone *a = ctx;

	if (rec->deleted)
		return 0;
	field_str(rec, "member", a->member, sizeof(a->member));
	field_str(rec, "type", a->type, sizeof(a->type));
	a->found = 1;
	return 0;
}

static void
get_account(struct req *r, const char *id)
{
	unsigned long offset, limit;
	struct legs g = { 0 };
	struct aone a = { 0 };
	struct store_txn *t;
	int64_t bal = 0;
	json_t *arr, *pj;
	size_t i, k;
	int rc;

	if (webreq_path_id(id, &r->err) != 0) {
		refuse(r);
		return;
	}
	if (page(r, &offset, &limit) != 0)
		return;
	if ((rc = store_begin(r->c->store, &t, STORE_READ)) != 0) {
		internal(r, rc);
		return;
	}
	rc = state_records_each(t, COLL_ACCOUNT, id, one_account, &a);
	if (rc == -NUSA_ENOTFOUND || (rc == 0 && !a.found)) {
		store_abort(t);
		fail(r, 404, "not_found", MSG_NO_ACCOUNT, NULL, id);
		return;
	}
	if (rc == 0)
		rc = state_balance(t, id, &bal);
	if (rc == 0)
		rc = state_account_postings_each(t, id, collect_leg, &g);
	arr = json_array();
	/* Newest first: the legs come in clock order. */
	for (k = offset; rc == 0 && k < g.n && k < offset + limit; k++) {
		i = g.n - 1 - k;
		if ((pj = posting_json(t, &g, i)) == NULL)
			rc = -NUSA_ECORRUPT;
		else
			json_array_append_new(arr, pj);
	}
	store_abort(t);
	free(g.v);
	free(g.ids);
	free(g.authors);
	if (rc) {
		json_decref(arr);
		internal(r, rc);
		return;
	}
	reply(r, 200, json_pack("{s:s, s:s, s:s, s:I, s:I, s:o}", "id", id,
	    "member", a.member, "type", a.type, "balance", (json_int_t)bal,
	    "total", (json_int_t)g.n, "postings", arr));
}

/* ---- postings ---- */

static void
post_posting(struct req *r, const char *body, size_t len)
{
	uint8_t id[NUSA_HASH_LEN];
	struct webreq_posting p;
	struct store_txn *t;
	struct key *k;
	int64_t before = 0, after = 0;
	char amt[32];
	json_t *o;
	int rc, kind, loan;

	if (webreq_parse(&o, body, len, 0, &r->err) != 0 ||
	    webreq_posting(o, &p, &r->err) != 0) {
		json_decref(o);
		refuse(r);
		return;
	}
	if (writer_key(r, &k) != 0) {
		json_decref(o);
		return;
	}
	if ((rc = store_begin(r->c->store, &t, STORE_WRITE)) != 0) {
		key_free(&k);
		json_decref(o);
		internal(r, rc);
		return;
	}
	/* The checks ledger_post() makes, named for the user; a preview
	 * runs the write itself and aborts it, so it cannot disagree. */
	kind = ledger_account_type_of(t, p.account);
	loan = p.type == POST_DISBURSE || p.type == POST_REPAY;
	if (kind == -NUSA_ENOTFOUND) {
		fail(r, 404, "not_found", MSG_NO_ACCOUNT, "account",
		    p.account);
		rc = 1;
	} else if (kind < 0) {
		internal(r, kind);
		rc = 1;
	} else if ((kind == ACCT_LOAN) != loan) {
		fail(r, 400, "invalid", MSG_ACCT_KIND, "type", NULL);
		rc = 1;
	} else if ((rc = state_balance(t, p.account, &before)) != 0) {
		internal(r, rc);
		rc = 1;
	} else {
		rc = ledger_post_by(t, k, p.type, p.account, NULL,
		    p.amount, p.memo, p.date ? p.date : local_today(),
		    r->who->user, id);
		if (rc == 0)
			rc = state_balance(t, p.account, &after);
		if (rc == -NUSA_EFUNDS) {
			rupiah(amt, before);
			fail(r, 409, "insufficient_funds", MSG_FUNDS,
			    "amount", amt);
			rc = 1;
		} else if (rc == -NUSA_ERANGE) {
			fail(r, 400, "invalid", MSG_BAD_AMOUNT, "amount",
			    NULL);
			rc = 1;
		} else if (rc < 0) {
			internal(r, rc);
			rc = 1;
		}
	}
	key_free(&k);
	if (rc != 0 || !p.confirm) {
		store_abort(t);
		if (rc == 0)
			reply(r, 200, json_pack("{s:b, s:s, s:I, s:I}",
			    "preview", 1, "account", p.account, "balance",
			    (json_int_t)before, "new_balance",
			    (json_int_t)after));
		json_decref(o);
		return;
	}
	if ((rc = store_commit(t)) != 0)
		internal(r, rc);
	else
		reply(r, 201, json_pack("{s:o, s:s, s:I}", "entry", jhex(id,
		    NUSA_HASH_LEN), "account", p.account, "balance",
		    (json_int_t)after));
	json_decref(o);
}

static void
post_reverse(struct req *r, const char *entry, const char *body, size_t len)
{
	uint8_t orig[NUSA_HASH_LEN], id[NUSA_HASH_LEN];
	struct webreq_reverse v;
	struct web_write w = { .op = WRITE_REVERSE, .orig = orig, .id = id };
	json_t *o = NULL;
	int rc;

	if (r->who->role < USERS_TREASURER) {
		fail(r, 403, "forbidden", MSG_FORBIDDEN, NULL, NULL);
		return;
	}
	if (webreq_path_entry(entry, orig, &r->err) != 0 ||
	    webreq_parse(&o, body, len, 1, &r->err) != 0 ||
	    webreq_reverse(o, &v, &r->err) != 0) {
		json_decref(o);
		refuse(r);
		return;
	}
	w.memo = v.memo;
	if (web_run(r, &w, &rc) != 0) {
		json_decref(o);
		return;
	}
	json_decref(o);
	if (rc == 0)
		reply(r, 201, json_pack("{s:o}", "entry", jhex(id,
		    NUSA_HASH_LEN)));
	else if (rc == -NUSA_ENOTFOUND)
		fail(r, 404, "not_found", MSG_NO_ENTRY, NULL, NULL);
	else if (rc == -NUSA_EEXIST)
		fail(r, 409, "already_reversed", MSG_REVERSED, NULL, NULL);
	else if (rc == -NUSA_EFUNDS)
		fail(r, 409, "insufficient_funds", MSG_FUNDS_REVERSE, NULL,
		    NULL);
	else
		internal(r, rc);
}

/* ---- review ---- */

static json_t *
ids_json(const uint8_t (*ids)[NUSA_HASH_LEN], size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, jhex(ids[i], NUSA_HASH_LEN));
	return a;
}

static int
overdraft_json(const struct state_overdraft *o, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:s, s:o, s:I, s:I, s:o}",
	    "kind", "overdraft", "account", jstrn(o->acct, o->acct_len),
	    "balance", (json_int_t)o->balance, "lowest",
	    (json_int_t)o->lowest, "entries", ids_json(o->ids, o->nids)));
	return 0;
}

static int
fork_json(const struct state_fork *f, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:s, s:o, s:I, s:o}", "kind",
	    "fork", "device", jhex(f->author, NUSA_KEY_LEN), "seq",
	    (json_int_t)f->seq, "entries", ids_json(f->ids, f->nids)));
	return 0;
}

static int
reversals_json(const struct state_reversals *v, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:s, s:o, s:o}", "kind",
	    "double_reversal", "entry", jhex(v->posting, NUSA_HASH_LEN),
	    "reversals", ids_json(v->ids, v->nids)));
	return 0;
}

static void
get_conflicts(struct req *r)
{
	struct store_txn *t;
	json_t *arr = json_array();
	int rc;

	if ((rc = store_begin(r->c->store, &t, STORE_READ)) == 0) {
		rc = state_overdrafts_each(t, overdraft_json, arr);
		if (rc == 0)
			rc = state_forks_each(t, fork_json, arr);
		if (rc == 0)
			rc = state_double_reversals_each(t, reversals_json,
			    arr);
		store_abort(t);
	}
	if (rc) {
		json_decref(arr);
		internal(r, rc);
		return;
	}
	reply(r, 200, json_pack("{s:o}", "conflicts", arr));
}

static void
get_box(struct req *r)
{
	uint8_t net[NUSA_KEY_LEN];
	char name[NUSA_TEXT_MAX + 1];
	struct store_txn *t;
	size_t count;
	int rc;

	if ((rc = store_begin(r->c->store, &t, STORE_READ)) != 0) {
		internal(r, rc);
		return;
	}
	rc = store_network(t, net, name, sizeof(name));
	count = store_count(t);
	store_abort(t);
	if (rc) {
		internal(r, rc);
		return;
	}
	reply(r, 200, json_pack("{s:o, s:{s:o, s:s}, s:I, s:s}", "device",
	    jhex(r->c->key->pk, NUSA_KEY_LEN), "network", "id",
	    jhex(net, NUSA_KEY_LEN), "name", name, "entries",
	    (json_int_t)count, "mode", r->c->hub ? "hub" : "box"));
}

/* Asks the running nusad (this very process, on its own thread) for its
 * status over the control socket, as nusactl status does: the peer table
 * belongs to the event loop, so it is read there and not here. */
static json_t *
daemon_status(const struct webapi_conf *c)
{
	int timeout = CONTROL_TIMEOUT_MS, zero = 0;
	json_t *j = NULL;
	zmq_msg_t msg;
	void *sock;

	if (c->zctx == NULL || (sock = zmq_socket(c->zctx, ZMQ_REQ)) == NULL)
		return NULL;
	zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout, sizeof(timeout));
	if (zmq_connect(sock, c->control) == 0 &&
	    zmq_send(sock, "status", 6, 0) == 6) {
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, sock, 0) >= 0)
			j = json_loadb(zmq_msg_data(&msg), zmq_msg_size(&msg),
			    0, NULL);
		zmq_msg_close(&msg);
	}
	zmq_close(sock);
	return j;
}

static json_t *
time_or_null(const json_t *v)
{
	json_int_t t = json_integer_value(v);

	return t > 0 ? json_integer(t) : json_null();
}

static void
get_sync(struct req *r)
{
	json_t *st = daemon_status(r->c), *peers, *hub = NULL, *p, *o;
	const char *err, *src;
	size_t i;

	if (st == NULL) {
		fail(r, 503, "busy", MSG_BUSY, NULL, NULL);
		return;
	}
	peers = json_array();
	json_array_foreach(json_object_get(st, "peers"), i, p) {
		err = json_string_value(json_object_get(p, "last_error"));
		src = json_string_value(json_object_get(p, "source"));
		o = json_pack("{s:O?, s:O?, s:O?, s:b, s:o, s:O?, s:O?, s:o}",
		    "id", json_object_get(p, "id"), "address",
		    json_object_get(p, "addr"), "source",
		    json_object_get(p, "source"), "connected",
		    json_is_true(json_object_get(p, "connected")),
		    "last_sync", time_or_null(json_object_get(p,
		    "last_synced")), "behind", json_object_get(p, "behind"),
		    "ahead", json_object_get(p, "ahead"), "last_error",
		    err && err[0] ? json_string(err) : json_null());
		if (o == NULL)
			continue;
		if (hub == NULL && src && strstr(src, "hub"))
			hub = json_deep_copy(o);
		json_array_append_new(peers, o);
	}
	reply(r, 200, json_pack("{s:O?, s:o, s:o}", "device",
	    json_object_get(st, "device"), "peers", peers, "hub",
	    hub ? hub : json_null()));
	json_decref(st);
}

/* Returns a read-write file in dir that has no name (gone when closed),
 * or -errno. */
static int
unnamed_file(const char *dir)
{
	char path[4096];
	int fd;

	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR)
		return -errno;
	/* A filesystem without O_TMPFILE: a name, at once removed. */
	if ((size_t)snprintf(path, sizeof(path), "%s/.export.XXXXXX", dir) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
		return -errno;
	unlink(path);
	return fd;
}

static void
get_export(struct req *r, const char *file)
{
	static const char *const files[] = { "", "members.csv",
		"accounts.csv", "balances.csv", "postings.csv" };
	struct store_txn *t;
	struct stat st;
	FILE *f = NULL;
	int i, fd, rc;

	for (i = 1; i <= 4 && strcmp(file, files[i]) != 0; i++)
		;
	if (i > 4) {
		fail(r, 404, "not_found", MSG_NOT_FOUND, NULL, NULL);
		return;
	}
	/* A hub's postings run to many megabytes: written to a file of no
	 * name in the data directory (on disk, not in memory), which
	 * libmicrohttpd then sends and closes. */
	if ((fd = unnamed_file(r->c->data_dir)) < 0) {
		internal(r, fd);
		return;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		rc = -errno;
		close(fd);
		internal(r, rc);
		return;
	}
	/* fclose() below closes fd: keep a second one for the answer. */
	if ((fd = fcntl(fileno(f), F_DUPFD_CLOEXEC, 0)) < 0) {
		rc = -errno;
		fclose(f);
		internal(r, rc);
		return;
	}
	if ((rc = store_begin(r->c->store, &t, STORE_READ)) == 0) {
		rc = books_export_table(t, f, i);
		store_abort(t);
	}
	if (fflush(f) != 0 && rc == 0)
		rc = -errno;
	if (ferror(f) && rc == 0)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && fstat(fd, &st) != 0)
		rc = -errno;
	if (rc) {
		close(fd);
		internal(r, rc);
		return;
	}
	r->out->status = 200;
	r->out->fd = fd;
	r->out->len = (size_t)st.st_size;
	r->out->ctype = "text/csv; charset=utf-8";
	snprintf(r->out->filename, sizeof(r->out->filename), "%s", files[i]);
}

/* ---- web users ---- */

static void
users_api(struct req *r, const char *method, const char *name,
    const char *body, size_t len)
{
	struct webreq_user u;
	struct users *list = NULL;
	json_t *o = NULL, *arr;
	size_t i;
	int rc, lk;

	if (r->who->role != USERS_ADMIN) {
		fail(r, 403, "forbidden", MSG_FORBIDDEN, NULL, NULL);
		return;
	}
	/* Load, change and save under the file's lock (nusactl user ...
	 * takes it too). */
	if ((lk = users_lock(r->c->users_path)) < 0) {
		internal(r, lk);
		return;
	}
	if ((rc = users_load(&list, r->c->users_path)) != 0) {
		users_unlock(lk);
		internal(r, rc);
		return;
	}
	if (name == NULL && strcmp(method, "GET") == 0) {
		arr = json_array();
		for (i = 0; i < list->n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s}",
			    "user", list->v[i].name, "role",
			    users_role_name(list->v[i].role)));
		reply(r, 200, json_pack("{s:o}", "users", arr));
	} else if (name == NULL && strcmp(method, "POST") == 0) {
		if (webreq_parse(&o, body, len, 0, &r->err) != 0 ||
		    webreq_user(o, &u, &r->err) != 0)
			refuse(r);
		else if (users_find(list, u.user))
			fail(r, 409, "exists", MSG_EXISTS, "user", u.user);
		else if ((rc = users_add(list, u.user, u.role, u.pin)) != 0 ||
		    (rc = users_save(list, r->c->users_path)) != 0)
			internal(r, rc);
		else
			reply(r, 201, json_pack("{s:s, s:s}", "user", u.user,
			    "role", users_role_name(u.role)));
	} else if (name && strcmp(method, "DELETE") == 0) {
		if (strcmp(name, r->who->user) == 0)
			fail(r, 403, "forbidden", MSG_SELF, NULL, NULL);
		else if (!users_name_ok(name) || users_remove(list, name) != 0)
			fail(r, 404, "not_found", MSG_NO_USER, NULL,
			    users_name_ok(name) ? name : "?");
		else if ((rc = users_save(list, r->c->users_path)) != 0)
			internal(r, rc);
		else
			reply(r, 204, NULL);
	} else
		fail(r, 405, "method", MSG_METHOD, NULL, NULL);
	users_unlock(lk);
	json_decref(o);
	users_free(&list);
}

/* ---- routing ---- */

void
webapi_handle(const struct webapi_conf *c, const struct webapi_who *who,
    const char *method, const char *path, const char *body, size_t len,
    webapi_query_fn q, void *qarg, struct webapi_out *out)
{
	struct req r = { .c = c, .who = who, .out = out, .q = q,
		.qarg = qarg };
	char seg[3][NUSA_TEXT_MAX + 1];
	const char *p = path, *slash;
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	size_t n = 0, l;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	memset(seg, 0, sizeof(seg));
	/* Up to three segments: "postings/ENTRY/reverse". */
	while (*p && n < 3) {
		slash = strchr(p, '/');
		l = slash ? (size_t)(slash - p) : strlen(p);
		if (l == 0 || l > NUSA_TEXT_MAX)
			break;
		memcpy(seg[n++], p, l);
		p += l;
		if (*p == '/')
			p++;
		if (*p == '\0' && slash)
			n = 4;	/* a trailing '/': not a route */
	}
	if (*p != '\0' || n == 0 || n > 3) {
		fail(&r, 404, "not_found", MSG_NOT_FOUND, NULL, NULL);
		return;
	}
	if (strcmp(seg[0], "box") == 0 && n == 1 && get)
		get_box(&r);
	else if (strcmp(seg[0], "members") == 0 && n == 1 && get)
		get_members(&r);
	else if (strcmp(seg[0], "members") == 0 && n == 1 && post)
		post_member(&r, body, len);
	else if (strcmp(seg[0], "members") == 0 && n == 2 && get)
		get_member(&r, seg[1]);
	else if (strcmp(seg[0], "accounts") == 0 && n == 1 && post)
		post_account(&r, body, len);
	else if (strcmp(seg[0], "accounts") == 0 && n == 2 && get)
		get_account(&r, seg[1]);
	else if (strcmp(seg[0], "postings") == 0 && n == 1 && post)
		post_posting(&r, body, len);
	else if (strcmp(seg[0], "postings") == 0 && n == 3 &&
	    strcmp(seg[2], "reverse") == 0 && post)
		post_reverse(&r, seg[1], body, len);
	else if (strcmp(seg[0], "conflicts") == 0 && n == 1 && get)
		get_conflicts(&r);
	else if (strcmp(seg[0], "sync") == 0 && n == 1 && get)
		get_sync(&r);
	else if (strcmp(seg[0], "export") == 0 && n == 2 && get)
		get_export(&r, seg[1]);
	else if (strcmp(seg[0], "users") == 0 && n <= 2)
		users_api(&r, method, n == 2 ? seg[1] : NULL, body, len);
	else if ((strcmp(seg[0], "box") == 0 || strcmp(seg[0], "members") ==
	    0 || strcmp(seg[0], "accounts") == 0 || strcmp(seg[0],
	    "postings") == 0 || strcmp(seg[0], "conflicts") == 0 ||
	    strcmp(seg[0], "sync") == 0 || strcmp(seg[0], "export") == 0) &&
	    n <= 3)
		fail(&r, 405, "method", MSG_METHOD, NULL, NULL);
	else
		fail(&r, 404, "not_found", MSG_NOT_FOUND, NULL, NULL);
}
