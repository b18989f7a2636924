/*-------------------------------------------------------------------------
 *
 * agents.c
 *	  Agent authentication: the two ways an agent gets a tenant context,
 *	  and the command allowlist's checks (agent/command_table.c).
 *
 * An agent has no user and no JWT.  It proves itself once with a one-time
 * enrollment token, and on every later call with its client certificate,
 * whose fingerprint the shim (which verified the certificate) passes on.
 * Both lookups must cross tenants, so they are C and run with system
 * access; each then sets a transaction-scoped context for the agent's
 * tenant (role "agent", auth "agent", user id = the agent's id) in which
 * the PL/pgSQL functions of sql/api/92_agents.sql work under row-level
 * security like any other.  The role "agent" is in no role set, so the
 * context opens no other function.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "spi_util.h"

#include "../agent/command_table.h"

#include "lib/stringinfo.h"
#include "utils/json.h"

static void
nx_agent_not_allowed(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NX_FORBIDDEN),
			 errmsg("agent not allowed")));
}

static void
nx_agent_context(const char *tenant_id, const char *agent_id)
{
	NxContext	ctx = {0};

	ctx.scope = NX_SCOPE_XACT;
	nx_uuid_parse(tenant_id, &ctx.tenant_id);
	nx_uuid_parse(agent_id, &ctx.user_id);
	ctx.home_tenant_id = ctx.tenant_id;
	strlcpy(ctx.role, "agent", sizeof(ctx.role));
	strlcpy(ctx.auth_kind, "agent", sizeof(ctx.auth_kind));
	nx_context_set(&ctx);
}

/*
 * _agent_auth(fingerprint): the agent whose current or previous
 * certificate has this fingerprint, in its tenant's context.  Shim only.
 * NX403, saying nothing more, when there is none; the caller
 * (_agent_checked) judges the agent's state.
 */
PG_FUNCTION_INFO_V1(nx_agent_auth);
Datum
nx_agent_auth(PG_FUNCTION_ARGS)
{
	char	   *fp;
	const char *args[1];
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	nx_require_shim();
	nx_context_clear();
	if (PG_ARGISNULL(0))
		nx_agent_not_allowed();
	fp = text_to_cstring(nx_arg_text(fcinfo, 0, "fingerprint", 64));
	if (strlen(fp) != 64 || strspn(fp, "0123456789abcdef") != 64)
		nx_agent_not_allowed();
	args[0] = fp;
	SPI_connect();
	if (nx_spi_system("SELECT tenant_id, id FROM nexplane.agents"
					  " WHERE cert_fingerprint = $1 OR prev_fingerprint = $1", 1, args) != 1)
		nx_agent_not_allowed();
	nx_agent_context(nx_spi_get(0, 1), nx_spi_get(0, 2));
	nx_uuid_parse(nx_spi_get(0, 2), id);
	SPI_finish();
	PG_RETURN_UUID_P(id);
}

/*
 * _agent_token_claim(token): the enrollment token, if it is known, unused
 * and unexpired (NX401 otherwise, one message for all three), locked for
 * the rest of the transaction, with the new agent's id, in the token's
 * tenant's context.  A concurrent enrollment with the same token waits
 * for the lock and then finds it used.
 */
NX_TAKES_SECRET(nx_agent_token_claim)
{
	char	   *token = text_to_cstring(nx_arg_text(fcinfo, 0, "token", 256));
	const char *args[] = {token};
	char	   *out;

	uint64		n;

	SPI_connect();
	n = nx_spi_system("SELECT tenant_id, id, gen_random_uuid() FROM nexplane.enrollment_tokens"
					  " WHERE token_hash = sha256(convert_to($1, 'UTF8'))"
					  "   AND used_at IS NULL AND expires_at > now()"
					  "   FOR UPDATE", 1, args);
	explicit_bzero(token, strlen(token));
	if (n != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_UNAUTHENTICATED),
				 errmsg("invalid enrollment token"),
				 errdetail("The token is not known, was used already, or has expired."),
				 errhint("Ask an admin for a new token (enrollment_token_create).")));
	nx_agent_context(nx_spi_get(0, 1), nx_spi_get(0, 3));
	out = psprintf("{\"token_id\": \"%s\", \"agent_id\": \"%s\"}",
				   nx_spi_get(0, 2), nx_spi_get(0, 3));
	PG_RETURN_DATUM(nx_spi_return(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	 CStringGetDatum(out)))));
}

/* ---------- the allowlist ---------- */

static const char *
nx_param_type_name(NxAgentParamType t)
{
	switch (t)
	{
		case NX_AGENT_STRING:
			return "string";
		case NX_AGENT_INTEGER:
			return "integer";
		case NX_AGENT_BOOLEAN:
			return "boolean";
	}
	return "string";
}

/*
 * agent_command_types(): the allowlist, as the agent and the database
 * both hold it: each command with its parameters.  Public knowledge.
 */
