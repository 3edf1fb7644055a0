#include "nusad.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "discover.h"
#include "key.h"
#include "metrics.h"
#include "notify.h"
#include "web.h"
#include "outfile.h"
#include "payload.h"
#include "proto.h"
#include "receipt.h"
#include "replica.h"
#include "session.h"
#include "store.h"

#define TICK_MS		200	/* how often stores are checked for news */
#define BURST		256	/* messages taken from one socket per turn */
#define BAN_SECONDS	60	/* a peer that sent garbage waits this long */
#define BANS_MAX	64
#define LINKS_MAX	(CONFIG_PEERS_MAX + 1 + 64)
#define NETS_MAX	1024
#define RECONNECT_MS	100	/* first retry; doubles, plus jitter */
#define RECONNECT_MAX_MS 60000
#define KEEPALIVE_WAIT	6	/* heartbeats a busy session waits for a peer */
#define PEERS_SAVE_S	600	/* peers.json follows an idle sync this often */

enum source {
	SRC_STATIC = 1,
	SRC_HUB = 2,
	SRC_FOUND = 4,
	SRC_INBOUND = 8,
	SRC_MANUAL = 16,
};

struct net {
	char dir[PATH_MAX];
	struct store *store;
	uint8_t id[NUSA_KEY_LEN];
	char name[NUSA_TEXT_MAX + 1];
	uint64_t gen;		/* store_generation() last seen */
};

/* A device that may connect: its CURVE key and who it is. */
struct allowed {
	uint8_t curve[crypto_box_PUBLICKEYBYTES];
	uint8_t id[NUSA_KEY_LEN];
};

/* What we know of one peer of one network, across its sessions. */
struct peer {
	uint8_t id[NUSA_KEY_LEN];
	size_t net;
	char addr[CONFIG_ADDR_MAX];
	int sources;
	int64_t last_seen, last_synced;
	uint64_t sent, received, added;
	uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
	char last_error[PROTO_TEXT_MAX + 64];
};

struct nusad;

/* What a session's peer said of our own feed (docs/CLONES.md): checked
 * once it is established; seq > 0 while its claim to hold seq, past our
 * head mine, waits for evidence (the entries themselves). */
struct own_claim {
	int checked;
	uint64_t seq, mine;
	int64_t since;		/* unix time of the claim */
};

static void own_feed_check(struct nusad *d, size_t net, struct session *s,
    struct own_claim *o);
static void own_feed_end(struct nusad *d, struct session *s,
    struct own_claim *o);
static void own_feed_expire(struct nusad *d, struct session *s,
    struct own_claim *o);

/* A peer we dial: one DEALER socket, one session while connected. */
struct link {
	struct nusad *d;
	struct config_peer cp;
	int source;
	void *sock, *mon;
	int up;			/* security handshake done */
	int64_t reopen_at;	/* closed after a fault: reopen then */
	int denied;		/* revoked or not enrolled: until it is */
	int64_t backoff;	/* ms before dialing again after a failure */
	int64_t hello_at;	/* when our HELLO went, for a timeout */
	struct session *s;
	unsigned serial;
	struct own_claim own;	/* own_feed_check() of s */
};

/* A peer that dialed us, on the ROUTER socket. */
struct inbound {
	struct nusad *d;
	uint8_t rid[256];
	size_t rid_len;
	uint8_t id[NUSA_KEY_LEN];
	size_t net;
	struct session *s;
	struct own_claim own;	/* own_feed_check() of s */
};

struct ban {
	uint8_t id[NUSA_KEY_LEN];
	int64_t until;
};

/* Why nusad turned a peer or its data away: the reason label of
 * nusa_rejects_total. */
enum reject {
	REJ_UNENROLLED,		/* key not enrolled here (ZAP, HELLO) */
	REJ_REVOKED,
	REJ_BANNED,		/* still banned after an earlier fault */
	REJ_NETWORK,		/* a network not served here */
	REJ_BUSY,		/* max_sessions reached */
	REJ_DUPLICATE,		/* connected the other way already */
	REJ_VERSION,
	REJ_PROTOCOL,		/* a message out of place */
	REJ_MALFORMED,		/* bytes that do not decode */
	REJ_BAD_SIGNATURE,
	REJ_BAD_CHAIN,
	REJ_GAP,
	REJ_FORBIDDEN,		/* a role that may not write that */
	REJ_COUNT
};

static const char *const reject_names[REJ_COUNT] = {
	[REJ_UNENROLLED] = "unenrolled",
	[REJ_REVOKED] = "revoked",
	[REJ_BANNED] = "banned",
	[REJ_NETWORK] = "network",
	[REJ_BUSY] = "busy",
	[REJ_DUPLICATE] = "duplicate",
	[REJ_VERSION] = "version",
	[REJ_PROTOCOL] = "protocol",
	[REJ_MALFORMED] = "malformed",
	[REJ_BAD_SIGNATURE] = "bad_signature",
	[REJ_BAD_CHAIN] = "bad_chain",
	[REJ_GAP] = "gap",
	[REJ_FORBIDDEN] = "forbidden",
};

/* Counts since nusad started, of sessions that ended: live sessions'
 * own stats are added when the metrics page is built. */
struct counts {
	uint64_t sessions_started, sessions_ended;
	uint64_t entries_in, entries_out, added;
	uint64_t bytes_in, bytes_out;
	uint64_t rejects[REJ_COUNT];
};

struct nusad {
	struct config cfg;
	struct nusad_opts o;
	struct log log;
	struct key *key;
	uint8_t curve_pk[crypto_box_PUBLICKEYBYTES];
	uint8_t *curve_sk;	/* sodium_malloc */
	void *zctx, *zap, *router, *control;
	struct net *nets;
	size_t nnets;
	struct allowed *allowed;
	size_t nallowed;
	int allowed_stale;	/* the stores changed since it was built */
	struct link *links[LINKS_MAX];
	size_t nlinks;
	struct inbound **in;
	size_t nin;
	struct peer *peers;
	size_t npeers, cappeers;
	struct ban bans[BANS_MAX];
	struct discover *disc;
	int disc_logged;
	unsigned serial;
	int64_t next_tick;
	int64_t next_keepalive;
	struct notify *nt;	/* systemd, if it started us */
	char peers_path[PATH_MAX];	/* DATA_DIR/peers.json */
	int peers_dirty;		/* a sync ended or moved since */
	int64_t peers_saved;		/* unix time of the last save */
	int64_t next_watchdog, next_status;
	int rekeyed;		/* own_feed_check() retired our key */
	int claims;		/* sessions whose claim waits: DIR/claim */
	struct metrics *metrics;	/* NULL unless configured */
	struct counts cnt;
	int64_t next_metrics;
	int disk_low;			/* past disk_warn */
	uint64_t disk_free, disk_size;	/* at the last check */
	struct web *web;		/* the web app, if http is set */
};

static void disk_check(struct nusad *d);
static json_t *disk_json(struct nusad *d);
static void metrics_render(struct nusad *d);

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
hex8(char out[17], const uint8_t *id)
{
	return nusa_hex(out, id, 8);
}

static const char *
source_name(int src)
{
	if (src & SRC_HUB)
		return "hub";
	if (src & SRC_STATIC)
		return "static";
	if (src & SRC_FOUND)
		return "discovered";
	if (src & SRC_MANUAL)
		return "manual";
	return "inbound";
}

/* ---- peers: what status reports ---- */

static struct peer *
peer_get(struct nusad *d, const uint8_t id[NUSA_KEY_LEN], size_t net)
{
	struct peer *p;
	size_t i;

	for (i = 0; i < d->npeers; i++)
		if (d->peers[i].net == net &&
		    memcmp(d->peers[i].id, id, NUSA_KEY_LEN) == 0)
			return &d->peers[i];
	if (d->npeers == d->cappeers) {
		size_t cap = d->cappeers ? d->cappeers * 2 : 16;

		/* A hub meets many boxes, but never more than the devices
		 * enrolled in its networks (ZAP admits no other). */
		if ((p = realloc(d->peers, cap * sizeof(*p))) == NULL)
			return NULL;
		d->peers = p;
		d->cappeers = cap;
	}
	p = &d->peers[d->npeers++];
	memset(p, 0, sizeof(*p));
	memcpy(p->id, id, NUSA_KEY_LEN);
	p->net = net;
	return p;
}

/* Notes that a peer was heard from (and how we know it, if sources). */
static void
peer_seen(struct nusad *d, const uint8_t id[NUSA_KEY_LEN], size_t net,
    int sources, const char *addr)
{
	struct peer *p = peer_get(d, id, net);

	if (p == NULL)
		return;		/* out of memory: status misses a line */
	p->last_seen = time(NULL);
	p->sources |= sources;
	if (addr)
		snprintf(p->addr, sizeof(p->addr), "%s", addr);
}

/* One receipt to record, for store_write(). */
struct receipt_job {
	const uint8_t *id;
	const struct vector *have;
	uint64_t at;
};

static int
receipt_job_run(struct store_txn *t, void *ctx)
{
	const struct receipt_job *j = ctx;

	return receipt_put_sync(t, j->id, j->have, j->at);
}

/* A synced peer's vector is its receipt (receipt.h): what it has, as
 * CURVE authenticated it. Kept in the store, so that nusactl status and
 * bundle export --for-peer know it without nusad. */
static void
peer_receipt(struct nusad *d, const uint8_t *id, size_t net,
    struct session *s)
{
	char hex[2 * NUSA_KEY_LEN + 1];
	struct receipt_job j = { id, session_have(s), (uint64_t)time(NULL) };
	int rc = -ENOMEM;

	/* store_write(): a full map grows rather than losing the receipt. */
	if (j.have == NULL ||
	    (rc = store_write(d->nets[net].store, receipt_job_run, &j)) != 0)
		log_warn(&d->log, "receipt of %.16s: %s",
		    nusa_hex(hex, id, NUSA_KEY_LEN), nusa_strerror(rc));
}

/* Folds a finished session's counts into its peer's record. */
static void
peer_fold(struct nusad *d, const uint8_t *id, size_t net,
    struct session *s)
{
	struct peer *p = peer_get(d, id, net);
	const struct session_stats *st = session_stats(s);

	d->cnt.sessions_ended++;
	d->cnt.entries_in += st->recv_entries;
	d->cnt.entries_out += st->sent_entries;
	d->cnt.added += st->added;
	d->cnt.bytes_in += st->bytes_in;
	d->cnt.bytes_out += st->bytes_out;
	if (p == NULL)
		return;
	d->peers_dirty = 1;
	p->sent += st->sent_entries;
	p->received += st->recv_entries;
	p->added += st->added;
	p->bytes_in += st->bytes_in;
	p->bytes_out += st->bytes_out;
	p->msgs_in += st->msgs_in;
	p->msgs_out += st->msgs_out;
	if (st->synced > p->last_synced) {
		p->last_synced = st->synced;
		peer_receipt(d, id, net, s);
	}
	/* The other way round is the normal end of a second session. */
	if (session_error(s)[0] &&
	    session_peer_error(s) != PROTO_ERR_DUPLICATE)
		snprintf(p->last_error, sizeof(p->last_error), "%s",
		    session_error(s));
}

static int
banned(struct nusad *d, const uint8_t id[NUSA_KEY_LEN])
{
	int64_t now = now_ms();
	size_t i;

	for (i = 0; i < BANS_MAX; i++)
		if (d->bans[i].until > now &&
		    memcmp(d->bans[i].id, id, NUSA_KEY_LEN) == 0)
			return 1;
	return 0;
}

static void
ban(struct nusad *d, const uint8_t id[NUSA_KEY_LEN])
{
	size_t i, oldest = 0;

	for (i = 0; i < BANS_MAX; i++)
		if (d->bans[i].until < d->bans[oldest].until)
			oldest = i;
	memcpy(d->bans[oldest].id, id, NUSA_KEY_LEN);
	d->bans[oldest].until = now_ms() + BAN_SECONDS * 1000;
}

