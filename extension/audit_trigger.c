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
 * sealer (sql/api/75_audit_seal.sql).
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

/*
 * What the trigger needs to know of an audited table, learned once per
 * backend from the relcache and forgotten on any invalidation of the
 * table (ALTER, DROP, RENAME): where its tenant is, its primary key
 * without tenant_id (the event's target id) with the key columns' output
 * functions, its action names, and its columns in the order of a jsonb
 * object's keys with its secret columns, so that a payload is built
 * already sorted, straight into one JsonbValue.  That takes a table of at
 * most NX_SORTED_COLUMNS columns, none of them jsonb (a jsonb value is
 * unpacked only by pushJsonbValue()); other tables' payloads are built by
 * pushJsonbValue(), which sorts.  Fixed-size, so that a copy holds all.
 */
#define NX_SORTED_COLUMNS 64

typedef struct NxAuditedTable
{
	Oid			relid;			/* hash key */
	AttrNumber	tenant_att;
	int			nkeys;
	AttrNumber	key_att[INDEX_MAX_KEYS];
	FmgrInfo	key_out[INDEX_MAX_KEYS];
	char		action[3][NAMEDATALEN + sizeof(".insert")];
	int			ncolumns;		/* -1: built by pushJsonbValue() */
	int16		column[NX_SORTED_COLUMNS];	/* 0-based attribute numbers */
	uint64		redacted;		/* bit i set: attribute i is a secret */
	/* attribute i's type, through any domain (a value is typed by it) */
	Oid			basetype[NX_SORTED_COLUMNS];
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

/* jsonb's order of object keys: shorter first, then bytewise */
static int
nx_column_cmp(const void *a, const void *b, void *desc)
{
	const char *na = NameStr(TupleDescAttr((TupleDesc) desc, *(const int16 *) a)->attname);
	const char *nb = NameStr(TupleDescAttr((TupleDesc) desc, *(const int16 *) b)->attname);
	size_t		la = strlen(na),
				lb = strlen(nb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(na, nb, la);
}

/* Attribute i's type through any domain: the entry's, or looked up. */
static Oid
nx_column_type(const NxAuditedTable *t, TupleDesc desc, int i)
{
	return i < NX_SORTED_COLUMNS ? t->basetype[i] : getBaseType(TupleDescAttr(desc, i)->atttypid);
}

/* Fill in the entry's columns, or ncolumns = -1 if they do not fit. */
static void
nx_audited_columns(TupleDesc desc, NxAuditedTable *entry)
{
	for (int i = 0; i < desc->natts && i < NX_SORTED_COLUMNS; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			entry->basetype[i] = getBaseType(TupleDescAttr(desc, i)->atttypid);
	entry->ncolumns = 0;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (i >= NX_SORTED_COLUMNS || entry->basetype[i] == JSONBOID)
		{
			entry->ncolumns = -1;
			return;
		}
		entry->column[entry->ncolumns++] = i;
		if (nx_is_redacted(NameStr(att->attname)))
			entry->redacted |= UINT64CONST(1) << i;
	}
	qsort_arg(entry->column, entry->ncolumns, sizeof(int16), nx_column_cmp, desc);
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
		nx_audited_columns(desc, &entry);

		/* the lookups above may have processed invalidations: enter it now */
		t = hash_search(audited_tables, &relid, HASH_ENTER, &found);
		*t = entry;
	}
	*out = *t;
}

/*
 * One column value as JSON: numbers and booleans typed, jsonb embedded
 * (as jbvBinary, which only pushJsonbValue() takes), a secret column
 * "[redacted]", anything else as its text.  type is the column's type
 * through any domain: a domain over integer is a number too.
 */
static void
nx_datum_value(JsonbValue *v, Oid type, Datum d, bool isnull, bool redacted)
{
	const char *s;

	if (isnull)
	{
		v->type = jbvNull;
		return;
	}
	if (redacted)
		s = "[redacted]";
	else
		switch (type)
		{
			case JSONBOID:
				{
					Jsonb	   *jb = DatumGetJsonbP(d);

					v->type = jbvBinary;
					v->val.binary.data = &jb->root;
					v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
					return;
				}
			case BOOLOID:
				v->type = jbvBool;
				v->val.boolean = DatumGetBool(d);
				return;
			case INT2OID:
			case INT4OID:
			case INT8OID:
			case NUMERICOID:
				/* straight to numeric, without a round trip through text */
				v->type = jbvNumeric;
				v->val.numeric = type == NUMERICOID ? DatumGetNumeric(d) :
					type == INT8OID ? int64_to_numeric(DatumGetInt64(d)) :
					int64_to_numeric(type == INT4OID ? DatumGetInt32(d) : DatumGetInt16(d));
				return;
			case TEXTOID:
			case VARCHAROID:
				{
					text	   *t = DatumGetTextPP(d);

					v->type = jbvString;
					v->val.string.val = VARDATA_ANY(t);
					v->val.string.len = VARSIZE_ANY_EXHDR(t);
					return;
				}
			case UUIDOID:
				s = nx_uuid_out(DatumGetUUIDP(d));
				break;
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

					s = JsonEncodeDateTime(NULL, d, type, &utc);
					break;
				}
			default:
				{
					Oid			out;
					bool		varlena;

					getTypeOutputInfo(type, &out, &varlena);
					s = OidOutputFunctionCall(out, d);
				}
		}
	v->type = jbvString;
	v->val.string.val = (char *) s;
	v->val.string.len = strlen(s);
}

