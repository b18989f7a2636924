/*-------------------------------------------------------------------------
 *
 * state_machine.c
 *	  The change request lifecycle: one transition table, one function
 *	  that walks it, and the trigger that holds the table to it.
 *
 * Every action locks the row, checks the state against the table, the
 * caller's role, the requester rule and the policies, moves the state,
 * and appends a change_request_events row with the full payload (the
 * audit trigger records the row change too).  Three transitions land in
 * one of two states: submit (approved at once when no approval is
 * needed), approve (stays pending until enough approvals) and execute
 * (scheduled when planned for later).  The worker's actions are reached
 * only through the _cr_* functions, which nexplane_api cannot call.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "risk.h"
#include "spi_util.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/json.h"

typedef struct NxTransition
{
	const char *action;
	const char *from;
	const char *to;
	const char *const *roles;	/* NULL: only the worker */
} NxTransition;

static const char *const operators[] = {"operator", "admin", NULL};
static const char *const approvers[] = {"approver", "admin", NULL};

static const NxTransition transitions[] = {
	{"submit", "draft", "pending_approval", operators},
	{"approve", "pending_approval", "approved", approvers},
	{"reject", "pending_approval", "rejected", approvers},
	{"cancel", "draft", "cancelled", operators},
	{"cancel", "pending_approval", "cancelled", operators},
	{"cancel", "approved", "cancelled", operators},
	{"cancel", "scheduled", "cancelled", operators},
	{"execute", "approved", "executing", operators},
	{"execute", "scheduled", "executing", NULL},
	{"complete", "executing", "completed", NULL},
	{"fail", "executing", "failed", NULL},
	{"rollback", "completed", "rolling_back", operators},
	{"rollback", "failed", "rolling_back", operators},
	{"rollback_complete", "rolling_back", "rolled_back", NULL},
	{"rollback_fail", "rolling_back", "rollback_failed", NULL},
};

/* The other landing states of the three two-way transitions. */
static const struct
{
	const char *action;
	const char *from;
	const char *to;
}			alternates[] = {
	{"submit", "draft", "approved"},
	{"approve", "pending_approval", "pending_approval"},
	{"execute", "approved", "scheduled"},
};

static const NxTransition *
nx_find_transition(const char *action, const char *from)
{
	for (size_t i = 0; i < lengthof(transitions); i++)
		if (strcmp(transitions[i].action, action) == 0 &&
			strcmp(transitions[i].from, from) == 0)
			return &transitions[i];
	return NULL;
}

/* Is from -> to a move some action makes? (for the guard trigger) */
static bool
nx_move_allowed(const char *from, const char *to)
{
	for (size_t i = 0; i < lengthof(transitions); i++)
		if (strcmp(transitions[i].from, from) == 0 && strcmp(transitions[i].to, to) == 0)
			return true;
	for (size_t i = 0; i < lengthof(alternates); i++)
		if (strcmp(alternates[i].from, from) == 0 && strcmp(alternates[i].to, to) == 0)
			return true;
	return false;
}

static char *
nx_allowed_actions(const char *from)
{
	StringInfoData buf;

	bool		worker_next = false;

	initStringInfo(&buf);
	for (size_t i = 0; i < lengthof(transitions); i++)
		if (strcmp(transitions[i].from, from) == 0)
		{
			if (transitions[i].roles == NULL)
				worker_next = true;
			else
				appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", transitions[i].action);
		}
	if (buf.len)
		return buf.data;
	return worker_next ? "none; the job worker moves it next" :
		"none; the change request is finished";
}

static bool
nx_role_in(const char *role, const char *const *roles)
{
	if (strcmp(role, "superadmin") == 0)
		return true;
	for (const char *const *r = roles; *r; r++)
		if (strcmp(role, *r) == 0)
			return true;
	return false;
}

