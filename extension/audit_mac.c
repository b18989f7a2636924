/*-------------------------------------------------------------------------
 *
 * audit_mac.c
 *	  Per-tenant audit keys: the MAC that marks an audit event as written
 *	  by Nexplane, and the opaque cursors audit_query() pages with.
 *
 * The hash chain shows an event changed after it was chained, but the
 * sealer chains whatever it finds in audit_events, so an event that a
 * superuser inserted by hand (with the triggers disabled) was chained as
 * genuine.  Now audit.c, the one writer, adds HMAC-SHA256 of each event's
 * columns under a key of its tenant that SQL cannot read, and
 * audit_verify() reports every chained event whose MAC is missing or does
 * not hold.
 *
 * Each tenant has one random 256-bit audit key, made by the writer with
 * the tenant's first event and stored in audit_keys wrapped (AES-256-GCM,
 * bound to its tenant) under a key derived from the master key with
 * HKDF-SHA256.  rotate_master_key() re-wraps it with the vault's keys; it
 * never changes, so every event keeps verifying across rotations.  Why not
 * the vault's own keys: a key derived from a tenant data key would not
 * outlive rotate_tenant_key(), and the vault's PBKDF2 stretching would
 * cost every backend 0.2 s at its first audited write, for nothing: the
 * master key is at least 32 bytes and already has an HKDF-derived public
 * key (the checkpoints').  From the audit key HKDF derives, each under its
 * own label, the MAC key and the cursor key.
 *
 * A cursor is an event's id (a number of the sequence all tenants share,
 * whose gaps would tell another tenant's activity) encrypted with
 * AES-256-SIV under the tenant's cursor key, with the tenant as associated
 * data: opaque, the same for the same event, and refused for any other
 * tenant.
 *
 * Unwrapped keys are cached per backend in locked memory.  One loaded or
 * made in a transaction that aborts is forgotten, as the row it came from
 * may have gone with it.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit.h"
#include "master_key.h"
#include "spi_util.h"
#include "vault.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#define NX_AUDIT_KEY_LEN 32
#define NX_AUDIT_IV_LEN 12
#define NX_AUDIT_TAG_LEN 16
#define NX_AUDIT_WRAPPED_LEN (NX_AUDIT_IV_LEN + NX_AUDIT_KEY_LEN + NX_AUDIT_TAG_LEN)
#define NX_CURSOR_KEY_LEN 64	/* AES-256-SIV: two 256-bit keys */
#define NX_CURSOR_FORMAT 0x01
#define NX_CURSOR_TAG_LEN 16
#define NX_CURSOR_LEN (1 + NX_CURSOR_TAG_LEN + 8)
#define NX_AUDIT_KEY_CACHE 64

#define NX_LABEL_WRAP "nexplane audit key wrap v1"
#define NX_LABEL_MAC "nexplane audit event mac v1"
#define NX_LABEL_CURSOR "nexplane audit cursor v1"
#define NX_MAC_MESSAGE "nexplane-audit-event-v1"

typedef struct NxAuditKey
{
	bool		valid;
	bool		provisional;	/* loaded or made in the current transaction */
	pg_uuid_t	tenant;
	unsigned char mac_key[NX_AUDIT_KEY_LEN];
	unsigned char cursor_key[NX_CURSOR_KEY_LEN];
} NxAuditKey;

static NxAuditKey *key_cache = NULL;	/* locked memory */
static int	key_cache_next = 0;
static Oid	audit_keys_relid = InvalidOid;

/* ---- the cache ---- */

static void
nx_audit_keys_drop(bool provisional_only)
{
	for (int i = 0; key_cache && i < NX_AUDIT_KEY_CACHE; i++)
		if (key_cache[i].valid && (key_cache[i].provisional || !provisional_only))
			explicit_bzero(&key_cache[i], sizeof(NxAuditKey));
}

