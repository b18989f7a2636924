/*
 * router.h -- match a method and a raw path against the route table.
 */
#ifndef NX_ROUTER_H
#define NX_ROUTER_H

#include "routes.h"

#define NX_MAX_PATH 2048
#define NX_MAX_CAPTURES 4

typedef enum NxMatchResult {
	NX_MATCH_OK,
	NX_MATCH_NOT_FOUND,
	NX_MATCH_BAD_METHOD,		/* the path exists with other methods: 405 */
	NX_MATCH_BAD_PATH,			/* too long, or an undecodable segment: 400 */
} NxMatchResult;

typedef struct RouteMatch {
	const Route *route;
	int			ncaptures;
	struct {
		char		name[32];
		char	   *value; /* decoded, owned by the match */
	}			captures[NX_MAX_CAPTURES];
	char		allow[128]; /* for 405: the methods the path has */
} RouteMatch;

/* path is the raw (percent-encoded) path, without the query. */
NxMatchResult nx_route_match(const char *method, const char *path, RouteMatch *m);

/* The same against another table (the agent listener's). */
NxMatchResult nx_route_match_in(const Route *routes, size_t nroutes, const char *method,
								const char *path, RouteMatch *m);
void nx_route_match_free(RouteMatch *m);
const char *nx_route_capture(const RouteMatch *m, const char *name);

#endif
