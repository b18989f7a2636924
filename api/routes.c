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

#define ID			{"id", ARG_PATH, T_UUID, true, NULL}
#define B(n, t)		{n, ARG_BODY, t, true, NULL}
#define BO(n, t)	{n, ARG_BODY, t, false, NULL}
#define FILTER		{"filter", ARG_QUERY_OBJECT, T_JSON, false, NULL}
#define ENDARGS		{NULL, 0, 0, false, NULL}

#define GET(p, fn, tag, sum, ...)  {"GET", p, RK_SQL, fn, 0, 200, tag, sum, {__VA_ARGS__}}
#define POST(p, fn, tag, sum, ...) {"POST", p, RK_SQL, fn, 0, 200, tag, sum, {__VA_ARGS__}}
#define MAKE(p, fn, tag, sum, ...) {"POST", p, RK_SQL, fn, 0, 201, tag, sum, {__VA_ARGS__}}
#define PUT(p, fn, tag, sum, ...)  {"PUT", p, RK_SQL, fn, 0, 200, tag, sum, {__VA_ARGS__}}
#define PATCH(p, fn, tag, sum, ...) {"PATCH", p, RK_SQL, fn, 0, 200, tag, sum, {__VA_ARGS__}}
#define DEL(p, fn, tag, sum, ...)  {"DELETE", p, RK_SQL, fn, 0, 200, tag, sum, {__VA_ARGS__}}

