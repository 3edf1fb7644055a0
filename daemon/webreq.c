#include "webreq.h"

#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "ledger.h"
#include "nusa.h"
#include "payload.h"
#include "users.h"

/* One catalogue per language; the front end's own strings are in
 * web/i18n/, these are the API's. Keep the two columns in step. */
static const char *const msgs[MSG_COUNT][2] = {
	[MSG_BODY_JSON] = {
		"Isi permintaan harus berupa objek JSON yang sah.",
		"The request body must be a valid JSON object." },
	[MSG_MISSING] = {
		"Kolom %s wajib diisi.",
		"The field %s is required." },
	[MSG_NOT_TEXT] = {
		"Kolom %s harus berupa teks.",
		"The field %s must be text." },
	[MSG_BAD_ID] = {
		"Kolom %s: 1 sampai 64 huruf, angka, titik, garis bawah atau "
		"tanda hubung, tanpa spasi.",
		"The field %s takes 1 to 64 letters, digits, dots, "
		"underscores or hyphens, no spaces." },
	[MSG_BAD_TEXT] = {
		"Kolom %s terlalu panjang (maks. 512 byte) atau berisi "
		"karakter kendali.",
		"The field %s is too long (512 bytes at most) or holds "
		"control characters." },
	[MSG_EMPTY] = {
		"Kolom %s tidak boleh kosong.",
		"The field %s must not be empty." },
	[MSG_BAD_AMOUNT] = {
		"Jumlah harus bilangan bulat rupiah dari 1 sampai "
		"1.000.000.000.000.",
		"The amount must be whole rupiah from 1 to "
		"1,000,000,000,000." },
	[MSG_BAD_DATE] = {
		"Tanggal harus tanggal yang ada, ditulis YYYY-MM-DD.",
		"The date must be a real date written YYYY-MM-DD." },
	[MSG_BAD_POST_TYPE] = {
		"Jenis transaksi harus deposit, withdraw, disburse atau "
		"repay.",
		"The type must be deposit, withdraw, disburse or repay." },
	[MSG_BAD_ACCT_TYPE] = {
		"Jenis rekening harus pokok, wajib, sukarela atau loan.",
		"The account type must be pokok, wajib, sukarela or loan." },
	[MSG_BAD_BOOL] = {
		"Kolom %s harus true atau false.",
		"The field %s must be true or false." },
	[MSG_BAD_LANG] = {
		"Bahasa harus id atau en.",
		"The language must be id or en." },
	[MSG_BAD_ROLE] = {
		"Peran harus clerk, treasurer atau admin.",
		"The role must be clerk, treasurer or admin." },
	[MSG_BAD_USER] = {
		"Nama pengguna: 1 sampai 32 huruf, angka, titik, garis bawah "
		"atau tanda hubung.",
		"User names take 1 to 32 letters, digits, dots, underscores "
		"or hyphens." },
	[MSG_BAD_PIN] = {
		"PIN harus 4 sampai 128 karakter.",
		"The PIN must have 4 to 128 characters." },
	[MSG_BAD_NUMBER] = {
		"Parameter %s harus bilangan bulat dalam batas yang "
		"diizinkan.",
		"The parameter %s must be a whole number within its "
		"limits." },
	[MSG_BAD_ENTRY] = {
		"Nomor transaksi harus 64 digit heksadesimal.",
		"An entry id is 64 hexadecimal digits." },
	[MSG_LOGIN_FAILED] = {
		"Nama pengguna atau PIN salah.",
		"Wrong user name or PIN." },
	[MSG_NOT_SIGNED_IN] = {
		"Silakan masuk terlebih dahulu.",
		"Please sign in first." },
	[MSG_RATE_LIMITED] = {
		"Terlalu banyak percobaan masuk yang gagal. Coba lagi dalam "
		"%s detik.",
		"Too many failed sign-in attempts. Try again in %s "
		"seconds." },
	[MSG_FORBIDDEN] = {
		"Peran Anda tidak diizinkan melakukan ini.",
		"Your role may not do this." },
	[MSG_CSRF] = {
		"Token keamanan tidak cocok. Muat ulang halaman lalu coba "
		"lagi.",
		"The security token does not match. Reload the page and try "
		"again." },
	[MSG_NOT_FOUND] = {
		"Tidak ditemukan.",
		"Not found." },
	[MSG_NO_MEMBER] = {
		"Anggota %s tidak ditemukan.",
		"There is no member %s." },
	[MSG_NO_ACCOUNT] = {
		"Rekening %s tidak ditemukan.",
		"There is no account %s." },
	[MSG_NO_ENTRY] = {
		"Transaksi tidak ditemukan.",
		"There is no such posting." },
	[MSG_NO_USER] = {
		"Pengguna %s tidak ditemukan.",
		"There is no user %s." },
	[MSG_EXISTS] = {
		"%s sudah ada.",
		"%s exists already." },
	[MSG_FUNDS] = {
		"Saldo tidak cukup: saldo sekarang %s.",
		"Insufficient funds: the balance is %s." },
	[MSG_FUNDS_REVERSE] = {
		"Saldo tidak cukup untuk membatalkan transaksi ini.",
		"The balance is too low to reverse this posting." },
	[MSG_REVERSED] = {
		"Transaksi ini sudah dibatalkan, atau merupakan pembatalan.",
		"This posting is reversed already, or is itself a "
		"reversal." },
	[MSG_ACCT_KIND] = {
		"Setoran dan penarikan untuk rekening simpanan; pencairan dan "
		"angsuran untuk rekening pinjaman.",
		"Deposits and withdrawals go to savings accounts, "
		"disbursements and repayments to loans." },
	[MSG_TOO_LARGE] = {
		"Permintaan terlalu besar (maks. 16 KiB).",
		"The request is too large (16 KiB at most)." },
	[MSG_CONTENT_TYPE] = {
		"Content-Type harus application/json.",
		"The Content-Type must be application/json." },
	[MSG_METHOD] = {
		"Metode tidak diizinkan di sini.",
		"That method is not allowed here." },
	[MSG_INTERNAL] = {
		"Terjadi kesalahan di kotak; tidak ada yang disimpan.",
		"Something failed on the box; nothing was saved." },
	[MSG_SELF] = {
		"Anda tidak dapat menghapus akun Anda sendiri.",
		"You cannot remove your own user." },
	[MSG_PENDING] = {
		"Kotak ini menunggu kunci barunya didaftarkan dan belum bisa "
		"mencatat. Minta admin menjalankan: nusactl enrol %s",
		"This box waits for its new key to be enrolled and cannot "
		"record yet. Ask an admin to run: nusactl enrol %s" },
	[MSG_BUSY] = {
		"Kotak sedang sibuk. Coba lagi sebentar.",
		"The box is busy. Try again in a moment." },
};

