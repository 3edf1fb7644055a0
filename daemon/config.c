/* libinih splits "key = value" lines; everything around it is ours. The
 * reader below hands inih one physical line at a time, so the handler
 * knows the line number, and on the way it removes '#' comments, refuses
 * lines inih would silently cut at its line limit, and checks sections
 * and indentation itself: inih would ignore unknown empty sections and
 * read any indented line as a continuation of the previous key. The first
 * error stops the parse; the result goes to the caller only when the
 * whole text is valid. This relies on inih's default build options
 * (multi-line values on, stop on first error off). */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include <ini.h>

#define PEER_EXPECT	"DEVICE_ID@tcp://HOST:PORT"
#define SOCK_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define QUOTE_MAX	60	/* characters of a line quoted in a message */

enum key_type {
	KEY_PATH,		/* an absolute path */
	KEY_LISTEN,		/* an address, or empty */
	KEY_IPC,		/* ipc:///PATH */
	KEY_PEERS,		/* peers, on one line or continued on more */
	KEY_PEER,		/* one peer, or empty */
	KEY_BOOL,
	KEY_ENUM,
	KEY_UINT,
	KEY_HOSTPORT,		/* IP:PORT, PORT (on 127.0.0.1), or "" */
	KEY_DISKWARN,		/* N% used, or N[KMG] free */
	KEY_HTTP,		/* ADDRESS:PORT of the web app, or empty */
};

enum key_id {
	K_DATA_DIR,
	K_LISTEN,
	K_CONTROL,
	K_PEERS,
	K_HUB,
	K_DISCOVERY,
	K_MODE,
	K_LOG_LEVEL,
	K_HEARTBEAT,
	K_MAX_SESSIONS,
	K_METRICS,
	K_DISK_WARN,
	K_HTTP,
	K_WEB_ROOT,
	K_N
};

