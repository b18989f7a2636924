/*-------------------------------------------------------------------------
 *
 * vault.c
 *	  The credential vault: key-encryption keys, per-tenant data keys, and
 *	  AES-256-GCM blobs.
 *
 * The master key (master_key.c) is stretched with PBKDF2-HMAC-SHA256
 * (600,000 iterations, salt stored in every tenant_keys row) into the
 * key-encryption key, derived once per backend and cached in locked memory.
 *
 * Each tenant has a random 256-bit data key, stored wrapped (AES-256-GCM)
 * by the key-encryption key, with a version.  A secret is encrypted under
 * the tenant's active data key with a fresh 96-bit IV and additional
 * authenticated data naming its tenant, credential and key version, so a
 * blob copied anywhere else fails to decrypt.  Stored blob, base64:
 *
 *	 format (1 byte, 0x01) | key version (4, big-endian) | IV (12) |
 *	 ciphertext | tag (16)
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "context.h"
#include "spi_util.h"
#include "master_key.h"
#include "vault.h"

#include "common/base64.h"
#include "access/xact.h"
#include "utils/memutils.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define NX_KEY_LEN 32
#define NX_IV_LEN 12
#define NX_TAG_LEN 16
#define NX_SALT_LEN 16
#define NX_KDF_ITERATIONS 600000
#define NX_BLOB_FORMAT 0x01
#define NX_BLOB_HEADER (1 + 4 + NX_IV_LEN)
#define NX_WRAPPED_LEN (NX_IV_LEN + NX_KEY_LEN + NX_TAG_LEN)
#define NX_KEK_CACHE 4

typedef struct NxKekEntry
{
	bool		valid;
	char		id[17];
	unsigned char salt[NX_SALT_LEN];
	int			iterations;
	unsigned char kek[NX_KEY_LEN];
} NxKekEntry;

static NxKekEntry *kek_cache = NULL;	/* locked memory */

/*
 * Unwrapped data keys, for the rest of the transaction only: they live in
 * TopTransactionContext and are wiped when it goes.  A subtransaction abort
 * or a rotation drops them, so a key version rolled back or replaced is
 * never used again.
 */
#define NX_KEY_CACHE 16
typedef struct NxKeyCacheEntry
{
	char		tenant_id[37];
	int			version;
	bool		active;
	NxSecret   *key;
} NxKeyCacheEntry;

static NxKeyCacheEntry *key_cache = NULL;
static int	key_cache_used = 0;

/* ---- secret memory ---- */

static void
nx_secret_reset_callback(void *arg)
{
	NxSecret   *s = (NxSecret *) arg;

	if (s->data)
		explicit_bzero(s->data, s->len);
}

NxSecret *
nx_secret_alloc(size_t len)
{
	NxSecret   *s = palloc0(sizeof(NxSecret));
	MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));

	s->data = palloc0(len + 1);
	s->len = len;
	cb->func = nx_secret_reset_callback;
	cb->arg = s;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, cb);
	return s;
}

void
nx_secret_wipe(NxSecret *s)
{
	if (s && s->data)
		explicit_bzero(s->data, s->len);
}

/* ---- key derivation ---- */

