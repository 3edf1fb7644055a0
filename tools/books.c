#include "books.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>
#include <jansson.h>

#include "codec.h"
#include "entry.h"
#include "hlc.h"
#include "ledger.h"
#include "payload.h"
#include "outfile.h"
#include "state.h"
#include "store.h"

#define BOOKS_MAX_COLS	 32
#define BOOKS_FIELD_MAX	 1024

/* An old entry id (from an exported file) and the id it got here, so
 * that a reversal row can name the posting it reverses. */
struct idmap {
	uint8_t (*pairs)[2][NUSA_HASH_LEN];
	size_t n, cap;
};

struct importer {
	struct store_txn *t;
	const struct key *k;
	enum books_table table;
	struct books_error *err;
	int rc;			/* first error; rows after it are ignored */
	uint64_t lines;		/* physical lines before the current row */
	uint64_t row_newlines;	/* newlines inside quoted cells of the row */
	uint64_t rows;
	int header_done;
	int col[BOOKS_MAX_COLS]; /* column -> known field, or -1 */
	char *cols[BOOKS_MAX_COLS];	/* header names, for extra fields */
	size_t ncols;
	char *field[BOOKS_MAX_COLS];	/* this row's values */
	size_t nfield;
	struct idmap ids;
};

enum books_field {
	F_ID, F_NAME, F_VILLAGE, F_MEMBER, F_TYPE, F_ACCOUNT, F_AMOUNT,
	F_MEMO, F_DATE, F_TO, F_ENTRY, F_REF, F_COUNT
};

static const char *const field_names[F_COUNT] = { "id", "name", "village",
	"member", "type", "account", "amount", "memo", "date", "to", "entry",
	"ref" };

static void fail(struct importer *im, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records the first error of an import with its line; later rows are
 * then skipped, since the caller aborts the whole transaction. */
static void
fail(struct importer *im, int rc, const char *fmt, ...)
{
	va_list ap;

	if (im->rc)
		return;
	im->rc = rc;
	im->err->line = im->lines + 1;
	va_start(ap, fmt);
	vsnprintf(im->err->what, sizeof(im->err->what), fmt, ap);
	va_end(ap);
}

/* A cell that starts with one of these is a formula to a spreadsheet
 * (or, for '\'', hides one): exports put a '\'' before it, which a
 * spreadsheet shows as text and books_import() takes off again. */
static int
csv_formula_lead(char c)
{
	return c != '\0' && strchr("=+-@\t\r'", c) != NULL;
}

static void
on_field(void *s, size_t len, void *data)
{
	struct importer *im = data;
	const char *p = s, *nl;
	char *v;

	if (im->rc)
		return;
	if (im->nfield == 0 && im->lines == 0 && len >= 3 &&
	    memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;		/* a spreadsheet's UTF-8 byte order mark */
		len -= 3;
	}
	if (len >= 2 && p[0] == '\'' && csv_formula_lead(p[1])) {
		p++;		/* an export's (or a spreadsheet's) text mark */
		len--;
	}
	if (im->nfield == BOOKS_MAX_COLS) {
		fail(im, -NUSA_EMALFORMED, "more than %d columns",
		    BOOKS_MAX_COLS);
		return;
	}
	if (len > BOOKS_FIELD_MAX) {
		fail(im, -NUSA_EMALFORMED, "a cell longer than %d bytes",
		    BOOKS_FIELD_MAX);
		return;
	}
	if ((v = malloc(len + 1)) == NULL) {
		fail(im, -ENOMEM, "out of memory");
		return;
	}
	if (len)
		memcpy(v, p, len);
	v[len] = '\0';
	for (nl = v; (nl = memchr(nl, '\n', len - (size_t)(nl - v))); nl++)
		im->row_newlines++;
	im->field[im->nfield++] = v;
}

/* Returns the value of a known field in this row, or NULL if absent. */
static const char *
get(struct importer *im, enum books_field f)
{
	size_t i;

	for (i = 0; i < im->nfield && i < im->ncols; i++)
		if (im->col[i] == (int)f)
			return im->field[i];
	return NULL;
}

static const char *
need(struct importer *im, enum books_field f)
{
	const char *v = get(im, f);

	if (v == NULL || v[0] == '\0') {
		fail(im, -NUSA_EMALFORMED, "the %s is missing",
		    field_names[f]);
		return NULL;
	}
	return v;
}

/* Checks a text cell the way payload_decode() will, to say which. */
static int
text_ok(struct importer *im, enum books_field f, const char *v)
{
	if (v && (strlen(v) > NUSA_TEXT_MAX || !codec_text_ok(v, strlen(v)))) {
		fail(im, -NUSA_EMALFORMED, "the %s is not text of at most %d "
		    "bytes (UTF-8, no line breaks)", field_names[f],
		    NUSA_TEXT_MAX);
		return 0;
	}
	return 1;
}

static int
idmap_add(struct idmap *m, const uint8_t *old, const uint8_t *new_id)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;
		void *p = realloc(m->pairs, cap * sizeof(*m->pairs));

		if (p == NULL)
			return -ENOMEM;
		m->pairs = p;
		m->cap = cap;
	}
	memcpy(m->pairs[m->n][0], old, NUSA_HASH_LEN);
	memcpy(m->pairs[m->n][1], new_id, NUSA_HASH_LEN);
	m->n++;
	return 0;
}

