/*-------------------------------------------------------------------------
 *
 * postgresql.c
 *	  The postgresql connector: roles of a PostgreSQL server, over libpq.
 *
 * Declared here: its fields and change types.  Its operations come with
 * the execution engine.
 *
 *-------------------------------------------------------------------------
 */
#include "connector.h"

static const NxField config_fields[] = {
	{"host", NX_FIELD_STRING, true, "Host name or address of the server."},
	{"port", NX_FIELD_INTEGER, false, "TCP port (default 5432)."},
	{"database", NX_FIELD_STRING, false, "Database to connect to (default postgres)."},
	{"sslmode", NX_FIELD_STRING, false, "libpq sslmode; verify-full checks the certificate."},
	{"sslrootcert", NX_FIELD_STRING, false, "PEM file of the CA that signed the server's certificate."},
	{.name = NULL}
};

static const NxField credential_fields[] = {
	{"username", NX_FIELD_STRING, true, "A role with CREATEROLE (and the roles it grants)."},
	{"password", NX_FIELD_STRING, true, "Its password."},
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{"rotate_password", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true,
	"Give a role a new generated password.", NULL, false},
	{"create_role", NX_CHANGE_ADDITIVE, NX_WEIGHT_ADDITIVE, true, "Create a login role.", NULL, false},
	{"drop_role", NX_CHANGE_DESTRUCTIVE, NX_WEIGHT_DESTRUCTIVE, false, "Drop a role.", NULL, false},
	{"lock_role", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true,
	"Make a role NOLOGIN and end its sessions.", NULL, false},
	{"unlock_role", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true, "Make a role LOGIN again.", NULL, false},
	{"grant_role", NX_CHANGE_ADDITIVE, NX_WEIGHT_ADDITIVE, true, "Grant a role membership in another.", NULL, false},
	{"revoke_role", NX_CHANGE_DESTRUCTIVE, NX_WEIGHT_DESTRUCTIVE, true,
	"Revoke a role's membership in another.", NULL, false},
	{.name = NULL}
};

const NxConnector nx_postgresql_connector = {
	.name = "postgresql",
	.description = "PostgreSQL roles: passwords, creation, locking and membership.",
	.config_fields = config_fields,
	.credential_fields = credential_fields,
	.change_types = change_types,
};
