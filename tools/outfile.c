#include "outfile.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int
outfile_open(struct outfile *o, const char *path)
{
	o->f = NULL;
	if ((size_t)snprintf(o->path, sizeof(o->path), "%s", path) >=
	    sizeof(o->path) ||
	    (size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp", path) >=
	    sizeof(o->tmp))
		return -ENAMETOOLONG;
	if ((o->f = fopen(o->tmp, "wb")) == NULL)
		return -errno;
	return 0;
}

int
outfile_close(struct outfile *o, int keep)
{
	int rc = 0;

	if (o->f == NULL)
		return 0;
	if (keep && (fflush(o->f) != 0 || ferror(o->f) ||
	    fsync(fileno(o->f)) != 0))
		rc = errno ? -errno : -EIO;
	if (fclose(o->f) != 0 && rc == 0)
		rc = -errno;
	o->f = NULL;
	if (keep && rc == 0 && rename(o->tmp, o->path) != 0)
		rc = -errno;
	if (!keep || rc != 0)
		unlink(o->tmp);
	return rc;
}