static const unsigned char *
nx_kek(const NxMasterKey *k, const unsigned char *salt, int iterations)
{
	NxKekEntry *e;

	if (kek_cache == NULL)
	{
		kek_cache = nx_locked_alloc(sizeof(NxKekEntry) * NX_KEK_CACHE);
		if (kek_cache == NULL)
			elog(ERROR, "out of memory");
	}
	for (int i = 0; i < NX_KEK_CACHE; i++)
	{
		e = &kek_cache[i];
		if (e->valid && strcmp(e->id, k->id) == 0 && e->iterations == iterations &&
			memcmp(e->salt, salt, NX_SALT_LEN) == 0)
			return e->kek;
	}
	/* replace the oldest entry (slot 0 after a shift) */
	explicit_bzero(&kek_cache[0], sizeof(NxKekEntry));
	memmove(&kek_cache[0], &kek_cache[1], sizeof(NxKekEntry) * (NX_KEK_CACHE - 1));
	e = &kek_cache[NX_KEK_CACHE - 1];
	memset(e, 0, sizeof(*e));
	if (PKCS5_PBKDF2_HMAC((const char *) k->secret, k->len, salt, NX_SALT_LEN,
						  iterations, EVP_sha256(), NX_KEY_LEN, e->kek) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not derive the key-encryption key")));
	memcpy(e->id, k->id, sizeof(e->id));
	memcpy(e->salt, salt, NX_SALT_LEN);
	e->iterations = iterations;
	e->valid = true;
	return e->kek;
}

/* ---- AES-256-GCM ---- */

/*
 * AES-256-GCM with a 96-bit IV and a 128-bit tag over in[len], with aad as
 * additional data.  Decryption that fails authentication leaves no output.
 */
bool
nx_gcm(bool encrypt, const unsigned char *key, const unsigned char *iv,
	   const char *aad, const unsigned char *in, int len,
	   unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	volatile bool ok = false;
	int			n = 0;

	if (ctx == NULL)
		elog(ERROR, "out of memory");
	PG_TRY();
	{
		ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) == 1 &&
			EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NX_IV_LEN, NULL) == 1 &&
			EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, encrypt) == 1 &&
			EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *) aad, strlen(aad)) == 1 &&
			EVP_CipherUpdate(ctx, out, &n, in, len) == 1;
		if (ok && !encrypt)
			ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, NX_TAG_LEN, tag) == 1;
		if (ok)
			ok = EVP_CipherFinal_ex(ctx, out + n, &n) == 1;
		if (ok && encrypt)
			ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, NX_TAG_LEN, tag) == 1;
	}
	PG_FINALLY();
	{
		EVP_CIPHER_CTX_free(ctx);
	}
	PG_END_TRY();
	if (!ok && !encrypt)
		explicit_bzero(out, len);	/* no unauthenticated output */
	return ok;
}

