/*-------------------------------------------------------------------------
 *
 * nexplane.c
 *	  Module entry: configuration parameters, shared memory, callbacks.
 *
 * Every parameter is PGC_SUSET or stricter, and the "nexplane" prefix is
 * reserved, so no ordinary role can invent a nexplane.* setting that some
 * code might trust.  Nothing about the tenant context is a GUC at all.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit_space.h"
#include "context.h"
#include "login_throttle.h"
#include "password.h"
#include "master_key.h"

#include "utils/guc.h"

PG_MODULE_MAGIC;

char	   *nx_jwt_key_file = NULL;
char	   *nx_jwt_issuer = NULL;
char	   *nx_jwt_audience = NULL;
int			nx_access_token_ttl = 3600;
int			nx_refresh_token_ttl = 30 * 24 * 3600;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomStringVariable("nexplane.jwt_private_key_file",
							   "PEM file holding the RSA key that signs access tokens.",
							   "A relative path is taken from the data directory.",
							   &nx_jwt_key_file, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("nexplane.jwt_issuer",
							   "The iss claim of access tokens.",
							   NULL, &nx_jwt_issuer, "nexplane",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("nexplane.jwt_audience",
							   "The aud claim of access tokens.",
							   NULL, &nx_jwt_audience, "nexplane-api",
							   PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.access_token_ttl",
							"Lifetime of access tokens.",
							NULL, &nx_access_token_ttl, 3600, -86400, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.refresh_token_ttl",
							"Lifetime of refresh tokens and login sessions.",
							NULL, &nx_refresh_token_ttl, 30 * 24 * 3600,
							60, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	nx_master_key_init();
	nx_audit_space_register();
	MarkGUCPrefixReserved("nexplane");

	nx_context_init();
	if (process_shared_preload_libraries_in_progress)
		nx_throttle_init();
}

/* _random_token(prefix): 32 random bytes, base64url, after prefix */
PG_FUNCTION_INFO_V1(nx_random_token_sql);
Datum
nx_random_token_sql(PG_FUNCTION_ARGS)
{
	char	   *prefix = text_to_cstring(nx_arg_text(fcinfo, 0, "prefix", 16));

	PG_RETURN_TEXT_P(cstring_to_text(nx_random_token(prefix)));
}
