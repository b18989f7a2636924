/*-------------------------------------------------------------------------
 *
 * json_build.c
 *	  Building jsonb in C from values in hand, without JSON text.
 *
 * A write's payloads and answers were JSON text that the statement parsed
 * again ($n::jsonb): a parse costs 30 to 50 instructions a byte, and a
 * create parsed its params twice and its risk factors twice.  These push
 * the values straight into a jsonb, with the conversions jsonb_build_object
 * makes (a string, an integer as a number, a jsonb as itself), so the
 * result is the jsonb the text would have parsed to.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "json_build.h"

#include "utils/numeric.h"

void
nx_jb_key(JsonbParseState **ps, const char *key)
{
	nx_jb_string(ps, WJB_KEY, key, strlen(key));
}

/* tok: WJB_KEY, WJB_VALUE (of a key) or WJB_ELEM (of an array) */
void
nx_jb_string(JsonbParseState **ps, JsonbIteratorToken tok, const char *s, int len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = len;
	pushJsonbValue(ps, tok, &v);
}

void
nx_jb_cstring(JsonbParseState **ps, JsonbIteratorToken tok, const char *s)
{
	if (s == NULL)
		nx_jb_null(ps, tok);
	else
		nx_jb_string(ps, tok, s, strlen(s));
}

void
nx_jb_int(JsonbParseState **ps, JsonbIteratorToken tok, int32 i)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int4_numeric, Int32GetDatum(i)));
	pushJsonbValue(ps, tok, &v);
}

void
nx_jb_null(JsonbParseState **ps, JsonbIteratorToken tok)
{
	JsonbValue	v;

	v.type = jbvNull;
	pushJsonbValue(ps, tok, &v);
}

/* A jsonb value as a value or element, as datum_to_jsonb adds one. */
void
nx_jb_jsonb(JsonbParseState **ps, JsonbIteratorToken tok, Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken t;

	if (jb == NULL)
	{
		nx_jb_null(ps, tok);
		return;
	}
	it = JsonbIteratorInit(&jb->root);
	if (JB_ROOT_IS_SCALAR(jb))
	{
		(void) JsonbIteratorNext(&it, &v, true);	/* the raw scalar's array */
		(void) JsonbIteratorNext(&it, &v, true);
		pushJsonbValue(ps, tok, &v);
		return;
	}
	while ((t = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (t == WJB_BEGIN_ARRAY || t == WJB_END_ARRAY ||
			t == WJB_BEGIN_OBJECT || t == WJB_END_OBJECT)
			pushJsonbValue(ps, t, NULL);
		else
			pushJsonbValue(ps, t, &v);
	}
}

/* End the outermost object or array (end: WJB_END_OBJECT or WJB_END_ARRAY). */
Jsonb *
nx_jb_finish(JsonbParseState **ps, JsonbIteratorToken end)
{
	return JsonbValueToJsonb(pushJsonbValue(ps, end, NULL));
}

Jsonb *
nx_jb_empty_array(void)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	return nx_jb_finish(&ps, WJB_END_ARRAY);
}

Jsonb *
nx_jb_empty_object(void)
{
	JsonbParseState *ps = NULL;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	return nx_jb_finish(&ps, WJB_END_OBJECT);
}