static const uint8_t *
idmap_get(const struct idmap *m, const uint8_t *old)
{
	size_t i;

	for (i = m->n; i-- > 0;)
		if (memcmp(m->pairs[i][0], old, NUSA_HASH_LEN) == 0)
			return m->pairs[i][1];
	return NULL;
}

static void
import_member(struct importer *im)
{
	const char *names[PAYLOAD_FIELDS_MAX], *values[PAYLOAD_FIELDS_MAX];
	const char *id = need(im, F_ID), *name = need(im, F_NAME);
	const char *village = get(im, F_VILLAGE);
	size_t i, n = 0;
	int rc;

	if (im->rc || !text_ok(im, F_NAME, name) ||
	    !text_ok(im, F_VILLAGE, village))
		return;
	if (!payload_id_ok(id, strlen(id))) {
		fail(im, -NUSA_EMALFORMED, "bad member id %s: use up to %d of "
		    "A-Z a-z 0-9 . _ -", id, NUSA_ID_MAX);
		return;
	}
	/* Columns beyond id, name and village become fields of the member. */
	for (i = 0; i < im->nfield && i < im->ncols; i++) {
		if (im->col[i] >= 0 || im->field[i][0] == '\0')
			continue;
		if (n == PAYLOAD_FIELDS_MAX) {
			fail(im, -NUSA_EMALFORMED, "more than %d extra "
			    "columns with values", PAYLOAD_FIELDS_MAX);
			return;
		}
		names[n] = im->cols[i];
		values[n++] = im->field[i];
	}
	rc = ledger_member_add(im->t, im->k, id, name, village && village[0] ?
	    village : NULL);
	if (rc == -NUSA_EEXIST)
		fail(im, rc, "member %s is already in these books", id);
	else if (rc)
		fail(im, rc, "member %s: %s", id, nusa_strerror(rc));
	else if (n && (rc = ledger_record_set(im->t, im->k, COLL_MEMBER, id, n,
	    names, values)) != 0)
		fail(im, rc, "member %s: extra columns: names are a-z 0-9 _, "
		    "values text of at most %d bytes", id, NUSA_TEXT_MAX);
}

static void
import_account(struct importer *im)
{
	const char *id = need(im, F_ID), *member = need(im, F_MEMBER);
	const char *type = need(im, F_TYPE);
	int rc;

	if (im->rc)
		return;
	if (!payload_id_ok(id, strlen(id))) {
		fail(im, -NUSA_EMALFORMED, "bad account id %s", id);
		return;
	}
	if (!ledger_account_type(type)) {
		fail(im, -NUSA_EMALFORMED, "account %s: unknown type %s (use "
		    "pokok, wajib, sukarela or loan)", id, type);
		return;
	}
	rc = ledger_account_open(im->t, im->k, id, member, type);
	if (rc == -NUSA_ENOTFOUND)
		fail(im, rc, "account %s: no member %s", id, member);
	else if (rc == -NUSA_EEXIST)
		fail(im, rc, "account %s is already in these books", id);
	else if (rc)
		fail(im, rc, "account %s: %s", id, nusa_strerror(rc));
}

