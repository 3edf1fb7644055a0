#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "testutil.h"

#define ID1 "e4d649819c34243093b79f44d6ab7180c8b956b0b495ac647d1ba0ed885baa04"
#define ID2 "163b412f6689a2f5401731302edbc588b2fe4f60b8e84e5afce6542b4f698751"
#define ID2U "163B412F6689A2F5401731302EDBC588B2FE4F60B8E84E5AFCE6542B4F698751"
#define ID3 "62ee702774cc12566e1261ca87b9ba02cd74269c5734403c8c47c2be6586ef7e"

/* Two lines of a valid config, so that errors in tests fall on line 3. */
#define H "[nusad]\ndata_dir = /d\n"

/* The example of the config contract, inline comment and all. */
static const char contract[] =
    "[nusad]\n"
    "data_dir = /var/lib/nusa\n"
    "listen = tcp://0.0.0.0:7700\n"
    "peers = " ID1 "@tcp://192.0.2.10:7700 " ID2U "@tcp://192.0.2.11:7700\n"
    "hub = " ID3 "@tcp://hub.example.org:7700\n"
    "discovery = yes\n"
    "mode = box            # or hub\n"
    "log_level = info\n";

static void
id(uint8_t out[NUSA_KEY_LEN], const char *hex)
{
	assert_int_equal(nusa_unhex(out, NUSA_KEY_LEN, hex), 0);
}

/* Parses text over the defaults as "t.conf". */
static int
parse(struct config *c, const char *text, char *err, size_t cap)
{
	config_defaults(c);
	return config_parse_string(c, text, "t.conf", err, cap);
}

static void
parse_ok(struct config *c, const char *text)
{
	char err[256];
	int rc = parse(c, text, err, sizeof(err));

	if (rc != 0)
		fail_msg("unexpected error %d: %s\n--\n%s--", rc, err, text);
	assert_string_equal(err, "");
}

static void
assert_config_equal(const struct config *a, const struct config *b)
{
	size_t i;

	assert_string_equal(a->data_dir, b->data_dir);
	assert_string_equal(a->listen, b->listen);
	assert_string_equal(a->control, b->control);
	assert_int_equal(a->npeers, b->npeers);
	for (i = 0; i < a->npeers; i++) {
		assert_memory_equal(a->peers[i].id, b->peers[i].id,
		    NUSA_KEY_LEN);
		assert_string_equal(a->peers[i].addr, b->peers[i].addr);
	}
	assert_int_equal(a->has_hub, b->has_hub);
	if (a->has_hub) {
		assert_memory_equal(a->hub.id, b->hub.id, NUSA_KEY_LEN);
		assert_string_equal(a->hub.addr, b->hub.addr);
	}
	assert_int_equal(a->discovery, b->discovery);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->heartbeat, b->heartbeat);
	assert_int_equal(a->max_sessions, b->max_sessions);
	assert_string_equal(a->metrics, b->metrics);
	assert_int_equal(a->disk_warn_pct, b->disk_warn_pct);
	assert_int_equal(a->disk_warn_free, b->disk_warn_free);
}

/* Parses text, expecting -NUSA_EMALFORMED, a message starting with
 * "t.conf:LINE: " ("t.conf: " for line 0) that holds every string of
 * want, and *c left as it was. */
static void
expect_error(const char *text, int line, const char *const *want)
{
	struct config c, before;
	char err[512], prefix[32];
	int rc;

	config_defaults(&c);
	strcpy(c.listen, "tcp://192.0.2.1:1");	/* must stay */
	before = c;
	rc = config_parse_string(&c, text, "t.conf", err, sizeof(err));
	if (rc != -NUSA_EMALFORMED)
		fail_msg("rc %d, message '%s' for\n--\n%s--", rc, err, text);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "t.conf:%d: ", line);
	else
		snprintf(prefix, sizeof(prefix), "t.conf: ");
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s' for\n--\n%s--", err,
		    prefix, text);
	for (; *want != NULL; want++)
		if (strstr(err, *want) == NULL)
			fail_msg("'%s' lacks '%s' for\n--\n%s--", err, *want,
			    text);
	if (strchr(err, '\n') != NULL)
		fail_msg("'%s' has a newline", err);
	assert_memory_equal(&c, &before, sizeof(c));
}

static void
test_contract_example(void **state)
{
	uint8_t a[NUSA_KEY_LEN], b[NUSA_KEY_LEN], h[NUSA_KEY_LEN];
	struct config c;

	(void)state;
	id(a, ID1);
	id(b, ID2);
	id(h, ID3);
	parse_ok(&c, contract);
	assert_string_equal(c.data_dir, "/var/lib/nusa");
	assert_string_equal(c.listen, "tcp://0.0.0.0:7700");
	assert_string_equal(c.control, "ipc:///var/lib/nusa/nusad.sock");
	assert_int_equal(c.npeers, 2);
	assert_memory_equal(c.peers[0].id, a, NUSA_KEY_LEN);
	assert_string_equal(c.peers[0].addr, "tcp://192.0.2.10:7700");
	assert_memory_equal(c.peers[1].id, b, NUSA_KEY_LEN);
	assert_string_equal(c.peers[1].addr, "tcp://192.0.2.11:7700");
	assert_true(c.has_hub);
	assert_memory_equal(c.hub.id, h, NUSA_KEY_LEN);
	assert_string_equal(c.hub.addr, "tcp://hub.example.org:7700");
	assert_int_equal(c.discovery, 1);
	assert_int_equal(c.mode, CONFIG_BOX);
	assert_int_equal(c.log_level, CONFIG_LOG_INFO);
	assert_int_equal(c.heartbeat, 10);
	assert_int_equal(c.max_sessions, 64);
}

