/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Every connector Nexplane has, in one static table, the lookups that
 *	  walk it, and connector_types(), which shows it to users.
 *
 * Adding a connector is one file with its NxConnector and one line here
 * (CONTRIBUTING.md has the recipe).
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "connector.h"

#include "lib/stringinfo.h"
#include "utils/json.h"

static const NxConnector *const registry[] = {
	&nx_postgresql_connector,
	&nx_mariadb_connector,
	&nx_redis_connector,
	&nx_ldap_connector,
	&nx_agent_connector,
};

/* nx_connector_find returns the connector of that type, or NULL. */
const NxConnector *
nx_connector_find(const char *name)
{
	for (size_t i = 0; i < lengthof(registry); i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

/* nx_change_type_find returns connector c's change type of that name, or NULL. */
const NxChangeType *
nx_change_type_find(const NxConnector *c, const char *name)
{
	if (c == NULL)
		return NULL;
	for (const NxChangeType *t = c->change_types; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

const char *
nx_change_class_name(NxChangeClass class)
{
	static const char *const names[] = {
		[NX_CHANGE_ADDITIVE] = "additive",
		[NX_CHANGE_MODIFYING] = "modifying",
		[NX_CHANGE_DESTRUCTIVE] = "destructive",
	};

	return names[class];
}

/*
 * nx_change_class_by_verb classes a change type no connector declares by
 * its verb (create_..., delete_...); anything else is taken to modify.
 * Risk scoring uses it only until change requests are held to their
 * connector's table.
 */
NxChangeClass
nx_change_class_by_verb(const char *change_type)
{
	static const struct
	{
		const char *prefix;
		NxChangeClass class;
	}			verbs[] = {
		{"create_", NX_CHANGE_ADDITIVE}, {"add_", NX_CHANGE_ADDITIVE},
		{"grant_", NX_CHANGE_ADDITIVE},
		{"delete_", NX_CHANGE_DESTRUCTIVE}, {"drop_", NX_CHANGE_DESTRUCTIVE},
		{"revoke_", NX_CHANGE_DESTRUCTIVE}, {"remove_", NX_CHANGE_DESTRUCTIVE},
		{"purge_", NX_CHANGE_DESTRUCTIVE}, {"destroy_", NX_CHANGE_DESTRUCTIVE},
	};

	for (size_t i = 0; i < lengthof(verbs); i++)
		if (strncmp(verbs[i].prefix, change_type, strlen(verbs[i].prefix)) == 0)
			return verbs[i].class;
	return NX_CHANGE_MODIFYING;
}

static void
nx_append_fields(StringInfo buf, const char *key, const NxField *fields)
{
	static const char *const types[] = {
		[NX_FIELD_STRING] = "string",
		[NX_FIELD_INTEGER] = "integer",
		[NX_FIELD_BOOLEAN] = "boolean",
	};

	appendStringInfo(buf, ", \"%s\": [", key);
	for (const NxField *f = fields; f && f->name; f++)
	{
		appendStringInfo(buf, "%s{\"name\": ", f == fields ? "" : ", ");
		escape_json(buf, f->name);
		appendStringInfo(buf, ", \"type\": \"%s\", \"required\": %s, \"description\": ",
						 types[f->type], f->required ? "true" : "false");
		escape_json(buf, f->description);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
}

/*
 * connector_types(): every connector type with its config and credential
 * fields and its change types (class, risk weight, whether it can be
 * rolled back).  Public knowledge: any authenticated role may read it.
 */
PG_FUNCTION_INFO_V1(nx_connector_types);
Datum
nx_connector_types(PG_FUNCTION_ARGS)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (size_t i = 0; i < lengthof(registry); i++)
	{
		const NxConnector *c = registry[i];

		appendStringInfo(&buf, "%s{\"type\": ", i ? ", " : "");
		escape_json(&buf, c->name);
		appendStringInfoString(&buf, ", \"description\": ");
		escape_json(&buf, c->description);
		nx_append_fields(&buf, "config_fields", c->config_fields);
		nx_append_fields(&buf, "credential_fields", c->credential_fields);
		appendStringInfoString(&buf, ", \"change_types\": [");
		for (const NxChangeType *t = c->change_types; t->name; t++)
		{
			appendStringInfo(&buf, "%s{\"name\": ", t == c->change_types ? "" : ", ");
			escape_json(&buf, t->name);
			appendStringInfo(&buf, ", \"class\": \"%s\", \"risk_weight\": %d,"
							 " \"rollback\": %s, \"description\": ",
							 nx_change_class_name(t->class), t->risk_weight,
							 t->rollback ? "true" : "false");
			escape_json(&buf, t->description);
			nx_append_fields(&buf, "params", t->params);
			appendStringInfo(&buf, ", \"rotates_secret\": %s", t->rotates_secret ? "true" : "false");
			appendStringInfoChar(&buf, '}');
		}
		appendStringInfoString(&buf, "]}");
	}
	appendStringInfoChar(&buf, ']');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