static void
nx_audit_keys_xact(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			for (int i = 0; key_cache && i < NX_AUDIT_KEY_CACHE; i++)
				key_cache[i].provisional = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			nx_audit_keys_drop(true);
			break;
		default:
			break;
	}
}

static void
nx_audit_keys_subxact(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		nx_audit_keys_drop(true);
}

/* audit_keys dropped or recreated (DROP EXTENSION): forget every key */
static void
nx_audit_keys_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == audit_keys_relid)
		nx_audit_keys_drop(false);
}

static NxAuditKey *
nx_audit_key_cached(const pg_uuid_t *tenant)
{
	for (int i = 0; key_cache && i < NX_AUDIT_KEY_CACHE; i++)
		if (key_cache[i].valid && memcmp(key_cache[i].tenant.data, tenant->data, UUID_LEN) == 0)
			return &key_cache[i];
	return NULL;
}

/* ---- wrapping under the master key ---- */

static char *
nx_audit_key_aad(const char *tenant_id)
{
	return psprintf("nexplane:audit-key:v1:%s", tenant_id);
}

static void
nx_audit_kek(const NxMasterKey *mk, unsigned char *kek)
{
	if (!nx_hkdf_sha256(mk->secret, mk->len, NX_LABEL_WRAP, kek, NX_AUDIT_KEY_LEN))
		nx_openssl_error("deriving the audit key-wrapping key");
}

/* key wrapped by the current master key, as hex for a bound parameter */
static char *
nx_audit_key_wrap(const char *tenant_id, const unsigned char *key)
{
	unsigned char kek[NX_AUDIT_KEY_LEN];
	unsigned char w[NX_AUDIT_WRAPPED_LEN];
	char	   *hex = palloc(2 * NX_AUDIT_WRAPPED_LEN + 1);
	bool		ok;

	nx_audit_kek(nx_master_require(), kek);
	nx_random(w, NX_AUDIT_IV_LEN);
	ok = nx_gcm(true, kek, w, nx_audit_key_aad(tenant_id), key, NX_AUDIT_KEY_LEN,
				w + NX_AUDIT_IV_LEN, w + NX_AUDIT_IV_LEN + NX_AUDIT_KEY_LEN);
	explicit_bzero(kek, sizeof(kek));
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not wrap the audit key of tenant %s", tenant_id)));
	hex[hex_encode((const char *) w, NX_AUDIT_WRAPPED_LEN, hex)] = '\0';
	return hex;
}

static void
nx_audit_key_unwrap(const char *tenant_id, bytea *wrapped, const char *master_key_id,
					unsigned char *key)
{
	const NxMasterKey *mk = nx_master_find(master_key_id);
	unsigned char kek[NX_AUDIT_KEY_LEN];
	unsigned char *w = (unsigned char *) VARDATA_ANY(wrapped);
	bool		ok;

	if (mk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("the master key does not match the one that protects this tenant's audit key"),
				 errdetail("The audit key of tenant %s was wrapped by master key %s; the server has %s.",
						   tenant_id, master_key_id, nx_master_loaded_ids()),
				 errhint("Start the server with the right nexplane.master_key_file, or set the old key as nexplane.previous_master_key_file and run nexplane.rotate_master_key().")));
	if (VARSIZE_ANY_EXHDR(wrapped) != NX_AUDIT_WRAPPED_LEN)
		ok = false;
	else
	{
		nx_audit_kek(mk, kek);
		ok = nx_gcm(false, kek, w, nx_audit_key_aad(tenant_id), w + NX_AUDIT_IV_LEN,
					NX_AUDIT_KEY_LEN, key, w + NX_AUDIT_IV_LEN + NX_AUDIT_KEY_LEN);
		explicit_bzero(kek, sizeof(kek));
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not unwrap the audit key of tenant %s", tenant_id),
				 errdetail("The wrapped key failed authentication: it was altered or moved.")));
}

/* ---- loading and making ---- */

