/*-------------------------------------------------------------------------
 *
 * redis.c
 *	  The redis connector: ACL users of a Redis server, over hiredis.
 *
 * Declared here: its fields and change types.  Its operations come with
 * the execution engine.
 *
 *-------------------------------------------------------------------------
 */
#include "connector.h"

static const NxField config_fields[] = {
	{"host", NX_FIELD_STRING, true, "Host name or address of the server."},
	{"port", NX_FIELD_INTEGER, false, "TCP port (default 6379)."},
	{"acl_save", NX_FIELD_BOOLEAN, false, "Persist changes with ACL SAVE (the server uses an ACL file)."},
	{.name = NULL}
};

static const NxField credential_fields[] = {
	{"username", NX_FIELD_STRING, true, "A user allowed the ACL and CLIENT commands."},
	{"password", NX_FIELD_STRING, true, "Its password."},
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{"rotate_password", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true,
	"Add a new generated password, verify it, then remove the old one.", NULL, false},
	{"create_user", NX_CHANGE_ADDITIVE, NX_WEIGHT_ADDITIVE, true, "Create an ACL user.", NULL, false},
	{"delete_user", NX_CHANGE_DESTRUCTIVE, NX_WEIGHT_DESTRUCTIVE, false, "Delete an ACL user.", NULL, false},
	{"disable_user", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true,
	"Turn a user off and end its connections.", NULL, false},
	{"enable_user", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true, "Turn a user on again.", NULL, false},
	{.name = NULL}
};

const NxConnector nx_redis_connector = {
	.name = "redis",
	.description = "Redis ACL users: passwords, creation and disabling.",
	.config_fields = config_fields,
	.credential_fields = credential_fields,
	.change_types = change_types,
};
