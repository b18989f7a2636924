/*-------------------------------------------------------------------------
 *
 * jwt.c
 *	  RS256 JSON Web Tokens: signing, verification and the JWKS document.
 *
 * The signing key is a PEM file named by nexplane.jwt_private_key_file
 * (superuser-only).  It is read once per backend and again when the file
 * changes.  Verification accepts exactly one algorithm, RS256, and one key
 * id, so "alg": "none", HS256 key confusion and foreign keys all fail.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"
#include "jwt.h"

#include <sys/stat.h>

#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define NX_JWT_MAX_LEN 8192
#define NX_JWT_LEEWAY_SECS 30

static EVP_PKEY *cached_key = NULL;
static char cached_path[MAXPGPATH];
static struct timespec cached_mtime;
static char *cached_kid = NULL;
static uint64 key_generation = 0;	/* counts the keys loaded */


/* kid: base64url SHA-256 of the DER public key, as RFC 7638 intends */
static char *
nx_key_id(EVP_PKEY *key)
{
	unsigned char *der = NULL;
	int			len = i2d_PUBKEY(key, &der);
	bytea	   *digest;
	char	   *kid;

	if (len <= 0)
		nx_openssl_error("encoding the JWT public key");
	digest = nx_sha256((const char *) der, len);
	OPENSSL_free(der);
	kid = nx_base64url_encode((unsigned char *) VARDATA(digest), 32);
	return MemoryContextStrdup(TopMemoryContext, kid);
}

EVP_PKEY *
nx_jwt_key(void)
{
	struct stat st;
	FILE	   *f;
	EVP_PKEY   *key;

	if (nx_jwt_key_file == NULL || nx_jwt_key_file[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("no JWT signing key is configured"),
				 errhint("Set nexplane.jwt_private_key_file in postgresql.conf.")));
	if (stat(nx_jwt_key_file, &st) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not read the JWT signing key file: %m"),
				 errhint("Check nexplane.jwt_private_key_file.")));
	if (cached_key && strcmp(cached_path, nx_jwt_key_file) == 0 &&
		cached_mtime.tv_sec == st.st_mtim.tv_sec &&
		cached_mtime.tv_nsec == st.st_mtim.tv_nsec)
		return cached_key;

	f = AllocateFile(nx_jwt_key_file, "r");
	if (f == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not open the JWT signing key file: %m")));
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	FreeFile(f);
	if (key == NULL)
		nx_openssl_error("reading the JWT signing key");
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 2048)
	{
		EVP_PKEY_free(key);
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("the JWT signing key must be an RSA key of at least 2048 bits")));
	}
	if (cached_key)
		EVP_PKEY_free(cached_key);
	if (cached_kid)
		pfree(cached_kid);
	cached_key = key;
	cached_kid = NULL;
	cached_kid = nx_key_id(key);
	strlcpy(cached_path, nx_jwt_key_file, sizeof(cached_path));
	cached_mtime = st.st_mtim;
	key_generation++;
	return cached_key;
}

/* Which key nx_jwt_key() holds: changes whenever it loads one. */
uint64
nx_jwt_key_generation(void)
{
	nx_jwt_key();
	return key_generation;
}

const char *
nx_jwt_kid(void)
{
	nx_jwt_key();
	return cached_kid;
}

char *
nx_jwt_sign(const char *payload_json)
{
	EVP_PKEY   *key = nx_jwt_key();
	StringInfoData header;
	StringInfoData input;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t		siglen = 0;
	char	   *result;

	if (md == NULL)
		nx_openssl_error("allocating a digest context");

	initStringInfo(&header);
	appendStringInfoString(&header, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":");
	escape_json(&header, cached_kid);
	appendStringInfoChar(&header, '}');

	initStringInfo(&input);
	appendStringInfo(&input, "%s.%s",
					 nx_base64url_encode((unsigned char *) header.data, header.len),
					 nx_base64url_encode((const unsigned char *) payload_json,
										 strlen(payload_json)));
	PG_TRY();
	{
		if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
			EVP_DigestSign(md, NULL, &siglen,
						   (unsigned char *) input.data, input.len) != 1)
			nx_openssl_error("signing the token");
		sig = palloc(siglen);
		if (EVP_DigestSign(md, sig, &siglen,
						   (unsigned char *) input.data, input.len) != 1)
			nx_openssl_error("signing the token");
	}
	PG_FINALLY();
	{
		EVP_MD_CTX_free(md);
	}
	PG_END_TRY();

	result = psprintf("%s.%s", input.data, nx_base64url_encode(sig, siglen));
	return result;
}

static bool
nx_jwt_signature_ok(EVP_PKEY *key, const char *input, int inlen,
					const unsigned char *sig, int siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool		ok = false;

	if (md == NULL)
		nx_openssl_error("allocating a digest context");
	PG_TRY();
	{
		ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
			EVP_DigestVerify(md, sig, siglen,
							 (const unsigned char *) input, inlen) == 1;
		ERR_clear_error();
	}
	PG_FINALLY();
	{
		EVP_MD_CTX_free(md);
	}
	PG_END_TRY();
	return ok;
}

static Jsonb *
nx_jwt_decode_part(const char *part, int len)
{
	int			outlen;
	unsigned char *raw = nx_base64url_decode(part, len, &outlen);

	if (raw == NULL)
		return NULL;
	return nx_jsonb_parse((char *) raw, outlen);
}

