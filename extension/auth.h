/*-------------------------------------------------------------------------
 *
 * auth.h
 *	  Sessions and tokens shared by login, refresh and authenticate.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_AUTH_H
#define NX_AUTH_H

#include "context.h"

extern Jsonb *nx_issue_tokens(const NxContext *ctx, const char *email,
							  const char *slug);

#endif							/* NX_AUTH_H */
