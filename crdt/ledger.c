#include "ledger.h"

#include <string.h>
#include <time.h>

#include "entry.h"
#include "payload.h"
#include "state.h"
#include "store.h"

static const char *const account_types[] = { NULL, "pokok", "wajib",
	"sukarela", "loan" };

int
ledger_account_type(const char *s)
{
	int i;

	for (i = ACCT_POKOK; i <= ACCT_LOAN; i++)
		if (strcmp(s, account_types[i]) == 0)
			return i;
	return 0;
}

uint32_t
ledger_today(void)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL)
		return 19700101;
	return (uint32_t)(tm.tm_year + 1900) * 10000 +
	    (uint32_t)(tm.tm_mon + 1) * 100 + (uint32_t)tm.tm_mday;
}

/* Digits only: scanf's %u would also take signs and blanks. */
int
ledger_parse_date(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -NUSA_EMALFORMED;
	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7)
			continue;
		if (s[i] < '0' || s[i] > '9')
			return -NUSA_EMALFORMED;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (!payload_date_ok(v))
		return -NUSA_EMALFORMED;
	*out = v;
	return 0;
}

int
ledger_parse_amount(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 13)
		return -NUSA_ERANGE;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -NUSA_ERANGE;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0 || v > NUSA_AMOUNT_MAX)
		return -NUSA_ERANGE;
	*out = v;
	return 0;
}

static struct payload_str
pstr(const char *s)
{
	return (struct payload_str){ .p = s, .n = strlen(s) };
}

static int
append(struct store_txn *t, const struct key *k, struct payload *p,
    uint8_t id[NUSA_HASH_LEN])
{
	uint8_t buf[NUSA_PAYLOAD_MAX];
	size_t len;
	int rc;

	if ((rc = payload_encode(p, buf, sizeof(buf), &len)) != 0)
		return rc;
	return store_append(t, k, p->kind, buf, len, id);
}

/* Returns 1 if record (coll, id) exists and is not deleted. */
static int
record_exists(struct store_txn *t, uint8_t coll, const char *id,
    const char *field)
{
	char buf[NUSA_TEXT_MAX + 1];

	return state_field_get(t, coll, id, field, buf, sizeof(buf)) == 0;
}

int
ledger_member_add(struct store_txn *t, const struct key *k, const char *id,
    const char *name, const char *village)
{
	return ledger_member_add_by(t, k, id, name, village, NULL);
}

int
ledger_member_add_by(struct store_txn *t, const struct key *k,
    const char *id, const char *name, const char *village, const char *by)
{
	struct payload p = { .kind = KIND_RECORD };
	unsigned n = 0;

	if (!payload_id_ok(id, strlen(id)) || name[0] == '\0')
		return -NUSA_EMALFORMED;
	if (record_exists(t, COLL_MEMBER, id, "name"))
		return -NUSA_EEXIST;
	p.u.record.collection = COLL_MEMBER;
	p.u.record.key = pstr(id);
	/* Writing the tombstone field as "0" revives a removed member. */
	p.u.record.fields[n].name = pstr(RECORD_DELETED);
	p.u.record.fields[n++].value = pstr("0");
	p.u.record.fields[n].name = pstr("name");
	p.u.record.fields[n++].value = pstr(name);
	if (village) {
		p.u.record.fields[n].name = pstr("village");
		p.u.record.fields[n++].value = pstr(village);
	}
	p.u.record.nfields = (uint8_t)n;
	if (by)
		p.u.record.by = pstr(by);
	return append(t, k, &p, NULL);
}

static const char *
record_probe_field(uint8_t coll)
{
	return coll == COLL_MEMBER ? "name" : "type";
}

int
ledger_record_set(struct store_txn *t, const struct key *k, uint8_t coll,
    const char *id, size_t n, const char *const *names,
    const char *const *values)
{
	struct payload p = { .kind = KIND_RECORD };
	size_t i;

	if (n == 0 || n > PAYLOAD_FIELDS_MAX)
		return -NUSA_EMALFORMED;
	if (!record_exists(t, coll, id, record_probe_field(coll)))
		return -NUSA_ENOTFOUND;
	p.u.record.collection = coll;
	p.u.record.key = pstr(id);
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], RECORD_DELETED) == 0 ||
		    (coll == COLL_ACCOUNT && (strcmp(names[i], "type") == 0 ||
		    strcmp(names[i], "member") == 0)))
			return -NUSA_EFORBIDDEN;
		p.u.record.fields[i].name = pstr(names[i]);
		p.u.record.fields[i].value = pstr(values[i]);
	}
	p.u.record.nfields = (uint8_t)n;
	return append(t, k, &p, NULL);
}

