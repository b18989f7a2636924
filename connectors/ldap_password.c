/*-------------------------------------------------------------------------
 *
 * ldap_password.c
 *	  reset_password: the ldap connector's rotation.  The engine makes the
 *	  new password; the connector's login sets it with the password modify
 *	  extended operation (RFC 3062), so the directory hashes it by its own
 *	  policy and no password ever travels in a modify request or a filter.
 *
 * The account is new_secret's bind_dn.  verify binds AS THE ACCOUNT with
 * new_secret on a connection of its own: a successful simple bind with a
 * non-empty password is the proof.  Rollback gets the previous password
 * as new_secret and sets it the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "ldap_session.h"

/*
 * The account a rotation is about: new_secret's bind_dn, else
 * old_secret's, else the connector's own login.  When both secrets name
 * one, they must name the same, and so must execute's rollback_state.
 */
static char *
nx_ldap_password_account(NxLdap *s, bool need_new, char **password)
{
	const NxConnectorCall *call = s->call;
	char	   *dn = NULL;
	char	   *old_dn = NULL;
	char	   *state_dn;

	*password = NULL;
	if (call->new_secret != NULL)
	{
		*password = nx_jsonb_get_cstring(call->new_secret, "password");
		nx_ldap_keep_secret(s, *password);
		dn = nx_ldap_param_dn(s, call->new_secret, "new_secret", "bind_dn");
		if (dn == NULL)
			return NULL;
		if (*password == NULL || (*password)[0] == '\0')
		{
			nx_connector_fail(s->out, "new_secret.password is required");
			return NULL;
		}
	}
	else if (need_new)
	{
		nx_connector_fail(s->out, "new_secret is required: the engine makes the password to set");
		return NULL;
	}
	if (call->old_secret != NULL)
	{
		nx_ldap_keep_secret(s, nx_jsonb_get_cstring(call->old_secret, "password"));
		if (nx_jsonb_get_cstring(call->old_secret, "bind_dn") != NULL)
		{
			old_dn = nx_ldap_param_dn(s, call->old_secret, "old_secret", "bind_dn");
			if (old_dn == NULL)
				return NULL;
		}
	}
	if (dn != NULL && old_dn != NULL && !nx_ldap_dn_equal(dn, old_dn))
	{
		nx_connector_fail(s->out, "new_secret and old_secret name different accounts (%s, %s)",
						  dn, old_dn);
		return NULL;
	}
	if (dn == NULL)
		dn = old_dn;
	if (dn == NULL)
	{
		dn = nx_ldap_param_dn(s, call->credential, "credential", "bind_dn");
		if (dn == NULL)
			return NULL;
	}
	state_dn = nx_jsonb_get_cstring(call->rollback_state, "account_dn");
	if (state_dn != NULL && !nx_ldap_dn_equal(dn, state_dn))
	{
		nx_connector_fail(s->out, "the secret names %s but the change was made to %s",
						  dn, state_dn);
		return NULL;
	}
	return dn;
}

/* The rollback state: the account (the previous password is the vault's). */
static Jsonb *
nx_ldap_password_state(const char *dn)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"account_dn\": ");
	nx_ldap_json_str(&buf, dn);
	appendStringInfoChar(&buf, '}');
	return nx_ldap_jsonb(&buf);
}

/*
 * pre_check: the account exists, is not locked for good, and the server
 * has RFC 3062.  Its rollback state is execute's.
 */
void
nx_ldap_password_pre_check(NxLdap *s)
{
	char	   *attrs[] = {"pwdAccountLockedTime", NULL};
	char	   *password;
	char	   *dn = nx_ldap_password_account(s, false, &password);
	char	   *locked;
	LDAPMessage *e;
	bool		has;
	StringInfoData buf;

	if (dn == NULL || !nx_ldap_step(s, 10, "binding") || !nx_ldap_login(s))
		return;
	if (!nx_ldap_root_has(s, "supportedExtension", NX_LDAP_OID_PASSWD_MODIFY, &has))
		return;
	if (!has)
	{
		nx_connector_fail(s->out,
						  "the directory does not offer the password modify extended operation (RFC 3062)");
		return;
	}
	if (!nx_ldap_read(s, "account", dn, NULL, attrs, &e))
		return;
	if (e == NULL)
	{
		nx_connector_fail(s->out, "account %s does not exist or this login cannot read it", dn);
		return;
	}
	locked = nx_ldap_value(s, e, "pwdAccountLockedTime");
	if (locked != NULL && strcmp(locked, NX_LDAP_LOCKED_FOREVER) == 0)
	{
		nx_connector_fail(s->out,
						  "account %s is locked: its new password could not be verified; unlock it first",
						  dn);
		return;
	}
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"account_dn\": ");
	nx_ldap_json_str(&buf, dn);
	appendStringInfoString(&buf, ", \"password_modify\": true}");
	s->out->result = nx_ldap_jsonb(&buf);
	s->out->rollback_state = nx_ldap_password_state(dn);
	s->out->ok = true;
}

