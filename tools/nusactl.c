/* nusactl: the command line of a nusa box. Every command works on the
 * box's data directory (-d DIR, else $NUSA_DIR, else /var/lib/nusa):
 * DIR/device.key holds the device's secret key, DIR/store the LMDB store.
 * Exit codes: 0 success, 1 failure, 2 misuse (see docs/cli.md). */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "books.h"
#include "bundle.h"
#include "codec.h"
#include "entry.h"
#include "hlc.h"
#include "key.h"
#include "ledger.h"
#include "outfile.h"
#include "payload.h"
#include "receipt.h"
#include "replica.h"
#include "state.h"
#include "store.h"
#include "users.h"
#include "vector.h"

#define EXIT_USAGE 2
#define HEXKEY	   (2 * NUSA_KEY_LEN + 1)

/* Options a command may take; each command lists the ones it accepts. */
enum opt {
	O_JSON, O_NETWORK, O_ROLE, O_NAME, O_VILLAGE, O_MEMBER, O_TYPE,
	O_MEMO, O_DATE, O_FOR, O_OUT, O_TIMEOUT, O_FOR_PEER, O_PIN_STDIN,
	O_COUNT
};

static const struct {
	const char *name;
	int has_arg;
} opts[O_COUNT] = {
	[O_JSON] = { "json", 0 },
	[O_NETWORK] = { "network", 1 },
	[O_ROLE] = { "role", 1 },
	[O_NAME] = { "name", 1 },
	[O_VILLAGE] = { "village", 1 },
	[O_MEMBER] = { "member", 1 },
	[O_TYPE] = { "type", 1 },
	[O_MEMO] = { "memo", 1 },
	[O_DATE] = { "date", 1 },
	[O_FOR] = { "for", 1 },
	[O_OUT] = { "out", 1 },
	[O_TIMEOUT] = { "timeout", 1 },
	[O_FOR_PEER] = { "for-peer", 1 },
	[O_PIN_STDIN] = { "pin-stdin", 0 },
};

#define OPT(o) (1u << (o))

struct ctl {
	const char *dir;
	const char *cmd;	/* "member add", for messages */
	char keypath[PATH_MAX];
	char storepath[PATH_MAX];
	const char *opt[O_COUNT];
	int json;
	int argc;		/* positional arguments after the command */
	char **argv;
	struct store *s;
	struct key *k;
};

struct command {
	const char *name;	/* "member add": words to match */
	int (*fn)(struct ctl *c);
	unsigned opts;
	int min_args, max_args;
	const char *usage;
	const char *help;
};