/*
 * Read the tenant's audit key (making it first when create and it has
 * none) into a cache entry; NULL when it has none.  As the extension
 * owner with system access: the caller's role may read no table.
 */
static NxAuditKey *
nx_audit_key_load(const pg_uuid_t *tenant, bool create)
{
	static bool callbacks_registered = false;
	static const char *select_sql = "SELECT wrapped_key, master_key_id FROM nexplane.audit_keys"
		" WHERE tenant_id = $1::uuid";
	char	   *tenant_id = nx_uuid_out(tenant);
	const char *args[2] = {tenant_id, NULL};
	unsigned char root[NX_AUDIT_KEY_LEN];
	volatile bool found = false;
	Oid			save_uid;
	int			save_sec;
	NxAuditKey *e;

	if (!callbacks_registered)
	{
		key_cache = nx_locked_alloc(sizeof(NxAuditKey) * NX_AUDIT_KEY_CACHE);
		if (key_cache == NULL)
			elog(ERROR, "out of memory");
		RegisterXactCallback(nx_audit_keys_xact, NULL);
		RegisterSubXactCallback(nx_audit_keys_subxact, NULL);
		CacheRegisterRelcacheCallback(nx_audit_keys_inval, (Datum) 0);
		callbacks_registered = true;
	}
	audit_keys_relid = get_relname_relid("audit_keys", get_namespace_oid("nexplane", false));

	GetUserIdAndSecContext(&save_uid, &save_sec);
	SetUserIdAndSecContext(get_role_oid("nexplane_owner", false),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		SPI_connect();
		if (nx_spi_system(select_sql, 1, args) == 0 && create)
		{
			nx_random(root, NX_AUDIT_KEY_LEN);
			args[1] = nx_audit_key_wrap(tenant_id, root);
			explicit_bzero(root, sizeof(root));
			nx_spi_system("INSERT INTO nexplane.audit_keys (tenant_id, wrapped_key, master_key_id)"
						  " VALUES ($1::uuid, decode($2, 'hex'), $3)"
						  " ON CONFLICT (tenant_id) DO NOTHING", 3,
						  (const char *[]) {tenant_id, args[1], nx_master_require()->id});
			/* ours, or (read committed) the one a concurrent writer made */
			if (nx_spi_system(select_sql, 1, args) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not make the audit key of tenant %s", tenant_id),
						 errdetail("Another transaction made it at the same time."),
						 errhint("Retry the transaction.")));
		}
		if (SPI_processed == 1)
		{
			nx_audit_key_unwrap(tenant_id, nx_spi_get_bytea(0, 1), nx_spi_get(0, 2), root);
			found = true;
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_uid, save_sec);
	}
	PG_END_TRY();
	if (!found)
		return NULL;

	e = &key_cache[key_cache_next];
	key_cache_next = (key_cache_next + 1) % NX_AUDIT_KEY_CACHE;
	explicit_bzero(e, sizeof(*e));
	if (!nx_hkdf_sha256(root, NX_AUDIT_KEY_LEN, NX_LABEL_MAC, e->mac_key, NX_AUDIT_KEY_LEN) ||
		!nx_hkdf_sha256(root, NX_AUDIT_KEY_LEN, NX_LABEL_CURSOR, e->cursor_key, NX_CURSOR_KEY_LEN))
	{
		explicit_bzero(root, sizeof(root));
		explicit_bzero(e, sizeof(*e));
		nx_openssl_error("deriving the audit keys");
	}
	explicit_bzero(root, sizeof(root));
	e->tenant = *tenant;
	e->provisional = true;
	e->valid = true;
	return e;
}

/*
 * The tenant's keys, or NULL when it has none (and !create).  Use the
 * entry at once: anything that takes a lock may process an invalidation
 * that clears it.
 */
static NxAuditKey *
nx_audit_key(const pg_uuid_t *tenant, bool create)
{
	NxAuditKey *e = nx_audit_key_cached(tenant);

	return e ? e : nx_audit_key_load(tenant, create);
}