/* What one action brings: the caller, the target, and the action's input. */
typedef struct NxAct
{
	const char *action;
	bool		worker;
	const char *tenant_id;
	const char *id;
	const char *text_arg;		/* comment, reason or error */
	const char *result;			/* jsonb text from the worker */
	const char *rollback_state;
} NxAct;

static const char *cr_row_sql =
"SELECT c.state, c.requester_id, c.risk_level, c.scheduled_for > now(),"
"       nexplane._required_approvals(c), nexplane._approvals_given(c),"
"       nexplane._policy_violations(c, $3), c.connector_id, c.change_type,"
"       c.asset_ids, c.scheduled_for"
"  FROM nexplane.change_requests c"
" WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid";

static uint64
nx_q(const NxAct *a, const char *sql, int nargs, const char *const *args)
{
	return a->worker ? nx_spi_system(sql, nargs, args) : nx_spi(sql, nargs, args);
}

static int64
nx_count_of(Jsonb *jb)
{
	int64		v = 0;

	nx_jsonb_get_int64(jb, "count", &v);
	return v;
}

/* Enough approvals given, and an admin among them when one is required? */
static bool
nx_approvals_met(Jsonb *required, Jsonb *given)
{
	return nx_count_of(given) >= nx_count_of(required) &&
		(!nx_jsonb_get_bool(required, "admin") || nx_jsonb_get_bool(given, "admin"));
}

/*
 * Split policy violations into an error (any enforced one) or warnings
 * for the event payload.
 */
static const char *
nx_apply_policies(const char *violations, const char *id)
{
	const char *args[] = {violations};

	nx_spi("SELECT string_agg(v->>'message', '; ') FILTER (WHERE v->>'mode' = 'enforce'),"
		   "       coalesce(jsonb_agg(v) FILTER (WHERE v->>'mode' = 'warn'), '[]')"
		   "  FROM jsonb_array_elements($1::jsonb) v", 1, args);
	if (nx_spi_get(0, 1) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_CONFLICT),
				 errmsg("a policy forbids change request %s now", id),
				 errdetail("%s.", nx_spi_get(0, 1)),
				 errhint("Wait until the policy allows it, or ask an admin to change the policy.")));
	return nx_spi_get(0, 2);
}