static void die(struct ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Failure: one line on stderr, "nusactl: CMD: what". Returns 1. */
static int
fail(struct ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nusactl: %s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

/* Misuse: one line and a pointer to help; exits 2. */
static void
die(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nusactl: %s: ", c->cmd ? c->cmd : "usage");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see nusactl --help)\n");
	exit(EXIT_USAGE);
}

static int
open_store(struct ctl *c, int create)
{
	int rc = store_open(&c->s, c->storepath, create ? STORE_CREATE : 0);

	if (rc == -ENOENT)
		return fail(c, "no box in %s: run nusactl -d %s init or keygen",
		    c->dir, c->dir);
	if (rc)
		return fail(c, "%s: %s", c->storepath, nusa_strerror(rc));
	return 0;
}

static int
load_key(struct ctl *c)
{
	int rc = key_load(&c->k, c->keypath);

	if (rc == -ENOENT)
		return fail(c, "no device key in %s: run nusactl -d %s keygen",
		    c->dir, c->dir);
	if (rc)
		return fail(c, "%s: %s", c->keypath, nusa_strerror(rc));
	return 0;
}

static const char *
rekey_why(int reason)
{
	switch (reason) {
	case REKEY_COPY:
		return "was copied (or its data directory moved)";
	case REKEY_RESTORE:
		return "was restored from an older copy (a peer or bundle "
		    "holds more of its own feed)";
	default:
		return "was rekeyed by hand";
	}
}

/* Writes refused while the new key waits for its enrolment. */
static int
refuse_pending(struct ctl *c, const struct rekey *rk)
{
	char nw[HEXKEY];

	nusa_hex(nw, rk->new, NUSA_KEY_LEN);
	return fail(c, "refused: this box %s; its device key was replaced by "
	    "%s, which is not enrolled yet: ask an admin to run: nusactl "
	    "enrol %s --role %s (writes resume once that enrolment arrives "
	    "by sync or bundle)", rekey_why(rk->reason), nw, nw,
	    payload_role_name(rk->role));
}

/* Every writer of the feed, before it loads the key: a copied box
 * switches keys here, and a box waiting for its new key's enrolment
 * writes nothing (docs/CLONES.md). */
static int
guard(struct ctl *c)
{
	struct replica_status st;
	char old[HEXKEY], nw[HEXKEY];
	int rc = replica_check(c->dir, c->s, &st);

	if (rc)
		return fail(c, "%s/replica, %s/rekey: %s (docs/CLONES.md)",
		    c->dir, c->dir, nusa_strerror(rc));
	if (st.rekeyed)
		fprintf(stderr, "nusactl: this box %s: device key %s retired "
		    "(kept as %s.retired-%" PRIu64 "); new device %s\n",
		    rekey_why(st.rk.reason), nusa_hex(old, st.rk.old,
		    NUSA_KEY_LEN), c->keypath, st.rk.time,
		    nusa_hex(nw, st.rk.new, NUSA_KEY_LEN));
	if (st.settled)
		fprintf(stderr, "nusactl: the new device key is enrolled: "
		    "writing again\n");
	if (st.pending)
		return refuse_pending(c, &st.rk);
	if (st.claimed)
		return fail(c, "refused: a peer says it holds more of this "
		    "box's own feed than the box does (restored from an older "
		    "copy?); nusad waits for those entries: try again in a "
		    "moment (%s/claim; left by a nusad that crashed, it goes "
		    "when nusad starts)", c->dir);
	return 0;
}

/* Opens the store and the key, and begins a transaction. */
static int
begin(struct ctl *c, struct store_txn **t, int flags, int with_key)
{
	int rc;

	if (with_key && flags == STORE_WRITE) {
		if (open_store(c, 0) != 0 || guard(c) != 0 ||
		    load_key(c) != 0)
			return EXIT_FAILURE;
	} else if (with_key && load_key(c) != 0)
		return EXIT_FAILURE;
	if (c->s == NULL && open_store(c, 0) != 0)
		return EXIT_FAILURE;
	if ((rc = store_begin(c->s, t, flags)) != 0)
		return fail(c, "%s", nusa_strerror(rc));
	return 0;
}

/* Commits t and reports a failure of the commit. */
static int
commit(struct ctl *c, struct store_txn *t)
{
	int rc = store_commit(t);

	return rc ? fail(c, "commit: %s", nusa_strerror(rc)) : 0;
}

static int
aborted(struct ctl *c, struct store_txn *t, const char *what, int rc)
{
	store_abort(t);
	if (what)
		return fail(c, "%s: %s", what, nusa_strerror(rc));
	return fail(c, "%s", nusa_strerror(rc));
}

static int
mkdir_box(struct ctl *c)
{
	if (mkdir(c->dir, 0700) != 0 && errno != EEXIST)
		return fail(c, "%s: %s", c->dir, strerror(errno));
	return 0;
}

/* Argument checks: these die() with exit 2 on misuse, so they run before
 * anything is opened. */
static void
parse_device(struct ctl *c, const char *s, uint8_t pk[NUSA_KEY_LEN])
{
	if (nusa_unhex(pk, NUSA_KEY_LEN, s) != 0)
		die(c, "%s is not a device id (64 hex digits)", s);
}

static void
check_text(struct ctl *c, const char *what, const char *s, int required)
{
	size_t n = s ? strlen(s) : 0;

	if (s == NULL || n == 0) {
		if (required)
			die(c, "%s must not be empty", what);
		return;
	}
	if (n > NUSA_TEXT_MAX || !codec_text_ok(s, n))
		die(c, "%s must be text of at most %d bytes (UTF-8, no line "
		    "breaks)", what, NUSA_TEXT_MAX);
}

static void
check_id(struct ctl *c, const char *what, const char *s)
{
	if (!payload_id_ok(s, strlen(s)))
		die(c, "bad %s id %s: use up to %d of A-Z a-z 0-9 . _ -", what,
		    s, NUSA_ID_MAX);
}

static void
parse_amount(struct ctl *c, const char *s, int64_t *out)
{
	if (ledger_parse_amount(s, out) != 0)
		die(c, "bad amount %s: whole rupiah, digits only (150000, not "
		    "150.000), at most 1000000000000", s);
}

static void
json_out(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(j);
}

static const char *
hex_key(char out[HEXKEY], const uint8_t *k)
{
	return nusa_hex(out, k, NUSA_KEY_LEN);
}

/* --- identity ---------------------------------------------------------- */

static int
make_key(struct ctl *c)
{
	struct key *k;
	int rc;

	if (access(c->keypath, F_OK) == 0)
		return load_key(c);
	if ((k = key_generate()) == NULL)
		return fail(c, "cannot generate a key");
	if ((rc = key_save(k, c->keypath)) != 0) {
		key_free(&k);
		return fail(c, "%s: %s", c->keypath, nusa_strerror(rc));
	}
	c->k = k;
	return 0;
}

static int
cmd_keygen(struct ctl *c)
{
	char hex[HEXKEY];

	if (mkdir_box(c) != 0)
		return EXIT_FAILURE;
	if (access(c->keypath, F_OK) == 0)
		return fail(c, "%s exists: this box has a key already "
		    "(nusactl -d %s id shows it)", c->keypath, c->dir);
	if (make_key(c) != 0 || open_store(c, 1) != 0)
		return EXIT_FAILURE;
	printf("device %s\n", hex_key(hex, c->k->pk));
	return 0;
}

static int
cmd_init(struct ctl *c)
{
	const char *name = c->opt[O_NETWORK];
	char hex[HEXKEY];
	struct store_txn *t;
	int rc;

	if (name == NULL)
		die(c, "--network NAME is required");
	check_text(c, "the network name", name, 1);
	if (mkdir_box(c) != 0 || make_key(c) != 0 || open_store(c, 1) != 0)
		return EXIT_FAILURE;
	if ((rc = store_begin(c->s, &t, STORE_WRITE)) != 0)
		return fail(c, "%s", nusa_strerror(rc));
	rc = store_create_network(t, c->k, name);
	if (rc == -NUSA_EEXIST) {
		store_abort(t);
		return fail(c, "this box already belongs to a network");
	}
	if (rc == -NUSA_EMALFORMED)
		return aborted(c, t, "bad network name", rc);
	if (rc)
		return aborted(c, t, NULL, rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("network %s %s\n", hex_key(hex, c->k->pk), name);
	printf("device %s\n", hex);
	printf("role root\n");
	return 0;
}

/* "rekeyed from OLD (REASON), waiting for enrolment: nusactl enrol NEW
 * --role ROLE", for id and status. */
static void
print_pending(const struct rekey *rk)
{
	char old[HEXKEY], nw[HEXKEY];

	printf("rekeyed from %s (%s), waiting for enrolment: nusactl enrol "
	    "%s --role %s\n", hex_key(old, rk->old), rekey_reason_name(
	    rk->reason), hex_key(nw, rk->new), payload_role_name(rk->role));
}

static json_t *
rekey_json(const struct rekey *rk)
{
	char old[HEXKEY], nw[HEXKEY], cmd[2 * HEXKEY + 40];

	hex_key(old, rk->old);
	hex_key(nw, rk->new);
	snprintf(cmd, sizeof(cmd), "nusactl enrol %s --role %s", nw,
	    payload_role_name(rk->role));
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "old", old, "new", nw,
	    "role", payload_role_name(rk->role), "reason",
	    rekey_reason_name(rk->reason), "time", (json_int_t)rk->time,
	    "command", cmd);
}

/* Whether DIR/rekey waits for the enrolment of the key in use. */
static int
rekey_pending(struct ctl *c, struct rekey *rk)
{
	uint8_t id[NUSA_KEY_LEN];
	struct store_device d;
	struct store_txn *t;
	int rc;

	if (rekey_load(rk, c->dir) != 0 || c->k == NULL ||
	    memcmp(rk->new, c->k->pk, NUSA_KEY_LEN) != 0)
		return 0;
	if (c->s == NULL && store_open(&c->s, c->storepath, 0) != 0)
		return 1;
	if (store_begin(c->s, &t, STORE_READ) != 0)
		return 1;
	rc = store_network(t, id, NULL, 0) == 0 &&
	    store_device(t, rk->new, &d) == 0 && d.cut == UINT64_MAX;
	store_abort(t);
	return !rc;
}

static int
cmd_rekey(struct ctl *c)
{
	char old[HEXKEY], nw[HEXKEY];
	struct rekey rk;
	int rc;

	if (load_key(c) != 0 || open_store(c, 0) != 0)
		return EXIT_FAILURE;
	if (rekey_pending(c, &rk))
		return fail(c, "this box waits already for the enrolment of %s: "
		    "ask an admin to run: nusactl enrol %s --role %s",
		    hex_key(nw, rk.new), nw, payload_role_name(rk.role));
	rc = replica_rekey(c->dir, c->s, REKEY_MANUAL, c->k->pk, &rk);
	if (rc < 0)
		return fail(c, "%s", nusa_strerror(rc));
	if (rc > 0)
		return fail(c, "the device key changed meanwhile: run it again");
	printf("rekeyed: device %s replaces %s (kept as %s.retired-%" PRIu64
	    ")\n", hex_key(nw, rk.new), hex_key(old, rk.old), c->keypath,
	    rk.time);
	printf("ask an admin to run: nusactl enrol %s --role %s\n", nw,
	    payload_role_name(rk.role));
	return 0;
}

static int
cmd_id(struct ctl *c)
{
	char dev[HEXKEY], net[HEXKEY], name[NUSA_TEXT_MAX + 1] = "";
	uint8_t id[NUSA_KEY_LEN];
	struct store_device d = { .cut = UINT64_MAX };
	struct store_txn *t;
	struct rekey rk;
	int have_net, pending;

	if (begin(c, &t, STORE_READ, 1) != 0)
		return EXIT_FAILURE;
	have_net = store_network(t, id, name, sizeof(name)) == 0;
	if (have_net && store_device(t, c->k->pk, &d) != 0)
		d.cut = UINT64_MAX;	/* not enrolled: role none */
	store_abort(t);
	hex_key(dev, c->k->pk);
	if (have_net)
		hex_key(net, id);
	pending = d.role == ROLE_NONE && rekey_load(&rk, c->dir) == 0 &&
	    memcmp(rk.new, c->k->pk, NUSA_KEY_LEN) == 0;
	if (c->json) {
		json_out(json_pack("{s:s,s:o,s:o,s:s,s:b,s:o}", "device", dev,
		    "network", have_net ? json_string(net) : json_null(),
		    "name", have_net ? json_string(name) : json_null(),
		    "role", payload_role_name(d.role), "revoked",
		    d.cut != UINT64_MAX && have_net, "rekey",
		    pending ? rekey_json(&rk) : json_null()));
		return 0;
	}
	printf("device %s\n", dev);
	printf("network %s\n", have_net ? net : "none");
	printf("role %s%s\n", payload_role_name(d.role),
	    have_net && d.cut != UINT64_MAX ? " (revoked)" : "");
	if (have_net)
		printf("name %s\n", name);
	if (pending)
		print_pending(&rk);
	return 0;
}

static int
cmd_enrol(struct ctl *c)
{
	uint8_t pk[NUSA_KEY_LEN], role;
	struct store_device d;
	struct store_txn *t;
	int rc;

	parse_device(c, c->argv[0], pk);
	if (c->opt[O_ROLE] == NULL)
		die(c, "--role clerk|admin|relay is required");
	if ((role = payload_role_parse(c->opt[O_ROLE])) == 0)
		die(c, "unknown role %s: use clerk, admin or relay",
		    c->opt[O_ROLE]);
	if (begin(c, &t, STORE_WRITE, 1) != 0)
		return EXIT_FAILURE;
	if (memcmp(pk, c->k->pk, NUSA_KEY_LEN) == 0) {
		store_abort(t);
		return fail(c, "a box cannot enrol itself");
	}
	if (store_device(t, pk, &d) == 0 && d.cut != UINT64_MAX) {
		store_abort(t);
		return fail(c, "%s is revoked: that box must make a new key "
		    "(keygen in a new directory) and be enrolled again",
		    c->argv[0]);
	}
	if (d.role == role) {
		store_abort(t);
		printf("%s is already enrolled as %s\n", c->argv[0],
		    payload_role_name(role));
		return 0;
	}
	if ((rc = ledger_enrol(t, c->k, pk, role)) != 0)
		return aborted(c, t, NULL, rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("enrolled %s as %s\n", c->argv[0], payload_role_name(role));
	return 0;
}

static int
cmd_revoke(struct ctl *c)
{
	uint8_t pk[NUSA_KEY_LEN];
	struct store_device d;
	struct store_txn *t;
	uint64_t cut;
	int rc;

	parse_device(c, c->argv[0], pk);
	if (begin(c, &t, STORE_WRITE, 1) != 0)
		return EXIT_FAILURE;
	if (store_device(t, pk, &d) == 0 && d.role == ROLE_ROOT) {
		store_abort(t);
		return fail(c, "the network's root cannot be revoked");
	}
	cut = store_vector_get(t, pk);
	rc = ledger_revoke(t, c->k, pk);
	if (rc == -NUSA_ENOTFOUND) {
		store_abort(t);
		return fail(c, "%s is not an enrolled device", c->argv[0]);
	}
	if (rc == -NUSA_EEXIST) {
		store_abort(t);
		return fail(c, "%s is revoked already", c->argv[0]);
	}
	if (rc)
		return aborted(c, t, NULL, rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("revoked %s after seq %" PRIu64 "\n", c->argv[0], cut);
	return 0;
}

/* --- members and accounts ---------------------------------------------- */

static int
cmd_member_add(struct ctl *c)
{
	struct store_txn *t;
	int rc;

	if (c->opt[O_NAME] == NULL)
		die(c, "--name NAME is required");
	check_text(c, "the name", c->opt[O_NAME], 1);
	check_text(c, "the village", c->opt[O_VILLAGE], 0);
	check_id(c, "member", c->argv[0]);
	if (begin(c, &t, STORE_WRITE, 1) != 0)
		return EXIT_FAILURE;
	rc = ledger_member_add(t, c->k, c->argv[0], c->opt[O_NAME],
	    c->opt[O_VILLAGE]);
	if (rc == -NUSA_EEXIST) {
		store_abort(t);
		return fail(c, "member %s exists already", c->argv[0]);
	}
	if (rc)
		return aborted(c, t, c->argv[0], rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("member %s added\n", c->argv[0]);
	return 0;
}

/* Shared by member set: FIELD=VALUE arguments into a record write. */
static int
record_set(struct ctl *c, uint8_t coll)
{
	const char *names[PAYLOAD_FIELDS_MAX], *values[PAYLOAD_FIELDS_MAX];
	char *eq;
	struct store_txn *t;
	int i, j, n = c->argc - 1, rc;

	if (n > PAYLOAD_FIELDS_MAX)
		die(c, "at most %d fields at once", PAYLOAD_FIELDS_MAX);
	for (i = 0; i < n; i++) {
		if ((eq = strchr(c->argv[i + 1], '=')) == NULL)
			die(c, "%s: want FIELD=VALUE", c->argv[i + 1]);
		*eq = '\0';
		names[i] = c->argv[i + 1];
		values[i] = eq + 1;
		if (strcmp(names[i], RECORD_DELETED) == 0 ||
		    !payload_field_name_ok(names[i], strlen(names[i])))
			die(c, "bad field name %s: use up to %d of a-z 0-9 _",
			    names[i], NUSA_NAME_MAX);
		for (j = 0; j < i; j++)
			if (strcmp(names[j], names[i]) == 0)
				die(c, "field %s given twice", names[i]);
		check_text(c, names[i], values[i],
		    strcmp(names[i], "name") == 0);
	}
	if (begin(c, &t, STORE_WRITE, 1) != 0)
		return EXIT_FAILURE;
	rc = ledger_record_set(t, c->k, coll, c->argv[0], (size_t)n, names,
	    values);
	if (rc == -NUSA_ENOTFOUND) {
		store_abort(t);
		return fail(c, "no %s %s", payload_collection_name(coll),
		    c->argv[0]);
	}
	if (rc == -NUSA_ERANGE) {
		store_abort(t);
		return fail(c, "too much text in one change: set fewer fields "
		    "at once");
	}
	if (rc == -NUSA_EFORBIDDEN) {
		store_abort(t);
		return fail(c, "that field cannot be changed");
	}
	if (rc)
		return aborted(c, t, c->argv[0], rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("%s %s updated\n", payload_collection_name(coll), c->argv[0]);
	return 0;
}

static int
cmd_member_set(struct ctl *c)
{
	return record_set(c, COLL_MEMBER);
}

static int
cmd_member_remove(struct ctl *c)
{
	struct store_txn *t;
	int rc;

	if (begin(c, &t, STORE_WRITE, 1) != 0)
		return EXIT_FAILURE;
	rc = ledger_record_remove(t, c->k, COLL_MEMBER, c->argv[0]);
	if (rc == -NUSA_ENOTFOUND) {
		store_abort(t);
		return fail(c, "no member %s", c->argv[0]);
	}
	if (rc)
		return aborted(c, t, c->argv[0], rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("member %s removed\n", c->argv[0]);
	return 0;
}

struct listctx {
	struct ctl *c;
	struct store_txn *t;
	json_t *arr;
	size_t n;
};

/* Runs a listing in a read snapshot: each() fills l (a JSON container
 * under --json, else it prints); empty is printed when nothing was
 * listed (NULL: print nothing). */
static int
run_list(struct ctl *c, int json_object_kind,
    int (*each)(struct store_txn *t, struct listctx *l), const char *empty)
{
	struct listctx l = { .c = c };
	int rc;

	if (begin(c, &l.t, STORE_READ, 0) != 0)
		return EXIT_FAILURE;
	if (c->json)
		l.arr = json_object_kind ? json_object() : json_array();
	rc = each(l.t, &l);
	store_abort(l.t);
	if (rc) {
		json_decref(l.arr);
		return fail(c, "%s", nusa_strerror(rc));
	}
	if (l.arr)
		json_out(l.arr);
	else if (l.n == 0 && empty)
		printf("%s\n", empty);
	return 0;
}

static int
list_member(const struct state_record *r, void *ctx)
{
	struct listctx *l = ctx;
	const struct state_field *name, *village;
	json_t *o;
	size_t i;

	if (r->deleted)
		return 0;
	l->n++;
	if (l->arr) {
		o = json_object();
		json_object_set_new(o, "id", json_stringn(r->key, r->key_len));
		for (i = 0; i < r->nfields; i++) {
			char f[NUSA_NAME_MAX + 1];

			memcpy(f, r->fields[i].name, r->fields[i].name_len);
			f[r->fields[i].name_len] = '\0';
			json_object_set_new(o, f, json_stringn(
			    r->fields[i].value, r->fields[i].value_len));
		}
		json_array_append_new(l->arr, o);
		return 0;
	}
	name = state_record_field(r, "name");
	village = state_record_field(r, "village");
	printf("%-10.*s  %-28.*s  %.*s\n", (int)r->key_len, r->key,
	    name ? (int)name->value_len : 0, name ? name->value : "",
	    village ? (int)village->value_len : 0,
	    village ? village->value : "");
	return 0;
}

static int
each_member(struct store_txn *t, struct listctx *l)
{
	return state_records_each(t, COLL_MEMBER, NULL, list_member, l);
}

static int
cmd_member_list(struct ctl *c)
{
	return run_list(c, 0, each_member, "no members yet");
}

static int
cmd_account_open(struct ctl *c)
{
	struct store_txn *t;
	int rc;

	if (c->opt[O_MEMBER] == NULL || c->opt[O_TYPE] == NULL)
		die(c, "--member MEMBER and --type pokok|wajib|sukarela|loan "
		    "are required");
	if (!ledger_account_type(c->opt[O_TYPE]))
		die(c, "unknown account type %s: use pokok, wajib, sukarela "
		    "or loan", c->opt[O_TYPE]);
	check_id(c, "account", c->argv[0]);
	check_id(c, "member", c->opt[O_MEMBER]);
	if (begin(c, &t, STORE_WRITE, 1) != 0)
		return EXIT_FAILURE;
	rc = ledger_account_open(t, c->k, c->argv[0], c->opt[O_MEMBER],
	    c->opt[O_TYPE]);
	if (rc == -NUSA_ENOTFOUND) {
		store_abort(t);
		return fail(c, "no member %s", c->opt[O_MEMBER]);
	}
	if (rc == -NUSA_EEXIST) {
		store_abort(t);
		return fail(c, "account %s exists already", c->argv[0]);
	}
	if (rc)
		return aborted(c, t, c->argv[0], rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("account %s opened for %s (%s)\n", c->argv[0], c->opt[O_MEMBER],
	    c->opt[O_TYPE]);
	return 0;
}

/* --- postings and balances --------------------------------------------- */

static int
post_failed(struct ctl *c, struct store_txn *t, int rc, const char *acct,
    int64_t amount)
{
	int64_t bal = 0;

	if (rc == -NUSA_EFUNDS) {
		state_balance(t, acct, &bal);
		store_abort(t);
		return fail(c, "refused: %" PRId64 " is more than the balance "
		    "%" PRId64 " of %s", amount, bal, acct);
	}
	if (rc == -NUSA_ENOTFOUND) {
		store_abort(t);
		return fail(c, "no account %s", acct);
	}
	if (rc == -NUSA_EFORBIDDEN) {
		store_abort(t);
		return fail(c, "%s: deposits and withdrawals go to savings "
		    "accounts, disbursements and repayments to loans", acct);
	}
	return aborted(c, t, acct, rc);
}

static int
post_reverse(struct ctl *c, uint32_t date)
{
	char hex[2 * NUSA_HASH_LEN + 1];
	uint8_t id[NUSA_HASH_LEN], orig[NUSA_HASH_LEN];
	struct store_txn *t;
	int rc;

	if (c->argc != 2)
		die(c, "usage: nusactl post reverse ENTRY_ID [--memo TEXT]");
	if (nusa_unhex(orig, sizeof(orig), c->argv[1]) != 0)
		die(c, "%s is not an entry id (64 hex digits)", c->argv[1]);
	if (begin(c, &t, STORE_WRITE, 1) != 0)
		return EXIT_FAILURE;
	rc = ledger_reverse(t, c->k, orig, c->opt[O_MEMO], date, id);
	if (rc == -NUSA_ENOTFOUND) {
		store_abort(t);
		return fail(c, "no posting %s here", c->argv[1]);
	}
	if (rc == -NUSA_EEXIST) {
		store_abort(t);
		return fail(c, "%s is reversed already or is itself a reversal",
		    c->argv[1]);
	}
	if (rc == -NUSA_EFUNDS) {
		store_abort(t);
		return fail(c, "refused: the reversal would take a balance "
		    "below zero");
	}
	if (rc)
		return aborted(c, t, NULL, rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("reversed %s\nentry %s\n", c->argv[1],
	    nusa_hex(hex, id, NUSA_HASH_LEN));
	return 0;
}

static int
cmd_post(struct ctl *c)
{
	char hex[2 * NUSA_HASH_LEN + 1];
	uint8_t id[NUSA_HASH_LEN], type;
	const char *acct, *acct2 = NULL;
	uint32_t date = ledger_today();
	struct store_txn *t;
	int64_t amount = 0, bal = 0, bal2 = 0;
	int rc;

	if ((type = payload_posting_parse(c->argv[0])) == 0)
		die(c, "unknown posting %s: use deposit, withdraw, transfer, "
		    "disburse, repay or reverse", c->argv[0]);
	if (c->opt[O_DATE] && ledger_parse_date(c->opt[O_DATE], &date) != 0)
		die(c, "bad date %s: use YYYY-MM-DD", c->opt[O_DATE]);
	check_text(c, "the memo", c->opt[O_MEMO], 0);
	if (type == POST_REVERSE)
		return post_reverse(c, date);
	if (c->argc != (type == POST_TRANSFER ? 4 : 3))
		die(c, type == POST_TRANSFER ?
		    "usage: nusactl post transfer FROM TO AMOUNT" :
		    "usage: nusactl post %s ACCOUNT AMOUNT", c->argv[0]);
	acct = c->argv[1];
	check_id(c, "account", acct);
	if (type == POST_TRANSFER) {
		acct2 = c->argv[2];
		check_id(c, "account", acct2);
		if (strcmp(acct, acct2) == 0)
			die(c, "a transfer needs two different accounts");
	}
	parse_amount(c, c->argv[c->argc - 1], &amount);
	if (begin(c, &t, STORE_WRITE, 1) != 0)
		return EXIT_FAILURE;
	rc = ledger_post(t, c->k, type, acct, acct2, amount, c->opt[O_MEMO],
	    date, id);
	if (rc == -NUSA_ENOTFOUND && acct2 &&
	    ledger_account_type_of(t, acct) > 0)
		acct = acct2;	/* it is the second account that is missing */
	if (rc)
		return post_failed(c, t, rc, acct, amount);
	if ((rc = state_balance(t, acct, &bal)) != 0 ||
	    (acct2 && (rc = state_balance(t, acct2, &bal2)) != 0))
		return aborted(c, t, NULL, rc);
	if (commit(c, t) != 0)
		return EXIT_FAILURE;
	printf("posted %s %" PRId64 " %s\n", c->argv[0], amount, acct);
	printf("entry %s\n", nusa_hex(hex, id, NUSA_HASH_LEN));
	printf("balance %s %" PRId64 "\n", acct, bal);
	if (acct2)
		printf("balance %s %" PRId64 "\n", acct2, bal2);
	return 0;
}

static int
print_balance(const char *acct, size_t n, int64_t bal, void *ctx)
{
	struct listctx *l = ctx;

	l->n++;
	if (l->arr)
		json_array_append_new(l->arr, json_pack("{s:s%,s:I}",
		    "account", acct, n, "balance", (json_int_t)bal));
	else
		printf("%-14.*s %15" PRId64 "\n", (int)n, acct, bal);
	return 0;
}

static int
each_balance(struct store_txn *t, struct listctx *l)
{
	return state_balances_each(t, print_balance, l);
}

static int
cmd_balance(struct ctl *c)
{
	const char *a = c->argv[0];
	struct store_txn *t;
	int64_t bal;
	int rc, known;

	if (c->argc == 0)
		return run_list(c, 0, each_balance, "no postings yet");
	if (begin(c, &t, STORE_READ, 0) != 0)
		return EXIT_FAILURE;
	rc = state_balance(t, a, &bal);
	known = ledger_account_type_of(t, a) > 0;
	store_abort(t);
	if (rc)
		return fail(c, "%s", nusa_strerror(rc));
	if (!known && bal == 0)
		return fail(c, "no account %s", a);
	if (c->json)
		json_out(json_pack("{s:s,s:I}", "account", a, "balance",
		    (json_int_t)bal));
	else
		printf("%s %" PRId64 "\n", a, bal);
	return 0;
}

/* --- conflicts, log, vector, digest, verify ----------------------------- */

static json_t *
json_ids(const uint8_t (*ids)[NUSA_HASH_LEN], size_t n)
{
	char hex[2 * NUSA_HASH_LEN + 1];
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(nusa_hex(hex, ids[i],
		    NUSA_HASH_LEN)));
	return a;
}

static void
print_ids(const uint8_t (*ids)[NUSA_HASH_LEN], size_t n)
{
	char hex[2 * NUSA_HASH_LEN + 1];
	size_t i;

	for (i = 0; i < n; i++)
		printf("  entry %s\n", nusa_hex(hex, ids[i], NUSA_HASH_LEN));
}

static int
list_overdraft(const struct state_overdraft *o, void *ctx)
{
	struct listctx *l = ctx;

	l->n++;
	if (l->arr) {
		json_array_append_new(l->arr, json_pack(
		    "{s:s,s:s%,s:I,s:I,s:o}", "kind", "overdraft", "account",
		    o->acct, o->acct_len, "balance", (json_int_t)o->balance,
		    "lowest", (json_int_t)o->lowest, "entries",
		    json_ids(o->ids, o->nids)));
		return 0;
	}
	printf("overdraft %.*s balance %" PRId64 " lowest %" PRId64
	    ": withdrawals made offline at the same time\n",
	    (int)o->acct_len, o->acct, o->balance, o->lowest);
	print_ids(o->ids, o->nids);
	return 0;
}

static int
list_fork(const struct state_fork *f, void *ctx)
{
	struct listctx *l = ctx;
	char hex[HEXKEY];

	l->n++;
	hex_key(hex, f->author);
	if (l->arr) {
		json_array_append_new(l->arr, json_pack("{s:s,s:s,s:I,s:o}",
		    "kind", "fork", "device", hex, "seq", (json_int_t)f->seq,
		    "entries", json_ids(f->ids, f->nids)));
		return 0;
	}
	printf("fork device %s seq %" PRIu64 ": the box wrote two different "
	    "entries (restored from a backup?); re-key it\n", hex, f->seq);
	print_ids(f->ids, f->nids);
	return 0;
}

static int
list_reversals(const struct state_reversals *r, void *ctx)
{
	struct listctx *l = ctx;
	char hex[2 * NUSA_HASH_LEN + 1];

	l->n++;
	nusa_hex(hex, r->posting, NUSA_HASH_LEN);
	if (l->arr) {
		json_array_append_new(l->arr, json_pack("{s:s,s:s,s:o}",
		    "kind", "double-reversal", "posting", hex, "entries",
		    json_ids(r->ids, r->nids)));
		return 0;
	}
	printf("double reversal of %s: corrected %zu times on different "
	    "boxes; reverse all but one\n", hex, r->nids);
	print_ids(r->ids, r->nids);
	return 0;
}

static int
each_conflict(struct store_txn *t, struct listctx *l)
{
	int rc = state_overdrafts_each(t, list_overdraft, l);

	if (rc == 0)
		rc = state_forks_each(t, list_fork, l);
	return rc ? rc : state_double_reversals_each(t, list_reversals, l);
}

static int
cmd_conflicts(struct ctl *c)
{
	return run_list(c, 0, each_conflict, "no conflicts");
}

/* One line (or object) describing what an entry does. */
static void
describe(const struct entry *e, char *buf, size_t cap)
{
	char hex[HEXKEY];
	struct payload p;
	size_t off;
	unsigned i;

	if (payload_decode(&p, e->kind, e->payload, e->payload_len) != 0) {
		snprintf(buf, cap, "?");
		return;
	}
	switch (e->kind) {
	case KIND_NETWORK:
		snprintf(buf, cap, "network \"%.*s\"", (int)p.u.network.name.n,
		    p.u.network.name.p);
		break;
	case KIND_CERT:
		snprintf(buf, cap, "enrol %s as %s",
		    hex_key(hex, p.u.cert.device),
		    payload_role_name(p.u.cert.role));
		break;
	case KIND_REVOKE:
		snprintf(buf, cap, "revoke %s after seq %" PRIu64,
		    hex_key(hex, p.u.revoke.device), p.u.revoke.last_seq);
		break;
	case KIND_RECORD:
		off = (size_t)snprintf(buf, cap, "%s %.*s",
		    payload_collection_name(p.u.record.collection),
		    (int)p.u.record.key.n, p.u.record.key.p);
		for (i = 0; i < p.u.record.nfields && off < cap; i++)
			off += (size_t)snprintf(buf + off, cap - off,
			    " %.*s=%.*s", (int)p.u.record.fields[i].name.n,
			    p.u.record.fields[i].name.p,
			    (int)p.u.record.fields[i].value.n,
			    p.u.record.fields[i].value.p);
		if (p.u.record.by.n && off < cap)
			snprintf(buf + off, cap - off, " by %.*s",
			    (int)p.u.record.by.n, p.u.record.by.p);
		break;
	case KIND_POSTING:
		off = (size_t)snprintf(buf, cap, "%s",
		    payload_posting_name(p.u.posting.type));
		for (i = 0; i < p.u.posting.nlegs && off < cap; i++)
			off += (size_t)snprintf(buf + off, cap - off,
			    " %.*s %+" PRId64,
			    (int)p.u.posting.legs[i].account.n,
			    p.u.posting.legs[i].account.p,
			    p.u.posting.legs[i].amount);
		if (p.u.posting.memo.n && off < cap)
			off += (size_t)snprintf(buf + off, cap - off,
			    " \"%.*s\"", (int)p.u.posting.memo.n,
			    p.u.posting.memo.p);
		if (p.u.posting.by.n && off < cap)
			snprintf(buf + off, cap - off, " by %.*s",
			    (int)p.u.posting.by.n, p.u.posting.by.p);
		break;
	}
}

static void
time_str(char out[32], uint64_t hlc)
{
	time_t secs = (time_t)(hlc_ms(hlc) / 1000);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "?");
}

static int
log_item(const struct store_item *it, void *ctx)
{
	struct listctx *l = ctx;
	char id[2 * NUSA_HASH_LEN + 1], author[HEXKEY], what[1024], when[32];
	struct entry e;

	if (entry_decode(&e, it->body, it->len) != 0)
		return -NUSA_ECORRUPT;
	nusa_hex(id, it->id, NUSA_HASH_LEN);
	hex_key(author, e.author);
	time_str(when, e.hlc);
	describe(&e, what, sizeof(what));
	if (l->arr) {
		json_array_append_new(l->arr, json_pack(
		    "{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:b}", "id", id, "author",
		    author, "kind", payload_kind_name(e.kind), "seq",
		    (json_int_t)e.seq, "hlc", (json_int_t)e.hlc, "time", when,
		    "summary", what, "counts", state_effective(l->t, &e)));
		return 0;
	}
	printf("%s %.8s #%-4" PRIu64 " %s  %.12s%s\n", when, author, e.seq,
	    what, id, state_effective(l->t, &e) ? "" : "  (does not count)");
	return 0;
}

static int
each_log(struct store_txn *t, struct listctx *l)
{
	return store_log_each(t, log_item, l);
}

static int
cmd_log(struct ctl *c)
{
	return run_list(c, 0, each_log, NULL);
}

static int
vector_item(const uint8_t *author, uint64_t seq, void *ctx)
{
	struct listctx *l = ctx;
	char hex[HEXKEY];

	hex_key(hex, author);
	if (l->arr)
		json_object_set_new(l->arr, hex, json_integer(
		    (json_int_t)seq));
	else
		printf("%s %" PRIu64 "\n", hex, seq);
	return 0;
}

static int
each_vector(struct store_txn *t, struct listctx *l)
{
	return store_vector_each(t, vector_item, l);
}

static int
cmd_vector(struct ctl *c)
{
	return run_list(c, 1, each_vector, NULL);
}

static int
cmd_digest(struct ctl *c)
{
	char hex[2 * NUSA_HASH_LEN + 1];
	uint8_t d[NUSA_HASH_LEN];
	struct store_txn *t;
	int rc;

	if (begin(c, &t, STORE_READ, 0) != 0)
		return EXIT_FAILURE;
	rc = state_digest(t, d);
	store_abort(t);
	if (rc)
		return fail(c, "%s", nusa_strerror(rc));
	printf("%s\n", nusa_hex(hex, d, NUSA_HASH_LEN));
	return 0;
}

static void
report_fault(const uint8_t *id, const char *what, void *ctx)
{
	struct ctl *c = ctx;
	char hex[2 * NUSA_HASH_LEN + 1];

	if (id)
		fail(c, "entry %s: %s", nusa_hex(hex, id, NUSA_HASH_LEN),
		    what);
	else
		fail(c, "%s", what);
}

static int
cmd_verify(struct ctl *c)
{
	char hex[2 * NUSA_HASH_LEN + 1];
	uint8_t d[NUSA_HASH_LEN];
	struct store_txn *t;
	size_t n;
	int rc;

	if (open_store(c, 0) != 0)
		return EXIT_FAILURE;
	rc = store_verify(c->s, report_fault, c, &n);
	if (rc == -NUSA_ECORRUPT)
		return fail(c, "the store has faults (listed above)");
	if (rc)
		return fail(c, "%s", nusa_strerror(rc));
	if ((rc = store_begin(c->s, &t, STORE_READ)) != 0)
		return fail(c, "%s", nusa_strerror(rc));
	rc = state_digest(t, d);
	store_abort(t);
	if (rc)
		return fail(c, "%s", nusa_strerror(rc));
	printf("ok: %zu entries verified, state digest %s\n", n,
	    nusa_hex(hex, d, NUSA_HASH_LEN));
	return 0;
}

/* --- bundles ------------------------------------------------------------ */

/* Parses "DEVICE_ID SEQ" with nothing else on the line but blanks. */
static int
parse_vector_line(char *line, uint8_t pk[NUSA_KEY_LEN], uint64_t *seq)
{
	char *p = line + strspn(line, " \t"), *end;
	size_t n = strcspn(p, " \t");
	unsigned long long v;

	if (n != 2 * NUSA_KEY_LEN)
		return -NUSA_EMALFORMED;
	p[n] = '\0';
	if (nusa_unhex(pk, NUSA_KEY_LEN, p) != 0)
		return -NUSA_EMALFORMED;
	p += n + 1;
	p += strspn(p, " \t");
	if (*p < '0' || *p > '9')
		return -NUSA_EMALFORMED;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end[strspn(end, " \t\r\n")] != '\0')
		return -NUSA_EMALFORMED;
	*seq = v;
	return 0;
}

/* Reads a version vector: the output of `nusactl vector`, with or without
 * --json. */
static int
read_vector(struct ctl *c, const char *path, struct vector **out)
{
	char line[256];
	uint8_t pk[NUSA_KEY_LEN];
	uint64_t seq;
	struct vector *v;
	json_error_t jerr;
	json_t *j, *val;
	const char *key;
	FILE *f;
	int ch, rc = 0, lineno = 0;

	if ((f = fopen(path, "r")) == NULL)
		return fail(c, "%s: %s", path, strerror(errno));
	if ((v = vector_new()) == NULL) {
		fclose(f);
		return fail(c, "out of memory");
	}
	/* Skip a byte order mark an editor may add; f may be a pipe. */
	if ((ch = fgetc(f)) == 0xef && fgetc(f) == 0xbb && fgetc(f) == 0xbf)
		ch = fgetc(f);
	while (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
		ch = fgetc(f);
	ungetc(ch, f);
	if (ch == '{') {
		if ((j = json_loadf(f, 0, &jerr)) == NULL ||
		    !json_is_object(j)) {
			rc = fail(c, "%s: line %d: %s", path, jerr.line,
			    j ? "want an object" : jerr.text);
		} else {
			json_object_foreach(j, key, val) {
				if (nusa_unhex(pk, sizeof(pk), key) != 0 ||
				    !json_is_integer(val) ||
				    json_integer_value(val) < 0) {
					rc = fail(c, "%s: %s: want a device "
					    "id and a seq", path, key);
					break;
				}
				if (vector_set(v, pk, (uint64_t)
				    json_integer_value(val)) != 0) {
					rc = fail(c, "out of memory");
					break;
				}
			}
		}
		json_decref(j);
	} else {
		while (rc == 0 && fgets(line, sizeof(line), f)) {
			lineno++;
			if (line[strspn(line, " \t\r\n")] == '\0')
				continue;
			if (parse_vector_line(line, pk, &seq) != 0)
				rc = fail(c, "%s: line %d: want DEVICE_ID SEQ",
				    path, lineno);
			else if (vector_set(v, pk, seq) != 0)
				rc = fail(c, "out of memory");
		}
	}
	fclose(f);
	if (rc) {
		vector_free(&v);
		return rc;
	}
	*out = v;
	return 0;
}

/* Hub mode: --network ID picks the store of a network the hub serves,
 * DIR/networks/ID/store (hub join); the key stays the hub's. */
static void
hub_network(struct ctl *c)
{
	uint8_t id[NUSA_KEY_LEN];
	char hex[HEXKEY];

	if (c->opt[O_NETWORK] == NULL)
		return;
	if (nusa_unhex(id, sizeof(id), c->opt[O_NETWORK]) != 0)
		die(c, "--network: a network id (64 hex digits)");
	if ((size_t)snprintf(c->storepath, sizeof(c->storepath),
	    "%s/networks/%s/store", c->dir, hex_key(hex, id)) >=
	    sizeof(c->storepath))
		die(c, "%s: path too long", c->dir);
}

/* "5s ago", "3d ago" into buf. */
static const char *
fmt_ago(char *buf, size_t cap, int64_t when)
{
	int64_t d = (int64_t)time(NULL) - when;

	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(buf, cap, "%" PRId64 "s ago", d);
	else if (d < 7200)
		snprintf(buf, cap, "%" PRId64 "m ago", d / 60);
	else if (d < 172800)
		snprintf(buf, cap, "%" PRId64 "h ago", d / 3600);
	else
		snprintf(buf, cap, "%" PRId64 "d ago", d / 86400);
	return buf;
}

/* The vector of the latest receipt (or synced vector) of peer, or NULL
 * (everything) with a note if none is known. Returns 0 or exit 1. */
static int
peer_vector(struct ctl *c, struct store_txn *t, const uint8_t *peer,
    struct vector **out, FILE *msg)
{
	struct receipt r;
	char hex[HEXKEY], ago[32];
	int rc = receipt_get(t, peer, &r);

	*out = NULL;
	if (rc == -NUSA_ENOTFOUND) {
		fprintf(stderr, "nusactl: %s: no receipt from %.16s yet: the "
		    "bundle carries everything\n", c->cmd,
		    hex_key(hex, peer));
		return 0;
	}
	if (rc)
		return fail(c, "receipts: %s", nusa_strerror(rc));
	if ((*out = receipt_vector(&r)) == NULL)
		return fail(c, "out of memory");
	fprintf(msg, "for %.16s: what it lacks by its receipt of %s (via "
	    "%s)\n", hex_key(hex, peer), fmt_ago(ago, sizeof(ago),
	    (int64_t)r.time), r.via == RECEIPT_SYNC ? "sync" : "bundle");
	return 0;
}

static int
cmd_bundle_export(struct ctl *c)
{
	const char *path = c->argv[0];
	char hex[HEXKEY];
	struct bundle_stats st;
	struct vector *have = NULL;
	struct store_txn *t;
	struct outfile o = { .f = stdout };
	uint8_t peer[NUSA_KEY_LEN];
	int rc, crc = 0, to_stdout = strcmp(path, "-") == 0;

	if (c->opt[O_FOR] && c->opt[O_FOR_PEER])
		die(c, "--for and --for-peer: give one");
	hub_network(c);
	if (c->opt[O_FOR_PEER])
		parse_device(c, c->opt[O_FOR_PEER], peer);
	if (c->opt[O_FOR] && read_vector(c, c->opt[O_FOR], &have) != 0)
		return EXIT_FAILURE;
	if (begin(c, &t, STORE_READ, 1) != 0) {
		vector_free(&have);
		return EXIT_FAILURE;
	}
	if (c->opt[O_FOR_PEER] && (rc = peer_vector(c, t, peer, &have,
	    to_stdout ? stderr : stdout))) {
		store_abort(t);
		return rc;
	}
	if (!to_stdout && (rc = outfile_open(&o, path)) != 0) {
		store_abort(t);
		vector_free(&have);
		return fail(c, "%s: %s", path, nusa_strerror(rc));
	}
	rc = bundle_export(t, o.f, have, c->k, BUNDLE_ZSTD, &st);
	store_abort(t);
	vector_free(&have);
	if (!to_stdout)
		crc = outfile_close(&o, rc == 0);
	if (rc || crc)
		return fail(c, "%s: %s", path, nusa_strerror(rc ? rc : crc));
	fprintf(to_stdout ? stderr : stdout, "exported %" PRIu64 " entries in "
	    "%" PRIu64 " batches to %s\n", st.entries, st.batches, path);
	fprintf(to_stdout ? stderr : stdout, "carried %" PRIu64 " receipts, "
	    "signed by %.16s\n", st.receipts, hex_key(hex, c->k->pk));
	if (st.skipped)
		fprintf(stderr, "nusactl: bundle export: %" PRIu64 " entries "
		    "held back: no signature vouches for them here yet\n",
		    st.skipped);
	return 0;
}

/* Returns 1 if the box belongs to a network, 0 if not, -1 on error. */
static int
box_has_network(struct ctl *c)
{
	uint8_t id[NUSA_KEY_LEN];
	struct store_txn *t;
	int rc;

	if (store_begin(c->s, &t, STORE_READ) != 0)
		return -1;
	rc = store_network(t, id, NULL, 0);
	store_abort(t);
	return rc == 0;
}

/* The head of this box's own feed, and whether it forked. */
static void
own_feed(struct ctl *c, uint64_t *head, int *forked)
{
	struct store_device d;
	struct store_txn *t;

	*head = 0;
	*forked = 0;
	if (store_begin(c->s, &t, STORE_READ) != 0)
		return;
	*head = store_vector_get(t, c->k->pk);
	*forked = store_device(t, c->k->pk, &d) == 0 && d.forked;
	store_abort(t);
}

/* A bundle that brought entries of our own feed we did not have (past
 * our head, or a second branch) shows this box lost its history: an old
 * image restored, or a copy that wrote. The key retires before anything
 * else is written with it (docs/CLONES.md). Returns 0 or 1 on failure. */
static int
restored(struct ctl *c, uint64_t head, int forked)
{
	struct rekey rk;
	uint64_t now;
	int f2, rc;
	char nw[HEXKEY];

	own_feed(c, &now, &f2);
	if (now <= head && f2 <= forked)
		return 0;
	rc = replica_rekey(c->dir, c->s, REKEY_RESTORE, c->k->pk, &rk);
	if (rc < 0)
		return fail(c, "this box's own feed came back longer than it "
		    "was (seq %" PRIu64 ", had %" PRIu64 "), but switching "
		    "keys failed: %s; write nothing on this box", now, head,
		    nusa_strerror(rc));
	if (rc == 0)
		fprintf(stderr, "nusactl: bundle import: this box %s (seq %"
		    PRIu64 ", had %" PRIu64 "): device key retired (kept as "
		    "%s.retired-%" PRIu64 "); new device %s: ask an admin to "
		    "run: nusactl enrol %s --role %s\n", rekey_why(rk.reason),
		    now, head, c->keypath, rk.time,
		    hex_key(nw, rk.new), nw, payload_role_name(rk.role));
	return 0;
}

static void
import_summary(const struct bundle_stats *st)
{
	printf("imported %" PRIu64 " entries (%" PRIu64 " new, %" PRIu64
	    " already here", st->entries, st->added, st->duplicates);
	if (st->revoked)
		printf(", %" PRIu64 " of revoked devices dropped",
		    st->revoked);
	printf(") in %" PRIu64 " batches", st->batches);
	if (st->receipts)
		printf(", %" PRIu64 " newer receipts", st->receipts);
	printf("\n");
}

/* A bundle from a pipe is copied to an unlinked file in the data
 * directory first: an import that fills the store's map grows it and
 * reads the file again from the start (bundle_import()). Returns the
 * copy, rewound, or NULL with errno set. */
static FILE *
spool(struct ctl *c, FILE *in)
{
	char path[PATH_MAX], buf[65536];
	size_t n;
	FILE *f;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/.bundle-XXXXXX",
	    c->dir) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((fd = mkstemp(path)) < 0)
		return NULL;
	unlink(path);
	if ((f = fdopen(fd, "w+b")) == NULL) {
		close(fd);
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, f) != n)
			break;
	if (ferror(in) || ferror(f) || fflush(f) != 0 ||
	    fseeko(f, 0, SEEK_SET) != 0) {
		if (errno == 0)
			errno = EIO;
		fclose(f);
		return NULL;
	}
	return f;
}

static int
cmd_bundle_import(struct ctl *c)
{
	const char *path = c->argv[0];
	struct bundle_fault where;
	struct bundle_stats st;
	char hex[HEXKEY];
	uint64_t head;
	FILE *f;
	int rc, joining, forked;

	hub_network(c);
	if (load_key(c) != 0 || open_store(c, 0) != 0)
		return EXIT_FAILURE;
	joining = box_has_network(c) == 0;
	if (strcmp(path, "-") == 0) {
		f = stdin;
		errno = 0;
		if (ftello(f) < 0 && (f = spool(c, stdin)) == NULL)
			return fail(c, "%s: %s", path, strerror(errno));
	} else if ((f = fopen(path, "rb")) == NULL)
		return fail(c, "%s: %s", path, strerror(errno));
	own_feed(c, &head, &forked);
	rc = bundle_import(c->s, f, c->k, &st, &where);
	if (f != stdin)
		fclose(f);
	if (st.receipt_err)
		fprintf(stderr, "nusactl: bundle import: warning: this box's "
		    "receipt was not recorded (%s); the entries were "
		    "imported (the bundles this box makes carry a fresh one)\n",
		    nusa_strerror(st.receipt_err));
	if (restored(c, head, forked) != 0)
		return EXIT_FAILURE;
	if (rc == -NUSA_EMALFORMED && where.batch == 0)
		return fail(c, "%s: not a nusa bundle", path);
	if (rc == -NUSA_ENETWORK)
		return fail(c, "%s: the bundle belongs to another network",
		    path);
	if (rc == -NUSA_EUNENROLLED && joining && !where.maker)
		return fail(c, "%s: the bundle does not enrol this box; ask an "
		    "admin to run: nusactl enrol %s --role clerk, then export "
		    "a new bundle; nothing imported", path,
		    hex_key(hex, c->k->pk));
	if (rc == -NUSA_ETRUNCATED) {
		import_summary(&st);
		return fail(c, "%s: bundle truncated after batch %" PRIu64
		    ": %" PRIu64 " entries of the maker's count not read",
		    path, st.batches, st.expected > st.entries ?
		    st.expected - st.entries : 0);
	}
	if (rc && where.maker) {
		import_summary(&st);
		return fail(c, "%s: %s; the entries, each verified against "
		    "its author's signature, were kept", path,
		    rc == -NUSA_EBADSIG ? "the maker's signature does not "
		    "verify: the file was changed after it was made" :
		    "the bundle's maker is not a device of this network");
	}
	if (rc && st.refused)
		return fail(c, "%s: batch %" PRIu64 ", entry %" PRIu64 ": %s: "
		    "%" PRIu64 " entries of devices this box cannot take yet "
		    "were left out; the other %" PRIu64 " were imported", path,
		    where.batch, where.entry, nusa_strerror(rc), st.refused,
		    st.entries - st.refused);
	if (rc) {
		if (st.batches)
			import_summary(&st);
		return fail(c, "%s: batch %" PRIu64 ", entry %" PRIu64 ": %s%s",
		    path, where.batch, where.entry, nusa_strerror(rc),
		    st.batches ? " (earlier batches were imported)" : "");
	}
	import_summary(&st);
	return 0;
}

/* --- books --------------------------------------------------------------- */

static int
cmd_export(struct ctl *c)
{
	const char *fmt = c->argv[0], *out = c->opt[O_OUT];
	struct outfile o = { .f = stdout };
	struct store_txn *t;
	struct stat sb;
	int rc, crc = 0, csv = strcmp(fmt, "csv") == 0, dir;

	if (!csv && strcmp(fmt, "json") != 0)
		die(c, "unknown format %s: use csv or json", fmt);
	dir = out && csv && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode);
	if (begin(c, &t, STORE_READ, 0) != 0)
		return EXIT_FAILURE;
	if (out && !dir && (rc = outfile_open(&o, out)) != 0) {
		store_abort(t);
		return fail(c, "%s: %s", out, nusa_strerror(rc));
	}
	rc = csv ? books_export_csv(t, o.f, dir ? out : NULL) :
	    books_export_json(t, o.f);
	store_abort(t);
	if (out && !dir)
		crc = outfile_close(&o, rc == 0);
	if (rc || crc)
		return fail(c, "%s", nusa_strerror(rc ? rc : crc));
	return 0;
}

struct import_ctx {
	struct ctl *c;
	FILE *f;
	int table;
	uint64_t rows;
	struct books_error err;
};

static int
import_run(struct store_txn *t, void *ctx)
{
	struct import_ctx *x = ctx;

	memset(&x->err, 0, sizeof(x->err));
	x->rows = 0;
	if (fseek(x->f, 0, SEEK_SET) != 0)
		return -errno;
	clearerr(x->f);
	return books_import(t, x->c->k, (enum books_table)x->table, x->f,
	    &x->rows, &x->err);
}

static int
cmd_import(struct ctl *c)
{
	static const char *const tables[] = { NULL, "members", "accounts",
		"postings" };
	struct import_ctx x = { 0 };
	FILE *f;
	int rc, table;

	for (table = BOOKS_MEMBERS; table <= BOOKS_POSTINGS; table++)
		if (strcmp(c->argv[0], tables[table]) == 0)
			break;
	if (table > BOOKS_POSTINGS)
		die(c, "unknown table %s: use members, accounts or postings",
		    c->argv[0]);
	if ((f = fopen(c->argv[1], "r")) == NULL)
		return fail(c, "%s: %s", c->argv[1], strerror(errno));
	/* The clone guard first, as for every write: a copied card must not
	 * sign the books with the original's key (a fork). */
	if (open_store(c, 0) != 0 || guard(c) != 0 || load_key(c) != 0) {
		fclose(f);
		return EXIT_FAILURE;
	}
	/* One transaction, as large as the file: if it outgrows the map,
	 * store_write() grows the map and reads the file again. */
	x.c = c;
	x.f = f;
	x.table = table;
	rc = store_write(c->s, import_run, &x);
	fclose(f);
	if (rc && x.err.what[0] == '\0')
		return fail(c, "%s: %s; nothing imported", c->argv[1],
		    nusa_strerror(rc));
	if (rc) {
		if (x.err.line == 0)
			return fail(c, "%s: %s; nothing imported", c->argv[1],
			    x.err.what);
		return fail(c, "%s: line %" PRIu64 ": %s; nothing imported",
		    c->argv[1], x.err.line, x.err.what);
	}
	printf("imported %" PRIu64 " %s\n", x.rows, tables[table]);
	return 0;
}

/* --- dispatch ------------------------------------------------------------ */

static int cmd_help(struct ctl *c);

/* ---- the running daemon, through its control socket ---- */

/* Sends one request to nusad's control socket (DIR/nusad.sock) and
 * returns its JSON reply, or NULL if nusad does not answer. */
static json_t *
daemon_ask(struct ctl *c, const char *req)
{
	char ep[PATH_MAX + 8], path[PATH_MAX];
	void *ctx, *sock;
	zmq_msg_t m;
	json_t *j = NULL;
	int ms = 3000, zero = 0;
	struct stat sb;

	/* nusad.conf's control key, if not the default, is given to
	 * nusactl as $NUSA_CONTROL (ipc://PATH). */
	if (getenv("NUSA_CONTROL") && strncmp(getenv("NUSA_CONTROL"),
	    "ipc://", 6) == 0)
		snprintf(path, sizeof(path), "%s", getenv("NUSA_CONTROL") + 6);
	else if ((size_t)snprintf(path, sizeof(path), "%s/nusad.sock",
	    c->dir) >= sizeof(path))
		return NULL;
	if (stat(path, &sb) != 0)
		return NULL;
	snprintf(ep, sizeof(ep), "ipc://%s", path);
	if ((ctx = zmq_ctx_new()) == NULL)
		return NULL;
	if ((sock = zmq_socket(ctx, ZMQ_REQ)) != NULL &&
	    zmq_setsockopt(sock, ZMQ_RCVTIMEO, &ms, sizeof(ms)) == 0 &&
	    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &ms, sizeof(ms)) == 0 &&
	    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) == 0 &&
	    zmq_connect(sock, ep) == 0 &&
	    zmq_send(sock, req, strlen(req), 0) >= 0) {
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, sock, 0) >= 0)
			j = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0,
			    NULL);
		zmq_msg_close(&m);
	}
	if (sock)
		zmq_close(sock);
	zmq_ctx_term(ctx);
	return j;
}

