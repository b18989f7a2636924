/*-------------------------------------------------------------------------
 *
 * credentials.c
 *	  credential_create and credential_rotate: the two SQL functions that
 *	  take a secret.  Both encrypt before the first write: the credential id
 *	  is made first, the blob is bound to it, and only the blob is stored,
 *	  so no tuple version or WAL record ever holds the plaintext.
 *
 * Reads (credential_get, credential_list) are SQL and return metadata only.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit.h"
#include "context.h"
#include "spi_util.h"
#include "vault.h"

#define NX_SECRET_MAX 16384


static const char *nx_credential_json_sql =
"SELECT jsonb_build_object('id', c.id, 'name', c.name, 'provider', c.provider,"
"  'mode', c.mode, 'external_ref', c.external_ref, 'key_version', c.key_version,"
"  'created_at', c.created_at, 'rotated_at', c.rotated_at,"
"  'last_validated_at', c.last_validated_at, 'health', c.health,"
"  'health_detail', c.health_detail)"
"  FROM nexplane.credentials c"
" WHERE c.tenant_id = nexplane.current_tenant_id() AND c.id = $1::uuid";

/*
 * The secret argument as text for encryption, in a buffer wiped at the end
 * of the call.  It must be a JSON object of bounded size.
 */
static NxSecret *
nx_secret_arg(FunctionCallInfo fcinfo, int argno)
{
	Datum		arg = PG_GETARG_DATUM(argno);
	Jsonb	   *jb = DatumGetJsonbP(arg);
	bool		detoasted = (Pointer) jb != DatumGetPointer(arg);
	char	   *text;
	NxSecret   *s;

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("secret must be a JSON object"),
				 errhint("For example {\"username\": \"...\", \"password\": \"...\"}.")));
	if (VARSIZE(jb) > NX_SECRET_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NX_TOO_LARGE),
				 errmsg("secret is too large"),
				 errdetail("At most %d bytes are accepted.", NX_SECRET_MAX)));
	/* room enough that the text is never reallocated, leaving a copy behind */
	text = JsonbToCString(NULL, &jb->root, 2 * VARSIZE(jb) + 64);
	s = nx_secret_alloc(strlen(text));
	memcpy(s->data, text, s->len);
	explicit_bzero(text, s->len);
	if (detoasted)
		explicit_bzero(jb, VARSIZE(jb));	/* our own decompressed copy */
	return s;
}

static void
nx_check_name(const char *what, const char *value, int maxlen)
{
	if (value[0] == '\0' || strlen(value) > (size_t) maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("%s must have 1 to %d characters", what, maxlen)));
}

static void
nx_check_provider(const char *provider)
{
	size_t		len = strlen(provider);

	if (len < 1 || len > 40 || provider[0] < 'a' || provider[0] > 'z' ||
		strspn(provider, "abcdefghijklmnopqrstuvwxyz0123456789_") != len)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("invalid provider"),
				 errdetail("A provider is a lower-case name such as \"postgresql\" or \"aws\".")));
}

/*
 * credential_create(name, provider, secret jsonb, external_ref text):
 * exactly one of secret (stored, encrypted) or external_ref (kept in an
 * external secret store and only referenced here).
 */
