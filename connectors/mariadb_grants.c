/*-------------------------------------------------------------------------
 *
 * mariadb_grants.c
 *	  The mariadb connector's grant and revoke changes: privileges from the
 *	  allowlist on one database (db.*) or one table (db.table).
 *
 * params: user, host (looked up when missing), object, privileges ("SELECT,
 * INSERT").  execute changes only what needs changing and stores exactly
 * that in rollback_state: a grant of privileges the account already held
 * is not undone by its rollback, and a revoke of privileges it never held
 * is not turned into a grant by its rollback.
 *
 *-------------------------------------------------------------------------
 */
#include "mariadb_internal.h"

static bool
nxm_grant_prepare_as(const NxConnectorCall *call, NxmPlan *plan, bool grant,
					 NxConnectorResult *out)
{
	const char *what;
	Jsonb	   *from = nxm_plan_source(call, &what);
	char	   *object;
	char	   *privileges;
	char	   *why;

	plan->turn_on = grant;
	if (!nxm_plan_account(call, plan, out) || !nxm_require_user(plan, out))
		return false;
	object = nx_jsonb_get_cstring(from, "object");
	if (object == NULL)
	{
		nx_connector_fail(out, "%s.object is required (db.* or db.table)", what);
		return false;
	}
	if (!nxm_parse_object(object, &plan->object, &why))
	{
		nx_connector_fail(out, "%s", why);
		return false;
	}
	/* undo steps take the privileges from rollback_state instead */
	privileges = nx_jsonb_get_cstring(call->params, "privileges");
	if (privileges == NULL)
	{
		if (from == call->rollback_state)
			return true;
		nx_connector_fail(out, "params.privileges is required (such as \"SELECT, INSERT\")");
		return false;
	}
	if (!nxm_parse_privileges(privileges, &plan->object, &plan->privileges, &why))
	{
		nx_connector_fail(out, "%s", why);
		return false;
	}
	return true;
}

static bool
nxm_grant_prepare(const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out)
{
	return nxm_grant_prepare_as(call, plan, true, out);
}

static bool
nxm_revoke_prepare(const NxConnectorCall *call, NxmPlan *plan, NxConnectorResult *out)
{
	return nxm_grant_prepare_as(call, plan, false, out);
}

/* What execute changed, from rollback_state ("" when it changed nothing). */
static bool
nxm_changed(const NxConnectorCall *call, const NxmPlan *plan, NxmPrivSet *set,
			NxConnectorResult *out)
{
	char	   *text;
	char	   *why;

	*set = 0;
	if (!nxm_require_rollback_state(call, out))
		return false;
	text = nx_jsonb_get_cstring(call->rollback_state, "privileges");
	if (text == NULL || text[0] == '\0')
		return true;
	if (!nxm_parse_privileges(text, &plan->object, set, &why))
	{
		nx_connector_fail(out, "rollback_state: %s", why);
		return false;
	}
	return true;
}

/*
 * The account exists, a grant's object exists (a revoke's may be gone:
 * its privileges can outlive it), and what it holds there now.
 */
static bool
nxm_grant_target(MYSQL *db, NxmPlan *plan, bool need_object, NxmPrivSet *held,
				 NxConnectorResult *out)
{
	bool		exists;

	if (!nxm_account_resolve(db, &plan->account, out))
		return false;
	if (need_object)
	{
		if (!nxm_object_exists(db, &plan->object, &exists, out))
			return false;
		if (!exists)
		{
			nx_connector_fail(out, "%s %s does not exist", plan->object.table ? "table" : "database",
							  nxm_object_display(&plan->object));
			return false;
		}
	}
	return nxm_privileges_held(db, &plan->account, &plan->object, held, out);
}

/* GRANT or REVOKE set on the plan's object; nothing when set is empty. */
static bool
nxm_apply(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, bool grant, NxmPrivSet set,
		  NxConnectorResult *out)
{
	if (set == 0)
		return true;
	if (!nxm_step(call, 50, grant ? "granting" : "revoking", out))
		return false;
	return nxm_exec(db, psprintf(grant ? "GRANT %s ON %s TO %s" : "REVOKE %s ON %s FROM %s",
								 nxm_privileges_text(set), nxm_object_sql(&plan->object),
								 nxm_account_sql(db, &plan->account)),
					grant ? "grant the privileges" : "revoke the privileges", NULL, out);
}

