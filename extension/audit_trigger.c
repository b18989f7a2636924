/*-------------------------------------------------------------------------
 *
 * audit_trigger.c
 *	  _audit_trigger(): the row trigger on every mutable tenant table that
 *	  appends an audit_events row for each change, and _append_only(): the
 *	  guard that keeps the audit and event tables append-only.
 *
 * An event names the tenant, the actor and request from the context, the
 * action (table.insert|update|delete), the target row's key, and the row
 * as jsonb: the whole row for insert and delete, only the changed columns
 * (before and after) for update.  Secret columns are written as
 * "[redacted]".  audit.c writes the event.  Writers only ever insert, so
 * they never wait on each other; the hash chain is added later by the
 * sealer (74_audit_trail.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "nodes/bitmapset.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

/* Columns whose values never enter the audit trail. */
static const char *const redacted_columns[] = {
	"password_hash", "key_hash", "token_hash", "secret_blob", "wrapped_key",
	"kek_salt", NULL
};

static bool
nx_is_redacted(const char *column)
{
	for (const char *const *c = redacted_columns; *c; c++)
		if (strcmp(*c, column) == 0)
			return true;
	return false;
}

static void
nx_push_string(JsonbParseState **st, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* One column value as JSON: jsonb embedded, numbers and booleans typed. */
static void
nx_push_datum(JsonbParseState **st, Form_pg_attribute att, Datum d, bool isnull)
{
	JsonbValue	v;
	Oid			out;
	bool		varlena;

	if (isnull)
	{
		v.type = jbvNull;
		pushJsonbValue(st, WJB_VALUE, &v);
		return;
	}
	if (nx_is_redacted(NameStr(att->attname)))
	{
		nx_push_string(st, "[redacted]");
		return;
	}
	switch (att->atttypid)
	{
		case JSONBOID:
			{
				Jsonb	   *jb = DatumGetJsonbP(d);

				v.type = jbvBinary;
				v.val.binary.data = &jb->root;
				v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				pushJsonbValue(st, WJB_VALUE, &v);
				return;
			}
		case BOOLOID:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(d);
			pushJsonbValue(st, WJB_VALUE, &v);
			return;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
			/* straight to numeric, without a round trip through text */
			v.type = jbvNumeric;
			v.val.numeric = att->atttypid == NUMERICOID ? DatumGetNumeric(d) :
				att->atttypid == INT8OID ? int64_to_numeric(DatumGetInt64(d)) :
				int64_to_numeric(att->atttypid == INT4OID ? DatumGetInt32(d) : DatumGetInt16(d));
			pushJsonbValue(st, WJB_VALUE, &v);
			return;
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(d);

				v.type = jbvString;
				v.val.string.val = VARDATA_ANY(t);
				v.val.string.len = VARSIZE_ANY_EXHDR(t);
				pushJsonbValue(st, WJB_VALUE, &v);
				return;
			}
		case UUIDOID:
			nx_push_string(st, DatumGetCString(DirectFunctionCall1(uuid_out, d)));
			return;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			/* ISO 8601 whatever the session's DateStyle, as to_jsonb() writes it */
			nx_push_string(st, JsonEncodeDateTime(NULL, d, att->atttypid, NULL));
			return;
		default:
			getTypeOutputInfo(att->atttypid, &out, &varlena);
			nx_push_string(st, OidOutputFunctionCall(out, d));
	}
}

/* The row (or only the columns in cols, when given) as a jsonb object. */
static Jsonb *
nx_row_jsonb(TupleDesc td, HeapTuple tup, Bitmapset *cols)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);
		JsonbValue	k;
		bool		isnull;
		Datum		d;

		if (att->attisdropped || (cols && !bms_is_member(i, cols)))
			continue;
		k.type = jbvString;
		k.val.string.val = NameStr(att->attname);
		k.val.string.len = strlen(NameStr(att->attname));
		pushJsonbValue(&st, WJB_KEY, &k);
		d = heap_getattr(tup, i + 1, td, &isnull);
		nx_push_datum(&st, att, d, isnull);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* Columns whose values differ between the old and new row. */