/* The row (or only the columns in cols, when given) as a jsonb object. */
static Jsonb *
nx_row_jsonb(const NxAuditedTable *t, TupleDesc td, const Datum *values,
			 const bool *nulls, const Bitmapset *cols)
{
	JsonbParseState *st = NULL;

	if (t->ncolumns >= 0)
	{
		JsonbPair	pairs[NX_SORTED_COLUMNS];
		JsonbValue	obj = {.type = jbvObject};
		int			n = 0;

		for (int c = 0; c < t->ncolumns; c++)
		{
			int			i = t->column[c];
			Form_pg_attribute att = TupleDescAttr(td, i);

			if (cols && !bms_is_member(i, cols))
				continue;
			pairs[n].key.type = jbvString;
			pairs[n].key.val.string.val = NameStr(att->attname);
			pairs[n].key.val.string.len = strlen(NameStr(att->attname));
			nx_datum_value(&pairs[n].value, t->basetype[i], values[i], nulls[i],
						   (t->redacted & (UINT64CONST(1) << i)) != 0);
			pairs[n].order = n;
			n++;
		}
		obj.val.object.nPairs = n;
		obj.val.object.pairs = pairs;
		return JsonbValueToJsonb(&obj);
	}

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);
		JsonbValue	k,
					v;

		if (att->attisdropped || (cols && !bms_is_member(i, cols)))
			continue;
		k.type = jbvString;
		k.val.string.val = NameStr(att->attname);
		k.val.string.len = strlen(NameStr(att->attname));
		pushJsonbValue(&st, WJB_KEY, &k);
		nx_datum_value(&v, nx_column_type(t, td, i), values[i], nulls[i],
					   nx_is_redacted(NameStr(att->attname)));
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

/* Columns whose values differ between the old and new row. */
static Bitmapset *
nx_changed_columns(TupleDesc td, const Datum *v1, const bool *n1,
				   const Datum *v2, const bool *n2)
{
	Bitmapset  *changed = NULL;

	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);

		if (att->attisdropped)
			continue;
		if (n1[i] != n2[i] ||
			(!n1[i] && !datumIsEqual(v1[i], v2[i], att->attbyval, att->attlen)))
			changed = bms_add_member(changed, i);
	}
	return changed;
}

/* The row's primary key without tenant_id, values joined by "/". */
static char *
nx_target_id(const NxAuditedTable *t, const Datum *values, const bool *nulls)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < t->nkeys; k++)
	{
		int			i = t->key_att[k] - 1;

		if (k > 0)
			appendStringInfoChar(&buf, '/');
		if (!nulls[i])
			appendStringInfoString(&buf, OutputFunctionCall((FmgrInfo *) &t->key_out[k], values[i]));
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
	NxAuditedTable table;
	NxAuditEvent ev = {0};
	int			op;
	Datum	   *values,
			   *old_values;
	bool	   *nulls,
			   *old_nulls;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "_audit_trigger must be an AFTER ... FOR EACH ROW trigger");
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	nx_audited_table(rel, &table);

	/* the row (the new one of an update), taken apart once */
	values = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple,
					  desc, values, nulls);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		op = OP_INSERT;
		ev.after = nx_row_jsonb(&table, desc, values, nulls, NULL);
	}
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
	{
		op = OP_DELETE;
		ev.before = nx_row_jsonb(&table, desc, values, nulls, NULL);
	}
	else
	{
		Bitmapset  *changed;

		old_values = palloc(desc->natts * sizeof(Datum));
		old_nulls = palloc(desc->natts * sizeof(bool));
		heap_deform_tuple(td->tg_trigtuple, desc, old_values, old_nulls);
		changed = nx_changed_columns(desc, old_values, old_nulls, values, nulls);
		if (changed == NULL)
			return PointerGetDatum(NULL);	/* nothing changed, nothing to say */
		op = OP_UPDATE;
		ev.before = nx_row_jsonb(&table, desc, old_values, old_nulls, changed);
		ev.after = nx_row_jsonb(&table, desc, values, nulls, changed);
	}

	ev.tenant_id = values[table.tenant_att - 1];
	ev.action = table.action[op];
	ev.target_table = RelationGetRelationName(rel);
	ev.target_id = nx_target_id(&table, values, nulls);
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