static void
reject(struct nusad *d, enum reject why)
{
	d->cnt.rejects[why]++;
}

/* The reason a session that ended through the peer's fault with rc
 * counts under. */
static enum reject
reject_of(int rc)
{
	switch (rc) {
	case -NUSA_EBADSIG:
		return REJ_BAD_SIGNATURE;
	case -NUSA_EBADCHAIN:
		return REJ_BAD_CHAIN;
	case -NUSA_EGAP:
		return REJ_GAP;
	case -NUSA_EFORBIDDEN:
		return REJ_FORBIDDEN;
	case -NUSA_EUNENROLLED:
		return REJ_UNENROLLED;
	case -NUSA_EREVOKED:
		return REJ_REVOKED;
	case -NUSA_ENETWORK:
		return REJ_NETWORK;
	case -NUSA_EVERSION:
		return REJ_VERSION;
	case -NUSA_EMALFORMED:
	case -NUSA_ETRUNCATED:
		return REJ_MALFORMED;
	default:
		return REJ_PROTOCOL;
	}
}

/* Revoked or never enrolled: which, for the count. */
static enum reject
reject_unadmitted(struct nusad *d, size_t net, const uint8_t *id)
{
	struct store_device dev;
	struct store_txn *t;
	enum reject why = REJ_UNENROLLED;

	if (store_begin(d->nets[net].store, &t, STORE_READ) != 0)
		return why;
	if (store_device(t, id, &dev) == 0 && dev.role != ROLE_NONE &&
	    dev.cut != UINT64_MAX)
		why = REJ_REVOKED;
	store_abort(t);
	return why;
}

/* 1 if id is enrolled in network net and not revoked. */
static int
admitted(struct nusad *d, size_t net, const uint8_t id[NUSA_KEY_LEN])
{
	struct store_txn *t;
	struct store_device dev;
	int ok = 0;

	if (store_begin(d->nets[net].store, &t, STORE_READ) != 0)
		return 0;
	if (store_device(t, id, &dev) == 0 && dev.role != ROLE_NONE &&
	    dev.cut == UINT64_MAX)
		ok = 1;
	store_abort(t);
	return ok;
}

/* ---- the ZAP handler's table ---- */

struct collect {
	struct nusad *d;
	struct allowed *v;
	size_t n, cap;
};

static int
collect_device(const struct store_device *dev, void *ctx)
{
	struct collect *c = ctx;
	struct allowed *v;

	if (dev->role == ROLE_NONE || dev->cut != UINT64_MAX)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;

		if ((v = realloc(c->v, cap * sizeof(*v))) == NULL)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	if (crypto_sign_ed25519_pk_to_curve25519(c->v[c->n].curve,
	    dev->pk) != 0)
		return 0;	/* not a point: cannot be a CURVE peer */
	memcpy(c->v[c->n].id, dev->pk, NUSA_KEY_LEN);
	c->n++;
	return 0;
}

/* Rebuilds the table of devices allowed to connect from the stores. */
static int
allowed_refresh(struct nusad *d)
{
	struct collect c = { .d = d };
	struct store_txn *t;
	size_t i;
	int rc = 0;

	for (i = 0; i < d->nnets && rc == 0; i++) {
		if ((rc = store_begin(d->nets[i].store, &t, STORE_READ)) != 0)
			break;
		rc = store_devices_each(t, collect_device, &c);
		store_abort(t);
	}
	if (rc) {
		free(c.v);
		log_error(&d->log, "reading enrolled devices: %s",
		    nusa_strerror(rc));
		return rc;
	}
	free(d->allowed);
	d->allowed = c.v;
	d->nallowed = c.n;
	return 0;
}

static int
recv_frame(void *sock, uint8_t *buf, size_t cap, size_t *len, int *more)
{
	int n = zmq_recv(sock, buf, cap, ZMQ_DONTWAIT);
	size_t sz = sizeof(*more);

	if (n < 0)
		return -errno;
	*len = (size_t)n > cap ? cap + 1 : (size_t)n;
	*more = 0;
	zmq_getsockopt(sock, ZMQ_RCVMORE, more, &sz);
	return 0;
}

/* Answers one ZAP request (RFC 27): admits a CURVE client whose key is
 * that of an enrolled, unrevoked device that is not banned. */
static void
zap_handle(struct nusad *d)
{
	uint8_t f[7][256];
	size_t len[7], n = 0, i = 0;
	int more = 1, ok = 0;
	char user[2 * NUSA_KEY_LEN + 1] = "", who[17], addr[64];
	const char *why = "unknown key";

	while (more) {
		if (n < 7) {
			if (recv_frame(d->zap, f[n], sizeof(f[n]) - 1, &len[n],
			    &more) != 0)
				return;
			n++;
		} else if (recv_frame(d->zap, f[6], sizeof(f[6]) - 1,
		    &len[6], &more) != 0)
			return;
	}
	if (n < 6)
		return;
	/* Rebuilt when the stores changed; if that fails, nobody gets in:
	 * the old table might still hold a device revoked since. */
	if (d->allowed_stale && allowed_refresh(d) == 0)
		d->allowed_stale = 0;
	if (d->allowed_stale)
		why = "enrolled devices unreadable here";
	else if (n == 7 && len[0] == 3 && memcmp(f[0], "1.0", 3) == 0 &&
	    len[5] == 5 && memcmp(f[5], "CURVE", 5) == 0 &&
	    len[6] == crypto_box_PUBLICKEYBYTES) {
		for (i = 0; i < d->nallowed; i++)
			if (memcmp(d->allowed[i].curve, f[6], len[6]) == 0)
				break;
		if (i < d->nallowed && banned(d, d->allowed[i].id))
			why = "banned for a while";
		else if (i < d->nallowed) {
			ok = 1;
			nusa_hex(user, d->allowed[i].id, NUSA_KEY_LEN);
		}
	} else
		why = "not CURVE";
	snprintf(addr, sizeof(addr), "%.*s", (int)(len[3] < 63 ? len[3] : 63),
	    (const char *)f[3]);
	if (!ok) {
		reject(d, strcmp(why, "banned for a while") == 0 ? REJ_BANNED :
		    strcmp(why, "not CURVE") == 0 ? REJ_PROTOCOL :
		    REJ_UNENROLLED);
		if (n == 7 && len[6] == crypto_box_PUBLICKEYBYTES)
			log_warn(&d->log, "refused CURVE key %s from %s: %s",
			    hex8(who, f[6]), addr, d->allowed_stale ||
			    i < d->nallowed ? why :
			    "not an enrolled device here");
		else
			log_warn(&d->log, "refused a connection from %s: %s",
			    addr, why);
	} else
		log_debug(&d->log, "admitted %.16s from %s", user, addr);
	zmq_send(d->zap, "1.0", 3, ZMQ_SNDMORE);
	zmq_send(d->zap, f[1], len[1] > 255 ? 255 : len[1], ZMQ_SNDMORE);
	zmq_send(d->zap, ok ? "200" : "400", 3, ZMQ_SNDMORE);
	zmq_send(d->zap, ok ? "OK" : why, ok ? 2 : strlen(why), ZMQ_SNDMORE);
	zmq_send(d->zap, user, ok ? strlen(user) : 0, ZMQ_SNDMORE);
	zmq_send(d->zap, "", 0, 0);
}

/* ---- sockets ---- */

static int
common_opts(struct nusad *d, void *sock)
{
	int zero = 0, hb = (int)d->cfg.heartbeat * 1000, hbt = hb * 3;
	int64_t max = (int64_t)PROTO_MSG_MAX;
	/* Per peer: what the protocol lets be in flight (credit), with room
	 * for acks and DONEs; so a peer that floods us while not reading
	 * holds at most HWM frames of PROTO_MSG_MAX here. */
	int hwm = PROTO_CREDIT_MAX / 4 + 8;

	if (zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) ||
	    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof(max)) ||
	    zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof(hb)) ||
	    zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof(hbt)) ||
	    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm)) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, d->curve_pk,
	    sizeof(d->curve_pk)) ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, d->curve_sk,
	    crypto_box_SECRETKEYBYTES))
		return -errno;
	return 0;
}

static int
link_send(void *ctx, const uint8_t *msg, size_t len)
{
	struct link *k = ctx;

	if (zmq_send(k->sock, msg, len, ZMQ_DONTWAIT) < 0)
		return -errno;
	return 0;
}