static void
print_ago(int64_t when)
{
	int64_t d = (int64_t)time(NULL) - when;

	if (when == 0)
		printf("never");
	else if (d < 120)
		printf("%" PRId64 "s ago", d < 0 ? 0 : d);
	else if (d < 7200)
		printf("%" PRId64 "m ago", d / 60);
	else if (d < 172800)
		printf("%" PRId64 "h ago", d / 3600);
	else
		printf("%" PRId64 "d ago", d / 86400);
}

struct receipts_out {
	struct store_txn *t;
	const uint8_t *self;
	json_t *a;		/* --json: the array, else print */
	uint8_t last[NUSA_KEY_LEN];	/* device of the line just shown */
	int any;
};

static int
receipt_line(const struct receipt *r, const uint8_t *enc, size_t len,
    void *ctx)
{
	struct receipts_out *o = ctx;
	struct receipt latest;
	uint64_t have, missing;
	char hex[HEXKEY], ago[32];
	int rc;

	(void)enc;
	(void)len;
	/* One line per device: its latest receipt, by either way. */
	if (memcmp(r->device, o->self, NUSA_KEY_LEN) == 0 || (o->any &&
	    memcmp(r->device, o->last, NUSA_KEY_LEN) == 0))
		return 0;
	memcpy(o->last, r->device, NUSA_KEY_LEN);
	o->any = 1;
	if ((rc = receipt_get(o->t, r->device, &latest)) != 0 ||
	    (rc = receipt_compare(o->t, &latest, &have, &missing)) != 0)
		return rc;
	hex_key(hex, latest.device);
	if (o->a) {
		json_array_append_new(o->a, json_pack("{s:s, s:I, s:I, s:I, "
		    "s:s}", "device", hex, "has", (json_int_t)have, "missing",
		    (json_int_t)missing, "time", (json_int_t)latest.time,
		    "via", latest.via == RECEIPT_SYNC ? "sync" : "bundle"));
		return 0;
	}
	printf("receipt %.16s has %" PRIu64 " of our entries (", hex, have);
	if (missing)
		printf("%" PRIu64 " missing", missing);
	else
		printf("all");
	printf("), as of %s, via %s\n", fmt_ago(ago, sizeof(ago),
	    (int64_t)latest.time), latest.via == RECEIPT_SYNC ? "sync" :
	    "bundle");
	return 0;
}