/* Re-wrap the tenant's audit key under the current master key. */
bool
nx_audit_key_rewrap(const char *tenant_id)
{
	const char *args[] = {tenant_id, NULL, NULL};
	unsigned char root[NX_AUDIT_KEY_LEN];

	if (nx_spi_system("SELECT wrapped_key, master_key_id FROM nexplane.audit_keys"
					  " WHERE tenant_id = $1::uuid FOR UPDATE", 1, args) != 1 ||
		strcmp(nx_spi_get(0, 2), nx_master_require()->id) == 0)
		return false;
	nx_audit_key_unwrap(tenant_id, nx_spi_get_bytea(0, 1), nx_spi_get(0, 2), root);
	args[1] = nx_audit_key_wrap(tenant_id, root);
	explicit_bzero(root, sizeof(root));
	args[2] = nx_master_require()->id;
	nx_spi_system("UPDATE nexplane.audit_keys SET wrapped_key = decode($2, 'hex'), master_key_id = $3"
				  " WHERE tenant_id = $1::uuid", 3, args);
	return true;
}

/* ---- the MAC ---- */

/*
 * What the MAC covers: a label, then each column up to AC_MAC in order,
 * as one byte (0 for NULL, 1 otherwise) and, unless NULL, its length
 * (4 bytes, big-endian) and its bytes: uuids their 16 bytes, the id and
 * time 8 bytes big-endian, text and jsonb (detoasted) their stored bytes.
 */
static void
nx_audit_mac_message(StringInfo buf, const Datum *values, const bool *nulls)
{
	initStringInfo(buf);
	appendBinaryStringInfo(buf, NX_MAC_MESSAGE, strlen(NX_MAC_MESSAGE));
	for (int c = 0; c < AC_MAC; c++)
	{
		unsigned char num[8];
		const char *data;
		uint32		len;
		unsigned char hdr[5];

		if (nulls[c])
		{
			appendStringInfoChar(buf, 0);
			continue;
		}
		switch (c)
		{
			case AC_TENANT_ID:
			case AC_ACTOR_ID:
				data = (const char *) DatumGetUUIDP(values[c])->data;
				len = UUID_LEN;
				break;
			case AC_ID:
			case AC_OCCURRED_AT:
				{
					uint64		v = (uint64) DatumGetInt64(values[c]);

					for (int i = 0; i < 8; i++)
						num[i] = (v >> (56 - 8 * i)) & 0xff;
					data = (const char *) num;
					len = 8;
					break;
				}
			default:
				data = VARDATA_ANY(DatumGetPointer(values[c]));
				len = VARSIZE_ANY_EXHDR(DatumGetPointer(values[c]));
		}
		hdr[0] = 1;
		hdr[1] = (len >> 24) & 0xff;
		hdr[2] = (len >> 16) & 0xff;
		hdr[3] = (len >> 8) & 0xff;
		hdr[4] = len & 0xff;
		appendBinaryStringInfo(buf, (const char *) hdr, sizeof(hdr));
		appendBinaryStringInfo(buf, data, len);
	}
}

/*
 * HMAC-SHA256 of the message under the tenant's MAC key, via EVP_MAC.
 *
 * The HMAC method, with SHA-256 set as its digest, is fetched once per
 * backend into a context without a key, and each MAC starts from a copy of
 * it: EVP_Q_mac fetched both again for every event (a fifth of the MAC's
 * cost).  The key is in the copy alone, which EVP_MAC_CTX_free cleanses,
 * as it did before; the cached context never holds one.
 */