static int
inbound_send(void *ctx, const uint8_t *msg, size_t len)
{
	struct inbound *in = ctx;

	if (zmq_send(in->d->router, in->rid, in->rid_len,
	    ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	    zmq_send(in->d->router, msg, len, ZMQ_DONTWAIT) < 0)
		return -errno;
	return 0;
}

static void
session_conf_for(struct nusad *d, struct session_conf *c, size_t net)
{
	memset(c, 0, sizeof(*c));
	c->store = d->nets[net].store;
	c->batch_max = d->o.batch_max;
	c->byte_min = d->o.byte_min;
	c->byte_max = d->o.byte_max;
	c->credit = (uint16_t)d->o.credit;
}

static void
link_close_socket(struct link *k)
{
	struct nusad *d = k->d;

	if (k->s) {
		peer_fold(d, k->cp.id, 0, k->s);
		own_feed_end(d, k->s, &k->own);
		session_free(&k->s);
	}
	/* Monitoring stops before its reading end goes: libzmq's I/O thread
	 * sends events with a blocking send, under the lock that stopping
	 * takes, so an event sent to a closed reader deadlocked nusad. */
	if (k->sock) {
		zmq_socket_monitor(k->sock, NULL, 0);
		zmq_close(k->sock);
		k->sock = NULL;
	}
	if (k->mon) {
		zmq_close(k->mon);
		k->mon = NULL;
	}
	k->up = 0;
}

static int
link_open_socket(struct link *k)
{
	struct nusad *d = k->d;
	uint8_t server[crypto_box_PUBLICKEYBYTES];
	char ep[64];
	int one = 1, ivl = RECONNECT_MS, ivlmax = RECONNECT_MAX_MS, rc;

	if (crypto_sign_ed25519_pk_to_curve25519(server, k->cp.id) != 0)
		return -NUSA_EMALFORMED;
	if ((k->sock = zmq_socket(d->zctx, ZMQ_DEALER)) == NULL)
		return -errno;
	/* libzmq retries a lost connection by itself: after RECONNECT_MS,
	 * doubling up to RECONNECT_MAX_MS, each wait plus a random jitter
	 * of up to the base interval. */
	if ((rc = common_opts(d, k->sock)) != 0 ||
	    zmq_setsockopt(k->sock, ZMQ_CURVE_SERVERKEY, server,
	    sizeof(server)) || zmq_setsockopt(k->sock, ZMQ_IMMEDIATE, &one,
	    sizeof(one)) || zmq_setsockopt(k->sock, ZMQ_RECONNECT_IVL, &ivl,
	    sizeof(ivl)) || zmq_setsockopt(k->sock, ZMQ_RECONNECT_IVL_MAX,
	    &ivlmax, sizeof(ivlmax))) {
		rc = rc ? rc : -errno;
		goto fail;
	}
	k->serial = ++d->serial;
	snprintf(ep, sizeof(ep), "inproc://nusad-mon-%u", k->serial);
	if (zmq_socket_monitor(k->sock, ep, ZMQ_EVENT_CONNECTED |
	    ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
	    ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
	    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
	    ZMQ_EVENT_CONNECT_RETRIED) != 0 ||
	    (k->mon = zmq_socket(d->zctx, ZMQ_PAIR)) == NULL ||
	    zmq_connect(k->mon, ep) != 0 ||
	    zmq_connect(k->sock, k->cp.addr) != 0) {
		rc = -errno;
		goto fail;
	}
	return 0;
fail:
	link_close_socket(k);
	return rc;
}

static struct link *
link_find(struct nusad *d, const uint8_t id[NUSA_KEY_LEN])
{
	size_t i;

	for (i = 0; i < d->nlinks; i++)
		if (memcmp(d->links[i]->cp.id, id, NUSA_KEY_LEN) == 0)
			return d->links[i];
	return NULL;
}

/* Whether a well-formed message from device id without a session of its
 * own is the tail of a duplicate connection: we hold an established
 * session on our dial to that device (one session per pair). */
static int
dup_tail(struct nusad *d, const uint8_t id[NUSA_KEY_LEN])
{
	struct link *k = link_find(d, id);

	return k != NULL && k->s != NULL && session_established(k->s);
}

static int
link_add(struct nusad *d, const struct config_peer *cp, int source)
{
	struct link *k;
	struct peer *p;
	char who[17];
	int rc;

	if ((k = link_find(d, cp->id)) != NULL) {
		k->source |= source;
		return 0;
	}
	if (memcmp(cp->id, d->key->pk, NUSA_KEY_LEN) == 0)
		return 0;	/* ourselves, say found by Avahi */
	if (d->nlinks == LINKS_MAX)
		return -ENOSPC;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -ENOMEM;
	k->d = d;
	k->cp = *cp;
	k->source = source;
	if ((rc = link_open_socket(k)) != 0) {
		log_error(&d->log, "peer %s at %s: %s", hex8(who, cp->id),
		    cp->addr, nusa_strerror(rc));
		free(k);
		return rc;
	}
	d->links[d->nlinks++] = k;
	if ((p = peer_get(d, cp->id, 0)) != NULL) {
		snprintf(p->addr, sizeof(p->addr), "%s", cp->addr);
		p->sources |= source;
	}
	log_info(&d->log, "%s peer %s at %s", source_name(source),
	    hex8(who, cp->id), cp->addr);
	return 0;
}

static void
link_remove(struct nusad *d, size_t i)
{
	link_close_socket(d->links[i]);
	free(d->links[i]);
	d->links[i] = d->links[--d->nlinks];
}

/* When to dial a link again after its session failed: a wait that
 * doubles (with jitter) up to RECONNECT_MAX_MS, reset once a session got
 * in sync; at once the maximum if the peer refused us for good reasons
 * (version, network, enrolment), or we it (a fault). */
static void
link_backoff(struct link *k, int longest)
{
	int64_t base;

	if (k->backoff < RECONNECT_MS)
		k->backoff = RECONNECT_MS;
	if (longest)
		k->backoff = RECONNECT_MAX_MS;
	base = k->backoff;
	k->reopen_at = now_ms() + base + (int64_t)randombytes_uniform(
	    (uint32_t)(base / 2 + 1));
	if (k->backoff < RECONNECT_MAX_MS)
		k->backoff = k->backoff * 2 > RECONNECT_MAX_MS ?
		    RECONNECT_MAX_MS : k->backoff * 2;
}

/* Ends a link's session and closes its connection, so that the next one
 * starts afresh, after a wait (link_backoff()). */
static void
link_end(struct link *k, int rc)
{
	struct nusad *d = k->d;
	char who[17];
	int code, longest;

	if (k->s == NULL)
		return;
	code = session_peer_error(k->s);
	if (code == PROTO_ERR_DUPLICATE)
		log_info(&d->log, "%s dialed us already: using that session",
		    hex8(who, k->cp.id));
	else if (session_error(k->s)[0] || rc)
		log_warn(&d->log, "session with %s ended: %s",
		    hex8(who, k->cp.id), session_error(k->s)[0] ?
		    session_error(k->s) : nusa_strerror(rc));
	longest = session_peer_fault(k->s) || banned(d, k->cp.id) ||
	    code == PROTO_ERR_VERSION || code == PROTO_ERR_NETWORK ||
	    code == PROTO_ERR_DENIED || code == PROTO_ERR_DUPLICATE;
	if (session_peer_fault(k->s)) {
		ban(d, k->cp.id);
		reject(d, reject_of(rc));
	}
	link_close_socket(k);
	link_backoff(k, longest);
}

static void
link_monitor(struct nusad *d, struct link *k)
{
	uint8_t ev[6], addr[256];
	uint16_t event;
	uint32_t value;
	struct session_conf c;
	char who[17];
	int n, rc;

	while ((n = zmq_recv(k->mon, ev, sizeof(ev), ZMQ_DONTWAIT)) >= 0) {
		if (zmq_recv(k->mon, addr, sizeof(addr), 0) < 0 || n != 6)
			continue;
		memcpy(&event, ev, 2);
		memcpy(&value, ev + 2, 4);
		hex8(who, k->cp.id);
		switch (event) {
		case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
			/* CURVE proved it holds the key; whether that device
			 * may have our data is for our store to say. */
			if (!admitted(d, 0, k->cp.id)) {
				log_warn(&d->log, "%s at %s is not enrolled here "
				    "(or revoked): not syncing with it", who,
				    k->cp.addr);
				reject(d, reject_unadmitted(d, 0, k->cp.id));
				link_close_socket(k);
				k->denied = 1;
				return;
			}
			k->up = 1;
			k->hello_at = now_ms();
			if (k->s) {
				peer_fold(d, k->cp.id, 0, k->s);
				own_feed_end(d, k->s, &k->own);
			}
			session_free(&k->s);
			session_conf_for(d, &c, 0);
			c.send = link_send;
			c.ctx = k;
			if ((rc = session_new(&k->s, &c, 1, k->cp.id)) == 0)
				rc = session_start(k->s);
			if (rc) {
				log_error(&d->log, "session with %s: %s", who,
				    nusa_strerror(rc));
				session_free(&k->s);
			} else {
				d->cnt.sessions_started++;
				log_info(&d->log, "connected to %s at %s", who,
				    k->cp.addr);
			}
			peer_seen(d, k->cp.id, 0, 0, NULL);
			break;
		case ZMQ_EVENT_DISCONNECTED:
			if (k->up)
				log_info(&d->log, "lost %s at %s", who,
				    k->cp.addr);
			k->up = 0;
			if (k->s) {
				peer_fold(d, k->cp.id, 0, k->s);
				own_feed_end(d, k->s, &k->own);
				session_free(&k->s);
			}
			break;
		case ZMQ_EVENT_CONNECT_RETRIED:
			log_debug(&d->log, "%s at %s unreachable, retry in %"
			    PRIu32 " ms", who, k->cp.addr, value);
			break;
		case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
		case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
		case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
			log_warn(&d->log, "%s at %s refused us (not enrolled "
			    "there, or another key answers)", who, k->cp.addr);
			/* libzmq does not dial again after a refusal: we do,
			 * later, so that a box waiting for its enrolment
			 * (docs/CLONES.md) gets in once it has reached the
			 * peer. */
			link_close_socket(k);
			link_backoff(k, 0);
			return;
		}
		if (k->sock == NULL)
			return;
	}
}

static void inbound_remove(struct nusad *d, size_t i);

/* Two boxes that each dial the other would hold two sessions and push
 * every entry twice. The one with the lower device id keeps the session
 * it dialed and ends the other (ERROR 7); the higher one then waits the
 * longest backoff before it dials again. */
static void
one_way(struct nusad *d, struct link *k)
{
	size_t i;

	if (memcmp(d->key->pk, k->cp.id, NUSA_KEY_LEN) > 0)
		return;
	for (i = 0; i < d->nin; i++)
		if (d->in[i]->net == 0 &&
		    memcmp(d->in[i]->id, k->cp.id, NUSA_KEY_LEN) == 0) {
			session_fail(d->in[i]->s, PROTO_ERR_DUPLICATE,
			    "connected the other way already");
			inbound_remove(d, i);
			return;
		}
}

static void
link_input(struct nusad *d, struct link *k)
{
	zmq_msg_t msg;
	int more, i, rc;
	size_t sz = sizeof(more);

	for (i = 0; i < BURST && k->sock; i++) {
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, k->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			return;
		}
		more = 0;
		zmq_getsockopt(k->sock, ZMQ_RCVMORE, &more, &sz);
		if (k->s == NULL || more) {
			/* No session, or a multi-frame message: not ours. */
			zmq_msg_close(&msg);
			while (more && zmq_msg_init(&msg) == 0 &&
			    zmq_msg_recv(&msg, k->sock, 0) >= 0) {
				zmq_getsockopt(k->sock, ZMQ_RCVMORE, &more,
				    &sz);
				zmq_msg_close(&msg);
			}
			continue;
		}
		rc = session_receive(k->s, zmq_msg_data(&msg),
		    zmq_msg_size(&msg));
		zmq_msg_close(&msg);
		if (rc) {
			link_end(k, rc);
			return;
		}
		peer_seen(d, k->cp.id, 0, 0, NULL);
		own_feed_check(d, 0, k->s, &k->own);
		if (session_established(k->s))
			one_way(d, k);
	}
}

/* ---- inbound sessions ---- */

static void
inbound_remove(struct nusad *d, size_t i)
{
	struct inbound *in = d->in[i];

	if (in->s) {
		peer_fold(d, in->id, in->net, in->s);
		own_feed_end(d, in->s, &in->own);
		session_free(&in->s);
	}
	free(in);
	d->in[i] = d->in[--d->nin];
}

static void
inbound_end(struct nusad *d, size_t i, int rc)
{
	struct inbound *in = d->in[i];
	char who[17];

	if (rc == -EHOSTUNREACH)
		log_info(&d->log, "%s went away", hex8(who, in->id));
	else
		log_warn(&d->log, "session with %s ended: %s",
		    hex8(who, in->id), session_error(in->s)[0] ?
		    session_error(in->s) : nusa_strerror(rc));
	if (session_peer_fault(in->s)) {
		ban(d, in->id);
		reject(d, reject_of(rc));
	} else if (rc != -ECONNRESET && rc != -EHOSTUNREACH &&
	    rc != -EAGAIN && !session_error(in->s)[0])
		/* Our own trouble (the store, memory): tell the peer, so
		 * that it tries again later instead of waiting. */
		session_fail(in->s, PROTO_ERR_BUSY, "try again later");
	inbound_remove(d, i);
}