void
nx_random(unsigned char *buf, int len)
{
	if (RAND_bytes(buf, len) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not generate random bytes")));
}

/* ---- tenant data keys ---- */

static char *
nx_tenant_key_aad(const char *tenant_id, int version)
{
	return psprintf("nexplane:tenant-key:v1:%s:%d", tenant_id, version);
}

static bytea *
nx_bytea(const unsigned char *data, int len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

static char *
nx_bytea_hex(const unsigned char *data, int len)
{
	return TextDatumGetCString(DirectFunctionCall2(binary_encode,
												   PointerGetDatum(nx_bytea(data, len)),
												   CStringGetTextDatum("hex")));
}

/* The salt for keys wrapped by the current master key: reuse, or make one. */
static void
nx_current_salt(unsigned char *salt)
{
	const char *args[] = {nx_master_require()->id};

	if (nx_spi_system("SELECT kek_salt FROM nexplane.tenant_keys"
					  " WHERE master_key_id = $1 AND kek_iterations = 600000"
					  " LIMIT 1", 1, args) == 1)
	{
		bytea	   *b = nx_spi_get_bytea(0, 1);

		if (VARSIZE_ANY_EXHDR(b) == NX_SALT_LEN)
		{
			memcpy(salt, VARDATA_ANY(b), NX_SALT_LEN);
			return;
		}
	}
	nx_random(salt, NX_SALT_LEN);
}

/* Wrap key under the current master key: returns IV | ciphertext | tag. */
static unsigned char *
nx_wrap(const char *tenant_id, int version, const unsigned char *key,
		unsigned char *salt)
{
	unsigned char *out = palloc(NX_WRAPPED_LEN);

	nx_current_salt(salt);
	nx_random(out, NX_IV_LEN);
	if (!nx_gcm(true, nx_kek(nx_master_require(), salt, NX_KDF_ITERATIONS), out,
				nx_tenant_key_aad(tenant_id, version), key, NX_KEY_LEN,
				out + NX_IV_LEN, out + NX_IV_LEN + NX_KEY_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not wrap a tenant data key")));
	return out;
}

static NxSecret *
nx_unwrap(const char *tenant_id, int version, bytea *wrapped, bytea *salt,
		  int iterations, const char *master_key_id)
{
	const NxMasterKey *k;
	NxSecret   *key = nx_secret_alloc(NX_KEY_LEN);
	unsigned char *w = (unsigned char *) VARDATA_ANY(wrapped);

	k = nx_master_find(master_key_id);
	if (k == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("the master key does not match the one that protects this tenant's keys"),
				 errdetail("Tenant data key version %d was wrapped by master key %s; the server has %s.",
						   version, master_key_id, nx_master_loaded_ids()),
				 errhint("Start the server with the right nexplane.master_key_file, or set the old key as nexplane.previous_master_key_file and run nexplane.rotate_master_key().")));
	if (VARSIZE_ANY_EXHDR(wrapped) != NX_WRAPPED_LEN ||
		VARSIZE_ANY_EXHDR(salt) != NX_SALT_LEN ||
		!nx_gcm(false, nx_kek(k, (unsigned char *) VARDATA_ANY(salt), iterations), w,
				nx_tenant_key_aad(tenant_id, version), w + NX_IV_LEN, NX_KEY_LEN,
				key->data, w + NX_IV_LEN + NX_KEY_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not unwrap data key version %d of tenant %s", version, tenant_id),
				 errdetail("The wrapped key failed authentication: it was altered or moved.")));
	return key;
}

static void
nx_insert_tenant_key(const char *tenant_id, int version, const char *status)
{
	NxSecret   *key = nx_secret_alloc(NX_KEY_LEN);
	unsigned char salt[NX_SALT_LEN];
	unsigned char *wrapped;
	char		vbuf[16];
	const char *args[6];

	nx_random(key->data, NX_KEY_LEN);
	wrapped = nx_wrap(tenant_id, version, key->data, salt);
	nx_secret_wipe(key);
	snprintf(vbuf, sizeof(vbuf), "%d", version);
	args[0] = tenant_id;
	args[1] = vbuf;
	args[2] = nx_bytea_hex(wrapped, NX_WRAPPED_LEN);
	args[3] = nx_bytea_hex(salt, NX_SALT_LEN);
	args[4] = nx_master_require()->id;
	args[5] = status;
	nx_spi_system("INSERT INTO nexplane.tenant_keys"
				  " (tenant_id, version, wrapped_key, kek_salt, kek_iterations,"
				  "  master_key_id, status)"
				  " VALUES ($1::uuid, $2::int, decode($3, 'hex'), decode($4, 'hex'),"
				  "         600000, $5, $6)"
				  " ON CONFLICT DO NOTHING", 6, args);
}

static void
nx_key_cache_forget(void *arg)
{
	key_cache = NULL;
	key_cache_used = 0;
}

static void
nx_key_cache_subxact(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		key_cache_used = 0;
}

/* Forget every cached data key (the benchmark's cold path). */
void
nx_vault_forget_keys(void)
{
	key_cache_used = 0;
}

/* Drop a tenant's cached keys (all tenants' when tenant_id is NULL). */
static void
nx_key_cache_drop(const char *tenant_id)
{
	int			kept = 0;

	for (int i = 0; i < key_cache_used; i++)
		if (tenant_id && strcmp(key_cache[i].tenant_id, tenant_id) != 0)
			key_cache[kept++] = key_cache[i];
	key_cache_used = kept;
}

static NxSecret *
nx_key_cache_find(const char *tenant_id, int version, int *version_out)
{
	for (int i = 0; i < key_cache_used; i++)
	{
		NxKeyCacheEntry *e = &key_cache[i];

		if (strcmp(e->tenant_id, tenant_id) == 0 &&
			(version == 0 ? e->active : e->version == version))
		{
			*version_out = e->version;
			return e->key;
		}
	}
	return NULL;
}

static NxSecret *
nx_key_cache_add(const char *tenant_id, int version, bool active, const NxSecret *key)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	NxKeyCacheEntry *e;

	if (key_cache == NULL)
	{
		MemoryContextCallback *cb = palloc0(sizeof(MemoryContextCallback));
		static bool subxact_registered = false;

		key_cache = palloc0(sizeof(NxKeyCacheEntry) * NX_KEY_CACHE);
		key_cache_used = 0;
		cb->func = nx_key_cache_forget;
		MemoryContextRegisterResetCallback(TopTransactionContext, cb);
		if (!subxact_registered)
		{
			RegisterSubXactCallback(nx_key_cache_subxact, NULL);
			subxact_registered = true;
		}
	}
	if (key_cache_used == NX_KEY_CACHE)
		key_cache_used = 0;		/* small and per transaction: start over */
	e = &key_cache[key_cache_used++];
	strlcpy(e->tenant_id, tenant_id, sizeof(e->tenant_id));
	e->version = version;
	e->active = active;
	e->key = nx_secret_alloc(NX_KEY_LEN);	/* wiped with TopTransactionContext */
	memcpy(e->key->data, key->data, NX_KEY_LEN);
	MemoryContextSwitchTo(old);
	return e->key;
}

/*
 * A tenant's data key: version 0 means the active one (made on first use
 * when create_if_missing).  The key belongs to the transaction's cache:
 * callers must not wipe or keep it.
 */
NxTenantKey
nx_vault_tenant_key(const char *tenant_id, int version, bool create_if_missing)
{
	NxTenantKey result = {0};
	char		vbuf[16];
	const char *args[] = {tenant_id, vbuf};
	const char *sql = "SELECT version, wrapped_key, kek_salt, kek_iterations, master_key_id"
		"  FROM nexplane.tenant_keys"
		" WHERE tenant_id = $1::uuid"
		"   AND (version = $2::int OR ($2::int = 0 AND status = 'active'))";

	if ((result.key = nx_key_cache_find(tenant_id, version, &result.version)) != NULL)
		return result;
	snprintf(vbuf, sizeof(vbuf), "%d", version);
	if (nx_spi_system(sql, 2, args) == 0)
	{
		if (version != 0 || !create_if_missing)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("data key version %d of tenant %s does not exist", version, tenant_id)));
		nx_insert_tenant_key(tenant_id, 1, "active");
		if (nx_spi_system(sql, 2, args) == 0)
			elog(ERROR, "could not create the first data key of tenant %s", tenant_id);
	}
	result.version = atoi(nx_spi_get(0, 1));
	{
		NxSecret   *key = nx_unwrap(tenant_id, result.version, nx_spi_get_bytea(0, 2),
									nx_spi_get_bytea(0, 3), atoi(nx_spi_get(0, 4)),
									nx_spi_get(0, 5));

		result.key = nx_key_cache_add(tenant_id, result.version, version == 0, key);
		nx_secret_wipe(key);
	}
	return result;
}

