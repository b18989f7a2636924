/*-------------------------------------------------------------------------
 *
 * row_lookup.c
 *	  Read one row of a nexplane table by its primary key, or the rows an
 *	  index finds for a key, without SPI.
 *
 * authenticate() reads a session, its user and its tenant on every
 * request.  Through SPI that was one three-way join, and starting its
 * executor cost more than the reads themselves.  This does each read as
 * one index lookup on the table's primary key, with the snapshot a SPI
 * statement would take (after a command counter increment, so the
 * caller's own earlier writes, such as a logout, are seen).
 *
 * It reads the table directly: row-level security does not apply.  Like
 * nx_spi_system's statements, it is for fixed lookups of C code whose
 * keys come from a verified token, never for a caller's query.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"
#include "row_lookup.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/*
 * The oids of the relations looked up here, by name, learned once per
 * backend: every request reads a few rows this way, and finding the
 * namespace and the name in the catalog caches each time cost more than
 * an index probe's own work.  Any change to pg_class (a relation made,
 * dropped or renamed) forgets them all, so they are learned again.
 */
#define NX_RELIDS_MAX 16
static struct
{
	char		name[NAMEDATALEN];
	Oid			relid;
}			relids[NX_RELIDS_MAX];
static int	n_relids = 0;

static void
nx_relids_forget(Datum arg, int cacheid, uint32 hashvalue)
{
	n_relids = 0;
}

/* The oid of nexplane.name, or InvalidOid when there is none */
static Oid
nx_relid(const char *name)
{
	static bool registered = false;
	Oid			relid;

	if (!registered)
	{
		CacheRegisterSyscacheCallback(RELNAMENSP, nx_relids_forget, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACENAME, nx_relids_forget, (Datum) 0);
		registered = true;
	}
	for (int i = 0; i < n_relids; i++)
		if (strcmp(relids[i].name, name) == 0)
			return relids[i].relid;
	relid = get_relname_relid(name, get_namespace_oid("nexplane", false));
	if (OidIsValid(relid) && n_relids < NX_RELIDS_MAX && strlen(name) < NAMEDATALEN)
	{
		strcpy(relids[n_relids].name, name);
		relids[n_relids].relid = relid;
		n_relids++;
	}
	return relid;
}

/* Column name's number in rel, or an internal error: the schema is ours. */
static AttrNumber
nx_column(Relation rel, const char *name)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	elog(ERROR, "nexplane.%s has no column %s", RelationGetRelationName(rel), name);
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/* Copy columns cols[0..ncols-1] of the row in slot (a row of rel). */
static void
nx_row_copy(Relation rel, TupleTableSlot *slot, int ncols, const char *const *cols,
			Datum *values, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < ncols; i++)
	{
		AttrNumber	att = nx_column(rel, cols[i]);
		Form_pg_attribute form = TupleDescAttr(desc, att - 1);
		Datum		d = slot_getattr(slot, att, &isnull[i]);

		values[i] = isnull[i] ? (Datum) 0 :
			datumCopy(form->attlen == -1 ? PointerGetDatum(PG_DETOAST_DATUM(d)) : d,
					  form->attbyval, form->attlen);
	}
}

/*
 * Lock the row in slot, found by the primary-key scan under snapshot, as
 * SELECT ... FOR UPDATE locks it (see nx_row_lock_by_pk); false when it was
 * deleted meanwhile or its newest version no longer has the key.
 */
static bool
nx_row_lock(Relation rel, Relation index, Snapshot snapshot, TupleTableSlot *slot,
			int nkeys, const pg_uuid_t *keys)
{
	ItemPointerData tid = slot->tts_tid;
	TM_FailureData tmfd;
	TM_Result	res;
	bool		found = true;

	res = table_tuple_lock(rel, &tid, snapshot, slot, GetCurrentCommandId(true),
						   LockTupleExclusive, LockWaitBlock,
						   TUPLE_LOCK_FLAG_LOCK_UPDATE_IN_PROGRESS |
						   (IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION),
						   &tmfd);
	switch (res)
	{
		case TM_Ok:
			break;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent %s",
								res == TM_Updated ? "update" : "delete")));
			if (res == TM_Updated)
				elog(ERROR, "a row of nexplane.%s was updated after its newest version was found",
					 RelationGetRelationName(rel));
			found = false;		/* deleted meanwhile */
			break;
		default:
			elog(ERROR, "unexpected result %d locking a row of nexplane.%s", (int) res,
				 RelationGetRelationName(rel));
	}
	/* the newest version must still be the row asked for */
	for (int i = 0; found && i < nkeys; i++)
	{
		bool		knull;
		Datum		k = slot_getattr(slot, index->rd_index->indkey.values[i], &knull);

		found = !knull && memcmp(DatumGetUUIDP(k), &keys[i], UUID_LEN) == 0;
	}
	return found;
}