/* Says why a posting row was refused, in the clerk's terms. */
static void
posting_failed(struct importer *im, int rc, uint8_t type, const char *acct,
    const char *to, int64_t amount)
{
	int64_t bal = 0;

	switch (rc) {
	case -NUSA_EFUNDS:
		state_balance(im->t, acct, &bal);
		fail(im, rc, "%s: %s of %" PRId64 " is more than its balance "
		    "%" PRId64, acct, payload_posting_name(type), amount, bal);
		break;
	case -NUSA_ENOTFOUND:
		if (type == POST_TRANSFER && to &&
		    ledger_account_type_of(im->t, acct) > 0)
			acct = to;
		fail(im, rc, "no account %s", acct);
		break;
	case -NUSA_EFORBIDDEN:
		fail(im, rc, "%s: deposits, withdrawals and transfers go to "
		    "savings accounts, disbursements and repayments to loans",
		    acct);
		break;
	default:
		fail(im, rc, "%s: %s", acct, nusa_strerror(rc));
	}
}

static void
import_posting(struct importer *im)
{
	const char *acct = need(im, F_ACCOUNT), *tname = need(im, F_TYPE);
	const char *date_s = get(im, F_DATE), *memo = get(im, F_MEMO);
	const char *to = get(im, F_TO), *entry = get(im, F_ENTRY), *ref;
	uint8_t old[NUSA_HASH_LEN], id[NUSA_HASH_LEN];
	const uint8_t *mapped, *body;
	uint32_t date = ledger_today();
	int64_t amount = 0;
	size_t len;
	uint8_t type;
	int rc, has_entry = 0;

	if (im->rc || !text_ok(im, F_MEMO, memo))
		return;
	if (to && to[0] == '\0')
		to = NULL;
	if ((type = payload_posting_parse(tname)) == 0) {
		fail(im, -NUSA_EMALFORMED, "unknown posting type %s (use "
		    "deposit, withdraw, transfer, disburse, repay or reverse)",
		    tname);
		return;
	}
	if ((type == POST_TRANSFER) != (to != NULL)) {
		fail(im, -NUSA_EMALFORMED, to ? "only a transfer has a 'to' "
		    "account" : "a transfer needs a 'to' account");
		return;
	}
	if (to && strcmp(to, acct) == 0) {
		fail(im, -NUSA_EMALFORMED, "a transfer from %s to itself",
		    acct);
		return;
	}
	if (date_s && date_s[0] && ledger_parse_date(date_s, &date) != 0) {
		fail(im, -NUSA_EMALFORMED, "bad date %s (want YYYY-MM-DD)",
		    date_s);
		return;
	}
	/* An exported file names each posting: importing it twice into the
	 * same books must not count its money twice. */
	if (entry && entry[0]) {
		if (nusa_unhex(old, sizeof(old), entry) != 0) {
			fail(im, -NUSA_EMALFORMED, "bad entry id %s", entry);
			return;
		}
		if (idmap_get(&im->ids, old) != NULL ||
		    store_entry(im->t, old, &body, &len, NULL) == 0) {
			fail(im, -NUSA_EEXIST, "entry %s is already in these "
			    "books", entry);
			return;
		}
		has_entry = 1;
	}
	if (type == POST_REVERSE) {
		ref = need(im, F_REF);
		if (im->rc)
			return;
		if (nusa_unhex(old, sizeof(old), ref) != 0 ||
		    (mapped = idmap_get(&im->ids, old)) == NULL) {
			fail(im, -NUSA_ENOTFOUND, "reversed entry %s is not "
			    "an earlier row of this file", ref);
			return;
		}
		rc = ledger_reverse(im->t, im->k, mapped, memo, date, id);
		if (rc == -NUSA_EEXIST)
			fail(im, rc, "entry %s is reversed twice", ref);
		else if (rc)
			posting_failed(im, rc, type, acct, NULL, 0);
	} else {
		const char *amount_s = need(im, F_AMOUNT);

		if (im->rc)
			return;
		if (ledger_parse_amount(amount_s, &amount) != 0) {
			fail(im, -NUSA_ERANGE, "bad amount %s (whole rupiah, "
			    "digits only: 150000, not 150.000)", amount_s);
			return;
		}
		rc = ledger_post(im->t, im->k, type, acct, to, amount, memo,
		    date, id);
		if (rc)
			posting_failed(im, rc, type, acct, to, amount);
	}
	if (!im->rc && has_entry && idmap_add(&im->ids, old, id) != 0)
		fail(im, -ENOMEM, "out of memory");
}