/* Start using a new data key version; the old one stays for decryption. */
int
nx_vault_new_tenant_key(const char *tenant_id)
{
	const char *args[] = {tenant_id};
	int			version;

	nx_spi_system("SELECT 1 FROM nexplane.tenants WHERE id = $1::uuid FOR UPDATE", 1, args);
	nx_spi_system("SELECT coalesce(max(version), 0) + 1 FROM nexplane.tenant_keys"
				  " WHERE tenant_id = $1::uuid", 1, args);
	version = atoi(nx_spi_get(0, 1));
	nx_spi_system("UPDATE nexplane.tenant_keys SET status = 'retired', retired_at = now()"
				  " WHERE tenant_id = $1::uuid AND status = 'active'", 1, args);
	nx_insert_tenant_key(tenant_id, version, "active");
	nx_key_cache_drop(tenant_id);
	return version;
}

/* Re-wrap one tenant key under the current master key; false if it was. */
bool
nx_vault_rewrap(const char *tenant_id, int version)
{
	char		vbuf[16];
	const char *args[] = {tenant_id, vbuf};
	NxSecret   *key;
	unsigned char salt[NX_SALT_LEN];
	unsigned char *wrapped;
	const char *uargs[6];

	snprintf(vbuf, sizeof(vbuf), "%d", version);
	if (nx_spi_system("SELECT wrapped_key, kek_salt, kek_iterations, master_key_id"
					  "  FROM nexplane.tenant_keys"
					  " WHERE tenant_id = $1::uuid AND version = $2::int FOR UPDATE",
					  2, args) != 1)
		return false;
	if (strcmp(nx_spi_get(0, 4), nx_master_require()->id) == 0)
		return false;
	key = nx_unwrap(tenant_id, version, nx_spi_get_bytea(0, 1), nx_spi_get_bytea(0, 2),
					atoi(nx_spi_get(0, 3)), nx_spi_get(0, 4));
	wrapped = nx_wrap(tenant_id, version, key->data, salt);
	nx_secret_wipe(key);
	uargs[0] = tenant_id;
	uargs[1] = vbuf;
	uargs[2] = nx_bytea_hex(wrapped, NX_WRAPPED_LEN);
	uargs[3] = nx_bytea_hex(salt, NX_SALT_LEN);
	uargs[4] = nx_master_require()->id;
	nx_spi_system("UPDATE nexplane.tenant_keys"
				  "   SET wrapped_key = decode($3, 'hex'), kek_salt = decode($4, 'hex'),"
				  "       kek_iterations = 600000, master_key_id = $5"
				  " WHERE tenant_id = $1::uuid AND version = $2::int", 5, uargs);
	nx_key_cache_drop(tenant_id);
	return true;
}

