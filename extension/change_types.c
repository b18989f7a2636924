/*-------------------------------------------------------------------------
 *
 * change_types.c
 *	  What each change type does to a system: adds, modifies or destroys.
 *	  Risk scoring starts from this.  Known types are listed; others are
 *	  classed by their verb (create_..., delete_...), and anything else is
 *	  taken to modify.  Connectors will declare their own types against
 *	  the same three classes.
 *
 *-------------------------------------------------------------------------
 */
#include "nexplane.h"

#include "change_types.h"

typedef struct NxChangeType
{
	const char *name;
	NxChangeClass class;
} NxChangeType;

static const NxChangeType known_types[] = {
	{"create_user", NX_ADDITIVE},
	{"create_database", NX_ADDITIVE},
	{"create_access_key", NX_ADDITIVE},
	{"add_group_member", NX_ADDITIVE},
	{"grant_role", NX_ADDITIVE},
	{"rotate_password", NX_MODIFYING},
	{"rotate_access_key", NX_MODIFYING},
	{"set_role", NX_MODIFYING},
	{"update_config", NX_MODIFYING},
	{"lock_account", NX_MODIFYING},
	{"unlock_account", NX_MODIFYING},
	{"restart_service", NX_MODIFYING},
	{"delete_user", NX_DESTRUCTIVE},
	{"drop_database", NX_DESTRUCTIVE},
	{"revoke_access_key", NX_DESTRUCTIVE},
	{"remove_group_member", NX_DESTRUCTIVE},
	{"revoke_role", NX_DESTRUCTIVE},
};

typedef struct NxVerb
{
	const char *prefix;
	NxChangeClass class;
} NxVerb;

static const NxVerb verbs[] = {
	{"create_", NX_ADDITIVE}, {"add_", NX_ADDITIVE}, {"grant_", NX_ADDITIVE},
	{"delete_", NX_DESTRUCTIVE}, {"drop_", NX_DESTRUCTIVE}, {"revoke_", NX_DESTRUCTIVE},
	{"remove_", NX_DESTRUCTIVE}, {"purge_", NX_DESTRUCTIVE}, {"destroy_", NX_DESTRUCTIVE},
};

NxChangeClass
nx_change_class(const char *change_type)
{
	for (size_t i = 0; i < lengthof(known_types); i++)
		if (strcmp(known_types[i].name, change_type) == 0)
			return known_types[i].class;
	for (size_t i = 0; i < lengthof(verbs); i++)
		if (strncmp(verbs[i].prefix, change_type, strlen(verbs[i].prefix)) == 0)
			return verbs[i].class;
	return NX_MODIFYING;
}

const char *
nx_change_class_name(NxChangeClass c)
{
	static const char *const names[] = {"additive", "modifying", "destructive"};

	return names[c];
}
