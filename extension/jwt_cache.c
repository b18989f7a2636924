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
 *   - It is keyed by the SHA-256 of the whole token (header, claims and
 *     signature), so a token that differs in any byte is a miss and is
 *     verified in full; a token that fails is never stored.  The token
 *     itself is not kept, only its digest.
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

#include "utils/memutils.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#define NX_JWT_CACHE_SIZE 64

StaticAssertDecl(NX_JWT_CACHE_KEY_LEN == SHA256_DIGEST_LENGTH,
				 "the cache key is a SHA-256 digest");

typedef struct NxJwtCacheEntry
{
	bool		used;
	unsigned char digest[SHA256_DIGEST_LENGTH];
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
 * The cache's key for a token: the SHA-256 of all of it.  The digest is
 * fetched from OpenSSL's provider once per backend: EVP_sha256() fetches it
 * again on every call, which cost more than hashing a token.
 */
void
nx_jwt_cache_key(const char *token, size_t len, unsigned char *digest)
{
	static EVP_MD *sha256 = NULL;

	if (sha256 == NULL && (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		nx_openssl_error("fetching SHA-256");
	if (EVP_Digest(token, len, digest, NULL, sha256, NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not compute SHA-256")));
}

static void
nx_jwt_cache_drop(NxJwtCacheEntry *e)
{
	if (e->claims)
		pfree(e->claims);
	memset(e, 0, sizeof(*e));
}

/*
 * The claims of the token whose key is digest, if this backend verified its signature with the
 * current key, as a palloc'd copy; NULL otherwise.  The caller checks the
 * claims as for a token just verified.
 */
Jsonb *
nx_jwt_cache_lookup(const unsigned char *digest, uint64 key_generation, int64 now)
{
	for (int i = 0; i < NX_JWT_CACHE_SIZE; i++)
	{
		NxJwtCacheEntry *e = &cache[i];
		Jsonb	   *copy;

		if (!e->used || CRYPTO_memcmp(e->digest, digest, SHA256_DIGEST_LENGTH) != 0)
			continue;
		if (e->key_generation != key_generation || e->expires <= now)
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
nx_jwt_cache_store(const unsigned char *digest, uint64 key_generation,
				   int64 expires, const Jsonb *claims)
{
	NxJwtCacheEntry *victim = &cache[0];

	for (int i = 0; i < NX_JWT_CACHE_SIZE; i++)
	{
		if (!cache[i].used)
		{
			victim = &cache[i];
			break;
		}
		if (cache[i].last_used < victim->last_used)
			victim = &cache[i];
	}
	nx_jwt_cache_drop(victim);
	victim->claims = MemoryContextAlloc(TopMemoryContext, VARSIZE(claims));
	memcpy(victim->claims, claims, VARSIZE(claims));
	memcpy(victim->digest, digest, SHA256_DIGEST_LENGTH);
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