struct key {
	const char *name;
	enum key_type type;
	unsigned min, max;	/* KEY_UINT: range; KEY_PEERS: most items */
	const char *def;	/* the default as text; NULL: empty */
	const char *help;	/* one sentence, printed by config_print() */
	size_t off, size;	/* the field in struct config */
	const char *const *names;	/* KEY_BOOL, KEY_ENUM: value i */
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const char *const bool_names[] = { "no", "yes", NULL };
static const char *const mode_names[] = { "box", "hub", NULL };
static const char *const log_names[] = {
	"error", "warn", "info", "debug", NULL
};

/* Enum and bool fields are set through an int. */
_Static_assert(sizeof(enum config_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_log) == sizeof(int), "enum size");

/* Every key, in the order config_print() writes them. */
static const struct key keys[K_N] = {
	[K_DATA_DIR] = { "data_dir", KEY_PATH, 0, 0, NULL,
	    "Directory of this box's store and keys (an absolute path).",
	    FIELD(data_dir), NULL },
	[K_LISTEN] = { "listen", KEY_LISTEN, 0, 0, NULL,
	    "Where other boxes connect to sync; empty: do not listen.",
	    FIELD(listen), NULL },
	[K_CONTROL] = { "control", KEY_IPC, 0, 0, NULL,
	    "Socket of nusactl; default ipc://DATA_DIR/nusad.sock.",
	    FIELD(control), NULL },
	[K_PEERS] = { "peers", KEY_PEERS, 0, CONFIG_PEERS_MAX, NULL,
	    "Boxes to dial, " PEER_EXPECT ", one per line.",
	    FIELD(peers), NULL },
	[K_HUB] = { "hub", KEY_PEER, 0, 0, NULL,
	    "The regional hub, " PEER_EXPECT "; empty: none.",
	    FIELD(hub), NULL },
	[K_DISCOVERY] = { "discovery", KEY_BOOL, 0, 1, "yes",
	    "Find and announce boxes on the local network (yes or no).",
	    FIELD(discovery), bool_names },
	[K_MODE] = { "mode", KEY_ENUM, 0, 0, "box",
	    "box: one cooperative's box; hub: serves many cooperatives.",
	    FIELD(mode), mode_names },
	[K_LOG_LEVEL] = { "log_level", KEY_ENUM, 0, 0, "info",
	    "Least important message logged: error, warn, info or debug.",
	    FIELD(log_level), log_names },
	[K_HEARTBEAT] = { "heartbeat", KEY_UINT, 1, 600, "10",
	    "Seconds between heartbeats on a sync connection (1 to 600).",
	    FIELD(heartbeat), NULL },
	[K_MAX_SESSIONS] = { "max_sessions", KEY_UINT, 1, 4096, "64",
	    "Most sync sessions at once (1 to 4096).",
	    FIELD(max_sessions), NULL },
	[K_METRICS] = { "metrics", KEY_HOSTPORT, 0, 0, NULL,
	    "Prometheus metrics on http://ADDRESS:PORT/metrics; a port "
	    "alone binds 127.0.0.1; empty: off.",
	    FIELD(metrics), NULL },
	[K_DISK_WARN] = { "disk_warn", KEY_DISKWARN, 0, 0, "90%",
	    "Warn when the data disk is this full (N%) or has less free "
	    "(N, NK, NM, NG bytes).",
	    FIELD(disk_warn_pct), NULL },
	[K_HTTP] = { "http", KEY_HTTP, 0, 0, NULL,
	    "Where the web app listens, ADDRESS:PORT (0.0.0.0:8080); empty: "
	    "no web app.", FIELD(http), NULL },
	[K_WEB_ROOT] = { "web_root", KEY_PATH, 0, 0, "/usr/share/nusa/web",
	    "Directory of the web app's pages, scripts and catalogues.",
	    FIELD(web_root), NULL },
};

/* The state of one parse; allocated, as it holds a whole config. */
struct parse {
	struct config c;	/* the result, copied out on success */
	const char *name;	/* of the text, for messages */
	const char *pos;	/* reader: start of the next line */
	int line;		/* number of the line inih holds */
	int lines[K_N];		/* line that set each key; 0: not set */
	int section;		/* line of [nusad]; 0 before it */
	const struct key *last;	/* key of the latest key line */
	int cont;		/* this line continues last's value */
	int failed;
	int err_line;
	char *err;
	size_t cap;
};

static void errf(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* Writes the reason for a bad value into why; returns -NUSA_EMALFORMED. */
static int
bad(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && cap > 0) {
		va_start(ap, fmt);
		vsnprintf(why, cap, fmt, ap);
		va_end(ap);
	}
	return -NUSA_EMALFORMED;
}

/* Records the first error, "NAME:LINE: ..." (line 0: "NAME: ..."), and
 * returns 0, what an inih handler returns on error. */
static int
fail(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return 0;
	p->failed = 1;
	p->err_line = line;
	if (p->err == NULL || p->cap == 0)
		return 0;
	if (line > 0)
		n = snprintf(p->err, p->cap, "%s:%d: ", p->name, line);
	else
		n = snprintf(p->err, p->cap, "%s: ", p->name);
	if (n >= 0 && (size_t)n < p->cap) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->cap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return 0;
}

static int
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int
is_alnum(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z');
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Parses 1..5 digits without a leading zero: a port, an IPv4 octet. */
static long
small_number(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int
ipv4_ok(const char *s, size_t n)
{
	size_t i = 0, start, parts = 0;
	long v;

	while (parts < 4) {
		start = i;
		while (i < n && s[i] != '.')
			i++;
		v = small_number(s + start, i - start);
		if (v < 0 || v > 255)
			return 0;
		parts++;
		if (i == n)
			break;
		i++;
	}
	return parts == 4 && i == n;
}

/* Checks a host name: labels of letters, digits and '-', 1..63
 * characters, not starting or ending with '-', 253 characters in all. */
static int
dns_ok(const char *s, size_t n)
{
	size_t i, start = 0;

	if (n > 253)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-')
				return 0;
			continue;
		}
		if (i == start || i - start > 63 || s[start] == '-' ||
		    s[i - 1] == '-')
			return 0;
		start = i + 1;
	}
	return 1;
}

/* Returns NULL if s is an address, or why not; *wild says host is '*'. */
static const char *
addr_why(const char *s, int *wild)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr in6;
	const char *host, *end, *port;
	size_t n;
	long v;

