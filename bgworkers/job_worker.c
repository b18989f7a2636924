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
 * unknown"): it is never run again.
 *
 *-------------------------------------------------------------------------
 */
#include "jobs.h"

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
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "spi_util.h"

#define NX_CLAIM_BATCH		32
#define NX_FAIR_TENANTS		64
#define NX_RECOVER_BATCH	16
#define NX_IDLE_CHECK_MS	1000

/* The tenants with queued jobs, from a random one on, at most NX_FAIR_TENANTS. */
static const char *const due_tenants_sql =
"SELECT nexplane._jobs_queued_tenants($1::int)";

static const char *const claim_sql =
"WITH c AS ("
"  SELECT q.tenant_id, q.id FROM unnest($1::uuid[]) AS t(tenant_id),"
"   LATERAL (SELECT j.tenant_id, j.id FROM nexplane.jobs j"
"             WHERE j.tenant_id = t.tenant_id AND j.state = 'queued'"
"               AND j.run_after <= now()"
"               AND j.kind NOT IN ('execute_change', 'rollback_change')"
"             ORDER BY j.priority DESC, j.run_after"
"             LIMIT $2::int FOR UPDATE SKIP LOCKED) q"
"  LIMIT $3::int)"
" UPDATE nexplane.jobs j"
"    SET state = 'running', attempts = j.attempts + 1,"
"        lease_until = now() + $4::int * interval '1 s', worker_pid = $5::int,"
"        started_at = coalesce(j.started_at, now())"
"   FROM c WHERE j.tenant_id = c.tenant_id AND j.id = c.id"
" RETURNING j.tenant_id, j.id, j.kind, j.connector_id, j.change_request_id,"
"           j.attempts, j.max_attempts, false";

static const char *const claim_change_sql =
"WITH c AS ("
"  SELECT j.tenant_id, j.id FROM nexplane.jobs j"
"   WHERE j.state = 'queued' AND j.kind IN ('execute_change', 'rollback_change')"
"     AND j.run_after <= now()"
"     AND NOT EXISTS (SELECT 1 FROM nexplane.jobs r"
"                      WHERE r.tenant_id = j.tenant_id AND r.connector_id = j.connector_id"
"                        AND r.state = 'running'"
"                        AND r.kind IN ('execute_change', 'rollback_change'))"
"   ORDER BY j.priority DESC, j.run_after"
"   LIMIT 1 FOR UPDATE SKIP LOCKED)"
" UPDATE nexplane.jobs j"
"    SET state = 'running', attempts = j.attempts + 1,"
"        lease_until = now() + $1::int * interval '1 s', worker_pid = $2::int,"
"        started_at = coalesce(j.started_at, now())"
"   FROM c WHERE j.tenant_id = c.tenant_id AND j.id = c.id"
" RETURNING j.tenant_id, j.id, j.kind, j.connector_id, j.change_request_id,"
"           j.attempts, j.max_attempts, false";

/*
 * Lost idempotent jobs: back to the queue after 2 s, 4 s, 8 s ... (at most
 * 5 min), +-25% jitter, or failed once max_attempts were made.
 */
static const char *const requeue_lost_sql =
"UPDATE nexplane.jobs j"
"   SET state = CASE WHEN j.attempts < j.max_attempts THEN 'queued' ELSE 'failed' END,"
"       run_after = now() + least(300000, 2000 * 2 ^ (j.attempts - 1))"
"                           * (0.75 + random() / 2) * interval '1 ms',"
"       finished_at = CASE WHEN j.attempts < j.max_attempts THEN NULL ELSE now() END,"
"       error = format('the worker was lost during attempt %s of %s', j.attempts, j.max_attempts),"
"       lease_until = NULL, worker_pid = NULL"
" WHERE (j.tenant_id, j.id) IN ("
"   SELECT l.tenant_id, l.id FROM nexplane.jobs l"
"    WHERE l.state = 'running' AND l.kind NOT IN ('execute_change', 'rollback_change')"
"      AND (l.lease_until < now() OR l.worker_pid <> ALL ($1::int[]))"
"    LIMIT $2::int FOR UPDATE SKIP LOCKED)";

