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
#include "commands/extension.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
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
 * extension's own object without waiting.  DROP EXTENSION locks that
 * object before any of the extension's tables, so a DROP that holds it
 * makes the worker skip this round, and a DROP that comes later waits at
 * that lock for the round's short transaction, before it holds anything
 * the worker could need: the two never deadlock, and the worker never
 * meets a vanished table.
 */
bool
nx_worker_extension_ready(void)
{
	Oid			ext = get_extension_oid("nexplane", true);
	LOCKTAG		tag;

	if (!OidIsValid(ext))
		return false;
	SET_LOCKTAG_OBJECT(tag, MyDatabaseId, ExtensionRelationId, ext, 0);
	if (LockAcquire(&tag, AccessShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	/* it may have gone between the look-up and the lock */
	if (!OidIsValid(get_extension_oid("nexplane", true)))
	{
		LockRelease(&tag, AccessShareLock, false);
		return false;
	}
	return true;
}