	*wild = 0;
	if (strncmp(s, "tcp://", 6) != 0)
		return "must start with tcp://";
	if (strlen(s) >= CONFIG_ADDR_MAX)
		return "too long";
	host = s + 6;
	if (*host == '[') {
		if ((end = strchr(host, ']')) == NULL)
			return "'[' without ']'";
		n = (size_t)(end - host - 1);
		if (n == 0 || n >= sizeof(buf))
			return "not an IPv6 address";
		memcpy(buf, host + 1, n);
		buf[n] = '\0';
		if (inet_pton(AF_INET6, buf, &in6) != 1)
			return "not an IPv6 address";
		if (end[1] != ':')
			return "no :PORT after ']'";
		port = end + 2;
	} else {
		if ((end = strrchr(host, ':')) == NULL)
			return "no :PORT";
		n = (size_t)(end - host);
		port = end + 1;
		if (n == 0)
			return "no host";
		if (memchr(host, ':', n) != NULL)
			return "an IPv6 address goes in brackets, as in "
			       "tcp://[2001:db8::1]:7700";
		if (n == 1 && host[0] == '*')
			*wild = 1;
		else if (strspn(host, "0123456789.") >= n) {
			if (!ipv4_ok(host, n))
				return "not an IPv4 address";
		} else if (!dns_ok(host, n))
			return "host is not a name of letters, digits, "
			       "'-' and '.'";
	}
	v = small_number(port, strlen(port));
	if (v < 1 || v > 65535)
		return "port must be a number from 1 to 65535";
	return NULL;
}

int
config_addr_ok(const char *s, const char **why)
{
	const char *reason;
	int wild;

	if ((reason = addr_why(s, &wild)) == NULL)
		return 0;
	if (why != NULL)
		*why = reason;
	return -NUSA_EMALFORMED;
}

int
config_parse_peer(struct config_peer *p, const char *s, const char **why)
{
	char hex[2 * NUSA_KEY_LEN + 1];
	uint8_t id[NUSA_KEY_LEN];
	const char *at, *reason = NULL;
	int wild;

	if ((at = strchr(s, '@')) == NULL)
		reason = "no '@' between device id and address";
	else if ((size_t)(at - s) != 2 * NUSA_KEY_LEN)
		reason = "device id must be 64 hex digits";
	else {
		memcpy(hex, s, 2 * NUSA_KEY_LEN);
		hex[2 * NUSA_KEY_LEN] = '\0';
		if (nusa_unhex(id, NUSA_KEY_LEN, hex) != 0)
			reason = "device id must be 64 hex digits";
		else if ((reason = addr_why(at + 1, &wild)) == NULL && wild)
			reason = "host '*' is for listen; give the peer's "
				 "host";
	}
	if (reason != NULL) {
		if (why != NULL)
			*why = reason;
		return -NUSA_EMALFORMED;
	}
	memcpy(p->id, id, NUSA_KEY_LEN);
	strcpy(p->addr, at + 1);	/* fits: addr_why() checked */
	return 0;
}

/* metrics: "PORT" (127.0.0.1), "IPv4:PORT", "[IPv6]:PORT" or "". An IP
 * literal, not a name: what it binds must be plain to see. */
static int
hostport_set(struct config *c, const char *v, char *why, size_t cap)
{
	char host[64];
	unsigned char bin[16];
	const char *colon, *port;
	unsigned long p;
	char *end;
	size_t n;
	int v6 = 0;

	if (*v == '\0') {
		c->metrics[0] = '\0';
		return 0;
	}
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':')
			return bad(why, cap, "not an address: '%s' (expected "
			    "[IPv6]:PORT)", v);
		n = (size_t)(close - v - 1);
		port = close + 2;
		v6 = 1;
		if (n >= sizeof(host))
			return bad(why, cap, "address too long: '%s'", v);
		memcpy(host, v + 1, n);
		host[n] = '\0';
	} else if ((colon = strrchr(v, ':')) != NULL) {
		n = (size_t)(colon - v);
		port = colon + 1;
		if (n >= sizeof(host))
			return bad(why, cap, "address too long: '%s'", v);
		memcpy(host, v, n);
		host[n] = '\0';
	} else {
		snprintf(host, sizeof(host), "127.0.0.1");
		port = v;
	}
	if (*port == '\0' || strspn(port, "0123456789") != strlen(port) ||
	    (p = strtoul(port, &end, 10)) < 1 || p > 65535)
		return bad(why, cap, "not a port: '%s' (expected PORT, IP:PORT "
		    "or [IPv6]:PORT)", v);
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
		return bad(why, cap, "not an IP address: '%s' (expected PORT, "
		    "IP:PORT or [IPv6]:PORT; names are not taken)", v);
	snprintf(c->metrics, sizeof(c->metrics), v6 ? "[%s]:%lu" : "%s:%lu",
	    host, p);
	return 0;
}

