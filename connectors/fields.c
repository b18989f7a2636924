/*-------------------------------------------------------------------------
 *
 * fields.c
 *	  Checking a JSON object against a table of declared fields: a
 *	  connector's config, a credential's secret, a change's parameters.
 *
 * Unknown fields are refused too, not ignored: a misspelt optional field
 * ("sslmod") would otherwise silently mean the default.  Errors are NX422
 * and name the field, never its value (a credential's values are secret).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "connector.h"
#include "context.h"
#include "spi_util.h"
#include "vault.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#define NX_FIELD_MAX_LEN 4096

static const NxField *
nx_field_find(const NxField *fields, const char *name, int len)
{
	for (const NxField *f = fields; f && f->name; f++)
		if ((int) strlen(f->name) == len && strncmp(f->name, name, len) == 0)
			return f;
	return NULL;
}

static bool
nx_field_type_ok(const NxField *f, const JsonbValue *v)
{
	switch (f->type)
	{
		case NX_FIELD_STRING:
			return v->type == jbvString && v->val.string.len <= NX_FIELD_MAX_LEN;
		case NX_FIELD_INTEGER:
			return v->type == jbvNumeric &&
				DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(v->val.numeric),
												 DirectFunctionCall1(numeric_floor,
																	 NumericGetDatum(v->val.numeric))));
		case NX_FIELD_BOOLEAN:
			return v->type == jbvBool;
	}
	return false;
}

static const char *
nx_field_type_name(NxFieldType t)
{
	return t == NX_FIELD_STRING ? "a string" : t == NX_FIELD_INTEGER ? "an integer" : "a boolean";
}

/*
 * nx_fields_check: jb (NULL is {}) is an object whose every key is one of
 * fields, of its type, with every required field present.  what names the
 * object in errors ("config", "credential", "params").
 */
void
nx_fields_check(const NxField *fields, Jsonb *jb, const char *what)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	bool		present[64] = {0};

	if (jb == NULL)
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("%s must be a JSON object", what)));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		const NxField *f;

		if (tok != WJB_KEY)
			continue;
		f = nx_field_find(fields, k.val.string.val, k.val.string.len);
		if (f == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("%s field \"%.*s\" is not one this connector type takes", what,
							Min(k.val.string.len, 64), k.val.string.val),
					 errhint("connector_types() lists the fields of each type.")));
		tok = JsonbIteratorNext(&it, &v, true);
		if (!nx_field_type_ok(f, &v))
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("%s field \"%s\" must be %s%s", what, f->name,
							nx_field_type_name(f->type),
							f->type == NX_FIELD_STRING ? " of at most 4096 bytes" : "")));
		if (f - fields < (ptrdiff_t) lengthof(present))
			present[f - fields] = true;
	}
	for (const NxField *f = fields; f && f->name; f++)
		if (f->required && f - fields < (ptrdiff_t) lengthof(present) && !present[f - fields])
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("%s field \"%s\" is required", what, f->name),
					 errhint("%s", f->description)));
}

static const NxConnector *
nx_connector_arg(FunctionCallInfo fcinfo)
{
	const NxConnector *c;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NX_BAD_INPUT), errmsg("type is required")));
	c = nx_connector_find(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (c == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("unknown connector type \"%s\"",
						text_to_cstring(nx_arg_text(fcinfo, 0, "type", 40))),
				 errhint("connector_types() lists them.")));
	return c;
}

/* _connector_check_config(type, config): NX422 unless config fits the type. */
PG_FUNCTION_INFO_V1(nx_connector_check_config);
Datum
nx_connector_check_config(PG_FUNCTION_ARGS)
{
	const NxConnector *c = nx_connector_arg(fcinfo);

	nx_fields_check(c->config_fields, PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), "config");
	PG_RETURN_VOID();
}

/*
 * _connector_check_credential(type, credential_id): the credential, of the
 * caller's tenant, decrypts to an object with the type's credential
 * fields.  The plaintext lives only in this call's memory, wiped on the
 * way out (also on error).
 */
PG_FUNCTION_INFO_V1(nx_connector_check_credential);
Datum
nx_connector_check_credential(PG_FUNCTION_ARGS)
{
	const NxConnector *c = nx_connector_arg(fcinfo);
	const NxContext *ctx = nx_require_role(NX_ADMINS);
	NxSecret   *volatile secret = NULL;

	if (PG_ARGISNULL(1))
		PG_RETURN_VOID();
	SPI_connect();
	PG_TRY();
	{
		Jsonb	   *jb;

		secret = nx_vault_credential_secret(nx_uuid_out(&ctx->tenant_id),
											nx_uuid_out(PG_GETARG_UUID_P(1)));
		jb = nx_jsonb_parse((const char *) secret->data, (int) secret->len);
		if (jb == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NX_INVALID),
					 errmsg("the credential's secret is not a JSON object")));
		nx_fields_check(c->credential_fields, jb, "credential");
		/* the parsed copy holds the plaintext too */
		memset(VARDATA(jb), 0, VARSIZE(jb) - VARHDRSZ);
	}
	PG_FINALLY();
	{
		if (secret)
			nx_secret_wipe(secret);
	}
	PG_END_TRY();
	SPI_finish();
	PG_RETURN_VOID();
}

/* _change_params_check(type, change_type, params): NX422 unless they fit. */
PG_FUNCTION_INFO_V1(nx_change_params_check);
Datum
nx_change_params_check(PG_FUNCTION_ARGS)
{
	const NxConnector *c = nx_connector_arg(fcinfo);
	const NxChangeType *t;

	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NX_BAD_INPUT), errmsg("change_type is required")));
	t = nx_change_type_find(c, text_to_cstring(PG_GETARG_TEXT_PP(1)));
	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("connector type %s has no change type \"%s\"", c->name,
						text_to_cstring(nx_arg_text(fcinfo, 1, "change_type", 64))),
				 errhint("connector_types() lists each type's change types.")));
	if (t->params)
		nx_fields_check(t->params, PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), "params");
	PG_RETURN_VOID();
}
