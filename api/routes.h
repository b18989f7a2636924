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
typedef enum {
	ARG_PATH,		  /* a {name} segment of the path */
	ARG_QUERY,		  /* ?name=value */
	ARG_QUERY_OBJECT, /* every query parameter, as a JSON object of strings */
	ARG_BODY,		  /* a field of the JSON body object */
	ARG_HEADER,		  /* a request header (e.g. Idempotency-Key) */
	ARG_FIXED,		  /* a constant of the route */
} ArgSource;

/* The SQL type the value is bound as (and documented as). */
typedef enum {
	T_TEXT,
	T_UUID,
	T_JSON,		  /* any JSON value, bound as jsonb */
	T_INT,		  /* integer */
	T_BIGINT,
	T_BOOL,
	T_TIMESTAMP,  /* timestamptz, ISO 8601 */
	T_INTERVAL,	  /* e.g. "24 hours" */
	T_TEXT_ARRAY, /* a JSON array of strings, bound as text[] */
	T_UUID_ARRAY, /* a JSON array of uuids, bound as uuid[] */
} ArgType;

typedef struct RouteArg {
	const char *name;	/* the SQL argument name (named notation) */
	ArgSource	source;
	ArgType		type;
	bool		required;
	const char *from;	/* header name or fixed value; NULL otherwise */
} RouteArg;

/* What serves the route: most routes are one SQL function. */
typedef enum {
	RK_SQL,
	RK_HEALTH,	/* liveness: no database */
	RK_READY,	/* database reachable and the extension version matches */
	RK_OPENAPI, /* the document generated from this table */
	RK_EVENTS,	/* the Server-Sent Events stream */
} RouteKind;

#define ROUTE_PUBLIC 0x01	/* no bearer token */
#define ROUTE_LOGIN	 0x02	/* counted by the login rate limiter */

typedef struct Route {
	const char *method;
	const char *pattern;	/* "/v1/change-requests/{id}/approve" */
	RouteKind	kind;
	const char *function;	/* in schema nexplane; NULL unless RK_SQL */
	int			flags;
	int			status;		/* on success */
	const char *tag;		/* OpenAPI grouping */
	const char *summary;
	RouteArg	args[NX_ROUTE_MAX_ARGS];
} Route;

extern const Route nx_routes[];
extern const size_t nx_route_count;

const char *nx_arg_type_sql(ArgType t);

#endif
