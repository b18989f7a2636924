/*
 * fuzz_route.c -- libFuzzer target: arbitrary methods, paths, query strings,
 * headers and bodies through routing and argument binding, the part of the
 * shim that reads untrusted bytes before the database does.
 *
 * Input: "METHOD PATH[?QUERY]\n[Idempotency-Key value]\n[BODY]", matched
 * against the main route table and then the agent listener's.  Checked:
 * no crash, no leak, no sanitizer report; a bound call always has SQL text
 * that names its route's function and exactly nparams non-NULL values.
 */
#include "agent_routes.h"
#include "bind.h"
#include "router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's entry point; it has no header to declare it */
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *header_value;

static const char *
header(void *ctx, const char *name)
{
	return header_value;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *buf = malloc(size + 1);
	char	   *line1;
	char	   *line2;
	char	   *body;
	char	   *sp;
	char	   *q;
	RouteMatch	m;
	BindInput	in = {
		.header = header,
		.fingerprint = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	};
	BoundCall	call;
	BindError	err;

	memcpy(buf, data, size);
	buf[size] = '\0';
	line1 = buf;
	line2 = strchr(line1, '\n');
	if (line2)
		*line2++ = '\0';
	body = line2 ? strchr(line2, '\n') : NULL;
	if (body)
		*body++ = '\0';
	header_value = line2 && *line2 ? line2 : NULL;

	sp = strchr(line1, ' ');
	if (sp == NULL)
		goto out;
	*sp = '\0';
	q = strchr(sp + 1, '?');
	if (q)
		*q++ = '\0';
	if (nx_route_match(line1, sp + 1, &m) != NX_MATCH_OK &&
		nx_route_match_in(nx_agent_routes, nx_agent_route_count, line1, sp + 1, &m) !=
		NX_MATCH_OK)
		goto out;
	if (m.route->kind == NX_KIND_SQL)
	{
		in.match = &m;
		in.query = q;
		in.body = body;
		in.body_len = body ? size - (size_t) (body - buf) : 0;
		if (nx_bind(&in, &call, &err))
		{
			if (strstr(call.sql, m.route->function) == NULL)
				abort();
			for (int i = 0; i < call.nparams; i++)
				if (call.values[i] == NULL)
					abort();
			nx_bound_free(&call);
		}
		else if (err.status != 400 || err.message[0] == '\0')
			abort();
	}
	nx_route_match_free(&m);
out:
	free(buf);
	return 0;
}
