/*
 * fuzz_command.c -- libFuzzer target over the agent's command parser
 * (agent/command.c) and, through it, the allowlist's shape checks
 * (agent/command_table.c): whatever a poll could deliver, the parser must
 * accept only commands whose every parameter fits the table, and must not
 * crash, leak or read out of bounds.  Built by `make -C agent fuzz`, run by
 * test/e2e/agent_fuzz.sh.
 */
#include "agent.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An accepted command really is what the table allows: check it again, independently. */
static void
recheck(const NxCommand *c)
{
	const char *key;
	json_t *value;

	if (!nx_uuid_ok(c->id) || c->def == NULL || nx_agent_command_find(c->def->name) != c->def)
		abort();
	if (c->timeout_s < 1 || c->timeout_s > NX_AGENT_MAX_TIMEOUT_S)
		abort();
	json_object_foreach(c->params, key, value)
	{
		const NxAgentParam *p = nx_agent_param_find(c->def, key);

		if (p == NULL)
			abort();
		if (p->type == NX_AGENT_STRING &&
			(!json_is_string(value) ||
			 !nx_agent_string_ok(p, json_string_value(value), json_string_length(value)) ||
			 strlen(json_string_value(value)) != json_string_length(value)))
			abort();
	}
	for (const NxAgentParam *p = c->def->params; p->name; p++)
		if (p->required && json_object_get(c->params, p->name) == NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	NxCommand c;
	char err[512];

	if (nx_command_parse_text((const char *) data, size, &c, err, sizeof(err)) == NX_PARSE_OK)
		recheck(&c);
	if (strlen(err) >= sizeof(err))
		abort();
	nx_command_free(&c);
	return 0;
}
