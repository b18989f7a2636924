/*
 * agent_routes.h -- the agent listener's route table: the only routes that
 * exist on --agent-listen, and none of them exists on the main listener.
 */
#ifndef NX_AGENT_ROUTES_H
#define NX_AGENT_ROUTES_H

#include "routes.h"

extern const Route nx_agent_routes[];
extern const size_t nx_agent_route_count;

#endif
