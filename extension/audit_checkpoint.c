/*-------------------------------------------------------------------------
 *
 * audit_checkpoint.c
 *	  Signed checkpoints of a tenant's audit chain: the anchor a tenant
 *	  keeps outside the database.
 *
 * A checkpoint names a tenant, a chain position (chain_seq), the link
 * hash there and the time, signed with Ed25519.  The signing key is
 * derived from the vault master key (HKDF-SHA256, its own label), which
 * lives only in process memory: SQL can neither read the key nor sign
 * anything with it but a real chain head.  So a tenant holding an
 * exported checkpoint can prove, with audit_verify(checkpoint), that the
 * trail still extends it, and anyone can check the signature offline with
 * the public key audit_checkpoint_key() gives.  A superuser who rewrites
 * the chain can make it consistent again, but not consistent with a
 * checkpoint already taken out.
 *
 * The key follows the master key: after rotate_master_key(), checkpoints
 * signed before verify only while the previous key is configured as
 * nexplane.previous_master_key_file (their key_id says which key).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "master_key.h"
#include "spi_util.h"

#include "executor/spi.h"

#include "lib/stringinfo.h"
#include "utils/json.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#define NX_CHECKPOINT_LABEL "nexplane audit checkpoint v1"

/* The Ed25519 key of a master key: HKDF-SHA256(master, label) as its seed. */
static EVP_PKEY *
nx_checkpoint_key(const NxMasterKey *mk)
{
	unsigned char seed[32];
	EVP_PKEY   *key = NULL;

	if (nx_hkdf_sha256(mk->secret, mk->len, NX_CHECKPOINT_LABEL, seed, sizeof(seed)))
		key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	explicit_bzero(seed, sizeof(seed));
	if (key == NULL)
		nx_openssl_error("deriving the audit checkpoint key");
	return key;
}

/* What is signed: one line per field, fixed order, no JSON canonicalisation. */
static char *
nx_checkpoint_message(const char *tenant_id, int64 seq, const char *hash_hex, const char *at)
{
	return psprintf("nexplane-audit-checkpoint-v1\n%s\n" INT64_FORMAT "\n%s\n%s",
					tenant_id, seq, hash_hex, at);
}

/* The key's id: the master key's public fingerprint (which key signed). */
static const NxMasterKey *
nx_checkpoint_master(const char *key_id)
{
	const NxMasterKey *mk = key_id ? nx_master_find(key_id) : nx_master_require();

	if (mk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("the checkpoint was signed by a key this server does not have"),
				 errdetail("Its key_id is \"%s\".", key_id),
				 errhint("If the master key was rotated since, configure the previous one as nexplane.previous_master_key_file.")));
	return mk;
}

/*
 * _audit_sign(tenant): the signed checkpoint of the tenant's chain head as
 * it is now.  It takes no hash and no time from its caller, so not even a
 * superuser can have it sign anything but a head that is in the table at
 * this moment (one who rewrote the chain gets a checkpoint of the rewrite,
 * dated now, which a checkpoint taken out before does not match).
 */
PG_FUNCTION_INFO_V1(nx_audit_sign);
Datum
nx_audit_sign(PG_FUNCTION_ARGS)
{
	char	   *tenant_id = nx_uuid_out(PG_GETARG_UUID_P(0));
	const char *args[] = {tenant_id};
	const NxMasterKey *mk = nx_master_require();
	int64		seq = 0;
	char	   *hash_hex;
	char	   *at;
	char	   *msg;
	unsigned char sig[64];
	size_t		siglen = sizeof(sig);
	EVP_PKEY   *volatile key = NULL;
	EVP_MD_CTX *volatile md = NULL;
	StringInfoData out;
	MemoryContext caller = CurrentMemoryContext;

	SPI_connect();
	nx_spi_system("SELECT coalesce(h.last_seq, 0), encode(coalesce(h.last_hash,"
				  "       nexplane._audit_genesis()), 'hex'),"
				  "       to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
				  "  FROM (SELECT 1) one"
				  "  LEFT JOIN nexplane.audit_chain_heads h ON h.tenant_id = $1::uuid", 1, args);
	seq = atoll(nx_spi_get(0, 1));
	hash_hex = MemoryContextStrdup(caller, nx_spi_get(0, 2));
	at = MemoryContextStrdup(caller, nx_spi_get(0, 3));
	SPI_finish();
	msg = nx_checkpoint_message(tenant_id, seq, hash_hex, at);
	PG_TRY();
	{
		key = nx_checkpoint_key(mk);
		md = EVP_MD_CTX_new();
		if (md == NULL || EVP_DigestSignInit(md, NULL, NULL, NULL, key) <= 0 ||
			EVP_DigestSign(md, sig, &siglen, (const unsigned char *) msg, strlen(msg)) <= 0)
			nx_openssl_error("signing the audit checkpoint");
	}
	PG_FINALLY();
	{
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(key);
	}
	PG_END_TRY();

	initStringInfo(&out);
	appendStringInfo(&out, "{\"tenant_id\": \"%s\", \"chain_seq\": " INT64_FORMAT
					 ", \"hash\": \"%s\", \"at\": ", tenant_id, seq, hash_hex);
	escape_json(&out, at);
	appendStringInfo(&out, ", \"key_id\": \"%s\", \"algorithm\": \"Ed25519\", \"signature\": \"%s\"}",
					 mk->id, nx_base64url_encode(sig, (int) siglen));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/* A required string field of a checkpoint, or NX422 naming it. */
static char *
nx_checkpoint_field(Jsonb *cp, const char *name)
{
	char	   *v = nx_jsonb_get_cstring(cp, name);

	if (v == NULL || strlen(v) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("the checkpoint has no valid \"%s\"", name),
				 errhint("Pass the checkpoint exactly as audit_checkpoint() returned it.")));
	return v;
}