const Route nx_routes[] = {
	/* operations */
	{"GET", "/health", RK_HEALTH, NULL, ROUTE_PUBLIC, 200, "operations",
	 "Liveness: the process answers (no database)", {ENDARGS}},
	{"GET", "/ready", RK_READY, NULL, ROUTE_PUBLIC, 200, "operations",
	 "Readiness: the database answers and the extension version matches", {ENDARGS}},
	{"GET", "/.well-known/jwks.json", RK_SQL, "jwks", ROUTE_PUBLIC, 200, "auth",
	 "The public keys that verify access tokens", {ENDARGS}},
	{"GET", "/v1/openapi.json", RK_OPENAPI, NULL, ROUTE_PUBLIC, 200, "operations",
	 "This document", {ENDARGS}},

	/* auth */
	{"POST", "/v1/auth/login", RK_SQL, "login", ROUTE_PUBLIC | ROUTE_LOGIN, 200, "auth",
	 "Log in with email and password", {
		 B("email", T_TEXT), B("password", T_TEXT), BO("tenant", T_TEXT),
		 /* a pooled connection must never keep a session context */
		 {"session_scope", ARG_FIXED, T_BOOL, true, "false"}}},
	{"POST", "/v1/auth/refresh", RK_SQL, "refresh", ROUTE_PUBLIC | ROUTE_LOGIN, 200, "auth",
	 "Trade a refresh token for new tokens", {B("refresh_token", T_TEXT)}},
	POST("/v1/auth/logout", "logout", "auth", "End the session of this token", ENDARGS),
	GET("/v1/auth/me", "me", "auth", "Who the token belongs to", ENDARGS),
	GET("/v1/tenant", "tenant_get", "auth", "The caller's tenant", ENDARGS),

	/* users and API keys */
	GET("/v1/users", "user_list", "users", "List users", ENDARGS),
	MAKE("/v1/users", "user_create", "users", "Create a user",
		 B("email", T_TEXT), B("password", T_TEXT), B("role", T_TEXT),
		 BO("display_name", T_TEXT)),
	GET("/v1/users/{id}", "user_get", "users", "Get a user", ID),
	PUT("/v1/users/{id}/role", "user_set_role", "users", "Change a user's role",
		ID, B("role", T_TEXT)),
	POST("/v1/users/{id}/disable", "user_disable", "users", "Disable a user", ID),
	GET("/v1/api-keys", "api_key_list", "api-keys", "List API keys", ENDARGS),
	MAKE("/v1/api-keys", "api_key_create", "api-keys", "Create an API key (shown once)",
		 B("name", T_TEXT), BO("scopes", T_TEXT_ARRAY), BO("expires_at", T_TIMESTAMP)),
	DEL("/v1/api-keys/{id}", "api_key_revoke", "api-keys", "Revoke an API key", ID),

	/* credentials: metadata out, secrets only in */
	GET("/v1/credentials", "credential_list", "credentials", "List credentials", ENDARGS),
	MAKE("/v1/credentials", "credential_create", "credentials", "Store a credential",
		 B("name", T_TEXT), B("provider", T_TEXT), BO("secret", T_JSON),
		 BO("external_ref", T_TEXT)),
	GET("/v1/credentials/{id}", "credential_get", "credentials", "Get a credential's metadata", ID),
	POST("/v1/credentials/{id}/rotate", "credential_rotate", "credentials",
		 "Replace a credential's secret", ID, B("secret", T_JSON)),
	DEL("/v1/credentials/{id}", "credential_delete", "credentials", "Delete a credential", ID),

	/* connectors and assets */
	GET("/v1/connectors/types", "connector_types", "connectors", "Connector types", ENDARGS),
	GET("/v1/connectors", "connector_list", "connectors", "List connectors", ENDARGS),
	MAKE("/v1/connectors", "connector_create", "connectors", "Create a connector",
		 B("type", T_TEXT), B("name", T_TEXT), BO("config", T_JSON),
		 BO("credential_id", T_UUID)),
	GET("/v1/connectors/{id}", "connector_get", "connectors", "Get a connector", ID),
	PATCH("/v1/connectors/{id}", "connector_update", "connectors", "Update a connector",
		  ID, BO("name", T_TEXT), BO("config", T_JSON), BO("credential_id", T_UUID)),
	DEL("/v1/connectors/{id}", "connector_delete", "connectors", "Delete a connector", ID),
	{"POST", "/v1/connectors/{id}/test", RK_SQL, "connector_test", 0, 202, "connectors",
	 "Test a connector's connection (a job)", {ID}},
	{"POST", "/v1/connectors/{id}/discover", RK_SQL, "connector_discover", 0, 202, "connectors",
	 "Discover a connector's assets (a job)", {ID}},
	GET("/v1/assets", "asset_list", "assets", "List assets", FILTER),
	GET("/v1/assets/{id}", "asset_get", "assets", "Get an asset", ID),

	/* change requests */
	GET("/v1/change-requests", "cr_list", "change-requests",
		"List change requests (keyset pages: pass the last item's cursor as after)", FILTER),
	MAKE("/v1/change-requests", "cr_create", "change-requests", "Create a change request",
		 B("connector_id", T_UUID), B("change_type", T_TEXT), B("params", T_JSON),
		 B("title", T_TEXT), BO("description", T_TEXT), BO("asset_ids", T_UUID_ARRAY),
		 BO("scheduled_for", T_TIMESTAMP),
		 {"idempotency_key", ARG_HEADER, T_TEXT, false, "Idempotency-Key"}),
	GET("/v1/change-requests/{id}", "cr_get", "change-requests", "Get a change request", ID),
	POST("/v1/change-requests/{id}/submit", "cr_submit", "change-requests",
		 "Submit for approval", ID),
	POST("/v1/change-requests/{id}/approve", "cr_approve", "change-requests",
		 "Approve (never your own)", ID, BO("comment", T_TEXT)),
	POST("/v1/change-requests/{id}/reject", "cr_reject", "change-requests",
		 "Reject (ends the request)", ID, B("reason", T_TEXT)),
	POST("/v1/change-requests/{id}/cancel", "cr_cancel", "change-requests", "Cancel",
		 ID, BO("reason", T_TEXT)),
	POST("/v1/change-requests/{id}/execute", "cr_execute", "change-requests",
		 "Execute now, or at scheduled_for", ID),
	POST("/v1/change-requests/{id}/rollback", "cr_rollback", "change-requests",
		 "Roll back a completed or failed change", ID, BO("reason", T_TEXT)),
	GET("/v1/change-requests/{id}/events", "cr_events", "change-requests",
		"A change request's transitions", ID),
	POST("/v1/risk-score", "risk_score", "change-requests", "Score a change without creating it",
		 B("connector_id", T_UUID), B("change_type", T_TEXT), BO("asset_ids", T_UUID_ARRAY),
		 BO("scheduled_for", T_TIMESTAMP)),

	/* policies */
	GET("/v1/policies", "policy_list", "policies", "List policies", ENDARGS),
	MAKE("/v1/policies", "policy_create", "policies", "Create a policy",
		 B("kind", T_TEXT), B("target_type", T_TEXT), BO("target_id", T_UUID),
		 B("mode", T_TEXT), B("spec", T_JSON)),
	DEL("/v1/policies/{id}", "policy_delete", "policies", "Delete a policy", ID),

	/* jobs (also as /v1/tasks), schedules, evidence */
	GET("/v1/jobs", "job_list", "jobs", "List jobs", FILTER),
	GET("/v1/jobs/{id}", "job_get", "jobs", "Get a job", ID),
	POST("/v1/jobs/{id}/cancel", "job_cancel", "jobs", "Cancel a queued job", ID),
	GET("/v1/tasks/{id}", "job_get", "jobs", "Get a job (alias of /v1/jobs/{id})", ID),
	GET("/v1/schedules", "schedule_list", "schedules", "List schedules", ENDARGS),
	MAKE("/v1/schedules", "schedule_create", "schedules", "Create a schedule",
		 B("connector_id", T_UUID), B("job_kind", T_TEXT), B("cron", T_TEXT),
		 BO("timezone", T_TEXT)),
	GET("/v1/schedules/{id}", "schedule_get", "schedules", "Get a schedule", ID),
	PATCH("/v1/schedules/{id}", "schedule_update", "schedules", "Change a schedule",
		  ID, BO("cron", T_TEXT), BO("timezone", T_TEXT)),
	POST("/v1/schedules/{id}/toggle", "schedule_toggle", "schedules",
		 "Enable or disable a schedule", ID, B("enabled", T_BOOL)),
	DEL("/v1/schedules/{id}", "schedule_delete", "schedules", "Delete a schedule", ID),
	GET("/v1/evidence", "evidence_list", "evidence", "List evidence", FILTER),
	GET("/v1/evidence/{id}", "evidence_get", "evidence", "Get evidence", ID),

	/* agents */
	GET("/v1/agents", "agent_list", "agents", "List agents", ENDARGS),
	GET("/v1/agents/{id}", "agent_get", "agents", "Get an agent", ID),
	POST("/v1/agents/{id}/revoke", "agent_revoke", "agents", "Revoke an agent", ID),
	MAKE("/v1/enrollment-tokens", "enrollment_token_create", "agents",
		 "Create a one-time agent enrollment token", BO("ttl", T_INTERVAL)),

	/* audit and live events */
	GET("/v1/audit", "audit_query", "audit", "Query the audit trail", FILTER),
	GET("/v1/audit/verify", "audit_verify", "audit", "Verify the audit hash chain", ENDARGS),
	{"GET", "/v1/events", RK_EVENTS, NULL, 0, 200, "events",
	 "Server-Sent Events: change-request and job state changes (resume with Last-Event-ID)",
	 {ENDARGS}},
};

const size_t nx_route_count = sizeof(nx_routes) / sizeof(nx_routes[0]);

/* The cast each type is bound with. */
const char *
nx_arg_type_sql(ArgType t)
{
	switch (t)
	{
		case T_TEXT: return "text";
		case T_UUID: return "uuid";
		case T_JSON: return "jsonb";
		case T_INT: return "integer";
		case T_BIGINT: return "bigint";
		case T_BOOL: return "boolean";
		case T_TIMESTAMP: return "timestamptz";
		case T_INTERVAL: return "interval";
		case T_TEXT_ARRAY: return "text[]";
		case T_UUID_ARRAY: return "uuid[]";
	}
	return "text";
}
