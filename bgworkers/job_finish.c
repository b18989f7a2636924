/*-------------------------------------------------------------------------
 *
 * job_finish.c
 *	  What a job leaves behind once its network calls are done: evidence,
 *	  its final state, and its connector's health (the circuit breaker).
 *	  Everything here runs inside the caller's transaction and SPI.
 *
 * Every write to a job names the attempt that claimed it (the fence), so a
 * worker that lost its lease and came back late changes nothing.
 *
 * The circuit breaker: five consecutive failed jobs of a connector open
 * it for 30 s; a job due while it is open waits (requeued to the time it
 * closes, the reason in its error); the first job after that is the trial:
 * success closes it, failure opens it again for twice as long, up to
 * 15 min.  connector_get shows its state.
 *
 *-------------------------------------------------------------------------
 */
#include "jobs.h"

#include "executor/spi.h"
#include "utils/jsonb.h"

#include "spi_util.h"

static char *
nx_jsonb_text(Jsonb *jb)
{
	return jb ? JsonbToCString(NULL, &jb->root, VARSIZE(jb)) : NULL;
}

static char *
nx_int_text(int n)
{
	return psprintf("%d", n);
}

/* Immutable evidence: content (JSON, no secret in it) and its SHA-256. */
void
nx_job_evidence(const NxJob *job, const char *kind, const char *content)
{
	const char *args[] = {job->tenant_id, job->id, job->change_request_id, kind,
	content ? content : "{}"};

	nx_spi("INSERT INTO nexplane.evidence (tenant_id, job_id, change_request_id, kind, content, sha256)"
		   " VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5::jsonb,"
		   "         sha256(convert_to($5::jsonb::text, 'UTF8')))", 5, args);
}

/* The job's end; false if the fence says another attempt owns it now. */
bool
nx_job_finish(const NxJob *job, const char *state, Jsonb *result, const char *error)
{
	const char *args[] = {job->tenant_id, job->id, nx_int_text(job->attempt), state,
	nx_jsonb_text(result), error};

	return nx_spi("UPDATE nexplane.jobs"
				  "   SET state = $4, result = $5::jsonb, error = $6, finished_at = now(),"
				  "       lease_until = NULL, progress_percent = CASE WHEN $4 = 'succeeded'"
				  "       THEN 100 ELSE progress_percent END"
				  " WHERE tenant_id = $1::uuid AND id = $2::uuid AND state = 'running'"
				  "   AND attempts = $3::int", 6, args) == 1;
}

/*
 * Back to the queue after delay_ms: a retry (+-25% jitter, so that jobs
 * that failed together do not come back together) keeps its attempt; a
 * wait for an open breaker gives its attempt back, since nothing was
 * tried.
 */
void
nx_job_requeue(const NxJob *job, int delay_ms, const char *why, bool retry)
{
	const char *args[] = {job->tenant_id, job->id, nx_int_text(job->attempt),
	nx_int_text(delay_ms), why, retry ? "t" : "f"};

	nx_spi("UPDATE nexplane.jobs"
		   "   SET state = 'queued', error = $5, lease_until = NULL, worker_pid = NULL,"
		   "       run_after = now() + $4::int * interval '1 ms'"
		   "                   * CASE WHEN $6::bool THEN 0.75 + random() / 2 ELSE 1 END,"
		   "       attempts = CASE WHEN $6::bool THEN attempts ELSE attempts - 1 END"
		   " WHERE tenant_id = $1::uuid AND id = $2::uuid AND state = 'running'"
		   "   AND attempts = $3::int", 6, args);
}

void
nx_breaker_record(const char *tenant_id, const char *connector_id, bool ok, const char *error)
{
	const char *args[] = {tenant_id, connector_id, ok ? "t" : "f", error};

	nx_spi("UPDATE nexplane.connectors c"
		   "   SET last_run_at = now(),"
		   "       last_success_at = CASE WHEN $3::bool THEN now() ELSE c.last_success_at END,"
		   "       last_error = CASE WHEN $3::bool THEN NULL ELSE left($4, 1000) END,"
		   "       failures = CASE WHEN $3::bool THEN 0 ELSE c.failures + 1 END,"
		   "       breaker_seconds = CASE WHEN $3::bool THEN NULL"
		   "                              WHEN c.failures + 1 >= 5"
		   "                              THEN least(900, coalesce(c.breaker_seconds * 2, 30))"
		   "                              ELSE c.breaker_seconds END,"
		   "       breaker_until = CASE WHEN $3::bool THEN NULL"
		   "                            WHEN c.failures + 1 >= 5"
		   "                            THEN now() + least(900, coalesce(c.breaker_seconds * 2, 30))"
		   "                                         * interval '1 s'"
		   "                            ELSE c.breaker_until END"
		   " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 4, args);
}