static void
reply_error(struct nusad *d, const uint8_t *rid, size_t rid_len,
    uint8_t code, const char *text)
{
	struct proto_buf b = { 0 };

	if (proto_error(&b, code, text) == 0 &&
	    zmq_send(d->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >=
	    0)
		zmq_send(d->router, b.buf, b.len, ZMQ_DONTWAIT);
	free(b.buf);
}

/* A HELLO from a peer without a session: open one if it may have it. */
static void
inbound_hello(struct nusad *d, const uint8_t *rid, size_t rid_len,
    const uint8_t id[NUSA_KEY_LEN], const struct proto_msg *m)
{
	struct inbound *in, **v;
	struct session_conf c;
	struct link *k;
	size_t net, i;
	char who[17];
	int rc;

	hex8(who, id);
	/* ZAP runs once per connection: a peer banned since then is still
	 * connected, and must not open a new session on it. */
	if (banned(d, id)) {
		reject(d, REJ_BANNED);
		reply_error(d, rid, rid_len, PROTO_ERR_DENIED,
		    "banned for a while after a fault");
		return;
	}
	for (net = 0; net < d->nnets; net++)
		if (memcmp(d->nets[net].id, m->network, NUSA_KEY_LEN) == 0)
			break;
	if (net == d->nnets) {
		log_warn(&d->log, "%s asked for a network not served here",
		    who);
		reject(d, REJ_NETWORK);
		reply_error(d, rid, rid_len, PROTO_ERR_NETWORK,
		    "network not served here");
		return;
	}
	if (!admitted(d, net, id)) {
		log_warn(&d->log, "%s is not enrolled in %s, or revoked", who,
		    d->nets[net].name);
		reject(d, reject_unadmitted(d, net, id));
		reply_error(d, rid, rid_len, PROTO_ERR_DENIED,
		    "not enrolled in this network, or revoked");
		return;
	}
	if (net == 0 && memcmp(d->key->pk, id, NUSA_KEY_LEN) < 0 &&
	    (k = link_find(d, id)) != NULL && k->s &&
	    session_established(k->s)) {
		reject(d, REJ_DUPLICATE);
		reply_error(d, rid, rid_len, PROTO_ERR_DUPLICATE,
		    "connected the other way already");
		return;
	}
	/* A peer that reconnects replaces its old session. */
	for (i = 0; i < d->nin; i++)
		if (d->in[i]->net == net &&
		    memcmp(d->in[i]->id, id, NUSA_KEY_LEN) == 0) {
			inbound_remove(d, i);
			break;
		}
	if (d->nin >= d->cfg.max_sessions) {
		log_warn(&d->log, "%s refused: %zu sessions already", who,
		    d->nin);
		reject(d, REJ_BUSY);
		reply_error(d, rid, rid_len, PROTO_ERR_BUSY,
		    "too many sessions, try later");
		return;
	}
	if ((in = calloc(1, sizeof(*in))) == NULL ||
	    (v = realloc(d->in, (d->nin + 1) * sizeof(*v))) == NULL) {
		free(in);
		return;
	}
	d->in = v;
	in->d = d;
	memcpy(in->rid, rid, rid_len);
	in->rid_len = rid_len;
	memcpy(in->id, id, NUSA_KEY_LEN);
	in->net = net;
	session_conf_for(d, &c, net);
	c.send = inbound_send;
	c.ctx = in;
	if ((rc = session_new(&in->s, &c, 0, id)) != 0) {
		free(in);
		return;
	}
	d->in[d->nin++] = in;
	d->cnt.sessions_started++;
	peer_seen(d, id, net, SRC_INBOUND, NULL);
	log_info(&d->log, "%s connected for %s", who, d->nets[net].name);
	if ((rc = session_input(in->s, m)) != 0)
		inbound_end(d, d->nin - 1, rc);
	else
		own_feed_check(d, net, in->s, &in->own);
}

static void
router_input(struct nusad *d)
{
	zmq_msg_t rid, msg;
	struct proto_msg m;
	uint8_t id[NUSA_KEY_LEN];
	const char *user;
	size_t i, sz;
	int n, more, rc, extra;

	for (n = 0; n < BURST; n++) {
		zmq_msg_init(&rid);
		if (zmq_msg_recv(&rid, d->router, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&rid);
			return;
		}
		zmq_msg_init(&msg);
		if (!zmq_msg_more(&rid) ||
		    zmq_msg_recv(&msg, d->router, 0) < 0 ||
		    zmq_msg_size(&rid) > 255) {
			zmq_msg_close(&rid);
			zmq_msg_close(&msg);
			continue;
		}
		extra = 0;
		for (more = zmq_msg_more(&msg); more;) {
			/* Our messages are one frame: drop the rest. */
			zmq_msg_t x;

			zmq_msg_init(&x);
			more = zmq_msg_recv(&x, d->router, 0) >= 0 &&
			    zmq_msg_more(&x);
			zmq_msg_close(&x);
			extra = 1;
		}
		user = zmq_msg_gets(&msg, "User-Id");
		if (user == NULL || nusa_unhex(id, NUSA_KEY_LEN, user) != 0)
			goto next;
		sz = zmq_msg_size(&rid);
		for (i = 0; i < d->nin; i++)
			if (d->in[i]->rid_len == sz &&
			    memcmp(d->in[i]->rid, zmq_msg_data(&rid), sz) == 0)
				break;
		rc = extra ? -NUSA_EMALFORMED : proto_decode(&m,
		    zmq_msg_data(&msg), zmq_msg_size(&msg));
		if (i == d->nin) {
			if (rc == 0 && m.type == PROTO_HELLO)
				inbound_hello(d, zmq_msg_data(&rid), sz, id,
				    &m);
			else if (rc == -NUSA_EVERSION) {
				reject(d, REJ_VERSION);
				reply_error(d, zmq_msg_data(&rid), sz,
				    PROTO_ERR_VERSION,
				    "protocol version not supported");
			}
			else if (rc == 0 && dup_tail(d, id)) {
				char who[17];

				/* Both dialed at once and we kept our own dial:
				 * what the peer sent on its own (dropped as a
				 * duplicate) is still arriving. */
				log_debug(&d->log, "%s: a message of a dropped "
				    "duplicate connection ignored",
				    hex8(who, id));
			} else if (!(rc == 0 && m.type == PROTO_ERROR)) {
				char who[17];

				log_warn(&d->log, "%s sent %s without HELLO",
				    hex8(who, id), rc ? "garbage" :
				    "a message");
				reject(d, rc ? REJ_MALFORMED : REJ_PROTOCOL);
				reply_error(d, zmq_msg_data(&rid), sz,
				    PROTO_ERR_PROTOCOL, "HELLO first");
			}
			goto next;
		}
		/* A routing id is the peer's to choose: the session is the
		 * device's that opened it, and no other's. */
		if (memcmp(d->in[i]->id, id, NUSA_KEY_LEN) != 0) {
			ban(d, id);
			reject(d, REJ_PROTOCOL);
			goto next;
		}
		rc = extra ? session_fail(d->in[i]->s, PROTO_ERR_PROTOCOL,
		    "multi-frame message") : session_receive(d->in[i]->s,
		    zmq_msg_data(&msg), zmq_msg_size(&msg));
		if (rc || extra) {
			if (extra) {
				ban(d, id);
				reject(d, REJ_MALFORMED);
			}
			inbound_end(d, i, rc ? rc : -NUSA_EMALFORMED);
		} else {
			peer_seen(d, id, d->in[i]->net, 0, NULL);
			own_feed_check(d, d->in[i]->net, d->in[i]->s,
			    &d->in[i]->own);
		}
next:
		zmq_msg_close(&rid);
		zmq_msg_close(&msg);
	}
}

/* ---- what we know of peers, kept across restarts ---- */

/* Writes DATA_DIR/peers.json whole or not at all (last seen, last synced
 * and the counts), so that status still says when a box last synced
 * after a power cut. Live sessions' counts are folded in at their end. */
static void
peers_save(struct nusad *d)
{
	struct outfile o;
	json_t *a = json_array(), *j;
	char id[2 * NUSA_KEY_LEN + 1], net[2 * NUSA_KEY_LEN + 1];
	size_t i;
	int rc;

	for (i = 0; a && i < d->npeers; i++) {
		const struct peer *p = &d->peers[i];

		nusa_hex(id, p->id, NUSA_KEY_LEN);
		nusa_hex(net, d->nets[p->net].id, NUSA_KEY_LEN);
		j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "id",
		    id, "network", net, "addr", p->addr, "last_seen",
		    (json_int_t)p->last_seen, "last_synced",
		    (json_int_t)p->last_synced, "sent", (json_int_t)p->sent,
		    "received", (json_int_t)p->received, "added",
		    (json_int_t)p->added);
		json_array_append_new(a, j);
	}
	if (a == NULL || (rc = outfile_open(&o, d->peers_path)) != 0) {
		json_decref(a);
		return;
	}
	rc = json_dumpf(a, o.f, JSON_COMPACT) == 0 ? 0 : -EIO;
	json_decref(a);
	if ((rc = outfile_close(&o, rc == 0)) != 0)
		log_warn(&d->log, "%s: %s", d->peers_path, nusa_strerror(rc));
	else
		d->peers_saved = (int64_t)time(NULL);
}

/* Notes the syncs of live sessions and saves the records if a sync
 * happened: a box that sits idle writes nothing to its SD card. */
static void
peers_tick(struct nusad *d)
{
	struct peer *p;
	size_t i;
	int moved = 0;

	for (i = 0; i < d->nlinks + d->nin; i++) {
		struct session *s = i < d->nlinks ? d->links[i]->s :
		    d->in[i - d->nlinks]->s;
		const uint8_t *id = i < d->nlinks ? d->links[i]->cp.id :
		    d->in[i - d->nlinks]->id;
		size_t net = i < d->nlinks ? 0 : d->in[i - d->nlinks]->net;

		if (s == NULL || (p = peer_get(d, id, net)) == NULL ||
		    session_stats(s)->synced <= p->last_synced)
			continue;
		p->last_synced = session_stats(s)->synced;
		moved = 1;
		peer_receipt(d, id, net, s);
	}
	/* An idle session in sync says so every heartbeat: status shows it
	 * from memory, and the file (an fsync on an SD card) follows it only
	 * every PEERS_SAVE_S; sessions that end save at once. */
	if (moved && time(NULL) - d->peers_saved >= PEERS_SAVE_S)
		d->peers_dirty = 1;
	if (d->peers_dirty && d->peers_path[0]) {
		peers_save(d);
		d->peers_dirty = 0;
	}
}

/* Reads what peers_save() wrote; anything that does not parse is left
 * out (it is our own file, but a disk can lie). */
static void
peers_load(struct nusad *d)
{
	json_t *a, *j;
	json_error_t err;
	struct peer *p;
	uint8_t id[NUSA_KEY_LEN], net[NUSA_KEY_LEN];
	const char *sid, *snet, *addr;
	json_int_t seen, synced, sent, recv, added;
	size_t i, n;

	if ((a = json_load_file(d->peers_path, 0, &err)) == NULL)
		return;
	json_array_foreach(a, i, j) {
		if (json_unpack(j, "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
		    "id", &sid, "network", &snet, "addr", &addr, "last_seen",
		    &seen, "last_synced", &synced, "sent", &sent, "received",
		    &recv, "added", &added) != 0 ||
		    nusa_unhex(id, NUSA_KEY_LEN, sid) != 0 ||
		    nusa_unhex(net, NUSA_KEY_LEN, snet) != 0 ||
		    strlen(addr) >= CONFIG_ADDR_MAX || seen < 0 ||
		    synced < 0 || sent < 0 || recv < 0 || added < 0)
			continue;
		for (n = 0; n < d->nnets; n++)
			if (memcmp(d->nets[n].id, net, NUSA_KEY_LEN) == 0)
				break;
		if (n == d->nnets || (p = peer_get(d, id, n)) == NULL)
			continue;
		if (p->addr[0] == '\0')
			snprintf(p->addr, sizeof(p->addr), "%s", addr);
		p->last_seen = seen;
		p->last_synced = synced;
		p->sent = (uint64_t)sent;
		p->received = (uint64_t)recv;
		p->added = (uint64_t)added;
	}
	json_decref(a);
}

/* ---- control socket ---- */

static json_t *
peer_json(struct nusad *d, const struct peer *p, struct session *s,
    int connected)
{
	const struct session_stats *st = s ? session_stats(s) : NULL;
	uint64_t ahead = 0, behind = 0;
	int64_t synced = p->last_synced;
	char id[2 * NUSA_KEY_LEN + 1];

	if (s && session_established(s))
		session_lag(s, &ahead, &behind);
	if (st && st->synced > synced)
		synced = st->synced;
	nusa_hex(id, p->id, NUSA_KEY_LEN);
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:I, s:I, s:I,"
	    " s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "id", id, "network", d->nets[p->net].name, "addr", p->addr,
	    "source", source_name(p->sources), "connected", connected,
	    "in_sync", s && session_established(s) && ahead == 0 &&
	    behind == 0,
	    "last_seen", (json_int_t)p->last_seen,
	    "last_synced", (json_int_t)synced,
	    "ahead", (json_int_t)ahead, "behind", (json_int_t)behind,
	    "sent", (json_int_t)(p->sent + (st ? st->sent_entries : 0)),
	    "received", (json_int_t)(p->received +
	    (st ? st->recv_entries : 0)),
	    "added", (json_int_t)(p->added + (st ? st->added : 0)),
	    "last_error", p->last_error,
	    "bytes_in", (json_int_t)(p->bytes_in + (st ? st->bytes_in : 0)),
	    "bytes_out", (json_int_t)(p->bytes_out +
	    (st ? st->bytes_out : 0)),
	    "msgs_in", (json_int_t)(p->msgs_in + (st ? st->msgs_in : 0)),
	    "msgs_out", (json_int_t)(p->msgs_out + (st ? st->msgs_out : 0)),
	    "rate", (json_int_t)(st ? st->rate : 0),
	    "batch_bytes", (json_int_t)(st ? st->batch_bytes : 0));
}

