/*-------------------------------------------------------------------------
 *
 * tokens.c
 *	  Random tokens (session ids, refresh tokens, API keys), SHA-256 of
 *	  what is stored instead of them, base64url for JWTs, and HKDF for
 *	  the keys derived from another (audit checkpoints, audit events).
 *
 * Randomness and hashing come from OpenSSL, base64 from PostgreSQL's
 * common code: nothing here is a hand-rolled primitive.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "common/base64.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* nx_openssl_error raises NX500 naming the call that failed and OpenSSL's reason. */
void
nx_openssl_error(const char *what)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	ereport(ERROR,
			(errcode(ERRCODE_NX_INTERNAL),
			 errmsg("%s failed", what),
			 errdetail("OpenSSL: %s.", e ? ERR_reason_error_string(e) : "no reason given")));
}

/* prefix + 43 base64url characters of 32 random bytes */
char *
nx_random_token(const char *prefix)
{
	unsigned char buf[32];
	char	   *b64;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not generate random bytes")));
	b64 = nx_base64url_encode(buf, sizeof(buf));
	explicit_bzero(buf, sizeof(buf));
	return psprintf("%s%s", prefix, b64);
}

bytea *
nx_sha256(const char *data, size_t len)
{
	bytea	   *out = palloc(VARHDRSZ + SHA256_DIGEST_LENGTH);

	SET_VARSIZE(out, VARHDRSZ + SHA256_DIGEST_LENGTH);
	if (EVP_Digest(data, len, (unsigned char *) VARDATA(out), NULL,
				   EVP_sha256(), NULL) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NX_INTERNAL),
				 errmsg("could not compute SHA-256")));
	return out;
}

char *
nx_base64url_encode(const unsigned char *data, int len)
{
	int			cap = pg_b64_enc_len(len) + 1;
	char	   *out = palloc(cap);
	int			n = pg_b64_encode((const char *) data, len, out, cap);

	if (n < 0)
		elog(ERROR, "base64 encoding failed");
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (int i = 0; i < n; i++)
	{
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

/* NULL on malformed input: callers decide what error that is */
unsigned char *
nx_base64url_decode(const char *src, int srclen, int *outlen)
{
	int			padded = srclen + (4 - srclen % 4) % 4;
	char	   *tmp = palloc(padded + 1);
	unsigned char *out;
	int			n;

	if (srclen % 4 == 1)
		return NULL;
	for (int i = 0; i < srclen; i++)
	{
		char		c = src[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=')
			return NULL;
		tmp[i] = c;
	}
	for (int i = srclen; i < padded; i++)
		tmp[i] = '=';
	out = palloc(pg_b64_dec_len(padded) + 1);
	n = pg_b64_decode(tmp, padded, (char *) out, pg_b64_dec_len(padded));
	if (n < 0)
		return NULL;
	out[n] = '\0';
	*outlen = n;
	return out;
}

/*
 * HKDF-SHA256 (RFC 5869) without salt: outlen bytes of key material for
 * the purpose label names, from a key that is already uniformly random
 * or long (the master key, a random audit key).  False if OpenSSL fails.
 */
bool
nx_hkdf_sha256(const unsigned char *key, size_t keylen, const char *label,
			   unsigned char *out, size_t outlen)
{
	EVP_PKEY_CTX *kdf = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t		len = outlen;
	bool		ok;

	ok = kdf != NULL && EVP_PKEY_derive_init(kdf) > 0 &&
		EVP_PKEY_CTX_set_hkdf_md(kdf, EVP_sha256()) > 0 &&
		EVP_PKEY_CTX_set1_hkdf_key(kdf, key, (int) keylen) > 0 &&
		EVP_PKEY_CTX_add1_hkdf_info(kdf, (const unsigned char *) label, (int) strlen(label)) > 0 &&
		EVP_PKEY_derive(kdf, out, &len) > 0 && len == outlen;
	EVP_PKEY_CTX_free(kdf);
	if (!ok)
		explicit_bzero(out, outlen);
	return ok;
}

/* _random_token(prefix): 32 random bytes, base64url, after prefix */
PG_FUNCTION_INFO_V1(nx_random_token_sql);
Datum
nx_random_token_sql(PG_FUNCTION_ARGS)
{
	char	   *prefix = text_to_cstring(nx_arg_text(fcinfo, 0, "prefix", 16));

	PG_RETURN_TEXT_P(cstring_to_text(nx_random_token(prefix)));
}
