/*-------------------------------------------------------------------------
 *
 * session_revoke.c
 *	  Ending a session from outside a failing transaction.
 *
 * A refresh token presented after it was used has been copied: refresh()
 * refuses it and the whole session must end, so that neither the thief nor
 * the owner keeps tokens of it.  But refresh() fails, and its own writes
 * roll back with it.  So it starts a short-lived background worker that
 * ends the session in a transaction of its own: the session, its refresh
 * tokens, and an audit event saying why.  Registering a worker is not
 * transactional, which is the point.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit.h"
#include "sessions.h"
#include "session_revoke.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/snapmgr.h"

/* What the worker is told, in bgw_extra. */
typedef struct NxRevokeArgs
{
	Oid			dboid;
	pg_uuid_t	tenant_id;
	pg_uuid_t	session_id;
} NxRevokeArgs;

StaticAssertDecl(sizeof(NxRevokeArgs) <= BGW_EXTRALEN, "bgw_extra too small");

void
nx_revoke_session_async(const pg_uuid_t *tenant_id, const pg_uuid_t *session_id)
{
	BackgroundWorker worker = {0};
	NxRevokeArgs args = {0};

	args.dboid = MyDatabaseId;
	args.tenant_id = *tenant_id;
	args.session_id = *session_id;
	snprintf(worker.bgw_name, BGW_MAXLEN, "nexplane session revoke");
	snprintf(worker.bgw_type, BGW_MAXLEN, "nexplane session revoke");
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "nexplane", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "nx_session_revoke_main", BGW_MAXLEN);
	memcpy(worker.bgw_extra, &args, sizeof(args));

	if (!RegisterDynamicBackgroundWorker(&worker, NULL))
		ereport(WARNING,
				(errmsg("could not start a worker to end a session whose refresh token was reused"),
				 errdetail("The session ends when its tokens expire, or at logout."),
				 errhint("Raise max_worker_processes.")));
}

PGDLLEXPORT void nx_session_revoke_main(Datum arg);

void
nx_session_revoke_main(Datum arg)
{
	NxRevokeArgs args;
	char	   *tenant;
	char	   *session;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	tenant = nx_uuid_out(&args.tenant_id);
	session = nx_uuid_out(&args.session_id);
	if (nx_session_end(tenant, session))
	{
		nx_audit_event(tenant, "session.refresh_token_reused", "sessions", session,
					   "{\"revoked\": true}");
		ereport(LOG,
				(errmsg("nexplane: ended session %s of tenant %s: a refresh token was used twice",
						session, tenant)));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	proc_exit(0);
}
