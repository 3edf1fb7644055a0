/* Output files that appear whole or not at all: written to PATH.tmp,
 * flushed to disk, then renamed over PATH. A pulled USB stick or a power
 * cut never leaves half a bundle or half a spreadsheet under PATH. */
#ifndef NUSA_OUTFILE_H
#define NUSA_OUTFILE_H

#include <limits.h>
#include <stdio.h>

struct outfile {
	FILE *f;		/* write here between open and close */
	char path[PATH_MAX];
	char tmp[PATH_MAX];
};

/* Creates PATH.tmp. Returns 0 or -errno (-ENAMETOOLONG for a long path). */
int outfile_open(struct outfile *o, const char *path);

/* With keep, flushes, fsyncs and renames the file into place; without,
 * or if that fails, removes it. Returns 0 or -errno. */
int outfile_close(struct outfile *o, int keep);

#endif
