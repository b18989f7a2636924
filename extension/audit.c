/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The one writer of audit_events: row changes (from audit_trigger.c)
 *	  and platform actions that are not a plain row change (tenant
 *	  creation, acting as a tenant, key rotation).  The actor and the
 *	  request come from the tenant context; without one, the actor is the
 *	  PostgreSQL superuser who called, or the system (a background worker,
 *	  or a caller that is neither).
 *
 * An event is written on every change of every tenant table, so it goes
 * straight into the heap and the table's indexes, the way the catalogs
 * are written (CatalogTupleInsert): no planner, executor, SPI or RLS,
 * which this trusted code does not need.  That is why audit_events has
 * only plain indexes, no constraints but NOT NULL, and no insert triggers.
 *
 * Every event gets a MAC under its tenant's audit key (audit_mac.c), so
 * that one inserted by any other way, a superuser's with triggers
 * disabled included, is told apart by audit_verify().
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit.h"
#include "context.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "nodes/execnodes.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/xid8.h"

const char *const nx_audit_columns[AC_COUNT] = {
	"tenant_id", "id", "occurred_at", "actor_kind", "actor_id", "action",
	"target_table", "target_id", "before", "after", "request_id", "trace_id", "mac"
};

/*
 * audit_events as this backend last saw it: its oid, its id sequence,
 * where each column is, and its indexes (checked to be plain once, their
 * IndexInfo built once, in audit_cxt).  Cleared by any relcache
 * invalidation of the table (ALTER, DROP EXTENSION, CREATE or DROP INDEX),
 * so it is learned again.
 */
static Oid	audit_relid = InvalidOid;
static Oid	audit_seqid = InvalidOid;
static int	audit_attno[AC_COUNT];
static List *audit_indexes = NIL;	/* of Oid */
static List *audit_index_info = NIL;	/* of IndexInfo *, in the same order */
static MemoryContext audit_cxt = NULL;

static void
nx_audit_forget(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == audit_relid)
		audit_relid = InvalidOid;
}

/* Learn the indexes of audit_events, refusing any but plain ones. */
static void
nx_audit_learn_indexes(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	MemoryContext old;

	if (audit_cxt == NULL)
		audit_cxt = AllocSetContextCreate(CacheMemoryContext, "nexplane audit_events",
										  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(audit_cxt);
	audit_indexes = NIL;
	audit_index_info = NIL;
	old = MemoryContextSwitchTo(audit_cxt);
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *ii = BuildIndexInfo(idx);

		if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL ||
			ii->ii_ExclusionOps != NULL || !idx->rd_index->indimmediate)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("index \"%s\" of audit_events is not a plain index",
							RelationGetRelationName(idx)),
					 errdetail("Audit events are written straight into the table's indexes, "
							   "which must be on plain columns, without a WHERE clause or "
							   "deferred or exclusion constraints."),
					 errhint("Drop the index.")));
		audit_indexes = lappend_oid(audit_indexes, lfirst_oid(lc));
		audit_index_info = lappend(audit_index_info, ii);
		index_close(idx, NoLock);
	}
	MemoryContextSwitchTo(old);
	list_free(indexes);
}

/* Open audit_events, learning its layout when the cache is empty. */
static Relation
nx_audit_open(void)
{
	static bool callback_registered = false;
	Oid			relid = audit_relid;
	Relation	rel;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(nx_audit_forget, (Datum) 0);
		callback_registered = true;
	}
	if (!OidIsValid(relid))
		relid = get_relname_relid("audit_events", get_namespace_oid("nexplane", false));
	if (!OidIsValid(relid))
		elog(ERROR, "nexplane.audit_events does not exist");
	rel = table_open(relid, RowExclusiveLock);

	/* the lock may have brought an invalidation: check the cache after it */
	if (audit_relid != relid)
	{
		TupleDesc	desc = RelationGetDescr(rel);

		for (int c = 0; c < AC_COUNT; c++)
		{
			audit_attno[c] = -1;
			for (int i = 0; i < desc->natts; i++)
				if (!TupleDescAttr(desc, i)->attisdropped &&
					strcmp(NameStr(TupleDescAttr(desc, i)->attname), nx_audit_columns[c]) == 0)
					audit_attno[c] = i;
			if (audit_attno[c] < 0)
				elog(ERROR, "nexplane.audit_events has no column \"%s\"", nx_audit_columns[c]);
		}
		audit_seqid = getIdentitySequence(relid, audit_attno[AC_ID] + 1, false);
		nx_audit_learn_indexes(rel);
		audit_relid = relid;
	}
	return rel;
}

