/*-------------------------------------------------------------------------
 *
 * ldap.c
 *	  The ldap connector: accounts and groups of an LDAP directory
 *	  (OpenLDAP slapd), over libldap.
 *
 * Declared here: its fields and change types.  Its operations come with
 * the execution engine.
 *
 *-------------------------------------------------------------------------
 */
#include "connector.h"

static const NxField config_fields[] = {
	{"url", NX_FIELD_STRING, true, "ldap:// or ldaps:// URL of the directory."},
	{"base_dn", NX_FIELD_STRING, true, "Where users and groups are searched."},
	{"starttls", NX_FIELD_BOOLEAN, false, "Require StartTLS on ldap:// URLs."},
	{"tls_ca", NX_FIELD_STRING, false, "PEM file of the CA that signed the directory's certificate."},
	{.name = NULL}
};

static const NxField credential_fields[] = {
	{"bind_dn", NX_FIELD_STRING, true, "A DN allowed to modify passwords, groups and ppolicy attributes."},
	{"password", NX_FIELD_STRING, true, "Its password."},
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{"reset_password", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true,
	"Set a generated password (RFC 3062 password modify).", NULL, false},
	{"add_to_group", NX_CHANGE_ADDITIVE, NX_WEIGHT_ADDITIVE, true, "Add a member to a group.", NULL, false},
	{"remove_from_group", NX_CHANGE_DESTRUCTIVE, NX_WEIGHT_DESTRUCTIVE, true,
	"Remove a member from a group.", NULL, false},
	{"lock_account", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true, "Lock an account (ppolicy).", NULL, false},
	{"unlock_account", NX_CHANGE_MODIFYING, NX_WEIGHT_MODIFYING, true, "Unlock an account (ppolicy).", NULL, false},
	{.name = NULL}
};

const NxConnector nx_ldap_connector = {
	.name = "ldap",
	.description = "LDAP accounts and groups: passwords, membership and locking.",
	.config_fields = config_fields,
	.credential_fields = credential_fields,
	.change_types = change_types,
};
