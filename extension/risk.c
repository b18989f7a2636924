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
#include "risk.h"
#include "spi_util.h"

#include "lib/stringinfo.h"
#include "utils/fmgroids.h"
#include "utils/json.h"

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

static void
nx_factor(StringInfo buf, int *score, const char *name, int weight, const char *reason)
{
	if (weight == 0)
		return;
	*score += weight;
	appendStringInfo(buf, "%s{\"name\": \"%s\", \"weight\": %d, \"reason\": ",
					 buf->data[buf->len - 1] == '[' ? "" : ", ", name, weight);
	escape_json(buf, reason);
	appendStringInfoChar(buf, '}');
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

/*
 * Does policy p govern a change on connector $2 touching assets $3?  The
 * predicate is written into the statement (and into the policy helpers of
 * 84_policies.sql) so that it is planned once with it: a SQL function with
 * SET search_path is parsed and planned again at every call.
 */
#define NX_POLICY_APPLIES \
	"(p.target_type = 'tenant'" \
	"  OR (p.target_type = 'connector' AND p.target_id = $2::uuid)" \
	"  OR (p.target_type = 'asset' AND p.target_id = ANY ($3::uuid[])))"

/*
 * Inside SPI, under the caller's tenant (RLS) or in system mode.  Every
 * lookup is by key or bounded: the assets named (by primary key), the
 * tenant's policies of one kind, and at most three recent failures on the
 * connector (a partial index of failed changes), however many change
 * requests the tenant has.
 */
Jsonb *
nx_risk_compute(const NxRiskInput *in)
{
	const char *args[] = {in->tenant_id, in->connector_id, in->asset_ids, in->at};
	const NxChangeType *type;
	NxChangeClass class;
	int			class_weight;
	StringInfoData f;
	StringInfoData out;
	int			score = 0;
	int64		assets,
				found,
				prod,
				staging,
				sensitive,
				failures;
	const char *level = "critical";

	nx_spi("SELECT cardinality($3::uuid[]), a.found, a.prod, a.staging, a.sensitive,"
		   " (SELECT count(*) FROM (SELECT FROM nexplane.change_requests c"
		   "   WHERE c.tenant_id = $1::uuid AND c.connector_id = $2::uuid"
		   "     AND c.state IN ('failed', 'rollback_failed')"
		   "     AND c.updated_at > now() - interval '7 days' LIMIT 3) f),"
		   " EXISTS (SELECT FROM nexplane.policies p"
		   "   WHERE p.tenant_id = $1::uuid AND p.kind = 'freeze_window'"
		   "     AND " NX_POLICY_APPLIES
		   "     AND nexplane._freeze_hit(p.spec, coalesce($4::timestamptz, now()))),"
		   " EXISTS (SELECT FROM nexplane.policies p"
		   "   WHERE p.tenant_id = $1::uuid AND p.kind = 'change_window'"
		   "     AND " NX_POLICY_APPLIES
		   "     AND nexplane._window_miss(p.spec, coalesce($4::timestamptz, now()))),"
		   " extract(isodow FROM coalesce($4::timestamptz, now()) AT TIME ZONE 'UTC') >= 6,"
		   " n.type, n.environment, n.tags && ARRAY['critical', 'pci', 'pii']"
		   /* the assets named, each by its primary key */
		   " FROM (SELECT count(*) AS found,"
		   "              count(*) FILTER (WHERE a.environment = 'production') AS prod,"
		   "              count(*) FILTER (WHERE a.environment = 'staging') AS staging,"
		   "              count(*) FILTER (WHERE a.tags && ARRAY['critical', 'pci', 'pii'])"
		   "                AS sensitive"
		   "         FROM unnest($3::uuid[]) x(id)"
		   "         JOIN nexplane.assets a ON a.tenant_id = $1::uuid AND a.id = x.id) a"
		   " LEFT JOIN nexplane.connectors n ON n.tenant_id = $1::uuid AND n.id = $2::uuid",
		   4, args);
	assets = atoll(nx_spi_get(0, 1));
	found = atoll(nx_spi_get(0, 2));
	prod = atoll(nx_spi_get(0, 3));
	staging = atoll(nx_spi_get(0, 4));
	sensitive = atoll(nx_spi_get(0, 5));
	failures = atoll(nx_spi_get(0, 6));
	if (found != assets)
		ereport(ERROR,
				(errcode(ERRCODE_NX_NOT_FOUND),
				 errmsg("%lld of the %lld assets named were not found",
						(long long) (assets - found), (long long) assets)));

	/* the class and weight the connector declares for the change type */
	type = nx_spi_get(0, 10) ?
		nx_change_type_find(nx_connector_find(nx_spi_get(0, 10)), in->change_type) : NULL;
	class = type ? type->class : nx_change_class_by_verb(in->change_type);
	class_weight = type ? type->risk_weight : nx_weight(nx_change_class_name(class));

	initStringInfo(&f);
	appendStringInfoChar(&f, '[');
	nx_factor(&f, &score, nx_change_class_name(class), class_weight,
			  psprintf("%s is a %s change", in->change_type, nx_change_class_name(class)));
	if (prod > 0)
		nx_factor(&f, &score, "production", nx_weight("production"),
				  psprintf("%lld production asset(s)", (long long) prod));
	else if (nx_spi_get(0, 11) && strcmp(nx_spi_get(0, 11), "production") == 0)
		nx_factor(&f, &score, "production", nx_weight("production"),
				  "the connector points at production");
	else if (staging > 0)
		nx_factor(&f, &score, "staging", nx_weight("staging"),
				  psprintf("%lld staging asset(s)", (long long) staging));
	else if (nx_spi_get(0, 11) && strcmp(nx_spi_get(0, 11), "staging") == 0)
		nx_factor(&f, &score, "staging", nx_weight("staging"), "the connector points at staging");
	if (sensitive > 0)
		nx_factor(&f, &score, "sensitive_tags", nx_weight("sensitive_tags"),
				  "assets tagged critical, pci or pii");
	else if (nx_spi_get(0, 12) && strcmp(nx_spi_get(0, 12), "t") == 0)
		nx_factor(&f, &score, "sensitive_tags", nx_weight("sensitive_tags"),
				  "the connector is tagged critical, pci or pii");
	{
		const char *who = nx_privileged_name(in->params);

		if (who)
			nx_factor(&f, &score, "privileged_target", nx_weight("privileged_target"),
					  psprintf("the change names the all-powerful account or group \"%s\"", who));
	}
	for (size_t i = 0; i < lengthof(blast_radius); i++)
		if (assets >= blast_radius[i].assets)
		{
			nx_factor(&f, &score, "blast_radius", blast_radius[i].weight,
					  psprintf("%lld assets affected", (long long) assets));
			break;
		}
	if (strcmp(nx_spi_get(0, 7), "t") == 0)
		nx_factor(&f, &score, "freeze_window", nx_weight("freeze_window"),
				  "planned inside a change freeze");
	if (strcmp(nx_spi_get(0, 8), "t") == 0)
		nx_factor(&f, &score, "outside_change_window", nx_weight("outside_change_window"),
				  "planned outside the change window");
	if (strcmp(nx_spi_get(0, 9), "t") == 0)
		nx_factor(&f, &score, "weekend", nx_weight("weekend"), "planned on a weekend (UTC)");
	if (failures > 0)
		nx_factor(&f, &score, "recent_failures",
				  (int) Min(failures, 3) * nx_weight("recent_failure"),
				  failures >= 3 ? "3 or more failed changes on this connector in 7 days" :
				  psprintf("%lld failed change(s) on this connector in 7 days", (long long) failures));
	if (in->requester_role && strcmp(in->requester_role, "operator") == 0)
		nx_factor(&f, &score, "requester_role", nx_weight("operator_requester"),
				  "requested by an operator, not an admin");
	appendStringInfoChar(&f, ']');

	score = Min(score, 100);
	for (size_t i = 0; i < lengthof(levels); i++)
		if (score < levels[i].below)
		{
			level = levels[i].level;
			break;
		}
	initStringInfo(&out);
	appendStringInfo(&out, "{\"score\": %d, \"level\": \"%s\", \"factors\": %s}",
					 score, level, f.data);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
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
	result = nx_risk_compute(&in);
	PG_RETURN_DATUM(nx_spi_return(result));
}