/* disk_warn: "90%" (of the filesystem in use) or "500M" (free bytes). */
static int
diskwarn_set(struct config *c, const char *v, char *why, size_t cap)
{
	unsigned long long u;
	char *end;

	if (strspn(v, "0123456789") == 0)
		goto bad;
	errno = 0;
	u = strtoull(v, &end, 10);
	if (errno)
		goto bad;
	if (strcmp(end, "%") == 0) {
		if (u < 1 || u > 100)
			goto bad;
		c->disk_warn_pct = (unsigned)u;
		c->disk_warn_free = 0;
		return 0;
	}
	if (*end == 'K' || *end == 'k')
		u = u > (1ULL << 50) ? 0 : u << 10, end++;
	else if (*end == 'M' || *end == 'm')
		u = u > (1ULL << 40) ? 0 : u << 20, end++;
	else if (*end == 'G' || *end == 'g')
		u = u > (1ULL << 30) ? 0 : u << 30, end++;
	if (*end != '\0' || u == 0)
		goto bad;
	c->disk_warn_pct = 0;
	c->disk_warn_free = u;
	return 0;
bad:
	return bad(why, cap, "not a threshold: '%s' (expected N%% from 1 to "
	    "100, or free bytes N, NK, NM or NG)", v);
}

/* Writes what k takes, for messages: "box or hub". */
static void
expect(const struct key *k, char *buf, size_t cap)
{
	size_t i, n = 0;

	switch (k->type) {
	case KEY_PATH:
		snprintf(buf, cap, "an absolute path such as /var/lib/nusa");
		return;
	case KEY_LISTEN:
		snprintf(buf, cap, "tcp://HOST:PORT, or nothing");
		return;
	case KEY_IPC:
		snprintf(buf, cap, "ipc:///PATH");
		return;
	case KEY_PEERS:
	case KEY_PEER:
		snprintf(buf, cap, "%s", PEER_EXPECT);
		return;
	case KEY_UINT:
		snprintf(buf, cap, "a whole number from %u to %u", k->min,
		    k->max);
		return;
	case KEY_BOOL:
		snprintf(buf, cap, "yes or no");
		return;
	case KEY_HOSTPORT:
		snprintf(buf, cap, "PORT, IP:PORT or [IPv6]:PORT, or nothing");
		return;
	case KEY_DISKWARN:
		snprintf(buf, cap, "N%% from 1 to 100, or free bytes N, NK, "
		    "NM or NG");
		return;
	case KEY_HTTP:
		snprintf(buf, cap, "ADDRESS:PORT such as 0.0.0.0:8080, or "
		    "nothing");
		return;
	case KEY_ENUM:
		break;
	}
	buf[0] = '\0';
	while (k->names[n] != NULL)
		n++;
	for (i = 0; i < n; i++) {
		size_t len = strlen(buf);

		snprintf(buf + len, cap - len, "%s%s",
		    i == 0 ? "" : i + 1 < n ? ", " : " or ", k->names[i]);
	}
}

static int
has_control(const char *v, int tab_ok)
{
	for (; *v != '\0'; v++)
		if (((unsigned char)*v < 0x20 && !(tab_ok && *v == '\t')) ||
		    *v == 0x7f)
			return 1;
	return 0;
}

/* Adds the peers listed in v to c->peers; v may be empty. */
static int
peers_add(struct config *c, const struct key *k, const char *v, char *why,
    size_t cap)
{
	char tok[2 * NUSA_KEY_LEN + 1 + CONFIG_ADDR_MAX];
	struct config_peer p;
	const char *reason = NULL;
	size_t n, i;

	for (;;) {
		v += strspn(v, " \t");
		if (*v == '\0')
			return 0;
		n = strcspn(v, " \t");
		if (n >= sizeof(tok))
			return bad(why, cap, "not a peer: '%.*s...' (too long)",
			    QUOTE_MAX, v);
		memcpy(tok, v, n);
		tok[n] = '\0';
		v += n;
		if (config_parse_peer(&p, tok, &reason) != 0)
			return bad(why, cap, "not a peer: '%s' (%s; expected "
			    PEER_EXPECT ")", tok, reason);
		for (i = 0; i < c->npeers; i++) {
			if (memcmp(c->peers[i].id, p.id, NUSA_KEY_LEN) == 0)
				return bad(why, cap, "'%s' names the same "
				    "device as an earlier peer", tok);
			if (strcmp(c->peers[i].addr, p.addr) == 0)
				return bad(why, cap, "'%s' has the same "
				    "address as an earlier peer", tok);
		}
		if (c->npeers >= k->max)
			return bad(why, cap, "more than %u peers", k->max);
		c->peers[c->npeers++] = p;
	}
}

/* Sets key k of c from the text v; append adds to a list instead of
 * replacing it. Returns 0, or -NUSA_EMALFORMED with the reason in why. */
