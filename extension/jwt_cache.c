/*-------------------------------------------------------------------------
 *
 * jwt_cache.c
 *	  A per-backend cache of access tokens whose RS256 signature verified.
 *
 * The API shim sends every request's token to authenticate(), and most
 * requests on a pooled connection carry a token that connection has seen
 * before.  Decoding it and checking its signature is most of what
 * authenticate() costs, so a backend remembers the tokens it verified.
 *
 * What the cache may and may not skip:
 *   - An entry is picked by a 64-bit hash of the token's last bytes (its
 *     signature's: hash_bytes_extended, seeded at random once per
 *     backend), and then the whole token is compared with
 *     the token the entry was verified for, every byte, in time that
 *     does not depend on where they differ (nx_jwt_cache_same).  So a
 *     token that differs in any byte is a miss and is verified in full,
 *     whatever the hash says; a token that fails is never stored.  The
 *     hash only spares most entries the compare: the key was a SHA-256
 *     digest of the token, which cost a quarter of a cached
 *     authenticate() and guaranteed no more than the full compare does.
 *   - So an entry keeps its token, for as long as it is needed and no
 *     longer: in this backend's private memory only (never in shared
 *     memory, a log or a result), zeroed (explicit_bzero) as soon as the
 *     entry goes.  Every lookup and store first drops the entries whose
 *     token has expired, so a token is kept past its expiry only until
 *     the backend's next authenticate().  The same memory
 *     holds the signing key itself (jwt.c), which can mint any token, so
 *     the cache exposes nothing a reader of that memory lacks.
 *   - An entry is good only for the key it was verified with: loading
 *     another signing key (a new file, or a changed one) makes every entry
 *     a miss.
 *   - It skips only the signature.  The claims (issuer, audience, expiry,
 *     issue time) are checked on every call against the settings of the
 *     moment, and authenticate() re-reads the session, the user and the
 *     tenant on every call as before, so a logout, a revoked session or a
 *     disabled user or tenant take effect at once, cached or not.
 *   - It is bounded: NX_JWT_CACHE_SIZE entries; an entry is dropped when
 *     its token expires, and when the cache is full the least recently
 *     used entry makes room.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"
#include "jwt.h"

#include "common/hashfn.h"
#include "utils/memutils.h"


#define NX_JWT_CACHE_SIZE 64
#define NX_JWT_CACHE_HASHED 32	/* bytes of a token's end that the hash reads */

typedef struct NxJwtCacheEntry
{
	bool		used;
	uint64		hash;			/* nx_jwt_cache_hash() of the token */
	char	   *token;			/* the token, in TopMemoryContext */
	size_t		len;
	uint64		key_generation; /* nx_jwt_key_generation() when verified */
	int64		expires;		/* exp plus leeway: unusable from then on */
	uint64		last_used;		/* for eviction: a tick of this cache */
	Jsonb	   *claims;			/* in TopMemoryContext */
} NxJwtCacheEntry;

static NxJwtCacheEntry cache[NX_JWT_CACHE_SIZE];
static uint64 tick = 0;
static int64 hits = 0;
static int64 misses = 0;

/*
 * Which entry may hold a token: a fast hash of its last bytes, which are
 * its signature's and differ from token to token, seeded at random per
 * backend so that which tokens share a hash is not known outside it.  A
 * shared hash costs only a compare: the whole token decides.
 */
static uint64
nx_jwt_cache_hash(const char *token, size_t len)
{
	static uint64 seed;
	static bool seeded = false;

	if (!seeded)
	{
		if (!pg_strong_random(&seed, sizeof(seed)))
			ereport(ERROR,
					(errcode(ERRCODE_NX_INTERNAL),
					 errmsg("could not generate a random seed")));
		seeded = true;
	}
	if (len > NX_JWT_CACHE_HASHED)
	{
		token += len - NX_JWT_CACHE_HASHED;
		len = NX_JWT_CACHE_HASHED;
	}
	return hash_bytes_extended((const unsigned char *) token, (int) len, seed);
}

