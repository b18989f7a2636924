/*-------------------------------------------------------------------------
 *
 * login_throttle.c
 *	  Back off repeated failed logins, per account and source address.
 *
 * A failed login raises an ERROR, which rolls back anything it wrote, so
 * failure counts cannot live in a table.  They live in shared memory, in
 * entries keyed by a hash of the lower-cased email: unknown emails are
 * throttled exactly like real ones, so a lock reveals nothing about who
 * exists.  Two kinds of entry:
 *
 * - one per (email, source address).  After NX_SOURCE_FREE failures the
 *   pair is locked for 30 s, doubling with each further failure up to one
 *   hour.  Failures from one address never lock out another, so knowing an
 *   email is no longer enough to lock its owner out.
 * - one per email, counting failures from every source.  Past
 *   NX_ACCOUNT_FREE the account is under attack: every source that has
 *   failed on it itself is refused, even below its own limit, while a
 *   source with no failure on record (the owner at their usual address)
 *   still gets its password checked.  A distributed guesser gets one guess
 *   per fresh address, never the free tries of each.
 *
 * An entry expires nexplane.login_failure_window after its last failure
 * or the end of its lock, whichever is later.  A full table evicts the
 * expired entries, or else the one nearest its expiry, instead of stopping
 * tracking.  A restart forgets everything.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"
#include "login_throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "catalog/pg_collation.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/formatting.h"
#include "utils/hsearch.h"
#include "utils/inet.h"
#include "utils/timestamp.h"

#define NX_THROTTLE_ENTRIES 16384
#define NX_SOURCE_FREE 5
#define NX_ACCOUNT_FREE 20
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
	TimestampTz last_failure;
	TimestampTz locked_until;	/* 0 unless locked (source entries only) */
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

/* ---------- the source address ---------- */

/*
 * The canonical text of an address: IPv4 as is (also when mapped into
 * IPv6), IPv6 cut to its /64, which one host usually holds whole.
 */
static char *
nx_source_canonical(int family, const void *addr)
{
	char		buf[INET6_ADDRSTRLEN + 4];

	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *) addr))
		return nx_source_canonical(AF_INET, ((const unsigned char *) addr) + 12);
	if (family == AF_INET6)
	{
		struct in6_addr net;

		memcpy(&net, addr, sizeof(net));
		memset(net.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &net, buf, sizeof(buf));
		strlcat(buf, "/64", sizeof(buf));
	}
	else
		inet_ntop(AF_INET, addr, buf, sizeof(buf));
	return pstrdup(buf);
}

/*
 * An address's canonical text, or NULL when s is not an IP address (an
 * IPv6 zone, as in fe80::1%eth0, is not part of the host and is dropped).
 */
static char *
nx_source_parse(char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];
	char	   *zone = strchr(s, '%');

	if (zone != NULL)
		*zone = '\0';
	if (inet_pton(AF_INET, s, addr) == 1)
		return nx_source_canonical(AF_INET, addr);
	if (inet_pton(AF_INET6, s, addr) == 1)
		return nx_source_canonical(AF_INET6, addr);
	return NULL;
}

/*
 * The backend's own peer (inet_client_addr()): its TCP address, or "local"
 * over a Unix socket or in a background worker.
 */
static char *
nx_source_peer(void)
{
	LOCAL_FCINFO(peer_fcinfo, 0);
	Datum		peer;
	char	   *text;

	InitFunctionCallInfoData(*peer_fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	peer = inet_client_addr(peer_fcinfo);
	if (peer_fcinfo->isnull)
		return pstrdup("local");
	text = nx_source_parse(DatumGetCString(DirectFunctionCall1(inet_out, peer)));
	return text ? text : pstrdup("local");
}

/*
 * Where a login comes from: argument argno (client_addr) when given, else
 * the backend's peer.  Only the shim's role (and superusers) may name an
 * address: anyone else could name a fresh one for every guess.
 */
char *
nx_throttle_source(FunctionCallInfo fcinfo, int argno)
{
	char	   *given;
	char	   *source;
	Oid			api_role = get_role_oid("nexplane_api", true);

	if (PG_ARGISNULL(argno))
		return nx_source_peer();
	given = text_to_cstring(nx_arg_text(fcinfo, argno, "client_addr", 64));
	if (!OidIsValid(api_role) || !has_privs_of_role(GetOuterUserId(), api_role))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only the API shim may pass client_addr"),
				 errdetail("Other callers are identified by their own connection's address."),
				 errhint("Call login() without client_addr.")));
	source = nx_source_parse(given);
	if (source == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("client_addr must be an IP address"),
				 errdetail("An IPv4 or IPv6 address without a prefix length is accepted.")));
	return source;
}

/* ---------- entries ---------- */

