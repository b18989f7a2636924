/*-------------------------------------------------------------------------
 *
 * audit.h
 *	  Writing audit events from C.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_AUDIT_H
#define NX_AUDIT_H

extern void nx_audit_event(const char *tenant_id, const char *action,
						   const char *target_table, const char *target_id,
						   const char *after_json);

#endif							/* NX_AUDIT_H */
