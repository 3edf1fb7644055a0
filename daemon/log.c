#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* journald reads "<N>" at the start of a line as the syslog priority. */
static const char *const log_prio[] = { "<3>", "<4>", "<6>", "<7>" };
static const char *const log_name[] = { "error", "warn", "info", "debug" };

void
log_msg(const struct log *l, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level > l->level || level < LOG_ERROR)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* systemd sets JOURNAL_STREAM when stderr goes to the journal. */
	fprintf(stderr, "%s%s: %s: %s\n",
	    getenv("JOURNAL_STREAM") ? log_prio[level] : "",
	    l->prefix ? l->prefix : "nusad", log_name[level], line);
}
