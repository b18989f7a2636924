/*
 * errors.h -- one shape for every error answer, and the mapping from a
 * PostgreSQL SQLSTATE to an HTTP status.
 */
#ifndef NX_ERRORS_H
#define NX_ERRORS_H

#include <stdbool.h>

typedef struct DbError {
	char		sqlstate[6];
	const char *message;
	const char *detail;
	const char *hint;
} DbError;

/* HTTP status for a database error raised while calling function fn. */
int nx_status_for_sqlstate(const DbError *e, const char *fn);

/*
 * The JSON error document: {"error": {"status", "code", "message",
 * "detail"?, "hint"?, "request_id"}}.  Caller frees.  For 5xx answers the
 * database's words are not passed on: only a fixed message and the request
 * id, which finds the log line.
 */
char *nx_error_json(int status, const char *code, const char *message,
					const char *detail, const char *hint, const char *request_id);

const char *nx_status_reason(int status);

#endif
