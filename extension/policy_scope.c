/*-------------------------------------------------------------------------
 *
 * policy_scope.c
 *	  Which policies govern a change, and the approvals those of kind
 *	  approvals require of it.
 *
 * A policy governs a change when it is the tenant's, or on the change's
 * connector, or on one of its assets (the predicate 84_policies.sql's
 * helpers write out).  The approvals required are those of the strictest
 * enforced approvals policy that governs the change, at its risk level, or
 * the defaults: 0, 1, 2 and 2 for low to critical, an admin among them for
 * critical (unless every such policy says admin_for_critical: false).
 *
 * nx_required_approvals is the one definition: submit calls it at the
 * level it is about to store, the transitions' SQL through
 * _required_approvals(cr).  It reads the tenant's approvals policies
 * through policies_target_idx (row_lookup.c, no SPI: a statement cost
 * more to start than the reads).  Row-level security is kept by hand for
 * the SQL function: a row of a tenant the caller may not see has no
 * policies it can see, so it gets the defaults, as the statement under
 * forced RLS did.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"
#include "policy_scope.h"

#include "context.h"
#include "row_lookup.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

static Datum
nx_policy_column(Relation rel, TupleTableSlot *slot, const char *name, bool *isnull)
{
	AttrNumber	att = SPI_fnumber(RelationGetDescr(rel), name);

	if (att <= 0)
		elog(ERROR, "nexplane.policies has no column %s", name);
	return slot_getattr(slot, att, isnull);
}

bool
nx_policy_governs(Relation rel, TupleTableSlot *slot, const NxScopeOf *scope)
{
	bool		isnull;
	char	   *target_type = TextDatumGetCString(nx_policy_column(rel, slot, "target_type",
																   &isnull));
	Datum		target = nx_policy_column(rel, slot, "target_id", &isnull);

	if (strcmp(target_type, "tenant") == 0)
		return true;
	if (isnull)
		return false;
	if (strcmp(target_type, "connector") == 0)
		return memcmp(DatumGetUUIDP(target), &scope->connector, sizeof(pg_uuid_t)) == 0;
	if (strcmp(target_type, "asset") == 0)
		for (int i = 0; i < scope->nassets; i++)
			if (scope->assets[i] &&
				memcmp(DatumGetUUIDP(target), DatumGetUUIDP(scope->assets[i]),
					   sizeof(pg_uuid_t)) == 0)
				return true;
	return false;
}

/* The assets of a uuid[] value into scope (null elements never match). */
void
nx_scope_assets(NxScopeOf *scope, Datum uuid_array)
{
	bool	   *nulls;

	deconstruct_array(DatumGetArrayTypeP(uuid_array), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
					  &scope->assets, &nulls, &scope->nassets);
	for (int i = 0; i < scope->nassets; i++)
		if (nulls[i])
			scope->assets[i] = (Datum) 0;
}

/* spec->>key as text, or NULL: what the SQL's (spec->>key)::type cast read */
static char *
nx_spec_text(Jsonb *spec, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&spec->root, key, strlen(key), NULL);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			return NULL;
	}
}

typedef struct NxApprovalScan
{
	const NxScopeOf *scope;
	const char *level;
	int64		policies;		/* count(p.*) */
	bool		has_max;
	int32		max;			/* max((p.spec->>level)::int) */
	bool		admin;			/* bool_or(coalesce((spec->>'admin_for_critical')::boolean, true)) */
} NxApprovalScan;

static bool
nx_approval_policy(Relation rel, TupleTableSlot *slot, void *arg)
{
	NxApprovalScan *s = arg;
	bool		isnull;
	Jsonb	   *spec;
	char	   *v;

	if (strcmp(TextDatumGetCString(nx_policy_column(rel, slot, "mode", &isnull)), "enforce") != 0 ||
		!nx_policy_governs(rel, slot, s->scope))
		return true;
	spec = DatumGetJsonbP(nx_policy_column(rel, slot, "spec", &isnull));
	s->policies++;
	if (s->level && (v = nx_spec_text(spec, s->level)) != NULL)
	{
		int32		n = DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum(v)));

		s->max = s->has_max ? Max(s->max, n) : n;
		s->has_max = true;
	}
	v = nx_spec_text(spec, "admin_for_critical");
	if (v == NULL || DatumGetBool(DirectFunctionCall1(boolin, CStringGetDatum(v))))
		s->admin = true;
	return true;
}

/*
 * {"admin": bool, "count": n}, as jsonb writes it, for a change of tenant
 * (NULL: one whose policies the caller cannot see) in scope at level
 * (NULL: none; then the count is 2, and admin is null where the SQL's
 * three-valued logic made it so).
 */
char *
nx_required_approvals(const pg_uuid_t *tenant, const NxScopeOf *scope, const char *level,
					  bool statement_snapshot)
{
	NxApprovalScan s = {.scope = scope,.level = level};
	NxKey		keys[] = {
		{BTEqualStrategyNumber, F_UUID_EQ, PointerGetDatum(tenant)},
		{BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum("approvals")},
	};
	int32		count;
	const char *admin;
	bool		critical = level && strcmp(level, "critical") == 0;

	if (tenant)
		nx_index_rows("policies", "policies_target_idx", 2, keys, statement_snapshot,
					  nx_approval_policy, &s);
	if (s.has_max)
		count = s.max;
	else
		count = level && strcmp(level, "low") == 0 ? 0 :
			level && strcmp(level, "medium") == 0 ? 1 : 2;
	if (s.policies == 0)
		admin = level == NULL ? "null" : critical ? "true" : "false";
	else if (level == NULL)
		admin = s.admin ? "null" : "false";
	else
		admin = critical && s.admin ? "true" : "false";
	return psprintf("{\"admin\": %s, \"count\": %d}", admin, count);
}

/*
 * _required_approvals(cr): for the transitions' SQL.  STABLE, as the
 * PL/pgSQL function was: it reads with its statement's snapshot.  A row of
 * a tenant that is not the caller's, outside system mode, is read as
 * forced RLS would have read its policies: none.
 */
PG_FUNCTION_INFO_V1(nx_required_approvals_sql);
Datum
nx_required_approvals_sql(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_context_get();
	NxScopeOf	scope = {0};
	const char *level = NULL;
	const pg_uuid_t *t = NULL;
	HeapTupleHeader cr;
	bool		isnull;
	Datum		d;

	/* (a NULL row reads as a row of NULLs, as the PL/pgSQL function did) */
	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
											CStringGetDatum(nx_required_approvals(NULL, &scope, NULL, true))));
	cr = PG_GETARG_HEAPTUPLEHEADER(0);
	d = GetAttributeByName(cr, "tenant_id", &isnull);
	if (!isnull)
		t = DatumGetUUIDP(d);

	if (t && !superuser() && !nx_system_mode() &&
		(ctx == NULL || memcmp(&ctx->tenant_id, t, sizeof(pg_uuid_t)) != 0))
		t = NULL;
	d = GetAttributeByName(cr, "connector_id", &isnull);
	if (!isnull)
		scope.connector = *DatumGetUUIDP(d);
	d = GetAttributeByName(cr, "asset_ids", &isnull);
	if (!isnull)
		nx_scope_assets(&scope, d);
	d = GetAttributeByName(cr, "risk_level", &isnull);
	if (!isnull)
		level = TextDatumGetCString(d);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in,
										CStringGetDatum(nx_required_approvals(t, &scope, level, true))));
}
