/*-------------------------------------------------------------------------
 *
 * secret_params.c
 *	  Secrets passed as bound parameters never reach the server log.
 *
 * The functions that take a secret (a password, a token, a credential)
 * call nx_secret_guard() first.  PostgreSQL can write a statement's bound
 * parameters to the log in two ways: with the statement, when statement
 * or duration logging is on and log_parameter_max_length is not 0 (both
 * superuser settings; the install sets log_parameter_max_length = 0 for
 * nexplane_api, and by then the line is written, so refusing is the alarm
 * and the role setting the lock); and in the CONTEXT of an error, when
 * log_parameter_max_length_on_error is not 0, which any session may set.
 * The second is the one a session can open itself, and the function's own
 * errors would go through it, so the guard refuses to run while either
 * door is open, and before raising its error it drops the parameter string
 * PostgreSQL built for the error context, so the refusal leaks nothing
 * either.  Statements without bound parameters (literals at psql) carry
 * their secret in the statement text: DESIGN.md's rule is to bind them.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/portal.h"

/* Would this statement's bound parameters be written to the log? */
static const char *
nx_open_parameter_door(void)
{
	if (log_parameter_max_length_on_error != 0)
		return "log_parameter_max_length_on_error";
	if (log_parameter_max_length != 0 &&
		(log_statement != LOGSTMT_NONE || log_min_duration_statement >= 0 ||
		 log_min_duration_sample >= 0 || log_xact_sample_rate > 0))
		return "log_parameter_max_length";
	return NULL;
}

/* nx_secret_guard: refuse to take a secret where the log would keep it. */
void
nx_secret_guard(void)
{
	ParamListInfo params;
	const char *door;

	if (ActivePortal == NULL || ActivePortal->portalParams == NULL ||
		ActivePortal->portalParams->numParams == 0)
		return;
	params = ActivePortal->portalParams;
	door = nx_open_parameter_door();
	if (door == NULL)
		return;
	params->paramValuesStr = NULL;	/* the error context prints nothing */
	ereport(ERROR,
			(errcode(ERRCODE_NX_FORBIDDEN),
			 errmsg("refusing a secret while bound parameters are written to the server log"),
			 errdetail("%s is %s.", door, GetConfigOption(door, false, false)),
			 errhint("Set %s to 0 and call again.", door)));
}

/* _secret_guard(): the same, for functions written in SQL */
PG_FUNCTION_INFO_V1(nx_secret_guard_sql);
Datum
nx_secret_guard_sql(PG_FUNCTION_ARGS)
{
	nx_secret_guard();
	PG_RETURN_VOID();
}
