/*
 * agent_routes.c -- what agents call, on the agent listener (docs/agent.md).
 *
 * The same rows as routes.c, read by the same router and binder, with two
 * argument sources of the agent listener's own: the verified client
 * certificate's fingerprint (NX_CLIENT_CERT) and the whole body as one
 * jsonb (NX_WHOLE_BODY, for a report the function checks field by field).
 * No route takes a bearer token.  NX_ROUTE_AGENT routes refuse a request
 * without a client certificate the agent CA issued (401) before anything
 * else; the database then looks the agent up by the fingerprint.
 */
#include "agent_routes.h"

#include "route_rows.h"

/* A route for an agent holding a verified client certificate. */
#define NX_AGENT(m, path, k, fn, sum, ...) \
	{.method = (m), .pattern = (path), .kind = (k), .function = (fn), \
	 .flags = NX_ROUTE_PUBLIC | NX_ROUTE_AGENT, .status = 200, .tag = "agent", \
	 .summary = (sum), .args = {__VA_ARGS__}}

const Route nx_agent_routes[] = {
	NX_PUBLIC("GET", "/v1/agent/ca", NX_KIND_SQL, "agent_ca", 0, "agent",
			  "The agent CA's certificate and its pin", NX_NO_ARGS),
	{.method = "POST", .pattern = "/v1/agents/enroll", .kind = NX_KIND_SQL,
	 .function = "agent_enroll", .flags = NX_ROUTE_PUBLIC | NX_ROUTE_ENROLL, .status = 201,
	 .tag = "agent", .summary = "Enroll with a one-time token and a CSR",
	 .args = {NX_BODY("token", TEXT), NX_BODY("csr_pem", TEXT), NX_BODY_OPT("facts", JSON)}},
	NX_AGENT("GET", "/v1/agent/commands", NX_KIND_AGENT_POLL, "agent_poll",
			 "Long poll for commands and confirmations (?wait=S, at most 30)",
			 NX_CLIENT_CERT("fingerprint")),
	NX_AGENT("POST", "/v1/agent/commands/{command_id}/result", NX_KIND_SQL, "agent_result",
			 "Report a command's progress or result", NX_CLIENT_CERT("fingerprint"),
			 NX_PATH("command_id", UUID), NX_WHOLE_BODY("report")),
	NX_AGENT("POST", "/v1/agent/heartbeat", NX_KIND_SQL, "agent_heartbeat",
			 "Say the agent is alive, with its facts", NX_CLIENT_CERT("fingerprint"),
			 NX_BODY("facts", JSON)),
	NX_AGENT("POST", "/v1/agent/renew", NX_KIND_SQL, "agent_renew",
			 "Renew the agent's certificate with a CSR for a new key",
			 NX_CLIENT_CERT("fingerprint"), NX_BODY("csr_pem", TEXT),
			 NX_BODY("generation", INT)),
};

const size_t nx_agent_route_count = sizeof(nx_agent_routes) / sizeof(nx_agent_routes[0]);
