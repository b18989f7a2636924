/*-------------------------------------------------------------------------
 *
 * state_machine.c
 *	  The change request lifecycle: one transition table, one function
 *	  that walks it, and the trigger that holds the table to it.
 *
 * Each row of the table says everything about one move: the action, the
 * state it leaves and the state it lands in (and the other state it may
 * land in instead), who may make it (a set of roles, or only the job
 * worker), the job it queues, and the prepare hook that does the move's
 * own checks and work first.  nx_cr_act walks the table: it locks the
 * row, reads the change request once, finds the move, checks the role,
 * runs the hook, queues the job, moves the state, and appends a
 * change_request_events row with the full payload (the audit trigger
 * records the row change too).  The worker's actions are reached only
 * through the _cr_* functions, which nexplane_api cannot call.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "cr_document.h"
#include "json_build.h"
#include "policy_scope.h"
#include "risk.h"
#include "row_lookup.h"
#include "spi_util.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/json.h"

/* A change request as the state machine reads it, once per action. */
typedef struct NxChangeRequest
{
	const char *tenant_id;
	const char *id;
	const char *state;
	const char *requester_id;
	bool		scheduled_later;	/* scheduled_for is in the future */
	const char *connector_id;
	const char *change_type;
	const char *asset_ids;		/* uuid[] literal */
	const char *scheduled_for;
	Jsonb	   *params;
	const char *rollback_of;	/* the change this one rolls back, or NULL */
} NxChangeRequest;

/* What one action brings: the caller, the target, and the action's input. */
typedef struct NxAct
{
	const char *action;
	bool		worker;
	const char *tenant_id;
	const char *id;
	pg_uuid_t	tenant_uuid;	/* the same two, as uuids */
	pg_uuid_t	id_uuid;
	const char *text_arg;		/* comment, reason or error */
	Jsonb	   *result;			/* the worker's */
	Jsonb	   *rollback_state;
} NxAct;

/* One move under way: what a prepare hook reads and adds to. */
typedef struct NxMove
{
	const NxAct *act;
	const NxChangeRequest *cr;
	const NxContext *ctx;		/* NULL for the worker */
	JsonbParseState *payload;	/* the event's payload, an object begun */
	Jsonb	   *warnings;		/* policy warnings, a jsonb array, or NULL for none */
	const char *risk;			/* a new risk score (jsonb text), or NULL */
	NxRiskParts risk_parts;		/* its parts, when risk is set */
} NxMove;

struct NxTransition;

/*
 * A prepare hook checks what the table cannot say, does the move's own
 * work, and answers where the move lands: the row's "to" or its "alt_to".
 */
typedef const char *(*NxPrepare) (NxMove *m, const struct NxTransition *t);

typedef struct NxTransition
{
	const char *action;
	const char *from;
	const char *to;
	const char *alt_to;			/* the other state it may land in, or NULL */
	NxRoleSet	roles;			/* who may, when not the worker's */
	bool		worker;			/* only the job worker makes this move */
	const char *job_kind;		/* the job the move queues, or NULL */
	NxPrepare	prepare;		/* checks and work before the move, or NULL */
} NxTransition;

static const char *nx_prepare_submit(NxMove *m, const NxTransition *t);
static const char *nx_prepare_decide(NxMove *m, const NxTransition *t);
static const char *nx_prepare_execute(NxMove *m, const NxTransition *t);
static const char *nx_prepare_cancel(NxMove *m, const NxTransition *t);

