/*
 * routes.h -- the route table: every REST route, the one SQL function it
 * calls, and where each of that function's arguments comes from.
 *
 * The table is data.  The router matches it, the binder turns a match into
 * one parameterised SQL call, and the OpenAPI document is generated from it,
 * so a route exists in exactly one place.
 */
#ifndef NX_ROUTES_H
#define NX_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#define NX_ROUTE_MAX_ARGS 8

/* Where an argument's value comes from. */
typedef enum NxArgSource {
	NX_SOURCE_PATH,			/* a {name} segment of the path */
	NX_SOURCE_QUERY,		/* ?name=value */
	NX_SOURCE_QUERY_OBJECT,	/* every query parameter, as a JSON object of strings */
	NX_SOURCE_BODY,			/* a field of the JSON body object */
	NX_SOURCE_HEADER,		/* a request header (e.g. Idempotency-Key) */
	NX_SOURCE_FIXED,		/* a constant of the route */
	NX_SOURCE_PEER,			/* the client's TCP address (never X-Forwarded-For) */
	NX_SOURCE_BODY_OBJECT,	/* the whole JSON body object, as jsonb */
	NX_SOURCE_CLIENT_CERT,	/* the SHA-256 fingerprint of the verified client
							 * certificate (agent listener) */
} NxArgSource;

/* The SQL type the value is bound as (and documented as). */
typedef enum NxArgType {
	NX_TYPE_TEXT,
	NX_TYPE_UUID,
	NX_TYPE_JSON,			/* any JSON value, bound as jsonb */
	NX_TYPE_INT,			/* integer */
	NX_TYPE_BIGINT,
	NX_TYPE_BOOL,
	NX_TYPE_TIMESTAMP,		/* timestamptz, ISO 8601 */
	NX_TYPE_INTERVAL,		/* e.g. "24 hours" */
	NX_TYPE_TEXT_ARRAY,		/* a JSON array of strings, bound as text[] */
	NX_TYPE_UUID_ARRAY,		/* a JSON array of uuids, bound as uuid[] */
} NxArgType;

typedef struct RouteArg {
	const char *name;	/* the SQL argument name (named notation) */
	NxArgSource source;
	NxArgType	type;
	bool		required;
	const char *from;	/* header name or fixed value; NULL otherwise */
} RouteArg;

/* What serves the route: most routes are one SQL function. */
typedef enum NxRouteKind {
	NX_KIND_SQL,
	NX_KIND_HEALTH,			/* liveness: no database */
	NX_KIND_READY,			/* database reachable and the extension version matches */
	NX_KIND_OPENAPI,		/* the document generated from this table */
	NX_KIND_EVENTS,			/* the Server-Sent Events stream */
	NX_KIND_AGENT_POLL,		/* the agents' long poll (agent_poll.c) */
} NxRouteKind;

#define NX_ROUTE_PUBLIC 0x01	/* no bearer token */
#define NX_ROUTE_LOGIN	0x02	/* counted by the login rate limiter */
#define NX_ROUTE_ENROLL 0x04	/* counted by the enrollment rate limiter */
#define NX_ROUTE_AGENT	0x08	/* needs a verified agent client certificate */

typedef struct Route {
	const char *method;
	const char *pattern;	/* "/v1/change-requests/{id}/approve" */
	NxRouteKind	kind;
	const char *function;	/* in schema nexplane; NULL unless NX_KIND_SQL */
	int			flags;
	int			status;		/* on success */
	const char *tag;		/* OpenAPI grouping */
	const char *summary;
	RouteArg	args[NX_ROUTE_MAX_ARGS];
} Route;

extern const Route nx_routes[];
extern const size_t nx_route_count;

const char *nx_arg_type_sql(NxArgType t);

#endif
