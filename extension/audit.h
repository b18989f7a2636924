/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  Appending audit events from C (audit.c).
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

extern void nx_audit_append(const NxAuditEvent *ev);
extern void nx_audit_event(const char *tenant_id, const char *action,
						   const char *target_table, const char *target_id,
						   const char *after_json);

#endif							/* NX_AUDIT_H */