static void
nx_audit_hmac(const NxAuditKey *k, const StringInfo msg, unsigned char *mac)
{
	static EVP_MAC_CTX *keyless = NULL;
	EVP_MAC_CTX *ctx;
	size_t		len = 0;
	bool		ok;

	if (keyless == NULL)
	{
		EVP_MAC   *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			OSSL_PARAM_construct_end()
		};
		EVP_MAC_CTX *c = hmac ? EVP_MAC_CTX_new(hmac) : NULL;

		EVP_MAC_free(hmac);		/* the context keeps its own reference */
		if (c == NULL || !EVP_MAC_CTX_set_params(c, params))
		{
			EVP_MAC_CTX_free(c);
			nx_openssl_error("preparing the MAC of audit events");
		}
		keyless = c;
	}
	ctx = EVP_MAC_CTX_dup(keyless);
	ok = ctx != NULL &&
		EVP_MAC_init(ctx, k->mac_key, NX_AUDIT_KEY_LEN, NULL) &&
		EVP_MAC_update(ctx, (const unsigned char *) msg->data, msg->len) &&
		EVP_MAC_final(ctx, mac, &len, NX_AUDIT_MAC_LEN) &&
		len == NX_AUDIT_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	if (!ok)
		nx_openssl_error("computing the MAC of an audit event");
}


void
nx_audit_mac(const Datum *values, const bool *nulls, unsigned char *mac)
{
	StringInfoData msg;

	nx_audit_mac_message(&msg, values, nulls);
	nx_audit_hmac(nx_audit_key(DatumGetUUIDP(values[AC_TENANT_ID]), true), &msg, mac);
	pfree(msg.data);
}

/*
 * _audit_mac_ok(e audit_events): was the event written by audit.c, as it
 * is?  False when its MAC is missing or does not hold, or its tenant has
 * no audit key.  Says yes or no only: no MAC leaves this file.
 */
PG_FUNCTION_INFO_V1(nx_audit_mac_ok);
Datum
nx_audit_mac_ok(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row),
											  HeapTupleHeaderGetTypMod(row));
	HeapTupleData tup = {.t_len = HeapTupleHeaderGetDatumLength(row), .t_data = row};
	Datum	   *rvalues = palloc(desc->natts * sizeof(Datum));
	bool	   *rnulls = palloc(desc->natts * sizeof(bool));
	Datum		values[AC_COUNT];
	bool		nulls[AC_COUNT];
	StringInfoData msg;
	NxAuditKey *k;
	unsigned char mac[NX_AUDIT_MAC_LEN];
	bytea	   *stored;
	bool		ok;

	heap_deform_tuple(&tup, desc, rvalues, rnulls);
	for (int c = 0; c < AC_COUNT; c++)
	{
		int			i;

		for (i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, i)->attname), nx_audit_columns[c]) == 0)
				break;
		if (i == desc->natts)
			elog(ERROR, "_audit_mac_ok takes a row of nexplane.audit_events");
		values[c] = rvalues[i];
		nulls[c] = rnulls[i];
		/* detoast now: that may take locks, which may clear the key cache */
		if (!nulls[c] && TupleDescAttr(desc, i)->attlen == -1)
			values[c] = PointerGetDatum(PG_DETOAST_DATUM_PACKED(values[c]));
	}
	ReleaseTupleDesc(desc);
	if (nulls[AC_TENANT_ID] || nulls[AC_MAC])
		PG_RETURN_BOOL(false);
	stored = DatumGetByteaPP(values[AC_MAC]);
	if (VARSIZE_ANY_EXHDR(stored) != NX_AUDIT_MAC_LEN)
		PG_RETURN_BOOL(false);
	nx_audit_mac_message(&msg, values, nulls);
	k = nx_audit_key(DatumGetUUIDP(values[AC_TENANT_ID]), false);
	if (k == NULL)
		PG_RETURN_BOOL(false);
	nx_audit_hmac(k, &msg, mac);
	ok = CRYPTO_memcmp(mac, VARDATA_ANY(stored), NX_AUDIT_MAC_LEN) == 0;
	explicit_bzero(mac, sizeof(mac));
	PG_RETURN_BOOL(ok);
}

/* ---- cursors ---- */

