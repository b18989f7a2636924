/*
 * refusal.h -- the answers libevent gives by itself (a request it cannot
 * parse, a header block or body over the limits, an Expect or a method it
 * does not know), rewritten on their way out into the shim's JSON error
 * with its headers and a request id.
 */
#ifndef NX_REFUSAL_H
#define NX_REFUSAL_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stddef.h>

#include "server.h"

/* Where the watch is in the connection's stream of answers. */
typedef enum NxRefusalState {
	NX_REFUSAL_IDLE,			/* between answers, or inside one's body */
	NX_REFUSAL_HEADER,			/* a status line was written; its block is not done */
	NX_REFUSAL_SWALLOW,			/* libevent's page was replaced: drop the rest of it */
} NxRefusalState;

/* One connection's watch on its output; lives in the connection (Conn). */
typedef struct RefusalWatch {
	Server	   *srv;
	struct bufferevent *bev;
	struct evbuffer_cb_entry *cb;
	NxRefusalState state;
	size_t		start;			/* NX_REFUSAL_HEADER: the status line's offset */
	bool		busy;			/* rewriting: our own edits are not looked at */
} RefusalWatch;

/* Watch bev's output (a TLS bufferevent evhttp writes answers to). */
void		nx_refusal_watch(RefusalWatch *w, Server *srv, struct bufferevent *bev);

/* Before bev goes: stop watching. */
void		nx_refusal_unwatch(RefusalWatch *w);

#endif
