/*-------------------------------------------------------------------------
 *
 * nexplane_test.c
 *	  The test-only extension nexplane_test: superuser-only instruments for
 *	  tests and benchmarks, kept out of nexplane.so.  Neither returns
 *	  plaintext: vault_verify answers whether a credential decrypts to an
 *	  expected value (constant-time compare), vault_bench times the vault.
 *	  Both check for a superuser themselves, whatever the grants say.
 *
 * The vault's functions are nexplane.so's: that library is preloaded
 * (shared_preload_libraries), and PostgreSQL loads libraries with
 * RTLD_GLOBAL, so this one resolves them when it is loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "jwt.h"
#include "spi_util.h"
#include "vault.h"

#include "portability/instr_time.h"
#include "utils/memutils.h"

#include <openssl/crypto.h>

static void
nxt_require_superuser(void)
{
	if (!nx_caller_is_superuser())
		ereport(ERROR,
				(errcode(ERRCODE_NX_FORBIDDEN),
				 errmsg("only a PostgreSQL superuser may use the vault instruments")));
}

/* vault_verify(credential_id, expected jsonb) returns boolean */
PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(nxt_vault_verify);
Datum
nxt_vault_verify(PG_FUNCTION_ARGS)
{
	char	   *id;
	Jsonb	   *expected;
	char	   *want;
	NxSecret   *got;
	bool		same;

	nxt_require_superuser();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("credential_id and expected are required")));
	id = nx_uuid_out(PG_GETARG_UUID_P(0));
	expected = PG_GETARG_JSONB_P(1);
	want = JsonbToCString(NULL, &expected->root, VARSIZE(expected));

	SPI_connect();
	{
		const char *args[] = {id};

		if (nx_spi_system("SELECT tenant_id FROM nexplane.credentials WHERE id = $1::uuid",
						  1, args) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_NX_NOT_FOUND),
					 errmsg("credential %s not found", id)));
		got = nx_vault_credential_secret(nx_spi_get(0, 1), id);
	}
	same = got->len == strlen(want) && CRYPTO_memcmp(got->data, want, got->len) == 0;
	nx_secret_wipe(got);
	SPI_finish();
	PG_RETURN_BOOL(same);
}

/* One timed pass of n encryptions or decryptions; cold forgets cached keys. */
static double
nxt_bench_pass(const char *tenant_id, int n, bool encrypt, bool cold,
			  char **blobs, MemoryContext keep)
{
	unsigned char plain[200];
	instr_time	t0,
				t1;

	memset(plain, 'x', sizeof(plain));
	INSTR_TIME_SET_CURRENT(t0);
	for (int i = 0; i < n; i++)
	{
		if (cold)
			nx_vault_forget_keys();
		if (encrypt)
		{
			int			v;
			char	   *b = nx_vault_encrypt(tenant_id, "bench", plain, sizeof(plain), &v);

			blobs[i] = MemoryContextStrdup(keep, b);
		}
		else
			nx_secret_wipe(nx_vault_decrypt(tenant_id, "bench", blobs[i]));
	}
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	return n / INSTR_TIME_GET_DOUBLE(t1);
}

/*
 * vault_bench(tenant_id, n): encrypt and decrypt a 200-byte secret n times
 * each under the tenant's key, warm (the data key cached for the
 * transaction, as in a batch) and cold (looked up and unwrapped each time,
 * as for one credential per transaction); answers operations per second.
 */
PG_FUNCTION_INFO_V1(nxt_vault_bench);
Datum
nxt_vault_bench(PG_FUNCTION_ARGS)
{
	char	   *tenant_id;
	int			n = PG_GETARG_INT32(1);
	char	  **blobs;
	MemoryContext keep;
	double		enc,
				dec,
				enc_cold,
				dec_cold;
	char	   *json;

	nxt_require_superuser();
	if (PG_ARGISNULL(0) || n < 1 || n > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("tenant_id and n between 1 and 1000000 are required")));
	tenant_id = nx_uuid_out(PG_GETARG_UUID_P(0));
	keep = AllocSetContextCreate(CurrentMemoryContext, "vault bench",
								 ALLOCSET_DEFAULT_SIZES);
	blobs = MemoryContextAlloc(keep, sizeof(char *) * n);

	SPI_connect();
	enc = nxt_bench_pass(tenant_id, n, true, false, blobs, keep);
	dec = nxt_bench_pass(tenant_id, n, false, false, blobs, keep);
	enc_cold = nxt_bench_pass(tenant_id, n, true, true, blobs, keep);
	dec_cold = nxt_bench_pass(tenant_id, n, false, true, blobs, keep);
	SPI_finish();

	json = psprintf("{\"n\": %d, \"encrypt_per_sec\": %.0f, \"decrypt_per_sec\": %.0f,"
					" \"encrypt_cold_per_sec\": %.0f, \"decrypt_cold_per_sec\": %.0f}",
					n, enc, dec, enc_cold, dec_cold);
	MemoryContextDelete(keep);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/*
 * jwt_cache_stats(): this backend's JWT signature cache (jwt_cache.c), its
 * hits, misses and entries, so tests can see a token was served from it.
 */
PG_FUNCTION_INFO_V1(nxt_jwt_cache_stats);
Datum
nxt_jwt_cache_stats(PG_FUNCTION_ARGS)
{
	int64		hits;
	int64		misses;
	int			entries;

	nxt_require_superuser();
	nx_jwt_cache_stats(&hits, &misses, &entries);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(
		psprintf("{\"hits\": " INT64_FORMAT ", \"misses\": " INT64_FORMAT ", \"entries\": %d}",
				 hits, misses, entries))));
}
