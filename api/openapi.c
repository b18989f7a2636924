/*
 * openapi.c -- GET /v1/openapi.json, built from the same table that routes,
 * so the document cannot drift from what the server does.
 */
#include "openapi.h"

#include "routes.h"

#include <jansson.h>
#include <string.h>

static json_t *
schema_for(NxArgType t)
{
	switch (t)
	{
		case NX_TYPE_UUID:
			return json_pack("{s:s, s:s}", "type", "string", "format", "uuid");
		case NX_TYPE_INT:
			return json_pack("{s:s, s:s}", "type", "integer", "format", "int32");
		case NX_TYPE_BIGINT:
			return json_pack("{s:s, s:s}", "type", "integer", "format", "int64");
		case NX_TYPE_BOOL:
			return json_pack("{s:s}", "type", "boolean");
		case NX_TYPE_TIMESTAMP:
			return json_pack("{s:s, s:s}", "type", "string", "format", "date-time");
		case NX_TYPE_INTERVAL:
			return json_pack("{s:s, s:s}", "type", "string", "description",
							 "a PostgreSQL interval, e.g. \"24 hours\"");
		case NX_TYPE_JSON:
			return json_object();
		case NX_TYPE_TEXT_ARRAY:
			return json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string");
		case NX_TYPE_UUID_ARRAY:
			return json_pack("{s:s, s:{s:s, s:s}}", "type", "array", "items", "type", "string",
							 "format", "uuid");
		case NX_TYPE_TEXT:
			break;
	}
	return json_pack("{s:s}", "type", "string");
}

static json_t *
error_response(const char *description)
{
	return json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", description, "content",
					 "application/json", "schema", "$ref", "#/components/schemas/Error");
}

static json_t *
operation(const Route *r)
{
	json_t	   *op = json_object();
	json_t	   *params = json_array();
	json_t	   *props = json_object();
	json_t	   *required = json_array();
	json_t	   *responses = json_object();
	char		status[8];
	char		opid[96];

	snprintf(opid, sizeof(opid), "%s_%s", r->function ? r->function : r->tag,
			 r->method);
	for (char *p = opid; *p; p++)
		*p = (char) (*p == '-' ? '_' : (*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
	json_object_set_new(op, "operationId", json_string(opid));
	json_object_set_new(op, "summary", json_string(r->summary));
	json_object_set_new(op, "tags", json_pack("[s]", r->tag));
	if (r->function)
		json_object_set_new(op, "x-sql-function",
							json_sprintf("nexplane.%s", r->function));

	for (int i = 0; i < NX_ROUTE_MAX_ARGS && r->args[i].name; i++)
	{
		const RouteArg *a = &r->args[i];

		switch (a->source)
		{
			case NX_SOURCE_PATH:
			case NX_SOURCE_QUERY:
			case NX_SOURCE_HEADER:
				json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:o}",
					"name", a->source == NX_SOURCE_HEADER ? a->from : a->name,
					"in", a->source == NX_SOURCE_PATH ? "path" :
						  a->source == NX_SOURCE_QUERY ? "query" : "header",
					"required", a->required || a->source == NX_SOURCE_PATH,
					"schema", schema_for(a->type)));
				break;
			case NX_SOURCE_QUERY_OBJECT:
				json_array_append_new(params, json_pack("{s:s, s:s, s:s, s:b, s:{s:s, s:{s:s}}, s:s}",
					"name", a->name, "in", "query", "style", "form", "explode", 1,
					"schema", "type", "object", "additionalProperties", "type", "string",
					"description", "filter keys as query parameters, and limit"));
				break;
			case NX_SOURCE_BODY:
				json_object_set_new(props, a->name, schema_for(a->type));
				if (a->required)
					json_array_append_new(required, json_string(a->name));
				break;
			case NX_SOURCE_BODY_OBJECT:
				json_object_set_new(op, "requestBody", json_pack("{s:b, s:{s:{s:{s:s}}}}",
					"required", a->required, "content", "application/json", "schema",
					"type", "object"));
				break;
			case NX_SOURCE_FIXED:
			case NX_SOURCE_PEER:
			case NX_SOURCE_CLIENT_CERT:
				break;
		}
	}
	if (json_array_size(params) > 0)
		json_object_set(op, "parameters", params);
	if (json_object_size(props) > 0)
		json_object_set_new(op, "requestBody", json_pack("{s:b, s:{s:{s:{s:s, s:O, s:O, s:b}}}}",
			"required", json_array_size(required) > 0, "content", "application/json", "schema",
			"type", "object", "properties", props, "required", required,
			"additionalProperties", 0));

	snprintf(status, sizeof(status), "%d", r->status);
	json_object_set_new(responses, status, json_pack("{s:s, s:{s:{s:{}}}}",
		"description", "success", "content",
		r->kind == NX_KIND_EVENTS ? "text/event-stream" : "application/json", "schema"));
	json_object_set_new(responses, "400", error_response("invalid input"));
	if (!(r->flags & NX_ROUTE_PUBLIC))
	{
		json_object_set_new(responses, "401", error_response("not authenticated"));
		json_object_set_new(responses, "403", error_response("forbidden for this role"));
		json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
	}
	else
		json_object_set_new(op, "security", json_array());
	if (r->flags & NX_ROUTE_LOGIN)
		json_object_set_new(responses, "429", error_response("rate limited"));
	if (r->kind == NX_KIND_SQL)
	{
		json_object_set_new(responses, "404", error_response("not found"));
		json_object_set_new(responses, "409", error_response("conflict or invalid transition"));
		json_object_set_new(responses, "501", error_response("the database lacks this function"));
	}
	json_object_set_new(responses, "503", error_response("database unavailable"));
	json_object_set_new(op, "responses", responses);

	json_decref(params);
	json_decref(props);
	json_decref(required);
	return op;
}

char *
nx_openapi_document(void)
{
	json_t	   *paths = json_object();
	json_t	   *doc;
	char	   *out;

	for (size_t i = 0; i < nx_route_count; i++)
	{
		const Route *r = &nx_routes[i];
		json_t	   *item = json_object_get(paths, r->pattern);
		char		method[8];
		size_t		n = strlen(r->method);

		if (item == NULL)
		{
			item = json_object();
			json_object_set_new(paths, r->pattern, item);
		}
		for (size_t k = 0; k <= n && k < sizeof(method); k++)
			method[k] = (char) (r->method[k] >= 'A' && r->method[k] <= 'Z' ?
								r->method[k] + 32 : r->method[k]);
		method[sizeof(method) - 1] = '\0';
		json_object_set_new(item, method, operation(r));
	}
	doc = json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s, s:s}}, s:{s:{s:s, s:{s:{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}, s:[s, s]}}}}}}",
		"openapi", "3.1.0",
		"info", "title", "Nexplane API", "version", NX_EXT_VERSION,
		"description", "Each route is one SQL function of schema nexplane (x-sql-function).",
		"paths", paths,
		"components",
		"securitySchemes", "bearer", "type", "http", "scheme", "bearer",
		"description", "an access token from /v1/auth/login, or an API key (nxp_...)",
		"schemas", "Error", "type", "object", "properties", "error",
		"type", "object", "properties",
		"status", "type", "integer", "code", "type", "string", "message", "type", "string",
		"detail", "type", "string", "hint", "type", "string", "request_id", "type", "string",
		"required", "status", "message");
	out = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	return out;
}