static Datum
nx_cr_act(NxAct *a)
{
	const NxContext *ctx = nx_context_get();
	const char *row_args[] = {a->tenant_id, a->id,
	strcmp(a->action, "execute") == 0 ? "execute" : "submit"};
	const NxTransition *t;
	const char *from;
	const char *to;
	const char *requester;
	const char *warnings = "[]";
	const char *job_kind = NULL;
	StringInfoData payload;
	Jsonb	   *result;

	SPI_connect();
	if (nx_q(a, "SELECT 1 FROM nexplane.change_requests"
			 " WHERE tenant_id = $1::uuid AND id = $2::uuid FOR UPDATE", 2, row_args) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_NOT_FOUND),
				 errmsg("change request %s not found", a->id)));
	nx_q(a, cr_row_sql, 3, row_args);
	from = nx_spi_get(0, 1);
	requester = nx_spi_get(0, 2);

	t = nx_find_transition(a->action, from);
	if (t == NULL || (t->roles == NULL) != a->worker)
		ereport(ERROR,
				(errcode(ERRCODE_NX_CONFLICT),
				 errmsg("change request %s cannot %s", a->id, a->action),
				 errdetail("It is in state \"%s\".", from),
				 errhint("Allowed now: %s.", nx_allowed_actions(from))));
	if (!a->worker && !nx_role_in(ctx->role, t->roles))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("role \"%s\" may not %s change requests", ctx->role, a->action)));
	to = t->to;

	initStringInfo(&payload);
	appendStringInfoString(&payload, "{");
	if (strcmp(a->action, "submit") == 0)
	{
		NxRiskInput in = {a->tenant_id, nx_spi_get(0, 8), nx_spi_get(0, 9),
		nx_spi_get(0, 10), nx_spi_get(0, 11), ctx->role};
		char	   *violations = nx_spi_get(0, 7);
		Jsonb	   *risk;
		const char *rargs[] = {a->tenant_id, a->id, NULL};

		if (strcmp(requester, nx_uuid_out(&ctx->user_id)) != 0 &&
			!nx_role_in(ctx->role, (const char *const[]) {"admin", NULL}))
			ereport(ERROR,
					(errcode(ERRCODE_NX_FORBIDDEN),
					 errmsg("only the requester or an admin may submit change request %s", a->id)));
		warnings = nx_apply_policies(violations, a->id);
		risk = nx_risk_compute(&in);
		rargs[2] = JsonbToCString(NULL, &risk->root, VARSIZE(risk));
		nx_spi("UPDATE nexplane.change_requests"
			   "   SET risk_score = ($3::jsonb->>'score')::int, risk_level = $3::jsonb->>'level',"
			   "       risk_factors = $3::jsonb->'factors'"
			   " WHERE tenant_id = $1::uuid AND id = $2::uuid", 3, rargs);
		nx_spi(cr_row_sql, 3, row_args);	/* required approvals at the new level */
		if (nx_count_of(nx_spi_get_jsonb(0, 5)) == 0)
			to = "approved";
		appendStringInfo(&payload, "\"risk\": %s, \"required_approvals\": %s, ",
						 rargs[2], nx_spi_get(0, 5));
	}
	else if (strcmp(a->action, "approve") == 0 || strcmp(a->action, "reject") == 0)
	{
		bool		approve = strcmp(a->action, "approve") == 0;
		const char *me = nx_uuid_out(&ctx->user_id);
		const char *aargs[] = {a->tenant_id, a->id, me, approve ? "approve" : "reject",
		ctx->role, a->text_arg};

		if (strcmp(requester, me) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NX_FORBIDDEN),
					 errmsg("you cannot %s your own change request", a->action),
					 errhint("Someone other than the requester must decide.")));
		if (!approve && (a->text_arg == NULL || a->text_arg[0] == '\0'))
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("a rejection needs a reason")));
		if (nx_spi("INSERT INTO nexplane.approvals"
				   " (tenant_id, change_request_id, approver_id, decision, approver_role, comment)"
				   " VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5, $6)"
				   " ON CONFLICT DO NOTHING", 6, aargs) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_NX_CONFLICT),
					 errmsg("you have already decided on change request %s", a->id)));
		if (approve)
		{
			nx_spi(cr_row_sql, 3, row_args);	/* count this approval */
			if (!nx_approvals_met(nx_spi_get_jsonb(0, 5), nx_spi_get_jsonb(0, 6)))
				to = "pending_approval";
			appendStringInfo(&payload, "\"required_approvals\": %s, \"approvals\": %s, ",
							 nx_spi_get(0, 5), nx_spi_get(0, 6));
		}
	}
	else if (strcmp(a->action, "execute") == 0 && !a->worker)
	{
		bool		later = nx_spi_get(0, 4) && strcmp(nx_spi_get(0, 4), "t") == 0;

		if (!nx_approvals_met(nx_spi_get_jsonb(0, 5), nx_spi_get_jsonb(0, 6)))
			ereport(ERROR,
					(errcode(ERRCODE_NX_CONFLICT),
					 errmsg("change request %s does not have the approvals it needs", a->id),
					 errdetail("Required: %s; given: %s.", nx_spi_get(0, 5), nx_spi_get(0, 6))));
		/* read the row before nx_apply_policies runs its own query */
		warnings = nx_apply_policies(nx_spi_get(0, 7), a->id);
		if (later)
			to = "scheduled";
		job_kind = "execute_change";
	}
	else if (strcmp(a->action, "rollback") == 0)
		job_kind = "rollback_change";

	if (strcmp(to, "cancelled") == 0 && strcmp(from, "scheduled") == 0)
	{
		const char *args[] = {a->tenant_id, a->id};

		nx_spi("UPDATE nexplane.jobs SET state = 'cancelled', finished_at = now()"
			   " WHERE tenant_id = $1::uuid AND change_request_id = $2::uuid AND state = 'queued'",
			   2, args);
	}
	if (job_kind)
	{
		const char *args[] = {a->tenant_id, a->id, job_kind};

		nx_spi("INSERT INTO nexplane.jobs (tenant_id, kind, change_request_id, connector_id, run_after)"
			   " SELECT tenant_id, $3, id, connector_id,"
			   "        CASE WHEN $3 = 'execute_change' THEN coalesce(scheduled_for, now()) ELSE now() END"
			   "   FROM nexplane.change_requests WHERE tenant_id = $1::uuid AND id = $2::uuid",
			   3, args);
	}

	appendStringInfo(&payload, "\"policy_warnings\": %s", warnings);
	if (a->text_arg)
	{
		appendStringInfoString(&payload, ", \"text\": ");
		escape_json(&payload, a->text_arg);
	}
	if (a->result)
		appendStringInfo(&payload, ", \"result\": %s", a->result);
	appendStringInfoChar(&payload, '}');

	{
		const char *args[] = {a->tenant_id, a->id, to, a->action, a->text_arg, a->result,
		a->rollback_state};

		nx_q(a, "UPDATE nexplane.change_requests"
			 "   SET state = $3, version = version + 1, updated_at = now(),"
			 "       submitted_at = CASE WHEN $4 = 'submit' THEN now() ELSE submitted_at END,"
			 "       executed_at = CASE WHEN $3 = 'executing' THEN now() ELSE executed_at END,"
			 "       completed_at = CASE WHEN $3 IN ('completed', 'failed', 'rolled_back',"
			 "                      'rollback_failed', 'rejected', 'cancelled')"
			 "                      THEN now() ELSE completed_at END,"
			 "       result = CASE WHEN $4 IN ('complete', 'rollback_complete')"
			 "                THEN $6::jsonb ELSE result END,"
			 "       rollback_state = coalesce($7::jsonb, rollback_state),"
			 "       error = CASE WHEN $4 IN ('fail', 'rollback_fail') THEN $5 ELSE error END"
			 " WHERE tenant_id = $1::uuid AND id = $2::uuid", 7, args);
	}
	{
		const char *args[] = {a->tenant_id, a->id, a->action, from, to,
			a->worker ? "worker" : (strcmp(ctx->auth_kind, "api_key") == 0 ? "api_key" : "user"),
		a->worker ? NULL : nx_uuid_out(&ctx->user_id), payload.data};

		nx_q(a, "INSERT INTO nexplane.change_request_events"
			 " (tenant_id, change_request_id, action, from_state, to_state, actor_kind,"
			 "  actor_id, payload)"
			 " VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7::uuid, $8::jsonb)", 8, args);
	}
	{
		const char *args[] = {a->tenant_id, a->id};

		nx_q(a, "SELECT nexplane._cr_json(c) FROM nexplane.change_requests c"
			 " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 2, args);
		result = nx_spi_get_jsonb(0, 1);
	}
	return nx_spi_return(result);
}

