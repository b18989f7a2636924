/*
 * log.h -- JSON lines: one per request on stdout (the access log), and
 * operational messages on stderr.  Never bodies, tokens or secrets.
 */
#ifndef NX_LOG_H
#define NX_LOG_H

#include <jansson.h>

/* Adds "ts" and writes the object as one line on stdout; takes ownership. */
void nx_log_access(json_t *line);

/* An operational message on stderr: {"ts", "level", "msg"}. */
void nx_log(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