static void
test_defaults(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	config_defaults(&c);
	assert_string_equal(c.data_dir, "");
	assert_string_equal(c.listen, "");
	assert_string_equal(c.control, "");
	assert_int_equal(c.npeers, 0);
	assert_false(c.has_hub);
	assert_int_equal(c.discovery, 1);
	assert_int_equal(c.mode, CONFIG_BOX);
	assert_int_equal(c.log_level, CONFIG_LOG_INFO);
	assert_int_equal(c.heartbeat, 10);
	assert_int_equal(c.max_sessions, 64);

	/* Only data_dir is required; control follows it. */
	parse_ok(&c, "[nusad]\ndata_dir = /srv/nusa//\n");
	assert_string_equal(c.data_dir, "/srv/nusa");
	assert_string_equal(c.control, "ipc:///srv/nusa/nusad.sock");
	assert_string_equal(c.listen, "");
	assert_int_equal(c.heartbeat, 10);
	parse_ok(&c, "[nusad]\ndata_dir = /\n");
	assert_string_equal(c.data_dir, "/");
	assert_string_equal(c.control, "ipc:///nusad.sock");

	/* Without data_dir, only a default from the caller will do. */
	assert_int_equal(parse(&c, "", err, sizeof(err)), -NUSA_EMALFORMED);
	assert_string_equal(err, "t.conf: data_dir: missing: set data_dir = "
	    "/ABSOLUTE/PATH in [nusad]");
	expect_error("[nusad]\nmode = box\n", 0,
	    (const char *[]){ "data_dir", "missing", NULL });
	config_defaults(&c);
	strcpy(c.data_dir, "/var/lib/nusa");
	assert_int_equal(config_parse_string(&c, "", "t.conf", err,
	    sizeof(err)), 0);
	assert_string_equal(c.control, "ipc:///var/lib/nusa/nusad.sock");
}

static void
test_caller_values(void **state)
{
	struct config c;
	char err[256];

	(void)state;
	config_defaults(&c);
	strcpy(c.data_dir, "/caller");
	c.heartbeat = 30;
	c.npeers = 1;
	id(c.peers[0].id, ID1);
	strcpy(c.peers[0].addr, "tcp://192.0.2.1:7700");
	assert_int_equal(config_parse_string(&c, "[nusad]\nlog_level = warn\n"
	    "listen = tcp://*:7700\n", "t.conf", err, sizeof(err)), 0);
	assert_string_equal(c.data_dir, "/caller");
	assert_int_equal(c.heartbeat, 30);
	assert_int_equal(c.npeers, 1);
	assert_int_equal(c.log_level, CONFIG_LOG_WARN);
	assert_string_equal(c.listen, "tcp://*:7700");

	/* A key in the text replaces the caller's value, a list whole. */
	assert_int_equal(config_parse_string(&c, "[nusad]\nheartbeat = 600\n"
	    "data_dir = /file\npeers = " ID2 "@tcp://192.0.2.2:7700\n",
	    "t.conf", err, sizeof(err)), 0);
	assert_int_equal(c.heartbeat, 600);
	assert_string_equal(c.data_dir, "/file");
	assert_int_equal(c.npeers, 1);
	assert_string_equal(c.peers[0].addr, "tcp://192.0.2.2:7700");
	/* control was resolved by the first parse and stays. */
	assert_string_equal(c.control, "ipc:///caller/nusad.sock");
}

static void
test_values(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES",
		"True" };
	static const char *const no[] = { "no", "false", "off", "0", "Off" };
	struct config c;
	char text[128];
	size_t i;

	(void)state;
	parse_ok(&c, H "discovery = NO\nmode = Hub\nlog_level = debug\n"
	    "listen = tcp://[::]:7700\nheartbeat = 1\nmax_sessions = 4096\n"
	    "control = ipc:///run/nusa/nusad.sock\n");
	assert_int_equal(c.discovery, 0);
	assert_int_equal(c.mode, CONFIG_HUB);
	assert_int_equal(c.log_level, CONFIG_LOG_DEBUG);
	assert_string_equal(c.listen, "tcp://[::]:7700");
	assert_int_equal(c.heartbeat, 1);
	assert_int_equal(c.max_sessions, 4096);
	assert_string_equal(c.control, "ipc:///run/nusa/nusad.sock");
	parse_ok(&c, H "heartbeat = 600\nmax_sessions = 1\nlog_level = "
	    "error\nhub =\npeers =\nlisten =\n");
	assert_int_equal(c.heartbeat, 600);
	assert_int_equal(c.max_sessions, 1);
	assert_int_equal(c.log_level, CONFIG_LOG_ERROR);
	assert_false(c.has_hub);
	assert_int_equal(c.npeers, 0);
	assert_string_equal(c.listen, "");
	parse_ok(&c, H "log_level = warn\nheartbeat = 0600\n");
	assert_int_equal(c.log_level, CONFIG_LOG_WARN);
	assert_int_equal(c.heartbeat, 600);

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), H "discovery = %s\n", yes[i]);
		parse_ok(&c, text);
		assert_int_equal(c.discovery, 1);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), H "discovery = %s\n", no[i]);
		parse_ok(&c, text);
		assert_int_equal(c.discovery, 0);
	}
}