/* cr_submit(id), cr_approve(id, comment), cr_reject(id, reason), ... */
static Datum
nx_cr_user_action(FunctionCallInfo fcinfo, const char *action, const char *text_name)
{
	const NxContext *ctx = nx_require_role(NULL);
	NxAct		a = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("id is required")));
	a.action = action;
	a.tenant_id = nx_uuid_out(&ctx->tenant_id);
	a.id = nx_uuid_out(PG_GETARG_UUID_P(0));
	if (text_name && PG_NARGS() > 1 && !PG_ARGISNULL(1))
		a.text_arg = text_to_cstring(nx_arg_text(fcinfo, 1, text_name, 2000));
	return nx_cr_act(&a);
}

#define NX_USER_ACTION(fn, action, text_name) \
PG_FUNCTION_INFO_V1(fn); \
Datum fn(PG_FUNCTION_ARGS) { return nx_cr_user_action(fcinfo, action, text_name); }

NX_USER_ACTION(nx_cr_submit, "submit", NULL)
NX_USER_ACTION(nx_cr_approve, "approve", "comment")
NX_USER_ACTION(nx_cr_reject, "reject", "reason")
NX_USER_ACTION(nx_cr_cancel, "cancel", "reason")
NX_USER_ACTION(nx_cr_execute, "execute", NULL)
NX_USER_ACTION(nx_cr_rollback, "rollback", "reason")