/* Add the new row's entries to every index of audit_events. */
static void
nx_audit_index(Relation rel, HeapTuple tup, const Datum *values, const bool *nulls)
{
	ListCell   *lo,
			   *li;

	forboth(lo, audit_indexes, li, audit_index_info)
	{
		Relation	idx = index_open(lfirst_oid(lo), RowExclusiveLock);
		IndexInfo  *ii = lfirst(li);
		Datum		ivalues[INDEX_MAX_KEYS];
		bool		inulls[INDEX_MAX_KEYS];

		/* (the index's own state, fresh after its lock: it may be mid-CREATE) */
		if (idx->rd_index->indisready)
		{
			for (int k = 0; k < ii->ii_NumIndexAttrs; k++)
			{
				ivalues[k] = values[ii->ii_IndexAttrNumbers[k] - 1];
				inulls[k] = nulls[ii->ii_IndexAttrNumbers[k] - 1];
			}
			/* an access method's per-call cache lives in the caller's memory */
			ii->ii_AmCache = NULL;
			ii->ii_Context = CurrentMemoryContext;
			index_insert(idx, ivalues, inulls, &tup->t_self, rel,
						 ii->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, ii);
		}
		index_close(idx, NoLock);
	}
}

void
nx_audit_append(const NxAuditEvent *ev)
{
	const NxContext *ctx = nx_context_get();
	Relation	rel = nx_audit_open();
	TupleDesc	desc = RelationGetDescr(rel);
	Datum	   *values = palloc0(desc->natts * sizeof(Datum));
	bool	   *nulls = palloc(desc->natts * sizeof(bool));
	HeapTuple	tup;

	memset(nulls, true, desc->natts * sizeof(bool));
#define NX_SET(col, datum) \
	do { \
		values[audit_attno[col]] = (datum); \
		nulls[audit_attno[col]] = false; \
	} while (0)

	/*
	 * The transaction id first, then the event id: the sealer relies on
	 * every id it sees handed out belonging to a transaction that already
	 * has its transaction id (see audit_chain_heads).
	 */
	(void) GetCurrentTransactionId();
	NX_SET(AC_ID, Int64GetDatum(nextval_internal(audit_seqid, false)));
	NX_SET(AC_TENANT_ID, ev->tenant_id);
	NX_SET(AC_OCCURRED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	if (ctx)
	{
		NX_SET(AC_ACTOR_KIND, CStringGetTextDatum(strcmp(ctx->auth_kind, "api_key") == 0 ?
												  "api_key" :
												  strcmp(ctx->auth_kind, "agent") == 0 ?
												  "agent" : "user"));
		NX_SET(AC_ACTOR_ID, UUIDPGetDatum(&ctx->user_id));
		if (ctx->request_id[0])
			NX_SET(AC_REQUEST_ID, CStringGetTextDatum(ctx->request_id));
		if (ctx->trace_id[0])
			NX_SET(AC_TRACE_ID, CStringGetTextDatum(ctx->trace_id));
	}
	else
		NX_SET(AC_ACTOR_KIND, CStringGetTextDatum(nx_caller_is_superuser() && !IsBackgroundWorker ?
												  "postgres" : "system"));
	NX_SET(AC_ACTION, CStringGetTextDatum(ev->action));
	if (ev->target_table)
		NX_SET(AC_TARGET_TABLE, CStringGetTextDatum(ev->target_table));
	if (ev->target_id)
		NX_SET(AC_TARGET_ID, CStringGetTextDatum(ev->target_id));
	if (ev->before)
		NX_SET(AC_BEFORE, JsonbPGetDatum(ev->before));
	if (ev->after)
		NX_SET(AC_AFTER, JsonbPGetDatum(ev->after));

	/* last, over everything above: the mark that this writer wrote it */
	{
		Datum		fields[AC_MAC];
		bool		fnulls[AC_MAC];
		bytea	   *mac = palloc(VARHDRSZ + NX_AUDIT_MAC_LEN);

		for (int c = 0; c < AC_MAC; c++)
		{
			fields[c] = values[audit_attno[c]];
			fnulls[c] = nulls[audit_attno[c]];
		}
		SET_VARSIZE(mac, VARHDRSZ + NX_AUDIT_MAC_LEN);
		nx_audit_mac(fields, fnulls, (unsigned char *) VARDATA(mac));
		NX_SET(AC_MAC, PointerGetDatum(mac));
	}
#undef NX_SET

	tup = heap_form_tuple(desc, values, nulls);
	simple_heap_insert(rel, tup);
	nx_audit_index(rel, tup, values, nulls);
	heap_freetuple(tup);
	table_close(rel, NoLock);
}

/* A platform action; after_json is a JSON object (or NULL). */
void
nx_audit_event(const char *tenant_id, const char *action, const char *target_table,
			   const char *target_id, const char *after_json)
{
	NxAuditEvent ev = {0};

	ev.tenant_id = DirectFunctionCall1(uuid_in, CStringGetDatum(tenant_id));
	ev.action = action;
	ev.target_table = target_table;
	ev.target_id = target_id;
	if (after_json)
		ev.after = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(after_json)));
	nx_audit_append(&ev);
}

/*
 * _next_xid(): the next transaction id to be assigned.  Every transaction
 * id handed out before the call is below it; the sealer uses it to know
 * when every event id it has seen handed out is settled.
 */
PG_FUNCTION_INFO_V1(nx_next_xid);
Datum
nx_next_xid(PG_FUNCTION_ARGS)
{
	PG_RETURN_FULLTRANSACTIONID(ReadNextFullTransactionId());
}
