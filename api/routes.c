/*
 * routes.c -- the route table.
 *
 * One row per route: method, path pattern, the SQL function of the contract
 * (DESIGN.md, "SQL API contract") and its arguments.  Arguments are passed
 * by name, so optional ones left out take the function's defaults.  A route
 * whose function does not exist yet answers 501 until the extension brings
 * it: nothing here changes when it lands.  Order matters only where a
 * literal segment and a {capture} compete: the literal comes first.
 */
#include "routes.h"
#include "route_rows.h"

const Route nx_routes[] = {
	/* operations */
	NX_PUBLIC("GET", "/health", NX_KIND_HEALTH, NULL, 0, "operations",
			  "Liveness: the process answers (no database)", NX_NO_ARGS),
	NX_PUBLIC("GET", "/ready", NX_KIND_READY, NULL, 0, "operations",
			  "Readiness: the database answers and the extension version matches", NX_NO_ARGS),
	NX_PUBLIC("GET", "/.well-known/jwks.json", NX_KIND_SQL, "jwks", 0, "auth",
			  "The public keys that verify access tokens", NX_NO_ARGS),
	NX_PUBLIC("GET", "/v1/openapi.json", NX_KIND_OPENAPI, NULL, 0, "operations",
			  "This document", NX_NO_ARGS),

	/* auth */
	NX_PUBLIC("POST", "/v1/auth/login", NX_KIND_SQL, "login", NX_ROUTE_LOGIN, "auth",
			  "Log in with email and password",
			  NX_BODY("email", TEXT), NX_BODY("password", TEXT), NX_BODY_OPT("tenant", TEXT),
			  /* a pooled connection must never keep a session context */
			  NX_FIXED("session_scope", BOOL, "false"),
			  /* the lock-out is per account and client address */
			  NX_PEER("client_addr")),
	NX_PUBLIC("POST", "/v1/auth/refresh", NX_KIND_SQL, "refresh", NX_ROUTE_LOGIN, "auth",
			  "Trade a refresh token for new tokens", NX_BODY("refresh_token", TEXT)),
	NX_POST("/v1/auth/logout", "logout", "auth", "End the session of this token", NX_NO_ARGS),
	NX_GET("/v1/auth/me", "me", "auth", "Who the token belongs to", NX_NO_ARGS),
	NX_GET("/v1/tenant", "tenant_get", "auth", "The caller's tenant", NX_NO_ARGS),

	/* users and API keys */
	NX_GET("/v1/users", "user_list", "users", "List users", NX_NO_ARGS),
	NX_CREATE("/v1/users", "user_create", "users", "Create a user",
			  NX_BODY("email", TEXT), NX_BODY("password", TEXT), NX_BODY("role", TEXT),
			  NX_BODY_OPT("display_name", TEXT)),
	NX_GET("/v1/users/{id}", "user_get", "users", "Get a user", NX_ID),
	NX_PUT("/v1/users/{id}/role", "user_set_role", "users", "Change a user's role",
		   NX_ID, NX_BODY("role", TEXT)),
	NX_POST("/v1/users/{id}/disable", "user_disable", "users", "Disable a user", NX_ID),
	NX_GET("/v1/api-keys", "api_key_list", "api-keys", "List API keys", NX_NO_ARGS),
	NX_CREATE("/v1/api-keys", "api_key_create", "api-keys", "Create an API key (shown once)",
			  NX_BODY("name", TEXT), NX_BODY_OPT("scopes", TEXT_ARRAY),
			  NX_BODY_OPT("expires_at", TIMESTAMP)),
	NX_DELETE("/v1/api-keys/{id}", "api_key_revoke", "api-keys", "Revoke an API key", NX_ID),

	/* credentials: metadata out, secrets only in */
	NX_GET("/v1/credentials", "credential_list", "credentials", "List credentials", NX_NO_ARGS),
	NX_CREATE("/v1/credentials", "credential_create", "credentials", "Store a credential",
			  NX_BODY("name", TEXT), NX_BODY("provider", TEXT), NX_BODY_OPT("secret", JSON),
			  NX_BODY_OPT("external_ref", TEXT)),
	NX_GET("/v1/credentials/{id}", "credential_get", "credentials",
		      "Get a credential's metadata", NX_ID),
	NX_POST("/v1/credentials/{id}/rotate", "credential_rotate", "credentials",
			"Replace a credential's secret", NX_ID, NX_BODY("secret", JSON)),
	NX_DELETE("/v1/credentials/{id}", "credential_delete", "credentials",
			  "Delete a credential", NX_ID),

	/* connectors and assets */
	NX_GET("/v1/connectors/types", "connector_types", "connectors", "Connector types", NX_NO_ARGS),
	NX_GET("/v1/connectors", "connector_list", "connectors", "List connectors", NX_NO_ARGS),
	NX_CREATE("/v1/connectors", "connector_create", "connectors", "Create a connector",
			  NX_BODY("type", TEXT), NX_BODY("name", TEXT), NX_BODY_OPT("config", JSON),
			  NX_BODY_OPT("credential_id", UUID), NX_BODY_OPT("environment", TEXT),
			  NX_BODY_OPT("tags", TEXT_ARRAY)),
	NX_GET("/v1/connectors/{id}", "connector_get", "connectors", "Get a connector", NX_ID),
	NX_PATCH("/v1/connectors/{id}", "connector_update", "connectors", "Update a connector",
			 NX_ID, NX_BODY_OPT("name", TEXT), NX_BODY_OPT("config", JSON),
			 NX_BODY_OPT("credential_id", UUID), NX_BODY_OPT("environment", TEXT),
			 NX_BODY_OPT("tags", TEXT_ARRAY), NX_BODY_OPT("status", TEXT)),
	NX_DELETE("/v1/connectors/{id}", "connector_delete", "connectors", "Delete a connector", NX_ID),
	NX_SQL("POST", 202, "/v1/connectors/{id}/test", "connector_test", "connectors",
		      "Test a connector's connection (a job)", NX_ID),
	NX_SQL("POST", 202, "/v1/connectors/{id}/discover", "connector_discover", "connectors",
		      "Discover a connector's assets (a job)", NX_ID),
	NX_GET("/v1/assets", "asset_list", "assets", "List assets", NX_FILTER),
	NX_GET("/v1/assets/{id}", "asset_get", "assets", "Get an asset", NX_ID),

	/* change requests */
	NX_GET("/v1/change-requests", "cr_list", "change-requests",
		   "List change requests (keyset pages: pass the last item's cursor as after)", NX_FILTER),
	NX_CREATE("/v1/change-requests", "cr_create", "change-requests", "Create a change request",
			  NX_BODY("connector_id", UUID), NX_BODY("change_type", TEXT), NX_BODY("params", JSON),
			  NX_BODY("title", TEXT), NX_BODY_OPT("description", TEXT),
			  NX_BODY_OPT("asset_ids", UUID_ARRAY), NX_BODY_OPT("scheduled_for", TIMESTAMP),
			  NX_HEADER_OPT("idempotency_key", TEXT, "Idempotency-Key")),
	NX_GET("/v1/change-requests/{id}", "cr_get", "change-requests", "Get a change request", NX_ID),
	NX_POST("/v1/change-requests/{id}/submit", "cr_submit", "change-requests",
			"Submit for approval", NX_ID),
	NX_POST("/v1/change-requests/{id}/approve", "cr_approve", "change-requests",
			"Approve (never your own)", NX_ID, NX_BODY_OPT("comment", TEXT)),
	NX_POST("/v1/change-requests/{id}/reject", "cr_reject", "change-requests",
			"Reject (ends the request)", NX_ID, NX_BODY("reason", TEXT)),
	NX_POST("/v1/change-requests/{id}/cancel", "cr_cancel", "change-requests", "Cancel",
			NX_ID, NX_BODY_OPT("reason", TEXT)),
	NX_POST("/v1/change-requests/{id}/execute", "cr_execute", "change-requests",
			"Execute now, or at scheduled_for", NX_ID),
	NX_POST("/v1/change-requests/{id}/rollback", "cr_rollback", "change-requests",
			"Roll back a completed or failed change", NX_ID, NX_BODY_OPT("reason", TEXT)),
	NX_GET("/v1/change-requests/{id}/events", "cr_events", "change-requests",
		   "A change request's transitions", NX_ID),
	NX_POST("/v1/risk-score", "risk_score", "change-requests", "Score a change without creating it",
			NX_BODY("connector_id", UUID), NX_BODY("change_type", TEXT),
			NX_BODY_OPT("asset_ids", UUID_ARRAY), NX_BODY_OPT("scheduled_for", TIMESTAMP),
			NX_BODY_OPT("params", JSON)),

	/* policies */
	NX_GET("/v1/policies", "policy_list", "policies", "List policies", NX_NO_ARGS),
	NX_CREATE("/v1/policies", "policy_create", "policies", "Create a policy",
			  NX_BODY("kind", TEXT), NX_BODY("target_type", TEXT), NX_BODY_OPT("target_id", UUID),
			  NX_BODY("mode", TEXT), NX_BODY("spec", JSON)),
	NX_DELETE("/v1/policies/{id}", "policy_delete", "policies", "Delete a policy", NX_ID),

	/* jobs (also as /v1/tasks), schedules, evidence */
	NX_GET("/v1/jobs", "job_list", "jobs", "List jobs", NX_FILTER),
	NX_GET("/v1/jobs/{id}", "job_get", "jobs", "Get a job", NX_ID),
	NX_POST("/v1/jobs/{id}/cancel", "job_cancel", "jobs", "Cancel a queued job", NX_ID),
	NX_GET("/v1/tasks/{id}", "job_get", "jobs", "Get a job (alias of /v1/jobs/{id})", NX_ID),
	NX_GET("/v1/schedules", "schedule_list", "schedules", "List schedules", NX_NO_ARGS),
	NX_CREATE("/v1/schedules", "schedule_create", "schedules", "Create a schedule",
			  NX_BODY("connector_id", UUID), NX_BODY("job_kind", TEXT), NX_BODY("cron", TEXT),
			  NX_BODY_OPT("timezone", TEXT)),
	NX_GET("/v1/schedules/{id}", "schedule_get", "schedules", "Get a schedule", NX_ID),
	NX_PATCH("/v1/schedules/{id}", "schedule_update", "schedules", "Change a schedule",
			 NX_ID, NX_BODY_OPT("cron", TEXT), NX_BODY_OPT("timezone", TEXT)),
	NX_POST("/v1/schedules/{id}/toggle", "schedule_toggle", "schedules",
			"Enable or disable a schedule", NX_ID, NX_BODY("enabled", BOOL)),
	NX_DELETE("/v1/schedules/{id}", "schedule_delete", "schedules", "Delete a schedule", NX_ID),
	NX_GET("/v1/evidence", "evidence_list", "evidence", "List evidence", NX_FILTER),
	NX_GET("/v1/evidence/{id}", "evidence_get", "evidence", "Get evidence", NX_ID),

	/* agents (what the agents themselves call is on the agent listener: agent_routes.c) */
	NX_CREATE("/v1/agents/enrollment-tokens", "enrollment_token_create", "agents",
			  "Create a one-time agent enrollment token (shown once) and the CA pin",
			  NX_BODY_OPT("ttl", INTERVAL)),
	NX_GET("/v1/agents", "agent_list", "agents", "List agents", NX_NO_ARGS),
	NX_GET("/v1/agents/{id}", "agent_get", "agents", "Get an agent", NX_ID),
	NX_POST("/v1/agents/{id}/revoke", "agent_revoke", "agents",
			"Revoke an agent: its open poll ends and every later call is refused", NX_ID),
	NX_GET("/v1/agent-command-types", "agent_command_types", "agents",
		   "The commands agents run, with each one's parameters", NX_NO_ARGS),
	NX_CREATE("/v1/agent-commands", "agent_command_create", "agents",
			  "Queue a command for an agent",
			  NX_BODY("agent_id", UUID), NX_BODY("command", TEXT), NX_BODY_OPT("params", JSON),
			  NX_BODY_OPT("confirm_within", INTERVAL)),
	NX_GET("/v1/agent-commands", "agent_command_list", "agents",
		   "List agent commands, newest first", NX_QUERY_OPT("agent_id", UUID),
		   NX_QUERY_OPT("state", TEXT)),
	NX_GET("/v1/agent-commands/{id}", "agent_command_get", "agents", "Get an agent command",
		   NX_ID),

	/* audit and live events */
	NX_GET("/v1/audit", "audit_query", "audit",
		   "Query the audit trail (keyset pages: pass the last event's cursor as before)", NX_FILTER),
	NX_GET("/v1/audit/verify", "audit_verify", "audit", "Verify the audit hash chain", NX_NO_ARGS),
	NX_POST("/v1/audit/verify", "audit_verify", "audit",
			"Verify the audit hash chain and that it still extends a checkpoint",
			NX_BODY("checkpoint", JSON)),
	NX_GET("/v1/audit/checkpoint", "audit_checkpoint", "audit",
		   "A signed checkpoint of the audit chain, to keep outside", NX_NO_ARGS),
	NX_GET("/v1/audit/checkpoint-key", "audit_checkpoint_key", "audit",
		   "The public key that checks audit checkpoints", NX_NO_ARGS),
	{.method = "GET", .pattern = "/v1/events", .kind = NX_KIND_EVENTS, .status = 200,
	 .tag = "events",
	 .summary = "Server-Sent Events: change-request and job state changes "
	 "(resume with Last-Event-ID)",
	 .args = {NX_NO_ARGS}},
};


const size_t nx_route_count = sizeof(nx_routes) / sizeof(nx_routes[0]);

/* The cast each type is bound with. */
const char *
nx_arg_type_sql(NxArgType t)
{
	switch (t)
	{
		case NX_TYPE_TEXT: return "text";
		case NX_TYPE_UUID: return "uuid";
		case NX_TYPE_JSON: return "jsonb";
		case NX_TYPE_INT: return "integer";
		case NX_TYPE_BIGINT: return "bigint";
		case NX_TYPE_BOOL: return "boolean";
		case NX_TYPE_TIMESTAMP: return "timestamptz";
		case NX_TYPE_INTERVAL: return "interval";
		case NX_TYPE_TEXT_ARRAY: return "text[]";
		case NX_TYPE_UUID_ARRAY: return "uuid[]";
	}
	return "text";
}
