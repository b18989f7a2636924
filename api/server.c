/*
 * server.c -- the HTTPS server: accept TLS connections, dispatch each
 * request to what serves its route, and drain on SIGTERM.
 *
 * A request first meets every check that needs no database (route, method,
 * token present, content type, size, rate), then one pipelined round trip:
 * nexplane.authenticate(token, request_id, trace_id) and the route's
 * function, in one implicit transaction.  Draining stops accepting, ends
 * the event streams and lets the answers in flight finish (within
 * --drain-timeout) before the loop exits.
 */
#include "server.h"

#include "agent_listener.h"
#include "bind.h"
#include "connection.h"
#include "log.h"
#include "request.h"
#include "sse.h"
#include "tls.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* a route's bound arguments all fit in the one statement that takes them */
_Static_assert(NX_ROUTE_MAX_ARGS <= NX_POOL_MAX_PARAMS,
			   "a bound call has more arguments than a pool statement takes");

static const char READY_SQL[] =
	"SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'nexplane'";

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

	if ((r->match.route->flags & NX_ROUTE_AGENT) && nx_agent_reply_locked(r, reply))
		return;
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

void
nx_server_serve_sql(Request *r, const char *query, const char *fingerprint)
{
	const Route *route = r->match.route;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t		len = evbuffer_get_length(in);
	const char *token = NULL;
	char	   *body = NULL;
	BindInput	bi = {
		.match = &r->match,
		.query = query,
		.header = header_lookup,
		.header_ctx = r->req,
		.peer = strcmp(r->peer, "-") != 0 ? r->peer : NULL,
		.fingerprint = fingerprint,
	};
	BoundCall	call;
	BindError	err;
	bool		bound;
	PoolStmt	stmts[2];
	int			n = 0;

	if (route->flags & (NX_ROUTE_LOGIN | NX_ROUTE_ENROLL))
	{
		int			retry = 1;
		char		secs[16];
		bool		login = route->flags & NX_ROUTE_LOGIN;

		if (!nx_ratelimit_take(login ? r->srv->login_limit : r->srv->enroll_limit, r->peer,
							   &retry))
		{
			snprintf(secs, sizeof(secs), "%d", retry);
			evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", secs);
			nx_reply_error(r, 429, login ?
						   "too many login attempts from this address; wait and retry" :
						   "too many enrollment attempts from this address; wait and retry");
			return;
		}
	}
	if (!(route->flags & NX_ROUTE_PUBLIC) && (token = nx_request_token(r)) == NULL)
	{
		nx_reply_unauthenticated(r);
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
	bi.body = body;
	bi.body_len = len;
	bound = nx_bind(&bi, &call, &err);
	if (body)
		explicit_bzero(body, len);	/* it may hold a password or a secret */
	free(body);
	if (!bound)
	{
		nx_reply_error(r, err.status, err.message);
		return;
	}

	if (token)
		stmts[n++] = nx_request_auth_stmt(r, token);
	stmts[n] = (PoolStmt) {.sql = call.sql, .nparams = call.nparams};
	for (int i = 0; i < call.nparams; i++)
		stmts[n].values[i] = call.values[i];
	n++;
	submit_or_fail(r, stmts, n, sql_done);	/* copies what it needs */
	for (int i = 0; i < call.nparams; i++)
		explicit_bzero(call.values[i], strlen(call.values[i]));
	nx_bound_free(&call);
}

/* ---------- methods no route lists ---------- */

/*
 * Allow: the methods of the path's routes, HEAD where GET answers one
 * document (not the event stream), and OPTIONS.
 */
static void
add_allow(Request *r, const char *path)
{
	RouteMatch	m;
	bool		head = false;
	char		allow[sizeof(m.allow) + 32];

	if (nx_route_match("GET", path, &m) == NX_MATCH_OK)
		head = m.route->kind != NX_KIND_EVENTS;
	nx_route_match_free(&m);
	/* no route takes OPTIONS: the router lists every method of the path */
	nx_route_match("OPTIONS", path, &m);
	snprintf(allow, sizeof(allow), "%s%s%sOPTIONS", m.allow, head ? ", HEAD" : "",
			 m.allow[0] ? ", " : "");
	nx_route_match_free(&m);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
}

/* OPTIONS on a path: 204 with Allow; no database, no token (as 405). */
static void
serve_options(Request *r, const char *path)
{
	RouteMatch	m;
	NxMatchResult res = nx_route_match("OPTIONS", path, &m);

	nx_route_match_free(&m);
	switch (res)
	{
		case NX_MATCH_BAD_METHOD:
			add_allow(r, path);
			nx_reply_empty(r, 204);
			return;
		case NX_MATCH_BAD_PATH:
			nx_reply_error(r, 400, "the path is malformed or too long");
			return;
		case NX_MATCH_OK:		/* no route takes OPTIONS */
		case NX_MATCH_NOT_FOUND:
			nx_reply_error(r, 404, "no such route");
			return;
	}
}

/* ---------- dispatch ---------- */

Request *
nx_server_request_begin(Server *srv, struct evhttp_request *req,
						const struct evhttp_uri **parsed)
{
	bool		over_cap = nx_conn_request_arrived(req);
	Request    *r = nx_request_new(srv, req);

	if (r == NULL)
	{
		evhttp_send_error(req, 503, "out of memory");	/* refusal.c reshapes it */
		return NULL;
	}

	/*
	 * A request libevent could not parse never gets here: libevent 2.1
	 * answers it itself, and refusal.c rewrites that answer on its way out.
	 */
	if (srv->draining)
	{
		nx_reply_error(r, 503, "the server is shutting down");
		return NULL;
	}
	if (over_cap)
	{
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		nx_reply_unavailable(r, "too many open connections; retry shortly");
		return NULL;
	}
	*parsed = evhttp_request_get_evhttp_uri(req);
	if (*parsed == NULL || evhttp_uri_get_path(*parsed) == NULL)
	{
		nx_reply_error(r, 400, "malformed request target");
		return NULL;
	}
	return r;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	Server	   *srv = arg;
	const struct evhttp_uri *parsed;
	Request    *r = nx_server_request_begin(srv, req, &parsed);
	const char *path;

	if (r == NULL)
		return;
	path = evhttp_uri_get_path(parsed);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_OPTIONS)
	{
		serve_options(r, path);
		return;
	}
	/* HEAD is GET without the body (nx_reply_json leaves it out) */
	switch (nx_route_match(r->head ? "GET" : r->method, path, &r->match))
	{
		case NX_MATCH_OK:
			break;
		case NX_MATCH_NOT_FOUND:
			nx_reply_error(r, 404, "no such route");
			return;
		case NX_MATCH_BAD_METHOD:
			add_allow(r, path);
			nx_reply_error(r, 405, "this route does not take that method");
			return;
		case NX_MATCH_BAD_PATH:
			nx_reply_error(r, 400, "the path is malformed or too long");
			return;
	}
	if (r->head && r->match.route->kind == NX_KIND_EVENTS)
	{
		add_allow(r, path);
		nx_reply_error(r, 405, "an event stream has no HEAD; GET it");
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
				PoolStmt	s = {.sql = READY_SQL};

				submit_or_fail(r, &s, 1, ready_done);
				return;
			}
		case NX_KIND_EVENTS:
			nx_sse_open(srv->sse, r);
			return;
		case NX_KIND_SQL:
			nx_server_serve_sql(r, evhttp_uri_get_query(parsed), NULL);
			return;
		case NX_KIND_AGENT_POLL:	/* only in the agent listener's table */
			nx_reply_error(r, 404, "no such route");
			return;
	}
}