static const NxTransition transitions[] = {
	{"submit", "draft", "pending_approval", "approved", NX_OPERATORS, false, NULL, nx_prepare_submit},
	{"approve", "pending_approval", "approved", "pending_approval", NX_APPROVERS, false, NULL,
	nx_prepare_decide},
	/* a further approval, where one was lost to a disabled approver */
	{"approve", "approved", "approved", NULL, NX_APPROVERS, false, NULL, nx_prepare_decide},
	{"reject", "pending_approval", "rejected", NULL, NX_APPROVERS, false, NULL, nx_prepare_decide},
	{"cancel", "draft", "cancelled", NULL, NX_OPERATORS, false, NULL, nx_prepare_cancel},
	{"cancel", "pending_approval", "cancelled", NULL, NX_OPERATORS, false, NULL, nx_prepare_cancel},
	{"cancel", "approved", "cancelled", NULL, NX_OPERATORS, false, NULL, nx_prepare_cancel},
	{"cancel", "scheduled", "cancelled", NULL, NX_OPERATORS, false, NULL, nx_prepare_cancel},
	{"execute", "approved", "executing", "scheduled", NX_OPERATORS, false, "execute_change",
	nx_prepare_execute},
	{"execute", "scheduled", "executing", NULL, 0, true, NULL, NULL},
	{"complete", "executing", "completed", NULL, 0, true, NULL, NULL},
	{"fail", "executing", "failed", NULL, 0, true, NULL, NULL},
	/* when its rollback (a change request of its own) starts to run */
	{"rollback", "completed", "rolling_back", NULL, 0, true, NULL, NULL},
	{"rollback", "failed", "rolling_back", NULL, 0, true, NULL, NULL},
	{"rollback_complete", "rolling_back", "rolled_back", NULL, 0, true, NULL, NULL},
	{"rollback_fail", "rolling_back", "rollback_failed", NULL, 0, true, NULL, NULL},
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
		if (strcmp(transitions[i].from, from) == 0 &&
			(strcmp(transitions[i].to, to) == 0 ||
			 (transitions[i].alt_to && strcmp(transitions[i].alt_to, to) == 0)))
			return true;
	return false;
}

/* The actions a user may take from a state, for the hint of an NX409. */
static char *
nx_allowed_actions(const char *from)
{
	StringInfoData buf;
	bool		worker_next = false;

	initStringInfo(&buf);
	for (size_t i = 0; i < lengthof(transitions); i++)
		if (strcmp(transitions[i].from, from) == 0)
		{
			if (transitions[i].worker)
				worker_next = true;
			else
				appendStringInfo(&buf, "%s%s", buf.len ? ", " : "", transitions[i].action);
		}
	if (buf.len)
		return buf.data;
	return worker_next ? "none; the job worker moves it next" :
		"none; the change request is finished";
}

static uint64
nx_q(const NxAct *a, const char *sql, int nargs, const NxParam *params)
{
	return a->worker ? nx_spi_params_system(sql, nargs, params) :
		nx_spi_params(sql, nargs, params);
}

/* A jsonb result of SPI's, copied out of its tuple table */
static Jsonb *
nx_jsonb_copy(Jsonb *jb)
{
	Jsonb	   *copy;

	if (jb == NULL)
		return NULL;
	copy = palloc(VARSIZE(jb));
	memcpy(copy, jb, VARSIZE(jb));
	return copy;
}

/*
 * nx_cr_read locks the change request, as SELECT ... FOR UPDATE would, and
 * reads it into cr (row_lookup.c: no statement, no row-level security;
 * the key is the caller's tenant, or the worker's given one).
 */
static void
nx_cr_read(const NxAct *a, NxChangeRequest *cr)
{
	static const char *const cols[] = {"state", "requester_id", "scheduled_for", "connector_id",
	"change_type", "asset_ids", "params", "rollback_of"};
	pg_uuid_t	keys[] = {a->tenant_uuid, a->id_uuid};
	Datum		v[lengthof(cols)];
	bool		n[lengthof(cols)];

	if (!nx_row_lock_by_pk("change_requests", 2, keys, lengthof(cols), cols, v, n))
		ereport(ERROR,
				(errcode(ERRCODE_NX_NOT_FOUND),
				 errmsg("change request %s not found", a->id)));
	cr->tenant_id = a->tenant_id;
	cr->id = a->id;
	cr->state = TextDatumGetCString(v[0]);
	cr->requester_id = nx_uuid_out(DatumGetUUIDP(v[1]));
	/* scheduled_for > now(), as the statement compared them */
	cr->scheduled_later = !n[2] &&
		DatumGetTimestampTz(v[2]) > GetCurrentTransactionStartTimestamp();
	cr->scheduled_for = n[2] ? NULL :
		DatumGetCString(DirectFunctionCall1(timestamptz_out, v[2]));
	cr->connector_id = nx_uuid_out(DatumGetUUIDP(v[3]));
	cr->change_type = TextDatumGetCString(v[4]);
	cr->asset_ids = OidOutputFunctionCall(F_ARRAY_OUT, v[5]);
	cr->params = n[6] ? NULL : DatumGetJsonbP(v[6]);
	cr->rollback_of = n[7] ? NULL : nx_uuid_out(DatumGetUUIDP(v[7]));
}

