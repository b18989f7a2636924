/*
 * log.c -- JSON-lines logging.  jansson escapes everything, so a hostile
 * path or header can never forge a line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

static void
now_iso8601(char *buf, size_t size)
{
	struct timeval tv;
	struct tm	tm;
	char		base[24];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%.19s.%03dZ", base, (int) (tv.tv_usec / 1000) % 1000);
}

static void
emit(FILE *f, json_t *line)
{
	char		ts[40];

	now_iso8601(ts, sizeof(ts));
	json_object_set_new(line, "ts", json_string(ts));
	json_dumpf(line, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	fputc('\n', f);
	fflush(f);
	json_decref(line);
}

void
nx_log_access(json_t *line)
{
	emit(stdout, line);
}

void
nx_log(const char *level, const char *fmt, ...)
{
	char		msg[1024];
	va_list		ap;
	json_t	   *line = json_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set_new(line, "level", json_string(level));
	json_object_set_new(line, "msg", json_string(msg));
	emit(stderr, line);
}

double
nx_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}
