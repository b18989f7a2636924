/*-------------------------------------------------------------------------
 *
 * cr_create.c
 *	  cr_create: a new change request, as a draft, scored for risk.
 *
 * With an idempotency key, a retry returns the request the first call
 * made (the same key with different content is a conflict), and two
 * concurrent calls with one key make one request (ON CONFLICT).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "connector.h"
#include "context.h"
#include "cr_document.h"
#include "json_build.h"
#include "risk.h"
#include "row_lookup.h"
#include "spi_util.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/fmgroids.h"

#define NX_PARAMS_MAX 65536
#define NX_ASSETS_MAX 1000

static void
nx_check_change_type(const char *t)
{
	size_t		len = strlen(t);

	if (len < 1 || len > 64 || t[0] < 'a' || t[0] > 'z' ||
		strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_.") != len)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("invalid change type"),
				 errdetail("A change type is a lower-case name such as \"rotate_password\".")));
}

/* The same request again?  Compared on what the caller sent. */
static const char *same_request_sql =
"SELECT c.id, c.connector_id = $4::uuid AND c.change_type = $5 AND c.params = $6::jsonb"
"              AND c.title = $7"
"  FROM nexplane.change_requests c"
" WHERE c.tenant_id = $1::uuid AND c.requester_id = $2::uuid AND c.idempotency_key = $3";

/* The create event's payload: {"risk": the score, "params": the params} */
static Jsonb *
nx_create_payload(const NxRiskParts *parts, Jsonb *params)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	nx_jb_key(&ps, "risk");
	nx_jb_jsonb(&ps, WJB_VALUE, parts->risk_jsonb);
	nx_jb_key(&ps, "params");
	nx_jb_jsonb(&ps, WJB_VALUE, params);
	return nx_jb_finish(&ps, WJB_END_OBJECT);
}