int
webreq_fail(struct webreq_err *e, int status, const char *code, int msg,
    const char *field, const char *arg)
{
	e->status = status;
	e->code = code;
	e->msg = msg;
	e->field = field;
	snprintf(e->arg, sizeof(e->arg), "%s", arg ? arg : field ? field :
	    "");
	return -1;
}

/* The fields' names as the messages show them, in each language. */
static const char *const labels[][3] = {
	{ "name", "nama", "name" },
	{ "village", "desa", "village" },
	{ "amount", "jumlah", "amount" },
	{ "account", "rekening", "account" },
	{ "memo", "keterangan", "memo" },
	{ "member", "anggota", "member" },
	{ "type", "jenis", "type" },
	{ "date", "tanggal", "date" },
	{ "pin", "PIN", "PIN" },
	{ "user", "pengguna", "user" },
	{ "role", "peran", "role" },
	{ "confirm", "konfirmasi", "confirm" },
	{ "id", "nomor", "id" },
	{ "lang", "bahasa", "language" },
	{ "limit", "batas", "limit" },
	{ "offset", "mulai", "offset" },
	{ "q", "cari", "search" },
	{ "body", "isi", "body" },
};

/* The name a message shows for field in lang ("name" -> "nama" in
 * Indonesian); field itself if it has no label. */
static const char *
webreq_label(const char *field, int lang)
{
	size_t i;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
		if (strcmp(labels[i][0], field) == 0)
			return labels[i][lang == WEBREQ_EN ? 2 : 1];
	return field;
}

static int
invalid(struct webreq_err *e, const char *field, int msg)
{
	return webreq_fail(e, 400, "invalid", msg, field, NULL);
}

void
webreq_message(const struct webreq_err *e, int lang, char *buf, size_t cap)
{
	const char *m, *pct;
	int l = lang == WEBREQ_EN ? 1 : 0;

	if (cap == 0)
		return;
	m = e->msg >= 0 && e->msg < MSG_COUNT ? msgs[e->msg][l] :
	    msgs[MSG_INTERNAL][l];
	if ((pct = strstr(m, "%s")) == NULL) {
		snprintf(buf, cap, "%s", m);
		return;
	}
	/* The field's own name becomes its label in lang. */
	snprintf(buf, cap, "%.*s%s%s", (int)(pct - m), m, e->field &&
	    strcmp(e->arg, e->field) == 0 ? webreq_label(e->arg, lang) :
	    e->arg, pct + 2);
}

