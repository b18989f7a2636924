/*-------------------------------------------------------------------------
 *
 * json_fields.c
 *	  Reading jsonb arguments: parse without raising, and fetch one typed
 *	  field of an object.
 *
 * Parsing is PostgreSQL's own JSON parser.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

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