static void
read_header(struct importer *im)
{
	size_t i, j;
	int f;

	for (i = 0; i < im->nfield; i++) {
		im->col[i] = -1;
		for (f = 0; f < F_COUNT; f++)
			if (strcasecmp(im->field[i], field_names[f]) == 0)
				im->col[i] = f;
		for (j = 0; j < i; j++)
			if (strcasecmp(im->cols[j], im->field[i]) == 0)
				fail(im, -NUSA_EMALFORMED, "column %s appears "
				    "twice", im->field[i]);
		im->cols[i] = im->field[i];
		im->field[i] = NULL;
	}
	im->ncols = im->nfield;
	im->header_done = 1;
}

static void
on_row(int c, void *data)
{
	struct importer *im = data;
	size_t i;

	/* With CSV_REPALL_NL every line end is reported, also blank lines
	 * and the \n of \r\n, so physical lines can be counted. */
	if (im->rc || im->nfield == 0)
		goto out;
	if (!im->header_done) {
		read_header(im);
		goto out;
	}
	if (im->nfield == 1 && im->field[0][0] == '\0')
		goto out;	/* a blank line */
	if (im->nfield > im->ncols) {
		fail(im, -NUSA_EMALFORMED, "%zu cells but the header has %zu "
		    "columns", im->nfield, im->ncols);
		goto out;
	}
	switch (im->table) {
	case BOOKS_MEMBERS:
		import_member(im);
		break;
	case BOOKS_ACCOUNTS:
		import_account(im);
		break;
	case BOOKS_POSTINGS:
		import_posting(im);
		break;
	}
	if (!im->rc)
		im->rows++;
out:
	for (i = 0; i < im->nfield; i++)
		free(im->field[i]);
	im->nfield = 0;
	if (!im->rc) {
		im->lines += im->row_newlines + (c == '\n');
		im->row_newlines = 0;
	}
}

int
books_import(struct store_txn *t, const struct key *k,
    enum books_table table, FILE *in, uint64_t *rows,
    struct books_error *err)
{
	struct importer im = { .t = t, .k = k, .table = table, .err = err };
	struct csv_parser p;
	char buf[65536];
	size_t n, i;

	memset(err, 0, sizeof(*err));
	*rows = 0;
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL |
	    CSV_APPEND_NULL) != 0)
		return -ENOMEM;
	while (!im.rc && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
		if (csv_parse(&p, buf, n, on_field, on_row, &im) != n)
			fail(&im, -NUSA_EMALFORMED, "not valid CSV (%s)",
			    csv_strerror(csv_error(&p)));
	}
	if (!im.rc && ferror(in))
		fail(&im, -EIO, "read error");
	if (!im.rc && csv_fini(&p, on_field, on_row, &im) != 0)
		fail(&im, -NUSA_EMALFORMED, "not valid CSV (%s)",
		    csv_strerror(csv_error(&p)));
	if (!im.rc && !im.header_done) {
		fail(&im, -NUSA_EMALFORMED, "empty file: no header line");
		err->line = 0;
	}
	csv_free(&p);
	for (i = 0; i < im.nfield; i++)
		free(im.field[i]);
	for (i = 0; i < im.ncols; i++)
		free(im.cols[i]);
	free(im.ids.pairs);
	*rows = im.rows;
	return im.rc;
}

/* --- export ------------------------------------------------------------ */

static void
date_str(char out[11], uint32_t d)
{
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(d / 10000 % 10000),
	    (unsigned)(d / 100 % 100), (unsigned)(d % 100));
}

/* Writes one quoted cell: quotes doubled, and a formula defused. */
static void
csv_cell(FILE *out, const char *s, size_t n, int last)
{
	size_t i;

	fputc('"', out);
	if (n > 0 && csv_formula_lead(s[0]))
		fputc('\'', out);
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			fputc('"', out);
		fputc(s[i], out);
	}
	fputc('"', out);
	fputc(last ? '\n' : ',', out);
}

static void
csv_cellz(FILE *out, const char *s, int last)
{
	csv_cell(out, s, strlen(s), last);
}

struct exportctx {
	struct store_txn *t;
	FILE *out;
	json_t *arr;
	/* Member fields beyond name and village, sorted: extra CSV columns,
	 * as many as an import takes back. */
	char extras[PAYLOAD_FIELDS_MAX][NUSA_NAME_MAX + 1];
	size_t nextras;
};

