/*
 * http.c -- the request path: TLS connections, checks that need no
 * database (route, method, token present, content type, size, rate), then
 * one pipelined round trip: nexplane.authenticate(token, request_id,
 * trace_id) and the route's function, in one implicit transaction.
 *
 * Every request gets a Request object at arrival and gives it up in exactly
 * one place, the answer; libevent keeps its evhttp_request alive until we
 * answer even when the client has gone (it then only frees it).
 */
#include "http.h"

#include "bind.h"
#include "errors.h"
#include "log.h"
#include "sse.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* every authenticated request opens with this, in the same pipeline */
const char nx_auth_sql[] = "SELECT nexplane.authenticate($1, $2, $3)";
static const char READY_SQL[] =
	"SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'nexplane'";

static void drain_check(Server *srv);

/* ---------- request identity ---------- */

/* X-Request-Id if the client sent a tame one (what authenticate accepts). */
static void
request_id_init(Request *r, struct evkeyvalq *in)
{
	const char *given = evhttp_find_header(in, "X-Request-Id");
	unsigned char raw[16];

	if (given && given[0] && strlen(given) <= 64 &&
		strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
		strlen(given))
	{
		snprintf(r->request_id, sizeof(r->request_id), "%s", given);
		return;
	}
	RAND_bytes(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(r->request_id + 2 * i, 3, "%02x", raw[i]);
}

/* The trace-id of a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>. */
static void
trace_id_init(Request *r, struct evkeyvalq *in)
{
	const char *tp = evhttp_find_header(in, "traceparent");

	r->trace_id[0] = '\0';
	if (tp == NULL || strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
		return;
	if (strspn(tp + 3, "0123456789abcdef") < 32 || strncmp(tp + 3, "00000000000000000000000000000000", 32) == 0)
		return;
	memcpy(r->trace_id, tp + 3, 32);
	r->trace_id[32] = '\0';
}

static const char *
method_name(enum evhttp_cmd_type t)
{
	switch (t)
	{
		case EVHTTP_REQ_GET: return "GET";
		case EVHTTP_REQ_POST: return "POST";
		case EVHTTP_REQ_PUT: return "PUT";
		case EVHTTP_REQ_PATCH: return "PATCH";
		case EVHTTP_REQ_DELETE: return "DELETE";
		case EVHTTP_REQ_HEAD: return "HEAD";
		case EVHTTP_REQ_OPTIONS: return "OPTIONS";
		default: return "OTHER";
	}
}

const char *
nx_request_token(Request *r)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h && strlen(h) <= 8192 ? h : NULL;
}

/* ---------- answers ---------- */

void
nx_request_log(Request *r, int status, size_t bytes)
{
	json_t	   *line = json_object();

	json_object_set_new(line, "request_id", json_string(r->request_id));
	json_object_set_new(line, "method", json_string(r->method));
	json_object_set_new(line, "path", json_string(r->path));
	if (r->match.route)
		json_object_set_new(line, "route", json_string(r->match.route->pattern));
	json_object_set_new(line, "status", json_integer(status));
	json_object_set_new(line, "bytes", json_integer((json_int_t) bytes));
	json_object_set_new(line, "ms", json_real((double) (long) (nx_ms_since(&r->start) * 100) / 100));
	if (r->db_ms > 0)
		json_object_set_new(line, "db_ms", json_real((double) (long) (r->db_ms * 100) / 100));
	json_object_set_new(line, "remote", json_string(r->peer));
	nx_log_access(line);
}

void
nx_request_free(Request *r)
{
	Server	   *srv = r->srv;

	nx_route_match_free(&r->match);
	if (r->counted)
		srv->inflight--;
	free(r);
	drain_check(srv);
}

void
nx_request_detach(Request *r)
{
	if (r->counted)
	{
		r->counted = false;
		r->srv->inflight--;
		drain_check(r->srv);
	}
}

void
nx_request_headers(Request *r, const char *content_type)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "X-Request-Id", r->request_id);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Strict-Transport-Security", "max-age=31536000");
	if (r->srv->draining)
		evhttp_add_header(out, "Connection", "close");
}

/*
 * An answer being written: the drain counts it until it is on the wire
 * (on_complete) or its connection is gone (closecb; libevent then frees the
 * request without completing it).  Whichever comes first ends the count;
 * the other is unhooked or never fires.
 */
typedef struct PendingAnswer {
	Server	   *srv;
} PendingAnswer;

static void
answer_done(PendingAnswer *p)
{
	Server	   *srv = p->srv;

	free(p);
	srv->inflight--;
	drain_check(srv);
}

static void
answer_sent(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	answer_done(arg);
}

static void
answer_lost(struct evhttp_connection *evcon, void *arg)
{
	answer_done(arg);
}

