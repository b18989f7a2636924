/*
 * sse.c -- the live event stream.
 *
 * One listening connection (a pool of one) hears channel nexplane_events.
 * Its notifications carry nothing (any session may LISTEN, and NOTIFY, so
 * a payload would tell every tenant about every other's activity): each is
 * only a cue to recheck, gathered for NX_SSE_RECHECK_MS so that a burst,
 * forged ones included, costs one round of rechecks.  The shim never
 * trusts itself with tenant data: for each subscriber it runs
 * authenticate(subscriber's token) and
 * events_since(last id sent) through the main pool, so RLS decides what
 * each stream sees, and an expired or revoked token ends the stream.
 * Event ids are the tenant's commit-ordered sequence (88_events.sql), so a
 * client reconnecting with Last-Event-ID gets exactly what it missed.
 */
#include "sse.h"

#include "errors.h"
#include "log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_PER_FETCH 100
#define NX_SSE_RECHECK_MS 20

typedef struct SseClient {
	SseHub	   *hub;
	Request    *r;
	char	   *token;
	char		tenant[37];
	long long	last;			/* -1: not yet known (start from now) */
	bool		started;		/* the 200 and headers are out */
	bool		fetching;
	bool		again;			/* something new arrived during a fetch */
	bool		closed;			/* the client went away, or we ended it */
	size_t		bytes;
	struct SseClient *next;
} SseClient;

struct SseHub {
	Server	   *srv;
	Pool	   *listen;
	SseClient  *clients;
	struct event *heartbeat;
	struct event *recheck;		/* armed by a notification */
};

static const char FETCH_SQL[] = "SELECT nexplane.events_since($1::bigint, $2::integer)";

static void fetch(SseClient *c);

static void
client_unlink(SseClient *c)
{
	for (SseClient **p = &c->hub->clients; *p; p = &(*p)->next)
		if (*p == c)
		{
			*p = c->next;
			return;
		}
}

static void
client_free(SseClient *c)
{
	if (c->token)
	{
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c);
}

/* End a started stream (ours or the client's doing) and free everything. */
static void
client_end(SseClient *c)
{
	client_unlink(c);
	nx_request_hold_stream_end(c->r);
	/* with the connection gone libevent only frees the request here */
	evhttp_send_reply_end(c->r->req);
	nx_request_log(c->r, 200, c->bytes);
	nx_request_free(c->r);
	client_free(c);
}

static void
client_write(SseClient *c, const char *text, size_t len)
{
	struct evbuffer *buf;

	if (c->closed || evhttp_request_get_connection(c->r->req) == NULL)
	{
		c->closed = true;
		return;
	}
	buf = evbuffer_new();
	evbuffer_add(buf, text, len);
	evhttp_send_reply_chunk(c->r->req, buf);
	evbuffer_free(buf);
	c->bytes += len;
}

/* Write the events of an events_since() answer; false if it was unusable. */
static bool
write_events(SseClient *c, const char *doc, int *count)
{
	json_error_t jerr;
	json_t	   *root = json_loads(doc, 0, &jerr);
	json_t	   *events = json_object_get(root, "events");
	json_t	   *ev;
	size_t		i;

	*count = 0;
	if (!json_is_object(root) || !json_is_array(events))
	{
		json_decref(root);
		return false;
	}
	json_array_foreach(events, i, ev)
	{
		char	   *data = json_dumps(ev, JSON_COMPACT);
		const char *kind = json_string_value(json_object_get(ev, "kind"));
		long long	id = (long long) json_integer_value(json_object_get(ev, "id"));
		size_t		size = (data ? strlen(data) : 0) + 96;
		char	   *frame = malloc(size);
		int			n = snprintf(frame, size, "id: %lld\nevent: %s\ndata: %s\n\n", id,
								 kind ? kind : "event", data ? data : "{}");

		client_write(c, frame, (size_t) n);
		free(frame);
		free(data);
		if (id > c->last)
			c->last = id;
		(*count)++;
	}
	if (c->last < 0)
		c->last = (long long) json_integer_value(json_object_get(root, "last"));
	json_decref(root);
	return true;
}

static bool
read_tenant(SseClient *c, const char *auth)
{
	json_t	   *root = json_loads(auth ? auth : "", 0, NULL);
	const char *t = json_string_value(json_object_get(root, "tenant_id"));
	bool		ok = t && strlen(t) == 36;

	if (ok)
		memcpy(c->tenant, t, 37);
	json_decref(root);
	return ok;
}