/* Lost changes: claimed again, for recovery only. */
static const char *const claim_lost_change_sql =
"UPDATE nexplane.jobs j"
"   SET attempts = j.attempts + 1, lease_until = now() + $3::int * interval '1 s',"
"       worker_pid = $4::int"
" WHERE (j.tenant_id, j.id) IN ("
"   SELECT l.tenant_id, l.id FROM nexplane.jobs l"
"    WHERE l.state = 'running' AND l.kind IN ('execute_change', 'rollback_change')"
"      AND (l.lease_until < now() OR l.worker_pid <> ALL ($1::int[]))"
"    LIMIT $2::int FOR UPDATE SKIP LOCKED)"
" RETURNING j.tenant_id, j.id, j.kind, j.connector_id, j.change_request_id,"
"           j.attempts, j.max_attempts, true";

/* The soonest a queued job becomes due, in ms from now (NULL: none). */
static const char *const next_due_sql =
"SELECT ceil(extract(epoch FROM min(run_after) - now()) * 1000)::bigint"
"  FROM nexplane.jobs WHERE state = 'queued'";

static MemoryContext round_cxt = NULL;

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

static char *
nx_live_pids_array(void)
{
	int			pids[NX_MAX_JOB_WORKERS];
	int			n = nx_jobs_live_pids(pids, NX_MAX_JOB_WORKERS);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%d", i ? "," : "", pids[i]);
	appendStringInfoChar(&buf, '}');
	return buf.data;
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
				batch[16],
				per_tenant[16],
				recover_max[16],
				fair[16];
	char	   *live = nx_live_pids_array();

	snprintf(lease, sizeof(lease), "%d", nx_job_lease);
	snprintf(pid, sizeof(pid), "%d", MyProcPid);
	snprintf(recover_max, sizeof(recover_max), "%d", NX_RECOVER_BATCH);
	snprintf(fair, sizeof(fair), "%d", NX_FAIR_TENANTS);

	{
		const char *args[] = {live, recover_max};

		nx_spi(requeue_lost_sql, 2, args);
	}
	{
		const char *args[] = {live, recover_max, lease, pid};

		nx_spi(claim_lost_change_sql, 4, args);
		nx_collect(jobs, &n, NX_CLAIM_BATCH);
	}
	if (n == 0)
	{
		const char *args[] = {lease, pid};

		nx_spi(claim_change_sql, 2, args);
		nx_collect(jobs, &n, NX_CLAIM_BATCH);
	}
	{
		const char *args1[] = {fair};
		char	   *tenants;
		int			ntenants;

		nx_spi(due_tenants_sql, 1, args1);
		tenants = nx_spi_get(0, 1);
		ntenants = tenants && strlen(tenants) > 2 ? 1 : 0;
		for (const char *p = tenants; ntenants && *p; p++)
			ntenants += (*p == ',');
		if (ntenants > 0 && n < NX_CLAIM_BATCH)
		{
			const char *args[] = {tenants, per_tenant, batch, lease, pid};

			snprintf(per_tenant, sizeof(per_tenant), "%d",
					 Max(1, (NX_CLAIM_BATCH - n + ntenants - 1) / ntenants));
			snprintf(batch, sizeof(batch), "%d", NX_CLAIM_BATCH - n);
			nx_spi(claim_sql, 5, args);
			nx_collect(jobs, &n, NX_CLAIM_BATCH);
		}
	}
	*next_due_ms = -1;
	if (n == 0)
	{
		char	   *due;

		nx_spi(next_due_sql, 0, NULL);
		due = nx_spi_get(0, 1);
		if (due)
			*next_due_ms = Max(0, atol(due));
	}
	return n;
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

		if (!RecoveryInProgress())
		{
			long		next_due = -1;

			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			if (nx_worker_extension_ready())
			{
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