/*
 * AES-256-SIV (RFC 5297) of an 8-byte id, the tenant as associated data.
 * False when decryption fails authentication.  No PostgreSQL call between
 * making and freeing the context, so nothing can leak it.
 */
static bool
nx_cursor_cipher(bool encrypt, const NxAuditKey *k, const unsigned char *in,
				 unsigned char *out, unsigned char *tag)
{
	static EVP_CIPHER *siv = NULL;
	EVP_CIPHER_CTX *ctx;
	int			n = 0;
	bool		ok;

	if (siv == NULL && (siv = EVP_CIPHER_fetch(NULL, "AES-256-SIV", NULL)) == NULL)
		nx_openssl_error("loading AES-256-SIV");
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		elog(ERROR, "out of memory");
	ok = EVP_CipherInit_ex2(ctx, siv, k->cursor_key, NULL, encrypt, NULL) == 1 &&
		(encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, NX_CURSOR_TAG_LEN, tag) == 1) &&
		EVP_CipherUpdate(ctx, NULL, &n, k->tenant.data, UUID_LEN) == 1 &&
		EVP_CipherUpdate(ctx, out, &n, in, 8) == 1 &&
		EVP_CipherFinal_ex(ctx, out + n, &n) == 1 &&
		(!encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, NX_CURSOR_TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok && !encrypt)
	{
		explicit_bzero(out, 8);
		ERR_clear_error();
	}
	return ok;
}

/* _audit_cursor(tenant, id): the cursor of one of the tenant's events. */
PG_FUNCTION_INFO_V1(nx_audit_cursor);
Datum
nx_audit_cursor(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant = PG_GETARG_UUID_P(0);
	uint64		id = (uint64) PG_GETARG_INT64(1);
	unsigned char plain[8];
	unsigned char c[NX_CURSOR_LEN];
	NxAuditKey *k;

	for (int i = 0; i < 8; i++)
		plain[i] = (id >> (56 - 8 * i)) & 0xff;
	c[0] = NX_CURSOR_FORMAT;
	k = nx_audit_key(tenant, false);
	if (k == NULL)
		PG_RETURN_NULL();		/* no event of this tenant was written by audit.c */
	if (!nx_cursor_cipher(true, k, plain, c + 1 + NX_CURSOR_TAG_LEN, c + 1))
		nx_openssl_error("encrypting an audit cursor");
	PG_RETURN_TEXT_P(cstring_to_text(nx_base64url_encode(c, NX_CURSOR_LEN)));
}

/*
 * _audit_cursor_id(tenant, cursor): the event id inside one of the
 * tenant's cursors; NX400 for anything else, another tenant's included
 * (without saying so).
 */
PG_FUNCTION_INFO_V1(nx_audit_cursor_id);
Datum
nx_audit_cursor_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *tenant = PG_GETARG_UUID_P(0);
	text	   *cursor = PG_GETARG_TEXT_PP(1);
	int			len = VARSIZE_ANY_EXHDR(cursor);
	unsigned char *c = NULL;
	int			clen = 0;
	unsigned char plain[8];
	NxAuditKey *k;
	uint64		id = 0;

	if (len <= 4 * NX_CURSOR_LEN)	/* (a cursor is 34 characters) */
		c = nx_base64url_decode(VARDATA_ANY(cursor), len, &clen);
	if (c == NULL || clen != NX_CURSOR_LEN || c[0] != NX_CURSOR_FORMAT ||
		(k = nx_audit_key(tenant, false)) == NULL ||
		!nx_cursor_cipher(false, k, c + 1 + NX_CURSOR_TAG_LEN, plain, c + 1))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("invalid cursor"),
				 errdetail("A cursor is the \"cursor\" of an event as audit_query() returned it to this tenant."),
				 errhint("Pass the cursor of the last event of the previous page as \"before\".")));
	for (int i = 0; i < 8; i++)
		id = (id << 8) | plain[i];
	PG_RETURN_INT64((int64) id);
}