json_t *
webreq_error_json(const struct webreq_err *e, int lang)
{
	char msg[512];
	json_t *o;

	webreq_message(e, lang, msg, sizeof(msg));
	o = json_pack("{s:s, s:s}", "error", e->code ? e->code : "internal",
	    "message", msg);
	if (o && e->field)
		json_object_set_new(o, "field", json_string(e->field));
	return o;
}

int
webreq_lang_parse(const char *s)
{
	if (s && strcmp(s, "id") == 0)
		return WEBREQ_ID;
	if (s && strcmp(s, "en") == 0)
		return WEBREQ_EN;
	return -1;
}

const char *
webreq_lang_name(int lang)
{
	return lang == WEBREQ_EN ? "en" : "id";
}

int
webreq_parse(json_t **out, const char *body, size_t len, int empty_ok,
    struct webreq_err *e)
{
	json_error_t jerr;
	json_t *o;

	*out = NULL;
	if (len > WEBREQ_BODY_MAX)
		return webreq_fail(e, 413, "too_large", MSG_TOO_LARGE, NULL,
		    NULL);
	if (len == 0 && empty_ok) {
		*out = json_object();
		return *out ? 0 : webreq_fail(e, 500, "internal",
		    MSG_INTERNAL, NULL, NULL);
	}
	/* jansson checks UTF-8; JSON_REJECT_DUPLICATES leaves one meaning
	 * per body; a NUL inside a string is refused by text() below. */
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	/* A number too big for an integer is still JSON: read numbers as
	 * reals, and the field's own check names it (2^63 as an amount is
	 * "the amount must be whole rupiah from 1 to ..."). */
	if (o == NULL && strstr(jerr.text, "too big") != NULL)
		o = json_loadb(body, len, JSON_REJECT_DUPLICATES |
		    JSON_DECODE_INT_AS_REAL, &jerr);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return invalid(e, "body", MSG_BODY_JSON);
	}
	*out = o;
	return 0;
}

/* A string member: absent (NULL, or -1 if required), text without
 * control characters or NUL of at most max bytes, and, unless empty_ok,
 * not empty. */
static int
text(const json_t *o, const char *field, int required, size_t max,
    int empty_ok, const char **out, struct webreq_err *e)
{
	const json_t *v = json_object_get(o, field);
	const char *s;
	size_t n;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return invalid(e, field, MSG_MISSING);
		return 0;
	}
	if (!json_is_string(v))
		return invalid(e, field, MSG_NOT_TEXT);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n != strlen(s) || n > max || !codec_text_ok(s, n))
		return invalid(e, field, MSG_BAD_TEXT);
	if (n == 0 && !empty_ok)
		return invalid(e, field, required ? MSG_EMPTY : MSG_BAD_TEXT);
	*out = s;
	return 0;
}

static int
id_field(const json_t *o, const char *field, const char **out,
    struct webreq_err *e)
{
	if (text(o, field, 1, NUSA_TEXT_MAX, 1, out, e) != 0)
		return -1;
	if (!payload_id_ok(*out, strlen(*out)))
		return invalid(e, field, (*out)[0] ? MSG_BAD_ID : MSG_EMPTY);
	return 0;
}

int
webreq_login(const json_t *o, struct webreq_login *r, struct webreq_err *e)
{
	/* Any name and PIN may be tried; a wrong one is just a failure. */
	if (text(o, "user", 1, USERS_NAME_MAX, 0, &r->user, e) != 0 ||
	    text(o, "pin", 1, USERS_PIN_MAX, 0, &r->pin, e) != 0)
		return -1;
	return 0;
}

int
webreq_lang(const json_t *o, int *lang, struct webreq_err *e)
{
	const char *s;

	if (text(o, "lang", 1, 8, 0, &s, e) != 0)
		return -1;
	if ((*lang = webreq_lang_parse(s)) < 0)
		return invalid(e, "lang", MSG_BAD_LANG);
	return 0;
}

int
webreq_member(const json_t *o, struct webreq_member *r,
    struct webreq_err *e)
{
	if (id_field(o, "id", &r->id, e) != 0 ||
	    text(o, "name", 1, NUSA_TEXT_MAX, 0, &r->name, e) != 0 ||
	    text(o, "village", 0, NUSA_TEXT_MAX, 1, &r->village, e) != 0)
		return -1;
	if (r->village && r->village[0] == '\0')
		r->village = NULL;
	return 0;
}