static int
is_base_field(const struct state_field *f)
{
	return (f->name_len == 4 && memcmp(f->name, "name", 4) == 0) ||
	    (f->name_len == 7 && memcmp(f->name, "village", 7) == 0);
}

static int
collect_extras(const struct state_record *r, void *ctx)
{
	struct exportctx *x = ctx;
	char name[NUSA_NAME_MAX + 1];
	size_t i, j;
	int c = 1;

	if (r->deleted)
		return 0;
	for (i = 0; i < r->nfields; i++) {
		if (is_base_field(&r->fields[i]) ||
		    r->fields[i].name_len > NUSA_NAME_MAX)
			continue;
		memcpy(name, r->fields[i].name, r->fields[i].name_len);
		name[r->fields[i].name_len] = '\0';
		for (j = 0; j < x->nextras; j++)
			if ((c = strcmp(name, x->extras[j])) <= 0)
				break;
		if ((j < x->nextras && c == 0) ||
		    (j == x->nextras && x->nextras == PAYLOAD_FIELDS_MAX))
			continue;
		if (x->nextras == PAYLOAD_FIELDS_MAX)
			x->nextras--;	/* keep the first names in order */
		memmove(x->extras[j + 1], x->extras[j],
		    (x->nextras - j) * sizeof(x->extras[0]));
		memcpy(x->extras[j], name, sizeof(name));
		x->nextras++;
	}
	return 0;
}

static int
csv_member(const struct state_record *r, void *ctx)
{
	struct exportctx *x = ctx;
	const struct state_field *name, *village;
	size_t i;

	if (r->deleted)
		return 0;
	name = state_record_field(r, "name");
	village = state_record_field(r, "village");
	csv_cell(x->out, r->key, r->key_len, 0);
	csv_cell(x->out, name ? name->value : "", name ? name->value_len : 0,
	    0);
	csv_cell(x->out, village ? village->value : "",
	    village ? village->value_len : 0, x->nextras == 0);
	for (i = 0; i < x->nextras; i++) {
		const struct state_field *f = state_record_field(r,
		    x->extras[i]);

		csv_cell(x->out, f ? f->value : "", f ? f->value_len : 0,
		    i + 1 == x->nextras);
	}
	return 0;
}

static int
account_balance(struct store_txn *t, const struct state_record *r,
    int64_t *bal)
{
	char acct[NUSA_ID_MAX + 1];

	memcpy(acct, r->key, r->key_len);
	acct[r->key_len] = '\0';
	return state_balance(t, acct, bal);
}

static int
csv_account(const struct state_record *r, void *ctx)
{
	struct exportctx *x = ctx;
	const struct state_field *member, *type;

	if (r->deleted)
		return 0;
	member = state_record_field(r, "member");
	type = state_record_field(r, "type");
	csv_cell(x->out, r->key, r->key_len, 0);
	csv_cell(x->out, member ? member->value : "",
	    member ? member->value_len : 0, 0);
	csv_cell(x->out, type ? type->value : "", type ? type->value_len : 0,
	    1);
	return 0;
}

static int
csv_balance(const char *acct, size_t n, int64_t bal, void *ctx)
{
	struct exportctx *x = ctx;

	csv_cell(x->out, acct, n, 0);
	fprintf(x->out, "%" PRId64 "\n", bal);
	return 0;
}

/* Decodes the posting of a log item; returns 1 if it is an effective
 * posting, 0 to skip it, or a negative error. */
static int
posting_of(struct store_txn *t, const struct store_item *it, struct entry *e,
    struct payload *p)
{
	if (entry_decode(e, it->body, it->len) != 0)
		return -NUSA_ECORRUPT;
	if (e->kind != KIND_POSTING || !state_effective(t, e))
		return 0;
	if (payload_decode(p, e->kind, e->payload, e->payload_len) != 0)
		return -NUSA_ECORRUPT;
	return 1;
}

