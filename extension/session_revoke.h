/*-------------------------------------------------------------------------
 *
 * session_revoke.h
 *	  Ending a session from outside a failing transaction (session_revoke.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_SESSION_REVOKE_H
#define NX_SESSION_REVOKE_H

extern void nx_revoke_session_async(const pg_uuid_t *tenant_id,
									const pg_uuid_t *session_id);

#endif							/* NX_SESSION_REVOKE_H */
