/*-------------------------------------------------------------------------
 *
 * login_throttle.c
 *	  Lock an account after repeated failed logins, with growing back-off.
 *
 * A failed login raises an ERROR, which rolls back anything it wrote, so
 * the failure count cannot live in a table.  It lives in shared memory,
 * keyed by a hash of the lower-cased email: unknown emails are throttled
 * exactly like real ones, so the lock reveals nothing about who exists.
 * After NX_THROTTLE_FREE failures in a row the account is locked for 30 s,
 * doubling with each further failure up to one hour.  A restart forgets
 * the counts; a full table stops tracking new emails and says so in the log.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"
#include "login_throttle.h"

#include "catalog/pg_collation.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"

#define NX_THROTTLE_ENTRIES 8192
#define NX_THROTTLE_FREE 5
#define NX_THROTTLE_BASE_SECS 30
#define NX_THROTTLE_MAX_SECS 3600

typedef struct NxThrottleKey
{
	unsigned char h[16];
} NxThrottleKey;

typedef struct NxThrottleEntry
{
	NxThrottleKey key;
	int			failures;
	TimestampTz locked_until;
} NxThrottleEntry;

static HTAB *throttle_htab = NULL;
static LWLock *throttle_lock = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
nx_throttle_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(hash_estimate_size(NX_THROTTLE_ENTRIES,
											  sizeof(NxThrottleEntry)));
	RequestNamedLWLockTranche("nexplane_login_throttle", 1);
}

static void
nx_throttle_shmem_startup(void)
{
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	info.keysize = sizeof(NxThrottleKey);
	info.entrysize = sizeof(NxThrottleEntry);
	throttle_htab = ShmemInitHash("nexplane login throttle",
								  NX_THROTTLE_ENTRIES, NX_THROTTLE_ENTRIES,
								  &info, HASH_ELEM | HASH_BLOBS);
	throttle_lock = &(GetNamedLWLockTranche("nexplane_login_throttle"))->lock;
	LWLockRelease(AddinShmemInitLock);
}

void
nx_throttle_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = nx_throttle_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = nx_throttle_shmem_startup;
}

static NxThrottleKey
nx_throttle_key(const char *email)
{
	NxThrottleKey k;
	char	   *lower = str_tolower(email, strlen(email), DEFAULT_COLLATION_OID);
	bytea	   *digest = nx_sha256(lower, strlen(lower));

	memcpy(k.h, VARDATA(digest), sizeof(k.h));
	return k;
}

static void
nx_throttle_require(void)
{
	if (throttle_htab == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("nexplane is not loaded at server start"),
				 errhint("Add nexplane to shared_preload_libraries and restart.")));
}

bool
nx_throttle_is_locked(const char *email)
{
	NxThrottleKey k = nx_throttle_key(email);
	NxThrottleEntry *e;
	bool		locked = false;

	nx_throttle_require();
	LWLockAcquire(throttle_lock, LW_SHARED);
	e = hash_search(throttle_htab, &k, HASH_FIND, NULL);
	if (e && e->locked_until > GetCurrentTimestamp())
		locked = true;
	LWLockRelease(throttle_lock);
	return locked;
}

void
nx_throttle_failure(const char *email)
{
	NxThrottleKey k = nx_throttle_key(email);
	NxThrottleEntry *e;
	bool		found;

	nx_throttle_require();
	LWLockAcquire(throttle_lock, LW_EXCLUSIVE);
	e = hash_search(throttle_htab, &k, HASH_ENTER_NULL, &found);
	if (e == NULL)
	{
		LWLockRelease(throttle_lock);
		ereport(LOG,
				(errmsg("nexplane login throttle is full; not tracking a failed login")));
		return;
	}
	if (!found)
	{
		e->failures = 0;
		e->locked_until = 0;
	}
	e->failures++;
	if (e->failures >= NX_THROTTLE_FREE)
	{
		int			shift = Min(e->failures - NX_THROTTLE_FREE, 7);
		int64		secs = Min((int64) NX_THROTTLE_BASE_SECS << shift,
							   NX_THROTTLE_MAX_SECS);

		e->locked_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													  secs * 1000);
	}
	LWLockRelease(throttle_lock);
}

void
nx_throttle_success(const char *email)
{
	NxThrottleKey k = nx_throttle_key(email);

	nx_throttle_require();
	LWLockAcquire(throttle_lock, LW_EXCLUSIVE);
	hash_search(throttle_htab, &k, HASH_REMOVE, NULL);
	LWLockRelease(throttle_lock);
}
