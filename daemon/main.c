/* nusad: the sync daemon of a nusa box or hub.
 *
 *   nusad -c CONFIG        run
 *   nusad -n [-v] -c FILE  check a config (and print it normalized)
 *   nusad --demo           a demo network of boxes on loopback
 *
 * The only global state: the signal flags. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "demo.h"
#include "log.h"
#include "nusad.h"

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t hup_flag;

static void
on_signal(int sig)
{
	if (sig == SIGHUP)
		hup_flag = 1;
	else
		stop_flag = 1;
}

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: nusad -c CONFIG      run the daemon\n"
	    "       nusad -n [-v] -c CONFIG\n"
	    "                            check a config (-v: print it "
	    "normalized)\n"
	    "       nusad --demo         run a demo network on loopback\n"
	    "\n"
	    "SIGTERM stops cleanly; SIGHUP reloads the peer list.\n"
	    "Every config key is documented in nusad.conf (systemd/).\n");
}

static int
signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: zmq_poll returns with EINTR and the loop looks. */
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) ||
	    sigaction(SIGHUP, &sa, NULL))
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "demo", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct config c;
	struct log l = { .level = LOG_INFO, .prefix = "nusad" };
	struct nusad *d = NULL;
	const char *path = NULL;
	char err[512];
	int ch, check = 0, verbose = 0, demo = 0, rc;

	while ((ch = getopt_long(argc, argv, "c:nvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'D':
			demo = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (demo && (path || check)) ||
	    (!demo && path == NULL)) {
		usage(stderr);
		return 2;
	}
	if (signals() != 0)
		return 1;
	/* Everything nusad creates (the control socket among them) is the
	 * daemon user's alone. */
	umask(077);
	if (demo)
		return demo_run(argv[0], &stop_flag) == 0 ? 0 : 1;
	config_defaults(&c);
	if (config_parse_file(&c, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "nusad: %s\n", err);
		return check ? 1 : 2;
	}
	if (c.data_dir[0] == '\0') {
		fprintf(stderr, "nusad: %s: data_dir is not set\n", path);
		return check ? 1 : 2;
	}
	if (check) {
		if (verbose)
			config_print(&c, stdout);
		else
			printf("%s: ok\n", path);
		return 0;
	}
	l.level = (int)c.log_level;
	if ((rc = nusad_open(&d, &c, NULL, &l)) != 0)
		return 1;
	rc = nusad_run(d, &stop_flag, &hup_flag, path);
	nusad_close(d);
	return rc == 0 ? 0 : 1;
}
