/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  Every nexplane.* configuration parameter, defined in guc.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_GUC_H
#define NX_GUC_H

/* tokens (jwt.c, sessions.c) */
extern char *nx_jwt_key_file;
extern char *nx_jwt_issuer;
extern char *nx_jwt_audience;
extern int	nx_access_token_ttl;
extern int	nx_refresh_token_ttl;

/* psql sessions (context.c, sessions.c) */
extern int	nx_session_idle_timeout;
extern int	nx_session_max_age;

/* failed-login lock-out (login_throttle.c) */
extern int	nx_login_failure_window;

/* the vault's master keys (master_key.c) */
extern char *nx_master_key_file;
extern char *nx_previous_master_key_file;

/* where the background workers run (bgworkers/) */
extern char *nx_database;

/* the job workers (bgworkers/) */
#define NX_MAX_JOB_WORKERS 32
extern int	nx_job_workers;
extern int	nx_job_lease;		/* seconds */
extern int	nx_job_timeout;		/* seconds */
extern int	nx_job_retention;	/* days */

extern int	nx_agent_offline_after;	/* seconds */
extern int	nx_agent_cert_lifetime;	/* days */
extern void nx_guc_define(void);

#endif							/* NX_GUC_H */
