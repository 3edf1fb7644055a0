/* linkemu: a TCP relay that behaves like a slow, lossy island link, for
 * tests and benchmarks on machines whose kernel has no netem. It accepts
 * connections on a loopback address, relays each one to a target, and on
 * the way paces the bytes at a fixed rate, delays them, and now and then
 * cuts every connection with a reset. It counts bytes at the sockets.
 *
 * The model, per direction (up: client to target; down: target to
 * client), is one line shared by all connections, like one radio link:
 * the line serialises queued bytes round-robin across connections in
 * quanta of about 10 ms of line time, and a quantum that finishes at time
 * f is written out at f + delay (serialisation, then propagation). Bytes
 * read but not yet written live in a ring of --queue bytes per direction
 * per connection; while it is full the relay stops reading that source,
 * so memory is bounded and the sender feels backpressure.
 *
 * Invariant (checked by the stats at exit, when nothing is queued):
 * up_read + down_read == up_bytes + down_bytes + dropped_bytes.
 *
 * Single-threaded: one ppoll() loop whose timeout is the next due event,
 * so an idle relay sleeps. Built by hand; see README.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S INT64_C(1000000000)
#define NS_PER_MS INT64_C(1000000)
#define QUANTUM_NS (10 * NS_PER_MS) /* line time per quantum */
#define QUANTUM_MAX 65536
#define LOOKAHEAD_NS (10 * NS_PER_MS) /* serialise ahead by this */
#define DUE_GRID_NS NS_PER_MS         /* due times round up to this */
#define STATS_EVERY_NS (200 * NS_PER_MS)
#define ACCEPT_BACKOFF_NS (100 * NS_PER_MS)
#define QUEUE_DEFAULT (256 * 1024)
#define QUEUE_MAX (64 * 1024 * 1024)
#define MAX_CONNS 1024
#define DELAY_MAX_MS 3600000
#define CUT_MAX_S 1e6
#define NEVER INT64_MAX

/* Pipe d reads from fd[d] and writes to fd[!d]: UP reads the client. */
enum { UP, DOWN };
enum { CLIENT, TARGET };

/* A run of serialised bytes, up to stream offset end, that may be
 * written out from time due on. */
struct mark {
	uint64_t end;
	int64_t due;
};

/* One direction of one connection. Offsets count bytes since the
 * connection opened: wr <= deliv <= ser <= rd, and rd - wr <= cap. */
struct pipe {
	uint8_t *buf;       /* ring of cap bytes, at offset % cap */
	uint64_t rd;        /* read from the source */
	uint64_t ser;       /* serialised onto the line */
	uint64_t deliv;     /* past their due time */
	uint64_t wr;        /* written to the destination */
	struct mark *marks; /* ring of not yet due runs, in order */
	size_t mhead, mlen, mcap;
	int eof;     /* the source sent FIN */
	int shut;    /* FIN passed on to the destination */
	int blocked; /* destination full: wait for POLLOUT */
};

struct conn {
	uint64_t id;
	int fd[2];
	int connecting; /* connect() to the target in progress */
	int dead;       /* closed; freed at the end of the step */
	struct pipe p[2];
};

/* The shared line of one direction. */
struct link {
	int64_t free_at; /* when it finishes what it has serialised */
	uint64_t carry;  /* remainder of ns * rate: exact pacing */
	size_t rr;       /* next connection to serve */
};

struct emu {
	struct sockaddr_in listen_sa, to_sa;
	uint64_t rate; /* bytes/s per direction; 0: unlimited */
	int64_t delay_ns;
	int cut; /* cuts enabled */
	double cut_min, cut_max;
	uint64_t seed;
	const char *stats_path;
	const char *port_path;
	size_t qcap;
	int verbose;

	int lfd;
	uint16_t port;
	struct conn **conns;
	size_t nconns, cconns;
	uint64_t next_id;
	struct link link[2];
	uint64_t rng;
	int64_t cut_at;    /* 0: not armed */
	int64_t accept_at; /* accept paused until then; 0: not */
	struct pollfd *pfd;
	size_t pcap;

