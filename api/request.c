/*
 * request.c -- one request from arrival to answer.
 *
 * Identity: a request id (the client's X-Request-Id when it is tame,
 * otherwise random) and the trace id of a W3C traceparent go to
 * nexplane.authenticate with the request's SQL, so the audit trail and the
 * access log name the same request.
 *
 * Answers: every request gets a Request object at arrival and gives it up in
 * exactly one place, the answer, which writes status, headers and body,
 * logs the access line and frees it.  libevent keeps its evhttp_request
 * alive until we answer even when the client has gone (it then only frees
 * it).  An answer still being written counts as in flight, so that a drain
 * does not stop the loop with it in the buffers.
 */
#include "request.h"

#include "connection.h"
#include "errors.h"
#include "log.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* every authenticated request opens with this, in the same pipeline */
static const char AUTH_SQL[] = "SELECT nexplane.authenticate($1, $2, $3)";

/* ---------- identity ---------- */

/* X-Request-Id if the client sent a tame one (what authenticate accepts). */
static void
request_id_init(Request *r, struct evkeyvalq *in)
{
	const char *given = evhttp_find_header(in, "X-Request-Id");

	if (given && given[0] && strlen(given) <= 64 &&
		strspn(given, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
		strlen(given))
	{
		snprintf(r->request_id, sizeof(r->request_id), "%s", given);
		return;
	}
	nx_request_id_random(r->request_id);
}

void
nx_request_id_random(char id[65])
{
	unsigned char raw[16];

	RAND_bytes(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
}

/* The trace-id of a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>. */
static void
trace_id_init(Request *r, struct evkeyvalq *in)
{
	static const char zeros[] = "00000000000000000000000000000000";
	const char *tp = evhttp_find_header(in, "traceparent");

	r->trace_id[0] = '\0';
	if (tp == NULL || strlen(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
		return;
	if (strspn(tp + 3, "0123456789abcdef") < 32 || strncmp(tp + 3, zeros, 32) == 0)
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
		case EVHTTP_REQ_TRACE: return "TRACE";
		case EVHTTP_REQ_CONNECT: return "CONNECT";
		default: return "OTHER";
	}
}

Request *
nx_request_new(Server *srv, struct evhttp_request *req)
{
	Request    *r = calloc(1, sizeof(Request));
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct evhttp_uri *uri = NULL;
	char	   *host = NULL;
	ev_uint16_t port = 0;

	if (r == NULL)
		return NULL;
	r->srv = srv;
	r->req = req;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->counted = true;
	nx_server_hold(srv);
	request_id_init(r, in);
	trace_id_init(r, in);
	snprintf(r->method, sizeof(r->method), "%s", method_name(evhttp_request_get_command(req)));
	r->head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
	if (evcon)
		evhttp_connection_get_peer(evcon, &host, &port);
	snprintf(r->peer, sizeof(r->peer), "%s", host ? host : "-");
	/* no URI: libevent gave up on the request itself */
	if (evhttp_request_get_uri(req) != NULL)
		uri = evhttp_request_get_evhttp_uri(req);
	snprintf(r->path, sizeof(r->path), "%s",
			 uri && evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri) : "-");
	return r;
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

PoolStmt
nx_request_auth_stmt(const Request *r, const char *token)
{
	return (PoolStmt) {
		.sql = AUTH_SQL,
		.nparams = 3,
		.values = {token, r->request_id, r->trace_id[0] ? r->trace_id : NULL},
	};
}

/* ---------- the end of a request ---------- */

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
	bool		counted = r->counted;

	nx_route_match_free(&r->match);
	free(r);
	if (counted)
		nx_server_release(srv);
}

void
nx_request_detach(Request *r)
{
	if (r->counted)
	{
		r->counted = false;
		nx_server_release(r->srv);
	}
}

const NxHeaderField nx_answer_headers[] = {
	{"Cache-Control", "no-store"},
	{"X-Content-Type-Options", "nosniff"},
	{"Strict-Transport-Security", "max-age=31536000"},
	{NULL, NULL},
};

void
nx_request_headers(Request *r, const char *content_type)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);

	if (content_type)
		evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "X-Request-Id", r->request_id);
	for (const NxHeaderField *h = nx_answer_headers; h->name; h++)
		evhttp_add_header(out, h->name, h->value);
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
	nx_server_release(srv);
}

static void
answer_sent(struct evhttp_request *req, void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon)
	{
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		nx_conn_answer_sent(evcon);	/* the next request's deadline */
	}
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
	nx_server_hold(r->srv);
	hold_until_sent(r);
}

/* ---------- answers ---------- */

/*
 * Write status, headers and json (NULL: no body, as for 204), log, free r.
 * Content-Length is set here: libevent 2.1 leaves it out for HEAD and
 * CONNECT, though it sends whatever body it is given.  An answer to HEAD
 * is the same without its body; Content-Length says what GET would have had.
 */
static void
reply(Request *r, int status, const char *json)
{
	struct evbuffer *buf = evbuffer_new();
	size_t		len = json ? strlen(json) + 1 : 0;
	char		length[24];
	struct evhttp_connection *evcon;

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

	nx_request_headers(r, json ? "application/json" : NULL);
	if (json)
	{
		snprintf(length, sizeof(length), "%zu", len);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Length", length);
	}
	if (json && !r->head)
	{
		evbuffer_add(buf, json, len - 1);
		evbuffer_add(buf, "\n", 1);
	}
	/* logged first: over TLS the answer may leave inside evhttp_send_reply */
	nx_request_log(r, status, evbuffer_get_length(buf));
	evcon = evhttp_request_get_connection(r->req);
	evhttp_send_reply(r->req, status, nx_status_reason(status), buf);
	/*
	 * evhttp leaves the header block and the body in separate buffer chains,
	 * and the TLS bufferevent writes each chain as its own record and
	 * system call, from its write event, after this.  One contiguous chain
	 * makes the answer one record and one segment.
	 */
	if (evcon)
		evbuffer_pullup(bufferevent_get_output(evhttp_connection_get_bufferevent(evcon)), -1);
	evbuffer_free(buf);
	nx_request_free(r);
}

void
nx_reply_json(Request *r, int status, const char *json)
{
	reply(r, status, json);
}

void
nx_reply_empty(Request *r, int status)
{
	reply(r, status, NULL);
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

void
nx_reply_error_code(Request *r, int status, const char *code, const char *message)
{
	reply_error_full(r, status, code, message, NULL, NULL);
}

/* 401 with the challenge RFC 6750 asks for. */
void
nx_reply_unauthenticated(Request *r)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate", "Bearer");
	nx_reply_error(r, 401, "an Authorization: Bearer token is required");
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
