/*-------------------------------------------------------------------------
 *
 * ldap.c
 *	  The ldap connector: accounts and groups of an LDAP directory
 *	  (OpenLDAP slapd), over libldap.
 *
 * Here: its fields and change types, test (bind and read the root DSE),
 * discover (users and groups under config.base_dn, paged), and the
 * dispatch of each change type's operations to its own file:
 * ldap_password.c (reset_password, RFC 3062), ldap_group.c (membership)
 * and ldap_lock.c (ppolicy locking).  ldap_session.c holds the session
 * they share.  docs/connectors/ldap.md says what each does on the target.
 *
 *-------------------------------------------------------------------------
 */
#include "ldap_session.h"

#include "mb/pg_wchar.h"

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

static const NxField password_params[] = {
	{.name = "credential_id", .type = NX_FIELD_STRING, .required = false,
	.description = "The vault credential ({bind_dn, password}) of the account whose password is reset; "
	"the connector's own when absent."},
	{.name = NULL}
};

static const NxField group_params[] = {
	{.name = "group_dn", .type = NX_FIELD_STRING, .required = true,
	.description = "DN of a groupOfNames or groupOfUniqueNames under base_dn."},
	{.name = "member_dn", .type = NX_FIELD_STRING, .required = true,
	.description = "DN of the member, under base_dn."},
	{.name = NULL}
};

static const NxField account_params[] = {
	{.name = "account_dn", .type = NX_FIELD_STRING, .required = true,
	.description = "DN of the account, under base_dn."},
	{.name = NULL}
};

static const NxChangeType change_types[] = {
	{.name = "reset_password", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = true, .description = "Set a generated password (RFC 3062 password modify).",
	.params = password_params, .rotates_secret = true},
	{.name = "add_to_group", .class = NX_CHANGE_ADDITIVE, .risk_weight = NX_WEIGHT_ADDITIVE,
		.rollback = true, .description = "Add a member to a group.", .params = group_params,
	.rotates_secret = false},
	{.name = "remove_from_group", .class = NX_CHANGE_DESTRUCTIVE,
		.risk_weight = NX_WEIGHT_DESTRUCTIVE, .rollback = true,
		.description = "Remove a member from a group.", .params = group_params,
	.rotates_secret = false},
	{.name = "lock_account", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = true, .description = "Lock an account (ppolicy).", .params = account_params,
	.rotates_secret = false},
	{.name = "unlock_account", .class = NX_CHANGE_MODIFYING, .risk_weight = NX_WEIGHT_MODIFYING,
		.rollback = true, .description = "Unlock an account (ppolicy).", .params = account_params,
	.rotates_secret = false},
	{.name = NULL}
};

/* Which file does what for each change type. */
typedef struct NxLdapChangeOps
{
	const char *change_type;
	NxLdapOp	pre_check;
	NxLdapOp	execute;
	NxLdapOp	verify;
	NxLdapOp	rollback;
} NxLdapChangeOps;

static const NxLdapChangeOps change_ops[] = {
	{"reset_password", nx_ldap_password_pre_check, nx_ldap_password_execute,
	nx_ldap_password_verify, nx_ldap_password_rollback},
	{"add_to_group", nx_ldap_group_pre_check, nx_ldap_group_execute, nx_ldap_group_verify,
	nx_ldap_group_rollback},
	{"remove_from_group", nx_ldap_group_pre_check, nx_ldap_group_execute, nx_ldap_group_verify,
	nx_ldap_group_rollback},
	{"lock_account", nx_ldap_lock_pre_check, nx_ldap_lock_execute, nx_ldap_lock_verify,
	nx_ldap_lock_rollback},
	{"unlock_account", nx_ldap_lock_pre_check, nx_ldap_lock_execute, nx_ldap_lock_verify,
	nx_ldap_lock_rollback},
	{NULL}
};

