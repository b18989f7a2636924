/*-------------------------------------------------------------------------
 *
 * risk.c
 *	  Risk scoring: a score of 0 to 100, a level, and the factors behind it.
 *
 * The score is the sum of the weights below, capped at 100: what the change
 * does (its class), where (production, sensitive tags), how widely (blast
 * radius), when (freeze, change window, weekend), the connector's recent
 * failures, who asks, and whether it touches an all-powerful account.
 * Where comes from the connector (its environment and tags) and from the
 * assets named, never only from what the requester lists.  Levels: below 25 low, below 50 medium, below
 * 75 high, else critical.  Every factor that counts is listed with its
 * weight and a reason, so a score can always be explained.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "connector.h"
#include "context.h"
#include "policy_scope.h"
#include "risk.h"
#include "json_build.h"
#include "spi_util.h"

#include "row_lookup.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

typedef struct NxWeight
{
	const char *factor;
	int			weight;
} NxWeight;

static const NxWeight weights[] = {
	{"additive", NX_WEIGHT_ADDITIVE},
	{"modifying", NX_WEIGHT_MODIFYING},
	{"destructive", NX_WEIGHT_DESTRUCTIVE},
	{"production", 25},
	{"staging", 10},
	{"sensitive_tags", 10},
	{"freeze_window", 20},
	{"outside_change_window", 10},
	{"weekend", 5},
	{"recent_failure", 5},		/* each, up to three */
	{"operator_requester", 5},
	{"privileged_target", 25},
};

/*
 * Names of accounts and groups that hold everything; a change that names
 * one (granting it, resetting its password, adding to it) is privileged.
 */
static const char *const privileged_names[] = {
	"superuser", "postgres", "root", "admin", "admins", "administrator", "administrators",
	"rds_superuser", "azure_pg_admin", "cloudsqlsuperuser", "pg_write_server_files",
	"pg_execute_server_program", "pg_read_server_files", "sudo", "wheel", "domain admins",
	"enterprise admins", "schema admins", "default", "all privileges", "all",
};

/* blast radius: the weight for at least this many assets */
static const struct
{
	int			assets;
	int			weight;
}			blast_radius[] = {{21, 20}, {6, 10}, {2, 5}};

static const struct
{
	int			below;
	const char *level;
}			levels[] = {{25, "low"}, {50, "medium"}, {75, "high"}, {101, "critical"}};

static int
nx_weight(const char *factor)
{
	for (size_t i = 0; i < lengthof(weights); i++)
		if (strcmp(weights[i].factor, factor) == 0)
			return weights[i].weight;
	elog(ERROR, "unknown risk factor \"%s\"", factor);
	return 0;
}

/* A factor, as JSON text into buf and as a jsonb element into ps */
static void
nx_factor(StringInfo buf, JsonbParseState **ps, int *score, const char *name, int weight,
		  const char *reason)
{
	if (weight == 0)
		return;
	*score += weight;
	appendStringInfo(buf, "%s{\"name\": \"%s\", \"weight\": %d, \"reason\": ",
					 buf->data[buf->len - 1] == '[' ? "" : ", ", name, weight);
	escape_json(buf, reason);
	appendStringInfoChar(buf, '}');
	pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
	nx_jb_key(ps, "name");
	nx_jb_cstring(ps, WJB_VALUE, name);
	nx_jb_key(ps, "weight");
	nx_jb_int(ps, WJB_VALUE, weight);
	nx_jb_key(ps, "reason");
	nx_jb_cstring(ps, WJB_VALUE, reason);
	pushJsonbValue(ps, WJB_END_OBJECT, NULL);
}

/* The first string value of params (top level) that names a privileged account. */
static const char *
nx_privileged_name(Jsonb *params)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (params == NULL || !JB_ROOT_IS_OBJECT(params))
		return NULL;
	it = JsonbIteratorInit(&params->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_VALUE || v.type != jbvString || v.val.string.len > 64)
			continue;
		for (size_t i = 0; i < lengthof(privileged_names); i++)
			if ((int) strlen(privileged_names[i]) == v.val.string.len &&
				pg_strncasecmp(privileged_names[i], v.val.string.val, v.val.string.len) == 0)
				return privileged_names[i];
	}
	return NULL;
}

/* A text[] value holds one of the sensitive tags (critical, pci, pii)? */
static bool
nx_sensitive_tags(Datum tags)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	bool		hit = false;

	deconstruct_array(DatumGetArrayTypeP(tags), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n && !hit; i++)
		if (!nulls[i])
		{
			char	   *t = TextDatumGetCString(elems[i]);

			hit = strcmp(t, "critical") == 0 || strcmp(t, "pci") == 0 || strcmp(t, "pii") == 0;
		}
	return hit;
}

