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

/* A hex digit's value, or -1 when c is not one. */
static inline int
nx_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Parse a canonical UUID; false (never an ERROR) when malformed.  One pass
 * checks and reads the 32 digits, not uuid_in through the function manager
 * nor strspn over a set: authenticate parses several per request, and the
 * form check by strspn cost ten times the reading.
 */
bool
nx_uuid_parse(const char *s, pg_uuid_t *out)
{
	pg_uuid_t	u;
	int			n = 0;

	if (s == NULL)
		return false;
	for (int i = 0; i < 36; i++)
	{
		int			hi;
		int			lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			continue;
		}
		/* s[i] is not NUL here, so s[i + 1] is still inside the string */
		hi = nx_hex_value(s[i]);
		lo = hi < 0 ? -1 : nx_hex_value(s[i + 1]);
		if (lo < 0)
			return false;
		u.data[n++] = (uint8) ((hi << 4) | lo);
		i++;
	}
	if (s[36] != '\0')
		return false;
	*out = u;					/* untouched when malformed, as before */
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
