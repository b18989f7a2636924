/*
 * log.h -- JSON lines: one per request on stdout (the access log), and
 * operational messages on stderr.  Never bodies, tokens or secrets.
 */
#ifndef NX_LOG_H
#define NX_LOG_H

#include <jansson.h>
#include <time.h>

/* Adds "ts" and writes the object as one line on stdout; takes ownership. */
void nx_log_access(json_t *line);

/* An operational message on stderr: {"ts", "level", "msg"}. */
void nx_log(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Milliseconds from t0 (CLOCK_MONOTONIC) to now, for the logs' timings. */
double nx_ms_since(const struct timespec *t0);

#endif
