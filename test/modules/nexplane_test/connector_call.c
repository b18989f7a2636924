/*-------------------------------------------------------------------------
 *
 * connector_call.c
 *	  connector_call(): run one connector operation directly, outside the
 *	  job engine, so that each connector's tests can drive a real server
 *	  step by step (and try what the engine never sends); and
 *	  credential_works(): whether a target takes a stored credential, for
 *	  the tests of rotations through the engine.  Superuser only.
 *
 * The result is {"ok", "error", "result", "rollback_state", "evidence"},
 * exactly what the operation reported: the tests check that no secret is
 * in it.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "connector.h"
#include "context.h"
#include "spi_util.h"
#include "vault.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

static Jsonb *
nxt_arg_jsonb(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : PG_GETARG_JSONB_P(n);
}

static void
nxt_push_jsonb(StringInfo buf, const char *key, Jsonb *value, bool comma)
{
	appendStringInfo(buf, "%s\"%s\": %s", comma ? ", " : "", key,
					 value ? JsonbToCString(NULL, &value->root, VARSIZE(value)) : "null");
}

/*
 * connector_call(type, op, config, credential, change_type, params,
 *				  new_secret, old_secret, rollback_state, undoing, timeout_ms)
 */
PG_FUNCTION_INFO_V1(nxt_connector_call);
Datum
nxt_connector_call(PG_FUNCTION_ARGS)
{
	const NxConnector *c;
	NxConnectorOp op;
	const char *opname;
	NxConnectorCall call = {0};
	NxConnectorResult out = {0};
	StringInfoData buf;

	if (!nx_caller_is_superuser())
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only a PostgreSQL superuser may call connectors directly")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NX_BAD_INPUT), errmsg("type and op are required")));
	c = nx_connector_find(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (c == NULL)
		ereport(ERROR, (errcode(ERRCODE_NX_NOT_FOUND), errmsg("no such connector type")));
	opname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(opname, "test") == 0)
		op = c->test;
	else if (strcmp(opname, "discover") == 0)
		op = c->discover;
	else if (strcmp(opname, "pre_check") == 0)
		op = c->pre_check;
	else if (strcmp(opname, "execute") == 0)
		op = c->execute;
	else if (strcmp(opname, "verify") == 0)
		op = c->verify;
	else if (strcmp(opname, "rollback") == 0)
		op = c->rollback;
	else if (strcmp(opname, "finish_rotation") == 0)
		op = c->finish_rotation;
	else
		ereport(ERROR, (errcode(ERRCODE_NX_BAD_INPUT), errmsg("no such operation: %s", opname)));
	if (op == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("connector %s has no %s operation", c->name, opname)));

	call.config = nxt_arg_jsonb(fcinfo, 2);
	call.credential = nxt_arg_jsonb(fcinfo, 3);
	if (!PG_ARGISNULL(4))
	{
		call.change_type = nx_change_type_find(c, text_to_cstring(PG_GETARG_TEXT_PP(4)));
		if (call.change_type == NULL)
			ereport(ERROR, (errcode(ERRCODE_NX_INVALID), errmsg("no such change type")));
	}
	call.params = nxt_arg_jsonb(fcinfo, 5);
	call.new_secret = nxt_arg_jsonb(fcinfo, 6);
	call.old_secret = nxt_arg_jsonb(fcinfo, 7);
	call.rollback_state = nxt_arg_jsonb(fcinfo, 8);
	call.undoing = !PG_ARGISNULL(9) && PG_GETARG_BOOL(9);
	call.deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												PG_ARGISNULL(10) ? 10000 : PG_GETARG_INT32(10));

	op(&call, &out);

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"ok\": %s", out.ok ? "true" : "false");
	if (out.error)
	{
		appendStringInfoString(&buf, ", \"error\": ");
		escape_json(&buf, out.error);
	}
	nxt_push_jsonb(&buf, "result", out.result, true);
	nxt_push_jsonb(&buf, "rollback_state", out.rollback_state, true);
	nxt_push_jsonb(&buf, "evidence", out.evidence, true);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* A stored credential as a Jsonb of this call's memory, or NULL. */
