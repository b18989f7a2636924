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

/* Everything main wires together; the parts are freed by main. */
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
	int			inflight;		/* answers the drain waits for (streams excluded) */
	int			connections;	/* open client connections (connection.c) */
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

#endif