/* The web app's address and files. */
static void
test_http(void **state)
{
	static const char *const addr[] = { "http", "not an address",
		"0.0.0.0:8080", NULL };
	static const char *const port[] = { "http", "port", NULL };
	struct config c;
	char host[64];
	const char *why;
	unsigned p;

	(void)state;
	parse_ok(&c, H);
	assert_string_equal(c.http, "");
	assert_string_equal(c.web_root, "/usr/share/nusa/web");
	parse_ok(&c, H "http = 0.0.0.0:8080\nweb_root = /srv/web/\n");
	assert_string_equal(c.http, "0.0.0.0:8080");
	assert_string_equal(c.web_root, "/srv/web");
	parse_ok(&c, H "http = [::1]:80\n");
	assert_int_equal(config_http_addr(c.http, host, sizeof(host), &p,
	    &why), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(p, 80);
	{
		struct sockaddr_storage ss;
		const struct sockaddr_in6 *v6 = (const void *)&ss;
		const struct sockaddr_in *v4 = (const void *)&ss;

		assert_int_equal(config_http_sockaddr(c.http, &ss, &why), 0);
		assert_int_equal(ss.ss_family, AF_INET6);
		assert_int_equal(ntohs(v6->sin6_port), 80);
		assert_memory_equal(&v6->sin6_addr, &in6addr_loopback, 16);
		assert_int_equal(config_http_sockaddr("127.0.0.2:9100", &ss,
		    &why), 0);
		assert_int_equal(ss.ss_family, AF_INET);
		assert_int_equal(ntohs(v4->sin_port), 9100);
		assert_int_equal(ntohl(v4->sin_addr.s_addr), 0x7f000002);
		assert_int_equal(config_http_sockaddr("127.0.0.2", &ss, &why),
		    -NUSA_EMALFORMED);
	}
	parse_ok(&c, H "http =\n");
	assert_string_equal(c.http, "");
	expect_error(H "http = localhost:8080\n", 3, addr);
	expect_error(H "http = tcp://0.0.0.0:8080\n", 3, addr);
	expect_error(H "http = 0.0.0.0\n", 3, addr);
	expect_error(H "http = 0.0.0.0:0\n", 3, port);
	expect_error(H "http = 0.0.0.0:65536\n", 3, port);
	expect_error(H "http = 0.0.0.0:80x\n", 3, port);
	expect_error(H "http = ::1:80\n", 3, addr);
	expect_error(H "web_root = web\n", 3, (const char *const[]){
	    "web_root", "absolute", NULL });
}

static void
test_comments(void **state)
{
	struct config c;

	(void)state;
	parse_ok(&c, "# a comment\n"
	    "   # an indented comment\n"
	    "; an inih comment\n"
	    "\n"
	    "[nusad]   # the section\n"
	    "data_dir = /a#b   # '#' inside a value stays\n"
	    "listen =\t# not listening\n"
	    "heartbeat = 20  #no space after '#' is needed\n"
	    "max_sessions = 9 ;inih's inline comment\n");
	assert_string_equal(c.data_dir, "/a#b");
	assert_string_equal(c.listen, "");
	assert_int_equal(c.heartbeat, 20);
	assert_int_equal(c.max_sessions, 9);
}

static void
test_continuation(void **state)
{
	uint8_t b[NUSA_KEY_LEN];
	struct config c;

	(void)state;
	id(b, ID2);
	parse_ok(&c, H "peers = " ID1 "@tcp://192.0.2.1:7700\n"
	    "\n"
	    "# the office next door\n"
	    "\t" ID2U "@tcp://[2001:db8::1]:7700   # upstairs\n"
	    "    " ID3 "@tcp://box3.example.org:7700\n"
	    "mode = box\n");
	assert_int_equal(c.npeers, 3);
	assert_memory_equal(c.peers[1].id, b, NUSA_KEY_LEN);
	assert_string_equal(c.peers[2].addr, "tcp://box3.example.org:7700");
	/* An error on a continuation line names that line. */
	expect_error(H "peers = " ID1 "@tcp://192.0.2.1:7700\n"
	    "    " ID3 "@tcp://box3.example.org:7700 " ID3 "0@x\n", 4,
	    (const char *[]){ "peers: not a peer: '" ID3 "0@x'",
	    "device id must be 64 hex digits", NULL });
	parse_ok(&c, H "peers =\n"
	    "\t" ID1 "@tcp://192.0.2.1:7700\n"
	    "\t" ID2U "@tcp://[2001:db8::1]:7700\n"
	    "log_level = debug\n");
	assert_int_equal(c.npeers, 2);
	assert_memory_equal(c.peers[1].id, b, NUSA_KEY_LEN);
	assert_string_equal(c.peers[1].addr, "tcp://[2001:db8::1]:7700");
	assert_int_equal(c.log_level, CONFIG_LOG_DEBUG);
}

struct bad {
	const char *text;
	int line;
	const char *want[4];
};

static const struct bad bads[] = {
	{ H "foo = 1\n", 3, { "unknown key 'foo' in [nusad]" } },
	{ H "Data-Dir = /x\n", 3, { "unknown key 'Data-Dir'",
	    "did you mean 'data_dir'?" } },
	{ H "listen = xyz\n", 3, { "listen: not an address: 'xyz'",
	    "must start with tcp://", "expected tcp://HOST:PORT" } },
	{ H "listen = tcp://192.0.2.1\n", 3, { "listen: ", "no :PORT" } },
	{ H "listen = tcp://192.0.2.1:0\n", 3, { "listen: ", "port" } },
	{ H "listen = tcp://192.0.2.1:65536\n", 3, { "listen: ", "port" } },
	{ H "listen = tcp://192.0.2.1:77x\n", 3, { "listen: ", "port" } },
	{ H "listen = tcp://256.0.2.1:7700\n", 3, { "listen: ", "IPv4" } },
	{ H "listen = tcp://::1:7700\n", 3, { "listen: ", "brackets" } },
	{ H "listen = tcp://[zz::1]:7700\n", 3, { "listen: ", "IPv6" } },
	{ H "listen = tcp://bad_host:7700\n", 3, { "listen: ",
	    "'tcp://bad_host:7700'", "letters, digits" } },
	{ H "listen = \"tcp://192.0.2.1:7700\"\n", 3, { "listen: ",
	    "no quotes" } },
	{ H "heartbeat = 0\n", 3, { "heartbeat: 0 is out of range",
	    "from 1 to 600" } },
	{ H "heartbeat = 601\n", 3, { "heartbeat: 601 is out of range" } },
	{ H "heartbeat = 99999999999999999999999\n", 3, { "heartbeat: ",
	    "out of range" } },
	{ H "heartbeat = 10s\n", 3, { "heartbeat: not a whole number: '10s'",
	    "from 1 to 600" } },
	{ H "heartbeat = -1\n", 3, { "heartbeat: not a whole number" } },
	{ H "heartbeat = 1 0\n", 3, { "heartbeat: not a whole number" } },
	{ H "heartbeat =\n", 3, { "heartbeat: no value",
	    "a whole number from 1 to 600" } },
	{ H "max_sessions = 0\n", 3, { "max_sessions: 0 is out of range",
	    "1 to 4096" } },
	{ H "max_sessions = 4097\n", 3, { "max_sessions: 4097 is out" } },
	{ H "mode = boxx\n", 3, { "mode: unknown value 'boxx'",
	    "(expected box or hub)" } },
	{ H "mode = hub# comment\n", 3, { "mode: unknown value 'hub#" } },
	{ H "mode =\n", 3, { "mode: no value" } },
	{ H "log_level = verbose\n", 3, { "log_level: unknown value",
	    "error, warn, info or debug" } },
	{ H "discovery = maybe\n", 3, { "discovery: unknown value 'maybe'",
	    "yes or no" } },
	{ H "data_dir = /e\n", 3, { "data_dir set twice (first on line 2)" } },
	{ H "mode = box\nmode = box\n", 4, { "mode set twice" } },
	{ "[nusad]\ndata_dir = var/lib/nusa\n", 2, { "data_dir: not an "
	    "absolute path: 'var/lib/nusa'" } },
	{ "[nusad]\ndata_dir =\n", 2, { "data_dir: no value" } },
	{ "[nusad]\ndata_dir = /a\x01" "b\n", 2, { "data_dir: ",
	    "control character" } },
	{ H "control = tcp://192.0.2.1:1\n", 3, { "control: not an ipc "
	    "address" } },
	{ H "control = ipc://run/x.sock\n", 3, { "control: not an ipc" } },
	{ H "control = ipc:///run/\n", 3, { "control: ", "directory" } },
	{ H "control =\n", 3, { "control: no value" } },
	{ H "peers = " ID1 "@tcp://a:1 " ID1 "@tcp://b:1\n", 3, { "peers: '"
	    ID1 "@tcp://b:1' names the same device" } },
	{ H "peers = " ID1 "@tcp://a:1 " ID2U "@tcp://a:1\n", 3, { "peers: ",
	    "same address" } },
	{ H "peers = abc@tcp://a:1\n", 3, { "peers: not a peer: "
	    "'abc@tcp://a:1'", "64 hex digits", "DEVICE_ID@tcp://HOST:PORT" } },
	{ H "peers = " ID1 "0@tcp://a:1\n", 3, { "peers: ", "64 hex" } },
	{ H "peers = g" ID1 "@tcp://a:1\n", 3, { "peers: ", "64 hex" } },
	{ H "peers = " ID1 "tcp://a:1\n", 3, { "peers: ", "no '@'" } },
	{ H "peers = " ID1 "@tcp://*:7700\n", 3, { "peers: ", "'*'" } },
	{ H "peers = " ID1 "@tcp://a:1\nlisten =\n  " ID2 "@tcp://b:1\n", 5,
	    { "indented line" } },
	{ H "hub = " ID1 "@tcp://a:1 " ID2 "@tcp://b:1\n", 3, {
	    "hub: more than one hub" } },
	{ H "hub = " ID1 "@udp://a:1\n", 3, { "hub: not a peer: '",
	    "tcp://" } },
	{ H "hub = " ID1 "@tcp://a:1\npeers = " ID1 "@tcp://b:1\n", 3, {
	    "hub: the hub is listed in peers too" } },
	{ H "mode = hub\nlisten =\n", 3, { "mode: a hub must listen" } },
	{ H "listen = tcp://*:1\npeers = " ID1 "@tcp://a:1\nmode = hub\n", 5,
	    { "mode: a hub does not dial out" } },
	{ H "mode = hub\nlisten = tcp://*:1\nhub = " ID1 "@tcp://a:1\n", 3,
	    { "mode: a hub does not dial out" } },
	{ H "[other]\n", 3, { "unknown section '[other]'",
	    "only [nusad]" } },
	{ H "[Nusad]\nmode = hub\n", 3, { "unknown section '[Nusad]'" } },
	{ "[network]\nname = x\n[nusad]\ndata_dir = /d\n", 1, {
	    "unknown section '[network]'" } },
	{ H "[nusad]\n", 3, { "second [nusad] section (the first is on "
	    "line 1)" } },
	{ H "[nusad\n", 3, { "'[' without ']'" } },
	{ H "[nusad] x\n", 3, { "text after [nusad]" } },
	{ "data_dir = /x\n[nusad]\n", 1, { "key 'data_dir' before [nusad]" } },
	{ "\n\nmode = box\n", 3, { "key 'mode' before [nusad]" } },
	{ H "garbage\n", 3, { "not a 'key = value' line: 'garbage'" } },
	{ H "listen: tcp://192.0.2.1:7700\n", 3, { "not a 'key = value'" } },
	{ H "= 5\n", 3, { "not a 'key = value'" } },
	{ H "  mode = box\n", 3, { "indented line" } },
	{ "[nusad]\n  data_dir = /d\n", 2, { "indented line" } },
	{ H "mode ;= box\n", 3, { "not a 'key = value' line" } },
};

static void
test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		expect_error(bads[i].text, bads[i].line, bads[i].want);
}

