/*-------------------------------------------------------------------------
 *
 * cr_document.c
 *	  A change request's document built in C from the row a write has in
 *	  hand (its RETURNING *), the same document the
 *	  change_request_documents view builds.
 *
 * A create's and a transition's answer is the document of the row the
 * statement just wrote.  Reading it back through the view cost a
 * statement of its own (executor start and end, the approvals subquery,
 * a 26-key jsonb_build_object, the rollback_state delete): about 175k
 * instructions, a sixth of a create.  Here the row's columns become the
 * document's keys with the conversions jsonb_build_object makes (uuid and
 * text as strings, integers as numbers, timestamps in JSON's ISO form,
 * jsonb as itself, a uuid[] as an array of strings), so the answer is the
 * same jsonb.  The view stays the one definition for reads (cr_get,
 * cr_list); the cr_document suite checks that the two agree.
 *
 * Approvals are the one part not in the row.  A change request with none
 * (a new one; a draft, which no one can decide on) has "approvals": [];
 * one with any goes through the view, so that their order and shape stay
 * the view's alone.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "cr_document.h"
#include "json_build.h"
#include "roles.h"
#include "row_lookup.h"
#include "spi_util.h"

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

/*
 * The base types of the columns' types (most are domains), looked up once
 * per backend: the table's few types, so a short list.
 */
#define NX_BASE_TYPES_MAX 32
static struct
{
	Oid			type;
	Oid			base;
}			base_types[NX_BASE_TYPES_MAX];
static int	n_base_types = 0;

static Oid
nx_base_type(Oid type)
{
	Oid			base;

	for (int i = 0; i < n_base_types; i++)
		if (base_types[i].type == type)
			return base_types[i].base;
	base = getBaseType(type);
	if (n_base_types < NX_BASE_TYPES_MAX)
	{
		base_types[n_base_types].type = type;
		base_types[n_base_types].base = base;
		n_base_types++;
	}
	return base;
}

/* A uuid[] as an array of strings (one dimension, as asset_ids is). */
static bool
nx_push_uuid_array(JsonbParseState **ps, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		return false;
	deconstruct_array(arr, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
	pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
		{
			nx_jb_null(ps, WJB_ELEM);
		}
		else
		{
			char	   *s = nx_uuid_out(DatumGetUUIDP(elems[i]));

			nx_jb_string(ps, WJB_ELEM, s, strlen(s));
		}
	}
	pushJsonbValue(ps, WJB_END_ARRAY, NULL);
	return true;
}

/*
 * The cursor: to_char(created_at AT TIME ZONE 'UTC',
 * 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '/' || id.  The years to_char writes
 * in four digits are formatted here; others are left to to_char.
 */
