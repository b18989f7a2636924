/*
 * http.h -- the server: request objects, answers, draining.
 */
#ifndef NX_HTTP_H
#define NX_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "pool.h"
#include "ratelimit.h"
#include "router.h"

typedef struct SseHub SseHub;

typedef struct Server {
	const Config *cfg;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *listener;
	SSL_CTX    *tls;
	Pool	   *pool;
	RateLimiter *login_limit;
	SseHub	   *sse;
	char	   *openapi;		/* generated once */
	int			inflight;		/* requests not yet answered (streams excluded) */
	bool		draining;
	struct event *drain_timer;
} Server;

/* One request, from arrival to answer; freed by the answer. */
typedef struct Request {
	Server	   *srv;
	struct evhttp_request *req;
	RouteMatch	match;
	char		request_id[65];
	char		trace_id[33];
	char		peer[64];
	char		method[8];
	char		path[257];		/* for the access log, truncated */
	struct timespec start;
	double		db_ms;
	bool		counted;		/* in srv->inflight */
} Request;

extern const char nx_auth_sql[];

int			nx_http_start(Server *srv);
void		nx_http_drain(Server *srv);
void		nx_http_free(Server *srv);

/* Answers (each frees r). */
void		nx_reply_json(Request *r, int status, const char *json);
void		nx_reply_error(Request *r, int status, const char *message);
void		nx_reply_unavailable(Request *r, const char *message);
void		nx_reply_db(Request *r, const PoolReply *reply, int ok_status, int value_stmt);

/* The headers every answer carries (request id, no-store, HSTS, ...). */
void		nx_request_headers(Request *r, const char *content_type);

/* A request becomes a stream: it no longer holds up draining. */
void		nx_request_detach(Request *r);
/* Before a stream's evhttp_send_reply_end: count it until it is written. */
void		nx_request_hold_stream_end(Request *r);
void		nx_request_log(Request *r, int status, size_t bytes);
void		nx_request_free(Request *r);
const char *nx_request_token(Request *r);

#endif
