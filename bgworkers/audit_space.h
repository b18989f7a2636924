/*-------------------------------------------------------------------------
 *
 * audit_space.h
 *	  The background worker that keeps empty pages ready at the end of
 *	  audit_events (audit_space.c), and nexplane.database, where it runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef AUDIT_SPACE_H
#define AUDIT_SPACE_H

/* Define nexplane.database; register the worker when preloaded. */
extern void nx_audit_space_register(void);

#endif							/* AUDIT_SPACE_H */
