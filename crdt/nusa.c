#include "nusa.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static const char *const nusa_messages[NUSA_ELAST - NUSA_EFIRST] = {
	[NUSA_EMALFORMED - NUSA_EFIRST] = "malformed encoding",
	[NUSA_EVERSION - NUSA_EFIRST] = "unsupported format version",
	[NUSA_EBADSIG - NUSA_EFIRST] = "bad signature",
	[NUSA_EBADCHAIN - NUSA_EFIRST] = "broken hash chain",
	[NUSA_EGAP - NUSA_EFIRST] = "previous entry missing",
	[NUSA_EUNENROLLED - NUSA_EFIRST] = "author not enrolled",
	[NUSA_EREVOKED - NUSA_EFIRST] = "author revoked",
	[NUSA_EFORBIDDEN - NUSA_EFIRST] = "not allowed for this role",
	[NUSA_ENETWORK - NUSA_EFIRST] = "belongs to another network",
	[NUSA_ENONET - NUSA_EFIRST] = "no network: run init, or import "
				      "a bundle that enrols this box",
	[NUSA_EEXIST - NUSA_EFIRST] = "already exists",
	[NUSA_ENOTFOUND - NUSA_EFIRST] = "not found",
	[NUSA_EFUNDS - NUSA_EFIRST] = "insufficient balance",
	[NUSA_ERANGE - NUSA_EFIRST] = "number out of range",
	[NUSA_ETRUNCATED - NUSA_EFIRST] = "truncated input",
	[NUSA_ECORRUPT - NUSA_EFIRST] = "store is inconsistent",
	[NUSA_ESTOREVER - NUSA_EFIRST] = "store has another format version",
};

const char *
nusa_strerror(int err)
{
	if (err < 0 && err != INT_MIN)
		err = -err;
	if (err >= NUSA_EFIRST && err < NUSA_ELAST)
		return nusa_messages[err - NUSA_EFIRST];
	return strerror(err);
}

char *
nusa_hex(char *out, const uint8_t *bin, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[bin[i] >> 4];
		out[2 * i + 1] = digits[bin[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

static int
nusa_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
nusa_unhex(uint8_t *bin, size_t len, const char *str)
{
	size_t i;
	int hi, lo;

	if (strlen(str) != 2 * len)
		return -NUSA_EMALFORMED;
	for (i = 0; i < len; i++) {
		hi = nusa_nibble(str[2 * i]);
		lo = nusa_nibble(str[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -NUSA_EMALFORMED;
		bin[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
nusa_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
nusa_sync_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd, rc = 0;

	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	if (slash == NULL)
		memcpy(dir, ".", 2);
	else if (n == 0)
		memcpy(dir, "/", 2);
	else {
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}