/*
 * Are a and b (len bytes each) the same?  Every byte is read, whatever
 * differs, so the time taken says nothing about a cached token (as
 * CRYPTO_memcmp, but eight bytes at a time: that one reads byte by byte,
 * which cost more than the hash did).
 */
static bool
nx_jwt_cache_same(const char *a, const char *b, size_t len)
{
	uint64		diff = 0;
	size_t		i = 0;

	for (; i + sizeof(uint64) <= len; i += sizeof(uint64))
	{
		uint64		x;
		uint64		y;

		memcpy(&x, a + i, sizeof(x));
		memcpy(&y, b + i, sizeof(y));
		diff |= x ^ y;
	}
	for (; i < len; i++)
		diff |= (uint8) (a[i] ^ b[i]);
	return diff == 0;
}

static void
nx_jwt_cache_drop(NxJwtCacheEntry *e)
{
	if (e->token)
	{
		explicit_bzero(e->token, e->len);
		pfree(e->token);
	}
	if (e->claims)
		pfree(e->claims);
	memset(e, 0, sizeof(*e));
}

/* Drop the entries whose token has expired: no token is kept past its use. */
static void
nx_jwt_cache_sweep(int64 now)
{
	for (int i = 0; i < NX_JWT_CACHE_SIZE; i++)
		if (cache[i].used && cache[i].expires <= now)
			nx_jwt_cache_drop(&cache[i]);
}

/*
 * The claims of token (len bytes), if this backend verified its signature
 * with the current key, as a palloc'd copy; NULL otherwise.  The caller
 * checks the claims as for a token just verified.
 */
Jsonb *
nx_jwt_cache_lookup(const char *token, size_t len, uint64 key_generation, int64 now)
{
	uint64		hash = nx_jwt_cache_hash(token, len);

	nx_jwt_cache_sweep(now);
	for (int i = 0; i < NX_JWT_CACHE_SIZE; i++)
	{
		NxJwtCacheEntry *e = &cache[i];
		Jsonb	   *copy;

		if (!e->used || e->hash != hash || e->len != len ||
			!nx_jwt_cache_same(e->token, token, len))
			continue;
		if (e->key_generation != key_generation)
		{
			nx_jwt_cache_drop(e);
			break;
		}
		e->last_used = ++tick;
		hits++;
		copy = palloc(VARSIZE(e->claims));
		memcpy(copy, e->claims, VARSIZE(e->claims));
		return copy;
	}
	misses++;
	return NULL;
}

/* Remember a token whose signature and claims have just been verified. */
void
nx_jwt_cache_store(const char *token, size_t len, uint64 key_generation,
				   int64 expires, int64 now, const Jsonb *claims)
{
	NxJwtCacheEntry *victim = NULL;

	nx_jwt_cache_sweep(now);
	for (int i = 0; i < NX_JWT_CACHE_SIZE; i++)
	{
		if (!cache[i].used)
		{
			victim = &cache[i];
			break;
		}
		if (victim == NULL || cache[i].last_used < victim->last_used)
			victim = &cache[i];
	}
	nx_jwt_cache_drop(victim);
	victim->claims = MemoryContextAlloc(TopMemoryContext, VARSIZE(claims));
	memcpy(victim->claims, claims, VARSIZE(claims));
	victim->token = MemoryContextAlloc(TopMemoryContext, len);
	memcpy(victim->token, token, len);
	victim->len = len;
	victim->hash = nx_jwt_cache_hash(token, len);
	victim->key_generation = key_generation;
	victim->expires = expires;
	victim->last_used = ++tick;
	victim->used = true;
}

/* For the test module's jwt_cache_stats(): hits, misses, entries held. */
void
nx_jwt_cache_stats(int64 *nhits, int64 *nmisses, int *entries)
{
	*nhits = hits;
	*nmisses = misses;
	*entries = 0;
	for (int i = 0; i < NX_JWT_CACHE_SIZE; i++)
		if (cache[i].used)
			(*entries)++;
}
