/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *	  The ProcessUtility hook: what nexplane must see of utility statements.
 *
 * - DISCARD ALL and RESET ALL clear the tenant context, as they clear
 *   everything else a session holds: a pooler's reset query must leave
 *   nothing for the next client.
 * - ALTER ROLE (and ALTER ROLE ... SET, RENAME) of one of nexplane's own
 *   roles is a superuser's statement.  PostgreSQL lets a role change its
 *   own password and settings; for the roles the shim and people log in as
 *   that would let anyone who holds them lock out everyone else at the next
 *   reconnect (a new password, default_transaction_read_only, a 1 ms
 *   statement_timeout).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"

#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* Is this one of nexplane's roles (by name: nexplane_*)? */
static bool
nx_is_nexplane_role(const RoleSpec *spec)
{
	const char *name;

	if (spec == NULL)
		return false;
	if (spec->roletype == ROLESPEC_CSTRING)
		name = spec->rolename;
	else if (spec->roletype == ROLESPEC_PUBLIC)
		return false;
	else
		name = GetUserNameFromId(get_rolespec_oid(spec, true), true);
	return name != NULL && strncmp(name, "nexplane", 8) == 0;
}

static void
nx_refuse_role_change(const char *rolename)
{
	ereport(ERROR,
			(errcode(ERRCODE_NX_FORBIDDEN),
			 errmsg("only a superuser may alter role \"%s\"", rolename),
			 errdetail("Nexplane's roles cannot change their own password or settings.")));
}

static void
nx_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	bool		clear_context = false;

	switch (nodeTag(stmt))
	{
		case T_DiscardStmt:
			clear_context = ((DiscardStmt *) stmt)->target == DISCARD_ALL;
			break;
		case T_VariableSetStmt:
			clear_context = ((VariableSetStmt *) stmt)->kind == VAR_RESET_ALL;
			break;
		case T_AlterRoleStmt:
			if (!superuser() && nx_is_nexplane_role(((AlterRoleStmt *) stmt)->role))
				nx_refuse_role_change(get_rolespec_name(((AlterRoleStmt *) stmt)->role));
			break;
		case T_AlterRoleSetStmt:
			if (!superuser() && nx_is_nexplane_role(((AlterRoleSetStmt *) stmt)->role))
				nx_refuse_role_change(get_rolespec_name(((AlterRoleSetStmt *) stmt)->role));
			break;
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_ROLE && !superuser() &&
				strncmp(((RenameStmt *) stmt)->subname, "nexplane", 8) == 0)
				nx_refuse_role_change(((RenameStmt *) stmt)->subname);
			break;
		default:
			break;
	}

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
						  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
	if (clear_context)
		nx_context_clear();
}

/* nx_utility_hook_install: called once, when the library is loaded. */
void
nx_utility_hook_install(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = nx_process_utility;
}