/* nx_row_by_pk and nx_row_lock_by_pk: one scan of the primary key. */
static bool
nx_row_by_pk_scan(const char *relname, int nkeys, const pg_uuid_t *keys, int ncols,
				  const char *const *cols, Datum *values, bool *isnull, bool lock)
{
	Oid			relid = nx_relid(relname);
	Relation	rel;
	Relation	index;
	ScanKeyData skey[NX_ROW_MAX_KEYS];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;
	bool		found;

	Assert(nkeys <= NX_ROW_MAX_KEYS);
	if (!OidIsValid(relid))
		elog(ERROR, "nexplane.%s does not exist", relname);
	rel = table_open(relid, lock ? RowShareLock : AccessShareLock);
	index = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	if (IndexRelationGetNumberOfKeyAttributes(index) != nkeys)
		elog(ERROR, "the primary key of nexplane.%s is not %d columns", relname, nkeys);
	for (int i = 0; i < nkeys; i++)
		ScanKeyInit(&skey[i], i + 1, BTEqualStrategyNumber, F_UUID_EQ,
					UUIDPGetDatum(&keys[i]));

	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, snapshot, nkeys, 0);
	index_rescan(scan, skey, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	if (found && lock)
		found = nx_row_lock(rel, index, snapshot, slot, nkeys, keys);
	if (found)
		nx_row_copy(rel, slot, ncols, cols, values, isnull);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	/* a lock's RowShareLock, as FOR UPDATE's, is kept until the end */
	table_close(rel, lock ? NoLock : AccessShareLock);
	return found;
}

/*
 * Find the row of nexplane.relname whose primary key (uuid columns, in
 * order) is keys[0..nkeys-1].  When there is one, copy columns cols[0..
 * ncols-1] into values and isnull (in the current memory context) and
 * answer true.
 */
bool
nx_row_by_pk(const char *relname, int nkeys, const pg_uuid_t *keys,
			 int ncols, const char *const *cols, Datum *values, bool *isnull)
{
	return nx_row_by_pk_scan(relname, nkeys, keys, ncols, cols, values, isnull, false);
}

/*
 * nx_row_by_pk, and the row locked as SELECT ... FOR UPDATE locks it: under
 * read committed a row a concurrent transaction updated is waited for and
 * its newest version locked and read (and checked still to have the key,
 * as the executor's recheck would); under repeatable read or serializable
 * such a row is a serialization failure.  For a transition of a change
 * request, whose read of the row is the start of its move: a statement of
 * its own (executor start, the lock-rows node) cost more than the read.
 */
bool
nx_row_lock_by_pk(const char *relname, int nkeys, const pg_uuid_t *keys,
				  int ncols, const char *const *cols, Datum *values, bool *isnull)
{
	return nx_row_by_pk_scan(relname, nkeys, keys, ncols, cols, values, isnull, true);
}

/*
 * Call the rows of nexplane.relname that index indexname finds for keys
 * (equality on each of the first nkeys columns but those given another
 * strategy), until fn answers false.  The same snapshot a SPI statement
 * would take (after a command counter increment), or with
 * statement_snapshot the calling statement's (for a STABLE function, which
 * sees what its statement sees), and, as above, no
 * row-level security: for fixed lookups of C code whose keys start with
 * the caller's tenant.  Text keys compare with the index's collation, by
 * which the index is ordered.
 */
void
nx_index_rows(const char *relname, const char *indexname, int nkeys, const NxKey *keys,
			  bool statement_snapshot, NxRowFn fn, void *arg)
{
	Oid			relid = nx_relid(relname);
	Oid			indexid = nx_relid(indexname);
	Relation	rel;
	Relation	index;
	ScanKeyData skey[INDEX_MAX_KEYS];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		elog(ERROR, "nexplane.%s or its index %s does not exist", relname, indexname);
	rel = table_open(relid, AccessShareLock);
	index = index_open(indexid, AccessShareLock);
	if (index->rd_index->indrelid != relid)
		elog(ERROR, "%s is not an index of nexplane.%s", indexname, relname);
	for (int i = 0; i < nkeys; i++)
		ScanKeyEntryInitialize(&skey[i], 0, i + 1, keys[i].strategy, InvalidOid,
							   index->rd_indcollation[i], keys[i].proc, keys[i].value);
	statement_snapshot = statement_snapshot && ActiveSnapshotSet();
	if (!statement_snapshot)
		CommandCounterIncrement();
	snapshot = RegisterSnapshot(statement_snapshot ? GetActiveSnapshot() : GetTransactionSnapshot());
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, snapshot, nkeys, 0);
	index_rescan(scan, skey, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
		if (!fn(rel, slot, arg))
			break;
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
}