static void
test_long_lines(void **state)
{
	char text[8192], *p;
	struct config c;
	size_t i;
	int n;

	(void)state;

	/* A line inih would cut in two is refused, not read as two. */
	n = snprintf(text, sizeof(text), H "listen = tcp://");
	memset(text + n, 'a', 200);
	strcpy(text + n + 200, ".org:7700\nmode = box\n");
	expect_error(text, 3, (const char *[]){ "line too long",
	    "at most 197", NULL });
	/* The longest line that fits is read. */
	n = snprintf(text, sizeof(text), H "listen = tcp://");
	for (i = 0; i < 3; i++) {
		memset(text + n, 'a', 50);
		n += 50;
		text[n++] = '.';
	}
	memset(text + n, 'b', 197 - 9 - 6 - 153 - 5);
	n += 197 - 9 - 6 - 153 - 5;
	strcpy(text + n, ":7700\n");
	parse_ok(&c, text);
	assert_int_equal(strlen(c.listen), 197 - 9);
	/* Comments do not count. */
	n = snprintf(text, sizeof(text), H "mode = hub  # ");
	memset(text + n, 'c', 400);
	strcpy(text + n + 400, "\nlisten = tcp://*:1\n");
	parse_ok(&c, text);
	assert_int_equal(c.mode, CONFIG_HUB);

	/* 64 peers fit, one per line; 65 do not. */
	p = text + snprintf(text, sizeof(text), H "peers =\n");
	for (i = 0; i < CONFIG_PEERS_MAX + 1; i++)
		p += sprintf(p, "\t%064zx@tcp://192.0.2.%zu:7700\n", i + 1,
		    i + 1);
	expect_error(text, 3 + CONFIG_PEERS_MAX + 1, (const char *[]){
	    "peers: more than 64 peers", NULL });
	*strrchr(text, '\t') = '\0';
	parse_ok(&c, text);
	assert_int_equal(c.npeers, CONFIG_PEERS_MAX);
	assert_string_equal(c.peers[63].addr, "tcp://192.0.2.64:7700");
	assert_int_equal(c.peers[63].id[NUSA_KEY_LEN - 1], 64);

	/* The control socket must fit a Unix socket address. */
	n = snprintf(text, sizeof(text), H "control = ipc:///");
	memset(text + n, 's', 107);
	strcpy(text + n + 107, "\n");
	expect_error(text, 3, (const char *[]){ "control: socket path is "
	    "108 characters", "at most 107", NULL });
	text[n + 106] = '\n';
	text[n + 107] = '\0';
	parse_ok(&c, text);
	assert_int_equal(strlen(c.control), 6 + 107);
	n = snprintf(text, sizeof(text), "[nusad]\ndata_dir = /");
	memset(text + n, 'd', 100);
	strcpy(text + n + 100, "\n");
	expect_error(text, 2, (const char *[]){ "control: the default socket",
	    "set control = ipc:///", NULL });
	strcat(text, "control = ipc:///run/nusad.sock\n");
	parse_ok(&c, text);
}

