/*
 * server.h -- the HTTPS server: the listener, dispatch of each request to
 * what serves its route, and draining on SIGTERM.
 */
#ifndef NX_SERVER_H
#define NX_SERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdbool.h>

#include "config.h"
#include "pool.h"
#include "ratelimit.h"

typedef struct SseHub SseHub;
typedef struct AgentListener AgentListener;
typedef struct Request Request;

/* Everything main wires together; the parts are freed by main. */
typedef struct Server {
	const Config *cfg;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *listener;
	SSL_CTX    *tls;
	Pool	   *pool;
	RateLimiter *login_limit;
	RateLimiter *enroll_limit;	/* agent enrollments, per client address */
	SseHub	   *sse;
	AgentListener *agent;		/* NULL without --agent-listen */
	char	   *openapi;		/* generated once */
	int			inflight;		/* answers the drain waits for (streams excluded) */
	int			connections;	/* open client connections (connection.c) */
	int			agent_connections;	/* ... of the agent listener */
	bool		draining;
	struct event *drain_timer;
} Server;

/* Listen on cfg's address; 0, or -1 after logging why. */
int			nx_server_start(Server *srv);

/* SIGTERM: stop accepting, end streams, let in-flight requests finish. */
void		nx_server_drain(Server *srv);
void		nx_server_free(Server *srv);

/*
 * One more answer in flight, and one fewer: a drain ends the loop when the
 * last is released.  Only request.c counts (see Request.counted).
 */
void		nx_server_hold(Server *srv);
void		nx_server_release(Server *srv);

/*
 * Serve a route of kind NX_KIND_SQL: the checks that need no database,
 * binding, and one round trip.  fingerprint: the verified client
 * certificate's on the agent listener, NULL on the main one.
 */
void		nx_server_serve_sql(Request *r, const char *query, const char *fingerprint);

/*
 * What every request meets first, on either listener: its Request,
 * TCP_NODELAY, and the refusals that come before routing (shutting down,
 * over the connection cap, no path).  NULL when req has been answered;
 * otherwise *parsed is its URI, with a path.
 */
Request    *nx_server_request_begin(Server *srv, struct evhttp_request *req,
									const struct evhttp_uri **parsed);

#endif
