/*
 * request.h -- one request from arrival to answer: who it is (request id,
 * trace id, peer, token) and the answers that end it.
 */
#ifndef NX_REQUEST_H
#define NX_REQUEST_H

#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "pool.h"
#include "router.h"
#include "server.h"

/* One request, from arrival to answer; freed by the answer. */
typedef struct Request {
	Server	   *srv;
	struct evhttp_request *req;
	RouteMatch	match;
	char		request_id[65];
	char		trace_id[33];	/* "" without a valid traceparent */
	char		peer[64];
	char		method[8];
	char		path[257];		/* for the access log, truncated */
	struct timespec start;
	double		db_ms;
	bool		counted;		/* holds one of srv->inflight */
	bool		head;			/* HEAD: answered like GET, without the body */
} Request;

/* A header every answer carries, whoever wrote it (refusal.c too). */
typedef struct NxHeaderField {
	const char *name;
	const char *value;
} NxHeaderField;

/* Cache-Control, nosniff, HSTS; ends with {NULL, NULL}. */
extern const NxHeaderField nx_answer_headers[];

/* A fresh random request id: 32 hex digits. */
void		nx_request_id_random(char id[65]);

/* A new request, counted in flight, with its identity read from req. */
Request    *nx_request_new(Server *srv, struct evhttp_request *req);

/* The bearer token of the Authorization header, or NULL. */
const char *nx_request_token(Request *r);

/* nexplane.authenticate(token, request id, trace id): opens every pipeline. */
PoolStmt	nx_request_auth_stmt(const Request *r, const char *token);

/* Answers: each writes status, headers and body, logs, and frees r. */
void		nx_reply_json(Request *r, int status, const char *json);
void		nx_reply_empty(Request *r, int status);	/* no body: 204 */
void		nx_reply_error(Request *r, int status, const char *message);
/* ... with a code, as the database's errors have (e.g. "NX403"). */
void		nx_reply_error_code(Request *r, int status, const char *code, const char *message);
void		nx_reply_unauthenticated(Request *r);
void		nx_reply_unavailable(Request *r, const char *message);
void		nx_reply_db(Request *r, const PoolReply *reply, int ok_status, int value_stmt);

/* Streams, which answer in pieces (sse.c). */

/* The headers every answer carries (request id, nx_answer_headers, ...);
 * content_type NULL for an answer without a body. */
void		nx_request_headers(Request *r, const char *content_type);
/* A request becomes a stream: it no longer holds up draining. */
void		nx_request_detach(Request *r);
/* Before a stream's evhttp_send_reply_end: count it until it is written. */
void		nx_request_hold_stream_end(Request *r);
void		nx_request_log(Request *r, int status, size_t bytes);
void		nx_request_free(Request *r);

#endif
