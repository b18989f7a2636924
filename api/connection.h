/*
 * connection.h -- one client connection: counted against --max-connections
 * and given a deadline for its next request to arrive in full.
 */
#ifndef NX_CONNECTION_H
#define NX_CONNECTION_H

#include <event2/http.h>
#include <stdbool.h>

#include "server.h"

/* evhttp's bufferevent callback: a TLS bufferevent, counted and timed. */
struct bufferevent *nx_conn_bufferevent(struct event_base *base, void *srv);

/*
 * The same for another listener: a TLS connection made from ctx, counted
 * in *count against cap (the agent listener has its own).
 */
struct bufferevent *nx_conn_open(struct event_base *base, Server *srv, SSL_CTX *ctx,
								 int *count, int cap);

/*
 * A request of req's connection has arrived: its deadline stops.  True
 * when the connection came past the cap and must be refused.
 */
bool		nx_conn_request_arrived(struct evhttp_request *req);

/* An answer on evcon is written: the deadline for the next request starts. */
void		nx_conn_answer_sent(struct evhttp_connection *evcon);

#endif