/* What the peers' receipts say they have, read from the store: works
 * without nusad. Into j's "receipts" if j, else printed. */
static void
status_receipts(struct ctl *c, json_t *j)
{
	struct receipts_out o = { .self = c->k->pk };
	int rc;

	if (c->s == NULL && store_open(&c->s, c->storepath, 0) != 0)
		return;
	if (store_begin(c->s, &o.t, STORE_READ) != 0)
		return;
	if (j)
		o.a = json_array();
	rc = receipt_each(o.t, receipt_line, &o);
	store_abort(o.t);
	if (rc)
		fprintf(stderr, "nusactl: status: receipts: %s\n",
		    nusa_strerror(rc));
	if (j && o.a)
		json_object_set_new(j, "receipts", o.a);
}

/* ---- the operator's view: stores, conflicts, disk, peers ---- */

/* What one store of the box holds and takes. */
struct box_store {
	char path[PATH_MAX];
	char id[HEXKEY];
	char name[NUSA_TEXT_MAX + 1];
	size_t entries;
	uint64_t overdrafts, forks, reversals;
	struct store_space sp;
};

static int
count_overdraft(const struct state_overdraft *o, void *ctx)
{
	(void)o;
	((struct box_store *)ctx)->overdrafts++;
	return 0;
}

static int
count_fork(const struct state_fork *f, void *ctx)
{
	(void)f;
	((struct box_store *)ctx)->forks++;
	return 0;
}

