/* The web API's request validation: each body is taken or refused with
 * the right status, code, field and message in both languages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "nusa.h"
#include "payload.h"
#include "users.h"
#include "webreq.h"

static json_t *
body(const char *s)
{
	struct webreq_err e;
	json_t *o = NULL;

	assert_int_equal(webreq_parse(&o, s, strlen(s), 0, &e), 0);
	return o;
}

/* Runs a posting body; returns 0 or the refused field in *field. */
static int
posting(const char *s, struct webreq_posting *p, const char **field)
{
	struct webreq_err e;
	json_t *o = body(s);
	static char memo[600];
	int rc = webreq_posting(o, p, &e);

	if (rc == 0) {
		/* The strings live in o: keep what the tests look at. */
		snprintf(memo, sizeof(memo), "%s", p->memo);
		p->memo = memo;
		p->account = NULL;
	}
	if (rc) {
		assert_int_equal(e.status, 400);
		assert_string_equal(e.code, "invalid");
		*field = e.field;
	}
	json_decref(o);
	return rc;
}

static void
test_parse(void **state)
{
	struct webreq_err e;
	json_t *o;
	char big[WEBREQ_BODY_MAX + 2];

	(void)state;
	assert_int_equal(webreq_parse(&o, "[1]", 3, 0, &e), -1);
	assert_string_equal(e.field, "body");
	assert_int_equal(webreq_parse(&o, "{\"a\":1,\"a\":2}", 13, 0, &e),
	    -1);
	assert_int_equal(webreq_parse(&o, "{\"a\":\"\xff\"}", 9, 0, &e), -1);
	assert_int_equal(webreq_parse(&o, "{\"a\":\"x\\u0000y\"}", 16, 0,
	    &e), -1);
	assert_int_equal(webreq_parse(&o, "{\"a\":\"x\\u0041y\"}", 16, 0,
	    &e), 0);
	json_decref(o);
	assert_int_equal(webreq_parse(&o, "", 0, 0, &e), -1);
	assert_int_equal(webreq_parse(&o, "", 0, 1, &e), 0);
	assert_true(json_is_object(o));
	json_decref(o);
	memset(big, ' ', sizeof(big));
	assert_int_equal(webreq_parse(&o, big, sizeof(big), 0, &e), -1);
	assert_int_equal(e.status, 413);
	assert_string_equal(e.code, "too_large");
}

static void
test_posting(void **state)
{
	struct webreq_posting p;
	const char *f = NULL;

	(void)state;
	assert_int_equal(posting("{\"type\":\"deposit\",\"account\":\"A1\","
	    "\"amount\":150000,\"memo\":\"setor\",\"date\":\"2024-02-29\","
	    "\"confirm\":true}", &p, &f), 0);
	assert_int_equal(p.type, POST_DEPOSIT);
	assert_true(p.amount == 150000);
	assert_int_equal(p.date, 20240229);
	assert_true(p.confirm);
	assert_string_equal(p.memo, "setor");
	assert_int_equal(posting("{\"type\":\"repay\",\"account\":\"L1\","
	    "\"amount\":1000000000000,\"confirm\":false}", &p, &f), 0);
	assert_int_equal(p.date, 0);
	assert_string_equal(p.memo, "");
	assert_false(p.confirm);
	/* 2^63 is JSON, but no amount: the amount is named, not the body. */
	assert_int_equal(posting("{\"type\":\"deposit\",\"account\":\"A1\","
	    "\"amount\":9223372036854775808,\"confirm\":true}", &p, &f), -1);
	assert_string_equal(f, "amount");
#define REFUSED(b, fld)                                                 \
	do {                                                            \
		f = NULL;                                               \
		assert_int_equal(posting(b, &p, &f), -1);               \
		assert_string_equal(f, fld);                            \
	} while (0)
	REFUSED("{\"type\":\"deposit\",\"account\":\"A1\",\"amount\":0,"
	    "\"confirm\":true}", "amount");
	REFUSED("{\"type\":\"deposit\",\"account\":\"A1\",\"amount\":-5,"
	    "\"confirm\":true}", "amount");
	REFUSED("{\"type\":\"deposit\",\"account\":\"A1\","
	    "\"amount\":1000000000001,\"confirm\":true}", "amount");
	REFUSED("{\"type\":\"deposit\",\"account\":\"A1\",\"amount\":1.5,"
	    "\"confirm\":true}", "amount");
	REFUSED("{\"type\":\"deposit\",\"account\":\"A1\",\"amount\":\"5\","
	    "\"confirm\":true}", "amount");
	REFUSED("{\"type\":\"transfer\",\"account\":\"A1\",\"amount\":5,"
	    "\"confirm\":true}", "type");
	REFUSED("{\"account\":\"A1\",\"amount\":5,\"confirm\":true}", "type");
	REFUSED("{\"type\":\"deposit\",\"account\":\"A 1\",\"amount\":5,"
	    "\"confirm\":true}", "account");
	REFUSED("{\"type\":\"deposit\",\"account\":\"A1\",\"amount\":5,"
	    "\"date\":\"2023-02-29\",\"confirm\":true}", "date");
	REFUSED("{\"type\":\"deposit\",\"account\":\"A1\",\"amount\":5,"
	    "\"confirm\":1}", "confirm");
	REFUSED("{\"type\":\"deposit\",\"account\":\"A1\",\"amount\":5,"
	    "\"memo\":\"line\\nbreak\",\"confirm\":true}", "memo");
}