/* The approvals a change request needs and has: {count, admin} each. */
typedef struct NxApprovals
{
	Jsonb	   *required;
	Jsonb	   *given;
	const char *required_text;
	const char *given_text;
} NxApprovals;

/*
 * risk_level, when not NULL, is the level the change is about to be stored
 * with (submit rescores it and writes it with the move, in one UPDATE);
 * then only the approvals required are read (given is NULL): submit needs
 * no more, and a draft has no decisions to count.
 */
static NxApprovals
nx_cr_approvals(const NxChangeRequest *cr, const char *risk_level)
{
	const char *args[] = {cr->tenant_id, cr->id, risk_level};
	NxApprovals ap;

	if (risk_level)
	{
		NxScopeOf	scope = {0};

		scope.connector = *DatumGetUUIDP(DirectFunctionCall1(uuid_in,
															 CStringGetDatum(cr->connector_id)));
		nx_scope_assets(&scope, OidInputFunctionCall(F_ARRAY_IN, (char *) cr->asset_ids,
													 UUIDOID, -1));
		ap.required_text = nx_required_approvals(DatumGetUUIDP(DirectFunctionCall1(uuid_in,
																				   CStringGetDatum(cr->tenant_id))),
												 &scope, risk_level, false);
		ap.required = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														 CStringGetDatum(ap.required_text)));
		ap.given = NULL;
		ap.given_text = NULL;
		return ap;
	}
	nx_spi("SELECT nexplane._required_approvals(c), nexplane._approvals_given(c)"
		   "  FROM nexplane.change_requests c"
		   " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 2, args);
	ap.required = nx_jsonb_copy(nx_spi_get_jsonb(0, 1));
	ap.given = nx_jsonb_copy(nx_spi_get_jsonb(0, 2));
	ap.required_text = nx_spi_get(0, 1);
	ap.given_text = nx_spi_get(0, 2);
	return ap;
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
nx_approvals_met(const NxApprovals *ap)
{
	return nx_count_of(ap->given) >= nx_count_of(ap->required) &&
		(!nx_jsonb_get_bool(ap->required, "admin") || nx_jsonb_get_bool(ap->given, "admin"));
}

/*
 * The kinds of policy that _policy_violations (84_policies.sql) can find
 * broken at submit: the windows and the approvals are checked at execute.
 * A kind checked at submit there must be named here too.
 */
static const char *const submit_policy_kinds[] = {"max_blast_radius"};

static bool
nx_row_exists(Relation rel, TupleTableSlot *slot, void *arg)
{
	*(bool *) arg = true;
	return false;
}

/* Has the tenant a policy of this kind?  (one probe of policies_target_idx) */
static bool
nx_tenant_has_policy(const char *tenant_id, const char *kind)
{
	bool		found = false;
	NxKey		keys[] = {
		{BTEqualStrategyNumber, F_UUID_EQ, DirectFunctionCall1(uuid_in, CStringGetDatum(tenant_id))},
		{BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(kind)},
	};

	nx_index_rows("policies", "policies_target_idx", 2, keys, false, nx_row_exists, &found);
	return found;
}

/*
 * nx_apply_policies checks the policies for a phase ("submit" or
 * "execute"): any enforced violation is an error, warned ones are
 * returned for the event payload.  At submit, a tenant without a policy of
 * a kind checked then has nothing to break: the statement, a third of a
 * submit's work, is skipped.
 */
static Jsonb *
nx_apply_policies(const NxChangeRequest *cr, const char *phase)
{
	const char *args[] = {cr->tenant_id, cr->id, phase};

	if (strcmp(phase, "submit") == 0)
	{
		bool		any = false;

		for (size_t i = 0; i < lengthof(submit_policy_kinds) && !any; i++)
			any = nx_tenant_has_policy(cr->tenant_id, submit_policy_kinds[i]);
		if (!any)
			return NULL;
	}

	nx_spi("SELECT string_agg(v->>'message', '; ') FILTER (WHERE v->>'mode' = 'enforce'),"
		   "       coalesce(jsonb_agg(v) FILTER (WHERE v->>'mode' = 'warn'), '[]')"
		   "  FROM nexplane.change_requests c,"
		   "       jsonb_array_elements(nexplane._policy_violations(c, $3)) v"
		   " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 3, args);
	if (nx_spi_get(0, 1) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_CONFLICT),
				 errmsg("a policy forbids change request %s now", cr->id),
				 errdetail("%s.", nx_spi_get(0, 1)),
				 errhint("Wait until the policy allows it, or ask an admin to change the policy.")));
	return nx_jsonb_copy(nx_spi_get_jsonb(0, 2));
}

