/*-------------------------------------------------------------------------
 *
 * jobs.h
 *	  The job engine: the launcher, the job workers, the shared slots that
 *	  let a committing enqueuer wake them, and running one job.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_JOBS_H
#define NX_JOBS_H

#include "nexplane.h"

#include "connector.h"
#include "guc.h"

/* job_shmem.c: one slot per job worker */
extern void nx_jobs_shmem_init(void);
extern void nx_jobs_slot_claim(int slot);
extern void nx_jobs_wake_all(void);
extern bool nx_jobs_pid_is_worker(int pid);
extern int	nx_jobs_live_pids(int *pids, int max);

/* event_sequencer.c: numbers the live feed's events (stream_events.c) */
extern void nx_sequencer_shmem_init(void);
extern bool nx_sequencer_wake_at_commit(void);

/* launcher.c */
extern void nx_launcher_register(void);

/* worker_common.c: what every worker in the database checks */
extern bool nx_worker_should_leave(void);
extern Oid	nx_worker_extension_ready(void);	/* nexplane.jobs, locked */
extern void nx_worker_lock_extension(void);

/* A claimed job, as the worker holds it between its transactions. */
typedef struct NxJob
{
	char	   *tenant_id;
	char	   *id;
	char	   *kind;
	char	   *connector_id;
	char	   *change_request_id;	/* or NULL */
	int			attempt;		/* the fence: our claim's attempt number */
	int			max_attempts;
	bool		recovering;		/* a lost change: verify only, then fail */
} NxJob;

/* job_run.c */
extern void nx_job_run(NxJob *job);
extern void nx_job_run_noops(NxJob *jobs, int n);

/* job_finish.c: the writes after a job's network calls */
extern void nx_job_evidence(const NxJob *job, const char *kind, const char *content);
extern bool nx_job_finish(const NxJob *job, const char *state, Jsonb *result, const char *error);
extern void nx_job_requeue(const NxJob *job, int delay_ms, const char *why, bool retry);
extern void nx_breaker_record(const char *tenant_id, const char *connector_id, bool ok,
							  const char *error);

#endif							/* NX_JOBS_H */
