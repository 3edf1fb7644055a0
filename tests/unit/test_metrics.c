/* The metrics page: families, samples, label escaping; and the server:
 * GET /metrics serves the last page published, anything else is 404. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "testutil.h"

static void
test_page(void **state)
{
	struct metrics_page p = { 0 };
	const char *labels[] = { "peer", "ab\"c\\d\ne", "network", "Koperasi",
		NULL };
	size_t i;

	(void)state;
	metrics_page_family(&p, "nusa_x_total", "counter", "Things\\n\nmore.");
	metrics_page_sample(&p, "nusa_x_total", NULL, 7);
	metrics_page_sample(&p, "nusa_x_total", labels, UINT64_MAX);
	assert_false(p.failed);
	assert_string_equal(p.buf,
	    "# HELP nusa_x_total Things\\\\n\\nmore.\n"
	    "# TYPE nusa_x_total counter\n"
	    "nusa_x_total 7\n"
	    "nusa_x_total{peer=\"ab\\\"c\\\\d\\ne\",network=\"Koperasi\"} "
	    "18446744073709551615\n");
	/* Many lines: the buffer grows. */
	for (i = 0; i < 2000; i++)
		metrics_page_sample(&p, "nusa_x_total", labels, i);
	assert_false(p.failed);
	assert_int_equal(strlen(p.buf), p.len);
	metrics_page_free(&p);
	assert_null(p.buf);
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Sends req to 127.0.0.1:port and reads the answer into buf. */
static void
http(int port, const char *req, char *buf, size_t cap)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

static void
test_server(void **state)
{
	struct metrics *m;
	struct metrics_page p = { 0 };
	char addr[32], buf[4096];
	int port = free_port();

	(void)state;
	testutil_need_native();
	assert_int_equal(metrics_open(&m, "example.org:9100"), -EINVAL);
	assert_int_equal(metrics_open(&m, "127.0.0.1"), -EINVAL);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	assert_int_equal(metrics_open(&m, addr), 0);

	http(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	if (strstr(buf, " 200 ") == NULL)
		fail_msg("%s", buf);
	assert_non_null(strstr(buf, "text/plain; version=0.0.4"));

	metrics_page_family(&p, "nusa_y", "gauge", "A gauge.");
	metrics_page_sample(&p, "nusa_y", NULL, 42);
	assert_int_equal(metrics_publish(m, &p), 0);
	metrics_page_free(&p);
	http(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, "\r\n\r\n# HELP nusa_y A gauge.\n"
	    "# TYPE nusa_y gauge\nnusa_y 42\n"));

	http(port, "GET / HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 404 "));
	http(port, "GET /metrics/x HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 404 "));
	http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
	    buf, sizeof(buf));
	assert_non_null(strstr(buf, " 405 "));
	/* The same port twice: the second cannot listen. */
	{
		struct metrics *m2;

		assert_true(metrics_open(&m2, addr) < 0);
	}
	metrics_close(m);
	metrics_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page),
		cmocka_unit_test(test_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