/* Set the account's password to new_secret's, as the connector's login. */
static void
nx_ldap_password_set(NxLdap *s)
{
	char	   *password;
	char	   *dn = nx_ldap_password_account(s, true, &password);
	char	   *login;
	struct berval user;
	struct berval newpw;
	struct berval generated = {0};
	StringInfoData buf;
	int			rc;

	if (dn == NULL || !nx_ldap_step(s, 10, "binding") || !nx_ldap_login(s))
		return;
	if (!nx_ldap_step(s, 50, "setting the password"))
		return;
	login = nx_jsonb_get_cstring(s->call->credential, "bind_dn");
	user.bv_val = dn;
	user.bv_len = strlen(dn);
	newpw.bv_val = password;
	newpw.bv_len = strlen(password);
	nx_ldap_arm(s);
	/* no old password: an administrative reset by the connector's login */
	rc = ldap_passwd_s(s->ld, &user, NULL, &newpw, &generated, NULL, NULL);
	if (generated.bv_val)
	{
		explicit_bzero(generated.bv_val, generated.bv_len);
		ber_memfree(generated.bv_val);
	}
	if (rc != LDAP_SUCCESS)
	{
		nx_ldap_fail_rc(s, rc, "the directory refused to set the password of %s", dn);
		return;
	}

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"account_dn\": ");
	nx_ldap_json_str(&buf, dn);
	appendStringInfo(&buf, ", \"password_set\": true, \"undoing\": %s}",
					 s->call->undoing ? "true" : "false");
	s->out->result = nx_ldap_jsonb(&buf);

	s->out->rollback_state = nx_ldap_password_state(dn);

	resetStringInfo(&buf);
	appendStringInfoString(&buf,
						   "{\"operation\": \"password modify (RFC 3062)\", \"account_dn\": ");
	nx_ldap_json_str(&buf, dn);
	appendStringInfoString(&buf, ", \"performed_as\": ");
	nx_ldap_json_str(&buf, login);
	appendStringInfoChar(&buf, '}');
	s->out->evidence = nx_ldap_jsonb(&buf);
	s->out->ok = true;
}

void
nx_ldap_password_execute(NxLdap *s)
{
	nx_ldap_password_set(s);
}

/* rollback: new_secret is the previous password; set it back. */
void
nx_ldap_password_rollback(NxLdap *s)
{
	nx_ldap_password_set(s);
}

/* verify: bind as the account with new_secret, then ask who we are. */
void
nx_ldap_password_verify(NxLdap *s)
{
	char	   *password;
	char	   *dn = nx_ldap_password_account(s, true, &password);
	char	   *whoami;
	StringInfoData buf;

	if (dn == NULL || !nx_ldap_step(s, 20, "binding as the account"))
		return;
	if (!nx_ldap_connect(s, dn, password))
		return;
	whoami = nx_ldap_whoami(s);
	/* Who am I says "dn:<dn>"; it must be the account, not anonymous. */
	if (whoami != NULL && (strncmp(whoami, "dn:", 3) != 0 || !nx_ldap_dn_equal(whoami + 3, dn)))
	{
		nx_connector_fail(s->out, "bound as %s, but the directory says we are %s", dn,
						  whoami[0] ? whoami : "anonymous");
		return;
	}

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"bound_as\": ");
	nx_ldap_json_str(&buf, dn);
	appendStringInfoString(&buf, ", \"authorized_as\": ");
	nx_ldap_json_str(&buf, whoami);
	appendStringInfo(&buf, ", \"secret_used\": \"%s\"}", s->call->undoing ? "previous" : "new");
	s->out->evidence = nx_ldap_jsonb(&buf);
	s->out->ok = true;
}