PG_FUNCTION_INFO_V1(nx_agent_command_types);
Datum
nx_agent_command_types(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	nx_require_role(NX_ANY_ROLE);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (const NxAgentCommand *c = nx_agent_commands; c->name; c++)
	{
		appendStringInfo(&buf, "%s{\"command\": ", c == nx_agent_commands ? "" : ", ");
		escape_json(&buf, c->name);
		appendStringInfoString(&buf, ", \"description\": ");
		escape_json(&buf, c->description);
		appendStringInfo(&buf, ", \"changes_host\": %s, \"can_revert\": %s,"
						 " \"default_timeout_s\": %d, \"params\": [",
						 c->changes_host ? "true" : "false", c->can_revert ? "true" : "false",
						 c->default_timeout_s);
		for (const NxAgentParam *p = c->params; p->name; p++)
		{
			appendStringInfo(&buf, "%s{\"name\": ", p == c->params ? "" : ", ");
			escape_json(&buf, p->name);
			appendStringInfo(&buf, ", \"type\": \"%s\", \"required\": %s",
							 nx_param_type_name(p->type), p->required ? "true" : "false");
			if (p->type == NX_AGENT_STRING)
				appendStringInfo(&buf, ", \"max_length\": %zu", p->max_len);
			else if (p->type == NX_AGENT_INTEGER)
				appendStringInfo(&buf, ", \"min\": %ld, \"max\": %ld", p->min, p->max);
			appendStringInfoString(&buf, ", \"description\": ");
			escape_json(&buf, p->description);
			appendStringInfoChar(&buf, '}');
		}
		appendStringInfoString(&buf, "]}");
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

static bool
nx_agent_param_present(Jsonb *params, const char *name)
{
	JsonbValue	key;

	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = strlen(name);
	return findJsonbValueFromContainer(&params->root, JB_FOBJECT, &key) != NULL;
}

static void
nx_param_invalid(const char *command, const char *param, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_NX_INVALID),
			 errmsg("parameter \"%s\" of command %s is not valid", param, command),
			 errdetail("%s", why),
			 errhint("agent_command_types() lists every command's parameters.")));
}

/*
 * nx_agent_command_check raises NX422 naming the command or parameter
 * unless command is in the allowlist and params (a jsonb object) has only
 * its parameters, each of its type and shape, and every required one.
 */
void
nx_agent_command_check(const char *command, Jsonb *params)
{
	const NxAgentCommand *c = nx_agent_command_find(command);
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;

	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("command \"%s\" is not in the agent's allowlist", command),
				 errhint("agent_command_types() lists the commands an agent runs.")));
	if (params == NULL || !JB_ROOT_IS_OBJECT(params) || JB_ROOT_IS_SCALAR(params))
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("params must be a JSON object")));
	it = JsonbIteratorInit(&params->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *name;
		const NxAgentParam *p;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(k.val.string.val, k.val.string.len);
		(void) JsonbIteratorNext(&it, &v, true);
		p = nx_agent_param_find(c, name);
		if (p == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("command %s has no parameter \"%s\"", command, name),
					 errhint("agent_command_types() lists every command's parameters.")));
		switch (p->type)
		{
			case NX_AGENT_STRING:
				if (v.type != jbvString)
					nx_param_invalid(command, name, "It must be a string.");
				if (!nx_agent_string_ok(p, v.val.string.val, v.val.string.len))
					nx_param_invalid(command, name,
									 psprintf("Expected: %s, at most %zu bytes.",
											  p->description, p->max_len));
				break;
			case NX_AGENT_INTEGER:
				{
					int64		n;

					if (v.type != jbvNumeric ||
						!nx_jsonb_get_int64(params, name, &n) || n < p->min || n > p->max)
						nx_param_invalid(command, name,
										 psprintf("It must be an integer from %ld to %ld.",
												  p->min, p->max));
					break;
				}
			case NX_AGENT_BOOLEAN:
				if (v.type != jbvBool)
					nx_param_invalid(command, name, "It must be true or false.");
				break;
		}
	}
	for (const NxAgentParam *p = c->params; p->name; p++)
		if (p->required && !nx_agent_param_present(params, p->name))
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("parameter \"%s\" of command %s is required", p->name, command)));
}

/*
 * _agent_command_check(command, params, confirm_within): the command's
 * default timeout in seconds, after checking the command against the
 * allowlist and confirm_within (10 s to 1 h, for commands with an undo).
 */
PG_FUNCTION_INFO_V1(nx_agent_command_check_sql);
Datum
nx_agent_command_check_sql(PG_FUNCTION_ARGS)
{
	char	   *command = text_to_cstring(nx_arg_text(fcinfo, 0, "command", 64));
	Jsonb	   *params = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	const NxAgentCommand *c;

	nx_agent_command_check(command, params);
	c = nx_agent_command_find(command);
	if (!PG_ARGISNULL(2))
	{
		int32		s = PG_GETARG_INT32(2);

		if (!c->can_revert)
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("command %s cannot be queued with confirm_within", command),
					 errdetail("Only commands the agent can undo take a dead-man window.")));
		if (s < 10 || s > 3600)
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("confirm_within must be between 10 seconds and 1 hour")));
	}
	PG_RETURN_INT32(c->default_timeout_s);
}

/* _agent_command_changes_host(command): false for read-only commands. */
PG_FUNCTION_INFO_V1(nx_agent_command_changes_host);
Datum
nx_agent_command_changes_host(PG_FUNCTION_ARGS)
{
	const NxAgentCommand *c = nx_agent_command_find(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	PG_RETURN_BOOL(c == NULL || c->changes_host);
}
