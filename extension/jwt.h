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

#endif							/* NX_JWT_H */