/*
 * Submit: the requester or an admin; the policies of submission; the risk
 * scored again, now (stored by the move's UPDATE); approved at once when
 * that risk needs no approval.
 */
static const char *
nx_prepare_submit(NxMove *m, const NxTransition *t)
{
	const NxChangeRequest *cr = m->cr;
	NxRiskInput in = {cr->tenant_id, cr->connector_id, cr->change_type,
	cr->asset_ids, cr->scheduled_for, m->ctx->role, cr->params, NULL, NULL};
	NxApprovals ap;

	if (strcmp(cr->requester_id, nx_uuid_out(&m->ctx->user_id)) != 0 &&
		!nx_role_in(m->ctx->role, NX_ADMINS))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only the requester or an admin may submit change request %s", cr->id)));
	m->warnings = nx_apply_policies(cr, "submit");
	m->risk = nx_risk_compute(&in, &m->risk_parts);
	ap = nx_cr_approvals(cr, m->risk_parts.level);	/* at the new risk level */
	nx_jb_key(&m->payload, "risk");
	nx_jb_jsonb(&m->payload, WJB_VALUE, m->risk_parts.risk_jsonb);
	nx_jb_key(&m->payload, "required_approvals");
	nx_jb_jsonb(&m->payload, WJB_VALUE, ap.required);
	return nx_count_of(ap.required) == 0 ? t->alt_to : t->to;
}

/*
 * Approve or reject: never the requester; a rejection says why; one
 * decision per approver; approved once enough approvals are in.
 */
static const char *
nx_prepare_decide(NxMove *m, const NxTransition *t)
{
	const NxAct *a = m->act;
	bool		approve = strcmp(a->action, "approve") == 0;
	const char *me = nx_uuid_out(&m->ctx->user_id);
	const char *args[] = {a->tenant_id, a->id, me, a->action, m->ctx->role, a->text_arg};
	NxApprovals ap;

	if (strcmp(m->cr->requester_id, me) == 0)
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
			   " ON CONFLICT DO NOTHING", 6, args) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_CONFLICT),
				 errmsg("you have already decided on change request %s", a->id)));
	if (!approve)
		return t->to;
	ap = nx_cr_approvals(m->cr, NULL);	/* with this approval */
	nx_jb_key(&m->payload, "required_approvals");
	nx_jb_jsonb(&m->payload, WJB_VALUE, ap.required);
	nx_jb_key(&m->payload, "approvals");
	nx_jb_jsonb(&m->payload, WJB_VALUE, ap.given);
	return nx_approvals_met(&ap) || t->alt_to == NULL ? t->to : t->alt_to;
}

/*
 * Execute: the approvals it needs, the policies of execution; scheduled
 * instead when planned for later (the clock starts it then).
 */
static const char *
nx_prepare_execute(NxMove *m, const NxTransition *t)
{
	NxApprovals ap = nx_cr_approvals(m->cr, NULL);

	if (!nx_approvals_met(&ap))
		ereport(ERROR,
				(errcode(ERRCODE_NX_CONFLICT),
				 errmsg("change request %s does not have the approvals it needs", m->cr->id),
				 errdetail("Required: %s; given: %s.", ap.required_text, ap.given_text)));
	m->warnings = nx_apply_policies(m->cr, "execute");
	return m->cr->scheduled_later ? t->alt_to : t->to;
}

/*
 * Cancel: the requester or an admin, not any operator; a scheduled
 * change's queued job goes too.
 */