static int
count_reversals(const struct state_reversals *r, void *ctx)
{
	(void)r;
	((struct box_store *)ctx)->reversals++;
	return 0;
}

/* Reads the store at path into *b: s if it is open already (LMDB must
 * not open one store twice in a process), else opened here. A store
 * without a network (a hub's own empty one) is -NUSA_ENONET. */
static int
box_store_read(struct store *s, const char *path, struct box_store *b)
{
	struct store *own = NULL;
	struct store_txn *t;
	uint8_t id[NUSA_KEY_LEN];
	int rc;

	memset(b, 0, sizeof(*b));
	snprintf(b->path, sizeof(b->path), "%s", path);
	if (s == NULL && (rc = store_open(&own, path, 0)) != 0)
		return rc;
	if (s == NULL)
		s = own;
	if ((rc = store_begin(s, &t, STORE_READ)) == 0) {
		rc = store_network(t, id, b->name, sizeof(b->name));
		if (rc == 0) {
			hex_key(b->id, id);
			b->entries = store_count(t);
			rc = state_overdrafts_each(t, count_overdraft, b);
			if (rc == 0)
				rc = state_forks_each(t, count_fork, b);
			if (rc == 0)
				rc = state_double_reversals_each(t,
				    count_reversals, b);
		}
		store_abort(t);
	}
	if (rc == 0)
		rc = store_space(s, &b->sp);
	store_close(own);
	return rc;
}

