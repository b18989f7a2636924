/*-------------------------------------------------------------------------
 *
 * event_sequencer.c
 *	  The "nexplane event sequencer": numbers the live feed's staged events
 *	  per tenant, and tells listeners.
 *
 * Writers stage their events in stream_events_pending as each statement
 * ends (extension/stream_events.c) and, once committed, set this worker's
 * latch (a transaction callback, as the job workers are woken).  Each
 * round numbers every committed pending event of every tenant, in one
 * transaction (nexplane._stream_events_number()), and sends one empty
 * NOTIFY on nexplane_events with its commit.  So writers never wait for
 * each other on a tenant's head row, and only this worker pays for
 * PostgreSQL's NOTIFY lock, once a round however many events it numbered.
 *
 * It also sends the cue when it was woken but found nothing left to
 * number: a reader (events_since) may have numbered the events first, and
 * the other streams still need to hear of them.  Without a wake-up it
 * looks once a second.  A tenant whose head row another transaction holds
 * (a reader numbering) is skipped until the next round.
 *
 * Its slot in shared memory says which database it serves; a writer in
 * any other database finds no sequencer there and notifies by itself.
 *
 *-------------------------------------------------------------------------
 */
#include "jobs.h"

#include "spi_util.h"

#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/snapmgr.h"

#define NX_SEQUENCER_NAP_MS 1000

typedef struct NxSequencerShared
{
	slock_t		mutex;
	pid_t		pid;			/* 0: not running */
	int			procno;
	Oid			dbid;
} NxSequencerShared;

static NxSequencerShared *shared = NULL;
static bool wake_at_commit = false;
static bool xact_callback_registered = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
nx_sequencer_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(NxSequencerShared)));
}

static void
nx_sequencer_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("nexplane event sequencer", sizeof(NxSequencerShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(NxSequencerShared));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
nx_sequencer_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = nx_sequencer_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = nx_sequencer_shmem_startup;
}

static void
nx_sequencer_xact_callback(XactEvent event, void *arg)
{
	int			procno = -1;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit && shared)
			{
				SpinLockAcquire(&shared->mutex);
				if (shared->pid != 0)
					procno = shared->procno;
				SpinLockRelease(&shared->mutex);
				/* a latch of a proc that just exited is harmless to set */
				if (procno >= 0)
					SetLatch(&ProcGlobal->allProcs[procno].procLatch);
			}
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * A writer that staged an event: is there a sequencer for this database?
 * If so it is woken when the transaction commits, and true is returned;
 * false means the writer must notify listeners itself.
 */
bool
nx_sequencer_wake_at_commit(void)
{
	bool		here;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	here = shared->pid != 0 && shared->dbid == MyDatabaseId;
	SpinLockRelease(&shared->mutex);
	if (!here)
		return false;
	if (!xact_callback_registered)
	{
		RegisterXactCallback(nx_sequencer_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
	return true;
}

static void
nx_sequencer_release(int code, Datum arg)
{
	SpinLockAcquire(&shared->mutex);
	if (shared->pid == MyProcPid)
		shared->pid = 0;
	SpinLockRelease(&shared->mutex);
}

/* One round: number what is pending, cue the listeners. */
static void
nx_sequencer_round(bool woken)
{
	int64		numbered = 0;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (OidIsValid(nx_worker_extension_ready()))
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		SPI_connect();
		pgstat_report_activity(STATE_RUNNING, "nexplane event sequencer round");
		if (nx_spi("SELECT nexplane._stream_events_number()", 0, NULL) == 1)
			numbered = atoll(nx_spi_get(0, 1));
		SPI_finish();
		PopActiveSnapshot();
		if (numbered > 0 || woken)
			Async_Notify("nexplane_events", "");
	}
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

PGDLLEXPORT void nx_event_sequencer_main(Datum arg);

void
nx_event_sequencer_main(Datum arg)
{
	bool		woken = true;	/* at start: whatever was left from before */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(nx_database, NULL, 0);
	pgstat_report_appname("nexplane event sequencer");

	SpinLockAcquire(&shared->mutex);
	shared->pid = MyProcPid;
	shared->procno = MyProc->pgprocno;
	shared->dbid = MyDatabaseId;
	SpinLockRelease(&shared->mutex);
	on_shmem_exit(nx_sequencer_release, 0);

	for (;;)
	{
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (nx_worker_should_leave())
			proc_exit(0);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		nx_sequencer_round(woken);
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   NX_SEQUENCER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		woken = (rc & WL_LATCH_SET) != 0;
	}
}