static int
csv_posting(const struct store_item *it, void *ctx)
{
	struct exportctx *x = ctx;
	char date[11], hex[2 * NUSA_HASH_LEN + 1];
	struct payload p;
	struct entry e;
	int64_t amount;
	int rc;

	if ((rc = posting_of(x->t, it, &e, &p)) <= 0)
		return rc;
	amount = p.u.posting.legs[0].amount;
	csv_cell(x->out, p.u.posting.legs[0].account.p,
	    p.u.posting.legs[0].account.n, 0);
	csv_cellz(x->out, payload_posting_name(p.u.posting.type), 0);
	fprintf(x->out, "%" PRId64 ",", amount < 0 ? -amount : amount);
	csv_cell(x->out, p.u.posting.memo.p, p.u.posting.memo.n, 0);
	date_str(date, p.u.posting.date);
	csv_cellz(x->out, date, 0);
	if (p.u.posting.nlegs == 2)
		csv_cell(x->out, p.u.posting.legs[1].account.p,
		    p.u.posting.legs[1].account.n, 0);
	else
		csv_cellz(x->out, "", 0);
	csv_cellz(x->out, nusa_hex(hex, it->id, NUSA_HASH_LEN), 0);
	if (p.u.posting.type == POST_REVERSE)
		nusa_hex(hex, p.u.posting.ref, NUSA_HASH_LEN);
	else
		hex[0] = '\0';
	csv_cellz(x->out, hex, 1);
	return 0;
}

static int
csv_tables(struct store_txn *t, FILE *out, int table, int section)
{
	struct exportctx x = { .t = t, .out = out };
	static const char *const heads[] = { "", "id,name,village",
		"id,member,type", "account,balance",
		"account,type,amount,memo,date,to,entry,ref" };
	static const char *const titles[] = { "", "members", "accounts",
		"balances", "postings" };
	size_t i;
	int rc;

	if (section)
		fprintf(out, "%s# %s\n", table > 1 ? "\n" : "",
		    titles[table]);
	fputs(heads[table], out);
	if (table == 1 && (rc = state_records_each(t, COLL_MEMBER, NULL,
	    collect_extras, &x)) != 0)
		return rc;
	for (i = 0; i < x.nextras; i++)
		fprintf(out, ",%s", x.extras[i]);
	fputc('\n', out);
	switch (table) {
	case 1:
		return state_records_each(t, COLL_MEMBER, NULL, csv_member,
		    &x);
	case 2:
		return state_records_each(t, COLL_ACCOUNT, NULL, csv_account,
		    &x);
	case 3:
		return state_balances_each(t, csv_balance, &x);
	default:
		return store_log_each(t, csv_posting, &x);
	}
}

/* Writes one table to its own file, whole or not at all. */
static int
books_write_file(const char *path, struct store_txn *t, int table)
{
	struct outfile o;
	int rc, crc;

	if ((rc = outfile_open(&o, path)) != 0)
		return rc;
	rc = csv_tables(t, o.f, table, 0);
	crc = outfile_close(&o, rc == 0);
	return rc ? rc : crc;
}

int
books_export_table(struct store_txn *t, FILE *out, int table)
{
	int rc;

	if (table < 1 || table > 4)
		return -EINVAL;
	rc = csv_tables(t, out, table, 0);
	return rc ? rc : ferror(out) ? -EIO : 0;
}

int
books_export_csv(struct store_txn *t, FILE *out, const char *dir)
{
	static const char *const files[] = { "", "members.csv",
		"accounts.csv", "balances.csv", "postings.csv" };
	char path[PATH_MAX];
	int i, rc;

	for (i = 1; i <= 4; i++) {
		if (dir == NULL) {
			if ((rc = csv_tables(t, out, i, 1)) != 0)
				return rc;
			continue;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    files[i]) >= sizeof(path))
			return -ENAMETOOLONG;
		if ((rc = books_write_file(path, t, i)) != 0)
			return rc;
	}
	return ferror(out) ? -EIO : 0;
}

static json_t *
jstr(const char *s, size_t n)
{
	return json_stringn(s, n);
}

static int
json_member(const struct state_record *r, void *ctx)
{
	struct exportctx *x = ctx;
	json_t *o;
	size_t i;

	if (r->deleted)
		return 0;
	o = json_object();
	json_object_set_new(o, "id", jstr(r->key, r->key_len));
	for (i = 0; i < r->nfields; i++) {
		char name[NUSA_NAME_MAX + 1];

		memcpy(name, r->fields[i].name, r->fields[i].name_len);
		name[r->fields[i].name_len] = '\0';
		json_object_set_new(o, name, jstr(r->fields[i].value,
		    r->fields[i].value_len));
	}
	json_array_append_new(x->arr, o);
	return 0;
}