/* Every store of the box: DIR/store, and a hub's DIR/networks/ID/store.
 * Sets *out (caller frees) and *n. Returns 0 or a negative error. */
static int
box_stores(struct ctl *c, struct box_store **out, size_t *n)
{
	char path[PATH_MAX];
	struct box_store *v = NULL, *w;
	struct dirent *e;
	DIR *dir;
	int rc;

	*out = NULL;
	*n = 0;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return -ENOMEM;
	rc = box_store_read(c->s, c->storepath, &v[0]);
	if (rc == 0)
		*n = 1;
	else if (rc != -NUSA_ENONET && rc != -ENOENT) {
		free(v);
		return rc;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/networks", c->dir) <
	    sizeof(path) && (dir = opendir(path)) != NULL) {
		while ((e = readdir(dir)) != NULL) {
			char sp[PATH_MAX];

			if (e->d_name[0] == '.' || (size_t)snprintf(sp,
			    sizeof(sp), "%s/%s/store", path, e->d_name) >=
			    sizeof(sp))
				continue;
			if ((w = realloc(v, (*n + 1) * sizeof(*v))) == NULL) {
				closedir(dir);
				free(v);
				*n = 0;
				return -ENOMEM;
			}
			v = w;
			if (box_store_read(NULL, sp, &v[*n]) == 0)
				(*n)++;
		}
		closedir(dir);
	}
	*out = v;
	return 0;
}

static void
print_mib(uint64_t bytes)
{
	printf("%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

/* The lines status and peers end with: conflicts open per network,
 * disk used per network, the filesystem's free space. daemon is nusad's
 * status reply, or NULL. */
static void
print_storage(const struct box_store *b, size_t n, json_t *daemon)
{
	json_t *disk = daemon ? json_object_get(daemon, "disk") : NULL;
	size_t i;

	for (i = 0; i < n; i++)
		printf("conflicts %s: %" PRIu64 " open (%" PRIu64
		    " overdrafts, %" PRIu64 " forks, %" PRIu64 " double "
		    "reversals)\n", b[i].name, b[i].overdrafts + b[i].forks +
		    b[i].reversals, b[i].overdrafts, b[i].forks,
		    b[i].reversals);
	for (i = 0; i < n; i++) {
		printf("disk %s: ", b[i].name);
		print_mib(b[i].sp.file);
		printf(" on disk, ");
		print_mib(b[i].sp.used);
		printf(" in use, map ");
		print_mib(b[i].sp.map);
		printf("\n");
	}
	if (n > 0) {
		printf("disk free: ");
		print_mib(b[0].sp.fs_free);
		printf(" of ");
		print_mib(b[0].sp.fs_size);
		printf(" (%.0f%% used)%s\n", b[0].sp.fs_size ? 100.0 *
		    (double)(b[0].sp.fs_size - b[0].sp.fs_free) /
		    (double)b[0].sp.fs_size : 0.0,
		    json_is_true(json_object_get(disk, "low")) ?
		    ", low: past disk_warn" : "");
	}
}

static json_t *
storage_json(const struct box_store *b, size_t n)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; a && i < n; i++) {
		o = json_pack("{s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I}, "
		    "s:{s:I, s:I, s:I}}", "id", b[i].id, "name", b[i].name,
		    "entries", (json_int_t)b[i].entries, "conflicts", "open",
		    (json_int_t)(b[i].overdrafts + b[i].forks +
		    b[i].reversals), "overdrafts", (json_int_t)b[i].overdrafts,
		    "forks", (json_int_t)b[i].forks, "double_reversals",
		    (json_int_t)b[i].reversals, "store", "file_bytes",
		    (json_int_t)b[i].sp.file, "used_bytes",
		    (json_int_t)b[i].sp.used, "map_bytes",
		    (json_int_t)b[i].sp.map);
		json_array_append_new(a, o);
	}
	return a;
}

/* Adds "stores" and "filesystem" to a status or peers JSON object. */
static void
storage_json_add(json_t *j, const struct box_store *b, size_t n)
{
	json_object_set_new(j, "stores", storage_json(b, n));
	if (n > 0)
		json_object_set_new(j, "filesystem", json_pack("{s:I, s:I}",
		    "free_bytes", (json_int_t)b[0].sp.fs_free, "size_bytes",
		    (json_int_t)b[0].sp.fs_size));
}

/* Without nusad: the peers DATA/peers.json remembers, and every other
 * device enrolled in the box's networks, as the status reply would list
 * them but with nothing live (behind and ahead unknown). */
static json_t *
peers_offline(struct ctl *c, const struct box_store *b, size_t n)
{
	char path[PATH_MAX];
	json_t *a = json_array(), *saved, *p;
	size_t i, k;

	if ((size_t)snprintf(path, sizeof(path), "%s/peers.json", c->dir) <
	    sizeof(path) && (saved = json_load_file(path, 0, NULL)) != NULL) {
		json_array_foreach(saved, i, p) {
			const char *net = json_string_value(json_object_get(p,
			    "network")), *name = "?";

			if (!json_is_string(json_object_get(p, "id")) || !net)
				continue;
			for (k = 0; k < n; k++)
				if (strcmp(b[k].id, net) == 0)
					name = b[k].name;
			json_array_append_new(a, json_pack("{s:O, s:s, s:O, "
			    "s:s, s:b, s:O, s:O, s:n, s:n}", "id",
			    json_object_get(p, "id"), "network", name, "addr",
			    json_object_get(p, "addr") ? json_object_get(p,
			    "addr") : json_string(""), "source", "remembered",
			    "connected", 0, "last_seen", json_object_get(p,
			    "last_seen"), "last_synced", json_object_get(p,
			    "last_synced"), "behind", "ahead"));
		}
		json_decref(saved);
	}
	return a;
}

struct enrolled_ctx {
	json_t *peers;
	const char *self;
	const char *network;
};

static int
add_enrolled(const struct store_device *dev, void *ctx)
{
	struct enrolled_ctx *e = ctx;
	char id[HEXKEY];
	json_t *p;
	size_t i;

	if (dev->role == ROLE_NONE || dev->cut != UINT64_MAX)
		return 0;
	hex_key(id, dev->pk);
	if (strcmp(id, e->self) == 0)
		return 0;
	json_array_foreach(e->peers, i, p)
		if (strcmp(json_string_value(json_object_get(p, "id")), id) ==
		    0 && strcmp(json_string_value(json_object_get(p,
		    "network")), e->network) == 0)
			return 0;
	json_array_append_new(e->peers, json_pack("{s:s, s:s, s:s, s:s, s:b,"
	    " s:I, s:I, s:n, s:n}", "id", id, "network", e->network, "addr",
	    "", "source", "enrolled", "connected", 0, "last_seen",
	    (json_int_t)0, "last_synced", (json_int_t)0, "behind", "ahead"));
	return 0;
}

/* Adds the enrolled devices of each store that are not listed yet. */
static void
peers_enrolled(struct ctl *c, json_t *peers, const struct box_store *b,
    size_t n)
{
	struct enrolled_ctx e = { .peers = peers };
	char self[HEXKEY];
	struct store *s;
	struct store_txn *t;
	size_t i;

	e.self = hex_key(self, c->k->pk);
	for (i = 0; i < n; i++) {
		struct store *own = NULL;

		s = c->s && strcmp(b[i].path, c->storepath) == 0 ? c->s : NULL;
		if (s == NULL && store_open(&own, b[i].path, 0) != 0)
			continue;
		if (s == NULL)
			s = own;
		if (store_begin(s, &t, STORE_READ) == 0) {
			e.network = b[i].name;
			store_devices_each(t, add_enrolled, &e);
			store_abort(t);
		}
		store_close(own);
	}
}

static void
print_count(json_t *v, int width)
{
	if (json_is_integer(v))
		printf("%-*" JSON_INTEGER_FORMAT, width, json_integer_value(v));
	else
		printf("%-*s", width, "-");
}

static void
print_ago_col(json_t *v)
{
	char buf[32];
	int64_t when = json_integer_value(v), d = (int64_t)time(NULL) - when;

	if (when == 0)
		snprintf(buf, sizeof(buf), "never");
	else if (d < 120)
		snprintf(buf, sizeof(buf), "%" PRId64 "s ago", d < 0 ? 0 : d);
	else if (d < 7200)
		snprintf(buf, sizeof(buf), "%" PRId64 "m ago", d / 60);
	else if (d < 172800)
		snprintf(buf, sizeof(buf), "%" PRId64 "h ago", d / 3600);
	else
		snprintf(buf, sizeof(buf), "%" PRId64 "d ago", d / 86400);
	printf("%-11s", buf);
}

static int
cmd_peers(struct ctl *c)
{
	struct box_store *b;
	json_t *j, *peers, *p;
	size_t n, i;
	int rc, running;

	if (load_key(c) != 0)
		return EXIT_FAILURE;
	if ((rc = box_stores(c, &b, &n)) != 0)
		return fail(c, "%s", nusa_strerror(rc));
	j = daemon_ask(c, "status");
	running = j != NULL;
	if (running) {
		peers = json_incref(json_object_get(j, "peers"));
		if (peers == NULL)
			peers = json_array();
	} else
		peers = peers_offline(c, b, n);
	peers_enrolled(c, peers, b, n);
	/* Behind and ahead are known only over a live session. */
	json_array_foreach(peers, i, p)
		if (!json_is_true(json_object_get(p, "connected"))) {
			json_object_set_new(p, "behind", json_null());
			json_object_set_new(p, "ahead", json_null());
		}
	if (c->json) {
		json_t *o = json_pack("{s:b, s:O}", "running", running,
		    "peers", peers);

		storage_json_add(o, b, n);
		if (j && json_object_get(j, "disk"))
			json_object_set(o, "disk", json_object_get(j, "disk"));
		json_out(o);
	} else {
		if (!running)
			printf("nusad: not running (from the store and "
			    "%s/peers.json; behind and ahead unknown)\n",
			    c->dir);
		printf("%-16s  %-20s  %-10s  %-13s  %-11s%-11s%-7s%s\n",
		    "PEER", "NETWORK", "SOURCE", "STATE", "LAST SEEN",
		    "LAST SYNC", "BEHIND", "AHEAD");
		json_array_foreach(peers, i, p) {
			printf("%-16.16s  %-20.20s  %-10s  %-13s  ",
			    json_string_value(json_object_get(p, "id")),
			    json_string_value(json_object_get(p, "network")),
			    json_string_value(json_object_get(p, "source")),
			    json_is_true(json_object_get(p, "connected")) ?
			    "connected" : "not connected");
			print_ago_col(json_object_get(p, "last_seen"));
			print_ago_col(json_object_get(p, "last_synced"));
			print_count(json_object_get(p, "behind"), 7);
			print_count(json_object_get(p, "ahead"), 0);
			printf("\n");
		}
		if (json_array_size(peers) == 0)
			printf("no peers known\n");
		print_storage(b, n, j);
	}
	json_decref(peers);
	json_decref(j);
	free(b);
	return 0;
}

/* The storage lines of status (or its JSON fields). */
static void
status_storage(struct ctl *c, json_t *j)
{
	struct box_store *b;
	size_t n;

	if (box_stores(c, &b, &n) != 0)
		return;
	if (c->json)
		storage_json_add(j, b, n);
	else
		print_storage(b, n, j);
	free(b);
}

