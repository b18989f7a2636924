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
#include "utils/snapmgr.h"

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
	Oid			relid = get_relname_relid(relname, get_namespace_oid("nexplane", false));
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
	rel = table_open(relid, AccessShareLock);
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
	if (found)
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
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
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
	Oid			nsp = get_namespace_oid("nexplane", false);
	Oid			relid = get_relname_relid(relname, nsp);
	Oid			indexid = get_relname_relid(indexname, nsp);
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
