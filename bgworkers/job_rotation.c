/*-------------------------------------------------------------------------
 *
 * job_rotation.c
 *	  The vault's side of a rotation, so that no crash can lose a
 *	  credential.
 *
 * Before the target is touched, the new secret is generated (OpenSSL's
 * random source) and stored encrypted as the credential's pending version,
 * and that transaction commits.  Only after the connector's verify has
 * logged in with it does promotion make it current, keeping the replaced
 * one as the previous version (for rollback).  At every moment the vault
 * holds each version the target may be accepting: the current one until
 * the change, the pending one from just before it, and recovery (a lost
 * worker) asks the target which one it takes and keeps that one.
 *
 * The account's credential is params.credential_id, or the connector's
 * own login when the change names none; it has the connector type's
 * credential fields, and the rotation replaces its "password".  The
 * password policy: nexplane's own, config.password_length characters
 * (16..128, default 32) of A-Z a-z 0-9, which every target accepts in
 * every quoting context.
 *
 *-------------------------------------------------------------------------
 */
#include "job_run.h"

#include "executor/spi.h"
#include "utils/json.h"

#include "spi_util.h"
#include "vault.h"

#include <openssl/rand.h>

static const char alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* A password of n characters of the alphabet, by rejection sampling. */
static void
nx_generate_password(char *out, int n)
{
	const int	k = sizeof(alphabet) - 1;
	const int	limit = 256 - (256 % k);
	unsigned char buf[64];
	int			have = 0;

	while (have < n)
	{
		if (RAND_bytes(buf, sizeof(buf)) != 1)
			nx_openssl_error("could not generate a password");
		for (size_t i = 0; i < sizeof(buf) && have < n; i++)
			if (buf[i] < limit)
				out[have++] = alphabet[buf[i] % k];
	}
	out[n] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
}

/* The account's secret with its password replaced, as JSON text (secret). */
static StringInfo
nx_with_password(Jsonb *secret, const char *password)
{
	StringInfo	buf = makeStringInfo();
	JsonbIterator *it = JsonbIteratorInit(&secret->root);
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	bool		first = true;

	appendStringInfoChar(buf, '{');
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		if (k.val.string.len == 8 && strncmp(k.val.string.val, "password", 8) == 0)
			continue;
		if (!first)
			appendStringInfoString(buf, ", ");
		first = false;
		escape_json(buf, pnstrdup(k.val.string.val, k.val.string.len));
		appendStringInfoString(buf, ": ");
		if (v.type == jbvString)
			escape_json(buf, pnstrdup(v.val.string.val, v.val.string.len));
		else if (v.type == jbvBool)
			appendStringInfoString(buf, v.val.boolean ? "true" : "false");
		else if (v.type == jbvNumeric)
			appendStringInfoString(buf, DatumGetCString(DirectFunctionCall1(numeric_out,
																		   NumericGetDatum(v.val.numeric))));
		else
			appendStringInfoString(buf, "null");
	}
	appendStringInfo(buf, "%s\"password\": ", first ? "" : ", ");
	escape_json(buf, password);
	appendStringInfoChar(buf, '}');
	return buf;
}

static const char *
nx_account(NxRun *run)
{
	char	   *named = nx_jsonb_get_cstring(run->params, "credential_id");

	return named ? named : run->credential_id;
}

bool
nx_rotation_has_pending(NxRun *run)
{
	const char *args[] = {run->job->tenant_id, run->account_id};

	return nx_spi("SELECT 1 FROM nexplane.credential_versions"
				  " WHERE tenant_id = $1::uuid AND credential_id = $2::uuid"
				  "   AND status = 'pending'", 2, args) == 1;
}

/* Decrypt one stored version into the run's memory. */
static Jsonb *
nx_load_version(NxRun *run, const char *blob)
{
	NxSecret   *s = nx_vault_decrypt(run->job->tenant_id, run->account_id, blob);
	Jsonb	   *jb = nx_run_keep_secret(run, s->data, s->len);

	nx_secret_wipe(s);
	return jb;
}

/*
 * Make and store the pending version; fills old_secret and new_secret.
 * Returns NULL, or why the rotation cannot start.
 */