int
webreq_account(const json_t *o, struct webreq_account *r,
    struct webreq_err *e)
{
	if (id_field(o, "id", &r->id, e) != 0 ||
	    id_field(o, "member", &r->member, e) != 0 ||
	    text(o, "type", 1, 16, 0, &r->type, e) != 0)
		return -1;
	if (!ledger_account_type(r->type))
		return invalid(e, "type", MSG_BAD_ACCT_TYPE);
	return 0;
}

int
webreq_posting(const json_t *o, struct webreq_posting *r,
    struct webreq_err *e)
{
	const char *type, *date;
	const json_t *v;

	memset(r, 0, sizeof(*r));
	if (text(o, "type", 1, 16, 0, &type, e) != 0)
		return -1;
	r->type = payload_posting_parse(type);
	if (r->type != POST_DEPOSIT && r->type != POST_WITHDRAW &&
	    r->type != POST_DISBURSE && r->type != POST_REPAY)
		return invalid(e, "type", MSG_BAD_POST_TYPE);
	if (id_field(o, "account", &r->account, e) != 0)
		return -1;
	v = json_object_get(o, "amount");
	if (v == NULL || json_is_null(v))
		return invalid(e, "amount", MSG_MISSING);
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > NUSA_AMOUNT_MAX)
		return invalid(e, "amount", MSG_BAD_AMOUNT);
	r->amount = (int64_t)json_integer_value(v);
	if (text(o, "memo", 0, NUSA_TEXT_MAX, 1, &r->memo, e) != 0)
		return -1;
	if (r->memo == NULL)
		r->memo = "";
	if (text(o, "date", 0, 16, 1, &date, e) != 0)
		return -1;
	if (date && date[0] && ledger_parse_date(date, &r->date) != 0)
		return invalid(e, "date", MSG_BAD_DATE);
	v = json_object_get(o, "confirm");
	if (v == NULL || json_is_null(v))
		return invalid(e, "confirm", MSG_MISSING);
	if (!json_is_boolean(v))
		return invalid(e, "confirm", MSG_BAD_BOOL);
	r->confirm = json_is_true(v);
	return 0;
}

int
webreq_reverse(const json_t *o, struct webreq_reverse *r,
    struct webreq_err *e)
{
	if (text(o, "memo", 0, NUSA_TEXT_MAX, 1, &r->memo, e) != 0)
		return -1;
	if (r->memo == NULL)
		r->memo = "";
	return 0;
}

int
webreq_user(const json_t *o, struct webreq_user *r, struct webreq_err *e)
{
	const char *role;

	if (text(o, "user", 1, NUSA_TEXT_MAX, 0, &r->user, e) != 0)
		return -1;
	if (!users_name_ok(r->user))
		return invalid(e, "user", MSG_BAD_USER);
	if (text(o, "role", 1, 16, 0, &role, e) != 0)
		return -1;
	if ((r->role = users_role_parse(role)) == 0)
		return invalid(e, "role", MSG_BAD_ROLE);
	if (text(o, "pin", 1, NUSA_TEXT_MAX, 0, &r->pin, e) != 0)
		return -1;
	if (strlen(r->pin) < USERS_PIN_MIN || strlen(r->pin) > USERS_PIN_MAX)
		return invalid(e, "pin", MSG_BAD_PIN);
	return 0;
}

int
webreq_uint(const char *s, const char *name, unsigned long min,
    unsigned long max, unsigned long def, unsigned long *out,
    struct webreq_err *e)
{
	uint64_t v = 0;		/* 10 digits fit; an unsigned long may not */
	size_t i, n;

	if (s == NULL) {
		*out = def;
		return 0;
	}
	n = strlen(s);
	if (n == 0 || n > 10)
		return webreq_fail(e, 400, "invalid", MSG_BAD_NUMBER, name,
		    NULL);
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return webreq_fail(e, 400, "invalid", MSG_BAD_NUMBER,
			    name, NULL);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return webreq_fail(e, 400, "invalid", MSG_BAD_NUMBER, name,
		    NULL);
	*out = (unsigned long)v;
	return 0;
}

int
webreq_path_id(const char *s, struct webreq_err *e)
{
	if (!payload_id_ok(s, strlen(s)))
		return webreq_fail(e, 404, "not_found", MSG_NOT_FOUND, NULL,
		    NULL);
	return 0;
}

int
webreq_path_entry(const char *s, uint8_t id[32], struct webreq_err *e)
{
	if (strlen(s) != 64 || nusa_unhex(id, 32, s) != 0)
		return webreq_fail(e, 404, "not_found", MSG_NO_ENTRY, NULL,
		    NULL);
	return 0;
}