int
ledger_record_remove(struct store_txn *t, const struct key *k, uint8_t coll,
    const char *id)
{
	struct payload p = { .kind = KIND_RECORD };

	if (!record_exists(t, coll, id, record_probe_field(coll)))
		return -NUSA_ENOTFOUND;
	p.u.record.collection = coll;
	p.u.record.key = pstr(id);
	p.u.record.fields[0].name = pstr(RECORD_DELETED);
	p.u.record.fields[0].value = pstr("1");
	p.u.record.nfields = 1;
	return append(t, k, &p, NULL);
}

int
ledger_account_open(struct store_txn *t, const struct key *k,
    const char *id, const char *member, const char *type)
{
	return ledger_account_open_by(t, k, id, member, type, NULL);
}

int
ledger_account_open_by(struct store_txn *t, const struct key *k,
    const char *id, const char *member, const char *type, const char *by)
{
	struct payload p = { .kind = KIND_RECORD };

	if (!payload_id_ok(id, strlen(id)) || !ledger_account_type(type))
		return -NUSA_EMALFORMED;
	if (!record_exists(t, COLL_MEMBER, member, "name"))
		return -NUSA_ENOTFOUND;
	if (record_exists(t, COLL_ACCOUNT, id, "type"))
		return -NUSA_EEXIST;
	p.u.record.collection = COLL_ACCOUNT;
	p.u.record.key = pstr(id);
	p.u.record.fields[0].name = pstr(RECORD_DELETED);
	p.u.record.fields[0].value = pstr("0");
	p.u.record.fields[1].name = pstr("member");
	p.u.record.fields[1].value = pstr(member);
	p.u.record.fields[2].name = pstr("type");
	p.u.record.fields[2].value = pstr(type);
	p.u.record.nfields = 3;
	if (by)
		p.u.record.by = pstr(by);
	return append(t, k, &p, NULL);
}

int
ledger_account_type_of(struct store_txn *t, const char *acct)
{
	char buf[NUSA_TEXT_MAX + 1];
	int rc;

	if ((rc = state_field_get(t, COLL_ACCOUNT, acct, "type", buf,
	    sizeof(buf))) != 0)
		return rc == -NUSA_ERANGE ? -NUSA_ECORRUPT : rc;
	rc = ledger_account_type(buf);
	return rc ? rc : -NUSA_ECORRUPT;
}

/* Refuses a leg that would take the balance of acct below zero. */
static int
check_funds(struct store_txn *t, const char *acct, int64_t amount)
{
	int64_t bal;
	int rc;

	if (amount >= 0)
		return 0;
	if ((rc = state_balance(t, acct, &bal)) != 0)
		return rc;
	return bal + amount < 0 ? -NUSA_EFUNDS : 0;
}

int
ledger_post(struct store_txn *t, const struct key *k, uint8_t type,
    const char *acct, const char *acct2, int64_t amount, const char *memo,
    uint32_t date, uint8_t id[NUSA_HASH_LEN])
{
	return ledger_post_by(t, k, type, acct, acct2, amount, memo, date,
	    NULL, id);
}

int
ledger_post_by(struct store_txn *t, const struct key *k, uint8_t type,
    const char *acct, const char *acct2, int64_t amount, const char *memo,
    uint32_t date, const char *by, uint8_t id[NUSA_HASH_LEN])
{
	struct payload p = { .kind = KIND_POSTING };
	int kind, kind2, loan, rc;

	if (amount <= 0 || amount > NUSA_AMOUNT_MAX)
		return -NUSA_ERANGE;
	if ((kind = ledger_account_type_of(t, acct)) < 0)
		return kind;
	loan = kind == ACCT_LOAN;
	p.u.posting.type = type;
	p.u.posting.date = date;
	p.u.posting.memo = pstr(memo ? memo : "");
	p.u.posting.nlegs = 1;
	p.u.posting.legs[0].account = pstr(acct);
	switch (type) {
	case POST_DEPOSIT:
	case POST_WITHDRAW:
		if (loan)
			return -NUSA_EFORBIDDEN;
		p.u.posting.legs[0].amount = type == POST_DEPOSIT ? amount :
		    -amount;
		break;
	case POST_DISBURSE:
	case POST_REPAY:
		if (!loan)
			return -NUSA_EFORBIDDEN;
		p.u.posting.legs[0].amount = type == POST_DISBURSE ? amount :
		    -amount;
		break;
	case POST_TRANSFER:
		if (acct2 == NULL)
			return -NUSA_EMALFORMED;
		if ((kind2 = ledger_account_type_of(t, acct2)) < 0)
			return kind2;
		if (loan || kind2 == ACCT_LOAN)
			return -NUSA_EFORBIDDEN;
		p.u.posting.nlegs = 2;
		p.u.posting.legs[0].amount = -amount;
		p.u.posting.legs[1].account = pstr(acct2);
		p.u.posting.legs[1].amount = amount;
		break;
	default:
		return -NUSA_EMALFORMED;
	}
	if ((rc = check_funds(t, acct, p.u.posting.legs[0].amount)) != 0)
		return rc;
	if (by)
		p.u.posting.by = pstr(by);
	return append(t, k, &p, id);
}