static void
test_error_buffer(void **state)
{
	struct config c;
	char err[12];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(parse(&c, H "foo = 1\n", err, sizeof(err)),
	    -NUSA_EMALFORMED);
	assert_string_equal(err, "t.conf:3: u");
	assert_int_equal(parse(&c, H "foo = 1\n", NULL, 0), -NUSA_EMALFORMED);
	assert_int_equal(parse(&c, H, err, 1), 0);
	assert_string_equal(err, "");
	/* An error in the middle wins over a later one. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(config_parse_string(&c, H "mode = x\nfoo = 1\n",
	    NULL, err, sizeof(err)), -NUSA_EMALFORMED);
	assert_string_equal(err, "config:3: m");
}

static void
test_addr(void **state)
{
	static const char *const good[] = {
		"tcp://0.0.0.0:7700",
		"tcp://*:7700",
		"tcp://192.0.2.10:1",
		"tcp://255.255.255.255:65535",
		"tcp://hub.example.org:7700",
		"tcp://localhost:7700",
		"tcp://a-b.c9:80",
		"tcp://xn--80ak6aa92e.com:7700",
		"tcp://[::1]:7700",
		"tcp://[::]:7700",
		"tcp://[2001:db8::1]:7700",
		"tcp://[::ffff:192.0.2.1]:7700",
	};
	static const char *const bad[] = {
		"",
		"tcp://",
		"tcp://:7700",
		"TCP://192.0.2.10:7700",
		"udp://192.0.2.10:7700",
		"tcp:/192.0.2.10:7700",
		"tcp://192.0.2.10:",
		"tcp://192.0.2.10:07700",
		"tcp://192.0.2.10:+770",
		"tcp://192.0.2.10:-1",
		"tcp://192.0.2.10:123456",
		"tcp://192.0.2.10:7700 ",
		"tcp://192.0.2.10:7700/x",
		"tcp://192.0.2:7700",
		"tcp://192.0.2.1.5:7700",
		"tcp://192.0.2.010:7700",
		"tcp://192.0.2.:7700",
		"tcp://300.0.2.1:7700",
		"tcp://[::1]7700",
		"tcp://[::1:7700",
		"tcp://[]:7700",
		"tcp://[192.0.2.1]:7700",
		"tcp://fe80::1:7700",
		"tcp://a..b:7700",
		"tcp://.a:7700",
		"tcp://a.:7700",
		"tcp://-a.org:7700",
		"tcp://a-.org:7700",
		"tcp://a_b.org:7700",
		"tcp://a b:7700",
		"tcp://**:7700",
	};
	char longer[512], label[70];
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (config_addr_ok(good[i], NULL) != 0)
			fail_msg("refused '%s'", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (config_addr_ok(bad[i], &why) != -NUSA_EMALFORMED)
			fail_msg("accepted '%s'", bad[i]);
		assert_non_null(why);
	}
	/* 63 characters in a label are fine, 64 are not. */
	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(longer, sizeof(longer), "tcp://%s.org:7700", label);
	assert_int_equal(config_addr_ok(longer, NULL), 0);
	snprintf(longer, sizeof(longer), "tcp://b%s.org:7700", label);
	assert_int_equal(config_addr_ok(longer, &why), -NUSA_EMALFORMED);
	assert_string_equal(why, "host is not a name of letters, digits, "
	    "'-' and '.'");
	/* Nor are CONFIG_ADDR_MAX characters in all. */
	snprintf(longer, sizeof(longer), "tcp://%s.%s.%s.%s:7700", label,
	    label, label, label + 11);
	assert_int_equal(strlen(longer), CONFIG_ADDR_MAX - 1);
	assert_int_equal(config_addr_ok(longer, NULL), 0);
	snprintf(longer, sizeof(longer), "tcp://%s.%s.%s.%s:7700", label,
	    label, label, label + 10);
	assert_int_equal(config_addr_ok(longer, &why), -NUSA_EMALFORMED);
	assert_string_equal(why, "too long");
	why = NULL;
	assert_int_equal(config_addr_ok("tcp://192.0.2.1", &why),
	    -NUSA_EMALFORMED);
	assert_string_equal(why, "no :PORT");
}

