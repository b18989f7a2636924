/*
 * agent_poll.h -- GET /v1/agent/commands: the agents' long poll, held
 * until a notification for that agent or the end of its wait.
 */
#ifndef NX_AGENT_POLL_H
#define NX_AGENT_POLL_H

#include <stddef.h>

#include "request.h"

/* The longest (and the default) wait of a poll, in seconds. */
#define NX_POLL_WAIT_MAX_S 30

typedef struct AgentPolls AgentPolls;

/* LISTENs on nexplane_agents on a connection of its own. */
AgentPolls *nx_agent_polls_new(Server *srv);
void		nx_agent_polls_free(AgentPolls *hub);

/* Serve r, a poll; fingerprint is its verified client certificate's. */
void		nx_agent_poll(AgentPolls *hub, Request *r, const char *query,
						  const char *fingerprint);

/* Draining: answer every held poll now (nothing new for it). */
void		nx_agent_polls_drain(AgentPolls *hub);

/* Polls held now. */
size_t		nx_agent_polls_held(const AgentPolls *hub);

#endif
