/*-------------------------------------------------------------------------
 *
 * job_noops.c
 *	  Ending a claimed batch's no-op jobs (benchmarks and crash tests queue
 *	  them; no API function does) in one transaction.
 *
 * A no-op has no connector and no network call, so it needs none of
 * job_run.c's transactions around calls: the batch's evidence rows and its
 * ends are two statements for the whole batch, each job behind its own
 * attempt fence.
 *
 *-------------------------------------------------------------------------
 */
#include "jobs.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "pgstat.h"
#include "utils/snapmgr.h"

#include "spi_util.h"

/*
 * The noop jobs of a batch, all in one transaction: nothing to call, so
 * nothing to keep apart; each still leaves its evidence row and its end
 * behind its own fence.  Two statements for the batch, not two per job.
 *
 * The fence is a filter on each running job (its attempt and tenant taken
 * from the arrays at its id's position), not a join to the batch: a
 * join's generic plan was a nested loop over the running jobs
 * (jobs_lease_idx) rescanning the batch for each, building the batch row
 * of every pair for EvalPlanQual (32 x 32 whole-row values and join
 * filters a batch, 29,000 instructions a job).  The filter reads each
 * running job once and builds no row.  The arrays come as text
 * (nx_spi): each cast is its own uncorrelated subquery, an InitPlan run
 * once a statement; "$2::uuid[]" in the filter itself would parse the
 * array again for every running job read.  The content's hash is computed
 * once a batch (OFFSET 0 keeps it a subquery the planner does not pull
 * up into each row; convert_to is not immutable, so it was evaluated per
 * row): every no-op's content is the same.
 */
static const char *const noops_sql =
"WITH e AS (INSERT INTO nexplane.evidence"
"             (tenant_id, job_id, change_request_id, kind, content, sha256)"
"           SELECT f.tenant_id, f.id, f.change_request_id, 'noop', c.content, c.sha256"
"             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS f(tenant_id, id, change_request_id),"
"                  (SELECT x.content, sha256(convert_to(x.content::text, 'UTF8')) AS sha256"
"                     FROM (SELECT '{\"noop\": true}'::jsonb AS content) x OFFSET 0) c)"
" UPDATE nexplane.jobs j"
"    SET state = 'succeeded', result = NULL, error = NULL, finished_at = now(),"
"        lease_until = NULL, progress_percent = 100"
"  WHERE j.state = 'running'"
"    AND j.attempts = (SELECT $4::int[])[array_position((SELECT $2::uuid[]), j.id)]"
"    AND j.tenant_id = (SELECT $1::uuid[])[array_position((SELECT $2::uuid[]), j.id)]";

static void
nx_array_add(StringInfo buf, const char *value)
{
	appendStringInfoString(buf, buf->len > 1 ? "," : "");
	appendStringInfoString(buf, value ? value : "NULL");
}

void
nx_job_run_noops(NxJob *jobs, int n)
{
	StringInfoData arr[4];
	const char *args[4];
	int			count = 0;

	for (int i = 0; i < n; i++)
		count += strcmp(jobs[i].kind, "noop") == 0;
	if (count == 0)
		return;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	nx_worker_lock_extension();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "nexplane: noop jobs");
	/* in SPI's memory, gone at SPI_finish */
	for (int a = 0; a < 4; a++)
	{
		initStringInfo(&arr[a]);
		appendStringInfoChar(&arr[a], '{');
	}
	for (int i = 0; i < n; i++)
		if (strcmp(jobs[i].kind, "noop") == 0)
		{
			nx_array_add(&arr[0], jobs[i].tenant_id);
			nx_array_add(&arr[1], jobs[i].id);
			nx_array_add(&arr[2], jobs[i].change_request_id);
			nx_array_add(&arr[3], psprintf("%d", jobs[i].attempt));
		}
	for (int a = 0; a < 4; a++)
	{
		appendStringInfoChar(&arr[a], '}');
		args[a] = arr[a].data;
	}
	nx_spi(noops_sql, 4, args);
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
}
