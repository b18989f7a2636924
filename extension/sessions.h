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
extern const char *nx_session_recheck(NxContext *ctx);

#endif							/* NX_SESSIONS_H */
