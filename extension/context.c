/*-------------------------------------------------------------------------
 *
 * context.c
 *	  The backend-local tenant context and the SQL functions that read it.
 *
 * The context lives in a static of this backend, never in a GUC, so a
 * plain SET or set_config() cannot move a session into another tenant.
 * Transaction-scoped contexts (the API shim's) are cleared by a transaction
 * callback at commit and abort; a session-scoped context (psql login) that
 * was set in a transaction which then aborted is cleared too, because the
 * login session row it refers to was rolled back with it.  A context set
 * inside a subtransaction that aborts is cleared: fail closed.
 *
 * A session-scoped context is checked again in every transaction that
 * reads it, as authenticate() checks a token on every request: the login
 * session must be live and within nexplane.session_max_age of its start,
 * the user and tenant active, and the session used within
 * nexplane.session_idle_timeout; the role is read afresh.  When a check
 * fails the context is cleared and the reason kept for the NX401 the
 * caller then gets.  DISCARD ALL and RESET ALL clear it (utility_hook.c),
 * so a pooled connection never hands it to the next client.
 *
 *-------------------------------------------------------------------------
 */
#include "context.h"

#include "sessions.h"

#include "access/xact.h"
#include "storage/proc.h"

static NxContext current;
static bool current_uncommitted = false;	/* set in the running transaction */
static int	current_nest_level = 0;
static int	system_depth = 0;
static LocalTransactionId checked_lxid = InvalidLocalTransactionId;
static bool checking = false;
static TimestampTz last_active = 0;
static char ended_why[256] = "";	/* why a session context was cleared */

/*
 * nx_context_recheck checks a session-scoped context once per transaction
 * (see the file header).  While it runs, the context is read as it is.
 */
static void
nx_context_recheck(void)
{
	const char *why;
	TimestampTz now;

	if (current.scope != NX_SCOPE_SESSION || checking || !IsTransactionState() ||
		MyProc->lxid == checked_lxid)
		return;
	now = GetCurrentTimestamp();
	checking = true;
	PG_TRY();
	{
		if (TimestampDifferenceExceeds(last_active, now, nx_session_idle_timeout * 1000))
			why = psprintf("It was idle for more than %d seconds (nexplane.session_idle_timeout).",
						   nx_session_idle_timeout);
		else
			why = nx_session_recheck(&current);
	}
	PG_FINALLY();
	{
		checking = false;
	}
	PG_END_TRY();
	if (why)
	{
		nx_context_clear();
		strlcpy(ended_why, why, sizeof(ended_why));
		return;
	}
	checked_lxid = MyProc->lxid;
	last_active = now;
}

static void
nx_context_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			if (current.scope == NX_SCOPE_XACT)
				nx_context_clear();
			current_uncommitted = false;
			current_nest_level = 0;		/* no later subtransaction owns it */
			current.request_id[0] = '\0';
			current.trace_id[0] = '\0';
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (current.scope == NX_SCOPE_XACT || current_uncommitted)
				nx_context_clear();
			current_uncommitted = false;
			current.request_id[0] = '\0';
			current.trace_id[0] = '\0';
			system_depth = 0;
			break;
		default:
			break;
	}
}

static void
nx_context_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (current.scope == NX_SCOPE_NONE || current_nest_level < level)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		nx_context_clear();
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		current_nest_level = level - 1;
}

void
nx_context_init(void)
{
	RegisterXactCallback(nx_context_xact_callback, NULL);
	RegisterSubXactCallback(nx_context_subxact_callback, NULL);
}

void
nx_context_set(const NxContext *ctx)
{
	current = *ctx;
	checked_lxid = MyProc->lxid;	/* the caller has just checked it */
	last_active = GetCurrentTimestamp();
	ended_why[0] = '\0';
	current_uncommitted = IsTransactionState();
	current_nest_level = GetCurrentTransactionNestLevel();
}

void
nx_context_clear(void)
{
	memset(&current, 0, sizeof(current));
	current_uncommitted = false;
	current_nest_level = 0;
}

const NxContext *
nx_context_get(void)
{
	nx_context_recheck();
	return current.scope == NX_SCOPE_NONE ? NULL : &current;
}