static const NxLdapChangeOps *
nx_ldap_change_ops(const NxConnectorCall *call, NxConnectorResult *out)
{
	if (call->change_type == NULL)
	{
		nx_connector_fail(out, "no change type given");
		return NULL;
	}
	for (const NxLdapChangeOps *o = change_ops; o->change_type; o++)
		if (strcmp(o->change_type, call->change_type->name) == 0)
			return o;
	nx_connector_fail(out, "the ldap connector has no change type %s", call->change_type->name);
	return NULL;
}

/* ldap_pre_check, ldap_execute, ...: run the change type's own op. */
#define NX_LDAP_CHANGE_OP(op) \
	static void \
	ldap_##op(const NxConnectorCall *call, NxConnectorResult *out) \
	{ \
		const NxLdapChangeOps *o = nx_ldap_change_ops(call, out); \
		if (o) \
			nx_ldap_run(call, out, o->op); \
	}

NX_LDAP_CHANGE_OP(pre_check)
NX_LDAP_CHANGE_OP(execute)
NX_LDAP_CHANGE_OP(verify)
NX_LDAP_CHANGE_OP(rollback)

/* A JSON array of an attribute's values. */
static void
nx_ldap_json_values(NxLdap *s, StringInfo buf, LDAPMessage *e, const char *attr)
{
	int			n;
	char	  **v = nx_ldap_values(s, e, attr, &n);

	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		nx_ldap_json_str(buf, v[i]);
	}
	appendStringInfoChar(buf, ']');
}

/*
 * test: bind as the connector's login, read the root DSE and the base DN,
 * and ask who we are (RFC 4532).
 */
static void
nx_ldap_test(NxLdap *s)
{
	char	   *attrs[] = {"vendorName", "vendorVersion", "structuralObjectClass",
	"supportedExtension", "supportedControl", "namingContexts", NULL};
	char	   *base_attrs[] = {"1.1", NULL};
	LDAPMessage *dse;
	LDAPMessage *base;
	char	   *whoami;
	char	   *version;
	char	   *vendor;
	StringInfoData buf;

	if (!nx_ldap_step(s, 10, "binding") || !nx_ldap_login(s))
		return;
	if (!nx_ldap_step(s, 50, "reading the root DSE"))
		return;
	whoami = nx_ldap_whoami(s);
	if (!nx_ldap_read(s, "the base DN", s->base_dn, NULL, base_attrs, &base))
		return;
	if (base == NULL)
	{
		nx_connector_fail(s->out, "config.base_dn (%s) does not exist or this login cannot read it",
						  s->base_dn);
		return;
	}
	if (!nx_ldap_read(s, "the root DSE", "", NULL, attrs, &dse))
		return;
	if (dse == NULL)
	{
		nx_connector_fail(s->out, "the directory has no readable root DSE");
		return;
	}
	version = nx_ldap_value(s, dse, "vendorVersion");
	vendor = nx_ldap_value(s, dse, "vendorName");
	if (vendor == NULL && nx_ldap_has_value(s, dse, "structuralObjectClass", "OpenLDAProotDSE"))
		vendor = "OpenLDAP";

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"server_version\": ");
	nx_ldap_json_str(&buf, version ? version : vendor ? vendor : "unknown");
	appendStringInfoString(&buf, ", \"vendor\": ");
	nx_ldap_json_str(&buf, vendor);
	appendStringInfoString(&buf, ", \"authorized_as\": ");
	nx_ldap_json_str(&buf, whoami);
	appendStringInfoString(&buf, ", \"base_dn\": ");
	nx_ldap_json_str(&buf, s->base_dn);
	appendStringInfo(&buf, ", \"tls\": %s",
					 s->starttls || pg_strncasecmp(s->url, "ldaps://", 8) == 0 ? "true" : "false");
	appendStringInfo(&buf, ", \"password_modify\": %s",
					 nx_ldap_has_value(s, dse, "supportedExtension", NX_LDAP_OID_PASSWD_MODIFY) ?
					 "true" : "false");
	appendStringInfo(&buf, ", \"ppolicy\": %s",
					 nx_ldap_has_value(s, dse, "supportedControl", NX_LDAP_OID_PPOLICY) ?
					 "true" : "false");
	appendStringInfoString(&buf, ", \"naming_contexts\": ");
	nx_ldap_json_values(s, &buf, dse, "namingContexts");
	appendStringInfoChar(&buf, '}');
	s->out->result = nx_ldap_jsonb(&buf);
	s->out->ok = true;
}