/* {"user", "host", "account", "object", key: set} */
static Jsonb *
nxm_grant_json(const NxmPlan *plan, const char *key, NxmPrivSet set, const char *key2,
			   NxmPrivSet set2)
{
	StringInfoData buf;

	nxm_result_start(&buf, &plan->account);
	nxm_json_str(&buf, "object", nxm_object_display(&plan->object), true);
	nxm_json_str(&buf, key, nxm_privileges_text(set), true);
	if (key2)
		nxm_json_str(&buf, key2, nxm_privileges_text(set2), true);
	return nxm_result_end(&buf);
}

static bool
nxm_require_privileges(const NxmPlan *plan, NxConnectorResult *out)
{
	if (plan->privileges != 0)
		return true;
	nx_connector_fail(out, "params.privileges is required (such as \"SELECT, INSERT\")");
	return false;
}

/*
 * What execute changes, given what the account holds: a grant adds what
 * it lacks, a revoke removes what it has.
 */
static NxmPrivSet
nxm_delta(const NxmPlan *plan, NxmPrivSet held)
{
	return plan->turn_on ? plan->privileges & ~held : plan->privileges & held;
}

/*
 * pre_check's rollback state is the one execute would store, from what
 * the account holds now: exactly the privileges execute is to change.
 */
static void
nxm_grant_pre_check(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmPrivSet	held;

	if (!nxm_require_privileges(plan, out) ||
		!nxm_grant_target(db, plan, plan->turn_on, &held, out))
		return;
	out->result = nxm_grant_json(plan, "held", held, NULL, 0);
	out->rollback_state = nxm_grant_json(plan, "privileges", nxm_delta(plan, held), NULL, 0);
	out->ok = true;
}

static void
nxm_grant_execute(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmPrivSet	held;
	NxmPrivSet	delta;

	if (!nxm_require_privileges(plan, out) ||
		!nxm_grant_target(db, plan, plan->turn_on, &held, out))
		return;
	delta = nxm_delta(plan, held);
	if (!nxm_apply(call, db, plan, plan->turn_on, delta, out))
		return;
	out->rollback_state = nxm_grant_json(plan, "privileges", delta, NULL, 0);
	out->result = nxm_grant_json(plan, plan->turn_on ? "granted" : "revoked", delta,
								 plan->turn_on ? "already_held" : "not_held",
								 plan->privileges & ~delta);
	out->ok = true;
}

/*
 * A grant: the account holds the privileges on the object; undone, it
 * holds none of those execute added.  A revoke: it holds none of them;
 * undone, it holds again those execute removed.
 */
static void
nxm_grant_verify(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmPrivSet	held;
	NxmPrivSet	set = plan->privileges;
	bool		want_held = plan->turn_on;

	if (call->undoing || set == 0)
	{
		if (!nxm_changed(call, plan, &set, out))
			return;
	}
	if (call->undoing)
		want_held = !want_held;
	if (!nxm_grant_target(db, plan, false, &held, out))
		return;
	out->evidence = nxm_grant_json(plan, "held", held,
								   want_held ? "expected_held" : "expected_absent", set);
	if (want_held ? (held & set) != set : (held & set) != 0)
	{
		nx_connector_fail(out, "account %s %s %s on %s", nxm_account_display(&plan->account),
						  want_held ? "lacks" : "still holds",
						  nxm_privileges_text(want_held ? set & ~held : set & held),
						  nxm_object_display(&plan->object));
		return;
	}
	out->ok = true;
}

/* Undo exactly what execute changed, as far as it is still in place. */
static void
nxm_grant_rollback(const NxConnectorCall *call, MYSQL *db, NxmPlan *plan, NxConnectorResult *out)
{
	NxmPrivSet	changed;
	NxmPrivSet	held;
	NxmPrivSet	delta;
	bool		grant = !plan->turn_on;

	if (!nxm_changed(call, plan, &changed, out) ||
		!nxm_grant_target(db, plan, false, &held, out))
		return;
	delta = grant ? changed & ~held : changed & held;
	if (!nxm_apply(call, db, plan, grant, delta, out))
		return;
	out->result = nxm_grant_json(plan, grant ? "granted" : "revoked", delta, NULL, 0);
	out->ok = true;
}

const NxmChange nxm_grant = {
	.name = "grant",
	.prepare = nxm_grant_prepare,
	.pre_check = nxm_grant_pre_check,
	.execute = nxm_grant_execute,
	.verify = nxm_grant_verify,
	.rollback = nxm_grant_rollback,
};

const NxmChange nxm_revoke = {
	.name = "revoke",
	.prepare = nxm_revoke_prepare,
	.pre_check = nxm_grant_pre_check,
	.execute = nxm_grant_execute,
	.verify = nxm_grant_verify,
	.rollback = nxm_grant_rollback,
};
