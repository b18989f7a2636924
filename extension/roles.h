/*-------------------------------------------------------------------------
 *
 * roles.h
 *	  The roles of a tenant and the one rule about the platform superadmin.
 *
 *-------------------------------------------------------------------------
 */
#ifndef NX_ROLES_H
#define NX_ROLES_H

typedef enum NxRole
{
	NX_ROLE_VIEWER,
	NX_ROLE_APPROVER,
	NX_ROLE_OPERATOR,
	NX_ROLE_ADMIN,
	NX_ROLE_SUPERADMIN
} NxRole;

/* A set of roles; 0 means any authenticated caller. */
typedef unsigned int NxRoleSet;

#define NX_ROLE_BIT(r)			(1u << (r))
#define NX_ANY_ROLE				((NxRoleSet) 0)
#define NX_ADMINS				NX_ROLE_BIT(NX_ROLE_ADMIN)
#define NX_OPERATORS			(NX_ROLE_BIT(NX_ROLE_OPERATOR) | NX_ADMINS)
#define NX_APPROVERS			(NX_ROLE_BIT(NX_ROLE_APPROVER) | NX_ADMINS)
#define NX_SUPERADMINS			NX_ROLE_BIT(NX_ROLE_SUPERADMIN)

extern bool nx_role_parse(const char *name, NxRole *out);
extern bool nx_role_in(const char *role, NxRoleSet roles);
extern bool nx_role_is_superadmin(const char *role);
extern NxRoleSet nx_role_set_from_array(struct ArrayType *arr);

#endif							/* NX_ROLES_H */