/* Hook the end of r's answer; the caller has counted it in srv->inflight. */
static void
hold_until_sent(Request *r)
{
	PendingAnswer *p = malloc(sizeof(PendingAnswer));

	p->srv = r->srv;
	evhttp_request_set_on_complete_cb(r->req, answer_sent, p);
	evhttp_connection_set_closecb(evhttp_request_get_connection(r->req), answer_lost, p);
}

/* A stream's last words count as in flight until written: drain waits. */
void
nx_request_hold_stream_end(Request *r)
{
	if (evhttp_request_get_connection(r->req) == NULL)
		return;
	r->srv->inflight++;
	hold_until_sent(r);
}

void
nx_reply_json(Request *r, int status, const char *json)
{
	struct evbuffer *buf = evbuffer_new();
	size_t		len = strlen(json);

	/*
	 * Hand the in-flight count over to the completion of the write, so that
	 * SIGTERM does not stop the loop with an answer still in the buffers.
	 * (With the client gone there is nothing to wait for.)
	 */
	if (r->counted && evhttp_request_get_connection(r->req) != NULL)
	{
		hold_until_sent(r);
		r->counted = false;		/* the count moved to the pending answer */
	}

	nx_request_headers(r, "application/json");
	evbuffer_add(buf, json, len);
	evbuffer_add(buf, "\n", 1);
	/* logged first: over TLS the answer may leave inside evhttp_send_reply */
	nx_request_log(r, status, len + 1);
	evhttp_send_reply(r->req, status, nx_status_reason(status), buf);
	evbuffer_free(buf);
	nx_request_free(r);
}

static void
reply_error_full(Request *r, int status, const char *code, const char *message,
				 const char *detail, const char *hint)
{
	char	   *doc = nx_error_json(status, code, message, detail, hint, r->request_id);

	nx_reply_json(r, status, doc ? doc : "{\"error\":{}}");
	free(doc);
}

void
nx_reply_error(Request *r, int status, const char *message)
{
	reply_error_full(r, status, NULL, message, NULL, NULL);
}

/* 503 with Retry-After: the client may simply try again shortly. */
void
nx_reply_unavailable(Request *r, const char *message)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
	nx_reply_error(r, 503, message);
}

/*
 * Answer from a pool reply: the first error decides the status; otherwise
 * statement value_stmt's value is the body.
 */
void
nx_reply_db(Request *r, const PoolReply *reply, int ok_status, int value_stmt)
{
	const PoolStmtResult *e;
	const char *fn = r->match.route ? r->match.route->function : NULL;
	int			status;

	r->db_ms = reply->db_ms;
	if (reply->failed)
	{
		nx_reply_unavailable(r, "the database is unavailable; retry shortly");
		return;
	}
	e = nx_pool_first_error(reply);
	if (e == NULL)
	{
		const char *v = reply->r[value_stmt].value;

		nx_reply_json(r, ok_status, v ? v : "null");
		return;
	}
	status = nx_status_for_sqlstate(&e->error, fn);
	if (status == 501)
	{
		char		msg[160];

		snprintf(msg, sizeof(msg),
				 "%s %s is not available yet: this database has no nexplane.%s()",
				 r->method, r->match.route->pattern, fn);
		reply_error_full(r, 501, NULL, msg, NULL,
						 "Upgrade the nexplane extension; the route works once the function exists.");
		return;
	}
	if (status >= 500)
	{
		/* the database's words stay in the server log, keyed by request id */
		nx_log("error", "request %s: %s failed with SQLSTATE %s", r->request_id,
			   fn ? fn : "query", e->error.sqlstate);
		if (status == 503)
			nx_reply_unavailable(r, "temporarily unavailable; retry shortly");
		else
			reply_error_full(r, status, NULL, "internal error", NULL, NULL);
		return;
	}
	reply_error_full(r, status, e->error.sqlstate, e->error.message, e->error.detail,
					 e->error.hint);
}

/* ---------- routes that are not one SQL function ---------- */

static void
ready_done(PoolReply *reply, void *arg)
{
	Request    *r = arg;
	char		msg[160];

	r->db_ms = reply->db_ms;
	if (reply->failed || nx_pool_first_error(reply))
	{
		nx_reply_error(r, 503, "the database is not reachable");
		return;
	}
	if (reply->r[0].value == NULL || strcmp(reply->r[0].value, NX_EXT_VERSION) != 0)
	{
		snprintf(msg, sizeof(msg), "extension nexplane is at version %s; this shim needs %s",
				 reply->r[0].value ? reply->r[0].value : "(not installed)", NX_EXT_VERSION);
		nx_reply_error(r, 503, msg);
		return;
	}
	nx_reply_json(r, 200, "{\"status\":\"ready\",\"extension\":\"" NX_EXT_VERSION "\"}");
}