static void
ldap_test(const NxConnectorCall *call, NxConnectorResult *out)
{
	nx_ldap_run(call, out, nx_ldap_test);
}

/* discover: pages of this many entries, at most NX_LDAP_MAX_ASSETS in all */
#define NX_LDAP_PAGE		200
#define NX_LDAP_MAX_ASSETS	10000

/* One asset of discover's result, from one entry. */
static void
nx_ldap_asset(NxLdap *s, StringInfo buf, LDAPMessage *e, const char *dn)
{
	bool		gon = nx_ldap_has_value(s, e, "objectClass", "groupOfNames");
	bool		gun = nx_ldap_has_value(s, e, "objectClass", "groupOfUniqueNames");
	bool		posix = nx_ldap_has_value(s, e, "objectClass", "posixGroup");
	char	   *uid = nx_ldap_value(s, e, "uid");
	char	   *cn = nx_ldap_value(s, e, "cn");
	const char *name = uid ? uid : cn ? cn : dn;
	int			len = strlen(name);

	appendStringInfo(buf, "{\"kind\": \"%s\", \"external_id\": ",
					 gon || gun || posix ? "group" : "user");
	nx_ldap_json_str(buf, dn);
	/* names are at most 200 characters */
	appendStringInfoString(buf, ", \"name\": ");
	nx_ldap_json_str(buf, pnstrdup(name, pg_mbcliplen(name, len, Min(len, 200))));
	appendStringInfoString(buf, ", \"attributes\": {\"dn\": ");
	nx_ldap_json_str(buf, dn);
	appendStringInfoString(buf, ", \"object_classes\": ");
	nx_ldap_json_values(s, buf, e, "objectClass");
	if (gon || gun || posix)
	{
		const char *attr = gon ? "member" : gun ? "uniqueMember" : "memberUid";
		int			n;

		(void) nx_ldap_values(s, e, attr, &n);
		appendStringInfo(buf, ", \"member_attribute\": \"%s\", \"members\": %d, \"managed\": %s",
						 attr, n, posix && !gon && !gun ? "false" : "true");
	}
	else
	{
		appendStringInfoString(buf, ", \"uid\": ");
		nx_ldap_json_str(buf, uid);
		appendStringInfoString(buf, ", \"cn\": ");
		nx_ldap_json_str(buf, cn);
		appendStringInfoString(buf, ", \"mail\": ");
		nx_ldap_json_str(buf, nx_ldap_value(s, e, "mail"));
		appendStringInfo(buf, ", \"locked\": %s",
						 nx_ldap_value(s, e, "pwdAccountLockedTime") ? "true" : "false");
	}
	appendStringInfoString(buf, "}}");
}

/*
 * discover: users (person, posixAccount, simpleSecurityObject) and groups
 * (groupOfNames, groupOfUniqueNames, posixGroup) under config.base_dn, in
 * pages (RFC 2696) so that a server's size limit per search is no limit.
 */