/* The account's key (source NULL) or the (account, source) pair's. */
static NxThrottleKey
nx_throttle_key(const char *email, const char *source)
{
	NxThrottleKey k;
	char	   *lower = str_tolower(email, strlen(email), DEFAULT_COLLATION_OID);
	StringInfoData material;
	bytea	   *digest;

	initStringInfo(&material);
	appendStringInfoChar(&material, source ? 's' : 'a');
	appendBinaryStringInfo(&material, lower, strlen(lower) + 1);	/* with its NUL */
	if (source)
		appendStringInfoString(&material, source);
	digest = nx_sha256(material.data, material.len);

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

/* When an entry stops meaning anything: window after its last event. */
static TimestampTz
nx_entry_expiry(const NxThrottleEntry *e)
{
	return TimestampTzPlusMilliseconds(Max(e->last_failure, e->locked_until),
									   (int64) nx_login_failure_window * 1000);
}

/* The entry for k if it exists and has not expired; shared lock held. */
static NxThrottleEntry *
nx_entry_find(const NxThrottleKey *k, TimestampTz now)
{
	NxThrottleEntry *e = hash_search(throttle_htab, k, HASH_FIND, NULL);

	return e && nx_entry_expiry(e) > now ? e : NULL;
}

/*
 * The table is full: drop every expired entry, or, when none has expired,
 * the one nearest its expiry.  Exclusive lock held.
 */
static void
nx_throttle_evict(TimestampTz now)
{
	HASH_SEQ_STATUS scan;
	NxThrottleEntry *e;
	NxThrottleKey oldest;
	TimestampTz oldest_expiry = DT_NOEND;
	int			dropped = 0;

	hash_seq_init(&scan, throttle_htab);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		TimestampTz expiry = nx_entry_expiry(e);

		if (expiry <= now)
		{
			hash_search(throttle_htab, &e->key, HASH_REMOVE, NULL);
			dropped++;
		}
		else if (expiry < oldest_expiry)
		{
			oldest_expiry = expiry;
			oldest = e->key;
		}
	}
	if (dropped == 0 && oldest_expiry != DT_NOEND)
		hash_search(throttle_htab, &oldest, HASH_REMOVE, NULL);
	ereport(LOG,
			(errmsg("nexplane login throttle is full; dropped %d expired entries%s",
					dropped, dropped == 0 ? " and the one nearest its expiry" : "")));
}

/* Count a failure on k's entry, made fresh if absent or expired. */
static NxThrottleEntry *
nx_entry_fail(const NxThrottleKey *k, TimestampTz now)
{
	bool		found;
	NxThrottleEntry *e = hash_search(throttle_htab, k, HASH_ENTER_NULL, &found);

	if (e == NULL)
	{
		nx_throttle_evict(now);
		e = hash_search(throttle_htab, k, HASH_ENTER, &found);
	}
	if (!found || nx_entry_expiry(e) <= now)
	{
		e->failures = 0;
		e->locked_until = 0;
	}
	e->failures++;
	e->last_failure = now;
	return e;
}

/* ---------- the three questions login() asks ---------- */

/*
 * The keys of the pair (sk) and of the account (ak), with the table locked
 * in mode; the time to judge entries by.
 */
static TimestampTz
nx_throttle_begin(const char *email, const char *source, LWLockMode mode,
				  NxThrottleKey *sk, NxThrottleKey *ak)
{
	*sk = nx_throttle_key(email, source);
	*ak = nx_throttle_key(email, NULL);
	nx_throttle_require();
	LWLockAcquire(throttle_lock, mode);
	return GetCurrentTimestamp();
}

bool
nx_throttle_is_locked(const char *email, const char *source)
{
	NxThrottleKey sk;
	NxThrottleKey ak;
	TimestampTz now = nx_throttle_begin(email, source, LW_SHARED, &sk, &ak);
	NxThrottleEntry *s;
	NxThrottleEntry *a;
	bool		locked;

	s = nx_entry_find(&sk, now);
	a = nx_entry_find(&ak, now);
	locked = s != NULL &&
		(s->locked_until > now || (a != NULL && a->failures >= NX_ACCOUNT_FREE));
	LWLockRelease(throttle_lock);
	return locked;
}

void
nx_throttle_failure(const char *email, const char *source)
{
	NxThrottleKey sk;
	NxThrottleKey ak;
	TimestampTz now = nx_throttle_begin(email, source, LW_EXCLUSIVE, &sk, &ak);
	NxThrottleEntry *s = nx_entry_fail(&sk, now);

	if (s->failures >= NX_SOURCE_FREE)
	{
		int			shift = Min(s->failures - NX_SOURCE_FREE, 7);
		int64		secs = Min((int64) NX_THROTTLE_BASE_SECS << shift,
							   NX_THROTTLE_MAX_SECS);

		s->locked_until = TimestampTzPlusMilliseconds(now, secs * 1000);
	}
	/* s is not touched again: making the account's entry may evict it */
	(void) nx_entry_fail(&ak, now);
	LWLockRelease(throttle_lock);
}

/* A good login clears its source; the account's count stays. */
void
nx_throttle_success(const char *email, const char *source)
{
	NxThrottleKey sk;
	NxThrottleKey ak;

	(void) nx_throttle_begin(email, source, LW_EXCLUSIVE, &sk, &ak);
	hash_search(throttle_htab, &sk, HASH_REMOVE, NULL);
	LWLockRelease(throttle_lock);
}