/* ---------- start ---------- */

int
nx_server_start(Server *srv)
{
	const Config *cfg = srv->cfg;

	srv->http = evhttp_new(srv->base);
	if (srv->http == NULL)
		return -1;
	evhttp_set_bevcb(srv->http, nx_conn_bufferevent, srv);
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
	/*
	 * Every method HTTP/1.1 defines reaches on_request: OPTIONS gets 204
	 * with Allow, HEAD is GET without the body, and a method a route does
	 * not take gets 405 with Allow in the shim's shape.  libevent's own
	 * refusal was a bare HTML 501.
	 */
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
							   EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
							   EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT);
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

/* ---------- drain ---------- */

static void
drain_check(Server *srv)
{
	if (srv->draining && srv->inflight == 0)
		event_base_loopexit(srv->base, NULL);
}

void
nx_server_hold(Server *srv)
{
	srv->inflight++;
}

void
nx_server_release(Server *srv)
{
	srv->inflight--;
	drain_check(srv);
}

static void
drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	Server	   *srv = arg;

	nx_log("warning", "drain timeout: %d requests still in flight", srv->inflight);
	event_base_loopexit(srv->base, NULL);
}

void
nx_server_drain(Server *srv)
{
	struct timeval tv = {.tv_sec = srv->cfg->drain_timeout_s};

	if (srv->draining)
		return;
	srv->draining = true;
	nx_log("info", "draining: %d requests in flight", srv->inflight);
	if (srv->listener)
		evhttp_del_accept_socket(srv->http, srv->listener);
	srv->listener = NULL;
	nx_agent_listener_drain(srv->agent);
	nx_sse_close_all(srv->sse);
	srv->drain_timer = evtimer_new(srv->base, drain_timeout, srv);
	evtimer_add(srv->drain_timer, &tv);
	drain_check(srv);
}

void
nx_server_free(Server *srv)
{
	if (srv->drain_timer)
		event_free(srv->drain_timer);
	if (srv->http)
		evhttp_free(srv->http);
	srv->http = NULL;
}