static void
start_stream(SseClient *c)
{
	Request    *r = c->r;
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	static const char hello[] = "retry: 2000\n\n";

	nx_request_headers(r, "text/event-stream");
	evhttp_add_header(out, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(r->req, 200, "OK");
	/* a stream is quiet on the client's side: only our heartbeats keep it */
	if (evcon)
		evhttp_connection_set_timeout(evcon, 24 * 3600);
	c->started = true;
	nx_request_detach(r);
	c->next = c->hub->clients;
	c->hub->clients = c;
	client_write(c, hello, sizeof(hello) - 1);
}

static void
fetch_done(PoolReply *reply, void *arg)
{
	SseClient  *c = arg;
	const PoolStmtResult *e = nx_pool_first_error(reply);
	int			count = 0;

	c->fetching = false;
	if (!c->started)
	{
		/* the opening request: answer errors as any route would */
		if (reply->failed || e || !read_tenant(c, reply->r[0].value))
		{
			nx_reply_db(c->r, reply, 200, 1);
			client_free(c);
			return;
		}
		if (c->hub->srv->draining)
		{
			/* SIGTERM came while this stream was being opened */
			nx_reply_error(c->r, 503, "the server is shutting down");
			client_free(c);
			return;
		}
		start_stream(c);
	}
	if (c->closed)
	{
		client_end(c);
		return;
	}
	if (reply->failed)
		return;					/* the database is away: the next notify retries */
	if (e)
	{
		int			status = nx_status_for_sqlstate(&e->error, "events_since");
		char	   *doc = nx_error_json(status, e->error.sqlstate,
										status >= 500 ? "internal error" : e->error.message,
										NULL, NULL, c->r->request_id);
		size_t		size = strlen(doc ? doc : "{}") + 32;
		char	   *frame = malloc(size);
		int			n = snprintf(frame, size, "event: error\ndata: %s\n\n", doc ? doc : "{}");

		client_write(c, frame, (size_t) n);
		free(frame);
		free(doc);
		client_end(c);			/* e.g. the token expired: reconnect with a new one */
		return;
	}
	if (!write_events(c, reply->r[1].value, &count))
	{
		client_end(c);
		return;
	}
	if (c->closed)
		client_end(c);
	else if (count == EVENTS_PER_FETCH || c->again)
		fetch(c);
}

static void
fetch(SseClient *c)
{
	char		after[24];
	char		max[8];
	PoolStmt	stmts[2] = {
		nx_request_auth_stmt(c->r, c->token),
		{.sql = FETCH_SQL, .nparams = 2, .values = {NULL, max}},
	};

	snprintf(max, sizeof(max), "%d", EVENTS_PER_FETCH);
	if (c->last >= 0)
	{
		snprintf(after, sizeof(after), "%lld", c->last);
		stmts[1].values[0] = after;
	}
	c->fetching = true;
	c->again = false;
	switch (nx_pool_submit(c->hub->srv->pool, stmts, 2, fetch_done, c))
	{
		case NX_SUBMIT_QUEUED:
			return;
		default:
			c->fetching = false;
			if (!c->started)
			{
				nx_reply_unavailable(c->r, "the database is unavailable; retry shortly");
				client_free(c);
			}
			/* a running stream waits for the next notification */
			return;
	}
}

static void
poke(SseClient *c)
{
	if (c->fetching)
		c->again = true;
	else
		fetch(c);
}

/* The recheck timer: catch every stream up (RLS decides what each sees). */
static void
on_recheck(evutil_socket_t fd, short what, void *arg)
{
	SseHub	   *hub = arg;
	SseClient  *c;
	SseClient  *next;

	for (c = hub->clients; c; c = next)
	{
		next = c->next;
		poke(c);
	}
}

/* A notification (or NULL after a reconnect): recheck soon, once. */
static void
on_notify(const char *payload, void *arg)
{
	SseHub	   *hub = arg;
	struct timeval tv = {.tv_usec = NX_SSE_RECHECK_MS * 1000};

	if (!evtimer_pending(hub->recheck, NULL))
		evtimer_add(hub->recheck, &tv);
}

/* Heartbeats keep proxies from closing quiet streams, and find dead ones. */
static void
on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	SseHub	   *hub = arg;
	SseClient  *c;
	SseClient  *next;

	for (c = hub->clients; c; c = next)
	{
		next = c->next;
		client_write(c, ":\n\n", 3);
		if (c->closed && !c->fetching)
			client_end(c);
	}
}

void
nx_sse_open(SseHub *hub, Request *r)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
	const char *token = nx_request_token(r);
	const char *last_id = evhttp_find_header(in, "Last-Event-ID");
	SseClient  *c;

	if (token == NULL)
	{
		nx_reply_unauthenticated(r);
		return;
	}
	c = calloc(1, sizeof(SseClient));
	c->hub = hub;
	c->r = r;
	c->last = -1;
	if (last_id && *last_id)
	{
		char	   *end;

		errno = 0;
		c->last = strtoll(last_id, &end, 10);
		if (*end != '\0' || errno != 0 || c->last < 0 || last_id[0] == '-' || last_id[0] == '+')
		{
			free(c);
			nx_reply_error(r, 400, "Last-Event-ID must be an event id sent by this stream");
			return;
		}
	}
	c->token = strdup(token);
	fetch(c);
}

void
nx_sse_close_all(SseHub *hub)
{
	static const char bye[] = "event: shutdown\ndata: {}\n\n";
	SseClient  *c;
	SseClient  *next;

	for (c = hub->clients; c; c = next)
	{
		next = c->next;
		client_write(c, bye, sizeof(bye) - 1);
		c->closed = true;
		if (!c->fetching)
			client_end(c);
	}
}

SseHub *
nx_sse_new(Server *srv)
{
	SseHub	   *hub = calloc(1, sizeof(SseHub));
	struct timeval tv = {.tv_sec = srv->cfg->sse_heartbeat_s};

	hub->srv = srv;
	hub->listen = nx_pool_new(srv->base, srv->cfg->db, 1, 1, 0);
	nx_pool_listen(hub->listen, "nexplane_events", on_notify, hub);
	hub->recheck = evtimer_new(srv->base, on_recheck, hub);
	hub->heartbeat = event_new(srv->base, -1, EV_PERSIST, on_heartbeat, hub);
	event_add(hub->heartbeat, &tv);
	return hub;
}

void
nx_sse_free(SseHub *hub)
{
	if (hub == NULL)
		return;
	nx_sse_close_all(hub);
	event_free(hub->heartbeat);
	event_free(hub->recheck);
	nx_pool_free(hub->listen);
	free(hub);
}
