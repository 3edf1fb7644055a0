/* Output files that appear whole or not at all: written to PATH.tmp.*,
 * flushed to disk, then renamed over PATH. A pulled USB stick or a power
 * cut never leaves half a bundle or half a spreadsheet under PATH. */
#ifndef NUSA_OUTFILE_H
#define NUSA_OUTFILE_H

#include <limits.h>
#include <stdio.h>
#include <sys/types.h>

struct outfile {
	FILE *f;		/* write here between open and close */
	char path[PATH_MAX];
	char tmp[PATH_MAX];
};

/* Creates PATH.tmp.PID.N, a new file of its own (mode 0666 less the
 * umask). Returns 0 or -errno (-ENAMETOOLONG for a long path). */
int outfile_open(struct outfile *o, const char *path);
/* The same with mode (less the umask) instead of 0666. */
int outfile_open_mode(struct outfile *o, const char *path, mode_t mode);

/* With keep, flushes, fsyncs and renames the file into place; without,
 * or if that fails, removes it. Then the rename is fsynced with the
 * directory. Returns 0 or -errno. */
int outfile_close(struct outfile *o, int keep);

#endif
