/*-------------------------------------------------------------------------
 *
 * jwt.h
 *	  RS256 JSON Web Tokens.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_JWT_H
#define NX_JWT_H

#include "nexplane.h"

typedef struct evp_pkey_st EVP_PKEY;

extern EVP_PKEY *nx_jwt_key(void);
extern const char *nx_jwt_kid(void);
extern char *nx_jwt_sign(const char *payload_json);
extern Jsonb *nx_jwt_verify(const char *token, const char **why);
extern uint64 nx_jwt_key_generation(void);

/* jwt_cache.c: tokens this backend has verified (see there) */
extern Jsonb *nx_jwt_cache_lookup(const char *token, size_t len, uint64 key_generation,
								  int64 now);
extern void nx_jwt_cache_store(const char *token, size_t len, uint64 key_generation,
							   int64 expires, int64 now, const Jsonb *claims);
extern void nx_jwt_cache_stats(int64 *hits, int64 *misses, int *entries);

#endif							/* NX_JWT_H */
