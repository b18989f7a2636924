/*-------------------------------------------------------------------------
 *
 * audit_space.c
 *	  The "nexplane audit space" background worker: keeps a few empty pages
 *	  ready at the end of nexplane.audit_events, so that the statements
 *	  whose changes are audited do not extend the table themselves.
 *
 * Every change of a tenant table appends a ~270-byte event, so a writer
 * fills a page of audit_events every 30 events or so, and the one who
 * finds the last page full extends the relation: a relation extension
 * lock, a file size lookup and an 8 kB write of zeroes, all on the
 * audited statement's path.  Profiled on the development VM, whose system
 * calls are slow, that was 13% of the trigger's cost.
 * This worker does it instead, ahead of time, the way
 * RelationAddExtraBlocks() in hio.c does for contended extensions: it adds
 * new, uninitialised pages and records them in the free space map, where
 * heap_insert() finds them (and initialises them) when its page is full.
 *
 * It wakes every AUDIT_SPACE_NAP_MS, counts the new pages still at the end
 * of the table, and tops them up to four naps' worth of what writers used
 * in the last one, between AUDIT_SPACE_MIN_PAGES and AUDIT_SPACE_MAX_PAGES
 * (a round costs a buffer lookup per waiting page).  Nothing depends on
 * it: without it, or when writers outrun it, they extend the table as
 * PostgreSQL always does.  A crash leaves at most AUDIT_SPACE_MAX_PAGES
 * empty pages, which every reader skips.
 *
 * It runs in the database named by nexplane.database, once recovery has
 * finished (on a primary, or a standby once promoted), and takes its lock
 * conditionally, so it never holds up DROP EXTENSION or an ALTER of the
 * table.  An error ends it; the postmaster starts it again 10 s later.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit_space.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/freespace.h"
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

static char *nx_database = NULL;	/* nexplane.database */

void
nx_audit_space_register(void)
{
	BackgroundWorker worker = {0};

	DefineCustomStringVariable("nexplane.database",
							   "The database where the nexplane extension lives, for its background workers.",
							   NULL, &nx_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "nexplane");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "nx_audit_space_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "nexplane audit space");
	snprintf(worker.bgw_type, BGW_MAXLEN, "nexplane audit space");
	RegisterBackgroundWorker(&worker);
}

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
		RecordPageWithFreeSpace(rel, b, BLCKSZ - SizeOfPageHeaderData);
	/* make the new entries visible to searches from the map's root */
	FreeSpaceMapVacuumRange(rel, first, last + 1);
}

/*
 * One round.  *used_before is the table's used pages (its size less its
 * new pages at the end) as the last round left them; what writers took
 * since then sizes the reserve.
 */
static void
nx_audit_space_round(BlockNumber *used_before)
{
	Oid			nsp,
				relid;
	Relation	rel;
	BlockNumber nblocks,
				used,
				consumed;
	int			want,
				have;

	nsp = get_namespace_oid("nexplane", true);
	relid = OidIsValid(nsp) ? get_relname_relid("audit_events", nsp) : InvalidOid;
	if (!OidIsValid(relid) || !ConditionalLockRelationOid(relid, RowExclusiveLock))
		return;
	/* (dropped between the lookup and the lock: nothing to do) */
	rel = try_relation_open(relid, NoLock);
	if (rel == NULL || rel->rd_rel->relkind != RELKIND_RELATION)
	{
		if (rel)
			relation_close(rel, NoLock);
		UnlockRelationOid(relid, RowExclusiveLock);
		return;
	}
	nblocks = RelationGetNumberOfBlocks(rel);
	have = nx_new_pages_at_end(rel, nblocks, AUDIT_SPACE_MAX_PAGES);
	used = nblocks - have;
	consumed = (*used_before != InvalidBlockNumber && used > *used_before) ? used - *used_before : 0;
	*used_before = used;
	want = Max(AUDIT_SPACE_MIN_PAGES, Min(AUDIT_SPACE_MAX_PAGES, 4 * (int) Min(consumed, AUDIT_SPACE_MAX_PAGES)));
	if (have < want)
		nx_add_pages(rel, want - have);
	relation_close(rel, RowExclusiveLock);
}

PGDLLEXPORT void nx_audit_space_main(Datum arg);

void
nx_audit_space_main(Datum arg)
{
	BlockNumber used_before = InvalidBlockNumber;

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
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		StartTransactionCommand();
		nx_audit_space_round(&used_before);
		CommitTransactionCommand();
	}
}