static void
test_peer(void **state)
{
	static const struct {
		const char *s, *why;
	} bad[] = {
		{ "", "no '@' between device id and address" },
		{ ID2, "no '@' between device id and address" },
		{ "@tcp://192.0.2.1:7700", "device id must be 64 hex digits" },
		{ ID2 "0@tcp://h:1", "device id must be 64 hex digits" },
		{ "63b412f6689a2f5401731302edbc588"
		    "b2fe4f60b8e84e5afce6542b4f698751@tcp://h:1",
		    "device id must be 64 hex digits" },
		{ "z63b412f6689a2f5401731302edbc588"
		    "b2fe4f60b8e84e5afce6542b4f698751@tcp://h:1",
		    "device id must be 64 hex digits" },
		{ " 63b412f6689a2f5401731302edbc588"
		    "b2fe4f60b8e84e5afce6542b4f698751@tcp://h:1",
		    "device id must be 64 hex digits" },
		{ ID2 "@", "must start with tcp://" },
		{ ID2 "@tcp://h", "no :PORT" },
		{ ID2 "@tcp://*:7700", "host '*' is for listen; give the "
		    "peer's host" },
		{ ID2 "@" ID1 "@tcp://h:1", "must start with tcp://" },
	};
	uint8_t want[NUSA_KEY_LEN];
	struct config_peer p, q;
	const char *why;
	size_t i;

	(void)state;
	id(want, ID2);
	assert_int_equal(config_parse_peer(&p, ID2 "@tcp://192.0.2.1:7700",
	    NULL), 0);
	assert_memory_equal(p.id, want, NUSA_KEY_LEN);
	assert_string_equal(p.addr, "tcp://192.0.2.1:7700");
	memset(&p, 0, sizeof(p));
	assert_int_equal(config_parse_peer(&p, ID2U "@tcp://[::1]:1", NULL),
	    0);
	assert_memory_equal(p.id, want, NUSA_KEY_LEN);
	assert_string_equal(p.addr, "tcp://[::1]:1");
	assert_int_equal(config_parse_peer(&p, "163b412f6689a2f5401731302EDBC"
	    "588b2fe4f60b8e84e5afce6542b4f698751@tcp://h:2", NULL), 0);
	assert_memory_equal(p.id, want, NUSA_KEY_LEN);

	memset(&p, 0xa5, sizeof(p));
	q = p;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(config_parse_peer(&p, bad[i].s, &why),
		    -NUSA_EMALFORMED);
		if (why == NULL || strcmp(why, bad[i].why) != 0)
			fail_msg("'%s': why '%s', want '%s'", bad[i].s,
			    why ? why : "(null)", bad[i].why);
		assert_memory_equal(&p, &q, sizeof(p));
	}
}