static void
submit_or_fail(Request *r, const PoolStmt *stmts, int n, PoolCallback cb)
{
	switch (nx_pool_submit(r->srv->pool, stmts, n, cb, r))
	{
		case NX_SUBMIT_QUEUED:
			return;				/* r may already be answered and gone */
		case NX_SUBMIT_FULL:
			nx_reply_unavailable(r, "too many requests are waiting for the database");
			return;
		case NX_SUBMIT_DOWN:
			nx_reply_unavailable(r, "the database is unavailable; retry shortly");
			return;
	}
}

/* ---------- the SQL routes ---------- */

static const char *
header_lookup(void *ctx, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(ctx), name);
}

static void
sql_done(PoolReply *reply, void *arg)
{
	Request    *r = arg;
	bool		authed = !(r->match.route->flags & NX_ROUTE_PUBLIC);

	nx_reply_db(r, reply, r->match.route->status, authed ? 1 : 0);
}

static bool
is_json_content_type(const char *ct)
{
	size_t		n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static void
serve_sql(Request *r, const char *query)
{
	const Route *route = r->match.route;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t		len = evbuffer_get_length(in);
	const char *token = NULL;
	char	   *body = NULL;
	BindInput	bi = {0};
	BoundCall	call;
	BindError	err;
	PoolStmt	stmts[2];
	int			n = 0;

	if (route->flags & NX_ROUTE_LOGIN)
	{
		int			retry = 1;
		char		secs[16];

		if (!nx_ratelimit_take(r->srv->login_limit, r->peer, &retry))
		{
			snprintf(secs, sizeof(secs), "%d", retry);
			evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", secs);
			nx_reply_error(r, 429, "too many login attempts from this address; wait and retry");
			return;
		}
	}
	if (!(route->flags & NX_ROUTE_PUBLIC) && (token = nx_request_token(r)) == NULL)
	{
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
						  "Bearer");
		nx_reply_error(r, 401, "an Authorization: Bearer token is required");
		return;
	}
	if (len > 0)
	{
		if (!is_json_content_type(evhttp_find_header(evhttp_request_get_input_headers(r->req),
													 "Content-Type")))
		{
			nx_reply_error(r, 415, "the body must be sent as Content-Type: application/json");
			return;
		}
		body = malloc(len);
		evbuffer_copyout(in, body, len);
	}
	bi.match = &r->match;
	bi.query = query;
	bi.body = body;
	bi.body_len = len;
	bi.header = header_lookup;
	bi.header_ctx = r->req;
	if (!nx_bind(&bi, &call, &err))
	{
		if (body)
			explicit_bzero(body, len);
		free(body);
		nx_reply_error(r, err.status, err.message);
		return;
	}
	if (body)
		explicit_bzero(body, len);	/* it may hold a password or a secret */
	free(body);

	if (token)
	{
		stmts[n] = (PoolStmt) {nx_auth_sql, 3, {token, r->request_id,
											   r->trace_id[0] ? r->trace_id : NULL}};
		n++;
	}
	stmts[n].sql = call.sql;
	stmts[n].nparams = call.nparams;
	for (int i = 0; i < call.nparams; i++)
		stmts[n].values[i] = call.values[i];
	n++;
	submit_or_fail(r, stmts, n, sql_done);	/* copies what it needs */
	for (int i = 0; i < call.nparams; i++)
		explicit_bzero(call.values[i], strlen(call.values[i]));
	nx_bound_free(&call);
}

/* ---------- dispatch ---------- */

