/* discover_probe: publishes one nusa box with transport/discover.c and
 * prints what it discovers, for tests/integration/discover.sh.
 *
 *   discover_probe --id HEX64 --net HEX32 --port N --seconds S
 *       [--want N] [--proto V] [--name NAME]
 *
 * Runs a zmq_poll loop for S seconds, or until it has found N distinct
 * peers with --want. One line per event on stdout (line-buffered, at
 * most LINES_MAX lines):
 *   found ID NET ADDR
 *   gone ID
 *   avahi: not running      (at start or when the daemon goes)
 *   avahi: running          (when it connects after that)
 * The module's status lines go to stderr. Exits 0 when it found what it
 * wanted (always, without --want), 1 otherwise or on SIGINT/SIGTERM with
 * --want unmet, 2 on misuse.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "discover.h"
#include "nusa.h"

#define LINES_MAX 1000
#define PEERS_MAX 256
#define ITEMS	  16

struct probe {
	size_t lines;
	uint8_t seen[PEERS_MAX][NUSA_KEY_LEN];
	size_t nseen;
};

static void
say(struct probe *pr, const char *line)
{
	if (pr->lines++ < LINES_MAX)
		printf("%s\n", line);
}

static void
on_peer(int found, const struct discover_peer *p, void *ctx)
{
	struct probe *pr = ctx;
	char id[2 * NUSA_KEY_LEN + 1], net[2 * 16 + 1];
	char line[sizeof id + sizeof net + sizeof p->addr + 16];
	size_t i;

	nusa_hex(id, p->device, sizeof p->device);
	if (!found) {
		snprintf(line, sizeof line, "gone %s", id);
		say(pr, line);
		return;
	}
	nusa_hex(net, p->nethash, sizeof p->nethash);
	snprintf(line, sizeof line, "found %s %s %s", id, net, p->addr);
	say(pr, line);
	for (i = 0; i < pr->nseen; i++)
		if (memcmp(pr->seen[i], p->device, NUSA_KEY_LEN) == 0)
			return;
	if (pr->nseen < PEERS_MAX)
		memcpy(pr->seen[pr->nseen++], p->device, NUSA_KEY_LEN);
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
usage(FILE *f, int code)
{
	fprintf(f, "usage: discover_probe --id HEX64 --net HEX32 --port N "
	    "--seconds S [--want N] [--proto V] [--name NAME]\n");
	return code;
}

static int
number(const char *s, long min, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out >= min &&
	    *out <= max ? 0 : -1;
}

int
main(int argc, char **argv)
{
	uint8_t device[NUSA_KEY_LEN], nethash[16];
	const char *id = NULL, *net = NULL, *name = NULL;
	long port = -1, seconds = -1, want = 0, proto = 1, deadline, t, left;
	char defname[32], line[64];
	zmq_pollitem_t items[ITEMS];
	struct probe pr = { 0 };
	struct discover *d = NULL;
	const char *st;
	unsigned seen = 0;
	int sfd, running, r, i, code = 1;
	sigset_t mask;
	size_t n;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		long x;

		if (strcmp(o, "--help") == 0)
			return usage(stdout, 0);
		if (v == NULL)
			return usage(stderr, 2);
		i++;
		if (strcmp(o, "--id") == 0)
			id = v;
		else if (strcmp(o, "--net") == 0)
			net = v;
		else if (strcmp(o, "--name") == 0)
			name = v;
		else if (strcmp(o, "--port") == 0 &&
		    number(v, 1, 65535, &x) == 0)
			port = x;
		else if (strcmp(o, "--seconds") == 0 &&
		    number(v, 0, 86400, &x) == 0)
			seconds = x;
		else if (strcmp(o, "--want") == 0 &&
		    number(v, 1, PEERS_MAX, &x) == 0)
			want = x;
		else if (strcmp(o, "--proto") == 0 &&
		    number(v, 0, 999999999, &x) == 0)
			proto = x;
		else
			return usage(stderr, 2);
	}
	if (id == NULL || net == NULL || port < 0 || seconds < 0 ||
	    strlen(id) != 2 * sizeof device ||
	    strlen(net) != 2 * sizeof nethash ||
	    nusa_unhex(device, sizeof device, id) != 0 ||
	    nusa_unhex(nethash, sizeof nethash, net) != 0)
		return usage(stderr, 2);
	if (name == NULL) {
		snprintf(defname, sizeof defname, "nusa-%.8s", id);
		name = defname;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* Signals arrive as a readable fd in the same zmq_poll. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "discover_probe: signalfd: %s\n",
		    strerror(errno));
		return 1;
	}
	if ((r = discover_open(&d, name, (uint16_t)port, device, nethash,
	    (unsigned)proto, on_peer, &pr)) != 0) {
		fprintf(stderr, "discover_probe: %s\n", nusa_strerror(r));
		close(sfd);
		return 1;
	}
	running = discover_running(d);
	if (!running)
		say(&pr, "avahi: not running");
	deadline = now_ms() + seconds * 1000;
	for (;;) {
		if ((st = discover_status(d, &seen)) != NULL)
			fprintf(stderr, "discover_probe: %s\n", st);
		if (discover_running(d) != running) {
			running = !running;
			say(&pr, running ? "avahi: running" :
			    "avahi: not running");
		}
		if (want > 0 && pr.nseen >= (size_t)want) {
			code = 0;
			break;
		}
		if ((left = deadline - now_ms()) <= 0) {
			code = want > 0 ? 1 : 0;
			break;
		}
		items[0].socket = NULL;
		items[0].fd = sfd;
		items[0].events = ZMQ_POLLIN;
		items[0].revents = 0;
		n = discover_pollitems(d, items + 1, ITEMS - 1);
		t = discover_timeout(d);
		if (t < 0 || t > left)
			t = left;
		if (zmq_poll(items, (int)n + 1, t) < 0) {
			if (zmq_errno() != EINTR) {
				fprintf(stderr, "discover_probe: zmq_poll: "
				    "%s\n", zmq_strerror(zmq_errno()));
				break;
			}
			memset(items, 0, sizeof items);
		}
		if (items[0].revents & ZMQ_POLLIN) {
			code = want > 0 ? 1 : 0;
			break;
		}
		discover_dispatch(d, items + 1, n);
	}
	discover_close(d);
	close(sfd);
	if (pr.lines > LINES_MAX) {
		snprintf(line, sizeof line, "(%zu more lines)",
		    pr.lines - LINES_MAX);
		fprintf(stderr, "discover_probe: %s\n", line);
	}
	return code;
}
