/* The nusad config file: INI, one [nusad] section, every key in one table
 * in config.c. Parsing validates everything before the daemon starts and
 * names file, line, key and value in its one-line error message;
 * config_print() writes the result back as a config file. */
#ifndef NUSA_CONFIG_H
#define NUSA_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "nusa.h"

#define CONFIG_PEERS_MAX 64	/* items in peers */
#define CONFIG_ADDR_MAX	 256	/* bytes of an address and its NUL */
#define CONFIG_FILE_MAX	 (256 * 1024) /* bytes of a config file */

/* A box to sync with: its device id (Ed25519 public key) and address. */
struct config_peer {
	uint8_t id[NUSA_KEY_LEN];
	char addr[CONFIG_ADDR_MAX];	/* "tcp://HOST:PORT" */
};

enum config_mode {
	CONFIG_BOX,		/* one cooperative's box */
	CONFIG_HUB		/* a regional hub serving many */
};

enum config_log {
	CONFIG_LOG_ERROR,
	CONFIG_LOG_WARN,
	CONFIG_LOG_INFO,
	CONFIG_LOG_DEBUG
};

struct config {
	char data_dir[PATH_MAX];	/* absolute, no trailing '/' */
	char listen[CONFIG_ADDR_MAX];	/* "" when not listening */
	char control[CONFIG_ADDR_MAX];	/* "ipc:///PATH" */
	struct config_peer peers[CONFIG_PEERS_MAX];
	size_t npeers;
	struct config_peer hub;		/* valid if has_hub */
	int has_hub;
	int discovery;			/* 0 or 1 */
	enum config_mode mode;
	enum config_log log_level;
	unsigned heartbeat;		/* seconds, 1..600 */
	unsigned max_sessions;		/* 1..4096 */
	/* metrics: "IP:PORT" or "[IPv6]:PORT"; "" is off. disk_warn: a
	 * percentage of the disk used, or (if not 0) free bytes below. */
	char metrics[CONFIG_ADDR_MAX];
	unsigned disk_warn_pct;
	uint64_t disk_warn_free;
	char http[CONFIG_ADDR_MAX];	/* "ADDRESS:PORT"; "" no web app */
	char web_root[PATH_MAX];	/* the web app's files */
};

/* Sets every key to its default: no data_dir, not listening, no peers, no
 * hub, discovery on, box, info, heartbeat 10, max_sessions 64, and control
 * empty (parsing resolves it to ipc://DATA_DIR/nusad.sock). */
void config_defaults(struct config *c);

/* Parses the INI text into c. Keys the text leaves out keep the value
 * they have in *c: call config_defaults(c) first, then set any default of
 * the caller's own (data_dir). An empty control becomes
 * ipc://DATA_DIR/nusad.sock. Only a [nusad] section is accepted; '#' at
 * the start of a line or after a space or tab starts a comment; a peers
 * list may continue on indented lines. name names the text in messages.
 * Returns 0, or -NUSA_EMALFORMED (or -ENOMEM) and writes one line without
 * a newline into err (cap bytes, truncated; err may be NULL if cap is 0),
 * such as "nusad.conf:4: listen: not an address: 'xyz' (must start with
 * tcp://; expected tcp://HOST:PORT)". On error *c is unchanged. */
int config_parse_string(struct config *c, const char *text, const char *name,
    char *err, size_t cap);

/* Reads the file at path (at most CONFIG_FILE_MAX bytes) and parses it as
 * config_parse_string() does. Returns 0, -NUSA_EMALFORMED, -EFBIG or
 * -errno of the read, with a message in err naming path. */
int config_parse_file(struct config *c, const char *path, char *err,
    size_t cap);

/* Writes c as a config file that parses back to c: every key with a
 * comment saying what it does, defaults filled in, device ids in lowercase
 * hex, one peer per line. Returns 0 or -EIO if out reports an error. */
int config_print(const struct config *c, FILE *out);

/* Parses "DEVICE_ID@tcp://HOST:PORT" (DEVICE_ID: 64 hex digits, either
 * case) into *p, for peers, hub and `nusactl sync PEER`. HOST may not be
 * '*'. Returns 0, or -NUSA_EMALFORMED and, if why is non-NULL, points *why
 * to a static phrase saying what is wrong; *p is unchanged on error. */
int config_parse_peer(struct config_peer *p, const char *s,
    const char **why);

/* Checks an address "tcp://HOST:PORT": HOST an IPv4 literal, '*', a DNS
 * name of letters, digits, '-' and '.', or [IPv6]; PORT 1..65535; shorter
 * than CONFIG_ADDR_MAX. Returns 0, or -NUSA_EMALFORMED and, if why is
 * non-NULL, points *why to a static phrase saying what is wrong. */
int config_addr_ok(const char *s, const char **why);

/* Checks the http address "ADDRESS:PORT": an IPv4 literal, or an IPv6
 * literal in brackets, and a port 1..65535. Copies the address without
 * brackets into host (cap bytes; may be NULL) and sets *port (may be
 * NULL). Returns 0, or -NUSA_EMALFORMED and points *why (not NULL) to a
 * static phrase. */
int config_http_addr(const char *s, char *host, size_t cap, unsigned *port,
    const char **why);

/* The same address as a socket address to listen on: sets *ss (an
 * AF_INET or AF_INET6 address with its port). Returns as
 * config_http_addr(). */
int config_http_sockaddr(const char *s, struct sockaddr_storage *ss,
    const char **why);

#endif
