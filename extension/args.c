/*-------------------------------------------------------------------------
 *
 * args.c
 *	  Checking what SQL callers pass: required, bounded text arguments,
 *	  canonical UUIDs, and _raise() for NX errors from PL/pgSQL.
 *
 * Errors name the argument and never echo its value, which may be a secret.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

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
	if (VARSIZE_ANY_EXHDR(t) > (Size) maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_NX_TOO_LARGE),
				 errmsg("%s is too long", name),
				 errdetail("At most %d bytes are accepted.", maxlen)));
	return t;
}

/* A hex digit's value; the caller has checked that c is one. */
static inline int
nx_hex_value(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/*
 * Parse a canonical UUID; false (never an ERROR) when malformed.  Once the
 * form is checked, the 32 digits are read here, not by uuid_in through
 * the function manager: authenticate parses several per request.
 */
bool
nx_uuid_parse(const char *s, pg_uuid_t *out)
{
	static const int dash[] = {8, 13, 18, 23, 36};
	const char *hex = "0123456789abcdefABCDEF";
	int			from = 0;
	int			n = 0;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (int i = 0; i < 5; i++)
	{
		if (strspn(s + from, hex) != (size_t) (dash[i] - from) ||
			(i < 4 && s[dash[i]] != '-'))
			return false;
		from = dash[i] + 1;
	}
	for (int i = 0; i < 36; i++)
	{
		if (s[i] == '-')
			continue;
		out->data[n / 2] = (n % 2 == 0) ? nx_hex_value(s[i]) << 4 :
			out->data[n / 2] | nx_hex_value(s[i]);
		n++;
	}
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
