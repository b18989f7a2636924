/*
 * agent_listener.h -- --agent-listen: the second TLS listener, where the
 * agents' routes are (agent_routes.c) and nothing else.
 */
#ifndef NX_AGENT_LISTENER_H
#define NX_AGENT_LISTENER_H

#include "pool.h"
#include "server.h"

/*
 * Bind --agent-listen (accepting nothing yet) and ask the database for
 * the listener's certificate; connections are accepted once it is here.
 * NULL after logging why.
 */
AgentListener *nx_agent_listener_new(Server *srv);

/*
 * An agent function found the caller a clone and locked it: it answers
 * {"locked": true} (an error would roll the lock back), and the agent gets
 * the 403 every later call gets.  True when r was answered so.
 */
bool		nx_agent_reply_locked(Request *r, const PoolReply *reply);

/* SIGTERM: stop accepting, answer the held polls. */
void		nx_agent_listener_drain(AgentListener *al);
void		nx_agent_listener_free(AgentListener *al);

#endif
