/*-------------------------------------------------------------------------
 *
 * context.h
 *	  The backend-local tenant context: who is acting, in which tenant.
 *
 * Row-level security keys every tenant table on current_tenant_id(), which
 * reads this context.  Only C code (authenticate, login, refresh, agent
 * authentication, act_as_tenant) can set it; no GUC or SQL setter exists.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_CONTEXT_H
#define NX_CONTEXT_H

#include "nexplane.h"
#include "roles.h"

#define NX_ROLE_MAX 16

typedef enum NxScope
{
	NX_SCOPE_NONE = 0,
	NX_SCOPE_XACT,				/* cleared at commit and abort */
	NX_SCOPE_SESSION			/* lives until logout or disconnect */
} NxScope;

typedef struct NxContext
{
	NxScope		scope;
	pg_uuid_t	tenant_id;
	pg_uuid_t	user_id;
	pg_uuid_t	home_tenant_id; /* differs from tenant_id under act_as_tenant */
	pg_uuid_t	session_id;		/* login session or API key id */
	char		role[NX_ROLE_MAX];
	char		auth_kind[16];	/* password, jwt, api_key, refresh, agent */
	char		request_id[65];
	char		trace_id[33];	/* W3C trace-id: 32 lower-case hex digits */
} NxContext;

extern void nx_context_init(void);
extern void nx_context_set(const NxContext *ctx);
extern void nx_context_clear(void);
extern const NxContext *nx_context_get(void);
extern void nx_context_set_request_id(const char *request_id);
extern void nx_context_set_trace_id(const char *trace_id);

/*
 * Privileged lookups that must cross tenants (finding a user by email at
 * login, a key by its hash) run inside nx_system_enter/leave.  RLS policies
 * admit rows while the depth is positive; SQL has no way to raise it.
 */
extern void nx_system_enter(void);
extern void nx_system_leave(void);
extern bool nx_system_mode(void);

/* Raise NX401 when no context, NX403 when role is not in the list. */
extern const NxContext *nx_require_role(NxRoleSet roles);
extern bool nx_caller_is_superuser(void);

/* utility_hook.c */
extern void nx_utility_hook_install(void);

#endif							/* NX_CONTEXT_H */
