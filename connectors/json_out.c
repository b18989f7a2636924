/*-------------------------------------------------------------------------
 *
 * json_out.c
 *	  Building the JSON objects connectors report (results, evidence,
 *	  rollback state) as text, one key at a time, then as jsonb.
 *
 * A connector's report is a handful of keys; building the text with
 * escape_json and parsing it once is simpler than a JsonbParseState.
 * Shared by every connector so that each does not carry its own copy.
 *
 *-------------------------------------------------------------------------
 */
#include "connector.h"

#include "utils/json.h"
#include "utils/jsonb.h"

/* nx_json_begin starts an object in a new buffer. */
void
nx_json_begin(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoChar(buf, '{');
}

/*
 * nx_json_key writes a key, after a comma unless it is the first of its
 * object or array; the value (a nested one, say) is the caller's.
 */
void
nx_json_key(StringInfo buf, const char *key)
{
	char		last = buf->len ? buf->data[buf->len - 1] : '{';

	if (last != '{' && last != '[')
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
}

/* A string, or null for NULL. */
void
nx_json_str(StringInfo buf, const char *key, const char *value)
{
	nx_json_key(buf, key);
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

void
nx_json_bool(StringInfo buf, const char *key, bool value)
{
	nx_json_key(buf, key);
	appendStringInfoString(buf, value ? "true" : "false");
}

void
nx_json_int(StringInfo buf, const char *key, int64 value)
{
	nx_json_key(buf, key);
	appendStringInfo(buf, INT64_FORMAT, value);
}

/* json: text that is already JSON (an array or object built elsewhere). */
void
nx_json_raw(StringInfo buf, const char *key, const char *json)
{
	nx_json_key(buf, key);
	appendStringInfoString(buf, json);
}

/* nx_json_parse: the buffer's text, complete as it is, as jsonb. */
Jsonb *
nx_json_parse(StringInfo buf)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data)));
}

/* nx_json_end closes the object nx_json_begin started, as jsonb. */
Jsonb *
nx_json_end(StringInfo buf)
{
	appendStringInfoChar(buf, '}');
	return nx_json_parse(buf);
}
