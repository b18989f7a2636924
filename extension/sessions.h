/*-------------------------------------------------------------------------
 *
 * sessions.h
 *	  Sessions and tokens shared by login, refresh, logout and authenticate.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_SESSIONS_H
#define NX_SESSIONS_H

#include "context.h"

extern Jsonb *nx_issue_tokens(const NxContext *ctx, const char *email,
							  const char *slug);
extern bool nx_session_end(const char *tenant_id, const char *session_id);
typedef enum NxSessionState
{
	NX_SESSION_LIVE,
	NX_SESSION_ENDED,			/* logged out, revoked, expired or unknown */
	NX_SESSION_TOO_OLD,			/* older than the max_age asked for */
	NX_SESSION_DISABLED			/* its user or tenant is disabled */
} NxSessionState;

extern NxSessionState nx_session_state(const pg_uuid_t *tid, const pg_uuid_t *sid,
										 const pg_uuid_t *uid, int max_age, char *role);
extern const char *nx_session_recheck(NxContext *ctx);

#endif							/* NX_SESSIONS_H */
