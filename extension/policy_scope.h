/*-------------------------------------------------------------------------
 *
 * policy_scope.h
 *	  Whether a policy governs a change: a tenant policy, or one on the
 *	  change's connector or on one of its assets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_POLICY_SCOPE_H
#define NX_POLICY_SCOPE_H

#include "nexplane.h"

#include "executor/tuptable.h"
#include "utils/relcache.h"

/* What a change is scoped by: its connector and its assets (uuids) */
typedef struct NxScopeOf
{
	pg_uuid_t	connector;
	Datum	   *assets;
	int			nassets;
} NxScopeOf;

extern bool nx_policy_governs(Relation policies, TupleTableSlot *slot, const NxScopeOf *scope);
extern void nx_scope_assets(NxScopeOf *scope, Datum uuid_array);
extern char *nx_required_approvals(const pg_uuid_t *tenant, const NxScopeOf *scope,
								   const char *level, bool statement_snapshot);

#endif							/* NX_POLICY_SCOPE_H */
