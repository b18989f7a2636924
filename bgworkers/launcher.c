/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The "nexplane launcher": starts and watches nexplane's workers in the
 *	  database nexplane.database names: nexplane.job_workers job workers,
 *	  the audit space worker and the event sequencer.
 *
 * The launcher itself connects to no database, so it never stands in the
 * way of DROP DATABASE; the workers leave when a DROP DATABASE waits for
 * them (worker_common.c) and the launcher starts them again, backing off
 * up to a minute while they keep stopping soon after they start (the
 * database is gone, or the extension's library cannot run there).
 *
 * It is a static worker started once recovery has finished, so nothing of
 * nexplane's runs on a standby; a promoted standby starts it.  The workers
 * it starts are dynamic and never restarted by the postmaster: after a
 * crash restart the postmaster forgets them and the new launcher starts a
 * fresh set, so there is never more than one per slot.
 *
 *-------------------------------------------------------------------------
 */
#include "jobs.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

#define NX_LAUNCHER_NAP_MS		1000
#define NX_RESTART_MIN_MS		1000
#define NX_RESTART_MAX_MS		60000
#define NX_SHORT_LIFE_MS		10000

typedef struct NxChild
{
	BackgroundWorkerHandle *handle;
	TimestampTz started_at;
	int			backoff_ms;
} NxChild;

void
nx_launcher_register(void)
{
	BackgroundWorker worker = {0};

	if (!process_shared_preload_libraries_in_progress)
		return;
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 10;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "nexplane");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "nx_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "nexplane launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "nexplane launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * Start child i: slot i < nx_job_workers is a job worker, then come the
 * audit space worker and the event sequencer.
 */
static void
nx_launcher_start(NxChild *child, int i)
{
	BackgroundWorker worker = {0};
	bool		audit = (i == nx_job_workers);
	bool		sequencer = (i == nx_job_workers + 1);

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_notify_pid = MyProcPid;
	worker.bgw_main_arg = Int32GetDatum(i);
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "nexplane");
	if (audit)
	{
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "nx_audit_space_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "nexplane audit space");
		snprintf(worker.bgw_type, BGW_MAXLEN, "nexplane audit space");
	}
	else if (sequencer)
	{
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "nx_event_sequencer_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "nexplane event sequencer");
		snprintf(worker.bgw_type, BGW_MAXLEN, "nexplane event sequencer");
	}
	else
	{
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "nx_job_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "nexplane job worker %d", i);
		snprintf(worker.bgw_type, BGW_MAXLEN, "nexplane job worker");
	}
	child->started_at = GetCurrentTimestamp();
	if (!RegisterDynamicBackgroundWorker(&worker, &child->handle))
	{
		child->handle = NULL;
		ereport(WARNING,
				(errmsg("nexplane launcher could not start \"%s\"", worker.bgw_name),
				 errhint("Raise max_worker_processes: nexplane needs nexplane.job_workers + 3.")));
	}
}

PGDLLEXPORT void nx_launcher_main(Datum arg);

void
nx_launcher_main(Datum arg)
{
	int			nchildren = nx_job_workers + 2;
	NxChild    *children = palloc0(sizeof(NxChild) * nchildren);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	pgstat_report_appname("nexplane launcher");

	for (int i = 0; i < nchildren; i++)
		children[i].backoff_ms = NX_RESTART_MIN_MS;

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();

		for (int i = 0; i < nchildren; i++)
		{
			NxChild    *c = &children[i];
			pid_t		pid;

			if (c->handle && GetBackgroundWorkerPid(c->handle, &pid) != BGWH_STOPPED)
				continue;
			if (c->handle)
			{
				/* it stopped: back off if it did not live long */
				pfree(c->handle);
				c->handle = NULL;
				if (TimestampDifferenceExceeds(c->started_at, now, NX_SHORT_LIFE_MS))
					c->backoff_ms = NX_RESTART_MIN_MS;
				else
					c->backoff_ms = Min(c->backoff_ms * 2, NX_RESTART_MAX_MS);
			}
			if (c->started_at == 0 ||
				TimestampDifferenceExceeds(c->started_at, now, c->backoff_ms))
				nx_launcher_start(c, i);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 NX_LAUNCHER_NAP_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}