/* Prints c and parses the output back. */
static void
round_trip(const struct config *c, char **text)
{
	struct config back;
	size_t len;
	FILE *f;

	f = open_memstream(text, &len);
	assert_non_null(f);
	assert_int_equal(config_print(c, f), 0);
	assert_int_equal(fclose(f), 0);
	parse_ok(&back, *text);
	assert_config_equal(c, &back);
}

static void
test_round_trip(void **state)
{
	struct config c;
	char *text;

	(void)state;
	parse_ok(&c, contract);
	round_trip(&c, &text);
	/* Ids come out in lowercase; every key is there. */
	assert_non_null(strstr(text, "\n\t" ID2 "@tcp://192.0.2.11:7700\n"));
	assert_null(strstr(text, ID2U));
	assert_non_null(strstr(text, "\ncontrol = ipc:///var/lib/nusa/"
	    "nusad.sock\n"));
	assert_non_null(strstr(text, "\ndiscovery = yes\n"));
	assert_non_null(strstr(text, "\nmode = box\n"));
	assert_non_null(strstr(text, "\nlog_level = info\n"));
	assert_non_null(strstr(text, "\nheartbeat = 10\n"));
	assert_non_null(strstr(text, "\nmax_sessions = 64\n"));
	free(text);

	parse_ok(&c, H "peers =\n"
	    "\t" ID1 "@tcp://192.0.2.1:7700\n"
	    "\t" ID2U "@tcp://[2001:db8::1]:7700\n"
	    "\t" ID3 "@tcp://box3.example.org:7700\n"
	    "listen = tcp://[::]:7700\ncontrol = ipc:///run/n.sock\n"
	    "discovery = off\nlog_level = debug\n"
	    "heartbeat = 600\nmax_sessions = 4096\n");
	round_trip(&c, &text);
	assert_non_null(strstr(text, "\ndiscovery = no\n"));
	assert_non_null(strstr(text, "\nhub =\n"));
	free(text);
	parse_ok(&c, H "mode = hub\nlisten = tcp://*:7700\nlog_level = warn\n");
	round_trip(&c, &text);
	assert_non_null(strstr(text, "\nmode = hub\n"));
	free(text);

	/* A config with nothing but defaults. */
	parse_ok(&c, "[nusad]\ndata_dir = /d\n");
	round_trip(&c, &text);
	assert_non_null(strstr(text, "\nlisten =\n"));
	assert_non_null(strstr(text, "\npeers =\n"));
	free(text);
}

