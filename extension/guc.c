/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Every nexplane.* configuration parameter, in one place.
 *
 * Each is PGC_SUSET or stricter, and the "nexplane" prefix is reserved,
 * so no ordinary role can set one or invent a nexplane.* setting that some
 * code might trust.  Secrets' locations are GUC_SUPERUSER_ONLY as well, so
 * they are not even shown.  Nothing about the tenant context is a GUC.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "guc.h"

#include "utils/guc.h"

char	   *nx_jwt_key_file = NULL;
char	   *nx_jwt_issuer = NULL;
char	   *nx_jwt_audience = NULL;
int			nx_access_token_ttl = 3600;
int			nx_refresh_token_ttl = 30 * 24 * 3600;
int			nx_session_idle_timeout = 30 * 60;
int			nx_session_max_age = 12 * 3600;
int			nx_login_failure_window = 3600;
char	   *nx_master_key_file = NULL;
char	   *nx_previous_master_key_file = NULL;
char	   *nx_database = NULL;
int			nx_job_workers = 2;
int			nx_job_lease = 60;
int			nx_job_timeout = 30;
int			nx_job_retention = 30;
int			nx_agent_offline_after = 120;
int			nx_agent_cert_lifetime = 365;

/* nx_guc_define defines the parameters and reserves the prefix. */
void
nx_guc_define(void)
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
	/* negative values let tests mint expired tokens */
	DefineCustomIntVariable("nexplane.access_token_ttl",
							"Lifetime of access tokens.",
							NULL, &nx_access_token_ttl, 3600, -86400, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.refresh_token_ttl",
							"Lifetime of refresh tokens and login sessions.",
							NULL, &nx_refresh_token_ttl, 30 * 24 * 3600,
							60, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.session_idle_timeout",
							"How long a psql login session may go unused before it ends.",
							NULL, &nx_session_idle_timeout, 30 * 60, 1, 7 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.session_max_age",
							"How long a psql login session lasts at most, however busy.",
							NULL, &nx_session_max_age, 12 * 3600, 1, 30 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	/* short windows let tests show failures being forgotten */
	DefineCustomIntVariable("nexplane.login_failure_window",
							"How long failed logins are remembered after the last one or the end of its lock.",
							NULL, &nx_login_failure_window, 3600, 1, 7 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("nexplane.master_key_file",
							   "File holding the vault master key (read once at server start).",
							   "When empty, NEXPLANE_SECRET_KEY in the server's environment is used.",
							   &nx_master_key_file, "",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("nexplane.previous_master_key_file",
							   "File holding the previous master key, while rotate_master_key() runs.",
							   NULL, &nx_previous_master_key_file, "",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("nexplane.database",
							   "The database where the nexplane extension lives, for its background workers.",
							   NULL, &nx_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.job_workers",
							"Background workers that run jobs (connectors).",
							NULL, &nx_job_workers, 2, 0, NX_MAX_JOB_WORKERS,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.job_lease",
							"How long a worker holds a job before another may recover it; "
							"extended while the job runs.",
							NULL, &nx_job_lease, 60, 10, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.job_timeout",
							"The longest one connector operation may take (shorter than the lease).",
							NULL, &nx_job_timeout, 30, 1, 3000,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.job_retention",
							"How long finished jobs are kept (evidence is kept for good).",
							NULL, &nx_job_retention, 30, 1, 3650,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.agent_offline_after",
							"How long an agent may go unheard before it shows as offline.",
							NULL, &nx_agent_offline_after, 120, 10, 7 * 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("nexplane.agent_cert_lifetime",
							"How long an agent's client certificate is valid.",
							NULL, &nx_agent_cert_lifetime, 365, 1, 3650,
							PGC_SUSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("nexplane");
}
