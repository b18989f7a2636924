/*
 * route_rows.h -- the macros the route tables are written in (routes.c
 * for the main listener, agent_routes.c for the agent listener), so that
 * a row reads like the route it describes.  Only those two files include
 * it.
 */
#ifndef NX_ROUTE_ROWS_H
#define NX_ROUTE_ROWS_H

#include "routes.h"

/* The parts of an argument; a route lists at most NX_ROUTE_MAX_ARGS. */
#define NX_ID \
	{.name = "id", .source = NX_SOURCE_PATH, .type = NX_TYPE_UUID, .required = true}
#define NX_PATH(n, t) \
	{.name = (n), .source = NX_SOURCE_PATH, .type = NX_TYPE_##t, .required = true}
#define NX_QUERY_OPT(n, t) \
	{.name = (n), .source = NX_SOURCE_QUERY, .type = NX_TYPE_##t}
#define NX_BODY(n, t) \
	{.name = (n), .source = NX_SOURCE_BODY, .type = NX_TYPE_##t, .required = true}
#define NX_BODY_OPT(n, t) \
	{.name = (n), .source = NX_SOURCE_BODY, .type = NX_TYPE_##t}
#define NX_WHOLE_BODY(n) \
	{.name = (n), .source = NX_SOURCE_BODY_OBJECT, .type = NX_TYPE_JSON, .required = true}
#define NX_HEADER_OPT(n, t, header) \
	{.name = (n), .source = NX_SOURCE_HEADER, .type = NX_TYPE_##t, .from = (header)}
#define NX_FIXED(n, t, value) \
	{.name = (n), .source = NX_SOURCE_FIXED, .type = NX_TYPE_##t, .required = true, \
	 .from = (value)}
#define NX_PEER(n) \
	{.name = (n), .source = NX_SOURCE_PEER, .type = NX_TYPE_TEXT}
#define NX_CLIENT_CERT(n) \
	{.name = (n), .source = NX_SOURCE_CLIENT_CERT, .type = NX_TYPE_TEXT, .required = true}
#define NX_FILTER \
	{.name = "filter", .source = NX_SOURCE_QUERY_OBJECT, .type = NX_TYPE_JSON}
#define NX_NO_ARGS {.name = NULL}

/* A route for a bearer token's holder that calls one SQL function. */
#define NX_SQL(m, st, path, fn, group, sum, ...) \
	{.method = (m), .pattern = (path), .kind = NX_KIND_SQL, .function = (fn), \
	 .status = (st), .tag = (group), .summary = (sum), .args = {__VA_ARGS__}}
#define NX_GET(...)		NX_SQL("GET", 200, __VA_ARGS__)
#define NX_POST(...)	NX_SQL("POST", 200, __VA_ARGS__)
#define NX_CREATE(...)	NX_SQL("POST", 201, __VA_ARGS__)
#define NX_PUT(...)		NX_SQL("PUT", 200, __VA_ARGS__)
#define NX_PATCH(...)	NX_SQL("PATCH", 200, __VA_ARGS__)
#define NX_DELETE(...)	NX_SQL("DELETE", 200, __VA_ARGS__)

/* A route anyone may call (no token), answering 200. */
#define NX_PUBLIC(m, path, k, fn, fl, group, sum, ...) \
	{.method = (m), .pattern = (path), .kind = (k), .function = (fn), \
	 .flags = NX_ROUTE_PUBLIC | (fl), .status = 200, .tag = (group), .summary = (sum), \
	 .args = {__VA_ARGS__}}

#endif
