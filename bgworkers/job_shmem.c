/*-------------------------------------------------------------------------
 *
 * job_shmem.c
 *	  The job workers' slots in shared memory, and waking them at commit.
 *
 * Each job worker owns one slot (its index is its bgw_main_arg) where it
 * leaves its pid and PGPROC number.  An enqueuer wakes the workers by
 * setting their latches, but only once its transaction commits: a
 * statement trigger on nexplane.jobs (_jobs_wake) marks the transaction,
 * and a transaction callback sets the latches at commit, so a worker never
 * wakes to a row it cannot yet see and a rolled-back enqueue wakes nobody.
 * The slots are also the truth about which workers are alive: recovery
 * treats a running job whose worker_pid is in no slot as lost (a crash
 * restart clears the slots with the rest of shared memory).
 *
 *-------------------------------------------------------------------------
 */
#include "jobs.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "catalog/pg_type.h"
#include "utils/array.h"

typedef struct NxJobSlot
{
	pid_t		pid;			/* 0: free */
	int			procno;
} NxJobSlot;

typedef struct NxJobShared
{
	slock_t		mutex;
	NxJobSlot	slots[NX_MAX_JOB_WORKERS];
} NxJobShared;

static NxJobShared *shared = NULL;
static int	my_slot = -1;
static bool wake_at_commit = false;
static bool xact_callback_registered = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
nx_jobs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(NxJobShared)));
}

static void
nx_jobs_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("nexplane job workers", sizeof(NxJobShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(NxJobShared));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
nx_jobs_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = nx_jobs_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = nx_jobs_shmem_startup;
}

static void
nx_jobs_slot_release(int code, Datum arg)
{
	SpinLockAcquire(&shared->mutex);
	if (shared->slots[my_slot].pid == MyProcPid)
		shared->slots[my_slot].pid = 0;
	SpinLockRelease(&shared->mutex);
}

/* A job worker takes its slot at start and gives it back on exit. */
void
nx_jobs_slot_claim(int slot)
{
	Assert(slot >= 0 && slot < NX_MAX_JOB_WORKERS);
	my_slot = slot;
	SpinLockAcquire(&shared->mutex);
	shared->slots[slot].pid = MyProcPid;
	shared->slots[slot].procno = MyProc->pgprocno;
	SpinLockRelease(&shared->mutex);
	on_shmem_exit(nx_jobs_slot_release, 0);
}

void
nx_jobs_wake_all(void)
{
	int			procnos[NX_MAX_JOB_WORKERS];
	int			n = 0;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < NX_MAX_JOB_WORKERS; i++)
		if (shared->slots[i].pid != 0)
			procnos[n++] = shared->slots[i].procno;
	SpinLockRelease(&shared->mutex);
	/* a latch of a proc that just exited is harmless to set */
	for (int i = 0; i < n; i++)
		SetLatch(&ProcGlobal->allProcs[procnos[i]].procLatch);
}

/* The pids of the job workers alive now; returns how many. */
int
nx_jobs_live_pids(int *pids, int max)
{
	int			n = 0;

	if (shared == NULL)
		return 0;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < NX_MAX_JOB_WORKERS && n < max; i++)
		if (shared->slots[i].pid != 0)
			pids[n++] = shared->slots[i].pid;
	SpinLockRelease(&shared->mutex);
	return n;
}

/*
 * nexplane._jobs_live_pids() returns the live job workers' pids, for the
 * claim to read after its statement's snapshot (90_jobs.sql says why).
 */
PG_FUNCTION_INFO_V1(nx_jobs_live_pids_sql);
Datum
nx_jobs_live_pids_sql(PG_FUNCTION_ARGS)
{
	int			pids[NX_MAX_JOB_WORKERS];
	Datum		elems[NX_MAX_JOB_WORKERS];
	int			n = nx_jobs_live_pids(pids, NX_MAX_JOB_WORKERS);

	for (int i = 0; i < n; i++)
		elems[i] = Int32GetDatum(pids[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, INT4OID, sizeof(int32), true,
										  TYPALIGN_INT));
}

bool
nx_jobs_pid_is_worker(int pid)
{
	int			pids[NX_MAX_JOB_WORKERS];
	int			n = nx_jobs_live_pids(pids, NX_MAX_JOB_WORKERS);

	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

static void
nx_jobs_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				nx_jobs_wake_all();
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
 * _jobs_wake(): AFTER INSERT OR UPDATE ... FOR EACH STATEMENT on
 * nexplane.jobs.  Marks the transaction; the callback wakes at commit.
 */
PG_FUNCTION_INFO_V1(nx_jobs_wake_trigger);
Datum
nx_jobs_wake_trigger(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "_jobs_wake must be called as a trigger");
	if (!xact_callback_registered)
	{
		RegisterXactCallback(nx_jobs_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
	return PointerGetDatum(NULL);
}

/* _jobs_wake_now(): for tests and the clock; wakes every worker. */
PG_FUNCTION_INFO_V1(nx_jobs_wake_now);
Datum
nx_jobs_wake_now(PG_FUNCTION_ARGS)
{
	nx_jobs_wake_all();
	PG_RETURN_VOID();
}
