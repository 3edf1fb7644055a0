/* A power cut on demand, for crash tests: preloaded into nusactl, it
 * kills the process with SIGKILL at the Nth fsync or fdatasync (N from
 * $NUSA_CRASH_AT_SYNC), before that sync happens. LMDB syncs its data
 * pages and then its meta page at every commit, so each N cuts a commit
 * at a different point. Built by make test into build/test/crashshim.so. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static int calls;

static void
maybe_crash(void)
{
	const char *at = getenv("NUSA_CRASH_AT_SYNC");

	if (at && ++calls == atoi(at))
		kill(getpid(), SIGKILL);
}

int
fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	maybe_crash();
	return real(fd);
}

int
fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	maybe_crash();
	return real(fd);
}
