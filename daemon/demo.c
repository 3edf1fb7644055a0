#include "demo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "config.h"
#include "key.h"
#include "ledger.h"
#include "log.h"
#include "nusad.h"
#include "payload.h"
#include "state.h"
#include "store.h"
#include "users.h"

#define BOXES	   3
#define CONVERGE_S 60

/* The embedded default config of a demo box: every box listens on
 * loopback and names the other two as static peers. */
static const char demo_config[] =
    "[nusad]\n"
    "data_dir = %s\n"
    "listen = tcp://127.0.0.1:%d\n"
    "peers = %s@tcp://127.0.0.1:%d %s@tcp://127.0.0.1:%d\n"
    "discovery = no\n"
    "mode = box\n"
    "log_level = info\n";

struct box {
	char name[8];
	char dir[512];
	struct key *k;
	struct store *s;
	int port;
	int http;		/* box A: the web app's port, else 0 */
	const char *web;	/* box A: the web app's files */
	pid_t pid;
};

/* The clerk's web app of the demo: box A serves it to this user. */
#define DEMO_USER "demo"
#define DEMO_PIN  "1234"

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int
box_create(struct box *b, const char *root, const char *name)
{
	char path[600];
	int rc;

	snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(b->dir, sizeof(b->dir), "%s/%s", root, name);
	if (mkdir(b->dir, 0700) != 0)
		return -errno;
	if ((b->k = key_generate()) == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/device.key", b->dir);
	if ((rc = key_save(b->k, path)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/store", b->dir);
	return store_open(&b->s, path, STORE_CREATE);
}

/* The office box (A) founds the network and enrols the others as clerks;
 * a bundle carries the enrolments to them, as a consultant's USB stick
 * would. */
static int
network_create(struct box *v, const char *root)
{
	struct store_txn *t;
	struct bundle_stats st;
	struct bundle_fault where;
	char path[600];
	FILE *f;
	int rc, i;

	if ((rc = store_begin(v[0].s, &t, STORE_WRITE)) != 0)
		return rc;
	rc = store_create_network(t, v[0].k, "Koperasi Demo Sumber Rejeki");
	for (i = 1; i < BOXES && rc == 0; i++)
		rc = ledger_enrol(t, v[0].k, v[i].k->pk, ROLE_CLERK);
	if (rc == 0)
		rc = ledger_member_add(t, v[0].k, "M001", "Siti Aminah",
		    "Desa Waiwerang");
	if (rc == 0)
		rc = ledger_account_open(t, v[0].k, "M001-S", "M001",
		    "sukarela");
	if (rc) {
		store_abort(t);
		return rc;
	}
	if ((rc = store_commit(t)) != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/enrol.bundle", root);
	if ((f = fopen(path, "w+")) == NULL)
		return -errno;
	if ((rc = store_begin(v[0].s, &t, STORE_READ)) == 0) {
		rc = bundle_export(t, f, NULL, v[0].k, BUNDLE_ZSTD, &st);
		store_abort(t);
	}
	for (i = 1; i < BOXES && rc == 0; i++) {
		rewind(f);
		rc = bundle_import(v[i].s, f, v[i].k, &st, &where);
	}
	fclose(f);
	return rc;
}

static int
box_post(struct box *b, int n)
{
	struct store_txn *t;
	char memo[64];
	int rc;

	if ((rc = store_begin(b->s, &t, STORE_WRITE)) != 0)
		return rc;
	snprintf(memo, sizeof(memo), "setoran %d di box %.7s", n, b->name);
	rc = ledger_post(t, b->k, POST_DEPOSIT, "M001-S", NULL,
	    10000 * (n + 1), memo, ledger_today(), NULL);
	if (rc) {
		store_abort(t);
		return rc;
	}
	return store_commit(t);
}

static int
box_digest(struct box *b, uint8_t d[NUSA_HASH_LEN], size_t *count)
{
	struct store_txn *t;
	int rc;

	if ((rc = store_begin(b->s, &t, STORE_READ)) != 0)
		return rc;
	rc = state_digest(t, d);
	*count = store_count(t);
	store_abort(t);
	return rc;
}

/* Box A serves the clerk's web app when its files are found: next to the
 * binary's build tree (build/nusad -> web/), else where the package puts
 * them. Adds the demo's web user. Returns 0 (also when there are no
 * files: the demo runs without the web app) or a negative error. */
static int
web_setup(struct box *a, const char *argv0, char *dir, size_t size)
{
	const char *slash = strrchr(argv0, '/');
	char index[PATH_MAX + 16], path[600], tree[600];
	struct users *u;
	int rc;

	if (slash != NULL)
		snprintf(tree, sizeof(tree), "%.*s/../web",
		    (int)(slash - argv0), argv0);
	else
		snprintf(tree, sizeof(tree), "web");
	if (size < PATH_MAX || realpath(tree, dir) == NULL)
		snprintf(dir, size, "/usr/share/nusa/web");
	snprintf(index, sizeof(index), "%s/index.html", dir);
	if (access(index, R_OK) != 0) {
		snprintf(dir, size, "/usr/share/nusa/web");
		snprintf(index, sizeof(index), "%s/index.html", dir);
		if (access(index, R_OK) != 0)
			return 0;
	}
	if ((a->http = free_port()) < 0) {
		a->http = 0;
		return 0;
	}
	a->web = dir;
	if ((u = users_new()) == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/users", a->dir);
	rc = users_add(u, DEMO_USER, USERS_ADMIN, DEMO_PIN);
	if (rc == 0)
		rc = users_save(u, path);
	users_free(&u);
	return rc;
}

/* The child: one box's daemon, until the parent stops it. */
static void
box_daemon(struct box *v, int i, volatile sig_atomic_t *stop)
{
	char text[2048], err[256], a[65], b[65];
	struct config c;
	struct log l = { .level = LOG_INFO, .prefix = v[i].name };
	struct nusad *d;
	int j = (i + 1) % BOXES, k = (i + 2) % BOXES, rc;

	snprintf(text, sizeof(text), demo_config, v[i].dir, v[i].port,
	    nusa_hex(a, v[j].k->pk, NUSA_KEY_LEN), v[j].port,
	    nusa_hex(b, v[k].k->pk, NUSA_KEY_LEN), v[k].port);
	if (v[i].http > 0) {
		size_t n = strlen(text);

		snprintf(text + n, sizeof(text) - n,
		    "http = 127.0.0.1:%d\nweb_root = %s\n", v[i].http,
		    v[i].web);
	}
	config_defaults(&c);
	if (config_parse_string(&c, text, "demo", err, sizeof(err)) != 0) {
		fprintf(stderr, "demo: %s\n", err);
		_exit(1);
	}
	if (nusad_open(&d, &c, NULL, &l) != 0)
		_exit(1);
	rc = nusad_run(d, stop, NULL, NULL);
	nusad_close(d);
	_exit(rc == 0 ? 0 : 1);
}

static void
stop_boxes(struct box *v)
{
	int i;

	for (i = 0; i < BOXES; i++)
		if (v[i].pid > 0) {
			kill(v[i].pid, SIGTERM);
			waitpid(v[i].pid, NULL, 0);
			v[i].pid = 0;
		}
}

int
demo_run(const char *argv0, volatile sig_atomic_t *stop)
{
	struct box v[BOXES];
	char root[] = "/tmp/nusa-demo-XXXXXX", hex[2 * NUSA_HASH_LEN + 1];
	char web_dir[PATH_MAX];
	uint8_t dg[BOXES][NUSA_HASH_LEN] = { { 0 } };
	size_t counts[BOXES] = { 0 };
	struct timespec t0, t1;
	int i, n, rc = 0, same = 0, round;
	const char *ctl;

	memset(v, 0, sizeof(v));
	if (mkdtemp(root) == NULL)
		return -errno;
	printf("nusa demo: three boxes of one koperasi in %s\n", root);
	for (i = 0; i < BOXES && rc == 0; i++) {
		rc = box_create(&v[i], root, (const char[][2]){ "A", "B",
		    "C" }[i]);
		v[i].port = free_port();
		if (v[i].port < 0)
			rc = -EADDRNOTAVAIL;
	}
	if (rc == 0)
		rc = network_create(v, root);
	if (rc == 0)
		rc = web_setup(&v[0], argv0, web_dir, sizeof(web_dir));
	if (rc) {
		fprintf(stderr, "demo: setting up the boxes: %s\n",
		    nusa_strerror(rc));
		goto out;
	}
	printf("box A founded the network and enrolled B and C; each box "
	    "listens on 127.0.0.1 and knows the other two\n");
	fflush(stdout);
	/* LMDB environments must not cross a fork: close them first. */
	for (i = 0; i < BOXES; i++) {
		store_close(v[i].s);
		v[i].s = NULL;
	}
	for (i = 0; i < BOXES; i++) {
		if ((v[i].pid = fork()) < 0) {
			rc = -errno;
			goto out;
		}
		if (v[i].pid == 0)
			box_daemon(v, i, stop);
	}
	for (i = 0; i < BOXES && rc == 0; i++) {
		char path[600];

		snprintf(path, sizeof(path), "%s/store", v[i].dir);
		rc = store_open(&v[i].s, path, 0);
	}
	/* Every box records deposits while the daemons run: they converge. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (n = 0; n < 5 && rc == 0; n++)
		for (i = 0; i < BOXES && rc == 0; i++)
			rc = box_post(&v[i], n);
	if (rc) {
		fprintf(stderr, "demo: posting: %s\n", nusa_strerror(rc));
		goto out;
	}
	printf("5 deposits written on each box; waiting for them to sync\n");
	for (round = 0; round < CONVERGE_S * 10 && !*stop && !same &&
	    rc == 0; round++) {
		usleep(100000);
		same = 1;
		for (i = 0; i < BOXES && rc == 0; i++)
			rc = box_digest(&v[i], dg[i], &counts[i]);
		for (i = 1; i < BOXES; i++)
			same &= memcmp(dg[i], dg[0], NUSA_HASH_LEN) == 0 &&
			    counts[i] == counts[0];
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < BOXES; i++)
		printf("box %s: %zu entries, ledger digest %.16s\n", v[i].name,
		    counts[i], nusa_hex(hex, dg[i], NUSA_HASH_LEN));
	if (rc) {
		fprintf(stderr, "demo: reading a box: %s\n", nusa_strerror(rc));
		goto out;
	}
	if (!same) {
		fprintf(stderr, "demo: the boxes did not converge in %d s\n",
		    CONVERGE_S);
		rc = -ETIMEDOUT;
		goto out;
	}
	printf("converged: all three boxes hold the same ledger (%.2f s)\n",
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	ctl = strrchr(argv0, '/') ? "build/nusactl" : "nusactl";
	printf("\nwhat to try next (another terminal):\n"
	    "  %s -d %s/B balance M001-S\n"
	    "  %s -d %s/C post deposit M001-S 25000 --memo 'dari C'\n"
	    "  %s -d %s/A status     (peers, last sync, behind/ahead)\n"
	    "  %s -d %s/A log\n", ctl, root, ctl, root, ctl, root, ctl, root);
	if (v[0].http > 0)
		printf("  the clerk's web app of box A: http://127.0.0.1:%d/ "
		    "(user %s, PIN %s)\n", v[0].http, DEMO_USER, DEMO_PIN);
	if (isatty(0)) {
		printf("the boxes keep running: Ctrl-C stops them\n");
		fflush(stdout);
		/* A short sleep, not pause(): a signal between the test and
		 * pause() would be missed. */
		while (!*stop)
			usleep(200000);
	} else
		printf("(not a terminal: the boxes stop now; their data stays "
		    "in %s)\n", root);
out:
	stop_boxes(v);
	for (i = 0; i < BOXES; i++) {
		store_close(v[i].s);
		key_free(&v[i].k);
	}
	return rc;
}