static void
nx_ldap_discover(NxLdap *s)
{
	char	   *attrs[] = {"objectClass", "uid", "cn", "mail", "member", "uniqueMember",
	"memberUid", "pwdAccountLockedTime", NULL};
	const char *filter = "(|(objectClass=person)(objectClass=posixAccount)"
		"(objectClass=simpleSecurityObject)(objectClass=groupOfNames)"
		"(objectClass=groupOfUniqueNames)(objectClass=posixGroup))";
	StringInfoData buf;
	int			count = 0;
	int			skipped = 0;
	int			pages = 0;
	bool		truncated = false;
	bool		more = true;

	if (!nx_ldap_step(s, 5, "binding") || !nx_ldap_login(s))
		return;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"assets\": [");
	while (more && !truncated)
	{
		LDAPControl *sctrls[2];
		LDAPControl *page;
		int			rc;
		int			err = LDAP_SUCCESS;

		if (!nx_ldap_step(s, Min(10 + pages, 90), "searching"))
			return;
		if (s->page_ctrl)
			ldap_control_free(s->page_ctrl);
		s->page_ctrl = NULL;
		rc = ldap_create_page_control(s->ld, NX_LDAP_PAGE, s->cookie.bv_val ? &s->cookie : NULL,
									  0, &s->page_ctrl);
		if (rc != LDAP_SUCCESS)
		{
			nx_ldap_fail_rc(s, rc, "cannot make a paged results control");
			return;
		}
		sctrls[0] = s->page_ctrl;
		sctrls[1] = NULL;
		rc = nx_ldap_search(s, s->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, sctrls);
		pages++;
		if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED)
		{
			nx_ldap_fail_rc(s, rc, "searching %s", s->base_dn);
			return;
		}
		if (rc == LDAP_SIZELIMIT_EXCEEDED)
			truncated = true;

		for (LDAPMessage *e = ldap_first_entry(s->ld, s->res); e; e = ldap_next_entry(s->ld, e))
		{
			char	   *raw = ldap_get_dn(s->ld, e);
			char	   *dn;

			if (raw == NULL)
				continue;
			dn = pstrdup(raw);
			ldap_memfree(raw);
			/* assets' external ids are at most 500 characters */
			if (strlen(dn) > 500 || !pg_verifymbstr(dn, strlen(dn), true))
			{
				skipped++;
				continue;
			}
			if (count >= NX_LDAP_MAX_ASSETS)
			{
				truncated = true;
				break;
			}
			if (count++ > 0)
				appendStringInfoString(&buf, ", ");
			nx_ldap_asset(s, &buf, e, dn);
		}

		/* The next page, if the server gave a cookie for one. */
		more = false;
		if (s->res_ctrls)
			ldap_controls_free(s->res_ctrls);
		s->res_ctrls = NULL;
		rc = ldap_parse_result(s->ld, s->res, &err, NULL, NULL, NULL, &s->res_ctrls, 0);
		if (rc != LDAP_SUCCESS)
		{
			nx_ldap_fail_rc(s, rc, "reading the search result");
			return;
		}
		page = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, s->res_ctrls, NULL);
		if (page != NULL)
		{
			ber_int_t	estimate;

			if (s->cookie.bv_val)
				ber_memfree(s->cookie.bv_val);
			s->cookie.bv_val = NULL;
			s->cookie.bv_len = 0;
			rc = ldap_parse_pageresponse_control(s->ld, page, &estimate, &s->cookie);
			if (rc != LDAP_SUCCESS)
			{
				nx_ldap_fail_rc(s, rc, "reading the paged results control");
				return;
			}
			more = s->cookie.bv_val != NULL && s->cookie.bv_len > 0;
		}
	}
	appendStringInfo(&buf, "], \"count\": %d, \"pages\": %d, \"skipped\": %d, \"truncated\": %s}",
					 count, pages, skipped, truncated ? "true" : "false");
	s->out->result = nx_ldap_jsonb(&buf);
	s->out->ok = true;
}

static void
ldap_discover(const NxConnectorCall *call, NxConnectorResult *out)
{
	nx_ldap_run(call, out, nx_ldap_discover);
}

const NxConnector nx_ldap_connector = {
	.name = "ldap",
	.description = "LDAP accounts and groups: passwords, membership and locking.",
	.config_fields = config_fields,
	.credential_fields = credential_fields,
	.change_types = change_types,
	.test = ldap_test,
	.discover = ldap_discover,
	.pre_check = ldap_pre_check,
	.execute = ldap_execute,
	.verify = ldap_verify,
	.rollback = ldap_rollback,
};