static void
on_request(struct evhttp_request *req, void *arg)
{
	Server	   *srv = arg;
	const char *uri = evhttp_request_get_uri(req);
	const struct evhttp_uri *parsed;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	Request    *r = calloc(1, sizeof(Request));
	char	   *host = NULL;
	ev_uint16_t port = 0;

	r->srv = srv;
	r->req = req;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->counted = true;
	srv->inflight++;
	request_id_init(r, evhttp_request_get_input_headers(req));
	trace_id_init(r, evhttp_request_get_input_headers(req));
	snprintf(r->method, sizeof(r->method), "%s", method_name(evhttp_request_get_command(req)));
	if (evcon)
	{
		struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
		int			one = 1;

		/*
		 * libevent writes headers and body as separate TLS records; without
		 * TCP_NODELAY, Nagle holds the second until the client's delayed ACK
		 * (40 ms on Linux).
		 */
		if (bev && bufferevent_getfd(bev) >= 0)
			setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		evhttp_connection_get_peer(evcon, &host, &port);
	}
	snprintf(r->peer, sizeof(r->peer), "%s", host ? host : "-");

	/* libevent calls us with no URI when it gave up on the request itself */
	if (uri == NULL)
	{
		int			code = evhttp_request_get_response_code(req);

		snprintf(r->path, sizeof(r->path), "-");
		nx_reply_error(r, code == 413 ? 413 : 400,
					   code == 413 ? "the request body is too large" : "malformed request");
		return;
	}
	parsed = evhttp_request_get_evhttp_uri(req);
	snprintf(r->path, sizeof(r->path), "%s",
			 parsed && evhttp_uri_get_path(parsed) ? evhttp_uri_get_path(parsed) : "-");
	if (srv->draining)
	{
		nx_reply_error(r, 503, "the server is shutting down");
		return;
	}
	if (parsed == NULL || evhttp_uri_get_path(parsed) == NULL)
	{
		nx_reply_error(r, 400, "malformed request target");
		return;
	}
	switch (nx_route_match(r->method, evhttp_uri_get_path(parsed), &r->match))
	{
		case NX_MATCH_OK:
			break;
		case NX_MATCH_NOT_FOUND:
			nx_reply_error(r, 404, "no such route");
			return;
		case NX_MATCH_BAD_METHOD:
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", r->match.allow);
			nx_reply_error(r, 405, "this route does not take that method");
			return;
		case NX_MATCH_BAD_PATH:
			nx_reply_error(r, 400, "the path is malformed or too long");
			return;
	}

	switch (r->match.route->kind)
	{
		case NX_KIND_HEALTH:
			nx_reply_json(r, 200, "{\"status\":\"ok\"}");
			return;
		case NX_KIND_OPENAPI:
			nx_reply_json(r, 200, srv->openapi);
			return;
		case NX_KIND_READY:
			{
				PoolStmt	s = {READY_SQL, 0, {NULL}};

				submit_or_fail(r, &s, 1, ready_done);
				return;
			}
		case NX_KIND_EVENTS:
			nx_sse_open(srv->sse, r);
			return;
		case NX_KIND_SQL:
			serve_sql(r, evhttp_uri_get_query(parsed));
			return;
	}
}

/* ---------- TLS, start, drain ---------- */

static struct bufferevent *
tls_bufferevent(struct event_base *base, void *arg)
{
	Server	   *srv = arg;
	SSL		   *ssl = SSL_new(srv->tls);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
										 BEV_OPT_CLOSE_ON_FREE);
	if (bev)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int
nx_http_start(Server *srv)
{
	const Config *cfg = srv->cfg;

	srv->http = evhttp_new(srv->base);
	if (srv->http == NULL)
		return -1;
	evhttp_set_bevcb(srv->http, tls_bufferevent, srv);
	evhttp_set_gencb(srv->http, on_request, srv);
	evhttp_set_max_body_size(srv->http, cfg->max_body);
	/*
	 * Read an oversized body to its end (discarding it, within the
	 * timeout) before answering 413: closing while the client still sends
	 * resets the connection, and the client may never see the answer.
	 */
	evhttp_set_flags(srv->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_max_headers_size(srv->http, cfg->max_headers);
	evhttp_set_timeout(srv->http, cfg->timeout_s);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
							   EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
	srv->listener = evhttp_bind_socket_with_handle(srv->http, cfg->listen_host,
												   (ev_uint16_t) cfg->listen_port);
	if (srv->listener == NULL)
	{
		nx_log("error", "cannot listen on %s:%d", cfg->listen_host, cfg->listen_port);
		return -1;
	}
	nx_log("info", "listening on https://%s:%d", cfg->listen_host, cfg->listen_port);
	return 0;
}

static void
drain_check(Server *srv)
{
	if (srv->draining && srv->inflight == 0)
		event_base_loopexit(srv->base, NULL);
}

static void
drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	Server	   *srv = arg;

	nx_log("warning", "drain timeout: %d requests still in flight", srv->inflight);
	event_base_loopexit(srv->base, NULL);
}

/* SIGTERM: stop accepting, end streams, let in-flight requests finish. */
void
nx_http_drain(Server *srv)
{
	struct timeval tv = {srv->cfg->drain_timeout_s, 0};

	if (srv->draining)
		return;
	srv->draining = true;
	nx_log("info", "draining: %d requests in flight", srv->inflight);
	if (srv->listener)
		evhttp_del_accept_socket(srv->http, srv->listener);
	srv->listener = NULL;
	nx_sse_close_all(srv->sse);
	srv->drain_timer = evtimer_new(srv->base, drain_timeout, srv);
	evtimer_add(srv->drain_timer, &tv);
	drain_check(srv);
}

void
nx_http_free(Server *srv)
{
	if (srv->drain_timer)
		event_free(srv->drain_timer);
	if (srv->http)
		evhttp_free(srv->http);
	srv->http = NULL;
}
