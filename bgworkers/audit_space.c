/*-------------------------------------------------------------------------
 *
 * audit_space.c
 *	  The "nexplane audit space" background worker: keeps a few empty pages
 *	  ready at the end of nexplane.audit_events and of its btree indexes, so
 *	  that the statements whose changes are audited do not extend them
 *	  themselves.
 *
 * Every change of a tenant table appends a ~270-byte event, so a writer
 * fills a page of audit_events every 30 events or so, and the one who
 * finds the last page full extends the relation: a relation extension
 * lock, a file size lookup and an 8 kB write of zeroes, all on the
 * audited statement's path (docs/audit.md has the profile).  This worker does it instead, ahead of time, the way
 * RelationAddExtraBlocks() in hio.c does for contended extensions: it adds
 * new, uninitialised pages and records them in the free space map, where
 * heap_insert() finds them (and initialises them) when its page is full.
 * The primary key's btree splits a page every ~200 events and extends the
 * index for the new one in the same way; a btree takes an all-zero page
 * recorded in its free space map before it extends (_bt_getbuf(), the way
 * it recovers the page of a crashed extension), so its reserve is kept the
 * same way, its pages recorded as free index pages.
 *
 * It wakes every AUDIT_SPACE_NAP_MS, counts the new pages still at the end
 * of each, and tops them up to four naps' worth of what writers used
 * in the last one, between AUDIT_SPACE_MIN_PAGES and AUDIT_SPACE_MAX_PAGES
 * (a round costs a buffer lookup per waiting page).  Nothing depends on
 * it: without it, or when writers outrun it, they extend the table and
 * the index as PostgreSQL always does.  A crash leaves at most
 * AUDIT_SPACE_MAX_PAGES empty pages in each, which a heap scan skips and
 * no btree search reaches (nothing links to them).
 *
 * The launcher (launcher.c) starts it in the database named by
 * nexplane.database, once recovery has finished (on a primary, or a
 * standby once promoted).  It takes its lock conditionally, so it never
 * holds up DROP EXTENSION or an ALTER of the table, and leaves when a DROP
 * DATABASE waits for it (worker_common.c).  An error ends it; the launcher
 * starts it again.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "jobs.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
#include "storage/indexfsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#define AUDIT_SPACE_NAP_MS		100
#define AUDIT_SPACE_MIN_PAGES	8
#define AUDIT_SPACE_MAX_PAGES	1024	/* 8 MB */

/* The number of new (never initialised) pages at the end of rel, up to max. */
static int
nx_new_pages_at_end(Relation rel, BlockNumber nblocks, int max)
{
	int			n = 0;

	while (n < max && nblocks > (BlockNumber) n)
	{
		Buffer		buf = ReadBuffer(rel, nblocks - n - 1);
		bool		isnew;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		isnew = PageIsNew(BufferGetPage(buf));
		UnlockReleaseBuffer(buf);
		if (!isnew)
			break;
		n++;
	}
	return n;
}

/* Add n new pages to rel and tell the free space map they are empty. */
static void
nx_add_pages(Relation rel, int n)
{
	bool		is_index = rel->rd_rel->relkind == RELKIND_INDEX;
	BlockNumber first = InvalidBlockNumber,
				last = InvalidBlockNumber;

	LockRelationForExtension(rel, ExclusiveLock);
	for (int i = 0; i < n; i++)
	{
		Buffer		buf = ReadBufferExtended(rel, MAIN_FORKNUM, P_NEW, RBM_ZERO_AND_LOCK, NULL);

		last = BufferGetBlockNumber(buf);
		if (first == InvalidBlockNumber)
			first = last;
		UnlockReleaseBuffer(buf);
	}
	UnlockRelationForExtension(rel, ExclusiveLock);
	for (BlockNumber b = first; b <= last; b++)
	{
		if (is_index)
			RecordFreeIndexPage(rel, b);
		else
			RecordPageWithFreeSpace(rel, b, BLCKSZ - SizeOfPageHeaderData);
	}
	/* make the new entries visible to searches from the map's root */
	FreeSpaceMapVacuumRange(rel, first, last + 1);
}

/*
 * What writers took of each relation's reserve since the last round: its
 * used pages (its size less its new pages at the end) as that round left
 * them.  A slot for the table and each of its indexes (it has one), freed
 * when a round no longer sees its relation (dropped, reindexed).
 */