static void
test_forms(void **state)
{
	struct webreq_member m;
	struct webreq_account a;
	struct webreq_user u;
	struct webreq_login l;
	struct webreq_err e;
	json_t *o;
	int lang;

	(void)state;
	o = body("{\"id\":\"M1\",\"name\":\"Siti\",\"village\":\"\"}");
	assert_int_equal(webreq_member(o, &m, &e), 0);
	assert_null(m.village);
	json_decref(o);
	o = body("{\"id\":\"M1\",\"name\":\"\"}");
	assert_int_equal(webreq_member(o, &m, &e), -1);
	assert_string_equal(e.field, "name");
	json_decref(o);
	o = body("{\"id\":\"M1\",\"member\":\"M1\",\"type\":\"loan\"}");
	assert_int_equal(webreq_account(o, &a, &e), 0);
	json_decref(o);
	o = body("{\"id\":\"M1\",\"member\":\"M1\",\"type\":\"Loan\"}");
	assert_int_equal(webreq_account(o, &a, &e), -1);
	assert_string_equal(e.field, "type");
	json_decref(o);
	o = body("{\"user\":\"a.b\",\"role\":\"treasurer\",\"pin\":\"1234\"}");
	assert_int_equal(webreq_user(o, &u, &e), 0);
	assert_int_equal(u.role, USERS_TREASURER);
	json_decref(o);
	o = body("{\"user\":\"a.b\",\"role\":\"root\",\"pin\":\"1234\"}");
	assert_int_equal(webreq_user(o, &u, &e), -1);
	assert_string_equal(e.field, "role");
	json_decref(o);
	o = body("{\"user\":\"siti\",\"pin\":7}");
	assert_int_equal(webreq_login(o, &l, &e), -1);
	assert_string_equal(e.field, "pin");
	json_decref(o);
	o = body("{\"lang\":\"en\"}");
	assert_int_equal(webreq_lang(o, &lang, &e), 0);
	assert_int_equal(lang, WEBREQ_EN);
	json_decref(o);
}

static void
test_query_and_messages(void **state)
{
	struct webreq_err e;
	unsigned long v;
	uint8_t id[32];
	char msg[256];

	(void)state;
	assert_int_equal(webreq_uint(NULL, "limit", 1, 200, 50, &v, &e), 0);
	assert_int_equal(v, 50);
	assert_int_equal(webreq_uint("200", "limit", 1, 200, 50, &v, &e), 0);
	assert_int_equal(v, 200);
	assert_int_equal(webreq_uint("201", "limit", 1, 200, 50, &v, &e), -1);
	assert_string_equal(e.field, "limit");
	assert_int_equal(webreq_uint("0", "limit", 1, 200, 50, &v, &e), -1);
	assert_int_equal(webreq_uint("-1", "offset", 0, 9, 0, &v, &e), -1);
	assert_int_equal(webreq_uint("", "offset", 0, 9, 0, &v, &e), -1);
	assert_int_equal(webreq_uint("99999999999", "offset", 0,
	    WEBREQ_OFFSET_MAX, 0, &v, &e), -1);
	/* 2^32 is not 0 where an unsigned long has 32 bits (armhf). */
	assert_int_equal(webreq_uint("4294967296", "offset", 0,
	    WEBREQ_OFFSET_MAX, 0, &v, &e), -1);
	assert_int_equal(webreq_uint("9999999999", "offset", 0,
	    WEBREQ_OFFSET_MAX, 0, &v, &e), -1);
	assert_int_equal(webreq_path_entry("00", id, &e), -1);
	assert_int_equal(e.status, 404);
	assert_int_equal(webreq_path_entry("00000000000000000000000000000000"
	    "0000000000000000000000000000000g", id, &e), -1);
	assert_int_equal(webreq_path_id("../x", &e), -1);
	webreq_fail(&e, 400, "invalid", MSG_MISSING, "amount", NULL);
	webreq_message(&e, WEBREQ_ID, msg, sizeof(msg));
	assert_string_equal(msg, "Kolom jumlah wajib diisi.");
	webreq_message(&e, WEBREQ_EN, msg, sizeof(msg));
	assert_string_equal(msg, "The field amount is required.");
	/* Fields by their names in each language, not the JSON keys. */
	webreq_fail(&e, 400, "invalid", MSG_BAD_TEXT, "village", NULL);
	webreq_message(&e, WEBREQ_ID, msg, sizeof(msg));
	assert_string_equal(msg, "Kolom desa terlalu panjang (maks. 512 byte) "
	    "atau berisi karakter kendali.");
	webreq_message(&e, WEBREQ_EN, msg, sizeof(msg));
	assert_non_null(strstr(msg, "The field village is too long"));
	webreq_fail(&e, 400, "invalid", MSG_EMPTY, "name", NULL);
	webreq_message(&e, WEBREQ_ID, msg, sizeof(msg));
	assert_string_equal(msg, "Kolom nama tidak boleh kosong.");
	/* A value (not the field) is shown as it is. */
	webreq_fail(&e, 404, "not_found", MSG_NO_MEMBER, "member", "name");
	webreq_message(&e, WEBREQ_ID, msg, sizeof(msg));
	assert_string_equal(msg, "Anggota name tidak ditemukan.");
	webreq_fail(&e, 429, "rate_limited", MSG_RATE_LIMITED, NULL, "30");
	webreq_message(&e, WEBREQ_EN, msg, sizeof(msg));
	assert_non_null(strstr(msg, "in 30 seconds"));
	/* Every message exists in both languages. */
	for (e.msg = 0; e.msg < MSG_COUNT; e.msg++) {
		webreq_message(&e, WEBREQ_ID, msg, sizeof(msg));
		assert_true(strlen(msg) > 5);
		webreq_message(&e, WEBREQ_EN, msg, sizeof(msg));
		assert_true(strlen(msg) > 5);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_posting),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_query_and_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