static int
json_account(const struct state_record *r, void *ctx)
{
	struct exportctx *x = ctx;
	const struct state_field *member, *type;
	int64_t bal;
	json_t *o;
	int rc;

	if (r->deleted)
		return 0;
	if ((rc = account_balance(x->t, r, &bal)) != 0)
		return rc;
	member = state_record_field(r, "member");
	type = state_record_field(r, "type");
	o = json_object();
	json_object_set_new(o, "id", jstr(r->key, r->key_len));
	json_object_set_new(o, "member", member ?
	    jstr(member->value, member->value_len) : json_null());
	json_object_set_new(o, "type", type ?
	    jstr(type->value, type->value_len) : json_null());
	json_object_set_new(o, "balance", json_integer(bal));
	json_array_append_new(x->arr, o);
	return 0;
}

static int
json_balance(const char *acct, size_t n, int64_t bal, void *ctx)
{
	struct exportctx *x = ctx;

	json_array_append_new(x->arr, json_pack("{s:o,s:I}", "account",
	    jstr(acct, n), "balance", (json_int_t)bal));
	return 0;
}

static int
json_posting(const struct store_item *it, void *ctx)
{
	struct exportctx *x = ctx;
	char date[11], hex[2 * NUSA_HASH_LEN + 1];
	struct payload p;
	struct entry e;
	json_t *o, *legs;
	unsigned i;
	int rc;

	if ((rc = posting_of(x->t, it, &e, &p)) <= 0)
		return rc;
	o = json_object();
	json_object_set_new(o, "entry", json_string(nusa_hex(hex, it->id,
	    NUSA_HASH_LEN)));
	json_object_set_new(o, "type",
	    json_string(payload_posting_name(p.u.posting.type)));
	date_str(date, p.u.posting.date);
	json_object_set_new(o, "date", json_string(date));
	json_object_set_new(o, "memo", jstr(p.u.posting.memo.p,
	    p.u.posting.memo.n));
	legs = json_array();
	for (i = 0; i < p.u.posting.nlegs; i++)
		json_array_append_new(legs, json_pack("{s:o,s:I}", "account",
		    jstr(p.u.posting.legs[i].account.p,
		    p.u.posting.legs[i].account.n), "amount",
		    (json_int_t)p.u.posting.legs[i].amount));
	json_object_set_new(o, "legs", legs);
	if (p.u.posting.type == POST_REVERSE)
		json_object_set_new(o, "reverses", json_string(nusa_hex(hex,
		    p.u.posting.ref, NUSA_HASH_LEN)));
	json_object_set_new(o, "author", json_string(nusa_hex(hex, e.author,
	    NUSA_KEY_LEN)));
	json_object_set_new(o, "time_ms", json_integer((json_int_t)hlc_ms(
	    e.hlc)));
	json_array_append_new(x->arr, o);
	return 0;
}

int
books_export_json(struct store_txn *t, FILE *out)
{
	struct exportctx x = { .t = t };
	char hex[2 * NUSA_KEY_LEN + 1], name[NUSA_TEXT_MAX + 1];
	uint8_t net[NUSA_KEY_LEN];
	json_t *root = json_object();
	int rc;

	if (root == NULL)
		return -ENOMEM;
	if ((rc = store_network(t, net, name, sizeof(name))) != 0)
		goto out;
	json_object_set_new(root, "network", json_pack("{s:s,s:s}", "id",
	    nusa_hex(hex, net, NUSA_KEY_LEN), "name", name));
	x.arr = json_array();
	json_object_set_new(root, "members", x.arr);
	if ((rc = state_records_each(t, COLL_MEMBER, NULL, json_member, &x)))
		goto out;
	x.arr = json_array();
	json_object_set_new(root, "accounts", x.arr);
	if ((rc = state_records_each(t, COLL_ACCOUNT, NULL, json_account,
	    &x)))
		goto out;
	x.arr = json_array();
	json_object_set_new(root, "balances", x.arr);
	if ((rc = state_balances_each(t, json_balance, &x)) != 0)
		goto out;
	x.arr = json_array();
	json_object_set_new(root, "postings", x.arr);
	if ((rc = store_log_each(t, json_posting, &x)) != 0)
		goto out;
	if (json_dumpf(root, out, JSON_INDENT(2)) != 0 || fputc('\n', out) ==
	    EOF)
		rc = -EIO;
out:
	json_decref(root);
	return rc;
}