static json_t *
status_json(struct nusad *d)
{
	json_t *root, *nets, *peers;
	struct store_txn *t;
	struct session *s;
	size_t i, j;
	int connected;
	char id[2 * NUSA_KEY_LEN + 1];

	nusa_hex(id, d->key->pk, NUSA_KEY_LEN);
	root = json_pack("{s:s, s:s, s:s, s:b}", "device", id, "mode",
	    d->cfg.mode == CONFIG_HUB ? "hub" : "box", "listen",
	    d->cfg.listen, "discovery", d->disc != NULL &&
	    discover_running(d->disc));
	nets = json_array();
	peers = json_array();
	for (i = 0; i < d->nnets; i++) {
		size_t count = 0;

		if (store_begin(d->nets[i].store, &t, STORE_READ) == 0) {
			count = store_count(t);
			store_abort(t);
		}
		nusa_hex(id, d->nets[i].id, NUSA_KEY_LEN);
		json_array_append_new(nets, json_pack("{s:s, s:s, s:I}", "id",
		    id, "name", d->nets[i].name, "entries",
		    (json_int_t)count));
	}
	for (i = 0; i < d->npeers; i++) {
		s = NULL;
		connected = 0;
		for (j = 0; j < d->nlinks && s == NULL; j++)
			if (d->peers[i].net == 0 && memcmp(d->links[j]->cp.id,
			    d->peers[i].id, NUSA_KEY_LEN) == 0 &&
			    d->links[j]->s) {
				s = d->links[j]->s;
				connected = d->links[j]->up;
			}
		for (j = 0; j < d->nin && s == NULL; j++)
			if (d->in[j]->net == d->peers[i].net &&
			    memcmp(d->in[j]->id, d->peers[i].id,
			    NUSA_KEY_LEN) == 0) {
				s = d->in[j]->s;
				connected = 1;
			}
		json_array_append_new(peers, peer_json(d, &d->peers[i], s,
		    connected));
	}
	json_object_set_new(root, "networks", nets);
	json_object_set_new(root, "peers", peers);
	json_object_set_new(root, "disk", disk_json(d));
	return root;
}

/* "sync PEER": push now and, if the peer is not connected, dial it now
 * (a link in backoff starts afresh). */
static json_t *
control_sync(struct nusad *d, const char *arg)
{
	struct config_peer cp;
	struct link *k;
	const char *why = NULL;
	size_t i;
	int found = 0, rc;

	memset(&cp, 0, sizeof(cp));
	if (strchr(arg, '@')) {
		if (config_parse_peer(&cp, arg, &why) != 0)
			return json_pack("{s:b, s:s}", "ok", 0, "error", why);
	} else if (nusa_unhex(cp.id, NUSA_KEY_LEN, arg) != 0)
		return json_pack("{s:b, s:s}", "ok", 0, "error",
		    "not a device id (64 hex digits) or ID@tcp://HOST:PORT");
	for (i = 0; i < d->nin; i++)
		if (memcmp(d->in[i]->id, cp.id, NUSA_KEY_LEN) == 0) {
			found = 1;
			if ((rc = session_sync_now(d->in[i]->s)) != 0) {
				inbound_end(d, i, rc);
				found = 0;
			}
			break;
		}
	if ((k = link_find(d, cp.id)) != NULL) {
		if (k->denied)
			return json_pack("{s:b, s:s}", "ok", 0, "error",
			    "that device is not enrolled here, or revoked");
		if (k->s && session_established(k->s)) {
			if ((rc = session_sync_now(k->s)) != 0)
				link_end(k, rc);
		} else if (!found) {
			/* Not connected either way: dial now, whatever the
			 * backoff said. */
			if (cp.addr[0])
				k->cp = cp;
			link_close_socket(k);
			k->reopen_at = 0;
			k->backoff = 0;
			if ((rc = link_open_socket(k)) != 0)
				return json_pack("{s:b, s:s}", "ok", 0,
				    "error", nusa_strerror(rc));
		}
		found = 1;
	}
	if (!found && cp.addr[0]) {
		if ((rc = link_add(d, &cp, SRC_MANUAL)) != 0)
			return json_pack("{s:b, s:s}", "ok", 0, "error",
			    nusa_strerror(rc));
		found = 1;
	}
	if (!found)
		return json_pack("{s:b, s:s}", "ok", 0, "error",
		    "unknown peer: give its address as ID@tcp://HOST:PORT");
	return json_pack("{s:b, s:I}", "ok", 1, "since",
	    (json_int_t)time(NULL));
}

static void
control_handle(struct nusad *d)
{
	char req[512], *out;
	json_t *reply;
	int n;

	if ((n = zmq_recv(d->control, req, sizeof(req) - 1, ZMQ_DONTWAIT)) <
	    0)
		return;
	req[n < (int)sizeof(req) - 1 ? n : (int)sizeof(req) - 1] = '\0';
	if (strcmp(req, "status") == 0)
		reply = status_json(d);
	else if (strncmp(req, "sync ", 5) == 0)
		reply = control_sync(d, req + 5);
	else
		reply = json_pack("{s:b, s:s}", "ok", 0, "error",
		    "unknown request");
	out = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	zmq_send(d->control, out ? out : "{}", out ? strlen(out) : 2, 0);
	free(out);
	json_decref(reply);
}

/* ---- discovery ---- */

static void
net_hash(uint8_t out[16], const struct nusad *d)
{
	crypto_generichash(out, 16, d->nets[0].id, NUSA_KEY_LEN, NULL, 0);
}

static void
on_discovered(int found, const struct discover_peer *p, void *ctx)
{
	struct nusad *d = ctx;
	struct config_peer cp;
	uint8_t mine[16];
	char who[17];
	size_t i;

	hex8(who, p->device);
	if (!found) {
		for (i = 0; i < d->nlinks; i++)
			if (memcmp(d->links[i]->cp.id, p->device,
			    NUSA_KEY_LEN) == 0 &&
			    d->links[i]->source == SRC_FOUND) {
				log_info(&d->log, "%s is gone from the LAN",
				    who);
				link_remove(d, i);
				break;
			}
		return;
	}
	net_hash(mine, d);
	if (p->proto != PROTO_VERSION || memcmp(p->nethash, mine, 16) != 0)
		return;
	if (!admitted(d, 0, p->device)) {
		log_info(&d->log, "found %s on the LAN, not enrolled here",
		    who);
		return;
	}
	memset(&cp, 0, sizeof(cp));
	memcpy(cp.id, p->device, NUSA_KEY_LEN);
	snprintf(cp.addr, sizeof(cp.addr), "%s", p->addr);
	log_info(&d->log, "found %s on the LAN at %s", who, p->addr);
	link_add(d, &cp, SRC_FOUND);
}

static int
listen_port(const char *addr)
{
	const char *c = strrchr(addr, ':');

	return c ? atoi(c + 1) : 0;
}

static void
discover_start(struct nusad *d)
{
	uint8_t nh[16];
	char name[64], hex[17];
	const char *why;
	unsigned port;
	int rc;

	/* Without listen only the web app (if http is set) is published:
	 * a box that dials a hub still has a .local web name. */
	if (!d->cfg.discovery || d->cfg.mode != CONFIG_BOX ||
	    (d->cfg.listen[0] == '\0' && d->web == NULL))
		return;
	net_hash(nh, d);
	snprintf(name, sizeof(name), "nusa-%s", hex8(hex, d->key->pk));
	rc = discover_open(&d->disc, name, d->cfg.listen[0] ?
	    (uint16_t)listen_port(d->cfg.listen) : 0, d->key->pk, nh,
	    PROTO_VERSION, on_discovered, d);
	if (rc) {
		log_warn(&d->log, "discovery off: %s", nusa_strerror(rc));
		d->disc = NULL;
	}
	if (d->web && config_http_addr(d->cfg.http, NULL, 0, &port,
	    &why) == 0)
		discover_set_http(d->disc, (uint16_t)port);
}

/* ---- stores ---- */

