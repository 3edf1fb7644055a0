/* The web API's request validators take any body: whatever a client
 * sends, they either refuse it with a status, code and message, or hand
 * out values within the documented limits. The first input byte picks the
 * validator, the rest is the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "ledger.h"
#include "nusa.h"
#include "payload.h"
#include "users.h"
#include "webreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_err(const struct webreq_err *e)
{
	char msg[512];
	json_t *j;

	if (e->status < 400 || e->status > 599 || e->code == NULL)
		abort();
	webreq_message(e, WEBREQ_ID, msg, sizeof(msg));
	if (msg[0] == '\0' || strstr(msg, "%s"))
		abort();
	webreq_message(e, WEBREQ_EN, msg, sizeof(msg));
	if (msg[0] == '\0')
		abort();
	if ((j = webreq_error_json(e, WEBREQ_EN)) == NULL)
		abort();
	json_decref(j);
}

static void
text_ok(const char *s, size_t max)
{
	if (s && (strlen(s) > max || !codec_text_ok(s, strlen(s))))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webreq_err e;
	json_t *o = NULL;
	int rc = 0, lang;
	uint8_t id[32];
	unsigned long v;

	if (size < 1)
		return 0;
	memset(&e, 0, sizeof(e));
	switch (data[0] % 9) {
	case 7: {
		char q[64];
		size_t n = size - 1 < sizeof(q) - 1 ? size - 1 : sizeof(q) - 1;

		memcpy(q, data + 1, n);
		q[n] = '\0';
		rc = webreq_uint(q, "limit", 1, WEBREQ_LIMIT_MAX, 50, &v, &e);
		if (rc == 0 && (v < 1 || v > WEBREQ_LIMIT_MAX))
			abort();
		if (rc)
			check_err(&e);
		if (webreq_path_entry(q, id, &e) == 0 && strlen(q) != 64)
			abort();
		return 0;
	}
	default:
		break;
	}
	if (webreq_parse(&o, (const char *)data + 1, size - 1, data[0] & 1,
	    &e) != 0) {
		check_err(&e);
		return 0;
	}
	switch (data[0] % 9) {
	case 0: {
		struct webreq_login r;

		if ((rc = webreq_login(o, &r, &e)) == 0) {
			text_ok(r.user, USERS_NAME_MAX);
			text_ok(r.pin, USERS_PIN_MAX);
		}
		break;
	}
	case 1:
		if ((rc = webreq_lang(o, &lang, &e)) == 0 && lang != WEBREQ_ID &&
		    lang != WEBREQ_EN)
			abort();
		break;
	case 2: {
		struct webreq_member r;

		if ((rc = webreq_member(o, &r, &e)) == 0) {
			if (!payload_id_ok(r.id, strlen(r.id)) || !r.name[0])
				abort();
			text_ok(r.name, NUSA_TEXT_MAX);
			text_ok(r.village, NUSA_TEXT_MAX);
		}
		break;
	}
	case 3: {
		struct webreq_account r;

		if ((rc = webreq_account(o, &r, &e)) == 0 &&
		    (!payload_id_ok(r.id, strlen(r.id)) ||
		    !payload_id_ok(r.member, strlen(r.member)) ||
		    !ledger_account_type(r.type)))
			abort();
		break;
	}
	case 4: {
		struct webreq_posting r;

		if ((rc = webreq_posting(o, &r, &e)) == 0) {
			if (r.amount < 1 || r.amount > NUSA_AMOUNT_MAX ||
			    !payload_id_ok(r.account, strlen(r.account)) ||
			    (r.date && !payload_date_ok(r.date)) ||
			    r.type < POST_DEPOSIT || r.type > POST_REPAY ||
			    r.type == POST_TRANSFER)
				abort();
			text_ok(r.memo, NUSA_TEXT_MAX);
		}
		break;
	}
	case 5: {
		struct webreq_reverse r;

		if ((rc = webreq_reverse(o, &r, &e)) == 0)
			text_ok(r.memo, NUSA_TEXT_MAX);
		break;
	}
	default: {
		struct webreq_user r;

		if ((rc = webreq_user(o, &r, &e)) == 0 &&
		    (!users_name_ok(r.user) || r.role < USERS_CLERK ||
		    r.role > USERS_ADMIN || strlen(r.pin) < USERS_PIN_MIN ||
		    strlen(r.pin) > USERS_PIN_MAX))
			abort();
		break;
	}
	}
	if (rc)
		check_err(&e);
	json_decref(o);
	return 0;
}