#define AUDIT_SPACE_RELS 4
static struct
{
	Oid			relid;
	BlockNumber used;
	bool		seen;			/* in this round */
}			used_before[AUDIT_SPACE_RELS];

static BlockNumber *
nx_used_before(Oid relid)
{
	int			slot = -1;

	for (int i = 0; i < AUDIT_SPACE_RELS && slot < 0; i++)
		if (used_before[i].relid == relid)
			slot = i;
	for (int i = 0; i < AUDIT_SPACE_RELS && slot < 0; i++)
		if (!OidIsValid(used_before[i].relid))
		{
			slot = i;
			used_before[i].relid = relid;
			used_before[i].used = InvalidBlockNumber;
		}
	if (slot < 0)
		return NULL;
	used_before[slot].seen = true;
	return &used_before[slot].used;
}

/*
 * Top rel's reserve up to four naps' worth of what writers took since the
 * last round, within AUDIT_SPACE_MIN_PAGES..AUDIT_SPACE_MAX_PAGES.
 */
static void
nx_keep_reserve(Relation rel)
{
	BlockNumber *before = nx_used_before(RelationGetRelid(rel));
	BlockNumber nblocks,
				used,
				consumed;
	int			want,
				have;

	if (before == NULL)
		return;
	nblocks = RelationGetNumberOfBlocks(rel);
	have = nx_new_pages_at_end(rel, nblocks, AUDIT_SPACE_MAX_PAGES);
	used = nblocks - have;
	consumed = (*before != InvalidBlockNumber && used > *before) ? used - *before : 0;
	*before = used;
	want = Max(AUDIT_SPACE_MIN_PAGES, Min(AUDIT_SPACE_MAX_PAGES, 4 * (int) Min(consumed, AUDIT_SPACE_MAX_PAGES)));
	if (have < want)
		nx_add_pages(rel, want - have);
}

/*
 * Open relid with RowExclusiveLock if it is there, of the kind given, and
 * nobody holds a conflicting lock (a DROP, an ALTER); NULL otherwise.
 */
static Relation
nx_try_open(Oid relid, char relkind)
{
	Relation	rel;

	if (!OidIsValid(relid) || !ConditionalLockRelationOid(relid, RowExclusiveLock))
		return NULL;
	/* (dropped between the lookup and the lock: nothing to do) */
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL || rel->rd_rel->relkind != relkind)
	{
		if (rel)
			relation_close(rel, NoLock);
		UnlockRelationOid(relid, RowExclusiveLock);
		return NULL;
	}
	return rel;
}

/* One round: audit_events and its btree indexes. */
static void
nx_audit_space_round(void)
{
	Oid			nsp = get_namespace_oid("nexplane", true);
	Relation	rel;
	List	   *indexes;
	ListCell   *lc;

	for (int i = 0; i < AUDIT_SPACE_RELS; i++)
		used_before[i].seen = false;
	rel = nx_try_open(OidIsValid(nsp) ? get_relname_relid("audit_events", nsp) : InvalidOid,
					  RELKIND_RELATION);
	if (rel == NULL)
		return;					/* (a busy round forgets nothing) */
	nx_keep_reserve(rel);
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	idx = nx_try_open(lfirst_oid(lc), RELKIND_INDEX);

		if (idx == NULL)
			continue;
		/*
		 * Only a built index: CREATE INDEX CONCURRENTLY and REINDEX
		 * CONCURRENTLY build theirs (not yet valid) by writing its file
		 * directly, from block 0, under no lock that keeps this worker out.
		 */
		if (idx->rd_rel->relam == BTREE_AM_OID && idx->rd_index->indisvalid &&
			idx->rd_index->indisready && idx->rd_index->indislive)
			nx_keep_reserve(idx);
		relation_close(idx, RowExclusiveLock);
	}
	list_free(indexes);
	relation_close(rel, RowExclusiveLock);
	for (int i = 0; i < AUDIT_SPACE_RELS; i++)
		if (!used_before[i].seen)
			used_before[i].relid = InvalidOid;
}

PGDLLEXPORT void nx_audit_space_main(Datum arg);

void
nx_audit_space_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(nx_database, NULL, 0);
	pgstat_report_appname("nexplane audit space");

	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 AUDIT_SPACE_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (nx_worker_should_leave())
			proc_exit(0);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		StartTransactionCommand();
		nx_audit_space_round();
		CommitTransactionCommand();
	}
}
