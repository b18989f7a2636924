/*
 * host_service.c -- service.restart, service.reload and service.status:
 * systemctl with the verb, then systemctl show for the unit's state,
 * which goes in the report as one member per property.
 */
#include "host_internal.h"

#include <string.h>

#define SYSTEMCTL "/usr/bin/systemctl"

json_t *
service(const NxCommand *c, const char *verb)
{
	const char *unit = nx_param(c, "unit");
	const char *argv[] = {SYSTEMCTL, verb, "--", unit, NULL};
	const char *show[] = {SYSTEMCTL, "show", "--no-pager",
						  "--property=ActiveState,SubState,LoadState,MainPID,"
						  "ActiveEnterTimestamp,UnitFileState",
						  "--", unit, NULL};
	NxExecResult x;
	json_t *fail, *out;
	char *save = NULL;

	if (strcmp(verb, "show") != 0 && (fail = run(argv, NULL, c->timeout_s, -1, NULL)) != NULL)
		return fail;
	if ((fail = run(show, NULL, c->timeout_s, -1, &x)) != NULL)
		return fail;
	out = json_pack("{s:s}", "unit", unit);
	for (char *l = strtok_r(x.output, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
	{
		char *eq = strchr(l, '=');

		if (eq != NULL)
		{
			*eq = '\0';
			json_object_set_new(out, l, nx_json_text(eq + 1, strlen(eq + 1)));
		}
	}
	nx_exec_free(&x);
	return succeeded(out);
}
