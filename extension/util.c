/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers shared by the SQL-callable functions: argument checks,
 *	  random tokens, hashing, base64url, and jsonb field access.
 *
 * Cryptographic randomness and hashing come from OpenSSL; JSON parsing
 * from PostgreSQL's own parser.  Nothing here is a hand-rolled primitive.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "common/base64.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/*
 * Fetch a text argument that must be present and at most maxlen bytes;
 * errors name the argument, never echo its value (it may be a secret).
 */
text *
nx_arg_text(FunctionCallInfo fcinfo, int argno, const char *name, int maxlen)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NX_BAD_INPUT),
				 errmsg("%s is required", name)));
	t = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(t) > maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_NX_TOO_LARGE),
				 errmsg("%s is too long", name),
				 errdetail("At most %d bytes are accepted.", maxlen)));
	return t;
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

/* Parse JSON text into jsonb; NULL (never an ERROR) when it is malformed. */
Jsonb *
nx_jsonb_parse(const char *json, int len)
{
	char	   *copy = pnstrdup(json, len);
	JsonLexContext *lex = makeJsonLexContextCstringLen(copy, len,
													   GetDatabaseEncoding(),
													   true);

	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}

static JsonbValue *
nx_jsonb_field(Jsonb *jb, const char *key)
{
	JsonbValue	k;

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
}

char *
nx_jsonb_get_cstring(Jsonb *jb, const char *key)
{
	JsonbValue *v = nx_jsonb_field(jb, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

bool
nx_jsonb_get_bool(Jsonb *jb, const char *key)
{
	JsonbValue *v = nx_jsonb_field(jb, key);

	return v != NULL && v->type == jbvBool && v->val.boolean;
}

bool
nx_jsonb_get_int64(Jsonb *jb, const char *key, int64 *out)
{
	JsonbValue *v = nx_jsonb_field(jb, key);

	if (v == NULL || v->type != jbvNumeric)
		return false;
	*out = DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v->val.numeric)));
	return true;
}

/* Parse a canonical UUID; false (never an ERROR) when malformed. */
bool
nx_uuid_parse(const char *s, pg_uuid_t *out)
{
	pg_uuid_t  *u;

	static const int dash[] = {8, 13, 18, 23, 36};
	const char *hex = "0123456789abcdefABCDEF";
	int			from = 0;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (int i = 0; i < 5; i++)
	{
		if (strspn(s + from, hex) != (size_t) (dash[i] - from) ||
			(i < 4 && s[dash[i]] != '-'))
			return false;
		from = dash[i] + 1;
	}
	u = DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));
	*out = *u;
	return true;
}

char *
nx_uuid_out(const pg_uuid_t *u)
{
	/* uuid_out()'s text, without its StringInfo: the audit trigger calls
	 * this for every uuid column of every audited row */
	static const char hex[] = "0123456789abcdef";
	char	   *s = palloc(UUID_LEN * 2 + 5);
	char	   *p = s;

	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->data[i] >> 4];
		*p++ = hex[u->data[i] & 0x0F];
	}
	*p = '\0';
	return s;
}

/* _raise(code, message, detail, hint): an NX error for PL/pgSQL callers */
PG_FUNCTION_INFO_V1(nx_raise);
Datum
nx_raise(PG_FUNCTION_ARGS)
{
	char	   *code = PG_ARGISNULL(0) ? "NX500" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *message = PG_ARGISNULL(1) ? "error" : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *detail = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *hint = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (strlen(code) != 5)
		code = "NX500";
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
	PG_RETURN_VOID();
}