PG_FUNCTION_INFO_V1(nx_cr_create);
Datum
nx_cr_create(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_require_role(NX_OPERATORS);
	char	   *tenant_id = nx_uuid_out(&ctx->tenant_id);
	char	   *user_id = nx_uuid_out(&ctx->user_id);
	char	   *connector_id;
	char	   *change_type;
	char	   *params;
	Jsonb	   *params_jb = NULL;
	char	   *title;
	char	   *description = NULL;
	char	   *assets = "{}";
	char	   *scheduled_for = NULL;
	char	   *key = NULL;
	NxRiskInput in;
	Datum		cvalues[NX_RISK_CONNECTOR_NCOLS + 1];
	bool		cnulls[NX_RISK_CONNECTOR_NCOLS + 1];
	NxRiskParts parts;
	char	   *id;
	Jsonb	   *result;
	bool		isnull;
	pg_uuid_t	new_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("connector_id is required")));
	connector_id = nx_uuid_out(PG_GETARG_UUID_P(0));
	change_type = text_to_cstring(nx_arg_text(fcinfo, 1, "change_type", 64));
	nx_check_change_type(change_type);
	if (PG_ARGISNULL(2))
		params_jb = nx_jb_empty_object();
	else
	{
		Jsonb	   *p = PG_GETARG_JSONB_P(2);

		if (!JB_ROOT_IS_OBJECT(p) || JB_ROOT_IS_SCALAR(p))
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("params must be a JSON object")));
		if (VARSIZE(p) > NX_PARAMS_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NX_TOO_LARGE),
					 errmsg("params is too large"),
					 errdetail("At most %d bytes are accepted.", NX_PARAMS_MAX)));
		params_jb = p;
	}
	title = text_to_cstring(nx_arg_text(fcinfo, 3, "title", 200));
	if (title[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("title must not be empty")));
	if (!PG_ARGISNULL(4))
		description = text_to_cstring(nx_arg_text(fcinfo, 4, "description", 10000));
	if (!PG_ARGISNULL(5))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(5);

		if (ARR_NDIM(arr) > 1 || ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) > NX_ASSETS_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NX_TOO_LARGE),
					 errmsg("at most %d assets may be named", NX_ASSETS_MAX)));
		if (array_contains_nulls(arr))
			ereport(ERROR,
					(errcode(ERRCODE_NX_BAD_INPUT),
					 errmsg("asset_ids must not contain nulls")));
		assets = OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(arr));
	}
	if (!PG_ARGISNULL(6))
		scheduled_for = DatumGetCString(DirectFunctionCall1(timestamptz_out, PG_GETARG_DATUM(6)));
	if (!PG_ARGISNULL(7))
	{
		key = text_to_cstring(nx_arg_text(fcinfo, 7, "idempotency_key", 200));
		if (key[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("idempotency_key must not be empty")));
	}

	/* as text, for the comparison of a retry with the request a key made */
	params = key ? JsonbToCString(NULL, &params_jb->root, VARSIZE(params_jb)) : NULL;
	SPI_connect();
	if (key)
	{
		const char *args[] = {tenant_id, user_id, key, connector_id, change_type, params, title};

		if (nx_spi(same_request_sql, 7, args) == 1)
			goto existing;
	}
	{
		/* by primary key, in the caller's tenant (row_lookup.c: no SPI) */
		pg_uuid_t	keys[] = {ctx->tenant_id, *PG_GETARG_UUID_P(0)};
		/* the connector's columns risk.c scores, then its status */
		const char *cols[] = {NX_RISK_CONNECTOR_COLS, "status"};
		char	   *connector_type;
		const NxConnector *connector;
		const NxChangeType *type;

		if (!nx_row_by_pk("connectors", 2, keys, lengthof(cols), cols, cvalues, cnulls))
			ereport(ERROR,
					(errcode(ERRCODE_NX_NOT_FOUND),
					 errmsg("connector %s not found", connector_id)));
		connector_type = TextDatumGetCString(cvalues[0]);
		if (strcmp(TextDatumGetCString(cvalues[NX_RISK_CONNECTOR_NCOLS]), "disabled") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NX_CONFLICT),
					 errmsg("connector %s is disabled", connector_id)));
		/* a change type is one of the connector type's, with its parameters */
		connector = nx_connector_find(connector_type);
		type = nx_change_type_find(connector, change_type);
		if (type == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("connector type %s has no change type \"%s\"",
							connector ? connector->name : connector_type, change_type),
					 errhint("connector_types() lists each type's change types.")));
		if (type->params)
			nx_fields_check(type->params, params_jb, "params");
		if (connector->check_params)
			connector->check_params(type, params_jb);
		/* one entry per asset, in a stable order (none: nothing to sort) */
		if (strcmp(assets, "{}") != 0)
		{
			const char *aargs[] = {assets};

			nx_spi("SELECT coalesce(array_agg(DISTINCT a ORDER BY a), '{}')::text"
				   "  FROM unnest($1::uuid[]) a", 1, aargs);
			assets = nx_spi_get(0, 1);
		}
	}
	in.tenant_id = tenant_id;
	in.connector_id = connector_id;
	in.change_type = change_type;
	in.asset_ids = assets;
	in.at = scheduled_for;
	in.requester_role = ctx->role;
	in.params = params_jb;
	in.connector_values = cvalues;
	in.connector_nulls = cnulls;
	(void) nx_risk_compute(&in, &parts);
	{
		/*
		 * The values as they are, not as text to parse again (the params,
		 * the score's parts, the payload built in C), the row returned
		 * whole for the answer.  The create event is a statement of its
		 * own: as one CTE with the insert (WITH c AS (INSERT ... RETURNING
		 * *), e AS (INSERT ... SELECT FROM c) SELECT * FROM c) a create
		 * cost 10-20k instructions more, measured twice each.
		 */
		NxParam		args[] = {nx_p_uuid(&ctx->tenant_id), nx_p_uuid(PG_GETARG_UUID_P(0)),
			nx_p_text(change_type), nx_p_jsonb(params_jb), nx_p_text(title),
			nx_p_text(description), nx_p_uuid(&ctx->user_id), nx_p_int4(parts.score_value),
			nx_p_text(parts.level), nx_p_jsonb(parts.factors_jsonb), nx_p_text(assets),
			PG_ARGISNULL(6) ? nx_p_null(TIMESTAMPTZOID) :
			(NxParam) {TIMESTAMPTZOID, PG_GETARG_DATUM(6), false},
			nx_p_text(key), nx_p_text(strcmp(ctx->auth_kind, "api_key") == 0 ? "api_key" : "user"),
		nx_p_jsonb(nx_create_payload(&parts, params_jb))};

		if (nx_spi_params("INSERT INTO nexplane.change_requests"
						  " (tenant_id, connector_id, change_type, params, title, description,"
						  "  requester_id, risk_score, risk_level, risk_factors, asset_ids,"
						  "  scheduled_for, idempotency_key)"
						  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::uuid[], $12, $13)"
						  " ON CONFLICT (tenant_id, requester_id, idempotency_key)"
						  "  WHERE idempotency_key IS NOT NULL DO NOTHING"
						  " RETURNING *", 13, args) == 0)
		{
			/* a concurrent call with the same key won */
			const char *sargs[] = {tenant_id, user_id, key, connector_id, change_type, params, title};

			nx_spi(same_request_sql, 7, sargs);
			goto existing;
		}
		/* a new change request, which no one has decided on yet */
		new_id = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  SPI_fnumber(SPI_tuptable->tupdesc, "id"), &isnull));
		id = nx_uuid_out(&new_id);
		result = nx_cr_document_answer(tenant_id, id, NX_APPROVALS_NONE, false);
		{
			/* the tenant, the new id, the actor's kind and id, the payload */
			NxParam		eargs[] = {args[0], nx_p_uuid(&new_id),
			args[13], args[6], args[14]};

			nx_spi_params("INSERT INTO nexplane.change_request_events"
						  " (tenant_id, change_request_id, action, from_state, to_state, actor_kind,"
						  "  actor_id, payload)"
						  " VALUES ($1, $2, 'create', NULL, 'draft', $3, $4, $5)", 5, eargs);
		}
	}
	PG_RETURN_DATUM(nx_spi_return(result));

existing:
	if (strcmp(nx_spi_get(0, 2), "t") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_NX_CONFLICT),
				 errmsg("idempotency key \"%s\" was already used for another change request", key),
				 errhint("Use a new key for a different request.")));
	id = nx_spi_get(0, 1);
	{
		const char *args[] = {tenant_id, id};

		nx_spi("SELECT d.doc FROM nexplane.change_request_documents d"
			   " WHERE d.tenant_id = $1::uuid AND d.id = $2::uuid", 2, args);
		result = nx_spi_get_jsonb(0, 1);
	}
	PG_RETURN_DATUM(nx_spi_return(result));
}