int
ledger_reverse(struct store_txn *t, const struct key *k,
    const uint8_t orig[NUSA_HASH_LEN], const char *memo, uint32_t date,
    uint8_t id[NUSA_HASH_LEN])
{
	return ledger_reverse_by(t, k, orig, memo, date, NULL, id);
}

int
ledger_reverse_by(struct store_txn *t, const struct key *k,
    const uint8_t orig[NUSA_HASH_LEN], const char *memo, uint32_t date,
    const char *by, uint8_t id[NUSA_HASH_LEN])
{
	struct payload op, p = { .kind = KIND_POSTING };
	char accts[2][NUSA_ID_MAX + 1];
	const uint8_t *body;
	struct entry e;
	size_t len;
	unsigned i;
	int rc;

	if ((rc = store_entry(t, orig, &body, &len, NULL)) != 0)
		return rc;
	if ((rc = entry_decode(&e, body, len)) != 0)
		return -NUSA_ECORRUPT;
	if (e.kind != KIND_POSTING || !state_effective(t, &e))
		return -NUSA_ENOTFOUND;
	if (payload_decode(&op, e.kind, e.payload, e.payload_len) != 0)
		return -NUSA_ECORRUPT;
	if (op.u.posting.type == POST_REVERSE || state_reversed(t, orig))
		return -NUSA_EEXIST;
	p.u.posting.type = POST_REVERSE;
	memcpy(p.u.posting.ref, orig, NUSA_HASH_LEN);
	p.u.posting.date = date;
	p.u.posting.memo = pstr(memo ? memo : "");
	p.u.posting.nlegs = op.u.posting.nlegs;
	for (i = 0; i < op.u.posting.nlegs; i++) {
		const struct payload_leg *l = &op.u.posting.legs[i];

		memcpy(accts[i], l->account.p, l->account.n);
		accts[i][l->account.n] = '\0';
		p.u.posting.legs[i].account = l->account;
		p.u.posting.legs[i].amount = -l->amount;
		if ((rc = check_funds(t, accts[i], -l->amount)) != 0)
			return rc;
	}
	/* A reversed transfer must still list the debited leg first. */
	if (p.u.posting.nlegs == 2) {
		struct payload_leg tmp = p.u.posting.legs[0];

		p.u.posting.legs[0] = p.u.posting.legs[1];
		p.u.posting.legs[1] = tmp;
	}
	if (by)
		p.u.posting.by = pstr(by);
	return append(t, k, &p, id);
}

int
ledger_enrol(struct store_txn *t, const struct key *k,
    const uint8_t pk[NUSA_KEY_LEN], uint8_t role)
{
	struct payload p = { .kind = KIND_CERT };

	if (role < ROLE_ADMIN || role > ROLE_RELAY)
		return -NUSA_EMALFORMED;
	memcpy(p.u.cert.device, pk, NUSA_KEY_LEN);
	p.u.cert.role = role;
	return append(t, k, &p, NULL);
}

int
ledger_revoke(struct store_txn *t, const struct key *k,
    const uint8_t pk[NUSA_KEY_LEN])
{
	struct payload p = { .kind = KIND_REVOKE };
	struct store_device d;

	if (store_device(t, pk, &d) != 0 || d.role == ROLE_NONE ||
	    d.role == ROLE_ROOT)
		return -NUSA_ENOTFOUND;
	if (d.cut != UINT64_MAX)
		return -NUSA_EEXIST;
	memcpy(p.u.revoke.device, pk, NUSA_KEY_LEN);
	p.u.revoke.last_seq = store_vector_get(t, pk);
	return append(t, k, &p, NULL);
}