static Jsonb *
nxt_stored_secret(const char *tenant, const char *credential_id)
{
	NxSecret   *s = nx_vault_credential_secret(tenant, credential_id);
	Jsonb	   *jb = nx_jsonb_parse((const char *) s->data, (int) s->len);

	nx_secret_wipe(s);
	return jb;
}

/* A version the vault keeps beside the current one ("previous", "pending"). */
static Jsonb *
nxt_stored_version(const char *tenant, const char *credential_id, const char *status)
{
	const char *args[] = {tenant, credential_id, status};
	NxSecret   *s;
	Jsonb	   *jb;

	if (nx_spi_system("SELECT secret_blob FROM nexplane.credential_versions"
					  " WHERE tenant_id = $1::uuid AND credential_id = $2::uuid AND status = $3",
					  3, args) != 1)
		ereport(ERROR, (errcode(ERRCODE_NX_NOT_FOUND), errmsg("the credential has no %s version", status)));
	s = nx_vault_decrypt(tenant, credential_id, pstrdup(nx_spi_get(0, 1)));
	jb = nx_jsonb_parse((const char *) s->data, (int) s->len);
	nx_secret_wipe(s);
	return jb;
}

/*
 * credential_works(connector_id, credential_id, params, version): does the
 * connector's target accept the credential as the vault holds it now
 * (version "current", the default, or another the vault keeps: "previous")?
 * params are the rotation's (the account, for connectors that name it).  The connector's
 * verify of a rotation, logging in as the account with the stored secret.
 * Answers a boolean only; the plaintext stays in this call's memory.
 */
PG_FUNCTION_INFO_V1(nxt_credential_works);
Datum
nxt_credential_works(PG_FUNCTION_ARGS)
{
	const char *connector_id;
	const char *credential_id;
	const char *tenant;
	const NxConnector *c;
	NxConnectorCall call = {0};
	NxConnectorResult out = {0};
	const char *args[1];

	if (!nx_caller_is_superuser())
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only a PostgreSQL superuser may call connectors directly")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NX_BAD_INPUT), errmsg("connector_id and credential_id are required")));
	connector_id = nx_uuid_out(PG_GETARG_UUID_P(0));
	credential_id = nx_uuid_out(PG_GETARG_UUID_P(1));
	args[0] = connector_id;
	SPI_connect();
	if (nx_spi_system("SELECT tenant_id, type, config, credential_id FROM nexplane.connectors"
					  " WHERE id = $1::uuid", 1, args) != 1)
		ereport(ERROR, (errcode(ERRCODE_NX_NOT_FOUND), errmsg("no such connector")));
	tenant = pstrdup(nx_spi_get(0, 1));
	c = nx_connector_find(nx_spi_get(0, 2));
	call.config = nx_spi_get_jsonb(0, 3);
	if (nx_spi_get(0, 4))
		call.credential = nxt_stored_secret(tenant, pstrdup(nx_spi_get(0, 4)));
	if (PG_ARGISNULL(3) || strcmp(text_to_cstring(PG_GETARG_TEXT_PP(3)), "current") == 0)
		call.new_secret = nxt_stored_secret(tenant, credential_id);
	else
		call.new_secret = nxt_stored_version(tenant, credential_id,
											 text_to_cstring(PG_GETARG_TEXT_PP(3)));
	for (const NxChangeType *t = c->change_types; t->name; t++)
		if (t->rotates_secret)
			call.change_type = t;
	if (call.change_type == NULL || c->verify == NULL)
		ereport(ERROR, (errcode(ERRCODE_NX_INVALID), errmsg("connector %s has no rotation to verify", c->name)));
	call.params = PG_ARGISNULL(2) ?
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))) : PG_GETARG_JSONB_P(2);
	call.deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 10000);
	c->verify(&call, &out);
	memset(VARDATA(call.new_secret), 0, VARSIZE(call.new_secret) - VARHDRSZ);
	if (call.credential)
		memset(VARDATA(call.credential), 0, VARSIZE(call.credential) - VARHDRSZ);
	SPI_finish();
	PG_RETURN_BOOL(out.ok);
}