static int
cmd_compact(struct ctl *c)
{
	struct box_store *b;
	uint64_t before, after;
	json_t *j;
	size_t n, i;
	int rc;

	if ((j = daemon_ask(c, "status")) != NULL) {
		json_decref(j);
		return fail(c, "nusad is running on %s: stop it first "
		    "(systemctl stop nusad), compact, then start it", c->dir);
	}
	if ((rc = box_stores(c, &b, &n)) != 0)
		return fail(c, "%s", nusa_strerror(rc));
	if (n == 0) {
		free(b);
		return fail(c, "no store with a network in %s", c->dir);
	}
	for (i = 0; i < n; i++) {
		if ((rc = store_compact(b[i].path, &before, &after)) != 0) {
			rc = fail(c, "%s: %s (the store is as it was)",
			    b[i].path, rc == -EBUSY ? "open in another "
			    "process (nusad, nusactl): close it first" :
			    nusa_strerror(rc));
			free(b);
			return rc;
		}
		printf("compacted %s: %" PRIu64 " -> %" PRIu64 " bytes\n",
		    b[i].name, before, after);
	}
	free(b);
	return 0;
}

static int
cmd_status(struct ctl *c)
{
	json_t *j, *p, *n;
	struct rekey rk;
	size_t i;
	char dev[HEXKEY];
	int pending = 0;

	if (load_key(c) != 0)
		return EXIT_FAILURE;
	hex_key(dev, c->k->pk);
	j = daemon_ask(c, "status");
	if (rekey_pending(c, &rk)) {
		if (c->json) {
			if (j == NULL)
				j = json_object();
			json_object_set_new(j, "rekey", rekey_json(&rk));
		} else
			pending = 1;
	}
	if (c->json) {
		if (j == NULL)
			j = json_pack("{s:s, s:b}", "device", dev, "running",
			    0);
		else if (json_object_get(j, "device") == NULL) {
			json_object_set_new(j, "device", json_string(dev));
			json_object_set_new(j, "running", json_false());
		} else
			json_object_set_new(j, "running", json_true());
		status_receipts(c, j);
		status_storage(c, j);
		json_out(j);
		return 0;
	}
	if (pending)
		print_pending(&rk);
	if (j == NULL) {
		printf("box %s\n", dev);
		printf("nusad: not running (no answer on %s/nusad.sock)\n",
		    c->dir);
		status_receipts(c, NULL);
		status_storage(c, NULL);
		return 0;
	}
	printf("box %s (%s mode)%s%s\n", dev,
	    json_string_value(json_object_get(j, "mode")),
	    json_string_length(json_object_get(j, "listen")) ?
	    ", listening on " : "",
	    json_string_value(json_object_get(j, "listen")));
	json_array_foreach(json_object_get(j, "networks"), i, n)
		printf("network %s: %" JSON_INTEGER_FORMAT " entries\n",
		    json_string_value(json_object_get(n, "name")),
		    json_integer_value(json_object_get(n, "entries")));
	if (json_array_size(json_object_get(j, "peers")) == 0)
		printf("no peers yet\n");
	json_array_foreach(json_object_get(j, "peers"), i, p) {
		printf("peer %.16s %s %s, %s, last synced ",
		    json_string_value(json_object_get(p, "id")),
		    json_string_length(json_object_get(p, "addr")) ?
		    json_string_value(json_object_get(p, "addr")) : "-",
		    json_string_value(json_object_get(p, "source")),
		    json_is_true(json_object_get(p, "connected")) ?
		    "connected" : "not connected");
		print_ago(json_integer_value(json_object_get(p,
		    "last_synced")));
		printf(", behind %" JSON_INTEGER_FORMAT ", ahead %"
		    JSON_INTEGER_FORMAT "\n",
		    json_integer_value(json_object_get(p, "behind")),
		    json_integer_value(json_object_get(p, "ahead")));
		if (json_string_length(json_object_get(p, "last_error")))
			printf("  last error: %s\n", json_string_value(
			    json_object_get(p, "last_error")));
	}
	status_receipts(c, NULL);
	status_storage(c, j);
	json_decref(j);
	return 0;
}

static json_t *
find_peer(json_t *status, const char *id)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(status, "peers"), i, p)
		if (strncasecmp(json_string_value(json_object_get(p, "id")),
		    id, 2 * NUSA_KEY_LEN) == 0)
			return p;
	return NULL;
}

static int
cmd_sync(struct ctl *c)
{
	const char *peer = c->argv[0];
	char req[512], id[HEXKEY];
	json_t *j, *p;
	int64_t since;
	long timeout = 60, waited;
	char *end;

	if (c->opt[O_TIMEOUT]) {
		timeout = strtol(c->opt[O_TIMEOUT], &end, 10);
		if (*end || timeout < 1 || timeout > 86400)
			die(c, "--timeout: seconds from 1 to 86400");
	}
	if (strlen(peer) < 2 * NUSA_KEY_LEN || strlen(peer) > 400)
		die(c, "PEER is a device id (64 hex digits) or "
		    "ID@tcp://HOST:PORT");
	snprintf(id, sizeof(id), "%.64s", peer);
	snprintf(req, sizeof(req), "sync %s", peer);
	if ((j = daemon_ask(c, req)) == NULL)
		return fail(c, "nusad is not running on %s (start it: "
		    "systemctl start nusad)", c->dir);
	if (!json_is_true(json_object_get(j, "ok"))) {
		int rc = fail(c, "%s", json_string_value(json_object_get(j,
		    "error")));

		json_decref(j);
		return rc;
	}
	since = json_integer_value(json_object_get(j, "since"));
	json_decref(j);
	/* Synced once both sides have said they are caught up after now. */
	for (waited = 0; waited < timeout * 5; waited++) {
		if ((j = daemon_ask(c, "status")) != NULL &&
		    (p = find_peer(j, id)) != NULL &&
		    json_integer_value(json_object_get(p, "last_synced")) >=
		    since && json_is_true(json_object_get(p, "in_sync"))) {
			printf("synced with %.16s: sent %" JSON_INTEGER_FORMAT
			    ", received %" JSON_INTEGER_FORMAT " entries in "
			    "all\n", id,
			    json_integer_value(json_object_get(p, "sent")),
			    json_integer_value(json_object_get(p,
			    "received")));
			json_decref(j);
			return 0;
		}
		json_decref(j);
		usleep(200000);
	}
	return fail(c, "not synced with %.16s within %ld s (is it reachable "
	    "and enrolled? see nusactl status)", id, timeout);
}

/* A hub keeps each network it serves in DIR/networks/NETWORK_ID/. */
static int
cmd_hub_join(struct ctl *c)
{
	const char *path = c->argv[0];
	struct bundle_reader *r = NULL;
	struct bundle_fault where;
	struct bundle_stats st;
	struct store *s = NULL;
	char hex[HEXKEY], dir[PATH_MAX], sp[PATH_MAX];
	FILE *f;
	int rc, created;

	if (load_key(c) != 0)
		return EXIT_FAILURE;
	if ((f = fopen(path, "rb")) == NULL)
		return fail(c, "%s: %s", path, strerror(errno));
	if ((rc = bundle_reader_open(&r, f)) != 0) {
		fclose(f);
		return fail(c, "%s: not a nusa bundle", path);
	}
	hex_key(hex, bundle_reader_network(r));
	bundle_reader_free(&r);
	rewind(f);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/networks/%s", c->dir,
	    hex) >= sizeof(dir) || (size_t)snprintf(sp, sizeof(sp),
	    "%s/store", dir) >= sizeof(sp)) {
		fclose(f);
		return fail(c, "%s: path too long", c->dir);
	}
	snprintf(sp, sizeof(sp), "%s/networks", c->dir);
	mkdir(sp, 0700);
	created = mkdir(dir, 0700) == 0;
	if ((size_t)snprintf(sp, sizeof(sp), "%s/store", dir) >= sizeof(sp))
		rc = -ENAMETOOLONG;
	else if ((rc = store_open(&s, sp, STORE_CREATE)) == 0)
		rc = bundle_import(s, f, c->k, &st, &where);
	fclose(f);
	store_close(s);
	if (rc && created) {
		/* Leave nothing that nusad would try to serve. */
		char fp[PATH_MAX + 16];

		snprintf(fp, sizeof(fp), "%s/data.mdb", sp);
		unlink(fp);
		snprintf(fp, sizeof(fp), "%s/lock.mdb", sp);
		unlink(fp);
		snprintf(fp, sizeof(fp), "%s/compact.lock", sp);
		unlink(fp);
		rmdir(sp);
		rmdir(dir);
	}
	if (rc && where.maker)
		return fail(c, "%s: %s; nothing served", path, rc ==
		    -NUSA_EBADSIG ? "the maker's signature does not verify" :
		    "the bundle's maker is not a device of this network");
	if (rc == -NUSA_EUNENROLLED)
		return fail(c, "%s: the bundle does not enrol this hub; ask the "
		    "network's admin to run: nusactl enrol %s --role relay, "
		    "then export a new bundle", path, hex_key(hex, c->k->pk));
	if (rc)
		return fail(c, "%s: %s", path, nusa_strerror(rc));
	printf("hub serves network %s now (%" PRIu64 " entries); reload "
	    "nusad: systemctl reload nusad\n", hex, st.added);
	return 0;
}

/* ---- web users ---- */

static void
users_path(struct ctl *c, char out[PATH_MAX])
{
	if ((size_t)snprintf(out, PATH_MAX, "%s/users", c->dir) >= PATH_MAX)
		die(c, "data directory name too long");
}

/* Reads one line into buf (cap bytes) from f; strips the newline. Returns
 * 0, or -1 at end of input, -ERANGE if the line is too long. */
