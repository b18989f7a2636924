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
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
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
			{
				/*
				 * ISO 8601 as to_jsonb() writes it, but in UTC whatever
				 * the session's DateStyle and TimeZone: the payload is
				 * evidence, and the same change reads the same.
				 */
				const int	utc = 0;

				nx_push_string(st, JsonEncodeDateTime(NULL, d, att->atttypid, &utc));
				return;
			}
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

/*
 * What the trigger needs to know of an audited table, learned once per
 * backend from the relcache and forgotten on any invalidation of the
 * table (ALTER, DROP, RENAME): where its tenant is, its primary key
 * without tenant_id (the event's target id) with the key columns' output
 * functions, and its action names.
 */
typedef struct NxAuditedTable
{
	Oid			relid;			/* hash key */
	AttrNumber	tenant_att;
	int			nkeys;
	AttrNumber	key_att[INDEX_MAX_KEYS];
	FmgrInfo	key_out[INDEX_MAX_KEYS];
	char		action[3][NAMEDATALEN + sizeof(".insert")];
} NxAuditedTable;

enum
{
	OP_INSERT, OP_UPDATE, OP_DELETE
};
static const char *const op_names[] = {"insert", "update", "delete"};

static HTAB *audited_tables = NULL;

static void
nx_audited_table_forget(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	NxAuditedTable *t;

	if (OidIsValid(relid))
	{
		hash_search(audited_tables, &relid, HASH_REMOVE, NULL);
		return;
	}
	hash_seq_init(&seq, audited_tables);
	while ((t = hash_seq_search(&seq)) != NULL)
		hash_search(audited_tables, &t->relid, HASH_REMOVE, NULL);
}

/*
 * The table's entry, copied out: anything the trigger calls afterwards
 * may process invalidations and remove the entry.
 */
static void
nx_audited_table(Relation rel, NxAuditedTable *out)
{
	Oid			relid = RelationGetRelid(rel);
	NxAuditedTable *t;
	bool		found;

	if (audited_tables == NULL)
	{
		HASHCTL		ctl = {.keysize = sizeof(Oid),.entrysize = sizeof(NxAuditedTable),
		.hcxt = CacheMemoryContext};

		audited_tables = hash_create("nexplane audited tables", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(nx_audited_table_forget, (Datum) 0);
	}
	t = hash_search(audited_tables, &relid, HASH_FIND, NULL);
	if (t == NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);
		const char *name = RelationGetRelationName(rel);
		bool		is_tenants = strcmp(name, "tenants") == 0;
		Bitmapset  *pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
		NxAuditedTable entry = {.relid = relid};
		int			i = -1;

		entry.tenant_att = SPI_fnumber(desc, is_tenants ? "id" : "tenant_id");
		if (entry.tenant_att <= 0)
			elog(ERROR, "audited table \"%s\" has no tenant_id", name);
		while ((i = bms_next_member(pk, i)) >= 0)
		{
			AttrNumber	attno = i + FirstLowInvalidHeapAttributeNumber;
			Oid			out;
			bool		varlena;

			if (attno == entry.tenant_att && !is_tenants)
				continue;
			getTypeOutputInfo(TupleDescAttr(desc, attno - 1)->atttypid, &out, &varlena);
			entry.key_att[entry.nkeys] = attno;
			fmgr_info_cxt(out, &entry.key_out[entry.nkeys], CacheMemoryContext);
			entry.nkeys++;
		}
		for (int op = OP_INSERT; op <= OP_DELETE; op++)
			snprintf(entry.action[op], sizeof(entry.action[op]), "%s.%s", name, op_names[op]);

		/* the lookups above may have processed invalidations: enter it now */
		t = hash_search(audited_tables, &relid, HASH_ENTER, &found);
		*t = entry;
	}
	*out = *t;
}

/* The row's primary key without tenant_id, values joined by "/". */
static char *
nx_target_id(const NxAuditedTable *t, TupleDesc desc, HeapTuple tup)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < t->nkeys; k++)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, t->key_att[k], desc, &isnull);

		if (k > 0)
			appendStringInfoChar(&buf, '/');
		if (!isnull)
			appendStringInfoString(&buf, OutputFunctionCall((FmgrInfo *) &t->key_out[k], d));
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
	int			op;
	Jsonb	   *before = NULL;
	Jsonb	   *after = NULL;
	NxAuditedTable table;
	NxAuditEvent ev = {0};
	bool		isnull;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "_audit_trigger must be an AFTER ... FOR EACH ROW trigger");
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = OP_INSERT;
		row = td->tg_trigtuple;
		after = nx_row_jsonb(desc, row, NULL);
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		op = OP_DELETE;
		row = td->tg_trigtuple;
		before = nx_row_jsonb(desc, row, NULL);
	}
	else
	{
		Bitmapset  *changed = nx_changed_columns(desc, td->tg_trigtuple, td->tg_newtuple);

		if (changed == NULL)
			return PointerGetDatum(NULL);	/* nothing changed, nothing to say */
		op = OP_UPDATE;
		row = td->tg_newtuple;
		before = nx_row_jsonb(desc, td->tg_trigtuple, changed);
		after = nx_row_jsonb(desc, row, changed);
	}

	nx_audited_table(rel, &table);
	ev.tenant_id = heap_getattr(row, table.tenant_att, desc, &isnull);
	ev.action = table.action[op];
	ev.target_table = RelationGetRelationName(rel);
	ev.target_id = nx_target_id(&table, desc, row);
	ev.before = before;
	ev.after = after;
	nx_audit_append(&ev);
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
