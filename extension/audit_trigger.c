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
 * "[redacted]".  Writers only ever insert, so they never wait on each
 * other; the hash chain is added later by the sealer (audit_chain.sql).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/bitmapset.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

/* Columns whose values never enter the audit trail. */
static const char *const redacted_columns[] = {
	"password_hash", "key_hash", "token_hash", "secret_blob", "wrapped_key",
	"kek_salt", NULL
};

/* audit_events and its id sequence, looked up once per backend */
static Oid	audit_relid = InvalidOid;
static Oid	audit_seqid = InvalidOid;

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

/* One audit event, as the trigger has it. */
typedef struct NxAuditRow
{
	Datum		tenant_id;
	const char *actor_kind;
	const pg_uuid_t *actor_id;
	const char *action;
	const char *target_table;
	const char *target_id;
	Jsonb	   *before;
	Jsonb	   *after;
	const char *request_id;
	const char *trace_id;
} NxAuditRow;

/*
 * Append the event straight into audit_events the way logical
 * replication's apply worker inserts rows: constraints checked and every
 * index maintained (ExecSimpleRelationInsert), without planning, SPI or
 * RLS, which this trusted code does not need.  The id comes from the
 * table's identity sequence.
 */
static void
nx_audit_insert(const NxAuditRow *ev)
{
	Oid			relid = get_relname_relid("audit_events",
										  get_namespace_oid("nexplane", false));
	Relation	arel;
	TupleDesc	adesc;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	TupleTableSlot *slot;

	if (!OidIsValid(relid))
		elog(ERROR, "nexplane.audit_events does not exist");
	if (relid != audit_relid)
	{
		audit_seqid = getIdentitySequence(relid, 2, false);
		audit_relid = relid;
	}
	arel = table_open(relid, RowExclusiveLock);
	adesc = RelationGetDescr(arel);

	estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, arel, 1, NULL, 0);
	estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(rri, false);
	slot = ExecInitExtraTupleSlot(estate, adesc, &TTSOpsVirtual);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * adesc->natts);

#define NX_SET(col, datum) \
	do { \
		int			a_ = SPI_fnumber(adesc, (col)) - 1; \
		slot->tts_values[a_] = (datum); \
		slot->tts_isnull[a_] = false; \
	} while (0)
	NX_SET("tenant_id", ev->tenant_id);
	NX_SET("id", Int64GetDatum(nextval_internal(audit_seqid, false)));
	NX_SET("occurred_at", TimestampTzGetDatum(GetCurrentTimestamp()));
	NX_SET("actor_kind", CStringGetTextDatum(ev->actor_kind));
	if (ev->actor_id)
		NX_SET("actor_id", UUIDPGetDatum(ev->actor_id));
	NX_SET("action", CStringGetTextDatum(ev->action));
	NX_SET("target_table", CStringGetTextDatum(ev->target_table));
	NX_SET("target_id", CStringGetTextDatum(ev->target_id));
	if (ev->before)
		NX_SET("before", JsonbPGetDatum(ev->before));
	if (ev->after)
		NX_SET("after", JsonbPGetDatum(ev->after));
	if (ev->request_id)
		NX_SET("request_id", CStringGetTextDatum(ev->request_id));
	if (ev->trace_id)
		NX_SET("trace_id", CStringGetTextDatum(ev->trace_id));
#undef NX_SET

	ExecStoreVirtualTuple(slot);
	ExecSimpleRelationInsert(rri, estate, slot);
	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(arel, NoLock);
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
	const NxContext *ctx = nx_context_get();
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
		NxAuditRow	ev = {0};
		bool		isnull;

		ev.tenant_id = heap_getattr(row, tenant_att, desc, &isnull);
		if (ctx)
		{
			ev.actor_kind = strcmp(ctx->auth_kind, "api_key") == 0 ? "api_key" : "user";
			ev.actor_id = &ctx->user_id;
			ev.request_id = ctx->request_id[0] ? ctx->request_id : NULL;
			ev.trace_id = ctx->trace_id[0] ? ctx->trace_id : NULL;
		}
		else
			ev.actor_kind = nx_caller_is_superuser() ? "postgres" : "system";
		ev.action = psprintf("%s.%s", RelationGetRelationName(rel), op);
		ev.target_table = RelationGetRelationName(rel);
		ev.target_id = nx_target_id(rel, row);
		ev.before = before;
		ev.after = after;
		nx_audit_insert(&ev);
	}
	return PointerGetDatum(NULL);
}

/*
 * _append_only(fill_once_columns...): BEFORE UPDATE OR DELETE row trigger
 * and BEFORE TRUNCATE statement trigger.  Refuses everything, for the
 * table owner too, except an UPDATE that only fills the named columns
 * while the first of them is still NULL (the sealer adding the chain).
 */
PG_FUNCTION_INFO_V1(nx_append_only);
Datum
nx_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *tg;
	const char *table;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event))
		elog(ERROR, "_append_only must be a BEFORE trigger");
	tg = td->tg_trigger;
	table = RelationGetRelationName(td->tg_relation);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event) && tg->tgnargs > 0)
	{
		TupleDesc	desc = RelationGetDescr(td->tg_relation);
		Bitmapset  *changed = nx_changed_columns(desc, td->tg_trigtuple, td->tg_newtuple);
		int			first = SPI_fnumber(desc, tg->tgargs[0]);
		bool		isnull;
		bool		ok = first > 0;

		if (ok)
			(void) heap_getattr(td->tg_trigtuple, first, desc, &isnull);
		ok = ok && isnull;
		for (int i = -1; ok && (i = bms_next_member(changed, i)) >= 0;)
		{
			bool		allowed = false;

			for (int a = 0; a < tg->tgnargs; a++)
				if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), tg->tgargs[a]) == 0)
					allowed = true;
			ok = allowed;
		}
		if (ok)
			return PointerGetDatum(td->tg_newtuple);
	}
	ereport(ERROR,
			(errcode(ERRCODE_NX_FORBIDDEN),
			 errmsg("%s is append-only", table),
			 errdetail("Rows of %s are never updated, deleted or truncated.", table)));
	return PointerGetDatum(NULL);
}
