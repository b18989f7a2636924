/*
 * log.c -- one JSON line per message on stderr (journald keeps it).
 * jansson escapes every value, so a hostile user name or path in a
 * message can never forge a line.
 */
#include "agent.h"

#include <stdarg.h>
#include <stdio.h>

NxLogLevel nx_log_level = NX_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

void
nx_log(NxLogLevel level, const char *fmt, ...)
{
	char msg[1024];
	char ts[32];
	va_list ap;
	time_t now = time(NULL);
	struct tm tm;
	json_t *line;

	if (level < nx_log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	line = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "msg", msg);
	if (line == NULL)
		return;
	json_dumpf(line, stderr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stderr);
	fflush(stderr);
	json_decref(line);
}
