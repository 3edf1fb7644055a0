#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nusa.h"

/* Tries this many temporary names before giving up (each is new to the
 * directory unless another writer or a crash left one behind). */
#define OUTFILE_TRIES 16

int
outfile_open(struct outfile *o, const char *path)
{
	return outfile_open_mode(o, path, 0666);
}

int
outfile_open_mode(struct outfile *o, const char *path, mode_t mode)
{
	struct timespec ts;
	int fd = -1, i;

	o->f = NULL;
	if ((size_t)snprintf(o->path, sizeof(o->path), "%s", path) >=
	    sizeof(o->path))
		return -ENAMETOOLONG;
	/* A name of our own, created here (O_EXCL: never through a link
	 * someone left, never shared with a second writer of PATH). */
	for (i = 0; fd < 0 && i < OUTFILE_TRIES; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp.%ld.%ld",
		    path, (long)getpid(), (long)(ts.tv_nsec + i)) >=
		    sizeof(o->tmp))
			return -ENAMETOOLONG;
		fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, mode);
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	if ((o->f = fdopen(fd, "wb")) == NULL) {
		int rc = -errno;

		close(fd);
		unlink(o->tmp);
		return rc;
	}
	return 0;
}

int
outfile_close(struct outfile *o, int keep)
{
	int rc = 0;

	if (o->f == NULL)
		return 0;
	if (keep) {
		if (fflush(o->f) != 0)
			rc = -errno;
		else if (ferror(o->f))
			rc = -EIO;	/* a write failed earlier */
		else if (fsync(fileno(o->f)) != 0)
			rc = -errno;
	}
	if (fclose(o->f) != 0 && rc == 0)
		rc = -errno;
	o->f = NULL;
	if (keep && rc == 0 && rename(o->tmp, o->path) != 0)
		rc = -errno;
	if (!keep || rc != 0)
		unlink(o->tmp);
	else
		rc = nusa_sync_parent(o->path);	/* the rename, on disk */
	return rc;
}