NX_TAKES_SECRET(nx_credential_create)
{
	const NxContext *ctx = nx_require_role(NX_ADMINS);
	char	   *name = text_to_cstring(nx_arg_text(fcinfo, 0, "name", 100));
	char	   *provider = text_to_cstring(nx_arg_text(fcinfo, 1, "provider", 40));
	bool		has_secret = !PG_ARGISNULL(2);
	char	   *external_ref = PG_ARGISNULL(3) ? NULL :
	text_to_cstring(nx_arg_text(fcinfo, 3, "external_ref", 1000));
	char	   *tenant_id = nx_uuid_out(&ctx->tenant_id);
	char	   *id;
	char	   *blob = NULL;
	char		version[16] = "";
	Jsonb	   *result;

	nx_check_name("name", name, 100);
	nx_check_provider(provider);
	if (has_secret == (external_ref != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("give either a secret or an external_ref"),
				 errhint("A stored credential has a secret; an external one names where the secret lives.")));
	if (external_ref)
		nx_check_name("external_ref", external_ref, 1000);

	SPI_connect();
	{
		const char *args[] = {name};

		if (nx_spi("SELECT 1 FROM nexplane.credentials"
				   " WHERE tenant_id = nexplane.current_tenant_id() AND name = $1",
				   1, args) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NX_CONFLICT),
					 errmsg("a credential named \"%s\" already exists", name)));
	}
	nx_spi("SELECT gen_random_uuid()", 0, NULL);
	id = nx_spi_get(0, 1);
	if (has_secret)
	{
		NxSecret   *secret = nx_secret_arg(fcinfo, 2);
		int			v;

		blob = nx_vault_encrypt(tenant_id, id, secret->data, secret->len, &v);
		nx_secret_wipe(secret);
		snprintf(version, sizeof(version), "%d", v);
	}
	{
		const char *args[] = {id, name, provider, has_secret ? "stored" : "external",
		external_ref, blob, has_secret ? version : NULL, nx_uuid_out(&ctx->user_id)};

		nx_spi("INSERT INTO nexplane.credentials"
			   " (tenant_id, id, name, provider, mode, external_ref, secret_blob,"
			   "  key_version, created_by)"
			   " VALUES (nexplane.current_tenant_id(), $1::uuid, $2, $3, $4, $5, $6,"
			   "         $7::int, $8::uuid)", 8, args);
	}
	{
		const char *args[] = {id};

		nx_spi(nx_credential_json_sql, 1, args);
		result = nx_spi_get_jsonb(0, 1);
		nx_audit_event(tenant_id, "credential.create", "credentials", id,
					   JsonbToCString(NULL, &result->root, VARSIZE(result)));
	}
	PG_RETURN_DATUM(nx_spi_return(result));
}

/* credential_rotate(id, secret): replace a stored credential's secret */
NX_TAKES_SECRET(nx_credential_rotate)
{
	const NxContext *ctx = nx_require_role(NX_ADMINS);
	char	   *tenant_id = nx_uuid_out(&ctx->tenant_id);
	char	   *id;
	NxSecret   *secret;
	char	   *blob;
	char		version[16];
	int			v;
	Jsonb	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("id and secret are required")));
	id = nx_uuid_out(PG_GETARG_UUID_P(0));
	SPI_connect();
	{
		const char *args[] = {id};

		if (nx_spi("SELECT mode FROM nexplane.credentials"
				   " WHERE tenant_id = nexplane.current_tenant_id() AND id = $1::uuid"
				   "   FOR UPDATE", 1, args) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_NX_NOT_FOUND),
					 errmsg("credential %s not found", id)));
		if (strcmp(nx_spi_get(0, 1), "stored") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_NX_CONFLICT),
					 errmsg("credential %s is external", id),
					 errhint("Rotate it in the secret store it refers to.")));
	}
	secret = nx_secret_arg(fcinfo, 1);
	blob = nx_vault_encrypt(tenant_id, id, secret->data, secret->len, &v);
	nx_secret_wipe(secret);
	snprintf(version, sizeof(version), "%d", v);
	{
		const char *args[] = {id, blob, version};

		nx_spi("UPDATE nexplane.credentials"
			   "   SET secret_blob = $2, key_version = $3::int, rotated_at = now(),"
			   "       health = 'unknown', health_detail = NULL"
			   " WHERE tenant_id = nexplane.current_tenant_id() AND id = $1::uuid",
			   3, args);
		nx_spi(nx_credential_json_sql, 1, args);
		result = nx_spi_get_jsonb(0, 1);
		nx_audit_event(tenant_id, "credential.rotate", "credentials", id, "{}");
	}
	PG_RETURN_DATUM(nx_spi_return(result));
}