void
nx_context_set_request_id(const char *request_id)
{
	strlcpy(current.request_id, request_id ? request_id : "",
			sizeof(current.request_id));
}

void
nx_context_set_trace_id(const char *trace_id)
{
	strlcpy(current.trace_id, trace_id ? trace_id : "", sizeof(current.trace_id));
}

void
nx_system_enter(void)
{
	system_depth++;
}

void
nx_system_leave(void)
{
	if (system_depth > 0)
		system_depth--;
}

/*
 * The user behind SET ROLE, unaffected by SECURITY DEFINER: a superuser at
 * psql may create tenants; a SECURITY DEFINER function's owner may not.
 */
bool
nx_caller_is_superuser(void)
{
	return superuser_arg(GetOuterUserId());
}

/* nx_require_role: the caller's context, if its role is in the set. */
const NxContext *
nx_require_role(NxRoleSet roles)
{
	const NxContext *ctx = nx_context_get();

	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_UNAUTHENTICATED),
				 errmsg("not authenticated"),
				 ended_why[0] ? errdetail("Your session ended. %s", ended_why) : 0,
				 errhint("Call nexplane.login() or nexplane.authenticate() first.")));
	if (nx_role_in(ctx->role, roles))
		return ctx;
	ereport(ERROR,
			(errcode(ERRCODE_NX_FORBIDDEN),
			 errmsg("role \"%s\" may not do this", ctx->role)));
	return NULL;				/* keep compiler quiet */
}

/* A palloc'd copy of a uuid of the context, for a SQL result. */
static pg_uuid_t *
nx_uuid_copy(const pg_uuid_t *u)
{
	pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

	*copy = *u;
	return copy;
}

PG_FUNCTION_INFO_V1(nx_current_tenant_id);
Datum
nx_current_tenant_id(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_context_get();

	if (ctx == NULL)
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(nx_uuid_copy(&ctx->tenant_id));
}

PG_FUNCTION_INFO_V1(nx_current_user_id);
Datum
nx_current_user_id(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_context_get();

	if (ctx == NULL)
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(nx_uuid_copy(&ctx->user_id));
}

PG_FUNCTION_INFO_V1(nx_current_role);
Datum
nx_current_role(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_context_get();

	if (ctx == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ctx->role));
}

PG_FUNCTION_INFO_V1(nx_current_request_id);
Datum
nx_current_request_id(PG_FUNCTION_ARGS)
{
	if (current.scope == NX_SCOPE_NONE || current.request_id[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(current.request_id));
}

/* _auth_kind(): how the caller proved who they are (password, jwt, api_key, ...) */
PG_FUNCTION_INFO_V1(nx_auth_kind);
Datum
nx_auth_kind(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_context_get();

	if (ctx == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(ctx->auth_kind));
}

/* _auth_session_id(): the caller's login session, or API key, id */
PG_FUNCTION_INFO_V1(nx_auth_session_id);
Datum
nx_auth_session_id(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_context_get();

	if (ctx == NULL)
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(nx_uuid_copy(&ctx->session_id));
}

/* In system mode (what system_access() answers)? */
bool
nx_system_mode(void)
{
	return system_depth > 0;
}

PG_FUNCTION_INFO_V1(nx_system_access);
Datum
nx_system_access(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(system_depth > 0);
}

/*
 * _require_role(VARIADIC roles text[]) for the PL/pgSQL functions: raises
 * NX401 or NX403 exactly as the C functions do.  An empty list admits any
 * authenticated role.
 */
PG_FUNCTION_INFO_V1(nx_require_role_sql);
Datum
nx_require_role_sql(PG_FUNCTION_ARGS)
{
	nx_require_role(nx_role_set_from_array(PG_GETARG_ARRAYTYPE_P(0)));
	PG_RETURN_VOID();
}

/* _require_auth(): _require_role() with the empty list, without the array. */
PG_FUNCTION_INFO_V1(nx_require_auth_sql);
Datum
nx_require_auth_sql(PG_FUNCTION_ARGS)
{
	nx_require_role(NX_ANY_ROLE);
	PG_RETURN_VOID();
}
