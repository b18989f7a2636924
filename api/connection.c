/*
 * connection.c -- one client connection, from accept to close.
 *
 * libevent 2.1's evhttp has a single I/O timeout, which measures only
 * inactivity: a client trickling a header line every few seconds kept its
 * connection for as long as it liked.  So every connection gets a deadline
 * (--header-timeout) for its request to arrive in full, armed when the
 * connection is made and again when an answer on it has been written, and
 * stopped when the request reaches the server.  When it fires, the socket
 * is shut down and evhttp closes the connection as after any EOF.
 *
 * Connections are counted against --max-connections.  evhttp 2.1 has no
 * hook at accept or close, so the count rides on the TLS object of each
 * connection: counted when evhttp asks for its bufferevent, released by
 * the ex_data free callback when that TLS object is freed with it.  A
 * connection past the cap gets a short deadline and its request a 503
 * with Retry-After and Connection: close, which costs a TLS handshake but
 * never a database call.
 *
 * Each connection's output is watched (refusal.c) so that the answers
 * libevent writes by itself go out in the shim's shape too.
 */
#include "connection.h"

#include "log.h"
#include "refusal.h"
#include "tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* how long a connection past the cap may take to send its request */
#define NX_OVER_CAP_DEADLINE_S 2

typedef struct Conn {
	Server	   *srv;
	int		   *count;			/* the listener's open connections */
	struct bufferevent *bev;
	struct event *deadline;
	bool		over_cap;
	bool		nodelay;		/* TCP_NODELAY is set on its socket */
	RefusalWatch refusals;
} Conn;

static int	conn_index = -1;

/* The TLS object, and with it the connection, is gone. */
static void
conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	Conn	   *c = ptr;

	if (c == NULL)
		return;
	(*c->count)--;
	nx_refusal_unwatch(&c->refusals);	/* the bufferevent goes next */
	event_free(c->deadline);
	free(c);
}

static void
conn_deadline(evutil_socket_t fd, short what, void *arg)
{
	Conn	   *c = arg;
	evutil_socket_t s = bufferevent_getfd(c->bev);

	if (s >= 0)
		shutdown(s, SHUT_RDWR);
}

static void
conn_arm(Conn *c)
{
	struct timeval tv = {.tv_sec = c->over_cap ? NX_OVER_CAP_DEADLINE_S
						 : c->srv->cfg->header_timeout_s};

	evtimer_add(c->deadline, &tv);
}

static Conn *
conn_of(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL		   *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

	return ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
}

struct bufferevent *
nx_conn_bufferevent(struct event_base *base, void *arg)
{
	Server	   *srv = arg;

	return nx_conn_open(base, srv, srv->tls, &srv->connections, srv->cfg->max_connections);
}

struct bufferevent *
nx_conn_open(struct event_base *base, Server *srv, SSL_CTX *ctx, int *count, int cap)
{
	struct bufferevent *bev;
	Conn	   *c;

	if (conn_index < 0)
		conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free);
	bev = nx_tls_bufferevent(base, ctx);
	if (bev == NULL)
		return NULL;
	c = calloc(1, sizeof(Conn));
	if (c == NULL || conn_index < 0)
	{
		free(c);
		return bev;				/* uncounted, but served */
	}
	c->srv = srv;
	c->count = count;
	c->bev = bev;
	c->deadline = evtimer_new(base, conn_deadline, c);
	c->over_cap = *count >= cap;
	(*count)++;
	SSL_set_ex_data(bufferevent_openssl_get_ssl(bev), conn_index, c);
	nx_refusal_watch(&c->refusals, srv, bev);
	if (c->over_cap)
		nx_log("warning", "%d connections open, over the listener's cap: refusing one", *count);
	conn_arm(c);
	return bev;
}

bool
nx_conn_request_arrived(struct evhttp_request *req)
{
	Conn	   *c = conn_of(evhttp_request_get_connection(req));

	if (c == NULL)
		return false;
	evtimer_del(c->deadline);
	/*
	 * Once per connection, at its first request (the socket is known by
	 * then).  Without TCP_NODELAY, Nagle holds an answer's second segment
	 * (a TLS record past the first, an event of a stream) until the
	 * client's delayed ACK: 40 ms on Linux.
	 */
	if (!c->nodelay && bufferevent_getfd(c->bev) >= 0)
	{
		int			one = 1;

		setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->nodelay = true;
	}
	return c->over_cap;
}

void
nx_conn_answer_sent(struct evhttp_connection *evcon)
{
	Conn	   *c = conn_of(evcon);

	if (c != NULL)
		conn_arm(c);
}