static const char *
nx_prepare_cancel(NxMove *m, const NxTransition *t)
{
	const char *args[] = {m->cr->tenant_id, m->cr->id};

	if (strcmp(m->cr->requester_id, nx_uuid_out(&m->ctx->user_id)) != 0 &&
		!nx_role_in(m->ctx->role, NX_ADMINS))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only the requester or an admin may cancel change request %s", m->cr->id)));
	if (strcmp(m->cr->state, "scheduled") != 0)
		return t->to;
	nx_spi("UPDATE nexplane.jobs SET state = 'cancelled', finished_at = now()"
		   " WHERE tenant_id = $1::uuid AND change_request_id = $2::uuid AND state = 'queued'",
		   2, args);
	return t->to;
}

/* nx_cr_act makes one action's move, as the transition table says. */
static Datum
nx_cr_act(NxAct *a)
{
	const NxContext *ctx = a->worker ? NULL : nx_context_get();
	NxChangeRequest cr;
	const NxTransition *t;
	const char *to;
	NxMove		m;
	Jsonb	   *payload;
	Jsonb	   *result;

	SPI_connect();
	nx_cr_read(a, &cr);
	t = nx_find_transition(a->action, cr.state);
	if (t == NULL || t->worker != a->worker)
		ereport(ERROR,
				(errcode(ERRCODE_NX_CONFLICT),
				 errmsg("change request %s cannot %s", a->id, a->action),
				 errdetail("It is in state \"%s\".", cr.state),
				 errhint("Allowed now: %s.", nx_allowed_actions(cr.state))));
	if (!a->worker && !nx_role_in(ctx->role, t->roles))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("role \"%s\" may not %s change requests", ctx->role, a->action)));

	m = (NxMove) {.act = a, .cr = &cr, .ctx = ctx};
	pushJsonbValue(&m.payload, WJB_BEGIN_OBJECT, NULL);
	to = t->prepare ? t->prepare(&m, t) : t->to;

	if (t->job_kind)
	{
		/* a rollback's own change request runs the connector's rollback */
		const char *args[] = {a->tenant_id, a->id,
		cr.rollback_of && strcmp(t->job_kind, "execute_change") == 0 ?
		"rollback_change" : t->job_kind};

		nx_spi("INSERT INTO nexplane.jobs (tenant_id, kind, change_request_id, connector_id, run_after)"
			   " SELECT tenant_id, $3, id, connector_id,"
			   "        CASE WHEN $3 = 'execute_change' THEN coalesce(scheduled_for, now()) ELSE now() END"
			   "   FROM nexplane.change_requests WHERE tenant_id = $1::uuid AND id = $2::uuid",
			   3, args);
	}

	nx_jb_key(&m.payload, "policy_warnings");
	nx_jb_jsonb(&m.payload, WJB_VALUE, m.warnings ? m.warnings : nx_jb_empty_array());
	if (a->text_arg)
	{
		nx_jb_key(&m.payload, "text");
		nx_jb_cstring(&m.payload, WJB_VALUE, a->text_arg);
	}
	if (a->result)
	{
		nx_jb_key(&m.payload, "result");
		nx_jb_jsonb(&m.payload, WJB_VALUE, a->result);
	}
	payload = nx_jb_finish(&m.payload, WJB_END_OBJECT);

	{
		NxParam		args[] = {nx_p_uuid(&a->tenant_uuid), nx_p_uuid(&a->id_uuid), nx_p_text(to),
			nx_p_text(a->action), nx_p_text(a->text_arg), nx_p_jsonb(a->result),
			nx_p_jsonb(a->rollback_state),
			m.risk ? nx_p_int4(m.risk_parts.score_value) : nx_p_null(INT4OID),
			nx_p_text(m.risk ? m.risk_parts.level : NULL),
			nx_p_jsonb(m.risk ? m.risk_parts.factors_jsonb : NULL)};

		/*
		 * One UPDATE per move (one row version, one audit event), its row
		 * returned whole: the answer is built from it (cr_document.c).
		 * The move's event is a statement of its own: as one CTE with the
		 * UPDATE (WITH u AS (UPDATE ... RETURNING *), e AS (INSERT ...
		 * SELECT FROM u) SELECT * FROM u) a submit cost about 10k more,
		 * measured twice each.
		 */
		nx_q(a, "UPDATE nexplane.change_requests"
			 "   SET state = $3, version = version + 1, updated_at = now(),"
			 "       risk_score = coalesce($8, risk_score),"
			 "       risk_level = coalesce($9, risk_level),"
			 "       risk_factors = coalesce($10, risk_factors),"
			 "       submitted_at = CASE WHEN $4 = 'submit' THEN now() ELSE submitted_at END,"
			 "       executed_at = CASE WHEN $3 = 'executing' THEN now() ELSE executed_at END,"
			 "       completed_at = CASE WHEN $3 IN ('completed', 'failed', 'rolled_back',"
			 "                      'rollback_failed', 'rejected', 'cancelled')"
			 "                      THEN now() ELSE completed_at END,"
			 "       result = CASE WHEN $4 IN ('complete', 'rollback_complete')"
			 "                THEN $6 ELSE result END,"
			 "       rollback_state = coalesce($7, rollback_state),"
			 "       error = CASE WHEN $4 IN ('fail', 'rollback_fail') THEN $5 ELSE error END"
			 " WHERE tenant_id = $1 AND id = $2"
			 " RETURNING *",
			 10, args);
	}
	/* the answer from the row the UPDATE returned (a decision's has approvals) */
	result = nx_cr_document_answer(a->tenant_id, a->id,
								   t->prepare == nx_prepare_decide ?
								   NX_APPROVALS_SOME : NX_APPROVALS_MAYBE, a->worker);
	{
		const char *actor_kind = a->worker ? "worker" :
			(strcmp(ctx->auth_kind, "api_key") == 0 ? "api_key" : "user");
		NxParam		args[] = {nx_p_uuid(&a->tenant_uuid), nx_p_uuid(&a->id_uuid), nx_p_text(to),
			nx_p_text(a->action), nx_p_text(cr.state), nx_p_text(actor_kind),
		nx_p_uuid(a->worker ? NULL : &ctx->user_id), nx_p_jsonb(payload)};

		nx_q(a, "INSERT INTO nexplane.change_request_events"
			 " (tenant_id, change_request_id, action, from_state, to_state, actor_kind,"
			 "  actor_id, payload)"
			 " VALUES ($1, $2, $4, $5, $3, $6, $7, $8)", 8, args);
	}
	return nx_spi_return(result);
}