const char *
nx_rotation_prepare(NxRun *run)
{
	int64		length = 32;
	char		password[129];
	StringInfo	json;
	char	   *blob;
	int			key_version;
	char		kv[16];
	const char *account = nx_account(run);

	if (account == NULL)
		return "the change names no credential_id and the connector has no credential";
	run->account_id = MemoryContextStrdup(run->cxt, account);
	if (nx_jsonb_get_int64(run->config, "password_length", &length) &&
		(length < 16 || length > 128))
		return "config.password_length must be between 16 and 128";
	{
		const char *args[] = {run->job->tenant_id, run->account_id};

		if (nx_spi("SELECT secret_blob FROM nexplane.credentials"
				   " WHERE tenant_id = $1::uuid AND id = $2::uuid AND mode = 'stored'",
				   2, args) != 1)
			return "the credential to rotate does not exist in this tenant's vault";
		run->old_secret = nx_load_version(run, nx_spi_get(0, 1));
	}
	if (nx_rotation_has_pending(run))
		return "an earlier rotation of this credential is unresolved (a pending version exists)";

	nx_generate_password(password, (int) length);
	json = nx_with_password(run->old_secret, password);
	OPENSSL_cleanse(password, sizeof(password));
	run->new_secret = nx_run_keep_secret(run, (unsigned char *) json->data, json->len);
	blob = nx_vault_encrypt(run->job->tenant_id, run->account_id,
							(unsigned char *) json->data, json->len, &key_version);
	OPENSSL_cleanse(json->data, json->len);
	snprintf(kv, sizeof(kv), "%d", key_version);
	{
		const char *args[] = {run->job->tenant_id, run->account_id, blob, kv, run->job->id};

		nx_spi("INSERT INTO nexplane.credential_versions"
			   " (tenant_id, credential_id, status, secret_blob, key_version, job_id)"
			   " VALUES ($1::uuid, $2::uuid, 'pending', $3, $4::int, $5::uuid)", 5, args);
	}
	return NULL;
}

/*
 * For the recovery of a lost rotation: the current version as old_secret
 * and the pending one as new_secret.  False when no version is pending
 * (the rotation never stored one, or it was resolved).
 */
