/*-------------------------------------------------------------------------
 *
 * auth.h
 *	  Sessions and tokens shared by login, refresh, logout and authenticate.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_AUTH_H
#define NX_AUTH_H

#include "context.h"

extern Jsonb *nx_issue_tokens(const NxContext *ctx, const char *email,
							  const char *slug);
extern bool nx_session_end(const char *tenant_id, const char *session_id);

#endif							/* NX_AUTH_H */