/*
 * _audit_signature_ok(checkpoint): does its signature hold for its own
 * fields?  NX422 for a checkpoint that is not one.
 */
PG_FUNCTION_INFO_V1(nx_audit_signature_ok);
Datum
nx_audit_signature_ok(PG_FUNCTION_ARGS)
{
	Jsonb	   *cp = PG_GETARG_JSONB_P(0);
	char	   *tenant_id = nx_checkpoint_field(cp, "tenant_id");
	char	   *hash_hex = nx_checkpoint_field(cp, "hash");
	char	   *at = nx_checkpoint_field(cp, "at");
	char	   *key_id = nx_checkpoint_field(cp, "key_id");
	char	   *sig64 = nx_checkpoint_field(cp, "signature");
	int64		seq;
	unsigned char *sig;
	int			siglen;
	const NxMasterKey *mk;
	EVP_PKEY   *volatile key = NULL;
	EVP_MD_CTX *volatile md = NULL;
	volatile bool ok = false;
	char	   *msg;

	if (!nx_jsonb_get_int64(cp, "chain_seq", &seq) || seq < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INVALID),
				 errmsg("the checkpoint has no valid \"chain_seq\"")));
	sig = nx_base64url_decode(sig64, (int) strlen(sig64), &siglen);
	if (sig == NULL || siglen != 64)
		PG_RETURN_BOOL(false);
	mk = nx_checkpoint_master(key_id);
	msg = nx_checkpoint_message(tenant_id, seq, hash_hex, at);
	PG_TRY();
	{
		key = nx_checkpoint_key(mk);
		md = EVP_MD_CTX_new();
		if (md == NULL || EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) <= 0)
			nx_openssl_error("checking the audit checkpoint");
		ok = EVP_DigestVerify(md, sig, (size_t) siglen, (const unsigned char *) msg,
							  strlen(msg)) == 1;
		ERR_clear_error();
	}
	PG_FINALLY();
	{
		EVP_MD_CTX_free(md);
		EVP_PKEY_free(key);
	}
	PG_END_TRY();
	PG_RETURN_BOOL(ok);
}

/* audit_checkpoint_key(): the public key that checks checkpoints offline */
PG_FUNCTION_INFO_V1(nx_audit_checkpoint_key);
Datum
nx_audit_checkpoint_key(PG_FUNCTION_ARGS)
{
	const NxMasterKey *mk = nx_master_require();
	EVP_PKEY   *key = nx_checkpoint_key(mk);
	unsigned char pub[32];
	size_t		len = sizeof(pub);
	char	   *json;

	if (EVP_PKEY_get_raw_public_key(key, pub, &len) <= 0)
	{
		EVP_PKEY_free(key);
		nx_openssl_error("reading the audit checkpoint public key");
	}
	EVP_PKEY_free(key);
	json = psprintf("{\"key_id\": \"%s\", \"algorithm\": \"Ed25519\", \"public_key\": \"%s\","
					" \"signed\": \"nexplane-audit-checkpoint-v1\\\\n<tenant_id>\\\\n<chain_seq>"
					"\\\\n<hash>\\\\n<at>\"}",
					mk->id, nx_base64url_encode(pub, (int) len));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}
