/*-------------------------------------------------------------------------
 *
 * job_worker.c
 *	  A "nexplane job worker": recovers lost jobs, claims due ones, runs
 *	  them, and sleeps until an enqueue wakes it.
 *
 * A round is one short transaction: recover what lost its worker, then
 * claim a batch with FOR UPDATE SKIP LOCKED, each claim taking the next
 * attempt number as its fence (every later write of the job names it, so
 * a worker that lost its lease cannot finish a job another has taken
 * over).  The jobs then run one by one, each in its own transactions
 * around the network calls (job_run.c), never inside one.
 *
 * Fairness: the batch is shared among the tenants with queued jobs, an
 * equal part each, starting from a random tenant, so one tenant's burst
 * of ten thousand jobs delays another tenant's job by one batch, not by
 * the burst.  Changes (execute_change, rollback_change) are claimed one
 * at a time and never while another change runs on the same connector: a
 * partial unique index (jobs_one_change_idx) makes that hold even when two
 * workers race, and the loser's round is simply retried.
 *
 * Lost jobs: a running job whose lease ran out, or whose worker_pid is no
 * live job worker's (after a crash restart).  Idempotent kinds go back to
 * the queue with exponential backoff and jitter until max_attempts; a
 * change is claimed for recovery (job_run.c asks the connector's verify
 * what the target shows, records it, and fails the change as "outcome
 * unknown"): it is never run again.  A change waits for its lease to run
 * out even when its worker is dead: the dead worker's call may still be
 * running on the target until its deadline, which falls within the lease.
 *
 *-------------------------------------------------------------------------
 */
#include "jobs.h"

#include "access/relation.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "spi_util.h"

#define NX_CLAIM_BATCH		32
#define NX_IDLE_CHECK_MS	1000

/* The round's SQL is nexplane._jobs_claim (extension/sql/api/90_jobs.sql). */
static const char *const claim_sql =
"SELECT tenant_id, id, kind, connector_id, change_request_id, attempt, max_attempts, recovering"
"  FROM nexplane._jobs_claim($1::int, NULL, $2::int, $3::int)";

static const char *const next_due_sql = "SELECT nexplane._jobs_next_due_ms()";

static MemoryContext round_cxt = NULL;

/* the fewest blocks nexplane.jobs had since the worker last dropped its plans */
static BlockNumber plans_smallest = InvalidBlockNumber;

static char *
nx_keep(const char *s)
{
	return s ? MemoryContextStrdup(round_cxt, s) : NULL;
}

/* Append the jobs in SPI_tuptable to jobs[*n]. */
static void
nx_collect(NxJob *jobs, int *n, int max)
{
	for (uint64 r = 0; r < SPI_processed && *n < max; r++)
	{
		NxJob	   *j = &jobs[(*n)++];

		j->tenant_id = nx_keep(nx_spi_get(r, 1));
		j->id = nx_keep(nx_spi_get(r, 2));
		j->kind = nx_keep(nx_spi_get(r, 3));
		j->connector_id = nx_keep(nx_spi_get(r, 4));
		j->change_request_id = nx_keep(nx_spi_get(r, 5));
		j->attempt = pg_strtoint32(nx_spi_get(r, 6));
		j->max_attempts = pg_strtoint32(nx_spi_get(r, 7));
		j->recovering = strcmp(nx_spi_get(r, 8), "t") == 0;
	}
}

/*
 * One round's transaction: recover, claim.  Returns the number of jobs
 * claimed into jobs[], and in *next_due_ms when to look again if none.
 */
static int
nx_worker_round(NxJob *jobs, long *next_due_ms)
{
	int			n = 0;
	char		lease[16],
				pid[16],
				batch[16];
	const char *args[] = {pid, lease, batch};

	snprintf(lease, sizeof(lease), "%d", nx_job_lease);
	snprintf(pid, sizeof(pid), "%d", MyProcPid);
	snprintf(batch, sizeof(batch), "%d", NX_CLAIM_BATCH);
	nx_spi(claim_sql, 3, args);
	nx_collect(jobs, &n, NX_CLAIM_BATCH);
	*next_due_ms = -1;
	if (n == 0)
	{
		char	   *due;

		nx_spi(next_due_sql, 0, NULL);
		due = nx_spi_get(0, 1);
		if (due)
			*next_due_ms = atol(due);
	}
	return n;
}

