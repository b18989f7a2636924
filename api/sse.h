/*
 * sse.h -- GET /v1/events: Server-Sent Events of the caller's tenant's
 * change-request and job state changes.
 */
#ifndef NX_SSE_H
#define NX_SSE_H

#include "request.h"

SseHub	   *nx_sse_new(Server *srv);
void		nx_sse_free(SseHub *hub);

/* Authenticates, sends what is due after Last-Event-ID, then streams. */
void		nx_sse_open(SseHub *hub, Request *r);

/* Draining: tell every stream, and end it. */
void		nx_sse_close_all(SseHub *hub);

#endif