static int
set_value(struct config *c, const struct key *k, const char *v, int append,
    char *why, size_t cap)
{
	char want[80], *field = (char *)c + k->off;
	const char *reason;
	unsigned long long u;
	unsigned uv;
	char *end;
	size_t n;
	int i, wild;

	expect(k, want, sizeof(want));
	if (*v == '\0' && k->type != KEY_LISTEN && k->type != KEY_PEERS &&
	    k->type != KEY_PEER && k->type != KEY_HOSTPORT &&
	    k->type != KEY_HTTP)
		return bad(why, cap, "no value (expected %s)", want);
	if (has_control(v, k->type == KEY_PEERS))
		return bad(why, cap, "the value holds a control character");
	if (*v == '"' || *v == '\'')
		return bad(why, cap, "values take no quotes: %s", v);
	switch (k->type) {
	case KEY_PATH:
		n = strlen(v);
		if (v[0] != '/')
			return bad(why, cap, "not an absolute path: '%s' "
			    "(expected %s)", v, want);
		if (n >= k->size)
			return bad(why, cap, "path too long");
		while (n > 1 && v[n - 1] == '/')
			n--;
		memcpy(field, v, n);
		field[n] = '\0';
		return 0;
	case KEY_LISTEN:
		if (*v != '\0' && (reason = addr_why(v, &wild)) != NULL)
			return bad(why, cap, "not an address: '%s' (%s; "
			    "expected tcp://HOST:PORT)", v, reason);
		strcpy(field, v);	/* fits: addr_why() checked */
		return 0;
	case KEY_HTTP:
		if (*v != '\0' && config_http_addr(v, NULL, 0, NULL,
		    &reason) != 0)
			return bad(why, cap, "not an address: '%s' (%s; "
			    "expected %s)", v, reason, want);
		strcpy(field, v);	/* fits: config_http_addr() checked */
		return 0;
	case KEY_IPC:
		n = strlen(v);
		if (strncmp(v, "ipc:///", 7) != 0)
			return bad(why, cap, "not an ipc address: '%s' "
			    "(expected %s)", v, want);
		if (n - 6 > SOCK_PATH_MAX)
			return bad(why, cap, "socket path is %zu characters; "
			    "a Unix socket takes at most %zu", n - 6,
			    SOCK_PATH_MAX);
		if (v[n - 1] == '/')
			return bad(why, cap, "'%s' names a directory, not a "
			    "socket", v);
		strcpy(field, v);	/* n < SOCK_PATH_MAX + 7 < size */
		return 0;
	case KEY_PEERS:
		if (!append)
			c->npeers = 0;
		return peers_add(c, k, v, why, cap);
	case KEY_PEER:
		if (*v == '\0') {
			c->has_hub = 0;
			memset(&c->hub, 0, sizeof(c->hub));
			return 0;
		}
		if (strpbrk(v, " \t") != NULL)
			return bad(why, cap, "more than one hub: '%s' (list "
			    "other boxes in peers)", v);
		if (config_parse_peer(&c->hub, v, &reason) != 0)
			return bad(why, cap, "not a peer: '%s' (%s; expected "
			    PEER_EXPECT ")", v, reason);
		c->has_hub = 1;
		return 0;
	case KEY_BOOL:
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
		    !strcasecmp(v, "on") || !strcmp(v, "1"))
			i = 1;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
		    !strcasecmp(v, "off") || !strcmp(v, "0"))
			i = 0;
		else
			return bad(why, cap, "unknown value '%s' (expected "
			    "%s)", v, want);
		memcpy(field, &i, sizeof(i));
		return 0;
	case KEY_ENUM:
		for (i = 0; k->names[i] != NULL; i++)
			if (strcasecmp(v, k->names[i]) == 0)
				break;
		if (k->names[i] == NULL)
			return bad(why, cap, "unknown value '%s' (expected "
			    "%s)", v, want);
		memcpy(field, &i, sizeof(i));
		return 0;
	case KEY_UINT:
		if (strspn(v, "0123456789") != strlen(v))
			return bad(why, cap, "not a whole number: '%s' "
			    "(expected %s)", v, want);
		errno = 0;
		u = strtoull(v, &end, 10);
		if (errno != 0 || u < k->min || u > k->max)
			return bad(why, cap, "%s is out of range (expected "
			    "%s)", v, want);
		uv = (unsigned)u;
		memcpy(field, &uv, sizeof(uv));
		return 0;
	case KEY_HOSTPORT:
		return hostport_set(c, v, why, cap);
	case KEY_DISKWARN:
		return diskwarn_set(c, v, why, cap);
	}
	return bad(why, cap, "unknown type");
}

