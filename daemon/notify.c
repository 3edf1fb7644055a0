#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct notify {
	int fd;
	struct sockaddr_un addr;
	socklen_t len;
	int64_t watchdog_ms;
};

int
notify_open(struct notify **out)
{
	const char *path = getenv("NOTIFY_SOCKET"), *wd;
	struct notify *n;
	size_t plen;
	char *end;
	unsigned long long usec;

	*out = NULL;
	if (path == NULL || path[0] == '\0')
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') ||
	    plen >= sizeof(n->addr.sun_path))
		return -EINVAL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -ENOMEM;
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, path, plen);
	/* '@' names a socket in the abstract namespace: a leading NUL. */
	if (path[0] == '@')
		n->addr.sun_path[0] = '\0';
	n->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	if ((n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		free(n);
		return -errno;
	}
	wd = getenv("WATCHDOG_USEC");
	if (wd && *wd) {
		errno = 0;
		usec = strtoull(wd, &end, 10);
		if (errno == 0 && *end == '\0' && usec > 0)
			n->watchdog_ms = (int64_t)(usec / 2000);
		if (n->watchdog_ms == 0 && usec > 0)
			n->watchdog_ms = 1;
	}
	*out = n;
	return 0;
}

void
notify_close(struct notify *n)
{
	if (n == NULL)
		return;
	close(n->fd);
	free(n);
}

int
notify_send(struct notify *n, const char *msg)
{
	if (n == NULL)
		return 0;
	if (sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (const struct sockaddr *)&n->addr, n->len) < 0)
		return -errno;
	return 0;
}

int64_t
notify_watchdog_ms(const struct notify *n)
{
	return n ? n->watchdog_ms : 0;
}