static char *
nx_cursor(TimestampTz created_at, const char *id)
{
	struct pg_tm tm;
	fsec_t		fsec;
	text	   *t;

	if (TIMESTAMP_NOT_FINITE(created_at))
		return NULL;			/* to_char's NULL, and the concatenation's */
	if (timestamp2tm(created_at, NULL, &tm, &fsec, NULL, NULL) == 0 &&
		tm.tm_year >= 1 && tm.tm_year <= 9999)
		return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ/%s", tm.tm_year, tm.tm_mon,
						tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec, id);
	t = DatumGetTextPP(DirectFunctionCall2Coll(timestamp_to_char, DEFAULT_COLLATION_OID,
											   DirectFunctionCall2(timestamptz_zone,
																   CStringGetTextDatum("UTC"),
																   TimestampTzGetDatum(created_at)),
											   CStringGetTextDatum("YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"")));
	return psprintf("%s/%s", text_to_cstring(t), id);
}

static bool
nx_row_found(Relation rel, TupleTableSlot *slot, void *arg)
{
	*(bool *) arg = true;
	return false;
}

/* Has the change request any approval row? (one probe of approvals_pkey) */
static bool
nx_cr_has_approvals(Datum tenant_id, Datum id)
{
	bool		found = false;
	NxKey		keys[] = {
		{BTEqualStrategyNumber, F_UUID_EQ, tenant_id},
		{BTEqualStrategyNumber, F_UUID_EQ, id},
	};

	nx_index_rows("approvals", "approvals_pkey", 2, keys, false, nx_row_found, &found);
	return found;
}

/*
 * The document of a change_requests row (every column of the table, as
 * RETURNING * gives them), or NULL when it needs the view: when the
 * change request may have approvals and has, or a value is of a shape
 * this does not build.  Whether rollback_state is shown is the view's
 * rule: for operators and approvers (and so a superadmin), not viewers,
 * admins or the worker.
 */
Jsonb *
nx_cr_document_of_row(HeapTuple tuple, TupleDesc desc, bool may_have_approvals)
{
	const NxContext *ctx = nx_context_get();
	bool		show_rollback_state = ctx != NULL &&
		nx_role_in(ctx->role, NX_ROLE_BIT(NX_ROLE_OPERATOR) | NX_ROLE_BIT(NX_ROLE_APPROVER));
	JsonbParseState *ps = NULL;
	Datum		tenant_id = (Datum) 0;
	Datum		id = (Datum) 0;
	TimestampTz created_at = 0;
	bool		have_tenant = false,
				have_id = false,
				have_created = false;
	char	   *cursor;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		bool		isnull;
		Datum		d;

		if (att->attisdropped)
			continue;
		d = heap_getattr(tuple, i + 1, desc, &isnull);
		if (strcmp(name, "tenant_id") == 0)
		{
			tenant_id = d;
			have_tenant = !isnull;
			continue;
		}
		if (!show_rollback_state && strcmp(name, "rollback_state") == 0)
			continue;
		if (strcmp(name, "id") == 0)
		{
			id = d;
			have_id = !isnull;
		}
		else if (strcmp(name, "created_at") == 0)
		{
			created_at = DatumGetTimestampTz(d);
			have_created = !isnull;
		}
		nx_jb_key(&ps, name);
		if (isnull)
		{
			nx_jb_null(&ps, WJB_VALUE);
			continue;
		}
		switch (nx_base_type(att->atttypid))
		{
			case UUIDOID:
				{
					char	   *s = nx_uuid_out(DatumGetUUIDP(d));

					nx_jb_string(&ps, WJB_VALUE, s, strlen(s));
				}
				break;
			case TEXTOID:
				{
					text	   *t = DatumGetTextPP(d);

					nx_jb_string(&ps, WJB_VALUE, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				}
				break;
			case INT4OID:
				nx_jb_int(&ps, WJB_VALUE, DatumGetInt32(d));
				break;
			case TIMESTAMPTZOID:
				{
					char	   *s = JsonEncodeDateTime(NULL, d, TIMESTAMPTZOID, NULL);

					nx_jb_string(&ps, WJB_VALUE, s, strlen(s));
				}
				break;
			case JSONBOID:
				nx_jb_jsonb(&ps, WJB_VALUE, DatumGetJsonbP(d));
				break;
			case UUIDARRAYOID:
				if (!nx_push_uuid_array(&ps, DatumGetArrayTypeP(d)))
					return NULL;
				break;
			default:
				elog(ERROR, "change_requests.%s: no document conversion for type %u",
					 name, att->atttypid);
		}
	}
	if (!have_tenant || !have_id || !have_created)
		elog(ERROR, "a change request's document needs its tenant_id, id and created_at");
	if (may_have_approvals && nx_cr_has_approvals(tenant_id, id))
		return NULL;
	nx_jb_key(&ps, "approvals");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	nx_jb_key(&ps, "cursor");
	cursor = nx_cursor(created_at, nx_uuid_out(DatumGetUUIDP(id)));
	if (cursor)
		nx_jb_string(&ps, WJB_VALUE, cursor, strlen(cursor));
	else
		nx_jb_null(&ps, WJB_VALUE);
	return nx_jb_finish(&ps, WJB_END_OBJECT);
}

/*
 * The answer of a write whose statement returned the change request's row
 * (RETURNING *) as SPI's first row: built from it, or read through the
 * view when nx_cr_document_of_row says so.  system: the worker's read,
 * across tenants' row-level security.
 */
Jsonb *
nx_cr_document_answer(const char *tenant_id, const char *id, NxApprovalsKnown approvals,
					  bool system)
{
	const char *args[] = {tenant_id, id};
	const char *sql = "SELECT d.doc FROM nexplane.change_request_documents d"
		" WHERE d.tenant_id = $1::uuid AND d.id = $2::uuid";
	Jsonb	   *doc;

	if (SPI_processed == 1 && approvals != NX_APPROVALS_SOME)
	{
		doc = nx_cr_document_of_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									approvals == NX_APPROVALS_MAYBE);
		if (doc)
			return doc;
	}
	if (system)
		nx_spi_system(sql, 2, args);
	else
		nx_spi(sql, 2, args);
	return nx_spi_get_jsonb(0, 1);
}