static AttrNumber
nx_attnum(Relation rel, const char *name)
{
	AttrNumber	att = SPI_fnumber(RelationGetDescr(rel), name);

	if (att <= 0)
		elog(ERROR, "nexplane.%s has no column %s", RelationGetRelationName(rel), name);
	return att;
}

/* Recent failures: rows of the partial index, checked again on the row. */
typedef struct NxFailures
{
	TimestampTz after;
	int64		count;
} NxFailures;

static bool
nx_count_failure(Relation rel, TupleTableSlot *slot, void *arg)
{
	NxFailures *f = arg;
	bool		isnull;
	Datum		state = slot_getattr(slot, nx_attnum(rel, "state"), &isnull);
	Datum		at = slot_getattr(slot, nx_attnum(rel, "updated_at"), &isnull);
	char	   *st = TextDatumGetCString(state);

	if ((strcmp(st, "failed") == 0 || strcmp(st, "rollback_failed") == 0) &&
		DatumGetTimestampTz(at) > f->after)
		f->count++;
	return f->count < 3;
}

/*
 * Is a policy of one kind (freeze_window or change_window) hit: one that
 * governs the change (a tenant policy, or one on its connector or on one
 * of its assets) and whose test (_freeze_hit or _window_miss, the SQL
 * functions of 84_policies.sql) is true of its spec at the planned time?
 */
typedef struct NxPolicyHit
{
	NxScopeOf	scope;
	TimestampTz at;
	const char *test_name;
	FmgrInfo	test;			/* looked up at the first policy that applies */
	bool		test_known;
	bool		hit;
} NxPolicyHit;

static bool
nx_policy_hit(Relation rel, TupleTableSlot *slot, void *arg)
{
	NxPolicyHit *h = arg;

	if (nx_policy_governs(rel, slot, &h->scope))
	{
		LOCAL_FCINFO(fcinfo, 2);
		Datum		r;

		if (!h->test_known)
		{
			Oid			argtypes[] = {JSONBOID, TIMESTAMPTZOID};

			fmgr_info(LookupFuncName(list_make2(makeString("nexplane"),
												makeString(pstrdup(h->test_name))),
									 2, argtypes, false), &h->test);
			h->test_known = true;
		}
		InitFunctionCallInfoData(*fcinfo, &h->test, 2, InvalidOid, NULL, NULL);
		fcinfo->args[0].value = slot_getattr(slot, nx_attnum(rel, "spec"), &fcinfo->args[0].isnull);
		fcinfo->args[1].value = TimestampTzGetDatum(h->at);
		fcinfo->args[1].isnull = false;
		r = FunctionCallInvoke(fcinfo);
		/* a NULL test is not a hit, as in a WHERE clause */
		h->hit = !fcinfo->isnull && DatumGetBool(r);
	}
	return !h->hit;
}

static bool
nx_policy_kind_hit(const pg_uuid_t *tenant, const char *kind, const char *test,
				   NxPolicyHit *h)
{
	NxKey		keys[] = {
		{BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(tenant)},
		{BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(kind)},
	};

	h->test_name = test;
	h->test_known = false;
	h->hit = false;
	nx_index_rows("policies", "policies_target_idx", 2, keys, false, nx_policy_hit, h);
	return h->hit;
}

/*
 * Every lookup is by key or bounded, and done in C, without SPI (whose
 * one statement for all of them cost more to start than the reads): the
 * connector and the assets named, each by primary key; the tenant's
 * freeze and change window policies (by kind); and at most three recent
 * failures on the connector (a partial index of failed changes), however
 * many change requests the tenant has.  No row-level security: every key
 * starts with the caller's tenant (in->tenant_id, from the context or the
 * caller's change request).
 */
