#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "config.h"

/* A scraper asks every few seconds; more than a handful at once is not a
 * scraper. Each connection gets a few seconds to say what it wants. */
#define CONN_MAX	8
#define CONN_TIMEOUT_S	5

#define CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct MHD_Daemon *mhd;
	pthread_mutex_t lock;	/* guards text and len */
	char *text;
	size_t len;
};

static void
page_add(struct metrics_page *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
page_add(struct metrics_page *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return;
	for (;;) {
		size_t room = p->cap - p->len;

		va_start(ap, fmt);
		n = vsnprintf(p->buf ? p->buf + p->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			p->failed = 1;
			return;
		}
		if ((size_t)n < room) {
			p->len += (size_t)n;
			return;
		}
		{
			size_t cap = (p->cap ? p->cap * 2 : 4096) + (size_t)n;
			char *b = realloc(p->buf, cap);

			if (b == NULL) {
				p->failed = 1;
				return;
			}
			p->buf = b;
			p->cap = cap;
		}
	}
}

/* Escapes s for a label value ('\\', '"', newline) or, with help set,
 * for HELP text ('\\', newline). */
static void
page_escaped(struct metrics_page *p, const char *s, int help)
{
	for (; *s; s++) {
		if (*s == '\\')
			page_add(p, "\\\\");
		else if (*s == '\n')
			page_add(p, "\\n");
		else if (*s == '"' && !help)
			page_add(p, "\\\"");
		else
			page_add(p, "%c", *s);
	}
}

void
metrics_page_family(struct metrics_page *p, const char *name,
    const char *type, const char *help)
{
	page_add(p, "# HELP %s ", name);
	page_escaped(p, help, 1);
	page_add(p, "\n# TYPE %s %s\n", name, type);
}

void
metrics_page_sample(struct metrics_page *p, const char *name,
    const char *const *labels, uint64_t value)
{
	size_t i;

	page_add(p, "%s", name);
	for (i = 0; labels && labels[i]; i += 2) {
		page_add(p, "%s%s=\"", i ? "," : "{", labels[i]);
		page_escaped(p, labels[i + 1] ? labels[i + 1] : "", 0);
		page_add(p, "\"");
	}
	page_add(p, "%s %" PRIu64 "\n", i ? "}" : "", value);
}

void
metrics_page_one(struct metrics_page *p, const char *name,
    const char *type, const char *help, uint64_t value)
{
	metrics_page_family(p, name, type, help);
	metrics_page_sample(p, name, NULL, value);
}

void
metrics_page_free(struct metrics_page *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, const char *text,
    size_t len, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)text,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Runs in MHD's thread: only m->text, under the lock. */
static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	static const char nf[] = "not found: try /metrics\n";
	static const char na[] = "GET only\n";
	struct metrics *m = cls;
	enum MHD_Result ret;

	(void)version;
	(void)upload;
	(void)con_cls;
	/* A body is never wanted: answer at once, read none of it. */
	*upload_size = 0;
	if (strcmp(url, "/metrics") != 0)
		return answer(c, MHD_HTTP_NOT_FOUND, nf, sizeof(nf) - 1,
		    "text/plain");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, na,
		    sizeof(na) - 1, "text/plain");
	pthread_mutex_lock(&m->lock);
	ret = answer(c, MHD_HTTP_OK, m->text ? m->text : "", m->len,
	    CONTENT_TYPE);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int
metrics_open(struct metrics **out, const char *addr)
{
	struct sockaddr_storage ss;
	const char *why;
	struct metrics *m;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;

	*out = NULL;
	if (config_http_sockaddr(addr, &ss, &why) != 0)
		return -EINVAL;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return -ENOMEM;
	}
	errno = 0;
	m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle,
	    m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_MAX,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
	    MHD_OPTION_END);
	if (m->mhd == NULL) {
		int rc = errno ? -errno : -EADDRINUSE;

		pthread_mutex_destroy(&m->lock);
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void
metrics_close(struct metrics *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->mhd);
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	free(m);
}

int
metrics_publish(struct metrics *m, const struct metrics_page *p)
{
	char *copy, *old;

	if (p->failed)
		return -ENOMEM;
	if ((copy = malloc(p->len + 1)) == NULL)
		return -ENOMEM;
	memcpy(copy, p->buf ? p->buf : "", p->len);
	copy[p->len] = '\0';
	pthread_mutex_lock(&m->lock);
	old = m->text;
	m->text = copy;
	m->len = p->len;
	pthread_mutex_unlock(&m->lock);
	free(old);
	return 0;
}
