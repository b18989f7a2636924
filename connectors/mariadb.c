/*-------------------------------------------------------------------------
 *
 * mariadb.c
 *	  The mariadb connector: accounts of a MariaDB or MySQL server, over
 *	  libmariadb.
 *
 * Declared here: its fields and change types.  Its operations come with
 * the execution engine.
 *
 *-------------------------------------------------------------------------
 */
#include "connector.h"

static const NxField config_fields[] = {
	{"host", NX_FIELD_STRING, true, "Host name or address of the server."},
	{"port", NX_FIELD_INTEGER, false, "TCP port (default 3306)."},
	{"account_host", NX_FIELD_STRING, false, "The host part of managed accounts (default '%')."},
	{"tls_ca", NX_FIELD_STRING, false, "PEM file of the CA; when set, TLS is required and verified."},
	{.name = NULL}
};

static const NxField credential_fields[] = {
	{"username", NX_FIELD_STRING, true, "An account with CREATE USER and GRANT OPTION."},
	{"password", NX_FIELD_STRING, true, "Its password."},
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{"rotate_password", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true,
	"Give an account a new generated password.", NULL, false},
	{"create_user", NX_CHANGE_ADDITIVE, NX_WEIGHT_ADDITIVE, true, "Create an account.", NULL, false},
	{"drop_user", NX_CHANGE_DESTRUCTIVE, NX_WEIGHT_DESTRUCTIVE, false, "Drop an account.", NULL, false},
	{"lock_user", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true, "ACCOUNT LOCK an account.", NULL, false},
	{"unlock_user", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true, "ACCOUNT UNLOCK an account.", NULL, false},
	{"grant", NX_CHANGE_ADDITIVE, NX_WEIGHT_ADDITIVE, true, "Grant privileges on a database or table.", NULL, false},
	{"revoke", NX_CHANGE_DESTRUCTIVE, NX_WEIGHT_DESTRUCTIVE, true, "Revoke privileges.", NULL, false},
	{.name = NULL}
};

const NxConnector nx_mariadb_connector = {
	.name = "mariadb",
	.description = "MariaDB accounts: passwords, creation, locking and privileges.",
	.config_fields = config_fields,
	.credential_fields = credential_fields,
	.change_types = change_types,
};