	uint64_t delivered[2], read[2];
	uint64_t connections, cuts, dropped, failed;
	int dirty;
	int64_t stats_at;
	int stats_warned;
	int accept_warned;
};

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void vlog(const struct emu *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
vlog(const struct emu *e, const char *fmt, ...)
{
	va_list ap;

	if (!e->verbose)
		return;
	va_start(ap, fmt);
	fputs("linkemu: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* splitmix64: small, seedable, and good enough to draw cut times. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double
rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

/* ---- argument parsing ---- */

static void
usage(FILE *f)
{
	fputs("usage: linkemu --listen 127.0.0.1:PORT --to 127.0.0.1:PORT\n"
	      "               [--rate BYTES_PER_S] [--delay MS]\n"
	      "               [--cut-min S --cut-max S] [--seed N]\n"
	      "               [--stats FILE] [--port-file FILE]\n"
	      "               [--queue BYTES] [--verbose]\n"
	      "  --listen A:P    address to accept on; port 0 picks one\n"
	      "  --to A:P        address to relay each connection to\n"
	      "  --rate N        bytes/s per direction, shared by all\n"
	      "                  connections (0: unlimited)\n"
	      "  --delay MS      one-way latency added in each direction\n"
	      "  --cut-min S, --cut-max S\n"
	      "                  reset all connections at a uniform random\n"
	      "                  time in [S,S] seconds after a connection\n"
	      "                  is established with no cut pending\n"
	      "  --seed N        seed for the cut times (default: clock)\n"
	      "  --stats FILE    keep counters in FILE (key value lines)\n"
	      "  --port-file F   write the listening port to F when ready\n"
	      "  --queue BYTES   queue cap per direction per connection\n"
	      "                  (default 262144)\n"
	      "  --verbose       log connections and cuts to stderr\n",
	    f);
}

static void
die_usage(const char *opt, const char *what, const char *arg)
{
	fprintf(stderr, "linkemu: %s: expected %s, got '%s'\n", opt, what, arg);
	exit(2);
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_secs(const char *s, double *out)
{
	char *end;
	double v;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > CUT_MAX_S)
		return -1;
	*out = v;
	return 0;
}

/* Accepts IPv4 A.B.C.D:PORT only. */
static int
parse_addr(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char host[INET_ADDRSTRLEN];
	uint64_t port;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -1;
	if (parse_u64(colon + 1, 65535, &port) < 0)
		return -1;
	sa->sin_port = htons((uint16_t)port);
	return 0;
}

static void
parse_args(struct emu *e, int argc, char **argv)
{
	enum {
		O_LISTEN = 256,
		O_TO,
		O_RATE,
		O_DELAY,
		O_CUTMIN,
		O_CUTMAX,
		O_SEED,
		O_STATS,
		O_PORTFILE,
		O_QUEUE,
		O_VERBOSE,
		O_HELP
	};
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, O_LISTEN},
	    {"to", required_argument, NULL, O_TO},
	    {"rate", required_argument, NULL, O_RATE},
	    {"delay", required_argument, NULL, O_DELAY},
	    {"cut-min", required_argument, NULL, O_CUTMIN},
	    {"cut-max", required_argument, NULL, O_CUTMAX},
	    {"seed", required_argument, NULL, O_SEED},
	    {"stats", required_argument, NULL, O_STATS},
	    {"port-file", required_argument, NULL, O_PORTFILE},
	    {"queue", required_argument, NULL, O_QUEUE},
	    {"verbose", no_argument, NULL, O_VERBOSE},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int have_listen = 0, have_to = 0, have_min = 0, have_max = 0;
	int have_seed = 0;
	uint64_t v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN:
			if (parse_addr(optarg, &e->listen_sa) < 0)
				die_usage("--listen", "A.B.C.D:PORT", optarg);
			have_listen = 1;
			break;
		case O_TO:
			if (parse_addr(optarg, &e->to_sa) < 0 ||
			    e->to_sa.sin_port == 0)
				die_usage(
				    "--to", "A.B.C.D:PORT, PORT > 0", optarg);
			have_to = 1;
			break;
		case O_RATE:
			if (parse_u64(optarg, UINT32_MAX, &e->rate) < 0)
				die_usage("--rate", "bytes per second", optarg);
			break;
		case O_DELAY:
			if (parse_u64(optarg, DELAY_MAX_MS, &v) < 0)
				die_usage("--delay", "milliseconds", optarg);
			e->delay_ns = (int64_t)v * NS_PER_MS;
			break;
		case O_CUTMIN:
			if (parse_secs(optarg, &e->cut_min) < 0)
				die_usage("--cut-min", "seconds", optarg);
			have_min = 1;
			break;
		case O_CUTMAX:
			if (parse_secs(optarg, &e->cut_max) < 0)
				die_usage("--cut-max", "seconds", optarg);
			have_max = 1;
			break;
		case O_SEED:
			if (parse_u64(optarg, UINT64_MAX, &e->seed) < 0)
				die_usage(
				    "--seed", "an unsigned integer", optarg);
			have_seed = 1;
			break;
		case O_STATS:
			e->stats_path = optarg;
			break;
		case O_PORTFILE:
			e->port_path = optarg;
			break;
		case O_QUEUE:
			if (parse_u64(optarg, QUEUE_MAX, &v) < 0 || v == 0)
				die_usage(
				    "--queue", "bytes, 1 or more", optarg);
			e->qcap = (size_t)v;
			break;
		case O_VERBOSE:
			e->verbose = 1;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			if (optopt)
				fprintf(stderr, "linkemu: %s needs a value\n",
				    argv[optind - 1]);
			else
				fprintf(stderr,
				    "linkemu: unknown option "
				    "'%s'\n",
				    argv[optind - 1]);
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "linkemu: unexpected argument '%s'\n",
		    argv[optind]);
		exit(2);
	}
	if (!have_listen || !have_to) {
		fputs("linkemu: --listen and --to are required\n", stderr);
		usage(stderr);
		exit(2);
	}
	if (have_min != have_max) {
		fputs("linkemu: --cut-min and --cut-max go together\n", stderr);
		exit(2);
	}
	if (have_min && (e->cut_max < e->cut_min || e->cut_max <= 0)) {
		fputs("linkemu: need 0 <= --cut-min <= --cut-max, "
		      "--cut-max > 0\n",
		    stderr);
		exit(2);
	}
	e->cut = have_min;
	if (!have_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		e->seed = (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
		e->seed ^= (uint64_t)getpid() << 32;
		e->seed = rng_next(&e->seed);
	}
	e->rng = e->seed;
}

/* ---- files for the test scripts ---- */

/* Writes through path.tmp and a rename, so readers never see half. */
static int
write_atomic(const char *path, void (*fill)(const struct emu *, FILE *),
    const struct emu *e)
{
	size_t len = strlen(path) + sizeof(".tmp");
	char *tmp = malloc(len);
	FILE *f;
	int rc = -1;

	if (!tmp)
		return -1;
	snprintf(tmp, len, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		goto out;
	fill(e, f);
	if (fclose(f) != 0) {
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

static uint64_t
queued_bytes(const struct emu *e)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < e->nconns; i++) {
		const struct conn *c = e->conns[i];

		if (!c->dead)
			n += c->p[UP].rd - c->p[UP].wr + c->p[DOWN].rd -
			    c->p[DOWN].wr;
	}
	return n;
}

static size_t
active_conns(const struct emu *e)
{
	size_t i, n = 0;

	for (i = 0; i < e->nconns; i++)
		n += !e->conns[i]->dead;
	return n;
}

static void
fill_stats(const struct emu *e, FILE *f)
{
	fprintf(f, "up_bytes %" PRIu64 "\n", e->delivered[UP]);
	fprintf(f, "down_bytes %" PRIu64 "\n", e->delivered[DOWN]);
	fprintf(f, "up_read %" PRIu64 "\n", e->read[UP]);
	fprintf(f, "down_read %" PRIu64 "\n", e->read[DOWN]);
	fprintf(f, "connections %" PRIu64 "\n", e->connections);
	fprintf(f, "cuts %" PRIu64 "\n", e->cuts);
	fprintf(f, "dropped_bytes %" PRIu64 "\n", e->dropped);
	fprintf(f, "seed %" PRIu64 "\n", e->seed);
	fprintf(f, "active %zu\n", active_conns(e));
	fprintf(f, "queued_bytes %" PRIu64 "\n", queued_bytes(e));
	fprintf(f, "failed_connects %" PRIu64 "\n", e->failed);
	fprintf(f, "rate %" PRIu64 "\n", e->rate);
	fprintf(f, "delay_ms %" PRId64 "\n", e->delay_ns / NS_PER_MS);
}

static void
fill_port(const struct emu *e, FILE *f)
{
	fprintf(f, "%u\n", (unsigned)e->port);
}

static void
stats_flush(struct emu *e, int64_t now)
{
	e->dirty = 0;
	e->stats_at = now;
	if (!e->stats_path)
		return;
	if (write_atomic(e->stats_path, fill_stats, e) < 0 &&
	    !e->stats_warned) {
		fprintf(stderr, "linkemu: %s: %s\n", e->stats_path,
		    strerror(errno));
		e->stats_warned = 1;
	}
}

/* ---- pipes ---- */

static int
pipe_init(struct pipe *p, size_t cap)
{
	memset(p, 0, sizeof(*p));
	p->buf = malloc(cap);
	return p->buf ? 0 : -1;
}

static void
pipe_fini(struct pipe *p)
{
	free(p->buf);
	free(p->marks);
	p->buf = NULL;
	p->marks = NULL;
}

/* Bytes up to end may be written from due on. With a delay, due times
 * round up to a 1 ms grid so that runs due in the same millisecond share
 * a mark: a pipe then holds at most one mark per millisecond of delay +
 * lookahead, whatever the read sizes. Rounding up never delivers early. */
static int
pipe_mark(struct pipe *p, uint64_t end, int64_t due, int grid)
{
	struct mark *m;

	if (grid && due % DUE_GRID_NS)
		due += DUE_GRID_NS - due % DUE_GRID_NS;
	if (p->mlen) {
		m = &p->marks[(p->mhead + p->mlen - 1) % p->mcap];
		if (m->due >= due) {
			m->end = end;
			return 0;
		}
	}
	if (p->mlen == p->mcap) {
		size_t ncap = p->mcap ? p->mcap * 2 : 16, i;
		struct mark *nm = malloc(ncap * sizeof(*nm));

		if (!nm)
			return -1;
		for (i = 0; i < p->mlen; i++)
			nm[i] = p->marks[(p->mhead + i) % p->mcap];
		free(p->marks);
		p->marks = nm;
		p->mcap = ncap;
		p->mhead = 0;
	}
	m = &p->marks[(p->mhead + p->mlen) % p->mcap];
	m->end = end;
	m->due = due;
	p->mlen++;
	return 0;
}

static void
pipe_due(struct pipe *p, int64_t now)
{
	while (p->mlen && p->marks[p->mhead].due <= now) {
		p->deliv = p->marks[p->mhead].end;
		p->mhead = (p->mhead + 1) % p->mcap;
		p->mlen--;
	}
}

/* The ring's bytes [from, from + len) as at most two iovecs. */
static int
ring_iov(
    uint8_t *buf, size_t cap, uint64_t from, size_t len, struct iovec iov[2])
{
	size_t pos = (size_t)(from % cap);
	size_t first = len < cap - pos ? len : cap - pos;

	iov[0].iov_base = buf + pos;
	iov[0].iov_len = first;
	iov[1].iov_base = buf;
	iov[1].iov_len = len - first;
	return iov[1].iov_len ? 2 : 1;
}

/* Returns 0, or -1 if the source failed and the connection must go. */
static int
pipe_read(struct emu *e, struct conn *c, int d, int64_t now)
{
	struct pipe *p = &c->p[d];
	struct iovec iov[2];
	ssize_t n;

	while (!p->eof) {
		size_t room = e->qcap - (size_t)(p->rd - p->wr);
		int cnt;

		if (room == 0)
			break;
		cnt = ring_iov(p->buf, e->qcap, p->rd, room, iov);
		n = readv(c->fd[d], iov, cnt);
		if (n > 0) {
			p->rd += (uint64_t)n;
			e->read[d] += (uint64_t)n;
			e->dirty = 1;
			if (e->rate == 0) {
				if (pipe_mark(p, p->rd, now + e->delay_ns,
				        e->delay_ns > 0) < 0)
					return -1;
				p->ser = p->rd;
			}
		} else if (n == 0) {
			p->eof = 1;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else {
			return -1;
		}
	}
	return 0;
}

/* Returns 0, or -1 if the destination failed. */
static int
pipe_write(struct emu *e, struct conn *c, int d)
{
	struct pipe *p = &c->p[d];
	struct iovec iov[2];
	struct msghdr msg;
	ssize_t n;

	while (p->wr < p->deliv && !p->blocked) {
		size_t len = (size_t)(p->deliv - p->wr);

		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = ring_iov(p->buf, e->qcap, p->wr, len, iov);
		n = sendmsg(c->fd[!d], &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p->wr += (uint64_t)n;
			e->delivered[d] += (uint64_t)n;
			e->dirty = 1;
			if ((size_t)n < len)
				p->blocked = 1;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			p->blocked = 1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* ---- connections ---- */

static void
set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Closes fd so that the peer gets a RST rather than a FIN. */
static void
close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void
conn_drop(struct emu *e, struct conn *c, int reset)
{
	int s;

	if (c->dead)
		return;
	for (s = 0; s < 2; s++) {
		e->dropped += c->p[s].rd - c->p[s].wr;
		if (reset)
			close_reset(c->fd[s]);
		else if (c->fd[s] >= 0)
			close(c->fd[s]);
		c->fd[s] = -1;
	}
	c->dead = 1;
	e->dirty = 1;
}

static void
arm_cut(struct emu *e, int64_t now)
{
	double s;

	if (!e->cut || e->cut_at)
		return;
	s = e->cut_min + (e->cut_max - e->cut_min) * rng_unit(&e->rng);
	e->cut_at = now + (int64_t)(s * NS_PER_S);
	if (e->cut_at == 0)
		e->cut_at = 1;
}

static void
conn_established(struct emu *e, struct conn *c, int64_t now)
{
	c->connecting = 0;
	vlog(e, "conn %" PRIu64 ": established", c->id);
	arm_cut(e, now);
}

static void
conn_new(struct emu *e, int cfd, int64_t now)
{
	struct conn *c;
	int tfd;

	e->connections++;
	e->dirty = 1;
	if (e->nconns == e->cconns) {
		size_t ncap = e->cconns ? e->cconns * 2 : 16;
		struct conn **nc = realloc(e->conns, ncap * sizeof(*nc));

		if (!nc)
			goto fail_client;
		e->conns = nc;
		e->cconns = ncap;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail_client;
	if (pipe_init(&c->p[UP], e->qcap) < 0 ||
	    pipe_init(&c->p[DOWN], e->qcap) < 0)
		goto fail_conn;
	tfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (tfd < 0)
		goto fail_conn;
	set_nodelay(cfd);
	set_nodelay(tfd);
	c->id = ++e->next_id;
	c->fd[CLIENT] = cfd;
	c->fd[TARGET] = tfd;
	e->conns[e->nconns++] = c;
	vlog(e, "conn %" PRIu64 ": accepted", c->id);
	if (connect(tfd, (struct sockaddr *)&e->to_sa, sizeof(e->to_sa)) == 0) {
		conn_established(e, c, now);
	} else if (errno == EINPROGRESS || errno == EINTR) {
		c->connecting = 1;
	} else {
		vlog(
		    e, "conn %" PRIu64 ": connect: %s", c->id, strerror(errno));
		e->failed++;
		conn_drop(e, c, 1);
	}
	return;

fail_conn:
	pipe_fini(&c->p[UP]);
	pipe_fini(&c->p[DOWN]);
	free(c);
fail_client:
	e->failed++;
	close_reset(cfd);
}

static void
conn_free(struct conn *c)
{
	pipe_fini(&c->p[UP]);
	pipe_fini(&c->p[DOWN]);
	free(c);
}

static void
accept_all(struct emu *e, int64_t now)
{
	int fd;

	while (e->nconns < MAX_CONNS) {
		fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_new(e, fd, now);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			/* Out of descriptors or memory: let it pass. */
			if (!e->accept_warned)
				fprintf(stderr, "linkemu: accept: %s\n",
				    strerror(errno));
			e->accept_warned = 1;
			e->accept_at = now + ACCEPT_BACKOFF_NS;
		}
		break;
	}
}

/* Resets every connection at once: the link went down. */
static void
cut_all(struct emu *e)
{
	uint64_t before = e->dropped;
	size_t i, n = 0;

	e->cut_at = 0;
	for (i = 0; i < e->nconns; i++) {
		if (!e->conns[i]->dead) {
			conn_drop(e, e->conns[i], 1);
			n++;
		}
	}
	if (n == 0)
		return;
	e->cuts++;
	e->dirty = 1;
	vlog(e, "cut %" PRIu64 ": %zu connections, %" PRIu64 " bytes dropped",
	    e->cuts, n, e->dropped - before);
}

/* ---- the line ---- */

static int
link_pending(const struct emu *e, int d)
{
	size_t i;

	for (i = 0; i < e->nconns; i++) {
		const struct conn *c = e->conns[i];

		if (!c->dead && c->p[d].rd > c->p[d].ser)
			return 1;
	}
	return 0;
}

/* Serialises queued bytes of direction d round-robin, up to LOOKAHEAD
 * ahead of now. A quantum starts when the line is free, or now if it is
 * idle, and is due one delay after it ends; as the line's clock runs on
 * from free_at rather than from when we woke, late wake-ups cost no
 * throughput. */
static void
link_serve(struct emu *e, int d, int64_t now)
{
	struct link *l = &e->link[d];
	uint64_t q = e->rate * QUANTUM_NS / NS_PER_S;

	if (q < 1)
		q = 1;
	if (q > QUANTUM_MAX)
		q = QUANTUM_MAX;
	while (l->free_at < now + LOOKAHEAD_NS && e->nconns) {
		struct conn *c = NULL;
		struct pipe *p;
		uint64_t n, t;
		size_t k, i = 0;

		for (k = 0; k < e->nconns; k++) {
			i = (l->rr + k) % e->nconns;
			if (!e->conns[i]->dead &&
			    e->conns[i]->p[d].rd > e->conns[i]->p[d].ser) {
				c = e->conns[i];
				break;
			}
		}
		if (!c)
			break;
		p = &c->p[d];
		n = p->rd - p->ser;
		if (n > q)
			n = q;
		if (l->free_at < now)
			l->free_at = now;
		t = n * NS_PER_S + l->carry;
		l->free_at += (int64_t)(t / e->rate);
		l->carry = t % e->rate;
		if (pipe_mark(p, p->ser + n, l->free_at + e->delay_ns,
		        e->delay_ns > 0) < 0) {
			conn_drop(e, c, 1);
			continue;
		}
		p->ser += n;
		l->rr = i + 1;
	}
}

/* ---- the loop ---- */

static void
handle_conn(
    struct emu *e, struct conn *c, const struct pollfd pf[2], int64_t now)
{
	int s, err;
	socklen_t len;

	if (c->connecting) {
		if (pf[TARGET].revents == 0)
			goto client;
		err = 0;
		len = sizeof(err);
		if (getsockopt(
		        c->fd[TARGET], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			vlog(e, "conn %" PRIu64 ": connect: %s", c->id,
			    strerror(err));
			e->failed++;
			conn_drop(e, c, 1);
			return;
		}
		conn_established(e, c, now);
		/* Read the target on the next round, by poll. */
		goto client;
	}
	for (s = 0; s < 2; s++) {
		short re = pf[s].revents;

		if (re & POLLERR) {
			conn_drop(e, c, 1);
			return;
		}
		if (re & POLLOUT)
			c->p[!s].blocked = 0;
		if ((re & (POLLIN | POLLHUP)) && pipe_read(e, c, s, now) < 0) {
			conn_drop(e, c, 1);
			return;
		}
	}
	return;
client:
	if (pf[CLIENT].revents & POLLERR) {
		conn_drop(e, c, 1);
		return;
	}
	if ((pf[CLIENT].revents & (POLLIN | POLLHUP)) &&
	    pipe_read(e, c, UP, now) < 0)
		conn_drop(e, c, 1);
}

/* Moves what is due, passes FINs on, and closes finished connections. */
static void
advance(struct emu *e, struct conn *c, int64_t now)
{
	int d;

	for (d = 0; d < 2 && !c->dead; d++) {
		struct pipe *p = &c->p[d];

		pipe_due(p, now);
		if (c->connecting)
			continue;
		if (pipe_write(e, c, d) < 0) {
			conn_drop(e, c, 1);
			return;
		}
		if (p->eof && p->wr == p->rd && !p->shut) {
			if (shutdown(c->fd[!d], SHUT_WR) < 0) {
				conn_drop(e, c, 1);
				return;
			}
			p->shut = 1;
		}
	}
	if (!c->dead && c->p[UP].shut && c->p[DOWN].shut) {
		vlog(e, "conn %" PRIu64 ": closed", c->id);
		conn_drop(e, c, 0);
	}
}

static void
sweep(struct emu *e)
{
	size_t i, j = 0;

	for (i = 0; i < e->nconns; i++) {
		if (e->conns[i]->dead)
			conn_free(e->conns[i]);
		else
			e->conns[j++] = e->conns[i];
	}
	e->nconns = j;
}

static void
step(struct emu *e, int64_t now)
{
	size_t i;
	int d;

	if (e->cut_at && now >= e->cut_at)
		cut_all(e);
	if (e->accept_at && now >= e->accept_at)
		e->accept_at = 0;
	if (e->rate)
		for (d = 0; d < 2; d++)
			link_serve(e, d, now);
	for (i = 0; i < e->nconns; i++)
		if (!e->conns[i]->dead)
			advance(e, e->conns[i], now);
	sweep(e);
	if (e->dirty && now - e->stats_at >= STATS_EVERY_NS)
		stats_flush(e, now);
}

static int64_t
next_event(const struct emu *e)
{
	int64_t t = NEVER;
	size_t i;
	int d;

#define SOONER(x)                                                              \
	do {                                                                   \
		if ((x) < t)                                                   \
			t = (x);                                               \
	} while (0)
	if (e->cut_at)
		SOONER(e->cut_at);
	if (e->accept_at)
		SOONER(e->accept_at);
	for (d = 0; e->rate && d < 2; d++)
		if (link_pending(e, d))
			SOONER(e->link[d].free_at - LOOKAHEAD_NS);
	for (i = 0; i < e->nconns; i++) {
		const struct conn *c = e->conns[i];

		for (d = 0; d < 2; d++)
			if (c->p[d].mlen)
				SOONER(c->p[d].marks[c->p[d].mhead].due);
	}
	if (e->dirty && e->stats_path)
		SOONER(e->stats_at + STATS_EVERY_NS);
#undef SOONER
	return t;
}

static short
fd_events(const struct emu *e, const struct conn *c, int s)
{
	const struct pipe *in = &c->p[s], *out = &c->p[!s];
	short ev = 0;

	if (c->connecting)
		return s == TARGET
		    ? POLLOUT
		    : (!in->eof && in->rd - in->wr < e->qcap ? POLLIN : 0);
	if (!in->eof && in->rd - in->wr < e->qcap)
		ev |= POLLIN;
	if (out->blocked && out->wr < out->deliv)
		ev |= POLLOUT;
	return ev;
}

/* Fills e->pfd: the listener, then two entries per connection. An fd we
 * want nothing from is left out (fd -1): a socket whose peer has gone
 * keeps reporting POLLHUP, which would spin the loop. */
static int
build_pollfds(struct emu *e, nfds_t *n)
{
	size_t need = 1 + 2 * e->nconns, i;
	int s;

	if (need > e->pcap) {
		struct pollfd *np = realloc(e->pfd, need * sizeof(*np));

		if (!np)
			return -1;
		e->pfd = np;
		e->pcap = need;
	}
	e->pfd[0].fd = e->accept_at || e->nconns >= MAX_CONNS ? -1 : e->lfd;
	e->pfd[0].events = POLLIN;
	e->pfd[0].revents = 0;
	for (i = 0; i < e->nconns; i++) {
		for (s = 0; s < 2; s++) {
			struct pollfd *pf = &e->pfd[1 + 2 * i + s];

			pf->events = fd_events(e, e->conns[i], s);
			pf->fd = pf->events ? e->conns[i]->fd[s] : -1;
			pf->revents = 0;
		}
	}
	*n = need;
	return 0;
}

static int
open_listener(struct emu *e)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1;

	e->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (e->lfd < 0)
		return -1;
	setsockopt(e->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(e->lfd, (struct sockaddr *)&e->listen_sa,
	        sizeof(e->listen_sa)) < 0 ||
	    listen(e->lfd, 128) < 0 ||
	    getsockname(e->lfd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	e->port = ntohs(sa.sin_port);
	return 0;
}

static int
run(struct emu *e, const sigset_t *waitmask)
{
	int64_t now = now_ns(), t;
	struct timespec ts;
	size_t npolled, i;
	nfds_t n;
	int rc;

	while (!stop_signal) {
		if (build_pollfds(e, &n) < 0) {
			fputs("linkemu: out of memory\n", stderr);
			return -1;
		}
		npolled = e->nconns;
		t = next_event(e);
		if (t != NEVER) {
			t -= now_ns();
			if (t < 0)
				t = 0;
			ts.tv_sec = t / NS_PER_S;
			ts.tv_nsec = t % NS_PER_S;
		}
		rc = ppoll(e->pfd, n, t == NEVER ? NULL : &ts, waitmask);
		if (rc < 0 && errno != EINTR) {
			fprintf(stderr, "linkemu: poll: %s\n", strerror(errno));
			return -1;
		}
		now = now_ns();
		if (rc > 0) {
			for (i = 0; i < npolled; i++)
				if (!e->conns[i]->dead)
					handle_conn(e, e->conns[i],
					    &e->pfd[1 + 2 * i], now);
			if (e->pfd[0].revents & POLLIN)
				accept_all(e, now);
		}
		step(e, now);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct emu e;
	struct sigaction sa;
	sigset_t block, waitmask;
	size_t i;
	int rc = 1;

	memset(&e, 0, sizeof(e));
	e.lfd = -1;
	e.qcap = QUEUE_DEFAULT;
	parse_args(&e, argc, argv);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Signals are only let in inside ppoll(), so none is lost between
	 * checking stop_signal and going to sleep. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);

	if (open_listener(&e) < 0) {
		fprintf(stderr, "linkemu: listen: %s\n", strerror(errno));
		goto out;
	}
	stats_flush(&e, now_ns());
	if (e.stats_warned)
		goto out;
	if (e.port_path && write_atomic(e.port_path, fill_port, &e) < 0) {
		fprintf(
		    stderr, "linkemu: %s: %s\n", e.port_path, strerror(errno));
		goto out;
	}
	vlog(&e, "listening on port %u, seed %" PRIu64, (unsigned)e.port,
	    e.seed);
	if (run(&e, &waitmask) == 0)
		rc = 0;
out:
	for (i = 0; i < e.nconns; i++)
		conn_drop(&e, e.conns[i], 0);
	sweep(&e);
	stats_flush(&e, now_ns());
	fill_stats(&e, stderr);
	if (e.lfd >= 0)
		close(e.lfd);
	free(e.conns);
	free(e.pfd);
	return rc;
}