int
config_http_addr(const char *s, char *host, size_t cap, unsigned *port,
    const char **why)
{
	char h[CONFIG_ADDR_MAX];
	const char *colon, *hs = s;
	unsigned char bin[16];
	unsigned long p;
	size_t n;
	char *end;
	int v6 = 0;

	if (strlen(s) >= CONFIG_ADDR_MAX)
		return *why = "too long", -NUSA_EMALFORMED;
	if ((colon = strrchr(s, ':')) == NULL)
		return *why = "no :PORT", -NUSA_EMALFORMED;
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		hs = s + 1;
		n -= 2;
		v6 = 1;
	}
	memcpy(h, hs, n);
	h[n] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, h, bin) != 1)
		return *why = v6 ? "not an IPv6 address" : "not an IPv4 "
		    "address (IPv6 goes in brackets)", -NUSA_EMALFORMED;
	if (colon[1] < '0' || colon[1] > '9')
		return *why = "bad port", -NUSA_EMALFORMED;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || errno || p < 1 || p > 65535)
		return *why = "port out of range 1..65535", -NUSA_EMALFORMED;
	if (host && cap > n)
		memcpy(host, h, n + 1);
	if (port)
		*port = (unsigned)p;
	return 0;
}

int
config_http_sockaddr(const char *s, struct sockaddr_storage *ss,
    const char **why)
{
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	char host[CONFIG_ADDR_MAX];
	unsigned port;
	int rc;

	memset(ss, 0, sizeof(*ss));
	if ((rc = config_http_addr(s, host, sizeof(host), &port, why)) != 0)
		return rc;
	if (strchr(host, ':')) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		(void)inet_pton(AF_INET6, host, &v6->sin6_addr);
	} else {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		(void)inet_pton(AF_INET, host, &v4->sin_addr);
	}
	return 0;
}

void
config_defaults(struct config *c)
{
	size_t i;
	int rc;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < K_N; i++) {
		if (keys[i].def == NULL)
			continue;
		rc = set_value(c, &keys[i], keys[i].def, 0, NULL, 0);
		assert(rc == 0);
		(void)rc;
	}
}

/* Compares key names ignoring case and taking '-' for '_'. */
static int
name_like(const char *a, const char *b)
{
	char x, y;

	for (;; a++, b++) {
		x = *a == '-' ? '_' : *a;
		y = *b == '-' ? '_' : *b;
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (x != y)
			return 0;
		if (x == '\0')
			return 1;
	}
}

/* The length of from..to to quote in a message, for "%.*s". */
static int
quote_len(const char *from, const char *to)
{
	return to - from > QUOTE_MAX ? QUOTE_MAX : (int)(to - from);
}

/* Classifies one line for inih. Returns 0 to pass it on, or -1 after
 * fail(). s..end is the line without its comment or trailing space. */
static int
check_line(struct parse *p, const char *s, const char *end)
{
	const char *b = s, *rb, *sep;

	while (b < end && is_blank(*b))
		b++;
	if (b == end || *b == ';')
		return 0;
	if (b > s) {
		if (p->last != NULL && p->last->type == KEY_PEERS) {
			p->cont = 1;
			return 0;
		}
		fail(p, p->line, "indented line: only a peers list goes on "
		    "over indented lines; remove the indentation");
		return -1;
	}
	if (*b == '[') {
		if ((rb = memchr(b, ']', (size_t)(end - b))) == NULL) {
			fail(p, p->line, "'[' without ']': '%.*s'",
			    quote_len(b, end), b);
			return -1;
		}
		if (rb - b - 1 != 5 || memcmp(b + 1, "nusad", 5) != 0) {
			fail(p, p->line, "unknown section '%.*s' (nusad reads "
			    "only [nusad])", quote_len(b, rb + 1), b);
			return -1;
		}
		if (rb + 1 != end) {
			fail(p, p->line, "text after [nusad]: '%.*s'",
			    quote_len(rb + 1, end), rb + 1);
			return -1;
		}
		if (p->section != 0) {
			fail(p, p->line, "second [nusad] section (the first "
			    "is on line %d)", p->section);
			return -1;
		}
		p->section = p->line;
		p->last = NULL;
		return 0;
	}
	for (sep = b; sep < end && *sep != '=' && *sep != ':'; sep++)
		;
	if (sep == end || *sep == ':' || sep == b) {
		fail(p, p->line, "not a 'key = value' line: '%.*s'",
		    quote_len(b, end), b);
		return -1;
	}
	return 0;
}

