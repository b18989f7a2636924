/*
 * bind.c -- argument binding.
 *
 * Every value reaches PostgreSQL as a bound parameter with an explicit
 * cast, and every argument is passed by name, so the SQL text depends only
 * on which arguments are present, never on their values.  The JSON body is
 * parsed by jansson (duplicate keys and NUL bytes refused); the query string
 * by libevent.  Unknown body fields and repeated query parameters are errors,
 * not silently ignored: a typo must not turn into a default.
 */
#include "bind.h"

#include <sys/queue.h>
#include <ctype.h>
#include <errno.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARRAY_ITEMS 1000

static bool fail(BindError *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A 400 with its message; false, so that callers can return it. */
static bool
fail(BindError *err, const char *fmt, ...)
{
	va_list		ap;

	err->status = 400;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return false;
}

bool
nx_is_uuid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	int			d = 0;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
	{
		if (d < 4 && i == dash[d])
		{
			if (s[i] != '-')
				return false;
			d++;
		}
		else if (!isxdigit((unsigned char) s[i]))
			return false;
	}
	return true;
}

static bool
is_integer(const char *s, long long min, long long max)
{
	char	   *end;
	long long	v;

	if (s == NULL || *s == '\0' || isspace((unsigned char) *s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && v >= min && v <= max;
}

/* A value given as a string (path, query, header, fixed): check its shape. */
static bool
check_string_value(const RouteArg *a, const char *v, BindError *err)
{
	switch (a->type)
	{
		case NX_TYPE_UUID:
			if (!nx_is_uuid(v))
				return fail(err, "%s must be a UUID", a->name);
			break;
		case NX_TYPE_INT:
			if (!is_integer(v, INT_MIN, INT_MAX))
				return fail(err, "%s must be an integer", a->name);
			break;
		case NX_TYPE_BIGINT:
			if (!is_integer(v, LLONG_MIN, LLONG_MAX))
				return fail(err, "%s must be an integer", a->name);
			break;
		case NX_TYPE_BOOL:
			if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
				return fail(err, "%s must be true or false", a->name);
			break;
		case NX_TYPE_JSON:
		case NX_TYPE_TEXT_ARRAY:
		case NX_TYPE_UUID_ARRAY:
			return fail(err, "%s cannot be given here", a->name);
		default:
			break;
	}
	return true;
}

/* A value given in the JSON body: check its JSON type, make its text. */
static char *
json_value_text(const RouteArg *a, json_t *v, BindError *err)
{
	char		buf[32];

	switch (a->type)
	{
		case NX_TYPE_TEXT:
		case NX_TYPE_TIMESTAMP:
		case NX_TYPE_INTERVAL:
		case NX_TYPE_UUID:
			if (!json_is_string(v))
			{
				fail(err, "field \"%s\" must be a string", a->name);
				return NULL;
			}
			if (a->type == NX_TYPE_UUID && !nx_is_uuid(json_string_value(v)))
			{
				fail(err, "field \"%s\" must be a UUID", a->name);
				return NULL;
			}
			return strdup(json_string_value(v));
		case NX_TYPE_INT:
		case NX_TYPE_BIGINT:
			if (!json_is_integer(v) ||
				(a->type == NX_TYPE_INT && (json_integer_value(v) < INT_MIN ||
									  json_integer_value(v) > INT_MAX)))
			{
				fail(err, "field \"%s\" must be an integer", a->name);
				return NULL;
			}
			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			return strdup(buf);
		case NX_TYPE_BOOL:
			if (!json_is_boolean(v))
			{
				fail(err, "field \"%s\" must be true or false", a->name);
				return NULL;
			}
			return strdup(json_is_true(v) ? "true" : "false");
		case NX_TYPE_TEXT_ARRAY:
		case NX_TYPE_UUID_ARRAY:
			{
				size_t		i;
				json_t	   *item;

				if (!json_is_array(v) || json_array_size(v) > MAX_ARRAY_ITEMS)
				{
					fail(err, "field \"%s\" must be an array of at most %d strings",
						 a->name, MAX_ARRAY_ITEMS);
					return NULL;
				}
				json_array_foreach(v, i, item)
				{
					if (!json_is_string(item) ||
						(a->type == NX_TYPE_UUID_ARRAY && !nx_is_uuid(json_string_value(item))))
					{
						fail(err, "field \"%s\" must be an array of %s", a->name,
							 a->type == NX_TYPE_UUID_ARRAY ? "UUIDs" : "strings");
						return NULL;
					}
				}
			}
			/* FALLTHROUGH */
		case NX_TYPE_JSON:
			return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	}
	return NULL;
}

/* The SQL expression for parameter $n of type t. */
static void
append_param(char *sql, size_t size, const char *name, int n, NxArgType t)
{
	size_t		len = strlen(sql);

	if (t == NX_TYPE_TEXT_ARRAY || t == NX_TYPE_UUID_ARRAY)
		snprintf(sql + len, size - len,
				 "%s%s => ARRAY(SELECT pg_catalog.jsonb_array_elements_text($%d::jsonb)::%s)",
				 n > 1 ? ", " : "", name, n, t == NX_TYPE_UUID_ARRAY ? "uuid" : "text");
	else
		snprintf(sql + len, size - len, "%s%s => $%d::%s",
				 n > 1 ? ", " : "", name, n, nx_arg_type_sql(t));
}

/* The route's argument from src named name (any name when NULL), or NULL. */
static const RouteArg *
route_arg(const Route *r, NxArgSource src, const char *name)
{
	for (int i = 0; i < NX_ROUTE_MAX_ARGS && r->args[i].name; i++)
		if (r->args[i].source == src && (name == NULL || strcmp(r->args[i].name, name) == 0))
			return &r->args[i];
	return NULL;
}

/* Parse and check the body: absent, or a JSON object of known fields. */
static bool
parse_body(const BindInput *in, json_t **body, BindError *err)
{
	const Route *r = in->match->route;
	json_error_t jerr;
	const char *key;
	json_t	   *value;

	*body = NULL;
	if (in->body == NULL || in->body_len == 0)
		return true;
	*body = json_loadb(in->body, in->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (*body == NULL)
		return fail(err, "malformed JSON body at line %d, column %d: %s",
					jerr.line, jerr.column, jerr.text);
	if (!json_is_object(*body))
		return fail(err, "the body must be a JSON object");
	if (route_arg(r, NX_SOURCE_BODY_OBJECT, NULL))
		return true;			/* the function checks its fields */
	if (!route_arg(r, NX_SOURCE_BODY, NULL) && json_object_size(*body) > 0)
		return fail(err, "%s %s takes no body fields", r->method, r->pattern);
	json_object_foreach(*body, key, value)
	{
		if (!route_arg(r, NX_SOURCE_BODY, key))
			return fail(err, "unknown field \"%.64s\"", key);
	}
	return true;
}

/* Parse the query string: each key once; unknown keys only into a filter. */
static bool
parse_query(const BindInput *in, struct evkeyvalq *q, json_t **object, BindError *err)
{
	const Route *r = in->match->route;
	struct evkeyval *kv;

	*object = NULL;
	TAILQ_INIT(q);
	if (in->query == NULL || in->query[0] == '\0')
		return true;
	if (strstr(in->query, "%00") != NULL)
		return fail(err, "the query string must not contain NUL bytes");
	if (evhttp_parse_query_str(in->query, q) != 0)
		return fail(err, "malformed query string");
	if (route_arg(r, NX_SOURCE_QUERY_OBJECT, NULL))
		*object = json_object();
	TAILQ_FOREACH(kv, q, next)
	{
		struct evkeyval *other;

		for (other = TAILQ_NEXT(kv, next); other; other = TAILQ_NEXT(other, next))
			if (strcmp(other->key, kv->key) == 0)
				return fail(err, "query parameter \"%.64s\" is given twice", kv->key);
		if (route_arg(r, NX_SOURCE_QUERY, kv->key))
			continue;
		if (*object == NULL)
			return fail(err, "unknown query parameter \"%.64s\"", kv->key);
		if (json_object_set_new(*object, kv->key, json_string(kv->value)) != 0)
			return fail(err, "query parameters must be UTF-8");
	}
	return true;
}

bool
nx_bind(const BindInput *in, BoundCall *out, BindError *err)
{
	const Route *r = in->match->route;
	struct evkeyvalq query;
	json_t	   *body = NULL;
	json_t	   *qobject = NULL;
	size_t		sqlsize = 256;
	bool		ok = false;

	memset(out, 0, sizeof(*out));
	err->status = 0;
	err->message[0] = '\0';
	TAILQ_INIT(&query);

	if (!parse_body(in, &body, err) || !parse_query(in, &query, &qobject, err))
		goto done;

	for (int i = 0; i < NX_ROUTE_MAX_ARGS && r->args[i].name; i++)
		sqlsize += strlen(r->args[i].name) + 96;
	out->sql = malloc(sqlsize);
	if (out->sql == NULL)
	{
		fail(err, "out of memory");
		err->status = 500;
		goto done;
	}
	snprintf(out->sql, sqlsize, "SELECT nexplane.%s(", r->function);

	for (int i = 0; i < NX_ROUTE_MAX_ARGS && r->args[i].name; i++)
	{
		const RouteArg *a = &r->args[i];
		const char *s = NULL;
		char	   *text = NULL;

		switch (a->source)
		{
			case NX_SOURCE_PATH:
				s = nx_route_capture(in->match, a->name);
				break;
			case NX_SOURCE_QUERY:
				s = evhttp_find_header(&query, a->name);
				break;
			case NX_SOURCE_HEADER:
				s = in->header ? in->header(in->header_ctx, a->from) : NULL;
				break;
			case NX_SOURCE_FIXED:
				s = a->from;
				break;
			case NX_SOURCE_PEER:
				s = in->peer;
				break;
			case NX_SOURCE_CLIENT_CERT:
				s = in->fingerprint;
				break;
			case NX_SOURCE_BODY_OBJECT:
				if (body != NULL)
					text = json_dumps(body, JSON_COMPACT);
				break;
			case NX_SOURCE_BODY:
				{
					json_t	   *v = body ? json_object_get(body, a->name) : NULL;

					if (v != NULL && !json_is_null(v))
					{
						text = json_value_text(a, v, err);
						if (text == NULL)
						{
							if (err->status == 0)
								fail(err, "field \"%s\" could not be read", a->name);
							goto done;
						}
					}
				}
				break;
			case NX_SOURCE_QUERY_OBJECT:
				if (qobject != NULL && json_object_size(qobject) > 0)
					text = json_dumps(qobject, JSON_COMPACT);
				break;
		}
		if (s != NULL)
		{
			if (!check_string_value(a, s, err))
				goto done;
			text = strdup(s);
		}
		if (text == NULL)
		{
			if (a->required)
			{
				if (a->source == NX_SOURCE_BODY)
					fail(err, "field \"%s\" is required", a->name);
				else if (a->source == NX_SOURCE_BODY_OBJECT)
					fail(err, "a JSON object body is required");
				else if (a->source == NX_SOURCE_CLIENT_CERT)
					fail(err, "a client certificate is required");
				else
					fail(err, "%s is required", a->from ? a->from : a->name);
				goto done;
			}
			continue;
		}
		out->values[out->nparams++] = text;
		append_param(out->sql, sqlsize, a->name, out->nparams, a->type);
	}
	strcat(out->sql, ")");
	ok = true;

done:
	evhttp_clear_headers(&query);
	json_decref(body);
	json_decref(qobject);
	if (!ok)
		nx_bound_free(out);
	return ok;
}

void
nx_bound_free(BoundCall *call)
{
	free(call->sql);
	call->sql = NULL;
	for (int i = 0; i < call->nparams; i++)
		free(call->values[i]);
	call->nparams = 0;
}