static int
net_open(struct nusad *d, const char *dir)
{
	char path[PATH_MAX];
	struct net *n, *v;
	struct store_txn *t;
	size_t i;
	int rc;

	for (i = 0; i < d->nnets; i++)
		if (strcmp(d->nets[i].dir, dir) == 0)
			return 0;	/* served already */
	if (d->nnets == NETS_MAX)
		return -ENOSPC;
	if ((v = realloc(d->nets, (d->nnets + 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	d->nets = v;
	n = &d->nets[d->nnets];
	memset(n, 0, sizeof(*n));
	if ((size_t)snprintf(path, sizeof(path), "%s/store", dir) >=
	    sizeof(path) || (size_t)snprintf(n->dir, sizeof(n->dir), "%s",
	    dir) >= sizeof(n->dir))
		return -ENAMETOOLONG;
	if ((rc = store_open(&n->store, path, 0)) != 0) {
		log_error(&d->log, "store %s: %s", path, nusa_strerror(rc));
		return rc;
	}
	if ((rc = store_begin(n->store, &t, STORE_READ)) == 0) {
		rc = store_network(t, n->id, n->name, sizeof(n->name));
		store_abort(t);
	}
	for (i = 0; rc == 0 && i < d->nnets; i++)
		if (memcmp(d->nets[i].id, n->id, NUSA_KEY_LEN) == 0)
			rc = -NUSA_EEXIST;
	if (rc) {
		log_error(&d->log, "store %s: %s%s", path, nusa_strerror(rc),
		    rc == -NUSA_ENONET ? " (import a bundle that enrols "
		    "this box first)" : rc == -NUSA_EEXIST ? " (the network "
		    "is served from another directory)" : "");
		store_close(n->store);
		return rc;
	}
	n->gen = store_generation(n->store);
	d->nnets++;
	log_info(&d->log, "serving %s", n->name);
	return 0;
}

/* Box mode: the network of DATA_DIR. Hub mode: every network under
 * DATA_DIR/networks/; a directory that cannot be served is logged and
 * left out, so that one bad network does not stop the others. */
static int
nets_open(struct nusad *d)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir;

	if (d->cfg.mode == CONFIG_BOX)
		return net_open(d, d->cfg.data_dir);
	if ((size_t)snprintf(path, sizeof(path), "%s/networks",
	    d->cfg.data_dir) >= sizeof(path))
		return -ENAMETOOLONG;
	if ((dir = opendir(path)) == NULL) {
		log_error(&d->log, "%s: %s (a hub keeps one directory per "
		    "network there: nusactl -d %s hub join BUNDLE)", path,
		    strerror(errno), d->cfg.data_dir);
		return -errno;
	}
	while ((e = readdir(dir)) != NULL) {
		char sub[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
		    e->d_name) >= sizeof(sub))
			continue;
		net_open(d, sub);
	}
	closedir(dir);
	if (d->nnets == 0) {
		log_error(&d->log, "%s holds no network yet: nusactl -d %s "
		    "hub join BUNDLE", path, d->cfg.data_dir);
		return -NUSA_ENONET;
	}
	return 0;
}

/* ---- the web app ---- */

/* Starts the web app's server (its own thread) when http is set, on the
 * box's store: what it writes, stores_changed() pushes like any write. */
static int
web_start(struct nusad *d)
{
	struct web_conf wc = {
		.http = d->cfg.http,
		.web_root = d->cfg.web_root,
		.data_dir = d->cfg.data_dir,
		.control = d->cfg.control,
		.zctx = d->zctx,
		.store = d->nets[0].store,
		.key = d->key,
		.hub = d->cfg.mode == CONFIG_HUB,
		.log = &d->log,
	};

	if (d->cfg.http[0] == '\0')
		return 0;
	if (d->cfg.mode == CONFIG_HUB) {
		log_warn(&d->log, "http is for a box: a hub has no web app");
		return 0;
	}
	return web_open(&d->web, &wc);
}

/* ---- life cycle ---- */

static int
links_from_config(struct nusad *d)
{
	size_t i;
	int rc;

	for (i = 0; i < d->cfg.npeers; i++)
		if ((rc = link_add(d, &d->cfg.peers[i], SRC_STATIC)) != 0)
			return rc;
	if (d->cfg.has_hub && (rc = link_add(d, &d->cfg.hub, SRC_HUB)) != 0)
		return rc;
	return 0;
}

/* ---- clone and restore safety (docs/CLONES.md) ---- */

/* Box mode, before the key is loaded: a copied data directory switches
 * to a new device key here, and a box still waiting for its new key's
 * enrolment says what the admin must run. Peers admit the new key once
 * that enrolment reached them. */
static int
replica_start(struct nusad *d)
{
	struct replica_status st;
	char old[2 * NUSA_KEY_LEN + 1], nw[2 * NUSA_KEY_LEN + 1];
	int rc;

	/* A claim is a session's: one left by a run that ended waits for
	 * nothing now (its peer will say so again if it still holds more). */
	if ((rc = replica_claim_clear(d->cfg.data_dir)) != 0)
		log_warn(&d->log, "%s/claim: %s", d->cfg.data_dir,
		    nusa_strerror(rc));
	if ((rc = replica_check(d->cfg.data_dir, d->nets[0].store, &st))) {
		log_error(&d->log, "%s/replica, %s/rekey: %s (docs/CLONES.md)",
		    d->cfg.data_dir, d->cfg.data_dir, nusa_strerror(rc));
		return rc;
	}
	nusa_hex(old, st.rk.old, NUSA_KEY_LEN);
	nusa_hex(nw, st.rk.new, NUSA_KEY_LEN);
	if (st.rekeyed)
		log_warn(&d->log, "this data directory was copied or moved: "
		    "device key %.16s retired, new device %s: ask an admin to "
		    "run: nusactl enrol %s --role %s", old, nw, nw,
		    payload_role_name(st.rk.role));
	else if (st.pending)
		log_warn(&d->log, "device %s waits for its enrolment (it "
		    "replaced %.16s, %s): ask an admin to run: nusactl enrol "
		    "%s --role %s", nw, old, rekey_reason_name(st.rk.reason),
		    nw, payload_role_name(st.rk.role));
	return 0;
}

/* Our own feed's head in our store, or 0 (none, or unreadable). */
static uint64_t
own_head(struct nusad *d)
{
	struct store_txn *t;
	uint64_t mine;

	if (store_begin(d->nets[0].store, &t, STORE_READ))
		return 0;
	mine = store_vector_get(t, d->key->pk);
	store_abort(t);
	return mine;
}

/* One claim fewer: the last one lets writers go on. */
static void
claim_drop(struct nusad *d, struct own_claim *o)
{
	int rc;

	o->seq = 0;
	if (d->claims > 0 && --d->claims == 0 &&
	    (rc = replica_claim_clear(d->cfg.data_dir)) != 0)
		log_error(&d->log, "%s/claim: %s: remove it by hand",
		    d->cfg.data_dir, nusa_strerror(rc));
}

/* A peer holding more of our own feed than we do: this box was restored
 * from an older image (or a copy of it wrote). A peer's word is not
 * enough (any enrolled peer could make an admin box rekey by lying):
 * from the claim on nothing is written with our key (DIR/claim stops
 * every writer), and only an entry of our own feed past our head that
 * actually arrived, verified and stored, retires the key. The session
 * goes on and brings the lost entries back. A claim the peer does not
 * make good before it says it is caught up (or the session ends, or it
 * sends no batch for KEEPALIVE_WAIT heartbeats) is dropped with a
 * warning, and writes resume. This process keeps its old
 * key for CURVE until it restarts: that key is still enrolled, so peers
 * still admit it. */
static void
own_feed_check(struct nusad *d, size_t net, struct session *s,
    struct own_claim *o)
{
	struct rekey rk;
	uint64_t mine, theirs;
	char who[17], nw[2 * NUSA_KEY_LEN + 1];
	int rc;

	if (d->cfg.mode != CONFIG_BOX || net != 0 ||
	    !session_established(s))
		return;
	hex8(who, session_peer(s));
	if (!o->checked) {
		o->checked = 1;
		if (d->rekeyed)
			return;
		theirs = session_peer_seq(s, d->key->pk);
		mine = own_head(d);
		if (theirs <= mine)
			return;
		if (d->claims == 0 && (rc = replica_claim_set(d->cfg.data_dir,
		    session_peer(s), theirs, mine)) != 0)
			log_error(&d->log, "%s/claim: %s", d->cfg.data_dir,
			    nusa_strerror(rc));
		d->claims++;
		o->seq = theirs;
		o->mine = mine;
		o->since = (int64_t)time(NULL);
		log_warn(&d->log, "%s says it holds seq %" PRIu64 " of our "
		    "own feed, we have %" PRIu64 ": writes wait for those "
		    "entries", who, theirs, mine);
	}
	if (o->seq == 0)
		return;
	if (d->rekeyed) {
		claim_drop(d, o);
		return;
	}
	mine = own_head(d);
	if (mine <= o->mine) {
		if (session_stats(s)->synced == 0)
			return;
		log_warn(&d->log, "%s claimed seq %" PRIu64 " of our own feed "
		    "but is caught up without sending any entry past our "
		    "%" PRIu64 ": not a restore, key kept, writes resume",
		    who, o->seq, o->mine);
		claim_drop(d, o);
		return;
	}
	d->rekeyed = 1;
	rc = replica_rekey(d->cfg.data_dir, d->nets[0].store, REKEY_RESTORE,
	    d->key->pk, &rk);
	if (rc < 0)
		log_error(&d->log, "%s holds seq %" PRIu64 " of our own feed, "
		    "we had %" PRIu64 ": restored from an older copy? "
		    "switching keys failed: %s; write nothing on this box",
		    who, mine, o->mine, nusa_strerror(rc));
	else if (rc == 0)
		log_warn(&d->log, "%s holds seq %" PRIu64 " of our own feed, "
		    "we had %" PRIu64 ": this box was restored from an older "
		    "copy; device key retired, new device %s: ask an admin to "
		    "run: nusactl enrol %s --role %s", who, mine, o->mine,
		    nusa_hex(nw, rk.new, NUSA_KEY_LEN), nw,
		    payload_role_name(rk.role));
	/* Written under DIR/claim: the rekey state now stops writers. */
	claim_drop(d, o);
}

/* A claim stands while its peer sends: one whose session has brought no
 * batch for KEEPALIVE_WAIT heartbeats is dropped (a peer that claims and
 * then neither sends nor says it is caught up must not stop this box's
 * writes for as long as it holds the connection). */
static void
own_feed_expire(struct nusad *d, struct session *s, struct own_claim *o)
{
	int64_t now = (int64_t)time(NULL), from = o->since;
	char who[17];

	if (o->seq == 0)
		return;
	if (session_stats(s)->last_batch > from)
		from = session_stats(s)->last_batch;
	if (now - from <= KEEPALIVE_WAIT * (int64_t)d->cfg.heartbeat)
		return;
	log_warn(&d->log, "%s claimed seq %" PRIu64 " of our own feed but "
	    "sent nothing for %" PRId64 " s: claim dropped, key kept, writes "
	    "resume", hex8(who, session_peer(s)), o->seq, now - from);
	claim_drop(d, o);
}

/* s ends: a claim still waiting was not made good. */
static void
own_feed_end(struct nusad *d, struct session *s, struct own_claim *o)
{
	char who[17];

	if (o->seq) {
		log_warn(&d->log, "%s claimed seq %" PRIu64 " of our own feed "
		    "but the session ended without any entry past our %"
		    PRIu64 ": not a restore, key kept, writes resume",
		    hex8(who, session_peer(s)), o->seq, o->mine);
		claim_drop(d, o);
	}
	memset(o, 0, sizeof(*o));
}

int
nusad_open(struct nusad **out, const struct config *c,
    const struct nusad_opts *o, const struct log *l)
{
	struct nusad *d;
	char path[PATH_MAX];
	int rc, one = 1;
	char id[2 * NUSA_KEY_LEN + 1];

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	d->cfg = *c;
	d->log = *l;
	d->o.batch_max = o && o->batch_max ? o->batch_max : NUSA_BATCH_MAX;
	d->o.byte_min = o && o->byte_min ? o->byte_min : 4096;
	d->o.byte_max = o && o->byte_max ? o->byte_max : 65536;
	d->o.credit = o && o->credit ? o->credit : PROTO_CREDIT;
	if (sodium_init() < 0) {
		rc = -ENOMEM;
		goto fail;
	}
	if (d->cfg.mode == CONFIG_HUB && (d->cfg.npeers || d->cfg.has_hub)) {
		log_error(&d->log, "a hub does not dial out: leave peers and "
		    "hub empty in hub mode");
		rc = -EINVAL;
		goto fail;
	}
	if ((rc = nets_open(d)) != 0)
		goto fail;
	if (c->mode == CONFIG_BOX && (rc = replica_start(d)) != 0)
		goto fail;
	if ((size_t)snprintf(path, sizeof(path), "%s/device.key",
	    c->data_dir) >= sizeof(path))
		rc = -ENAMETOOLONG;
	else
		rc = key_load(&d->key, path);
	if (rc != 0) {
		log_error(&d->log, "%s: %s (nusactl -d %s keygen makes one)",
		    path, nusa_strerror(rc), c->data_dir);
		goto fail;
	}
	if ((d->curve_sk = sodium_malloc(crypto_box_SECRETKEYBYTES)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (crypto_sign_ed25519_pk_to_curve25519(d->curve_pk,
	    d->key->pk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(d->curve_sk,
	    d->key->sk) != 0) {
		rc = -NUSA_EMALFORMED;
		goto fail;
	}
	if ((rc = allowed_refresh(d)) != 0)
		goto fail;
	if ((d->zctx = zmq_ctx_new()) == NULL) {
		rc = -errno;
		goto fail;
	}
	/* The ZAP handler is bound before any socket that needs it. */
	if ((d->zap = zmq_socket(d->zctx, ZMQ_REP)) == NULL ||
	    zmq_bind(d->zap, "inproc://zeromq.zap.01") != 0) {
		rc = -errno;
		log_error(&d->log, "ZAP handler: %s", zmq_strerror(-rc));
		goto fail;
	}
	if (c->listen[0]) {
		if ((d->router = zmq_socket(d->zctx, ZMQ_ROUTER)) == NULL ||
		    (rc = common_opts(d, d->router)) != 0 ||
		    zmq_setsockopt(d->router, ZMQ_CURVE_SERVER, &one,
		    sizeof(one)) || zmq_setsockopt(d->router,
		    ZMQ_ZAP_DOMAIN, "nusa", 4) || zmq_setsockopt(d->router,
		    ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) ||
		    zmq_bind(d->router, c->listen) != 0) {
			rc = rc ? rc : -errno;
			log_error(&d->log, "listen %s: %s", c->listen,
			    zmq_strerror(-rc));
			goto fail;
		}
	}
	if ((d->control = zmq_socket(d->zctx, ZMQ_REP)) == NULL ||
	    zmq_setsockopt(d->control, ZMQ_LINGER, &(int){ 0 },
	    sizeof(int)) || zmq_bind(d->control, c->control) != 0) {
		rc = -errno;
		log_error(&d->log, "control socket %s: %s (is another nusad "
		    "running on this data directory?)", c->control,
		    zmq_strerror(-rc));
		goto fail;
	}
	if (strncmp(c->control, "ipc://", 6) == 0)
		chmod(c->control + 6, 0600);
	if ((size_t)snprintf(d->peers_path, sizeof(d->peers_path),
	    "%s/peers.json", c->data_dir) < sizeof(d->peers_path))
		peers_load(d);
	else
		d->peers_path[0] = '\0';
	if ((rc = links_from_config(d)) != 0)
		goto fail;
	if ((rc = web_start(d)) != 0)
		goto fail;
	discover_start(d);
	disk_check(d);
	if (c->metrics[0]) {
		if ((rc = metrics_open(&d->metrics, c->metrics)) != 0) {
			log_error(&d->log, "metrics %s: %s (is the port in "
			    "use?)", c->metrics, strerror(-rc));
			goto fail;
		}
		metrics_render(d);
		log_info(&d->log, "metrics on http://%s/metrics", c->metrics);
	}
	if ((rc = notify_open(&d->nt)) != 0)
		log_warn(&d->log, "NOTIFY_SOCKET: %s: systemd will not hear "
		    "from us", nusa_strerror(rc));
	nusa_hex(id, d->key->pk, NUSA_KEY_LEN);
	log_info(&d->log, "device %s, %s mode, %zu network%s%s%s", id,
	    c->mode == CONFIG_HUB ? "hub" : "box", d->nnets,
	    d->nnets == 1 ? "" : "s", c->listen[0] ? ", listening on " : "",
	    c->listen);
	*out = d;
	return 0;
fail:
	nusad_close(d);
	return rc;
}

/* Stores changed (a peer's batch, nusactl, the web): push to every
 * session of the network, and end those of devices revoked meanwhile. */
static void
stores_changed(struct nusad *d)
{
	size_t i, n;
	int rc, any = 0;
	char who[17];

	for (n = 0; n < d->nnets; n++) {
		uint64_t g = store_generation(d->nets[n].store);

		if (g == d->nets[n].gen)
			continue;
		d->nets[n].gen = g;
		any = 1;
		for (i = 0; i < d->nlinks; i++) {
			struct link *k = d->links[i];

			if (n == 0 && k->denied && admitted(d, 0, k->cp.id)) {
				log_info(&d->log, "%s is enrolled now",
				    hex8(who, k->cp.id));
				k->denied = 0;
				k->backoff = 0;
				k->reopen_at = 0;
			}
			if (n != 0 || k->s == NULL)
				continue;
			if (!admitted(d, 0, k->cp.id)) {
				log_warn(&d->log, "%s is revoked or no longer "
				    "enrolled: dropped", hex8(who, k->cp.id));
				session_fail(k->s, PROTO_ERR_DENIED,
				    "revoked");
				link_close_socket(k);
				k->denied = 1;
				continue;
			}
			if ((rc = session_pump(k->s, 1)) != 0)
				link_end(k, rc);
		}
		for (i = 0; i < d->nin;) {
			struct inbound *in = d->in[i];

			if (in->net != n) {
				i++;
				continue;
			}
			if (!admitted(d, n, in->id)) {
				log_warn(&d->log, "%s is revoked or no longer "
				    "enrolled: dropped", hex8(who, in->id));
				session_fail(in->s, PROTO_ERR_DENIED,
				    "revoked");
				inbound_remove(d, i);
				continue;
			}
			if ((rc = session_pump(in->s, 1)) != 0) {
				inbound_end(d, i, rc);
				continue;
			}
			i++;
		}
	}
	/* The ZAP table is rebuilt when next asked (zap_handle()): stores
	 * change with every batch, connections come rarely. */
	if (any)
		d->allowed_stale = 1;
}

/* Dials links whose wait is over, gives up on a HELLO that got no
 * WELCOME, and resets the backoff of links that got in sync. */
static void
links_tick(struct nusad *d, int64_t now)
{
	struct link *k;
	char who[17];
	size_t i;

	for (i = 0; i < d->nlinks; i++) {
		k = d->links[i];
		if (k->sock == NULL && !k->denied && now >= k->reopen_at)
			link_open_socket(k);
		if (k->s == NULL)
			continue;
		if (session_stats(k->s)->synced)
			k->backoff = 0;
		else if (!session_established(k->s) &&
		    now - k->hello_at > 3000 * (int64_t)d->cfg.heartbeat) {
			log_warn(&d->log, "%s at %s did not answer HELLO",
			    hex8(who, k->cp.id), k->cp.addr);
			link_end(k, -ETIMEDOUT);
		}
	}
}

/* A ROUTER does not say when a peer has gone: an idle inbound session
 * sends a one-byte DONE now and then, and a send to a peer that is gone
 * fails (ZMQ_ROUTER_MANDATORY), which ends the session; a busy one that
 * waits for acknowledgements in vain ends after KEEPALIVE_WAIT
 * heartbeats (libzmq's own heartbeat has dropped the connection by
 * then), so that boxes gone mid-sync do not hold a hub's sessions. */
static void
keepalive(struct nusad *d)
{
	int64_t wait = KEEPALIVE_WAIT * (int64_t)d->cfg.heartbeat * 1000;
	size_t i;
	int rc;

	for (i = 0; i < d->nin;) {
		if ((rc = session_keepalive(d->in[i]->s, wait)) != 0) {
			inbound_end(d, i, rc);
			continue;
		}
		own_feed_expire(d, d->in[i]->s, &d->in[i]->own);
		i++;
	}
	for (i = 0; i < d->nlinks; i++)
		if (d->links[i]->s)
			own_feed_expire(d, d->links[i]->s, &d->links[i]->own);
}

static void
reload(struct nusad *d, const char *path)
{
	struct config c;
	char err[512];
	size_t i;

	config_defaults(&c);
	snprintf(c.data_dir, sizeof(c.data_dir), "%s", d->cfg.data_dir);
	if (path == NULL || config_parse_file(&c, path, err, sizeof(err))) {
		log_error(&d->log, "reload: %s", path ? err : "no config");
		return;
	}
	for (i = 0; i < d->nlinks;) {
		if (d->links[i]->source & (SRC_STATIC | SRC_HUB)) {
			link_remove(d, i);
			continue;
		}
		i++;
	}
	d->cfg.npeers = c.npeers;
	memcpy(d->cfg.peers, c.peers, sizeof(c.peers));
	d->cfg.hub = c.hub;
	d->cfg.has_hub = c.has_hub;
	if (d->cfg.mode == CONFIG_BOX)
		links_from_config(d);
	else if (nets_open(d) == 0)
		allowed_refresh(d);
	log_info(&d->log, "reloaded: %zu peers%s", c.npeers,
	    c.has_hub ? " and the hub" : "");
}

/* One line for systemctl status: sessions, entries, the last sync. */
static void
notify_status(struct nusad *d)
{
	char line[256];
	struct store_txn *t;
	size_t i, entries = 0, sessions = d->nin;
	int64_t last = 0;

	for (i = 0; i < d->nlinks; i++)
		sessions += d->links[i]->s != NULL &&
		    session_established(d->links[i]->s);
	for (i = 0; i < d->nnets; i++)
		if (store_begin(d->nets[i].store, &t, STORE_READ) == 0) {
			entries += store_count(t);
			store_abort(t);
		}
	for (i = 0; i < d->npeers; i++)
		if (d->peers[i].last_synced > last)
			last = d->peers[i].last_synced;
	for (i = 0; i < d->nin; i++)
		if (session_stats(d->in[i]->s)->synced > last)
			last = session_stats(d->in[i]->s)->synced;
	for (i = 0; i < d->nlinks; i++)
		if (d->links[i]->s &&
		    session_stats(d->links[i]->s)->synced > last)
			last = session_stats(d->links[i]->s)->synced;
	if (last)
		snprintf(line, sizeof(line), "STATUS=%zu sessions, %zu entries, "
		    "last sync %llds ago", sessions, entries,
		    (long long)(time(NULL) - last));
	else
		snprintf(line, sizeof(line), "STATUS=%zu sessions, %zu entries, "
		    "no sync yet", sessions, entries);
	notify_send(d->nt, line);
}

/* ---- disk space and metrics ---- */

/* Checks the data disk against disk_warn: one warning when it crosses,
 * one line when it is back. */
static void
disk_check(struct nusad *d)
{
	struct store_space sp;
	int low;

	if (d->nnets == 0 || store_space(d->nets[0].store, &sp) != 0 ||
	    sp.fs_size == 0)
		return;
	d->disk_free = sp.fs_free;
	d->disk_size = sp.fs_size;
	if (d->cfg.disk_warn_free)
		low = sp.fs_free < d->cfg.disk_warn_free;
	else
		low = (sp.fs_size - sp.fs_free) * 100 >=
		    (uint64_t)d->cfg.disk_warn_pct * sp.fs_size;
	if (low && !d->disk_low)
		log_warn(&d->log, "disk of %s is low: %" PRIu64 " MiB free of %"
		    PRIu64 " MiB (disk_warn: %s); make room, or nusactl "
		    "compact with nusad stopped", d->cfg.data_dir,
		    sp.fs_free >> 20, sp.fs_size >> 20, d->cfg.disk_warn_free ?
		    "free bytes" : "percent used");
	else if (!low && d->disk_low)
		log_info(&d->log, "disk of %s is fine again: %" PRIu64 " MiB "
		    "free", d->cfg.data_dir, sp.fs_free >> 20);
	d->disk_low = low;
}

static json_t *
disk_json(struct nusad *d)
{
	return json_pack("{s:I, s:I, s:b}", "free", (json_int_t)d->disk_free,
	    "size", (json_int_t)d->disk_size, "low", d->disk_low);
}

/* A sample with the labels of a peer: peer=ID16, network=NAME. */
static void
peer_sample(struct metrics_page *pg, const char *name, struct nusad *d,
    const struct peer *p, uint64_t v)
{
	char id[17];
	const char *labels[] = { "peer", id, "network", d->nets[p->net].name,
		NULL };

	hex8(id, p->id);
	metrics_page_sample(pg, name, labels, v);
}

/* The live session of peer p, if any, and whether it is connected. */
static struct session *
peer_session(struct nusad *d, const struct peer *p, int *connected)
{
	size_t j;

	*connected = 0;
	for (j = 0; j < d->nlinks; j++)
		if (p->net == 0 && memcmp(d->links[j]->cp.id, p->id,
		    NUSA_KEY_LEN) == 0 && d->links[j]->s) {
			*connected = d->links[j]->up;
			return d->links[j]->s;
		}
	for (j = 0; j < d->nin; j++)
		if (d->in[j]->net == p->net && memcmp(d->in[j]->id, p->id,
		    NUSA_KEY_LEN) == 0) {
			*connected = 1;
			return d->in[j]->s;
		}
	return NULL;
}

/* The per-network gauges of a store's size, from struct store_space. */
static const struct {
	const char *name, *help;
	size_t off;
} store_gauges[] = {
	{ "nusa_store_used_bytes",
	  "Bytes of the LMDB store in use (up to its last page).",
	  offsetof(struct store_space, used) },
	{ "nusa_store_file_bytes",
	  "Bytes the store's data file takes on disk.",
	  offsetof(struct store_space, file) },
	{ "nusa_store_map_bytes",
	  "Size of the LMDB map now (it grows as needed).",
	  offsetof(struct store_space, map) },
};

/* Builds the metrics page from the loop's own structures and hands a
 * copy to the server thread. */
static void
metrics_render(struct nusad *d)
{
	struct metrics_page pg = { 0 };
	struct counts c = d->cnt;
	struct store_space *sp;
	struct store_txn *t;
	struct session *s;
	uint64_t active = 0, *lag;	/* per peer: ahead, behind */
	int64_t now = time(NULL);
	size_t i, g;
	int connected;

	for (i = 0; i < d->nlinks + d->nin; i++) {
		const struct session_stats *st;

		s = i < d->nlinks ? d->links[i]->s : d->in[i - d->nlinks]->s;
		if (s == NULL)
			continue;
		st = session_stats(s);
		active += session_established(s) != 0;
		c.entries_in += st->recv_entries;
		c.entries_out += st->sent_entries;
		c.added += st->added;
		c.bytes_in += st->bytes_in;
		c.bytes_out += st->bytes_out;
	}
	metrics_page_one(&pg, "nusa_sessions_active", "gauge",
	    "Sync sessions established now.", active);
	metrics_page_one(&pg, "nusa_sessions_started_total", "counter",
	    "Sync sessions opened since nusad started.", c.sessions_started);
	metrics_page_one(&pg, "nusa_sessions_ended_total", "counter",
	    "Sync sessions ended since nusad started.", c.sessions_ended);
	metrics_page_one(&pg, "nusa_entries_received_total", "counter",
	    "Entries received from peers (new or not).", c.entries_in);
	metrics_page_one(&pg, "nusa_entries_added_total", "counter",
	    "Entries received from peers that were new here.", c.added);
	metrics_page_one(&pg, "nusa_entries_sent_total", "counter",
	    "Entries sent to peers.", c.entries_out);
	metrics_page_one(&pg, "nusa_received_bytes_total", "counter",
	    "Bytes of sync messages received.", c.bytes_in);
	metrics_page_one(&pg, "nusa_sent_bytes_total", "counter",
	    "Bytes of sync messages sent.", c.bytes_out);
	metrics_page_family(&pg, "nusa_rejects_total", "counter",
	    "Connections, sessions and batches refused, by reason.");
	for (i = 0; i < REJ_COUNT; i++) {
		const char *labels[] = { "reason", reject_names[i], NULL };

		metrics_page_sample(&pg, "nusa_rejects_total", labels,
		    c.rejects[i]);
	}

	metrics_page_family(&pg, "nusa_peer_connected", "gauge",
	    "1 if the peer is connected now.");
	for (i = 0; i < d->npeers; i++) {
		peer_session(d, &d->peers[i], &connected);
		peer_sample(&pg, "nusa_peer_connected", d, &d->peers[i],
		    (uint64_t)connected);
	}
	/* Each lag once (a read of the store per peer), for both families;
	 * UINT64_MAX where there is none. */
	if ((lag = calloc(d->npeers ? 2 * d->npeers : 1, sizeof(*lag))) != NULL)
		for (i = 0; i < d->npeers; i++)
			if ((s = peer_session(d, &d->peers[i], &connected)) ==
			    NULL || !session_established(s) ||
			    session_lag(s, &lag[2 * i], &lag[2 * i + 1]) != 0)
				lag[2 * i] = lag[2 * i + 1] = UINT64_MAX;
	metrics_page_family(&pg, "nusa_peer_behind_entries", "gauge",
	    "Entries the peer holds that this box lacks (connected peers).");
	for (i = 0; lag && i < d->npeers; i++)
		if (lag[2 * i + 1] != UINT64_MAX)
			peer_sample(&pg, "nusa_peer_behind_entries", d,
			    &d->peers[i], lag[2 * i + 1]);
	metrics_page_family(&pg, "nusa_peer_ahead_entries", "gauge",
	    "Entries this box holds that the peer lacks (connected peers).");
	for (i = 0; lag && i < d->npeers; i++)
		if (lag[2 * i] != UINT64_MAX)
			peer_sample(&pg, "nusa_peer_ahead_entries", d,
			    &d->peers[i], lag[2 * i]);
	free(lag);
	metrics_page_family(&pg, "nusa_peer_last_sync_age_seconds", "gauge",
	    "Seconds since the peer and this box were last in sync.");
	for (i = 0; i < d->npeers; i++) {
		int64_t last = d->peers[i].last_synced;

		if ((s = peer_session(d, &d->peers[i], &connected)) != NULL &&
		    session_stats(s)->synced > last)
			last = session_stats(s)->synced;
		if (last > 0)
			peer_sample(&pg, "nusa_peer_last_sync_age_seconds", d,
			    &d->peers[i], (uint64_t)(now > last ?
			    now - last : 0));
	}

	metrics_page_family(&pg, "nusa_store_entries", "gauge",
	    "Entries in the network's store.");
	for (i = 0; i < d->nnets; i++) {
		const char *labels[] = { "network", d->nets[i].name, NULL };
		size_t n = 0;

		if (store_begin(d->nets[i].store, &t, STORE_READ) == 0) {
			n = store_count(t);
			store_abort(t);
		}
		metrics_page_sample(&pg, "nusa_store_entries", labels, n);
	}
	if ((sp = calloc(d->nnets, sizeof(*sp))) != NULL)
		for (i = 0; i < d->nnets; i++)
			store_space(d->nets[i].store, &sp[i]);
	for (g = 0; g < sizeof(store_gauges) / sizeof(store_gauges[0]); g++) {
		metrics_page_family(&pg, store_gauges[g].name, "gauge",
		    store_gauges[g].help);
		for (i = 0; sp && i < d->nnets; i++) {
			const char *labels[] = { "network", d->nets[i].name,
				NULL };
			const uint64_t *v = (const uint64_t *)(const void *)
			    ((const char *)&sp[i] + store_gauges[g].off);

			metrics_page_sample(&pg, store_gauges[g].name, labels,
			    *v);
		}
	}
	free(sp);
	metrics_page_one(&pg, "nusa_disk_free_bytes", "gauge",
	    "Free bytes on the filesystem of the data directory.",
	    d->disk_free);
	metrics_page_one(&pg, "nusa_disk_size_bytes", "gauge",
	    "Size of the filesystem of the data directory.", d->disk_size);
	metrics_page_one(&pg, "nusa_disk_low", "gauge",
	    "1 while the data disk is past disk_warn.", (uint64_t)d->disk_low);
	if (metrics_publish(d->metrics, &pg) != 0)
		log_warn(&d->log, "metrics: out of memory; serving the last "
		    "page");
	metrics_page_free(&pg);
}

#define ITEMS_MAX (4 + 2 * LINKS_MAX + 32)

int
nusad_run(struct nusad *d, volatile sig_atomic_t *stop,
    volatile sig_atomic_t *hup, const char *path)
{
	zmq_pollitem_t items[ITEMS_MAX];
	struct link *owner[ITEMS_MAX];
	size_t n, i, ndisc, disc_at;
	int64_t now;
	long timeout, dt;

	d->next_tick = now_ms() + TICK_MS;
	notify_send(d->nt, "READY=1");
	notify_status(d);
	while (!*stop) {
		if (hup && *hup) {
			*hup = 0;
			notify_send(d->nt, "RELOADING=1");
			reload(d, path);
			notify_send(d->nt, "READY=1");
		}
		n = 0;
		items[n++] = (zmq_pollitem_t){ .socket = d->zap,
			.events = ZMQ_POLLIN };
		items[n++] = (zmq_pollitem_t){ .socket = d->control,
			.events = ZMQ_POLLIN };
		if (d->router)
			items[n++] = (zmq_pollitem_t){ .socket = d->router,
				.events = ZMQ_POLLIN };
		for (i = 0; i < n; i++)
			owner[i] = NULL;
		for (i = 0; i < d->nlinks; i++) {
			if (d->links[i]->sock == NULL)
				continue;
			owner[n] = d->links[i];
			items[n++] = (zmq_pollitem_t){
				.socket = d->links[i]->mon,
				.events = ZMQ_POLLIN };
			owner[n] = d->links[i];
			items[n++] = (zmq_pollitem_t){
				.socket = d->links[i]->sock,
				.events = ZMQ_POLLIN };
		}
		disc_at = n;
		ndisc = d->disc ? discover_pollitems(d->disc, items + n,
		    ITEMS_MAX - n) : 0;
		n += ndisc;
		now = now_ms();
		timeout = d->next_tick > now ? (long)(d->next_tick - now) : 0;
		if (d->disc && (dt = discover_timeout(d->disc)) >= 0 &&
		    dt < timeout)
			timeout = dt;
		if (zmq_poll(items, (int)n, timeout) < 0 && errno != EINTR) {
			log_error(&d->log, "poll: %s", zmq_strerror(errno));
			return -errno;
		}
		if (items[0].revents & ZMQ_POLLIN)
			zap_handle(d);
		if (items[1].revents & ZMQ_POLLIN)
			control_handle(d);
		if (d->router && (items[2].revents & ZMQ_POLLIN))
			router_input(d);
		for (i = 0; i < disc_at; i++) {
			struct link *k = owner[i];
			size_t j;

			if (k == NULL || !(items[i].revents & ZMQ_POLLIN))
				continue;
			/* The link may be gone by now (discovery, a fault). */
			for (j = 0; j < d->nlinks && d->links[j] != k; j++)
				;
			if (j == d->nlinks || k->sock == NULL)
				continue;
			if (items[i].socket == k->mon)
				link_monitor(d, k);
			else if (items[i].socket == k->sock)
				link_input(d, k);
		}
		if (d->disc) {
			discover_dispatch(d->disc, items + disc_at, ndisc);
			if (!discover_running(d->disc) && !d->disc_logged) {
				log_warn(&d->log, "Avahi is not running: no "
				    "discovery, static peers and the hub only");
				d->disc_logged = 1;
			} else if (discover_running(d->disc))
				d->disc_logged = 0;
		}
		now = now_ms();
		if (now >= d->next_tick) {
			d->next_tick = now + TICK_MS;
			stores_changed(d);
			links_tick(d, now);
		}
		if (now >= d->next_keepalive) {
			d->next_keepalive = now + d->cfg.heartbeat * 1000;
			keepalive(d);
		}
		/* The loop ticks every TICK_MS: far more often than any
		 * watchdog period, so a loop that hangs stops the pings. */
		if (d->nt && notify_watchdog_ms(d->nt) &&
		    now >= d->next_watchdog) {
			d->next_watchdog = now + notify_watchdog_ms(d->nt);
			notify_send(d->nt, "WATCHDOG=1");
		}
		if (now >= d->next_status) {
			d->next_status = now + 10000;
			notify_status(d);
			peers_tick(d);
			disk_check(d);
		}
		if (d->metrics && now >= d->next_metrics) {
			d->next_metrics = now + 1000;
			metrics_render(d);
		}
	}
	notify_send(d->nt, "STOPPING=1");
	log_info(&d->log, "stopping");
	return 0;
}

void
nusad_close(struct nusad *d)
{
	size_t i;

	if (d == NULL)
		return;
	web_close(d->web);	/* first: its thread uses the store */
	metrics_close(d->metrics);
	if (d->disc)
		discover_close(d->disc);
	notify_close(d->nt);
	while (d->nlinks)
		link_remove(d, d->nlinks - 1);
	while (d->nin)
		inbound_remove(d, d->nin - 1);
	/* Sessions are folded into the records now: keep them. */
	if (d->peers_path[0] && d->nnets)
		peers_save(d);
	free(d->in);
	if (d->router)
		zmq_close(d->router);
	if (d->control)
		zmq_close(d->control);
	if (d->zap)
		zmq_close(d->zap);
	if (d->zctx)
		zmq_ctx_term(d->zctx);
	if (d->cfg.control[0] && strncmp(d->cfg.control, "ipc://", 6) == 0)
		unlink(d->cfg.control + 6);
	for (i = 0; i < d->nnets; i++)
		store_close(d->nets[i].store);
	free(d->nets);
	free(d->allowed);
	free(d->peers);
	if (d->curve_sk)
		sodium_free(d->curve_sk);
	key_free(&d->key);
	free(d);
}
