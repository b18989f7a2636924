/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  Append an audit event for an action that is not a plain row change
 *	  (tenant creation, acting as a tenant, key rotation).  The actor and the
 *	  request id come from the tenant context; without one, the actor is the
 *	  PostgreSQL superuser who called.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "audit.h"
#include "context.h"
#include "spi_util.h"

/* Inside SPI.  Runs in system mode: the event may belong to any tenant. */
void
nx_audit_event(const char *tenant_id, const char *action, const char *target_table,
			   const char *target_id, const char *after_json)
{
	const NxContext *ctx = nx_context_get();
	const char *args[] = {
		tenant_id,
		ctx ? (strcmp(ctx->auth_kind, "api_key") == 0 ? "api_key" : "user") : "postgres",
		ctx ? nx_uuid_out(&ctx->user_id) : NULL,
		action, target_table, target_id, after_json,
		ctx && ctx->request_id[0] ? ctx->request_id : NULL,
		ctx && ctx->trace_id[0] ? ctx->trace_id : NULL
	};

	nx_spi_system("INSERT INTO nexplane.audit_events"
				  " (tenant_id, actor_kind, actor_id, action, target_table, target_id,"
				  "  after, request_id, trace_id)"
				  " VALUES ($1::uuid, $2, $3::uuid, $4, $5, $6, $7::jsonb, $8, $9)",
				  9, args);
}