/* Does the aud claim (a string or an array of strings) name us? */
static bool
nx_jwt_audience_ok(Jsonb *claims)
{
	char	   *aud = nx_jsonb_get_cstring(claims, "aud");

	return aud != NULL && nx_jwt_audience != NULL &&
		strcmp(aud, nx_jwt_audience) == 0;
}

/*
 * The claims of a token whose structure, algorithm, key id and signature
 * check, or NULL with *why set.
 */
static Jsonb *
nx_jwt_verify_signature(const char *token, const char **why)
{
	const char *dot1;
	const char *dot2;
	Jsonb	   *header;
	Jsonb	   *claims;
	char	   *alg;
	char	   *kid;
	unsigned char *sig;
	int			siglen;

	*why = "The token is malformed.";
	dot1 = strchr(token, '.');
	dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot1 == NULL || dot2 == NULL || strchr(dot2 + 1, '.') != NULL ||
		dot2[1] == '\0')
		return NULL;
	header = nx_jwt_decode_part(token, dot1 - token);
	claims = nx_jwt_decode_part(dot1 + 1, dot2 - dot1 - 1);
	if (header == NULL || claims == NULL)
		return NULL;

	alg = nx_jsonb_get_cstring(header, "alg");
	if (alg == NULL || strcmp(alg, "RS256") != 0)
	{
		*why = "Only RS256 tokens are accepted.";
		return NULL;
	}
	kid = nx_jsonb_get_cstring(header, "kid");
	if (kid == NULL || strcmp(kid, nx_jwt_kid()) != 0)
	{
		*why = "The token was not signed by this installation's key.";
		return NULL;
	}
	sig = nx_base64url_decode(dot2 + 1, strlen(dot2 + 1), &siglen);
	if (sig == NULL ||
		!nx_jwt_signature_ok(nx_jwt_key(), token, dot2 - token, sig, siglen))
	{
		*why = "The token signature is invalid.";
		return NULL;
	}
	return claims;
}

/*
 * Verify a token and return its claims, or NULL with *why set to a
 * sentence for errdetail.  The token itself never appears in *why.  The
 * signature of a token this backend has verified before with the same key
 * is not checked again (jwt_cache.c); the claims always are.
 */
Jsonb *
nx_jwt_verify(const char *token, const char **why)
{
	uint64		generation;
	bool		cached;
	Jsonb	   *claims;
	char	   *iss;
	int64		exp;
	int64		iat;
	int64		now = (int64) time(NULL);
	size_t		len = strlen(token);

	*why = "The token is malformed.";
	if (len > NX_JWT_MAX_LEN)
		return NULL;
	generation = nx_jwt_key_generation();
	claims = nx_jwt_cache_lookup(token, len, generation, now);
	cached = claims != NULL;
	if (!cached)
	{
		claims = nx_jwt_verify_signature(token, why);
		if (claims == NULL)
			return NULL;
	}

	*why = "The token is malformed.";
	iss = nx_jsonb_get_cstring(claims, "iss");
	if (iss == NULL || nx_jwt_issuer == NULL || strcmp(iss, nx_jwt_issuer) != 0 ||
		!nx_jwt_audience_ok(claims))
	{
		*why = "The token was issued for another issuer or audience.";
		return NULL;
	}
	if (!nx_jsonb_get_int64(claims, "exp", &exp) ||
		!nx_jsonb_get_int64(claims, "iat", &iat))
		return NULL;
	if (exp + NX_JWT_LEEWAY_SECS <= now)
	{
		*why = "The token has expired.";
		return NULL;
	}
	if (iat > now + NX_JWT_LEEWAY_SECS)
	{
		*why = "The token was issued in the future.";
		return NULL;
	}
	if (!cached)
		nx_jwt_cache_store(token, len, generation, exp + NX_JWT_LEEWAY_SECS, now, claims);
	*why = NULL;
	return claims;
}

static char *
nx_bn_param_b64(EVP_PKEY *key, const char *param)
{
	BIGNUM	   *bn = NULL;
	unsigned char *buf;
	int			len;
	char	   *out;

	if (EVP_PKEY_get_bn_param(key, param, &bn) != 1)
		nx_openssl_error("reading the JWT public key");
	len = BN_num_bytes(bn);
	buf = palloc(len);
	BN_bn2bin(bn, buf);
	BN_free(bn);
	out = nx_base64url_encode(buf, len);
	pfree(buf);
	return out;
}

/* nexplane.jwks(): the public key as a JWKS document (RFC 7517) */
PG_FUNCTION_INFO_V1(nx_jwks);
Datum
nx_jwks(PG_FUNCTION_ARGS)
{
	EVP_PKEY   *key = nx_jwt_key();
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"alg\":\"RS256\",\"kid\":");
	escape_json(&buf, cached_kid);
	appendStringInfoString(&buf, ",\"n\":");
	escape_json(&buf, nx_bn_param_b64(key, OSSL_PKEY_PARAM_RSA_N));
	appendStringInfoString(&buf, ",\"e\":");
	escape_json(&buf, nx_bn_param_b64(key, OSSL_PKEY_PARAM_RSA_E));
	appendStringInfoString(&buf, "}]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