/*
 * Plans that follow the queue.  The worker's statements keep their plans
 * (the plan cache: nx_spi's, plpgsql's, the triggers'), and a plan made
 * while the queue was empty stays when a burst of ten thousand jobs
 * comes, until autovacuum's next ANALYZE: a sequential scan of jobs for
 * each job or round, or a nested loop over them.  So once the table has
 * more than doubled since the smallest it was while these plans were
 * made, the worker drops its plans, and the statements are planned again
 * for the table as it is.  It costs an lseek a round, and a few plannings
 * each time the queue doubles.
 */
static void
nx_plans_follow_queue(Oid jobs)
{
	Relation	rel = relation_open(jobs, NoLock);	/* locked by nx_worker_extension_ready */
	BlockNumber n = RelationGetNumberOfBlocks(rel);

	relation_close(rel, NoLock);
	if (plans_smallest == InvalidBlockNumber || n < plans_smallest)
		plans_smallest = n;
	else if (n > 2 * plans_smallest + 8)
	{
		ResetPlanCache();
		plans_smallest = n;
	}
}

PGDLLEXPORT void nx_job_worker_main(Datum arg);

void
nx_job_worker_main(Datum arg)
{
	int			slot = DatumGetInt32(arg);
	NxJob		jobs[NX_CLAIM_BATCH];
	sigjmp_buf	local_sigjmp_buf;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(nx_database, NULL, 0);
	nx_jobs_slot_claim(slot);
	pgstat_report_appname("nexplane job worker");
	round_cxt = AllocSetContextCreate(TopMemoryContext, "nexplane job round",
									  ALLOCSET_DEFAULT_SIZES);

	/*
	 * An error in a round (two workers raced for one connector's change, a
	 * table went with DROP EXTENSION) ends the round, not the worker: the
	 * way autovacuum recovers, then a pause.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		/* not in PG_TRY: the error context stack points at dead frames */
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		AbortOutOfAnyTransaction();
		FlushErrorState();
		MemoryContextSwitchTo(TopMemoryContext);
		RESUME_INTERRUPTS();
		pg_usleep(100000L);
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		int			n = 0;
		long		wait_ms = NX_IDLE_CHECK_MS;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (nx_worker_should_leave())
			proc_exit(0);
		MemoryContextReset(round_cxt);

		/*
		 * The table statistics of what the last rounds did, which a
		 * background worker must send itself (a backend does it when idle):
		 * without this they went only at the worker's exit, so autovacuum
		 * never counted the workers' updates of jobs (jobs was vacuumed for
		 * its enqueues' inserts alone, and analyzed for them) nor the rows
		 * they insert into evidence and audit_events, which it therefore
		 * never vacuumed or analyzed: 10,000 jobs run showed 0 rows
		 * inserted into evidence.  Sent at most once a second
		 * (PGSTAT_MIN_INTERVAL); a clock check otherwise.
		 */
		pgstat_report_stat(false);

		if (!RecoveryInProgress())
		{
			long		next_due = -1;
			Oid			jobs_rel;

			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			jobs_rel = nx_worker_extension_ready();
			if (OidIsValid(jobs_rel))
			{
				nx_plans_follow_queue(jobs_rel);
				SPI_connect();
				PushActiveSnapshot(GetTransactionSnapshot());
				pgstat_report_activity(STATE_RUNNING, "nexplane: claiming jobs");
				n = nx_worker_round(jobs, &next_due);
				PopActiveSnapshot();
				SPI_finish();
			}
			CommitTransactionCommand();
			if (next_due >= 0)
				wait_ms = Min(wait_ms, next_due);
		}

		nx_job_run_noops(jobs, n);
		for (int i = 0; i < n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (strcmp(jobs[i].kind, "noop") != 0)
				nx_job_run(&jobs[i]);
		}
		if (n > 0)
			continue;

		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(wait_ms, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
