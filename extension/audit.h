/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  Appending audit events from C (audit.c), and the per-tenant audit
 *	  keys behind their MACs and audit_query's cursors (audit_mac.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_AUDIT_H
#define NX_AUDIT_H

/* One audit event; the actor and request come from the context. */
typedef struct NxAuditEvent
{
	Datum		tenant_id;		/* uuid */
	const char *action;
	const char *target_table;
	const char *target_id;
	Jsonb	   *before;			/* or NULL */
	Jsonb	   *after;			/* or NULL */
} NxAuditEvent;

/*
 * The columns of audit_events, in the order the MAC covers them (every
 * column before AC_MAC); nx_audit_columns[] has their names.
 */
enum
{
	AC_TENANT_ID, AC_ID, AC_OCCURRED_AT, AC_ACTOR_KIND, AC_ACTOR_ID,
	AC_ACTION, AC_TARGET_TABLE, AC_TARGET_ID, AC_BEFORE, AC_AFTER,
	AC_REQUEST_ID, AC_TRACE_ID, AC_MAC, AC_COUNT
};
extern const char *const nx_audit_columns[AC_COUNT];

#define NX_AUDIT_MAC_LEN 32

extern void nx_audit_append(const NxAuditEvent *ev);
extern void nx_audit_event(const char *tenant_id, const char *action,
						   const char *target_table, const char *target_id,
						   const char *after_json);

/*
 * The MAC of an event's columns (indexed by AC_*, up to AC_MAC), under its
 * tenant's audit key, made with the tenant's first event.  Runs SPI.
 */
extern void nx_audit_mac(const Datum *values, const bool *nulls,
						 unsigned char *mac);

/* For rotate_master_key(): re-wrap a tenant's audit key.  Inside SPI. */
extern bool nx_audit_key_rewrap(const char *tenant_id);

#endif							/* NX_AUDIT_H */