/* The ini_reader: copies the next line into str (num bytes) for inih,
 * without its '#' comment. */
static char *
reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *s = p->pos, *end, *q;
	size_t len;

	if (p->failed || *s == '\0')
		return NULL;
	end = strchr(s, '\n');
	p->pos = end != NULL ? end + 1 : s + strlen(s);
	if (end == NULL)
		end = p->pos;
	p->line++;
	p->cont = 0;
	if (p->line == 1 && end - s >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	for (q = s; q < end; q++)
		if (*q == '#' && (q == s || is_blank(q[-1]))) {
			end = q;
			break;
		}
	while (end > s && (is_blank(end[-1]) || end[-1] == '\r'))
		end--;
	len = (size_t)(end - s);
	if (num < 3 || len > (size_t)num - 3) {
		fail(p, p->line, "line too long: %zu characters, at most %d "
		    "(a long peers list goes on over indented lines)", len,
		    num < 3 ? 0 : num - 3);
		return NULL;
	}
	if (check_line(p, s, end) != 0)
		return NULL;
	memcpy(str, s, len);
	str[len] = '\0';
	return str;
}

/* The ini_handler: one key = value, or a continuation of peers. */
static int
handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct parse *p = user;
	const struct key *k = NULL;
	char why[512];
	size_t i;

	if (p->failed)
		return 0;
	if (p->cont) {
		if (set_value(&p->c, p->last, value, 1, why, sizeof(why)))
			return fail(p, p->line, "%s: %s", p->last->name, why);
		return 1;
	}
	if (section[0] == '\0' || p->section == 0)
		return fail(p, p->line, "key '%s' before [nusad]: put a "
		    "line [nusad] above it", name);
	for (i = 0; i < K_N && k == NULL; i++)
		if (strcmp(name, keys[i].name) == 0)
			k = &keys[i];
	if (k == NULL) {
		for (i = 0; i < K_N; i++)
			if (name_like(name, keys[i].name))
				return fail(p, p->line, "unknown key '%s' in "
				    "[nusad] (did you mean '%s'?)", name,
				    keys[i].name);
		return fail(p, p->line, "unknown key '%s' in [nusad]", name);
	}
	if (p->lines[k - keys] != 0)
		return fail(p, p->line, "%s set twice (first on line %d)",
		    k->name, p->lines[k - keys]);
	p->lines[k - keys] = p->line;
	p->last = k;
	if (set_value(&p->c, k, value, 0, why, sizeof(why)) != 0)
		return fail(p, p->line, "%s: %s", k->name, why);
	return 1;
}

/* Checks what no single key can, and fills in control. */
static void
finish(struct parse *p)
{
	struct config *c = &p->c;
	size_t i, n;

	if (c->data_dir[0] == '\0') {
		fail(p, 0, "data_dir: missing: set data_dir = /ABSOLUTE/PATH "
		    "in [nusad]");
		return;
	}
	if (c->control[0] == '\0') {
		n = strlen(c->data_dir);
		if (n == 1)
			n = 0;	/* "/" */
		if (n + strlen("/nusad.sock") > SOCK_PATH_MAX) {
			fail(p, p->lines[K_DATA_DIR], "control: the default "
			    "socket %s/nusad.sock is too long for a Unix "
			    "socket (%zu characters at most): set control = "
			    "ipc:///SHORTER/PATH", c->data_dir, SOCK_PATH_MAX);
			return;
		}
		snprintf(c->control, sizeof(c->control),
		    "ipc://%.*s/nusad.sock", (int)n, c->data_dir);
	}
	for (i = 0; c->has_hub && i < c->npeers; i++)
		if (memcmp(c->peers[i].id, c->hub.id, NUSA_KEY_LEN) == 0) {
			fail(p, p->lines[K_HUB], "hub: the hub is listed in "
			    "peers too; list it once, as hub");
			return;
		}
	if (c->mode == CONFIG_HUB && c->listen[0] == '\0')
		fail(p, p->lines[K_MODE], "mode: a hub must listen: set "
		    "listen = tcp://0.0.0.0:7700");
	else if (c->mode == CONFIG_HUB && (c->npeers > 0 || c->has_hub))
		fail(p, p->lines[K_MODE], "mode: a hub does not dial out: "
		    "leave peers and hub empty");
}