/* cr_submit(id), cr_approve(id, comment), cr_reject(id, reason), ... */
static Datum
nx_cr_user_action(FunctionCallInfo fcinfo, const char *action, const char *text_name)
{
	const NxContext *ctx = nx_require_role(NX_ANY_ROLE);
	NxAct		a = {0};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("id is required")));
	a.action = action;
	a.tenant_uuid = ctx->tenant_id;
	a.id_uuid = *PG_GETARG_UUID_P(0);
	a.tenant_id = nx_uuid_out(&a.tenant_uuid);
	a.id = nx_uuid_out(&a.id_uuid);
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
	a.tenant_uuid = *PG_GETARG_UUID_P(0);
	a.id_uuid = *PG_GETARG_UUID_P(1);
	a.tenant_id = nx_uuid_out(&a.tenant_uuid);
	a.id = nx_uuid_out(&a.id_uuid);
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		if (get_fn_expr_argtype(fcinfo->flinfo, 2) == TEXTOID)
			a.text_arg = text_to_cstring(PG_GETARG_TEXT_PP(2));
		else
			a.result = PG_GETARG_JSONB_P(2);
	}
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		a.rollback_state = PG_GETARG_JSONB_P(3);
	return nx_cr_act(&a);
}

#define NX_WORKER_ACTION(fn, action) \
PG_FUNCTION_INFO_V1(fn); \
Datum fn(PG_FUNCTION_ARGS) { return nx_cr_worker_action(fcinfo, action); }

NX_WORKER_ACTION(nx_cr_start, "execute")
NX_WORKER_ACTION(nx_cr_complete, "complete")
NX_WORKER_ACTION(nx_cr_fail, "fail")
NX_WORKER_ACTION(nx_cr_rollback_start, "rollback")
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
