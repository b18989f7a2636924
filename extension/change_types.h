/*-------------------------------------------------------------------------
 *
 * change_types.h
 *	  The inherent risk of each kind of change.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_CHANGE_TYPES_H
#define NX_CHANGE_TYPES_H

typedef enum NxChangeClass
{
	NX_ADDITIVE,
	NX_MODIFYING,
	NX_DESTRUCTIVE
} NxChangeClass;

extern NxChangeClass nx_change_class(const char *change_type);
extern const char *nx_change_class_name(NxChangeClass c);

#endif							/* NX_CHANGE_TYPES_H */