int
config_parse_string(struct config *c, const char *text, const char *name,
    char *err, size_t cap)
{
	struct parse *p;
	int rc;

	errf(err, cap, "%s", "");
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		errf(err, cap, "%s: out of memory", name != NULL ? name :
		    "config");
		return -ENOMEM;
	}
	p->c = *c;
	p->name = name != NULL ? name : "config";
	p->pos = text;
	p->err = err;
	p->cap = cap;
	rc = ini_parse_stream(reader, p, handler, p);
	if (rc > 0 && (!p->failed || rc < p->err_line)) {
		p->failed = 0;
		fail(p, rc, "not a 'key = value' line");
	} else if (rc < 0 && !p->failed) {
		errf(err, cap, "%s: out of memory", p->name);
		free(p);
		return -ENOMEM;
	}
	if (!p->failed)
		finish(p);
	rc = p->failed ? -NUSA_EMALFORMED : 0;
	if (rc == 0)
		*c = p->c;
	free(p);
	return rc;
}

int
config_parse_file(struct config *c, const char *path, char *err, size_t cap)
{
	char *text = NULL, *nul, *q;
	size_t len;
	FILE *f;
	int rc, line;

	if ((f = fopen(path, "re")) == NULL) {
		rc = -errno;
		errf(err, cap, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if ((text = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		rc = -ENOMEM;
		errf(err, cap, "%s: out of memory", path);
		goto out;
	}
	errno = 0;
	len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = errno != 0 ? -errno : -EIO;
		errf(err, cap, "%s: %s", path, strerror(-rc));
		goto out;
	}
	if (len > CONFIG_FILE_MAX) {
		rc = -EFBIG;
		errf(err, cap, "%s: larger than %d bytes: not a config file?",
		    path, CONFIG_FILE_MAX);
		goto out;
	}
	text[len] = '\0';
	if ((nul = memchr(text, '\0', len)) != NULL) {
		line = 1;
		for (q = text; q < nul; q++)
			line += *q == '\n';
		rc = -NUSA_EMALFORMED;
		errf(err, cap, "%s:%d: a NUL byte: not a text file?", path,
		    line);
		goto out;
	}
	rc = config_parse_string(c, text, path, err, cap);
out:
	free(text);
	fclose(f);
	return rc;
}

static void
print_value(const struct config *c, const struct key *k, FILE *out)
{
	const char *field = (const char *)c + k->off;
	char hex[2 * NUSA_KEY_LEN + 1];
	unsigned u;
	size_t i;
	int v;

	fprintf(out, "%s =", k->name);
	switch (k->type) {
	case KEY_PATH:
	case KEY_LISTEN:
	case KEY_IPC:
	case KEY_HTTP:
		if (field[0] != '\0')
			fprintf(out, " %s", field);
		break;
	case KEY_PEERS:
		for (i = 0; i < c->npeers; i++)
			fprintf(out, "\n\t%s@%s", nusa_hex(hex,
			    c->peers[i].id, NUSA_KEY_LEN), c->peers[i].addr);
		break;
	case KEY_PEER:
		if (c->has_hub)
			fprintf(out, " %s@%s", nusa_hex(hex, c->hub.id,
			    NUSA_KEY_LEN), c->hub.addr);
		break;
	case KEY_BOOL:
	case KEY_ENUM:
		memcpy(&v, field, sizeof(v));
		for (i = 0; k->names[i] != NULL && (int)i != v; i++)
			;
		if (k->names[i] != NULL)
			fprintf(out, " %s", k->names[i]);
		break;
	case KEY_UINT:
		memcpy(&u, field, sizeof(u));
		fprintf(out, " %u", u);
		break;
	case KEY_HOSTPORT:
		if (c->metrics[0] != '\0')
			fprintf(out, " %s", c->metrics);
		break;
	case KEY_DISKWARN:
		if (c->disk_warn_free)
			fprintf(out, " %" PRIu64, c->disk_warn_free);
		else
			fprintf(out, " %u%%", c->disk_warn_pct);
		break;
	}
	fputc('\n', out);
}

int
config_print(const struct config *c, FILE *out)
{
	size_t i;

	fprintf(out, "# nusad configuration: every key, defaults filled "
	    "in.\n[nusad]\n");
	for (i = 0; i < K_N; i++) {
		fprintf(out, "\n# %s\n", keys[i].help);
		print_value(c, &keys[i], out);
	}
	return ferror(out) ? -EIO : 0;
}
