/*-------------------------------------------------------------------------
 *
 * vault_rotation.c
 *	  Online key rotation, in resumable batches.
 *
 * rotate_tenant_key(batch_size): begins a rotation (a new data key version
 * becomes active) unless one is under way, then re-encrypts up to
 * batch_size of the tenant's credentials still on an older version.
 * rotate_master_key(batch_size): re-wraps up to batch_size tenant data keys
 * and tenant audit keys (audit_mac.c) still wrapped by the previous master
 * key.  Each call is one transaction
 * and each row records its own version or master key, so a call cut short
 * by a crash is simply called again; rows locked by someone else are
 * skipped (SKIP LOCKED) rather than waited for, and readers never wait.
 * Both answer how much remains.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit.h"
#include "context.h"
#include "spi_util.h"
#include "master_key.h"
#include "vault.h"

#include "lib/stringinfo.h"

static int
nx_batch_arg(FunctionCallInfo fcinfo)
{
	int			batch = PG_ARGISNULL(0) ? 500 : PG_GETARG_INT32(0);

	if (batch < 1 || batch > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("batch_size must be between 1 and 10000")));
	return batch;
}

static int64
nx_count(const char *sql, int nargs, const char *const *args)
{
	nx_spi_system(sql, nargs, args);
	return atoll(nx_spi_get(0, 1));
}

PG_FUNCTION_INFO_V1(nx_rotate_tenant_key);
Datum
nx_rotate_tenant_key(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_require_role(NX_ADMINS);
	int			batch = nx_batch_arg(fcinfo);
	char	   *tenant_id = nx_uuid_out(&ctx->tenant_id);
	char		vbuf[16];
	char		bbuf[16];
	const char *args[] = {tenant_id, vbuf, bbuf};
	const char *pending_sql = "SELECT count(*) FROM nexplane.credentials"
		" WHERE tenant_id = $1::uuid AND mode = 'stored' AND key_version <> $2::int";
	NxTenantKey active;
	bool		started = false;
	int64		done = 0;
	uint64		n;
	char	  **ids;
	char	  **blobs;
	StringInfoData out;

	SPI_connect();
	active = nx_vault_tenant_key(tenant_id, 0, true);
	snprintf(vbuf, sizeof(vbuf), "%d", active.version);
	snprintf(bbuf, sizeof(bbuf), "%d", batch);
	if (nx_count(pending_sql, 2, args) == 0)
	{
		snprintf(vbuf, sizeof(vbuf), "%d", nx_vault_new_tenant_key(tenant_id));
		started = true;
	}

	n = nx_spi_system("SELECT id, secret_blob FROM nexplane.credentials"
					  " WHERE tenant_id = $1::uuid AND mode = 'stored'"
					  "   AND key_version <> $2::int"
					  " ORDER BY id LIMIT $3::int FOR UPDATE SKIP LOCKED", 3, args);
	ids = palloc(sizeof(char *) * (n + 1));
	blobs = palloc(sizeof(char *) * (n + 1));
	for (uint64 i = 0; i < n; i++)
	{
		ids[i] = nx_spi_get(i, 1);
		blobs[i] = nx_spi_get(i, 2);
	}
	for (uint64 i = 0; i < n; i++)
	{
		NxSecret   *plain = nx_vault_decrypt(tenant_id, ids[i], blobs[i]);
		int			v;
		char	   *blob = nx_vault_encrypt(tenant_id, ids[i], plain->data, plain->len, &v);
		char		nv[16];
		const char *uargs[] = {tenant_id, ids[i], blob, nv};

		nx_secret_wipe(plain);
		snprintf(nv, sizeof(nv), "%d", v);
		nx_spi_system("UPDATE nexplane.credentials SET secret_blob = $3, key_version = $4::int"
					  " WHERE tenant_id = $1::uuid AND id = $2::uuid", 4, uargs);
		done++;
		CHECK_FOR_INTERRUPTS();
	}

	initStringInfo(&out);
	appendStringInfo(&out,
					 "{\"key_version\": %s, \"started\": %s, \"reencrypted\": " INT64_FORMAT
					 ", \"remaining\": " INT64_FORMAT "}",
					 vbuf, started ? "true" : "false", done,
					 nx_count(pending_sql, 2, args));
	nx_audit_event(tenant_id, "vault.rotate_tenant_key", "tenant_keys", vbuf, out.data);
	PG_RETURN_DATUM(nx_spi_return(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	 CStringGetDatum(out.data)))));
}

/*
 * rotate_master_key(batch_size): a PostgreSQL superuser or a platform
 * superadmin.  The server must have been started with the new key as
 * nexplane.master_key_file and the old one as previous_master_key_file;
 * once "remaining" is 0 the old key may be removed from the configuration.
 */
