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
#include "storage/lock.h"

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

/* Inside a transaction: is the nexplane extension installed here? */
bool
nx_worker_extension_ready(void)
{
	return OidIsValid(get_extension_oid("nexplane", true));
}