bool
nx_rotation_load_pending(NxRun *run)
{
	const char *account = nx_account(run);
	const char *args[2];
	char	   *current;
	char	   *pending;

	if (account == NULL)
		return false;
	run->account_id = MemoryContextStrdup(run->cxt, account);
	args[0] = run->job->tenant_id;
	args[1] = run->account_id;
	if (nx_spi("SELECT c.secret_blob, p.secret_blob FROM nexplane.credentials c"
			   "  JOIN nexplane.credential_versions p ON p.tenant_id = c.tenant_id"
			   "   AND p.credential_id = c.id AND p.status = 'pending'"
			   " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 2, args) != 1)
		return false;
	current = pstrdup(nx_spi_get(0, 1));
	pending = pstrdup(nx_spi_get(0, 2));
	run->old_secret = nx_load_version(run, current);
	run->new_secret = nx_load_version(run, pending);
	return true;
}

/* The target takes the pending version: it becomes current. */
void
nx_rotation_promote(NxRun *run)
{
	const char *args[] = {run->job->tenant_id, run->account_id};

	nx_spi("INSERT INTO nexplane.credential_versions"
		   " (tenant_id, credential_id, status, secret_blob, key_version, job_id)"
		   " SELECT c.tenant_id, c.id, 'previous', c.secret_blob, c.key_version, p.job_id"
		   "   FROM nexplane.credentials c JOIN nexplane.credential_versions p"
		   "     ON p.tenant_id = c.tenant_id AND p.credential_id = c.id AND p.status = 'pending'"
		   "  WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid"
		   " ON CONFLICT (tenant_id, credential_id, status) DO UPDATE"
		   "   SET secret_blob = EXCLUDED.secret_blob, key_version = EXCLUDED.key_version,"
		   "       job_id = EXCLUDED.job_id, created_at = now()", 2, args);
	nx_spi("UPDATE nexplane.credentials c"
		   "   SET secret_blob = p.secret_blob, key_version = p.key_version, rotated_at = now(),"
		   "       health = 'ok', last_validated_at = now(), health_detail = NULL"
		   "  FROM nexplane.credential_versions p"
		   " WHERE p.tenant_id = c.tenant_id AND p.credential_id = c.id AND p.status = 'pending'"
		   "   AND c.tenant_id = $1::uuid AND c.id = $2::uuid", 2, args);
	nx_rotation_discard(run);
}

/* The target kept the current version: the pending one goes. */
void
nx_rotation_discard(NxRun *run)
{
	const char *args[] = {run->job->tenant_id, run->account_id};

	nx_spi("DELETE FROM nexplane.credential_versions"
		   " WHERE tenant_id = $1::uuid AND credential_id = $2::uuid AND status = 'pending'",
		   2, args);
}

/*
 * A rotation's rollback: new_secret is the previous version, old_secret
 * the current.  Returns NULL, or why it cannot run.
 */
const char *
nx_rotation_prepare_undo(NxRun *run)
{
	char	   *id = nx_jsonb_get_cstring(run->rollback_state, "credential_id");
	const char *args[2];

	if (id == NULL)
		return "the change's rollback state names no credential";
	run->account_id = MemoryContextStrdup(run->cxt, id);
	args[0] = run->job->tenant_id;
	args[1] = run->account_id;
	/*
	 * A lost rotation whose target took neither version keeps both and its
	 * rollback state: "previous" is then not what this rotation replaced.
	 */
	if (nx_rotation_has_pending(run))
		return "the credential has an unresolved pending version (a rotation whose outcome is"
			" unknown): resolve it before rolling back";
	if (nx_spi("SELECT c.secret_blob, p.secret_blob FROM nexplane.credentials c"
			   "  JOIN nexplane.credential_versions p"
			   "    ON p.tenant_id = c.tenant_id AND p.credential_id = c.id AND p.status = 'previous'"
			   " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid", 2, args) != 1)
		return "the credential has no previous version to go back to";
	{
		char	   *current = pstrdup(nx_spi_get(0, 1));
		char	   *previous = pstrdup(nx_spi_get(0, 2));

		run->old_secret = nx_load_version(run, current);
		run->new_secret = nx_load_version(run, previous);
	}
	return NULL;
}

/* After a verified rollback: previous and current change places. */
void
nx_rotation_swap_back(NxRun *run)
{
	const char *args[] = {run->job->tenant_id, run->account_id};
	char	   *cur_blob,
			   *cur_version,
			   *prev_blob,
			   *prev_version;

	if (nx_spi("SELECT c.secret_blob, c.key_version, p.secret_blob, p.key_version"
			   "  FROM nexplane.credentials c JOIN nexplane.credential_versions p"
			   "    ON p.tenant_id = c.tenant_id AND p.credential_id = c.id AND p.status = 'previous'"
			   " WHERE c.tenant_id = $1::uuid AND c.id = $2::uuid"
			   "   FOR UPDATE OF c, p", 2, args) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("the rotated credential lost its previous version during the rollback")));
	cur_blob = pstrdup(nx_spi_get(0, 1));
	cur_version = pstrdup(nx_spi_get(0, 2));
	prev_blob = pstrdup(nx_spi_get(0, 3));
	prev_version = pstrdup(nx_spi_get(0, 4));
	{
		const char *cargs[] = {args[0], args[1], prev_blob, prev_version};
		const char *pargs[] = {args[0], args[1], cur_blob, cur_version};

		nx_spi("UPDATE nexplane.credentials SET secret_blob = $3, key_version = $4::int,"
			   "       rotated_at = now()"
			   " WHERE tenant_id = $1::uuid AND id = $2::uuid", 4, cargs);
		nx_spi("UPDATE nexplane.credential_versions SET secret_blob = $3, key_version = $4::int,"
			   "       created_at = now()"
			   " WHERE tenant_id = $1::uuid AND credential_id = $2::uuid AND status = 'previous'",
			   4, pargs);
	}
}