/*
 * The worker's side: _cr_start(tenant, id), _cr_complete(tenant, id,
 * result, rollback_state), _cr_fail(tenant, id, error), and the same for
 * rollback.  Only the extension owner (or a superuser) may call them.
 */
static Datum
nx_cr_worker_action(FunctionCallInfo fcinfo, const char *action)
{
	NxAct		a = {0};

	if (!nx_caller_is_superuser() &&
		GetOuterUserId() != get_role_oid("nexplane_owner", false))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only the job worker may %s a change request", action)));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("tenant_id and id are required")));
	a.action = action;
	a.worker = true;
	a.tenant_id = nx_uuid_out(PG_GETARG_UUID_P(0));
	a.id = nx_uuid_out(PG_GETARG_UUID_P(1));
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		if (get_fn_expr_argtype(fcinfo->flinfo, 2) == TEXTOID)
			a.text_arg = text_to_cstring(PG_GETARG_TEXT_PP(2));
		else
			a.result = JsonbToCString(NULL, &PG_GETARG_JSONB_P(2)->root, 64);
	}
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		a.rollback_state = JsonbToCString(NULL, &PG_GETARG_JSONB_P(3)->root, 64);
	return nx_cr_act(&a);
}

#define NX_WORKER_ACTION(fn, action) \
PG_FUNCTION_INFO_V1(fn); \
Datum fn(PG_FUNCTION_ARGS) { return nx_cr_worker_action(fcinfo, action); }

NX_WORKER_ACTION(nx_cr_start, "execute")
NX_WORKER_ACTION(nx_cr_complete, "complete")
NX_WORKER_ACTION(nx_cr_fail, "fail")
NX_WORKER_ACTION(nx_cr_rollback_complete, "rollback_complete")
NX_WORKER_ACTION(nx_cr_rollback_fail, "rollback_fail")

/*
 * _cr_state_guard: BEFORE INSERT OR UPDATE OR DELETE on change_requests.
 * New requests start as drafts, states move only along the table, and
 * requests are never deleted: direct DML cannot skip the state machine.
 */
PG_FUNCTION_INFO_V1(nx_cr_state_guard);
Datum
nx_cr_state_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			att;
	char	   *old_state;
	char	   *new_state;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event))
		elog(ERROR, "_cr_state_guard must be a BEFORE trigger");
	desc = RelationGetDescr(td->tg_relation);
	att = SPI_fnumber(desc, "state");
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("change requests are never deleted"),
				 errhint("Cancel it instead.")));
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		new_state = SPI_getvalue(td->tg_trigtuple, desc, att);
		if (strcmp(new_state, "draft") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_NX_CONFLICT),
					 errmsg("a change request starts as a draft, not \"%s\"", new_state)));
		return PointerGetDatum(td->tg_trigtuple);
	}
	old_state = SPI_getvalue(td->tg_trigtuple, desc, att);
	new_state = SPI_getvalue(td->tg_newtuple, desc, att);
	if (strcmp(old_state, new_state) != 0 && !nx_move_allowed(old_state, new_state))
		ereport(ERROR,
				(errcode(ERRCODE_NX_CONFLICT),
				 errmsg("a change request cannot move from \"%s\" to \"%s\"", old_state, new_state)));
	return PointerGetDatum(td->tg_newtuple);
}