/* ---- credential blobs ---- */

static char *
nx_credential_aad(const char *tenant_id, const char *credential_id, int version)
{
	return psprintf("nexplane:credential:v1:%s:%s:%d", tenant_id, credential_id, version);
}

char *
nx_vault_encrypt(const char *tenant_id, const char *credential_id,
				 const unsigned char *plain, size_t len, int *version_out)
{
	NxTenantKey key = nx_vault_tenant_key(tenant_id, 0, true);
	size_t		bloblen = NX_BLOB_HEADER + len + NX_TAG_LEN;
	unsigned char *blob = palloc(bloblen);
	char	   *out;
	int			outlen;

	blob[0] = NX_BLOB_FORMAT;
	blob[1] = (key.version >> 24) & 0xff;
	blob[2] = (key.version >> 16) & 0xff;
	blob[3] = (key.version >> 8) & 0xff;
	blob[4] = key.version & 0xff;
	nx_random(blob + 5, NX_IV_LEN);
	if (!nx_gcm(true, key.key->data, blob + 5,
				nx_credential_aad(tenant_id, credential_id, key.version),
				plain, len, blob + NX_BLOB_HEADER, blob + NX_BLOB_HEADER + len))
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not encrypt the secret")));
	out = palloc(pg_b64_enc_len(bloblen) + 1);
	outlen = pg_b64_encode((char *) blob, bloblen, out, pg_b64_enc_len(bloblen));
	if (outlen < 0)
		elog(ERROR, "base64 encoding failed");
	out[outlen] = '\0';
	*version_out = key.version;
	return out;
}

NxSecret *
nx_vault_decrypt(const char *tenant_id, const char *credential_id, const char *blob64)
{
	int			b64len = strlen(blob64);
	unsigned char *blob = palloc(pg_b64_dec_len(b64len) + 1);
	int			len = pg_b64_decode(blob64, b64len, (char *) blob, pg_b64_dec_len(b64len));
	int			version;
	NxTenantKey key;
	NxSecret   *plain;

	if (len < NX_BLOB_HEADER + NX_TAG_LEN || blob[0] != NX_BLOB_FORMAT)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the stored secret of credential %s is not a vault blob", credential_id)));
	version = (blob[1] << 24) | (blob[2] << 16) | (blob[3] << 8) | blob[4];
	key = nx_vault_tenant_key(tenant_id, version, false);
	plain = nx_secret_alloc(len - NX_BLOB_HEADER - NX_TAG_LEN);
	if (!nx_gcm(false, key.key->data, blob + 5,
				nx_credential_aad(tenant_id, credential_id, version),
				blob + NX_BLOB_HEADER, plain->len, plain->data,
				blob + len - NX_TAG_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not decrypt the secret of credential %s", credential_id),
				 errdetail("The blob failed authentication: it was altered, or belongs to another credential, tenant or key version.")));
	return plain;
}

NxSecret *
nx_vault_credential_secret(const char *tenant_id, const char *credential_id)
{
	const char *args[] = {tenant_id, credential_id};

	if (nx_spi_system("SELECT secret_blob FROM nexplane.credentials"
					  " WHERE tenant_id = $1::uuid AND id = $2::uuid AND mode = 'stored'",
					  2, args) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_NOT_FOUND),
				 errmsg("credential %s not found", credential_id)));
	return nx_vault_decrypt(tenant_id, credential_id, nx_spi_get(0, 1));
}