static int
read_line(FILE *f, char *buf, size_t cap)
{
	size_t n;

	if (fgets(buf, (int)cap, f) == NULL)
		return -1;
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (!feof(f))
		return -ERANGE;
	if (n && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

/* Asks for the PIN on the terminal without echo, twice. */
static int
ask_pin(struct ctl *c, char *pin, size_t cap)
{
	char again[USERS_PIN_MAX + 2];
	struct termios old, quiet;
	FILE *tty;
	int rc;

	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return fail(c, "no terminal to ask for the PIN: use "
		    "--pin-stdin");
	if (tcgetattr(fileno(tty), &old) != 0) {
		fclose(tty);
		return fail(c, "no terminal to ask for the PIN: use "
		    "--pin-stdin");
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	fprintf(tty, "PIN: ");
	fflush(tty);
	rc = read_line(tty, pin, cap);
	if (rc == 0) {
		fprintf(tty, "PIN again: ");
		fflush(tty);
		rc = read_line(tty, again, sizeof(again));
	}
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fclose(tty);
	if (rc == 0 && strcmp(pin, again) != 0)
		rc = 1;
	sodium_memzero(again, sizeof(again));
	if (rc == 1)
		return fail(c, "the two PINs differ");
	if (rc)
		return fail(c, "no PIN given");
	return 0;
}

static int
cmd_user_add(struct ctl *c)
{
	char path[PATH_MAX], pin[USERS_PIN_MAX + 2];
	struct users *u = NULL;
	int role, rc, lk = -1;

	if (!users_name_ok(c->argv[0]))
		die(c, "bad user name '%s' (1 to %d of A-Z a-z 0-9 . _ -)",
		    c->argv[0], USERS_NAME_MAX);
	if (c->opt[O_ROLE] == NULL)
		die(c, "--role clerk|treasurer|admin is required");
	if ((role = users_role_parse(c->opt[O_ROLE])) == 0)
		die(c, "bad role '%s' (clerk, treasurer or admin)",
		    c->opt[O_ROLE]);
	users_path(c, path);
	if ((rc = users_load(&u, path)) != 0)
		return fail(c, "%s: %s", path, nusa_strerror(rc));
	if (users_find(u, c->argv[0])) {
		users_free(&u);
		return fail(c, "user %s exists already", c->argv[0]);
	}
	users_free(&u);
	if (c->opt[O_PIN_STDIN]) {
		rc = read_line(stdin, pin, sizeof(pin));
		if (rc == -ERANGE || (rc == 0 && strlen(pin) > USERS_PIN_MAX))
			rc = fail(c, "PIN too long (at most %d bytes)",
			    USERS_PIN_MAX);
		else if (rc)
			rc = fail(c, "no PIN on standard input");
	} else
		rc = ask_pin(c, pin, sizeof(pin));
	/* The PIN is in: now load, change and save under the lock, so
	 * that no other writer's change is lost. */
	if (rc == 0 && (lk = users_lock(path)) < 0)
		rc = fail(c, "%s.lock: %s", path, nusa_strerror(lk));
	if (rc == 0 && (rc = users_load(&u, path)) != 0)
		rc = fail(c, "%s: %s", path, nusa_strerror(rc));
	if (rc == 0 && users_find(u, c->argv[0]))
		rc = fail(c, "user %s exists already", c->argv[0]);
	if (rc == 0) {
		rc = users_add(u, c->argv[0], role, pin);
		if (rc == -NUSA_ERANGE)
			rc = fail(c, "PIN too short (at least %d characters)",
			    USERS_PIN_MIN);
		else if (rc == 0 && (rc = users_save(u, path)) != 0)
			rc = fail(c, "%s: %s", path, nusa_strerror(rc));
		else if (rc)
			rc = fail(c, "%s", nusa_strerror(rc));
		else
			printf("user %s added as %s\n", c->argv[0],
			    users_role_name(role));
	}
	users_unlock(lk);
	sodium_memzero(pin, sizeof(pin));
	users_free(&u);
	return rc;
}

static int
cmd_user_list(struct ctl *c)
{
	char path[PATH_MAX];
	struct users *u = NULL;
	json_t *arr;
	size_t i;
	int rc;

	users_path(c, path);
	if ((rc = users_load(&u, path)) != 0)
		return fail(c, "%s: %s", path, nusa_strerror(rc));
	if (c->json) {
		arr = json_array();
		for (i = 0; i < u->n; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s}",
			    "user", u->v[i].name, "role",
			    users_role_name(u->v[i].role)));
		json_dumpf(arr, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(arr);
	} else
		for (i = 0; i < u->n; i++)
			printf("%s %s\n", u->v[i].name,
			    users_role_name(u->v[i].role));
	users_free(&u);
	return 0;
}

static int
cmd_user_remove(struct ctl *c)
{
	char path[PATH_MAX];
	struct users *u = NULL;
	int rc, lk;

	users_path(c, path);
	if ((lk = users_lock(path)) < 0)
		return fail(c, "%s.lock: %s", path, nusa_strerror(lk));
	if ((rc = users_load(&u, path)) != 0) {
		users_unlock(lk);
		return fail(c, "%s: %s", path, nusa_strerror(rc));
	}
	if ((rc = users_remove(u, c->argv[0])) != 0)
		rc = fail(c, "no user %s", c->argv[0]);
	else if ((rc = users_save(u, path)) != 0)
		rc = fail(c, "%s: %s", path, nusa_strerror(rc));
	else
		printf("user %s removed\n", c->argv[0]);
	users_unlock(lk);
	users_free(&u);
	return rc;
}

static const struct command commands[] = {
	{ "init", cmd_init, OPT(O_NETWORK), 0, 0, "init --network NAME",
	  "start a new network; this box is its root admin" },
	{ "keygen", cmd_keygen, 0, 0, 0, "keygen",
	  "make this box's key; prints its device id" },
	{ "id", cmd_id, OPT(O_JSON), 0, 0, "id [--json]",
	  "device id, network id and role of this box" },
	{ "rekey", cmd_rekey, 0, 0, 0, "rekey",
	  "retire this box's device key for a new one, to be enrolled "
	  "(a copied card)" },
	{ "enrol", cmd_enrol, OPT(O_ROLE), 1, 1,
	  "enrol DEVICE_ID --role clerk|admin|relay",
	  "let a device into the network (admin)" },
	{ "revoke", cmd_revoke, 0, 1, 1, "revoke DEVICE_ID",
	  "shut a device out; its later entries stop counting (admin)" },
	{ "member add", cmd_member_add, OPT(O_NAME) | OPT(O_VILLAGE), 1, 1,
	  "member add ID --name NAME [--village VILLAGE]", "add a member" },
	{ "member set", cmd_member_set, 0, 2, 1 + PAYLOAD_FIELDS_MAX,
	  "member set ID FIELD=VALUE...", "change fields of a member" },
	{ "member remove", cmd_member_remove, 0, 1, 1, "member remove ID",
	  "remove a member (a tombstone)" },
	{ "member list", cmd_member_list, OPT(O_JSON), 0, 0,
	  "member list [--json]", "list members" },
	{ "account open", cmd_account_open, OPT(O_MEMBER) | OPT(O_TYPE), 1,
	  1, "account open ID --member ID --type pokok|wajib|sukarela|loan",
	  "open a savings or loan account" },
	{ "post", cmd_post, OPT(O_MEMO) | OPT(O_DATE), 2, 4,
	  "post deposit|withdraw|disburse|repay ACCOUNT AMOUNT [--memo TEXT] "
	  "[--date YYYY-MM-DD]\n"
	  "  nusactl post transfer FROM TO AMOUNT [--memo TEXT]\n"
	  "  nusactl post reverse ENTRY_ID [--memo TEXT]",
	  "record a transaction (amounts in whole rupiah)" },
	{ "balance", cmd_balance, OPT(O_JSON), 0, 1,
	  "balance [ACCOUNT] [--json]", "balances from all known postings" },
	{ "conflicts", cmd_conflicts, OPT(O_JSON), 0, 0, "conflicts [--json]",
	  "overdrafts from offline withdrawals, and forked devices" },
	{ "log", cmd_log, OPT(O_JSON), 0, 0, "log [--json]",
	  "every entry in clock order" },
	{ "vector", cmd_vector, OPT(O_JSON), 0, 0, "vector [--json]",
	  "version vector: highest seq held of each device" },
	{ "digest", cmd_digest, 0, 0, 0, "digest",
	  "hash of the ledger state: equal on boxes in sync" },
	{ "verify", cmd_verify, 0, 0, 0, "verify",
	  "re-check every entry and the state; exit 1 on any fault" },
	{ "bundle export", cmd_bundle_export, OPT(O_FOR) | OPT(O_FOR_PEER) |
	  OPT(O_NETWORK), 1, 1, "bundle export FILE [--for VECTOR_FILE | "
	  "--for-peer DEVICE_ID] [--network ID]",
	  "write entries (or those a peer lacks) to a file" },
	{ "bundle import", cmd_bundle_import, OPT(O_NETWORK), 1, 1,
	  "bundle import FILE [--network ID]",
	  "verify and import a bundle" },
	{ "status", cmd_status, OPT(O_JSON), 0, 0, "status [--json]",
	  "this box and its peers, as the running nusad sees them" },
	{ "peers", cmd_peers, OPT(O_JSON), 0, 0, "peers [--json]",
	  "every known box: network, last seen, last sync, behind/ahead" },
	{ "compact", cmd_compact, 0, 0, 0, "compact",
	  "rewrite the store without free pages (nusad stopped)" },
	{ "sync", cmd_sync, OPT(O_TIMEOUT), 1, 1,
	  "sync PEER [--timeout S]",
	  "sync with PEER (ID or ID@tcp://HOST:PORT) now and wait" },
	{ "hub join", cmd_hub_join, 0, 1, 1, "hub join BUNDLE",
	  "hub mode: serve the network of a bundle that enrols this hub" },
	{ "export", cmd_export, OPT(O_OUT), 1, 1,
	  "export csv|json [--out FILE|DIR]",
	  "members, accounts, balances and postings for spreadsheets" },
	{ "import", cmd_import, 0, 2, 2,
	  "import members|accounts|postings FILE.csv",
	  "load existing books, all or nothing" },
	{ "user add", cmd_user_add, OPT(O_ROLE) | OPT(O_PIN_STDIN), 1, 1,
	  "user add NAME --role clerk|treasurer|admin [--pin-stdin]",
	  "add a user of the web app; asks for the PIN (or reads a line)" },
	{ "user list", cmd_user_list, OPT(O_JSON), 0, 0,
	  "user list [--json]", "users of the web app and their roles" },
	{ "user remove", cmd_user_remove, 0, 1, 1, "user remove NAME",
	  "remove a user of the web app" },
	{ "help", cmd_help, 0, 0, 0, "help", "this text" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: nusactl [-d DIR] COMMAND [ARGS]\n\n"
	    "DIR is the box's data directory (default $NUSA_DIR, then "
	    "/var/lib/nusa).\n\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  nusactl %s\n      %s\n", commands[i].usage,
		    commands[i].help);
	fprintf(out, "\nexit status: 0 ok, 1 failure, 2 misuse\n");
}

static int
cmd_help(struct ctl *c)
{
	(void)c;
	usage(stdout);
	return 0;
}

/* Prints the commands whose first word is word ("member --help").
 * Returns how many it printed. */
static int
group_help(const char *word)
{
	size_t i, n = strlen(word), found = 0;

	for (i = 0; i < NCOMMANDS; i++)
		if (strncmp(commands[i].name, word, n) == 0 &&
		    commands[i].name[n] == ' ') {
			printf("  nusactl %s\n      %s\n", commands[i].usage,
			    commands[i].help);
			found++;
		}
	return (int)found;
}

/* Matches argv against a command's words; returns how many it used. */
static int
match(const struct command *cmd, int argc, char **argv)
{
	const char *p = cmd->name;
	int used = 0;
	size_t n;

	while (*p) {
		n = strcspn(p, " ");
		if (used >= argc || strlen(argv[used]) != n ||
		    strncmp(argv[used], p, n) != 0)
			return 0;
		used++;
		p += n;
		p += *p == ' ';
	}
	return used;
}

static void
parse_opts(struct ctl *c, const struct command *cmd, int argc, char **argv)
{
	int i, o;

	c->argv = calloc((size_t)argc + 1, sizeof(char *));
	if (c->argv == NULL) {
		fprintf(stderr, "nusactl: out of memory\n");
		exit(EXIT_FAILURE);
	}
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char name[32];
		size_t n;

		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			c->argv[c->argc++] = argv[i];
			continue;
		}
		n = strcspn(a + 2, "=");
		if (n >= sizeof(name))
			die(c, "unknown option %s", a);
		memcpy(name, a + 2, n);
		name[n] = '\0';
		if (a[2 + n] == '=')
			val = a + 3 + n;
		for (o = 0; o < O_COUNT; o++)
			if (strcmp(name, opts[o].name) == 0)
				break;
		if (o == O_COUNT || !(cmd->opts & OPT(o)))
			die(c, "unknown option --%s", name);
		if (opts[o].has_arg && val == NULL) {
			if (i + 1 >= argc)
				die(c, "--%s needs a value", name);
			val = argv[++i];
		}
		if (!opts[o].has_arg && val)
			die(c, "--%s takes no value", name);
		c->opt[o] = val ? val : "";
	}
	c->json = c->opt[O_JSON] != NULL;
	if (c->argc < cmd->min_args || c->argc > cmd->max_args)
		die(c, "usage: nusactl %.*s", (int)strcspn(cmd->usage, "\n"),
		    cmd->usage);
}

int
main(int argc, char **argv)
{
	struct ctl c = { 0 };
	const struct command *cmd = NULL;
	char cmdname[64];
	size_t i;
	int used = 0, rc;

	c.dir = getenv("NUSA_DIR");
	argv++;
	argc--;
	while (argc > 0 && argv[0][0] == '-') {
		if (strcmp(argv[0], "-h") == 0 ||
		    strcmp(argv[0], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[0], "-d") == 0 && argc > 1) {
			c.dir = argv[1];
			argv += 2;
			argc -= 2;
		} else if (strcmp(argv[0], "-d") == 0) {
			die(&c, "-d needs the box's data directory");
		} else if (strncmp(argv[0], "-d", 2) == 0 && argv[0][2]) {
			c.dir = argv[0] + 2;
			argv++;
			argc--;
		} else {
			die(&c, "unknown option %s", argv[0]);
		}
	}
	if (argc == 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < NCOMMANDS && cmd == NULL; i++)
		if ((used = match(&commands[i], argc, argv)) > 0)
			cmd = &commands[i];
	if (cmd == NULL && argc > 1 && strcmp(argv[1], "--help") == 0 &&
	    group_help(argv[0]))
		return 0;
	if (cmd == NULL) {
		c.cmd = argv[0];
		die(&c, "unknown command");
	}
	snprintf(cmdname, sizeof(cmdname), "%s", cmd->name);
	c.cmd = cmdname;
	for (i = (size_t)used; i < (size_t)argc; i++)
		if (strcmp(argv[i], "--help") == 0) {
			printf("usage: nusactl %s\n  %s\n", cmd->usage,
			    cmd->help);
			return 0;
		}
	parse_opts(&c, cmd, argc - used, argv + used);
	if (c.dir == NULL || c.dir[0] == '\0')
		c.dir = "/var/lib/nusa";
	if ((size_t)snprintf(c.keypath, sizeof(c.keypath), "%s/device.key",
	    c.dir) >= sizeof(c.keypath) ||
	    (size_t)snprintf(c.storepath, sizeof(c.storepath), "%s/store",
	    c.dir) >= sizeof(c.storepath))
		die(&c, "data directory name too long");
	rc = cmd->fn(&c);
	if (fflush(stdout) != 0 && rc == 0)
		rc = fail(&c, "writing output: %s", strerror(errno));
	key_free(&c.k);
	store_close(c.s);
	free(c.argv);
	return rc;
}
