/*-------------------------------------------------------------------------
 *
 * worker_common.c
 *	  What every nexplane worker connected to the database checks between
 *	  rounds: whether it should leave, and whether the extension is there.
 *
 * A background worker connected to a database blocks DROP DATABASE, which
 * waits five seconds for other sessions and then fails (PostgreSQL 15 has
 * no way to let it terminate a bgworker).  DROP DATABASE holds an
 * AccessExclusiveLock on the database object before it waits, so a worker
 * that cannot take AccessShareLock on its own database at once knows the
 * database is going (or being renamed or moved, which need it gone too)
 * and leaves; idle workers look every second.  The launcher, which holds
 * no database connection, starts them again later.
 *
 *-------------------------------------------------------------------------
 */
#include "jobs.h"

#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

bool
nx_worker_should_leave(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, MyDatabaseId, 0);
	if (LockAcquire(&tag, AccessShareLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, AccessShareLock, true);
	return false;
}

/*
 * Inside a transaction: is the nexplane extension here, and will it stay
 * for this transaction?  The worker takes AccessShareLock on the
 * extension and on nexplane.jobs without waiting: a DROP EXTENSION that
 * holds either makes the worker skip this round rather than fail on a
 * vanished table, and a DROP EXTENSION that comes later waits for the
 * round's short transaction (it cannot commit, so the worker's catalog
 * stays whole).  The extension first: DROP EXTENSION locks it before any
 * of its tables, so a round that holds it never meets a DROP that holds
 * one of the tables the round goes on to lock (connectors, tenants at
 * commit): those two waited for each other until the deadlock detector
 * ended one.  Returns nexplane.jobs, locked, or InvalidOid.
 */
Oid
nx_worker_extension_ready(void)
{
	Oid			nsp = get_namespace_oid("nexplane", true);
	Oid			ext = get_extension_oid("nexplane", true);
	Oid			jobs;
	LOCKTAG		tag;

	if (!OidIsValid(nsp) || !OidIsValid(ext))
		return InvalidOid;
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, ExtensionRelationId, ext, 0);
	if (LockAcquire(&tag, AccessShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return InvalidOid;
	AcceptInvalidationMessages();
	if (get_extension_oid("nexplane", true) != ext)
		return InvalidOid;		/* dropped before we had it; the lock goes at commit */
	jobs = get_relname_relid("jobs", nsp);
	if (!OidIsValid(jobs) || !ConditionalLockRelationOid(jobs, AccessShareLock))
		return InvalidOid;
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(jobs)))
	{
		UnlockRelationOid(jobs, AccessShareLock);
		return InvalidOid;
	}
	return jobs;
}

/*
 * The same order for a job's other transactions (its load, its steps, its
 * record, a batch of noops): the extension's lock first, waiting for it,
 * before any table's.  A DROP EXTENSION that has it is waited for, holding
 * nothing it needs; if it commits, the job's statements fail on the
 * vanished tables and the job ends in error, as before.
 */
void
nx_worker_lock_extension(void)
{
	Oid			ext = get_extension_oid("nexplane", true);

	if (OidIsValid(ext))
		LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
}
