/*
 * bind.h -- turn a matched route and a request's parts into one
 * parameterised SQL call with validated, typed arguments.
 *
 * Pure: no server, no database, so the fuzz target drives it directly.
 */
#ifndef NX_BIND_H
#define NX_BIND_H

#include "router.h"

typedef struct BindInput {
	const RouteMatch *match;
	const char *query;		/* raw query string, or NULL */
	const char *body;		/* raw body, or NULL */
	size_t		body_len;
	/* a request header by name, or NULL; header_ctx is passed through */
	const char *(*header)(void *header_ctx, const char *name);
	void	   *header_ctx;
	const char *peer;		/* the client's TCP address, or NULL */
	const char *fingerprint;	/* the verified client certificate's, or NULL */
} BindInput;

typedef struct BoundCall {
	char	   *sql;		/* SELECT nexplane.fn(a => $1::uuid, ...) */
	int			nparams;
	char	   *values[NX_ROUTE_MAX_ARGS];
} BoundCall;

typedef struct BindError {
	int			status;		/* 400 */
	char		message[256];
} BindError;

bool nx_bind(const BindInput *in, BoundCall *out, BindError *err);
void nx_bound_free(BoundCall *call);
bool nx_is_uuid(const char *s);

#endif