PG_FUNCTION_INFO_V1(nx_rotate_master_key);
Datum
nx_rotate_master_key(PG_FUNCTION_ARGS)
{
	const NxContext *ctx = nx_context_get();
	int			batch = nx_batch_arg(fcinfo);
	const char *current_id;
	char		bbuf[16];
	const char *args[] = {NULL, bbuf};
	const char *pending_sql = "SELECT (SELECT count(*) FROM nexplane.tenant_keys"
		"         WHERE master_key_id <> $1)"
		"     + (SELECT count(*) FROM nexplane.audit_keys WHERE master_key_id <> $1)"
		"     + (SELECT count(*) FROM nexplane.agent_ca WHERE master_key_id <> $1)";
	int64		done = 0;
	uint64		n;
	char	  **tenants;
	char	  **versions;
	StringInfoData out;

	if (!nx_caller_is_superuser() && (ctx == NULL || !nx_role_is_superadmin(ctx->role)))
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only a PostgreSQL superuser or a platform superadmin may rotate the master key")));
	current_id = nx_master_require()->id;
	args[0] = current_id;
	snprintf(bbuf, sizeof(bbuf), "%d", batch);

	SPI_connect();
	n = nx_spi_system("SELECT tenant_id, version FROM nexplane.tenant_keys"
					  " WHERE master_key_id <> $1"
					  " ORDER BY tenant_id, version LIMIT $2::int FOR UPDATE SKIP LOCKED",
					  2, args);
	tenants = palloc(sizeof(char *) * (n + 1));
	versions = palloc(sizeof(char *) * (n + 1));
	for (uint64 i = 0; i < n; i++)
	{
		tenants[i] = nx_spi_get(i, 1);
		versions[i] = nx_spi_get(i, 2);
	}
	for (uint64 i = 0; i < n; i++)
	{
		if (nx_vault_rewrap(tenants[i], atoi(versions[i])))
		{
			done++;
			nx_audit_event(tenants[i], "vault.rotate_master_key", "tenant_keys", versions[i],
						   psprintf("{\"master_key_id\": \"%s\"}", current_id));
		}
		CHECK_FOR_INTERRUPTS();
	}

	/* then the audit keys, with what is left of the batch */
	snprintf(bbuf, sizeof(bbuf), "%d", batch - (int) n);
	n = batch > (int) n ?
		nx_spi_system("SELECT tenant_id FROM nexplane.audit_keys WHERE master_key_id <> $1"
					  " ORDER BY tenant_id LIMIT $2::int FOR UPDATE SKIP LOCKED", 2, args) : 0;
	tenants = palloc(sizeof(char *) * (n + 1));
	for (uint64 i = 0; i < n; i++)
		tenants[i] = nx_spi_get(i, 1);
	for (uint64 i = 0; i < n; i++)
	{
		if (nx_audit_key_rewrap(tenants[i]))
		{
			done++;
			nx_audit_event(tenants[i], "vault.rotate_master_key", "audit_keys", NULL,
						   psprintf("{\"master_key_id\": \"%s\"}", current_id));
		}
		CHECK_FOR_INTERRUPTS();
	}

	/* and the agent CA's key (pki.c), the installation's one */
	if (done < batch && nx_agent_ca_rewrap())
		done++;

	initStringInfo(&out);
	appendStringInfo(&out,
					 "{\"master_key_id\": \"%s\", \"rewrapped\": " INT64_FORMAT
					 ", \"remaining\": " INT64_FORMAT "}",
					 current_id, done, nx_count(pending_sql, 1, args));
	PG_RETURN_DATUM(nx_spi_return(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	 CStringGetDatum(out.data)))));
}