/* Reads the whole of path into a string, or returns NULL. */
static char *
slurp(const char *path)
{
	char *buf;
	long n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
test_shipped_conf(void **state)
{
	static const char *const names[] = { "data_dir", "listen", "control",
		"peers", "hub", "discovery", "mode", "log_level", "heartbeat",
		"max_sessions", "metrics", "disk_warn" };
	const char *path = "systemd/nusad.conf";
	struct config c, d;
	char err[256], want[64], *text, *out, *line, *next, *o;
	size_t i;

	(void)state;
	if ((text = slurp(path)) == NULL) {
		print_message("%s not found (run from the repository root): "
		    "skipped\n", path);
		skip();
	}
	config_defaults(&c);
	if (config_parse_file(&c, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_string_equal(c.data_dir, "/var/lib/nusa");
	assert_string_equal(c.listen, "tcp://0.0.0.0:7700");
	assert_string_equal(c.control, "ipc:///var/lib/nusa/nusad.sock");
	/* The keys the file sets state their defaults. */
	config_defaults(&d);
	strcpy(d.data_dir, c.data_dir);
	strcpy(d.listen, c.listen);
	strcpy(d.control, c.control);
	assert_config_equal(&c, &d);

	/* Every key is documented, at the start of a line. */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "\n# %s: ", names[i]);
		if (strstr(text, want) == NULL)
			fail_msg("%s does not document %s", path, names[i]);
	}

	/* The commented-out examples are valid too. */
	out = malloc(strlen(text) + 1);
	assert_non_null(out);
	o = out;
	for (line = text; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		next = next != NULL ? next + 1 : line + strlen(line);
		if (strncmp(line, "peers =\n", 8) == 0 ||
		    strncmp(line, "hub =\n", 6) == 0)
			continue;
		if (strncmp(line, "#peers =", 8) == 0 ||
		    strncmp(line, "#\t", 2) == 0 ||
		    strncmp(line, "#hub =", 6) == 0 ||
		    strncmp(line, "#control =", 10) == 0)
			line++;
		memcpy(o, line, (size_t)(next - line));
		o += next - line;
	}
	*o = '\0';
	config_defaults(&c);
	if (config_parse_string(&c, out, "examples", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.npeers, 2);
	assert_true(c.has_hub);
	assert_string_equal(c.hub.addr, "tcp://hub.example.org:7700");
	assert_string_equal(c.control, "ipc:///run/nusa/nusad.sock");
	free(out);
	free(text);
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_parse_file(void **state)
{
	static const char crlf[] = "\xef\xbb\xbf[nusad]\r\ndata_dir = /d\r\n"
	    "peers = " ID1 "@tcp://192.0.2.1:7700 \r\n"
	    "\t" ID2 "@tcp://192.0.2.2:7700\r\nlog_level = debug\r\n"
	    "listen = tcp://*:7700";
	static const char nul[] = "[nusad]\ndata_dir = /d\nmode = b\0x\n";
	char dir[64], path[128], err[256], *big;
	struct config c;

	(void)state;
	testutil_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/nusad.conf", dir);

	/* A BOM, CRLF line ends and no newline at the end. */
	write_file(path, crlf, sizeof(crlf) - 1);
	config_defaults(&c);
	if (config_parse_file(&c, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.npeers, 2);
	assert_string_equal(c.peers[0].addr, "tcp://192.0.2.1:7700");
	assert_int_equal(c.log_level, CONFIG_LOG_DEBUG);
	assert_string_equal(c.listen, "tcp://*:7700");

	/* Messages name the file. */
	write_file(path, H "heartbeat = 0\n", strlen(H) + 14);
	config_defaults(&c);
	assert_int_equal(config_parse_file(&c, path, err, sizeof(err)),
	    -NUSA_EMALFORMED);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_non_null(strstr(err, ":3: heartbeat: 0 is out of range"));

	write_file(path, nul, sizeof(nul) - 1);
	assert_int_equal(config_parse_file(&c, path, err, sizeof(err)),
	    -NUSA_EMALFORMED);
	assert_non_null(strstr(err, ":3: a NUL byte"));

	big = malloc(CONFIG_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '\n', CONFIG_FILE_MAX + 1);
	write_file(path, big, CONFIG_FILE_MAX + 1);
	assert_int_equal(config_parse_file(&c, path, err, sizeof(err)),
	    -EFBIG);
	assert_non_null(strstr(err, "larger than"));
	free(big);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(config_parse_file(&c, path, err, sizeof(err)),
	    -ENOENT);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_int_equal(config_parse_file(&c, dir, err, sizeof(err)),
	    -EISDIR);
	assert_true(strncmp(err, dir, strlen(dir)) == 0);
	testutil_rmtree(dir);
}

/* metrics and disk_warn: off and 90% by default; a port alone stays on
 * loopback; names and nonsense are refused; both print back. */
static void
test_metrics_disk_warn(void **state)
{
	struct config c, d;
	char buf[4096];
	FILE *f;

	(void)state;
	parse_ok(&c, H);
	assert_string_equal(c.metrics, "");
	assert_int_equal(c.disk_warn_pct, 90);
	assert_int_equal(c.disk_warn_free, 0);
	parse_ok(&c, H "metrics = 9100\ndisk_warn = 500M\n");
	assert_string_equal(c.metrics, "127.0.0.1:9100");
	assert_int_equal(c.disk_warn_pct, 0);
	assert_int_equal(c.disk_warn_free, 500ULL << 20);
	parse_ok(&c, H "metrics = 0.0.0.0:9100\ndisk_warn = 75%\n");
	assert_string_equal(c.metrics, "0.0.0.0:9100");
	assert_int_equal(c.disk_warn_pct, 75);
	parse_ok(&c, H "metrics = [::1]:9100\n");
	assert_string_equal(c.metrics, "[::1]:9100");
	parse_ok(&c, H "metrics =\n");
	assert_string_equal(c.metrics, "");

	f = fmemopen(buf, sizeof(buf), "w");
	assert_non_null(f);
	parse_ok(&c, H "metrics = 9100\ndisk_warn = 2G\n");
	assert_int_equal(config_print(&c, f), 0);
	fclose(f);
	parse_ok(&d, buf);
	assert_string_equal(d.metrics, "127.0.0.1:9100");
	assert_int_equal(d.disk_warn_free, 2ULL << 30);

	expect_error(H "metrics = example.org:9100\n", 3,
	    (const char *const[]){ "metrics", "not an IP address", NULL });
	expect_error(H "metrics = 70000\n", 3,
	    (const char *const[]){ "metrics", "not a port", NULL });
	expect_error(H "metrics = 127.0.0.1:\n", 3,
	    (const char *const[]){ "not a port", NULL });
	expect_error(H "disk_warn = 101%\n", 3,
	    (const char *const[]){ "disk_warn", "not a threshold", NULL });
	expect_error(H "disk_warn = 0\n", 3,
	    (const char *const[]){ "not a threshold", NULL });
	expect_error(H "disk_warn = 5T\n", 3,
	    (const char *const[]){ "not a threshold", NULL });
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contract_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_caller_values),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_peer),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_shipped_conf),
		cmocka_unit_test(test_parse_file),
		cmocka_unit_test(test_metrics_disk_warn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