char *
nx_risk_compute(const NxRiskInput *in, NxRiskParts *parts)
{
	const NxChangeType *type;
	NxChangeClass class;
	int			class_weight;
	StringInfoData f;
	JsonbParseState *fps = NULL;
	StringInfoData out;
	int			score = 0;
	int64		assets = 0,
				found = 0,
				prod = 0,
				staging = 0,
				sensitive = 0,
				failures;
	const char *level = "critical";
	pg_uuid_t	keys[2];
	Datum		cvals[NX_RISK_CONNECTOR_NCOLS];
	bool		cnulls[NX_RISK_CONNECTOR_NCOLS];
	const char *ccols[] = {NX_RISK_CONNECTOR_COLS};
	const char *conn_type = NULL;
	const char *conn_env = NULL;
	bool		conn_sensitive = false;
	bool		freeze,
				window_miss,
				weekend;
	NxPolicyHit hit = {0};

	keys[0] = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(in->tenant_id)));
	hit.scope.connector = *DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(in->connector_id)));
	hit.at = in->at ? DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
															  CStringGetDatum(in->at),
															  ObjectIdGetDatum(InvalidOid),
															  Int32GetDatum(-1))) :
		GetCurrentTransactionStartTimestamp();

	/* the assets named, each by its primary key */
	if (in->asset_ids && strcmp(in->asset_ids, "{}") != 0)
	{
		/* (array_in keeps a cache in its FmgrInfo: not a DirectFunctionCall) */
		ArrayType  *arr = DatumGetArrayTypeP(OidInputFunctionCall(F_ARRAY_IN,
																  (char *) in->asset_ids,
																  UUIDOID, -1));
		const char *acols[] = {"environment", "tags"};

		nx_scope_assets(&hit.scope, PointerGetDatum(arr));
		for (int i = 0; i < hit.scope.nassets; i++)
		{
			Datum		avals[2];
			bool		anull[2];
			char	   *env;

			if (hit.scope.assets[i] == (Datum) 0)
				continue;		/* a null: counted, never found, as the join did */
			keys[1] = *DatumGetUUIDP(hit.scope.assets[i]);
			if (!nx_row_by_pk("assets", 2, keys, 2, acols, avals, anull))
				continue;
			found++;
			env = anull[0] ? "" : TextDatumGetCString(avals[0]);
			prod += strcmp(env, "production") == 0;
			staging += strcmp(env, "staging") == 0;
			sensitive += !anull[1] && nx_sensitive_tags(avals[1]);
		}
		/* cardinality() counts null elements too */
		assets = hit.scope.nassets;
	}
	if (found != assets)
		ereport(ERROR,
				(errcode(ERRCODE_NX_NOT_FOUND),
				 errmsg("%lld of the %lld assets named were not found",
						(long long) (assets - found), (long long) assets)));

	/* the connector, by its primary key (it may be gone: then nothing of it counts) */
	keys[1] = hit.scope.connector;
	if (in->connector_values)
	{
		memcpy(cvals, in->connector_values, sizeof(cvals));
		memcpy(cnulls, in->connector_nulls, sizeof(cnulls));
	}
	if (in->connector_values ||
		nx_row_by_pk("connectors", 2, keys, NX_RISK_CONNECTOR_NCOLS, ccols, cvals, cnulls))
	{
		conn_type = cnulls[0] ? NULL : TextDatumGetCString(cvals[0]);
		conn_env = cnulls[1] ? NULL : TextDatumGetCString(cvals[1]);
		conn_sensitive = !cnulls[2] && nx_sensitive_tags(cvals[2]);
	}

	/* at most three failed changes on the connector in the last 7 days */
	{
		Interval	week = {.time = 0,.day = 7,.month = 0};
		NxFailures fl = {.count = 0};
		NxKey		fkeys[3];

		fl.after = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
														   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
														   IntervalPGetDatum(&week)));
		fkeys[0] = (NxKey) {BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&keys[0])};
		fkeys[1] = (NxKey) {BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(&hit.scope.connector)};
		fkeys[2] = (NxKey) {BTGreaterStrategyNumber, F_TIMESTAMPTZ_GT, TimestampTzGetDatum(fl.after)};
		nx_index_rows("change_requests", "change_requests_failures_idx", 3, fkeys, false,
					  nx_count_failure, &fl);
		failures = fl.count;
	}

	freeze = nx_policy_kind_hit(&keys[0], "freeze_window", "_freeze_hit", &hit);
	window_miss = nx_policy_kind_hit(&keys[0], "change_window", "_window_miss", &hit);
	/* ISO day of week 6 or 7 in UTC */
	{
		struct pg_tm tm;
		fsec_t		fsec;
		int			dow;

		/* (an infinite time has no day: no weekend, as extract's NULL) */
		if (TIMESTAMP_NOT_FINITE(hit.at) ||
			timestamp2tm(hit.at, NULL, &tm, &fsec, NULL, NULL) != 0)
			dow = 1;
		else
			dow = j2day(date2j(tm.tm_year, tm.tm_mon, tm.tm_mday));
		weekend = dow == 0 || dow == 6;	/* j2day: 0 is Sunday */
	}

	/* the class and weight the connector declares for the change type */
	type = conn_type ? nx_change_type_find(nx_connector_find(conn_type), in->change_type) : NULL;
	class = type ? type->class : nx_change_class_by_verb(in->change_type);
	class_weight = type ? type->risk_weight : nx_weight(nx_change_class_name(class));

	initStringInfo(&f);
	appendStringInfoChar(&f, '[');
	pushJsonbValue(&fps, WJB_BEGIN_ARRAY, NULL);
	nx_factor(&f, &fps, &score, nx_change_class_name(class), class_weight,
			  psprintf("%s is a %s change", in->change_type, nx_change_class_name(class)));
	if (prod > 0)
		nx_factor(&f, &fps, &score, "production", nx_weight("production"),
				  psprintf("%lld production asset(s)", (long long) prod));
	else if (conn_env && strcmp(conn_env, "production") == 0)
		nx_factor(&f, &fps, &score, "production", nx_weight("production"),
				  "the connector points at production");
	else if (staging > 0)
		nx_factor(&f, &fps, &score, "staging", nx_weight("staging"),
				  psprintf("%lld staging asset(s)", (long long) staging));
	else if (conn_env && strcmp(conn_env, "staging") == 0)
		nx_factor(&f, &fps, &score, "staging", nx_weight("staging"), "the connector points at staging");
	if (sensitive > 0)
		nx_factor(&f, &fps, &score, "sensitive_tags", nx_weight("sensitive_tags"),
				  "assets tagged critical, pci or pii");
	else if (conn_sensitive)
		nx_factor(&f, &fps, &score, "sensitive_tags", nx_weight("sensitive_tags"),
				  "the connector is tagged critical, pci or pii");
	{
		const char *who = nx_privileged_name(in->params);

		if (who)
			nx_factor(&f, &fps, &score, "privileged_target", nx_weight("privileged_target"),
					  psprintf("the change names the all-powerful account or group \"%s\"", who));
	}
	for (size_t i = 0; i < lengthof(blast_radius); i++)
		if (assets >= blast_radius[i].assets)
		{
			nx_factor(&f, &fps, &score, "blast_radius", blast_radius[i].weight,
					  psprintf("%lld assets affected", (long long) assets));
			break;
		}
	if (freeze)
		nx_factor(&f, &fps, &score, "freeze_window", nx_weight("freeze_window"),
				  "planned inside a change freeze");
	if (window_miss)
		nx_factor(&f, &fps, &score, "outside_change_window", nx_weight("outside_change_window"),
				  "planned outside the change window");
	if (weekend)
		nx_factor(&f, &fps, &score, "weekend", nx_weight("weekend"), "planned on a weekend (UTC)");
	if (failures > 0)
		nx_factor(&f, &fps, &score, "recent_failures",
				  (int) Min(failures, 3) * nx_weight("recent_failure"),
				  failures >= 3 ? "3 or more failed changes on this connector in 7 days" :
				  psprintf("%lld failed change(s) on this connector in 7 days", (long long) failures));
	if (in->requester_role && strcmp(in->requester_role, "operator") == 0)
		nx_factor(&f, &fps, &score, "requester_role", nx_weight("operator_requester"),
				  "requested by an operator, not an admin");
	appendStringInfoChar(&f, ']');

	score = Min(score, 100);
	for (size_t i = 0; i < lengthof(levels); i++)
		if (score < levels[i].below)
		{
			level = levels[i].level;
			break;
		}
	if (parts)
	{
		JsonbParseState *ps = NULL;

		parts->score = psprintf("%d", score);
		parts->level = level;
		parts->factors = f.data;
		parts->score_value = score;
		parts->factors_jsonb = nx_jb_finish(&fps, WJB_END_ARRAY);
		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		nx_jb_key(&ps, "score");
		nx_jb_int(&ps, WJB_VALUE, score);
		nx_jb_key(&ps, "level");
		nx_jb_cstring(&ps, WJB_VALUE, level);
		nx_jb_key(&ps, "factors");
		nx_jb_jsonb(&ps, WJB_VALUE, parts->factors_jsonb);
		parts->risk_jsonb = nx_jb_finish(&ps, WJB_END_OBJECT);
	}
	initStringInfo(&out);
	appendStringInfo(&out, "{\"score\": %d, \"level\": \"%s\", \"factors\": %s}",
					 score, level, f.data);
	/* text: the callers put it into statements' parameters and payloads */
	return out.data;
}

/*
 * risk_score(connector_id, change_type, asset_ids, scheduled_for): the
 * score a change would get now, for the caller as requester.
 */
PG_FUNCTION_INFO_V1(nx_risk_score);
Datum
nx_risk_score(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_require_role(NX_ANY_ROLE);
	NxRiskInput in = {0};
	Jsonb	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("connector_id and change_type are required")));
	in.tenant_id = nx_uuid_out(&ctx->tenant_id);
	in.connector_id = nx_uuid_out(PG_GETARG_UUID_P(0));
	in.change_type = text_to_cstring(nx_arg_text(fcinfo, 1, "change_type", 64));
	in.asset_ids = PG_ARGISNULL(2) ? "{}" :
		OidOutputFunctionCall(F_ARRAY_OUT, PG_GETARG_DATUM(2));
	in.at = PG_ARGISNULL(3) ? NULL :
		DatumGetCString(DirectFunctionCall1(timestamptz_out, PG_GETARG_DATUM(3)));
	in.requester_role = ctx->role;
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		in.params = PG_GETARG_JSONB_P(4);
	SPI_connect();
	result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(nx_risk_compute(&in, NULL))));
	PG_RETURN_DATUM(nx_spi_return(result));
}