static Bitmapset *
nx_changed_columns(TupleDesc td, HeapTuple oldt, HeapTuple newt)
{
	Bitmapset  *changed = NULL;

	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);
		bool		n1,
					n2;
		Datum		d1,
					d2;

		if (att->attisdropped)
			continue;
		d1 = heap_getattr(oldt, i + 1, td, &n1);
		d2 = heap_getattr(newt, i + 1, td, &n2);
		if (n1 != n2 || (!n1 && !datumIsEqual(d1, d2, att->attbyval, att->attlen)))
			changed = bms_add_member(changed, i);
	}
	return changed;
}

/* The row's primary key without tenant_id, values joined by "/". */
static char *
nx_target_id(Relation rel, HeapTuple tup)
{
	TupleDesc	td = RelationGetDescr(rel);
	Bitmapset  *pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	StringInfoData buf;
	int			i = -1;

	initStringInfo(&buf);
	while ((i = bms_next_member(pk, i)) >= 0)
	{
		AttrNumber	attno = i + FirstLowInvalidHeapAttributeNumber;
		char	   *v;

		if (strcmp(NameStr(TupleDescAttr(td, attno - 1)->attname), "tenant_id") == 0 &&
			strcmp(RelationGetRelationName(rel), "tenants") != 0)
			continue;
		v = SPI_getvalue(tup, td, attno);
		appendStringInfo(&buf, "%s%s", buf.len ? "/" : "", v ? v : "");
	}
	return buf.data;
}

PG_FUNCTION_INFO_V1(nx_audit_trigger);
Datum
nx_audit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	row;
	const char *op;
	Jsonb	   *before = NULL;
	Jsonb	   *after = NULL;
	int			tenant_att;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "_audit_trigger must be an AFTER ... FOR EACH ROW trigger");
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = "insert";
		row = td->tg_trigtuple;
		after = nx_row_jsonb(desc, row, NULL);
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		op = "delete";
		row = td->tg_trigtuple;
		before = nx_row_jsonb(desc, row, NULL);
	}
	else
	{
		Bitmapset  *changed = nx_changed_columns(desc, td->tg_trigtuple, td->tg_newtuple);

		if (changed == NULL)
			return PointerGetDatum(NULL);	/* nothing changed, nothing to say */
		op = "update";
		row = td->tg_newtuple;
		before = nx_row_jsonb(desc, td->tg_trigtuple, changed);
		after = nx_row_jsonb(desc, row, changed);
	}

	tenant_att = SPI_fnumber(desc, strcmp(RelationGetRelationName(rel), "tenants") == 0 ?
							 "id" : "tenant_id");
	if (tenant_att <= 0)
		elog(ERROR, "audited table \"%s\" has no tenant_id", RelationGetRelationName(rel));

	{
		NxAuditEvent ev = {0};
		bool		isnull;

		ev.tenant_id = heap_getattr(row, tenant_att, desc, &isnull);
		ev.action = psprintf("%s.%s", RelationGetRelationName(rel), op);
		ev.target_table = RelationGetRelationName(rel);
		ev.target_id = nx_target_id(rel, row);
		ev.before = before;
		ev.after = after;
		nx_audit_append(&ev);
	}
	return PointerGetDatum(NULL);
}

/*
 * _append_only(): BEFORE UPDATE OR DELETE row trigger and BEFORE TRUNCATE
 * statement trigger.  Refuses everything, for the table owner too.
 */
PG_FUNCTION_INFO_V1(nx_append_only);
Datum
nx_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *table;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event))
		elog(ERROR, "_append_only must be a BEFORE trigger");
	table = RelationGetRelationName(td->tg_relation);
	ereport(ERROR,
			(errcode(ERRCODE_NX_FORBIDDEN),
			 errmsg("%s is append-only", table),
			 errdetail("Rows of %s are never updated, deleted or truncated.", table)));
	return PointerGetDatum(NULL);
}
