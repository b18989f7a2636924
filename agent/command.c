/*
 * command.c -- a command as a poll delivers it, checked again against the
 * compiled-in table before anything runs: the command must be in the
 * table, every parameter must be one of its parameters with the right
 * type and shape, every required one present.  The database checked the
 * same when it was queued; the agent trusts nothing it receives.
 * test/fuzz/fuzz_command.c feeds this file arbitrary input.
 */
#include "agent.h"

#include <stdio.h>
#include <string.h>

bool
nx_uuid_ok(const char *s)
{
	if (s == NULL || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static bool
check_params(const NxAgentCommand *def, json_t *params, char *err, size_t errlen)
{
	const char *key;
	json_t *value;

	json_object_foreach(params, key, value)
	{
		const NxAgentParam *p = nx_agent_param_find(def, key);

		if (p == NULL)
		{
			snprintf(err, errlen, "parameter \"%.64s\" is not one of %s's", key, def->name);
			return false;
		}
		switch (p->type)
		{
			case NX_AGENT_STRING:
				if (!json_is_string(value) ||
					!nx_agent_string_ok(p, json_string_value(value), json_string_length(value)))
				{
					snprintf(err, errlen, "parameter \"%s\" of %s is not valid: %s", p->name,
							 def->name, p->description);
					return false;
				}
				break;
			case NX_AGENT_INTEGER:
				if (!json_is_integer(value) || json_integer_value(value) < p->min ||
					json_integer_value(value) > p->max)
				{
					snprintf(err, errlen, "parameter \"%s\" of %s must be an integer from %ld to %ld",
							 p->name, def->name, p->min, p->max);
					return false;
				}
				break;
			case NX_AGENT_BOOLEAN:
				if (!json_is_boolean(value))
				{
					snprintf(err, errlen, "parameter \"%s\" of %s must be true or false", p->name,
							 def->name);
					return false;
				}
				break;
		}
	}
	for (const NxAgentParam *p = def->params; p->name; p++)
		if (p->required && json_object_get(params, p->name) == NULL)
		{
			snprintf(err, errlen, "parameter \"%s\" of %s is missing", p->name, def->name);
			return false;
		}
	return true;
}

/* An optional integer field: absent or null gives 0. */
static bool
opt_int(json_t *obj, const char *name, long min, long max, int *out)
{
	json_t *v = json_object_get(obj, name);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return false;
	*out = (int) json_integer_value(v);
	return true;
}

NxParse
nx_command_parse(json_t *obj, NxCommand *out, char *err, size_t errlen)
{
	json_t *id, *name, *params;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
	{
		snprintf(err, errlen, "a command must be an object");
		return NX_PARSE_MALFORMED;
	}
	id = json_object_get(obj, "id");
	if (!json_is_string(id) || !nx_uuid_ok(json_string_value(id)))
	{
		snprintf(err, errlen, "a command needs an id (a lowercase uuid)");
		return NX_PARSE_MALFORMED;
	}
	memcpy(out->id, json_string_value(id), 37);
	name = json_object_get(obj, "command");
	if (!json_is_string(name) || (out->def = nx_agent_command_find(json_string_value(name))) == NULL)
	{
		snprintf(err, errlen, "command \"%.64s\" is not in the agent's allowlist",
				 json_is_string(name) ? json_string_value(name) : "");
		return NX_PARSE_REFUSED;
	}
	params = json_object_get(obj, "params");
	if (params == NULL || json_is_null(params))
		params = json_object();
	else if (json_is_object(params))
		json_incref(params);
	else
	{
		snprintf(err, errlen, "params of %s must be an object", out->def->name);
		return NX_PARSE_REFUSED;
	}
	if (!check_params(out->def, params, err, errlen))
	{
		json_decref(params);
		return NX_PARSE_REFUSED;
	}
	out->params = params;
	if (!opt_int(obj, "timeout_s", 1, NX_AGENT_MAX_TIMEOUT_S, &out->timeout_s))
	{
		snprintf(err, errlen, "timeout_s must be from 1 to %d", NX_AGENT_MAX_TIMEOUT_S);
		nx_command_free(out);
		return NX_PARSE_REFUSED;
	}
	if (out->timeout_s == 0)
		out->timeout_s = out->def->default_timeout_s;
	if (!opt_int(obj, "confirm_within_s", NX_AGENT_MIN_CONFIRM_S, NX_AGENT_MAX_CONFIRM_S,
				 &out->confirm_within_s))
	{
		snprintf(err, errlen, "confirm_within_s must be from %d to %d", NX_AGENT_MIN_CONFIRM_S,
				 NX_AGENT_MAX_CONFIRM_S);
		nx_command_free(out);
		return NX_PARSE_REFUSED;
	}
	if (out->confirm_within_s > 0 && !out->def->can_revert)
	{
		snprintf(err, errlen, "%s has no undo, so it cannot be confirmed within a window",
				 out->def->name);
		nx_command_free(out);
		return NX_PARSE_REFUSED;
	}
	return NX_PARSE_OK;
}

NxParse
nx_command_parse_text(const char *buf, size_t len, NxCommand *out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *obj;
	NxParse rc;

	memset(out, 0, sizeof(*out));
	if (len > NX_AGENT_MAX_BODY_BYTES * 8)
	{
		snprintf(err, errlen, "command too large");
		return NX_PARSE_MALFORMED;
	}
	obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL)
	{
		snprintf(err, errlen, "not JSON: %s", jerr.text);
		return NX_PARSE_MALFORMED;
	}
	rc = nx_command_parse(obj, out, err, errlen);
	json_decref(obj);
	return rc;
}

void
nx_command_free(NxCommand *c)
{
	json_decref(c->params);
	c->params = NULL;
}

const char *
nx_param(const NxCommand *c, const char *name)
{
	return json_string_value(json_object_get(c->params, name));
}
